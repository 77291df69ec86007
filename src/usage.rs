//! Usage signals: how often and how recently each entry was returned, per machine, in
//! `.memory/.cache` (DESIGN.md §2: volatile signals never go into committed files, so a query
//! never changes a tracked file and never causes a merge conflict).
//!
//! A query appends one line per returned hit to `.cache/usage.log` (`<unix seconds>\t<id>`)
//! with a single `O_APPEND` write, without the write lock: appends of a few hundred bytes are
//! atomic on local filesystems, and a lost line only loses a count. `consolidate` folds the log
//! into `.cache/usage` (`<count>\t<last seconds>\t<id>`) under the lock. Everything here is best
//! effort: a read-only cache records nothing and still answers.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::tree::{CACHE_DIR, Tree};

const LOG: &str = "usage.log";
const SUMMARY: &str = "usage";

/// How an entry has been used on this machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Use {
    /// Times it was returned by a query or a bundle.
    pub hits: u64,
    /// Unix seconds of the last time.
    pub last: i64,
}

/// Usage by entry id.
pub type Usage = HashMap<String, Use>;

/// Records that `ids` were returned at `now` (Unix seconds). Never fails.
pub fn record<'a>(tree: &Tree, ids: impl IntoIterator<Item = &'a str>, now: i64) {
    let mut lines = String::new();
    for id in ids {
        if !id.contains(['\t', '\n']) {
            let _ = writeln!(lines, "{now}\t{id}");
        }
    }
    if lines.is_empty() {
        return;
    }
    if let Ok(p) = tree.safe(&format!("{CACHE_DIR}/{LOG}")) {
        let _ = tree.append(&p, lines.as_bytes());
    }
}

fn read(tree: &Tree, name: &str) -> String {
    tree.safe(&format!("{CACHE_DIR}/{name}"))
        .ok()
        .and_then(|p| tree.read(&p).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Usage so far: the folded summary plus the log.
pub fn load(tree: &Tree) -> Usage {
    load_with(tree, LOG)
}

fn load_with(tree: &Tree, log: &str) -> Usage {
    let mut usage = Usage::new();
    for line in read(tree, SUMMARY).lines() {
        let mut parts = line.splitn(3, '\t');
        if let (Some(h), Some(l), Some(id)) = (parts.next(), parts.next(), parts.next())
            && let (Ok(hits), Ok(last)) = (h.parse(), l.parse())
        {
            usage.insert(id.to_string(), Use { hits, last });
        }
    }
    for line in read(tree, log).lines() {
        if let Some((t, id)) = line.split_once('\t')
            && let Ok(t) = t.parse::<i64>()
        {
            let u = usage.entry(id.to_string()).or_default();
            u.hits += 1;
            u.last = u.last.max(t);
        }
    }
    usage
}

/// Folds the log into the summary (renamed ids are carried by `renames`, old → new). Call under
/// the write lock. Best effort.
pub fn fold(tree: &Tree, renames: &HashMap<String, String>) {
    // Move the log aside first, so that lines appended meanwhile go to a new log.
    let (Ok(summary), Ok(log), Ok(folding)) = (
        tree.safe(&format!("{CACHE_DIR}/{SUMMARY}")),
        tree.safe(&format!("{CACHE_DIR}/{LOG}")),
        tree.safe(&format!("{CACHE_DIR}/{LOG}.folding")),
    ) else {
        return;
    };
    let _ = std::fs::rename(log.abs(), folding.abs());
    let mut usage = load_with(tree, &format!("{LOG}.folding"));
    for (from, to) in renames {
        if let Some(u) = usage.remove(from) {
            let t = usage.entry(to.clone()).or_default();
            t.hits += u.hits;
            t.last = t.last.max(u.last);
        }
    }
    let mut ids: Vec<&String> = usage.keys().collect();
    ids.sort();
    let mut out = String::new();
    for id in ids {
        let u = usage[id];
        let _ = writeln!(out, "{}\t{}\t{id}", u.hits, u.last);
    }
    if tree.write_atomic(&summary, out.as_bytes()).is_ok() {
        let _ = std::fs::remove_file(folding.abs());
    }
}
