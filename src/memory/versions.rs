//! Versions from git: `history`, `diff`, `get --at`, `restore` (DESIGN.md §5). Outside a git
//! repository each of these fails with [`Error::NoGit`] saying why.

use super::{AtRevision, DiffReport, EntryView, HistoryReport, Memory, WriteReport};
use crate::changeset::{Base, Changeset, content_hash};
use crate::error::{Error, Result};
use crate::git::{Repo, unified_diff};
use crate::record::Record;
use crate::tree::{self, SafePath};

/// Commits `history` examines at most (a bounded revwalk).
pub const HISTORY_LIMIT: usize = 10_000;

impl Memory {
    /// The entry `input` names and its file: an existing entry, or else the file `ID.md` it
    /// would have (a deleted entry still has a history).
    fn resolve_or_past(&self, input: &str) -> Result<(String, SafePath)> {
        match self.resolve(input) {
            Ok(found) => Ok(found),
            Err(Error::NotFound { .. }) => {
                let id = tree::normalize_id(input);
                tree::validate_id(&id)?;
                Ok((id.clone(), self.tree.safe(&format!("{id}.md"))?))
            }
            Err(e) => Err(e),
        }
    }

    /// Every version of an entry in git, newest first, following moves, each with author,
    /// date, message and a diff from the version before.
    ///
    /// # Errors
    /// [`Error::NoGit`] outside a repository; [`Error::NotFound`] when git has no version.
    pub fn history(&self, input: &str) -> Result<HistoryReport> {
        let (id, path) = self.resolve_or_past(input)?;
        let repo = Repo::open(&self.tree)?;
        let versions = repo.log(path.rel(), HISTORY_LIMIT)?;
        if versions.is_empty() {
            return Err(Error::NotFound {
                id: format!("{id} in git history (it was never committed)"),
                suggestions: Vec::new(),
            });
        }
        Ok(HistoryReport {
            schema: "memtree.history/v1",
            id,
            file: self.tree.display_path(path.rel()),
            versions,
        })
    }

    /// The entry as it was at `rev` (a hash, `HEAD~3`, a tag, a branch, or a date such as
    /// `2026-11-01`), following moves.
    ///
    /// # Errors
    /// [`Error::NoGit`]; [`Error::Git`] for an unknown revision; [`Error::NotFound`] when the
    /// entry did not exist then.
    pub fn get_at(&self, input: &str, rev: &str) -> Result<EntryView> {
        let (id, path) = self.resolve_or_past(input)?;
        let repo = Repo::open(&self.tree)?;
        let (commit, file, bytes) = repo.content_at(&id, path.rel(), rev, HISTORY_LIMIT)?;
        let display = self.tree.display_path(&file);
        let r = Record::parse(&file, &bytes, &display)?;
        let at = AtRevision {
            rev: rev.to_string(),
            commit,
        };
        Ok(super::read::entry_view(
            id,
            display,
            &r,
            content_hash(&bytes),
            Some(at),
        ))
    }

    /// The difference between the entry at `rev` (default `HEAD`) and its file on disk.
    ///
    /// # Errors
    /// As [`Memory::get_at`].
    pub fn diff(&self, input: &str, rev: Option<&str>) -> Result<DiffReport> {
        let rev = rev.unwrap_or("HEAD");
        let (id, path) = self.resolve_or_past(input)?;
        let repo = Repo::open(&self.tree)?;
        let (commit, file, bytes) = repo.content_at(&id, path.rel(), rev, HISTORY_LIMIT)?;
        let old = String::from_utf8_lossy(&bytes).into_owned();
        let new = match self.tree.read(&path) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                String::new()
            }
            Err(e) => return Err(e),
        };
        let prefix = |rel: &str| self.tree.display_path(rel);
        Ok(DiffReport {
            schema: "memtree.diff/v1",
            id,
            rev: rev.to_string(),
            commit,
            changed: old != new,
            diff: unified_diff(&old, &new, &prefix(&file), &prefix(path.rel())),
        })
    }

    /// Brings back the entry as it was at `rev`, written to its current file (or, when it was
    /// deleted, to the file it had then) as a new change, committed like any write.
    ///
    /// The current file is replaced only when git has its content (as `git rm` asks), unless
    /// `force`.
    ///
    /// # Errors
    /// As [`Memory::get_at`]; [`Error::LocalChanges`]; the errors of a write.
    pub fn restore(&self, input: &str, rev: &str, force: bool) -> Result<WriteReport> {
        let (id, path) = self.resolve_or_past(input)?;
        let repo = Repo::open(&self.tree)?;
        let (commit, file, bytes) = repo.content_at(&id, path.rel(), rev, HISTORY_LIMIT)?;
        let exists = std::fs::symlink_metadata(path.abs()).is_ok();
        let target = if exists { path } else { self.tree.safe(&file)? };
        let lock = self.lock()?;
        let base = match self.tree.read(&target) {
            Ok(current) if current == bytes => {
                return Ok(WriteReport {
                    schema: "memtree.restore/v1",
                    id,
                    file: self.tree.display_path(target.rel()),
                    changed: Vec::new(),
                    warnings: vec![format!("the entry is already as it was at {rev}")],
                    commit: crate::git::CommitReport::skipped(crate::git::NOTHING_CHANGED),
                });
            }
            Ok(current) => {
                self.refuse_local_changes(&target, &current, force)?;
                Base::Content(content_hash(&current))
            }
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Base::Absent
            }
            Err(e) => return Err(e),
        };
        let short = &commit[..commit.len().min(7)];
        let mut changeset = Changeset::new(format!("restore {id} as of {rev} ({short})"));
        let file_shown = self.tree.display_path(target.rel());
        changeset.write(target, bytes, base);
        let commit = self.commit(&lock, changeset)?;
        Ok(WriteReport {
            schema: "memtree.restore/v1",
            id,
            file: file_shown,
            changed: vec![format!("restored from {short}")],
            warnings: Vec::new(),
            commit,
        })
    }
}
