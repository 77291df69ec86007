//! The semantic tier: query expansion with static word embeddings, for questions that share
//! no word with their answer ("which datastore is authoritative for purchases?" against "Orders
//! live in PostgreSQL, the system of record").
//!
//! It runs only when the query's own words did not find an entry in tiers 1–3
//! ([`super::words_cover`]), so such queries keep their speed. Each
//! significant query word brings up to `semantic.per_word` of the words *the tree uses* that
//! are nearest to it by cosine, at least `semantic.min_similarity`, and not already query
//! terms ([`crate::semantic`]); BM25 then runs again with them added at `semantic.weight` ×
//! cosine. Searching the tree's own vocabulary, rather than taking the model's global nearest
//! words and keeping those the tree happens to use, is what makes it work on a small tree: on
//! the paraphrase set of `examples/project` the global top 16 above 0.6 found 0 of 15, the
//! tree's words above 0.3 put 11 of 15 in the top 3 (BENCHMARKS.md).
//!
//! This is embedding-based query expansion (Kuzi, Shtok & Kurland, CIKM 2016, "Query
//! expansion using word embeddings"); fusing embedding ranks with BM25 ranks instead lost
//! recall in the measurements of issue 10.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::Ctx;
use crate::index::analyzer::{STOP_WORDS, phrase_words};

/// One word added to the query.
#[derive(Debug, Clone)]
pub struct Expansion {
    /// The analyzed query term it stands for.
    pub from: String,
    /// The added word as the model knows it.
    pub word: String,
    /// Its analyzed index term.
    pub term: String,
    /// Cosine similarity to the query word (0..1).
    pub similarity: f32,
}

/// What the semantic tier did (`semantic` in `query --json`).
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct SemanticReport {
    /// Whether the expanded BM25 query ran.
    pub ran: bool,
    /// Why it ran or did not: `not confident`, `confident`, `the query's own words matched`
    /// (they cover the first hit, but other entries match it almost as well), `disabled`,
    /// `no neighbours in the tree`, or the reason the model could not be loaded.
    pub reason: String,
    /// The model: `builtin:minilm-l6-m2v` or the configured folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The words added, as `query-word→added-word` with the cosine.
    pub expansions: Vec<String>,
}

impl SemanticReport {
    /// A report for a tier that did not run.
    pub fn skipped(reason: &str) -> SemanticReport {
        SemanticReport {
            reason: reason.to_string(),
            ..SemanticReport::default()
        }
    }
}

/// The index term of each of `words` (single lower-case words; empty when a word has none),
/// in one pass of the analyzer when every word yields exactly one term.
fn analyze_words(ctx: &Ctx, words: &[&str]) -> Vec<String> {
    let all = ctx.index.analyze(&words.join(" "));
    if all.len() == words.len() {
        return all;
    }
    words
        .iter()
        .map(|w| ctx.index.analyze(w).into_iter().next().unwrap_or_default())
        .collect()
}

/// For each of `set`'s distinct terms, whether the tree holds it: one merge pass over the term
/// dictionary ([`crate::index::SearchIndex::terms_present`]), kept per process for the last few
/// index states (their segments) and term sets, as it depends on nothing else. A running
/// `memory_query` server then pays it once per change of the index, not once per query: it
/// was about a tenth of an unconfident query's time at 10k entries.
fn in_tree(ctx: &Ctx, set: &crate::semantic::model::TermSet) -> Arc<Vec<bool>> {
    type Key = (usize, Vec<(tantivy::index::SegmentId, u32)>);
    static KEPT: Mutex<Vec<(Key, Arc<Vec<bool>>)>> = Mutex::new(Vec::new());
    // A term set lives as long as its model, which is loaded once per process and kept.
    let key: Key = (
        std::ptr::from_ref(set) as usize,
        ctx.searcher
            .segment_readers()
            .iter()
            .map(|r| (r.segment_id(), r.num_deleted_docs()))
            .collect(),
    );
    if let Some(found) = KEPT
        .lock()
        .ok()
        .and_then(|k| k.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))
    {
        return found;
    }
    let distinct: Vec<&str> = set.distinct.iter().map(AsRef::as_ref).collect();
    let found = Arc::new(ctx.index.terms_present(&ctx.searcher, &distinct));
    if let Ok(mut kept) = KEPT.lock() {
        // Layers searched together each keep theirs; a changed index replaces its oldest.
        if kept.len() >= 8 {
            kept.remove(0);
        }
        kept.push((key, found.clone()));
    }
    found
}

/// The words to add for the query of `ctx`, whose analyzed significant terms are `terms`.
///
/// # Errors
/// The configured model cannot be loaded, or the build has no built-in model; the message
/// says which.
pub fn expansions(ctx: &Ctx, terms: &[String]) -> Result<(Vec<Expansion>, String), String> {
    let cfg = &ctx.config.semantic;
    let model = crate::semantic::model(cfg.model.as_deref(), ctx.tree.project())?;
    let name = cfg
        .model
        .clone()
        .unwrap_or_else(|| crate::semantic::BUILTIN_NAME.to_string());
    let first_term = |w: &str| ctx.index.analyze(w).into_iter().next().unwrap_or_default();
    let mut taken: HashSet<String> = terms.iter().cloned().collect();
    // The model's words the tree uses (by index term), not already query terms.
    let set = model.terms(|words| analyze_words(ctx, words));
    let in_tree = in_tree(ctx, set);
    let present: Vec<u32> = (0..model.target_count())
        .filter(|&i| {
            set.of
                .get(i)
                .is_some_and(|&t| in_tree.get(t as usize) == Some(&true))
                && set.term(i).is_some_and(|t| !taken.contains(t))
        })
        .map(|i| i as u32)
        .collect();
    let mut out = Vec::new();
    let mut seen_words = HashSet::new();
    for word in phrase_words(&ctx.query.text) {
        if word.len() < 3 || STOP_WORDS.contains(&word.as_str()) || !seen_words.insert(word.clone())
        {
            continue;
        }
        let from = first_term(&word);
        let Some(v) = (!from.is_empty()).then(|| model.embed(&word)).flatten() else {
            continue;
        };
        let mut added = 0;
        // Ask for more than needed: several words may share one index term.
        let near = model.nearest_among(
            &v,
            &present,
            crate::config::MAX_PER_WORD,
            cfg.min_similarity,
        );
        for (i, similarity) in near {
            if added == cfg.per_word {
                break;
            }
            let Some(term) = set.term(i as usize) else {
                continue;
            };
            if !taken.insert(term.to_string()) {
                continue;
            }
            added += 1;
            out.push(Expansion {
                from: from.clone(),
                word: model.target(i as usize).to_string(),
                term: term.to_string(),
                similarity,
            });
        }
    }
    Ok((out, name))
}
