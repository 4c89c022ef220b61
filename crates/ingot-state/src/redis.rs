//! A small Redis client: connections made on demand and reused, every command bounded by a
//! timeout, a connection that failed or timed out dropped (the next command opens a new
//! one, so reconnection is automatic), scripts sent by SHA-1 and loaded when missing.

use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::StateError;
use crate::resp::{self, Value};

/// Idle connections kept for reuse.
const MAX_IDLE: usize = 32;

/// Where a Redis server is, from `redis://[[user]:password@]host[:port][/db]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address.
    pub host: String,
    /// Port (6379 when the URL has none).
    pub port: u16,
    /// `AUTH` user, when the URL names one.
    pub user: Option<String>,
    /// `AUTH` password.
    pub password: Option<String>,
    /// `SELECT` database.
    pub db: u32,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redis://{}:{}/{}", self.host, self.port, self.db)
    }
}

impl Target {
    /// Parses a `redis://` URL.
    ///
    /// # Errors
    /// [`StateError::Config`] naming what is wrong (never echoing a password).
    pub fn parse(url: &str) -> Result<Self, StateError> {
        let bad = |m: &str| StateError::Config(format!("redis_url: {m}"));
        let rest = url
            .strip_prefix("redis://")
            .ok_or_else(|| bad("must start with redis:// (TLS, rediss://, is not supported)"))?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((h, "")) => (h, 0),
            Some((h, d)) => (
                h,
                d.parse()
                    .map_err(|_| bad("the database must be a number"))?,
            ),
            None => (rest, 0),
        };
        let (host, port) = match hostport.strip_prefix('[') {
            // [v6]:port
            Some(v6) => {
                let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
                match after.strip_prefix(':') {
                    Some(p) => (h, p.parse().map_err(|_| bad("the port must be a number"))?),
                    None => (h, 6379),
                }
            }
            None => match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().map_err(|_| bad("the port must be a number"))?),
                None => (hostport, 6379),
            },
        };
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some(("", p)) => (None, Some(p.to_owned())),
                Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned())),
                None => (None, Some(a.to_owned())),
            },
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            user,
            password,
            db,
        })
    }
}

type Conn = BufReader<TcpStream>;

/// A Lua script and its SHA-1 (for `EVALSHA`).
#[derive(Debug)]
pub struct Script {
    source: &'static str,
    sha: String,
}

impl Script {
    /// A script; its digest is computed once.
    pub fn new(source: &'static str) -> Self {
        let d = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, source.as_bytes());
        let sha = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Self { source, sha }
    }
}

/// A Redis server, reached through a small pool of connections.
#[derive(Debug)]
pub struct Redis {
    target: Target,
    timeout: Duration,
    idle: Mutex<Vec<Conn>>,
}

impl Redis {
    /// A client of `url`; nothing connects until the first command.
    ///
    /// # Errors
    /// An invalid URL.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, StateError> {
        Ok(Self {
            target: Target::parse(url)?,
            timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Where it connects.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Runs one command. The whole exchange (connecting included) is bounded by the
    /// client's timeout; a connection that fails or times out is not reused.
    ///
    /// # Errors
    /// [`StateError::Unavailable`] (no connection, no answer in time, a broken
    /// connection), [`StateError::Redis`] for an error reply.
    pub async fn command(&self, args: &[&[u8]]) -> Result<Value, StateError> {
        let exchange = async {
            let mut conn = match self.take_idle() {
                Some(c) => c,
                None => self.connect().await?,
            };
            let v = roundtrip(&mut conn, args).await?;
            self.put_idle(conn);
            Ok(v)
        };
        let v = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                StateError::Unavailable(format!(
                    "{:?} gave no answer within {} ms",
                    self.target,
                    self.timeout.as_millis()
                ))
            })?
            .map_err(|e| match e {
                StateError::Io(why) | StateError::Protocol(why) => {
                    StateError::Unavailable(format!("{:?}: {why}", self.target))
                }
                other => other,
            })?;
        match v {
            Value::Error(e) => Err(StateError::Refused(e)),
            v => Ok(v),
        }
    }

    /// Runs `script` by its digest, loading it first when the server does not have it.
    ///
    /// # Errors
    /// As [`command`](Self::command).
    pub async fn eval(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<Value, StateError> {
        let nkeys = keys.len().to_string();
        let mut call: Vec<&[u8]> = vec![b"EVALSHA", script.sha.as_bytes(), nkeys.as_bytes()];
        call.extend(keys.iter().map(|k| k.as_bytes()));
        call.extend(args.iter().map(|a| a.as_bytes()));
        match self.command(&call).await {
            Err(StateError::Refused(e)) if e.starts_with("NOSCRIPT") => {
                call[0] = b"EVAL";
                call[1] = script.source.as_bytes();
                self.command(&call).await
            }
            other => other,
        }
    }

    fn take_idle(&self) -> Option<Conn> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn put_idle(&self, conn: Conn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    async fn connect(&self) -> Result<Conn, StateError> {
        let t = &self.target;
        let tcp = TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| StateError::Unavailable(format!("{t:?}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let mut conn = BufReader::new(tcp);
        if let Some(password) = &t.password {
            let mut auth: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &t.user {
                auth.push(user.as_bytes());
            }
            auth.push(password.as_bytes());
            if let Value::Error(e) = roundtrip(&mut conn, &auth).await? {
                return Err(StateError::Refused(format!("AUTH: {e}")));
            }
        }
        if t.db != 0 {
            let db = t.db.to_string();
            if let Value::Error(e) = roundtrip(&mut conn, &[b"SELECT", db.as_bytes()]).await? {
                return Err(StateError::Refused(format!("SELECT: {e}")));
            }
        }
        Ok(conn)
    }
}

async fn roundtrip(conn: &mut Conn, args: &[&[u8]]) -> Result<Value, StateError> {
    conn.get_mut()
        .write_all(&resp::encode(args))
        .await
        .map_err(StateError::io)?;
    resp::read(conn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let t = Target::parse("redis://127.0.0.1:6380/2").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.db, t.password.is_none()),
            ("127.0.0.1", 6380, 2, true)
        );
        let t = Target::parse("redis://:s3cret@cache").unwrap();
        assert_eq!(
            (t.port, t.password.as_deref(), t.user),
            (6379, Some("s3cret"), None)
        );
        let t = Target::parse("redis://app:pw@[::1]:7000").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 7000));
        assert_eq!(t.user.as_deref(), Some("app"));
        assert!(!format!("{t:?}").contains("pw"));
        for bad in [
            "http://h",
            "rediss://h",
            "redis://",
            "redis://h:x",
            "redis://h/x",
        ] {
            let e = Target::parse(bad).unwrap_err().to_string();
            assert!(e.contains("redis_url"), "{bad}: {e}");
        }
    }

    #[test]
    fn script_digests_are_sha1_hex() {
        // SHA-1 of "return 1", as `SCRIPT LOAD` reports it.
        assert_eq!(
            Script::new("return 1").sha,
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }

    #[tokio::test]
    async fn nobody_listening_is_unavailable_quickly() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let r = Redis::new(&format!("redis://127.0.0.1:{port}"), Duration::from_secs(1)).unwrap();
        let e = r.command(&[b"PING"]).await.unwrap_err();
        assert!(matches!(e, StateError::Unavailable(_)), "{e}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let _hold = tokio::spawn(async move {
            let (_s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let r = Redis::new(
            &format!("redis://127.0.0.1:{port}"),
            Duration::from_millis(200),
        )
        .unwrap();
        let t0 = std::time::Instant::now();
        let e = r.command(&[b"PING"]).await.unwrap_err();
        assert!(e.to_string().contains("no answer"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(2));
    }
}
