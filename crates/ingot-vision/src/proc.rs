//! Subprocesses with a time limit, and self-deleting temporary directories.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// Runs `cmd` (stdin closed) and kills it after `timeout`.
///
/// `hint` names the package that provides the tool, for the not-installed error.
pub(crate) fn run(
    mut cmd: Command,
    tool: &str,
    hint: &str,
    timeout: Duration,
) -> Result<Finished, ToolError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
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
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let status = wait_deadline(&mut child, timeout);
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Ok(Some(status)) => Ok(Finished {
            status,
            stdout,
            stderr,
        }),
        Ok(None) => Err(ToolError::Timeout {
            tool: tool.to_owned(),
            after: timeout,
        }),
        Err(e) => Err(ToolError::Failed {
            tool: tool.to_owned(),
            detail: format!("waiting failed: {e}"),
        }),
    }
}

/// `Ok(None)` when it ran out of time (it is then killed and reaped).
fn wait_deadline(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            // Already exited between the two calls is fine: kill then fails, wait reaps.
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

fn drain<R: Read + Send + 'static>(stream: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut kept = Vec::new();
        let Some(mut s) = stream else { return kept };
        let mut buf = [0u8; 16 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = MAX_OUTPUT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        kept
    })
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

    #[test]
    fn missing_tools_say_which_package() {
        let e = run(
            Command::new("/nonexistent/ingot-no-such-tool"),
            "ingot-no-such-tool",
            "install the Debian package x",
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(matches!(e, ToolError::Missing { .. }), "{e:?}");
        assert!(e.to_string().contains("install the Debian package x"));
    }

    #[test]
    fn slow_tools_are_killed_at_the_deadline() {
        let mut cmd = Command::new("sleep");
        cmd.arg("10");
        let t = Instant::now();
        let e = run(cmd, "sleep", "", Duration::from_millis(200)).unwrap_err();
        assert!(matches!(e, ToolError::Timeout { .. }), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn collects_output() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let f = run(cmd, "sh", "", Duration::from_secs(5)).unwrap();
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
