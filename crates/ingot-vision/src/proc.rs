//! Subprocesses with a time limit, and self-deleting temporary directories.
//!
//! Tools run on `tokio::process` with `kill_on_drop`: a request that is cancelled (its
//! client hung up) or runs out of time takes its Tesseract or ffmpeg process with it.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use crate::error::ToolError;

/// Most output kept per stream; the rest is drained and dropped.
const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// What a finished process left.
#[derive(Debug)]
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Finished {
    /// The last line(s) of stderr, for error messages.
    pub fn stderr_tail(&self) -> String {
        let s = String::from_utf8_lossy(&self.stderr);
        let s = s.trim();
        let start = s.len().saturating_sub(400);
        let start = (start..s.len())
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(s.len());
        s[start..].to_owned()
    }
}

/// Runs `cmd` (stdin closed) and kills it after `timeout`, or when the returned future is
/// dropped.
///
/// `hint` names the package that provides the tool, for the not-installed error.
pub(crate) async fn run(
    mut cmd: Command,
    tool: &str,
    hint: &str,
    timeout: Duration,
) -> Result<Finished, ToolError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => ToolError::Missing {
            tool: tool.to_owned(),
            reason: e.to_string(),
            hint: hint.to_owned(),
        },
        _ => ToolError::Failed {
            tool: tool.to_owned(),
            detail: format!("could not start: {e}"),
        },
    })?;
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let finished = tokio::time::timeout(timeout, async {
        let (stdout, stderr, status) = tokio::join!(drain(out), drain(err), child.wait());
        status.map(|status| Finished {
            status,
            stdout,
            stderr,
        })
    })
    .await;
    match finished {
        Ok(Ok(f)) => Ok(f),
        Ok(Err(e)) => Err(ToolError::Failed {
            tool: tool.to_owned(),
            detail: format!("waiting failed: {e}"),
        }),
        Err(_) => {
            // Kill and reap now rather than leave it to the drop.
            let _ = child.kill().await;
            Err(ToolError::Timeout {
                tool: tool.to_owned(),
                after: timeout,
            })
        }
    }
}

/// Reads a stream to its end, keeping at most [`MAX_OUTPUT`] bytes.
async fn drain<R: AsyncRead + Unpin>(stream: Option<R>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut s) = stream else { return kept };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    kept
}

/// A private directory removed (with its contents) on drop.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `ingot-vision-<pid>-<n>-<nanos>` under `base` (the system temp dir if `None`),
    /// readable by this user only (0700): the media inside are other people's uploads.
    pub fn new(base: Option<&Path>) -> Result<Self, ToolError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
        for _ in 0..16 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let path = base.join(format!("ingot-vision-{}-{n}-{nanos}", std::process::id()));
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(ToolError::Io(format!(
                        "cannot create a directory in {}: {e}",
                        base.display()
                    )));
                }
            }
        }
        Err(ToolError::Io(format!(
            "cannot create a unique directory in {}",
            base.display()
        )))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` to `name` inside the directory.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, ToolError> {
        let p = self.path.join(name);
        std::fs::write(&p, bytes)
            .map_err(|e| ToolError::Io(format!("cannot write {}: {e}", p.display())))?;
        Ok(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_tools_say_which_package() {
        let e = run(
            Command::new("/nonexistent/ingot-no-such-tool"),
            "ingot-no-such-tool",
            "install the Debian package x",
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ToolError::Missing { .. }), "{e:?}");
        assert!(e.to_string().contains("install the Debian package x"));
    }

    #[tokio::test]
    async fn slow_tools_are_killed_at_the_deadline() {
        let mut cmd = Command::new("sleep");
        cmd.arg("10");
        let t = std::time::Instant::now();
        let e = run(cmd, "sleep", "", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(e, ToolError::Timeout { .. }), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    /// Whether process `pid` still runs (a zombie waiting to be reaped does not).
    fn running(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|state| state != "Z"))
    }

    #[tokio::test]
    async fn a_dropped_run_kills_its_process() {
        let dir = TempDir::new(None).unwrap();
        let pidfile = dir.path().join("pid");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("echo $$ > {}; exec sleep 30", pidfile.display()));
        // The caller gives up (a client hung up): the future is dropped mid-run.
        let gave_up = tokio::time::timeout(
            Duration::from_millis(500),
            run(cmd, "sh", "", Duration::from_secs(60)),
        )
        .await;
        assert!(gave_up.is_err());
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let pid = pid.trim();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while running(pid) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!running(pid), "process {pid} outlived its request");
    }

    #[tokio::test]
    async fn collects_output() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let f = run(cmd, "sh", "", Duration::from_secs(5)).await.unwrap();
        assert_eq!(f.status.code(), Some(3));
        assert_eq!(f.stdout, b"out\n");
        assert_eq!(f.stderr_tail(), "err");
    }

    #[test]
    fn temp_dirs_are_removed_on_drop() {
        let d = TempDir::new(None).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let f = d.write("a.bin", b"x").unwrap();
        assert!(f.exists());
        let p = d.path().to_path_buf();
        drop(d);
        assert!(!p.exists());
    }
}
