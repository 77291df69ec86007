//! Document expansion along `follows` links: an entry is indexed with a discounted share of its
//! sequence neighbours' text, so a question worded like the turn before (or after) still finds it.
//!
//! This is anchor-text style document expansion (web search indexes a page with the text of the
//! links pointing at it). Neighbours are found along `follows` relations inside one folder only:
//! the previous entry at ×0.75 of the entry's own body weight, the next at ×0.25, and the entries
//! two steps away on either side at ×0.25. On LoCoMo (development split) this was the largest
//! single lever measured; doing it at index time beat spreading scores along the same links at
//! query time (see BENCHMARKS.md and `.memory/architecture/retrieval/neighbour-expansion`).
//!
//! Keeping it incremental: when an entry changes or disappears, every entry within two steps of
//! it, before and after the change, is indexed again ([`Links::affected`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use tantivy::Searcher;

use super::SearchIndex;
use crate::record::{Record, StoredMeta};

/// Weights in quarters of the entry's own weight: every own source is repeated
/// [`SCALE`] times as often as [`Record::search_parts`] asks, a neighbour's body as given here.
pub use crate::record::SCALE;
/// Weight of the previous entry's body, in quarters.
pub const PREV: usize = 3;
/// Weight of the next entry's body, in quarters.
pub const NEXT: usize = 1;
/// Weight of the entries two steps away (either side), in quarters.
pub const TWO_AWAY: usize = 1;

/// The folder id of an entry id (`a/b/c` → `a/b`).
pub fn folder_of(id: &str) -> &str {
    id.rsplit_once('/').map_or("", |(f, _)| f)
}

/// The entry `id` follows, when the relation stays inside its folder.
pub fn previous_of(id: &str, edges: &[crate::entry::Relation]) -> Option<String> {
    edges
        .iter()
        .find(|r| r.kind == "follows" && r.to != id && folder_of(&r.to) == folder_of(id))
        .map(|r| r.to.clone())
}

/// What the expansion needs to know about a re-read file.
#[derive(Debug, Clone)]
pub struct Node {
    /// File path relative to the root.
    pub rel: String,
    /// The entry it follows (same folder only).
    pub prev: Option<String>,
}

/// The `follows` graph after a change: the index for files that did not change, re-read files
/// for the rest.
pub struct Links<'a> {
    index: &'a SearchIndex,
    searcher: &'a Searcher,
    /// Paths whose indexed document is outdated (changed or removed).
    stale: &'a HashSet<String>,
    /// Re-read files by entry id.
    fresh: &'a HashMap<String, Node>,
    /// Re-read files by the id they follow.
    fresh_next: HashMap<&'a str, Vec<&'a str>>,
}

impl<'a> Links<'a> {
    /// A view of the graph: `stale` paths are ignored in the index, `fresh` nodes replace them.
    pub fn new(
        index: &'a SearchIndex,
        searcher: &'a Searcher,
        stale: &'a HashSet<String>,
        fresh: &'a HashMap<String, Node>,
    ) -> Links<'a> {
        let mut fresh_next: HashMap<&str, Vec<&str>> = HashMap::new();
        for (id, node) in fresh {
            if let Some(p) = &node.prev {
                fresh_next.entry(p.as_str()).or_default().push(id.as_str());
            }
        }
        for v in fresh_next.values_mut() {
            v.sort_unstable();
        }
        Links {
            index,
            searcher,
            stale,
            fresh,
            fresh_next,
        }
    }

    fn indexed(&self, id: &str) -> Option<StoredMeta> {
        self.index.by_id(self.searcher, id)
    }

    fn indexed_next(&self, id: &str) -> Vec<StoredMeta> {
        self.index
            .lookup(self.searcher, self.index.fields.follows, id)
            .into_iter()
            .filter_map(|a| self.index.stored(self.searcher, a))
            .collect()
    }

    /// The previous entry before the change (from the index).
    fn old_prev(&self, id: &str) -> Option<String> {
        self.indexed(id).and_then(|m| previous_of(&m.id, &m.edges))
    }

    /// The next entries before the change (from the index).
    fn old_next(&self, id: &str) -> Vec<String> {
        self.indexed_next(id)
            .into_iter()
            .filter(|m| previous_of(&m.id, &m.edges).as_deref() == Some(id))
            .map(|m| m.id)
            .collect()
    }

    /// The file path of `id` after the change.
    pub fn rel(&self, id: &str) -> Option<String> {
        if let Some(n) = self.fresh.get(id) {
            return Some(n.rel.clone());
        }
        self.indexed(id)
            .filter(|m| !self.stale.contains(&m.rel))
            .map(|m| m.rel)
    }

    /// The previous entry after the change.
    pub fn prev(&self, id: &str) -> Option<String> {
        if let Some(n) = self.fresh.get(id) {
            return n.prev.clone();
        }
        let m = self.indexed(id)?;
        if self.stale.contains(&m.rel) {
            return None;
        }
        previous_of(&m.id, &m.edges)
    }

    /// The next entries after the change, sorted by id.
    pub fn next(&self, id: &str) -> Vec<String> {
        let mut out: BTreeSet<String> = self
            .indexed_next(id)
            .into_iter()
            .filter(|m| !self.stale.contains(&m.rel))
            .filter(|m| previous_of(&m.id, &m.edges).as_deref() == Some(id))
            .map(|m| m.id)
            .collect();
        if let Some(v) = self.fresh_next.get(id) {
            out.extend(v.iter().map(|s| s.to_string()));
        }
        out.into_iter().collect()
    }

    /// Every entry within two `follows` steps of `ids`, before or after the change, `ids`
    /// included: the entries whose expanded text may have changed.
    pub fn affected(&self, ids: &[String]) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = BTreeSet::new();
        for id in ids {
            let mut frontier = vec![id.clone()];
            out.insert(id.clone());
            for _ in 0..2 {
                let mut nextf = Vec::new();
                for x in &frontier {
                    let around = self
                        .old_prev(x)
                        .into_iter()
                        .chain(self.prev(x))
                        .chain(self.old_next(x))
                        .chain(self.next(x));
                    for y in around {
                        if out.insert(y.clone()) {
                            nextf.push(y);
                        }
                    }
                }
                frontier = nextf;
            }
        }
        out
    }
}

/// The neighbour texts of one entry, with their weights in quarters.
#[derive(Debug, Default)]
pub struct Expansion {
    /// `(plain body text, weight in quarters)`.
    pub parts: Vec<(String, usize)>,
    /// Which of `parts` is the previous entry's body.
    pub previous: Option<usize>,
    /// Which of `parts` is the next entry's body.
    pub next: Option<usize>,
}

impl Expansion {
    /// The previous entry's body, if there is one.
    pub fn previous_text(&self) -> Option<&str> {
        self.previous.map(|i| self.parts[i].0.as_str())
    }

    /// The next entry's body, if there is one.
    pub fn next_text(&self) -> Option<&str> {
        self.next.map(|i| self.parts[i].0.as_str())
    }
}

impl Expansion {
    /// Gathers the neighbour bodies of `id` through `links`, reading records with `load`.
    pub fn gather(
        id: &str,
        links: &Links<'_>,
        load: &mut dyn FnMut(&str) -> Option<std::rc::Rc<Record>>,
    ) -> Expansion {
        let mut parts = Vec::new();
        let mut push = |x: &str, w: usize, parts: &mut Vec<(String, usize)>| {
            if w > 0
                && let Some(r) = load(x)
            {
                parts.push((r.plain.clone(), w));
                Some(parts.len() - 1)
            } else {
                None
            }
        };
        let (mut previous, mut next) = (None, None);
        if let Some(p) = links.prev(id) {
            previous = push(&p, PREV, &mut parts);
            if let Some(pp) = links.prev(&p)
                && pp != id
            {
                push(&pp, TWO_AWAY, &mut parts);
            }
        }
        if let Some(n) = links.next(id).first() {
            next = push(n, NEXT, &mut parts);
            if let Some(nn) = links.next(n).first()
                && nn != id
            {
                push(nn, TWO_AWAY, &mut parts);
            }
        }
        Expansion {
            parts,
            previous,
            next,
        }
    }
}
