//! A changeset as one commit, made the way `git commit` makes one: under the index lock.
//!
//! 1. `.git/index.lock` is created exclusively, so no other git process changes the index
//!    (or commits) meanwhile; when it exists, nothing is committed and the report says
//!    `git index locked` — HEAD never moves without the index following it. memtree writes
//!    `memtree PID` into the lock it takes, so a lock left by a memtree that was killed (its
//!    process is gone) is recognised as stale and removed, with the temporary index it left
//!    (`.git/index.memtree*`); a lock of anyone else is never touched;
//! 2. the index, with the committed files' entries set to what will be committed (the
//!    contents memtree installed, not whatever the disk holds a moment later), is written to a
//!    temporary file and **installed before HEAD moves**: a kill between the two leaves the
//!    change staged (a `git commit` then commits it), never a HEAD that holds a commit the
//!    index does not (a `git commit` would then revert memtree's change);
//! 3. HEAD's tree plus exactly the changeset's files becomes the new tree, and a commit object;
//! 4. HEAD's branch is moved from the commit it was built on to the new one in one
//!    compare-and-swap: when something moved HEAD meanwhile (a `git update-ref`, a commit made
//!    just before the lock was taken), the commit is rebuilt on the new HEAD and tried again;
//! 5. the lock is released.
//!
//! The failpoint `git` (debug builds) stops the process at each step boundary in turn: before
//! the index is written, before it is installed, before the commit object, before HEAD moves,
//! and before the lock is released.

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use git2::{ErrorCode, FileMode, Index, IndexEntry, IndexTime, RepositoryState};

use super::{CommitReport, Repo, git_err, state_name};
use crate::changeset::Applied;
use crate::error::{Error, Result};
use crate::tree::Tree;

/// How many times a commit is rebuilt on a HEAD that moved meanwhile before giving up.
const RETRIES: usize = 8;

/// What memtree writes into the `.git/index.lock` it takes, before its process id.
const LOCK_OWNER: &str = "memtree ";

/// `.git/index.lock`, held while a commit is made (removed on drop, with the temporary index).
struct IndexLock {
    lock: PathBuf,
    tmp: PathBuf,
}

impl IndexLock {
    /// Takes the lock, first removing one that a killed memtree left ([`stale_lock`]);
    /// `Ok(None)` when another process holds it.
    fn acquire(git_dir: &Path) -> Result<Option<IndexLock>> {
        let lock = git_dir.join("index.lock");
        let tmp = git_dir.join("index.memtree");
        for attempt in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock)
            {
                Ok(mut f) => {
                    let owner = format!("{LOCK_OWNER}{}\n", std::process::id());
                    std::io::Write::write_all(&mut f, owner.as_bytes())
                        .map_err(|e| Error::io("cannot write", &lock, e))?;
                    return Ok(Some(IndexLock { tmp, lock }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if attempt == 0 && stale_lock(git_dir) {
                        remove_stale(git_dir);
                        continue;
                    }
                    return Ok(None);
                }
                Err(e) => return Err(Error::io("cannot create", lock, e)),
            }
        }
        Ok(None)
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.tmp);
        let _ = fs::remove_file(self.tmp.with_extension("memtree.lock"));
        let _ = fs::remove_file(&self.lock);
    }
}

/// Whether `.git/index.lock` was left by a memtree that no longer runs: it names a memtree
/// process that is gone, or it is empty and memtree's temporary index is beside it (what a
/// memtree before this lock format left).
pub fn stale_lock(git_dir: &Path) -> bool {
    let lock = git_dir.join("index.lock");
    let Ok(bytes) = crate::tree::read_regular(&lock, 64) else {
        return false;
    };
    let text = String::from_utf8_lossy(&bytes);
    if let Some(pid) = text.strip_prefix(LOCK_OWNER) {
        let gone = pid
            .trim()
            .parse::<i32>()
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .is_some_and(|pid| {
                pid.as_raw_nonzero().get() != std::process::id() as i32
                    && rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH)
            });
        return gone;
    }
    bytes.is_empty() && git_dir.join("index.memtree").exists()
}

/// Removes a stale lock ([`stale_lock`]) and the temporary index files memtree left with it.
fn remove_stale(git_dir: &Path) {
    let _ = fs::remove_file(git_dir.join("index.memtree"));
    let _ = fs::remove_file(git_dir.join("index.memtree.lock"));
    let _ = fs::remove_file(git_dir.join("index.lock"));
}

impl Repo {
    /// Removes `.git/index.lock` when a killed memtree left it (it names a memtree process that is gone); whether it did.
    pub fn clear_stale_lock(&self) -> bool {
        let git_dir = self.repo.path();
        let stale = stale_lock(git_dir);
        if stale {
            remove_stale(git_dir);
        }
        stale
    }

    /// Whether `.git/index.lock` is one a killed memtree left.
    pub fn has_stale_lock(&self) -> bool {
        stale_lock(self.repo.path())
    }

    /// Commits exactly the files of `applied` (paths relative to `.memory/`, with the content
    /// memtree installed; `None` is a deletion) with `message`, on top of HEAD, as the module
    /// doc describes. See the module doc of [`super`] for the states in which nothing is
    /// committed; the report then says why.
    ///
    /// # Errors
    /// [`Error::Git`] when libgit2 fails (the files are already written; the caller reports it
    /// as a skipped commit).
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
        let mut files = Vec::new();
        for (rel, bytes) in &applied.files {
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
            let blob = match bytes {
                Some(b) => Some(self.repo.blob(b).map_err(git_err)?),
                None => None,
            };
            files.push((rel.as_str(), repo_path, bytes.as_deref(), blob));
        }
        let Some(lock) = IndexLock::acquire(self.repo.path())? else {
            return Ok(CommitReport::retry(format!(
                "git index locked: {} exists (another git command is running; if none is, it \
                 crashed and the file can be removed); memtree's changes are left on disk for \
                 you to commit",
                self.repo.path().join("index.lock").display()
            )));
        };
        // The new index, written to a temporary file and installed before HEAD moves (step 2).
        crate::failpoint::hit("git");
        let index_path = self.repo.path().join("index");
        let _ = fs::remove_file(&lock.tmp);
        if index_path.exists() {
            fs::copy(&index_path, &lock.tmp)
                .map_err(|e| Error::io("cannot copy", &index_path, e))?;
        }
        let mut index = Index::open(&lock.tmp).map_err(git_err)?;
        for (rel, repo_path, bytes, blob) in &files {
            match (bytes, blob) {
                (Some(b), Some(oid)) => {
                    let entry = index_entry(tree, rel, repo_path, b, *oid);
                    index.add(&entry).map_err(git_err)?;
                }
                _ => {
                    let _ = index.remove_path(Path::new(repo_path));
                }
            }
        }
        index.write().map_err(git_err)?;
        crate::failpoint::hit("git");
        publish(&lock, &index_path)?;
        crate::failpoint::hit("git");
        let sig = self.signature(now)?;
        // One line: a newline in a value (a session id) would start a body or a trailer.
        let one_line: String = message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let message = format!("memtree: {one_line}");
        for _ in 0..RETRIES {
            let head = self.repo.find_reference("HEAD").map_err(git_err)?;
            let (branch, parent) = match head.symbolic_target().ok().flatten() {
                Some(name) => {
                    let name = name.to_string();
                    let parent = self.repo.refname_to_id(&name).ok();
                    (name, parent)
                }
                None => ("HEAD".to_string(), head.target()),
            };
            let parent = match parent {
                Some(oid) => Some(self.repo.find_commit(oid).map_err(git_err)?),
                None => None,
            };
            let base = match &parent {
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
            for (_, repo_path, _, blob) in &files {
                match blob {
                    Some(oid) => {
                        update.upsert(repo_path.as_str(), *oid, FileMode::Blob);
                    }
                    None => {
                        if base.get_path(Path::new(repo_path)).is_ok() {
                            update.remove(repo_path.as_str());
                        }
                    }
                }
            }
            let tree_id = update.create_updated(&self.repo, &base).map_err(git_err)?;
            if parent.is_some() && tree_id == base.id() {
                return Ok(CommitReport::skipped(
                    "git already has this content; nothing to commit",
                ));
            }
            let new_tree = self.repo.find_tree(tree_id).map_err(git_err)?;
            let parents: Vec<&git2::Commit> = parent.iter().collect();
            let id = self
                .repo
                .commit(None, &sig, &sig, &message, &new_tree, &parents)
                .map_err(git_err)?;
            crate::failpoint::hit("head");
            crate::failpoint::hit("git");
            let subject = message.lines().next().unwrap_or_default();
            let moved = match &parent {
                Some(p) => self.repo.reference_matching(
                    &branch,
                    id,
                    true,
                    p.id(),
                    &format!("commit: {subject}"),
                ),
                None => {
                    self.repo
                        .reference(&branch, id, false, &format!("commit (initial): {subject}"))
                }
            };
            match moved {
                Ok(_) => {
                    crate::failpoint::hit("git");
                    return Ok(CommitReport {
                        id: Some(id.to_string()),
                        message: Some(message),
                        skipped: None,
                        retry: false,
                    });
                }
                // HEAD moved since it was read: build the commit again on the new HEAD.
                Err(e)
                    if matches!(
                        e.code(),
                        ErrorCode::Modified | ErrorCode::Exists | ErrorCode::Locked
                    ) => {}
                Err(e) => return Err(git_err(e)),
            }
        }
        Ok(CommitReport::retry(format!(
            "HEAD kept moving while memtree committed ({RETRIES} tries); memtree's changes are \
             staged for you to commit"
        )))
    }
}

/// Replaces the index with the new one (the lock is released when `lock` drops).
fn publish(lock: &IndexLock, index_path: &Path) -> Result<()> {
    fs::rename(&lock.tmp, index_path).map_err(|e| Error::io("cannot replace", index_path, e))
}

/// The index entry of a committed file: its stat data when the disk holds exactly what was
/// committed (so `git status` need not read it again), else a zero mtime, which makes git
/// compare the content and show the difference.
fn index_entry(tree: &Tree, rel: &str, repo_path: &str, bytes: &[u8], id: git2::Oid) -> IndexEntry {
    let on_disk = tree
        .safe(rel)
        .ok()
        .and_then(|p| tree.read_with_metadata(&p).ok());
    let meta = on_disk
        .as_ref()
        .filter(|(disk, _)| disk.as_slice() == bytes)
        .map(|(_, m)| m);
    let time = |secs: i64, nanos: i64| IndexTime::new(secs as i32, nanos as u32);
    let path = repo_path.as_bytes().to_vec();
    IndexEntry {
        ctime: meta.map_or(time(0, 0), |m| time(m.ctime(), m.ctime_nsec())),
        mtime: meta.map_or(time(0, 0), |m| time(m.mtime(), m.mtime_nsec())),
        dev: meta.map_or(0, |m| m.dev() as u32),
        ino: meta.map_or(0, |m| m.ino() as u32),
        mode: u32::from(FileMode::Blob),
        uid: meta.map_or(0, |m| m.uid()),
        gid: meta.map_or(0, |m| m.gid()),
        file_size: bytes.len() as u32,
        id,
        flags: path.len().min(0xfff) as u16,
        flags_extended: 0,
        path,
    }
}
