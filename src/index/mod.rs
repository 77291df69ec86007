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
mod readonly;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocAddress, DocSet, Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, Term,
};

use crate::error::{Error, Result};
use crate::record::{Record, StoredMeta};
use crate::tree::{SafePath, Tree, WriteLock, now_ns};

/// Bumped whenever the schema, the analyzer or the indexed text changes; a mismatch rebuilds.
pub const SCHEMA_VERSION: u32 = 2;

const MANIFEST: &str = "manifest";
/// Folder mtimes and the time of the last full scan, for a folder scan (see [`Freshness`]).
const FOLDERS: &str = "folders";
const FOLDERS_HEADER: &str = "memtree-folders 1";
/// First line of the manifest; the number is [`SCHEMA_VERSION`].
const MANIFEST_HEADER: &str = "memtree-manifest 2";
const INDEX_DIR: &str = "index";
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

/// The tantivy fields.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// File path relative to the root (unique key).
    pub rel: Field,
    /// Entry id.
    pub id: Field,
    /// Every suffix of the id (`c`, `b/c`, `a/b/c`), for the path tier.
    pub suffix: Field,
    /// Every ancestor folder id (`a`, `a/b`), for folder ids and `--in`.
    pub folder: Field,
    /// Normalised title and aliases, for the alias tier.
    pub alias: Field,
    /// The weighted search text, for BM25.
    pub text: Field,
    /// Kind.
    pub kind: Field,
    /// Maturity.
    pub maturity: Field,
    /// Targets of relations and body links (incoming-edge lookups).
    pub link: Field,
    /// The entry this one follows inside its folder (next-neighbour lookups for expansion).
    pub follows: Field,
    /// Scope globs (shared-scope lookups and `--path`).
    pub scope: Field,
    /// `"1"` when the entry has a scope.
    pub scoped: Field,
    /// The stored [`StoredMeta`] as JSON.
    pub meta: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text_opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(analyzer::PRE_ANALYZED)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        rel: b.add_text_field("rel", STRING),
        id: b.add_text_field("id", STRING),
        suffix: b.add_text_field("suffix", STRING),
        folder: b.add_text_field("folder", STRING),
        alias: b.add_text_field("alias", STRING),
        text: b.add_text_field("text", text_opts),
        kind: b.add_text_field("kind", STRING),
        maturity: b.add_text_field("maturity", STRING),
        link: b.add_text_field("link", STRING),
        follows: b.add_text_field("follows", STRING),
        scope: b.add_text_field("scope", STRING),
        scoped: b.add_text_field("scoped", STRING),
        meta: b.add_text_field("meta", STORED),
    };
    (b.build(), fields)
}

/// How much of the tree a freshness check stats (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Stat every file now, whatever the size and the time since the last full scan (writes,
    /// `index`).
    pub full: bool,
    /// Trees of at most this many files always get a full scan (`usize::MAX`: every tree).
    pub up_to: usize,
    /// Seconds between full scans of larger trees (0: every command).
    pub every_secs: u64,
}

impl Freshness {
    /// The policy `config` asks for (`index.full_scan_up_to`, `index.full_scan_every_secs`).
    pub fn from_config(config: &crate::config::Config) -> Freshness {
        let i = &config.index;
        Freshness {
            full: i.full_scan_every_secs == 0,
            up_to: i.full_scan_up_to,
            every_secs: i.full_scan_every_secs,
        }
    }

    /// The same policy, but this check scans every file.
    pub fn full(self) -> Freshness {
        Freshness { full: true, ..self }
    }
}

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

/// One manifest line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    mtime_ns: i64,
    size: u64,
    hash: u64,
}

/// By path; ordered, so it loads from and saves to its sorted file without sorting.
type Manifest = std::collections::BTreeMap<String, Stamp>;

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

fn content_hash(bytes: &[u8]) -> u64 {
    // FNV-1a: stable across builds, so the manifest survives a rebuild of memtree.
    let mut x: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        x ^= u64::from(*b);
        x = x.wrapping_mul(0x0000_0100_0000_01b3);
    }
    x
}

fn load_manifest(path: &Path) -> Option<Manifest> {
    let text = fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let header = lines.next()?;
    if header != MANIFEST_HEADER {
        return None;
    }
    // The file is written sorted: collecting sorted pairs builds the map in one pass.
    lines
        .map(|line| {
            let mut parts = line.splitn(4, '\t');
            let mtime_ns = parts.next()?.parse().ok()?;
            let size = parts.next()?.parse().ok()?;
            let hash = u64::from_str_radix(parts.next()?, 16).ok()?;
            let rel = parts.next()?.to_string();
            Some((
                rel,
                Stamp {
                    mtime_ns,
                    size,
                    hash,
                },
            ))
        })
        .collect()
}

fn save_manifest(path: &Path, m: &Manifest) -> Result<()> {
    let now = now_ns();
    let mut out = String::with_capacity(64 * (m.len() + 1));
    out.push_str(MANIFEST_HEADER);
    out.push('\n');
    for (rel, &s) in m {
        let mtime = if s.mtime_ns > now - RACY_NS {
            0
        } else {
            s.mtime_ns
        };
        let _ = writeln!(out, "{mtime}\t{}\t{:x}\t{rel}", s.size, s.hash);
    }
    write_cache_file(path, out.as_bytes())
}

/// Replaces a cache file by writing a temporary file and renaming it, without fsync: the cache
/// is derived data, so a write lost in a crash costs a re-check or a rebuild (a torn or empty
/// manifest fails to parse and triggers one), never a wrong answer. The index itself is
/// committed (and synced by tantivy) before the manifest is written.
///
/// The temporary file has a unique name: `folders` is written by readers that do not hold the
/// write lock, so two of them may write at once (the last rename wins, whole).
fn write_cache_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".memtree-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io("cannot write", tmp.path().to_path_buf(), e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot replace", path, e.error))?;
    Ok(())
}

/// `true` when the manifest `text` lists exactly `files` (sorted by path, as the walk returns
/// them) with the same mtime and size, and no racy (unknown) mtime: the fast path of every
/// command, so it compares line by line without building maps.
fn manifest_matches(text: &str, files: &[crate::tree::FileStat]) -> bool {
    let mut lines = text.lines();
    if lines.next() != Some(MANIFEST_HEADER) {
        return false;
    }
    for f in files {
        let Some(line) = lines.next() else {
            return false;
        };
        let mut parts = line.splitn(4, '\t');
        let (Some(mtime), Some(size), Some(_hash), Some(rel)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        if rel != f.rel
            || mtime == "0"
            || mtime.parse::<i64>().ok() != Some(f.mtime_ns)
            || size.parse::<u64>().ok() != Some(f.size)
        {
            return false;
        }
    }
    lines.next().is_none()
}

/// The `folders` file: `memtree-folders 1`, then `<last full scan ns>\t<files>`, then one
/// `<mtime ns>\t<rel>` line per folder (racy mtimes written as 0, as in the manifest).
fn save_folders(
    path: &Path,
    dirs: &[crate::tree::DirStat],
    files: usize,
    scanned_ns: i64,
) -> Result<()> {
    let now = now_ns();
    let mut out = format!("{FOLDERS_HEADER}\n{scanned_ns}\t{files}\n");
    for d in dirs {
        let mtime = if d.mtime_ns > now - RACY_NS {
            0
        } else {
            d.mtime_ns
        };
        out.push_str(&format!("{mtime}\t{}\n", d.rel));
    }
    // A lost write only costs one more full scan.
    write_cache_file(path, out.as_bytes())
}

/// What the `folders` file says about the tree (see [`folder_scan`]).
enum FolderScan {
    /// No usable record, a small tree, or a full scan is due: scan every file.
    Full,
    /// Every folder has its recorded mtime: nothing was added, deleted or renamed.
    Unchanged,
    /// Some folders changed; the others are trusted as recorded.
    Dirty {
        /// When the last full scan ran (kept, since this is not one).
        scanned_ns: i64,
        /// Folders whose mtime moved or that are gone.
        dirty: Vec<String>,
        /// Folders as recorded, unchanged.
        trusted: Vec<crate::tree::DirStat>,
    },
}

/// Reads the `folders` file and stats every folder it lists. Skipping per-file stats is only
/// allowed when the tree is larger than `up_to` and the last full scan is younger than
/// `every_secs`; a new, deleted or renamed file changes its folder's mtime, and a new folder
/// its parent's.
fn folder_scan(tree: &Tree, text: &str, up_to: usize, every_secs: u64) -> FolderScan {
    let mut lines = text.lines();
    if lines.next() != Some(FOLDERS_HEADER) {
        return FolderScan::Full;
    }
    let Some((scanned, files)) = lines.next().and_then(|l| l.split_once('\t')) else {
        return FolderScan::Full;
    };
    let (Ok(scanned_ns), Ok(files)) = (scanned.parse::<i64>(), files.parse::<usize>()) else {
        return FolderScan::Full;
    };
    let age_ns = now_ns() - scanned_ns;
    let every_ns = i64::try_from(every_secs.saturating_mul(1_000_000_000)).unwrap_or(i64::MAX);
    if files <= up_to || !(0..every_ns).contains(&age_ns) {
        return FolderScan::Full;
    }
    let (mut dirty, mut trusted) = (Vec::new(), Vec::new());
    for line in lines {
        let Some((mtime, rel)) = line.split_once('\t') else {
            return FolderScan::Full;
        };
        let recorded = mtime.parse::<i64>().unwrap_or(0);
        let same = recorded != 0
            && fs::symlink_metadata(tree.root.join(rel))
                .is_ok_and(|m| m.is_dir() && crate::tree::mtime_ns(&m) == recorded);
        if same {
            trusted.push(crate::tree::DirStat {
                rel: rel.to_string(),
                mtime_ns: recorded,
            });
        } else {
            dirty.push(rel.to_string());
        }
    }
    if dirty.is_empty() {
        FolderScan::Unchanged
    } else {
        FolderScan::Dirty {
            scanned_ns,
            dirty,
            trusted,
        }
    }
}

/// The walk a full scan would return, with only the `dirty` folders listed: files of trusted
/// folders are taken from the manifest (a racy entry is stat'ed), files of dirty folders from
/// the disk.
fn partial_walk(
    tree: &Tree,
    manifest: &Manifest,
    dirty: &[String],
    trusted: Vec<crate::tree::DirStat>,
) -> crate::tree::Walk {
    let known: HashSet<String> = trusted
        .iter()
        .map(|d| d.rel.clone())
        .chain(dirty.iter().cloned())
        .collect();
    let mut walk = tree.walk_folders(dirty, &known);
    let trusted_set: HashSet<&str> = trusted.iter().map(|d| d.rel.as_str()).collect();
    for (rel, stamp) in manifest {
        let folder = rel.rsplit_once('/').map_or("", |(f, _)| f);
        if !trusted_set.contains(folder) {
            continue;
        }
        let (mtime_ns, size) = if stamp.mtime_ns == 0 {
            match fs::symlink_metadata(tree.root.join(rel)) {
                Ok(m) => (crate::tree::mtime_ns(&m), m.len()),
                Err(_) => continue,
            }
        } else {
            (stamp.mtime_ns, stamp.size)
        };
        walk.files.push(crate::tree::FileStat {
            rel: rel.clone(),
            mtime_ns,
            size,
        });
    }
    walk.dirs.extend(trusted);
    walk.dirs.sort_by(|a, b| a.rel.cmp(&b.rel));
    walk.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    walk
}

/// The shared Levenshtein automaton builder (distance 1, transpositions cost one), built once.
mod typo {
    use std::sync::LazyLock;

    use levenshtein_automata::LevenshteinAutomatonBuilder;

    static BUILDER: LazyLock<LevenshteinAutomatonBuilder> =
        LazyLock::new(|| LevenshteinAutomatonBuilder::new(1, true));

    pub(super) fn builder() -> &'static LevenshteinAutomatonBuilder {
        &BUILDER
    }
}

/// Matches alias keys whose first word is within the DFA's distance of the typed word and
/// starts with `prefix`; anything after the first space is accepted.
struct FirstWordNear {
    dfa: levenshtein_automata::DFA,
    prefix: Vec<u8>,
}

/// A state of [`FirstWordNear`].
#[derive(Clone, Copy)]
enum Near {
    /// Inside the first word: bytes seen and the DFA state.
    Word(usize, u32),
    /// Past the first word (which matched).
    Rest,
    /// Cannot match.
    Dead,
}

impl FirstWordNear {
    fn word_matches(&self, state: u32) -> bool {
        matches!(
            self.dfa.distance(state),
            levenshtein_automata::Distance::Exact(_)
        )
    }
}

impl tantivy_fst::Automaton for &FirstWordNear {
    type State = Near;

    fn start(&self) -> Near {
        Near::Word(0, self.dfa.initial_state())
    }

    fn is_match(&self, state: &Near) -> bool {
        match *state {
            Near::Rest => true,
            Near::Word(seen, s) => seen >= self.prefix.len() && self.word_matches(s),
            Near::Dead => false,
        }
    }

    fn can_match(&self, state: &Near) -> bool {
        match *state {
            Near::Rest => true,
            Near::Word(_, s) => s != levenshtein_automata::SINK_STATE,
            Near::Dead => false,
        }
    }

    fn will_always_match(&self, state: &Near) -> bool {
        matches!(state, Near::Rest)
    }

    fn accept(&self, state: &Near, byte: u8) -> Near {
        match *state {
            Near::Rest => Near::Rest,
            Near::Dead => Near::Dead,
            Near::Word(seen, s) => {
                if seen < self.prefix.len() && byte != self.prefix[seen] {
                    Near::Dead
                } else if byte == b' ' {
                    if seen >= self.prefix.len() && self.word_matches(s) {
                        Near::Rest
                    } else {
                        Near::Dead
                    }
                } else {
                    let next = self.dfa.transition(s, byte);
                    if next == levenshtein_automata::SINK_STATE {
                        Near::Dead
                    } else {
                        Near::Word(seen + 1, next)
                    }
                }
            }
        }
    }
}

/// The indexes this process has open, by folder (at most a few: one per tree served).
mod cache {
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    use tantivy::{Index, IndexReader};

    type Open = Vec<(PathBuf, Index, IndexReader)>;

    static OPEN: Mutex<Open> = Mutex::new(Vec::new());
    const MAX: usize = 8;

    /// The open index of `dir`, if this process opened it before.
    pub(super) fn get(dir: &Path) -> Option<(Index, IndexReader)> {
        let open = OPEN.lock().ok()?;
        open.iter()
            .find(|(d, _, _)| d == dir)
            .map(|(_, i, r)| (i.clone(), r.clone()))
    }

    /// Remembers the index of `dir` (replacing an older one, after a rebuild).
    pub(super) fn put(dir: &Path, index: &Index, reader: &IndexReader) {
        if let Ok(mut open) = OPEN.lock() {
            open.retain(|(d, _, _)| d != dir);
            if open.len() >= MAX {
                open.remove(0);
            }
            open.push((dir.to_path_buf(), index.clone(), reader.clone()));
        }
    }
}

/// Files that do not parse: path relative to the root → the error (file, line, message).
type Invalid = std::collections::BTreeMap<String, String>;

const INVALID: &str = "invalid";

/// The files the last refresh could not index, as recorded in `.cache/invalid`
/// (`<rel>\t<message>` lines). A missing or unreadable record reads as empty.
fn load_invalid(tree: &Tree) -> Invalid {
    let Ok(p) = tree.safe(&format!("{}/{INVALID}", crate::tree::CACHE_DIR)) else {
        return Invalid::new();
    };
    let Ok(bytes) = tree.read(&p) else {
        return Invalid::new();
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(rel, msg)| (rel.to_string(), msg.to_string()))
        .collect()
}

fn save_invalid(tree: &Tree, invalid: &Invalid) -> Result<()> {
    let p = tree.safe(&format!("{}/{INVALID}", crate::tree::CACHE_DIR))?;
    let mut out = String::new();
    for (rel, msg) in invalid {
        let msg = msg.replace(['\n', '\t'], " ");
        let _ = writeln!(out, "{rel}\t{msg}");
    }
    write_cache_file(p.abs(), out.as_bytes())
}

/// A planned change to the index.
#[derive(Default)]
struct Plan {
    /// Files whose stat changed: re-read, and re-indexed if their hash changed.
    changed: Vec<String>,
    /// Files gone from disk.
    removed: Vec<String>,
    files: usize,
}

/// `(mtime_ns, size)` of every changed file the walk saw.
type Seen = HashMap<String, (i64, u64)>;

fn plan(walk: &crate::tree::Walk, manifest: &Manifest) -> (Plan, Seen) {
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
        // A long-running process (the MCP server) keeps its indexes open between calls: the
        // cached reader only reloads what was committed since.
        if let Some((index, reader)) = cache::get(&dir).filter(|(_, r)| r.reload().is_ok()) {
            return Ok(SearchIndex {
                index,
                reader,
                fields,
                analyzer: std::sync::Mutex::new(analyzer::analyzer()),
            });
        }
        let index = Index::open_in_dir(&dir)?;
        if index.schema() != schema {
            return Err(Error::Index("schema changed".into()));
        }
        let opened = Self::from_index(index, fields)?;
        cache::put(&dir, &opened.index, &opened.reader);
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

    fn lock_unless_held(tree: &Tree, held: Option<&WriteLock>) -> Result<Option<WriteLock>> {
        match held {
            Some(_) => Ok(None),
            None => WriteLock::acquire(tree, LOCK_WAIT).map(Some),
        }
    }

    /// The lock for a refresh. A writer passes the lock it holds. A reader waits at most
    /// [`READER_WAIT`]; `Err` says why it cannot refresh (another process is writing, or the
    /// cache cannot be written), and the reader answers through [`SearchIndex::fallback`].
    fn reader_lock(
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
    fn fallback(tree: &Tree, reason: String) -> Result<(SearchIndex, SyncReport)> {
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
    fn sync_locked(
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
        if index.is_none() {
            report.rebuilt = true;
            // Through the safe-path routine: a `.cache` that is a link is never emptied.
            let safe = tree.safe(&format!("{}/{INDEX_DIR}", crate::tree::CACHE_DIR))?;
            let dir = safe.abs().to_path_buf();
            if fs::symlink_metadata(&dir).is_ok() {
                fs::remove_dir_all(&dir).map_err(|e| Error::io("cannot remove", &dir, e))?;
            }
            tree.create_parents(&safe)?;
            fs::create_dir(&dir).map_err(|e| Error::io("cannot create folder", &dir, e))?;
            let (schema, fields) = schema();
            let idx = Index::create_in_dir(&dir, schema)?;
            let created = Self::from_index(idx, fields)?;
            cache::put(&dir, &created.index, &created.reader);
            index = Some(created);
        }
        let index = index.expect("opened or created above");
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
        for rel in &plan.changed {
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

    fn writer(&self, heap: usize) -> tantivy::Result<tantivy::IndexWriter<TantivyDocument>> {
        self.index.writer_with_num_threads(1, heap)
    }

    fn document(&self, r: &Record, neighbours: &[(String, usize)]) -> TantivyDocument {
        let f = self.fields;
        let s = &r.stored;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.rel, &s.rel);
        doc.add_text(f.id, &s.id);
        let segs: Vec<&str> = s.id.split('/').collect();
        for i in 0..segs.len() {
            doc.add_text(f.suffix, segs[i..].join("/"));
        }
        for i in 1..segs.len() {
            doc.add_text(f.folder, segs[..i].join("/"));
        }
        if s.folder_note {
            doc.add_text(f.folder, &s.id);
        }
        for key in r.alias_keys() {
            doc.add_text(f.alias, key);
        }
        let mut analyzed = String::new();
        for (text, times) in r.search_parts(neighbours) {
            let terms = self.analyze(&text).join(" ");
            for _ in 0..times {
                analyzed.push_str(&terms);
                analyzed.push(' ');
            }
        }
        doc.add_text(f.text, analyzed);
        if let Some(k) = &s.kind {
            doc.add_text(f.kind, k);
        }
        if let Some(m) = &s.maturity {
            doc.add_text(f.maturity, m);
        }
        let mut targets: BTreeSet<&str> = s.edges.iter().map(|e| e.to.as_str()).collect();
        targets.extend(r.meta.supersedes.iter().map(String::as_str));
        if let Some(by) = &s.superseded_by {
            targets.insert(by);
        }
        for t in targets {
            doc.add_text(f.link, t);
        }
        if let Some(p) = expand::previous_of(&s.id, &s.edges) {
            doc.add_text(f.follows, p);
        }
        for g in &s.scope {
            doc.add_text(f.scope, g);
        }
        if !s.scope.is_empty() {
            doc.add_text(f.scoped, "1");
        }
        doc.add_text(f.meta, serde_json::to_string(s).unwrap_or_default());
        doc
    }

    /// Every file the index could not read (file, line and message each), as of its last
    /// refresh: files that do not parse stay listed until they are fixed or removed.
    pub fn invalid_files(tree: &Tree) -> Vec<String> {
        load_invalid(tree).into_values().collect()
    }

    /// A searcher over the current state.
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Analyzes text with the index's analyzer (stop words removed, stemmed).
    pub fn analyze(&self, text: &str) -> Vec<String> {
        match self.analyzer.lock() {
            Ok(mut a) => analyzer::terms(&mut a, text),
            Err(_) => analyzer::terms(&mut analyzer::analyzer(), text),
        }
    }

    /// The stored metadata of a document.
    pub fn stored(&self, searcher: &Searcher, addr: DocAddress) -> Option<StoredMeta> {
        let doc: TantivyDocument = searcher.doc(addr).ok()?;
        let json = doc.get_first(self.fields.meta)?.as_str()?;
        serde_json::from_str(json).ok()
    }

    /// Live documents whose `field` holds exactly `value`.
    pub fn lookup(&self, searcher: &Searcher, field: Field, value: &str) -> Vec<DocAddress> {
        let q = TermQuery::new(
            Term::from_field_text(field, value),
            IndexRecordOption::Basic,
        );
        let mut out: Vec<DocAddress> = searcher
            .search(&q, &DocSetCollector)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    /// The stored metadata of the entry with id `id`, if indexed.
    pub fn by_id(&self, searcher: &Searcher, id: &str) -> Option<StoredMeta> {
        let addr = *self.lookup(searcher, self.fields.id, id).first()?;
        self.stored(searcher, addr)
    }

    /// BM25 over the search text: documents matching any of `terms` (each with its weight, 1.0
    /// for a query word), best first.
    pub fn bm25(
        &self,
        searcher: &Searcher,
        terms: &[(String, f32)],
        limit: usize,
    ) -> Vec<(f32, DocAddress)> {
        if terms.is_empty() || limit == 0 {
            return Vec::new();
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|(t, weight)| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.fields.text, t),
                    IndexRecordOption::WithFreqs,
                ));
                let q: Box<dyn Query> = if *weight == 1.0 {
                    q
                } else {
                    Box::new(BoostQuery::new(q, *weight))
                };
                (Occur::Should, q)
            })
            .collect();
        let q = BooleanQuery::new(clauses);
        searcher
            .search(&q, &TopDocs::with_limit(limit).order_by_score())
            .unwrap_or_default()
    }

    /// For each of `sorted` (ascending, distinct terms), whether any document's search text
    /// holds it: one merge pass over each segment's term dictionary, which for thousands of
    /// terms is several times cheaper than one dictionary lookup per term.
    pub fn terms_present(&self, searcher: &Searcher, sorted: &[&str]) -> Vec<bool> {
        let mut out = vec![false; sorted.len()];
        let (Some(first), Some(last)) = (sorted.first(), sorted.last()) else {
            return out;
        };
        for reader in searcher.segment_readers() {
            let Ok(inv) = reader.inverted_index(self.fields.text) else {
                continue;
            };
            let Ok(mut stream) = inv
                .terms()
                .range()
                .ge(str::as_bytes(first))
                .le(str::as_bytes(last))
                .into_stream()
            else {
                continue;
            };
            let mut i = 0;
            while i < sorted.len() && stream.advance() {
                let key = stream.key();
                while i < sorted.len() && str::as_bytes(sorted[i]) < key {
                    i += 1;
                }
                if i < sorted.len() && str::as_bytes(sorted[i]) == key {
                    out[i] = true;
                    i += 1;
                }
            }
        }
        out
    }

    /// Number of live documents whose search text holds `term`.
    pub fn doc_freq(&self, searcher: &Searcher, term: &str) -> u64 {
        searcher
            .doc_freq(&Term::from_field_text(self.fields.text, term))
            .unwrap_or(0)
    }

    /// For each document of `docs`, which of `terms` its search text holds.
    pub fn presence(
        &self,
        searcher: &Searcher,
        docs: &[DocAddress],
        terms: &[String],
    ) -> Vec<Vec<bool>> {
        let mut out = vec![vec![false; terms.len()]; docs.len()];
        let mut order: Vec<usize> = (0..docs.len()).collect();
        order.sort_by_key(|&i| docs[i]);
        for (ti, term) in terms.iter().enumerate() {
            let term = Term::from_field_text(self.fields.text, term);
            let mut current: Option<(u32, tantivy::postings::SegmentPostings)> = None;
            for &i in &order {
                let addr = docs[i];
                if current.as_ref().map(|c| c.0) != Some(addr.segment_ord) {
                    let reader = &searcher.segment_readers()[addr.segment_ord as usize];
                    let postings = reader
                        .inverted_index(self.fields.text)
                        .ok()
                        .and_then(|inv| inv.read_postings(&term, IndexRecordOption::Basic).ok())
                        .flatten();
                    current = postings.map(|p| (addr.segment_ord, p));
                    if current.is_none() {
                        continue;
                    }
                }
                if let Some((_, postings)) = current.as_mut()
                    && postings.doc() <= addr.doc_id
                    && postings.seek(addr.doc_id) == addr.doc_id
                {
                    out[i][ti] = true;
                }
            }
        }
        out
    }

    /// Every distinct term of `field` that starts with `prefix` and passes `keep` (for
    /// typo-tolerant aliases; `keep` sees the term before it is copied, so a large dictionary
    /// costs a scan, not an allocation per term).
    pub fn terms_with_prefix(
        &self,
        searcher: &Searcher,
        field: Field,
        prefix: &str,
        keep: &dyn Fn(&str) -> bool,
    ) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut upper = prefix.as_bytes().to_vec();
        upper.push(0xff);
        for reader in searcher.segment_readers() {
            let Ok(inv) = reader.inverted_index(field) else {
                continue;
            };
            let Ok(mut stream) = inv.terms().range().ge(prefix).lt(&upper).into_stream() else {
                continue;
            };
            while stream.advance() {
                if let Ok(s) = std::str::from_utf8(stream.key())
                    && keep(s)
                {
                    out.insert(s.to_string());
                }
            }
        }
        out
    }

    /// Folder ids of at most `depth` segments (`domain`, `domain/topic`) with the number of
    /// entries below each, sorted by id. Cheap: counted from the index's folder terms, no
    /// document is loaded.
    pub fn folder_counts(&self, searcher: &Searcher, depth: usize) -> Vec<(String, u64)> {
        let folders = self.terms_with_prefix(searcher, self.fields.folder, "", &|t: &str| {
            t.matches('/').count() < depth
        });
        folders
            .into_iter()
            .map(|f| {
                // Count live documents (doc_freq would include deleted ones until a merge).
                let q = TermQuery::new(
                    Term::from_field_text(self.fields.folder, &f),
                    IndexRecordOption::Basic,
                );
                let n = searcher.search(&q, &tantivy::collector::Count).unwrap_or(0) as u64;
                (f, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Every distinct alias key (normalised title or alias, words joined by one space) whose
    /// first word is `word` or one edit from it with the same first two letters: what the
    /// typo rule of the alias tier can match. A Levenshtein automaton (distance 1,
    /// transpositions counted as one edit) walks the term dictionary, so only the keys it can
    /// match are visited, not every key with the same first two letters.
    pub fn alias_keys_near(&self, searcher: &Searcher, word: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let prefix: Vec<u8> = word.chars().take(2).collect::<String>().into_bytes();
        if prefix.len() < 2 {
            return out;
        }
        let automaton = FirstWordNear {
            dfa: typo::builder().build_dfa(word),
            prefix,
        };
        for reader in searcher.segment_readers() {
            let Ok(inv) = reader.inverted_index(self.fields.alias) else {
                continue;
            };
            let Ok(mut stream) = inv.terms().search(&automaton).into_stream() else {
                continue;
            };
            while stream.advance() {
                if let Ok(s) = std::str::from_utf8(stream.key()) {
                    out.insert(s.to_string());
                }
            }
        }
        out
    }

    /// Number of live documents.
    pub fn num_docs(&self) -> u64 {
        self.searcher().num_docs()
    }

    /// Stored metadata of every live document (for `ls`, `stats`, `check`).
    pub fn all(&self) -> Vec<StoredMeta> {
        let searcher = self.searcher();
        let mut out = Vec::new();
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            for doc in 0..reader.max_doc() {
                if reader.is_deleted(doc) {
                    continue;
                }
                if let Some(m) = self.stored(&searcher, DocAddress::new(ord as u32, doc)) {
                    out.push(m);
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::FileStat;

    fn file(rel: &str, mtime_ns: i64, size: u64) -> FileStat {
        FileStat {
            rel: rel.into(),
            mtime_ns,
            size,
        }
    }

    fn near(typed: &str, key: &str) -> bool {
        use tantivy_fst::Automaton as _;
        let a = FirstWordNear {
            dfa: typo::builder().build_dfa(typed),
            prefix: typed.chars().take(2).collect::<String>().into_bytes(),
        };
        let a = &a;
        let mut state = a.start();
        for b in key.bytes() {
            if !a.can_match(&state) {
                return false;
            }
            state = a.accept(&state, b);
        }
        a.is_match(&state)
    }

    #[test]
    fn a_word_shorter_than_the_prefix_does_not_match() {
        assert!(!near("ab", "a"));
        assert!(!near("ab", "a b"));
        assert!(near("typscript", "typescript"));
        assert!(near("typscript", "typescript handbook"));
        assert!(!near("typscript", "tpyescript"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The automaton accepts exactly the keys whose first word is within one edit (a
        /// transposition counting one) of the typed word and shares its first two letters.
        #[test]
        fn the_typo_automaton_matches_the_rule(
            typed in "[a-e]{2,7}",
            first in "[a-e]{1,8}",
            rest in proptest::option::of("[a-e ]{0,6}"),
        ) {
            let key = match &rest {
                Some(r) => format!("{first} {r}"),
                None => first.clone(),
            };
            let same_prefix = first.chars().take(2).eq(typed.chars().take(2));
            let expected = same_prefix
                && crate::text::edit_distance(&typed, &first) <= 1;
            proptest::prop_assert_eq!(near(&typed, &key), expected, "{} {}", typed, key);
        }
    }

    #[test]
    fn manifest_header_tracks_the_schema_version() {
        assert_eq!(
            MANIFEST_HEADER,
            format!("memtree-manifest {SCHEMA_VERSION}")
        );
    }

    #[test]
    fn the_fast_path_needs_an_exact_match() {
        let text = format!("{MANIFEST_HEADER}\n5\t10\tab\ta/b/c.md\n7\t3\tcd\ta/b/d.md\n");
        let files = vec![file("a/b/c.md", 5, 10), file("a/b/d.md", 7, 3)];
        assert!(manifest_matches(&text, &files));
        assert!(!manifest_matches(&text, &files[..1]), "a deleted file");
        let mut more = files.clone();
        more.push(file("a/b/e.md", 1, 1));
        assert!(!manifest_matches(&text, &more), "a new file");
        let mut touched = files.clone();
        touched[1].mtime_ns = 8;
        assert!(!manifest_matches(&text, &touched), "a new mtime");
        let mut grown = files.clone();
        grown[0].size = 11;
        assert!(!manifest_matches(&text, &grown), "a new size");
        let racy = text.replace("7\t3", "0\t3");
        let mut zero = files.clone();
        zero[1].mtime_ns = 0;
        assert!(
            !manifest_matches(&racy, &zero),
            "a racy entry is always re-checked"
        );
        assert!(
            !manifest_matches("memtree-manifest 1\n", &[]),
            "another version"
        );
    }
}
