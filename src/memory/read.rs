//! Read-only operations: `get`, `ls`, `query`, `context`, `stats`, `index`. None of them
//! writes a tracked file; they may refresh the derived index in `.memory/.cache`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Instant;

use super::{EntryView, IndexReport, LsItem, Memory, Stats, ms};
use crate::entry;
use crate::error::{Error, Result};
use crate::index::SearchIndex;
use crate::retrieve::{self, Escalation, IndexState, Query, QueryResult, context::ContextBundle};
use crate::tree;

impl Memory {
    /// Whether an entry has exactly the id `id` (its file `ID.md` or folder note
    /// `ID/README.md`), without resolving a suffix as reads do: what writes decide by.
    pub fn exists(&self, id: &str) -> bool {
        let id = tree::normalize_id(id);
        if tree::validate_prefix(&id).is_err() || id.is_empty() {
            return false;
        }
        [format!("{id}.md"), format!("{id}/{}", tree::FOLDER_NOTE)]
            .iter()
            .any(|rel| {
                self.tree
                    .safe(rel)
                    .is_ok_and(|p| fs::symlink_metadata(p.abs()).is_ok_and(|m| m.is_file()))
            })
    }

    /// Brings the index up to date (or rebuilds it with `full`).
    ///
    /// # Errors
    /// When the cache cannot be written or the lock not had.
    pub fn index(&self, full: bool) -> Result<IndexReport> {
        let start = Instant::now();
        // The lock also completes a write that a crash interrupted.
        let lock = self.lock_for_index()?;
        let (index, mut sync) = if full {
            SearchIndex::rebuild(&self.tree, Some(&lock))?
        } else {
            SearchIndex::open_synced(&self.tree, Some(&lock), self.freshness().full())?
        };
        sync.errors = SearchIndex::invalid_files(&self.tree);
        let leftovers = self.tree.walk()?.leftovers;
        crate::changeset::remove_leftovers(&self.tree, &lock, &leftovers);
        // Encoding is slow and writes only its own cache file: other writers need not wait.
        drop(lock);
        let dense = retrieve::dense::fill(&self.tree, &index, &self.config, None)?;
        Ok(IndexReport {
            schema: "memtree.index/v1",
            sync,
            dense,
            removed_leftovers: leftovers
                .iter()
                .map(|l| self.tree.display_path(l))
                .collect(),
            elapsed_ms: ms(start),
        })
    }

    /// Answers a query with the ranked list of tiers 1–4 (DESIGN.md §3). Never writes a tracked
    /// file; refreshes the derived index first if files changed.
    ///
    /// # Errors
    /// Invalid `--in` or `--kind` values; cache failures.
    pub fn query(&self, query: &Query) -> Result<QueryResult> {
        let start = Instant::now();
        self.validate_query(query)?;
        let (layers, skipped) = self.searched_layers(&query.layers)?;
        if !(layers.len() == 1 && layers[0].name == crate::layers::PROJECT && skipped.is_empty()) {
            return self.query_across(query, layers, skipped, start);
        }
        let (index, sync) = SearchIndex::open_synced(&self.tree, None, self.freshness())?;
        let ctx = self.ctx(&index, query);
        let ranked = retrieve::run(&ctx);
        let k = query.k.unwrap_or(self.config.retrieval.k);
        let confident = ranked.confident();
        let semantic = ranked.semantic.clone();
        let dense = ranked.dense.clone();
        let terms = ranked.terms.clone();
        let (any_term_known, tiers_run) = (ranked.any_term_known, ranked.tiers_run.clone());
        // The query's own words found the first hit, but it does not stand out.
        let covered = ranked
            .hits
            .first()
            .is_some_and(|(c, _)| retrieve::words_cover(c));
        let (merged, escalation) = self.escalate(&ctx, ranked, confident);
        let hits: Vec<_> = merged
            .iter()
            .take(k)
            .map(|(c, score)| retrieve::to_hit(&ctx, c, *score, &terms))
            .collect();
        // Usage signals go to `.cache` only (never to a tracked file).
        crate::usage::record(
            &self.tree,
            hits.iter().map(|h| h.id.as_str()),
            self.now.as_second(),
        );
        let why = Why {
            terms: &terms,
            any_term_known,
            confident,
            covered,
            tiers_run,
        };
        Ok(QueryResult {
            index: IndexState::from_sync(&sync),
            elapsed_ms: ms(start),
            ..answer(query, hits, why, (semantic, dense, escalation))
        })
    }

    /// The re-scorer's training rows for a query: the candidates it would re-order (ids, in
    /// memtree's order before re-scoring) with their feature vectors
    /// ([`retrieve::rescore::FEATURES`]). With `dense`, the dense tier encodes the query even
    /// when the answer is confident, and its features and hits are in the rows when a model and
    /// entry vectors are there (0 and none otherwise): fitted on every query this way, the
    /// model with them did better on LoCoMo's development split than fitted on the queries the
    /// tier runs for only (turn R@5 0.755 against 0.742; issue 22). For the evaluation
    /// harness's `fit`; a query never needs it.
    ///
    /// # Errors
    /// As [`Memory::query`].
    pub fn rescorer_rows(
        &self,
        query: &Query,
        dense: bool,
    ) -> Result<Vec<(String, [f64; retrieve::rescore::N])>> {
        self.validate_query(query)?;
        let (index, _) = SearchIndex::open_synced(&self.tree, None, self.freshness())?;
        let config = if dense {
            self.config.clone()
        } else {
            self.config_without_dense()
        };
        let ctx = retrieve::Ctx {
            config: &config,
            ..self.ctx(&index, query)
        };
        let mut rows = Vec::new();
        retrieve::run_with(&ctx, dense, |ctx, hits, terms, _, prepared| {
            let slots = retrieve::rescore::slots(hits, prepared.is_some());
            let xs = retrieve::rescore::features(ctx, hits, &slots, terms, prepared);
            rows = slots
                .iter()
                .zip(xs)
                .map(|(&i, x)| (hits[i].0.meta.id.clone(), x))
                .collect();
        });
        Ok(rows)
    }

    /// Tier 5, when `query.llm` and the configuration ask for it (see [`retrieve::llm`]).
    fn escalate(
        &self,
        ctx: &retrieve::Ctx,
        ranked: retrieve::Ranked,
        confident: bool,
    ) -> (Vec<(retrieve::Cand, f64)>, Escalation) {
        match self.llm_call(ctx.query, confident) {
            Err(why) => (ranked.hits, Escalation::skipped(why)),
            Ok(call) => {
                retrieve::llm::escalate(ctx, ranked, call.provider.as_ref(), call.timeout, call.why)
            }
        }
    }

    /// Whether tier 5 runs for `query`: the call to make, or why not (no llm configured,
    /// untrusted configuration, `--llm never`, confident, a misconfigured provider), as
    /// `escalation.reason` says it.
    pub(super) fn llm_call(
        &self,
        query: &Query,
        confident: bool,
    ) -> std::result::Result<LlmCall, String> {
        use retrieve::llm::{DEFAULT_TIMEOUT_S, LlmMode};
        let Some(cfg) = &self.config.llm else {
            return Err(if self.trust.ignored.iter().any(|s| s == "llm") {
                crate::trust::UNTRUSTED_REASON.into()
            } else {
                "no llm configured".into()
            });
        };
        let why = match query.llm {
            LlmMode::Never => return Err("--llm never".into()),
            LlmMode::Auto if confident => return Err("confident".into()),
            LlmMode::Auto => "not confident",
            LlmMode::Always => "--llm always",
        };
        let provider =
            crate::llm::from_config(cfg).map_err(|e| format!("the llm is misconfigured: {e}"))?;
        let timeout = std::time::Duration::from_secs(cfg.timeout_s.unwrap_or(DEFAULT_TIMEOUT_S));
        Ok(LlmCall {
            provider,
            timeout,
            why,
        })
    }

    /// Builds the context bundle for a query (`--format context`), within `budget` tokens.
    ///
    /// # Errors
    /// As [`Memory::query`].
    pub fn context(&self, query: &Query, budget: usize) -> Result<ContextBundle> {
        self.validate_query(query)?;
        let (layers, skipped) = self.searched_layers(&query.layers)?;
        if !(layers.len() == 1 && layers[0].name == crate::layers::PROJECT && skipped.is_empty()) {
            return self.context_across(query, layers, budget);
        }
        let (index, sync) = SearchIndex::open_synced(&self.tree, None, self.freshness())?;
        let ctx = self.ctx(&index, query);
        let ranked = retrieve::run(&ctx);
        let mut bundle = retrieve::context::build(&ctx, &ranked, budget);
        bundle.index = IndexState::from_sync(&sync);
        crate::usage::record(
            &self.tree,
            bundle
                .pinned
                .iter()
                .chain(&bundle.relevant)
                .map(|i| i.id.as_str()),
            self.now.as_second(),
        );
        Ok(bundle)
    }

    fn validate_query(&self, query: &Query) -> Result<()> {
        if let Some(k) = query.k
            && !(1..=crate::config::MAX_K).contains(&k)
        {
            return Err(Error::InvalidValue {
                key: "k".into(),
                reason: format!(
                    "the number of hits must be between 1 and {}, found {k}",
                    crate::config::MAX_K
                ),
            });
        }
        if let Some(p) = &query.within {
            tree::validate_prefix(p)?;
        }
        if let Some(k) = &query.kind
            && !entry::KINDS.contains(&k.as_str())
        {
            return Err(Error::InvalidValue {
                key: "kind".into(),
                reason: format!(
                    "unknown kind `{k}`; expected one of {}",
                    entry::KINDS.join(", ")
                ),
            });
        }
        Ok(())
    }

    /// Shows one entry.
    ///
    /// # Errors
    /// [`Error::NotFound`] (with suggestions), or the file's parse error.
    pub fn get(&self, id: &str) -> Result<EntryView> {
        let (id, path) = self.resolve(id)?;
        let (r, hash) = self.read_record(&path)?;
        Ok(entry_view(
            id,
            self.tree.display_path(path.rel()),
            &r,
            hash,
            None,
        ))
    }

    /// Lists entries under `prefix` (all when empty), sorted by id.
    ///
    /// # Errors
    /// An invalid prefix; cache failures.
    pub fn ls(&self, prefix: &str) -> Result<Vec<LsItem>> {
        let prefix = tree::normalize_id(prefix);
        tree::validate_prefix(&prefix)?;
        let (index, _) = SearchIndex::open_synced(&self.tree, None, self.freshness())?;
        Ok(index
            .all()
            .into_iter()
            .filter(|m| {
                prefix.is_empty() || m.id == prefix || m.id.starts_with(&format!("{prefix}/"))
            })
            .map(|m| LsItem {
                id: m.id,
                title: m.title,
                kind: m.kind,
                status: m.status,
                maturity: m.maturity,
            })
            .collect())
    }

    /// Counts entries by kind, status, maturity and domain.
    ///
    /// # Errors
    /// Cache failures.
    pub fn stats(&self) -> Result<Stats> {
        let (index, sync) = SearchIndex::open_synced(&self.tree, None, self.freshness())?;
        let all = index.all();
        let invalid = SearchIndex::invalid_files(&self.tree);
        let mut s = Stats {
            schema: "memtree.stats/v1",
            files: sync.files,
            entries: all.len() as u64,
            unreadable: invalid.len(),
            invalid,
            by_kind: BTreeMap::new(),
            by_status: BTreeMap::new(),
            by_maturity: BTreeMap::new(),
            by_domain: BTreeMap::new(),
            cache_bytes: dir_size(&self.tree.cache_dir()),
        };
        for m in all {
            *s.by_kind
                .entry(m.kind.unwrap_or_else(|| "-".into()))
                .or_default() += 1;
            *s.by_status.entry(m.status).or_default() += 1;
            *s.by_maturity
                .entry(m.maturity.unwrap_or_else(|| "-".into()))
                .or_default() += 1;
            let domain = m.id.split('/').next().unwrap_or("").to_string();
            *s.by_domain.entry(domain).or_default() += 1;
        }
        Ok(s)
    }
}

/// The `get` view of a parsed entry (`at`: the revision, for `get --at`).
pub(super) fn entry_view(
    id: String,
    file: String,
    r: &crate::record::Record,
    hash: u64,
    at: Option<super::AtRevision>,
) -> EntryView {
    let front_matter = match &r.doc.front {
        Some(y) if !y.trim().is_empty() => serde_yaml::from_str::<serde_yaml::Value>(y)
            .ok()
            .and_then(|v| serde_json::to_value(v).ok())
            .unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Object(Default::default()),
    };
    EntryView {
        schema: "memtree.get/v1",
        id,
        file,
        title: r.stored.title.clone(),
        front_matter,
        body: r.doc.body.clone(),
        problems: r.problems.clone(),
        hash: super::hash_hex(hash),
        at,
        withheld: None,
        text: r.doc.join(),
    }
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// A tier 5 call to make ([`Memory::llm_call`]).
pub(super) struct LlmCall {
    /// The provider.
    pub(super) provider: Box<dyn crate::llm::Provider>,
    /// How long it may take.
    pub(super) timeout: std::time::Duration,
    /// Why it runs (`not confident`, `--llm always`).
    pub(super) why: &'static str,
}

/// What an answer's `tiers_run` and `note` come from, on one tree or across layers.
pub(super) struct Why<'a> {
    /// The query's analyzed terms.
    pub(super) terms: &'a [String],
    /// Whether any of them occurs in the tree (in any layer).
    pub(super) any_term_known: bool,
    /// Whether the answer is confident.
    pub(super) confident: bool,
    /// Whether the query's own words found the first hit ([`retrieve::words_cover`]).
    pub(super) covered: bool,
    /// The tiers 1–4, re-scorer and dense tier that ran, in order.
    pub(super) tiers_run: Vec<&'static str>,
}

/// The answer to `query` with `hits` (best first, at most k) and the reports of the semantic
/// tier, the dense tier and tier 5: `tiers_run` gains `llm` when tier 5 ran, and `note` says
/// why a weak answer is weak. The index state, the layers and the time are the caller's to set
/// (default, none and 0 here).
pub(super) fn answer(
    query: &Query,
    hits: Vec<retrieve::Hit>,
    why: Why<'_>,
    (semantic, dense, escalation): (
        retrieve::semantic::SemanticReport,
        retrieve::dense::DenseReport,
        Escalation,
    ),
) -> QueryResult {
    let mut tiers_run = why.tiers_run;
    if escalation.ran {
        tiers_run.push("llm");
    }
    let note = note_for(
        &hits,
        why.terms,
        why.any_term_known,
        why.confident,
        why.covered,
    );
    QueryResult {
        schema: "memtree.query/v1",
        query: query.text.clone(),
        confident: why.confident,
        tiers_run,
        hits,
        semantic,
        dense,
        escalation,
        note,
        index: IndexState::default(),
        layers: Vec::new(),
        elapsed_ms: 0.0,
    }
}

/// The sentence for the user when an answer has no hits or is weak (`note` in `query --json`).
fn note_for(
    hits: &[retrieve::Hit],
    terms: &[String],
    any_term_known: bool,
    confident: bool,
    covered: bool,
) -> Option<String> {
    Some(if hits.is_empty() {
        if terms.is_empty() {
            "the query has no significant words to search for".to_string()
        } else if !any_term_known {
            "nothing in the memory tree matches the significant words of the query".to_string()
        } else {
            "no entry is relevant enough to the query".to_string()
        }
    } else if hits[0].tier == retrieve::Tier::Dense {
        "low confidence: the first hit shares no word with the query; the dense tier found it by \
         meaning"
            .into()
    } else if !confident && covered {
        "low confidence: other entries match the query almost as well as the first".into()
    } else if !confident {
        "low confidence: only weak text matches".to_string()
    } else {
        return None;
    })
}
