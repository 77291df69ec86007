//! The merge driver: a three-way merge of one entry, field by field (DESIGN.md §5), so two
//! agents or two teammates editing memory on branches merge cleanly.
//!
//! - list fields (`aliases`, `tags`, `scope`, `supersedes`) and `relations` merge as sets:
//!   what either side added is kept, what either side removed is removed;
//! - `updated` takes the later time, `created` the earlier;
//! - every other field (known or not) comes from whichever side changed it; when both changed
//!   it differently, the side with the later `updated` wins (ours on a tie), and the field is
//!   named in [`Merged::decided`];
//! - the body is merged as text by libgit2 (`git merge-file`): only where both sides changed
//!   the same lines do standard conflict markers appear, and [`Merged::conflict`] is set.
//!
//! The merged front matter is ours with only the changed keys rewritten ([`crate::entry::set_key`]),
//! so our formatting and comments survive. Conflict markers only ever appear in the body: the
//! merged front matter always parses.
//!
//! A side whose front matter cannot be read (broken YAML, no closing `---`, or none at all where
//! the other versions have one) never makes the merge drop the other side's fields: the result
//! takes the readable side's front matter, and the unreadable one's is put at the top of the
//! body inside conflict markers labelled with the side and the reason, so the user decides.
//! Files that are not valid UTF-8 are merged as bytes ([`merge_files`]), never re-encoded.

use std::collections::BTreeSet;

use serde_yaml::Value;

use crate::entry::{self, CANONICAL_KEYS, Document, Meta, Relation};
use crate::error::{Error, Result};

/// The result of merging one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The merged file.
    pub text: String,
    /// The body (or, in the fallback, the file) holds conflict markers.
    pub conflict: bool,
    /// Fields both sides changed differently, decided by the later `updated`.
    pub decided: Vec<String>,
}

/// A three-way set merge: ours and theirs, less what either removed from base.
fn merge_set<T: Clone + Ord>(base: &[T], ours: &[T], theirs: &[T]) -> Vec<T> {
    let b: BTreeSet<&T> = base.iter().collect();
    let o: BTreeSet<&T> = ours.iter().collect();
    let t: BTreeSet<&T> = theirs.iter().collect();
    let keep = |x: &T| !(b.contains(x) && (!o.contains(x) || !t.contains(x)));
    let mut out: Vec<T> = Vec::new();
    for x in ours.iter().chain(theirs) {
        if keep(x) && !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

fn text_merge(base: &str, ours: &str, theirs: &str) -> Result<(String, bool)> {
    let (bytes, conflict) = byte_merge(base.as_bytes(), ours.as_bytes(), theirs.as_bytes())?;
    Ok((String::from_utf8_lossy(&bytes).into_owned(), conflict))
}

/// libgit2's line merge of three byte strings: the merged bytes, and whether the merge added
/// conflict markers.
fn byte_merge(base: &[u8], ours: &[u8], theirs: &[u8]) -> Result<(Vec<u8>, bool)> {
    // `git2::merge_file` does not initialise libgit2 itself (every other entry point does);
    // without it the call fails at random with "no error". Creating a buffer initialises it.
    drop(git2::Buf::new());
    let mut b = git2::MergeFileInput::new();
    b.content(base);
    let mut o = git2::MergeFileInput::new();
    o.content(ours);
    let mut t = git2::MergeFileInput::new();
    t.content(theirs);
    let mut opts = git2::MergeFileOptions::new();
    opts.our_label("ours")
        .their_label("theirs")
        .ancestor_label("base")
        .style_standard(true)
        .marker_size(7)
        // Keep the markers in the result rather than failing the call.
        .accept_conflicts(true);
    let r = git2::merge_file(&b, &o, &t, Some(&mut opts))
        .map_err(|e| Error::Git(e.message().to_string()))?;
    let bytes = r.content().to_vec();
    // Markers that none of the inputs had are the merge's own.
    let markers = |b: &[u8]| conflict_markers(&String::from_utf8_lossy(b)).len();
    let before = markers(ours).max(markers(theirs));
    let conflict = !r.is_automergeable() || markers(&bytes) > before;
    Ok((bytes, conflict))
}

/// One version of the file, split, with its front matter read when it can be.
struct Side {
    doc: Option<Document>,
    meta: Option<Meta>,
    /// Why the front matter cannot be used, when it cannot.
    unreadable: Option<String>,
    text: String,
}

fn read_side(text: &str) -> Side {
    let (doc, meta, unreadable) = match Document::split(text) {
        Err(_) => (None, None, Some("no closing `---` line".to_string())),
        Ok(doc) => match &doc.front {
            None => (Some(doc), Some(Meta::default()), None),
            Some(y) => match entry::parse_meta(y) {
                Ok((m, _)) => (Some(doc), Some(m), None),
                Err(e) => (
                    Some(doc),
                    None,
                    Some(format!("its YAML does not parse at line {}", e.line)),
                ),
            },
        },
    };
    Side {
        doc,
        meta,
        unreadable,
        text: text.to_string(),
    }
}

impl Side {
    fn has_front(&self) -> bool {
        self.doc.as_ref().is_some_and(|d| d.front.is_some()) || self.unreadable.is_some()
    }

    /// The front matter as written (or the whole file, when it cannot be split).
    fn raw_front(&self) -> String {
        match &self.doc {
            Some(d) => d.front.clone().unwrap_or_default(),
            None => self.text.clone(),
        }
    }

    fn body(&self) -> &str {
        self.doc
            .as_ref()
            .map_or(self.text.as_str(), |d| d.body.as_str())
    }
}

/// Merges three versions of one entry file given as bytes (what git hands the driver): as
/// [`merge_entry`] when all three are UTF-8, else as a line merge of the bytes, so that bytes
/// that are not UTF-8 reach the result unchanged. Returns the merged bytes, whether they hold
/// conflict markers, and the fields decided by the later `updated`.
///
/// # Errors
/// [`Error::Git`] when libgit2's text merge fails.
pub fn merge_files(
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
) -> Result<(Vec<u8>, bool, Vec<String>)> {
    match (
        std::str::from_utf8(base),
        std::str::from_utf8(ours),
        std::str::from_utf8(theirs),
    ) {
        (Ok(b), Ok(o), Ok(t)) => {
            let m = merge_entry(b, o, t)?;
            Ok((m.text.into_bytes(), m.conflict, m.decided))
        }
        _ => {
            let (bytes, conflict) = byte_merge(base, ours, theirs)?;
            Ok((bytes, conflict, Vec::new()))
        }
    }
}

/// What git's merge driver does with the three temporary files git hands it: merges them
/// ([`merge_files`]) and writes the result over `ours`, as git expects. Returns whether the
/// result holds conflict markers (git then marks the path conflicted) and the fields decided
/// by the later `updated`. These files are git's, outside the tree: they are not entry paths.
///
/// # Errors
/// [`Error::Io`] naming the file that cannot be read or written; [`Error::Git`].
pub fn driver(
    base: &std::path::Path,
    ours: &std::path::Path,
    theirs: &std::path::Path,
) -> Result<(bool, Vec<String>)> {
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| Error::io("cannot read", p, e));
    let (bytes, conflict, decided) = merge_files(&read(base)?, &read(ours)?, &read(theirs)?)?;
    std::fs::write(ours, &bytes).map_err(|e| Error::io("cannot write", ours, e))?;
    Ok((conflict, decided))
}

fn extra<'a>(m: &'a Meta, key: &str) -> Option<&'a Value> {
    m.extra.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Merges three versions of one entry file (see the module doc).
///
/// # Errors
/// [`Error::Git`] when libgit2's text merge fails.
pub fn merge_entry(base: &str, ours: &str, theirs: &str) -> Result<Merged> {
    let (b, o, t) = (read_side(base), read_side(ours), read_side(theirs));
    // A side without front matter, where another version has one, is unreadable too: reading
    // it as "every field removed" would drop the other side's fields.
    let any_front = b.has_front() || o.has_front() || t.has_front();
    let usable = |s: &Side| s.meta.is_some() && (s.has_front() || !any_front);
    let why = |s: &Side| {
        s.unreadable
            .clone()
            .unwrap_or_else(|| "it has no front matter".to_string())
    };
    match (usable(&o), usable(&t)) {
        (true, true) => {}
        (false, false) => {
            let (text, conflict) = text_merge(base, ours, theirs)?;
            return Ok(Merged {
                text,
                conflict,
                decided: Vec::new(),
            });
        }
        (ours_ok, _) => {
            // Keep the readable side whole; show the other side's front matter as a conflict.
            let (keep, other, other_label) = if ours_ok {
                (&o, &t, "theirs")
            } else {
                (&t, &o, "ours")
            };
            let kept = keep.doc.as_ref().expect("a usable side was split");
            let (body, _) = text_merge(b.body(), o.body(), t.body())?;
            let mut raw = other.raw_front();
            if !raw.is_empty() && !raw.ends_with('\n') {
                raw.push('\n');
            }
            let (mine, yours) = if ours_ok {
                (String::new(), raw)
            } else {
                (raw, String::new())
            };
            let block = format!(
                "<<<<<<< ours\n{mine}=======\n{yours}>>>>>>> theirs ({other_label}' front \
                 matter cannot be read: {}; memtree kept the other side's)\n",
                why(other)
            );
            return Ok(Merged {
                text: kept
                    .with(kept.front.clone(), format!("{block}{body}"))
                    .join(),
                conflict: true,
                decided: Vec::new(),
            });
        }
    }
    let bmeta = if usable(&b) {
        b.meta.clone().unwrap_or_default()
    } else {
        Meta::default()
    };
    let (ometa, tmeta) = (
        o.meta.clone().unwrap_or_default(),
        t.meta.clone().unwrap_or_default(),
    );
    let odoc = o.doc.clone().expect("a usable side was split");
    let time = |m: &Meta| {
        m.updated
            .as_deref()
            .or(m.created.as_deref())
            .and_then(entry::parse_time)
    };
    let theirs_later = time(&tmeta) > time(&ometa);
    let mut merged = ometa.clone();
    let mut decided = Vec::new();
    // Lists and relations: three-way sets.
    merged.aliases = merge_set(&bmeta.aliases, &ometa.aliases, &tmeta.aliases);
    merged.tags = merge_set(&bmeta.tags, &ometa.tags, &tmeta.tags);
    merged.scope = merge_set(&bmeta.scope, &ometa.scope, &tmeta.scope);
    merged.supersedes = merge_set(&bmeta.supersedes, &ometa.supersedes, &tmeta.supersedes);
    merged.relations = merge_set::<Relation>(&bmeta.relations, &ometa.relations, &tmeta.relations);
    // Times.
    merged.updated = match (time(&ometa), time(&tmeta)) {
        (_, Some(_)) if theirs_later => tmeta.updated.clone().or(ometa.updated.clone()),
        _ => ometa.updated.clone().or(tmeta.updated.clone()),
    };
    if ometa.created.is_none() {
        merged.created = tmeta.created.clone();
    }
    // Scalars: whichever side changed them.
    let scalar_keys = [
        "title",
        "kind",
        "summary",
        "importance",
        "maturity",
        "decay",
        "status",
        "superseded_by",
        "why",
        "date",
    ];
    for key in scalar_keys {
        let (b, o, t) = (
            entry::render_key(&bmeta, key),
            entry::render_key(&ometa, key),
            entry::render_key(&tmeta, key),
        );
        if o == t || t == b {
            continue; // ours already
        }
        if o != b {
            decided.push(key.to_string());
            if !theirs_later {
                continue;
            }
        }
        take_theirs(&mut merged, &tmeta, key);
    }
    // Unknown keys, as YAML values.
    let mut keys: Vec<String> = Vec::new();
    for m in [&ometa, &tmeta, &bmeta] {
        for (k, _) in &m.extra {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    for key in &keys {
        let (b, o, t) = (extra(&bmeta, key), extra(&ometa, key), extra(&tmeta, key));
        if o == t || t == b {
            continue;
        }
        if o != b {
            decided.push(key.clone());
            if !theirs_later {
                continue;
            }
        }
        merged.extra.retain(|(k, _)| k != key);
        if let Some(v) = t {
            merged.extra.push((key.clone(), v.clone()));
        }
    }
    // Front matter: ours, with the changed keys rewritten.
    let mut yaml = odoc.front.clone().unwrap_or_default();
    let mut all_keys: Vec<String> = CANONICAL_KEYS.iter().map(|k| k.to_string()).collect();
    all_keys.extend(keys);
    for key in &all_keys {
        let now = entry::render_key(&merged, key);
        if now != entry::render_key(&ometa, key) {
            yaml = entry::set_key(&yaml, key, now.as_deref());
        }
    }
    let (body, conflict) = text_merge(b.body(), o.body(), t.body())?;
    let front = if odoc.front.is_some() || !yaml.is_empty() {
        Some(yaml)
    } else {
        None
    };
    Ok(Merged {
        text: odoc.with(front, body).join(),
        conflict,
        decided,
    })
}

fn take_theirs(merged: &mut Meta, theirs: &Meta, key: &str) {
    match key {
        "title" => merged.title = theirs.title.clone(),
        "kind" => merged.kind = theirs.kind.clone(),
        "summary" => merged.summary = theirs.summary.clone(),
        "importance" => merged.importance = theirs.importance,
        "maturity" => merged.maturity = theirs.maturity.clone(),
        "decay" => merged.decay = theirs.decay.clone(),
        "status" => merged.status = theirs.status.clone(),
        "superseded_by" => merged.superseded_by = theirs.superseded_by.clone(),
        "why" => merged.why = theirs.why.clone(),
        "date" => merged.date = theirs.date.clone(),
        _ => {}
    }
}

/// The 1-based lines of `text` that are merge conflict markers (`<<<<<<< `, `=======`,
/// `>>>>>>> ` at the start of a line), for `check`.
pub fn conflict_markers(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            l.starts_with("<<<<<<< ") || l.starts_with(">>>>>>> ") || l.trim_end() == "======="
        })
        .map(|(i, _)| i + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "---\ntitle: Engine\n# our comment\naliases: [db]\ntags: [storage]\nimportance: 0.5\nupdated: 2026-11-01T00:00:00Z\n---\nLine one.\nLine two.\nLine three.\n";

    #[test]
    fn fields_merge_one_by_one() {
        let ours = BASE
            .replace("aliases: [db]", "aliases: [db, database]")
            .replace("Line one.", "Line one, ours.");
        let theirs = BASE
            .replace("aliases: [db]", "aliases: [db, engine]")
            .replace("tags: [storage]", "tags: []")
            .replace("importance: 0.5", "importance: 0.9")
            .replace("Line three.", "Line three, theirs.")
            .replace("2026-11-01", "2026-11-05");
        let m = merge_entry(BASE, &ours, &theirs).unwrap();
        assert!(!m.conflict, "{}", m.text);
        assert!(m.text.contains("# our comment\n"), "{}", m.text);
        assert!(
            m.text.contains("aliases: [db, database, engine]\n"),
            "{}",
            m.text
        );
        assert!(!m.text.contains("tags:"), "a removal sticks: {}", m.text);
        assert!(m.text.contains("importance: 0.9\n"), "{}", m.text);
        assert!(
            m.text.contains("updated: 2026-11-05T00:00:00Z\n"),
            "{}",
            m.text
        );
        assert!(
            m.text
                .ends_with("Line one, ours.\nLine two.\nLine three, theirs.\n"),
            "{}",
            m.text
        );
    }

    #[test]
    fn both_changed_the_same_field_the_later_update_wins() {
        let ours = BASE.replace("importance: 0.5", "importance: 0.2");
        let theirs = BASE
            .replace("importance: 0.5", "importance: 0.8")
            .replace("2026-11-01", "2026-11-09");
        let m = merge_entry(BASE, &ours, &theirs).unwrap();
        assert!(m.text.contains("importance: 0.8\n"), "{}", m.text);
        assert_eq!(m.decided, ["importance"]);
    }

    #[test]
    fn a_real_body_conflict_gets_markers() {
        let ours = BASE.replace("Line two.", "Line two, ours.");
        let theirs = BASE.replace("Line two.", "Line two, theirs.");
        let m = merge_entry(BASE, &ours, &theirs).unwrap();
        assert!(m.conflict);
        assert!(
            m.text.contains(
                "<<<<<<< ours\nLine two, ours.\n=======\nLine two, theirs.\n>>>>>>> theirs\n"
            ),
            "{}",
            m.text
        );
        assert_eq!(conflict_markers(&m.text).len(), 3);
    }

    /// See: issue 14, item 8. A side whose YAML is broken, or that has no front matter at
    /// all, does not make the merge drop the other side's fields: they are kept, and the
    /// unreadable front matter is shown in the body as a conflict naming the side.
    #[test]
    fn an_unreadable_side_keeps_the_other_sides_fields() {
        let ours = BASE.replace("aliases: [db]", "aliases: [db, database]");
        let theirs = BASE.replace("tags: [storage]", "tags: [storage\n");
        let m = merge_entry(BASE, &ours, &theirs).unwrap();
        assert!(m.conflict);
        let (front, body) = m.text.split_once("\n---\n").unwrap();
        assert_eq!(front, ours.split_once("\n---\n").unwrap().0);
        assert!(
            body.starts_with(
                "<<<<<<< ours\n=======\ntitle: Engine\n# our comment\naliases: [db]\ntags: \
                 [storage\n\nimportance: 0.5\nupdated: 2026-11-01T00:00:00Z\n>>>>>>> theirs \
                 (theirs' front matter cannot be read: its YAML does not parse at line"
            ),
            "{body}"
        );
        assert!(entry::parse_meta(&(front.trim_start_matches("---\n").to_string() + "\n")).is_ok());
        // Ours has none at all: theirs' fields are kept, and ours is named.
        let bare = "Line one.\nLine two.\nLine three.\n";
        let theirs = BASE.replace("importance: 0.5", "importance: 0.9");
        let m = merge_entry(BASE, bare, &theirs).unwrap();
        assert!(m.conflict);
        assert!(m.text.starts_with(theirs.split_once("\n---\n").unwrap().0));
        assert!(
            m.text.contains(
                ">>>>>>> theirs (ours' front matter cannot be read: it has no front matter;"
            ),
            "{}",
            m.text
        );
    }

    /// See: issue 14, item 8. Bytes that are not UTF-8 reach the merged file unchanged (they
    /// were replaced by U+FFFD).
    #[test]
    fn bytes_that_are_not_utf8_are_kept() {
        let base = b"---\ntitle: A\n---\nLatin-1: caf\xe9\nTwo.\nMiddle.\nThree.\n".to_vec();
        let ours = b"---\ntitle: A\n---\nLatin-1: caf\xe9\nTwo, ours.\nMiddle.\nThree.\n".to_vec();
        let theirs =
            b"---\ntitle: A\n---\nLatin-1: caf\xe9\nTwo.\nMiddle.\nThree, theirs.\n".to_vec();
        let (bytes, conflict, _) = merge_files(&base, &ours, &theirs).unwrap();
        assert!(!conflict);
        assert_eq!(
            bytes,
            b"---\ntitle: A\n---\nLatin-1: caf\xe9\nTwo, ours.\nMiddle.\nThree, theirs.\n".to_vec()
        );
    }
}
