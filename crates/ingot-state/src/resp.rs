//! RESP2, the Redis wire format: commands out as arrays of bulk strings, replies in.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

use crate::StateError;

/// Longest bulk string or array accepted in a reply (a limiter's replies are tiny).
const MAX_LEN: usize = 16 << 20;
/// Deepest nesting of arrays accepted.
const MAX_DEPTH: usize = 8;

/// A Redis reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `$-1` or `*-1`.
    Nil,
    /// `:n`.
    Int(i64),
    /// `+OK`.
    Simple(String),
    /// `$n` bytes.
    Bulk(Vec<u8>),
    /// `*n` values.
    Array(Vec<Value>),
    /// `-ERR …`: the server refused the command.
    Error(String),
}

impl Value {
    /// The integer of an `Int` (or of a bulk string holding one).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            Value::Bulk(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }
}

/// A command as RESP: an array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one reply.
///
/// # Errors
/// [`StateError::Io`] when the connection fails or closes, [`StateError::Protocol`] for a
/// reply that is not RESP2.
pub async fn read<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Value, StateError> {
    // Arrays are read iteratively with an explicit stack, so nesting costs no recursion.
    let mut stack: Vec<(usize, Vec<Value>)> = Vec::new();
    loop {
        let mut v = match read_head(r).await? {
            Head::Value(v) => v,
            Head::Array(n) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(StateError::Protocol("arrays nested too deep".into()));
                }
                stack.push((n, Vec::with_capacity(n.min(1024))));
                continue;
            }
        };
        loop {
            let Some((want, items)) = stack.last_mut() else {
                return Ok(v);
            };
            items.push(v);
            if items.len() < *want {
                break;
            }
            let Some((_, done)) = stack.pop() else {
                return Err(StateError::Protocol("array stack".into()));
            };
            v = Value::Array(done);
        }
    }
}

/// What a reply line starts.
enum Head {
    /// A whole value.
    Value(Value),
    /// A non-empty array of this many items, which follow.
    Array(usize),
}

/// One line-led value, or the head of a non-empty array.
async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Head, StateError> {
    let line = read_line(r).await?;
    let (kind, rest) = line
        .split_first()
        .ok_or_else(|| StateError::Protocol("empty reply line".into()))?;
    let text = || String::from_utf8_lossy(rest).into_owned();
    let len = || -> Result<i64, StateError> {
        std::str::from_utf8(rest)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| StateError::Protocol(format!("bad length {:?}", text())))
    };
    match kind {
        b'+' => Ok(Head::Value(Value::Simple(text()))),
        b'-' => Ok(Head::Value(Value::Error(text()))),
        b':' => Ok(Head::Value(Value::Int(len()?))),
        b'$' => {
            let n = len()?;
            if n < 0 {
                return Ok(Head::Value(Value::Nil));
            }
            let n = usize::try_from(n)
                .ok()
                .filter(|&n| n <= MAX_LEN)
                .ok_or_else(|| StateError::Protocol(format!("bulk string of {n} bytes")))?;
            let mut buf = vec![0; n + 2];
            r.read_exact(&mut buf).await.map_err(StateError::io)?;
            if !buf.ends_with(b"\r\n") {
                return Err(StateError::Protocol("bulk string without CRLF".into()));
            }
            buf.truncate(n);
            Ok(Head::Value(Value::Bulk(buf)))
        }
        b'*' => {
            let n = len()?;
            if n < 0 {
                return Ok(Head::Value(Value::Nil));
            }
            let n = usize::try_from(n)
                .ok()
                .filter(|&n| n <= MAX_LEN / 16)
                .ok_or_else(|| StateError::Protocol(format!("array of {n} items")))?;
            if n == 0 {
                Ok(Head::Value(Value::Array(Vec::new())))
            } else {
                Ok(Head::Array(n))
            }
        }
        other => Err(StateError::Protocol(format!(
            "unknown reply type {:?}",
            char::from(*other)
        ))),
    }
}

async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Vec<u8>, StateError> {
    let mut line = Vec::new();
    let n = r
        .take(64 * 1024)
        .read_until(b'\n', &mut line)
        .await
        .map_err(StateError::io)?;
    if n == 0 {
        return Err(StateError::Io("the connection closed".into()));
    }
    if !line.ends_with(b"\r\n") {
        return Err(StateError::Protocol("reply line without CRLF".into()));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8]) -> Result<Value, StateError> {
        let mut r = tokio::io::BufReader::new(bytes);
        read(&mut r).await
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            encode(&[b"ZADD", b"k", b"1", b""]),
            b"*4\r\n$4\r\nZADD\r\n$1\r\nk\r\n$1\r\n1\r\n$0\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn replies_parse() {
        assert_eq!(parse(b"+OK\r\n").await.unwrap(), Value::Simple("OK".into()));
        assert_eq!(parse(b":-3\r\n").await.unwrap(), Value::Int(-3));
        assert_eq!(parse(b"$-1\r\n").await.unwrap(), Value::Nil);
        assert_eq!(
            parse(b"$5\r\nhe\r\no\r\n").await.unwrap(),
            Value::Bulk(b"he\r\no".to_vec())
        );
        assert_eq!(
            parse(b"-NOSCRIPT No matching script\r\n").await.unwrap(),
            Value::Error("NOSCRIPT No matching script".into())
        );
        assert_eq!(
            parse(b"*3\r\n:1\r\n*2\r\n$1\r\na\r\n*0\r\n$2\r\n42\r\n")
                .await
                .unwrap(),
            Value::Array(vec![
                Value::Int(1),
                Value::Array(vec![Value::Bulk(b"a".to_vec()), Value::Array(vec![])]),
                Value::Bulk(b"42".to_vec()),
            ])
        );
        assert_eq!(Value::Bulk(b"42".to_vec()).as_int(), Some(42));
    }

    #[tokio::test]
    async fn garbage_is_an_error_not_a_hang_or_a_panic() {
        for bad in [
            &b""[..],
            b"?\r\n",
            b"$x\r\n",
            b"$3\r\nab",
            b"$2\r\nabcd",
            b"+OK",
            b"*2\r\n:1\r\n",
            b"$99999999999\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
        ] {
            assert!(parse(bad).await.is_err(), "{bad:?}");
        }
    }
}
