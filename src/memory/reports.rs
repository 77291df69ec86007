//! The serialisable reports the [`super::Memory`] operations return (one JSON document each,
//! tagged with a `schema` such as `memtree.add/v1`; README documents them).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::entry;
use crate::git::CommitReport;
use crate::index::SyncReport;

/// What `init` did.
#[derive(Debug, Serialize)]
pub struct InitReport {
    /// Always `memtree.init/v1`.
    pub schema: &'static str,
    /// The `.memory` folder.
    pub root: PathBuf,
    /// Files written.
    pub created: Vec<String>,
    /// `false` when the tree already existed (nothing is overwritten).
    pub new: bool,
    /// The commit of the files written, or why there is none.
    pub commit: CommitReport,
}

/// An entry as `get` shows it.
#[derive(Debug, Serialize)]
pub struct EntryView {
    /// Always `memtree.get/v1`.
    pub schema: &'static str,
    /// Id.
    pub id: String,
    /// File, relative to the project.
    pub file: String,
    /// Title.
    pub title: String,
    /// The front matter as JSON.
    pub front_matter: serde_json::Value,
    /// The body, byte for byte.
    pub body: String,
    /// Problems with single keys.
    pub problems: Vec<entry::Problem>,
    /// The content hash of the file as read (16 hex digits): pass it as `edit --base` (or
    /// MCP `memory_write`'s `base`) to make the write fail with `conflict` if the file changed
    /// since.
    pub hash: String,
    /// The revision shown, for `get --at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<AtRevision>,
    /// Set by [`EntryView::visible`] when hidden text was left out of `title` and `body`: one
    /// sentence saying so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld: Option<String>,
    /// The whole file text (not in JSON).
    #[serde(skip)]
    pub text: String,
}

impl EntryView {
    /// The view an agent gets (MCP `memory_get`): title and body as a reviewer sees them
    /// ([`crate::secrets::visible`]: hidden HTML comments outside code and invisible characters
    /// left out), `withheld` saying so when anything was. `hash` stays the file's, so a
    /// `base`d write still detects a change made since.
    pub fn visible(mut self) -> EntryView {
        let (title, t) = crate::secrets::visible(&self.title);
        let (body, b) = crate::secrets::visible(&self.body);
        if t || b {
            self.title = title;
            self.body = body;
            self.withheld = Some(
                "hidden HTML comments and invisible characters were left out of this entry \
                 (`memtree check` names them)"
                    .into(),
            );
        }
        self
    }
}

/// One line of `ls`.
#[derive(Debug, Serialize)]
pub struct LsItem {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Kind.
    pub kind: Option<String>,
    /// Status.
    pub status: String,
    /// Maturity.
    pub maturity: Option<String>,
}

/// What a write did (`add`, `set`, `link`, `unlink`, `rm`).
#[derive(Debug, Serialize)]
pub struct WriteReport {
    /// `memtree.<command>/v1`.
    pub schema: &'static str,
    /// The entry written (or removed).
    pub id: String,
    /// Its file, relative to the project.
    pub file: String,
    /// Keys changed, or other details.
    pub changed: Vec<String>,
    /// Warnings for the user (near-duplicates, links left dangling).
    pub warnings: Vec<String>,
    /// The git commit of this write, or why there is none.
    pub commit: CommitReport,
}

/// What `recover` did (`memtree.recover/v1`).
#[derive(Debug, Serialize)]
pub struct RecoverReport {
    /// Always `memtree.recover/v1`.
    pub schema: &'static str,
    /// The interrupted operation, `None` when nothing was interrupted.
    pub operation: Option<String>,
    /// Every file of the completed change, relative to the project (empty when discarded).
    pub files: Vec<String>,
    /// The change was abandoned (`--discard`): the files were left as they are.
    pub discarded: bool,
    /// Where memtree's versions of an abandoned change were kept, relative to the project.
    pub kept: Vec<String>,
    /// The commit of the completed change, or why there is none.
    pub commit: CommitReport,
}

/// What `mv` did.
#[derive(Debug, Serialize)]
pub struct MoveReport {
    /// Always `memtree.mv/v1`.
    pub schema: &'static str,
    /// Old id.
    pub from: String,
    /// New id.
    pub to: String,
    /// New file.
    pub file: String,
    /// Other entries whose links were rewritten.
    pub rewritten: Vec<String>,
    /// The git commit of this move, or why there is none.
    pub commit: CommitReport,
}

/// What `supersede` did.
#[derive(Debug, Serialize)]
pub struct SupersedeReport {
    /// Always `memtree.supersede/v1`.
    pub schema: &'static str,
    /// The entry superseded.
    pub old: String,
    /// The entry that supersedes it.
    pub new: String,
    /// Whether NEW was created by this command.
    pub created: bool,
    /// `ID: key` for every key changed, `ID: created` for a new entry.
    pub changed: Vec<String>,
    /// Warnings (chains, a replaced pointer, nothing to do).
    pub warnings: Vec<String>,
    /// The git commit, or why there is none.
    pub commit: CommitReport,
}

/// What `history` found: every version of an entry in git, newest first.
#[derive(Debug, Serialize)]
pub struct HistoryReport {
    /// Always `memtree.history/v1`.
    pub schema: &'static str,
    /// The entry.
    pub id: String,
    /// Its file now (or when it was deleted), relative to the project.
    pub file: String,
    /// The versions, newest first, each with its diff from the one before.
    pub versions: Vec<crate::git::Version>,
}

/// What `diff` found.
#[derive(Debug, Serialize)]
pub struct DiffReport {
    /// Always `memtree.diff/v1`.
    pub schema: &'static str,
    /// The entry.
    pub id: String,
    /// The revision compared with the file on disk, as given.
    pub rev: String,
    /// The commit it resolved to.
    pub commit: String,
    /// Whether the file differs from that revision.
    pub changed: bool,
    /// Unified diff from the revision to the file on disk.
    pub diff: String,
}

/// Where `get --at` found a version.
#[derive(Debug, Serialize)]
pub struct AtRevision {
    /// The revision as given.
    pub rev: String,
    /// The commit it resolved to.
    pub commit: String,
}

/// One finding of `check`.
#[derive(Debug, Serialize, Clone)]
pub struct Diagnostic {
    /// File, relative to the project.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// `error` or `warning`.
    pub severity: &'static str,
    /// What is wrong.
    pub message: String,
}

/// What `check` found.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    /// Always `memtree.check/v1`.
    pub schema: &'static str,
    /// Entry files checked.
    pub files: usize,
    /// Number of errors.
    pub errors: usize,
    /// Number of warnings.
    pub warnings: usize,
    /// Every finding, by file.
    pub diagnostics: Vec<Diagnostic>,
}

/// Tree statistics.
#[derive(Debug, Serialize)]
pub struct Stats {
    /// Always `memtree.stats/v1`.
    pub schema: &'static str,
    /// Entry files on disk.
    pub files: usize,
    /// Entries in the index.
    pub entries: u64,
    /// Number of files that cannot be indexed (YAML that does not parse, not UTF-8).
    pub unreadable: usize,
    /// Those files, each with its error (file, line, message).
    pub invalid: Vec<String>,
    /// Count per kind (`-` for none).
    pub by_kind: BTreeMap<String, usize>,
    /// Count per status.
    pub by_status: BTreeMap<String, usize>,
    /// Count per maturity (`-` for none).
    pub by_maturity: BTreeMap<String, usize>,
    /// Count per domain (first id segment).
    pub by_domain: BTreeMap<String, usize>,
    /// Size of `.cache/` in bytes.
    pub cache_bytes: u64,
}

/// What `index` did.
#[derive(Debug, Serialize)]
pub struct IndexReport {
    /// Always `memtree.index/v1`.
    pub schema: &'static str,
    /// The refresh.
    #[serde(flatten)]
    pub sync: SyncReport,
    /// The dense tier's entry vectors ([`crate::retrieve::dense::fill`]).
    pub dense: crate::retrieve::dense::DenseFill,
    /// Temporary files a killed memtree had left next to entries (`.memtree-*.tmp`, written
    /// by versions that staged writes there), removed by this run; relative to the project.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed_leftovers: Vec<String>,
    /// Milliseconds taken.
    pub elapsed_ms: f64,
}
