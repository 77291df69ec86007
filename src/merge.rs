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
//! so our formatting and comments survive. A side whose front matter does not parse falls back
//! to a text merge of the whole file.

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
    // `git2::merge_file` does not initialise libgit2 itself (every other entry point does);
    // without it the call fails at random with "no error". Creating a buffer initialises it.
    drop(git2::Buf::new());
    let mut b = git2::MergeFileInput::new();
    b.content(base.as_bytes());
    let mut o = git2::MergeFileInput::new();
    o.content(ours.as_bytes());
    let mut t = git2::MergeFileInput::new();
    t.content(theirs.as_bytes());
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
    let text = String::from_utf8_lossy(r.content()).into_owned();
    // Markers that none of the inputs had are the merge's own.
    let before = conflict_markers(ours)
        .len()
        .max(conflict_markers(theirs).len());
    let conflict = !r.is_automergeable() || conflict_markers(&text).len() > before;
    Ok((text, conflict))
}

fn parse(text: &str) -> Option<(Document, Meta)> {
    let doc = Document::split(text).ok()?;
    let meta = match &doc.front {
        Some(y) => entry::parse_meta(y).ok()?.0,
        None => Meta::default(),
    };
    Some((doc, meta))
}

fn extra<'a>(m: &'a Meta, key: &str) -> Option<&'a Value> {
    m.extra.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Merges three versions of one entry file (see the module doc).
///
/// # Errors
/// [`Error::Git`] when libgit2's text merge fails.
pub fn merge_entry(base: &str, ours: &str, theirs: &str) -> Result<Merged> {
    let (Some((bdoc, bmeta)), Some((odoc, ometa)), Some((tdoc, tmeta))) =
        (parse(base), parse(ours), parse(theirs))
    else {
        let (text, conflict) = text_merge(base, ours, theirs)?;
        return Ok(Merged {
            text,
            conflict,
            decided: Vec::new(),
        });
    };
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
    let (body, conflict) = text_merge(&bdoc.body, &odoc.body, &tdoc.body)?;
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
}
