//! Retrieval: the tiers of DESIGN.md §3, cheapest first, merged into one ranked list.
//!
//! Each tier offers candidates to a [`Pool`] with a relevance in 0..1 and a reason. Relevance
//! scales are chosen so that structural evidence outranks text similarity: an exact id is 1.0,
//! an alias equal to the whole query 0.95, an alias phrase inside the query 0.6–0.9, a scope
//! match 0.8, BM25 at most 0.85 (scaled by the best BM25 score; the share of the query's IDF
//! mass an entry covers decides whether it is admitted and whether the answer is confident),
//! and graph neighbours a damped share of their seed. When several
//! tiers find the same entry, the larger relevance counts plus a tenth of the smaller.
//! The final score is relevance × the lifecycle weight ([`rank`]).
//!
//! Superseded entries are replaced by their successor (unless `--all`), and a query whose
//! significant terms match nothing returns no hits rather than the least-bad junk.

pub mod alias;
pub mod bm25;
pub mod context;
pub mod dense;
pub mod graph;
pub mod llm;
pub mod path;
pub mod rank;
pub mod rescore;
pub mod scope;
pub mod semantic;

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;
use tantivy::Searcher;

use crate::config::Config;
use crate::index::SearchIndex;
use crate::record::{Record, StoredMeta};

/// A query, as the CLI and MCP pass it to [`crate::Memory::query`].
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The question, an id, or a name.
    pub text: String,
    /// Number of hits wanted (`None`: `retrieval.k` from the config).
    pub k: Option<usize>,
    /// A code file path: entries whose `scope` globs match it are candidates and rank first.
    pub path: Option<String>,
    /// Only entries of this kind.
    pub kind: Option<String>,
    /// Only entries under this folder id.
    pub within: Option<String>,
    /// Also show superseded and archived entries (instead of replacing or hiding them).
    pub all: bool,
    /// When tier 5 (one LLM call) runs.
    pub llm: llm::LlmMode,
    /// Only these layers (`--layer`, repeatable); empty searches every available layer
    /// ([`crate::layers`]).
    pub layers: Vec<String>,
}

/// The tier that produced a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Tier 1: the text is an id, an id suffix or a folder id.
    Path,
    /// Tier 2: a title or alias matched.
    Alias,
    /// `--path`: the entry's scope globs match the file.
    Scope,
    /// Tier 3: BM25 text relevance.
    Bm25,
    /// Between 3 and 4: BM25 with words near the query's added (static word embeddings),
    /// when tiers 1–3 are not confident.
    Semantic,
    /// Tier 4: reached along a relation, link, shared scope or supersession.
    Graph,
    /// After tier 4, when still not confident: near the query by a transformer sentence
    /// encoder's cosine ([`dense`]).
    Dense,
    /// Tier 5: chosen by the LLM, or found by a phrasing it proposed.
    Llm,
}

impl Tier {
    /// The tier's name as it appears in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Path => "path",
            Tier::Alias => "alias",
            Tier::Scope => "scope",
            Tier::Bm25 => "bm25",
            Tier::Semantic => "semantic",
            Tier::Graph => "graph",
            Tier::Dense => "dense",
            Tier::Llm => "llm",
        }
    }
}

/// One hit of the ranked list (`query --json`, schema `memtree.query/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// Entry id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Kind, when set.
    pub kind: Option<String>,
    /// The cheapest tier that found it (path, alias, scope, bm25, semantic, graph, dense, llm
    /// in that order).
    pub tier: Tier,
    /// Final score: relevance (0..1) × lifecycle weight (about 0.5..1.6).
    pub score: f64,
    /// Status of the entry.
    pub status: String,
    /// Why it was returned: `alias:…`, `id:…`, `bm25:fields (terms)`, `edge:…`, `scope:…`,
    /// `dense:COSINE`.
    pub matched: Vec<String>,
    /// Summary, or the body text around the first matched word.
    pub snippet: String,
    /// The file, relative to the project (`.memory/…`); absolute for another layer's entry.
    pub file: String,
    /// The layer the entry belongs to, when more than one layer was searched (its `id` is then
    /// qualified `NAME:id` outside the project).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// Stored metadata (not serialized).
    #[serde(skip)]
    pub meta: StoredMeta,
}

pub use llm::Escalation;

/// How fresh the index behind an answer was (`index` in `query --json` and
/// `query --format context --json`).
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct IndexState {
    /// `files` when every entry file was compared with the index before answering; `folders`
    /// when only the folders were (a tree over `index.full_scan_up_to` files between two full
    /// scans): an edit that rewrote a file in place less than `index.full_scan_every_secs` ago
    /// may not be seen yet, while new, deleted and renamed files always are.
    pub checked: &'static str,
    /// Set when the answer came from the last committed index because it could not be
    /// refreshed (another memtree process was writing, or the cache is read-only): why. The
    /// index may be behind the files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
    /// Set when the index was built in memory for this command only (no usable index and a
    /// cache that cannot be written): why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_memory: Option<String>,
}

impl IndexState {
    /// The state a refresh reported.
    pub fn from_sync(sync: &crate::index::SyncReport) -> IndexState {
        IndexState {
            checked: if sync.folders_only {
                "folders"
            } else {
                "files"
            },
            stale: sync.stale.clone(),
            in_memory: sync.in_memory.clone(),
        }
    }
}

/// The answer to a query (`memtree.query/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct QueryResult {
    /// Always `memtree.query/v1`.
    pub schema: &'static str,
    /// The query text.
    pub query: String,
    /// Whether the answer rests on structural evidence (id, alias, scope) or strong text overlap.
    pub confident: bool,
    /// The tiers that ran, in order.
    pub tiers_run: Vec<&'static str>,
    /// Hits, best first.
    pub hits: Vec<Hit>,
    /// The semantic tier.
    pub semantic: semantic::SemanticReport,
    /// The dense tier.
    pub dense: dense::DenseReport,
    /// Tier 5.
    pub escalation: Escalation,
    /// A sentence for the user when there are no hits or the answer is weak.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How fresh the index behind the answer was (the project's, when layers were searched).
    pub index: IndexState,
    /// The layers searched and those left out, when there is more than the project
    /// ([`crate::memory::LayerSearch`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<crate::memory::LayerSearch>,
    /// Wall time of the whole query including the freshness check, in milliseconds.
    pub elapsed_ms: f64,
}

/// A candidate being accumulated.
#[derive(Debug, Clone)]
pub struct Cand {
    /// Stored metadata.
    pub meta: StoredMeta,
    /// Relevance in 0..1.
    pub relevance: f64,
    /// The cheapest tier that found it (tiers order as they run: path first, graph last).
    pub tier: Tier,
    /// Reasons.
    pub matched: Vec<String>,
    /// The share of the query's IDF mass the entry covers, when BM25 found it; a word the
    /// semantic tier added covers its query word's share times its similarity (what curate
    /// places new entries by).
    pub coverage: Option<f64>,
    /// The share the query's own words cover (added words never count): what confidence is
    /// decided by.
    pub own_coverage: Option<f64>,
}

impl Cand {
    /// A candidate one tier found alone, for `why`, with no BM25 coverage.
    pub fn found(meta: StoredMeta, relevance: f64, tier: Tier, why: String) -> Cand {
        Cand {
            meta,
            relevance,
            tier,
            matched: vec![why],
            coverage: None,
            own_coverage: None,
        }
    }
}

/// Candidates by file (not by id: two files may claim one id, `a/b/c.md` and
/// `a/b/c/README.md`, and `check` reports that; neither may silently drop out of search).
#[derive(Debug, Default, Clone)]
pub struct Pool {
    /// By file path relative to the root.
    pub map: HashMap<String, Cand>,
}

impl Pool {
    /// Offers a candidate (see the module doc for how evidence combines).
    pub fn offer(&mut self, meta: StoredMeta, relevance: f64, tier: Tier, why: String) {
        self.offer_cow(Cow::Owned(meta), relevance, tier, why);
    }

    /// [`Pool::offer`] of an entry that may be borrowed: copied only when it is new to the
    /// pool (the graph tier offers a shared scope's entries once per seed).
    pub fn offer_cow(
        &mut self,
        meta: Cow<'_, StoredMeta>,
        relevance: f64,
        tier: Tier,
        why: String,
    ) {
        match self.map.get_mut(&meta.rel) {
            Some(c) => {
                let (hi, lo) = if relevance > c.relevance {
                    (relevance, c.relevance)
                } else {
                    (c.relevance, relevance)
                };
                c.tier = c.tier.min(tier);
                c.relevance = (hi + 0.1 * lo).min(1.0);
                if !c.matched.contains(&why) {
                    c.matched.push(why);
                }
            }
            None => {
                let meta = meta.into_owned();
                self.map
                    .insert(meta.rel.clone(), Cand::found(meta, relevance, tier, why));
            }
        }
    }

    /// Candidates sorted by relevance, best first (ties by id).
    pub fn ranked(&self) -> Vec<&Cand> {
        let mut v: Vec<&Cand> = self.map.values().collect();
        v.sort_by(|a, b| {
            b.relevance
                .total_cmp(&a.relevance)
                .then_with(|| a.meta.id.cmp(&b.meta.id))
                .then_with(|| a.meta.rel.cmp(&b.meta.rel))
        });
        v
    }
}

/// What every tier needs.
pub struct Ctx<'a> {
    /// The index.
    pub index: &'a SearchIndex,
    /// A searcher over it.
    pub searcher: Searcher,
    /// The configuration.
    pub config: &'a Config,
    /// The query.
    pub query: &'a Query,
    /// Now, Unix seconds.
    pub now: i64,
    /// The project folder (for `--path` and reading files).
    pub tree: &'a crate::tree::Tree,
    /// Set when several layers are searched together ([`crate::layers`]): BM25 statistics
    /// over all of them, so that scores are comparable across layers.
    pub across: Option<&'a Across<'a>>,
}

/// BM25 statistics shared by the layers searched together: document counts, token counts and
/// document frequencies are sums over every layer's index (as a distributed search engine
/// computes them), and the best raw BM25 score of any layer scales relevance in each.
pub struct Across<'a> {
    /// The searchers of every layer searched.
    pub searchers: Vec<&'a Searcher>,
    /// The best raw BM25 score of the query's own words in any layer (0 before it is known).
    pub bm25_best: f64,
    /// The query's dense vector, encoded once for every layer ([`dense::SharedEncodes`]).
    pub encodes: dense::SharedEncodes,
}

impl tantivy::query::Bm25StatisticsProvider for Across<'_> {
    fn total_num_tokens(&self, field: tantivy::schema::Field) -> tantivy::Result<u64> {
        let mut sum = 0;
        for s in &self.searchers {
            sum += s.total_num_tokens(field)?;
        }
        Ok(sum)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        let mut sum = 0;
        for s in &self.searchers {
            sum += s.total_num_docs()?;
        }
        Ok(sum)
    }

    fn doc_freq(&self, term: &tantivy::Term) -> tantivy::Result<u64> {
        let mut sum = 0;
        for s in &self.searchers {
            sum += s.doc_freq(term)?;
        }
        Ok(sum)
    }
}

impl Ctx<'_> {
    /// Documents searched: this index's, or every layer's together.
    pub fn num_docs(&self) -> u64 {
        match self.across {
            Some(a) => a.searchers.iter().map(|s| s.num_docs()).sum(),
            None => self.searcher.num_docs(),
        }
    }

    /// How many documents hold the analyzed `term`: in this index, or in every layer.
    pub fn doc_freq(&self, term: &str) -> u64 {
        match self.across {
            Some(a) => a
                .searchers
                .iter()
                .map(|s| self.index.doc_freq(s, term))
                .sum(),
            None => self.index.doc_freq(&self.searcher, term),
        }
    }
}

/// The outcome of tiers 1–4 before rendering.
pub struct Ranked {
    /// Final candidates with final scores, best first.
    pub hits: Vec<(Cand, f64)>,
    /// Tiers that ran.
    pub tiers_run: Vec<&'static str>,
    /// Significant query terms (analyzed).
    pub terms: Vec<String>,
    /// Whether any significant term occurs in the tree.
    pub any_term_known: bool,
    /// What the semantic tier did.
    pub semantic: semantic::SemanticReport,
    /// What the dense tier did.
    pub dense: dense::DenseReport,
}

impl Ranked {
    /// Whether the answer is confident ([`is_confident`]); never when the dense tier put its
    /// hit first, even one an alias had found further down.
    pub fn confident(&self) -> bool {
        self.dense.promoted.is_none() && is_confident(self.hits.iter().map(|(c, s)| (c, *s)))
    }
}

/// How far the first hit's score must stand above the second's for text evidence to make an
/// answer confident: a first hit that several entries match about as well is a guess. On
/// LoCoMo's development split (issue 22), the first hit of a confident answer was wrong for
/// 52.9% of 707 confident questions without a margin, 30.5% of 262 with 1.1, 21.0% of 100
/// with 1.2.
pub const CONFIDENT_MARGIN: f64 = 1.1;

/// Whether a ranked list (candidates with their scores, best first) makes the answer
/// confident: its first candidate rests on structural evidence (id, alias, scope), or the
/// query's own words cover at least 60% of the query's IDF mass in it and its score is at
/// least [`CONFIDENT_MARGIN`] × every other candidate's. Words the semantic tier added never
/// count, so a hit only they found ([`Tier::Semantic`]) is never confident.
pub fn is_confident<'a>(mut ranked: impl Iterator<Item = (&'a Cand, f64)>) -> bool {
    let Some((best, score)) = ranked.next() else {
        return false;
    };
    if is_structural(best) {
        return true;
    }
    // The best of the others, not merely the next: the re-scorer may order below the first
    // a candidate that memtree scored higher.
    let others = ranked.map(|(_, s)| s).fold(f64::NEG_INFINITY, f64::max);
    words_cover(best) && score >= CONFIDENT_MARGIN * others
}

fn is_structural(c: &Cand) -> bool {
    matches!(c.tier, Tier::Path | Tier::Alias | Tier::Scope)
}

/// Whether the query's own words found `best` well enough that adding related words cannot
/// help: structural evidence, or its own words covering at least 60% of the query's IDF mass.
/// This, not [`is_confident`], decides whether the semantic tier runs: on LoCoMo's development
/// split, running it also for covered answers without a margin cost 0.4 points of session
/// any@5 and 1.3 ms of median query time (issue 22).
pub fn words_cover(best: &Cand) -> bool {
    is_structural(best) || best.own_coverage.is_some_and(|cov| cov >= 0.6)
}

/// Runs tiers 1–4, the re-scorer and the dense tier, and returns every admitted candidate (not
/// truncated to k).
pub fn run(ctx: &Ctx) -> Ranked {
    run_with(ctx, false, |ctx, hits, terms, confident, prepared| {
        if ctx.config.retrieval.rescore && !confident {
            rescore::apply(ctx, hits, terms, prepared);
        }
    })
}

/// [`run`] with `between` in the re-scorer's place: it gets the context, the candidates (best
/// first, the dense tier's appended), the query's analyzed terms, whether the answer is
/// confident, and the dense tier's cosines when it encoded the query. With `always_dense`
/// the dense tier runs for a confident answer too. The evaluation harness reads the
/// re-scorer's features there.
pub fn run_with(
    ctx: &Ctx,
    always_dense: bool,
    between: impl FnOnce(&Ctx, &mut Vec<(Cand, f64)>, &[String], bool, Option<&dense::Prepared>),
) -> Ranked {
    let mut pool = Pool::default();
    let mut tiers_run = vec!["path", "alias"];
    path::run(ctx, &mut pool);
    alias::run(ctx, &mut pool);
    if ctx.query.path.is_some() {
        tiers_run.push("scope");
        scope::run(ctx, &mut pool);
    }
    tiers_run.push("bm25");
    // The semantic tier re-runs BM25 from the pool as it stands now.
    let before_bm25 = ctx.config.semantic.enabled.then(|| pool.clone());
    let bm = bm25::run(ctx, &mut pool, &[]);
    // Not covered by the query's own words: nothing later makes the answer confident, so the
    // dense tier will run; its encode starts now, beside the semantic and graph tiers.
    let encoding = if pool.ranked().first().is_some_and(|c| words_cover(c)) {
        None
    } else {
        dense::speculate(ctx)
    };
    let semantic = match before_bm25 {
        None => semantic::SemanticReport::skipped("disabled"),
        Some(_) if pool.ranked().first().is_some_and(|c| words_cover(c)) => {
            let ranked = pool.ranked();
            semantic::SemanticReport::skipped(
                if is_confident(ranked.into_iter().map(|c| (c, c.relevance))) {
                    "confident"
                } else {
                    "the query's own words matched"
                },
            )
        }
        Some(before_bm25) => match semantic::expansions(ctx, &bm.terms) {
            Err(e) => semantic::SemanticReport::skipped(&e),
            Ok((exp, model)) if exp.is_empty() => semantic::SemanticReport {
                model: Some(model),
                ..semantic::SemanticReport::skipped("no neighbours in the tree")
            },
            Ok((exp, model)) => {
                tiers_run.push("semantic");
                pool = before_bm25;
                bm25::run(ctx, &mut pool, &exp);
                semantic::SemanticReport {
                    ran: true,
                    reason: "not confident".into(),
                    model: Some(model),
                    expansions: exp
                        .iter()
                        .map(|e| format!("{}→{} {:.2}", e.from, e.word, e.similarity))
                        .collect(),
                }
            }
        },
    };
    if ctx.config.retrieval.graph_hops > 0 {
        tiers_run.push("graph");
        graph::run(ctx, &mut pool);
    }
    let mut hits = finalize(ctx, pool);
    let confident = is_confident(hits.iter().map(|(c, s)| (c, *s)));
    let prepared = if !ctx.config.semantic.dense {
        Err(Box::new(dense::DenseReport::skipped("disabled")))
    } else if confident && !always_dense {
        Err(Box::new(dense::DenseReport::skipped("confident")))
    } else {
        dense::prepare(ctx, encoding)
    };
    let dense = dense::run(ctx, &mut hits, prepared, |hits, prepared| {
        between(ctx, hits, &bm.terms, confident, prepared);
    });
    if dense.ran {
        tiers_run.push("dense");
    }
    Ranked {
        hits,
        tiers_run,
        terms: bm.terms,
        any_term_known: bm.any_term_known,
        semantic,
        dense,
    }
}

/// Replaces superseded entries by their successors, hides archived ones, applies `--kind` and
/// `--in`, and weights by lifecycle.
pub(crate) fn finalize(ctx: &Ctx, mut pool: Pool) -> Vec<(Cand, f64)> {
    let q = ctx.query;
    if !q.all {
        let dead: Vec<Cand> = pool
            .map
            .values()
            .filter(|c| !c.meta.is_live() || c.meta.superseded_by.is_some())
            .cloned()
            .collect();
        for c in dead {
            pool.map.remove(&c.meta.rel);
            if let Some(succ) = successor(ctx, &c.meta) {
                let why = format!("replaces:{} (superseded)", c.meta.id);
                pool.offer(succ, c.relevance, c.tier, why);
            }
        }
    }
    let mut out: Vec<(Cand, f64)> = pool
        .map
        .into_values()
        .filter(|c| passes_filters(q, &c.meta))
        .map(|c| {
            let w = rank::lifecycle_weight(&c.meta, ctx.config, ctx.now);
            let score = c.relevance * w;
            (c, score)
        })
        .collect();
    // A folder id as the query lists the folder's entries (path tier) before any content hit,
    // whatever their lifecycle weight.
    let folder_query = out
        .iter()
        .any(|(c, _)| c.matched.iter().any(|m| m.starts_with("in-folder:")));
    out.sort_by(|a, b| {
        let path_first = |c: &Cand| !(folder_query && c.tier == Tier::Path);
        path_first(&a.0)
            .cmp(&path_first(&b.0))
            .then_with(|| b.1.total_cmp(&a.1))
            .then_with(|| a.0.meta.id.cmp(&b.0.meta.id))
            .then_with(|| a.0.meta.rel.cmp(&b.0.meta.rel))
    });
    out
}

/// Whether `meta` passes `--kind` and `--in`.
pub(crate) fn passes_filters(q: &Query, meta: &StoredMeta) -> bool {
    q.kind
        .as_ref()
        .is_none_or(|k| meta.kind.as_ref() == Some(k))
        && q.within
            .as_ref()
            .is_none_or(|p| p.is_empty() || meta.id == *p || meta.id.starts_with(&format!("{p}/")))
}

/// Whether an entry a tier found outside the pool (the dense tier) may be a hit: live and not
/// superseded (unless `--all`), and within `--kind` and `--in`.
fn admitted(ctx: &Ctx, meta: &StoredMeta) -> bool {
    (ctx.query.all || (meta.is_live() && meta.superseded_by.is_none()))
        && passes_filters(ctx.query, meta)
}

/// Follows `superseded_by` (up to 8 steps) to a live successor.
fn successor(ctx: &Ctx, meta: &StoredMeta) -> Option<StoredMeta> {
    let mut current = meta.superseded_by.clone()?;
    for _ in 0..8 {
        let next = ctx.index.by_id(&ctx.searcher, &current)?;
        match &next.superseded_by {
            Some(s) if !next.is_live() || next.status == "superseded" => current = s.clone(),
            _ => return next.is_live().then_some(next),
        }
    }
    None
}

/// Builds a [`Hit`] for a candidate: reads the entry's file for the snippet and, for BM25 hits,
/// names the fields that matched.
pub fn to_hit(ctx: &Ctx, cand: &Cand, score: f64, terms: &[String]) -> Hit {
    let m = &cand.meta;
    let display = ctx.tree.display_path(&m.rel);
    let record = ctx
        .tree
        .read_entry(&crate::tree::SafePath::from_walk(ctx.tree, &m.rel))
        .ok()
        .and_then(|b| Record::parse_limited(&m.rel, &b, &display, ctx.tree.max_file_bytes).ok());
    let mut matched = cand.matched.clone();
    let mut snippet = m.summary.clone().unwrap_or_default();
    if let Some(r) = &record {
        if snippet.is_empty() {
            snippet = snippet_around(&r.plain, &ctx.query.text);
        }
        if let Some(pos) = matched.iter().position(|s| s.starts_with("bm25:")) {
            let fields = bm25::matched_fields(ctx.index, r, terms);
            if !fields.is_empty() {
                matched[pos] = format!("{} in {}", matched[pos], fields.join(","));
            }
        }
    }
    // Keep the explanation readable: the strongest reasons come first; count the rest.
    const MAX_REASONS: usize = 4;
    if matched.len() > MAX_REASONS {
        let more = matched.len() - MAX_REASONS;
        matched.truncate(MAX_REASONS);
        matched.push(format!("(+{more} more)"));
    }
    // What an agent reads is what a reviewer sees: no hidden comment, no invisible character.
    let snippet = crate::secrets::visible(&snippet).0;
    Hit {
        id: m.id.clone(),
        title: crate::secrets::visible(&m.title).0,
        kind: m.kind.clone(),
        tier: cand.tier,
        score: (score * 1000.0).round() / 1000.0,
        status: m.status.clone(),
        matched,
        snippet,
        file: display,
        layer: None,
        meta: m.clone(),
    }
}

/// About 160 characters of `plain` around the first word of `query` it contains.
pub fn snippet_around(plain: &str, query: &str) -> String {
    const WIDTH: usize = 160;
    let lower = plain.to_lowercase();
    let words = crate::index::analyzer::phrase_words(query);
    let at = words
        .iter()
        .filter(|w| w.len() > 2 && !crate::index::analyzer::STOP_WORDS.contains(&w.as_str()))
        .filter_map(|w| lower.find(w.as_str()))
        .min()
        .unwrap_or(0);
    // `lower` may differ in length from `plain` for some scripts; clamp to a char boundary.
    let mut start = at.saturating_sub(40).min(plain.len());
    while !plain.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + WIDTH).min(plain.len());
    while !plain.is_char_boundary(end) {
        end -= 1;
    }
    let mut s = plain[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if start > 0 {
        s.insert_str(0, "… ");
    }
    if end < plain.len() {
        s.push_str(" …");
    }
    s
}
