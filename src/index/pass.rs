//! The writes of one sync, over the files its plan names: documents of removed files deleted,
//! changed files re-read (pass 1), then every entry whose own or neighbour text changed
//! indexed again (pass 2), all through one tantivy writer opened on first use and committed
//! once.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use tantivy::{IndexWriter, TantivyDocument, Term};

use super::manifest::{Invalid, Manifest, Stamp};
use super::sync::Seen;
use super::{SearchIndex, expand};
use crate::changeset::content_hash;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::tree::{SafePath, Tree};

type Writer = IndexWriter<TantivyDocument>;

/// The writer in `slot`, opened on first use (a sync that changes nothing never opens one).
fn open<'w>(
    slot: &'w mut Option<tantivy::Result<Writer>>,
    index: &SearchIndex,
    heap: usize,
) -> Result<&'w Writer> {
    slot.get_or_insert_with(|| index.writer(heap))
        .as_ref()
        .map_err(|e| Error::Index(e.to_string()))
}

/// One sync's writes; see the module documentation.
pub(super) struct Writes<'a> {
    tree: &'a Tree,
    index: &'a SearchIndex,
    /// The writer's memory budget, in bytes.
    heap: usize,
    /// The index is new: it holds nothing to delete.
    rebuilt: bool,
    writer: Option<tantivy::Result<Writer>>,
    /// Files whose indexed document is outdated: removed, or re-read with a new hash.
    stale: HashSet<String>,
    /// What the `follows` graph needs of the files pass 1 re-read.
    fresh: HashMap<String, expand::Node>,
    /// Changed files whose id another changed file also claims (`a/b/c.md` and
    /// `a/b/c/README.md`): `check` reports the clash, and both stay searchable.
    clashing: Vec<String>,
    /// Ids whose own text changed, or that were removed: pass 2 starts from them.
    seeds: Vec<String>,
    /// Documents added.
    pub(super) indexed: usize,
}

impl<'a> Writes<'a> {
    pub(super) fn new(tree: &'a Tree, index: &'a SearchIndex, heap: usize, rebuilt: bool) -> Self {
        Writes {
            tree,
            index,
            heap,
            rebuilt,
            writer: None,
            stale: HashSet::new(),
            fresh: HashMap::new(),
            clashing: Vec::new(),
            seeds: Vec::new(),
            indexed: 0,
        }
    }

    /// Deletes the documents of files gone from disk and forgets them.
    pub(super) fn remove(
        &mut self,
        removed: &[String],
        manifest: &mut Manifest,
        invalid: &mut Invalid,
    ) -> Result<()> {
        let rel_field = self.index.fields.rel;
        for rel in removed {
            open(&mut self.writer, self.index, self.heap)?
                .delete_term(Term::from_field_text(rel_field, rel));
            manifest.remove(rel);
            invalid.remove(rel);
            self.stale.insert(rel.clone());
            if let Some(id) = crate::tree::id_of_rel(rel) {
                self.seeds.push(id);
            }
        }
        Ok(())
    }

    /// Pass 1: re-reads the changed files, stamps them in the manifest, and keeps what pass 2
    /// needs of those whose content changed. Returns whether the manifest changed.
    pub(super) fn reread(
        &mut self,
        changed: &[String],
        stats: &Seen,
        manifest: &mut Manifest,
        invalid: &mut Invalid,
    ) -> Result<bool> {
        let tree = self.tree;
        let mut dirty = false;
        let bar = crate::progress::begin("indexing", changed.len() as u64);
        for rel in changed {
            bar.advance(1);
            let Ok(bytes) = tree.read_entry(&SafePath::from_walk(tree, rel)) else {
                continue; // vanished between the walk and now; the next check removes it
            };
            let hash = content_hash(&bytes);
            let (mtime_ns, size) = stats[rel];
            let stamp = Stamp {
                mtime_ns,
                size,
                hash,
            };
            let same = manifest
                .get(rel)
                .is_some_and(|s| s.hash == hash && s.size == size);
            dirty |= manifest.get(rel) != Some(&stamp);
            manifest.insert(rel.clone(), stamp);
            if same {
                continue;
            }
            // A new index holds nothing to delete. Each delete costs tantivy a scoring weight
            // (about 1 KB) until the commit: 100 MB of a 100k rebuild's peak before this check.
            let w = open(&mut self.writer, self.index, self.heap)?;
            if !self.rebuilt {
                w.delete_term(Term::from_field_text(self.index.fields.rel, rel));
            }
            self.stale.insert(rel.clone());
            match Record::parse_limited(rel, &bytes, &tree.display_path(rel), tree.max_file_bytes) {
                Ok(record) => {
                    invalid.remove(rel);
                    let s = &record.stored;
                    self.seeds.push(s.id.clone());
                    let node = expand::Node {
                        rel: rel.clone(),
                        prev: expand::previous_of(&s.id, &s.edges),
                    };
                    if let Some(other) = self.fresh.insert(s.id.clone(), node) {
                        self.clashing.push(other.rel);
                    }
                }
                Err(e) => {
                    invalid.insert(rel.clone(), e.to_string());
                }
            }
        }
        Ok(dirty)
    }

    /// Pass 2: indexes every entry whose own or neighbour text changed (the seeds and what
    /// links reach from them), and both files of an id two changed files claim.
    pub(super) fn reindex(&mut self) -> Result<()> {
        if self.seeds.is_empty() {
            return Ok(());
        }
        let (tree, index, heap) = (self.tree, self.index, self.heap);
        let searcher = index.searcher();
        let links = expand::Links::new(index, &searcher, &self.stale, &self.fresh);
        let affected = links.affected(&self.seeds);
        let mut cache: HashMap<String, Option<Rc<Record>>> = HashMap::new();
        let mut load = |id: &str| -> Option<Rc<Record>> {
            if let Some(r) = cache.get(id) {
                return r.clone();
            }
            if cache.len() > 256 {
                cache.clear();
            }
            let rel = links.rel(id)?;
            let bytes = tree.read_entry(&SafePath::from_walk(tree, &rel)).ok();
            let r = bytes
                .and_then(|b| Record::parse_limited(&rel, &b, &rel, tree.max_file_bytes).ok())
                .map(Rc::new);
            cache.insert(id.to_string(), r.clone());
            r
        };
        for id in &affected {
            let Some(rel) = links.rel(id) else { continue };
            let Some(record) = load(id) else { continue };
            let w = open(&mut self.writer, index, heap)?;
            if !self.stale.contains(&rel) && !self.rebuilt {
                // Unchanged itself, re-indexed for a neighbour's sake.
                w.delete_term(Term::from_field_text(index.fields.rel, &rel));
            }
            let expansion = expand::Expansion::gather(id, &links, &mut load);
            w.add_document(index.document(&record, &expansion))?;
            self.indexed += 1;
        }
        for rel in &self.clashing {
            let bytes = tree.read_entry(&SafePath::from_walk(tree, rel)).ok();
            let parsed =
                bytes.and_then(|b| Record::parse_limited(rel, &b, rel, tree.max_file_bytes).ok());
            let Some(record) = parsed else {
                continue;
            };
            let w = open(&mut self.writer, index, heap)?;
            let expansion = expand::Expansion::gather(&record.stored.id, &links, &mut load);
            w.add_document(index.document(&record, &expansion))?;
            self.indexed += 1;
        }
        Ok(())
    }

    /// Commits what was written (nothing when no writer was opened), waits for segment
    /// merges, and reloads the reader. Returns the number of documents added.
    pub(super) fn commit(self) -> Result<usize> {
        if let Some(w) = self.writer {
            let mut w = w.map_err(|e| Error::Index(e.to_string()))?;
            w.commit()?;
            w.wait_merging_threads()?;
            self.index.reader.reload()?;
        }
        Ok(self.indexed)
    }
}
