//! Static word embeddings for the semantic tier: which words the tree uses are near a query
//! word. The tier itself ([`crate::retrieve::semantic`]) adds them, discounted, to the BM25
//! query when tiers 1–3 are not confident.
//!
//! Two sources, both in the Model2Vec folder format ([`model`]):
//! - the built-in model, memtree's own distillation of all-MiniLM-L6-v2 to 128 dimensions at
//!   4 bits (`models/minilm-l6-m2v`, Apache-2.0, made by `scripts/distill_model2vec.py`;
//!   2.2 MB of the binary with cargo feature `semantic`, on by default);
//! - `semantic.model`: a Model2Vec folder of the user's (potion-retrieval-32M, say).
//!
//! Either is loaded on first use and kept for the life of the process (an MCP server loads
//! it once). [`vector`] makes the re-scorer's entry and query sentence vectors with the
//! built-in one; [`dense`] is the transformer encoder (all-MiniLM-L6-v2) of the dense tier.

pub mod dense;
pub mod model;
pub mod pull;
pub mod store;
pub mod vector;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub use model::{StaticModel, TermSet};

/// Whether a vocabulary entry may be offered as an expansion: a whole word (not a `##`
/// continuation) of at least three ASCII lower-case letters that is not a stop word.
pub fn is_target(token: &str) -> bool {
    static STOP: OnceLock<std::collections::HashSet<&'static str>> = OnceLock::new();
    token.len() >= 3
        && token.bytes().all(|b| b.is_ascii_lowercase())
        && !STOP
            .get_or_init(|| crate::index::analyzer::STOP_WORDS.iter().copied().collect())
            .contains(token)
}

/// The index terms of the built-in model's target words (`models/minilm-l6-m2v/terms.txt`
/// and `term-of.bin`, [`model::TermSet::render`]'s form): analysing 21k words and sorting the
/// terms takes about 20 ms, reading them under 1 ms. `tests/semantic.rs` checks the files
/// against the analyzer (and rewrites them with `MEMTREE_BLESS=1`).
#[cfg(feature = "semantic")]
pub const BUILTIN_TERMS: &str = include_str!("../../models/minilm-l6-m2v/terms.txt");
/// See [`BUILTIN_TERMS`].
#[cfg(feature = "semantic")]
pub const BUILTIN_TERM_OF: &[u8] = include_bytes!("../../models/minilm-l6-m2v/term-of.bin");

/// The WordPiece vocabulary of the built-in model (`vocab.txt`: one token per line).
#[cfg(feature = "semantic")]
pub const BUILTIN_VOCAB: &str = include_str!("../../models/minilm-l6-m2v/vocab.txt");
/// `model.safetensors` of the built-in model.
#[cfg(feature = "semantic")]
pub const BUILTIN_WEIGHTS: &[u8] = include_bytes!("../../models/minilm-l6-m2v/model.safetensors");

/// The name the semantic report gives the built-in model.
pub const BUILTIN_NAME: &str = "builtin:minilm-l6-m2v";

/// The model for a configuration: `semantic.model` resolved against `project` when set, else
/// the built-in one. Loaded once per process and path.
///
/// # Errors
/// A model folder that cannot be loaded, or a build without the `semantic` feature and no
/// `semantic.model`; the message says which.
pub fn model(folder: Option<&str>, project: &Path) -> Result<Arc<StaticModel>, String> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<StaticModel>>>> = OnceLock::new();
    let key = folder.map_or_else(PathBuf::new, |m| project.join(m));
    let cache = LOADED.get_or_init(Default::default);
    if let Some(m) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(m);
    }
    let m = Arc::new(match folder {
        Some(_) => StaticModel::load(&key)?,
        None => builtin()?,
    });
    if let Ok(mut c) = cache.lock() {
        c.insert(key, m.clone());
    }
    Ok(m)
}

/// The folder of the dense tier's model for `semantic.dense_model` (`folder`, resolved against
/// `project`): the configured folder, else the one `memtree model pull` fills when it holds
/// weights; `None` when neither.
pub fn dense_folder(folder: Option<&str>, project: &Path) -> Option<PathBuf> {
    match folder {
        Some(f) => Some(project.join(f)),
        None => {
            pull::default_folder(&pull::MINILM).filter(|d| d.join("model.safetensors").is_file())
        }
    }
}

/// The dense tier's model in `folder`, loaded once per process and folder (an MCP server
/// keeps it).
///
/// # Errors
/// What [`dense::DenseModel::load`] reports.
pub fn dense_model(folder: &Path) -> Result<Arc<dense::DenseModel>, String> {
    // One cell per folder, filled by the first thread that asks while the others wait: the
    // layers of one query ask at once, and each load maps the weights and reads the vocabulary.
    type Cell = Arc<OnceLock<Result<Arc<dense::DenseModel>, String>>>;
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Cell>>> = OnceLock::new();
    let cell = match LOADED.get_or_init(Default::default).lock() {
        Ok(mut cells) => cells.entry(folder.to_path_buf()).or_default().clone(),
        Err(_) => return dense::DenseModel::load(folder).map(Arc::new),
    };
    match cell.get_or_init(|| dense::DenseModel::load(folder).map(Arc::new)) {
        Ok(m) => Ok(m.clone()),
        Err(e) => {
            // A failure is not kept: the next query tries again (after `memtree model pull`,
            // an MCP server that is running finds the model).
            if let Ok(mut cells) = LOADED.get_or_init(Default::default).lock()
                && cells.get(folder).is_some_and(|c| Arc::ptr_eq(c, &cell))
            {
                cells.remove(folder);
            }
            Err(e.clone())
        }
    }
}

#[cfg(feature = "semantic")]
fn builtin() -> Result<StaticModel, String> {
    let m = StaticModel::from_vocab_txt(BUILTIN_VOCAB, std::borrow::Cow::Borrowed(BUILTIN_WEIGHTS))
        .map_err(|e| format!("the built-in model: {e}"))?;
    m.set_precomputed_terms(BUILTIN_TERMS, BUILTIN_TERM_OF);
    Ok(m)
}

#[cfg(not(feature = "semantic"))]
fn builtin() -> Result<StaticModel, String> {
    Err(
        "this build leaves the built-in semantic model out (cargo feature `semantic`); \
         set `semantic.model` to a Model2Vec folder"
            .into(),
    )
}
