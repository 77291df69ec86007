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
//! The weights (`rescore.json`, built into the binary) are a pointwise logistic regression
//! fitted offline by `cargo run --profile eval --example eval -- fit` on data whose licence
//! allows shipping them: never LoCoMo (CC BY-NC), which only evaluates. A spike on LoCoMo
//! (issue 22) measured +4.1 points of held-out turn recall@5 for such a re-scorer;
//! LambdaMART was no better and is opaque.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use super::{Cand, Ctx, Tier};

/// How many of the first candidates are re-scored.
pub const TOP: usize = 50;

/// The features, in the order of a feature vector.
pub const FEATURES: [&str; 27] = [
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
];

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

/// The weights built into the binary.
pub const SHIPPED: &str = include_str!("rescore.json");

/// The model in use: the shipped one, unless [`set_model`] replaced it.
pub fn model() -> Option<Arc<Model>> {
    let slot = slot().lock().ok()?;
    slot.clone()
}

fn slot() -> &'static Mutex<Option<Arc<Model>>> {
    static MODEL: OnceLock<Mutex<Option<Arc<Model>>>> = OnceLock::new();
    MODEL.get_or_init(|| {
        let shipped = serde_json::from_str::<Model>(SHIPPED)
            .ok()
            .filter(|m| m.validate().is_ok())
            .map(Arc::new);
        Mutex::new(shipped)
    })
}

/// Replaces the model for the rest of the process (`None`: no re-scoring). For the evaluation
/// harness, which compares weights fitted on other data; memtree itself never calls it.
pub fn set_model(model: Option<Model>) {
    if let Ok(mut slot) = slot().lock() {
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
/// whose analyzed terms are `terms`.
pub fn features(
    ctx: &Ctx,
    hits: &[(Cand, f64)],
    slots: &[usize],
    terms: &[String],
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
            x
        })
        .collect()
}

/// Which of the first [`TOP`] of `hits` are re-scored: the non-structural ones, by position.
pub fn slots(hits: &[(Cand, f64)]) -> Vec<usize> {
    hits.iter()
        .take(TOP)
        .enumerate()
        .filter(|(_, (c, _))| !is_structural(c))
        .map(|(i, _)| i)
        .collect()
}

/// Re-orders the non-structural candidates among the first [`TOP`] of `hits` by the model's
/// logit (ties keep memtree's order); structural candidates and the rest keep their places.
/// Does nothing without a model, in a build without the built-in static table (the cosine
/// features would all be missing), or with fewer than two such candidates.
pub fn apply(ctx: &Ctx, hits: &mut [(Cand, f64)], terms: &[String]) {
    let Some(model) = model() else {
        return;
    };
    if !cfg!(feature = "semantic") {
        return;
    }
    let slots = slots(hits);
    if slots.len() < 2 {
        return;
    }
    let xs = features(ctx, hits, &slots, terms);
    let mut order: Vec<(usize, f64)> = slots
        .iter()
        .zip(&xs)
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
        let m: Model = serde_json::from_str(SHIPPED).expect("rescore.json parses");
        assert_eq!(m.validate(), Ok(()));
        assert!(
            !m.fitted_on.to_lowercase().contains("locomo"),
            "{}",
            m.fitted_on
        );
    }

    /// The index stores each entry's vectors, and the features see them: a question about
    /// an entry's topic has a higher cosine with it than with an unrelated one, and an entry
    /// with a `follows` neighbour gets the neighbour's share in its blended cosine.
    #[cfg(feature = "semantic")]
    #[test]
    fn features_see_the_vectors_the_index_stores() {
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
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let m = crate::Memory::open_trusting(crate::Tree::at(dir.path()).unwrap(), now).unwrap();
        let rows = m
            .rescorer_rows(&crate::Query {
                text: "what did the cat do to the keyboard and the migration".into(),
                k: Some(10),
                ..crate::Query::default()
            })
            .unwrap();
        let x = |id: &str| rows.iter().find(|(i, _)| i == id).map(|(_, x)| *x).unwrap();
        let (cat, migration) = (x("chat/s1/t1"), x("chat/s1/t3"));
        let cosine = FEATURES.iter().position(|f| *f == "cosine").unwrap();
        let blend = FEATURES.iter().position(|f| *f == "cosine_blend").unwrap();
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
    }

    #[test]
    fn the_question_word_is_the_first_one_named() {
        let w = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(question_word(&w("so when did who go")), Some(2));
        assert_eq!(question_word(&w("tell me about it")), None);
    }
}
