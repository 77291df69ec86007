//! `<private>…</private>`: text a person marked as never to be remembered.
//!
//! The rule (issue 20): what is inside the element is removed before anything reads it, over a
//! whole session, not message by message, so an element opened in one message and closed in a
//! later one removes every message in between:
//! - elements nest: a depth count, so the text after an inner `</private>` is still private;
//! - an element never closed runs to the end of the session;
//! - a stray `</private>` (closing what was never opened) makes everything before it in the
//!   session private: the person meant to close something, and memtree cannot know where it
//!   began;
//! - `<private/>` is an empty element: nothing is private.
//!
//! Tags are matched case-insensitively, with attributes (`<private reason="x">`), but not as a
//! prefix of another name (`<privateer>`). What is written to a file may not hold a tag at all
//! ([`tags`]): the write paths refuse it (`crate::changeset`), and curate and import skip it.

use std::sync::LazyLock;

use regex::Regex;

/// An opening, closing or empty `private` tag.
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)<(/?)\s*private(?:\s[^<>]*?)?\s*(/?)>|<(/?)\s*private\s*$")
        .unwrap_or_else(|e| panic!("{e}"))
});

/// A tag's effect on the depth.
enum Tag {
    Open,
    Close,
    Empty,
}

fn tags_in(text: &str) -> Vec<(std::ops::Range<usize>, Tag)> {
    TAG.captures_iter(text)
        .filter_map(|c| {
            let whole = c.get(0)?;
            let closing = c.get(1).or(c.get(3)).is_some_and(|m| !m.is_empty());
            let empty = c.get(2).is_some_and(|m| !m.is_empty());
            let tag = match (closing, empty) {
                (true, _) => Tag::Close,
                (false, true) => Tag::Empty,
                (false, false) => Tag::Open,
            };
            Some((whole.range(), tag))
        })
        .collect()
}

/// `texts` (the messages of one session, in order) with every private part removed, as the
/// module doc says. The result has one text for each input text (some may be empty).
pub fn redact_all<S: AsRef<str>>(texts: &[S]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(texts.len());
    let mut depth = 0usize;
    for text in texts {
        let text = text.as_ref();
        let mut kept = String::with_capacity(text.len());
        let mut at = 0;
        for (range, tag) in tags_in(text) {
            if depth == 0 {
                kept.push_str(&text[at..range.start]);
            }
            match tag {
                Tag::Open => depth += 1,
                Tag::Empty => {}
                Tag::Close if depth > 0 => depth -= 1,
                Tag::Close => {
                    // A stray close: everything before it in the session is private.
                    out.iter_mut().for_each(String::clear);
                    kept.clear();
                }
            }
            at = range.end;
        }
        if depth == 0 {
            kept.push_str(&text[at..]);
        }
        out.push(kept);
    }
    out
}

/// One text with its private parts removed (see [`redact_all`]).
pub fn redact(text: &str) -> String {
    redact_all(&[text]).pop().unwrap_or_default()
}

/// Whether `text` holds a `private` tag anywhere (a candidate or a planned row that does is
/// refused: the removal must have missed something).
pub fn holds_tag(text: &str) -> bool {
    TAG.is_match(text) || TAG_START.is_match(text)
}

/// The start of a `private` tag, closed or not (`<private`, `</private`, `< private`), but not
/// of another name (`<privateer>`).
static TAG_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)<\s*/?\s*private(?:[^a-z0-9_-]|$)").unwrap_or_else(|e| panic!("{e}"))
});

/// The lines (1-based) of `text` that hold a `private` tag outside code (a fenced block or an
/// inline code span, where `<private>` is documentation, not an element), each with its text.
pub fn tags(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| t.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => {
                fence = Some(m);
                continue;
            }
            (Some(f), Some(m)) if f == m => {
                fence = None;
                continue;
            }
            (Some(_), _) => continue,
            _ => {}
        }
        let outside_code: String = line
            .split('`')
            .enumerate()
            .filter(|(k, _)| k % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        if holds_tag(&outside_code) {
            out.push((i + 1, line.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_span_messages_and_nest() {
        assert_eq!(
            redact_all(&["a <private>b", "c", "d</private> e"]),
            ["a ", "", " e"]
        );
        assert_eq!(
            redact("x <private>a <private>b</private> still</private> y"),
            "x  y"
        );
        assert_eq!(redact("x <PRIVATE reason=\"pw\">a</Private > y"), "x  y");
        assert_eq!(redact("unclosed <private>everything after"), "unclosed ");
        assert_eq!(redact("a <private/> b <privateer> c"), "a  b <privateer> c");
        assert_eq!(redact("a <private /> b"), "a  b");
        // A stray close: everything before it in the session is private.
        assert_eq!(
            redact_all(&["first", "second</private> third", "fourth"]),
            ["", " third", "fourth"]
        );
    }

    #[test]
    fn tags_outside_code_are_found() {
        let text =
            "use `<private>` to hide text\n```\n<private>\n```\nreal <private>x\n</private>\n";
        assert_eq!(
            tags(text),
            [
                (5, "real <private>x".to_string()),
                (6, "</private>".to_string())
            ]
        );
        assert!(holds_tag("a </private> b"));
        assert!(holds_tag("a <private b") && holds_tag("ends with <private"));
        assert!(!holds_tag("a <privateer> b"));
    }
}
