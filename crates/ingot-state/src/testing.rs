//! For tests: a throwaway `redis-server` (or PostgreSQL server) on a free loopback port, with
//! nothing saved to disk, that can be stopped and started again on the same port.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a test helper: a server that does not start fails the test loudly"
)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` process of a test.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

/// The `redis-server` binary: `INGOT_REDIS_SERVER`, else `redis-server` on the `PATH`.
/// `None` when there is none, unless `INGOT_REQUIRE_TOOLS=1`, which makes it a failure.
///
/// # Panics
/// When the binary is missing and `INGOT_REQUIRE_TOOLS=1`.
pub fn redis_server_binary() -> Option<String> {
    let bin = std::env::var("INGOT_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned());
    let found = Command::new(&bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(bin);
    }
    assert!(
        std::env::var("INGOT_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{bin} is missing (INGOT_REQUIRE_TOOLS=1); scripts/test.sh installs it"
    );
    eprintln!("skipping: {bin} is not installed");
    None
}

impl RedisServer {
    /// Starts one on a free port; `None` when there is no `redis-server` (see
    /// [`redis_server_binary`]).
    ///
    /// # Panics
    /// When it does not start.
    pub fn start() -> Option<Self> {
        redis_server_binary()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut s = Self { port, child: None };
        s.restart();
        Some(s)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (empty), and waits until it answers.
    ///
    /// # Panics
    /// When it does not answer within 10 s.
    pub fn restart(&mut self) {
        self.stop();
        let bin = redis_server_binary().expect("redis-server");
        let child = Command::new(bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A throwaway PostgreSQL server of a test: its own cluster in a temporary folder (`initdb`,
/// trust authentication, no fsync: what is committed survives a crash of the server, not of
/// the machine), on a free loopback port. As root it runs as the
/// `postgres` user, which the server requires.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    user: Option<(u32, u32)>,
    child: Option<Child>,
}

/// The folder of `initdb` and `postgres`: `INGOT_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin`. `None` when there is none, unless `INGOT_REQUIRE_TOOLS=1`,
/// which makes it a failure.
///
/// # Panics
/// When PostgreSQL is missing and `INGOT_REQUIRE_TOOLS=1`.
pub fn postgres_bin() -> Option<PathBuf> {
    let dir = std::env::var_os("INGOT_PG_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
                .ok()?
                .filter_map(|e| {
                    let e = e.ok()?;
                    let v: u32 = e.file_name().to_str()?.parse().ok()?;
                    Some((v, e.path().join("bin")))
                })
                .collect();
            found.sort();
            found.pop().map(|(_, p)| p)
        });
    if let Some(d) = dir.filter(|d| d.join("initdb").is_file() && d.join("postgres").is_file()) {
        return Some(d);
    }
    assert!(
        std::env::var("INGOT_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "PostgreSQL is missing (INGOT_REQUIRE_TOOLS=1); scripts/test.sh installs it"
    );
    eprintln!("skipping: PostgreSQL is not installed");
    None
}

/// The `postgres` user's uid and gid when this process runs as root.
fn server_user() -> Option<(u32, u32)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let euid: u32 = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    if euid != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let mut f = line.split(':').skip(2);
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

impl PgServer {
    /// Creates a cluster and starts it; `None` when PostgreSQL is not installed (see
    /// [`postgres_bin`]).
    ///
    /// # Panics
    /// When it cannot be created or does not start.
    pub fn start() -> Option<Self> {
        let bin = postgres_bin()?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("ingot-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a folder for the cluster");
        let user = server_user();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown to postgres");
        }
        let mut s = Self {
            bin,
            dir,
            port,
            user,
            child: None,
        };
        let data = s.dir.join("data");
        let ok = s
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        assert!(ok, "initdb failed in {}", s.dir.display());
        s.restart();
        Some(s)
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.user {
            std::os::unix::process::CommandExt::uid(&mut c, uid);
            std::os::unix::process::CommandExt::gid(&mut c, gid);
        }
        c.current_dir(&self.dir);
        c
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops it at once (`pg_ctl stop -m immediate`, as a crash would).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts it (again) on the same port and data, and waits until it accepts queries.
    ///
    /// # Panics
    /// When it is not ready within 30 s.
    pub fn restart(&mut self) {
        self.stop();
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "full_page_writes=off"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self
                .command("pg_isready")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "postgres did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
