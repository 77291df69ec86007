//! Whether a statement is about the same subject as an entry: what curate's rules require
//! before they plan an `update`, a `supersede` or a `noop` (issue 21: bag-of-words overlap
//! planned changes of belief as "already known" and updates of unrelated entries).
//!
//! Two kinds of evidence, from the entry's title, aliases, identifiers and text, never from
//! the share of words alone:
//! - [`Evidence::Title`]: the statement names the entry's subject: it holds two thirds of the
//!   title's stemmed terms (all of a one-word title's) and a term of the body besides, or one
//!   of its aliases as a phrase;
//! - [`Evidence::Detail`]: the statement is about one thing the entry says: it holds an
//!   identifier (a code span, `snake_case`, `kebab-case`, a path, a flag, a version,
//!   `CamelCase`) that this entry holds and no other entry near it does, or it shares at least
//!   three stemmed terms with one sentence or list item of the entry, half of the one or the
//!   other.
//!
//! An entry is *single-subject* when its prose is at most two sentences, list items or lead-in
//! lines (code blocks aside): a detail of it is its whole subject.

use std::cell::RefCell;
use std::collections::HashSet;

use tantivy::tokenizer::{
    Language, LowerCaser, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};

use crate::index::analyzer;

thread_local! {
    /// Words as written (no code-aware splitting: `PostgreSQL` must not share `sql` with an
    /// entry about SQL files), lower-cased, stop words out, stemmed.
    static ANALYZER: RefCell<TextAnalyzer> = RefCell::new(
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .filter(StopWordFilter::remove(
                analyzer::STOP_WORDS.iter().map(|s| s.to_string()),
            ))
            .filter(Stemmer::new(Language::English))
            .build(),
    );
}

/// The stemmed words of `text` (stop words out), as a set.
pub fn stems(text: &str) -> HashSet<String> {
    ANALYZER.with(|a| {
        analyzer::terms(&mut a.borrow_mut(), text)
            .into_iter()
            .collect()
    })
}

/// Words that turn a statement around: a statement holding one its entry does not hold says
/// something else (`never` against `always`).
const POLARITY: &[&str] = &[
    "never", "not", "no", "don't", "dont", "doesn't", "avoid", "without", "always", "must",
];

/// Whether the word `w` is an identifier: words joined by `_`, `-`, `.`, `::`, `/` or `#`, a
/// flag, or `CamelCase`.
fn identifier_word(w: &str) -> bool {
    let joined = w.char_indices().any(|(i, c)| {
        matches!(c, '_' | '-' | '.' | ':' | '/' | '#')
            && i > 0
            && w[..i].chars().last().is_some_and(char::is_alphanumeric)
            && w[i + c.len_utf8()..]
                .chars()
                .next()
                .is_some_and(|n| n.is_alphanumeric() || n == ':')
    });
    let flag = w.starts_with('-')
        && w.trim_start_matches('-')
            .chars()
            .next()
            .is_some_and(char::is_alphabetic);
    let camel = w.chars().skip(1).any(char::is_uppercase)
        && w.chars().any(char::is_lowercase)
        && w.chars().all(char::is_alphanumeric);
    joined || flag || camel
}

/// A word of `text` without the punctuation around it.
fn bare(word: &str) -> &str {
    word.trim_matches(|c: char| {
        matches!(
            c,
            ',' | ';' | ':' | '(' | ')' | '[' | ']' | '"' | '\'' | '!' | '?' | '.'
        )
    })
}

/// The identifiers of `text`, lower-case: code spans, and words joined by `_`, `-`, `.`, `::`,
/// `/` or `#`, flags (`--all-features`, `-D`), `CamelCase` words.
pub fn identifiers(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        let s = s.trim().to_lowercase();
        if s.chars().filter(|c| c.is_alphanumeric()).count() >= 2
            && !super::ABBREVIATIONS.contains(&s.as_str())
            && !out.contains(&s)
        {
            out.push(s);
        }
    };
    let mut rest = text;
    while let Some(i) = rest.find('`') {
        let Some(j) = rest[i + 1..].find('`') else {
            break;
        };
        push(&rest[i + 1..i + 1 + j]);
        rest = &rest[i + 1 + j + 1..];
    }
    for word in text.split(|c: char| c.is_whitespace() || c == '`') {
        let w = bare(word);
        if identifier_word(w) {
            push(w);
        }
    }
    out
}

/// An entry as the subject rules see it.
#[derive(Debug, Clone)]
pub struct EntryText {
    /// Stemmed terms of the title.
    pub title: HashSet<String>,
    /// Each alias as lower-case words.
    pub aliases: Vec<Vec<String>>,
    /// Stemmed terms of title, aliases and text.
    pub terms: HashSet<String>,
    /// Stemmed terms of the body alone.
    pub body: HashSet<String>,
    /// Stemmed terms of each sentence, list item and lead-in line (`Run the tests:`) of the
    /// prose.
    pub units: Vec<HashSet<String>>,
    /// Title, aliases and body, lower-case (code included), for identifiers and polarity.
    pub lower: String,
    /// At most two sentences or list items of prose.
    pub single_subject: bool,
}

impl EntryText {
    /// The entry with `title`, `aliases` and markdown `body` (at most `max_chars` of it read).
    pub fn new(title: &str, aliases: &[String], body: &str, max_chars: usize) -> EntryText {
        let body: String = body.chars().take(max_chars).collect();
        // Prose as paragraphs and list items (a wrapped line continues its paragraph), then
        // sentences; code blocks and headings aside.
        let mut blocks: Vec<String> = Vec::new();
        let mut open = false;
        let mut fence = false;
        for line in body.lines() {
            let t = line.trim();
            if t.starts_with("```") || t.starts_with("~~~") {
                fence = !fence;
                open = false;
                continue;
            }
            if fence || t.is_empty() || t.starts_with('#') {
                open = false;
                continue;
            }
            let item = t.starts_with(['-', '*', '+'])
                || t.split_once(". ")
                    .is_some_and(|(n, _)| n.chars().all(|c| c.is_ascii_digit()));
            match blocks.last_mut() {
                Some(last) if open && !item => {
                    last.push(' ');
                    last.push_str(t);
                }
                _ => blocks.push(t.trim_start_matches(['-', '*', '+', ' ']).to_string()),
            }
            open = true;
        }
        let mut units = Vec::new();
        for block in &blocks {
            for (_, s) in super::sentences(block) {
                let terms = stems(s);
                if !terms.is_empty() {
                    units.push(terms);
                }
            }
        }
        let mut all = format!("{title}\n{}\n{body}", aliases.join("\n"));
        let terms = stems(&all);
        all.make_ascii_lowercase();
        EntryText {
            body: stems(&body),
            title: stems(title),
            aliases: aliases
                .iter()
                .map(|a| analyzer::phrase_words(a))
                .filter(|w| !w.is_empty())
                .collect(),
            single_subject: units.len() <= 2,
            terms,
            units,
            lower: all,
        }
    }
}

/// A statement as the subject rules see it.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Stemmed terms.
    pub terms: HashSet<String>,
    /// Stemmed terms of its plain words (identifiers left out: `nice-itests` does not name an
    /// entry titled "Nice"), for title evidence.
    pub words_only: HashSet<String>,
    /// Lower-case words, for alias phrases.
    pub words: Vec<String>,
    /// Identifiers ([`identifiers`]).
    pub identifiers: Vec<String>,
    /// The polarity words it holds.
    pub polarity: Vec<&'static str>,
}

impl Statement {
    /// The statement `text`.
    pub fn new(text: &str) -> Statement {
        let words = analyzer::phrase_words(text);
        let lower = text.to_lowercase();
        let polarity = POLARITY
            .iter()
            .copied()
            .filter(|p| {
                lower
                    .split(|c: char| !c.is_alphanumeric() && c != '\'')
                    .any(|w| w == *p)
            })
            .collect();
        let plain: Vec<&str> = text
            .split_whitespace()
            .filter(|w| !identifier_word(bare(w)))
            .collect();
        Statement {
            terms: stems(text),
            words_only: stems(&plain.join(" ")),
            identifiers: identifiers(text),
            words,
            polarity,
        }
    }
}

/// How a statement is about an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Evidence {
    /// One thing the entry says.
    Detail,
    /// The entry's subject itself, with how many of the title's terms the statement holds (the
    /// more, the more surely this entry and not another is meant).
    Title(usize),
}

fn holds_phrase(words: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && words.windows(phrase.len()).any(|w| w == phrase)
}

/// How `s` is about `e`, if it is; `others` are the other entries near it (an identifier that
/// several of them hold says nothing about which one).
pub fn evidence(s: &Statement, e: &EntryText, others: &[&EntryText]) -> Option<Evidence> {
    let shared_title = e.title.intersection(&s.words_only).count();
    let title_cover = if e.title.is_empty() {
        0.0
    } else {
        shared_title as f64 / e.title.len() as f64
    };
    // The title's words in a statement that says nothing of what the entry says are a
    // look-alike (`the ecosystem check now runs on every pull request` is not about the entry
    // "Pull Requests"): a term of the body, not of the title, must be shared too, unless the
    // statement holds three or more of the title's terms.
    let says_something = shared_title >= 3
        || s.terms
            .iter()
            .any(|t| e.body.contains(t) && !e.title.contains(t));
    if title_cover >= 0.66 && shared_title >= 1 && says_something {
        return Some(Evidence::Title(shared_title));
    }
    if let Some(a) = e.aliases.iter().find(|a| holds_phrase(&s.words, a)) {
        return Some(Evidence::Title(a.len()));
    }
    let distinctive = s.identifiers.iter().any(|id| {
        e.lower.contains(id.as_str()) && !others.iter().any(|o| o.lower.contains(id.as_str()))
    });
    let unit = e.units.iter().any(|u| {
        let shared = u.intersection(&s.terms).count();
        shared >= 3 && (shared * 2 >= s.terms.len() || shared * 2 >= u.len())
    });
    (distinctive || unit).then_some(Evidence::Detail)
}

/// Whether `s` says what `e` already says: four fifths of its terms are the entry's, and it
/// turns nothing around (every polarity word it holds, the entry holds too).
pub fn restates(s: &Statement, e: &EntryText) -> bool {
    if s.terms.is_empty() {
        return false;
    }
    let held = s.terms.intersection(&e.terms).count() as f64 / s.terms.len() as f64;
    held >= 0.8
        && s.polarity.iter().all(|p| {
            e.lower
                .split(|c: char| !c.is_alphanumeric() && c != '\'')
                .any(|w| w == *p)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_code_words() {
        assert_eq!(
            identifiers(
                "Run `cargo insta accept` on ty_python_semantic with --all-features, e.g. in CI; TestModel and 3.10."
            ),
            [
                "cargo insta accept",
                "ty_python_semantic",
                "--all-features",
                "testmodel",
                "3.10"
            ]
        );
    }

    #[test]
    fn a_look_alike_is_not_about_the_entry() {
        let entry = EntryText::new(
            "Running Debug Builds",
            &[],
            "Use debug builds (not `--release`) when developing, as release builds lack debug \
             assertions and have slower compile times.\n\nRun Ruff:\n\n```sh\ncargo run --bin ruff\n```\n",
            65536,
        );
        assert!(entry.single_subject);
        let title = Statement::new(
            "Release builds are fine for development now; debug builds are no longer required.",
        );
        assert_eq!(evidence(&title, &entry, &[]), Some(Evidence::Title(2)));
        let same = Statement::new("Use debug builds when developing, not release builds.");
        assert!(restates(&same, &entry));
        let turned = Statement::new("Never use debug builds when developing.");
        assert!(!restates(&turned, &entry));
    }
}
