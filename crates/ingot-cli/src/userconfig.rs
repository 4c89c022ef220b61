//! The client's own settings file: where requests go, which model each command uses when none
//! is named, and short names for long model ids.
//!
//! The file is `$INGOT_CLIENT_CONFIG`, else `$XDG_CONFIG_HOME/ingot/config.toml`, else
//! `$HOME/.config/ingot/config.toml`; a missing file is an empty one. Unknown keys are refused.
//!
//! ```toml
//! base_url = "http://127.0.0.1:8000/v1"   # --base-url and NVIDIA_BASE_URL win over it
//! api_key = "nvapi-..."                    # --api-key and NVIDIA_API_KEY win over it
//!
//! [models]        # used when neither --model nor a use-case flag (--code, --fast, ...) is given
//! chat = "qwen/qwen2.5-coder-32b-instruct"
//! embed = "nvidia/nv-embedqa-e5-v5"
//!
//! [aliases]       # --model llama, and /model llama in an interactive chat
//! llama = "meta/llama-3.1-8b-instruct"
//! ```
//!
//! The file only fills in what the command line and the environment leave open: [`apply`] runs
//! once, before a command starts, so the commands themselves never read it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use crate::cli::{ClientArgs, Command, UseCaseArgs};

/// The settings file's contents.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Base URL of the API.
    pub base_url: Option<String>,
    /// API key.
    pub api_key: Option<String>,
    /// Default model per command.
    #[serde(default)]
    pub models: DefaultModels,
    /// Short names for model ids.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
}

/// The model each command uses when none is named.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultModels {
    /// `ingot chat` without images.
    pub chat: Option<String>,
    /// `ingot vision`, and `ingot chat --image`.
    pub vision: Option<String>,
    /// `ingot embed` (without --multilingual).
    pub embed: Option<String>,
    /// `ingot complete`.
    pub complete: Option<String>,
    /// `ingot rerank`.
    pub rerank: Option<String>,
}

/// An XDG base directory from the environment given by `var`: `$XDG` when set, else
/// `$HOME/UNDER_HOME` (e.g. `XDG_DATA_HOME`, `.local/share`).
pub fn xdg_dir(
    var: &impl Fn(&str) -> Option<String>,
    xdg: &str,
    under_home: &str,
) -> Option<PathBuf> {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    match set(xdg) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => set("HOME").map(|home| Path::new(&home).join(under_home)),
    }
}

/// Where the settings file is, from the environment given by `var`.
pub fn path(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = var("INGOT_CLIENT_CONFIG").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(p));
    }
    xdg_dir(&var, "XDG_CONFIG_HOME", ".config").map(|d| d.join("ingot/config.toml"))
}

impl UserConfig {
    /// Reads the file at `path`; a file that does not exist is an empty configuration.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Self::parse(&text).with_context(|| format!("in the client settings {}", path.display()))
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(toml::from_str(text)?)
    }

    /// The id an alias stands for, or the name itself.
    pub fn resolve(&self, model: &str) -> String {
        self.aliases
            .get(model)
            .cloned()
            .unwrap_or_else(|| model.to_owned())
    }

    fn fill_client(&self, c: &mut ClientArgs) {
        if c.base_url.is_none() {
            c.base_url.clone_from(&self.base_url);
        }
        if c.api_key.is_none() {
            c.api_key.clone_from(&self.api_key);
        }
    }

    /// The model to use: the one named (through the aliases), else the configured default when
    /// no use-case flag asks for a specific kind of model.
    fn pick(&self, named: &mut Option<String>, default: Option<&String>, flags_given: bool) {
        match named {
            Some(m) => *m = self.resolve(m),
            None if !flags_given => named.clone_from(&default.map(|d| self.resolve(d))),
            None => {}
        }
    }
}

fn any_flag(u: &UseCaseArgs) -> bool {
    u.fast || u.quality || u.reasoning || u.code || u.ocr
}

/// Fills what the command line left open from the settings file.
pub fn apply(cfg: &UserConfig, command: &mut Command) {
    match command {
        Command::Chat(a) => {
            cfg.fill_client(&mut a.client);
            let flags = any_flag(&a.generation.use_case);
            let default = if a.image.is_empty() {
                cfg.models.chat.as_ref()
            } else {
                cfg.models.vision.as_ref()
            };
            // A resumed conversation keeps its model unless one is named.
            cfg.pick(&mut a.generation.model, default, flags || a.resume);
        }
        Command::Vision(a) => {
            cfg.fill_client(&mut a.client);
            let flags = any_flag(&a.generation.use_case);
            cfg.pick(&mut a.generation.model, cfg.models.vision.as_ref(), flags);
        }
        Command::Embed(a) => {
            cfg.fill_client(&mut a.client);
            cfg.pick(&mut a.model, cfg.models.embed.as_ref(), a.multilingual);
        }
        Command::Complete(a) => {
            cfg.fill_client(&mut a.client);
            cfg.pick(&mut a.model, cfg.models.complete.as_ref(), false);
        }
        Command::Rerank(a) => {
            cfg.fill_client(&mut a.client);
            cfg.pick(&mut a.model, cfg.models.rerank.as_ref(), false);
        }
        Command::Gen3d(a) => cfg.fill_client(&mut a.client),
        Command::Models(a) => cfg.fill_client(&mut a.client),
        Command::Serve(_)
        | Command::Keys { .. }
        | Command::Usage(_)
        | Command::Completions { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::Cli;

    fn parsed(args: &[&str]) -> Command {
        match Cli::try_parse_from(args) {
            Ok(cli) => cli.command,
            Err(e) => unreachable!("{e}"),
        }
    }

    fn config(text: &str) -> UserConfig {
        match UserConfig::parse(text) {
            Ok(c) => c,
            Err(e) => unreachable!("{e:#}"),
        }
    }

    const SAMPLE: &str = r#"
        base_url = "http://127.0.0.1:9000/v1"
        api_key = "from-file"
        [models]
        chat = "coder"
        embed = "nvidia/nv-embedqa-e5-v5"
        [aliases]
        coder = "qwen/qwen2.5-coder-32b-instruct"
    "#;

    #[test]
    fn the_file_fills_what_the_command_line_leaves_open() {
        let cfg = config(SAMPLE);
        let mut cmd = parsed(&["ingot", "chat", "hi"]);
        apply(&cfg, &mut cmd);
        let Command::Chat(a) = cmd else {
            unreachable!()
        };
        assert_eq!(
            a.client.base_url.as_deref(),
            Some("http://127.0.0.1:9000/v1")
        );
        assert_eq!(a.client.api_key.as_deref(), Some("from-file"));
        // The default goes through the aliases too.
        assert_eq!(
            a.generation.model.as_deref(),
            Some("qwen/qwen2.5-coder-32b-instruct")
        );
    }

    #[test]
    fn flags_win_over_the_file_and_aliases_resolve() {
        let cfg = config(SAMPLE);
        let mut cmd = parsed(&[
            "ingot",
            "chat",
            "--base-url",
            "http://other/v1",
            "-m",
            "coder",
            "hi",
        ]);
        apply(&cfg, &mut cmd);
        let Command::Chat(a) = cmd else {
            unreachable!()
        };
        assert_eq!(a.client.base_url.as_deref(), Some("http://other/v1"));
        assert_eq!(
            a.generation.model.as_deref(),
            Some("qwen/qwen2.5-coder-32b-instruct")
        );
        // A use-case flag picks from the selection tables, not the configured default.
        let mut cmd = parsed(&["ingot", "chat", "--reasoning", "hi"]);
        apply(&cfg, &mut cmd);
        let Command::Chat(a) = cmd else {
            unreachable!()
        };
        assert_eq!(a.generation.model, None);
        let mut cmd = parsed(&["ingot", "embed", "--multilingual", "x"]);
        apply(&cfg, &mut cmd);
        let Command::Embed(a) = cmd else {
            unreachable!()
        };
        assert_eq!(a.model, None);
    }

    #[test]
    fn unknown_keys_and_missing_files() {
        let e = UserConfig::parse("base_url = \"x\"\nmodel = \"y\"\n")
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(e.contains("unknown field `model`"), "{e}");
        let missing = std::env::temp_dir().join("ingot-no-such-dir/config.toml");
        assert!(UserConfig::load(Some(&missing)).is_ok());
    }

    #[test]
    fn the_readme_example_loads() {
        let readme = include_str!("../../../README.md");
        let marker = "```toml\n# ~/.config/ingot/config.toml";
        let start = readme.find(marker).map(|i| i + "```toml\n".len());
        let block = start
            .and_then(|s| readme[s..].find("```").map(|e| &readme[s..s + e]))
            .unwrap_or_default();
        let cfg = config(block);
        assert!(cfg.base_url.is_some() && cfg.models.chat.is_some() && !cfg.aliases.is_empty());
    }

    #[test]
    fn the_path_follows_xdg() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            path(env(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.config/ingot/config.toml"))
        );
        assert_eq!(
            path(env(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "/x")])),
            Some(PathBuf::from("/x/ingot/config.toml"))
        );
        assert_eq!(
            path(env(&[("HOME", "/h"), ("INGOT_CLIENT_CONFIG", "/c.toml")])),
            Some(PathBuf::from("/c.toml"))
        );
        assert_eq!(path(env(&[])), None);
    }
}
