//! Conversations kept between runs, so `ingot chat --continue` picks up the last one.
//!
//! Each conversation is one JSON file, `<milliseconds since 1970>-<pid>.json`, under
//! `$XDG_DATA_HOME/ingot/conversations` (else `$HOME/.local/share/ingot/conversations`); the
//! newest name is the last conversation. A file is replaced whole (written beside it, then
//! renamed), so an interrupted run never leaves half a conversation.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use ingot_protocol::chat::{ChatMessage, Role};
use serde::{Deserialize, Serialize};

/// One conversation: the model it talks to and every message so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// The model id.
    pub model: String,
    /// System prompt (first, when there is one), then the turns.
    pub messages: Vec<ChatMessage>,
}

impl Conversation {
    /// The system prompt, if any.
    pub fn system(&self) -> Option<String> {
        self.messages
            .first()
            .filter(|m| m.role == Role::System)
            .and_then(|m| m.content.as_ref())
            .map(|c| c.text())
    }

    /// Sets (or replaces) the system prompt.
    pub fn set_system(&mut self, text: String) {
        let msg = ChatMessage::text(Role::System, text);
        match self.messages.first_mut() {
            Some(first) if first.role == Role::System => *first = msg,
            _ => self.messages.insert(0, msg),
        }
    }

    /// Forgets the turns, keeping the system prompt.
    pub fn clear(&mut self) {
        self.messages.retain(|m| m.role == Role::System);
    }

    /// Number of user turns.
    pub fn turns(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| m.role == Role::User)
            .count()
    }

    /// The conversation as Markdown, for people.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# Conversation with {}\n", self.model);
        for m in &self.messages {
            let who = match m.role {
                Role::System | Role::Developer => "System",
                Role::User => "User",
                Role::Assistant => "Assistant",
                Role::Tool | Role::Function => "Tool",
            };
            let text = m.content.as_ref().map(|c| c.text()).unwrap_or_default();
            let _ = write!(out, "\n## {who}\n\n{}\n", text.trim_end());
        }
        out
    }

    /// Writes the conversation to `path`: Markdown when it ends in `.md`, else JSON.
    pub fn save_as(&self, path: &Path) -> anyhow::Result<()> {
        let text = if path.extension().is_some_and(|e| e == "md") {
            self.to_markdown()
        } else {
            serde_json::to_string_pretty(self)?
        };
        write_whole(path, text.as_bytes())
    }
}

/// The folder of kept conversations.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store of this user, from the environment given by `var`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let data = crate::userconfig::xdg_dir(&var, "XDG_DATA_HOME", ".local/share")?;
        Some(Self::at(data.join("ingot/conversations")))
    }

    /// A store in `dir`.
    pub fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// A new file name for a conversation starting now.
    pub fn new_path(&self) -> PathBuf {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        self.dir
            .join(format!("{ms:015}-{}.json", std::process::id()))
    }

    /// The last conversation and its file, if any was kept.
    pub fn latest(&self) -> anyhow::Result<Option<(PathBuf, Conversation)>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.dir.display())),
        };
        let newest = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .max();
        let Some(path) = newest else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let convo = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a kept conversation", path.display()))?;
        Ok(Some((path, convo)))
    }

    /// Keeps `convo` in `path` (a name from [`Store::new_path`] or [`Store::latest`]).
    pub fn keep(&self, path: &Path, convo: &Conversation) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        write_whole(path, &serde_json::to_vec(convo)?)
    }
}

/// Writes `bytes` beside `path`, then renames: readers see the old file or the new one.
fn write_whole(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convo() -> Conversation {
        Conversation {
            model: "m".into(),
            messages: vec![
                ChatMessage::text(Role::User, "hello"),
                ChatMessage::text(Role::Assistant, "hi there"),
            ],
        }
    }

    #[test]
    fn system_prompt_is_set_replaced_and_kept_by_clear() {
        let mut c = convo();
        assert_eq!(c.system(), None);
        c.set_system("be brief".into());
        c.set_system("be briefer".into());
        assert_eq!(c.system().as_deref(), Some("be briefer"));
        assert_eq!(c.messages.len(), 3);
        assert_eq!(c.turns(), 1);
        c.clear();
        assert_eq!(c.messages.len(), 1);
        assert_eq!(c.turns(), 0);
    }

    #[test]
    fn the_newest_kept_conversation_is_the_last() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("ingot-convo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::at(dir.clone());
        assert!(store.latest()?.is_none());
        let first = dir.join("000000000000001-1.json");
        let second = dir.join("000000000000002-1.json");
        store.keep(&second, &convo())?;
        let mut older = convo();
        older.model = "older".into();
        store.keep(&first, &older)?;
        let (path, got) = store.latest()?.ok_or_else(|| anyhow::anyhow!("none"))?;
        assert_eq!(path, second);
        assert_eq!(got, convo());
        assert!(store.new_path().starts_with(&dir));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn saved_as_markdown_or_json() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("ingot-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let md = dir.join("c.md");
        convo().save_as(&md)?;
        let text = std::fs::read_to_string(&md)?;
        assert!(text.contains("## User\n\nhello") && text.contains("## Assistant\n\nhi there"));
        let json = dir.join("c.json");
        convo().save_as(&json)?;
        let back: Conversation = serde_json::from_str(&std::fs::read_to_string(&json)?)?;
        assert_eq!(back, convo());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn the_store_follows_xdg() {
        let s = Store::from_env(|k| (k == "HOME").then(|| "/h".to_owned()));
        assert_eq!(
            s.map(|s| s.dir),
            Some(PathBuf::from("/h/.local/share/ingot/conversations"))
        );
        assert!(Store::from_env(|_| None).is_none());
    }
}
