//! For tests: a throwaway `redis-server` on a free loopback port, with
//! nothing saved to disk, that can be stopped and started again on the same port.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "a test helper: a server that does not start fails the test loudly"
)]

use std::net::TcpListener;
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
