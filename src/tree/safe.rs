//! The one safe-path routine: every read, write, move and delete of a file in the tree goes
//! through a [`SafePath`], and the file operations here take nothing else.
//!
//! A [`SafePath`] is a path below the root that was checked component by component:
//! - lexically: relative, `/`-separated, no empty, `.` or `..` segment, no backslash or NUL;
//! - on disk: no existing component below the root is a symbolic link. memtree never follows a
//!   link inside the tree, whether it points inside or outside: the walk does not follow them
//!   either, so an entry behind a link is not part of the tree, and refusing every link is the
//!   rule a user can predict. (A `.memory` folder that is itself a link is the user's choice of
//!   root and is allowed.)
//!
//! The final component is opened with `O_NOFOLLOW`, so a link swapped in after the check is
//! refused by the kernel rather than followed. Folders are created one at a time and checked
//! again after creation, and the empty-folder clean-up after a delete or a move never climbs
//! above the root. This guards against mistakes (a symlinked folder that leads elsewhere), not
//! against a concurrent attacker who can rename folders inside the tree between two syscalls.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::{STAGING_DIR, Tree};
use crate::error::{Error, Result};

/// A checked path below the tree's root (see the module doc). Build one with [`Tree::safe`];
/// the walk's own results are trusted through [`SafePath::from_walk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafePath {
    rel: String,
    abs: PathBuf,
}

impl SafePath {
    /// The path relative to the root, `/`-separated (`a/b/c.md`).
    pub fn rel(&self) -> &str {
        &self.rel
    }

    /// The absolute path.
    pub fn abs(&self) -> &Path {
        &self.abs
    }

    /// A path returned by [`Tree::walk`] (or listed in the manifest the walk wrote): the walk
    /// only descends into real folders and lists only regular files, so no check is repeated.
    /// The final open still refuses a link.
    pub(crate) fn from_walk(tree: &Tree, rel: &str) -> SafePath {
        SafePath {
            rel: rel.to_string(),
            abs: tree.root.join(rel),
        }
    }
}

fn unsafe_path(tree: &Tree, rel: &str, reason: String) -> Error {
    Error::UnsafePath {
        path: PathBuf::from(tree.display_path(rel)),
        reason,
    }
}

/// Checks `rel` lexically: what can be refused without touching the disk.
fn lexical(rel: &str) -> std::result::Result<(), &'static str> {
    if rel.is_empty() {
        return Err("the path is empty");
    }
    if rel.starts_with('/') {
        return Err("an absolute path is not below the tree's root");
    }
    if rel.contains(['\\', '\0']) {
        return Err("a path below the tree uses `/` separators and no NUL byte");
    }
    if rel
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err("a path below the tree has no empty, `.` or `..` segment");
    }
    Ok(())
}

/// The successive prefixes of a `/`-separated path: `a`, `a/b`, `a/b/c`.
fn prefixes(rel: &str) -> impl Iterator<Item = &str> {
    rel.match_indices('/')
        .map(|(i, _)| &rel[..i])
        .chain(std::iter::once(rel))
}

impl Tree {
    /// Checks `rel` (relative to the root) for any operation: see the module doc.
    ///
    /// # Errors
    /// [`Error::UnsafePath`] naming the component that is a link (and where it leads) or the
    /// lexical rule that is broken.
    pub fn safe(&self, rel: &str) -> Result<SafePath> {
        lexical(rel).map_err(|why| unsafe_path(self, rel, why.to_string()))?;
        for done in prefixes(rel) {
            let at = self.root.join(done);
            match fs::symlink_metadata(&at) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(self.link_error(rel, done, &at));
                }
                Ok(_) => {}
                // Nothing below a missing component exists; creating it is checked again.
                Err(_) => break,
            }
        }
        Ok(SafePath {
            rel: rel.to_string(),
            abs: self.root.join(rel),
        })
    }

    fn link_error(&self, rel: &str, component: &str, at: &Path) -> Error {
        let target = fs::read_link(at)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "somewhere unreadable".into());
        let outside = match (fs::canonicalize(at), fs::canonicalize(&self.root)) {
            (Ok(resolved), Ok(root)) => !resolved.starts_with(root),
            _ => true,
        };
        let place = if outside {
            "outside the memory tree"
        } else {
            "elsewhere in the tree"
        };
        unsafe_path(
            self,
            rel,
            format!(
                "{} is a symbolic link to {target} ({place}); memtree does not follow links \
                 inside .memory",
                self.display_path(component)
            ),
        )
    }

    /// Reads a whole file (refusing a link as the final component).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn read(&self, p: &SafePath) -> Result<Vec<u8>> {
        self.read_limited(p, u64::MAX).map(|(bytes, _)| bytes)
    }

    /// Reads a whole file and returns its metadata, from one open file (so they agree).
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn read_with_metadata(&self, p: &SafePath) -> Result<(Vec<u8>, fs::Metadata)> {
        use std::io::Read as _;
        let mut file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p.abs)
            .map_err(|e| self.io_error("cannot read", p, e))?;
        let meta = file
            .metadata()
            .map_err(|e| self.io_error("cannot read", p, e))?;
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.read_to_end(&mut bytes)
            .map_err(|e| self.io_error("cannot read", p, e))?;
        Ok((bytes, meta))
    }

    /// Reads an entry file for indexing: at most [`Tree::max_file_bytes`] + 1 bytes, so that a
    /// file over the limit reads as such (see [`crate::record::Record::parse_limited`]) without
    /// being read whole.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn read_entry(&self, p: &SafePath) -> Result<Vec<u8>> {
        self.read_limited(p, self.max_file_bytes.saturating_add(1))
            .map(|(bytes, _)| bytes)
    }

    /// Reads at most `limit` bytes of a file; also returns the file's full size in bytes.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn read_limited(&self, p: &SafePath, limit: u64) -> Result<(Vec<u8>, u64)> {
        use std::io::Read as _;
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p.abs)
            .map_err(|e| self.io_error("cannot read", p, e))?;
        let size = file
            .metadata()
            .map_err(|e| self.io_error("cannot read", p, e))?
            .len();
        let mut bytes = Vec::with_capacity(size.min(limit) as usize);
        file.take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io_error("cannot read", p, e))?;
        Ok((bytes, size))
    }

    fn io_error(&self, action: &'static str, p: &SafePath, e: std::io::Error) -> Error {
        if e.raw_os_error() == Some(libc::ELOOP) {
            return unsafe_path(
                self,
                &p.rel,
                format!(
                    "{} is a symbolic link; memtree does not follow links inside .memory",
                    self.display_path(&p.rel)
                ),
            );
        }
        Error::io(action, self.display_path(&p.rel), e)
    }

    /// Creates the folders above `p` one at a time, refusing a link that appears among them.
    ///
    /// # Errors
    /// [`Error::UnsafePath`] or [`Error::Io`].
    pub fn create_parents(&self, p: &SafePath) -> Result<()> {
        let Some((parent, _)) = p.rel.rsplit_once('/') else {
            return Ok(());
        };
        for done in prefixes(parent) {
            let at = self.root.join(done);
            match fs::symlink_metadata(&at) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(self.link_error(&p.rel, done, &at));
                }
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(unsafe_path(
                        self,
                        &p.rel,
                        format!("{} is a file, not a folder", self.display_path(done)),
                    ));
                }
                Err(_) => match fs::create_dir(&at) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        // Made by another process meanwhile: check it like any other.
                        if fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                            return Err(self.link_error(&p.rel, done, &at));
                        }
                    }
                    Err(e) => {
                        return Err(Error::io(
                            "cannot create folder",
                            self.display_path(done),
                            e,
                        ));
                    }
                },
            }
        }
        Ok(())
    }

    /// Writes `bytes` to a new temporary file in `.cache/staging` (which git ignores, so a
    /// crash never leaves a file `git add -A` would commit), synced to disk, and creates the
    /// folders above `p`. New files get mode 0666 less the umask, like any editor's; when `p`
    /// exists its mode is kept.
    ///
    /// # Errors
    /// [`Error::UnsafePath`] or [`Error::Io`]; [`Error::Refused`] when `.cache` is on another
    /// filesystem than `p` (a rename could not be atomic); nothing is left behind on error.
    pub fn stage(&self, p: &SafePath, bytes: &[u8]) -> Result<tempfile::TempPath> {
        use std::os::unix::fs::MetadataExt as _;
        self.create_parents(p)?;
        let staging = self.safe(&format!("{STAGING_DIR}/x"))?;
        self.create_parents(&staging)?;
        let dir = staging.abs.parent().unwrap_or(&self.root);
        let target_dir = p.abs.parent().unwrap_or(&self.root);
        // The install renames into the target's folder: a folder that cannot be written fails
        // here, before anything is installed.
        rustix::fs::access(target_dir, rustix::fs::Access::WRITE_OK).map_err(|e| {
            let folder = p.rel.rsplit_once('/').map_or("", |(d, _)| d);
            Error::io(
                "cannot write in",
                self.display_path(folder),
                std::io::Error::from(e),
            )
        })?;
        let dev = |d: &Path| fs::metadata(d).map(|m| m.dev()).ok();
        if dev(dir) != dev(target_dir) {
            return Err(Error::Refused(format!(
                "{} is on another filesystem than {}: memtree stages writes there so that \
                 installing them is one atomic rename",
                self.display_path(STAGING_DIR),
                self.display_path(&p.rel)
            )));
        }
        let permissions = match fs::symlink_metadata(&p.abs) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(self.link_error(&p.rel, &p.rel, &p.abs));
            }
            Ok(meta) => meta.permissions(),
            Err(_) => {
                use std::os::unix::fs::PermissionsExt;
                fs::Permissions::from_mode(0o666)
            }
        };
        let shown = self.display_path(STAGING_DIR);
        let mut tmp = tempfile::Builder::new()
            .prefix(".memtree-")
            .suffix(".tmp")
            .permissions(permissions)
            .tempfile_in(dir)
            .map_err(|e| Error::io("cannot create a temporary file in", &shown, strip_path(e)))?;
        tmp.write_all(bytes)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| Error::io("cannot write a temporary file in", &shown, e))?;
        Ok(tmp.into_temp_path())
    }

    /// Renames the staged temporary file `tmp` (from [`Tree::stage`], kept) onto `p`: atomic,
    /// `p` is either its old or its new content. Then syncs the folder so that the rename
    /// survives a crash. On error `tmp` is left in place (a changeset's recovery needs it).
    ///
    /// # Errors
    /// [`Error::UnsafePath`] when `p` became a link; [`Error::Io`].
    pub fn install(&self, tmp: &Path, p: &SafePath) -> Result<()> {
        if fs::symlink_metadata(&p.abs).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(self.link_error(&p.rel, &p.rel, &p.abs));
        }
        crate::failpoint::hit("rename");
        fs::rename(tmp, &p.abs).map_err(|e| self.io_error("cannot replace", p, e))?;
        sync_dir(p.abs.parent().unwrap_or(&self.root));
        Ok(())
    }

    /// Installs the staged file `tmp` as the new file `p`, which must not exist: one
    /// `renameat2(RENAME_NOREPLACE)`, so a file created meanwhile is never replaced (where the
    /// filesystem has no such rename: `link` then `unlink`, which refuses an existing name the
    /// same way).
    ///
    /// # Errors
    /// [`Error::Conflict`] when `p` exists; [`Error::UnsafePath`]; [`Error::Io`].
    pub(crate) fn install_new(&self, tmp: &Path, p: &SafePath) -> Result<()> {
        crate::failpoint::hit("rename");
        let result = match rename_with(tmp, &p.abs, rustix::fs::RenameFlags::NOREPLACE) {
            Err(e) if unsupported(&e) => {
                fs::hard_link(tmp, &p.abs).and_then(|()| fs::remove_file(tmp))
            }
            other => other,
        };
        match result {
            Ok(()) => {
                sync_dir(p.abs.parent().unwrap_or(&self.root));
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(Error::Conflict {
                file: PathBuf::from(self.display_path(&p.rel)),
                reason: "it was created by someone else meanwhile".into(),
            }),
            Err(e) => Err(self.io_error("cannot create", p, e)),
        }
    }

    /// Puts the staged file `tmp` in place of the existing file `p` and moves what was there to
    /// `aside` (a path in `.cache/staging`), whatever it was: one
    /// `renameat2(RENAME_EXCHANGE)`, so an edit saved by hand just before is displaced to
    /// `aside`, never destroyed, and the caller compares it with what it planned from. Where the
    /// filesystem cannot exchange: `link(p, aside)` then `rename(tmp, p)`, which leaves a window
    /// of a few microseconds between the two calls.
    ///
    /// # Errors
    /// [`Error::Conflict`] when `p` no longer exists; [`Error::UnsafePath`]; [`Error::Io`].
    pub(crate) fn swap_in(&self, tmp: &Path, p: &SafePath, aside: &Path) -> Result<()> {
        let gone = || Error::Conflict {
            file: PathBuf::from(self.display_path(&p.rel)),
            reason: "it was deleted by someone else meanwhile".into(),
        };
        if fs::symlink_metadata(&p.abs).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(self.link_error(&p.rel, &p.rel, &p.abs));
        }
        crate::failpoint::hit("rename");
        match rename_with(tmp, &p.abs, rustix::fs::RenameFlags::EXCHANGE) {
            Ok(()) => {
                sync_dir(p.abs.parent().unwrap_or(&self.root));
                crate::failpoint::hit("rename");
                fs::rename(tmp, aside).map_err(|e| self.io_error("cannot stage the old", p, e))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(gone()),
            Err(e) if unsupported(&e) => {
                match fs::hard_link(&p.abs, aside) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(gone()),
                    // No hard links here: a copy keeps the old content just as well.
                    Err(_) => {
                        fs::copy(&p.abs, aside)
                            .map_err(|e| self.io_error("cannot stage the old", p, e))?;
                    }
                }
                self.install(tmp, p)
            }
            Err(e) => Err(self.io_error("cannot replace", p, e)),
        }
    }

    /// Whether `p` exists as a file memtree may remove or move away: `false` when it does not
    /// exist.
    ///
    /// # Errors
    /// [`Error::UnsafePath`] when it is a link or a folder.
    fn removable(&self, p: &SafePath) -> Result<bool> {
        match fs::symlink_metadata(&p.abs) {
            Ok(meta) if meta.file_type().is_symlink() => {
                Err(self.link_error(&p.rel, &p.rel, &p.abs))
            }
            Ok(meta) if meta.is_dir() => Err(unsafe_path(
                self,
                &p.rel,
                "it is a folder, and memtree removes single entry files only".into(),
            )),
            Ok(_) => Ok(true),
            Err(_) => Ok(false),
        }
    }

    /// Moves the file `p` to `aside` (in `.cache/staging`): how a changeset deletes, so that
    /// whatever was there last can still be compared and put back.
    ///
    /// # Errors
    /// [`Error::Conflict`] when `p` no longer exists; [`Error::UnsafePath`] when it is a link
    /// or a folder; [`Error::Io`].
    pub(crate) fn move_aside(&self, p: &SafePath, aside: &Path) -> Result<()> {
        if !self.removable(p)? {
            return Err(Error::Conflict {
                file: PathBuf::from(self.display_path(&p.rel)),
                reason: "it was deleted by someone else meanwhile".into(),
            });
        }
        crate::failpoint::hit("rename");
        fs::rename(&p.abs, aside).map_err(|e| self.io_error("cannot remove", p, e))?;
        sync_dir(p.abs.parent().unwrap_or(&self.root));
        Ok(())
    }

    /// Writes `bytes` to `p` atomically: [`Tree::stage`] then [`Tree::install`]. A crash
    /// leaves either the old file or the new one, never half of either.
    ///
    /// # Errors
    /// As [`Tree::stage`] and [`Tree::install`]; on error the target is untouched and the
    /// temporary file removed.
    pub fn write_atomic(&self, p: &SafePath, bytes: &[u8]) -> Result<()> {
        let staged = self.stage(p, bytes)?;
        self.install(&staged, p)?;
        // Renamed away: nothing left for `TempPath` to delete.
        let _ = staged.keep();
        Ok(())
    }

    /// Appends `bytes` to `p` with one `O_APPEND` write (creating it and its folders), never
    /// through a link: for logs in `.cache` (usage, the hook log).
    ///
    /// # Errors
    /// [`Error::UnsafePath`] or [`Error::Io`].
    pub fn append(&self, p: &SafePath, bytes: &[u8]) -> Result<()> {
        self.create_parents(p)?;
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&p.abs)
            .map_err(|e| self.io_error("cannot append to", p, e))?;
        file.write_all(bytes)
            .map_err(|e| self.io_error("cannot append to", p, e))
    }

    /// Deletes the file `p` (never what a link points to), then removes the folders it leaves
    /// empty, up to but never including the root.
    ///
    /// # Errors
    /// [`Error::UnsafePath`] when `p` is a link or a folder; [`Error::Io`].
    pub fn remove(&self, p: &SafePath) -> Result<()> {
        self.removable(p)?;
        fs::remove_file(&p.abs).map_err(|e| self.io_error("cannot remove", p, e))?;
        sync_dir(p.abs.parent().unwrap_or(&self.root));
        self.prune_empty_folders(p);
        Ok(())
    }

    /// Removes the folders above `p` that are empty, deepest first, stopping at the first one
    /// that is not empty, is a link, or is the root. Never fails: a folder left behind is
    /// harmless.
    pub fn prune_empty_folders(&self, p: &SafePath) {
        let mut rel = p.rel.as_str();
        while let Some((parent, _)) = rel.rsplit_once('/') {
            let dir = self.root.join(parent);
            let is_real_dir = fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
            if !is_real_dir || fs::remove_dir(&dir).is_err() {
                break;
            }
            rel = parent;
        }
    }
}

/// `renameat2(old, new, flags)` relative to the current folder (both paths are absolute).
fn rename_with(old: &Path, new: &Path, flags: rustix::fs::RenameFlags) -> std::io::Result<()> {
    rustix::fs::renameat_with(rustix::fs::CWD, old, rustix::fs::CWD, new, flags)
        .map_err(std::io::Error::from)
}

/// The filesystem (or kernel) has no `renameat2` with this flag.
fn unsupported(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
    )
}

/// tempfile's errors repeat the path of the temporary file; the caller names the folder.
fn strip_path(e: std::io::Error) -> std::io::Error {
    std::io::Error::from(e.kind())
}

/// Syncs a folder so that a rename or unlink in it is durable. Best effort: some filesystems
/// refuse to open a folder for syncing, and the data itself was already synced.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// An empty tree in a new temporary folder, for unit tests.
#[cfg(test)]
pub(crate) fn temp_tree() -> (tempfile::TempDir, Tree) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".memory");
    fs::create_dir_all(&root).unwrap();
    (dir, Tree::new(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> (tempfile::TempDir, Tree) {
        temp_tree()
    }

    #[test]
    fn lexical_rules() {
        let (_d, t) = tree();
        for bad in ["", "/a/b", "a/../b", "a//b", "./a", "a\\b", "a/./b", "a/b/"] {
            assert!(t.safe(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(t.safe("a/b/c.md").is_ok());
        assert!(t.safe(".cache/index").is_ok());
    }

    #[test]
    fn links_are_refused_wherever_they_are() {
        let (_d, t) = tree();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("e.md"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), t.root.join("d")).unwrap();
        let err = t.safe("d/e.md").unwrap_err().to_string();
        assert!(err.contains("outside the memory tree"), "{err}");
        fs::create_dir_all(t.root.join("in/side")).unwrap();
        std::os::unix::fs::symlink(t.root.join("in"), t.root.join("alias")).unwrap();
        let err = t.safe("alias/side/x.md").unwrap_err().to_string();
        assert!(err.contains("elsewhere in the tree"), "{err}");
    }

    #[test]
    fn a_link_swapped_in_after_the_check_is_not_followed() {
        let (_d, t) = tree();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.root.join("a/b")).unwrap();
        let p = t.safe("a/b/c.md").unwrap();
        let target = outside.path().join("secret.md");
        fs::write(&target, "outside").unwrap();
        std::os::unix::fs::symlink(&target, t.root.join("a/b/c.md")).unwrap();
        assert!(matches!(t.read(&p), Err(Error::UnsafePath { .. })));
        assert!(t.remove(&p).is_err());
        assert!(t.write_atomic(&p, b"new").is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "outside");
    }

    #[test]
    fn clean_up_stops_at_the_root() {
        let (_d, t) = tree();
        let p = t.safe("a/b/c/d.md").unwrap();
        t.write_atomic(&p, b"x").unwrap();
        t.remove(&p).unwrap();
        assert!(!t.root.join("a").exists());
        assert!(t.root.is_dir());
    }
}
