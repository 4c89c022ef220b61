//! Server-sent events, parsed by hand.
//!
//! [`SseDecoder`] turns arbitrary network pieces into events: lines end in `\n`, `\r\n` or
//! `\r` (also when the `\r` and `\n` arrive in different pieces), an empty line ends an
//! event, `data:` lines of one event are joined with `\n`, `:` lines are comments.
//! [`parse_data`] turns an event's data into typed chunks (chat or text completion), `[DONE]`,
//! or a stream error.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ClientError;

/// One event: its `event:` name, if any, and its joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field.
    pub event: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
}

/// Incremental SSE parser.
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    /// Bytes of the line being received (kept as bytes so UTF-8 split across pieces survives).
    line: Vec<u8>,
    /// The previous piece ended in `\r`: a `\n` starting the next piece belongs to it.
    after_cr: bool,
    /// `data:` lines of the current event.
    data: Option<String>,
    /// `event:` of the current event.
    event: Option<String>,
}

impl SseDecoder {
    /// Feeds one piece of the body; complete events are appended to `out`.
    pub(crate) fn push(&mut self, mut piece: &[u8], out: &mut Vec<SseEvent>) {
        if self.after_cr && !piece.is_empty() {
            self.after_cr = false;
            if piece[0] == b'\n' {
                piece = &piece[1..];
            }
        }
        while let Some(i) = piece.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&piece[..i]);
            self.end_line(out);
            let mut next = i + 1;
            if piece[i] == b'\r' {
                match piece.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            piece = &piece[next..];
        }
        self.line.extend_from_slice(piece);
    }

    /// Ends the body: a last line without a newline and a last event without an empty line
    /// are still delivered.
    pub(crate) fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            self.end_line(out);
        }
        self.dispatch(out);
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if let Some(data) = self.data.take() {
            out.push(SseEvent { event, data });
        }
    }
}

/// What one event's data means for a stream of `T` chunks.
#[derive(Debug)]
pub(crate) enum Parsed<T> {
    /// A chunk to hand to the caller.
    Chunk(Box<T>),
    /// `[DONE]`: the stream is over.
    Done,
    /// An error event, or data that is not a chunk.
    Error(ClientError),
}

/// Interprets an event's data. Empty data yields nothing. Data made of several lines that is
/// not one JSON value is read line by line, for servers that omit the blank line between
/// events.
pub(crate) fn parse_data<T: DeserializeOwned>(data: &str, out: &mut Vec<Parsed<T>>) {
    let data = data.trim();
    if data.is_empty() {
        return;
    }
    if data.contains('\n') && serde_json::from_str::<Value>(data).is_err() {
        for line in data.lines() {
            parse_one(line.trim(), out);
        }
        return;
    }
    parse_one(data, out);
}

fn parse_one<T: DeserializeOwned>(data: &str, out: &mut Vec<Parsed<T>>) {
    if data.is_empty() {
        return;
    }
    if data.starts_with("[DONE]") {
        out.push(Parsed::Done);
        return;
    }
    let value: Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => {
            out.push(Parsed::Error(ClientError::decode("stream event", e)));
            return;
        }
    };
    if let Some(obj) = value.as_object()
        && obj
            .get("error")
            .is_some_and(|e| !e.is_null() && e != &Value::Bool(false))
    {
        out.push(Parsed::Error(ClientError::from_stream_event(obj)));
        return;
    }
    out.push(match serde_json::from_value::<T>(value) {
        Ok(chunk) => Parsed::Chunk(Box::new(chunk)),
        Err(e) => Parsed::Error(ClientError::decode("stream chunk", e)),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_protocol::chat_response::ChatCompletionChunk;

    fn feed(pieces: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for p in pieces {
            d.push(p, &mut out);
        }
        d.finish(&mut out);
        out
    }

    fn datas(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn lf_crlf_and_cr_separators() {
        let body = b"data: a\n\ndata: b\r\n\r\ndata: c\r\rdata:d\n\n";
        assert_eq!(datas(&feed(&[body])), ["a", "b", "c", "d"]);
    }

    #[test]
    fn events_split_at_every_byte() {
        let body = "data: {\"x\":\"h\u{e9}llo\"}\r\n\r\n: keep-alive\n\nevent: message\ndata: two\ndata: lines\n\n";
        let whole = feed(&[body.as_bytes()]);
        let pieces: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        assert_eq!(feed(&pieces), whole);
        assert_eq!(datas(&whole), ["{\"x\":\"h\u{e9}llo\"}", "two\nlines"]);
        assert_eq!(whole[1].event.as_deref(), Some("message"));
    }

    #[test]
    fn cr_and_lf_in_different_pieces_make_one_line_end() {
        assert_eq!(
            datas(&feed(&[b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"])),
            ["a", "b"]
        );
    }

    #[test]
    fn trailing_event_without_blank_line_is_delivered() {
        assert_eq!(datas(&feed(&[b"data: [DONE]"])), ["[DONE]"]);
        assert!(feed(&[b": only a comment\n\n", b"event: x\n\n"]).is_empty());
    }

    #[test]
    fn data_meanings() {
        let mut out: Vec<Parsed<ChatCompletionChunk>> = Vec::new();
        parse_data("[DONE]", &mut out);
        parse_data(
            r#"{"error":{"message":"boom","type":"E","code":500}}"#,
            &mut out,
        );
        parse_data("not json", &mut out);
        parse_data(
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}"#,
            &mut out,
        );
        parse_data("", &mut out);
        assert!(matches!(out[0], Parsed::Done));
        assert!(
            matches!(&out[1], Parsed::Error(ClientError::Stream { message, .. }) if message == "boom")
        );
        assert!(matches!(out[2], Parsed::Error(ClientError::Decode { .. })));
        assert!(matches!(out[3], Parsed::Chunk(_)));
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn lines_without_blank_separator_are_read_one_by_one() {
        let c =
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[]}"#;
        let mut out: Vec<Parsed<ChatCompletionChunk>> = Vec::new();
        parse_data(&format!("{c}\n{c}\n[DONE]"), &mut out);
        assert!(matches!(
            out.as_slice(),
            [Parsed::Chunk(_), Parsed::Chunk(_), Parsed::Done]
        ));
    }
}
