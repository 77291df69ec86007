//! Changesets: the file changes of one command, planned and validated before any is written.
//!
//! A command that touches files (`add`, `set`, `mv` and the entries that link to the moved one,
//! `rm`, `supersede`, `consolidate`, `restore`) builds a [`Changeset`] in memory and calls
//! [`Changeset::apply`] under the tree's write lock. Applying runs the way a database applies a
//! transaction with a redo log:
//!
//! 1. *validate*: every path is a [`SafePath`], appears once, and is still as the plan saw it
//!    (its content hash, or absent for a new file): a hand edit made meanwhile is a
//!    [`Error::Conflict`], not overwritten; every new entry file parses; no secret is added;
//! 2. *stage*: every new content is written to a temporary file in `.cache/staging` (which git
//!    ignores) and synced. A failure here leaves the tree exactly as it was;
//! 3. *journal*: `.cache/journal` records, for every path, the content it must have before
//!    (`base`) and after (`new`) as content hashes, and where the new content is staged;
//! 4. *install*: each file in turn, compared with its base at the moment it is replaced: a new
//!    file with `renameat2(RENAME_NOREPLACE)`, a changed file with `RENAME_EXCHANGE` (what was
//!    there is moved aside, never destroyed, and compared with the base), a deleted file moved
//!    aside and compared. A file found changed stops the install: the files already installed
//!    are put back as they were and the command fails with [`Error::Conflict`];
//! 5. *commit*: the caller commits [`Applied::files`] to git, then calls [`finish`], which
//!    removes the journal. So the journal lives until the change is committed (or the commit
//!    was skipped for a reason the report gives).
//!
//! A crash anywhere after step 3 leaves the journal. [`recover`] decides from the content of
//! every path (never from which temporary files are left): a path with its `new` content is
//! done, a path with its `base` content is completed from the staged copy, and a path with
//! anything else was edited after the crash: recovery stops with [`Error::Conflict`], installs
//! nothing, keeps both versions (the file as it is, memtree's in `.cache/staging`) and says how to
//! resolve ([`discard`]). Otherwise it returns every path of the changeset, so the recovery
//! commit holds the whole change. `Memory` runs [`recover`] whenever it takes the write lock.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tree::{CACHE_DIR, STAGING_DIR, SafePath, Tree, WriteLock};

const JOURNAL: &str = "journal";
const JOURNAL_VERSION: u32 = 2;
/// Where [`discard`] keeps memtree's versions of an abandoned change.
pub const DISCARDED_DIR: &str = ".cache/discarded";

/// What a planned change expects to find on disk before it is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The file must not exist (a new entry).
    Absent,
    /// The file must still have this content hash ([`content_hash`]).
    Content(u64),
}

impl Base {
    fn hash(self) -> Option<u64> {
        match self {
            Base::Absent => None,
            Base::Content(h) => Some(h),
        }
    }
}

/// One planned change.
#[derive(Debug, Clone)]
enum Change {
    Write {
        path: SafePath,
        bytes: Vec<u8>,
        base: Base,
    },
    Delete {
        path: SafePath,
        base: Base,
    },
}

impl Change {
    fn path(&self) -> &SafePath {
        match self {
            Change::Write { path, .. } | Change::Delete { path, .. } => path,
        }
    }

    fn base(&self) -> Base {
        match self {
            Change::Write { base, .. } | Change::Delete { base, .. } => *base,
        }
    }
}

/// The planned file changes of one command.
#[derive(Debug, Clone)]
pub struct Changeset {
    /// What the command does, in words (`mv a/b/c -> a/b/d`); used for the journal and, by the
    /// git layer, as the commit message.
    pub operation: String,
    /// Let text that looks like a secret through (`--allow-secret`); see
    /// [`Changeset::validate`].
    pub allow_secret: bool,
    /// The versions a secret may already be in without being refused: the committed (HEAD)
    /// content of the changeset's paths when the change will be committed, so a token typed by
    /// hand into a file is refused before a whole-file commit takes it into history. `None`:
    /// the files as they are on disk (a change that is not committed).
    pub secret_baseline: Option<Vec<Vec<u8>>>,
    /// Whether the command that planned this change commits it (`false` with `--no-commit`);
    /// kept in the journal, so that a recovery commits only what would have been committed.
    pub commit: bool,
    changes: Vec<Change>,
}

/// What [`Changeset::apply`] (or [`recover`]) installed, for the commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The operation, as planned.
    pub operation: String,
    /// Every file of the change relative to the root, in plan order, with the content memtree
    /// installed (`None`: deleted). The commit records these contents, not whatever the disk
    /// holds a moment later.
    pub files: Vec<(String, Option<Vec<u8>>)>,
    /// Whether the change is to be committed (see [`Changeset::commit`]).
    pub commit: bool,
}

impl Applied {
    /// The files of the change, relative to the root, in plan order.
    pub fn paths(&self) -> Vec<String> {
        self.files.iter().map(|(p, _)| p.clone()).collect()
    }
}

/// FNV-1a over `bytes`: the content hash used for [`Base::Content`] (stable across builds).
pub fn content_hash(bytes: &[u8]) -> u64 {
    let mut x: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        x ^= u64::from(*b);
        x = x.wrapping_mul(0x0000_0100_0000_01b3);
    }
    x
}

/// The redo log of one changeset (`.cache/journal`, JSON).
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    version: u32,
    operation: String,
    commit: bool,
    writes: Vec<JournalWrite>,
    deletes: Vec<JournalDelete>,
}

#[derive(Debug, Serialize, Deserialize)]
struct JournalWrite {
    /// The staged new content, relative to the root.
    staged: String,
    /// Where it goes, relative to the root.
    target: String,
    /// The content hash the target must have before (`None`: absent).
    base: Option<u64>,
    /// The content hash of the new content.
    new: u64,
    /// Where the replaced content is moved, relative to the root.
    aside: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct JournalDelete {
    target: String,
    base: u64,
    aside: String,
}

/// The state of one path of a journal, read from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// It has the new content (or is gone, for a delete).
    Done,
    /// It still has its base content: to be installed.
    Pending,
    /// Neither: changed by someone after the crash.
    Changed,
}

/// The content hash of the file `rel`, `None` when it does not exist.
fn hash_of(tree: &Tree, p: &SafePath) -> Result<Option<u64>> {
    match tree.read(p) {
        Ok(bytes) => Ok(Some(content_hash(&bytes))),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A staged or aside path the journal names, checked: through the safe-path routine, and
/// inside `.cache/staging` (a journal edited by hand cannot make recovery move other files).
fn staging_path(tree: &Tree, rel: &str) -> Result<PathBuf> {
    let p = tree.safe(rel)?;
    if !rel.starts_with(&format!("{STAGING_DIR}/")) || rel[STAGING_DIR.len() + 1..].contains('/') {
        return Err(Error::UnsafePath {
            path: tree.display_path(rel).into(),
            reason: format!(
                "the journal names a staged file outside {}",
                tree.display_path(STAGING_DIR)
            ),
        });
    }
    Ok(p.abs().to_path_buf())
}

fn journal_path(tree: &Tree) -> Result<SafePath> {
    tree.safe(&format!("{CACHE_DIR}/{JOURNAL}"))
}

fn rel_of(tree: &Tree, abs: &Path) -> String {
    abs.strip_prefix(&tree.root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| abs.to_string_lossy().into_owned())
}

/// Empties `.cache/staging` (what a crash before the journal, or a finished change, left).
/// Only called under the write lock with no journal pending.
fn clear_staging(tree: &Tree) {
    let Ok(dir) = tree.safe(STAGING_DIR) else {
        return;
    };
    if let Ok(rd) = fs::read_dir(dir.abs()) {
        for item in rd.flatten() {
            if item.file_type().is_ok_and(|t| t.is_file()) {
                let _ = fs::remove_file(item.path());
            }
        }
    }
}

/// Removes the `.memtree-*.tmp` files an older memtree left next to entries (`leftovers`,
/// relative to the root, from [`crate::tree::Walk::leftovers`]). Returns how many it removed.
pub fn remove_leftovers(tree: &Tree, _lock: &WriteLock, leftovers: &[String]) -> usize {
    leftovers
        .iter()
        .filter(|rel| {
            tree.safe(rel)
                .is_ok_and(|p| fs::remove_file(p.abs()).is_ok())
        })
        .count()
}

/// Removes the `.memtree-*.tmp` files older memtrees left in the folders this change writes
/// to (they staged writes next to their targets).
fn remove_leftovers_near(tree: &Tree, changes: &[Change]) {
    let folders: HashSet<&str> = changes
        .iter()
        .filter_map(|c| c.path().rel().rsplit_once('/').map(|(d, _)| d))
        .collect();
    for folder in folders {
        let Ok(dir) = tree.safe(folder) else { continue };
        let Ok(rd) = fs::read_dir(dir.abs()) else {
            continue;
        };
        for item in rd.flatten() {
            let name = item.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".memtree-")
                && name.ends_with(".tmp")
                && item.file_type().is_ok_and(|t| t.is_file())
            {
                let _ = fs::remove_file(item.path());
            }
        }
    }
}

impl Changeset {
    /// An empty changeset for `operation`.
    pub fn new(operation: impl Into<String>) -> Changeset {
        Changeset {
            operation: operation.into(),
            allow_secret: false,
            secret_baseline: None,
            commit: true,
            changes: Vec::new(),
        }
    }

    /// Plans writing `bytes` to `path`, which must be as `base` says when applied.
    pub fn write(&mut self, path: SafePath, bytes: impl Into<Vec<u8>>, base: Base) {
        self.changes.push(Change::Write {
            path,
            bytes: bytes.into(),
            base,
        });
    }

    /// Plans deleting `path`, which must be as `base` says when applied.
    pub fn delete(&mut self, path: SafePath, base: Base) {
        self.changes.push(Change::Delete { path, base });
    }

    /// `true` when nothing is planned.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The files this changeset writes or deletes, relative to the root, in plan order.
    pub fn paths(&self) -> Vec<String> {
        self.changes
            .iter()
            .map(|c| c.path().rel().to_string())
            .collect()
    }

    /// The planned new content of each written file: `(path relative to the root, bytes)`.
    pub fn writes(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.changes.iter().filter_map(|c| match c {
            Change::Write { path, bytes, .. } => Some((path.rel(), bytes.as_slice())),
            Change::Delete { .. } => None,
        })
    }

    /// Checks the whole plan against the disk without writing anything (step 1).
    ///
    /// Private text: a written file may hold no `<private>` tag outside code
    /// ([`crate::private::tags`]) that its baseline (as for secrets, below) does not hold
    /// already; `--allow-secret` does not change that.
    ///
    /// Secrets: every written file is scanned whole ([`crate::secrets::secrets`]), since a
    /// commit takes the whole file. A value found is refused unless `allow_secret`, or unless
    /// it is already in [`Changeset::secret_baseline`] (what git already has of these paths),
    /// or, for a change that is not committed, in the files it replaces. So `set` on a file
    /// into which a token was typed by hand refuses to commit it, while `mv` of an entry whose
    /// token was committed with `--allow-secret` is not blocked by it.
    ///
    /// # Errors
    /// [`Error::Conflict`] when a file changed since it was planned or a new file already
    /// exists; [`Error::Refused`] when a path is planned twice; the parse error of a new entry
    /// file that would not read back; [`Error::Private`]; [`Error::Secret`].
    pub fn validate(&self, tree: &Tree) -> Result<()> {
        let mut seen = HashSet::new();
        let mut old_secrets: HashSet<String> = HashSet::new();
        let mut old_private: HashSet<String> = HashSet::new();
        let mut remember = |bytes: &[u8], secrets: bool| {
            let text = String::from_utf8_lossy(bytes);
            if secrets {
                old_secrets.extend(crate::secrets::secrets(&text).into_iter().map(|f| f.value));
            }
            old_private.extend(crate::private::tags(&text).into_iter().map(|(_, l)| l));
        };
        if let Some(committed) = &self.secret_baseline {
            committed.iter().for_each(|b| remember(b, true));
        }
        for change in &self.changes {
            let path = change.path();
            if !seen.insert(path.rel()) {
                return Err(Error::Refused(format!(
                    "internal error: {} is planned twice in one change",
                    tree.display_path(path.rel())
                )));
            }
            let base = change.base();
            let current = match tree.read(path) {
                Ok(bytes) => {
                    if self.secret_baseline.is_none() {
                        remember(&bytes, !self.allow_secret);
                    }
                    Some(content_hash(&bytes))
                }
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    None
                }
                Err(e) => return Err(e),
            };
            if current != base.hash() {
                return Err(conflict(tree, path.rel(), base.hash(), current));
            }
            if let Change::Write { path, bytes, .. } = change
                && path.rel().ends_with(".md")
                && !path.rel().starts_with('.')
            {
                crate::record::Record::parse(path.rel(), bytes, &tree.display_path(path.rel()))?;
            }
        }
        for (rel, bytes) in self.writes() {
            let text = String::from_utf8_lossy(bytes);
            if let Some((line, _)) = crate::private::tags(&text)
                .into_iter()
                .find(|(_, l)| !old_private.contains(l))
            {
                return Err(Error::Private {
                    file: tree.display_path(rel).into(),
                    line,
                });
            }
        }
        if !self.allow_secret {
            for (rel, bytes) in self.writes() {
                let text = String::from_utf8_lossy(bytes);
                if let Some(f) = crate::secrets::secrets(&text)
                    .into_iter()
                    .find(|f| !old_secrets.contains(&f.value))
                {
                    return Err(Error::Secret {
                        file: tree.display_path(rel).into(),
                        line: f.line,
                        what: f.what.to_string(),
                        redacted: f.redacted,
                    });
                }
            }
        }
        Ok(())
    }

    /// Validates, stages, journals and installs the plan (steps 1 to 4 of the module doc).
    /// The journal stays until the caller has committed the change and called [`finish`].
    /// `_lock` is proof that the caller holds the tree's write lock (and so that [`recover`]
    /// ran: no other journal is pending).
    ///
    /// # Errors
    /// Any error of [`Changeset::validate`] or of staging leaves the tree as it was; so does an
    /// error while installing ([`Error::Conflict`] when a file changed at that moment), once
    /// the files already installed are put back. When they cannot all be put back,
    /// [`Error::Interrupted`]: the journal stays for [`recover`].
    pub fn apply(self, tree: &Tree, _lock: &WriteLock) -> Result<Applied> {
        self.apply_inner(tree, &mut |_| {})
    }

    /// [`Changeset::apply`], calling `before(i)` before the `i`th change is installed (tests use
    /// it to edit a file at the worst moment).
    fn apply_inner(self, tree: &Tree, before: &mut dyn FnMut(usize)) -> Result<Applied> {
        self.validate(tree)?;
        clear_staging(tree);
        remove_leftovers_near(tree, &self.changes);
        // Step 2: stage every write. Dropping `staged` on error removes the temporary files.
        let mut staged = Vec::new();
        for change in &self.changes {
            if let Change::Write { path, bytes, .. } = change {
                staged.push(tree.stage(path, bytes)?);
            }
        }
        // Every change moves what it replaces to its own `aside` path in the staging folder.
        let staging = tree.safe(&format!("{STAGING_DIR}/x"))?;
        let staging_dir = staging.abs().parent().unwrap_or(&tree.root).to_path_buf();
        let aside = |i: usize| staging_dir.join(format!("aside-{i}"));
        // Step 3: the journal. From here on the temporary files are kept until installed.
        let mut journal = Journal {
            version: JOURNAL_VERSION,
            operation: self.operation.clone(),
            commit: self.commit,
            writes: Vec::new(),
            deletes: Vec::new(),
        };
        let mut staged = staged.into_iter();
        let mut plan = Vec::new();
        for (i, change) in self.changes.iter().enumerate() {
            match change {
                Change::Write { path, bytes, base } => {
                    let tmp = staged.next().expect("one staged file per write");
                    let tmp = tmp.keep().map_err(|e| {
                        Error::io("cannot keep a temporary file in", STAGING_DIR, e.error)
                    })?;
                    journal.writes.push(JournalWrite {
                        staged: rel_of(tree, &tmp),
                        target: path.rel().to_string(),
                        base: base.hash(),
                        new: content_hash(bytes),
                        aside: rel_of(tree, &aside(i)),
                    });
                    plan.push(Step::Write {
                        tmp,
                        path: path.clone(),
                        base: *base,
                        new: content_hash(bytes),
                        aside: aside(i),
                    });
                }
                Change::Delete { path, base } => {
                    journal.deletes.push(JournalDelete {
                        target: path.rel().to_string(),
                        base: base.hash().unwrap_or_default(),
                        aside: rel_of(tree, &aside(i)),
                    });
                    plan.push(Step::Delete {
                        path: path.clone(),
                        base: *base,
                        aside: aside(i),
                    });
                }
            }
        }
        let text = serde_json::to_vec(&journal).unwrap_or_default();
        let jpath = journal_path(tree)?;
        if let Err(e) = tree.write_atomic(&jpath, &text) {
            clear_staging(tree);
            return Err(e);
        }
        // Step 4: install, each change compared with its base as it is replaced.
        let mut done: Vec<&Step> = Vec::new();
        for (i, step) in plan.iter().enumerate() {
            before(i);
            let Err(e) = step.install(tree) else {
                done.push(step);
                continue;
            };
            // Any failure undoes what was installed. What this step displaced, if it got that
            // far, is not what it planned from (or could not be checked): put it back too.
            if step.installed(tree) {
                done.push(step);
            } else if let Some(kept) = step.keep_displaced(tree) {
                // Displaced, and replaced again by someone else before it could be put back:
                // the displaced version is kept where the error says.
                let _ = fs::remove_file(jpath.abs());
                clear_staging(tree);
                return Err(Error::Conflict {
                    file: tree.display_path(step.path().rel()).into(),
                    reason: format!(
                        "it was changed twice by someone else while memtree replaced it; the \
                         version memtree displaced is kept in {kept}"
                    ),
                });
            }
            let mut undone = true;
            for s in done.iter().rev() {
                undone &= s.undo(tree);
            }
            if undone {
                let _ = fs::remove_file(jpath.abs());
                clear_staging(tree);
                return Err(e);
            }
            return Err(Error::Interrupted {
                operation: self.operation.clone(),
                reason: format!(
                    "{e}; and files changed by others while memtree was putting back what it \
                     had installed"
                ),
            });
        }
        for step in &plan {
            if let Step::Delete { path, .. } = step {
                tree.prune_empty_folders(path);
            }
        }
        Ok(Applied {
            operation: self.operation,
            commit: self.commit,
            files: self
                .changes
                .into_iter()
                .map(|c| match c {
                    Change::Write { path, bytes, .. } => (path.rel().to_string(), Some(bytes)),
                    Change::Delete { path, .. } => (path.rel().to_string(), None),
                })
                .collect(),
        })
    }
}

/// The conflict error for `rel`, planned from `base`, found as `current` (content hashes).
fn conflict(tree: &Tree, rel: &str, base: Option<u64>, current: Option<u64>) -> Error {
    Error::Conflict {
        file: tree.display_path(rel).into(),
        reason: match (base, current) {
            (None, _) => "it was created by someone else meanwhile".into(),
            (_, None) => "it was deleted by someone else meanwhile".into(),
            _ => "it was changed by someone else meanwhile".into(),
        },
    }
}

/// One change of a journaled plan, with its staged file and its aside path.
#[derive(Debug)]
enum Step {
    Write {
        tmp: PathBuf,
        path: SafePath,
        base: Base,
        new: u64,
        aside: PathBuf,
    },
    Delete {
        path: SafePath,
        base: Base,
        aside: PathBuf,
    },
}

impl Step {
    /// Installs this step, comparing what it replaces with its base at that moment.
    fn install(&self, tree: &Tree) -> Result<()> {
        // Checked again right before the rename, so that an edit saved since validation is
        // found before anything is replaced; one saved in the microseconds between this check
        // and the rename is caught by comparing what the rename displaced.
        if let Step::Write {
            path,
            base: Base::Content(h),
            ..
        }
        | Step::Delete {
            path,
            base: Base::Content(h),
            ..
        } = self
        {
            let now = hash_of(tree, path)?;
            if now != Some(*h) {
                return Err(conflict(tree, path.rel(), Some(*h), now));
            }
        }
        let displaced = |aside: &Path, path: &SafePath, base: Base| -> Result<()> {
            let found = fs::read(aside).ok().map(|b| content_hash(&b));
            if found == base.hash() {
                Ok(())
            } else {
                Err(conflict(tree, path.rel(), base.hash(), found))
            }
        };
        match self {
            Step::Write {
                tmp,
                path,
                base: Base::Absent,
                ..
            } => tree.install_new(tmp, path),
            Step::Write {
                tmp,
                path,
                base,
                aside,
                ..
            } => {
                tree.swap_in(tmp, path, aside)?;
                displaced(aside, path, *base)
            }
            Step::Delete { path, base, aside } => {
                tree.move_aside(path, aside)?;
                displaced(aside, path, *base)
            }
        }
    }

    fn path(&self) -> &SafePath {
        match self {
            Step::Write { path, .. } | Step::Delete { path, .. } => path,
        }
    }

    /// Moves what this (failed, not installed) step displaced, if anything, out of the
    /// staging folder to `.cache/discarded/displaced-<ns>/<path>`, and returns where, shown.
    fn keep_displaced(&self, tree: &Tree) -> Option<String> {
        let aside = match self {
            Step::Write { aside, .. } | Step::Delete { aside, .. } => aside,
        };
        fs::symlink_metadata(aside).ok()?;
        let stamp = crate::tree::now_ns();
        let dest = tree
            .safe(&format!(
                "{DISCARDED_DIR}/displaced-{stamp}/{}",
                self.path().rel()
            ))
            .ok()?;
        tree.create_parents(&dest).ok()?;
        fs::rename(aside, dest.abs()).ok()?;
        Some(tree.display_path(dest.rel()))
    }

    /// Whether this step's change is in place (for putting it back).
    fn installed(&self, tree: &Tree) -> bool {
        match self {
            Step::Write { path, new, .. } => hash_of(tree, path).ok().flatten() == Some(*new),
            Step::Delete { aside, .. } => aside.exists(),
        }
    }

    /// Puts back what this installed step replaced, if the file still holds what memtree put
    /// there. Returns `false` when it could not.
    fn undo(&self, tree: &Tree) -> bool {
        match self {
            Step::Write {
                path,
                new,
                aside,
                base,
                ..
            } => {
                if hash_of(tree, path).ok().flatten() != Some(*new) {
                    return false;
                }
                match base {
                    Base::Absent => tree.remove(path).is_ok(),
                    Base::Content(_) => tree.install(aside, path).is_ok(),
                }
            }
            Step::Delete { path, aside, .. } => tree.install_new(aside, path).is_ok(),
        }
    }
}

/// An interrupted changeset, as `check` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// The operation that was interrupted.
    pub operation: String,
    /// Files still to be written or deleted, relative to the root.
    pub paths: Vec<String>,
    /// Files changed by someone after the crash, so that the change cannot be completed
    /// without a decision ([`discard`]).
    pub changed: Vec<String>,
    /// Every file of the change, relative to the root. When `paths` and `changed` are empty
    /// the change is installed but not committed yet.
    pub all: Vec<String>,
}

fn read_journal(tree: &Tree) -> Result<Option<Journal>> {
    let jpath = journal_path(tree)?;
    let bytes = match tree.read(&jpath) {
        Ok(b) => b,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    match serde_json::from_slice::<Journal>(&bytes) {
        Ok(j) if j.version == JOURNAL_VERSION => Ok(Some(j)),
        _ => Err(Error::Unfinished {
            operation: "an earlier write".into(),
            reason: format!(
                "its journal {} cannot be read (it was left by another version of memtree, or \
                 damaged)",
                tree.display_path(jpath.rel())
            ),
        }),
    }
}

/// The state of every path of `j`: `(target, state)`, writes first.
fn states(tree: &Tree, j: &Journal) -> Result<Vec<(String, State)>> {
    let mut out = Vec::new();
    for w in &j.writes {
        let now = hash_of(tree, &tree.safe(&w.target)?)?;
        let state = if now == Some(w.new) {
            State::Done
        } else if now == w.base {
            State::Pending
        } else {
            State::Changed
        };
        out.push((w.target.clone(), state));
    }
    for d in &j.deletes {
        let now = hash_of(tree, &tree.safe(&d.target)?)?;
        let state = match now {
            None => State::Done,
            Some(h) if h == d.base => State::Pending,
            Some(_) => State::Changed,
        };
        out.push((d.target.clone(), state));
    }
    Ok(out)
}

/// The interrupted changeset left in `.cache/journal`, if any (read-only; see [`recover`]).
pub fn pending(tree: &Tree) -> Option<Pending> {
    let j = match read_journal(tree) {
        Ok(Some(j)) => j,
        Ok(None) => return None,
        Err(e) => {
            return Some(Pending {
                operation: format!("unknown ({e})"),
                paths: Vec::new(),
                changed: Vec::new(),
                all: Vec::new(),
            });
        }
    };
    let states = states(tree, &j).unwrap_or_default();
    let pick = |want: State| {
        states
            .iter()
            .filter(|(_, s)| *s == want)
            .map(|(t, _)| t.clone())
            .collect()
    };
    Some(Pending {
        operation: j.operation,
        paths: pick(State::Pending),
        changed: pick(State::Changed),
        all: states.iter().map(|(t, _)| t.clone()).collect(),
    })
}

/// Completes a changeset interrupted after its journal was written: installs every path
/// still at its base content from its staged copy, and returns every path of the change
/// (installed before the crash or now) with its content, for the commit the interrupted
/// command did not make. Call [`finish`] after committing. `None` when there was nothing to
/// do. `_lock` is proof that the caller holds the write lock.
///
/// # Errors
/// [`Error::Conflict`] when a path was changed after the crash (neither its old nor its new
/// content): nothing is installed, the journal and both versions stay, and the message says
/// where memtree's version is and how to resolve ([`discard`]); the same when a staged copy is
/// missing. I/O errors leave the journal for the next attempt.
pub fn recover(tree: &Tree, _lock: &WriteLock) -> Result<Option<Applied>> {
    let Some(j) = read_journal(tree)? else {
        return Ok(None);
    };
    let states = states(tree, &j)?;
    let unresolved = |reason: String| Error::Unfinished {
        operation: j.operation.clone(),
        reason,
    };
    let changed: Vec<String> = states
        .iter()
        .filter(|(_, s)| *s == State::Changed)
        .map(|(t, _)| tree.display_path(t))
        .collect();
    if !changed.is_empty() {
        let staged: Vec<String> = j
            .writes
            .iter()
            .filter(|w| changed.contains(&tree.display_path(&w.target)))
            .map(|w| format!("{} for {}", tree.display_path(&w.staged), w.target))
            .collect();
        return Err(unresolved(format!(
            "{} changed after the crash (memtree's version: {})",
            changed.join(", "),
            if staged.is_empty() {
                "none; the change deletes it".into()
            } else {
                staged.join(", ")
            }
        )));
    }
    // Every pending write needs its staged copy, whole.
    for (w, (_, state)) in j.writes.iter().zip(&states) {
        if *state == State::Pending {
            let staged = fs::read(staging_path(tree, &w.staged)?).ok();
            if staged.as_deref().map(content_hash) != Some(w.new) {
                return Err(unresolved(format!(
                    "memtree's new version of {} is missing from {}",
                    tree.display_path(&w.target),
                    tree.display_path(STAGING_DIR)
                )));
            }
        }
    }
    let mut files = Vec::new();
    for (w, (_, state)) in j.writes.iter().zip(&states) {
        let target = tree.safe(&w.target)?;
        if *state == State::Pending {
            let step = Step::Write {
                tmp: staging_path(tree, &w.staged)?,
                path: target.clone(),
                base: w.base.map_or(Base::Absent, Base::Content),
                new: w.new,
                aside: staging_path(tree, &w.aside)?,
            };
            step.install(tree)?;
        }
        let bytes = tree.read(&target)?;
        files.push((w.target.clone(), Some(bytes)));
    }
    for (d, (_, state)) in j.deletes.iter().zip(&states[j.writes.len()..]) {
        let target = tree.safe(&d.target)?;
        if *state == State::Pending {
            let step = Step::Delete {
                path: target.clone(),
                base: Base::Content(d.base),
                aside: staging_path(tree, &d.aside)?,
            };
            step.install(tree)?;
            tree.prune_empty_folders(&target);
        }
        files.push((d.target.clone(), None));
    }
    Ok(Some(Applied {
        operation: j.operation,
        files,
        commit: j.commit,
    }))
}

/// Ends a change once it is committed (or its commit was skipped for a reason): removes the
/// journal and empties the staging folder. `_lock` is proof that the caller holds the write
/// lock.
pub fn finish(tree: &Tree, _lock: &WriteLock) {
    if let Ok(p) = journal_path(tree) {
        let _ = fs::remove_file(p.abs());
    }
    clear_staging(tree);
}

/// What [`discard`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discarded {
    /// The operation that was abandoned.
    pub operation: String,
    /// Where memtree's versions of its files were kept, relative to the project
    /// (`.memory/.cache/discarded/<time>/<path>`), one per file not installed.
    pub kept: Vec<String>,
}

/// Abandons an interrupted change (`memtree recover --discard`): the files stay exactly as
/// they are on disk, memtree's staged versions are moved to
/// `.cache/discarded/<stamp>/<path>` (nothing is deleted), and the journal is removed. `None`
/// when no change was interrupted.
///
/// # Errors
/// I/O errors moving the staged files.
pub fn discard(tree: &Tree, _lock: &WriteLock, stamp: &str) -> Result<Option<Discarded>> {
    let jpath = journal_path(tree)?;
    let (operation, writes) = match read_journal(tree) {
        Ok(None) => return Ok(None),
        Ok(Some(j)) => (j.operation, j.writes),
        Err(_) => ("unknown (unreadable journal)".to_string(), Vec::new()),
    };
    let mut kept = Vec::new();
    for w in &writes {
        let staged = staging_path(tree, &w.staged)?;
        if fs::symlink_metadata(&staged).is_err() {
            continue;
        }
        let dest = tree.safe(&format!("{DISCARDED_DIR}/{stamp}/{}", w.target))?;
        tree.create_parents(&dest)?;
        fs::rename(&staged, dest.abs())
            .map_err(|e| Error::io("cannot keep", tree.display_path(dest.rel()), e))?;
        kept.push(tree.display_path(dest.rel()));
    }
    let _ = fs::remove_file(jpath.abs());
    clear_staging(tree);
    Ok(Some(Discarded { operation, kept }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn tree() -> (tempfile::TempDir, Tree) {
        crate::tree::temp_tree()
    }

    fn entry(title: &str) -> Vec<u8> {
        format!("---\ntitle: {title}\n---\nbody\n").into_bytes()
    }

    fn plan(t: &Tree) -> Changeset {
        // A move of a/b/old to a/b/new that rewrites a referrer.
        let mut cs = Changeset::new("mv a/b/old -> a/b/new");
        let old = t.read(&t.safe("a/b/old.md").unwrap()).unwrap();
        let r = t.read(&t.safe("a/c/ref.md").unwrap()).unwrap();
        cs.write(t.safe("a/b/new.md").unwrap(), entry("New"), Base::Absent);
        cs.write(
            t.safe("a/c/ref.md").unwrap(),
            entry("Ref to new"),
            Base::Content(content_hash(&r)),
        );
        cs.delete(
            t.safe("a/b/old.md").unwrap(),
            Base::Content(content_hash(&old)),
        );
        cs
    }

    fn setup() -> (tempfile::TempDir, Tree) {
        let (d, t) = tree();
        t.write_atomic(&t.safe("a/b/old.md").unwrap(), &entry("Old"))
            .unwrap();
        t.write_atomic(&t.safe("a/c/ref.md").unwrap(), &entry("Ref to old"))
            .unwrap();
        (d, t)
    }

    fn snapshot(t: &Tree) -> Vec<(String, String)> {
        let walk = t.walk().unwrap();
        walk.files
            .iter()
            .map(|f| {
                let text = fs::read_to_string(t.root.join(&f.rel)).unwrap();
                (f.rel.clone(), text)
            })
            .collect()
    }

    fn lock(t: &Tree) -> WriteLock {
        WriteLock::acquire(t, Duration::from_secs(1)).unwrap()
    }

    /// Applies `cs` and "crashes" (panics, which leaves what a kill leaves: staged files and
    /// the journal) just before the change numbered `at` is installed.
    fn crash_at(t: &Tree, cs: Changeset, at: usize) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = cs.apply_inner(t, &mut |i| assert_ne!(i, at, "simulated crash"));
        }));
        assert!(r.is_err());
    }

    fn staging_files(t: &Tree) -> usize {
        fs::read_dir(t.root.join(STAGING_DIR)).map_or(0, |rd| rd.count())
    }

    #[test]
    fn a_plan_applies_whole_and_the_journal_lives_until_finish() {
        let (_d, t) = setup();
        let lock = lock(&t);
        let applied = plan(&t).apply(&t, &lock).unwrap();
        assert_eq!(applied.paths(), ["a/b/new.md", "a/c/ref.md", "a/b/old.md"]);
        assert_eq!(applied.files[0].1.as_deref(), Some(entry("New").as_slice()));
        assert_eq!(applied.files[2].1, None);
        let files: Vec<String> = snapshot(&t).into_iter().map(|(f, _)| f).collect();
        assert_eq!(files, ["a/b/new.md", "a/c/ref.md"]);
        // Installed, not yet committed: the journal says so.
        let p = pending(&t).unwrap();
        assert_eq!((p.paths.len(), p.changed.len(), p.all.len()), (0, 0, 3));
        finish(&t, &lock);
        assert!(pending(&t).is_none());
        assert_eq!(staging_files(&t), 0);
    }

    #[test]
    fn a_conflict_found_in_validation_writes_nothing() {
        let (_d, t) = setup();
        let before = snapshot(&t);
        let cs = plan(&t);
        // A hand edit between planning and applying.
        fs::write(t.root.join("a/c/ref.md"), entry("Edited by hand")).unwrap();
        let err = cs.apply(&t, &lock(&t)).unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
        let after = snapshot(&t);
        assert_eq!(after[0], before[0]);
        assert_eq!(
            after[1].1,
            String::from_utf8(entry("Edited by hand")).unwrap()
        );
        assert!(!t.root.join("a/b/new.md").exists());
        assert!(pending(&t).is_none());
    }

    #[test]
    fn an_entry_that_would_not_read_back_is_refused_before_writing() {
        let (_d, t) = setup();
        let before = snapshot(&t);
        let mut cs = plan(&t);
        cs.write(
            t.safe("a/d/bad.md").unwrap(),
            b"---\ntitle: [unclosed\n---\n".to_vec(),
            Base::Absent,
        );
        assert!(cs.apply(&t, &lock(&t)).is_err());
        assert_eq!(snapshot(&t), before);
        assert_eq!(staging_files(&t), 0);
    }

    /// See: issue 14, item 3. A hand edit saved between the last check and the install is
    /// displaced, compared, and put back; what was installed before it is undone.
    #[test]
    fn an_edit_racing_the_install_is_kept_and_the_rest_undone() {
        let (_d, t) = setup();
        let cs = plan(&t);
        let edited = entry("Edited at the worst moment");
        let err = cs
            .apply_inner(&t, &mut |i| {
                if i == 1 {
                    fs::write(t.root.join("a/c/ref.md"), &edited).unwrap();
                }
            })
            .unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
        assert_eq!(
            snapshot(&t),
            [
                (
                    "a/b/old.md".to_string(),
                    String::from_utf8(entry("Old")).unwrap()
                ),
                ("a/c/ref.md".to_string(), String::from_utf8(edited).unwrap()),
            ]
        );
        assert!(pending(&t).is_none());
        assert_eq!(staging_files(&t), 0);
    }

    /// See: issue 14, item 1. A crash half-way is completed from the content of every path, and
    /// recovery returns every path of the change, not only those still pending.
    #[test]
    fn a_crash_half_way_is_reported_then_completed_whole() {
        let (_d, t) = setup();
        crash_at(&t, plan(&t), 1);
        // Half-way: the new file exists, the referrer and the deletion are not done.
        assert!(t.root.join("a/b/new.md").exists());
        assert!(t.root.join("a/b/old.md").exists());
        let p = pending(&t).unwrap();
        assert_eq!(p.paths, ["a/c/ref.md", "a/b/old.md"]);
        let lock = lock(&t);
        let done = recover(&t, &lock).unwrap().unwrap();
        assert_eq!(done.paths(), ["a/b/new.md", "a/c/ref.md", "a/b/old.md"]);
        assert_eq!(
            snapshot(&t),
            [
                (
                    "a/b/new.md".to_string(),
                    String::from_utf8(entry("New")).unwrap()
                ),
                (
                    "a/c/ref.md".to_string(),
                    String::from_utf8(entry("Ref to new")).unwrap()
                ),
            ]
        );
        finish(&t, &lock);
        assert!(pending(&t).is_none());
        assert!(recover(&t, &lock).unwrap().is_none());
    }

    /// See: issue 14, item 2. A file edited by hand after the crash is never overwritten:
    /// recovery stops, and discarding keeps memtree's version aside.
    #[test]
    fn a_hand_edit_after_a_crash_stops_recovery_and_discard_keeps_both() {
        let (_d, t) = setup();
        crash_at(&t, plan(&t), 1);
        let edited = entry("Edited after the crash");
        fs::write(t.root.join("a/c/ref.md"), &edited).unwrap();
        let lock = lock(&t);
        let err = recover(&t, &lock).unwrap_err();
        assert!(matches!(err, Error::Unfinished { .. }), "{err}");
        assert_eq!(err.kind(), "conflict");
        assert!(err.to_string().contains(".memory/a/c/ref.md"), "{err}");
        assert_eq!(fs::read(t.root.join("a/c/ref.md")).unwrap(), edited);
        assert_eq!(pending(&t).unwrap().changed, ["a/c/ref.md"]);
        let d = discard(&t, &lock, "20261122T120000Z").unwrap().unwrap();
        assert_eq!(
            d.kept,
            [".memory/.cache/discarded/20261122T120000Z/a/c/ref.md".to_string(),]
        );
        assert_eq!(
            fs::read(t.root.join(".cache/discarded/20261122T120000Z/a/c/ref.md")).unwrap(),
            entry("Ref to new")
        );
        assert_eq!(fs::read(t.root.join("a/c/ref.md")).unwrap(), edited);
        assert!(pending(&t).is_none());
        assert_eq!(staging_files(&t), 0);
    }

    /// A journal edited to name a "staged" file elsewhere in the tree cannot make recovery
    /// move that file.
    #[test]
    fn a_journal_cannot_point_recovery_outside_staging() {
        let (_d, t) = setup();
        crash_at(&t, plan(&t), 1);
        let jpath = t.root.join(".cache/journal");
        let text = fs::read_to_string(&jpath).unwrap();
        let mut j: Journal = serde_json::from_str(&text).unwrap();
        j.writes[1].staged = "a/b/old.md".into();
        fs::write(&jpath, serde_json::to_vec(&j).unwrap()).unwrap();
        let before = snapshot(&t);
        let err = recover(&t, &lock(&t)).unwrap_err();
        assert!(matches!(err, Error::UnsafePath { .. }), "{err}");
        assert_eq!(snapshot(&t), before);
    }
}
