//! `<img src="…">` tags inside string content (NVIDIA's hosted VLM examples, LangChain's
//! `tag` variant): split out of the text, attribute values unquoted and `&amp;`-decoded.

/// A run of text, or the `src` of an `<img>` tag that stood there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextOrImg {
    /// Text between tags.
    Text(String),
    /// The tag's `src`.
    Img(String),
}

/// Splits `text` at `<img …>` tags that have a `src`; tags without one stay in the text.
pub fn split_img_tags(text: &str) -> Vec<TextOrImg> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut pending = String::new();
    while let Some(start) = find_ci(rest, "<img") {
        let after = &rest[start + 4..];
        // `<imgx` is another tag name.
        let boundary = after
            .chars()
            .next()
            .is_none_or(|c| c.is_ascii_whitespace() || c == '/' || c == '>');
        let parsed = boundary.then(|| parse_tag(after)).flatten();
        match parsed {
            Some((src, len)) => {
                pending.push_str(&rest[..start]);
                if !pending.is_empty() {
                    out.push(TextOrImg::Text(std::mem::take(&mut pending)));
                }
                out.push(TextOrImg::Img(src));
                rest = &after[len..];
            }
            None => {
                pending.push_str(&rest[..start + 4]);
                rest = after;
            }
        }
    }
    pending.push_str(rest);
    if !pending.is_empty() {
        out.push(TextOrImg::Text(pending));
    }
    out
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    hay.as_bytes()
        .windows(n)
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Parses attributes after `<img` up to `>`; returns the `src` and the bytes consumed.
fn parse_tag(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut src = None;
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        if b[i] == b'>' {
            return src.map(|s| (s, i + 1));
        }
        let name_start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let name = s.get(name_start..i)?.to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = match b.get(i) {
                Some(&q @ (b'"' | b'\'')) => {
                    let end = s.get(i + 1..)?.find(q as char)? + i + 1;
                    let v = s.get(i + 1..end)?;
                    i = end + 1;
                    v
                }
                Some(_) => {
                    let start = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    s.get(start..i)?
                }
                None => return None,
            };
            if name == "src" && src.is_none() {
                src = Some(unescape(value.trim()));
            }
        }
    }
}

fn unescape(v: &str) -> String {
    v.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tags_out_of_text() {
        let v = split_img_tags(r#"Describe <img src="data:image/png;base64,AAA" /> please"#);
        assert_eq!(
            v,
            vec![
                TextOrImg::Text("Describe ".into()),
                TextOrImg::Img("data:image/png;base64,AAA".into()),
                TextOrImg::Text(" please".into()),
            ]
        );
    }

    #[test]
    fn handles_quotes_case_and_several_tags() {
        let v = split_img_tags("<IMG alt='x > y' SRC='https://a/b.png?x=1&amp;y=2'><img src=u2>");
        assert_eq!(
            v,
            vec![
                TextOrImg::Img("https://a/b.png?x=1&y=2".into()),
                TextOrImg::Img("u2".into()),
            ]
        );
    }

    #[test]
    fn leaves_other_text_alone() {
        for t in [
            "a < b",
            "<imgs>",
            "<img alt=x>",
            "<img src=\"unterminated",
            "plain",
        ] {
            assert_eq!(split_img_tags(t), vec![TextOrImg::Text(t.into())], "{t}");
        }
        assert!(split_img_tags("").is_empty());
    }
}
