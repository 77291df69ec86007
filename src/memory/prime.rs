//! `prime`: the session-start bundle an agent reads before it does anything (issue 9).
//!
//! Sections, filled in this order until the token budget is spent, and everything it left out
//! is named:
//! 1. *pinned*: `maturity: core` entries (in `--in PREFIX`), most important first;
//! 2. *open questions*: live `kind: question` entries, most important first;
//! 3. *what changed*: entry files that differ between `--since REV` (default `HEAD~1`: the last
//!    commit) and the work tree, from git; outside a repository the section says why;
//! 4. *outline*: the domains and topics with their entry counts.

use serde::Serialize;

use super::Memory;
use crate::error::Result;
use crate::index::SearchIndex;
use crate::record::StoredMeta;
use crate::retrieve::context::{BundleItem, estimate_tokens, hidden_note, item};
use crate::retrieve::{Query, rank};

/// A folder and its number of entries.
#[derive(Debug, Clone, Serialize)]
pub struct OutlineRow {
    /// Folder id (`domain` or `domain/topic`).
    pub folder: String,
    /// Entries below it.
    pub entries: u64,
}

/// What changed since a revision.
#[derive(Debug, Clone, Serialize)]
pub struct Changes {
    /// The revision, as given.
    pub since: String,
    /// The commit it resolved to, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The changed entries (ids), when git could tell.
    pub entries: Vec<ChangedEntry>,
    /// Why there is nothing to show, when git could not tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One changed entry.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedEntry {
    /// Entry id.
    pub id: String,
    /// `added`, `modified`, `deleted` or `renamed`.
    pub status: &'static str,
    /// The id before a rename.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
}

/// The session-start bundle (`memtree.prime/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct PrimeReport {
    /// Always `memtree.prime/v1`.
    pub schema: &'static str,
    /// The budget, in tokens.
    pub budget_tokens: usize,
    /// Tokens used.
    pub used_tokens: usize,
    /// Core entries.
    pub pinned: Vec<BundleItem>,
    /// Open questions.
    pub open_questions: Vec<BundleItem>,
    /// What changed since `--since`.
    pub changes: Changes,
    /// Domains and topics with entry counts.
    pub outline: Vec<OutlineRow>,
    /// What the budget left out (ids, or a section name).
    pub omitted: Vec<String>,
    /// The whole bundle as markdown, ready to inject.
    pub markdown: String,
}

/// The *what changed* section of the bundle.
pub(super) fn changes_markdown(changes: &Changes, since: &str) -> String {
    let mut md = format!("## What changed since {since}\n\n");
    if let Some(note) = &changes.note {
        md.push_str(&format!("_{note}_\n\n"));
    } else if changes.entries.is_empty() {
        md.push_str("_Nothing._\n\n");
    } else {
        for c in &changes.entries {
            md.push_str(&change_line(c));
        }
        md.push('\n');
    }
    md
}

/// One line of the *what changed* section.
pub(super) fn change_line(c: &ChangedEntry) -> String {
    match &c.renamed_from {
        Some(from) => format!("- renamed `{from}` -> `{}`\n", c.id),
        None => format!("- {} `{}`\n", c.status, c.id),
    }
}

/// The *outline* section of the bundle.
pub(super) fn outline_markdown(outline: &[OutlineRow]) -> String {
    let mut md = String::from("## Outline\n\n");
    for r in outline {
        let depth = r.folder.matches('/').count();
        md.push_str(&format!(
            "{}- {} ({})\n",
            "  ".repeat(depth),
            r.folder.rsplit('/').next().unwrap_or(&r.folder),
            r.entries
        ));
    }
    md.push('\n');
    md
}

impl Memory {
    /// Builds the session-start bundle within `budget` tokens.
    ///
    /// # Errors
    /// An invalid prefix; cache failures. Git problems only show in the *what changed* section.
    pub fn prime(
        &self,
        within: Option<&str>,
        since: Option<&str>,
        budget: usize,
    ) -> Result<PrimeReport> {
        let prefix = within.map(crate::tree::normalize_id).unwrap_or_default();
        crate::tree::validate_prefix(&prefix)?;
        let opened = self.open_layers()?;
        let query = Query::default();
        let ctxs: Vec<_> = opened
            .iter()
            .map(|o| crate::retrieve::Ctx {
                tree: &o.tree,
                ..self.ctx(&o.index, &query)
            })
            .collect();
        let in_subtree =
            |id: &str| prefix.is_empty() || id == prefix || id.starts_with(&format!("{prefix}/"));
        let now = self.now.as_second();
        let project = &opened[0];
        let project_searcher = &ctxs[0].searcher;
        // Core entries and open questions of every layer, most important first (ties: project,
        // shared, user); another layer's entry that the project overrides is left out.
        let by_importance = |mut v: Vec<(usize, StoredMeta)>| {
            v.sort_by(|(la, a), (lb, b)| {
                rank::effective_importance(b, &self.config, now)
                    .total_cmp(&rank::effective_importance(a, &self.config, now))
                    .then_with(|| opened[*la].layer.rank().cmp(&opened[*lb].layer.rank()))
                    .then_with(|| opened[*la].layer.name.cmp(&opened[*lb].layer.name))
                    .then_with(|| a.id.cmp(&b.id))
            });
            v
        };
        let lookup = |field_of: &dyn Fn(&SearchIndex) -> tantivy::schema::Field,
                      value: &str|
         -> Vec<(usize, StoredMeta)> {
            let mut out = Vec::new();
            for (li, (o, ctx)) in opened.iter().zip(&ctxs).enumerate() {
                let (layer, index) = (&o.layer, &o.index);
                for m in index
                    .lookup(&ctx.searcher, field_of(index), value)
                    .into_iter()
                    .filter_map(|a| index.stored(&ctx.searcher, a))
                    .filter(|m| m.is_live() && in_subtree(&m.id))
                {
                    let overridden = li > 0
                        && super::layers::overriding(
                            &project.index,
                            project_searcher,
                            &crate::layers::qualify(&layer.name, &m.id),
                            None,
                        )
                        .is_some();
                    if !overridden {
                        out.push((li, m));
                    }
                }
            }
            out
        };
        let core = by_importance(
            lookup(&|i| i.fields.maturity, "core")
                .into_iter()
                .filter(|(_, m)| m.kind.as_deref() != Some("question"))
                .collect(),
        );
        let questions = by_importance(lookup(&|i| i.fields.kind, "question"));
        let mut used = 0;
        let mut omitted = Vec::new();
        let mut take = |metas: Vec<(usize, StoredMeta)>, why: &str, omitted: &mut Vec<String>| {
            let mut out = Vec::new();
            for (li, m) in metas {
                let name = &opened[li].layer.name;
                let mut it = item(&ctxs[li], &m, vec![why.to_string()]);
                super::layers::qualify_item(&mut it, name, opened.len() > 1);
                if used + it.tokens > budget {
                    omitted.push(crate::layers::qualify(name, &m.id));
                    continue;
                }
                used += it.tokens;
                out.push(it);
            }
            out
        };
        let pinned = take(core, "pinned: core", &mut omitted);
        let open_questions = take(questions, "open question", &mut omitted);
        let (index, ctx) = (&project.index, &ctxs[0]);
        let since = since.unwrap_or("HEAD~1");
        let changes = self.changes_since(since);
        let mut outline: Vec<OutlineRow> = index
            .folder_counts(&ctx.searcher, 2)
            .into_iter()
            .filter(|(f, _)| in_subtree(f) || prefix.starts_with(&format!("{f}/")))
            .map(|(folder, entries)| OutlineRow { folder, entries })
            .collect();
        // Other layers: their domains, qualified.
        for (o, ctx) in opened.iter().zip(&ctxs).skip(1) {
            let (layer, index) = (&o.layer, &o.index);
            outline.extend(
                index
                    .folder_counts(&ctx.searcher, 1)
                    .into_iter()
                    .filter(|(f, _)| in_subtree(f) || prefix.starts_with(&format!("{f}/")))
                    .map(|(folder, entries)| OutlineRow {
                        folder: crate::layers::qualify(&layer.name, &folder),
                        entries,
                    }),
            );
        }
        // Markdown: pinned, questions, then the two compact sections while the budget lasts.
        let mut md = String::from("# Project memory: session start\n\n");
        if opened.len() > 1 {
            let names: Vec<&str> = opened.iter().map(|o| o.layer.name.as_str()).collect();
            md.push_str(&format!(
                "_Layers: {}; ids outside the project name their layer (`NAME:id`)._\n\n",
                names.join(", ")
            ));
        }
        if !pinned.is_empty() {
            md.push_str("## Pinned (core)\n\n");
            pinned.iter().for_each(|i| md.push_str(&i.text));
        }
        if !open_questions.is_empty() {
            md.push_str("## Open questions\n\n");
            open_questions.iter().for_each(|i| md.push_str(&i.text));
        }
        let changed_md = changes_markdown(&changes, since);
        let outline_md = outline_markdown(&outline);
        for (section, text) in [("what changed", changed_md), ("outline", outline_md)] {
            let t = estimate_tokens(&text);
            if used + t <= budget {
                used += t;
                md.push_str(&text);
            } else {
                omitted.push(format!("section: {section}"));
            }
        }
        md.push_str(&hidden_note(pinned.iter().chain(&open_questions)));
        md.push_str(&format!("_Budget: {used} of {budget} tokens used"));
        if omitted.is_empty() {
            md.push_str("._\n");
        } else {
            md.push_str(&format!("; left out: {}._\n", omitted.join(", ")));
        }
        Ok(PrimeReport {
            schema: "memtree.prime/v1",
            budget_tokens: budget,
            used_tokens: used,
            pinned,
            open_questions,
            changes,
            outline,
            omitted,
            markdown: md,
        })
    }

    fn changes_since(&self, since: &str) -> Changes {
        let empty = |note: String| Changes {
            since: since.to_string(),
            commit: None,
            entries: Vec::new(),
            note: Some(note),
        };
        let repo = match crate::git::Repo::open(&self.tree) {
            Ok(r) => r,
            Err(e) => return empty(e.to_string()),
        };
        match repo.changed_since(since) {
            Ok((commit, files)) => Changes {
                since: since.to_string(),
                commit: Some(commit),
                entries: files
                    .into_iter()
                    .filter_map(|c| {
                        Some(ChangedEntry {
                            id: crate::tree::id_of_rel(&c.file)?,
                            status: c.status,
                            renamed_from: c
                                .renamed_from
                                .as_deref()
                                .and_then(crate::tree::id_of_rel),
                        })
                    })
                    .collect(),
                note: None,
            },
            Err(e) => empty(e.to_string()),
        }
    }
}
