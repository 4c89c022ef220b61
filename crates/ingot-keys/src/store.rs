//! The SQLite key store and usage ledger.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use base64::Engine as _;
use ring::rand::SecureRandom as _;
use rusqlite::{Connection, OptionalExtension as _, params};
use serde::Serialize;

use crate::day::{unix_now, utc_day};
use crate::{KeyError, Limits};

/// Prefix of every secret ingot issues (recognisable in logs and secret scanners).
const SECRET_PREFIX: &str = "ingot-";
/// Characters of the secret kept in the clear, to tell keys apart in listings.
const SHOWN_PREFIX_LEN: usize = 12;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    hash        BLOB NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    created     INTEGER NOT NULL,
    revoked     INTEGER,
    rpm         INTEGER,
    tpm         INTEGER,
    concurrency INTEGER
);
CREATE TABLE IF NOT EXISTS usage (
    key_id            TEXT NOT NULL,
    model             TEXT NOT NULL,
    day               TEXT NOT NULL,
    requests          INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, model, day)
);
";

/// One stored key (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    /// Stable id, e.g. `key_3f9a0c12d4e5`.
    pub id: String,
    /// Human label.
    pub name: String,
    /// The secret's first characters, e.g. `ingot-Ab12Cd`.
    pub prefix: String,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds, when revoked.
    pub revoked: Option<i64>,
    /// Its limits.
    pub limits: Limits,
}

/// One ledger row: a key's use of a model on a UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// The key's id.
    pub key_id: String,
    /// The model id requested.
    pub model: String,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// Requests answered.
    pub requests: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
}

/// Keys and the usage ledger in one SQLite database.
#[derive(Debug)]
pub struct KeyStore {
    conn: Mutex<Connection>,
}

impl KeyStore {
    /// Opens (creating when absent) the database at `path`.
    ///
    /// # Errors
    /// The folder or the database cannot be created or opened.
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        // WAL lets `ingot keys` and `ingot usage` read while a server writes.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Self::init(conn)
    }

    /// A private in-memory database (tests, examples).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn open_in_memory() -> Result<Self, KeyError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, KeyError> {
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (each statement
        // is atomic), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a key; returns its record and the secret, which is not stored and cannot be
    /// shown again.
    ///
    /// # Errors
    /// SQLite or RNG failures.
    pub fn create(&self, name: &str, limits: Limits) -> Result<(KeyRecord, String), KeyError> {
        let (record, secret) = mint(name, limits)?;
        self.conn().execute(
            "INSERT INTO api_keys (id, name, hash, prefix, created, rpm, tpm, concurrency)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                record.id,
                record.name,
                secret_hash(&secret).as_slice(),
                record.prefix,
                record.created,
                limits.rpm,
                limits.tpm,
                limits.concurrency
            ],
        )?;
        Ok((record, secret))
    }

    /// Every key, in creation order.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn list(&self) -> Result<Vec<KeyRecord>, KeyError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, name, prefix, created, revoked, rpm, tpm, concurrency
             FROM api_keys ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], row_to_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether any key, live or revoked, was ever created: the server then requires keys.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn has_keys(&self) -> Result<bool, KeyError> {
        Ok(self
            .conn()
            .query_row("SELECT EXISTS (SELECT 1 FROM api_keys)", [], |r| r.get(0))?)
    }

    /// Revokes the key with this id (or secret prefix); requests with it get 401 from then on.
    ///
    /// # Errors
    /// [`KeyError::NotFound`] when nothing matches; SQLite failures.
    pub fn revoke(&self, id_or_prefix: &str) -> Result<KeyRecord, KeyError> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE api_keys SET revoked = ?1 WHERE (id = ?2 OR prefix = ?2) AND revoked IS NULL",
            params![unix_now(), id_or_prefix],
        )?;
        let record = conn
            .query_row(
                "SELECT id, name, prefix, created, revoked, rpm, tpm, concurrency
                 FROM api_keys WHERE id = ?1 OR prefix = ?1",
                [id_or_prefix],
                row_to_record,
            )
            .optional()?;
        match record {
            Some(r) if n > 0 || r.revoked.is_some() => Ok(r),
            _ => Err(KeyError::NotFound(id_or_prefix.to_owned())),
        }
    }

    /// The live (not revoked) key whose secret this is.
    ///
    /// The lookup is by SHA-256 of the presented secret, so its time does not depend on how
    /// much of a stored secret matches.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn authenticate(&self, secret: &str) -> Result<Option<KeyRecord>, KeyError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT id, name, prefix, created, revoked, rpm, tpm, concurrency
                 FROM api_keys WHERE hash = ?1 AND revoked IS NULL",
                [secret_hash(secret).as_slice()],
                row_to_record,
            )
            .optional()?)
    }

    /// Adds one answered request to the ledger (today, UTC).
    ///
    /// # Errors
    /// SQLite failures.
    pub fn record_usage(
        &self,
        key_id: &str,
        model: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
    ) -> Result<(), KeyError> {
        self.record_usage_on(
            &utc_day(unix_now()),
            key_id,
            model,
            prompt_tokens,
            completion_tokens,
        )
    }

    /// [`record_usage`](Self::record_usage) on a given day.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn record_usage_on(
        &self,
        day: &str,
        key_id: &str,
        model: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
    ) -> Result<(), KeyError> {
        let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.conn().execute(
            "INSERT INTO usage (key_id, model, day, requests, prompt_tokens, completion_tokens)
             VALUES (?1, ?2, ?3, 1, ?4, ?5)
             ON CONFLICT (key_id, model, day) DO UPDATE SET
               requests = requests + 1,
               prompt_tokens = prompt_tokens + excluded.prompt_tokens,
               completion_tokens = completion_tokens + excluded.completion_tokens",
            params![
                key_id,
                model,
                day,
                to_i64(prompt_tokens),
                to_i64(completion_tokens)
            ],
        )?;
        Ok(())
    }

    /// Ledger rows, optionally of one key (by id or prefix), by day then key then model.
    ///
    /// # Errors
    /// SQLite failures.
    pub fn usage(&self, key: Option<&str>) -> Result<Vec<UsageRow>, KeyError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT u.key_id, u.model, u.day, u.requests, u.prompt_tokens, u.completion_tokens
             FROM usage u LEFT JOIN api_keys k ON k.id = u.key_id
             WHERE ?1 IS NULL OR u.key_id = ?1 OR k.prefix = ?1
             ORDER BY u.day, u.key_id, u.model",
        )?;
        let rows = stmt.query_map([key], |r| {
            let n = |i| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
            Ok(UsageRow {
                key_id: r.get(0)?,
                model: r.get(1)?,
                day: r.get(2)?,
                requests: n(3)?,
                prompt_tokens: n(4)?,
                completion_tokens: n(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn row_to_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        prefix: r.get(2)?,
        created: r.get(3)?,
        revoked: r.get(4)?,
        limits: Limits {
            rpm: r.get(5)?,
            tpm: r.get(6)?,
            concurrency: r.get(7)?,
        },
    })
}

/// A new key named `name`: its record and its secret (`ingot-` and 32 random bytes). Every
/// store creates keys this way and keeps only [`secret_hash`] of the secret.
///
/// # Errors
/// [`KeyError::Rng`] when the system random number generator fails.
pub fn mint(name: &str, limits: Limits) -> Result<(KeyRecord, String), KeyError> {
    let rng = ring::rand::SystemRandom::new();
    let mut secret_bytes = [0u8; 32];
    rng.fill(&mut secret_bytes).map_err(|_| KeyError::Rng)?;
    let mut id_bytes = [0u8; 6];
    rng.fill(&mut id_bytes).map_err(|_| KeyError::Rng)?;
    let secret = format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes)
    );
    let record = KeyRecord {
        id: format!("key_{}", hex(&id_bytes)),
        name: name.to_owned(),
        prefix: secret.chars().take(SHOWN_PREFIX_LEN).collect(),
        created: unix_now(),
        revoked: None,
        limits,
    };
    Ok((record, secret))
}

/// The SHA-256 a secret is stored and looked up by.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_authenticate_revoke() {
        let s = KeyStore::open_in_memory().unwrap();
        assert!(!s.has_keys().unwrap());
        let (a, secret_a) = s.create("a", Limits::default()).unwrap();
        let (b, secret_b) = s
            .create(
                "b",
                Limits {
                    rpm: Some(5),
                    tpm: None,
                    concurrency: Some(2),
                },
            )
            .unwrap();
        assert!(s.has_keys().unwrap());
        assert!(secret_a.starts_with("ingot-") && secret_a.len() > 40);
        assert_ne!(secret_a, secret_b);
        assert_eq!(
            s.authenticate(&secret_b).unwrap().unwrap().limits.rpm,
            Some(5)
        );
        assert!(s.authenticate("ingot-wrong").unwrap().is_none());
        assert_eq!(s.list().unwrap().len(), 2);
        let revoked = s.revoke(&a.prefix).unwrap();
        assert_eq!(revoked.id, a.id);
        assert!(revoked.revoked.is_some());
        assert!(s.authenticate(&secret_a).unwrap().is_none());
        assert!(s.authenticate(&secret_b).unwrap().is_some());
        // Revoking twice reports the key; an unknown id is an error.
        assert!(s.revoke(&a.id).is_ok());
        assert!(matches!(s.revoke("key_nope"), Err(KeyError::NotFound(_))));
        assert_eq!(s.list().unwrap()[1].id, b.id);
    }

    #[test]
    fn secrets_are_not_stored() {
        let s = KeyStore::open_in_memory().unwrap();
        let (_, secret) = s.create("a", Limits::default()).unwrap();
        let conn = s.conn();
        let stored: Vec<u8> = conn
            .query_row("SELECT hash FROM api_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored.len(), 32);
        assert!(
            !stored
                .windows(8)
                .any(|w| secret.as_bytes().windows(8).any(|s| s == w))
        );
    }

    #[test]
    fn ledger_adds_up_by_key_model_and_day() {
        let s = KeyStore::open_in_memory().unwrap();
        let (k, _) = s.create("a", Limits::default()).unwrap();
        s.record_usage_on("2026-11-25", &k.id, "m1", 10, 5).unwrap();
        s.record_usage_on("2026-11-25", &k.id, "m1", 3, 2).unwrap();
        s.record_usage_on("2026-11-26", &k.id, "m1", 1, 1).unwrap();
        s.record_usage_on("2026-11-26", &k.id, "m2", 7, 0).unwrap();
        s.record_usage_on("2026-11-26", "other", "m2", 7, 0)
            .unwrap();
        let rows = s.usage(Some(&k.id)).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (
                rows[0].requests,
                rows[0].prompt_tokens,
                rows[0].completion_tokens
            ),
            (2, 13, 7)
        );
        assert_eq!(s.usage(Some(&k.prefix)).unwrap().len(), 3);
        assert_eq!(s.usage(None).unwrap().len(), 4);
    }

    #[test]
    fn a_reopened_database_keeps_keys_and_ledger() {
        let dir = std::env::temp_dir().join(format!("ingot-keys-{}", std::process::id()));
        let path = dir.join("sub/keys.db");
        let (id, secret) = {
            let s = KeyStore::open(&path).unwrap();
            let (k, secret) = s.create("a", Limits::default()).unwrap();
            s.record_usage(&k.id, "m", 4, 6).unwrap();
            (k.id, secret)
        };
        let s = KeyStore::open(&path).unwrap();
        assert_eq!(s.authenticate(&secret).unwrap().unwrap().id, id);
        assert_eq!(s.usage(None).unwrap()[0].completion_tokens, 6);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
