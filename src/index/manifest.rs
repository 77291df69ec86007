//! The cache files beside the index: the manifest of `(path, mtime, size, content hash)`, and
//! the files that do not parse.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use super::{MANIFEST_HEADER, RACY_NS};
use crate::error::{Error, Result};
use crate::tree::{Tree, now_ns};

/// One manifest line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stamp {
    pub(super) mtime_ns: i64,
    pub(super) size: u64,
    pub(super) hash: u64,
}

/// By path; ordered, so it loads from and saves to its sorted file without sorting.
pub(super) type Manifest = std::collections::BTreeMap<String, Stamp>;

pub(super) fn load_manifest(path: &Path) -> Option<Manifest> {
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

pub(super) fn save_manifest(path: &Path, m: &Manifest) -> Result<()> {
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
pub(crate) fn write_cache_file(path: &Path, bytes: &[u8]) -> Result<()> {
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
pub(super) fn manifest_matches(text: &str, files: &[crate::tree::FileStat]) -> bool {
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

/// Files that do not parse: path relative to the root → the error (file, line, message).
pub(super) type Invalid = std::collections::BTreeMap<String, String>;

pub(super) const INVALID: &str = "invalid";

/// The files the last refresh could not index, as recorded in `.cache/invalid`
/// (`<rel>\t<message>` lines). A missing or unreadable record reads as empty.
pub(super) fn load_invalid(tree: &Tree) -> Invalid {
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

pub(super) fn save_invalid(tree: &Tree, invalid: &Invalid) -> Result<()> {
    let p = tree.safe(&format!("{}/{INVALID}", crate::tree::CACHE_DIR))?;
    let mut out = String::new();
    for (rel, msg) in invalid {
        let msg = msg.replace(['\n', '\t'], " ");
        let _ = writeln!(out, "{rel}\t{msg}");
    }
    write_cache_file(p.abs(), out.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::SCHEMA_VERSION;
    use crate::tree::FileStat;

    fn file(rel: &str, mtime_ns: i64, size: u64) -> FileStat {
        FileStat {
            rel: rel.into(),
            mtime_ns,
            size,
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
