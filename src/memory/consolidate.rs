//! `consolidate` (and `confirm`): tidy the tree after a session, as reviewable changes.
//!
//! The plan ([`crate::lifecycle::plan`] plus what needs the files): decay, promotion and
//! demotion from usage and confirmation, archiving of decayed drafts, near-duplicates with a
//! merge proposal, and repair of links broken by moves made outside memtree (`git mv`, a file
//! manager). Modes:
//! - `DryRun` (the default) shows the plan and changes nothing;
//! - `Apply` applies every proposal except reports (`decayed`) and merges below the strict
//!   threshold, as one changeset and one commit;
//! - `Hook` (the git hooks) refreshes the index and applies only what loses nothing and is
//!   trivially reversible (link repair); it takes the lock for at most a second and never
//!   fails the user's git command (the CLI logs errors to `.cache/hook.log`).
//!
//! Nothing is ever deleted: archiving sets `status: archived` (found with `--all`), a merge is
//! a supersession, and git keeps every version.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::write::retarget;
use super::{Memory, WriteReport, timestamp};
use crate::changeset::{Base, Changeset};
use crate::error::Result;
use crate::git::CommitReport;
use crate::lifecycle::{self, Action};
use crate::record::StoredMeta;
use crate::tree::{SafePath, WriteLock};

/// How `consolidate` runs (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Show the plan, change nothing.
    DryRun,
    /// Apply the plan (one commit).
    Apply,
    /// From a git hook: refresh, apply the safe part only.
    Hook,
}

/// What `consolidate` planned and did (`memtree.consolidate/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct ConsolidateReport {
    /// Always `memtree.consolidate/v1`.
    pub schema: &'static str,
    /// The mode it ran in.
    pub mode: Mode,
    /// Every proposal, with whether it was applied.
    pub actions: Vec<Action>,
    /// Entry files re-indexed by the refresh.
    pub reindexed: usize,
    /// The commit of the applied changes, or why there is none.
    pub commit: CommitReport,
    /// The hook's refresh of the dense tier's entry vectors (at most [`HOOK_DENSE_BUDGET`] of
    /// encoding, after the write lock is released; the rest is left for the next run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense: Option<crate::retrieve::dense::DenseFill>,
    /// Milliseconds taken.
    pub elapsed_ms: f64,
}

/// The most time the git hook spends encoding new entries for the dense tier.
pub const HOOK_DENSE_BUDGET: Duration = Duration::from_secs(1);

/// One change to one file, from one action.
#[derive(Debug, Clone)]
enum Op {
    Maturity(String),
    Status(String),
    SupersededBy(String),
    AddSupersedes(String),
    Retarget {
        from: String,
        to: String,
        to_rel: String,
    },
}

/// How many commits back `consolidate` looks for renames of entry files.
const RENAME_COMMITS: usize = 50;

/// The last `/` segment of an id.
fn leaf(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

fn normalized(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl Memory {
    /// Plans (and, per `mode`, applies) the consolidation of the tree.
    ///
    /// # Errors
    /// [`crate::Error::Busy`] when another writer holds the lock (for the hook, after a
    /// second); cache and I/O errors.
    pub fn consolidate(&self, mode: Mode) -> Result<ConsolidateReport> {
        let start = Instant::now();
        let repo = crate::git::Repo::discover(&self.tree).ok();
        if mode == Mode::Hook
            && let Some(why) = repo.as_ref().and_then(|r| r.hook_must_not_write())
        {
            return Ok(ConsolidateReport {
                schema: "memtree.consolidate/v1",
                mode,
                actions: Vec::new(),
                reindexed: 0,
                commit: CommitReport::skipped(format!("the hook writes nothing while {why}")),
                dense: None,
                elapsed_ms: super::ms(start),
            });
        }
        let mut report = self.consolidate_locked(mode, repo.as_ref(), start)?;
        if mode == Mode::Hook {
            // Encoding writes only its own cache file: the lock is not held.
            report.dense =
                crate::index::SearchIndex::open_synced(&self.tree, None, self.freshness())
                    .ok()
                    .and_then(|(index, _)| {
                        crate::retrieve::dense::fill(
                            &self.tree,
                            &index,
                            &self.config,
                            Some(HOOK_DENSE_BUDGET),
                        )
                        .ok()
                    })
                    .filter(|d| d.model.is_some());
            report.elapsed_ms = super::ms(start);
        }
        Ok(report)
    }

    fn consolidate_locked(
        &self,
        mode: Mode,
        repo: Option<&crate::git::Repo>,
        start: Instant,
    ) -> Result<ConsolidateReport> {
        let lock = match mode {
            Mode::Hook => self.lock_within(Duration::from_secs(1))?,
            _ => self.lock()?,
        };
        let (index, sync) = crate::index::SearchIndex::open_synced(
            &self.tree,
            Some(&lock),
            self.freshness().full(),
        )?;
        let all = index.all();
        drop(index);
        let usage = crate::usage::load(&self.tree);
        let now = self.now.as_second();
        let mut actions = Vec::new();
        let mut ops: BTreeMap<String, Vec<Op>> = BTreeMap::new();
        let by_id: HashMap<&str, &StoredMeta> = all.iter().map(|m| (m.id.as_str(), m)).collect();
        // 1. Links broken by moves made outside memtree: git's rename detection first (only
        // asked when some link points nowhere).
        let dangling = all.iter().any(|m| {
            m.edges
                .iter()
                .map(|e| e.to.as_str())
                .chain(m.superseded_by.as_deref())
                .any(|t| !by_id.contains_key(t))
        });
        let renames = match (repo, dangling) {
            (Some(r), true) => r.renames(RENAME_COMMITS).unwrap_or_default(),
            _ => Vec::new(),
        };
        for (rel, op, mut a) in link_repairs(&all, &by_id, &renames) {
            a.applied = mode != Mode::DryRun;
            if a.applied {
                ops.entry(rel).or_default().push(op);
            }
            actions.push(a);
        }
        if mode == Mode::Hook {
            return self.finish(mode, &lock, actions, ops, sync.indexed, start);
        }
        // 2. Decay, promotion, demotion, archiving.
        for mut a in lifecycle::plan(&all, &usage, &self.config, now) {
            let rel = by_id.get(a.id.as_str()).map(|m| m.rel.clone());
            let op = match (a.kind, a.change.rsplit(" -> ").next()) {
                ("promote" | "demote", Some(to)) => Some(Op::Maturity(to.to_string())),
                ("archive", _) => Some(Op::Status("archived".into())),
                _ => None,
            };
            if mode == Mode::Apply
                && let (Some(op), Some(rel)) = (op, rel)
            {
                ops.entry(rel).or_default().push(op);
                a.applied = true;
            }
            actions.push(a);
        }
        // 3. Near-duplicates: live entries of one kind with the same normalised title.
        for a in self.duplicates(&all, mode, &mut ops) {
            actions.push(a);
        }
        crate::usage::fold(&self.tree, &HashMap::new());
        self.finish(mode, &lock, actions, ops, sync.indexed, start)
    }

    fn duplicates(
        &self,
        all: &[StoredMeta],
        mode: Mode,
        ops: &mut BTreeMap<String, Vec<Op>>,
    ) -> Vec<Action> {
        let mut groups: BTreeMap<(String, String), Vec<&StoredMeta>> = BTreeMap::new();
        for m in all.iter().filter(|m| m.is_live() && !m.folder_note) {
            let key = crate::index::analyzer::phrase_words(&m.title).join(" ");
            if !key.is_empty() {
                groups
                    .entry((m.kind.clone().unwrap_or_default(), key))
                    .or_default()
                    .push(m);
            }
        }
        let mut out = Vec::new();
        for (_, mut group) in groups.into_iter().filter(|(_, g)| g.len() > 1) {
            // The most recently updated stays; the others are proposed as superseded by it.
            group.sort_by_key(|m| (std::cmp::Reverse(m.updated.unwrap_or(0)), m.id.clone()));
            let keep = group[0];
            let keep_body = self.body_of(keep);
            for other in &group[1..] {
                // Strict: the same body too, so the supersession loses nothing at all.
                let strict = keep_body.is_some() && self.body_of(other) == keep_body;
                let applied = mode == Mode::Apply && strict;
                if applied {
                    ops.entry(other.rel.clone()).or_default().extend([
                        Op::Status("superseded".into()),
                        Op::SupersededBy(keep.id.clone()),
                    ]);
                    ops.entry(keep.rel.clone())
                        .or_default()
                        .push(Op::AddSupersedes(other.id.clone()));
                }
                out.push(Action {
                    kind: "merge",
                    id: other.id.clone(),
                    change: format!("superseded by {}", keep.id),
                    reason: format!(
                        "same title as {} (\"{}\"){}",
                        keep.id,
                        keep.title,
                        if strict {
                            " and the same body: merged automatically with --apply"
                        } else {
                            "; the bodies differ, so merge them by hand or with `memtree supersede`"
                        }
                    ),
                    safe: false,
                    applied,
                });
            }
        }
        out
    }

    fn body_of(&self, m: &StoredMeta) -> Option<String> {
        let p = SafePath::from_walk(&self.tree, &m.rel);
        let bytes = self.tree.read_entry(&p).ok()?;
        let r =
            crate::record::Record::parse_limited(&m.rel, &bytes, &m.rel, self.tree.max_file_bytes)
                .ok()?;
        Some(normalized(&r.doc.body))
    }

    fn finish(
        &self,
        mode: Mode,
        lock: &WriteLock,
        actions: Vec<Action>,
        ops: BTreeMap<String, Vec<Op>>,
        reindexed: usize,
        start: Instant,
    ) -> Result<ConsolidateReport> {
        let mut changeset = Changeset::new(String::new());
        for (rel, file_ops) in &ops {
            let path = self.tree.safe(rel)?;
            let edit = self.plan_edit(&path, false, |meta, body| {
                let mut changed = Vec::new();
                for op in file_ops {
                    match op {
                        Op::Maturity(m) => {
                            meta.maturity = Some(m.clone());
                            changed.push("maturity".to_string());
                        }
                        Op::Status(s) => {
                            meta.status = Some(s.clone());
                            changed.push("status".into());
                        }
                        Op::SupersededBy(to) => {
                            meta.superseded_by = Some(to.clone());
                            changed.push("superseded_by".into());
                        }
                        Op::AddSupersedes(old) => {
                            if !meta.supersedes.contains(old) {
                                meta.supersedes.push(old.clone());
                            }
                            changed.push("supersedes".into());
                        }
                        Op::Retarget { from, to, to_rel } => {
                            changed.extend(retarget(meta, body, rel, from, to, to_rel));
                        }
                    }
                }
                // Bookkeeping is not a deliberate change: `updated` (and so decay) stays.
                Ok(changed)
            })?;
            if let Some(edit) = edit {
                changeset.write(path, edit.text, Base::Content(edit.base));
            }
        }
        let applied = actions.iter().filter(|a| a.applied).count();
        let commit = if changeset.is_empty() {
            CommitReport::skipped("nothing to apply")
        } else {
            let mut kinds: Vec<&str> = actions
                .iter()
                .filter(|a| a.applied)
                .map(|a| a.kind)
                .collect();
            kinds.sort_unstable();
            kinds.dedup();
            changeset.operation = format!(
                "consolidate{}: {applied} change(s) ({})",
                if mode == Mode::Hook { " --hook" } else { "" },
                kinds.join(", ")
            );
            self.commit(lock, changeset)?
        };
        Ok(ConsolidateReport {
            schema: "memtree.consolidate/v1",
            mode,
            actions,
            reindexed,
            commit,
            dense: None,
            elapsed_ms: super::ms(start),
        })
    }

    /// Records a person's confirmation of an entry: a draft (or an entry without maturity)
    /// becomes validated, and `updated` is stamped, which restarts its decay. One commit.
    ///
    /// # Errors
    /// Unknown id; write errors.
    pub fn confirm(&self, id: &str) -> Result<WriteReport> {
        let (id, path) = self.resolve(id)?;
        let lock = self.lock()?;
        let stamp = timestamp(self.now);
        let edit = self.plan_edit(&path, false, |meta, _| {
            let mut changed = vec!["updated".to_string()];
            if matches!(meta.maturity.as_deref(), None | Some("draft")) {
                meta.maturity = Some("validated".into());
                changed.push("maturity".into());
            }
            meta.updated = Some(stamp);
            Ok(changed)
        })?;
        let (changed, commit) = match edit {
            Some(edit) => {
                let mut changeset = Changeset::new(format!("confirm {id}"));
                changeset.write(path.clone(), edit.text, Base::Content(edit.base));
                (edit.changed, self.commit(&lock, changeset)?)
            }
            None => (
                Vec::new(),
                CommitReport::skipped(crate::git::NOTHING_CHANGED),
            ),
        };
        Ok(WriteReport {
            schema: "memtree.confirm/v1",
            id,
            file: self.tree.display_path(path.rel()),
            changed,
            warnings: Vec::new(),
            commit,
        })
    }
}

/// Links that point to no entry, with where the entry went: the file git saw it renamed to
/// (`renames`, old and new paths relative to `.memory/`), else the only entry with the same
/// last id segment: `(referrer file, op, action)`.
fn link_repairs(
    all: &[StoredMeta],
    by_id: &HashMap<&str, &StoredMeta>,
    renames: &[(String, String)],
) -> Vec<(String, Op, Action)> {
    let mut by_leaf: HashMap<&str, Vec<&StoredMeta>> = HashMap::new();
    for m in all {
        by_leaf.entry(leaf(&m.id)).or_default().push(m);
    }
    let renamed = |t: &str| -> Option<&StoredMeta> {
        let files = [format!("{t}.md"), format!("{t}/README.md")];
        renames
            .iter()
            .rev()
            .find(|(old, _)| files.contains(old))
            .and_then(|(_, new)| crate::tree::id_of_rel(new))
            .and_then(|id| by_id.get(id.as_str()).copied())
    };
    let mut out = Vec::new();
    for m in all {
        let mut targets: Vec<&str> = m.edges.iter().map(|e| e.to.as_str()).collect();
        targets.extend(m.superseded_by.as_deref());
        let mut seen = HashSet::new();
        for t in targets {
            if by_id.contains_key(t) || !seen.insert(t) {
                continue;
            }
            let (found, reason) = if let Some(found) = renamed(t) {
                (
                    found,
                    format!(
                        "{t} no longer exists and git saw its file renamed to {}",
                        found.rel
                    ),
                )
            } else if let Some([found]) = by_leaf.get(leaf(t)).map(Vec::as_slice) {
                (
                    *found,
                    format!(
                        "{t} no longer exists and {} is the only entry named `{}` (moved outside \
                         memtree)",
                        found.id,
                        leaf(t)
                    ),
                )
            } else {
                continue;
            };
            if found.id == m.id {
                continue;
            }
            out.push((
                m.rel.clone(),
                Op::Retarget {
                    from: t.to_string(),
                    to: found.id.clone(),
                    to_rel: found.rel.clone(),
                },
                Action {
                    kind: "repair-link",
                    id: m.id.clone(),
                    change: format!("link to {t} -> {}", found.id),
                    reason,
                    safe: true,
                    applied: false,
                },
            ));
        }
    }
    out
}
