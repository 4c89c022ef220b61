//! A progress spinner on standard error while a long request runs (only on a terminal).

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

/// Runs `fut`, showing `label` and the elapsed seconds beside a spinner until it completes.
pub async fn with_spinner<T>(label: &str, fut: impl Future<Output = T>) -> T {
    if !std::io::stderr().is_terminal() {
        return fut.await;
    }
    const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tokio::pin!(fut);
    let mut i = 0usize;
    let out = loop {
        tokio::select! {
            v = &mut fut => break v,
            _ = tick.tick() => {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{} {label} {:>4.0}s", FRAMES[i % FRAMES.len()], start.elapsed().as_secs_f32());
                let _ = err.flush();
                i += 1;
            }
        }
    };
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K");
    let _ = err.flush();
    out
}
