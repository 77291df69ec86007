//! Candidate memories from text: what `memtree curate` plans from when no LLM is asked.
//!
//! The text is a session ([`transcript`]) or a markdown file. Text inside
//! `<private>…</private>` is removed over the whole session before anything else reads it
//! ([`crate::private`]: elements nest, may span messages, an unclosed one runs to the end, a
//! stray close makes everything before it private), a candidate that still holds a tag is
//! dropped, and fenced code is never read as statements. A candidate is a statement someone
//! marked, or wrote the way a project's rules are written:
//! - `remember: …`, `remember that …`, `note to self: …` (a fact, unless it reads as a rule);
//! - `decision: …`, `decided: …`, `we decided to/that …`, `ADR: …` (a decision);
//! - `gotcha: …`, `pitfall: …`, `caveat: …`, `watch out: …` (a pitfall);
//! - `convention: …`, `rule: …` (a convention); `question: …`, `open question: …`;
//! - a sentence that starts `we use / we always / we never / we prefer / we don't / we must /
//!   we should not / we no longer / we switched …`, or `always …` / `never …` (a convention;
//!   not `never mind`, and not a bare `we should`, which is a suggestion);
//! - a sentence of the user's own (not the assistant's) that states a personal preference:
//!   `I prefer / I like / I use / I always / I never / I want / I don't like …` (a preference);
//! - a sentence that says a belief changed (`PR titles no longer need the prefix`, `Instead of
//!   X, we now use Y`), outside a markdown heading's section, unless it narrates (`I`, `me`,
//!   `let's`) or asks;
//! - in markdown only, a heading with the paragraph under it, when the paragraph holds none of
//!   the above (a fact titled by the heading).
//!
//! A marker covers the rest of its line, and each sentence of it is a statement of its own
//! (the sentence splitter knows abbreviations, code spans and paths), joined to the one before when it
//! points back to it (`It is enough to add the label.`): one statement per row. A statement
//! (not a heading's section) that says it replaces something (`no longer`, `instead of`,
//! `switched`, `replaced`, `not anymore`, `deprecated`, `now uses`) is marked
//! [`Candidate::replaces`]: the plan may supersede an entry with it. The operation set (add, update, supersede, noop) is Mem0's
//! (Chhikara et al., 2025, "Mem0: Building Production-Ready AI Agents with Scalable Long-Term
//! Memory") and Memory-R1's (Yan et al., 2025).

pub mod subject;
pub mod transcript;

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use transcript::Transcript;

/// One statement worth remembering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// One of the entry kinds (`fact`, `decision`, `convention`, `pitfall`, `question`).
    pub kind: &'static str,
    /// A short title (at most about 72 characters).
    pub title: String,
    /// The statement itself, marker removed, private text never included.
    pub text: String,
    /// What made it a candidate: `remember`, `decision`, `pitfall`, `convention`, `question`,
    /// `rule-sentence` or `heading`.
    pub marker: &'static str,
    /// It says it replaces an earlier belief.
    pub replaces: bool,
    /// Who said it: `user`, `assistant` or `text`.
    pub role: String,
}

/// Removes `<private>…</private>` from one text ([`crate::private::redact`]; a session is
/// redacted whole when it is parsed).
pub fn strip_private(text: &str) -> String {
    crate::private::redact(text)
}

/// Removes fenced code blocks (``` and ~~~), keeping the lines around them.
fn strip_fences(text: &str) -> String {
    let mut out = String::new();
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let t = line.trim_start();
        match fence {
            Some(f) if t.starts_with(f) => fence = None,
            Some(_) => {}
            None if t.starts_with("```") => fence = Some("```"),
            None if t.starts_with("~~~") => fence = Some("~~~"),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

static MARKED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(remember(?:\s+that)?|note to self|decision|decided|we decided(?:\s+to|\s+that)?|adr|gotcha|pitfall|caveat|watch out|convention|rule|open question|question)\s*[:\-–]?\s+(.+)$",
    )
    .expect("valid regex")
});
static RULE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:we|the team|this (?:project|repo|repository|codebase))\s+(?:always|never|use|uses|prefer|prefers|don't|do not|must|shouldn't|should not|no longer|switched|moved|only)\b|^(?:always|never)\s+\w",
    )
    .expect("valid regex")
});
/// A person stating a preference of their own (issue 23): `I prefer …`, `I always …`.
static PERSONAL_RULE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^i\s+(?:always\s+|usually\s+|really\s+)?(?:prefer|like|use|want|hate|dislike|never|always|don't like|do not like|don't want|do not want)\b",
    )
    .expect("valid regex")
});
/// A statement about the person rather than the project: a preference of theirs (`I prefer`,
/// `my editor`), or how to work with them (`always explain a diff to me`, `call me Sam`).
static ABOUT_THE_PERSON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^i\s+(?:always\s+|usually\s+|really\s+)?(?:prefer|like|use|want|hate|dislike|never|always|don't|do not|am used to)\b|\b(?:to|for|with|ask|tell|show|call|remind|give|send)\s+me\b|\bmy\s+(?:preference|preferences|editor|shell|style|setup|machine|laptop|terminal)\b",
    )
    .expect("valid regex")
});

/// Whether a statement is about the person who said it rather than about the project (`I
/// prefer pnpm`, `always explain a diff to me before applying it`): `curate` suggests the user
/// layer for it ([`crate::layers`]).
pub fn about_the_person(text: &str) -> bool {
    ABOUT_THE_PERSON.is_match(text.trim())
}

/// Words that say a statement changes an earlier belief (issue 21): such a statement may
/// supersede an entry, and is never "already known".
static REPLACES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(no longer|instead of|instead|switched (?:from|to)|switched|replaced|replaces|not anymore|any ?more\b|moved (?:from|to)|migrated (?:from|to)|deprecated|rather than|from now on|(?:was|were|has been|have been|is|are) (?:removed|dropped|retired)|now (?:use|uses|run|runs|need|needs|require|requires|live|lives|go|goes|take|takes|prefer|prefers|suppress|suppresses|is|are)|(?:is|are) now)\b",
    )
    .expect("valid regex")
});
/// The words of `text` that say a belief changed (`no longer`, `switched to`), lower-case, if
/// any.
pub fn change_marker(text: &str) -> Option<String> {
    REPLACES.find(text).map(|m| m.as_str().to_lowercase())
}

static RULEISH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(always|never|must|do not|don't)\b").expect("valid"));

/// `line` without a list marker, a task box or a quote marker.
fn unlist(line: &str) -> &str {
    let mut t = line.trim();
    loop {
        let before = t;
        for p in ["> ", "- ", "* ", "+ ", "[ ] ", "[x] ", "[X] "] {
            if let Some(rest) = t.strip_prefix(p) {
                t = rest.trim_start();
            }
        }
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && t[digits..].starts_with(". ") {
            t = t[digits + 2..].trim_start();
        }
        if t == before {
            return t.trim_matches(|c| c == '*' || c == '_').trim();
        }
    }
}

/// Abbreviations a period does not end a sentence after (lower-case, without the period).
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "etc", "vs", "cf", "approx", "incl", "dr", "mr", "mrs", "ms", "no", "fig",
    "resp", "esp", "viz", "al", "st",
];

/// The sentences of a line, each with the byte offset where it starts. A sentence ends at `.`,
/// `!` or `?` followed by white space and a letter, a digit, a quote, a bracket or a code span
/// (`ty reuses …` starts a sentence in lower case), or at the end of the line; never inside a
/// code span (`` `a. B` ``), after an abbreviation (`e.g.`, `etc.`) or inside a path, a version
/// or a number (no space follows the period).
fn sentences(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_code = false;
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    for (k, &(i, c)) in chars.iter().enumerate() {
        if c == '`' {
            in_code = !in_code;
            continue;
        }
        if in_code || !matches!(c, '.' | '!' | '?') {
            continue;
        }
        let Some(&(_, space)) = chars.get(k + 1) else {
            continue;
        };
        if !space.is_whitespace() {
            continue;
        }
        let next = chars[k + 1..].iter().find(|(_, ch)| !ch.is_whitespace());
        let starts_sentence = next.is_some_and(|&(_, ch)| {
            ch.is_alphanumeric() || matches!(ch, '`' | '"' | '\'' | '(' | '[' | '*')
        });
        if !starts_sentence {
            continue;
        }
        if c == '.' {
            let word = line[start..i]
                .rsplit(|ch: char| ch.is_whitespace() || ch == '(')
                .next()
                .unwrap_or("")
                .to_lowercase();
            if ABBREVIATIONS.contains(&word.as_str()) {
                continue;
            }
        }
        out.push((start, line[start..=i].trim()));
        start = i + c.len_utf8();
        while line[start..].starts_with(char::is_whitespace) {
            start += line[start..].chars().next().map_or(1, char::len_utf8);
        }
    }
    if start < line.len() {
        out.push((start, line[start..].trim()));
    }
    out.into_iter().filter(|(_, s)| !s.is_empty()).collect()
}

/// Words that, near the start of a sentence, point back to the one before it: the two are one
/// statement (`… no longer need the prefix. It is enough to add the label.`).
const BACK_REFERENCES: &[&str] = &[
    "it", "its", "this", "that", "they", "them", "these", "those", "there",
];

/// Whether `sentence` continues the one before it (a back-reference among its first four
/// words, after a connective such as `Also,`).
fn continues(sentence: &str) -> bool {
    unconnected(sentence)
        .split_whitespace()
        .take(4)
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .any(|w| BACK_REFERENCES.contains(&w.as_str()))
}

/// The statements of `text`: its sentences, a sentence that continues the one before it
/// ([`continues`]) joined to it. One statement per row (issue 21).
fn statements(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, s) in sentences(text) {
        match out.last_mut() {
            Some(last) if continues(s) => {
                last.push(' ');
                last.push_str(s);
            }
            _ => out.push(s.to_string()),
        }
    }
    out
}

static CONNECTOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:also|and|so|but|ok|okay|btw|by the way|note that|fyi)\b[,:]?\s+")
        .expect("valid regex")
});

/// A sentence without a leading connective (`Also, we no longer …` reads as `we no longer …`).
fn unconnected(s: &str) -> &str {
    CONNECTOR.find(s).map_or(s, |m| &s[m.end()..])
}

/// `text` with its first letter upper-case, when its first word is a plain lower-case word
/// (not an identifier such as `discount_cents`, `src/main.rs` or `eBPF`).
fn capitalized(text: &str) -> String {
    let first = text.split_whitespace().next().unwrap_or("");
    let word = first.trim_end_matches([',', '.', ':', ';']);
    if word.is_empty()
        || !word
            .chars()
            .all(|c| c.is_lowercase() || c == '\'' || c == '-')
    {
        return text.to_string();
    }
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The longest title a statement gets whole, in characters.
pub const TITLE_CHARS: usize = 100;

/// A title from a statement: its first sentence up to a `;`, or when that is longer than
/// [`TITLE_CHARS`], its first clause (up to `:`, ` — ` or a comma); never cut in the middle of
/// a clause. First letter upper-case, no final punctuation.
pub fn title_of(text: &str) -> String {
    let first_line = text.lines().next().unwrap_or(text).trim();
    let sentence = sentences(first_line)
        .first()
        .map_or(first_line, |(_, s)| *s)
        .trim_end_matches(['.', '!', ':', ',', ';']);
    // A `;` ends a clause that stands on its own (`X; we switched to Y`).
    let mut title = match sentence.split_once("; ") {
        Some((clause, _)) if clause.chars().count() >= 12 => clause.to_string(),
        _ => sentence.to_string(),
    };
    if title.chars().count() > TITLE_CHARS {
        for sep in [": ", " — ", " - ", ", "] {
            if let Some((clause, _)) = title.split_once(sep)
                && clause.chars().count() >= 12
            {
                title = clause.to_string();
                break;
            }
        }
    }
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    capitalized(title.trim_end_matches([',', ':', ';', '-', '.']))
}

/// The words of `text` that carry meaning: lower-case, three letters or more, not a stop
/// word, a final `s` removed (`tests` and `test` meet).
pub fn content_words(text: &str) -> HashSet<String> {
    const STOP: &[&str] = &[
        "the", "and", "for", "that", "this", "with", "are", "was", "were", "our", "you", "your",
        "from", "have", "has", "had", "not", "but", "all", "any", "can", "will", "into", "its",
        "use", "uses", "using", "used", "always", "never", "we", "they", "them", "their", "there",
        "here", "what", "when", "which", "who", "how", "why", "should", "must", "don", "does",
        "did", "also", "just", "only", "then", "than", "now", "longer", "instead", "remember",
        "decision", "decided",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 3 && !STOP.contains(&w.as_str()))
        .map(|w| {
            if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
                w[..w.len() - 1].to_string()
            } else {
                w
            }
        })
        .collect()
}

/// The share of `a`'s content words that `b` has too (0 when `a` has none).
pub fn containment(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.intersection(b).count() as f64 / a.len() as f64
}

/// A line that starts with a marker: its kind, the marker's name and the text it marks (the
/// whole line for `we decided to …`, which is the statement itself).
fn marked(line: &str) -> Option<(&'static str, &'static str, String)> {
    let caps = MARKED.captures(line)?;
    let marker = caps[1].to_lowercase();
    let text = caps[2].trim().to_string();
    let (kind, marker) = match marker.as_str() {
        m if m.starts_with("remember") || m == "note to self" => {
            if RULEISH.is_match(&text) {
                ("convention", "remember")
            } else {
                ("fact", "remember")
            }
        }
        "decision" | "decided" | "adr" => ("decision", "decision"),
        m if m.starts_with("we decided") => ("decision", "decision"),
        "gotcha" | "pitfall" | "caveat" | "watch out" => ("pitfall", "pitfall"),
        "convention" | "rule" => ("convention", "convention"),
        _ => ("question", "question"),
    };
    let text = if caps[1].to_lowercase().starts_with("we decided") {
        line.trim().to_string()
    } else {
        text
    };
    Some((kind, marker, text))
}

/// A sentence that says a belief changed without a marker or a rule's form (`PR titles no
/// longer need the prefix`, `Instead of X, we now use Y`): not what someone says of themselves,
/// narrates or asks of the agent (`I no longer see the error`, `so I'll add it instead`), nor
/// a question.
fn change_sentence(s: &str) -> bool {
    let first = s
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase();
    let words = s.split_whitespace().count();
    // Narration (`so I'll add 0002 instead of editing it`) is not a statement about the project.
    let narrates = s.split_whitespace().any(|w| {
        let w = w
            .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
            .to_lowercase();
        matches!(
            w.as_str(),
            "i" | "i'll" | "i'm" | "i've" | "i'd" | "me" | "my" | "let's" | "let"
        )
    });
    REPLACES.is_match(s)
        && !narrates
        && !matches!(first.as_str(), "you" | "you're" | "please")
        && !s.ends_with('?')
        && (4..=80).contains(&words)
}

fn candidate(kind: &'static str, marker: &'static str, text: String, role: &str) -> Candidate {
    // Removed private text leaves runs of spaces; an entry's text starts upper-case, unless
    // its first word is a name (`discount_cents`, `npm`-like words are plain words).
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = capitalized(&text);
    Candidate {
        kind,
        title: title_of(&text),
        replaces: REPLACES.is_match(&text),
        text,
        marker,
        role: role.to_string(),
    }
}

/// Candidates of one turn's text (`markdown`: headings with their paragraphs count too).
fn of_text(text: &str, role: &str, markdown: bool) -> Vec<Candidate> {
    let text = strip_fences(&strip_private(text));
    let mut out = Vec::new();
    let mut heading: Option<String> = None;
    let mut paragraph: Vec<String> = Vec::new();
    let mut section_found = false;
    let flush = |heading: &Option<String>,
                 paragraph: &mut Vec<String>,
                 found: bool,
                 out: &mut Vec<Candidate>| {
        if let Some(h) = heading
            && markdown
            && !found
            && !paragraph.is_empty()
        {
            let body = paragraph.join(" ");
            let body: String = body.chars().take(600).collect();
            let mut c = candidate("fact", "heading", body, role);
            c.title = title_of(h);
            // A document's section describes; it does not announce that a belief changed.
            c.replaces = false;
            out.push(c);
        }
        paragraph.clear();
    };
    for raw in text.lines() {
        let trimmed = raw.trim();
        if let Some(h) = trimmed.strip_prefix('#') {
            flush(&heading, &mut paragraph, section_found, &mut out);
            heading = Some(h.trim_start_matches('#').trim().to_string());
            section_found = false;
            continue;
        }
        if trimmed.is_empty() {
            // The heading's first paragraph only.
            if !paragraph.is_empty() {
                flush(&heading, &mut paragraph, section_found, &mut out);
                heading = None;
            }
            continue;
        }
        let line = unlist(trimmed);
        let mut any = false;
        for (at, s) in sentences(line) {
            // A marker takes the rest of the line, a statement per sentence; a rule or a
            // change is one sentence.
            if let Some((kind, marker, rest)) = marked(unconnected(line[at..].trim())) {
                for statement in statements(&rest) {
                    out.push(candidate(kind, marker, statement, role));
                }
                any = true;
                break;
            }
            let s = unconnected(s);
            let words = s.split_whitespace().count();
            // "Never mind, …" is not a rule; "we should …" is a suggestion, "we should not" is.
            let chatter = s.to_lowercase().starts_with("never mind");
            if RULE.is_match(s) && !chatter && !s.ends_with('?') && (4..=80).contains(&words) {
                let kind = if about_the_person(s) {
                    "preference"
                } else {
                    "convention"
                };
                out.push(candidate(kind, "rule-sentence", s.to_string(), role));
                any = true;
            } else if role != "assistant"
                && PERSONAL_RULE.is_match(s)
                && !s.ends_with('?')
                && (3..=80).contains(&words)
            {
                out.push(candidate("preference", "preference", s.to_string(), role));
                any = true;
            } else if heading.is_none() && change_sentence(s) {
                let kind = if RULEISH.is_match(s) {
                    "convention"
                } else {
                    "fact"
                };
                out.push(candidate(kind, "change", s.to_string(), role));
                any = true;
            }
        }
        section_found |= any;
        if heading.is_some() {
            paragraph.push(line.to_string());
        }
    }
    flush(&heading, &mut paragraph, section_found, &mut out);
    out
}

/// The candidates of a session, in order, each statement once (a statement whose content
/// words another earlier candidate covers is dropped: the assistant repeating the user).
pub fn candidates(session: &Transcript) -> Vec<Candidate> {
    let markdown = session.format == "markdown";
    let mut out: Vec<Candidate> = Vec::new();
    let mut seen: Vec<HashSet<String>> = Vec::new();
    for turn in &session.turns {
        for c in of_text(&turn.text, &turn.role, markdown) {
            let words = content_words(&c.text);
            // Private text that got past the removal (a malformed tag) is never a candidate.
            if words.is_empty()
                || crate::private::holds_tag(&c.text)
                || crate::private::holds_tag(&c.title)
                || seen
                    .iter()
                    .any(|s| containment(&words, s) >= 0.8 && containment(s, &words) >= 0.5)
            {
                continue;
            }
            seen.push(words);
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::transcript::parse;
    use super::*;

    fn kinds(text: &str) -> Vec<(&'static str, String, bool)> {
        candidates(&parse(text))
            .into_iter()
            .map(|c| (c.kind, c.text, c.replaces))
            .collect()
    }

    #[test]
    fn markers_and_rule_sentences_become_candidates() {
        let got = kinds(
            "Some chatter here.\n\
             - Remember: the staging database is reset every Monday.\n\
             Decision: we ship the CLI as a wheel.\n\
             We always run cargo fmt before a commit. Then we go home.\n\
             Gotcha: tantivy's writer holds a lock file.\n\
             We no longer use Travis; we switched to GitHub Actions.\n\
             Do we always need this?\n\
             Never mind, let us try the other branch first.\n\
             We should rename this helper later.\n\
             We should not log request bodies.\n\
             ```\nwe always ignore code\n```\n",
        );
        assert_eq!(
            got,
            [
                (
                    "fact",
                    "The staging database is reset every Monday.".into(),
                    false
                ),
                ("decision", "We ship the CLI as a wheel.".into(), false),
                (
                    "convention",
                    "We always run cargo fmt before a commit.".into(),
                    false
                ),
                (
                    "pitfall",
                    "Tantivy's writer holds a lock file.".into(),
                    false
                ),
                (
                    "convention",
                    "We no longer use Travis; we switched to GitHub Actions.".into(),
                    true
                ),
                (
                    "convention",
                    "We should not log request bodies.".into(),
                    false
                ),
            ]
        );
    }

    #[test]
    fn private_text_never_reaches_a_candidate() {
        let got = kinds(
            "remember: the deploy key is <private>hunter2 on host x</private> rotated monthly\n\
             <private>remember: we always log in as root</private>\n\
             remember: <private>unclosed, so everything after is dropped\nwe always x y z\n",
        );
        assert_eq!(
            got,
            [("fact", "The deploy key is rotated monthly".into(), false)]
        );
    }

    #[test]
    fn headings_count_in_markdown_when_their_paragraph_has_no_marker() {
        let got = candidates(&parse(
            "# Release\n\nTags are signed with the team key.\nThey go to crates.io instead of a mirror.\n\n\
             More text, not under a heading.\n\n## Tests\n\nWe always run the suite twice.\n",
        ));
        let rows: Vec<(&str, &str, &str)> = got
            .iter()
            .map(|c| (c.marker, c.title.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "heading",
                    "Release",
                    "Tags are signed with the team key. They go to crates.io instead of a mirror."
                ),
                (
                    "rule-sentence",
                    "We always run the suite twice",
                    "We always run the suite twice."
                ),
            ]
        );
    }

    #[test]
    fn a_sections_instead_of_is_no_supersession() {
        let got = candidates(&parse(
            "# Release\n\nWe use crates.io instead of a mirror.\n",
        ));
        assert_eq!(got.len(), 1);
        assert!(
            got[0].replaces,
            "a rule sentence that says it replaces something"
        );
        let got = candidates(&parse(
            "# Release\n\nTags go to crates.io instead of a mirror.\n",
        ));
        assert_eq!((got[0].marker, got[0].replaces), ("heading", false));
    }

    #[test]
    fn titles_are_whole_sentences_or_clauses() {
        assert_eq!(title_of("we use pnpm, not npm."), "We use pnpm, not npm");
        assert_eq!(
            title_of("We deploy on Tuesdays. Never on Fridays."),
            "We deploy on Tuesdays"
        );
        assert_eq!(
            title_of("we no longer use Travis; we switched to GitHub Actions."),
            "We no longer use Travis"
        );
        // Over 100 characters: the first clause, never a cut in the middle of one.
        let long = "the staging database is reset every Monday at six in the morning by the ops team, \
                    so restore your fixtures after that";
        assert_eq!(
            title_of(long),
            "The staging database is reset every Monday at six in the morning by the ops team"
        );
        let no_clause = "the quick brown fox jumps over the lazy dog and then keeps running far away \
                         into the night without stopping once";
        assert_eq!(title_of(no_clause), capitalized(no_clause));
    }

    #[test]
    fn sentences_know_abbreviations_code_and_paths() {
        let got: Vec<&str> =
            sentences("Use e.g. `make test. Then` run src/main.rs v1.2 first. ty reuses it. Done!")
                .into_iter()
                .map(|(_, s)| s)
                .collect();
        assert_eq!(
            got,
            [
                "Use e.g. `make test. Then` run src/main.rs v1.2 first.",
                "ty reuses it.",
                "Done!"
            ]
        );
        // A sentence that points back is one statement with the one before it.
        assert_eq!(
            statements(
                "PR titles no longer need the prefix. It is enough to add the label. The CI is green."
            ),
            [
                "PR titles no longer need the prefix. It is enough to add the label.",
                "The CI is green."
            ]
        );
    }
}
