//! Text -> token ids with the model's `tokenizer.json`, plus prefixes, special tokens,
//! the length check and truncation. A SentencePiece Unigram file (multilingual-e5) is read by
//! our compact [`crate::unigram`]; any other by the `tokenizers` crate.

use std::path::Path;

use tokenizers::Tokenizer;

use crate::error::EmbedError;
use crate::unigram::Unigram;
use crate::{EmbedInput, InputType, Truncate};

/// e5's task prefixes.
pub(crate) const QUERY_PREFIX: &str = "query: ";
pub(crate) const PASSAGE_PREFIX: &str = "passage: ";

/// Non-space characters one token covers at most, whatever the vocabulary: WordPiece turns
/// a word longer than 100 characters into one `[UNK]`.
const MIN_CHARS_PER_TOKEN: usize = 100;

/// Who turns text into ids.
enum Backend {
    Hf(Box<Tokenizer>),
    Unigram(Box<Unigram>),
}

pub(crate) struct TextTokenizer {
    tk: Backend,
    bos: u32,
    eos: u32,
    vocab: usize,
    /// Non-space characters one token covers at most (the longest vocabulary entry, at least
    /// [`MIN_CHARS_PER_TOKEN`]): a text with more than `limit × this` of them cannot fit, and
    /// is refused or cut before it is tokenized.
    chars_per_token: usize,
    /// e5-style models: (query prefix ids, passage prefix ids), kept through START truncation.
    prefixes: Option<(Vec<u32>, Vec<u32>)>,
}

impl TextTokenizer {
    /// Load `tokenizer.json`; `bos`/`eos` are taken from its post-processor (what it adds
    /// around an empty input). `vocab` is the model's embedding-table size.
    pub fn from_file(path: &Path, vocab: usize, uses_prefixes: bool) -> Result<Self, EmbedError> {
        let load = |e: &dyn std::fmt::Display| EmbedError::load(format!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| load(&e))?;
        let (tk, bos, eos, longest) = match Unigram::from_json(&text) {
            Some(u) => {
                let longest = u.longest_piece_chars();
                let (bos, eos) = (u.bos, u.eos);
                (Backend::Unigram(Box::new(u)), bos, eos, longest)
            }
            None => {
                let (tk, bos, eos) = Self::hf(&text).map_err(|e| load(&e))?;
                let longest = tk
                    .get_vocab(true)
                    .keys()
                    .map(|k| k.trim_start_matches("##").chars().count())
                    .max()
                    .unwrap_or(0);
                (Backend::Hf(Box::new(tk)), bos, eos, longest)
            }
        };
        let mut this = Self {
            tk,
            bos,
            eos,
            vocab,
            chars_per_token: longest.max(MIN_CHARS_PER_TOKEN),
            prefixes: None,
        };
        if uses_prefixes {
            let q = this.content(QUERY_PREFIX.trim_end())?;
            let p = this.content(PASSAGE_PREFIX.trim_end())?;
            this.prefixes = Some((q, p));
        }
        Ok(this)
    }

    /// The `tokenizers` crate's tokenizer from the file's text, and the (start, end) ids its
    /// post-processor adds around an input.
    fn hf(text: &str) -> Result<(Tokenizer, u32, u32), String> {
        let mut tk: Tokenizer = text.parse().map_err(|e| format!("{e}"))?;
        // Both shipped tokenizer.json files set their own truncation/padding (MiniLM: 128,
        // fixed padding); length handling is ours.
        tk.with_truncation(None).map_err(|e| format!("{e}"))?;
        tk.with_padding(None);
        let empty = tk.encode("", true).map_err(|e| format!("{e}"))?;
        match empty.get_ids() {
            [b, e] => Ok((tk, *b, *e)),
            other => Err(format!(
                "tokenizer adds {} special tokens around an input; expected 2",
                other.len()
            )),
        }
    }

    /// The (start, end) special tokens added around every input.
    pub fn specials(&self) -> (u32, u32) {
        (self.bos, self.eos)
    }

    pub fn vocab(&self) -> usize {
        self.vocab
    }

    fn content(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        match &self.tk {
            Backend::Unigram(u) => Ok(u.encode(text)),
            Backend::Hf(tk) => {
                let enc = tk
                    .encode(text, false)
                    .map_err(|e| EmbedError::Internal(format!("tokenizer: {e}")))?;
                Ok(enc.get_ids().to_vec())
            }
        }
    }

    /// `text`, or the part of it that can matter when it has more non-space characters than
    /// `max_tokens` tokens can hold: refused (`None`), or cut to that many from its start
    /// (`End`) or its end (`Start`). Reads at most that many characters of a longer text.
    fn bounded<'t>(
        &self,
        index: usize,
        text: &'t str,
        truncate: Truncate,
        max_tokens: usize,
    ) -> Result<&'t str, EmbedError> {
        let chars = max_tokens.saturating_mul(self.chars_per_token);
        match truncate {
            Truncate::None => match past(text.char_indices(), chars) {
                None => Ok(text),
                Some(_) => Err(EmbedError::TooLongText {
                    index,
                    chars,
                    max: max_tokens,
                }),
            },
            Truncate::End => Ok(past(text.char_indices(), chars).map_or(text, |at| &text[..at])),
            Truncate::Start => Ok(past(text.char_indices().rev(), chars).map_or(text, |at| {
                let width = text[at..].chars().next().map_or(0, char::len_utf8);
                &text[at + width..]
            })),
        }
    }

    /// The full id sequence (special tokens included) the model sees for input `index`.
    pub fn encode(
        &self,
        index: usize,
        input: &EmbedInput,
        input_type: Option<InputType>,
        truncate: Truncate,
        max_tokens: usize,
    ) -> Result<Vec<u32>, EmbedError> {
        let (mut content, keep_head) = match input {
            EmbedInput::Text(text) => {
                if text.is_empty() {
                    return Err(EmbedError::EmptyInput { index });
                }
                let text = self.bounded(index, text, truncate, max_tokens)?;
                match &self.prefixes {
                    Some((q, p)) => {
                        let (prefix, prefix_ids) = match input_type {
                            Some(InputType::Passage) => (PASSAGE_PREFIX, p),
                            Some(InputType::Query) | None => (QUERY_PREFIX, q),
                        };
                        let ids = self.content(&format!("{prefix}{text}"))?;
                        let keep = if ids.starts_with(prefix_ids) {
                            prefix_ids.len()
                        } else {
                            0
                        };
                        (ids, keep)
                    }
                    None => (self.content(text)?, 0),
                }
            }
            EmbedInput::Tokens(ids) => {
                if ids.is_empty() {
                    return Err(EmbedError::EmptyInput { index });
                }
                if let Some(&token) = ids.iter().find(|&&t| t as usize >= self.vocab) {
                    return Err(EmbedError::InvalidToken {
                        index,
                        token,
                        vocab: self.vocab,
                    });
                }
                (ids.clone(), 0)
            }
        };
        let total = content.len() + 2;
        if total > max_tokens {
            let room = max_tokens.saturating_sub(2);
            match truncate {
                Truncate::None => {
                    return Err(EmbedError::TooLong {
                        index,
                        tokens: total,
                        max: max_tokens,
                    });
                }
                Truncate::End => content.truncate(room),
                Truncate::Start => {
                    // Keep the task prefix (if it fits), then the tail of the text.
                    let head = keep_head.min(room);
                    let tail = room - head;
                    let cut = content.len() - tail;
                    content.drain(head..cut);
                }
            }
        }
        let mut seq = Vec::with_capacity(content.len() + 2);
        seq.push(self.bos);
        seq.extend_from_slice(&content);
        seq.push(self.eos);
        Ok(seq)
    }
}

/// Where the non-space character after the first `n` of `chars` is (byte offset), if any.
fn past(chars: impl Iterator<Item = (usize, char)>, n: usize) -> Option<usize> {
    let mut seen = 0;
    for (at, c) in chars {
        if !c.is_whitespace() {
            seen += 1;
            if seen > n {
                return Some(at);
            }
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tiny WordLevel tokenizer.json (whitespace split, `[CLS] A [SEP]`), written to a temp
    /// file. Ids: [UNK]=0 [CLS]=1 [SEP]=2, then `words`.
    pub(crate) fn tiny_tokenizer_file(tag: &str) -> std::path::PathBuf {
        let words = [
            "query", "passage", ":", "a", "b", "c", "d", "e", "f", "g", "h", "hello", "world",
        ];
        let mut vocab = serde_json::Map::new();
        for (i, w) in ["[UNK]", "[CLS]", "[SEP]"]
            .iter()
            .chain(words.iter())
            .enumerate()
        {
            vocab.insert((*w).to_string(), serde_json::json!(i));
        }
        let special = |s: &str| serde_json::json!({"SpecialToken": {"id": s, "type_id": 0}});
        let seq = serde_json::json!({"Sequence": {"id": "A", "type_id": 0}});
        let json = serde_json::json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
            "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "decoder": null,
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [special("[CLS]"), seq, special("[SEP]")],
                "pair": [special("[CLS]"), seq, special("[SEP]")],
                "special_tokens": {
                    "[CLS]": {"id": "[CLS]", "ids": [1], "tokens": ["[CLS]"]},
                    "[SEP]": {"id": "[SEP]", "ids": [2], "tokens": ["[SEP]"]}
                }
            },
            "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
        });
        let path =
            std::env::temp_dir().join(format!("ingot-embed-tok-{}-{tag}.json", std::process::id()));
        std::fs::write(&path, json.to_string()).unwrap();
        path
    }

    fn text(s: &str) -> EmbedInput {
        EmbedInput::Text(s.into())
    }

    #[test]
    fn specials_prefixes_and_token_inputs() {
        let plain = TextTokenizer::from_file(&tiny_tokenizer_file("plain"), 16, false).unwrap();
        assert_eq!(
            plain
                .encode(0, &text("a b"), Some(InputType::Passage), Truncate::None, 8)
                .unwrap(),
            vec![1, 6, 7, 2]
        );
        let e5 = TextTokenizer::from_file(&tiny_tokenizer_file("e5"), 16, true).unwrap();
        assert_eq!(
            e5.encode(0, &text("a b"), None, Truncate::None, 8).unwrap(),
            vec![1, 3, 5, 6, 7, 2]
        );
        assert_eq!(
            e5.encode(0, &text("a b"), Some(InputType::Query), Truncate::None, 8)
                .unwrap(),
            vec![1, 3, 5, 6, 7, 2]
        );
        assert_eq!(
            e5.encode(0, &text("a b"), Some(InputType::Passage), Truncate::None, 8)
                .unwrap(),
            vec![1, 4, 5, 6, 7, 2]
        );
        // Token inputs: specials added, no prefix, ids checked.
        assert_eq!(
            e5.encode(0, &EmbedInput::Tokens(vec![9, 10]), None, Truncate::None, 8)
                .unwrap(),
            vec![1, 9, 10, 2]
        );
        let err = e5
            .encode(3, &EmbedInput::Tokens(vec![9, 16]), None, Truncate::None, 8)
            .unwrap_err();
        assert!(matches!(
            err,
            EmbedError::InvalidToken {
                index: 3,
                token: 16,
                vocab: 16
            }
        ));
        assert!(matches!(
            e5.encode(2, &text(""), None, Truncate::None, 8),
            Err(EmbedError::EmptyInput { index: 2 })
        ));
        assert!(matches!(
            e5.encode(2, &EmbedInput::Tokens(vec![]), None, Truncate::None, 8),
            Err(EmbedError::EmptyInput { index: 2 })
        ));
    }

    #[test]
    fn over_long_texts_are_bounded_before_tokenizing() {
        let plain = TextTokenizer::from_file(&tiny_tokenizer_file("bound"), 16, false).unwrap();
        let max = 6;
        let chars = max * plain.chars_per_token;
        // Whitespace does not count: a short text padded with spaces is not refused.
        let spaced = format!("a{}b", " ".repeat(10 * chars));
        assert!(
            plain
                .encode(0, &text(&spaced), None, Truncate::None, max)
                .is_ok()
        );
        let huge = "x".repeat(chars + 1);
        assert!(matches!(
            plain.encode(2, &text(&huge), None, Truncate::None, max),
            Err(EmbedError::TooLongText { index: 2, .. })
        ));
        assert_eq!(
            plain.bounded(0, &huge, Truncate::End, max).unwrap().len(),
            chars
        );
        let tail = format!("é{}", "y".repeat(chars));
        assert_eq!(
            plain.bounded(0, &tail, Truncate::Start, max).unwrap(),
            &tail[2..]
        );
        let fits = "a b c";
        assert_eq!(plain.bounded(0, fits, Truncate::None, max).unwrap(), fits);
    }

    #[test]
    fn too_long_and_truncation() {
        let plain = TextTokenizer::from_file(&tiny_tokenizer_file("trunc"), 16, false).unwrap();
        let long = text("a b c d e f g h"); // 8 content tokens: ids 6..=13
        let err = plain.encode(1, &long, None, Truncate::None, 6).unwrap_err();
        assert!(matches!(
            err,
            EmbedError::TooLong {
                index: 1,
                tokens: 10,
                max: 6
            }
        ));
        assert!(
            err.to_string()
                .starts_with("Input length 10 exceeds maximum allowed token size 6")
        );
        assert_eq!(
            plain.encode(1, &long, None, Truncate::End, 6).unwrap(),
            vec![1, 6, 7, 8, 9, 2]
        );
        assert_eq!(
            plain.encode(1, &long, None, Truncate::Start, 6).unwrap(),
            vec![1, 10, 11, 12, 13, 2]
        );
        // Exactly at the limit passes untouched.
        assert_eq!(
            plain
                .encode(1, &long, None, Truncate::None, 10)
                .unwrap()
                .len(),
            10
        );
        // START keeps the task prefix of prefix models.
        let e5 = TextTokenizer::from_file(&tiny_tokenizer_file("trunc-e5"), 16, true).unwrap();
        assert_eq!(
            e5.encode(0, &long, None, Truncate::Start, 6).unwrap(),
            vec![1, 3, 5, 12, 13, 2]
        );
        assert_eq!(
            e5.encode(0, &long, None, Truncate::End, 6).unwrap(),
            vec![1, 3, 5, 6, 7, 2]
        );
    }
}
