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
//! - a path ignored by `.gitignore`: not committed, and the report says so;
//! - `.git/index.lock` held by another git process: not committed (HEAD does not move), and
//!   the report says `git index locked` (see `commit.rs`);
//! - HEAD moved by someone else while memtree committed: the commit is rebuilt on the new HEAD.
//!
//! Files: `commit.rs` (a changeset as one commit, under the index lock), `log.rs` (history
//! following moves), `revision.rs` (`--at REV`, content at a revision, local changes).

mod commit;
mod log;
mod revision;

use std::path::Path;

use git2::{ObjectType, Oid, Repository, RepositoryState, Signature};
use serde::Serialize;

pub use log::{Change, Version};

use crate::error::{Error, Result};
use crate::tree::Tree;

/// The skip reason of a write made with `--no-commit`.
pub const NO_COMMIT_FLAG: &str = "--no-commit";
/// The skip reason when `git.auto_commit` is off.
pub const AUTO_COMMIT_OFF: &str = "git.auto_commit is off in memtree.yaml";
/// The skip reason of a write that changed nothing.
pub const NOTHING_CHANGED: &str = "nothing changed";
/// The skip reason of a dry run.
pub const DRY_RUN: &str = "--dry-run";
/// The skip reason outside a git repository.
pub const NOT_IN_A_REPOSITORY: &str = "not inside a git repository";

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
    /// The commit was skipped for a reason that passes (the git index locked by another git
    /// command, HEAD moving, a git error): a change that a crash interrupted keeps its journal,
    /// so that the next memtree command commits it.
    #[serde(skip)]
    pub retry: bool,
}

impl CommitReport {
    /// A report for a write that was not committed, and why.
    pub fn skipped(why: impl Into<String>) -> CommitReport {
        CommitReport {
            id: None,
            message: None,
            skipped: Some(why.into()),
            retry: false,
        }
    }

    /// A report for a commit skipped for a reason that passes (see [`CommitReport::retry`]).
    pub fn retry(why: impl Into<String>) -> CommitReport {
        CommitReport {
            retry: true,
            ..CommitReport::skipped(why)
        }
    }

    /// Why nothing was committed, when a user should hear it: not when they asked for no
    /// commit (`--no-commit`, `git.auto_commit: false`), nothing changed, or there is no
    /// repository at all.
    pub fn notable_skip(&self) -> Option<&str> {
        const QUIET: [&str; 5] = [
            DRY_RUN,
            NO_COMMIT_FLAG,
            AUTO_COMMIT_OFF,
            NOTHING_CHANGED,
            NOT_IN_A_REPOSITORY,
        ];
        self.skipped.as_deref().filter(|why| !QUIET.contains(why))
    }
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
        let repo = Repository::discover(&tree.root).map_err(|_| NOT_IN_A_REPOSITORY.to_string())?;
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

    fn strip_prefix<'a>(&self, repo_path: &'a str) -> &'a str {
        if self.prefix.is_empty() {
            repo_path
        } else {
            repo_path
                .strip_prefix(&self.prefix)
                .map_or(repo_path, |r| r.trim_start_matches('/'))
        }
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
