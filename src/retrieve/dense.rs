//! The dense tier: a transformer sentence encoder (all-MiniLM-L6-v2, Sentence-BERT: Reimers &
//! Gurevych, EMNLP 2019) for questions that share no word with their answer, which BM25 and
//! the word expansion of [`super::semantic`] cannot find.
//!
//! It runs after tiers 1–4, and only when the answer is not confident. It encodes the query
//! (3–11 ms warm for 6–30 wordpieces on 2 cores; the model is loaded once per process) and takes its cosine
//! with the cached vector of every live entry ([`crate::semantic::store`]; superseded and
//! archived entries are left out unless `--all`) in [`prepare`]. Entries with a cosine of at
//! least [`MIN_COSINE`] (τ) are added after memtree's own hits as tier `dense`, with the cosine
//! in `matched`; an entry memtree found already only gains the reason. The re-scorer then
//! orders memtree's candidates and these together, with the cosines among its features
//! ([`super::rescore`]).
//!
//! The best dense hit is put first only when memtree's own first hit (before re-scoring: the
//! re-scorer reads the cosines, so its first hit is rarely off-topic) is off-topic (its cosine
//! with the query below [`OFF_TOPIC`], κ) and the dense hit's cosine beats it by at least
//! [`MARGIN`] (δ), or when memtree found nothing; and only when it stands out from the
//! second-best dense hit by [`STANDS_OUT`] (γ). Without the off-topic guard, promotion fired
//! on half of the unconfident conversational questions of the spike behind issue 22 and wrecked
//! top-1. A dense hit never makes an answer confident, even one memtree had found by an alias.
//!
//! The tier never encodes an entry: `memtree index` does ([`fill`]), so a query never waits for
//! a 10k-entry encode. An entry without a vector yet is absent from the tier, and the report
//! says how many are missing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Instant;

use serde::Serialize;
use tantivy::DocAddress;

use super::{Cand, Ctx, Tier};
use crate::config::Config;
use crate::index::SearchIndex;
use crate::record::StoredMeta;
use crate::semantic::dense::DenseModel;
use crate::semantic::store::{self, VectorStore};
use crate::tree::Tree;

/// τ: the least cosine (query, entry) for a dense hit.
pub const MIN_COSINE: f32 = 0.25;
/// κ: memtree's own first hit is off-topic when its cosine with the query is below this.
pub const OFF_TOPIC: f32 = 0.2;
/// δ: how much the best dense hit's cosine must beat memtree's first hit's to be put first.
pub const MARGIN: f32 = 0.1;
/// γ: how much the best dense hit's cosine must beat the second-best's to be put first. Not in
/// the spike; on the development sets (`examples/questions`, LoCoMo dev) it removed the one
/// out-of-domain promotion and the one promotion that displaced a right first hit, for one
/// right promotion lost (issue 22 note).
pub const STANDS_OUT: f32 = 0.03;
/// The most dense hits added, whatever `k` asks for: the re-scorer orders them with memtree's
/// candidates (its weights were fitted with this many), and the answer keeps the first `k`.
pub const MAX_HITS: usize = 10;
/// A dense hit's relevance is its cosine times this (at most 0.5, the cap of a hit only the
/// semantic tier's added words found): meaning without shared words is weak evidence.
pub const RELEVANCE_SCALE: f64 = 0.5;

/// What the dense tier did (`dense` in `query --json`).
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct DenseReport {
    /// Whether the query was encoded and compared.
    pub ran: bool,
    /// Why it ran or did not: `not confident`, `confident`, `disabled`, `no model (run
    /// memtree model pull)`, `no entry vectors yet (run memtree index)`, or why the model
    /// could not be loaded.
    pub reason: String,
    /// The model's folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Entries with a vector (compared).
    pub vectors: usize,
    /// Entries without a vector yet (absent from the tier until `memtree index`).
    pub missing: usize,
    /// The id of the dense hit put first, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted: Option<String>,
    /// The best dense hit's id and cosine, when there was one at least τ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best: Option<(String, f32)>,
    /// The second-best dense hit's cosine, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner_up: Option<f32>,
    /// The cosine of memtree's own first hit (before promotion), when it has a vector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_cosine: Option<f32>,
}

impl DenseReport {
    pub(crate) fn skipped(reason: &str) -> DenseReport {
        DenseReport {
            reason: reason.to_string(),
            ..DenseReport::default()
        }
    }
}

/// The model for `config`, or why there is none.
fn model_for(config: &Config, project: &Path) -> Result<(PathBuf, Arc<DenseModel>), String> {
    model_in(config.semantic.dense_model.as_deref(), project)
}

/// The model `semantic.dense_model` names (relative to `project`), or the pulled one.
fn model_in(named: Option<&str>, project: &Path) -> Result<(PathBuf, Arc<DenseModel>), String> {
    let folder = crate::semantic::dense_folder(named, project)
        .ok_or_else(|| "no model (run memtree model pull)".to_string())?;
    let model = crate::semantic::dense_model(&folder)?;
    Ok((folder, model))
}

/// The query's vector by model folder, shared by the layers searched together
/// ([`super::Across::encodes`]): each layer asks for it on a thread of its own, the first one
/// encodes and the others wait for it.
pub type SharedEncodes = Arc<Mutex<HashMap<PathBuf, Arc<OnceLock<Vec<f32>>>>>>;

/// The vector of `text` by `model` (whose folder is `folder`): encoded once per `shared` (one
/// query across layers), or anew without it; on `threads` threads
/// ([`crate::semantic::dense::query_threads`], decided on the query's thread).
fn encode_once(
    shared: Option<&SharedEncodes>,
    folder: &Path,
    model: &DenseModel,
    text: &str,
    threads: usize,
) -> Vec<f32> {
    let cell = shared.and_then(|s| {
        let mut cells = s.lock().ok()?;
        Some(cells.entry(folder.to_path_buf()).or_default().clone())
    });
    match cell {
        Some(cell) => cell
            .get_or_init(|| model.encode_with(text, threads))
            .clone(),
        None => model.encode_with(text, threads),
    }
}

/// What an early encode gives: the model's folder, the model and the query's vector.
type Encoded = Result<(PathBuf, Arc<DenseModel>, Vec<f32>), String>;

/// A query encode started early, while tiers 1–4 run ([`speculate`]).
pub enum Pending {
    /// On the kept `speculator` thread: the result arrives here (nothing when the job panicked).
    Queued(mpsc::Receiver<Encoded>),
    /// On a thread of its own.
    Spawned(std::thread::JoinHandle<Encoded>),
}

impl Pending {
    /// The early encode's result, or `None` when it panicked.
    fn wait(self) -> Option<Encoded> {
        match self {
            Pending::Queued(r) => r.recv().ok(),
            Pending::Spawned(h) => h.join().ok(),
        }
    }
}

/// A job for the [`speculator`] thread.
type Job = Box<dyn FnOnce() + Send>;

/// The thread that runs [`speculate`]'s jobs, one after another, started on first use and kept
/// for the process. A thread spawned per query started only once the query's thread blocked in
/// [`prepare`] (about 0.8 ms after BM25 in `memtree mcp`, pitfalls/performance/
/// a-new-thread-starts-late), and ran the encode on cold caches: an idle "how are releases
/// published" took 8.0–8.1 ms against 5.5–5.6 with this thread. It is not memtree-bert's helper
/// thread: a job waits on [`super::Across::encodes`], which a layer's thread may be filling with
/// that helper. `None` when no thread can be started.
fn speculator() -> Option<&'static Mutex<mpsc::Sender<Job>>> {
    static SPECULATOR: OnceLock<Option<Mutex<mpsc::Sender<Job>>>> = OnceLock::new();
    SPECULATOR
        .get_or_init(|| {
            let (jobs, queue) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("memtree-encode".into())
                .spawn(move || {
                    for job in queue {
                        // A panicking job drops its reply: the query encodes for itself.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .ok()
                .map(|_| Mutex::new(jobs))
        })
        .as_ref()
}

/// Starts loading the model (once per process) and encoding the query early, so that both
/// overlap the semantic and graph tiers instead of following them. The caller starts it only
/// when the tier will run: after BM25, when the query's own words do not cover the first
/// candidate (nothing after that makes an answer confident).
///
/// The encode runs on the kept `speculator` thread while a core is free, and on a thread spawned
/// for it when other processes keep every core busy
/// ([`crate::semantic::dense::cores_busy`]): with two busy processes beside `memtree mcp`, a
/// 30-wordpiece query took 17–18 ms p50 in most runs with a new thread and 25–30 ms in half of
/// them with the kept one (a thread that ran 10 ms bursts seems to wait its turn behind them on
/// the next wake-up, where a new one starts at once).
pub fn speculate(ctx: &Ctx) -> Option<Pending> {
    if !ctx.config.semantic.dense {
        return None;
    }
    let named = ctx.config.semantic.dense_model.clone();
    let project = ctx.tree.project().to_path_buf();
    // Without a model there is nothing to start early, and no thread to start or wake for it:
    // `prepare` says why the tier did not run.
    crate::semantic::dense_folder(named.as_deref(), &project)?;
    let text = ctx.query.text.clone();
    let shared = ctx.across.map(|a| a.encodes.clone());
    // Decided here, on the query's thread: on the encoding thread the query's own thread may
    // or may not be runnable still, and other processes' load cannot be told from it.
    let busy = crate::semantic::dense::cores_busy();
    let threads = if busy { 1 } else { 2 };
    let encode = move || -> Encoded {
        let (folder, model) = model_in(named.as_deref(), &project)?;
        let vector = encode_once(shared.as_ref(), &folder, &model, &text, threads);
        Ok((folder, model, vector))
    };
    if busy {
        return std::thread::Builder::new()
            .name("memtree-encode".into())
            .spawn(encode)
            .ok()
            .map(Pending::Spawned);
    }
    let (reply, pending) = mpsc::channel();
    let job: Job = Box::new(move || {
        let _ = reply.send(encode());
    });
    speculator()?.lock().ok()?.send(job).ok()?;
    Some(Pending::Queued(pending))
}

/// The vector store of `tree` for `model`, read once per process while the file is unchanged
/// (an MCP server reads it once).
fn store_for(tree: &Tree, model: &DenseModel) -> Arc<VectorStore> {
    type Stamp = (PathBuf, u64, Option<std::time::SystemTime>, u64);
    type Loaded = Mutex<Vec<(Stamp, Arc<VectorStore>)>>;
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    let dir = tree.cache_dir();
    let meta = std::fs::metadata(dir.join(store::FILE)).ok();
    let stamp: Stamp = (
        dir.clone(),
        store::fingerprint(model, ENTRY_TOKENS),
        meta.as_ref().and_then(|m| m.modified().ok()),
        meta.as_ref().map_or(0, std::fs::Metadata::len),
    );
    let cache = LOADED.get_or_init(Default::default);
    if let Some(s) = cache
        .lock()
        .ok()
        .and_then(|c| c.iter().find(|(k, _)| *k == stamp).map(|(_, s)| s.clone()))
    {
        return s;
    }
    let s = Arc::new(VectorStore::load(
        &dir,
        store::fingerprint(model, ENTRY_TOKENS),
    ));
    if let Ok(mut c) = cache.lock() {
        c.retain(|(k, _)| k.0 != stamp.0);
        if c.len() >= 8 {
            c.remove(0);
        }
        c.push((stamp, s.clone()));
    }
    s
}

/// The tier made ready for an answer that is not confident: the model's folder, the query's
/// cosine with every entry vector, and the entries with their keys. The re-scorer reads its
/// candidates' cosines here ([`Prepared::cosine`]) before [`run`] appends and promotes.
pub struct Prepared {
    folder: PathBuf,
    keys: Vec<(DocAddress, u64)>,
    cosines: store::Cosines,
}

impl Prepared {
    /// The query's cosine with the entry `meta`, when it has a vector.
    pub fn cosine_of(&self, ctx: &Ctx, meta: &StoredMeta) -> Option<f32> {
        self.cosine(ctx, ctx.index.fields.rel, &meta.rel)
    }

    /// The query's cosine with the entry whose `field` (the index's `rel` or `id` field) is
    /// `value`, when it has a vector.
    pub fn cosine(&self, ctx: &Ctx, field: tantivy::schema::Field, value: &str) -> Option<f32> {
        let addr = *ctx.index.lookup(&ctx.searcher, field, value).first()?;
        self.cosines
            .get(ctx.index.dense_key_at(&ctx.searcher, addr)?)
    }
}

/// Loads the model (or takes the one [`speculate`] loaded), encodes the query and takes its
/// cosine with every cached entry vector. Call it only for an answer that is not confident.
///
/// # Errors
/// The tier's report saying why it does not run: disabled, no model, a model that does not
/// load, or no entry vectors yet.
pub fn prepare(ctx: &Ctx, pending: Option<Pending>) -> Result<Prepared, Box<DenseReport>> {
    if !ctx.config.semantic.dense {
        return Err(Box::new(DenseReport::skipped("disabled")));
    }
    let early = pending.and_then(Pending::wait);
    let (folder, model, vector) = match early {
        Some(Ok((folder, model, v))) => (folder, model, Some(v)),
        Some(Err(e)) => return Err(Box::new(DenseReport::skipped(&e))),
        None => model_for(ctx.config, ctx.tree.project())
            .map(|(folder, model)| (folder, model, None))
            .map_err(|e| Box::new(DenseReport::skipped(&e)))?,
    };
    let store = store_for(ctx.tree, &model);
    let keys = ctx.index.dense_keys(&ctx.searcher);
    if store.is_empty() {
        return Err(Box::new(DenseReport {
            model: Some(folder.display().to_string()),
            missing: keys.len(),
            reason: "no entry vectors yet (run memtree index)".into(),
            ..DenseReport::default()
        }));
    }
    let vector = vector.unwrap_or_else(|| {
        encode_once(
            ctx.across.map(|a| &a.encodes),
            &folder,
            &model,
            &ctx.query.text,
            crate::semantic::dense::query_threads(),
        )
    });
    let cosines = store.all_cosines(&store::Query::new(&vector));
    Ok(Prepared {
        folder,
        keys,
        cosines,
    })
}

/// Runs the tier on the final list `hits` (best first) of an answer that is not confident,
/// with what [`prepare`] made ready (or the report of why it could not); see the module doc.
/// `between` runs after the dense hits are appended and before the best one may be promoted,
/// with the prepared cosines when there are some: the re-scorer, which orders memtree's and
/// the dense tier's candidates together.
pub fn run(
    ctx: &Ctx,
    hits: &mut Vec<(Cand, f64)>,
    prepared: Result<Prepared, Box<DenseReport>>,
    between: impl FnOnce(&mut Vec<(Cand, f64)>, Option<&Prepared>),
) -> DenseReport {
    let prepared = match prepared {
        Ok(p) => p,
        Err(report) => {
            between(hits, None);
            return *report;
        }
    };
    let (keys, cosines) = (&prepared.keys, &prepared.cosines);
    let mut report = DenseReport {
        model: Some(prepared.folder.display().to_string()),
        ran: true,
        reason: "not confident".into(),
        ..DenseReport::default()
    };
    let mut scored: Vec<(f32, DocAddress)> = Vec::new();
    for &(addr, key) in keys {
        match cosines.get(key) {
            Some(c) => {
                report.vectors += 1;
                if c >= MIN_COSINE {
                    scored.push((c, addr));
                }
            }
            None => report.missing += 1,
        }
    }
    let found = best_admitted(ctx, &mut scored, MAX_HITS);
    report.best = found.first().map(|(c, m)| (m.id.clone(), round2(*c)));
    report.runner_up = found.get(1).map(|(c, _)| round2(*c));
    // memtree's own first hit (before re-scoring), and how close it is to the query.
    let first_cosine = hits
        .first()
        .and_then(|(c, _)| prepared.cosine_of(ctx, &c.meta));
    let appended_from = hits.len();
    for (c, meta) in &found {
        let why = format!("dense:{c:.2}");
        match hits.iter_mut().find(|(h, _)| h.meta.rel == meta.rel) {
            Some((h, _)) => h.matched.push(why),
            None => {
                let relevance = f64::from(*c) * RELEVANCE_SCALE;
                let score = relevance * super::rank::lifecycle_weight(meta, ctx.config, ctx.now);
                hits.push((
                    Cand {
                        meta: meta.clone(),
                        relevance,
                        tier: Tier::Dense,
                        matched: vec![why],
                        coverage: None,
                        own_coverage: None,
                    },
                    score,
                ));
            }
        }
    }
    report.first_cosine = first_cosine.map(round2);
    between(hits, Some(&prepared));
    // Guarded promotion of the best dense hit.
    if let Some((best, meta)) = found.first() {
        let guard = Guard {
            best: *best,
            runner_up: found.get(1).map(|(c, _)| *c),
            first: (appended_from > 0).then(|| {
                (
                    hits.first().is_some_and(|(c, _)| super::is_structural(c)),
                    first_cosine,
                )
            }),
        };
        if guard.promotes()
            && let Some(at) = hits.iter().position(|(h, _)| h.meta.rel == meta.rel)
        {
            // memtree's own first hit being this entry is no promotion.
            if at > 0 || appended_from == 0 {
                let h = hits.remove(at);
                hits.insert(0, h);
                report.promoted = Some(meta.id.clone());
            }
        }
    }
    report
}

/// The first `want` entries of `scored` (cosine, document) in order of cosine (ties by
/// document) that the query admits, with their stored fields.
fn best_admitted(
    ctx: &Ctx,
    scored: &mut [(f32, DocAddress)],
    want: usize,
) -> Vec<(f32, StoredMeta)> {
    let order =
        |a: &(f32, DocAddress), b: &(f32, DocAddress)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    // Loading a document costs tens of microseconds: only the ones read are loaded.
    first_accepted(scored, want, order, |(c, addr)| {
        let meta = ctx.index.stored(&ctx.searcher, addr)?;
        super::admitted(ctx, &meta).then_some((c, meta))
    })
}

/// The first `want` values `accept` gives for the items of `items` taken in `order` (a total
/// order), as sorting them all and reading from the front would give. Sorts only as far as it
/// reads: the best `4 × want` at a time (sorting all 10k cosines of a query took 0.5 ms).
fn first_accepted<T: Copy, U>(
    items: &mut [T],
    want: usize,
    order: impl Fn(&T, &T) -> std::cmp::Ordering + Copy,
    mut accept: impl FnMut(T) -> Option<U>,
) -> Vec<U> {
    let mut found = Vec::new();
    let mut rest = items;
    while found.len() < want && !rest.is_empty() {
        let take = (4 * want).clamp(1, rest.len());
        if take < rest.len() {
            rest.select_nth_unstable_by(take - 1, order);
        }
        let (chunk, tail) = rest.split_at_mut(take);
        chunk.sort_by(order);
        for &item in chunk.iter() {
            if found.len() >= want {
                break;
            }
            if let Some(v) = accept(item) {
                found.push(v);
            }
        }
        rest = tail;
    }
    found
}

/// The text [`fill`] encodes for the document at `addr`: read from its file now.
fn entry_text(
    tree: &Tree,
    index: &SearchIndex,
    searcher: &tantivy::Searcher,
    addr: DocAddress,
) -> Option<String> {
    let m = index.stored(searcher, addr)?;
    let display = tree.display_path(&m.rel);
    let bytes = tree
        .read_entry(&crate::tree::SafePath::from_walk(tree, &m.rel))
        .ok()?;
    let r =
        crate::record::Record::parse_limited(&m.rel, &bytes, &display, tree.max_file_bytes).ok()?;
    let s = &r.stored;
    Some(store::encoded_text(
        &s.title,
        s.summary.as_deref(),
        &r.plain,
    ))
}

/// What decides whether the best dense hit is put first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Guard {
    /// The best dense hit's cosine (at least τ).
    best: f32,
    /// The second-best dense hit's cosine.
    runner_up: Option<f32>,
    /// memtree's own first hit, when it had one: whether it is structural, and its cosine
    /// (`None` when it has no vector yet).
    first: Option<(bool, Option<f32>)>,
}

impl Guard {
    /// Promote when memtree found nothing, or when its first hit is not structural, is
    /// off-topic (cosine < κ) and the dense hit beats it by δ; and in either case when the
    /// dense hit stands out from the second-best by γ.
    fn promotes(self) -> bool {
        let stands_out = self.runner_up.is_none_or(|r| self.best - r >= STANDS_OUT);
        let beats_first = match self.first {
            None => true,
            Some((true, _)) | Some((false, None)) => false,
            Some((false, Some(f))) => f < OFF_TOPIC && self.best >= f + MARGIN,
        };
        self.best >= MIN_COSINE && stands_out && beats_first
    }
}

fn round2(x: f32) -> f32 {
    (x * 1000.0).round() / 1000.0
}

/// What `memtree index` did for the dense tier (`dense` in `index --json`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct DenseFill {
    /// The model's folder; `None` when there is no model (then nothing else is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why nothing was encoded, when nothing could be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Entries encoded by this run.
    pub encoded: usize,
    /// Entries whose vector was cached already.
    pub cached: usize,
    /// Vectors dropped because no entry has their text any more.
    pub pruned: usize,
    /// Entries that could not be read to encode (changed or removed since indexing).
    pub unreadable: usize,
    /// Entries left without a vector because the time budget ran out.
    pub left: usize,
    /// Milliseconds spent encoding and writing the cache.
    pub elapsed_ms: f64,
}

/// The most tokens of an entry that are encoded (`[CLS]` and `[SEP]` included): the title, the
/// summary and the start of the body. On memtree's own tree (93 entries, 34 paraphrase
/// questions) 32, 64 and 128 tokens put the same 6 answers first, and 256 put 5; encoding time
/// grows with the tokens (6.5 s for the tree at 64, 12.8 s at 128).
pub const ENTRY_TOKENS: usize = 64;

/// How many encodes between two saves of the cache, so an interrupted `index` keeps its work.
const SAVE_EVERY: usize = 256;

/// Encodes every entry of `index` that has no cached vector yet, on every core (with a
/// progress bar from 20 entries: about 20–70 ms each on one core of this machine), drops the vectors no entry needs, and
/// saves the store. With `budget`, stops encoding once that much time has passed (the rest is
/// left for the next run: what the session hook does). Without a model it does nothing and
/// says why.
///
/// # Errors
/// The cache folder cannot be written.
pub fn fill(
    tree: &Tree,
    index: &SearchIndex,
    config: &Config,
    budget: Option<std::time::Duration>,
) -> crate::error::Result<DenseFill> {
    let start = Instant::now();
    if !config.semantic.dense {
        return Ok(DenseFill {
            skipped: Some("disabled".into()),
            ..DenseFill::default()
        });
    }
    let (folder, model) = match model_for(config, tree.project()) {
        Ok(m) => m,
        Err(e) => {
            return Ok(DenseFill {
                skipped: Some(e),
                ..DenseFill::default()
            });
        }
    };
    let mut out = DenseFill {
        model: Some(folder.display().to_string()),
        ..DenseFill::default()
    };
    let dir = tree.cache_dir();
    let mut vectors = VectorStore::load(&dir, store::fingerprint(&model, ENTRY_TOKENS));
    let searcher = index.searcher();
    let keys = index.dense_keys(&searcher);
    let mut wanted: HashMap<u64, DocAddress> = HashMap::new();
    for &(addr, key) in &keys {
        wanted.entry(key).or_insert(addr);
    }
    let mut todo: Vec<(u64, DocAddress)> = Vec::new();
    for (&key, &addr) in &wanted {
        if vectors.contains(key) {
            out.cached += 1;
        } else {
            todo.push((key, addr));
        }
    }
    todo.sort_by_key(|&(_, addr)| addr);
    let before = vectors.len();
    vectors.retain(|k| wanted.contains_key(&k));
    out.pruned = before - vectors.len();
    // Reading is fast and serial; encoding runs on every core.
    let mut jobs: Vec<(u64, String)> = Vec::with_capacity(todo.len());
    for (key, addr) in todo {
        // A file changed since it was indexed is left for the next `index`, which re-indexes
        // it under its new key.
        match entry_text(tree, index, &searcher, addr).filter(|t| store::text_key(t) == key) {
            Some(t) => jobs.push((key, t)),
            None => out.unreadable += 1,
        }
    }
    let progress =
        crate::progress::begin_at("encoding entries for the dense tier", jobs.len() as u64, 20);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let workers = cores.min(jobs.len().max(1));
    // Each encode may split its products over the cores the workers leave free.
    let threads = cores / workers;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut failed = None;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<(u64, Vec<f32>)>();
        for _ in 0..workers {
            let tx = tx.clone();
            let (jobs, next, model) = (&jobs, &next, &model);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= jobs.len() || budget.is_some_and(|b| start.elapsed() >= b) {
                        break;
                    }
                    let v = model.encode_at_most(&jobs[i].1, ENTRY_TOKENS, threads);
                    if tx.send((jobs[i].0, v)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (key, v) in rx {
            vectors.insert(key, &v);
            out.encoded += 1;
            progress.advance(1);
            if out.encoded.is_multiple_of(SAVE_EVERY)
                && let Err(e) = vectors.save(&dir)
            {
                failed = Some(e);
                break;
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    out.left = jobs.len() - out.encoded;
    if out.encoded > 0 || out.pruned > 0 {
        vectors.save(&dir)?;
    }
    out.elapsed_ms = crate::memory::ms(start);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layers of one query ask for its vector on threads of their own at once: one forward
    /// pass serves them all and gives what `encode` gives; without the shared cells (one layer)
    /// each call encodes.
    #[test]
    fn the_layers_of_one_query_share_one_encode() {
        let Some(dir) = std::env::var_os("MEMTREE_DENSE_MODEL").map(PathBuf::from) else {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("SKIPPED: MEMTREE_DENSE_MODEL is not set (see .ci/run)");
            }
            return;
        };
        let model = DenseModel::load(&dir).expect("the model loads");
        let text = "which datastore is authoritative for purchases?";
        let shared = SharedEncodes::default();
        let vectors: Vec<Vec<f32>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..3)
                .map(|_| s.spawn(|| encode_once(Some(&shared), &dir, &model, text, 1)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(model.passes(), 1);
        let direct = encode_once(None, &dir, &model, text, 1);
        assert_eq!(model.passes(), 2);
        assert!(vectors.iter().all(|v| *v == direct));
        encode_once(None, &dir, &model, text, 1);
        assert_eq!(model.passes(), 3);
    }

    #[test]
    fn the_chunked_selection_reads_as_a_full_sort_would() {
        // Cosines with ties, most items refused: later chunks must be read, in order.
        let items: Vec<(f32, u32)> = (0..1_000u32)
            .map(|i| (((i * 37) % 101) as f32 / 100.0, i))
            .collect();
        let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        for (want, keep) in [(10, 1), (10, 7), (10, 97), (3, 500), (0, 1)] {
            let accept = |(c, i): (f32, u32)| (i % keep == 0).then_some((c, i));
            let mut sorted = items.clone();
            sorted.sort_by(order);
            let expected: Vec<_> = sorted.into_iter().filter_map(accept).take(want).collect();
            let mut shuffled = items.clone();
            shuffled.reverse();
            let got = first_accepted(&mut shuffled, want, order, accept);
            assert_eq!(got, expected, "want {want}, every {keep}th");
        }
    }

    #[test]
    fn promotion_needs_an_off_topic_first_hit_and_a_dense_hit_that_stands_out() {
        let g = |best, runner_up, first| Guard {
            best,
            runner_up,
            first,
        };
        // memtree found nothing: the best dense hit goes first when it stands out.
        assert!(g(0.30, None, None).promotes());
        assert!(g(0.30, Some(0.26), None).promotes());
        assert!(
            !g(0.30, Some(0.28), None).promotes(),
            "second-best too close"
        );
        assert!(!g(0.24, None, None).promotes(), "below τ");
        // memtree's first hit is off-topic and beaten by δ.
        assert!(g(0.40, Some(0.30), Some((false, Some(0.15)))).promotes());
        assert!(
            !g(0.40, Some(0.30), Some((false, Some(0.20)))).promotes(),
            "κ"
        );
        assert!(
            !g(0.28, Some(0.20), Some((false, Some(0.19)))).promotes(),
            "δ"
        );
        // A structural first hit, or one without a vector, is never displaced.
        assert!(!g(0.90, None, Some((true, Some(0.0)))).promotes());
        assert!(!g(0.90, None, Some((false, None))).promotes());
    }
}
