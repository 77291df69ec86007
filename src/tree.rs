//! The tree on disk: root discovery, entry ids, the walk, and safe writes.
//!
//! Invariants this module owns (DESIGN.md §1):
//! - an id is the path below `.memory/` without `.md`; a folder note `README.md` has its folder's id;
//! - ids given for writing are strict (`[a-z0-9][a-z0-9-]{0,63}` segments, 3 or 4 of them), and
//!   nothing is ever written outside the root: `..`, absolute paths and symlinked folders that
//!   leave the root are refused;
//! - every write is atomic (temp file in the same folder, fsync, rename) and happens under the
//!   tree's write lock (`.cache/lock`), so two writers never interleave.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// The name of the memory folder inside a project.
pub const MEMORY_DIR: &str = ".memory";
/// The derived-data folder inside the memory folder (never committed).
pub const CACHE_DIR: &str = ".cache";
/// The configuration file inside the memory folder.
pub const CONFIG_FILE: &str = "memtree.yaml";
/// The file name of a folder note.
pub const FOLDER_NOTE: &str = "README.md";

/// A located memory tree.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The `.memory` folder itself.
    pub root: PathBuf,
}

impl Tree {
    /// Finds the tree the way git finds `.git`: `start` itself if it is a `.memory` folder,
    /// else the first `.memory` folder in `start` or one of its ancestors.
    ///
    /// # Errors
    /// [`Error::NoRoot`] when there is none.
    pub fn discover(start: &Path) -> Result<Tree> {
        let start = if start.is_absolute() {
            start.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("cannot read the current directory", ".", e))?
                .join(start)
        };
        if start.file_name().is_some_and(|n| n == MEMORY_DIR) && start.is_dir() {
            return Ok(Tree { root: start });
        }
        for dir in start.ancestors() {
            let candidate = dir.join(MEMORY_DIR);
            if candidate.is_dir() {
                return Ok(Tree { root: candidate });
            }
        }
        Err(Error::NoRoot { start })
    }

    /// The tree for `--root DIR` / `MEMTREE_ROOT`: DIR is either the `.memory` folder or the
    /// project folder that contains it. Unlike [`Tree::discover`] it does not walk up.
    ///
    /// # Errors
    /// [`Error::NoRoot`] when DIR holds no tree.
    pub fn at(dir: &Path) -> Result<Tree> {
        let dir = std::path::absolute(dir).map_err(|e| Error::io("cannot resolve", dir, e))?;
        if dir.file_name().is_some_and(|n| n == MEMORY_DIR) && dir.is_dir() {
            return Ok(Tree { root: dir });
        }
        let candidate = dir.join(MEMORY_DIR);
        if candidate.is_dir() {
            return Ok(Tree { root: candidate });
        }
        Err(Error::NoRoot { start: dir })
    }

    /// The project folder (the parent of `.memory`).
    pub fn project(&self) -> &Path {
        self.root.parent().unwrap_or(&self.root)
    }

    /// `.memory/.cache`.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(CACHE_DIR)
    }

    /// The file that holds entry `id` (which must already be valid for reading).
    pub fn file_of(&self, id: &str) -> PathBuf {
        self.root.join(format!("{id}.md"))
    }

    /// The file path relative to the project, as shown to users (`.memory/a/b/c.md`).
    pub fn display_path(&self, rel: &str) -> String {
        format!("{MEMORY_DIR}/{rel}")
    }

    /// Walks the tree: every folder (with its mtime) and every `.md` file (with mtime and size),
    /// skipping hidden names (so `.cache` and `.git`) and the root's own files.
    /// Symlinks are not followed. Order is deterministic (sorted by name).
    ///
    /// # Errors
    /// Only when the root itself cannot be read; unreadable subfolders are skipped.
    pub fn walk(&self) -> Result<Walk> {
        let meta = fs::metadata(&self.root).map_err(|e| Error::io("cannot read", &self.root, e))?;
        fs::read_dir(&self.root).map_err(|e| Error::io("cannot read", &self.root, e))?;
        // Stat calls dominate on large trees (one per file), so folders are shared out to a few
        // threads through a work queue; each thread collects its own part of the result.
        let queue = Mutex::new(vec![(self.root.clone(), String::new())]);
        let pending = AtomicUsize::new(1);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 4);
        let parts: Vec<Walk> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| scope.spawn(|| walk_worker(&queue, &pending)))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_default())
                .collect()
        });
        let mut walk = Walk::default();
        walk.dirs.push(DirStat {
            rel: String::new(),
            mtime_ns: mtime_ns(&meta),
        });
        for part in parts {
            walk.dirs.extend(part.dirs);
            walk.files.extend(part.files);
            walk.skipped.extend(part.skipped);
        }
        walk.dirs.sort_by(|a, b| a.rel.cmp(&b.rel));
        walk.files.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(walk)
    }
}

impl Tree {
    /// Lists only the folders `rels` (relative to the root; `""` is the root): their `.md`
    /// files with mtime and size, and their subfolders. A subfolder not in `known` is new and
    /// is walked in full. The listed folders themselves are in [`Walk::dirs`] with their current
    /// mtime; folders that no longer exist are left out.
    pub fn walk_folders(&self, rels: &[String], known: &HashSet<String>) -> Walk {
        let mut walk = Walk::default();
        let mut queue: Vec<(PathBuf, String, bool)> = rels
            .iter()
            .map(|r| (self.root.join(r), r.clone(), false))
            .collect();
        while let Some((dir, rel, new)) = queue.pop() {
            let Ok(meta) = fs::symlink_metadata(&dir) else {
                continue;
            };
            if !meta.is_dir() {
                continue;
            }
            if !new {
                walk.dirs.push(DirStat {
                    rel: rel.clone(),
                    mtime_ns: mtime_ns(&meta),
                });
            }
            for (path, child) in read_one_dir(&dir, &rel, &mut walk) {
                if !known.contains(&child) {
                    queue.push((path, child, true));
                }
            }
        }
        // `read_one_dir` recorded every subfolder; keep only the new ones (known ones keep
        // their recorded state unless listed themselves).
        let listed: HashSet<&String> = rels.iter().collect();
        walk.dirs
            .retain(|d| listed.contains(&d.rel) || !known.contains(&d.rel));
        walk.dirs.sort_by(|a, b| a.rel.cmp(&b.rel));
        walk.dirs.dedup_by(|a, b| a.rel == b.rel);
        walk.files.sort_by(|a, b| a.rel.cmp(&b.rel));
        walk
    }
}

fn walk_worker(queue: &Mutex<Vec<(PathBuf, String)>>, pending: &AtomicUsize) -> Walk {
    let mut walk = Walk::default();
    loop {
        let next = queue.lock().map(|mut q| q.pop()).unwrap_or(None);
        match next {
            Some((dir, rel)) => {
                let subdirs = read_one_dir(&dir, &rel, &mut walk);
                if !subdirs.is_empty() {
                    pending.fetch_add(subdirs.len(), Ordering::SeqCst);
                    if let Ok(mut q) = queue.lock() {
                        q.extend(subdirs);
                    }
                }
                pending.fetch_sub(1, Ordering::SeqCst);
            }
            None if pending.load(Ordering::SeqCst) == 0 => return walk,
            None => std::thread::yield_now(),
        }
    }
}

/// Reads one folder: records its subfolders (returned for the queue) and its `.md` files.
fn read_one_dir(dir: &Path, rel: &str, walk: &mut Walk) -> Vec<(PathBuf, String)> {
    let mut subdirs = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else {
        return subdirs;
    };
    for item in rd.flatten() {
        let name = item.file_name();
        let Some(name) = name.to_str() else {
            walk.skipped.push(item.path());
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let Ok(ft) = item.file_type() else { continue };
        let child_rel = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        if ft.is_dir() {
            let Ok(meta) = item.metadata() else { continue };
            walk.dirs.push(DirStat {
                rel: child_rel.clone(),
                mtime_ns: mtime_ns(&meta),
            });
            subdirs.push((item.path(), child_rel));
        } else if ft.is_file() && name.ends_with(".md") && !rel.is_empty() {
            let Ok(meta) = item.metadata() else { continue };
            walk.files.push(FileStat {
                rel: child_rel,
                mtime_ns: mtime_ns(&meta),
                size: meta.len(),
            });
        }
    }
    subdirs
}

/// A file's modification time in nanoseconds since the epoch (0 when unknown).
pub fn mtime_ns(meta: &fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Now, in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The result of [`Tree::walk`].
#[derive(Debug, Default, Clone)]
pub struct Walk {
    /// Every folder, the root first (`rel == ""`), sorted.
    pub dirs: Vec<DirStat>,
    /// Every `.md` file below the root's own level, sorted by relative path.
    pub files: Vec<FileStat>,
    /// Paths skipped because their names are not UTF-8.
    pub skipped: Vec<PathBuf>,
}

/// A folder seen by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirStat {
    /// Path relative to the root, `/`-separated.
    pub rel: String,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
}

/// A file seen by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// Path relative to the root, `/`-separated, ending in `.md`.
    pub rel: String,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Size in bytes.
    pub size: u64,
}

/// The entry id of a file path relative to the root: the path without `.md`, or the folder's
/// id for a folder note. `None` for files that are not entries (the root's README).
pub fn id_of_rel(rel: &str) -> Option<String> {
    let stem = rel.strip_suffix(".md")?;
    if let Some(folder) = stem.strip_suffix("/README") {
        return Some(folder.to_string());
    }
    if stem == "README" {
        return None;
    }
    Some(stem.to_string())
}

/// Normalises what a user typed as an id: trims, drops a leading `.memory/` or `./`, a trailing
/// `.md` and slashes at either end.
pub fn normalize_id(input: &str) -> String {
    let mut s = input.trim();
    for prefix in ["./", ".memory/"] {
        while let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    let s = s.trim_matches('/');
    s.strip_suffix(".md").unwrap_or(s).to_string()
}

/// Checks one id segment: `[a-z0-9][a-z0-9-]{0,63}`.
pub fn valid_segment(seg: &str) -> bool {
    let b = seg.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Validates an id for writing: 3 or 4 valid segments (domain/topic/[subtopic/]entry).
///
/// # Errors
/// [`Error::InvalidId`] naming the rule that is broken.
pub fn validate_id(id: &str) -> Result<()> {
    let bad = |reason: String| {
        Err(Error::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return bad("an id cannot be empty".into());
    }
    if id.starts_with('/') || id.contains('\\') {
        return bad("an id is a relative path below .memory/ with `/` separators".into());
    }
    let segs: Vec<&str> = id.split('/').collect();
    if let Some(seg) = segs.iter().find(|s| !valid_segment(s)) {
        return bad(format!(
            "segment `{seg}` must be lower-case kebab-case ([a-z0-9][a-z0-9-]*, at most 64 characters)"
        ));
    }
    if !(3..=4).contains(&segs.len()) {
        return bad(format!(
            "an id has 3 or 4 segments (domain/topic/[subtopic/]entry), this one has {}",
            segs.len()
        ));
    }
    Ok(())
}

/// Validates a folder prefix (`--in`, `ls PREFIX`): 0 to 3 valid segments.
///
/// # Errors
/// [`Error::InvalidId`] when a segment is invalid.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() {
        return Ok(());
    }
    for seg in prefix.split('/') {
        if !valid_segment(seg) {
            return Err(Error::InvalidId {
                id: prefix.to_string(),
                reason: format!("segment `{seg}` must be lower-case kebab-case"),
            });
        }
    }
    Ok(())
}

/// Makes sure `path` (to be written) stays inside `root` once symlinks are resolved:
/// creates its parent folders, then compares canonical paths.
///
/// # Errors
/// [`Error::Refused`] when the path would leave the root; [`Error::Io`] when folders cannot be made.
pub fn ensure_inside(root: &Path, path: &Path) -> Result<()> {
    let canon_root = fs::canonicalize(root).map_err(|e| Error::io("cannot resolve", root, e))?;
    let outside = || {
        Err(Error::Refused(format!(
            "refusing to write {}: it resolves outside the memory tree",
            path.display()
        )))
    };
    let parent = path.parent().unwrap_or(root);
    // Check the deepest folder that exists before creating anything below it.
    let existing = parent.ancestors().find(|a| a.exists()).unwrap_or(root);
    let canon = fs::canonicalize(existing).map_err(|e| Error::io("cannot resolve", existing, e))?;
    if !canon.starts_with(&canon_root) {
        return outside();
    }
    fs::create_dir_all(parent).map_err(|e| Error::io("cannot create folder", parent, e))?;
    let canon_parent =
        fs::canonicalize(parent).map_err(|e| Error::io("cannot resolve", parent, e))?;
    if !canon_parent.starts_with(&canon_root) {
        return outside();
    }
    if let Ok(meta) = fs::symlink_metadata(path)
        && meta.file_type().is_symlink()
    {
        return Err(Error::Refused(format!(
            "refusing to write {}: it is a symlink",
            path.display()
        )));
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temp file in the same folder, fsync, rename.
/// A crash leaves either the old file or the new one, never half of either.
///
/// # Errors
/// [`Error::Io`] on any filesystem failure (the target is then untouched).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io("cannot create folder", dir, e))?;
    // New files get 0666 less the umask, like any editor's; an existing file keeps its mode.
    let permissions = match fs::metadata(path) {
        Ok(meta) => meta.permissions(),
        Err(_) => {
            use std::os::unix::fs::PermissionsExt;
            fs::Permissions::from_mode(0o666)
        }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".memtree-")
        .suffix(".tmp")
        .permissions(permissions)
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io("cannot write", tmp.path().to_path_buf(), e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot replace", path, e.error))?;
    Ok(())
}

/// The tree's exclusive write lock (`.cache/lock`, an OS file lock released on drop or crash).
#[derive(Debug)]
pub struct WriteLock {
    _file: fs::File,
}

impl WriteLock {
    /// Takes the lock, waiting up to `wait` for another writer to finish.
    ///
    /// # Errors
    /// [`Error::Busy`] after `wait`; [`Error::Io`] when the lock file cannot be opened.
    pub fn acquire(cache_dir: &Path, wait: Duration) -> Result<WriteLock> {
        fs::create_dir_all(cache_dir)
            .map_err(|e| Error::io("cannot create folder", cache_dir, e))?;
        let path = cache_dir.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open", &path, e))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(WriteLock { _file: file }),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::WouldBlock) => return Err(Error::Busy { lock: path }),
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::io("cannot lock", &path, e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_naming_rules() {
        assert!(validate_id("architecture/storage/search-index").is_ok());
        assert!(validate_id("a/b/c/d").is_ok());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("a/b/c/d/e").is_err());
        assert!(validate_id("a/B/c").is_err());
        assert!(validate_id("a/../c").is_err());
        assert!(validate_id("/a/b/c").is_err());
        assert!(validate_id("a/-b/c").is_err());
        assert!(validate_id(&format!("a/b/{}", "x".repeat(65))).is_err());
    }

    #[test]
    fn folder_notes_take_their_folder_id() {
        assert_eq!(id_of_rel("a/b/README.md").as_deref(), Some("a/b"));
        assert_eq!(id_of_rel("README.md"), None);
        assert_eq!(id_of_rel("a/b/c.md").as_deref(), Some("a/b/c"));
        assert_eq!(id_of_rel("a/b/c.txt"), None);
    }

    #[test]
    fn typed_ids_are_normalised() {
        assert_eq!(normalize_id(" .memory/a/b/c.md "), "a/b/c");
        assert_eq!(normalize_id("a/b/"), "a/b");
    }
}
