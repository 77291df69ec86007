//! The walk: every folder and `.md` file below the root, with mtimes and sizes.
//!
//! Symlinks are never followed and hidden names (`.cache`, `.git`) are skipped, so every path
//! the walk returns is made of real folders inside the root: [`crate::tree::SafePath::from_walk`]
//! trusts it without further checks.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Tree;
use crate::error::{Error, Result};

impl Tree {
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
            walk.leftovers.extend(part.leftovers);
            walk.links.extend(part.links);
        }
        walk.dirs.sort_by(|a, b| a.rel.cmp(&b.rel));
        walk.files.sort_by(|a, b| a.rel.cmp(&b.rel));
        walk.leftovers.sort();
        walk.links.sort();
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
            // A temporary file an older memtree left next to its target when it was killed.
            if name.starts_with(".memtree-") && name.ends_with(".tmp") {
                let rel = if rel.is_empty() {
                    name.to_string()
                } else {
                    format!("{rel}/{name}")
                };
                walk.leftovers.push(rel);
            }
            continue;
        }
        let Ok(ft) = item.file_type() else { continue };
        let child_rel = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        if ft.is_symlink() {
            walk.links.push(child_rel);
            continue;
        }
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
    /// Temporary files (`.memtree-*.tmp`) that a killed memtree left next to entries before
    /// writes were staged in `.cache/staging`, relative to the root.
    pub leftovers: Vec<String>,
    /// Symbolic links in the tree (never followed, so what they point to is not indexed),
    /// relative to the root.
    pub links: Vec<String>,
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
