//! Server-sent-event framing: `data: <one-line JSON>\n\n`, ending in `data: [DONE]\n\n`.

use axum::body::Bytes;
use serde::Serialize;

/// One event carrying `value` as compact JSON.
pub fn event<T: Serialize>(value: &T) -> Bytes {
    let mut buf = b"data: ".to_vec();
    // Serialising plain data structs cannot fail; an empty object is sent if it ever does.
    if serde_json::to_writer(&mut buf, value).is_err() {
        buf.extend_from_slice(b"{}");
    }
    buf.extend_from_slice(b"\n\n");
    Bytes::from(buf)
}

/// The terminator.
pub fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_is_exact() {
        assert_eq!(
            &event(&serde_json::json!({"a":"x\ny"}))[..],
            b"data: {\"a\":\"x\\ny\"}\n\n"
        );
        assert_eq!(&done()[..], b"data: [DONE]\n\n");
    }
}
