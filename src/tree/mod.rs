//! The tree on disk: root discovery, entry ids, the walk, and safe writes.
//!
//! Invariants this module owns (DESIGN.md §1):
//! - an id is the path below `.memory/` without `.md`; a folder note `README.md` has its folder's id;
//! - ids given for writing are strict (`[a-z0-9][a-z0-9-]{0,63}` segments, 3 or 4 of them);
//! - every file operation goes through one safe-path routine ([`SafePath`], in `safe.rs`):
//!   nothing is read, written, moved or deleted through `..`, an absolute path or a symbolic
//!   link, so nothing outside the root is ever touched;
//! - every write is atomic (temp file in the same folder, fsync, rename) and happens under the
//!   tree's write lock (`.cache/lock`), so two writers never interleave;
//! - the walk (`walk.rs`) never follows links, so every file it lists is inside the root.

mod regular;
mod safe;
mod walk;

use std::fs;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use regular::{ReadError, read_regular, read_tail};
pub use safe::SafePath;
#[cfg(test)]
pub(crate) use safe::temp_tree;
pub use walk::{DirStat, FileStat, Walk, mtime_ns, now_ns};

use crate::error::{Error, Result};

/// The name of the memory folder inside a project.
pub const MEMORY_DIR: &str = ".memory";
/// The derived-data folder inside the memory folder (never committed).
pub const CACHE_DIR: &str = ".cache";
/// Where writes are staged before they are renamed into place (inside `.cache`, so git
/// ignores it and a crash leaves nothing `git add -A` would commit).
pub const STAGING_DIR: &str = ".cache/staging";
/// The configuration file inside the memory folder.
pub const CONFIG_FILE: &str = "memtree.yaml";
/// The file name of a folder note.
pub const FOLDER_NOTE: &str = "README.md";

/// Files larger than this many bytes are indexed by their front matter only, by default
/// (`index.max_file_bytes`): 4 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A located memory tree.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The `.memory` folder itself.
    pub root: PathBuf,
    /// Entry files larger than this (bytes) are read only up to here and indexed by their front
    /// matter only (`index.max_file_bytes`; `check` names them).
    pub max_file_bytes: u64,
}

impl Tree {
    /// The tree whose `.memory` folder is `root`, with the default limits.
    pub fn new(root: PathBuf) -> Tree {
        Tree {
            root,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }

    /// Finds the tree the way git finds `.git`: `start` itself if it is a `.memory` folder,
    /// else the first `.memory` folder in `start` or one of its ancestors.
    ///
    /// # Errors
    /// [`Error::NoRoot`] when there is none.
    pub fn discover(start: &Path) -> Result<Tree> {
        let cwd = || {
            std::env::current_dir()
                .map_err(|e| Error::io("cannot read the current directory", ".", e))
        };
        let start = if start.is_absolute() {
            start.to_path_buf()
        } else if start.as_os_str().is_empty() || start == Path::new(".") {
            cwd()?
        } else {
            cwd()?.join(start)
        };
        if start.file_name().is_some_and(|n| n == MEMORY_DIR) && start.is_dir() {
            return Ok(Tree::new(start));
        }
        for dir in start.ancestors() {
            let candidate = dir.join(MEMORY_DIR);
            if candidate.is_dir() {
                return Ok(Tree::new(candidate));
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
            return Ok(Tree::new(dir));
        }
        let candidate = dir.join(MEMORY_DIR);
        if candidate.is_dir() {
            return Ok(Tree::new(candidate));
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

    /// The file path relative to the project, as shown to users (`.memory/a/b/c.md`).
    pub fn display_path(&self, rel: &str) -> String {
        format!("{MEMORY_DIR}/{rel}")
    }
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

/// `text` as an id segment: lower-case kebab-case, at most 64 characters, never empty.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.trim_end_matches('-').chars().take(64).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "section".into()
    } else {
        out
    }
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

/// The tree's exclusive write lock (`.cache/lock`, an OS file lock released on drop or crash).
#[derive(Debug)]
pub struct WriteLock {
    _file: fs::File,
}

impl WriteLock {
    /// Takes the lock of `tree` (`.cache/lock`), waiting up to `wait` for another writer to
    /// finish.
    ///
    /// # Errors
    /// [`Error::Busy`] after `wait`; [`Error::Io`] or [`Error::UnsafePath`] when the lock file
    /// cannot be opened (a read-only or linked `.cache`).
    pub fn acquire(tree: &Tree, wait: Duration) -> Result<WriteLock> {
        let p = tree.safe(&format!("{CACHE_DIR}/lock"))?;
        tree.create_parents(&p)?;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(p.abs())
            .map_err(|e| Error::io("cannot open", p.abs(), e))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(WriteLock { _file: file }),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < wait => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::Busy {
                        lock: p.abs().to_path_buf(),
                    });
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::io("cannot lock", p.abs(), e));
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
