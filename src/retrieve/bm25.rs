//! Tier 3, BM25 over the weighted search text (see [`crate::record::Record::search_parts`]).
//!
//! Out-of-domain detection happens here: a query whose significant terms occur nowhere gets no
//! BM25 hits, and an entry is admitted only if it covers at least 30% of the query's IDF mass
//! or matches two distinct significant terms, so one common word shared with an off-topic
//! question does not make a hit.

use std::collections::HashSet;

use super::semantic::Expansion;
use super::{Ctx, Pool, Tier};
use crate::index::SearchIndex;
use crate::record::Record;

/// Minimum share of the query's IDF mass an entry must cover (unless it matches 2+ terms).
pub const MIN_COVERAGE: f64 = 0.3;

/// Factor on the relevance of an entry whose body is itself a question (its text ends with
/// `?`): it shares the question's words without holding the answer. LoCoMo development split,
/// turn recall@5: 0.708 without, 0.722 with ×0.85.
///
/// (Scaling relevance by IDF coverage as well, `× (0.5 + 0.5 · coverage)`, cost 1.1 points of
/// recall@5 there; coverage now only gates admission and confidence.)
pub const QUESTION_PENALTY: f64 = 0.85;

/// The highest relevance of a hit that only the semantic tier's added words found: below a
/// good BM25 hit (0.85 for the best), so a loose neighbour never outranks the query's own
/// words by score alone, and such a hit is never confident ([`super::is_confident`]). Before
/// this cap, the wrong hits word expansion found on paraphrased questions scored 0.83
/// (issue 22).
pub const SEMANTIC_CAP: f64 = 0.5;

/// What BM25 learned about the query.
pub struct Bm25Outcome {
    /// Distinct significant terms of the query (analyzed).
    pub terms: Vec<String>,
    /// Whether any of them occurs in the tree.
    pub any_term_known: bool,
}

/// The significant terms of the query of `ctx`: analyzed, distinct, at most 64.
pub fn query_terms(ctx: &Ctx) -> Vec<String> {
    let mut seen = HashSet::new();
    ctx.index
        .analyze(&ctx.query.text)
        .into_iter()
        .filter(|t| seen.insert(t.clone()))
        .take(64)
        .collect()
}

/// The best raw BM25 score of the query's own words in `ctx`'s index, weighed with
/// `ctx.across`'s statistics when set; 0 when no entry holds any of them. Searching several
/// layers, the largest of these over the layers scales relevance in each ([`super::Across`]).
pub fn best_raw(ctx: &Ctx) -> f64 {
    let terms: Vec<(String, f32)> = query_terms(ctx).into_iter().map(|t| (t, 1.0)).collect();
    let stats = ctx
        .across
        .map(|a| a as &dyn tantivy::query::Bm25StatisticsProvider);
    ctx.index
        .bm25(&ctx.searcher, &terms, 1, stats)
        .first()
        .map_or(0.0, |h| f64::from(h.0))
}

/// Offers BM25 hits (relevance ≤ 0.85) for the query's terms plus `expansions` (the semantic
/// tier's words, each weighted by `semantic.weight` × its similarity). An entry matching only
/// added words is a [`Tier::Semantic`] hit with relevance ≤ [`SEMANTIC_CAP`]. An added word
/// covers its query word's share of the IDF mass times its similarity, for admission and in
/// [`super::Cand::coverage`]; [`super::Cand::own_coverage`] (what confidence is decided by)
/// counts only the query's own words.
pub fn run(ctx: &Ctx, pool: &mut Pool, expansions: &[Expansion]) -> Bm25Outcome {
    let (index, s) = (ctx.index, &ctx.searcher);
    let terms = query_terms(ctx);
    let n = ctx.num_docs() as f64;
    let dfs: Vec<u64> = terms.iter().map(|t| ctx.doc_freq(t)).collect();
    let idf: Vec<f64> = dfs
        .iter()
        .map(|&df| {
            let df = df as f64;
            (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        })
        .collect();
    let any_term_known = dfs.iter().any(|&df| df > 0);
    let outcome = Bm25Outcome {
        terms: terms.clone(),
        any_term_known,
    };
    if !any_term_known && expansions.is_empty() {
        return outcome;
    }
    let k = ctx
        .query
        .k
        .unwrap_or(ctx.config.retrieval.k)
        .min(crate::config::MAX_K);
    let filtered = ctx.query.kind.is_some() || ctx.query.within.is_some();
    let limit = (k * 4).max(40) * if filtered { 5 } else { 1 };
    let weight = ctx.config.semantic.weight;
    let weighted: Vec<(String, f32)> = terms
        .iter()
        .map(|t| (t.clone(), 1.0))
        .chain(
            expansions
                .iter()
                .map(|e| (e.term.clone(), weight * e.similarity)),
        )
        .collect();
    let stats = ctx
        .across
        .map(|a| a as &dyn tantivy::query::Bm25StatisticsProvider);
    let hits = index.bm25(s, &weighted, limit, stats);
    let Some(best) = hits.first().map(|h| f64::from(h.0)) else {
        return outcome;
    };
    // Across layers, relevance is relative to the best score in any layer.
    let best = best.max(ctx.across.map_or(0.0, |a| a.bm25_best));
    let docs: Vec<_> = hits.iter().map(|h| h.1).collect();
    let all_terms: Vec<String> = weighted.into_iter().map(|(t, _)| t).collect();
    let presence = index.presence(s, &docs, &all_terms);
    let total_idf: f64 = idf.iter().sum();
    for ((raw, addr), present) in hits.iter().zip(presence) {
        let (own, added) = present.split_at(terms.len());
        let matched: Vec<&str> = terms
            .iter()
            .zip(own)
            .filter(|(_, p)| **p)
            .map(|(t, _)| t.as_str())
            .collect();
        let via: Vec<&Expansion> = expansions
            .iter()
            .zip(added)
            .filter(|(_, p)| **p)
            .map(|(e, _)| e)
            .collect();
        // Each query term is covered fully by itself, or by its best added word's similarity.
        let cover: Vec<f64> = terms
            .iter()
            .zip(own)
            .map(|(t, &p)| {
                if p {
                    1.0
                } else {
                    via.iter()
                        .filter(|e| e.from == *t)
                        .map(|e| f64::from(e.similarity))
                        .fold(0.0, f64::max)
                }
            })
            .collect();
        let share = |weights: &mut dyn Iterator<Item = f64>| {
            let covered: f64 = idf.iter().zip(weights).map(|(i, c)| i * c).sum();
            if total_idf > 0.0 {
                covered / total_idf
            } else {
                0.0
            }
        };
        // Added words count towards admission only; confidence rests on the query's own words.
        let coverage = share(&mut cover.iter().copied());
        let own_coverage = share(&mut own.iter().map(|&p| f64::from(u8::from(p))));
        let distinct = cover.iter().filter(|&&c| c > 0.0).count();
        // An entry only related words found must cover the share by similarity alone: two
        // loose neighbours of an off-topic question's words do not make a hit.
        if ((terms.len() > 1 && distinct < 2) || matched.is_empty()) && coverage < MIN_COVERAGE {
            continue;
        }
        let Some(meta) = index.stored(s, *addr) else {
            continue;
        };
        let mut relevance = 0.85 * f64::from(*raw) / best;
        if meta.asks {
            relevance *= QUESTION_PENALTY;
        }
        let rel = meta.rel.clone();
        if !matched.is_empty() {
            pool.offer(
                meta.clone(),
                relevance,
                Tier::Bm25,
                format!("bm25:{}", matched.join(" ")),
            );
        }
        if !via.is_empty() {
            let words: Vec<String> = via
                .iter()
                .map(|e| format!("{}→{}", e.from, e.word))
                .collect();
            let why = format!("semantic:{}", words.join(" "));
            if matched.is_empty() {
                pool.offer(meta, relevance.min(SEMANTIC_CAP), Tier::Semantic, why);
            } else if let Some(c) = pool.map.get_mut(&rel) {
                c.matched.push(why);
            }
        }
        if let Some(c) = pool.map.get_mut(&rel) {
            c.coverage = Some(c.coverage.unwrap_or(0.0).max(coverage));
            c.own_coverage = Some(c.own_coverage.unwrap_or(0.0).max(own_coverage));
        }
    }
    outcome
}

/// The fields of `record` that contain any of the analyzed `terms`: title, alias, tag, path,
/// summary, why, body, date.
pub fn matched_fields(index: &SearchIndex, record: &Record, terms: &[String]) -> Vec<&'static str> {
    let wanted: HashSet<&str> = terms.iter().map(String::as_str).collect();
    let hit = |text: &str| {
        index
            .analyze(text)
            .iter()
            .any(|t| wanted.contains(t.as_str()))
    };
    let m = &record.meta;
    let mut out = Vec::new();
    if hit(&record.stored.title) {
        out.push("title");
    }
    if m.aliases.iter().any(|a| hit(a)) {
        out.push("alias");
    }
    if m.tags.iter().any(|a| hit(a)) {
        out.push("tag");
    }
    if hit(&record.stored.id.replace(['/', '-'], " ")) {
        out.push("path");
    }
    if m.summary.as_deref().is_some_and(hit) {
        out.push("summary");
    }
    if m.why.as_deref().is_some_and(hit) {
        out.push("why");
    }
    if hit(&record.plain) {
        out.push("body");
    }
    if hit(&record.date_words()) {
        out.push("date");
    }
    out
}
