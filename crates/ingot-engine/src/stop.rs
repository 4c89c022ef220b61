//! Turning generated token bytes into safe text deltas: whole UTF-8 characters only, and never
//! any part of a stop string.

/// Buffers bytes until they form whole UTF-8 characters.
#[derive(Debug, Default, Clone)]
pub(crate) struct Utf8Buffer {
    pending: Vec<u8>,
}

/// Longest a UTF-8 character can be; an incomplete tail longer than this is invalid.
const MAX_CHAR_LEN: usize = 4;

impl Utf8Buffer {
    /// Adds bytes and returns the text of every character they complete. Invalid bytes become
    /// U+FFFD; an incomplete character at the end is kept for the next call.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut start = 0;
        loop {
            match std::str::from_utf8(&self.pending[start..]) {
                Ok(s) => {
                    out.push_str(s);
                    start = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid = start + e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[start..valid]));
                    match e.error_len() {
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start = valid + n;
                        }
                        None => {
                            start = valid;
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..start);
        if self.pending.len() >= MAX_CHAR_LEN {
            out.push_str(&String::from_utf8_lossy(&self.pending));
            self.pending.clear();
        }
        out
    }

    /// Whatever is left at the end of generation, lossily.
    pub(crate) fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

/// Outcome of feeding text to a [`StopMatcher`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StopOutcome {
    /// Text that is safe to emit now (may be empty: it could still become a stop string).
    Continue(String),
    /// A stop string was found: emit this text (everything before it) and end.
    Stopped(String),
}

/// Finds stop strings across token boundaries, holding back any suffix that could still
/// grow into one.
#[derive(Debug, Clone, Default)]
pub(crate) struct StopMatcher {
    stops: Vec<String>,
    held: String,
}

impl StopMatcher {
    pub(crate) fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> StopOutcome {
        if self.stops.is_empty() {
            return StopOutcome::Continue(text.to_owned());
        }
        self.held.push_str(text);
        let earliest = self
            .stops
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(pos) = earliest {
            let out = self.held[..pos].to_owned();
            self.held.clear();
            return StopOutcome::Stopped(out);
        }
        let keep = self.longest_stop_prefix_suffix();
        let emit_len = self.held.len() - keep;
        let out = self.held[..emit_len].to_owned();
        self.held.drain(..emit_len);
        StopOutcome::Continue(out)
    }

    /// Text held back because it might have started a stop string; released at the end.
    pub(crate) fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length of the longest suffix of `held` that is a proper prefix of some stop string.
    fn longest_stop_prefix_suffix(&self) -> usize {
        let held = self.held.as_bytes();
        let mut best = 0;
        for stop in &self.stops {
            let s = stop.as_bytes();
            let max = s.len().saturating_sub(1).min(held.len());
            for len in (best + 1..=max).rev() {
                if held[held.len() - len..] == s[..len] {
                    best = len;
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_characters_are_buffered() {
        let mut b = Utf8Buffer::default();
        let euro = "€".as_bytes(); // 3 bytes
        assert_eq!(b.push(&euro[..1]), "");
        assert_eq!(b.push(&euro[1..2]), "");
        assert_eq!(b.push(&[euro[2], b'a']), "€a");
        let crab = "🦀".as_bytes();
        assert_eq!(b.push(&[b'x', crab[0], crab[1]]), "x");
        assert_eq!(b.push(&crab[2..]), "🦀");
    }

    #[test]
    fn utf8_invalid_bytes_are_replaced() {
        let mut b = Utf8Buffer::default();
        assert_eq!(b.push(&[b'a', 0xFF, b'b']), "a\u{FFFD}b");
        assert_eq!(b.push(&[0xE2, 0x82]), "");
        assert_eq!(b.finish(), "\u{FFFD}");
    }

    #[test]
    fn stop_across_token_boundaries() {
        let mut m = StopMatcher::new(&["END".to_owned()]);
        assert_eq!(m.push("hello E"), StopOutcome::Continue("hello ".into()));
        assert_eq!(m.push("N"), StopOutcome::Continue(String::new()));
        assert_eq!(m.push("D and more"), StopOutcome::Stopped("".into()));
    }

    #[test]
    fn partial_prefix_released_when_it_diverges() {
        let mut m = StopMatcher::new(&["END".to_owned()]);
        assert_eq!(m.push("EN"), StopOutcome::Continue(String::new()));
        assert_eq!(m.push("o"), StopOutcome::Continue("ENo".into()));
        assert_eq!(m.push("E"), StopOutcome::Continue(String::new()));
        assert_eq!(m.finish(), "E");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let mut m = StopMatcher::new(&["world".to_owned(), "lo w".to_owned()]);
        assert_eq!(m.push("hello world"), StopOutcome::Stopped("hel".into()));
    }

    #[test]
    fn stop_inside_one_token_keeps_text_before() {
        let mut m = StopMatcher::new(&["\n\n".to_owned()]);
        assert_eq!(m.push("a\n"), StopOutcome::Continue("a".into()));
        assert_eq!(m.push("\nb"), StopOutcome::Stopped("".into()));
        let mut m = StopMatcher::new(&["stop".to_owned()]);
        assert_eq!(m.push("xystopz"), StopOutcome::Stopped("xy".into()));
    }

    #[test]
    fn multibyte_stop_prefixes() {
        let mut m = StopMatcher::new(&["é!".to_owned()]);
        assert_eq!(m.push("caé"), StopOutcome::Continue("ca".into()));
        assert_eq!(m.push("é"), StopOutcome::Continue("é".into()));
        assert_eq!(m.push("!"), StopOutcome::Stopped("".into()));
    }

    #[test]
    fn no_stops_passes_through() {
        let mut m = StopMatcher::new(&[String::new()]);
        assert_eq!(m.push("abc"), StopOutcome::Continue("abc".into()));
    }
}
