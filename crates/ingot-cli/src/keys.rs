//! `ingot keys create | list | revoke` and `ingot usage`: the key database, read and written
//! directly (the server may run at the same time: SQLite in WAL mode), or the keys and
//! ledger in PostgreSQL that several servers share (`--postgres-url`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ingot_keys::{KeyRecord, KeyStore, Limits, UsageRow};
use ingot_state::PgKeyStore;

use crate::cli::{KeysAction, UsageArgs};

/// `$HOME/.local/share/ingot/keys.db`: the default of both the CLI and the server.
pub fn default_db() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
        .join(".local/share/ingot/keys.db")
}

/// Where the keys are: a SQLite file, or PostgreSQL (driven on a runtime of its own).
enum Store {
    Sqlite(KeyStore),
    Postgres(Box<PgKeyStore>, tokio::runtime::Runtime),
}

impl Store {
    fn open(db: Option<&Path>, postgres_url: Option<&str>) -> anyhow::Result<Self> {
        if let Some(url) = postgres_url {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let store = PgKeyStore::new(url, std::time::Duration::from_secs(10))?;
            return Ok(Store::Postgres(Box::new(store), rt));
        }
        let path = db.map_or_else(default_db, Path::to_path_buf);
        let store = KeyStore::open(&path)
            .with_context(|| format!("opening the key database {}", path.display()))?;
        Ok(Store::Sqlite(store))
    }

    fn create(&self, name: &str, limits: Limits) -> anyhow::Result<(KeyRecord, String)> {
        Ok(match self {
            Store::Sqlite(s) => s.create(name, limits)?,
            Store::Postgres(p, rt) => rt.block_on(p.create(name, limits))?,
        })
    }

    fn list(&self) -> anyhow::Result<Vec<KeyRecord>> {
        Ok(match self {
            Store::Sqlite(s) => s.list()?,
            Store::Postgres(p, rt) => rt.block_on(p.list())?,
        })
    }

    fn revoke(&self, key: &str) -> anyhow::Result<KeyRecord> {
        Ok(match self {
            Store::Sqlite(s) => s.revoke(key)?,
            Store::Postgres(p, rt) => rt.block_on(p.revoke(key))?,
        })
    }

    fn usage(&self, key: Option<&str>) -> anyhow::Result<Vec<UsageRow>> {
        Ok(match self {
            Store::Sqlite(s) => s.usage(key)?,
            Store::Postgres(p, rt) => rt.block_on(p.usage(key))?,
        })
    }
}

/// Runs `ingot keys ACTION`.
pub fn keys(
    action: &KeysAction,
    db: Option<&Path>,
    postgres_url: Option<&str>,
) -> anyhow::Result<()> {
    let store = Store::open(db, postgres_url)?;
    let mut out = std::io::stdout().lock();
    match action {
        KeysAction::Create {
            name,
            rpm,
            tpm,
            concurrency,
            json,
        } => {
            let limits = Limits {
                rpm: *rpm,
                tpm: *tpm,
                concurrency: *concurrency,
            };
            let (record, secret) = store.create(name, limits)?;
            if *json {
                let v = serde_json::json!({"key": secret, "id": record.id, "name": record.name, "limits": record.limits});
                writeln!(out, "{v}")?;
            } else {
                writeln!(out, "{secret}")?;
                eprintln!(
                    "created {} ({}); the key above is shown only once: store it now",
                    record.id,
                    describe_limits(&record.limits)
                );
            }
        }
        KeysAction::List { json } => {
            let keys = store.list()?;
            if *json {
                writeln!(out, "{}", serde_json::to_string(&keys)?)?;
            } else {
                writeln!(
                    out,
                    "{:<18} {:<14} {:<20} {:<9} LIMITS",
                    "ID", "PREFIX", "NAME", "STATUS"
                )?;
                for k in &keys {
                    writeln!(out, "{}", row(k))?;
                }
            }
        }
        KeysAction::Revoke { key } => {
            let r = store.revoke(key)?;
            eprintln!("revoked {} ({})", r.id, r.name);
        }
    }
    Ok(())
}

fn row(k: &KeyRecord) -> String {
    let status = if k.revoked.is_some() {
        "revoked"
    } else {
        "active"
    };
    format!(
        "{:<18} {:<14} {:<20} {:<9} {}",
        k.id,
        k.prefix,
        k.name,
        status,
        describe_limits(&k.limits)
    )
}

fn describe_limits(l: &Limits) -> String {
    let mut parts = Vec::new();
    if let Some(v) = l.rpm {
        parts.push(format!("{v} req/min"));
    }
    if let Some(v) = l.tpm {
        parts.push(format!("{v} tok/min"));
    }
    if let Some(v) = l.concurrency {
        parts.push(format!("{v} concurrent"));
    }
    if parts.is_empty() {
        "unlimited".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Runs `ingot usage`.
pub fn usage(a: &UsageArgs) -> anyhow::Result<()> {
    let store = Store::open(a.db.as_deref(), a.postgres_url.as_deref())?;
    let rows = store.usage(a.key.as_deref())?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&rows)?)?;
        return Ok(());
    }
    let model_w = rows.iter().map(|r| r.model.len()).max().unwrap_or(5).max(5);
    writeln!(
        out,
        "{:<10}  {:<18}  {:<model_w$}  {:>8}  {:>13}  {:>17}",
        "DAY", "KEY", "MODEL", "REQUESTS", "PROMPT TOKENS", "COMPLETION TOKENS"
    )?;
    let (mut n, mut p, mut c) = (0, 0, 0);
    for r in &rows {
        writeln!(
            out,
            "{:<10}  {:<18}  {:<model_w$}  {:>8}  {:>13}  {:>17}",
            r.day, r.key_id, r.model, r.requests, r.prompt_tokens, r.completion_tokens
        )?;
        (n, p, c) = (n + r.requests, p + r.prompt_tokens, c + r.completion_tokens);
    }
    writeln!(
        out,
        "{:<10}  {:<18}  {:<model_w$}  {n:>8}  {p:>13}  {c:>17}",
        "total", "", ""
    )?;
    Ok(())
}
