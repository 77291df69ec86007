//! An entry's history: every version reachable from HEAD following renames, and the entry
//! files changed since a revision.

use git2::{DiffFindOptions, DiffOptions, Sort};
use serde::Serialize;

use super::{Repo, git_err, unified_diff};
use crate::error::Result;

/// One version of an entry in git (`history` and `get --at`).
#[derive(Debug, Clone, Serialize)]
pub struct Version {
    /// Commit id (40 hex digits).
    pub commit: String,
    /// Author name.
    pub author: String,
    /// Author email.
    pub email: String,
    /// Commit time, RFC 3339 (UTC).
    pub date: String,
    /// The commit message's first line.
    pub message: String,
    /// The entry's file at this version, relative to `.memory/`.
    pub file: String,
    /// `added`, `modified`, `renamed` (from `renamed_from`) or `deleted`.
    pub status: &'static str,
    /// The file before a rename, relative to `.memory/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// Unified diff from the previous version to this one.
    pub diff: String,
}

/// An entry file changed since a revision ([`Repo::changed_since`]).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    /// `added`, `modified`, `deleted` or `renamed`.
    pub status: &'static str,
    /// The file now (its last path when deleted), relative to `.memory/`.
    pub file: String,
    /// The file before a rename.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
}

impl Repo {
    /// The path `repo_path` had in `parent` when `commit` renamed it there (rename detection
    /// over the memory folder), if it did.
    fn renamed_from(
        &self,
        parent: &git2::Commit,
        commit: &git2::Commit,
        repo_path: &str,
    ) -> Option<String> {
        let mut opts = DiffOptions::new();
        if !self.prefix.is_empty() {
            opts.pathspec(&self.prefix);
        }
        let old = parent.tree().ok()?;
        let new = commit.tree().ok()?;
        let mut diff = self
            .repo
            .diff_tree_to_tree(Some(&old), Some(&new), Some(&mut opts))
            .ok()?;
        diff.find_similar(Some(DiffFindOptions::new().renames(true)))
            .ok()?;
        diff.deltas().find_map(|d| {
            let new_path = d.new_file().path()?.to_string_lossy().replace('\\', "/");
            (d.status() == git2::Delta::Renamed && new_path == repo_path)
                .then(|| d.old_file().path())
                .flatten()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
        })
    }

    /// Every version of the file `rel` (relative to `.memory/`) reachable from HEAD, newest
    /// first, following renames (`memtree mv`, `git mv`, a file manager) like
    /// `git log --follow`. Merge commits that took the file unchanged from a parent are
    /// skipped. At most `limit` commits are examined.
    ///
    /// # Errors
    /// [`Error::Git`] when the repository cannot be walked.
    pub fn log(&self, rel: &str, limit: usize) -> Result<Vec<Version>> {
        let mut walk = self.repo.revwalk().map_err(git_err)?;
        if walk.push_head().is_err() {
            return Ok(Vec::new()); // an unborn branch has no history yet
        }
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
            .map_err(git_err)?;
        let mut current = self.repo_path(rel);
        let mut out = Vec::new();
        for oid in walk.take(limit) {
            let oid = oid.map_err(git_err)?;
            let commit = self.repo.find_commit(oid).map_err(git_err)?;
            let new_id = self.blob_at(&commit, &current);
            let parents: Vec<git2::Commit> = commit.parents().collect();
            if parents.len() > 1 && parents.iter().any(|p| self.blob_at(p, &current) == new_id) {
                continue; // TREESAME to a parent: the change is on that parent's line
            }
            let parent = parents.first();
            let old_id = parent.and_then(|p| self.blob_at(p, &current));
            if new_id == old_id {
                continue;
            }
            let mut renamed_from = None;
            let (status, old_text) = match (old_id, new_id) {
                (None, Some(_)) => {
                    match parent.and_then(|p| self.renamed_from(p, &commit, &current)) {
                        Some(from) => {
                            let old = parent.and_then(|p| self.blob_at(p, &from));
                            renamed_from = Some(from);
                            ("renamed", self.text(old))
                        }
                        None => ("added", String::new()),
                    }
                }
                (Some(_), None) => ("deleted", self.text(old_id)),
                _ => ("modified", self.text(old_id)),
            };
            let new_text = self.text(new_id);
            let old_path = renamed_from.clone().unwrap_or_else(|| current.clone());
            let author = commit.author();
            let date = jiff::Timestamp::from_second(commit.time().seconds())
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default();
            out.push(Version {
                commit: oid.to_string(),
                author: author.name().unwrap_or("").to_string(),
                email: author.email().unwrap_or("").to_string(),
                date,
                message: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default())
                    .into_owned(),
                file: self.strip_prefix(&current).to_string(),
                status,
                renamed_from: renamed_from
                    .as_deref()
                    .map(|f| self.strip_prefix(f).to_string()),
                diff: unified_diff(&old_text, &new_text, &old_path, &current),
            });
            if status == "added" {
                break;
            }
            if let Some(from) = renamed_from {
                current = from;
            }
        }
        Ok(out)
    }

    /// Entry files under `.memory` that differ between `rev` and the work tree (committed since,
    /// staged or not), with renames detected: `(commit id, [(status, file, renamed from)])`,
    /// files relative to `.memory/`. Status is `added`, `modified`, `deleted` or `renamed`.
    ///
    /// # Errors
    /// [`Error::Git`] for an unknown revision.
    pub fn changed_since(&self, rev: &str) -> Result<(String, Vec<Change>)> {
        let commit = self.resolve(rev)?;
        let tree = commit.tree().map_err(git_err)?;
        let mut opts = DiffOptions::new();
        opts.include_untracked(true).recurse_untracked_dirs(true);
        if !self.prefix.is_empty() {
            opts.pathspec(&self.prefix);
        }
        let mut diff = self
            .repo
            .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut opts))
            .map_err(git_err)?;
        diff.find_similar(Some(
            DiffFindOptions::new().renames(true).for_untracked(true),
        ))
        .map_err(git_err)?;
        let mut out = Vec::new();
        for d in diff.deltas() {
            let status = match d.status() {
                git2::Delta::Added | git2::Delta::Untracked => "added",
                git2::Delta::Deleted => "deleted",
                git2::Delta::Renamed => "renamed",
                git2::Delta::Modified | git2::Delta::Typechange | git2::Delta::Copied => "modified",
                _ => continue,
            };
            let (new, old) = (self.diff_path(d.new_file()), self.diff_path(d.old_file()));
            let Some(file) = new.clone().or(old.clone()) else {
                continue;
            };
            if !file.ends_with(".md") || file.starts_with('.') || file.contains("/.") {
                continue;
            }
            out.push(Change {
                status,
                file,
                renamed_from: (status == "renamed").then_some(old).flatten(),
            });
        }
        Ok((commit.id().to_string(), out))
    }

    /// Entry files renamed recently: in the work tree against HEAD, and in HEAD's last `limit`
    /// commits (first parents), with libgit2's rename detection (by content, so a file that
    /// was renamed and edited a little is still found). Returns `(old, newest)` paths relative
    /// to `.memory/`, chains followed (`a` -> `b` then `b` -> `c` gives `a` -> `c`).
    ///
    /// # Errors
    /// [`crate::Error::Git`] when the repository cannot be read.
    pub fn renames(&self, limit: usize) -> Result<Vec<(String, String)>> {
        let mut opts = DiffOptions::new();
        if !self.prefix.is_empty() {
            opts.pathspec(&self.prefix);
        }
        let pairs_of = |diff: &mut git2::Diff| -> Result<Vec<(String, String)>> {
            diff.find_similar(Some(
                DiffFindOptions::new().renames(true).for_untracked(true),
            ))
            .map_err(git_err)?;
            Ok(diff
                .deltas()
                .filter(|d| d.status() == git2::Delta::Renamed)
                .filter_map(|d| {
                    Some((self.diff_path(d.old_file())?, self.diff_path(d.new_file())?))
                })
                .collect())
        };
        // Oldest first, so that a later rename extends an earlier one.
        let mut steps: Vec<Vec<(String, String)>> = Vec::new();
        if let Ok(head) = self.repo.head().and_then(|h| h.peel_to_commit()) {
            let mut commit = head.clone();
            for _ in 0..limit {
                let Ok(parent) = commit.parent(0) else { break };
                let (old, new) = (
                    parent.tree().map_err(git_err)?,
                    commit.tree().map_err(git_err)?,
                );
                let mut diff = self
                    .repo
                    .diff_tree_to_tree(Some(&old), Some(&new), Some(&mut opts))
                    .map_err(git_err)?;
                steps.push(pairs_of(&mut diff)?);
                commit = parent;
            }
            steps.reverse();
            let tree = head.tree().map_err(git_err)?;
            let mut wopts = DiffOptions::new();
            wopts.include_untracked(true).recurse_untracked_dirs(true);
            if !self.prefix.is_empty() {
                wopts.pathspec(&self.prefix);
            }
            let mut diff = self
                .repo
                .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut wopts))
                .map_err(git_err)?;
            steps.push(pairs_of(&mut diff)?);
        }
        let mut out: Vec<(String, String)> = Vec::new();
        for step in steps {
            for (old, new) in step {
                for pair in out.iter_mut().filter(|(_, n)| *n == old) {
                    pair.1 = new.clone();
                }
                out.push((old, new));
            }
        }
        Ok(out)
    }

    /// Why a git hook must not write now, if it must not: an operation in progress (a
    /// rebase, merge, cherry-pick, revert or bisect), or a detached HEAD (a tag or commit the
    /// user checked out: a commit would move HEAD off it).
    pub fn hook_must_not_write(&self) -> Option<String> {
        let state = self.repo.state();
        if state != git2::RepositoryState::Clean {
            return Some(format!("a {} is in progress", super::state_name(state)));
        }
        if self.repo.head_detached().unwrap_or(false) {
            return Some("HEAD is detached (a tag or commit is checked out)".into());
        }
        None
    }

    /// A diff side's path relative to `.memory/`.
    fn diff_path(&self, f: git2::DiffFile) -> Option<String> {
        f.path().map(|p| {
            self.strip_prefix(&p.to_string_lossy().replace('\\', "/"))
                .to_string()
        })
    }
}
