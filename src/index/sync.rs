//! Bringing the index up to date with the files under the tree's write lock: the plan (what
//! changed since the manifest), re-reading and re-indexing, and rebuilds.

use std::collections::{HashMap, HashSet};
use std::fs;

use tantivy::{Index, TantivyDocument};

use super::Freshness;
use super::freshness::{FolderScan, folder_scan, partial_walk, save_folders};
use super::manifest::{
    Invalid, Manifest, load_invalid, load_manifest, manifest_matches, save_invalid, save_manifest,
};
use super::pass::Writes;
use super::schema::schema;
use super::{
    BUILDING, FOLDERS, INDEX_DIR, LOCK_WAIT, READER_WAIT, SMALL_WRITER_HEAP, SearchIndex,
    SyncReport, Target, WRITER_HEAP, cache,
};
use crate::error::{Error, Result};
use crate::tree::{Tree, WriteLock, now_ns};

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
        let (mut index, mut manifest, building) =
            Self::open_or_create(tree, force_rebuild, loaded, target, &mut report)?;
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

        // Files that do not parse, kept across runs so `index` and `stats` always list them.
        let mut invalid = if report.rebuilt {
            Invalid::new()
        } else {
            load_invalid(tree)
        };
        let invalid_before = invalid.clone();
        let mut writes = Writes::new(tree, &index, heap, report.rebuilt);
        writes.remove(&plan.removed, &mut manifest, &mut invalid)?;
        report.removed = plan.removed.len();
        let reread_dirty = writes.reread(&plan.changed, &stats, &mut manifest, &mut invalid)?;
        let manifest_dirty = !plan.removed.is_empty() || report.rebuilt || reread_dirty;
        writes.reindex()?;
        report.indexed = writes.commit()?;
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

    /// The index a sync writes into and the manifest it matches: the index on disk, or for a
    /// rebuild (asked for, none yet, another version, or one that fails to open; `report`
    /// says which) a new one, in RAM for [`Target::Memory`], else in `.cache/index.building`,
    /// whose folder is returned to be swapped in once committed, so that a reader never opens
    /// an empty or half-built index.
    fn open_or_create(
        tree: &Tree,
        force_rebuild: bool,
        loaded: Option<Manifest>,
        target: Target,
        report: &mut SyncReport,
    ) -> Result<(SearchIndex, Manifest, Option<std::path::PathBuf>)> {
        let manifest = if force_rebuild {
            report.rebuild_reason = Some("asked".into());
            None
        } else {
            loaded.or_else(|| load_manifest(&Self::manifest_path(tree)))
        };
        if manifest.is_none() && report.rebuild_reason.is_none() {
            report.rebuild_reason = Some("no index yet, or an index of another version".into());
        }
        if let Some(manifest) = manifest {
            match Self::open_existing(tree) {
                Ok(index) => return Ok((index, manifest, None)),
                Err(e) => report.rebuild_reason = Some(format!("the index failed to open ({e})")),
            }
        }
        report.rebuilt = true;
        let (schema, fields) = schema();
        if target == Target::Memory {
            let index = Self::from_index(Index::create_in_ram(schema), fields)?;
            return Ok((index, Manifest::default(), None));
        }
        // Through the safe-path routine: a `.cache` that is a link is never emptied.
        let safe = tree.safe(&format!("{}/{INDEX_DIR}{BUILDING}", crate::tree::CACHE_DIR))?;
        let dir = safe.abs().to_path_buf();
        if fs::symlink_metadata(&dir).is_ok() {
            fs::remove_dir_all(&dir).map_err(|e| Error::io("cannot remove", &dir, e))?;
        }
        tree.create_parents(&safe)?;
        fs::create_dir(&dir).map_err(|e| Error::io("cannot create folder", &dir, e))?;
        let index = Self::from_index(Index::create_in_dir(&dir, schema)?, fields)?;
        Ok((index, Manifest::default(), Some(dir)))
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
        // Stamped before the reader loads, so a commit in between only costs a reload.
        let stamp = cache::stamp(&dir);
        let opened = Self::from_index(Index::open_in_dir(&dir)?, fields)?;
        if opened.index.schema() != schema {
            return Err(Error::Index("schema changed".into()));
        }
        cache::put(&dir, &opened.index, &opened.reader, stamp);
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
