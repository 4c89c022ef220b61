//! Managed keys and the usage ledger in PostgreSQL (`[state] postgres_url`), for several
//! instances: the same records and rules as [`ingot_keys::KeyStore`] (secrets stored as
//! SHA-256, the ledger by key, model and UTC day), with atomic upserts, so instances
//! writing at once never lose a request.
//!
//! One connection, opened on first use and again after it breaks (so a restarted server is
//! picked up by the next request); every operation is bounded by the timeout. No TLS: use
//! it on loopback or a private network.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ingot_keys::{KeyRecord, Limits, UsageRow};
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Row};

use crate::StateError;

/// The tables, created when missing (under an advisory lock, so instances starting
/// together do not race).
const SCHEMA: &str = "
BEGIN;
SELECT pg_advisory_xact_lock(7368257);
CREATE TABLE IF NOT EXISTS api_keys (
    seq         BIGSERIAL,
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    hash        BYTEA NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    created     BIGINT NOT NULL,
    revoked     BIGINT,
    rpm         BIGINT,
    tpm         BIGINT,
    concurrency BIGINT
);
CREATE TABLE IF NOT EXISTS usage (
    key_id            TEXT NOT NULL,
    model             TEXT NOT NULL,
    day               TEXT NOT NULL,
    requests          BIGINT NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0,
    completion_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, model, day)
);
COMMIT;
";

const RECORD: &str = "id, name, prefix, created, revoked, rpm, tpm, concurrency";

/// Keys and the usage ledger in a PostgreSQL database.
pub struct PgKeyStore {
    config: tokio_postgres::Config,
    timeout: Duration,
    client: Mutex<Option<Arc<Client>>>,
    key_failures: AtomicU64,
    ledger_failures: AtomicU64,
}

impl std::fmt::Debug for PgKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgKeyStore({})", self.describe())
    }
}

impl PgKeyStore {
    /// A store on `url` (`postgres://user[:password]@host[:port]/db`, or a libpq key=value
    /// string); each operation waits at most `timeout`. Nothing connects until the first.
    ///
    /// # Errors
    /// [`StateError::Config`] for a URL that does not parse (never echoing it: it may hold a
    /// password).
    pub fn new(url: &str, timeout: Duration) -> Result<Self, StateError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
            StateError::Config(format!("postgres_url does not parse: {e}"))
        })?;
        if config.get_hosts().is_empty() {
            return Err(StateError::Config("postgres_url has no host".into()));
        }
        Ok(Self {
            config,
            timeout,
            client: Mutex::new(None),
            key_failures: AtomicU64::new(0),
            ledger_failures: AtomicU64::new(0),
        })
    }

    /// Failed key lookups (`authenticate`, `has_keys`) and ledger writes since start, for
    /// metrics.
    pub fn failures(&self) -> (u64, u64) {
        (
            self.key_failures.load(Ordering::Relaxed),
            self.ledger_failures.load(Ordering::Relaxed),
        )
    }

    fn count<T>(counter: &AtomicU64, r: Result<T, StateError>) -> Result<T, StateError> {
        if r.is_err() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    /// Host, port and database, for messages (no user or password).
    pub fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => String::new(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let db = self.config.get_dbname().unwrap_or("");
        format!("postgres://{host}:{port}/{db}")
    }

    /// The live connection, opened (and the tables created) when there is none.
    async fn client(&self) -> Result<Arc<Client>, StateError> {
        let mut slot = self.client.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(c));
        }
        *slot = None;
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| StateError::Unavailable(format!("{}: {e}", self.describe())))?;
        let where_ = self.describe();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("the connection to {where_} ended: {e}");
            }
        });
        client
            .batch_execute(SCHEMA)
            .await
            .map_err(|e| self.failed(&e))?;
        let client = Arc::new(client);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }

    /// Runs `op` on the connection within the timeout.
    async fn run<T, F>(&self, op: impl FnOnce(Arc<Client>) -> F) -> Result<T, StateError>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let work = async {
            let client = self.client().await?;
            op(client).await.map_err(|e| self.failed(&e))
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| {
                StateError::Unavailable(format!(
                    "{} gave no answer within {} ms",
                    self.describe(),
                    self.timeout.as_millis()
                ))
            })?
    }

    fn failed(&self, e: &tokio_postgres::Error) -> StateError {
        if e.is_closed() || e.as_db_error().is_none() {
            StateError::Unavailable(format!("{}: {e}", self.describe()))
        } else {
            StateError::Refused(e.to_string())
        }
    }

    /// Whether the database answers, for readiness checks.
    ///
    /// # Errors
    /// It does not.
    pub async fn ping(&self) -> Result<(), StateError> {
        self.run(|c| async move { c.simple_query("SELECT 1").await.map(|_| ()) })
            .await
    }

    /// Creates a key; returns its record and the secret (shown once, never stored).
    ///
    /// # Errors
    /// The database failed, or the RNG did.
    pub async fn create(
        &self,
        name: &str,
        limits: Limits,
    ) -> Result<(KeyRecord, String), StateError> {
        let (record, secret) =
            ingot_keys::mint(name, limits).map_err(|e| StateError::Refused(e.to_string()))?;
        let hash = ingot_keys::secret_hash(&secret);
        let r = record.clone();
        self.run(|c| async move {
            c.execute(
                "INSERT INTO api_keys (id, name, hash, prefix, created, rpm, tpm, concurrency)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &r.id,
                    &r.name,
                    &hash.as_slice(),
                    &r.prefix,
                    &r.created,
                    &r.limits.rpm.map(i64::from),
                    &r.limits.tpm.map(i64::from),
                    &r.limits.concurrency.map(i64::from),
                ],
            )
            .await
        })
        .await?;
        Ok((record, secret))
    }

    /// Every key, in creation order.
    ///
    /// # Errors
    /// The database failed.
    pub async fn list(&self) -> Result<Vec<KeyRecord>, StateError> {
        let rows = self
            .run(|c| async move {
                c.query(&format!("SELECT {RECORD} FROM api_keys ORDER BY seq"), &[])
                    .await
            })
            .await?;
        rows.iter().map(record).collect()
    }

    /// Whether any key, live or revoked, was ever created.
    ///
    /// # Errors
    /// The database failed.
    pub async fn has_keys(&self) -> Result<bool, StateError> {
        let row = self
            .run(|c| async move {
                c.query_one("SELECT EXISTS (SELECT 1 FROM api_keys)", &[])
                    .await
            })
            .await;
        let row = Self::count(&self.key_failures, row)?;
        row.try_get(0)
            .map_err(|e| StateError::Protocol(e.to_string()))
    }

    /// Revokes the key with this id (or secret prefix).
    ///
    /// # Errors
    /// [`StateError::NotFound`] when nothing matches; the database failed.
    pub async fn revoke(&self, id_or_prefix: &str) -> Result<KeyRecord, StateError> {
        let key = id_or_prefix.to_owned();
        let now = ingot_keys::unix_now();
        let row = self
            .run(|c| async move {
                c.execute(
                    "UPDATE api_keys SET revoked = $1 WHERE (id = $2 OR prefix = $2) AND revoked IS NULL",
                    &[&now, &key],
                )
                .await?;
                c.query_opt(
                    &format!("SELECT {RECORD} FROM api_keys WHERE id = $1 OR prefix = $1"),
                    &[&key],
                )
                .await
            })
            .await?;
        match row {
            Some(r) => record(&r),
            None => Err(StateError::NotFound(id_or_prefix.to_owned())),
        }
    }

    /// The live key whose secret this is (looked up by its SHA-256).
    ///
    /// # Errors
    /// The database failed.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<KeyRecord>, StateError> {
        let hash = ingot_keys::secret_hash(secret);
        let row = self
            .run(|c| async move {
                c.query_opt(
                    &format!("SELECT {RECORD} FROM api_keys WHERE hash = $1 AND revoked IS NULL"),
                    &[&hash.as_slice()],
                )
                .await
            })
            .await;
        let row = Self::count(&self.key_failures, row)?;
        row.as_ref().map(record).transpose()
    }

    /// Adds one answered request to the ledger (today, UTC), atomically.
    ///
    /// # Errors
    /// The database failed.
    pub async fn record_usage(
        &self,
        key_id: &str,
        model: &str,
        prompt_tokens: u64,
        completion_tokens: u64,
    ) -> Result<(), StateError> {
        let day = ingot_keys::utc_day(ingot_keys::unix_now());
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let (p, c_) = (n(prompt_tokens), n(completion_tokens));
        let (key_id, model) = (key_id.to_owned(), model.to_owned());
        let r = self
            .run(|c| async move {
                c.execute(
                "INSERT INTO usage (key_id, model, day, requests, prompt_tokens, completion_tokens)
                 VALUES ($1, $2, $3, 1, $4, $5)
                 ON CONFLICT (key_id, model, day) DO UPDATE SET
                   requests = usage.requests + 1,
                   prompt_tokens = usage.prompt_tokens + EXCLUDED.prompt_tokens,
                   completion_tokens = usage.completion_tokens + EXCLUDED.completion_tokens",
                &[&key_id, &model, &day, &p, &c_],
            )
            .await
            })
            .await;
        Self::count(&self.ledger_failures, r).map(|_| ())
    }

    /// Ledger rows, optionally of one key (by id or prefix), by day then key then model.
    ///
    /// # Errors
    /// The database failed.
    pub async fn usage(&self, key: Option<&str>) -> Result<Vec<UsageRow>, StateError> {
        let key = key.map(str::to_owned);
        let rows = self
            .run(|c| async move {
                c.query(
                    "SELECT u.key_id, u.model, u.day, u.requests, u.prompt_tokens, u.completion_tokens
                     FROM usage u LEFT JOIN api_keys k ON k.id = u.key_id
                     WHERE $1::TEXT IS NULL OR u.key_id = $1 OR k.prefix = $1
                     ORDER BY u.day, u.key_id, u.model",
                    &[&key],
                )
                .await
            })
            .await?;
        rows.iter()
            .map(|r| {
                let n = |i| {
                    r.try_get::<_, i64>(i)
                        .map(|v| u64::try_from(v).unwrap_or(0))
                        .map_err(|e| StateError::Protocol(e.to_string()))
                };
                let s = |i| {
                    r.try_get::<_, String>(i)
                        .map_err(|e| StateError::Protocol(e.to_string()))
                };
                Ok(UsageRow {
                    key_id: s(0)?,
                    model: s(1)?,
                    day: s(2)?,
                    requests: n(3)?,
                    prompt_tokens: n(4)?,
                    completion_tokens: n(5)?,
                })
            })
            .collect()
    }
}

fn record(r: &Row) -> Result<KeyRecord, StateError> {
    let bad = |e: tokio_postgres::Error| StateError::Protocol(e.to_string());
    let limit = |i: usize| -> Result<Option<u32>, StateError> {
        Ok(r.try_get::<_, Option<i64>>(i)
            .map_err(bad)?
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX)))
    };
    Ok(KeyRecord {
        id: r.try_get(0).map_err(bad)?,
        name: r.try_get(1).map_err(bad)?,
        prefix: r.try_get(2).map_err(bad)?,
        created: r.try_get(3).map_err(bad)?,
        revoked: r.try_get(4).map_err(bad)?,
        limits: Limits {
            rpm: limit(5)?,
            tpm: limit(6)?,
            concurrency: limit(7)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_without_echoing_secrets() {
        let s = PgKeyStore::new(
            "postgres://ingot:s3cret@db.internal:5433/keys",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(s.describe(), "postgres://db.internal:5433/keys");
        assert!(!format!("{s:?}").contains("s3cret"));
        let e = PgKeyStore::new("postgres://u:pw@h:notaport/db", Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(e.contains("postgres_url") && !e.contains("pw@"), "{e}");
    }

    #[tokio::test]
    async fn nobody_listening_is_unavailable_quickly() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let s = PgKeyStore::new(
            &format!("postgres://u@127.0.0.1:{port}/db"),
            Duration::from_secs(2),
        )
        .unwrap();
        let e = s.has_keys().await.unwrap_err();
        assert!(matches!(e, StateError::Unavailable(_)), "{e}");
    }
}
