//! One file read for the index: its id, front matter, links, and the text that is searched.
//!
//! [`Record::parse`] is the single place where a file's bytes become what every other part of
//! memtree works with (index, check, get, graph). It never fails on a bad value, only on a file
//! that cannot be read as an entry at all (not UTF-8, YAML that does not parse).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::entry::{self, Document, Meta, Problem, Relation};
use crate::error::Error;
use crate::markdown::{self, Link};
use crate::tree::id_of_rel;

/// Own sources count [`SCALE`] times as often as [`Record::search_parts`] lists them, so that
/// a neighbour's body can be weighted in quarters of the entry's own weight (see
/// [`crate::index::expand`], which imports this; the record imports nothing of the index).
pub const SCALE: usize = 4;

/// The English month names, January first.
pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// What the index stores about an entry (as JSON in a stored field), enough to rank, explain and
/// follow edges without opening the file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredMeta {
    /// Entry id.
    pub id: String,
    /// File path relative to `.memory/`.
    pub rel: String,
    /// Title (front matter, else first heading, else last id segment).
    pub title: String,
    /// Kind, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Status (`active` when not set).
    pub status: String,
    /// Maturity, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maturity: Option<String>,
    /// Importance, when set and valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<f64>,
    /// The entry's own `decay`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay: Option<String>,
    /// `updated` (else `created`) as Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<i64>,
    /// Summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Successor id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// The entries of other layers this one supersedes (`supersedes: [platform:a/b]`, ids
    /// qualified as [`crate::layers::split`] reads them): in this tree's answers they are
    /// replaced by this entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
    /// Relations, then body links as `see-also`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edges: Vec<Relation>,
    /// Scope globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
    /// Aliases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// `true` for a folder note (`README.md`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub folder_note: bool,
    /// `true` when the body itself is a question (its text ends with `?`): such an entry shares
    /// a question's words without holding its answer, so BM25 ranks it a little lower.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub asks: bool,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Words in the body.
    #[serde(default)]
    pub words: usize,
    /// The year and month of `date`, else `created`, else `updated`, as `YYYY-MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
    /// The sentence vectors (stored in their own index field, not in the JSON; see
    /// [`crate::semantic::vector`]).
    #[serde(skip)]
    pub vectors: Option<crate::semantic::vector::EntryVectors>,
}

impl StoredMeta {
    /// An active fact `id` with nothing else set, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_test(id: &str) -> StoredMeta {
        StoredMeta {
            id: id.into(),
            rel: format!("{id}.md"),
            title: id.into(),
            kind: Some("fact".into()),
            status: "active".into(),
            maturity: None,
            importance: None,
            decay: None,
            updated: None,
            summary: None,
            superseded_by: None,
            overrides: vec![],
            edges: vec![],
            scope: vec![],
            aliases: vec![],
            folder_note: false,
            asks: false,
            tags: vec![],
            words: 0,
            month: None,
            vectors: None,
        }
    }

    /// `true` unless the status is superseded or archived.
    pub fn is_live(&self) -> bool {
        !matches!(self.status.as_str(), "superseded" | "archived")
    }
}

/// A parsed file.
#[derive(Debug, Clone)]
pub struct Record {
    /// What the index stores.
    pub stored: StoredMeta,
    /// The typed front matter.
    pub meta: Meta,
    /// The split file.
    pub doc: Document,
    /// Problems with single keys (the entry is still indexed).
    pub problems: Vec<Problem>,
    /// Links in the body.
    pub links: Vec<Link>,
    /// The body as plain text.
    pub plain: String,
}

impl Record {
    /// Parses the bytes of the file at `rel` (relative to `.memory/`). `display` is the path
    /// used in error messages.
    ///
    /// # Errors
    /// [`Error::NotUtf8`], or [`Error::FrontMatter`] with the file line when the YAML does not
    /// parse or the front matter is not closed.
    pub fn parse(rel: &str, bytes: &[u8], display: &str) -> Result<Record, Error> {
        Record::parse_limited(rel, bytes, display, u64::MAX)
    }

    /// [`Record::parse`], for a file that may be larger than `limit` bytes (or whose first
    /// `limit + 1` bytes only were read): such a file is taken by its front matter only (no
    /// links, no body text to index), and its body is whatever was read, so `check` and the
    /// index stay fast on a pasted dump.
    ///
    /// # Errors
    /// As [`Record::parse`]; for an oversized file, also front matter not closed within the
    /// bytes read.
    pub fn parse_limited(
        rel: &str,
        bytes: &[u8],
        display: &str,
        limit: u64,
    ) -> Result<Record, Error> {
        let oversized = bytes.len() as u64 > limit;
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            // A read cut short may end inside a character: keep the valid part.
            Err(e) if oversized && e.error_len().is_none() => {
                std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default()
            }
            Err(_) => {
                return Err(Error::NotUtf8 {
                    file: display.into(),
                });
            }
        };
        let doc = Document::split(text).map_err(|line| Error::FrontMatter {
            file: display.into(),
            line,
            message: if oversized {
                format!(
                    "the file is over index.max_file_bytes ({limit} bytes) and its front matter \
                     is not closed within them"
                )
            } else {
                "front matter opened with `---` is never closed".into()
            },
        })?;
        let (meta, problems) = match &doc.front {
            Some(yaml) => entry::parse_meta(yaml).map_err(|e| Error::FrontMatter {
                file: display.into(),
                line: e.line,
                message: e.message,
            })?,
            None => (Meta::default(), Vec::new()),
        };
        let id = id_of_rel(rel).unwrap_or_else(|| rel.trim_end_matches(".md").to_string());
        let folder_note = rel.ends_with("/README.md");
        let (links, plain) = if oversized {
            (Vec::new(), String::new())
        } else {
            (
                markdown::links(&doc.body, rel),
                markdown::plain_text(&doc.body),
            )
        };
        let title = meta
            .title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| markdown::first_heading(&doc.body))
            .unwrap_or_else(|| id.rsplit('/').next().unwrap_or(&id).replace('-', " "));
        let valid = |v: &Option<String>, allowed: &[&str]| {
            v.clone().filter(|s| allowed.contains(&s.as_str()))
        };
        let mut edges: Vec<Relation> = meta
            .relations
            .iter()
            .filter(|r| entry::RELATION_TYPES.contains(&r.kind.as_str()))
            .cloned()
            .collect();
        for link in &links {
            if link.target != id && !edges.iter().any(|e| e.to == link.target) {
                edges.push(Relation {
                    kind: "see-also".into(),
                    to: link.target.clone(),
                });
            }
        }
        let updated = meta
            .updated
            .as_deref()
            .or(meta.created.as_deref())
            .and_then(entry::parse_time)
            .map(|t| t.as_second());
        let stored = StoredMeta {
            id,
            rel: rel.to_string(),
            title,
            kind: valid(&meta.kind, entry::KINDS),
            status: valid(&meta.status, entry::STATUSES).unwrap_or_else(|| "active".into()),
            maturity: valid(&meta.maturity, entry::MATURITIES),
            importance: meta.importance.filter(|i| (0.0..=1.0).contains(i)),
            decay: meta
                .decay
                .clone()
                .filter(|d| entry::parse_half_life(d).is_ok()),
            updated,
            summary: meta.summary.clone(),
            superseded_by: meta.superseded_by.clone().filter(|s| !s.is_empty()),
            overrides: meta
                .supersedes
                .iter()
                .filter(|s| crate::layers::split(s).0.is_some())
                .cloned()
                .collect(),
            edges,
            scope: meta.scope.clone(),
            aliases: meta.aliases.clone(),
            folder_note,
            asks: plain.trim_end().ends_with('?'),
            tags: meta.tags.clone(),
            words: plain.split_whitespace().count(),
            month: entry_time(&meta).map(|t| {
                let d = t.to_zoned(jiff::tz::TimeZone::UTC).date();
                format!("{:04}-{:02}", d.year(), d.month())
            }),
            vectors: None,
        };
        Ok(Record {
            stored,
            meta,
            doc,
            problems,
            links,
            plain,
        })
    }

    /// The sources of the text indexed for BM25, each with how many times it counts (a BM25F
    /// approximation by integer repetition in one length-normalised field: title and aliases
    /// ×3, tags, path and summary ×2, why, dates and body ×1, each times
    /// [`SCALE`]), then the `neighbours` (body text, weight in the same
    /// units; see [`crate::index::expand`]). The index analyzes each source once and repeats
    /// its tokens.
    pub fn search_parts<'a>(
        &'a self,
        neighbours: &'a [(String, usize)],
    ) -> Vec<(Cow<'a, str>, usize)> {
        let scale = SCALE;
        let m = &self.meta;
        let s = &self.stored;
        let mut parts: Vec<(Cow<'a, str>, usize)> = vec![(Cow::Borrowed(s.title.as_str()), 3)];
        for a in &m.aliases {
            parts.push((Cow::Borrowed(a), 3));
        }
        for t in &m.tags {
            parts.push((Cow::Borrowed(t), 2));
        }
        parts.push((Cow::Owned(s.id.replace(['/', '-'], " ")), 2));
        if let Some(x) = &m.summary {
            parts.push((Cow::Borrowed(x), 2));
        }
        if let Some(x) = &m.why {
            parts.push((Cow::Borrowed(x), 1));
        }
        parts.push((Cow::Owned(self.date_words()), 1));
        parts.push((Cow::Borrowed(self.plain.as_str()), 1));
        for p in &mut parts {
            p.1 *= scale;
        }
        for (text, w) in neighbours {
            parts.push((Cow::Borrowed(text.as_str()), *w));
        }
        parts
    }

    /// The entry's date as words: day, month name and year (`8 May 2023`), from `date`, else
    /// `created`, else `updated`.
    pub fn date_words(&self) -> String {
        let Some(ts) = entry_time(&self.meta) else {
            return String::new();
        };
        let d = ts.to_zoned(jiff::tz::TimeZone::UTC).date();
        format!(
            "{} {} {}",
            d.day(),
            MONTHS[(d.month() - 1) as usize],
            d.year()
        )
    }

    /// Alias keys: the normalised title and aliases (lower-case words joined by one space).
    pub fn alias_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = std::iter::once(&self.stored.title)
            .chain(&self.meta.aliases)
            .map(|s| crate::index::analyzer::phrase_words(s).join(" "))
            .filter(|k| !k.is_empty())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

/// The time an entry is about: `date`, else `created`, else `updated`.
fn entry_time(m: &entry::Meta) -> Option<jiff::Timestamp> {
    [&m.date, &m.created, &m.updated]
        .into_iter()
        .flatten()
        .find_map(|s| entry::parse_time(s))
}
