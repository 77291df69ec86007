//! The derived search index in `.memory/.cache/` (tantivy), and keeping it fresh.
//!
//! The files are the truth; the index is a cache that is rebuilt whenever in doubt: a missing
//! index, a schema version change ([`SCHEMA_VERSION`]), or an index that fails to open.
//!
//! Freshness ([`SearchIndex::open_synced`]) is checked on every use against a manifest of
//! `(path, mtime, size, content hash)`, at one of two levels ([`Freshness`]):
//!
//! - *Full scan*: walk the folders and stat every entry file (one `statx` per file, relative to
//!   its folder). Hand edits in place, saves by rename, `git checkout`, new and deleted files
//!   are all seen. Writes, `index` and trees of up to `index.full_scan_up_to` files (5,000 by
//!   default, about 12 ms of stats here) always do this.
//! - *Folder scan*, for larger trees between two full scans: stat only the folders listed in
//!   `.cache/folders` (about 200 for 10k entries, under a millisecond). A new, deleted or
//!   renamed file changes its folder's mtime, and so does every editor that saves by writing a
//!   temporary file and renaming it, so these are seen at once: only the folders whose mtime
//!   moved are listed again (and new subfolders walked); the files of the others are taken
//!   from the manifest. This partial listing does not count as a full scan. An edit that rewrites a file in place changes only the file's own mtime: it is
//!   seen at the next full scan, at most `index.full_scan_every_secs` (10 s by default) later,
//!   or at once with `memtree index`. Setting that to 0 makes every command scan in full.
//!
//! At 10k entries a full scan costs about 20 ms, at 100k about 180 ms (DESIGN.md §7 budgets
//! 15 and 40 ms for a whole query); see BENCHMARKS.md.
//!
//! Files whose stat changed are re-read and hashed; only a changed hash is re-indexed, so a
//! `touch` or a checkout that rewrites identical bytes costs a read, not an index commit. Files
//! and folders modified within two seconds of a manifest write are recorded with an unknown
//! mtime and checked again next time (git's "racy clean" problem: an edit in the same clock
//! tick as the previous check).
//!
//! Every change to the index happens under the tree's write lock, deletes by file path before
//! adding, and commits once per command.

pub mod analyzer;
pub mod expand;
mod freshness;
mod manifest;
mod pass;
mod readonly;
mod schema;
mod search;
mod sync;
mod typo;

pub use freshness::Freshness;
pub(crate) use manifest::write_cache_file;
pub use schema::Fields;
use schema::schema;

use std::path::PathBuf;
use std::time::Duration;

use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, ReloadPolicy};

use crate::error::{Error, Result};
use crate::tree::Tree;

/// Bumped whenever the schema, the analyzer or the indexed text changes; a mismatch rebuilds.
pub const SCHEMA_VERSION: u32 = 5;

const MANIFEST: &str = "manifest";
/// Folder mtimes and the time of the last full scan, for a folder scan (see [`Freshness`]).
const FOLDERS: &str = "folders";
const FOLDERS_HEADER: &str = "memtree-folders 1";
/// First line of the manifest; the number is [`SCHEMA_VERSION`].
const MANIFEST_HEADER: &str = "memtree-manifest 5";
const INDEX_DIR: &str = "index";
/// Suffix of the folder a rebuild is made in before it replaces [`INDEX_DIR`].
const BUILDING: &str = ".building";
const RACY_NS: i64 = 2_000_000_000;
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long a reader waits for another process's write before answering from the last
/// committed index instead.
const READER_WAIT: Duration = Duration::from_millis(500);

/// Where [`SearchIndex::sync_locked`] keeps the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// `.cache/index`, with the manifest and the other cache files.
    Disk,
    /// In memory, for this process only (the cache cannot be written).
    Memory,
}
/// Indexing memory for a rebuild or a large change, in bytes.
const WRITER_HEAP: usize = 50_000_000;
/// Indexing memory for a refresh of a few files (tantivy's minimum per thread), in bytes.
const SMALL_WRITER_HEAP: usize = 15_000_000;

/// What a freshness check did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SyncReport {
    /// The index was rebuilt from scratch (first use, schema change or damage).
    pub rebuilt: bool,
    /// Why it was rebuilt, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuild_reason: Option<String>,
    /// Files (re-)indexed.
    pub indexed: usize,
    /// Files removed from the index.
    pub removed: usize,
    /// Entry files in the tree.
    pub files: usize,
    /// Every file that cannot be indexed, with the reason (file and line): not only those
    /// found by this refresh, but all that are still broken.
    pub errors: Vec<String>,
    /// Not every file was stat'ed: a large tree between two full scans, where only the folders
    /// (and the files of folders that changed) were looked at; see [`Freshness`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub folders_only: bool,
    /// Set when the answer comes from the last committed index, which may be behind the files,
    /// because it could not be refreshed: why (another writer holds the lock, the cache is
    /// read-only). Readers never fail for these reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
    /// Set when there was no usable index and the cache could not be written: the index was
    /// built in memory for this command only (correct, but not kept), and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_memory: Option<String>,
}

/// An open, fresh index plus the analyzer that built it.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    /// The fields.
    pub fields: Fields,
    /// Cloning an analyzer copies its stop-word set, so one is kept and shared.
    analyzer: std::sync::Mutex<TextAnalyzer>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").finish_non_exhaustive()
    }
}

/// The indexes this process has open, by folder (at most a few: one per tree served).
mod cache {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use tantivy::{Index, IndexReader};

    /// What tantivy's `meta.json` held when the reader last loaded it (a few KB). Every commit
    /// (and every delete) rewrites that file; its contents, not its modification time, so that
    /// two commits within one tick of a coarse clock are told apart.
    pub(super) type Stamp = Option<Vec<u8>>;

    type Open = Vec<(PathBuf, Index, IndexReader, Stamp)>;

    static OPEN: Mutex<Open> = Mutex::new(Vec::new());
    const MAX: usize = 8;

    /// The stamp of the index in `dir` now (`None` when `meta.json` cannot be read).
    pub(super) fn stamp(dir: &Path) -> Stamp {
        std::fs::read(dir.join("meta.json")).ok()
    }

    /// The open index of `dir`, if this process opened it before, with the stamp its reader
    /// was last loaded at.
    pub(super) fn get(dir: &Path) -> Option<(Index, IndexReader, Stamp)> {
        let open = OPEN.lock().ok()?;
        open.iter()
            .find(|(d, ..)| d == dir)
            .map(|(_, i, r, s)| (i.clone(), r.clone(), s.clone()))
    }

    /// Remembers the index of `dir` and the stamp its reader was loaded at (replacing an older
    /// entry, after a rebuild or a reload).
    pub(super) fn put(dir: &Path, index: &Index, reader: &IndexReader, stamp: Stamp) {
        if let Ok(mut open) = OPEN.lock() {
            open.retain(|(d, ..)| d != dir);
            if open.len() >= MAX {
                open.remove(0);
            }
            open.push((dir.to_path_buf(), index.clone(), reader.clone(), stamp));
        }
    }
}

impl SearchIndex {
    fn index_dir(tree: &Tree) -> PathBuf {
        tree.cache_dir().join(INDEX_DIR)
    }

    fn manifest_path(tree: &Tree) -> PathBuf {
        tree.cache_dir().join(MANIFEST)
    }

    fn from_index(index: Index, fields: Fields) -> Result<SearchIndex> {
        let analyzer = analyzer::analyzer();
        index
            .tokenizers()
            .register(analyzer::ANALYZER, analyzer.clone());
        index.tokenizers().register(
            analyzer::PRE_ANALYZED,
            TextAnalyzer::from(tantivy::tokenizer::WhitespaceTokenizer::default()),
        );
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            fields,
            analyzer: std::sync::Mutex::new(analyzer),
        })
    }

    fn open_existing(tree: &Tree) -> Result<SearchIndex> {
        let dir = Self::index_dir(tree);
        let (schema, fields) = schema();
        // A long-running process (the MCP server) keeps its indexes open between calls. Its
        // reader reloads only when `meta.json` changed: a reload reopens every segment and
        // starts each one's document-store cache empty, so every stored document a query
        // reads would be decompressed again. The stamp is read before the reader loads, so a
        // commit in between only costs one more reload.
        let now = cache::stamp(&dir);
        if let Some((index, reader, loaded)) = cache::get(&dir) {
            let fresh = now.is_some() && now == loaded;
            if fresh || reader.reload().is_ok() {
                if !fresh {
                    cache::put(&dir, &index, &reader, now);
                }
                return Ok(SearchIndex {
                    index,
                    reader,
                    fields,
                    analyzer: std::sync::Mutex::new(analyzer::analyzer()),
                });
            }
        }
        let index = Index::open_in_dir(&dir)?;
        if index.schema() != schema {
            return Err(Error::Index("schema changed".into()));
        }
        let opened = Self::from_index(index, fields)?;
        cache::put(&dir, &opened.index, &opened.reader, now);
        Ok(opened)
    }

    /// Opens the committed index without writing anything, not even tantivy's lock files: for
    /// a cache folder the process cannot write (see [`readonly`]).
    fn open_read_only(tree: &Tree) -> Result<SearchIndex> {
        let dir = readonly::ReadOnlyDirectory::open(&Self::index_dir(tree))?;
        let index = Index::open(dir)?;
        let (schema, fields) = schema();
        if index.schema() != schema {
            return Err(Error::Index("schema changed".into()));
        }
        Self::from_index(index, fields)
    }
}
