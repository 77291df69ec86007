//! `curate`: a session (or any text) as a plan of `add` / `update` / `supersede` / `noop`
//! against the entries that exist, and, with `--apply`, that plan as one changeset and one
//! commit.
//!
//! Without an LLM ([`crate::curate`] finds the statements, one per row), each is compared with
//! the live entries BM25 finds for it, precision first (issue 21): a wrong `update`,
//! `supersede` or `noop` damages memory, a duplicate draft is cheap to review. The first three
//! need the statement to be about the entry ([`crate::curate::subject`]: its title and text, an
//! alias, an identifier only it holds, one of its sentences; never word overlap alone):
//! - **supersede** when the statement says a belief changed ([`crate::curate::change_marker`])
//!   and names the entry's subject, or the entry says only one thing: of those, the one whose
//!   title it holds most of;
//! - **update** (the statement appended) when it says a belief changed about one thing an
//!   entry says among several;
//! - **noop** when it changes nothing and restates the entry it is about
//!   ([`crate::curate::subject::restates`]); a change is a noop only of an entry that says the
//!   same change (the same session curated twice);
//! - **add** otherwise, in the folder of the best BM25 match (or a folder by kind:
//!   `decisions/general`, `conventions/general`, `pitfalls/general`, `notes/general`,
//!   `questions/general`), id from the title, with a `see-also` relation to the nearest entry.
//!
//! With tier 5's provider (configured and trusted) one call asks for the plan; each row is
//! validated against the tree (operation, ids, kinds, no secrets) and invalid rows are listed
//! as `skip` with the reason. A failed call falls back to the rules above and says why.
//!
//! New entries are drafts (`maturity: draft`) with `source: {by: agent, session}`. Text that
//! looks like a secret, or that tries to instruct the agent reading it (what `check` warns
//! about), is never planned.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Memory, timestamp};
use crate::changeset::{Base, Changeset};
use crate::curate::subject::{self, EntryText, Evidence, Statement};
use crate::curate::{self, Candidate, transcript::Transcript};
use crate::entry::{self, Document, Meta};
use crate::error::Result;
use crate::git::CommitReport;
use crate::index::SearchIndex;
use crate::retrieve::{self, Query, llm::LlmMode};

/// Most candidates planned from one source (the rest are named in `notes`).
pub const MAX_CANDIDATES: usize = 200;
/// Domains named for a kind of entry.
const KIND_DOMAINS: &[&str] = &[
    "decisions/",
    "conventions/",
    "pitfalls/",
    "questions/",
    "procedures/",
    "notes/",
];
/// Kinds whose entries a `supersede` may replace.
const BELIEF_KINDS: &[&str] = &[
    "fact",
    "decision",
    "convention",
    "procedure",
    "preference",
    "pitfall",
    "reference",
];

/// One planned operation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CurateRow {
    /// `add`, `update`, `supersede`, `noop` or `skip`.
    pub op: String,
    /// The entry written (`add`, `supersede`: the new entry; `update`: the entry changed;
    /// `noop`: the entry that already holds it). Empty for a `skip` without one.
    pub id: String,
    /// `supersede`: the entry replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The entry kind.
    pub kind: String,
    /// Title of a new entry.
    pub title: String,
    /// The statement.
    pub text: String,
    /// Why this operation (a sentence).
    pub reason: String,
    /// Content-word overlap with the entry named, 0..1, when one was compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f64>,
    /// `add`: the existing entry nearest to it, written as a `see-also` relation of the draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub see_also: Option<String>,
    /// Where the row is written: `project`, or `user` for a statement about the person
    /// (`I prefer pnpm`, `always explain a diff to me`; [`crate::curate::about_the_person`]),
    /// planned against and committed to the user layer ([`crate::layers`]).
    #[serde(default = "project_layer")]
    pub layer: String,
}

fn project_layer() -> String {
    crate::layers::PROJECT.to_string()
}

/// The LLM's part in a plan.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CurateLlm {
    /// The provider was called.
    pub ran: bool,
    /// Why it ran or not, or why its plan was not used.
    pub reason: String,
    /// Provider name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Wall time of the call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
}

/// A plan `curate` saved (the `plan`, `source` and `session` of its report), read back by
/// `curate --plan FILE`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct SavedPlan {
    /// Where the plan came from.
    #[serde(default)]
    pub source: String,
    /// The session id for new entries.
    #[serde(default)]
    pub session: Option<String>,
    /// The rows.
    pub plan: Vec<CurateRow>,
}

/// What `curate` planned and did (`memtree.curate/v1`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CurateReport {
    /// Always `memtree.curate/v1`.
    pub schema: String,
    /// The source: a file (relative to the project when inside it), `-` for stdin, or a
    /// saved plan.
    pub source: String,
    /// `claude-code`, `codex`, `markdown` or `plan`.
    pub format: String,
    /// The session id recorded in new entries, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// `rules` or `llm`.
    pub planner: String,
    /// The LLM's part.
    pub llm: CurateLlm,
    /// The plan, in source order.
    pub plan: Vec<CurateRow>,
    /// Things the user should know (candidates cut, time ran out).
    pub notes: Vec<String>,
    /// The plan was written (`--apply`).
    pub applied: bool,
    /// The commit, or why there is none.
    pub commit: CommitReport,
    /// The user layer's commit, when rows were written there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_commit: Option<CommitReport>,
}

/// Where a session comes from, for [`Memory::curate`].
#[derive(Debug, Clone)]
pub struct CurateInput {
    /// The session.
    pub transcript: Transcript,
    /// How to name the source in the report.
    pub source: String,
    /// The session id for new entries (overrides the transcript's).
    pub session: Option<String>,
    /// Ask the LLM (`Auto`: when one is configured and trusted; `Never`: rules only).
    pub llm: LlmMode,
    /// Stop planning new candidates after this long (the hooks' bound); `None`: no bound.
    pub deadline: Option<Duration>,
}

/// An entry compared with a candidate.
struct Near {
    id: String,
    kind: String,
    text: Rc<EntryText>,
    coverage: f64,
}

/// The entries one curate run compared, by file: each file is read and analysed once per run,
/// not once per candidate (a 15 MB entry used to be re-read for every candidate BM25 brought
/// it up for).
type WordCache = HashMap<String, Rc<EntryText>>;

/// The most characters of an entry's text whose words a candidate is compared with.
const COMPARED_CHARS: usize = 64 * 1024;

/// How long a session hook or MCP `memory_curate` plans before it stops (seconds): the plan so
/// far is kept and a note says where it stopped.
pub const SESSION_BOUND_S: u64 = 20;

/// Why `text` must not become memory, and how to show it: a secret (redacted), or text that
/// tries to instruct the agent that reads it later (a session can carry a prompt injection
/// from a web page or a tool's output into the tree).
fn unsafe_text(text: &str) -> Option<(String, String)> {
    if let Some(f) = crate::secrets::secrets(text).first() {
        return Some((
            format!("it holds what looks like {}", f.what),
            f.redacted.clone(),
        ));
    }
    crate::secrets::injections(text)
        .first()
        .map(|f| (format!("it holds {}", f.what), f.redacted.clone()))
}

/// A session id as memtree records it (front matter, commit message, the saved plan's name):
/// no control character (a newline in an id would start a commit trailer such as
/// `Signed-off-by:`), trimmed, at most 128 characters; `None` when nothing is left.
pub fn session_id(raw: &str) -> Option<String> {
    let clean: String = raw
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(128)
        .collect();
    (!clean.is_empty()).then_some(clean)
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The folder a kind's new entries go to when nothing related exists.
/// Where a new entry about the person goes in the user layer when nothing there is near it.
const PERSONAL_FOLDER: &str = "preferences/general";

/// The user layer as `curate` plans against it: its tree and index (when it exists), and the
/// ids taken and entries touched by the plan so far.
struct UserPlanning {
    tree: Option<(Memory, SearchIndex)>,
    taken: HashSet<String>,
    touched: HashSet<String>,
}

impl UserPlanning {
    fn open(project: &Memory) -> UserPlanning {
        let tree = project.layer(crate::layers::USER).ok().and_then(|m| {
            let (index, _) = SearchIndex::open_synced(&m.tree, None, m.freshness()).ok()?;
            Some((m, index))
        });
        UserPlanning {
            tree,
            taken: HashSet::new(),
            touched: HashSet::new(),
        }
    }
}

fn default_folder(kind: &str) -> &'static str {
    match kind {
        "decision" => "decisions/general",
        "convention" | "preference" | "procedure" => "conventions/general",
        "pitfall" => "pitfalls/general",
        "question" => "questions/general",
        _ => "notes/general",
    }
}

fn parent(id: &str) -> Option<&str> {
    id.rsplit_once('/')
        .map(|(p, _)| p)
        .filter(|p| p.contains('/'))
}

impl Memory {
    /// The live entries BM25 (and the alias tier) find for `text`, best first, with their
    /// words (read from their files once per run: `cache`).
    fn nearest(&self, index: &SearchIndex, text: &str, cache: &mut WordCache) -> Vec<Near> {
        let query = Query {
            text: text.chars().take(500).collect(),
            k: Some(5),
            llm: LlmMode::Never,
            ..Query::default()
        };
        // The planner compares words: the dense tier's hits share none, and encoding every
        // statement would cost the hook's time.
        let config = self.config_without_dense();
        let ctx = retrieve::Ctx {
            config: &config,
            ..self.ctx(index, &query)
        };
        let ranked = retrieve::run(&ctx);
        ranked
            .hits
            .iter()
            .filter(|(c, _)| c.meta.is_live())
            .take(5)
            .filter_map(|(c, _)| {
                let text = match cache.get(&c.meta.rel) {
                    Some(found) => found.clone(),
                    None => {
                        let path = self.tree.safe(&c.meta.rel).ok()?;
                        let (record, _) = self.read_record(&path).ok()?;
                        let found = Rc::new(EntryText::new(
                            &c.meta.title,
                            &c.meta.aliases,
                            &record.doc.body,
                            COMPARED_CHARS,
                        ));
                        cache.insert(c.meta.rel.clone(), found.clone());
                        found
                    }
                };
                Some(Near {
                    id: c.meta.id.clone(),
                    kind: c.meta.kind.clone().unwrap_or_else(|| "fact".into()),
                    text,
                    coverage: c.coverage.unwrap_or(0.0),
                })
            })
            .collect()
    }

    /// The rules' operation for one candidate.
    fn plan_candidate(
        &self,
        index: &SearchIndex,
        c: &Candidate,
        taken: &mut HashSet<String>,
        touched: &mut HashSet<String>,
        cache: &mut WordCache,
    ) -> CurateRow {
        let statement = Statement::new(&c.text);
        let near = self.nearest(index, &format!("{} {}", c.title, c.text), cache);
        let row = |op: &str, id: String, reason: String, sim: Option<f64>| CurateRow {
            op: op.into(),
            id,
            target: None,
            kind: c.kind.into(),
            title: c.title.clone(),
            text: c.text.clone(),
            reason,
            similarity: sim.map(round),
            see_also: None,
            layer: project_layer(),
        };
        let held = |n: &Near| {
            if statement.terms.is_empty() {
                0.0
            } else {
                statement.terms.intersection(&n.text.terms).count() as f64
                    / statement.terms.len() as f64
            }
        };
        // What the statement is about: entries it names (title, alias) or one thing of which
        // it names (an identifier only that entry holds, a sentence of it). Never the share of
        // words alone (issue 21).
        let about: Vec<(&Near, Evidence)> = near
            .iter()
            .filter_map(|n| {
                let others: Vec<&EntryText> = near
                    .iter()
                    .filter(|o| o.id != n.id)
                    .map(|o| &*o.text)
                    .collect();
                subject::evidence(&statement, &n.text, &others).map(|e| (n, e))
            })
            .collect();
        let best = |pick: &dyn Fn(&(&Near, Evidence)) -> bool| {
            about
                .iter()
                .filter(|a| pick(a))
                .max_by(|a, b| a.1.cmp(&b.1).then(held(a.0).total_cmp(&held(b.0))))
                .copied()
        };
        let known = |n: &Near| {
            let sim = held(n);
            row(
                "noop",
                n.id.clone(),
                format!(
                    "already known: {} is about it and holds {:.0}% of it",
                    n.id,
                    sim * 100.0
                ),
                Some(sim),
            )
        };
        // A change of belief is never "already known" by an entry that holds the old belief:
        // only one that says the same change (curating the same session twice).
        let marker = curate::change_marker(&c.text);
        if let Some(marker) = marker.as_deref().filter(|_| c.replaces)
            && let Some((n, _)) = best(&|(n, _)| {
                n.text.lower.contains(marker) && subject::restates(&statement, &n.text)
            })
        {
            return known(n);
        }
        if c.replaces {
            let target =
                best(&|(n, _)| BELIEF_KINDS.contains(&n.kind.as_str()) && !touched.contains(&n.id));
            if let Some((n, evidence)) = target {
                touched.insert(n.id.clone());
                let by_title = matches!(evidence, Evidence::Title(_));
                if by_title || n.text.single_subject {
                    let id = self.new_id(parent(&n.id).unwrap_or(default_folder(c.kind)), c, taken);
                    let mut r = row(
                        "supersede",
                        id,
                        format!(
                            "it says a belief changed, and {} is about the same subject ({})",
                            n.id,
                            if by_title {
                                "its title"
                            } else {
                                "what it says"
                            }
                        ),
                        Some(held(n)),
                    );
                    r.target = Some(n.id.clone());
                    // The new belief is of the old one's kind (a fact replaces a fact).
                    r.kind = n.kind.clone();
                    return r;
                }
                // One detail of an entry that says several things: added to it, where a
                // reviewer sees the old and the new side by side.
                return row(
                    "update",
                    n.id.clone(),
                    format!("it says a belief changed, about one thing {} says", n.id),
                    Some(held(n)),
                );
            }
        } else if let Some((n, _)) = best(&|(n, _)| subject::restates(&statement, &n.text)) {
            return known(n);
        }
        // Otherwise a draft, linked to the entry nearest to it (shown in the plan): a
        // duplicate draft is cheap to review, a wrong update is not.
        let see_also = best(&|_| true).map(|(n, _)| n.id.clone()).or_else(|| {
            near.iter()
                .find(|n| n.coverage >= 0.3)
                .map(|n| n.id.clone())
        });
        // Placement: the folder of the best BM25 match that covers enough of it, unless that
        // folder is named for another kind (a decision does not go under `pitfalls/`).
        let folder = near
            .iter()
            .filter(|n| n.coverage >= 0.3)
            .find(|n| n.kind == c.kind || !KIND_DOMAINS.iter().any(|d| n.id.starts_with(d)))
            .and_then(|n| parent(&n.id))
            .unwrap_or(default_folder(c.kind))
            .to_string();
        let id = self.new_id(&folder, c, taken);
        let sim = near.first().map(held);
        let mut r = row("add", id, format!("new; placed in {folder}"), sim);
        if let Some(to) = see_also {
            r.reason = format!("new; placed in {folder}; see also {to}");
            r.see_also = Some(to);
        }
        r
    }

    /// A free id in `folder` from the candidate's title (`-2`, `-3`, ... when taken).
    fn new_id(&self, folder: &str, c: &Candidate, taken: &mut HashSet<String>) -> String {
        let mut slug = crate::tree::slug(&c.title);
        if slug.len() > 48 {
            // At a word boundary.
            let cut = slug[..=48].rfind('-').unwrap_or(48);
            slug.truncate(cut);
        }
        let base = format!("{folder}/{slug}");
        let mut id = base.clone();
        let mut n = 2;
        while taken.contains(&id) || self.exists(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        taken.insert(id.clone());
        id
    }

    /// Plans a session against the tree and, when `apply`, writes the plan as one changeset
    /// and one commit (new entries as drafts with `source: {by: agent, session}`).
    ///
    /// # Errors
    /// Index and write errors. The LLM never makes it fail (its failures are reported in
    /// `llm.reason`, and the rules plan instead).
    pub fn curate(&self, input: &CurateInput, apply: bool) -> Result<CurateReport> {
        let start = Instant::now();
        let mut notes = Vec::new();
        let mut cands = curate::candidates(&input.transcript);
        if cands.len() > MAX_CANDIDATES {
            notes.push(format!(
                "{} candidates found; the first {MAX_CANDIDATES} were planned",
                cands.len()
            ));
            cands.truncate(MAX_CANDIDATES);
        }
        let session = input
            .session
            .clone()
            .or_else(|| input.transcript.session.clone())
            .as_deref()
            .and_then(session_id);
        let lock = self.lock()?;
        let index = self.refresh(&lock)?;
        let mut plan = Vec::new();
        let mut taken = HashSet::new();
        let mut touched = HashSet::new();
        let mut cache = WordCache::new();
        let mut user = UserPlanning::open(self);
        let bar = crate::progress::begin("curating", cands.len() as u64);
        for (i, c) in cands.iter().enumerate() {
            bar.advance(1);
            if let Some(limit) = input.deadline
                && start.elapsed() > limit
            {
                notes.push(format!(
                    "time ran out after {i} of {} candidates ({} ms bound)",
                    cands.len(),
                    limit.as_millis()
                ));
                break;
            }
            if let Some(why) = unsafe_text(&c.text) {
                plan.push(CurateRow {
                    op: "skip".into(),
                    id: String::new(),
                    target: None,
                    kind: c.kind.into(),
                    title: why.1.clone(),
                    text: why.1,
                    reason: why.0,
                    similarity: None,
                    see_also: None,
                    layer: project_layer(),
                });
                continue;
            }
            if curate::about_the_person(&c.text) {
                plan.push(self.plan_personal(&mut user, c, &mut cache));
                continue;
            }
            plan.push(self.plan_candidate(&index, c, &mut taken, &mut touched, &mut cache));
        }
        drop(bar);
        let mut llm = self.curate_llm(input, &index, &cands, &plan);
        let planner = if let Some(rows) = llm.1.take() {
            plan = rows;
            // A new entry about the person goes to the user layer, whoever planned it.
            for row in &mut plan {
                if row.op == "add" && curate::about_the_person(&row.text) {
                    row.layer = crate::layers::USER.into();
                }
            }
            "llm"
        } else {
            "rules"
        };
        drop(index);
        let mut report = CurateReport {
            schema: "memtree.curate/v1".into(),
            source: input.source.clone(),
            format: input.transcript.format.into(),
            session,
            planner: planner.into(),
            llm: llm.0,
            plan,
            notes,
            applied: false,
            commit: CommitReport::skipped(crate::git::DRY_RUN),
            user_commit: None,
        };
        if apply {
            self.apply_layers(&lock, &mut report)?;
        }
        Ok(report)
    }

    /// Plans a statement about the person against the user layer (when it exists; else as a
    /// new entry under `preferences/general`, the layer being created when the plan is
    /// applied).
    fn plan_personal(
        &self,
        user: &mut UserPlanning,
        c: &Candidate,
        cache: &mut WordCache,
    ) -> CurateRow {
        let mut row = match &user.tree {
            Some((memory, index)) => {
                let mut row =
                    memory.plan_candidate(index, c, &mut user.taken, &mut user.touched, cache);
                if row.op == "add" && row.id.starts_with(&format!("{}/", default_folder(c.kind))) {
                    row.id = memory.new_id(PERSONAL_FOLDER, c, &mut user.taken);
                    row.reason = row
                        .reason
                        .replacen(default_folder(c.kind), PERSONAL_FOLDER, 1);
                }
                row
            }
            None => {
                let mut slug = crate::tree::slug(&c.title);
                slug.truncate(48);
                let mut id = format!("{PERSONAL_FOLDER}/{}", slug.trim_end_matches('-'));
                let mut n = 2;
                while !user.taken.insert(id.clone()) {
                    id = format!("{PERSONAL_FOLDER}/{slug}-{n}");
                    n += 1;
                }
                CurateRow {
                    op: "add".into(),
                    id,
                    target: None,
                    kind: c.kind.into(),
                    title: c.title.clone(),
                    text: c.text.clone(),
                    reason: "new; about you: the user layer is created when the plan is applied"
                        .into(),
                    similarity: None,
                    see_also: None,
                    layer: project_layer(),
                }
            }
        };
        row.layer = crate::layers::USER.into();
        if row.op == "add" && !row.reason.contains("about you") {
            row.reason = format!("{}; about you: your user layer", row.reason);
        }
        row
    }

    /// Applies a plan's rows, each in its layer: the project's as one commit here, the user
    /// layer's as one commit there (created on first use). A row for any other layer is
    /// skipped.
    fn apply_layers(&self, lock: &crate::tree::WriteLock, report: &mut CurateReport) -> Result<()> {
        use crate::layers::{PROJECT, USER};
        for row in &mut report.plan {
            if row.layer != PROJECT && row.layer != USER && row.op != "skip" {
                row.reason = format!(
                    "curate writes to the project or the user layer, not `{}`",
                    row.layer
                );
                row.op = "skip".into();
            }
        }
        type Rows = Vec<(usize, CurateRow)>;
        let (user_rows, project_rows): (Rows, Rows) = report
            .plan
            .iter()
            .cloned()
            .enumerate()
            .partition(|(_, r)| r.layer == USER && r.op != "skip" && r.op != "noop");
        if user_rows.is_empty() {
            return self.apply_curate(lock, report);
        }
        let part = |rows: &[(usize, CurateRow)]| CurateReport {
            plan: rows.iter().map(|(_, r)| r.clone()).collect(),
            ..report.clone()
        };
        let mut project = part(&project_rows);
        self.apply_curate(lock, &mut project)?;
        let user_memory = self.layer_for_write(USER)?;
        let user_lock = user_memory.lock()?;
        let mut user = part(&user_rows);
        user_memory.apply_curate(&user_lock, &mut user)?;
        for (rows, done) in [(&project_rows, &project), (&user_rows, &user)] {
            for ((i, _), row) in rows.iter().zip(&done.plan) {
                report.plan[*i] = row.clone();
            }
        }
        report.applied = true;
        report.commit = project.commit;
        report.user_commit = Some(user.commit);
        Ok(())
    }

    /// Saves a plan for review as `.memory/.cache/curate/<session>.json` (what a session hook
    /// does when it does not apply) and returns the file as shown; plans older than
    /// [`super::prime_session::KEEP_DAYS`] days are removed.
    ///
    /// # Errors
    /// The cache cannot be written.
    pub fn save_curate_plan(&self, report: &CurateReport, name: &str) -> Result<String> {
        super::prime_session::prune_cache(&self.tree, "curate");
        let rel = format!(
            "{}/curate/{}.json",
            crate::tree::CACHE_DIR,
            crate::tree::slug(name)
        );
        let p = self.tree.safe(&rel)?;
        self.tree.create_parents(&p)?;
        let json = serde_json::to_string_pretty(report).unwrap_or_default();
        self.tree.write_atomic(&p, format!("{json}\n").as_bytes())?;
        Ok(self.tree.display_path(&rel))
    }

    /// Validates and applies a plan saved by `curate` (`--plan FILE --apply`), or only
    /// validates it when `!apply`: rows that no longer fit the tree become `skip`.
    ///
    /// # Errors
    /// As [`Memory::curate`].
    pub fn curate_plan(&self, saved: SavedPlan, source: &str, apply: bool) -> Result<CurateReport> {
        let lock = self.lock()?;
        let mut report = CurateReport {
            schema: "memtree.curate/v1".into(),
            source: source.to_string(),
            format: "plan".into(),
            session: saved.session.as_deref().and_then(session_id),
            planner: "plan".into(),
            llm: CurateLlm {
                reason: "a saved plan".into(),
                ..CurateLlm::default()
            },
            plan: saved.plan,
            notes: Vec::new(),
            applied: false,
            commit: CommitReport::skipped(crate::git::DRY_RUN),
            user_commit: None,
        };
        if apply {
            self.apply_layers(&lock, &mut report)?;
        } else {
            let mut seen = HashSet::new();
            for row in &mut report.plan {
                self.validate_row(row, &mut seen);
            }
        }
        Ok(report)
    }

    /// Checks one row against the tree; an invalid one becomes `skip` with the reason.
    fn validate_row(&self, row: &mut CurateRow, seen: &mut HashSet<String>) {
        let fail = |row: &mut CurateRow, why: String| {
            row.op = "skip".into();
            row.reason = why;
        };
        if !matches!(
            row.op.as_str(),
            "add" | "update" | "supersede" | "noop" | "skip"
        ) {
            let why = format!("unknown operation `{}`", row.op);
            return fail(row, why);
        }
        if row.op == "skip" || row.op == "noop" {
            return;
        }
        if !entry::KINDS.contains(&row.kind.as_str()) {
            let why = format!("unknown kind `{}`", row.kind);
            return fail(row, why);
        }
        if row.text.trim().is_empty() {
            return fail(row, "the text is empty".into());
        }
        if let Some((why, shown)) = unsafe_text(&format!("{}\n{}", row.title, row.text)) {
            row.text = shown.clone();
            row.title = shown;
            return fail(row, why);
        }
        if crate::private::holds_tag(&format!("{}\n{}", row.title, row.text)) {
            return fail(row, "it holds <private> text".into());
        }
        let new = matches!(row.op.as_str(), "add" | "supersede");
        let id = crate::tree::normalize_id(&row.id);
        if let Err(e) = crate::tree::validate_id(&id) {
            return fail(row, e.to_string());
        }
        if !seen.insert(id.clone()) {
            return fail(row, format!("{id} is planned twice"));
        }
        row.id = id.clone();
        if new && self.exists(&id) {
            return fail(row, format!("{id} exists already"));
        }
        if new && id.matches('/').count() < 2 {
            return fail(row, format!("{id} is not domain/topic/entry"));
        }
        if row.op == "update" && !self.exists(&id) {
            return fail(row, format!("{id} does not exist"));
        }
        if row.op == "supersede" {
            let target = row.target.clone().unwrap_or_default();
            let superseded_by = |p: &crate::tree::SafePath| {
                let (r, _) = self.read_record(p).ok()?;
                (r.meta.status.as_deref() == Some("superseded"))
                    .then(|| r.meta.superseded_by.unwrap_or_default())
            };
            match self.resolve(&target) {
                Ok((t, p)) if let Some(by) = superseded_by(&p) => {
                    return fail(row, format!("{t} is already superseded by {by}"));
                }
                Ok((t, _)) if seen.insert(t.clone()) => row.target = Some(t),
                Ok((t, _)) => return fail(row, format!("{t} is planned twice")),
                Err(_) => return fail(row, format!("`{target}` does not exist")),
            }
        }
        if new && row.title.trim().is_empty() {
            row.title = curate::title_of(&row.text);
        }
    }

    /// Writes the plan's rows as one changeset and one commit; invalid rows become `skip`.
    fn apply_curate(&self, lock: &crate::tree::WriteLock, report: &mut CurateReport) -> Result<()> {
        let mut changeset = Changeset::new(String::new());
        let mut seen = HashSet::new();
        let mut counts = [0usize; 3];
        for i in 0..report.plan.len() {
            let mut row = report.plan[i].clone();
            self.validate_row(&mut row, &mut seen);
            match row.op.as_str() {
                "add" => {
                    let path = self.new_path(&row.id)?;
                    changeset.write(
                        path,
                        self.render_draft(&row, &report.session, None),
                        Base::Absent,
                    );
                    counts[0] += 1;
                }
                "update" => {
                    let (_, path) = self.resolve(&row.id)?;
                    let text = row.text.clone();
                    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
                    match self.plan_edit(&path, true, |_, body| {
                        // Said already (a plan applied twice): nothing to add.
                        if !flat(body).contains(&flat(&text)) {
                            *body = super::BodyChange::Append(text).apply(body);
                        }
                        Ok(Vec::new())
                    })? {
                        Some(edit) => {
                            changeset.write(path, edit.text, Base::Content(edit.base));
                            counts[1] += 1;
                        }
                        None => {
                            row.op = "noop".into();
                            row.reason = format!("{} already reads so", row.id);
                        }
                    }
                }
                "supersede" => {
                    let target = row.target.clone().unwrap_or_default();
                    let (_, old_path) = self.resolve(&target)?;
                    let path = self.new_path(&row.id)?;
                    changeset.write(
                        path,
                        self.render_draft(&row, &report.session, Some(&target)),
                        Base::Absent,
                    );
                    let new_id = row.id.clone();
                    if let Some(edit) = self.plan_edit(&old_path, true, |meta, _| {
                        meta.status = Some("superseded".into());
                        meta.superseded_by = Some(new_id);
                        Ok(vec!["status".into(), "superseded_by".into()])
                    })? {
                        changeset.write(old_path, edit.text, Base::Content(edit.base));
                    }
                    counts[2] += 1;
                }
                _ => {}
            }
            report.plan[i] = row;
        }
        report.applied = true;
        report.commit = if changeset.is_empty() {
            CommitReport::skipped(crate::git::NOTHING_CHANGED)
        } else {
            changeset.operation = format!(
                "curate {}: {} added, {} updated, {} superseded",
                report.session.as_deref().unwrap_or(&report.source),
                counts[0],
                counts[1],
                counts[2]
            );
            self.commit(lock, changeset)?
        };
        Ok(())
    }

    /// The file of a new agent-written entry: a draft that says where it came from.
    fn render_draft(
        &self,
        row: &CurateRow,
        session: &Option<String>,
        supersedes: Option<&str>,
    ) -> String {
        let mut source = serde_yaml::Mapping::new();
        source.insert("by".into(), "agent".into());
        if let Some(s) = session {
            source.insert("session".into(), s.clone().into());
        }
        // The entry the plan showed as nearest, as a `see-also` relation (when it still exists).
        let relations = row
            .see_also
            .iter()
            .filter(|to| self.exists(to))
            .map(|to| entry::Relation {
                kind: "see-also".into(),
                to: to.clone(),
            })
            .collect();
        let meta = Meta {
            title: Some(row.title.clone()),
            kind: Some(row.kind.clone()),
            maturity: Some("draft".into()),
            supersedes: supersedes.map(|s| vec![s.to_string()]).unwrap_or_default(),
            relations,
            created: Some(timestamp(self.now)),
            updated: Some(timestamp(self.now)),
            extra: vec![("source".into(), serde_yaml::Value::Mapping(source))],
            ..Meta::default()
        };
        let body = format!("\n{}\n", row.text.trim());
        Document::new(Some(entry::render_meta(&meta)), body, "\n").join()
    }

    /// Tier 5's plan, when an LLM is configured, trusted and asked for: the report of the call
    /// and, when its reply was usable, the validated rows.
    fn curate_llm(
        &self,
        input: &CurateInput,
        index: &SearchIndex,
        cands: &[Candidate],
        rules: &[CurateRow],
    ) -> (CurateLlm, Option<Vec<CurateRow>>) {
        let skip = |why: &str| {
            (
                CurateLlm {
                    reason: why.into(),
                    ..CurateLlm::default()
                },
                None,
            )
        };
        if input.llm == LlmMode::Never {
            return skip("--llm never");
        }
        let Some(cfg) = &self.config.llm else {
            return if self.trust.ignored.iter().any(|s| s == "llm") {
                skip(crate::trust::UNTRUSTED_REASON)
            } else {
                skip("no llm configured")
            };
        };
        let provider = match crate::llm::from_config(cfg) {
            Ok(p) => p,
            Err(e) => return skip(&format!("the llm is misconfigured: {e}")),
        };
        let prompt = curate_prompt(&input.transcript, index, cands, rules);
        let timeout = Duration::from_secs(
            cfg.timeout_s
                .unwrap_or(retrieve::llm::DEFAULT_TIMEOUT_S)
                .min(input.deadline.map_or(u64::MAX, |d| d.as_secs().max(1))),
        );
        let start = Instant::now();
        let outcome = provider.complete(&prompt, timeout);
        let mut report = CurateLlm {
            ran: true,
            reason: "asked for a plan".into(),
            provider: Some(provider.name().into()),
            latency_ms: Some(round(start.elapsed().as_secs_f64() * 1000.0)),
        };
        let rows = match outcome.and_then(|c| parse_plan(&c.text)) {
            Ok(rows) => rows,
            Err(e) => {
                report.reason =
                    format!("the rules planned, because the llm's plan was not usable: {e}");
                return (report, None);
            }
        };
        let mut seen = HashSet::new();
        let rows = rows
            .into_iter()
            .map(|mut r| {
                self.validate_row(&mut r, &mut seen);
                if r.op == "noop" && !self.exists(&r.id) {
                    r.op = "skip".into();
                    r.reason = format!("{} does not exist", r.id);
                }
                r
            })
            .collect();
        (report, Some(rows))
    }
}

/// The plan an LLM returns: `{"plan": [{"op", "id", "target", "kind", "title", "text",
/// "reason"}]}` (in prose or a code fence is fine).
///
/// # Errors
/// A sentence saying what is wrong with the reply.
pub fn parse_plan(text: &str) -> std::result::Result<Vec<CurateRow>, String> {
    let obj = retrieve::llm::json_object(text).ok_or("the reply holds no JSON object")?;
    let v: serde_json::Value =
        serde_json::from_str(obj).map_err(|e| format!("the reply's JSON does not parse ({e})"))?;
    let rows = v["plan"]
        .as_array()
        .ok_or("the reply's JSON has no `plan` list")?;
    let s = |r: &serde_json::Value, k: &str| {
        r.get(k)
            .and_then(serde_json::Value::as_str)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    Ok(rows
        .iter()
        .map(|r| CurateRow {
            op: s(r, "op").to_lowercase(),
            id: s(r, "id"),
            target: Some(s(r, "target")).filter(|t| !t.is_empty()),
            kind: Some(s(r, "kind"))
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "fact".into()),
            title: s(r, "title"),
            text: s(r, "text"),
            reason: Some(s(r, "reason"))
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "planned by the llm".into()),
            similarity: None,
            see_also: None,
            layer: project_layer(),
        })
        .collect())
}

/// The prompt: the session (private text already removed, secrets, instructions and hidden
/// comments scrubbed by [`crate::secrets::scrub`], the last 12,000 characters), the rules'
/// candidates (scrubbed too) with what the rules planned, and the folders.
fn curate_prompt(
    t: &Transcript,
    index: &SearchIndex,
    cands: &[Candidate],
    rules: &[CurateRow],
) -> String {
    // Only text that passed the redaction the plan gets: the transcript holds no private text
    // (removed when it was parsed), and every secret, instruction and hidden comment is
    // scrubbed here, as no file would hold them.
    let scrub = crate::secrets::scrub;
    let mut session = String::new();
    for turn in &t.turns {
        session.push_str(&format!("[{}] {}\n\n", turn.role, scrub(&turn.text)));
    }
    let chars: Vec<char> = session.chars().collect();
    let session: String = chars[chars.len().saturating_sub(12_000)..].iter().collect();
    let mut known = String::new();
    for (c, r) in cands.iter().zip(rules) {
        known.push_str(&format!(
            "- candidate ({}): {}\n  rules say: {} {} ({})\n",
            c.kind,
            scrub(&c.text),
            r.op,
            r.id,
            scrub(&r.reason)
        ));
    }
    let mut folders = String::new();
    for (f, n) in index.folder_counts(&index.searcher(), 2).iter().take(100) {
        folders.push_str(&format!("- {f} ({n})\n"));
    }
    format!(
        "You curate a software project's memory: markdown entries with ids like \
         domain/topic/entry. From the session below, plan what to remember: decisions, \
         conventions, pitfalls, facts about the project that will matter in later sessions. \
         Not chit-chat, not what is only true for this session.\n\
         Operations: add (a new entry: id, kind, title, text), update (append text to the \
         existing entry id), supersede (a new entry id replacing the existing entry target, \
         when the session says the old belief no longer holds), noop (id: the existing entry \
         that already says it). Kinds: {kinds}.\n\
         Answer with one JSON object only: {{\"plan\": [{{\"op\": \"add\", \"id\": \"...\", \
         \"target\": \"...\", \"kind\": \"...\", \"title\": \"...\", \"text\": \"...\", \
         \"reason\": \"...\"}}]}}\n\n\
         Folders:\n{folders}\nCandidates found by rules, with what they planned:\n{known}\n\
         Session:\n{session}",
        kinds = entry::KINDS.join(", "),
    )
}
