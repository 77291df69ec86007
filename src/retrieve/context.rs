//! The context bundle (`query --format context`): precision first, because everything in it is
//! injected into an agent's prompt (DESIGN.md §3).
//!
//! Sections, filled in this order until the token budget is spent:
//! - *pinned*: `maturity: core` entries in the requested subtree (`--in`, else the whole tree);
//! - *relevant*: path, alias and scope hits (superseded ones already replaced by their
//!   successor), plus one forward hop along their relations; pinned entries never count here;
//! - *open questions*: `kind: question` entries among the hits, then the subtree's core ones,
//!   never mixed into relevant;
//! - *related*: content-only BM25 hits, admitted only when no alias matched and the entry matches
//!   at least two distinct significant query terms.
//!
//! Tokens are estimated as ⌈characters / 4⌉. The bundle says what it left out.

use std::collections::HashSet;

use serde::Serialize;

use super::{Ctx, Ranked, Tier};
use crate::record::{Record, StoredMeta};

/// Default budget in tokens when `--budget` is not given.
pub const DEFAULT_BUDGET: usize = 1500;
const MAX_RELATED: usize = 3;
const BODY_CHARS: usize = 1200;

/// One entry in a bundle.
#[derive(Debug, Clone, Serialize)]
pub struct BundleItem {
    /// Entry id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Kind, when set.
    pub kind: Option<String>,
    /// Why it is here.
    pub why: Vec<String>,
    /// Its estimated size in tokens.
    pub tokens: usize,
    /// The layer it comes from, when more than one layer was read ([`crate::layers`]; its
    /// `id` is then qualified outside the project).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// Hidden HTML comments or invisible characters were left out of it
    /// ([`crate::secrets::visible`]); present only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// The rendered markdown (not serialized in JSON; it is in `markdown`).
    #[serde(skip)]
    pub text: String,
}

/// A context bundle (`memtree.context/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct ContextBundle {
    /// Always `memtree.context/v1`.
    pub schema: &'static str,
    /// The query.
    pub query: String,
    /// The budget in tokens.
    pub budget_tokens: usize,
    /// Tokens used by the entries included.
    pub used_tokens: usize,
    /// Core entries of the subtree.
    pub pinned: Vec<BundleItem>,
    /// Entries that answer the query.
    pub relevant: Vec<BundleItem>,
    /// Open questions in scope.
    pub open_questions: Vec<BundleItem>,
    /// Content matches (see the module doc for when they are admitted).
    pub related: Vec<BundleItem>,
    /// Ids left out because the budget was spent.
    pub omitted: Vec<String>,
    /// The whole bundle as markdown, ready to inject.
    pub markdown: String,
    /// How fresh the index behind the bundle was.
    pub index: super::IndexState,
}

/// Tokens of `s`, estimated as ⌈characters / 4⌉.
pub(crate) fn estimate_tokens(s: &str) -> usize {
    s.chars().count().div_ceil(4)
}

/// One line naming the entries of a bundle that had hidden HTML comments or invisible
/// characters left out, when there are any.
pub(crate) fn hidden_note<'a>(items: impl IntoIterator<Item = &'a BundleItem>) -> String {
    let ids: Vec<&str> = items
        .into_iter()
        .filter(|i| i.hidden)
        .map(|i| i.id.as_str())
        .collect();
    if ids.is_empty() {
        return String::new();
    }
    format!(
        "_Hidden HTML comments and invisible characters were left out of {} (`memtree check` \
         names them)._\n",
        ids.join(", ")
    )
}

/// One entry rendered for a bundle: title, kind, summary and up to 1,200 characters of body,
/// as a reviewer sees them ([`crate::secrets::visible`]: no hidden HTML comment, no invisible
/// character, since everything here is injected into an agent's prompt).
pub(crate) fn item(ctx: &Ctx, meta: &StoredMeta, why: Vec<String>) -> BundleItem {
    let display = ctx.tree.display_path(&meta.rel);
    let body = ctx
        .tree
        .read_entry(&crate::tree::SafePath::from_walk(ctx.tree, &meta.rel))
        .ok()
        .and_then(|b| Record::parse_limited(&meta.rel, &b, &display, ctx.tree.max_file_bytes).ok())
        .map(|r| r.doc.body)
        .unwrap_or_default();
    let visible = crate::secrets::visible;
    let ((title, t), (body, b)) = (visible(&meta.title), visible(&body));
    let (summary, s) = meta.summary.as_deref().map_or((None, false), |x| {
        let (v, h) = visible(x);
        (Some(v), h)
    });
    let body = body.trim();
    let mut body: String = body.chars().take(BODY_CHARS).collect();
    if body.chars().count() == BODY_CHARS {
        body.push_str(" …");
    }
    let mut text = format!("### {title} (`{}`)\n", meta.id);
    let kind = meta.kind.as_deref().unwrap_or("entry");
    match &summary {
        Some(s) => text.push_str(&format!("*{kind}* — {s}\n")),
        None => text.push_str(&format!("*{kind}*\n")),
    }
    if !body.is_empty() {
        text.push('\n');
        text.push_str(&body);
        text.push('\n');
    }
    text.push('\n');
    BundleItem {
        id: meta.id.clone(),
        title,
        kind: meta.kind.clone(),
        why,
        tokens: estimate_tokens(&text),
        layer: None,
        hidden: t || b || s,
        text,
    }
}

/// The sections of a bundle before the budget is spent.
#[derive(Debug, Default)]
pub struct Sections {
    /// Core entries of the subtree.
    pub pinned: Vec<BundleItem>,
    /// Entries that answer the query.
    pub relevant: Vec<BundleItem>,
    /// Open questions in scope.
    pub questions: Vec<BundleItem>,
    /// Content matches.
    pub related: Vec<BundleItem>,
}

impl Sections {
    /// Every item, section by section.
    pub fn items_mut(&mut self) -> impl Iterator<Item = &mut BundleItem> {
        self.pinned
            .iter_mut()
            .chain(&mut self.relevant)
            .chain(&mut self.questions)
            .chain(&mut self.related)
    }

    /// Appends `other`'s items to each section.
    pub fn extend(&mut self, other: Sections) {
        self.pinned.extend(other.pinned);
        self.relevant.extend(other.relevant);
        self.questions.extend(other.questions);
        self.related.extend(other.related);
    }
}

/// Builds the bundle from the ranked candidates of a query.
pub fn build(ctx: &Ctx, ranked: &Ranked, budget: usize) -> ContextBundle {
    assemble(&ctx.query.text, sections(ctx, ranked), budget)
}

/// The sections for the ranked candidates of a query in one tree (see the module doc).
pub fn sections(ctx: &Ctx, ranked: &Ranked) -> Sections {
    let (index, s) = (ctx.index, &ctx.searcher);
    let prefix = ctx.query.within.clone().unwrap_or_default();
    let in_subtree =
        |id: &str| prefix.is_empty() || id == prefix || id.starts_with(&format!("{prefix}/"));
    let mut seen: HashSet<String> = HashSet::new();

    let (pinned_questions, mut pinned_meta): (Vec<StoredMeta>, Vec<StoredMeta>) = index
        .lookup(s, index.fields.maturity, "core")
        .into_iter()
        .filter_map(|a| index.stored(s, a))
        .filter(|m| m.is_live() && m.superseded_by.is_none() && in_subtree(&m.id))
        .partition(|m| m.kind.as_deref() == Some("question"));
    pinned_meta.sort_by(|a, b| {
        b.importance
            .unwrap_or(0.5)
            .total_cmp(&a.importance.unwrap_or(0.5))
            .then(a.id.cmp(&b.id))
    });
    let pinned: Vec<BundleItem> = pinned_meta
        .iter()
        .inspect(|m| {
            seen.insert(m.id.clone());
        })
        .map(|m| item(ctx, m, vec!["pinned: core".into()]))
        .collect();

    let alias_matched = ranked.hits.iter().any(|(c, _)| c.tier == Tier::Alias);
    let mut relevant = Vec::new();
    let mut questions = Vec::new();
    let mut related = Vec::new();
    let structural = |t: Tier| matches!(t, Tier::Path | Tier::Alias | Tier::Scope);
    for (c, _) in &ranked.hits {
        let m = &c.meta;
        if m.kind.as_deref() == Some("question") {
            if (structural(c.tier) || c.tier == Tier::Bm25) && seen.insert(m.id.clone()) {
                questions.push(item(ctx, m, c.matched.clone()));
            }
            continue;
        }
        if structural(c.tier) && seen.insert(m.id.clone()) {
            relevant.push(item(ctx, m, c.matched.clone()));
        }
    }
    // Core open questions of the subtree are always shown, after those the query matched.
    for m in &pinned_questions {
        if seen.insert(m.id.clone()) {
            questions.push(item(ctx, m, vec!["open question: core".into()]));
        }
    }
    // One forward hop along the relations of the relevant entries.
    let hop: Vec<(StoredMeta, String)> = relevant
        .iter()
        .filter_map(|it| index.by_id(s, &it.id))
        .flat_map(|m| {
            m.edges
                .iter()
                .filter(|e| e.kind != "see-also" && e.kind != "contradicts")
                .map(|e| (e.to.clone(), format!("edge:{} from {}", e.kind, m.id)))
                .collect::<Vec<_>>()
        })
        .filter_map(|(to, why)| index.by_id(s, &to).map(|m| (m, why)))
        .collect();
    for (m, why) in hop {
        if m.is_live()
            && m.superseded_by.is_none()
            && m.kind.as_deref() != Some("question")
            && seen.insert(m.id.clone())
        {
            relevant.push(item(ctx, &m, vec![why]));
        }
    }
    if !alias_matched {
        for (c, _) in &ranked.hits {
            if related.len() >= MAX_RELATED {
                break;
            }
            let distinct_terms = c
                .matched
                .iter()
                .find_map(|w| w.strip_prefix("bm25:"))
                .map_or(0, |t| t.split(' ').filter(|x| !x.is_empty()).count());
            if c.tier == Tier::Bm25 && distinct_terms >= 2 && seen.insert(c.meta.id.clone()) {
                related.push(item(ctx, &c.meta, c.matched.clone()));
            }
        }
    }

    Sections {
        pinned,
        relevant,
        questions,
        related,
    }
}

/// Spends `budget` tokens on the sections (pinned first, then relevant, open questions,
/// related) and renders the bundle for the query `text`.
pub fn assemble(text: &str, sections: Sections, budget: usize) -> ContextBundle {
    let Sections {
        pinned,
        relevant,
        questions,
        related,
    } = sections;
    // Spend the budget: pinned first, then relevant, open questions, related.
    let mut used = 0;
    let mut omitted = Vec::new();
    let mut fit = |items: Vec<BundleItem>| -> Vec<BundleItem> {
        let mut kept = Vec::new();
        for it in items {
            if used + it.tokens <= budget {
                used += it.tokens;
                kept.push(it);
            } else {
                omitted.push(it.id);
            }
        }
        kept
    };
    let pinned = fit(pinned);
    let relevant = fit(relevant);
    let open_questions = fit(questions);
    let related = fit(related);

    let mut md = format!("# Memory for: {}\n\n", text.trim());
    for (name, items) in [
        ("Pinned", &pinned),
        ("Relevant", &relevant),
        ("Open questions", &open_questions),
        ("Related", &related),
    ] {
        if items.is_empty() {
            continue;
        }
        md.push_str(&format!("## {name}\n\n"));
        for it in items {
            md.push_str(&it.text);
        }
    }
    if pinned.is_empty() && relevant.is_empty() && open_questions.is_empty() && related.is_empty() {
        md.push_str("_Nothing in the memory tree matches this query._\n\n");
    }
    md.push_str(&hidden_note(
        pinned
            .iter()
            .chain(&relevant)
            .chain(&open_questions)
            .chain(&related),
    ));
    md.push_str(&format!("_Budget: {used} of {budget} tokens used"));
    if omitted.is_empty() {
        md.push_str("._\n");
    } else {
        md.push_str(&format!("; left out: {}._\n", omitted.join(", ")));
    }
    ContextBundle {
        schema: "memtree.context/v1",
        query: text.to_string(),
        budget_tokens: budget,
        used_tokens: used,
        pinned,
        relevant,
        open_questions,
        related,
        omitted,
        markdown: md,
        index: super::IndexState::default(),
    }
}
