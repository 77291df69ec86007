//! The learned linear re-scorer (issue 22, part 2): after tiers 1–4, the non-structural
//! candidates among the first [`TOP`] are put in the order of one dot product of standardised
//! features; path, alias and scope hits keep their places.
//!
//! The features ([`FEATURES`]) are memtree's own score, rank and tier; how much of the query the
//! entry covers; whether query words are in its title or tags; the sentence cosine of question
//! and entry with the built-in static table, its rank and gap to the best, and the cosine
//! blended with the `follows` neighbours' (+0.5 previous, +0.25 next; vectors computed at index
//! time, [`crate::semantic::vector`]), and the cosine times the entry's log length; the best
//! score in the entry's folder; a tag named in
//! the question; year and month named in the question against the entry's date; the entry's
//! length; whether the entry is itself a question; the question word (times memtree's log
//! rank: a feature equal for every candidate of a query could not change their order).
//!
//! When the dense tier encoded the query ([`super::dense::prepare`]), its hits are candidates
//! too, and a second model ([`SHIPPED_DENSE`]) adds the dense tier's features: the MiniLM
//! cosine, its rank and gap to the best, the cosine blended with the `follows` neighbours', and
//! whether only the dense tier found the entry. Fitted the same way on the same shippable
//! data, it took LoCoMo's held-out turn recall@5 from 0.724 to 0.733 (issue 22; the spike
//! measured +5.5 points for MiniLM features with LoCoMo-fitted weights and every query
//! encoded).
//!
//! The weights (`rescore.json`, built into the binary) are a pointwise logistic regression
//! fitted offline by `cargo run --profile eval --example eval -- fit` on data whose licence
//! allows shipping them: never LoCoMo (CC BY-NC), which only evaluates. A spike on LoCoMo
//! (issue 22) measured +4.1 points of held-out turn recall@5 for such a re-scorer;
//! LambdaMART was no better and is opaque.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use super::dense::Prepared;
use super::{Cand, Ctx, Tier};

/// How many of the first candidates are re-scored.
pub const TOP: usize = 50;

/// The features, in the order of a feature vector. The last [`DENSE`] are the dense tier's
/// (MiniLM) cosines: set only when the tier has encoded the query, 0 otherwise.
pub const FEATURES: [&str; 32] = [
    "score",
    "score_share",
    "log_rank",
    "tier_semantic",
    "tier_graph",
    "coverage",
    "own_coverage",
    "in_title",
    "in_tags",
    "cosine",
    "cosine_log_rank",
    "cosine_gap",
    "cosine_blend",
    "cosine_by_length",
    "folder_best_share",
    "tag_in_question",
    "year_match",
    "month_match",
    "log_words",
    "asks",
    "who_log_rank",
    "what_log_rank",
    "when_log_rank",
    "where_log_rank",
    "why_log_rank",
    "how_log_rank",
    "which_log_rank",
    "dense_cosine",
    "dense_log_rank",
    "dense_gap",
    "dense_blend",
    "tier_dense",
];

/// How many of the last [`FEATURES`] are the dense tier's.
pub const DENSE: usize = 5;

/// Number of features.
pub const N: usize = FEATURES.len();

/// A fitted model: `logit = bias + Σ weight_i × (x_i − mean_i) / std_i`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Model {
    /// Feature names, which must equal [`FEATURES`].
    pub features: Vec<String>,
    /// Mean of each feature over the training rows.
    pub mean: Vec<f64>,
    /// Standard deviation of each feature (1 where it was 0).
    pub std: Vec<f64>,
    /// Weight of each standardised feature.
    pub weights: Vec<f64>,
    /// Intercept.
    pub bias: f64,
    /// What the model was fitted on (data sets, rows, queries, settings).
    pub fitted_on: String,
}

impl Model {
    /// The logit for one feature vector.
    pub fn logit(&self, x: &[f64; N]) -> f64 {
        self.bias
            + x.iter()
                .zip(&self.mean)
                .zip(&self.std)
                .zip(&self.weights)
                .map(|(((x, m), s), w)| w * (x - m) / s)
                .sum::<f64>()
    }

    /// The model with the features a model fitted before them lacks (the dense tier's, at the
    /// end of [`FEATURES`]) added with weight 0: the same logits.
    #[must_use]
    pub fn completed(mut self) -> Model {
        let n = self.features.len();
        if n < N
            && self
                .features
                .iter()
                .map(String::as_str)
                .eq(FEATURES[..n].iter().copied())
        {
            self.features = FEATURES.iter().map(|f| (*f).to_string()).collect();
            self.mean.resize(N, 0.0);
            self.std.resize(N, 1.0);
            self.weights.resize(N, 0.0);
        }
        self
    }

    /// Checks the model fits this build's features.
    ///
    /// # Errors
    /// A sentence naming the mismatch.
    pub fn validate(&self) -> Result<(), String> {
        if self.features.iter().map(String::as_str).ne(FEATURES) {
            return Err(format!(
                "the re-scorer's features {:?} are not this build's {FEATURES:?}",
                self.features
            ));
        }
        if [&self.mean, &self.std, &self.weights]
            .iter()
            .any(|v| v.len() != N)
            || self.std.iter().any(|s| *s <= 0.0 || !s.is_finite())
            || !self.bias.is_finite()
        {
            return Err("the re-scorer's weights are malformed".into());
        }
        Ok(())
    }
}

/// The weights built into the binary, for answers without the dense tier.
pub const SHIPPED: &str = include_str!("rescore.json");

/// The weights built into the binary for answers the dense tier has encoded the query of: the
/// same features and the dense tier's cosines.
pub const SHIPPED_DENSE: &str = include_str!("rescore-dense.json");

/// Which of the two models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Without the dense tier's features ([`SHIPPED`]).
    Static,
    /// With them ([`SHIPPED_DENSE`]).
    Dense,
}

/// The model in use for `variant`: the shipped one, unless [`set_model`] replaced it.
pub fn model(variant: Variant) -> Option<Arc<Model>> {
    let slot = slot(variant).lock().ok()?;
    slot.clone()
}

fn slot(variant: Variant) -> &'static Mutex<Option<Arc<Model>>> {
    static MODELS: [OnceLock<Mutex<Option<Arc<Model>>>>; 2] = [OnceLock::new(), OnceLock::new()];
    let (cell, text) = match variant {
        Variant::Static => (&MODELS[0], SHIPPED),
        Variant::Dense => (&MODELS[1], SHIPPED_DENSE),
    };
    cell.get_or_init(|| Mutex::new(parse(text).ok().map(Arc::new)))
}

/// A model from its JSON, completed ([`Model::completed`]) and validated.
///
/// # Errors
/// A sentence saying what is wrong.
pub fn parse(json: &str) -> Result<Model, String> {
    let m = serde_json::from_str::<Model>(json)
        .map_err(|e| format!("not a re-scorer model: {e}"))?
        .completed();
    m.validate()?;
    Ok(m)
}

/// Replaces the model for `variant` for the rest of the process (`None`: no re-scoring). For
/// the evaluation harness, which compares weights fitted on other data; memtree itself never
/// calls it.
pub fn set_model(variant: Variant, model: Option<Model>) {
    if let Ok(mut slot) = slot(variant).lock() {
        *slot = model.map(Arc::new);
    }
}

/// Whether the candidate keeps its place: structural evidence.
fn is_structural(c: &Cand) -> bool {
    matches!(c.tier, Tier::Path | Tier::Alias | Tier::Scope)
}

/// The question word of `text` (the first of who, what, when, where, why, how, which), as a
/// feature index offset 0..7.
fn question_word(words: &[String]) -> Option<usize> {
    const WORDS: [&str; 7] = ["who", "what", "when", "where", "why", "how", "which"];
    words.iter().find_map(|w| WORDS.iter().position(|q| q == w))
}

/// The feature vectors of the candidates `slots` of `hits` (best first), for the query of `ctx`
/// whose analyzed terms are `terms`; the dense tier's features are set when `dense` holds the
/// query's MiniLM cosines and every candidate memtree found has a vector (0 otherwise).
pub fn features(
    ctx: &Ctx,
    hits: &[(Cand, f64)],
    slots: &[usize],
    terms: &[String],
    dense: Option<&Prepared>,
) -> Vec<[f64; N]> {
    let dense = dense.and_then(|d| dense_features(ctx, d, hits, slots));
    features_with(ctx, hits, slots, terms, dense.as_deref())
}

/// [`features`] with the dense tier's features of each slot given (or none).
fn features_with(
    ctx: &Ctx,
    hits: &[(Cand, f64)],
    slots: &[usize],
    terms: &[String],
    dense_cosines: Option<&[[f64; DENSE]]>,
) -> Vec<[f64; N]> {
    let words: Vec<String> = ctx
        .query
        .text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let qword = question_word(&words);
    let year = words
        .iter()
        .find(|w| w.len() == 4 && w.starts_with(['1', '2']) && w.parse::<u16>().is_ok());
    let month = words.iter().find_map(|w| {
        crate::record::MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(w))
            .map(|i| format!("{:02}", i + 1))
    });
    let qvec = crate::semantic::vector::query_vector(&ctx.query.text);
    let best = slots
        .iter()
        .map(|&i| hits[i].1)
        .fold(f64::MIN_POSITIVE, f64::max);
    let mut folder_best: HashMap<&str, f64> = HashMap::new();
    for &i in slots {
        let (c, s) = &hits[i];
        let f = super::super::index::expand::folder_of(&c.meta.id);
        let e = folder_best.entry(f).or_insert(0.0);
        *e = e.max(*s);
    }
    let cosines: Vec<(f64, f64)> = slots
        .iter()
        .map(|&i| match (&qvec, &hits[i].0.meta.vectors) {
            (Some(q), Some(v)) => {
                let (own, blend) = v.cosines(q);
                (f64::from(own), f64::from(blend))
            }
            _ => (0.0, 0.0),
        })
        .collect();
    let best_cos = cosines.iter().map(|c| c.0).fold(f64::MIN, f64::max);
    let term_set: std::collections::HashSet<&str> = terms.iter().map(String::as_str).collect();
    let has = |text: &str| {
        ctx.index
            .analyze(text)
            .iter()
            .any(|t| term_set.contains(t.as_str()))
    };
    slots
        .iter()
        .enumerate()
        .map(|(rank, &i)| {
            let (c, score) = &hits[i];
            let m = &c.meta;
            let (cos, blend) = cosines[rank];
            let cos_rank = cosines.iter().filter(|o| o.0 > cos).count();
            let mut x = [0.0; N];
            x[0] = *score;
            x[1] = score / best;
            x[2] = (1.0 + rank as f64).ln();
            x[3] = f64::from(u8::from(c.tier == Tier::Semantic));
            x[4] = f64::from(u8::from(c.tier == Tier::Graph));
            x[5] = c.coverage.unwrap_or(0.0);
            x[6] = c.own_coverage.unwrap_or(0.0);
            x[7] = f64::from(u8::from(has(&m.title)));
            x[8] = f64::from(u8::from(!m.tags.is_empty() && has(&m.tags.join(" "))));
            x[9] = cos;
            x[10] = (1.0 + cos_rank as f64).ln();
            x[11] = if m.vectors.is_some() {
                best_cos - cos
            } else {
                0.0
            };
            x[12] = blend;
            // A short entry's vector averages few words, so its cosine runs high with any
            // question near its topic ("Amazing, congratulations!"): let length temper it.
            x[13] = cos * (1.0 + m.words as f64).ln();
            x[14] = folder_best
                .get(super::super::index::expand::folder_of(&m.id))
                .copied()
                .unwrap_or(0.0)
                / best;
            x[15] = f64::from(u8::from(
                m.tags.iter().any(|t| words.contains(&t.to_lowercase())),
            ));
            x[16] = f64::from(u8::from(
                year.zip(m.month.as_deref())
                    .is_some_and(|(y, ym)| ym.starts_with(y.as_str())),
            ));
            x[17] = f64::from(u8::from(
                month
                    .as_deref()
                    .zip(m.month.as_deref())
                    .is_some_and(|(mo, ym)| ym.ends_with(&format!("-{mo}"))),
            ));
            x[18] = (1.0 + m.words as f64).ln();
            x[19] = f64::from(u8::from(m.asks));
            // A question word is the same for every candidate, so alone it cannot order them:
            // it enters as how far memtree's own rank is trusted for that kind of question.
            if let Some(q) = qword {
                x[20 + q] = x[2];
            }
            if let Some(d) = dense_cosines {
                x[N - DENSE..].copy_from_slice(&d[rank]);
            }
            x
        })
        .collect()
}

/// The dense tier's features of the candidates `slots` of `hits`: the MiniLM cosine, the log
/// of its rank among them, its gap to the best, the cosine blended with the `follows`
/// neighbours' as the static one is (+0.5 previous, +0.25 next), and whether only the dense
/// tier found the entry. `None` when a candidate has no vector yet (written since the last
/// `index`): the model was fitted on trees whose every entry had one, and a missing cosine
/// would read as an off-topic entry.
fn dense_features(
    ctx: &Ctx,
    dense: &Prepared,
    hits: &[(Cand, f64)],
    slots: &[usize],
) -> Option<Vec<[f64; DENSE]>> {
    let fields = &ctx.index.fields;
    let previous_of =
        |m: &crate::record::StoredMeta| super::super::index::expand::previous_of(&m.id, &m.edges);
    // The candidates' own cosines, and which candidate follows which: most neighbours of a
    // conversation's turns are candidates too, and an index lookup costs a few microseconds.
    let own: HashMap<&str, Option<f32>> = slots
        .iter()
        .map(|&i| {
            (
                hits[i].0.meta.id.as_str(),
                dense.cosine_of(ctx, &hits[i].0.meta),
            )
        })
        .collect();
    if own.values().any(Option::is_none) {
        return None;
    }
    let mut followed_by: HashMap<String, &str> = HashMap::new();
    for &i in slots {
        if let Some(p) = previous_of(&hits[i].0.meta) {
            followed_by.entry(p).or_insert(&hits[i].0.meta.id);
        }
    }
    let cosines: Vec<(f64, f64)> = slots
        .iter()
        .map(|&i| {
            let m = &hits[i].0.meta;
            let previous = previous_of(m)
                .and_then(|p| match own.get(p.as_str()) {
                    Some(c) => *c,
                    None => dense.cosine(ctx, fields.id, &p),
                })
                .map_or(0.0, f64::from);
            let next = match followed_by.get(&m.id) {
                Some(n) => own[n],
                None => dense.cosine(ctx, fields.follows, &m.id),
            }
            .map_or(0.0, f64::from);
            (
                own[m.id.as_str()].map_or(0.0, f64::from),
                0.5 * previous + 0.25 * next,
            )
        })
        .collect();
    let best = cosines.iter().map(|c| c.0).fold(f64::MIN, f64::max);
    cosines
        .iter()
        .zip(slots)
        .map(|(&(own, neighbours), &i)| {
            let rank = cosines.iter().filter(|o| o.0 > own).count();
            [
                own,
                (1.0 + rank as f64).ln(),
                best - own,
                own + neighbours,
                f64::from(u8::from(hits[i].0.tier == Tier::Dense)),
            ]
        })
        .collect::<Vec<_>>()
        .into()
}

/// Which of `hits` are re-scored, by position: the non-structural ones among the first
/// [`TOP`], and, `with_dense`, the dense tier's hits after them.
pub fn slots(hits: &[(Cand, f64)], with_dense: bool) -> Vec<usize> {
    hits.iter()
        .enumerate()
        .filter(|(i, (c, _))| {
            (*i < TOP && !is_structural(c) && c.tier != Tier::Dense)
                || (with_dense && c.tier == Tier::Dense)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Re-orders the non-structural candidates among the first [`TOP`] of `hits` by the model's
/// logit (ties keep memtree's order); structural candidates and the rest keep their places.
/// With `dense` (the dense tier encoded the query) the model with the dense tier's features
/// orders them. Does nothing without a model, in a build without the built-in static table
/// (the cosine features would all be missing), or with fewer than two such candidates.
pub fn apply(ctx: &Ctx, hits: &mut [(Cand, f64)], terms: &[String], dense: Option<&Prepared>) {
    if !cfg!(feature = "semantic") {
        return;
    }
    // With the dense tier's features when every candidate has a vector.
    if let Some((model, dense)) = dense.and_then(|d| Some((model(Variant::Dense)?, d))) {
        let slots = slots(hits, true);
        if let Some(dx) = dense_features(ctx, dense, hits, &slots) {
            let xs = features_with(ctx, hits, &slots, terms, Some(&dx));
            reorder(hits, &slots, &xs, &model);
            return;
        }
    }
    let Some(model) = model(Variant::Static) else {
        return;
    };
    let slots = slots(hits, false);
    let xs = features_with(ctx, hits, &slots, terms, None);
    reorder(hits, &slots, &xs, &model);
}

/// Puts the candidates `slots` of `hits` in the order of `model`'s logit of their features
/// `xs` (ties keep memtree's order); fewer than two are left as they are.
fn reorder(hits: &mut [(Cand, f64)], slots: &[usize], xs: &[[f64; N]], model: &Model) {
    if slots.len() < 2 {
        return;
    }
    let mut order: Vec<(usize, f64)> = slots
        .iter()
        .zip(xs)
        .map(|(&i, x)| (i, model.logit(x)))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let taken: Vec<(Cand, f64)> = order.iter().map(|(i, _)| hits[*i].clone()).collect();
    for (&slot, cand) in slots.iter().zip(taken) {
        hits[slot] = cand;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_weights_fit_this_builds_features() {
        for (name, json) in [
            ("rescore.json", SHIPPED),
            ("rescore-dense.json", SHIPPED_DENSE),
        ] {
            let m = parse(json).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                !m.fitted_on.to_lowercase().contains("locomo"),
                "{name}: {}",
                m.fitted_on
            );
        }
        // The static model gives the dense tier's features no weight.
        let m = parse(SHIPPED).unwrap();
        assert_eq!(m.weights[N - DENSE..], [0.0; DENSE]);
    }

    /// A chat of three turns (t3 follows t1; t2 follows a turn that does not exist) and, in
    /// another session, a turn that shares no word with [`CHAT_QUESTION`].
    fn chat() -> (tempfile::TempDir, crate::Memory) {
        let dir = tempfile::tempdir().unwrap();
        let memory = dir.path().join(".memory");
        let write = |id: &str, front: &str, body: &str| {
            let path = memory.join(format!("{id}.md"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, format!("---\n{front}---\n\n{body}\n")).unwrap();
        };
        write(
            "chat/s1/t1",
            "title: Maya (D1:1)\n",
            "My cat knocked the coffee over the keyboard again.",
        );
        write(
            "chat/s1/t2",
            "title: Theo (D1:2)\nrelations:\n  - {type: follows, to: chat/s1/t2x}\n",
            "Did the cat survive the coffee?",
        );
        write(
            "chat/s1/t3",
            "title: Theo (D1:3)\nrelations:\n  - {type: follows, to: chat/s1/t1}\n",
            "The database migration finished overnight without errors.",
        );
        write(
            "chat/s2/t1",
            "title: Ines (D2:1)\n",
            "A kitten spilled espresso all over my laptop.",
        );
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let m = crate::Memory::open_trusting(crate::Tree::at(dir.path()).unwrap(), now).unwrap();
        (dir, m)
    }

    const CHAT_QUESTION: &str = "what did the cat do to the keyboard and the migration";

    fn ask(m: &crate::Memory, dense: bool) -> Vec<(String, [f64; N])> {
        m.rescorer_rows(
            &crate::Query {
                text: CHAT_QUESTION.into(),
                k: Some(10),
                ..crate::Query::default()
            },
            dense,
        )
        .unwrap()
    }

    fn at(name: &str) -> usize {
        FEATURES.iter().position(|f| *f == name).unwrap()
    }

    /// The index stores each entry's vectors, and the features see them: a question about
    /// an entry's topic has a higher cosine with it than with an unrelated one, and an entry
    /// with a `follows` neighbour gets the neighbour's share in its blended cosine.
    #[cfg(feature = "semantic")]
    #[test]
    fn features_see_the_vectors_the_index_stores() {
        let (_dir, m) = chat();
        let rows = ask(&m, false);
        let x = |id: &str| rows.iter().find(|(i, _)| i == id).map(|(_, x)| *x).unwrap();
        let (cat, migration) = (x("chat/s1/t1"), x("chat/s1/t3"));
        let (cosine, blend) = (at("cosine"), at("cosine_blend"));
        assert!(
            cat[cosine] > 0.2 && migration[cosine] > 0.2,
            "{cat:?} {migration:?}"
        );
        // t3 follows t1: its blend adds half of the previous turn's cosine.
        assert!(migration[blend] > migration[cosine] + 0.1, "{migration:?}");
        assert!(
            (cat[blend] - cat[cosine]).abs() > 0.0,
            "t1 has t3 as its next turn"
        );
        // Without the dense tier its features are 0.
        for (id, x) in &rows {
            assert_eq!(x[N - DENSE..], [0.0; DENSE], "{id}");
        }
    }

    /// With the real MiniLM weights (`MEMTREE_DENSE_MODEL`, as `.ci/run` sets it): once
    /// `index` has encoded the entries, the dense tier's features are the query's cosines with
    /// each candidate, their ranks and gaps, and the blend with the `follows` neighbours; the
    /// turn that shares no word with the question is a candidate too, found by the dense tier.
    #[cfg(feature = "semantic")]
    #[test]
    fn the_dense_features_are_the_dense_tiers_cosines() {
        if std::env::var_os("MEMTREE_DENSE_MODEL").is_none() {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("SKIPPED: MEMTREE_DENSE_MODEL is not set (see .ci/run)");
            }
            return;
        }
        let (_dir, m) = chat();
        // No entry vectors yet: no dense features.
        assert!(
            ask(&m, true)
                .iter()
                .all(|(_, x)| x[N - DENSE..] == [0.0; DENSE])
        );
        m.index(true).unwrap();
        let plain: Vec<String> = ask(&m, false).into_iter().map(|(id, _)| id).collect();
        let rows = ask(&m, true);
        let x = |id: &str| rows.iter().find(|(i, _)| i == id).map(|(_, x)| *x).unwrap();
        let (cos, rank, gap, blend, tier) = (
            at("dense_cosine"),
            at("dense_log_rank"),
            at("dense_gap"),
            at("dense_blend"),
            at("tier_dense"),
        );
        // memtree's own candidates keep their order; the dense tier's hit comes after them.
        let ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids[..plain.len()],
            plain.iter().map(String::as_str).collect::<Vec<_>>()[..]
        );
        let kitten = x("chat/s2/t1");
        assert!(
            kitten[cos] >= f64::from(crate::retrieve::dense::MIN_COSINE),
            "{kitten:?}"
        );
        assert_eq!(
            kitten[tier],
            f64::from(u8::from(!plain.iter().any(|p| p == "chat/s2/t1")))
        );
        let best = rows.iter().map(|(_, x)| x[cos]).fold(f64::MIN, f64::max);
        for (id, r) in &rows {
            assert!(r[cos] != 0.0 && r[cos].abs() < 1.0, "{id}: {r:?}");
            assert_eq!(r[gap], best - r[cos], "{id}");
            let above = rows.iter().filter(|(_, o)| o[cos] > r[cos]).count();
            assert_eq!(r[rank], (1.0 + above as f64).ln(), "{id}");
        }
        let (t1, t2, t3) = (x("chat/s1/t1"), x("chat/s1/t2"), x("chat/s1/t3"));
        // t3 follows t1: +0.5 of t1's cosine; t1 is followed by t3: +0.25 of t3's; t2 follows
        // a turn that does not exist and is followed by none.
        assert_eq!(t3[blend], t3[cos] + (0.5 * t1[cos] + 0.25 * 0.0));
        assert_eq!(t1[blend], t1[cos] + (0.5 * 0.0 + 0.25 * t3[cos]));
        assert_eq!(t2[blend], t2[cos]);

        // An entry written since `index` has no vector: no candidate gets the dense tier's
        // features (the model with them was fitted on trees whose every entry had one).
        std::fs::write(
            m.tree().project().join(".memory/chat/s1/t4.md"),
            "---\ntitle: Maya (D1:4)\n---\n\nThe cat sat on the keyboard during the migration.\n",
        )
        .unwrap();
        let rows = ask(&m, true);
        assert!(rows.iter().any(|(id, _)| id == "chat/s1/t4"), "{rows:?}");
        for (id, r) in &rows {
            assert_eq!(r[N - DENSE..], [0.0; DENSE], "{id}");
        }
    }

    /// A model fitted before the dense tier's features (27 of them) gets them with weight 0:
    /// its logits do not change, whatever their values. A model with other features is
    /// refused.
    #[test]
    fn a_model_without_the_dense_features_is_completed_not_changed() {
        let mut old: Model = serde_json::from_str(SHIPPED).unwrap();
        old.features.truncate(N - DENSE);
        old.mean.truncate(N - DENSE);
        old.std.truncate(N - DENSE);
        old.weights.truncate(N - DENSE);
        assert!(old.validate().is_err());
        let json = serde_json::to_string(&old).unwrap();
        let m = parse(&json).unwrap();
        let mut x = [0.5; N];
        let base = m.logit(&x);
        x[N - DENSE..].copy_from_slice(&[0.9, 2.0, 0.1, 1.3, 1.0]);
        assert_eq!(m.logit(&x), base);
        let mut other = old.clone();
        other.features[0] = "bm25".into();
        let err = parse(&serde_json::to_string(&other).unwrap()).unwrap_err();
        assert!(err.starts_with("the re-scorer's features"), "{err}");
    }

    #[test]
    fn the_question_word_is_the_first_one_named() {
        let w = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(question_word(&w("so when did who go")), Some(2));
        assert_eq!(question_word(&w("tell me about it")), None);
    }
}
