//! Reasoning text: what a local model writes inside a leading `<think>…</think>` block goes
//! to `reasoning_content`, the rest to `content`.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// The reasoning and the answer of a whole text (`None` reasoning when there is no leading
/// block; an unclosed block is all reasoning).
pub(crate) fn split(text: &str) -> (Option<String>, String) {
    let lead = text.trim_start();
    let Some(inner) = lead.strip_prefix(OPEN) else {
        return (None, text.to_owned());
    };
    match inner.find(CLOSE) {
        Some(end) => (
            Some(inner[..end].trim().to_owned()),
            inner[end + CLOSE.len()..].trim_start().to_owned(),
        ),
        None => (Some(inner.trim().to_owned()), String::new()),
    }
}

/// What the stream splitter lets out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Reasoning(String),
    Answer(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The text so far could still be the start of `<think>`.
    Undecided,
    /// Inside the block.
    Thinking,
    /// Past the block (or there was none).
    Answer,
}

/// Splits one choice's streamed text into reasoning and answer; holds back only what could
/// be part of a marker.
#[derive(Debug)]
pub(crate) struct Splitter {
    state: State,
    buf: String,
    /// Whitespace after `</think>` is dropped up to the first answer text.
    answer_started: bool,
    /// Whitespace after `<think>` is dropped up to the first reasoning text.
    reasoning_started: bool,
}

impl Splitter {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Undecided,
            buf: String::new(),
            answer_started: false,
            reasoning_started: false,
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> Vec<Part> {
        self.buf.push_str(text);
        let mut out = Vec::new();
        loop {
            match self.state {
                State::Undecided => {
                    let lead = self.buf.trim_start();
                    if let Some(rest) = lead.strip_prefix(OPEN) {
                        self.buf = rest.trim_start().to_owned();
                        self.state = State::Thinking;
                    } else if OPEN.starts_with(lead) {
                        return out;
                    } else {
                        self.state = State::Answer;
                        self.answer_started = true;
                    }
                }
                State::Thinking => {
                    if !self.reasoning_started {
                        // Whitespace after `<think>` is not part of the reasoning.
                        let lead = self.buf.len() - self.buf.trim_start().len();
                        self.buf.drain(..lead);
                        self.reasoning_started = !self.buf.is_empty();
                    }
                    if let Some(end) = self.buf.find(CLOSE) {
                        let reasoning = self.buf[..end].trim_end().to_owned();
                        if !reasoning.is_empty() {
                            out.push(Part::Reasoning(reasoning));
                        }
                        self.buf = self.buf[end + CLOSE.len()..].to_owned();
                        self.state = State::Answer;
                    } else {
                        // Keep what could be the start of `</think>`, and trailing whitespace
                        // (dropped if the block ends there).
                        let keep = partial_suffix(&self.buf, CLOSE);
                        let body = &self.buf[..self.buf.len() - keep];
                        let cut = body.trim_end().len();
                        if cut > 0 {
                            out.push(Part::Reasoning(self.buf[..cut].to_owned()));
                            self.buf.drain(..cut);
                        }
                        return out;
                    }
                }
                State::Answer => {
                    let mut text = std::mem::take(&mut self.buf);
                    if !self.answer_started {
                        text = text.trim_start().to_owned();
                        self.answer_started = !text.is_empty();
                    }
                    if !text.is_empty() {
                        out.push(Part::Answer(text));
                    }
                    return out;
                }
            }
        }
    }

    pub(crate) fn finish(&mut self) -> Vec<Part> {
        let rest = std::mem::take(&mut self.buf);
        match self.state {
            _ if rest.is_empty() => Vec::new(),
            State::Thinking => {
                let rest = rest.trim();
                if rest.is_empty() {
                    Vec::new()
                } else {
                    vec![Part::Reasoning(rest.to_owned())]
                }
            }
            State::Undecided | State::Answer => vec![Part::Answer(rest)],
        }
    }
}

/// Length of the longest suffix of `s` that is a proper prefix of `marker`.
fn partial_suffix(s: &str, marker: &str) -> usize {
    (1..marker.len())
        .rev()
        .find(|&k| {
            s.len() >= k && s.is_char_boundary(s.len() - k) && marker.starts_with(&s[s.len() - k..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_texts_split() {
        assert_eq!(
            split("<think>\nhmm, 2+2\n</think>\n\nFour."),
            (Some("hmm, 2+2".into()), "Four.".into())
        );
        assert_eq!(split("Four."), (None, "Four.".into()));
        assert_eq!(split("<think>still"), (Some("still".into()), String::new()));
        assert_eq!(
            split("a <think>b</think>"),
            (None, "a <think>b</think>".into())
        );
    }

    #[test]
    fn streams_split_across_marker_boundaries() {
        let mut s = Splitter::new();
        let mut parts = Vec::new();
        for t in [
            "<th", "ink>", "\n", "I should", " add.\n", "</th", "ink>", "\n\nFo", "ur.",
        ] {
            parts.extend(s.push(t));
        }
        parts.extend(s.finish());
        let reasoning: String = parts
            .iter()
            .filter_map(|p| match p {
                Part::Reasoning(r) => Some(r.as_str()),
                Part::Answer(_) => None,
            })
            .collect();
        let answer: String = parts
            .iter()
            .filter_map(|p| match p {
                Part::Answer(a) => Some(a.as_str()),
                Part::Reasoning(_) => None,
            })
            .collect();
        assert_eq!(reasoning, "I should add.");
        assert_eq!(answer, "Four.");

        let mut s = Splitter::new();
        assert_eq!(s.push("<"), vec![]);
        assert_eq!(s.push("b>bold"), vec![Part::Answer("<b>bold".into())]);
    }

    #[test]
    fn partial_markers_are_found() {
        assert_eq!(partial_suffix("abc</th", CLOSE), 4);
        assert_eq!(partial_suffix("abc", CLOSE), 0);
        assert_eq!(partial_suffix("é<", CLOSE), 1);
    }
}
