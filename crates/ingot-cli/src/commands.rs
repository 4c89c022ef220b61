//! The client commands: `chat`, `vision`, `complete`, `embed`, `rerank`, `3d` and `models`,
//! over `ingot-client`.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use futures::StreamExt as _;
use ingot_client::{Client, ClientConfig};
use ingot_protocol::chat::Stop;
use ingot_protocol::chat::{ChatMessage, MessageContent, Role};
use ingot_protocol::completions::{CompletionRequest, Prompt};
use ingot_protocol::embeddings::{EmbeddingInput, EmbeddingRequest, EncodingFormat, InputType};
use ingot_protocol::ranking::{RankTruncate, RankingRequest, RankingText};
use ingot_protocol::trellis::{OutputFormat, TrellisRequest};

use crate::answer::{self, to_json};
use crate::cli::{
    ChatArgs, ClientArgs, Command, CompleteArgs, EmbedArgs, EmbedFormat, Gen3dArgs, Gen3dFormat,
    GenerationArgs, InputTypeArg, ModelsArgs, RerankArgs, UseCaseArgs, VisionArgs,
};
use crate::conversation::{Conversation, Store};
use crate::exit::{self, Failure, Result};
use crate::interactive::{Keeper, Session};
use crate::select::{self, UseCase};
use crate::spinner;
use crate::userconfig::{self, UserConfig};

/// Runs one client command on a fresh runtime and maps its outcome to an exit code.
pub fn run(mut command: Command) -> ExitCode {
    let settings = match UserConfig::load(userconfig::path(|k| std::env::var(k).ok()).as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(exit::OTHER);
        }
    };
    userconfig::apply(&settings, &mut command);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(exit::OTHER);
        }
    };
    let outcome = rt.block_on(async move {
        match command {
            Command::Chat(a) => chat(a, &settings).await,
            Command::Vision(a) => vision(a).await,
            Command::Complete(a) => complete(a).await,
            Command::Embed(a) => embed(a).await,
            Command::Rerank(a) => rerank(a).await,
            Command::Gen3d(a) => gen3d(a).await,
            Command::Models(a) => models(a).await,
            Command::Serve(_)
            | Command::Completions { .. }
            | Command::Keys { .. }
            | Command::Usage(_) => Ok(()),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Client(e)) => {
            let (code, msg) = exit::describe(&e);
            eprintln!("error: {msg}");
            ExitCode::from(code)
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::OTHER)
        }
    }
}

fn client(args: &ClientArgs) -> Result<Client> {
    let mut cfg = ClientConfig::from_env();
    if let Some(url) = &args.base_url {
        cfg = cfg.with_base_url(url);
    }
    if let Some(key) = &args.api_key {
        cfg.api_key = Some(key.clone());
    }
    cfg.max_retries = args.max_retries;
    Ok(Client::new(cfg)?)
}

fn use_case(u: UseCaseArgs) -> UseCase {
    UseCase {
        fast: u.fast,
        quality: u.quality,
        reasoning: u.reasoning,
        code: u.code,
        ocr: u.ocr,
        multilingual: false,
    }
}

/// An image argument as a URL: http(s) and data URLs as they are, files as data URLs
/// (downscaled to fit `max_bytes`).
fn image_ref(arg: &str, max_bytes: usize) -> Result<String> {
    if is_url(arg) {
        return Ok(arg.to_owned());
    }
    Ok(ingot_client::image_data_url(Path::new(arg), max_bytes)?)
}

fn video_ref(arg: &str) -> Result<String> {
    if is_url(arg) {
        return Ok(arg.to_owned());
    }
    Ok(ingot_client::video_data_url(Path::new(arg))?)
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("data:")
}

fn read_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading standard input")?;
    Ok(s)
}

/// The arguments, or with none (or `-`) the non-blank lines of standard input.
fn args_or_stdin_lines(args: &[String]) -> Result<Vec<String>> {
    if !args.is_empty() && args != ["-"] {
        return Ok(args.to_vec());
    }
    Ok(std::io::stdin()
        .lock()
        .lines()
        .collect::<std::io::Result<Vec<_>>>()
        .context("reading standard input")?
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .collect())
}

async fn chat(a: ChatArgs, settings: &UserConfig) -> Result<()> {
    let interactive = a.interactive || (a.prompt.is_none() && std::io::stdin().is_terminal());
    if interactive && a.client.json {
        return Err(anyhow::anyhow!("--json does not go with an interactive chat").into());
    }
    let store = if a.no_save {
        None
    } else {
        Store::from_env(|k| std::env::var(k).ok())
    };
    let (path, mut convo) = match (&store, a.resume) {
        (Some(s), true) => s
            .latest()?
            .ok_or_else(|| anyhow::anyhow!("there is no kept conversation to continue"))?,
        (None, true) => {
            return Err(anyhow::anyhow!(
                "--continue needs the kept conversations (not --no-save; HOME or XDG_DATA_HOME set)"
            )
            .into());
        }
        (Some(s), false) => (s.new_path(), Conversation::default()),
        (None, false) => (PathBuf::new(), Conversation::default()),
    };
    let keeper = store.map(|store| Keeper { store, path });
    let images = a
        .image
        .iter()
        .map(|i| image_ref(i, 4 * 1024 * 1024))
        .collect::<Result<Vec<_>>>()?;
    // A named model (or the settings' default), else the resumed one, else the selection.
    convo.model = match a.generation.model.clone() {
        Some(m) => m,
        None if !convo.model.is_empty() => convo.model,
        None => {
            select::chat_or_vision(use_case(a.generation.use_case), images.len(), false).to_owned()
        }
    };
    if let Some(sys) = &a.generation.system {
        convo.set_system(sys.clone());
    }
    let client = client(&a.client)?;
    if interactive {
        let session = Session {
            client,
            generation: &a.generation,
            settings,
            convo,
            keeper,
            images,
        };
        return session.run().await;
    }
    // `cat notes.txt | ingot chat "summarize"`: what comes on standard input is the context,
    // the argument the instruction.
    let prompt = match a.prompt {
        Some(p) if !std::io::stdin().is_terminal() => {
            let context = read_stdin()?;
            if context.trim().is_empty() {
                p
            } else {
                format!("{}\n\n{p}", context.trim_end())
            }
        }
        Some(p) => p,
        None => read_stdin()?,
    };
    if prompt.trim().is_empty() {
        return Err(
            anyhow::anyhow!("empty prompt: pass it as an argument or on standard input").into(),
        );
    }
    let content = if images.is_empty() {
        MessageContent::Text(prompt)
    } else {
        answer::media_content(prompt, &images, None)
    };
    let mut user = ChatMessage::text(Role::User, String::new());
    user.content = Some(content);
    convo.messages.push(user);
    let req = answer::request(&a.generation, convo.model.clone(), convo.messages.clone());
    let mut text = String::new();
    answer::show(
        &client,
        a.client.json,
        a.generation.no_stream,
        &req,
        &mut text,
    )
    .await?;
    convo
        .messages
        .push(ChatMessage::text(Role::Assistant, text));
    if let Some(k) = keeper {
        k.store.keep(&k.path, &convo)?;
    }
    Ok(())
}

async fn vision(a: VisionArgs) -> Result<()> {
    // Every input that is a URL or an existing file is an image; a trailing other word is
    // the question.
    let mut inputs = a.inputs.clone();
    let question = match inputs.last() {
        Some(last) if !is_url(last) && !Path::new(last).exists() => {
            if looks_like_file(last) {
                return Err(anyhow::anyhow!(
                    "{last}: no such file (a one-word question that looks like a file name: \
                     add a question mark)"
                )
                .into());
            }
            inputs.pop()
        }
        _ => None,
    };
    let question = question.unwrap_or_else(|| {
        if a.video.is_some() {
            "Describe this video."
        } else {
            "Describe this image."
        }
        .to_owned()
    });
    let images = inputs
        .iter()
        .map(|i| image_ref(i, a.max_image_bytes))
        .collect::<Result<Vec<_>>>()?;
    let video = a.video.as_deref().map(video_ref).transpose()?;
    if images.is_empty() && video.is_none() {
        return Err(anyhow::anyhow!("no image or video given (files, URLs or --video)").into());
    }
    let model = a.generation.model.clone().unwrap_or_else(|| {
        select::vision_model(
            use_case(a.generation.use_case),
            images.len(),
            video.is_some(),
        )
        .to_owned()
    });
    let content = answer::media_content(question, &images, video);
    generate(&a.client, &a.generation, model, content).await
}

/// A seed in 1..2^31 from the clock and the process id.
fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mixed = u64::from(nanos) ^ (u64::from(std::process::id()) << 17);
    mixed % ((1 << 31) - 1) + 1
}

/// Whether a word reads as a file name rather than a question: no spaces, and a path
/// separator or a short extension (`photo.pmg`, `./scan`).
fn looks_like_file(arg: &str) -> bool {
    if arg.chars().any(char::is_whitespace) || arg.ends_with('?') {
        return false;
    }
    let ext = Path::new(arg).extension().and_then(|e| e.to_str());
    arg.contains('/')
        || ext.is_some_and(|e| {
            (1..=5).contains(&e.len()) && e.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

async fn generate(
    client_args: &ClientArgs,
    g: &GenerationArgs,
    model: String,
    content: MessageContent,
) -> Result<()> {
    let client = client(client_args)?;
    let mut messages = Vec::new();
    if let Some(sys) = &g.system {
        messages.push(ChatMessage::text(Role::System, sys.clone()));
    }
    let mut user = ChatMessage::text(Role::User, String::new());
    user.content = Some(content);
    messages.push(user);
    let req = answer::request(g, model, messages);
    let mut text = String::new();
    answer::show(&client, client_args.json, g.no_stream, &req, &mut text).await
}

async fn complete(a: CompleteArgs) -> Result<()> {
    let prompt = match a.prompt.clone() {
        Some(p) => p,
        None => read_stdin()?,
    };
    let req = CompletionRequest {
        model: a
            .model
            .clone()
            .unwrap_or_else(|| select::COMPLETE_DEFAULT.to_owned()),
        prompt: Prompt::Text(prompt),
        suffix: a.suffix.clone(),
        max_tokens: Some(a.max_tokens),
        temperature: a.temperature,
        seed: a.seed,
        stop: (!a.stop.is_empty()).then(|| Stop::Many(a.stop.clone())),
        ..CompletionRequest::default()
    };
    let client = client(&a.client)?;
    let mut out = std::io::stdout().lock();
    if a.no_stream {
        let resp = client.completions(&req).await?;
        if a.client.json {
            writeln!(out, "{}", to_json(&resp)?)?;
        } else {
            let text = resp.choices.first().map(|c| c.text.as_str()).unwrap_or("");
            writeln!(out, "{text}")?;
        }
        return Ok(());
    }
    let mut stream = client.completions_stream(&req).await?;
    let mut ended_with_newline = true;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if a.client.json {
            writeln!(out, "{}", to_json(&chunk)?)?;
            continue;
        }
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            write!(out, "{}", choice.text)?;
            if !choice.text.is_empty() {
                ended_with_newline = choice.text.ends_with('\n');
            }
        }
        out.flush()?;
    }
    if !a.client.json && !ended_with_newline {
        writeln!(out)?;
    }
    Ok(())
}

async fn rerank(a: RerankArgs) -> Result<()> {
    let passages = args_or_stdin_lines(&a.passages)?;
    if passages.is_empty() {
        return Err(
            anyhow::anyhow!("nothing to rank: pass passages or lines on standard input").into(),
        );
    }
    let req = RankingRequest {
        model: a
            .model
            .clone()
            .unwrap_or_else(|| select::RERANK_DEFAULT.to_owned()),
        query: RankingText::new(a.query.clone()),
        passages: passages.iter().map(RankingText::new).collect(),
        truncate: a.truncate.then_some(RankTruncate::End),
        extra: Default::default(),
    };
    let client = client(&a.client)?;
    let resp = client.ranking(&req).await?;
    let mut out = std::io::stdout().lock();
    if a.client.json {
        writeln!(out, "{}", to_json(&resp)?)?;
        return Ok(());
    }
    let top = a.top.unwrap_or(usize::MAX);
    for (place, r) in resp.rankings.iter().take(top).enumerate() {
        let text = passages.get(r.index as usize).map_or("", String::as_str);
        writeln!(
            out,
            "{}. [{}] {:.4}  {}",
            place + 1,
            r.index,
            r.logit,
            text.replace('\n', " ")
        )?;
    }
    Ok(())
}

async fn embed(a: EmbedArgs) -> Result<()> {
    let texts = args_or_stdin_lines(&a.texts)?;
    if texts.is_empty() {
        return Err(
            anyhow::anyhow!("nothing to embed: pass texts or lines on standard input").into(),
        );
    }
    let model = a.model.clone().unwrap_or_else(|| {
        select::embed_model(UseCase {
            multilingual: a.multilingual,
            ..UseCase::default()
        })
        .to_owned()
    });
    let req = EmbeddingRequest {
        model,
        input: EmbeddingInput::Texts(texts.clone()),
        encoding_format: Some(EncodingFormat::Base64),
        input_type: Some(match a.input_type {
            InputTypeArg::Query => InputType::Query,
            InputTypeArg::Passage => InputType::Passage,
        }),
        dimensions: a.dimensions,
        truncate: None,
        user: None,
        extra: Default::default(),
    };
    let client = client(&a.client)?;
    let resp = client.embeddings(&req).await?;
    let mut out = std::io::stdout().lock();
    if a.client.json {
        writeln!(out, "{}", to_json(&resp)?)?;
        return Ok(());
    }
    let vectors = ingot_client::decode_embeddings(&resp)?;
    match a.format {
        EmbedFormat::Json => writeln!(out, "{}", to_json(&vectors)?)?,
        EmbedFormat::Jsonl => {
            for (i, (text, v)) in texts.iter().zip(&vectors).enumerate() {
                let line = serde_json::json!({"index": i, "text": text, "embedding": v});
                writeln!(out, "{line}")?;
            }
        }
        EmbedFormat::Csv => {
            for v in &vectors {
                let row: Vec<String> = v.iter().map(f32::to_string).collect();
                writeln!(out, "{}", row.join(","))?;
            }
        }
    }
    Ok(())
}

async fn gen3d(a: Gen3dArgs) -> Result<()> {
    // 0 asks for a random seed: picked here, so that it can be printed and used again.
    let seed = if a.seed == 0 { random_seed() } else { a.seed };
    let image = match &a.image {
        Some(p) => Some(ingot_client::image_data_url(p, 4 * 1024 * 1024)?),
        None => None,
    };
    let format = match a.format {
        Gen3dFormat::Glb => OutputFormat::Glb,
        Gen3dFormat::Stl => OutputFormat::Stl,
    };
    let req = TrellisRequest {
        prompt: if image.is_none() {
            a.prompt.clone()
        } else {
            None
        },
        image,
        seed: Some(i64::try_from(seed).context("--seed is too large")?),
        ss_sampling_steps: a.steps,
        slat_sampling_steps: a.steps,
        output_format: Some(format),
        no_texture: a.no_texture.then_some(true),
        ..TrellisRequest::default()
    };
    let path = a.output.clone().unwrap_or_else(|| match a.format {
        Gen3dFormat::Glb => "out.glb".into(),
        Gen3dFormat::Stl => "out.stl".into(),
    });
    // Refused before the (long) generation, not after.
    if path.exists() && !a.force {
        return Err(anyhow::anyhow!(
            "{} exists; pass --force to overwrite it or -o to write elsewhere",
            path.display()
        )
        .into());
    }
    if let Some(p) = &a.preview {
        crate::preview::check_target(p, &path, a.force)?;
    }
    let client = client(&a.client)?;
    let bytes = spinner::with_spinner("generating the 3D asset", client.trellis(&req)).await?;
    std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    if std::io::stderr().is_terminal() || !a.client.json {
        eprintln!(
            "wrote {} ({} bytes, seed {}; the same seed and prompt give the same asset)",
            path.display(),
            bytes.len(),
            seed
        );
    }
    if let Some(p) = &a.preview {
        crate::preview::write(&bytes, a.format, p).with_context(|| {
            format!("the asset is in {}, but its preview failed", path.display())
        })?;
        if std::io::stderr().is_terminal() || !a.client.json {
            eprintln!("wrote preview {}", p.display());
        }
    }
    Ok(())
}

async fn models(a: ModelsArgs) -> Result<()> {
    let client = client(&a.client)?;
    let list = client.models().await?;
    let mut out = std::io::stdout().lock();
    if a.client.json {
        writeln!(out, "{}", to_json(&list)?)?;
        return Ok(());
    }
    let width = list
        .data
        .iter()
        .map(|m| m.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let owner_w = list
        .data
        .iter()
        .map(|m| m.owned_by.len())
        .max()
        .unwrap_or(8)
        .max(8);
    writeln!(out, "{:<width$}  {:<owner_w$}  ROOT", "ID", "OWNED BY")?;
    for m in &list.data {
        let root = m.root.as_deref().unwrap_or("");
        let root = if root == m.id { "" } else { root };
        writeln!(out, "{:<width$}  {:<owner_w$}  {root}", m.id, m.owned_by)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_and_questions() {
        for f in ["b.pmg", "photo.jpeg", "./scan", "dir/x"] {
            assert!(looks_like_file(f), "{f}");
        }
        for q in ["What is this?", "describe", "why?", "v1.2.3-beta.is-what"] {
            assert!(!looks_like_file(q), "{q}");
        }
    }
}
