//! How much of the tree a freshness check looks at: a full scan, or the folders only (see the
//! module doc of [`super`]).

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use super::manifest::{Manifest, write_cache_file};
use super::{FOLDERS_HEADER, RACY_NS};
use crate::error::Result;
use crate::tree::{Tree, now_ns};

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

/// The `folders` file: `memtree-folders 1`, then `<last full scan ns>\t<files>`, then one
/// `<mtime ns>\t<rel>` line per folder (racy mtimes written as 0, as in the manifest).
pub(super) fn save_folders(
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
pub(super) enum FolderScan {
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
pub(super) fn folder_scan(tree: &Tree, text: &str, up_to: usize, every_secs: u64) -> FolderScan {
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
pub(super) fn partial_walk(
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
