//! Layers as the facade sees them ([`crate::layers`]): opening another layer's tree for a read
//! or a write, qualified ids, `layers list`, and one query over several layers.
//!
//! A query over several layers runs tiers 1–4 (and the re-scorer and the dense tier) in each
//! layer's own index, with BM25 statistics summed over all of them and relevance scaled by the
//! best BM25 score in any layer ([`crate::retrieve::Across`]), so the same text scores the same
//! in every layer. The per-layer lists are then merged by score × the layer's weight (ties go
//! project > shared > user), keeping each layer's own order; a project entry that supersedes
//! another layer's entry (`supersedes: [platform:a/b]`) replaces it in the answer, and links
//! that cross layers (`[[platform:a/b]]`) are followed once from the best hits.

use std::collections::HashSet;
use std::time::Instant;

use serde::Serialize;

use super::{Memory, ms};
use crate::error::{Error, Result};
use crate::index::SearchIndex;
use crate::layers::{self, Access, Layer, Origin, PROJECT, USER};
use crate::retrieve::{self, Across, Cand, Ctx, Escalation, Query, QueryResult, Tier};
use crate::tree::Tree;

/// One layer in a query's answer (`layers` in `query --json`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LayerSearch {
    /// The layer's name.
    pub name: String,
    /// Whether it was searched.
    pub searched: bool,
    /// Its hits in the answer.
    pub hits: usize,
    /// Why it was not searched, or why its index may be behind its files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One row of `layers list` (`memtree.layers/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct LayerRow {
    /// The layer's name.
    pub name: String,
    /// Its `.memory` folder.
    pub path: Option<String>,
    /// `read-write` or `read-only`.
    pub access: &'static str,
    /// The score multiplier.
    pub weight: f64,
    /// `built-in`, `user-config` or `project-config`.
    pub origin: Origin,
    /// The git URL of a git layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<String>,
    /// Entries in its index (`None` when it is unavailable).
    pub entries: Option<u64>,
    /// When its repository's HEAD was committed (RFC 3339), when it is a git repository.
    pub last_commit: Option<String>,
    /// `built-in`, `user config`, `trusted`, `inside the project` or the untrusted reason.
    pub trust: String,
    /// Why it is not searched (`None`: it is).
    pub unavailable: Option<String>,
}

/// `layers list` (`memtree.layers/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct LayersReport {
    /// Always `memtree.layers/v1`.
    pub schema: &'static str,
    /// Every layer: the project, the shared layers by name, the user layer.
    pub layers: Vec<LayerRow>,
}

/// A layer opened for a query.
pub(super) struct Opened {
    /// The layer.
    pub(super) layer: Layer,
    /// Its tree.
    pub(super) tree: Tree,
    /// Its index, refreshed.
    pub(super) index: SearchIndex,
    /// What the refresh found.
    pub(super) sync: crate::index::SyncReport,
}

impl Memory {
    /// The available layers opened for reading, the project first (its index errors are
    /// raised; another layer that cannot be opened is left out).
    ///
    /// # Errors
    /// The project's index cannot be opened.
    pub(super) fn open_layers(&self) -> Result<Vec<Opened>> {
        let (layers, _) = self.searched_layers(&[])?;
        self.open_each(layers, &mut Vec::new())
    }

    /// Opens each of `layers` (its index refreshed as a read-only command does); a layer
    /// other than the project that cannot be opened is reported in `report` and left out.
    ///
    /// # Errors
    /// The project's index cannot be opened.
    fn open_each(&self, layers: Vec<Layer>, report: &mut Vec<LayerSearch>) -> Result<Vec<Opened>> {
        let freshness = self.freshness();
        // Each layer's freshness check and index open on a thread of its own (2 cores: three
        // 10k layers answer in about 1.6x one tree's time instead of 2.1x; BENCHMARKS.md).
        let results: Vec<(Layer, Tree, Result<_>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = layers
                .into_iter()
                .filter_map(|layer| {
                    let mut tree = Tree::new(layer.root.clone()?);
                    tree.max_file_bytes = self.tree.max_file_bytes;
                    Some(scope.spawn(move || {
                        let r = SearchIndex::open_synced(&tree, None, freshness);
                        (layer, tree, r)
                    }))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let mut opened = Vec::new();
        for (layer, tree, result) in results {
            match result {
                Ok((index, sync)) => opened.push(Opened {
                    layer,
                    tree,
                    index,
                    sync,
                }),
                Err(e) if layer.name == PROJECT => return Err(e),
                Err(e) => report.push(LayerSearch {
                    name: layer.name.clone(),
                    searched: false,
                    hits: 0,
                    reason: Some(e.to_string()),
                }),
            }
        }
        Ok(opened)
    }

    /// Every layer of this project, resolved ([`layers::resolve`]): the project first, the
    /// shared layers by name, the user layer last, each with why it cannot be used, if it
    /// cannot.
    pub fn layers(&self) -> Vec<Layer> {
        let untrusted: Vec<String> = self
            .trust
            .ignored
            .iter()
            .filter_map(|s| s.strip_prefix(crate::trust::LAYER_PREFIX))
            .map(str::to_string)
            .collect();
        let mut all = layers::resolve(
            &self.tree,
            &self.config.user_layers,
            &self.config.layers,
            &untrusted,
        );
        if self.alone {
            all.truncate(1);
        }
        all
    }

    fn layer_named(&self, name: &str) -> Result<(Layer, Vec<String>)> {
        let all = self.layers();
        let known: Vec<String> = all.iter().map(|l| l.name.clone()).collect();
        match all.into_iter().find(|l| l.name == name) {
            Some(l) => Ok((l, known)),
            None => Err(Error::UnknownLayer {
                name: name.to_string(),
                reason: None,
                known,
            }),
        }
    }

    /// Opens layer `name` as a tree of its own (its own `memtree.yaml`, trust and git
    /// repository; the same clock and commit setting). `project` is this tree.
    ///
    /// # Errors
    /// [`Error::UnknownLayer`] for a name no configuration declares, or a layer that is not
    /// available (not created, not cloned, untrusted); [`Error::Config`] for its configuration.
    pub fn layer(&self, name: &str) -> Result<Memory> {
        if name == PROJECT {
            return Ok(self.clone());
        }
        let (layer, known) = self.layer_named(name)?;
        let tree = layer.tree(&known)?;
        let mut memory = Memory::open(tree, self.now)?
            .commit_writes(self.commit)
            .allow_secret(self.allow_secret);
        memory.layer = name.to_string();
        Ok(memory)
    }

    /// [`Memory::layer`] for a write: a read-only layer refuses, and the user layer is
    /// created (a git repository of its own) the first time it is written to.
    ///
    /// # Errors
    /// [`Error::ReadOnly`]; as [`Memory::layer`].
    pub fn layer_for_write(&self, name: &str) -> Result<Memory> {
        if name == PROJECT {
            return Ok(self.clone());
        }
        let (layer, _) = self.layer_named(name)?;
        if layer.access == Access::ReadOnly && layer.unavailable.is_none() {
            return Err(Error::ReadOnly {
                layer: name.to_string(),
            });
        }
        if name == USER && layer.unavailable.is_some() {
            Memory::init_user(self.now, self.commit)?;
        }
        self.layer(name)
    }

    /// The layer a possibly qualified id (`platform:a/b`) belongs to, opened, and the id
    /// within it.
    ///
    /// # Errors
    /// As [`Memory::layer`].
    pub fn route(&self, id: &str) -> Result<(Memory, String)> {
        match layers::split(id) {
            (None, bare) => Ok((self.clone(), bare.to_string())),
            (Some(name), bare) => Ok((self.layer(name)?, bare.to_string())),
        }
    }

    /// The tree a one-entry operation works in and the id within it: the layer a qualified id
    /// names (`user:prefs/tools`), else `layer`, else the project; with `write`, as
    /// [`Memory::layer_for_write`]. Returns the layer's name too (for [`InLayer`]).
    ///
    /// # Errors
    /// [`Error::InvalidValue`] when the id and `layer` name different layers; as
    /// [`Memory::layer`] and [`Memory::layer_for_write`].
    pub fn entry_layer(
        &self,
        id: &str,
        layer: Option<&str>,
        write: bool,
    ) -> Result<(Memory, String, String)> {
        let (named, bare) = layers::split(id);
        let name = match (named, layer) {
            (Some(n), Some(l)) if n != l => {
                return Err(Error::InvalidValue {
                    key: "layer".into(),
                    reason: format!("the id names layer `{n}` and the layer given is `{l}`"),
                });
            }
            (Some(n), _) | (None, Some(n)) => n.to_string(),
            (None, None) => PROJECT.to_string(),
        };
        let memory = if write {
            self.layer_for_write(&name)?
        } else {
            self.layer(&name)?
        };
        Ok((memory, bare.to_string(), name))
    }

    /// Creates the user layer, `$XDG_DATA_HOME/memtree/user/.memory`, as a git repository of
    /// its own (`init --user`); an existing one is left as it is.
    ///
    /// # Errors
    /// [`Error::Refused`] when neither `XDG_DATA_HOME` nor `HOME` is set; I/O and git errors.
    pub fn init_user(now: jiff::Timestamp, commit: bool) -> Result<super::InitReport> {
        let root = layers::user_root().ok_or_else(|| {
            Error::Refused(
                "neither XDG_DATA_HOME nor HOME is set: there is no place for the user layer"
                    .into(),
            )
        })?;
        let dir = root.parent().unwrap_or(&root).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create folder", &dir, e))?;
        if git2::Repository::open(&dir).is_err() {
            git2::Repository::init(&dir).map_err(|e| Error::Git(e.message().to_string()))?;
        }
        Memory::init(&dir, now, commit)
    }

    /// `layers list`: every layer with its path, access, entries, last commit and trust.
    pub fn layers_report(&self) -> LayersReport {
        let rows =
            self.layers()
                .into_iter()
                .map(|l| {
                    let entries = l
                        .root
                        .as_ref()
                        .filter(|_| l.unavailable.is_none())
                        .and_then(|root| {
                            let mut tree = Tree::new(root.clone());
                            tree.max_file_bytes = self.tree.max_file_bytes;
                            SearchIndex::open_synced(&tree, None, self.freshness())
                                .ok()
                                .map(|(index, _)| index.searcher().num_docs())
                        });
                    let last_commit = l
                        .root
                        .as_ref()
                        .filter(|_| l.unavailable.is_none())
                        .and_then(|r| git2::Repository::discover(r).ok())
                        .and_then(|repo| {
                            let c = repo.head().ok()?.peel_to_commit().ok()?;
                            let t = jiff::Timestamp::from_second(c.time().seconds()).ok()?;
                            Some(super::timestamp(t))
                        });
                    let trust = match (l.origin, &l.unavailable) {
                        (Origin::BuiltIn, _) => "built-in".to_string(),
                        (Origin::UserConfig, _) => "user config".to_string(),
                        (Origin::ProjectConfig, Some(why))
                            if why == crate::trust::UNTRUSTED_REASON =>
                        {
                            why.clone()
                        }
                        (Origin::ProjectConfig, _) => {
                            if self.trust.needs_trust.iter().any(|s| {
                                s.strip_prefix(crate::trust::LAYER_PREFIX) == Some(&l.name)
                            }) {
                                "trusted".to_string()
                            } else {
                                "inside the project".to_string()
                            }
                        }
                    };
                    LayerRow {
                        path: l.root.as_ref().map(|r| r.display().to_string()),
                        access: l.access.name(),
                        weight: l.weight,
                        origin: l.origin,
                        git: l.git.clone(),
                        entries,
                        last_commit,
                        trust,
                        unavailable: l.unavailable.clone(),
                        name: l.name,
                    }
                })
                .collect();
        LayersReport {
            schema: "memtree.layers/v1",
            layers: rows,
        }
    }

    /// The layers a query searches (`wanted` empty: every available one) and those it leaves
    /// out, with why.
    ///
    /// # Errors
    /// [`Error::UnknownLayer`] for a wanted name that is not declared or not available.
    pub(super) fn searched_layers(
        &self,
        wanted: &[String],
    ) -> Result<(Vec<Layer>, Vec<LayerSearch>)> {
        let all = self.layers();
        let known: Vec<String> = all.iter().map(|l| l.name.clone()).collect();
        for w in wanted {
            match all.iter().find(|l| l.name == *w) {
                None => {
                    return Err(Error::UnknownLayer {
                        name: w.clone(),
                        reason: None,
                        known,
                    });
                }
                Some(l) if l.unavailable.is_some() => {
                    return Err(Error::UnknownLayer {
                        name: w.clone(),
                        reason: l.unavailable.clone(),
                        known,
                    });
                }
                Some(_) => {}
            }
        }
        let mut skipped = Vec::new();
        let mut searched = Vec::new();
        for l in all {
            if !wanted.is_empty() && !wanted.contains(&l.name) {
                continue;
            }
            match &l.unavailable {
                None => searched.push(l),
                Some(why) => {
                    // A user layer not created yet is not worth a line in every answer.
                    if l.name != USER {
                        skipped.push(LayerSearch {
                            name: l.name.clone(),
                            searched: false,
                            hits: 0,
                            reason: Some(why.clone()),
                        });
                    }
                }
            }
        }
        Ok((searched, skipped))
    }

    /// Opens the `layers` and runs tiers 1–4 in each with shared BM25 statistics and the
    /// project's overrides applied, then hands the layers, their contexts and their ranked
    /// lists to `f`. A layer whose index cannot be opened is reported in `report`.
    ///
    /// # Errors
    /// The project's index cannot be opened.
    fn run_across<T>(
        &self,
        query: &Query,
        layers: Vec<Layer>,
        report: &mut Vec<LayerSearch>,
        f: impl FnOnce(&[Opened], &[Ctx], Vec<retrieve::Ranked>) -> T,
    ) -> Result<T> {
        let opened = self.open_each(layers, report)?;
        let searchers: Vec<tantivy::Searcher> = opened.iter().map(|o| o.index.searcher()).collect();
        let now = self.now.as_second();
        let ctx_of = |o, s, across| layer_ctx(o, s, across, &self.config, query, now);
        let probe = Across {
            searchers: searchers.iter().collect(),
            bm25_best: 0.0,
            encodes: Default::default(),
        };
        let best = opened
            .iter()
            .zip(&searchers)
            .map(|(o, s)| retrieve::bm25::best_raw(&ctx_of(o, s, &probe)))
            .fold(0.0, f64::max);
        let across = Across {
            searchers: searchers.iter().collect(),
            bm25_best: best,
            encodes: Default::default(),
        };
        let ctxs: Vec<Ctx> = opened
            .iter()
            .zip(&searchers)
            .map(|(o, s)| ctx_of(o, s, &across))
            .collect();
        // Tiers 1–4 of each layer on a thread of its own.
        let mut runs: Vec<retrieve::Ranked> = std::thread::scope(|scope| {
            let handles: Vec<_> = ctxs
                .iter()
                .map(|ctx| scope.spawn(|| retrieve::run(ctx)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        if !query.all {
            apply_overrides(&opened, &ctxs, &mut runs, &self.config, now);
        }
        Ok(f(&opened, &ctxs, runs))
    }

    /// The context bundle over several layers: each section holds the project's items, then
    /// the shared layers', then the user's, within one budget; ids outside the project are
    /// qualified and every item names its layer.
    ///
    /// # Errors
    /// As [`Memory::context`].
    pub(super) fn context_across(
        &self,
        query: &Query,
        layers: Vec<Layer>,
        budget: usize,
    ) -> Result<crate::retrieve::context::ContextBundle> {
        let mut report = Vec::new();
        self.run_across(query, layers, &mut report, |opened, ctxs, runs| {
            let mut all = crate::retrieve::context::Sections::default();
            for ((o, ctx), ranked) in opened.iter().zip(ctxs).zip(&runs) {
                let mut sections = crate::retrieve::context::sections(ctx, ranked);
                if o.layer.name != PROJECT {
                    // Another layer's core entries the project overrides are left out.
                    let p = opened.iter().position(|x| x.layer.name == PROJECT);
                    if let Some(p) = p {
                        sections.pinned.retain(|it| {
                            overriding(
                                &opened[p].index,
                                &ctxs[p].searcher,
                                &layers::qualify(&o.layer.name, &it.id),
                                None,
                            )
                            .is_none()
                        });
                    }
                }
                let ids: Vec<String> = sections.items_mut().map(|it| it.id.clone()).collect();
                crate::usage::record(
                    &o.tree,
                    ids.iter().map(String::as_str),
                    self.now.as_second(),
                );
                for it in sections.items_mut() {
                    qualify_item(it, &o.layer.name, true);
                }
                all.extend(sections);
            }
            let mut bundle = crate::retrieve::context::assemble(&query.text, all, budget);
            if let Some(o) = opened.iter().find(|o| o.layer.name == PROJECT) {
                bundle.index = retrieve::IndexState::from_sync(&o.sync);
            }
            bundle
        })
    }

    /// One query over several layers (see the module doc). `layers` are available layers,
    /// `skipped` those left out.
    ///
    /// # Errors
    /// The project's index cannot be opened (another layer's failure is reported in
    /// `layers`, not raised).
    pub(super) fn query_across(
        &self,
        query: &Query,
        layers: Vec<Layer>,
        mut report: Vec<LayerSearch>,
        start: Instant,
    ) -> Result<QueryResult> {
        let now = self.now.as_second();
        let mut result =
            self.run_across(query, layers, &mut report, |opened, ctxs, mut runs| {
                let mut merged = merge(opened, &mut runs);
                drop_fallbacks(&mut merged);
                follow_cross_links(opened, ctxs, &mut merged, &self.config, now);
                let confident = merged
                    .first()
                    .is_some_and(|(_, c, _)| c.tier != Tier::Dense)
                    && retrieve::is_confident(merged.iter().map(|(_, c, s)| (c, *s)));
                let (merged, escalation) =
                    self.escalate_across(query, opened, ctxs, &runs, merged, confident);
                self.answer_across(query, opened, ctxs, &runs, &merged, confident, escalation)
            })?;
        report.append(&mut result.layers);
        report.sort_by_key(|l| {
            (
                !l.searched,
                match l.name.as_str() {
                    PROJECT => 0,
                    USER => 2,
                    _ => 1,
                },
                l.name.clone(),
            )
        });
        result.layers = report;
        result.elapsed_ms = ms(start);
        Ok(result)
    }

    /// The answer to a query over several layers from the merged list.
    #[allow(clippy::too_many_arguments)]
    fn answer_across(
        &self,
        query: &Query,
        opened: &[Opened],
        ctxs: &[Ctx],
        runs: &[retrieve::Ranked],
        merged: &[(usize, Cand, f64)],
        confident: bool,
        escalation: Escalation,
    ) -> QueryResult {
        let k = query.k.unwrap_or(self.config.retrieval.k);
        let main = opened
            .iter()
            .position(|o| o.layer.name == PROJECT)
            .unwrap_or(0);
        let covered = merged
            .first()
            .is_some_and(|(_, c, _)| retrieve::words_cover(c));
        let mut hits = Vec::new();
        for (i, c, score) in merged.iter().take(k) {
            let o = &opened[*i];
            let mut hit = retrieve::to_hit(&ctxs[*i], c, *score, &runs[*i].terms);
            hit.id = layers::qualify(&o.layer.name, &c.meta.id);
            if o.layer.name != PROJECT {
                hit.file = o.tree.root.join(&c.meta.rel).display().to_string();
                for m in &mut hit.matched {
                    *m = qualify_reason(m, &o.layer.name);
                }
            }
            hit.layer = Some(o.layer.name.clone());
            hits.push(hit);
        }
        let mut report = Vec::new();
        for (i, o) in opened.iter().enumerate() {
            let ids: Vec<&str> = merged
                .iter()
                .take(k)
                .filter(|(j, _, _)| *j == i)
                .map(|(_, c, _)| c.meta.id.as_str())
                .collect();
            crate::usage::record(&o.tree, ids.iter().copied(), self.now.as_second());
            report.push(LayerSearch {
                name: o.layer.name.clone(),
                searched: true,
                hits: ids.len(),
                reason: o.sync.stale.clone(),
            });
        }
        let (terms, any_term_known) = runs.get(main).map_or((Vec::new(), false), |r| {
            (r.terms.clone(), runs.iter().any(|r| r.any_term_known))
        });
        let mut tiers_run: Vec<&'static str> = Vec::new();
        for r in runs {
            for t in &r.tiers_run {
                if !tiers_run.contains(t) {
                    tiers_run.push(t);
                }
            }
        }
        let (semantic, dense) = runs.get(main).map_or_else(
            || {
                (
                    retrieve::semantic::SemanticReport::skipped("no layer searched"),
                    retrieve::dense::DenseReport::skipped("no layer searched"),
                )
            },
            |r| (r.semantic.clone(), r.dense.clone()),
        );
        let why = super::read::Why {
            terms: &terms,
            any_term_known,
            confident,
            covered,
            tiers_run,
        };
        QueryResult {
            index: opened
                .get(main)
                .map(|o| retrieve::IndexState::from_sync(&o.sync))
                .unwrap_or_default(),
            layers: report,
            ..super::read::answer(query, hits, why, (semantic, dense, escalation))
        }
    }

    /// Tier 5 over several layers: the prompt lists the merged candidates with qualified ids
    /// and every layer's outline; the model's ids are found in their layers, and each phrasing
    /// runs the alias and BM25 tiers in every layer. Otherwise as [`retrieve::llm::escalate`].
    fn escalate_across(
        &self,
        query: &Query,
        opened: &[Opened],
        ctxs: &[Ctx],
        runs: &[retrieve::Ranked],
        merged: Vec<(usize, Cand, f64)>,
        confident: bool,
    ) -> (Vec<(usize, Cand, f64)>, Escalation) {
        use retrieve::llm;
        let call = match self.llm_call(query, confident) {
            Ok(call) => call,
            Err(why) => return (merged, Escalation::skipped(why)),
        };
        let lines: Vec<llm::Line> = merged
            .iter()
            .take(llm::MAX_CANDIDATES)
            .map(|(i, c, _)| llm::Line {
                id: layers::qualify(&opened[*i].layer.name, &c.meta.id),
                title: c.meta.title.clone(),
                about: llm::about(&ctxs[*i], c, &runs[*i].terms),
            })
            .collect();
        let mut outline = String::new();
        for (o, ctx) in opened.iter().zip(ctxs) {
            for line in llm::outline(ctx).lines() {
                let line = line.trim_start_matches("- ");
                outline.push_str(&format!("- {}\n", layers::qualify(&o.layer.name, line)));
            }
        }
        let text = llm::render_prompt(&self.config, &query.text, outline.trim_end(), &lines);
        let (mut report, reply) = llm::ask(call.provider.as_ref(), &text, call.timeout, call.why);
        let Some(reply) = reply else {
            return (merged, report);
        };
        let best = merged.first().map_or(1.0, |(_, _, s)| *s);
        let layer_of = |name: Option<&str>| {
            opened
                .iter()
                .position(|o| o.layer.name == name.unwrap_or(PROJECT))
        };
        let mut seen: HashSet<(usize, String)> = HashSet::new();
        let mut out = Vec::new();
        // 1. The model's ids, in its order; those no layer holds are dropped.
        for (rank, named) in reply.ids.iter().enumerate() {
            let (layer, bare) = layers::split(named.trim());
            let bare = crate::tree::normalize_id(bare);
            let shown = layers::qualify(layer.unwrap_or(PROJECT), &bare);
            let Some(i) = layer_of(layer) else {
                report.dropped.push(shown);
                continue;
            };
            if !seen.insert((i, bare.clone())) {
                continue;
            }
            let why = format!("llm:chosen #{}", rank + 1);
            if let Some((_, c, s)) = merged.iter().find(|(j, c, _)| *j == i && c.meta.id == bare) {
                let mut c = c.clone();
                c.matched.insert(0, why);
                out.push((i, c, *s));
            } else if let Some(m) = opened[i]
                .index
                .by_id(&ctxs[i].searcher, &bare)
                .filter(|m| query.all || m.is_live())
            {
                let c = Cand::found(m, best, Tier::Llm, why);
                out.push((i, c, best));
            } else {
                seen.remove(&(i, bare));
                report.dropped.push(shown);
                continue;
            }
            report.chosen.push(shown);
        }
        // 2. The merged tier 1–4 list.
        for (i, c, s) in merged {
            if seen.insert((i, c.meta.id.clone())) {
                out.push((i, c, s));
            }
        }
        // 3. What the phrasings found in every layer, new entries only.
        for phrasing in &reply.phrasings {
            for (i, ctx) in ctxs.iter().enumerate() {
                for (c, s) in llm::phrasing_hits(ctx, phrasing) {
                    if seen.insert((i, c.meta.id.clone())) {
                        out.push((i, c, s * opened[i].layer.weight));
                    }
                }
            }
        }
        (out, report)
    }
}

/// The tiers' context for one layer of a query over several.
fn layer_ctx<'a>(
    o: &'a Opened,
    searcher: &tantivy::Searcher,
    across: &'a Across<'a>,
    config: &'a crate::config::Config,
    query: &'a Query,
    now: i64,
) -> Ctx<'a> {
    Ctx {
        index: &o.index,
        searcher: searcher.clone(),
        config,
        query,
        now,
        tree: &o.tree,
        across: Some(across),
    }
}

/// The live project entry that overrides the other layer's entry `qualified`
/// (`supersedes: [NAME:id]`), within `query`'s `--kind` and `--in` when given.
pub(super) fn overriding(
    project: &SearchIndex,
    searcher: &tantivy::Searcher,
    qualified: &str,
    query: Option<&Query>,
) -> Option<crate::record::StoredMeta> {
    project
        .lookup(searcher, project.fields.link, qualified)
        .into_iter()
        .filter_map(|addr| project.stored(searcher, addr))
        .find(|m| {
            m.overrides.iter().any(|o| o == qualified)
                && m.is_live()
                && m.superseded_by.is_none()
                && query.is_none_or(|q| retrieve::passes_filters(q, m))
        })
}

/// Marks a bundle item as another layer's: its id qualified in the item and in its heading,
/// and its layer named (`many`: more than one layer was read, so even the project's are named).
pub(super) fn qualify_item(
    item: &mut crate::retrieve::context::BundleItem,
    layer: &str,
    many: bool,
) {
    if many {
        item.layer = Some(layer.to_string());
    }
    if layer == PROJECT {
        return;
    }
    let q = layers::qualify(layer, &item.id);
    item.text = item
        .text
        .replacen(&format!("(`{}`)", item.id), &format!("(`{q}`)"), 1);
    item.tokens = crate::retrieve::context::estimate_tokens(&item.text);
    item.id = q;
}

/// Replaces each hit of another layer that a live project entry supersedes
/// (`supersedes: [NAME:id]`) by that project entry, with `replaces:NAME:id (overridden)` among
/// its reasons, as supersession inside one tree does.
fn apply_overrides(
    opened: &[Opened],
    ctxs: &[Ctx],
    runs: &mut [retrieve::Ranked],
    config: &crate::config::Config,
    now: i64,
) {
    let Some(p) = opened.iter().position(|o| o.layer.name == PROJECT) else {
        return;
    };
    let (pindex, ps) = (&opened[p].index, &ctxs[p].searcher);
    for i in 0..runs.len() {
        if i == p {
            continue;
        }
        let name = opened[i].layer.name.clone();
        let mut kept = Vec::new();
        for (c, score) in std::mem::take(&mut runs[i].hits) {
            let qualified = layers::qualify(&name, &c.meta.id);
            let by = overriding(pindex, ps, &qualified, Some(ctxs[p].query));
            match by {
                None => kept.push((c, score)),
                Some(meta) => {
                    let why = format!("replaces:{qualified} (overridden)");
                    let hits = &mut runs[p].hits;
                    match hits.iter().position(|(h, _)| h.meta.rel == meta.rel) {
                        Some(at) => {
                            let (h, s) = &mut hits[at];
                            let lo = c.relevance.min(h.relevance);
                            h.relevance = (c.relevance.max(h.relevance) + 0.1 * lo).min(1.0);
                            h.tier = h.tier.min(c.tier);
                            h.matched.push(why);
                            *s = h.relevance
                                * retrieve::rank::lifecycle_weight(&h.meta, config, now);
                        }
                        None => {
                            let w = retrieve::rank::lifecycle_weight(&meta, config, now);
                            let cand = Cand {
                                meta,
                                relevance: c.relevance,
                                tier: c.tier,
                                matched: vec![why],
                                coverage: c.coverage,
                                own_coverage: c.own_coverage,
                            };
                            let s = cand.relevance * w;
                            let at = hits
                                .iter()
                                .position(|(_, hs)| *hs < s)
                                .unwrap_or(hits.len());
                            hits.insert(at, (cand, s));
                        }
                    }
                }
            }
        }
        runs[i].hits = kept;
    }
}

/// A reason of another layer's hit with the ids it names qualified: `edge:see-also from a/b/c`
/// found inside `platform` reads `edge:see-also from platform:a/b/c`; reasons that cross layers
/// already name theirs.
fn qualify_reason(reason: &str, layer: &str) -> String {
    let qualify_id = |id: &str| {
        if id.contains(':') {
            id.to_string()
        } else {
            layers::qualify(layer, id)
        }
    };
    if let Some(rest) = reason.strip_prefix("edge:")
        && let Some((kind, id)) = rest
            .split_once(" from ")
            .map(|(k, id)| (format!("{k} from "), id))
            .or_else(|| {
                rest.split_once(" to ")
                    .map(|(k, id)| (format!("{k} to "), id))
            })
    {
        return format!("edge:{kind}{}", qualify_id(id));
    }
    if let Some(rest) = reason.strip_prefix("replaces:")
        && let Some((id, tail)) = rest.split_once(' ')
    {
        return format!("replaces:{} {tail}", qualify_id(id));
    }
    reason.to_string()
}

/// Each layer runs its semantic and dense tiers when its own answer is weak; in the merged
/// answer, what they found is dropped when another layer answered with the query's own words
/// (the semantic tier would not have run over one tree holding them all) or confidently (nor
/// would the dense tier).
fn drop_fallbacks(merged: &mut Vec<(usize, Cand, f64)>) {
    let Some((_, first, _)) = merged.first() else {
        return;
    };
    if first.tier == Tier::Semantic || first.tier == Tier::Dense || !retrieve::words_cover(first) {
        return;
    }
    let confident = retrieve::is_confident(merged.iter().map(|(_, c, s)| (c, *s)));
    merged.retain(|(_, c, _)| c.tier != Tier::Semantic && !(confident && c.tier == Tier::Dense));
}

/// Merges the layers' lists into one, keeping each layer's own order: the next hit is the
/// best head by score × layer weight, ties to project, then shared (by name), then user.
fn merge(opened: &[Opened], runs: &mut [retrieve::Ranked]) -> Vec<(usize, Cand, f64)> {
    let mut lists: Vec<std::collections::VecDeque<(Cand, f64)>> = runs
        .iter_mut()
        .map(|r| std::mem::take(&mut r.hits).into())
        .collect();
    let mut out = Vec::new();
    loop {
        let next = lists
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.front().map(|(_, s)| (i, s * opened[i].layer.weight)))
            .min_by(|a, b| {
                b.1.total_cmp(&a.1).then_with(|| {
                    let key = |i: usize| (opened[i].layer.rank(), &opened[i].layer.name);
                    key(a.0).cmp(&key(b.0))
                })
            });
        let Some((i, weighted)) = next else {
            break;
        };
        if let Some((c, _)) = lists[i].pop_front() {
            out.push((i, c, weighted));
        }
    }
    out
}

/// Follows links and relations that cross layers (`[[platform:a/b]]`, `depends-on:
/// user:c/d`) one hop from the best hits, offering their targets as graph hits (relevance ×
/// edge weight × the graph tier's damping), and the entries of other layers that link to a
/// best hit by its qualified id.
fn follow_cross_links(
    opened: &[Opened],
    ctxs: &[Ctx],
    merged: &mut Vec<(usize, Cand, f64)>,
    config: &crate::config::Config,
    now: i64,
) {
    let by_name = |name: &str| opened.iter().position(|o| o.layer.name == name);
    let mut seen: HashSet<(usize, String)> = merged
        .iter()
        .map(|(i, c, _)| (*i, c.meta.rel.clone()))
        .collect();
    let mut offers: Vec<(usize, crate::record::StoredMeta, f64, String)> = Vec::new();
    for (i, seed, _) in merged.iter().take(retrieve::graph::SEEDS) {
        // Named with its layer even in the project's: the reason is shown on another layer's hit.
        let from = format!("{}:{}", opened[*i].layer.name, seed.meta.id);
        for e in &seed.meta.edges {
            let (Some(layer), bare) = layers::split(&e.to) else {
                if let Some(rest) = e.to.strip_prefix("project:")
                    && let Some(j) = by_name(PROJECT)
                    && let Some(m) = opened[j].index.by_id(&ctxs[j].searcher, rest)
                {
                    let w = retrieve::graph::edge_weight(&e.kind);
                    offers.push((
                        j,
                        m,
                        seed.relevance * w,
                        format!("edge:{} from {from}", e.kind),
                    ));
                }
                continue;
            };
            let Some(j) = by_name(layer) else { continue };
            if let Some(m) = opened[j].index.by_id(&ctxs[j].searcher, bare) {
                let w = retrieve::graph::edge_weight(&e.kind);
                offers.push((
                    j,
                    m,
                    seed.relevance * w,
                    format!("edge:{} from {from}", e.kind),
                ));
            }
        }
        if opened[*i].layer.name == PROJECT {
            continue;
        }
        for (j, o) in opened.iter().enumerate() {
            if j == *i {
                continue;
            }
            let s = &ctxs[j].searcher;
            for addr in o
                .index
                .lookup(s, o.index.fields.link, &from)
                .into_iter()
                .take(retrieve::graph::SEEDS)
            {
                if let Some(m) = o.index.stored(s, addr) {
                    offers.push((
                        j,
                        m,
                        seed.relevance * 0.4 * 0.8,
                        format!("edge:see-also to {from}"),
                    ));
                }
            }
        }
    }
    let project = by_name(PROJECT);
    for (j, meta, relevance, mut why) in offers {
        // A link into another layer leads to the project's override, when there is one.
        let (j, meta) = match project.filter(|&p| p != j && !ctxs[p].query.all) {
            Some(p) => {
                let qualified = layers::qualify(&opened[j].layer.name, &meta.id);
                match overriding(
                    &opened[p].index,
                    &ctxs[p].searcher,
                    &qualified,
                    Some(ctxs[p].query),
                ) {
                    Some(m) => {
                        why = format!("{why}; replaces:{qualified} (overridden)");
                        (p, m)
                    }
                    None => (j, meta),
                }
            }
            None => (j, meta),
        };
        let admitted = meta.is_live()
            && meta.superseded_by.is_none()
            && retrieve::passes_filters(ctxs[j].query, &meta);
        if !admitted || !seen.insert((j, meta.rel.clone())) {
            continue;
        }
        let relevance = relevance * retrieve::graph::HOP_DAMPING;
        let score = relevance
            * retrieve::rank::lifecycle_weight(&meta, config, now)
            * opened[j].layer.weight;
        let cand = Cand::found(meta, relevance, Tier::Graph, why);
        let at = merged
            .iter()
            .position(|(_, _, s)| *s < score)
            .unwrap_or(merged.len());
        merged.insert(at, (j, cand, score));
    }
}

/// A report about an entry of another layer, made to say so: its ids qualified
/// (`user:prefs/tools`) and its file shown by absolute path.
pub trait InLayer {
    /// Qualifies the report's ids with `layer` and shows its files under `root` (the layer's
    /// `.memory` folder). Does nothing for the project.
    fn in_layer(&mut self, layer: &str, root: &std::path::Path);
}

/// `.memory/a/b.md` as the absolute path of the file in the layer whose `.memory` folder is
/// `root`.
fn layer_file(file: &str, root: &std::path::Path) -> String {
    let rel = file
        .strip_prefix(crate::tree::MEMORY_DIR)
        .map_or(file, |r| r.trim_start_matches('/'));
    root.join(rel).display().to_string()
}

macro_rules! in_layer {
    ($t:ty, ids: [$($id:ident),*], files: [$($file:ident),*]) => {
        impl InLayer for $t {
            fn in_layer(&mut self, layer: &str, root: &std::path::Path) {
                if layer == PROJECT {
                    return;
                }
                let _ = root;
                $(self.$id = layers::qualify(layer, &self.$id);)*
                $(self.$file = layer_file(&self.$file, root);)*
            }
        }
    };
}

in_layer!(super::WriteReport, ids: [id], files: [file]);
in_layer!(super::EntryView, ids: [id], files: [file]);
in_layer!(super::HistoryReport, ids: [id], files: [file]);
in_layer!(super::DiffReport, ids: [id], files: []);
in_layer!(super::MoveReport, ids: [from, to], files: [file]);
in_layer!(super::SupersedeReport, ids: [old, new], files: []);

#[cfg(test)]
mod tests {
    use super::qualify_reason;

    #[test]
    fn reasons_of_another_layer_name_its_ids() {
        let q = |r: &str| qualify_reason(r, "platform");
        assert_eq!(
            q("edge:see-also from a/b/c"),
            "edge:see-also from platform:a/b/c"
        );
        assert_eq!(
            q("edge:depends-on to a/b/c"),
            "edge:depends-on to platform:a/b/c"
        );
        assert_eq!(
            q("edge:see-also from user:a/b/c"),
            "edge:see-also from user:a/b/c"
        );
        assert_eq!(
            q("replaces:a/b/c (superseded)"),
            "replaces:platform:a/b/c (superseded)"
        );
        assert_eq!(q("bm25:api error in body"), "bm25:api error in body");
    }
}
