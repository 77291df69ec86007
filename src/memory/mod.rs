//! [`Memory`]: the one facade the CLI (and later MCP) call. Every operation returns a
//! serialisable report; nothing here prints, exits or reads the clock (`now` is given).
//!
//! One file per group of operations:
//! - `read.rs`: `get`, `ls`, `query`, `context`, `stats`, `index`;
//! - `write.rs`: `add`, `set`, `link`, `unlink`, `mv`, `rm`, `supersede`;
//! - `check.rs`: `check`;
//! - `prime.rs`: `prime`, the session-start bundle;
//! - `import.rs`: `import`, entries from AGENTS.md, CLAUDE.md, Cursor and Copilot rules, a
//!   memory bank, a ByteRover context tree (one commit; idempotent);
//! - `graph.rs`: `graph`, the entries and edges of a subtree as Mermaid or Graphviz;
//! - `consolidate.rs`: `consolidate` (dry run, apply, the git hook) and `confirm`;
//! - `versions.rs`: `history`, `diff`, `get --at`, `restore` (git);
//! - `assign.rs`: the `KEY=VALUE` language of `set`;
//! - `reports.rs`: the report types.
//!
//! Writes follow one pattern: take the tree's write lock (which also completes a write that a
//! crash interrupted), read the files concerned, plan every change as a
//! [`crate::changeset::Changeset`] (only the lines of the keys concerned change), validate it,
//! apply it, then bring the index up to date under the same lock.

mod assign;
mod check;
mod consolidate;
mod curate;
mod graph;
mod import;
mod layers;
mod prime;
mod prime_session;
mod read;
mod reports;
mod versions;
mod write;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

pub use consolidate::{ConsolidateReport, Mode};
pub use curate::{
    CurateInput, CurateLlm, CurateReport, CurateRow, SESSION_BOUND_S, SavedPlan, parse_plan,
};
pub use graph::{GraphEdge, GraphFormat, GraphNode, GraphReport};
pub use import::{ImportReport, ImportRow};
pub use layers::{InLayer, LayerRow, LayerSearch, LayersReport};
pub use prime::{ChangedEntry, Changes, OutlineRow, PrimeReport};
pub use prime_session::SessionPrime;
pub use reports::*;
pub use write::{BodyChange, NewEntry};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::git::CommitReport;
use crate::index::{Freshness, SearchIndex};
use crate::record::Record;
use crate::retrieve::{Ctx, Query};
use crate::tree::{self, SafePath, Tree, WriteLock};

const LOCK_WAIT: Duration = Duration::from_secs(10);

/// A memory tree opened for use.
#[derive(Debug, Clone)]
pub struct Memory {
    tree: Tree,
    config: Config,
    trust: crate::trust::TrustState,
    now: jiff::Timestamp,
    allow_secret: bool,
    commit: bool,
    /// The layer this tree is, as ids in its errors are shown ([`crate::layers`]).
    layer: String,
    /// Only this tree is read, whatever layers the configuration names (the evaluation
    /// harnesses: a developer's user layer must not leak into a benchmark's answers).
    alone: bool,
}

fn timestamp(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A content hash as `get --json` shows it and `edit --base` takes it: 16 hex digits.
fn hash_hex(hash: u64) -> String {
    format!("{hash:016x}")
}

/// Milliseconds since `since`, to the microsecond.
pub(crate) fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

impl Memory {
    /// Opens the tree, reading its configuration. Settings that run a program, reach the
    /// network or read outside the project are taken from the user's own configuration or
    /// from a project file the user trusted ([`crate::trust`]). `now` is used for decay and
    /// for `created` / `updated` stamps.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad `memtree.yaml` or user configuration.
    pub fn open(tree: Tree, now: jiff::Timestamp) -> Result<Memory> {
        let (mut config, bytes) = Config::load_with_bytes(&tree)?;
        let trust = crate::trust::apply(&tree, &mut config, bytes.as_deref())?;
        Ok(Memory::with(tree, config, trust, now))
    }

    /// Opens the tree with its `memtree.yaml` taken as it is, trusted: for callers that wrote
    /// the tree themselves (the evaluation harnesses), with the `MEMTREE_*` variables laid over
    /// it as for any user, and no other layer ([`crate::layers`]) read. The CLI and the MCP
    /// server never use it.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad `memtree.yaml`.
    pub fn open_trusting(tree: Tree, now: jiff::Timestamp) -> Result<Memory> {
        let mut config = Config::load(&tree)?;
        config.llm_prompt =
            crate::trust::project_prompt(&tree).and_then(|p| String::from_utf8(p).ok());
        crate::trust::apply_env(&mut config)?;
        let mut memory = Memory::with(tree, config, crate::trust::TrustState::default(), now);
        memory.alone = true;
        Ok(memory)
    }

    fn with(
        mut tree: Tree,
        config: Config,
        trust: crate::trust::TrustState,
        now: jiff::Timestamp,
    ) -> Memory {
        tree.max_file_bytes = config.index.max_file_bytes;
        Memory {
            tree,
            config,
            trust,
            now,
            allow_secret: false,
            commit: true,
            layer: crate::layers::PROJECT.into(),
            alone: false,
        }
    }

    /// Opens the tree even when `memtree.yaml` is invalid, with the default configuration, and
    /// returns the configuration error beside it: for `check`, the command that diagnoses it.
    pub fn open_lenient(tree: Tree, now: jiff::Timestamp) -> (Memory, Option<Error>) {
        let loaded = Config::load_with_bytes(&tree).and_then(|(mut config, bytes)| {
            let trust = crate::trust::apply(&tree, &mut config, bytes.as_deref())?;
            Ok((config, trust))
        });
        match loaded {
            Ok((config, trust)) => (Memory::with(tree, config, trust, now), None),
            Err(e) => (
                Memory::with(
                    tree,
                    Config::default(),
                    crate::trust::TrustState::default(),
                    now,
                ),
                Some(e),
            ),
        }
    }

    /// The freshness check read-only commands run (see [`Freshness`]): writes, `index` and
    /// `check` always scan every file.
    pub(super) fn freshness(&self) -> Freshness {
        Freshness::from_config(&self.config)
    }

    /// Creates `.memory/` in `dir` with `memtree.yaml`, `.gitignore` and a README; existing
    /// files are left as they are. `dir` is the project folder, or the `.memory` folder itself
    /// (`init .memory` never makes `.memory/.memory`). Inside a git repository the files it
    /// writes are committed as one commit (`memtree: init`), so a teammate's clone is clean;
    /// `commit: false` (`--no-commit`) leaves them for the user.
    ///
    /// # Errors
    /// [`Error::Io`] when the folder cannot be written.
    pub fn init(dir: &Path, now: jiff::Timestamp, commit: bool) -> Result<InitReport> {
        let root = if dir.file_name().is_some_and(|n| n == tree::MEMORY_DIR) {
            dir.to_path_buf()
        } else {
            dir.join(tree::MEMORY_DIR)
        };
        let new = !root.exists();
        fs::create_dir_all(&root).map_err(|e| Error::io("cannot create folder", &root, e))?;
        let memory = Memory::with(
            Tree::new(root.clone()),
            Config::default(),
            crate::trust::TrustState::default(),
            now,
        )
        .commit_writes(commit);
        let lock = memory.lock()?;
        let mut changeset = crate::changeset::Changeset::new("init");
        let mut created = Vec::new();
        for (name, text) in [
            (tree::CONFIG_FILE, crate::templates::CONFIG),
            (".gitignore", crate::templates::GITIGNORE),
            (tree::FOLDER_NOTE, crate::templates::README),
        ] {
            let p = memory.tree.safe(name)?;
            if fs::symlink_metadata(p.abs()).is_err() {
                changeset.write(p, text.as_bytes(), crate::changeset::Base::Absent);
                created.push(format!("{}/{name}", tree::MEMORY_DIR));
            }
        }
        let commit = if changeset.is_empty() {
            CommitReport::skipped(crate::git::NOTHING_CHANGED)
        } else {
            changeset.commit = memory.commit;
            let applied = changeset.apply(&memory.tree, &lock)?;
            let commit = memory.git_commit(&applied);
            crate::changeset::finish(&memory.tree, &lock);
            commit
        };
        Ok(InitReport {
            schema: "memtree.init/v1",
            root,
            created,
            new,
            commit,
        })
    }

    /// Lets this handle's writes put text that looks like a secret into files
    /// (`--allow-secret`); by default they refuse it (see [`crate::secrets`]).
    pub fn allow_secret(mut self, allow: bool) -> Memory {
        self.allow_secret = allow;
        self
    }

    /// Whether this handle's writes are committed to git (when `git.auto_commit` is on and the
    /// tree is in a repository); `false` is `--no-commit`.
    pub fn commit_writes(mut self, commit: bool) -> Memory {
        self.commit = commit;
        self
    }

    /// The tree.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Takes the write lock and completes a write that a crash interrupted, if any (and
    /// commits it, as the interrupted command would have).
    ///
    /// # Errors
    /// [`Error::Busy`]; [`Error::Unfinished`] when the interrupted write cannot be completed
    /// because a file it touches was changed after the crash (`memtree recover --discard`).
    fn lock(&self) -> Result<WriteLock> {
        self.lock_within(LOCK_WAIT)
    }

    /// [`Memory::lock`], waiting at most `wait` for another writer.
    ///
    /// # Errors
    /// As [`Memory::lock`], and [`Error::CommitPending`] when the interrupted write is
    /// installed but its commit had to be skipped (another git command holds the index): a
    /// new write would replace its journal.
    fn lock_within(&self, wait: Duration) -> Result<WriteLock> {
        let lock = WriteLock::acquire(&self.tree, wait)?;
        if let Some(r) = self.complete_interrupted(&lock)?
            && r.commit.retry
        {
            return Err(Error::CommitPending {
                operation: r.operation.unwrap_or_default(),
                reason: r.commit.skipped.unwrap_or_default(),
            });
        }
        Ok(lock)
    }

    /// The write lock for `index`: an interrupted write is completed as for [`Memory::lock`],
    /// but one whose commit is still pending does not stop the index from being refreshed.
    pub(super) fn lock_for_index(&self) -> Result<WriteLock> {
        let lock = WriteLock::acquire(&self.tree, LOCK_WAIT)?;
        self.complete_interrupted(&lock)?;
        Ok(lock)
    }

    /// Completes and commits a write a crash interrupted, if any: `None` when there was none.
    fn complete_interrupted(&self, lock: &WriteLock) -> Result<Option<RecoverReport>> {
        let Some(mut applied) = crate::changeset::recover(&self.tree, lock)? else {
            return Ok(None);
        };
        applied.operation = format!("complete interrupted {}", applied.operation);
        let commit = self.git_commit(&applied);
        // A commit skipped for a reason that passes keeps the journal: the next command
        // commits the change (and `check` names it meanwhile).
        if !commit.retry {
            crate::changeset::finish(&self.tree, lock);
        }
        Ok(Some(RecoverReport {
            schema: "memtree.recover/v1",
            operation: Some(applied.operation.clone()),
            files: applied
                .paths()
                .iter()
                .map(|p| self.tree.display_path(p))
                .collect(),
            discarded: false,
            kept: Vec::new(),
            commit,
        }))
    }

    /// `memtree recover`: completes and commits a write that a crash interrupted (what every
    /// write does first anyway), or with `discard`, abandons it: the files stay exactly as they
    /// are and memtree's versions are kept in `.cache/discarded`. A report with no operation
    /// when nothing was interrupted.
    ///
    /// # Errors
    /// [`Error::Busy`]; [`Error::Unfinished`] (without `discard`) when a file the write
    /// touches was changed after the crash.
    pub fn recover(&self, discard: bool) -> Result<RecoverReport> {
        let lock = WriteLock::acquire(&self.tree, LOCK_WAIT)?;
        let report = if discard {
            let stamp = self.now.strftime("%Y%m%dT%H%M%SZ").to_string();
            crate::changeset::discard(&self.tree, &lock, &stamp)?.map(|d| RecoverReport {
                schema: "memtree.recover/v1",
                operation: Some(d.operation),
                files: Vec::new(),
                discarded: true,
                kept: d.kept,
                commit: CommitReport::skipped("the interrupted change was discarded"),
            })
        } else {
            self.complete_interrupted(&lock)?
        };
        // A lock a killed memtree left in `.git` goes, whether or not a change was pending.
        if let Ok(repo) = crate::git::Repo::discover(&self.tree) {
            repo.clear_stale_lock();
        }
        Ok(report.unwrap_or(RecoverReport {
            schema: "memtree.recover/v1",
            operation: None,
            files: Vec::new(),
            discarded: false,
            kept: Vec::new(),
            commit: CommitReport::skipped(crate::git::NOTHING_CHANGED),
        }))
    }

    /// Commits what a changeset changed, when writes are committed (`git.auto_commit`, and
    /// the change was not made with `--no-commit`) and the tree is in a git work tree;
    /// otherwise says why not. Never fails: a git error is reported as the reason nothing was
    /// committed (the files are written either way).
    fn git_commit(&self, applied: &crate::changeset::Applied) -> CommitReport {
        if !self.config.git.auto_commit {
            return CommitReport::skipped(crate::git::AUTO_COMMIT_OFF);
        }
        if !applied.commit {
            return CommitReport::skipped(crate::git::NO_COMMIT_FLAG);
        }
        if applied.files.is_empty() {
            return CommitReport::skipped(crate::git::NOTHING_CHANGED);
        }
        match crate::git::Repo::discover(&self.tree) {
            Ok(repo) => repo
                .commit(&self.tree, applied, &applied.operation, self.now)
                .unwrap_or_else(|e| {
                    CommitReport::retry(format!(
                        "{e}; memtree's changes are left on disk for you to commit"
                    ))
                }),
            Err(why) => CommitReport::skipped(why),
        }
    }

    /// Refuses to replace or delete the file `p` (content `disk`) when git does not have that
    /// content (never committed, or changed since), unless `force`; outside a repository there
    /// is nothing to compare with.
    ///
    /// # Errors
    /// [`Error::LocalChanges`].
    fn refuse_local_changes(&self, p: &SafePath, disk: &[u8], force: bool) -> Result<()> {
        if force {
            return Ok(());
        }
        let Ok(repo) = crate::git::Repo::discover(&self.tree) else {
            return Ok(());
        };
        match repo.local_changes(p.rel(), disk) {
            None => Ok(()),
            Some(reason) => Err(Error::LocalChanges {
                file: self.tree.display_path(p.rel()).into(),
                reason: reason.into(),
            }),
        }
    }

    /// What a secret may already be in without a write being refused for it (see
    /// [`crate::changeset::Changeset::secret_baseline`]): git's HEAD version of `paths` when the
    /// write will be committed, `None` when it will not.
    fn secret_baseline(&self, paths: &[String]) -> Option<Vec<Vec<u8>>> {
        if !self.config.git.auto_commit || !self.commit {
            return None;
        }
        crate::git::Repo::discover(&self.tree)
            .ok()
            .map(|repo| repo.committed(paths))
    }

    /// The configuration with the dense tier off, for retrieval that compares words (curate's
    /// planner, `add`'s near-duplicate check) rather than answering a question.
    fn config_without_dense(&self) -> Config {
        let mut config = self.config.clone();
        config.semantic.dense = false;
        config
    }

    fn ctx<'a>(&'a self, index: &'a SearchIndex, query: &'a Query) -> Ctx<'a> {
        Ctx {
            index,
            searcher: index.searcher(),
            config: &self.config,
            query,
            now: self.now.as_second(),
            tree: &self.tree,
            across: None,
        }
    }

    /// Resolves what a user typed to an existing entry: its id and its file. An exact id, a
    /// folder note's folder id, or a unique id suffix (as in the path tier).
    ///
    /// # Errors
    /// [`Error::InvalidId`] for `.`/`..` segments; [`Error::UnsafePath`] when the path passes
    /// through a symbolic link; [`Error::NotFound`] with the closest ids.
    fn resolve(&self, input: &str) -> Result<(String, SafePath)> {
        let id = tree::normalize_id(input);
        if id.is_empty() || id.split('/').any(|s| s.is_empty() || s == ".." || s == ".") {
            return Err(Error::InvalidId {
                id: input.to_string(),
                reason: "an id is a path below .memory/ without empty, `.` or `..` segments".into(),
            });
        }
        for rel in [format!("{id}.md"), format!("{id}/{}", tree::FOLDER_NOTE)] {
            let p = self.tree.safe(&rel)?;
            if fs::symlink_metadata(p.abs()).is_ok_and(|m| m.is_file()) {
                return Ok((id, p));
            }
        }
        let walk = self.tree.walk()?;
        let ids: Vec<String> = walk
            .files
            .iter()
            .filter_map(|f| tree::id_of_rel(&f.rel))
            .collect();
        // A unique suffix is accepted too (as in the path tier).
        let suffix = format!("/{id}");
        let matches: Vec<&String> = ids.iter().filter(|i| i.ends_with(&suffix)).collect();
        if let [found] = matches[..] {
            let found = found.clone();
            return self.resolve(&found);
        }
        let suggestions = crate::text::closest(&id, ids.iter().map(String::as_str), 5);
        // In another layer, the ids are shown as they are typed: qualified.
        let q = |id: &str| crate::layers::qualify(&self.layer, id);
        Err(Error::NotFound {
            id: q(&id),
            suggestions: suggestions.iter().map(|s| q(s)).collect(),
        })
    }

    /// Reads and parses an entry file; also returns its bytes' content hash (the base of a
    /// planned change).
    fn read_record(&self, p: &SafePath) -> Result<(Record, u64)> {
        let bytes = self.tree.read(p)?;
        let display = self.tree.display_path(p.rel());
        let record = Record::parse_limited(p.rel(), &bytes, &display, self.tree.max_file_bytes)?;
        Ok((record, crate::changeset::content_hash(&bytes)))
    }

    /// Brings the index up to date after a write, under the writer's lock.
    fn refresh(&self, lock: &WriteLock) -> Result<SearchIndex> {
        SearchIndex::open_synced(&self.tree, Some(lock), self.freshness().full()).map(|(i, _)| i)
    }
}
