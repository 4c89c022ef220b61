//! Log lines a request cannot forge: [`SafeLines`] wraps the log writer and, in each event the
//! formatter writes (one write per event), escapes control characters other than the event's
//! final newline (`\n` becomes the two characters `\n`, a NUL `\x00`) and cuts the line at
//! [`MAX_LINE`] bytes. A model id or path holding a newline then stays on its own line
//! instead of writing a second, forged one. ANSI colour sequences of the formatter itself are
//! kept when the log goes to a terminal.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Longest log line, in bytes, before it is cut.
pub const MAX_LINE: usize = 16 * 1024;

/// A [`MakeWriter`] whose lines are escaped and capped.
pub struct SafeLines<M> {
    inner: M,
    /// Keep ESC (the formatter's colours).
    ansi: bool,
}

impl<M> SafeLines<M> {
    /// Wraps `inner`; `ansi`: the formatter writes colour sequences.
    pub fn new(inner: M, ansi: bool) -> Self {
        Self { inner, ansi }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for SafeLines<M> {
    type Writer = SafeWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        SafeWriter {
            inner: self.inner.make_writer(),
            ansi: self.ansi,
        }
    }
}

/// The writer of one event.
pub struct SafeWriter<W> {
    inner: W,
    ansi: bool,
}

impl<W: Write> Write for SafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_all(&escape_line(buf, self.ansi))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One event's text, escaped and capped, ending in one newline when it ended in one.
pub fn escape_line(buf: &[u8], keep_esc: bool) -> Vec<u8> {
    let (body, newline) = match buf.strip_suffix(b"\n") {
        Some(b) => (b, true),
        None => (buf, false),
    };
    let mut out = Vec::with_capacity(body.len().min(MAX_LINE) + 32);
    for (i, &b) in body.iter().enumerate() {
        if out.len() >= MAX_LINE {
            let _ = write!(out, "… ({} more bytes)", body.len() - i);
            break;
        }
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.push(b'\t'),
            0x1b if keep_esc => out.push(b),
            0..=0x1f | 0x7f => {
                let _ = write!(out, "\\x{b:02x}");
            }
            _ => out.push(b),
        }
    }
    if newline {
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newline_in_a_value_cannot_start_a_forged_line() {
        let event =
            b"INFO request{model=x\n2026-01-01T00:00:00Z ERROR ingot_server: forged}: answered\n";
        let out = String::from_utf8(escape_line(event, false)).unwrap();
        assert_eq!(out.matches('\n').count(), 1);
        assert!(out.ends_with("answered\n"));
        assert!(out.contains("x\\n2026-01-01T00:00:00Z ERROR"));
        let nul = escape_line(b"path=/v1/\x00x \x1b[31mred\n", false);
        assert_eq!(nul, b"path=/v1/\\x00x \\x1b[31mred\n");
        assert_eq!(
            escape_line(b"\x1b[2mdim\x1b[0m\n", true),
            b"\x1b[2mdim\x1b[0m\n"
        );
    }

    #[test]
    fn long_lines_are_cut() {
        let mut event = vec![b'a'; 1 << 20];
        event.push(b'\n');
        let out = escape_line(&event, false);
        assert!(out.len() < MAX_LINE + 64);
        assert!(out.ends_with(b" more bytes)\n"));
        assert_eq!(escape_line(b"short", false), b"short");
    }
}
