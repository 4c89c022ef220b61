//! `ingot chat --interactive` (and `ingot chat` on a terminal with no prompt): a multi-turn
//! session. Every answer goes into the history the next question is asked with; the
//! conversation is kept after each answer so `ingot chat --continue` resumes it.
//!
//! Lines starting with `/` are commands ([`Cmd`]); a line that starts with `"""` opens a
//! multi-line message that ends at a line ending in `"""`. Ctrl-C stops the answer being
//! written (what was shown stays in the history) and returns to the prompt; at the prompt it
//! only says how to leave. Ctrl-D or `/exit` leaves.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use ingot_client::Client;
use ingot_protocol::chat::{ChatMessage, MessageContent, Role};
use tokio::sync::mpsc;

use crate::answer;
use crate::cli::GenerationArgs;
use crate::conversation::{Conversation, Store};
use crate::exit::{self, Failure, Result};
use crate::userconfig::UserConfig;

const HELP: &str = "\
/system TEXT   set the system prompt (/system alone shows it)
/model ID      talk to another model from the next question on (/model alone shows it)
/clear         forget the conversation so far (the system prompt stays)
/save FILE     write the conversation to FILE (Markdown if it ends in .md, else JSON)
/exit          leave (or Ctrl-D)
\"\"\"            start and end a message of several lines
Ctrl-C stops an answer; the session goes on.";

/// A line the user typed, read as a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Cmd {
    /// Ask the model.
    Say(String),
    /// `/help`, `/?`.
    Help,
    /// `/exit`, `/quit`, `/bye`.
    Exit,
    /// `/system [TEXT]`.
    System(Option<String>),
    /// `/model [ID]`.
    Model(Option<String>),
    /// `/clear`.
    Clear,
    /// `/save FILE`.
    Save(Option<String>),
    /// A `/word` that is none of the above.
    Unknown(String),
    /// A blank line.
    Nothing,
}

/// Reads one (complete) input as a command.
pub fn parse(input: &str) -> Cmd {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Cmd::Nothing;
    }
    let Some(rest) = trimmed.strip_prefix('/') else {
        return Cmd::Say(input.trim_end().to_owned());
    };
    let (word, arg) = match rest.split_once(char::is_whitespace) {
        Some((w, a)) => (w, Some(a.trim().to_owned()).filter(|a| !a.is_empty())),
        None => (rest, None),
    };
    match word {
        "help" | "?" => Cmd::Help,
        "exit" | "quit" | "bye" => Cmd::Exit,
        "system" => Cmd::System(arg),
        "model" => Cmd::Model(arg),
        "clear" => Cmd::Clear,
        "save" => Cmd::Save(arg),
        other => Cmd::Unknown(other.to_owned()),
    }
}

/// Where the conversation is kept after each answer.
pub struct Keeper {
    /// The store.
    pub store: Store,
    /// This conversation's file.
    pub path: PathBuf,
}

/// What a session needs.
pub struct Session<'a> {
    /// The API.
    pub client: Client,
    /// Sampling options and `--no-stream`.
    pub generation: &'a GenerationArgs,
    /// For `/model` aliases.
    pub settings: &'a UserConfig,
    /// The history so far (empty, or a resumed conversation).
    pub convo: Conversation,
    /// Where to keep it, unless `--no-save`.
    pub keeper: Option<Keeper>,
    /// Images attached (`--image`) to the first question.
    pub images: Vec<String>,
}

/// Lines of standard input, read on a thread of their own so that waiting for one can be
/// interrupted by Ctrl-C. The channel closes at end of input.
fn lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.blocking_send(line.clone()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

fn prompt(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{text}");
    let _ = err.flush();
}

enum Input {
    Line(String),
    Interrupted,
    End,
}

async fn next_input(rx: &mut mpsc::Receiver<String>) -> Input {
    tokio::select! {
        line = rx.recv() => line.map_or(Input::End, Input::Line),
        _ = tokio::signal::ctrl_c() => Input::Interrupted,
    }
}

/// Reads one message: a line, or the lines between `"""` and `"""`.
async fn read_message(rx: &mut mpsc::Receiver<String>) -> Input {
    let first = match next_input(rx).await {
        Input::Line(l) => l,
        other => return other,
    };
    let Some(opened) = first.trim_start().strip_prefix("\"\"\"") else {
        return Input::Line(first);
    };
    let mut text = String::new();
    let mut current = opened.to_owned();
    loop {
        if let Some(body) = current.trim_end().strip_suffix("\"\"\"") {
            text.push_str(body);
            return Input::Line(text);
        }
        text.push_str(&current);
        prompt("... ");
        current = match next_input(rx).await {
            Input::Line(l) => l,
            other => return other,
        };
    }
}

impl Session<'_> {
    /// Runs the session until the user leaves or input ends.
    pub async fn run(mut self) -> Result<()> {
        let mut rx = lines();
        eprintln!(
            "Chatting with {}{}. /help lists the commands; Ctrl-C stops an answer, Ctrl-D or \
             /exit leaves.",
            self.convo.model,
            match self.convo.turns() {
                0 => String::new(),
                n => format!(" (resumed: {n} earlier question(s))"),
            }
        );
        loop {
            prompt(">>> ");
            let input = match read_message(&mut rx).await {
                Input::Line(l) => l,
                Input::Interrupted => {
                    eprintln!("\n(Ctrl-D or /exit leaves)");
                    continue;
                }
                Input::End => {
                    eprintln!();
                    return Ok(());
                }
            };
            match parse(&input) {
                Cmd::Nothing => {}
                Cmd::Exit => return Ok(()),
                Cmd::Help => eprintln!("{HELP}"),
                Cmd::Unknown(w) => eprintln!("unknown command /{w}; /help lists them"),
                Cmd::System(None) => match self.convo.system() {
                    Some(s) => eprintln!("system prompt: {s}"),
                    None => eprintln!("no system prompt; /system TEXT sets one"),
                },
                Cmd::System(Some(text)) => {
                    self.convo.set_system(text);
                    eprintln!("system prompt set");
                }
                Cmd::Model(None) => eprintln!("model: {}", self.convo.model),
                Cmd::Model(Some(m)) => {
                    self.convo.model = self.settings.resolve(&m);
                    eprintln!("model: {}", self.convo.model);
                }
                Cmd::Clear => {
                    self.convo.clear();
                    eprintln!("conversation cleared");
                }
                Cmd::Save(None) => eprintln!("/save needs a file name"),
                Cmd::Save(Some(file)) => match self.convo.save_as(std::path::Path::new(&file)) {
                    Ok(()) => eprintln!("saved to {file}"),
                    Err(e) => eprintln!("error: {e:#}"),
                },
                Cmd::Say(text) => self.turn(text).await,
            }
        }
    }

    /// Asks one question with the history and shows the answer; a failure is reported and
    /// the session goes on.
    async fn turn(&mut self, text: String) {
        let content = if self.images.is_empty() {
            MessageContent::Text(text)
        } else {
            answer::media_content(text, &std::mem::take(&mut self.images), None)
        };
        let mut user = ChatMessage::text(Role::User, String::new());
        user.content = Some(content);
        self.convo.messages.push(user);
        let req = answer::request(
            self.generation,
            self.convo.model.clone(),
            self.convo.messages.clone(),
        );
        let mut shown = String::new();
        let outcome = tokio::select! {
            r = answer::show(&self.client, false, self.generation.no_stream, &req, &mut shown) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        };
        match outcome {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                report(&e);
                // The question stays unasked, so it can be asked again.
                self.convo.messages.pop();
                return;
            }
            None => {
                if std::io::stderr().is_terminal() {
                    eprint!("\x1b[0m");
                }
                eprintln!("\n[answer stopped]");
                if shown.is_empty() {
                    self.convo.messages.pop();
                    return;
                }
            }
        }
        self.convo
            .messages
            .push(ChatMessage::text(Role::Assistant, shown));
        if let Some(k) = &self.keeper
            && let Err(e) = k.store.keep(&k.path, &self.convo)
        {
            eprintln!("warning: the conversation could not be kept: {e:#}");
        }
    }
}

fn report(e: &Failure) {
    match e {
        Failure::Client(c) => eprintln!("error: {}", exit::describe(c).1),
        Failure::Other(o) => eprintln!("error: {o:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_as_commands() {
        assert_eq!(parse("hello there\n"), Cmd::Say("hello there".into()));
        assert_eq!(parse("  \n"), Cmd::Nothing);
        assert_eq!(parse("/exit\n"), Cmd::Exit);
        assert_eq!(parse("/bye"), Cmd::Exit);
        assert_eq!(parse("/?"), Cmd::Help);
        assert_eq!(
            parse("/system  be brief and kind \n"),
            Cmd::System(Some("be brief and kind".into()))
        );
        assert_eq!(parse("/system"), Cmd::System(None));
        assert_eq!(parse("/model llama"), Cmd::Model(Some("llama".into())));
        assert_eq!(parse("/model   "), Cmd::Model(None));
        assert_eq!(parse("/clear"), Cmd::Clear);
        assert_eq!(parse("/save out.md"), Cmd::Save(Some("out.md".into())));
        assert_eq!(parse("/usr/bin is where"), Cmd::Unknown("usr/bin".into()));
    }

    #[tokio::test]
    async fn triple_quotes_make_one_message_of_several_lines() {
        let (tx, mut rx) = mpsc::channel(8);
        for l in ["\"\"\"first\n", "second\n", "third\"\"\"\n", "after\n"] {
            let _ = tx.send(l.to_owned()).await;
        }
        let Input::Line(m) = read_message(&mut rx).await else {
            unreachable!("a message")
        };
        assert_eq!(m, "first\nsecond\nthird");
        let Input::Line(m) = read_message(&mut rx).await else {
            unreachable!("a message")
        };
        assert_eq!(m, "after\n");
        drop(tx);
        assert!(matches!(read_message(&mut rx).await, Input::End));
    }
}
