//! Bringing the index up to date with the files under the tree's write lock: the plan (what
//! changed since the manifest), re-reading and re-indexing, and rebuilds.

use std::collections::{HashMap, HashSet};
use std::fs;

use tantivy::{Index, TantivyDocument, Term};

use super::Freshness;
use super::freshness::{FolderScan, folder_scan, partial_walk, save_folders};
use super::manifest::{
    Invalid, Manifest, Stamp, load_invalid, load_manifest, manifest_matches, save_invalid,
    save_manifest,
};
use super::schema::schema;
use super::{
    BUILDING, FOLDERS, INDEX_DIR, LOCK_WAIT, READER_WAIT, SMALL_WRITER_HEAP, SearchIndex,
    SyncReport, Target, WRITER_HEAP, cache, expand,
};
use crate::changeset::content_hash;
use crate::error::{Error, Result};
use crate::record::Record;
use crate::tree::{SafePath, Tree, WriteLock, now_ns};

/// A planned change to the index.
#[derive(Default)]
pub(super) struct Plan {
    /// Files whose stat changed: re-read, and re-indexed if their hash changed.
    changed: Vec<String>,
    /// Files gone from disk.
    removed: Vec<String>,
    files: usize,
}

/// `(mtime_ns, size)` of every changed file the walk saw.
pub(super) type Seen = HashMap<String, (i64, u64)>;

pub(super) fn plan(walk: &crate::tree::Walk, manifest: &Manifest) -> (Plan, Seen) {
    let mut plan = Plan {
        files: walk.files.len(),
        ..Plan::default()
    };
    let mut stats = HashMap::new();
    let mut known = 0;
    for f in &walk.files {
        let stamp = manifest.get(&f.rel);
        known += usize::from(stamp.is_some());
        let fresh =
            stamp.is_some_and(|s| s.mtime_ns == f.mtime_ns && s.size == f.size && s.mtime_ns != 0);
        if !fresh {
            plan.changed.push(f.rel.clone());
            stats.insert(f.rel.clone(), (f.mtime_ns, f.size));
        }
    }
    // Every manifest path the walk saw is `known`; only when some were not seen, find which.
    if known < manifest.len() {
        let seen: HashSet<&str> = walk.files.iter().map(|f| f.rel.as_str()).collect();
        plan.removed = manifest
            .keys()
            .filter(|rel| !seen.contains(String::as_str(rel)))
            .cloned()
            .collect();
    }
    (plan, stats)
}

impl SearchIndex {
    /// Opens the index of `tree`, bringing it up to date with the files first (see the module
    /// doc). `lock` is the caller's write lock if it holds one; otherwise the lock is taken only
    /// when something must change.
    ///
    /// # Errors
    /// Only when the cache folder cannot be written or the lock cannot be had; a damaged index
    /// is rebuilt, and files that fail to parse are listed in the report, not raised.
    pub fn open_synced(
        tree: &Tree,
        lock: Option<&WriteLock>,
        freshness: Freshness,
    ) -> Result<(SearchIndex, SyncReport)> {
        let manifest_path = Self::manifest_path(tree);
        let folders_path = tree.cache_dir().join(FOLDERS);
        let scan = if freshness.full {
            FolderScan::Full
        } else {
            fs::read_to_string(&folders_path).map_or(FolderScan::Full, |text| {
                folder_scan(tree, &text, freshness.up_to, freshness.every_secs)
            })
        };
        match scan {
            FolderScan::Full => {}
            FolderScan::Unchanged => {
                if let Ok(index) = Self::open_existing(tree) {
                    let report = SyncReport {
                        files: index.num_docs() as usize,
                        folders_only: true,
                        ..SyncReport::default()
                    };
                    return Ok((index, report));
                }
            }
            FolderScan::Dirty {
                scanned_ns,
                dirty,
                trusted,
            } => {
                // List only the folders that changed, under the lock. A damaged index is
                // rebuilt by `sync_locked` from the same walk.
                let _guard = match Self::reader_lock(tree, lock) {
                    Ok(g) => g,
                    Err(reason) => return Self::fallback(tree, reason),
                };
                if let Some(manifest) = load_manifest(&manifest_path) {
                    let walk = partial_walk(tree, &manifest, &dirty, trusted);
                    let synced = Self::sync_locked(
                        tree,
                        false,
                        Some((walk, Some(manifest))),
                        freshness.up_to,
                        scanned_ns,
                        Target::Disk,
                    );
                    let (index, mut report) = match synced {
                        Err(e) if lock.is_none() => return Self::fallback(tree, e.to_string()),
                        other => other?,
                    };
                    report.folders_only = true;
                    return Ok((index, report));
                }
            }
        }
        let mut seen = None;
        if let Ok(text) = fs::read_to_string(&manifest_path)
            && let Ok(index) = Self::open_existing(tree)
        {
            let walk = tree.walk()?;
            if manifest_matches(&text, &walk.files) {
                if walk.files.len() > freshness.up_to {
                    // Best effort: a read-only cache only costs the next check a full scan.
                    let _ = save_folders(&folders_path, &walk.dirs, walk.files.len(), now_ns());
                }
                let report = SyncReport {
                    files: walk.files.len(),
                    ..SyncReport::default()
                };
                return Ok((index, report));
            }
            seen = Some((text, walk));
        }
        // Something must change: take the lock (unless held) and decide again under it. The
        // walk is reused unless another writer changed the manifest while we waited.
        let _guard = match Self::reader_lock(tree, lock) {
            Ok(g) => g,
            Err(reason) => return Self::fallback(tree, reason),
        };
        let walk = seen.and_then(|(before, walk)| {
            (fs::read_to_string(&manifest_path).ok().as_deref() == Some(before.as_str()))
                .then_some((walk, None))
        });
        match Self::sync_locked(tree, false, walk, freshness.up_to, now_ns(), Target::Disk) {
            Err(e) if lock.is_none() => Self::fallback(tree, e.to_string()),
            other => other,
        }
    }

    pub(super) fn lock_unless_held(
        tree: &Tree,
        held: Option<&WriteLock>,
    ) -> Result<Option<WriteLock>> {
        match held {
            Some(_) => Ok(None),
            None => WriteLock::acquire(tree, LOCK_WAIT).map(Some),
        }
    }

    /// The lock for a refresh. A writer passes the lock it holds. A reader waits at most
    /// [`READER_WAIT`]; `Err` says why it cannot refresh (another process is writing, or the
    /// cache cannot be written), and the reader answers through [`SearchIndex::fallback`].
    pub(super) fn reader_lock(
        tree: &Tree,
        held: Option<&WriteLock>,
    ) -> std::result::Result<Option<WriteLock>, String> {
        if held.is_some() {
            return Ok(None);
        }
        match WriteLock::acquire(tree, READER_WAIT) {
            Ok(l) => Ok(Some(l)),
            Err(Error::Busy { .. }) => Err("another memtree process is writing the index".into()),
            Err(e) => Err(format!("the cache cannot be written ({e})")),
        }
    }

    /// A reader's answer when the index cannot be refreshed: the last committed index, marked
    /// stale with `reason`; or, when there is none, an index built in memory for this command.
    pub(super) fn fallback(tree: &Tree, reason: String) -> Result<(SearchIndex, SyncReport)> {
        let opened = Self::open_existing(tree).or_else(|_| Self::open_read_only(tree));
        if let Ok(index) = opened {
            let report = SyncReport {
                files: index.num_docs() as usize,
                stale: Some(reason),
                ..SyncReport::default()
            };
            return Ok((index, report));
        }
        let (index, mut report) =
            Self::sync_locked(tree, true, None, usize::MAX, now_ns(), Target::Memory)?;
        report.in_memory = Some(reason);
        Ok((index, report))
    }

    /// Rebuilds the index from the files, whatever its state. The caller must hold the lock
    /// (or pass `None` to have it taken).
    ///
    /// # Errors
    /// As [`SearchIndex::open_synced`].
    pub fn rebuild(tree: &Tree, lock: Option<&WriteLock>) -> Result<(SearchIndex, SyncReport)> {
        let _guard = Self::lock_unless_held(tree, lock)?;
        Self::sync_locked(tree, true, None, usize::MAX, now_ns(), Target::Disk)
    }

    /// Brings the index up to date under the lock. `prepared` is a walk of the tree taken after
    /// the manifest was last written, and that manifest if already loaded, when the caller has
    /// them; `scanned_ns` is when every file was last stat'ed (recorded in `folders` for trees
    /// over `up_to` files).
    pub(super) fn sync_locked(
        tree: &Tree,
        force_rebuild: bool,
        prepared: Option<(crate::tree::Walk, Option<Manifest>)>,
        up_to: usize,
        scanned_ns: i64,
        target: Target,
    ) -> Result<(SearchIndex, SyncReport)> {
        let force_rebuild = force_rebuild || target == Target::Memory;
        let (walk, loaded) = match prepared {
            Some((w, m)) => (Some(w), m),
            None => (None, None),
        };
        let manifest_path = Self::manifest_path(tree);
        let mut report = SyncReport::default();
        let mut manifest = if force_rebuild {
            report.rebuild_reason = Some("asked".into());
            None
        } else {
            loaded.or_else(|| load_manifest(&manifest_path))
        };
        if manifest.is_none() && report.rebuild_reason.is_none() {
            report.rebuild_reason = Some("no index yet, or an index of another version".into());
        }
        let mut index = match manifest {
            Some(_) => match Self::open_existing(tree) {
                Ok(i) => Some(i),
                Err(e) => {
                    report.rebuild_reason = Some(format!("the index failed to open ({e})"));
                    manifest = None;
                    None
                }
            },
            None => None,
        };
        if index.is_none() && target == Target::Memory {
            report.rebuilt = true;
            let (schema, fields) = schema();
            index = Some(Self::from_index(Index::create_in_ram(schema), fields)?);
        }
        // A rebuild is made in a sibling folder and swapped in once committed, so that a reader
        // never opens an empty or half-built index.
        let mut building = None;
        if index.is_none() {
            report.rebuilt = true;
            // Through the safe-path routine: a `.cache` that is a link is never emptied.
            let safe = tree.safe(&format!("{}/{INDEX_DIR}{BUILDING}", crate::tree::CACHE_DIR))?;
            let dir = safe.abs().to_path_buf();
            if fs::symlink_metadata(&dir).is_ok() {
                fs::remove_dir_all(&dir).map_err(|e| Error::io("cannot remove", &dir, e))?;
            }
            tree.create_parents(&safe)?;
            fs::create_dir(&dir).map_err(|e| Error::io("cannot create folder", &dir, e))?;
            let (schema, fields) = schema();
            let idx = Index::create_in_dir(&dir, schema)?;
            index = Some(Self::from_index(idx, fields)?);
            building = Some(dir);
        }
        let mut index = index.expect("opened or created above");
        let mut manifest = manifest.unwrap_or_default();
        let walk = match walk {
            Some(w) => w,
            None => tree.walk()?,
        };
        let (plan, stats) = plan(&walk, &manifest);
        let dirs = walk.dirs;
        let heap = if plan.changed.len() + plan.removed.len() > 1000 {
            WRITER_HEAP
        } else {
            SMALL_WRITER_HEAP
        };
        report.files = plan.files;

        let mut writer = None;
        let f = index.fields;
        // Files whose indexed document is outdated: removed, or re-read with a new hash.
        let mut stale: HashSet<String> = HashSet::new();
        for rel in &plan.removed {
            let w = writer.get_or_insert_with(|| index.writer(heap));
            let w = w.as_ref().map_err(|e| Error::Index(e.to_string()))?;
            w.delete_term(Term::from_field_text(f.rel, rel));
            manifest.remove(rel);
            stale.insert(rel.clone());
            report.removed += 1;
        }
        let mut manifest_dirty = !plan.removed.is_empty() || report.rebuilt;
        // Files that do not parse, kept across runs so `index` and `stats` always list them.
        let mut invalid = if report.rebuilt {
            Invalid::new()
        } else {
            load_invalid(tree)
        };
        let invalid_before = invalid.clone();
        for rel in &plan.removed {
            invalid.remove(rel);
        }
        // Pass 1: re-read changed files, keep what the `follows` graph needs.
        let mut fresh: HashMap<String, expand::Node> = HashMap::new();
        // Changed files whose id another changed file also claims (`a/b/c.md` and
        // `a/b/c/README.md`): `check` reports the clash, and both stay searchable.
        let mut clashing: Vec<String> = Vec::new();
        let mut seeds: Vec<String> = Vec::new();
        let bar = crate::progress::begin("indexing", plan.changed.len() as u64);
        for rel in &plan.changed {
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
            manifest_dirty |= manifest.get(rel) != Some(&stamp);
            manifest.insert(rel.clone(), stamp);
            if same {
                continue;
            }
            let w = writer.get_or_insert_with(|| index.writer(heap));
            let w = w.as_ref().map_err(|e| Error::Index(e.to_string()))?;
            // A new index holds nothing to delete. Each delete costs tantivy a scoring weight
            // (about 1 KB) until the commit: 100 MB of a 100k rebuild's peak before this check.
            if !report.rebuilt {
                w.delete_term(Term::from_field_text(f.rel, rel));
            }
            stale.insert(rel.clone());
            match Record::parse_limited(rel, &bytes, &tree.display_path(rel), tree.max_file_bytes) {
                Ok(record) => {
                    invalid.remove(rel);
                    let s = &record.stored;
                    seeds.push(s.id.clone());
                    let node = expand::Node {
                        rel: rel.clone(),
                        prev: expand::previous_of(&s.id, &s.edges),
                    };
                    if let Some(other) = fresh.insert(s.id.clone(), node) {
                        clashing.push(other.rel);
                    }
                }
                Err(e) => {
                    invalid.insert(rel.clone(), e.to_string());
                }
            }
        }
        for rel in &plan.removed {
            if let Some(id) = crate::tree::id_of_rel(rel) {
                seeds.push(id);
            }
        }
        // Pass 2: index every entry whose own or neighbour text changed.
        if !seeds.is_empty() {
            let searcher = index.searcher();
            let links = expand::Links::new(&index, &searcher, &stale, &fresh);
            let affected = links.affected(&seeds);
            let mut cache: HashMap<String, Option<std::rc::Rc<Record>>> = HashMap::new();
            let mut load = |id: &str| -> Option<std::rc::Rc<Record>> {
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
                    .map(std::rc::Rc::new);
                cache.insert(id.to_string(), r.clone());
                r
            };
            for id in &affected {
                let Some(rel) = links.rel(id) else { continue };
                let Some(record) = load(id) else { continue };
                let w = writer.get_or_insert_with(|| index.writer(heap));
                let w = w.as_ref().map_err(|e| Error::Index(e.to_string()))?;
                if !stale.contains(&rel) && !report.rebuilt {
                    // Unchanged itself, re-indexed for a neighbour's sake.
                    w.delete_term(Term::from_field_text(f.rel, &rel));
                }
                let expansion = expand::Expansion::gather(id, &links, &mut load);
                w.add_document(index.document(&record, &expansion.parts))?;
                report.indexed += 1;
            }
            for rel in &clashing {
                let bytes = tree.read_entry(&SafePath::from_walk(tree, rel)).ok();
                let parsed = bytes
                    .and_then(|b| Record::parse_limited(rel, &b, rel, tree.max_file_bytes).ok());
                let Some(record) = parsed else {
                    continue;
                };
                let w = writer.get_or_insert_with(|| index.writer(heap));
                let w = w.as_ref().map_err(|e| Error::Index(e.to_string()))?;
                let expansion = expand::Expansion::gather(&record.stored.id, &links, &mut load);
                w.add_document(index.document(&record, &expansion.parts))?;
                report.indexed += 1;
            }
        }
        if let Some(w) = writer {
            let mut w = w.map_err(|e| Error::Index(e.to_string()))?;
            w.commit()?;
            w.wait_merging_threads()?;
            index.reader.reload()?;
        }
        report.errors = invalid.values().cloned().collect();
        if target == Target::Memory {
            return Ok((index, report));
        }
        if let Some(built) = building {
            drop(index);
            index = Self::swap_in(tree, &built)?;
        }
        if manifest_dirty {
            save_manifest(&manifest_path, &manifest)?;
        }
        if invalid != invalid_before {
            save_invalid(tree, &invalid)?;
        }
        let folders_path = tree.cache_dir().join(FOLDERS);
        if plan.files > up_to {
            save_folders(&folders_path, &dirs, plan.files, scanned_ns)?;
        } else if folders_path.exists() {
            // Small now (or a rebuild): the next check must scan every file.
            let _ = fs::remove_file(&folders_path);
        }
        Ok((index, report))
    }

    /// Puts the index built in `built` (`.cache/index.building`) in place of `.cache/index`
    /// in one `renameat2(RENAME_EXCHANGE)` (a plain rename when there was none), removes the
    /// old one, and opens the new one from its final folder.
    fn swap_in(tree: &Tree, built: &std::path::Path) -> Result<SearchIndex> {
        let dir = Self::index_dir(tree);
        let exchanged = rustix::fs::renameat_with(
            rustix::fs::CWD,
            built,
            rustix::fs::CWD,
            &dir,
            rustix::fs::RenameFlags::EXCHANGE,
        );
        match exchanged {
            Ok(()) => {
                fs::remove_dir_all(built).map_err(|e| Error::io("cannot remove", built, e))?;
            }
            Err(_) => {
                // No index there yet (or no exchange on this filesystem): a plain replace.
                if fs::symlink_metadata(&dir).is_ok() {
                    fs::remove_dir_all(&dir).map_err(|e| Error::io("cannot remove", &dir, e))?;
                }
                fs::rename(built, &dir).map_err(|e| Error::io("cannot rename", built, e))?;
            }
        }
        let (schema, fields) = schema();
        let opened = Self::from_index(Index::open_in_dir(&dir)?, fields)?;
        if opened.index.schema() != schema {
            return Err(Error::Index("schema changed".into()));
        }
        cache::put(&dir, &opened.index, &opened.reader);
        Ok(opened)
    }

    pub(super) fn writer(
        &self,
        heap: usize,
    ) -> tantivy::Result<tantivy::IndexWriter<TantivyDocument>> {
        self.index.writer_with_num_threads(1, heap)
    }

    /// Every file the index could not read (file, line and message each), as of its last
    /// refresh: files that do not parse stay listed until they are fixed or removed.
    pub fn invalid_files(tree: &Tree) -> Vec<String> {
        load_invalid(tree).into_values().collect()
    }
}
