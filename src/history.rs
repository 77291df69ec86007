//! Git (git2, libgit2 vendored): commit a changeset, an entry's history following moves, an
//! entry's content at any revision (DESIGN.md §5).
//!
//! Commits are built from HEAD's tree plus exactly the changeset's files, the way
//! `git commit -- PATH...` does: the user's staged and unstaged work on other files is never
//! touched, and the index entries of the committed files are set to what was committed (so
//! `git status` stays clean for them). libgit2 runs no hooks, so memtree's own commits never
//! trigger a post-commit hook that would call memtree again.
//!
//! Repository states, each with a defined behaviour:
//! - no repository, a bare one, or `.memory` outside the work tree: writes work, nothing is
//!   committed, and the report says why; history commands fail with [`Error::NoGit`];
//! - an unborn branch (a fresh `git init`): the first commit has no parent and creates it;
//! - a detached HEAD: the commit moves the detached HEAD, as `git commit` would;
//! - a merge, rebase, cherry-pick, revert or bisect in progress: nothing is committed (a commit
//!   would become part of that operation); the files are written and the report says so;
//! - a path ignored by `.gitignore`: not committed, and the report says so.

use std::path::Path;

use git2::{
    DiffFindOptions, DiffOptions, ErrorCode, FileMode, ObjectType, Oid, Repository,
    RepositoryState, Signature, Sort,
};
use serde::Serialize;

use crate::changeset::Applied;
use crate::error::{Error, Result};
use crate::tree::Tree;

/// What happened to git for one write (`commit` in write reports).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct CommitReport {
    /// The new commit's id (40 hex digits), when one was made.
    pub id: Option<String>,
    /// The commit message, when one was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Why nothing was committed, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl CommitReport {
    /// A report for a write that was not committed, and why.
    pub fn skipped(why: impl Into<String>) -> CommitReport {
        CommitReport {
            id: None,
            message: None,
            skipped: Some(why.into()),
        }
    }
}

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

/// The repository that holds a tree.
pub struct Repo {
    repo: Repository,
    /// `.memory`'s path relative to the work tree, `/`-separated (`.memory`, `docs/.memory`).
    prefix: String,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn git_err(e: git2::Error) -> Error {
    Error::Git(e.message().to_string())
}

/// A unified diff of two texts (`a/PATH`, `b/PATH` headers, 3 lines of context).
pub fn unified_diff(old: &str, new: &str, old_path: &str, new_path: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{old_path}"), &format!("b/{new_path}"))
        .to_string()
}

impl Repo {
    /// The repository whose work tree holds `tree`, if any. `Err` carries the reason there is
    /// none (for reports).
    pub fn discover(tree: &Tree) -> std::result::Result<Repo, String> {
        let repo = Repository::discover(&tree.root)
            .map_err(|_| "not inside a git repository".to_string())?;
        let workdir = repo
            .workdir()
            .ok_or_else(|| "the git repository is bare".to_string())?;
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let prefix = canon(&tree.root)
            .strip_prefix(canon(workdir))
            .map_err(|_| "the memory tree is outside the git work tree".to_string())?
            .to_string_lossy()
            .replace('\\', "/");
        Ok(Repo { repo, prefix })
    }

    /// The repository of `tree`, for commands that need history.
    ///
    /// # Errors
    /// [`Error::NoGit`] with the reason.
    pub fn open(tree: &Tree) -> Result<Repo> {
        Repo::discover(tree).map_err(Error::NoGit)
    }

    fn repo_path(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    fn signature(&self, now: jiff::Timestamp) -> Result<Signature<'static>> {
        let time = git2::Time::new(now.as_second(), 0);
        let config = self.repo.config().ok();
        let get = |env: &str, key: &str| {
            std::env::var(env)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .or_else(|| config.as_ref().and_then(|c| c.get_string(key).ok()))
        };
        let name = get("GIT_AUTHOR_NAME", "user.name").unwrap_or_else(|| "memtree".into());
        let email =
            get("GIT_AUTHOR_EMAIL", "user.email").unwrap_or_else(|| "memtree@localhost".into());
        Signature::new(&name, &email, &time).map_err(git_err)
    }

    /// Commits exactly the files of `applied` (paths relative to `.memory/`, as they are now on
    /// disk: a missing file is a deletion) with `message`, on top of HEAD. See the module doc
    /// for the states in which nothing is committed.
    ///
    /// # Errors
    /// [`Error::Git`] when libgit2 fails (the files are already written).
    pub fn commit(
        &self,
        tree: &Tree,
        applied: &Applied,
        message: &str,
        now: jiff::Timestamp,
    ) -> Result<CommitReport> {
        let state = self.repo.state();
        if state != RepositoryState::Clean {
            return Ok(CommitReport::skipped(format!(
                "the repository is in the middle of a {}; memtree's changes are left for you to \
                 commit",
                state_name(state)
            )));
        }
        let mut paths = Vec::new();
        for rel in &applied.paths {
            let repo_path = self.repo_path(rel);
            if self
                .repo
                .is_path_ignored(Path::new(&repo_path))
                .unwrap_or(false)
            {
                return Ok(CommitReport::skipped(format!(
                    "{repo_path} is ignored by .gitignore"
                )));
            }
            paths.push((rel.as_str(), repo_path));
        }
        let head = match self.repo.head() {
            Ok(r) => Some(r.peel_to_commit().map_err(git_err)?),
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => None,
            Err(e) => return Err(git_err(e)),
        };
        let base = match &head {
            Some(c) => c.tree().map_err(git_err)?,
            None => {
                let empty = self
                    .repo
                    .treebuilder(None)
                    .and_then(|b| b.write())
                    .map_err(git_err)?;
                self.repo.find_tree(empty).map_err(git_err)?
            }
        };
        let mut update = git2::build::TreeUpdateBuilder::new();
        let mut present = Vec::new();
        for (rel, repo_path) in &paths {
            let file = tree.safe(rel)?;
            match tree.read(&file) {
                Ok(bytes) => {
                    let oid = self.repo.blob(&bytes).map_err(git_err)?;
                    update.upsert(repo_path.as_str(), oid, FileMode::Blob);
                    present.push((repo_path.clone(), true));
                }
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    if base.get_path(Path::new(repo_path)).is_ok() {
                        update.remove(repo_path.as_str());
                    }
                    present.push((repo_path.clone(), false));
                }
                Err(e) => return Err(e),
            }
        }
        let tree_id = update.create_updated(&self.repo, &base).map_err(git_err)?;
        if head.is_some() && tree_id == base.id() {
            return Ok(CommitReport::skipped(
                "git already has this content; nothing to commit",
            ));
        }
        let new_tree = self.repo.find_tree(tree_id).map_err(git_err)?;
        let sig = self.signature(now)?;
        let parents: Vec<&git2::Commit> = head.iter().collect();
        let message = format!("memtree: {message}");
        let id = self
            .repo
            .commit(Some("HEAD"), &sig, &sig, &message, &new_tree, &parents)
            .map_err(git_err)?;
        // The committed files' index entries follow the commit; every other entry (the user's
        // staged work) stays as it was.
        if let Ok(mut index) = self.repo.index() {
            for (repo_path, exists) in &present {
                let p = Path::new(repo_path);
                let _ = if *exists {
                    index.add_path(p)
                } else {
                    index.remove_path(p)
                };
            }
            let _ = index.write();
        }
        Ok(CommitReport {
            id: Some(id.to_string()),
            message: Some(message),
            skipped: None,
        })
    }

    /// Resolves a revision: anything git understands (`HEAD~3`, a hash, a tag, a branch), or a
    /// date (`2026-11-01`, `@{2026-11-01}`, RFC 3339) meaning the last commit on HEAD's
    /// first-parent line made at or before it.
    ///
    /// # Errors
    /// [`Error::Git`] naming the revision.
    pub fn resolve(&self, rev: &str) -> Result<git2::Commit<'_>> {
        if let Ok(obj) = self.repo.revparse_single(rev) {
            return obj.peel_to_commit().map_err(git_err);
        }
        // `2026-11-01`, or git's `@{2026-11-01}` / `main@{2026-11-01}` (read here as "on HEAD's
        // line at that date", without the reflog).
        let date = rev
            .rsplit_once("@{")
            .and_then(|(_, d)| d.strip_suffix('}'))
            .unwrap_or(rev);
        if let Some(when) = crate::entry::parse_time(date) {
            let mut commit = self
                .repo
                .head()
                .and_then(|h| h.peel_to_commit())
                .map_err(git_err)?;
            loop {
                if commit.time().seconds() <= when.as_second() {
                    return Ok(commit);
                }
                match commit.parent(0) {
                    Ok(p) => commit = p,
                    Err(_) => break,
                }
            }
            return Err(Error::Git(format!("no commit at or before {rev}")));
        }
        Err(Error::Git(format!("unknown revision `{rev}`")))
    }

    fn blob_at(&self, commit: &git2::Commit, repo_path: &str) -> Option<Oid> {
        let tree = commit.tree().ok()?;
        let entry = tree.get_path(Path::new(repo_path)).ok()?;
        (entry.kind() == Some(ObjectType::Blob)).then(|| entry.id())
    }

    fn text(&self, oid: Option<Oid>) -> String {
        oid.and_then(|o| self.repo.find_blob(o).ok())
            .map(|b| String::from_utf8_lossy(b.content()).into_owned())
            .unwrap_or_default()
    }

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

    fn strip_prefix<'a>(&self, repo_path: &'a str) -> &'a str {
        if self.prefix.is_empty() {
            repo_path
        } else {
            repo_path
                .strip_prefix(&self.prefix)
                .map_or(repo_path, |r| r.trim_start_matches('/'))
        }
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

    /// The content of the entry whose file is now `rel` as of `rev` (following renames), with
    /// the commit it resolved to and the file it had then (relative to `.memory/`).
    ///
    /// # Errors
    /// [`Error::Git`] for an unknown revision; [`Error::NotFound`] when the entry did not exist
    /// at that revision.
    pub fn content_at(
        &self,
        id: &str,
        rel: &str,
        rev: &str,
        limit: usize,
    ) -> Result<(String, String, Vec<u8>)> {
        let commit = self.resolve(rev)?;
        let mut path = self.repo_path(rel);
        if self.blob_at(&commit, &path).is_none() {
            // Moved since: the file it had then is the newest version at or before `rev`.
            let versions = self.log(rel, limit)?;
            let at = commit.id();
            let found = versions.iter().find(|v| {
                Oid::from_str(&v.commit)
                    .is_ok_and(|c| c == at || self.repo.graph_descendant_of(at, c).unwrap_or(false))
            });
            if let Some(v) = found {
                path = self.repo_path(&v.file);
            }
        }
        let blob = self
            .blob_at(&commit, &path)
            .ok_or_else(|| Error::NotFound {
                id: format!("{id} at {rev}"),
                suggestions: Vec::new(),
            })?;
        let bytes = self
            .repo
            .find_blob(blob)
            .map_err(git_err)?
            .content()
            .to_vec();
        Ok((
            commit.id().to_string(),
            self.strip_prefix(&path).to_string(),
            bytes,
        ))
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
            let path = |f: git2::DiffFile| {
                f.path().map(|p| {
                    self.strip_prefix(&p.to_string_lossy().replace('\\', "/"))
                        .to_string()
                })
            };
            let (new, old) = (path(d.new_file()), path(d.old_file()));
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

    /// The underlying git2 repository.
    pub fn git(&self) -> &Repository {
        &self.repo
    }

    /// The project folder (the parent of `.memory`) relative to the work tree: `.` when it is
    /// the work tree itself.
    pub fn project(&self) -> String {
        self.prefix
            .rsplit_once('/')
            .map_or_else(|| ".".to_string(), |(p, _)| p.to_string())
    }
}

fn state_name(state: RepositoryState) -> &'static str {
    match state {
        RepositoryState::Merge => "merge",
        RepositoryState::Revert | RepositoryState::RevertSequence => "revert",
        RepositoryState::CherryPick | RepositoryState::CherryPickSequence => "cherry-pick",
        RepositoryState::Bisect => "bisect",
        RepositoryState::Rebase
        | RepositoryState::RebaseInteractive
        | RepositoryState::RebaseMerge => "rebase",
        RepositoryState::ApplyMailbox | RepositoryState::ApplyMailboxOrRebase => "git am",
        RepositoryState::Clean => "clean state",
    }
}
