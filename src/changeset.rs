//! Changesets: the file changes of one command, planned and validated before any is written.
//!
//! A command that touches files (`add`, `set`, `mv` and the entries that link to the moved one,
//! `rm`, and later `supersede` and `consolidate`) builds a [`Changeset`] in memory and calls
//! [`Changeset::apply`] under the tree's write lock. Applying runs in four steps, the way a
//! database applies a transaction with a redo log:
//!
//! 1. *validate*: every path is a [`SafePath`], appears once, and is still as the plan saw it
//!    (its content hash, or absent for a new file): a hand edit made meanwhile is a
//!    [`Error::Conflict`], not overwritten; every new entry file parses;
//! 2. *stage*: every new content is written to a temporary file next to its target and synced.
//!    A failure here removes the temporary files and leaves the tree exactly as it was;
//! 3. *journal*: `.cache/journal` lists the renames and deletes still to do, and is synced;
//! 4. *install*: the renames, then the deletes, then the journal is removed.
//!
//! A crash or an error during step 4 leaves the journal: [`recover`] completes it (every new
//! content is already on disk in full), and `check` reports it until then. Memory runs
//! [`recover`] whenever it takes the write lock, so the next write or `memtree index` finishes
//! an interrupted one.
//!
//! [`Applied::paths`] lists exactly the files changed, which is what the git layer commits.

use std::collections::HashSet;
use std::fs;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tree::{CACHE_DIR, SafePath, Tree, WriteLock};

const JOURNAL: &str = "journal";

/// What a planned change expects to find on disk before it is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The file must not exist (a new entry).
    Absent,
    /// The file must still have this content hash ([`content_hash`]).
    Content(u64),
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
}

/// The planned file changes of one command.
#[derive(Debug, Clone)]
pub struct Changeset {
    /// What the command does, in words (`mv a/b/c -> a/b/d`); used for the journal and, by the
    /// git layer, as the commit message.
    pub operation: String,
    /// Let new text that looks like a secret through (`--allow-secret`); see
    /// [`Changeset::validate`].
    pub allow_secret: bool,
    changes: Vec<Change>,
}

/// What [`Changeset::apply`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// The operation, as planned.
    pub operation: String,
    /// Files written or deleted, relative to the root, in plan order.
    pub paths: Vec<String>,
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

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    operation: String,
    /// `(temporary file, target)`, relative to the root.
    renames: Vec<(String, String)>,
    deletes: Vec<String>,
}

impl Changeset {
    /// An empty changeset for `operation`.
    pub fn new(operation: impl Into<String>) -> Changeset {
        Changeset {
            operation: operation.into(),
            allow_secret: false,
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
    /// Secrets: a value that looks like a secret ([`crate::secrets::secrets`]) and is not
    /// already in one of the files the changeset replaces or deletes is refused unless
    /// `allow_secret`. So `add` and `set` refuse a new token, while `mv` of an entry that
    /// already held one (written with `--allow-secret`) is not blocked by it.
    ///
    /// # Errors
    /// [`Error::Conflict`] when a file changed since it was planned or a new file already
    /// exists; [`Error::Refused`] when a path is planned twice; the parse error of a new entry
    /// file that would not read back; [`Error::Secret`].
    pub fn validate(&self, tree: &Tree) -> Result<()> {
        let mut seen = HashSet::new();
        let mut old_secrets: HashSet<String> = HashSet::new();
        for change in &self.changes {
            let path = change.path();
            if !seen.insert(path.rel()) {
                return Err(Error::Refused(format!(
                    "internal error: {} is planned twice in one change",
                    tree.display_path(path.rel())
                )));
            }
            let base = match change {
                Change::Write { base, .. } | Change::Delete { base, .. } => *base,
            };
            let current = match tree.read(path) {
                Ok(bytes) => {
                    if !self.allow_secret {
                        let text = String::from_utf8_lossy(&bytes);
                        old_secrets
                            .extend(crate::secrets::secrets(&text).into_iter().map(|f| f.value));
                    }
                    Some(content_hash(&bytes))
                }
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    None
                }
                Err(e) => return Err(e),
            };
            let as_planned = match base {
                Base::Absent => current.is_none(),
                Base::Content(h) => current == Some(h),
            };
            if !as_planned {
                return Err(Error::Conflict {
                    file: tree.display_path(path.rel()).into(),
                    reason: match (base, current) {
                        (Base::Absent, _) => "it was created by someone else meanwhile".into(),
                        (_, None) => "it was deleted by someone else meanwhile".into(),
                        _ => "it was changed by someone else meanwhile".into(),
                    },
                });
            }
            if let Change::Write { path, bytes, .. } = change
                && path.rel().ends_with(".md")
                && !path.rel().starts_with('.')
            {
                crate::record::Record::parse(path.rel(), bytes, &tree.display_path(path.rel()))?;
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

    /// Validates, stages, journals and installs the plan (see the module doc). `_lock` is proof
    /// that the caller holds the tree's write lock.
    ///
    /// # Errors
    /// Any error of [`Changeset::validate`] or of staging leaves the tree as it was. An error
    /// while installing leaves the journal for [`recover`] and says so.
    pub fn apply(self, tree: &Tree, _lock: &WriteLock) -> Result<Applied> {
        self.apply_inner(tree, None)
    }

    /// [`Changeset::apply`], stopping (as if the process died) after `stop_after` installs.
    fn apply_inner(self, tree: &Tree, stop_after: Option<usize>) -> Result<Applied> {
        self.validate(tree)?;
        let paths = self.paths();
        // Step 2: stage every write. Dropping `staged` on error removes the temporary files.
        let mut staged = Vec::new();
        let mut deletes = Vec::new();
        for change in &self.changes {
            match change {
                Change::Write { path, bytes, .. } => staged.push((tree.stage(path, bytes)?, path)),
                Change::Delete { path, .. } => deletes.push(path),
            }
        }
        // Step 3: the journal. From here on the temporary files are kept until renamed.
        let journal_path = tree.safe(&format!("{CACHE_DIR}/{JOURNAL}"))?;
        let journal = Journal {
            operation: self.operation.clone(),
            renames: staged
                .iter()
                .map(|(tmp, path)| (rel_of(tree, tmp), path.rel().to_string()))
                .collect(),
            deletes: deletes.iter().map(|p| p.rel().to_string()).collect(),
        };
        let text = serde_json::to_vec(&journal).unwrap_or_default();
        tree.write_atomic(&journal_path, &text)?;
        let kept: Vec<(std::path::PathBuf, &SafePath)> = staged
            .into_iter()
            .map(|(tmp, path)| (tmp.keep().unwrap_or_default(), path))
            .collect();
        // Step 4: install.
        let interrupted = |e: Error| Error::Interrupted {
            operation: self.operation.clone(),
            reason: e.to_string(),
        };
        for (done, (tmp, path)) in kept.iter().enumerate() {
            if stop_after == Some(done) {
                return Err(interrupted(Error::Refused("stopped for a test".into())));
            }
            if let Err(e) = tree.install(tmp, path) {
                return Err(interrupted(e));
            }
        }
        for path in &deletes {
            match tree.remove(path) {
                Ok(()) => {}
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(interrupted(e)),
            }
        }
        for (_, path) in &kept {
            tree.prune_empty_folders(path);
        }
        let _ = fs::remove_file(journal_path.abs());
        Ok(Applied {
            operation: self.operation,
            paths,
        })
    }
}

fn rel_of(tree: &Tree, abs: &std::path::Path) -> String {
    abs.strip_prefix(&tree.root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| abs.to_string_lossy().into_owned())
}

/// An interrupted changeset, as `check` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    /// The operation that was interrupted.
    pub operation: String,
    /// Files still to be written or deleted, relative to the root.
    pub paths: Vec<String>,
}

/// The interrupted changeset left in `.cache/journal`, if any (read-only; see [`recover`]).
pub fn pending(tree: &Tree) -> Option<Pending> {
    let p = tree.safe(&format!("{CACHE_DIR}/{JOURNAL}")).ok()?;
    let bytes = tree.read(&p).ok()?;
    let Ok(j) = serde_json::from_slice::<Journal>(&bytes) else {
        return Some(Pending {
            operation: "unknown (the journal is unreadable)".into(),
            paths: Vec::new(),
        });
    };
    let present = |rel: &str| {
        tree.safe(rel)
            .is_ok_and(|p| fs::symlink_metadata(p.abs()).is_ok())
    };
    let paths = j
        .renames
        .iter()
        .filter(|(tmp, _)| present(tmp))
        .map(|(_, target)| target.clone())
        .chain(j.deletes.iter().filter(|d| present(d)).cloned())
        .collect();
    Some(Pending {
        operation: j.operation,
        paths,
    })
}

/// Completes a changeset interrupted during its install step: renames every staged file that
/// is still there onto its target and deletes what was to be deleted, then removes the journal.
/// Returns what it completed (`None` when there was nothing to do). `_lock` is proof that the
/// caller holds the write lock.
///
/// # Errors
/// When a rename or delete fails again; the journal then stays for the next attempt.
pub fn recover(tree: &Tree, _lock: &WriteLock) -> Result<Option<Applied>> {
    let journal_path = tree.safe(&format!("{CACHE_DIR}/{JOURNAL}"))?;
    let bytes = match tree.read(&journal_path) {
        Ok(b) => b,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let Ok(j) = serde_json::from_slice::<Journal>(&bytes) else {
        // A torn journal means the crash came before step 4 began: nothing was installed.
        let _ = fs::remove_file(journal_path.abs());
        return Ok(None);
    };
    let mut paths = Vec::new();
    for (tmp, target) in &j.renames {
        let tmp_path = tree.safe(tmp)?;
        let target = tree.safe(target)?;
        if fs::symlink_metadata(tmp_path.abs()).is_ok() {
            tree.install(tmp_path.abs(), &target)?;
            paths.push(target.rel().to_string());
        }
    }
    for d in &j.deletes {
        let p = tree.safe(d)?;
        if fs::symlink_metadata(p.abs()).is_ok() {
            tree.remove(&p)?;
            paths.push(d.clone());
        }
    }
    let _ = fs::remove_file(journal_path.abs());
    Ok(Some(Applied {
        operation: j.operation,
        paths,
    }))
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

    #[test]
    fn a_plan_applies_whole() {
        let (_d, t) = setup();
        let lock = WriteLock::acquire(&t, Duration::from_secs(1)).unwrap();
        let applied = plan(&t).apply(&t, &lock).unwrap();
        assert_eq!(applied.paths, ["a/b/new.md", "a/c/ref.md", "a/b/old.md"]);
        let files: Vec<String> = snapshot(&t).into_iter().map(|(f, _)| f).collect();
        assert_eq!(files, ["a/b/new.md", "a/c/ref.md"]);
        assert!(pending(&t).is_none());
    }

    #[test]
    fn a_conflict_found_in_validation_writes_nothing() {
        let (_d, t) = setup();
        let before = snapshot(&t);
        let cs = plan(&t);
        // A hand edit between planning and applying.
        fs::write(t.root.join("a/c/ref.md"), entry("Edited by hand")).unwrap();
        let lock = WriteLock::acquire(&t, Duration::from_secs(1)).unwrap();
        let err = cs.apply(&t, &lock).unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
        let after = snapshot(&t);
        assert_eq!(after[0], before[0]);
        assert_eq!(after.len(), before.len());
        assert!(!t.root.join("a/b/new.md").exists());
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
        let lock = WriteLock::acquire(&t, Duration::from_secs(1)).unwrap();
        assert!(cs.apply(&t, &lock).is_err());
        assert_eq!(snapshot(&t), before);
        // No temporary file is left behind either.
        let leftovers: Vec<_> = fs::read_dir(t.root.join("a/b"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".memtree-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn a_crash_half_way_is_reported_then_completed() {
        let (_d, t) = setup();
        let err = plan(&t).apply_inner(&t, Some(1)).unwrap_err();
        assert!(matches!(err, Error::Interrupted { .. }), "{err}");
        // Half-way: the new file exists, the referrer and the deletion are not done.
        assert!(t.root.join("a/b/new.md").exists());
        assert!(t.root.join("a/b/old.md").exists());
        let p = pending(&t).unwrap();
        assert_eq!(p.paths, ["a/c/ref.md", "a/b/old.md"]);
        let lock = WriteLock::acquire(&t, Duration::from_secs(1)).unwrap();
        let done = recover(&t, &lock).unwrap().unwrap();
        assert_eq!(done.paths, ["a/c/ref.md", "a/b/old.md"]);
        let files = snapshot(&t);
        assert_eq!(files.len(), 2);
        assert!(files[1].1.contains("Ref to new"));
        assert!(pending(&t).is_none());
        assert!(recover(&t, &lock).unwrap().is_none());
    }
}
