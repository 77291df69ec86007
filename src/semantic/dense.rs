//! A transformer sentence encoder for the dense tier (issue 22, part 3): all-MiniLM-L6-v2
//! (Sentence-BERT, Reimers & Gurevych 2019; Apache-2.0) run by a lean forward pass over its
//! memory-mapped `model.safetensors`, with no tensor library.
//!
//! The model is a 6-layer BERT (hidden size 384, 12 heads, intermediate 1536, post-layer-norm,
//! GELU), and a sentence vector is the mean of the last layer over all tokens, scaled to unit
//! length — what sentence-transformers computes for this model. Loading maps the file through
//! tantivy's `MmapDirectory` (a safe interface over memmap2; the crate forbids `unsafe`), checks
//! every tensor's type, shape and place, and reads `vocab.txt`; the forward pass reads the
//! weights in place, as little-endian bytes. Measured against candle-transformers 0.11's
//! `BertModel` on the same weights (BENCHMARKS.md).
//!
//! Text is tokenized as BERT's uncased tokenizer does: lower-cased, accents stripped (NFD,
//! combining marks dropped), split at white space and punctuation, then WordPiece (greedy
//! longest match, `##` continuations, `[UNK]` for a word that cannot be split), between `[CLS]`
//! and `[SEP]`, at most [`MAX_TOKENS`] tokens.
//!
//! Used by the dense tier ([`crate::retrieve::dense`]); entry vectors are computed by `memtree
//! index` and kept by content hash in [`super::store`]; `memtree model pull` ([`super::pull`])
//! fetches the weights.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

/// The most tokens of a text that are encoded (the model's `max_seq_length`).
pub const MAX_TOKENS: usize = 256;

/// The largest weights file read (the model's is 91 MB).
pub const MAX_WEIGHTS_BYTES: u64 = 512 << 20;

/// The hidden size (and vector dimensions) of the supported model.
pub const DIMS: usize = memtree_bert::DIMS;
use memtree_bert::{INTERMEDIATE, LAYERS, POSITIONS};

/// A loaded encoder.
pub struct DenseModel {
    /// The weights, shared with memtree-bert's helper thread during an encode.
    weights: Arc<Tensors>,
    vocab: HashMap<String, u32>,
    special: Special,
    fingerprint: u64,
    /// Forward passes run (for the tests).
    #[cfg(test)]
    passes: std::sync::atomic::AtomicUsize,
}

struct Special {
    cls: u32,
    sep: u32,
    unk: u32,
}

/// The tensors of a mapped `model.safetensors`.
struct Tensors {
    /// The whole file, memory-mapped through tantivy's `MmapDirectory` (a safe interface; the
    /// crate forbids `unsafe`), read in place.
    bytes: tantivy::directory::OwnedBytes,
    /// Where each tensor's little-endian `f32` values are in `bytes`.
    at: HashMap<String, std::ops::Range<usize>>,
}

impl memtree_bert::Weights for Tensors {
    /// # Panics
    /// For a name that is not in [`expected`] (checked on load).
    fn tensor(&self, name: &str) -> &[u8] {
        &self.bytes.as_slice()[self.at[name].clone()]
    }
}

impl std::fmt::Debug for DenseModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DenseModel")
            .field("tensors", &self.weights.at.len())
            .field("vocab", &self.vocab.len())
            .finish()
    }
}

/// Every tensor the forward pass reads, with its shape.
fn expected() -> Vec<(String, Vec<usize>)> {
    let mut v = vec![
        (
            "embeddings.word_embeddings.weight".to_string(),
            vec![0, DIMS],
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![POSITIONS, DIMS],
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![2, DIMS],
        ),
        ("embeddings.LayerNorm.weight".into(), vec![DIMS]),
        ("embeddings.LayerNorm.bias".into(), vec![DIMS]),
    ];
    for l in 0..LAYERS {
        let p = |s: &str| format!("encoder.layer.{l}.{s}");
        for m in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
        ] {
            v.push((p(&format!("{m}.weight")), vec![DIMS, DIMS]));
            v.push((p(&format!("{m}.bias")), vec![DIMS]));
        }
        v.push((p("attention.output.dense.weight"), vec![DIMS, DIMS]));
        v.push((p("attention.output.dense.bias"), vec![DIMS]));
        v.push((p("intermediate.dense.weight"), vec![INTERMEDIATE, DIMS]));
        v.push((p("intermediate.dense.bias"), vec![INTERMEDIATE]));
        v.push((p("output.dense.weight"), vec![DIMS, INTERMEDIATE]));
        v.push((p("output.dense.bias"), vec![DIMS]));
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            v.push((p(&format!("{n}.weight")), vec![DIMS]));
            v.push((p(&format!("{n}.bias")), vec![DIMS]));
        }
    }
    v
}

impl DenseModel {
    /// Loads the model folder `dir`: `model.safetensors` (F32, BERT names as
    /// sentence-transformers saves them, optionally under `bert.`) and `vocab.txt`.
    ///
    /// # Errors
    /// A missing or unreadable file, a link or non-regular file, or weights that are not this
    /// model's (a missing tensor, another type or shape, misaligned data); the message names
    /// the file and what is wrong.
    pub fn load(dir: &Path) -> Result<DenseModel, String> {
        let weights = dir.join("model.safetensors");
        let (bytes, tensors) =
            map_weights(dir, &weights).map_err(|e| format!("{}: {e}", weights.display()))?;
        let vocab_path = dir.join("vocab.txt");
        let text = crate::tree::read_regular(&vocab_path, 16 << 20)
            .map_err(|e| format!("{}: {e}", vocab_path.display()))?;
        let text =
            String::from_utf8(text).map_err(|_| format!("{}: not UTF-8", vocab_path.display()))?;
        let vocab: HashMap<String, u32> = text
            .lines()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        let word_rows = tensors["embeddings.word_embeddings.weight"].len() / (4 * DIMS);
        if vocab.len() > word_rows {
            return Err(format!(
                "{}: {} tokens but {word_rows} word embeddings",
                vocab_path.display(),
                vocab.len()
            ));
        }
        let id = |t: &str| {
            vocab
                .get(t)
                .copied()
                .ok_or_else(|| format!("{}: no {t} token", vocab_path.display()))
        };
        let special = Special {
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            unk: id("[UNK]")?,
        };
        let fingerprint = fingerprint(bytes.as_slice(), text.as_bytes());
        Ok(DenseModel {
            weights: Arc::new(Tensors { bytes, at: tensors }),
            vocab,
            special,
            fingerprint,
            #[cfg(test)]
            passes: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// A 64-bit fingerprint of the weights and vocabulary: vectors made by a model with another
    /// fingerprint are not comparable with this one's (the entry vector cache is keyed by it).
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The token ids of `text` (see the module doc), `[CLS]` and `[SEP]` included.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut out = vec![self.special.cls];
        'words: for word in basic_words(text) {
            let mut pieces = Vec::new();
            let mut start = 0;
            while start < word.len() {
                let mut end = word.len();
                let found = loop {
                    if end <= start {
                        break None;
                    }
                    if word.is_char_boundary(end) {
                        let piece = if start == 0 {
                            word[..end].to_string()
                        } else {
                            format!("##{}", &word[start..end])
                        };
                        if let Some(&id) = self.vocab.get(&piece) {
                            break Some(id);
                        }
                    }
                    end -= 1;
                };
                match found {
                    Some(id) => pieces.push(id),
                    None => {
                        out.push(self.special.unk);
                        continue 'words;
                    }
                }
                start = end;
            }
            out.extend(pieces);
            if out.len() >= MAX_TOKENS - 1 {
                break;
            }
        }
        out.truncate(MAX_TOKENS - 1);
        out.push(self.special.sep);
        out
    }

    /// The unit sentence vector ([`DIMS`] values) of `text`, as a query is encoded.
    ///
    /// Its large products are shared with memtree-bert's helper thread while a core is free for
    /// it ([`query_threads`]); the helper takes parts only while it runs, so the caller never
    /// waits for a thread that is not scheduled.
    pub fn encode(&self, text: &str) -> Vec<f32> {
        self.encode_with(text, query_threads())
    }

    /// [`DenseModel::encode`] with its products on at most `threads` threads, as the caller
    /// decided with [`query_threads`] (an encode started early decides on the query's thread).
    pub fn encode_with(&self, text: &str, threads: usize) -> Vec<f32> {
        self.encode_ids(&self.tokenize(text), threads)
    }

    /// Forward passes run so far (for the tests).
    #[cfg(test)]
    pub(crate) fn passes(&self) -> usize {
        self.passes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The unit sentence vector of the first `max_tokens` tokens of `text` (`[CLS]` and
    /// `[SEP]` included; at least 2), its products on at most `threads` threads (1 when the
    /// caller encodes on every core already).
    pub fn encode_at_most(&self, text: &str, max_tokens: usize, threads: usize) -> Vec<f32> {
        let mut ids = self.tokenize(text);
        let max = max_tokens.max(2);
        if ids.len() > max {
            ids.truncate(max - 1);
            ids.push(self.special.sep);
        }
        self.encode_ids(&ids, threads)
    }

    /// The unit sentence vector of already tokenized ids (at most [`MAX_TOKENS`]; ids past the
    /// vocabulary count as `[UNK]`), on at most `threads` threads.
    pub fn encode_ids(&self, ids: &[u32], threads: usize) -> Vec<f32> {
        let ids = &ids[..ids.len().min(MAX_TOKENS)];
        #[cfg(test)]
        self.passes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let weights: Arc<dyn memtree_bert::Weights> = self.weights.clone();
        memtree_bert::encode(&weights, ids, self.special.unk, threads)
    }
}

/// Threads for a query's encode decided on the query's thread: 2 while a core is free for
/// memtree-bert's helper thread, 1 when other processes keep every core busy ([`cores_busy`]).
///
/// Measured side by side (BENCHMARKS.md, "The query encode, round 3"): sharing the products
/// takes an idle 30-wordpiece `memtree mcp` query at 10k from 16–17 to 11.5–12 ms, but with two
/// busy processes beside it from about 18 to 27–31 ms.
pub fn query_threads() -> usize {
    if cores_busy() { 1 } else { 2 }
}

/// Whether other processes keep every core busy: at least as many threads besides the calling
/// one are runnable now as there are cores. Linux counts runnable threads in `/proc/loadavg`
/// (its fourth field, `runnable/all`; GNU make's `--load-average` reads it too); elsewhere, and
/// when it cannot be read, `false`.
pub fn cores_busy() -> bool {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let runnable = std::fs::read_to_string("/proc/loadavg").ok().and_then(|s| {
        let field = s.split_whitespace().nth(3)?;
        field.split_once('/')?.0.parse::<usize>().ok()
    });
    runnable.is_some_and(|r| r.saturating_sub(1) >= cores)
}

/// Maps the safetensors file `path` (in `dir`) and checks it against [`expected`]: the bytes,
/// and where each tensor's values are. Every tensor the forward pass needs must be F32, of its
/// shape, and inside the file.
#[allow(clippy::type_complexity)]
fn map_weights(
    dir: &Path,
    path: &Path,
) -> Result<
    (
        tantivy::directory::OwnedBytes,
        HashMap<String, std::ops::Range<usize>>,
    ),
    String,
> {
    use tantivy::directory::Directory as _;
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_WEIGHTS_BYTES {
        return Err(format!(
            "{} bytes, more than the {MAX_WEIGHTS_BYTES} read",
            meta.len()
        ));
    }
    let name = path.file_name().ok_or("no file name")?;
    let bytes = tantivy::directory::MmapDirectory::open(dir)
        .map_err(|e| e.to_string())?
        .open_read(Path::new(name))
        .map_err(|e| e.to_string())?
        .read_bytes()
        .map_err(|e| e.to_string())?;
    let all = bytes.as_slice();
    let header_len = all
        .get(..8)
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
        .ok_or("too short for a safetensors file")?;
    let data_start = 8u64
        .checked_add(header_len)
        .filter(|&s| s <= all.len() as u64 && header_len <= 100 << 20)
        .ok_or("not a safetensors file (header length)")? as usize;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&all[8..data_start])
            .map_err(|e| format!("not a safetensors header: {e}"))?;
    let data_len = (all.len() - data_start) as u64;
    let prefix = if header.keys().any(|n| n.starts_with("bert.")) {
        "bert."
    } else {
        ""
    };
    let mut out = HashMap::new();
    for (name, shape) in expected() {
        let full = format!("{prefix}{name}");
        let t = header
            .get(&full)
            .ok_or_else(|| format!("no tensor `{full}`: not an all-MiniLM-L6-v2 model"))?;
        if t["dtype"] != "F32" {
            return Err(format!("`{full}` is {}, expected F32", t["dtype"]));
        }
        let dims: Vec<usize> = t["shape"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(serde_json::Value::as_u64)
                    .map(|d| d as usize)
                    .collect()
            })
            .unwrap_or_default();
        let ok = dims.len() == shape.len()
            && dims
                .iter()
                .zip(&shape)
                .all(|(a, b)| (*b == 0 && *a > 0) || a == b);
        if !ok {
            return Err(format!(
                "`{full}` has shape {dims:?}, expected {shape:?} (0: any)"
            ));
        }
        let offsets: Vec<u64> = t["data_offsets"]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
            .unwrap_or_default();
        let [start, end] = offsets[..] else {
            return Err(format!("`{full}` has no data offsets"));
        };
        let count = dims.iter().product::<usize>() as u64;
        if end < start || end - start != 4 * count || end > data_len {
            return Err(format!("`{full}` has bad data offsets {start}..{end}"));
        }
        out.insert(name, data_start + start as usize..data_start + end as usize);
    }
    Ok((bytes, out))
}

/// BERT's basic tokenizer, uncased: lower-case, accents stripped, split at white space and
/// around punctuation (ASCII symbols and Unicode punctuation).
fn basic_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.to_lowercase().nfd() {
        if unicode_normalization::char::is_combining_mark(c) || c.is_control() {
            continue;
        }
        if c.is_whitespace() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        } else if is_punctuation(c) {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            words.push(c.to_string());
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// BERT's `_is_punctuation`: every non-alphanumeric ASCII symbol, and Unicode punctuation.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || (!c.is_ascii()
            && !c.is_alphanumeric()
            && !c.is_whitespace()
            && matches!(
                c,
                '\u{2010}'..='\u{2027}'
                    | '\u{2030}'..='\u{205E}'
                    | '\u{3000}'..='\u{303F}'
                    | '\u{00A1}'
                    | '\u{00A7}'
                    | '\u{00AB}'
                    | '\u{00B6}'
                    | '\u{00B7}'
                    | '\u{00BB}'
                    | '\u{00BF}'
            ))
}

/// FNV-1a over the weights file's size, its header, 64 samples of 4 KiB spread over its data,
/// and the vocabulary: cheap (no pass over 91 MB), and different for another model or a
/// fine-tuned copy of this one (every tensor is sampled somewhere).
fn fingerprint(weights: &[u8], vocab: &[u8]) -> u64 {
    const SAMPLES: usize = 64;
    const SAMPLE: usize = 4096;
    let mut parts: Vec<&[u8]> = vec![vocab];
    let step = weights.len() / SAMPLES;
    for i in 0..SAMPLES {
        let at = i * step;
        parts.push(&weights[at..(at + SAMPLE).min(weights.len())]);
    }
    let len = (weights.len() as u64).to_le_bytes();
    parts.push(&len);
    parts
        .iter()
        .fold(crate::changeset::content_hash(&[]), |h, p| {
            h.rotate_left(5) ^ crate::changeset::content_hash(p)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_basic_tokenizer_splits_as_bert_does() {
        assert_eq!(
            basic_words("Café naïve: don't  PANIC!"),
            ["cafe", "naive", ":", "don", "'", "t", "panic", "!"]
        );
        assert_eq!(
            basic_words("IndexWriter::wait()"),
            ["indexwriter", ":", ":", "wait", "(", ")"]
        );
    }

    /// The real model's folder (`MEMTREE_DENSE_MODEL`), or `None` after saying the test skips.
    fn real_model() -> Option<std::path::PathBuf> {
        let dir = std::env::var_os("MEMTREE_DENSE_MODEL").map(std::path::PathBuf::from);
        if dir.is_none() {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("SKIPPED: MEMTREE_DENSE_MODEL is not set (see .ci/run)");
            }
        }
        dir
    }

    /// A folder without a model is an error that is not kept: once the files are there, the
    /// next query loads them (an MCP server that is running finds a model pulled meanwhile).
    #[test]
    fn a_model_that_failed_to_load_is_tried_again() {
        let Some(dir) = real_model() else { return };
        let tmp = tempfile::tempdir().unwrap();
        let err = crate::semantic::dense_model(tmp.path()).unwrap_err();
        assert!(!err.is_empty());
        for f in ["model.safetensors", "vocab.txt", "config.json"] {
            std::fs::hard_link(dir.join(f), tmp.path().join(f))
                .or_else(|_| std::fs::copy(dir.join(f), tmp.path().join(f)).map(|_| ()))
                .unwrap();
        }
        let a = crate::semantic::dense_model(tmp.path()).expect("loads once the files are there");
        let b = crate::semantic::dense_model(tmp.path()).unwrap();
        assert!(std::sync::Arc::ptr_eq(&a, &b), "loaded once per folder");
    }

    /// The encoder gives the reference implementation's token ids and vectors
    /// (`tests/fixtures/dense/reference.json`, from candle-transformers). Needs the model:
    /// `MEMTREE_DENSE_MODEL` names its folder (`.ci/run` fetches it from PyPI); without it the
    /// test says so and checks nothing else.
    #[test]
    fn the_encoder_matches_the_reference_implementation() {
        let Some(dir) = std::env::var_os("MEMTREE_DENSE_MODEL") else {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("SKIPPED: MEMTREE_DENSE_MODEL is not set (see .ci/run)");
            }
            return;
        };
        let model = DenseModel::load(Path::new(&dir)).expect("the model loads");
        let reference: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/dense/reference.json"))
                .unwrap();
        for case in reference["cases"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let ids: Vec<u32> = case["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(model.tokenize(text), ids, "{text}");
            let want: Vec<f32> = case["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let got = model.encode(text);
            assert_eq!(got.len(), DIMS);
            let cosine: f32 = got.iter().zip(&want).map(|(a, b)| a * b).sum();
            let worst = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                cosine > 0.99999 && worst < 1e-4,
                "{text}: cosine {cosine}, worst {worst}"
            );
        }
    }

    #[test]
    fn a_folder_without_weights_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let e = DenseModel::load(dir.path()).unwrap_err();
        assert!(e.contains("model.safetensors"), "{e}");
        let weights = dir.path().join("model.safetensors");
        let write_header = |header: &str, extra: usize| {
            let mut b = (header.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(header.as_bytes());
            b.extend(std::iter::repeat_n(0u8, extra));
            std::fs::write(&weights, b).unwrap();
        };
        // Another model's tensors: named.
        write_header(
            r#"{"other.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            8,
        );
        let e = DenseModel::load(dir.path()).unwrap_err();
        assert!(
            e.ends_with(
                "no tensor `embeddings.word_embeddings.weight`: not an all-MiniLM-L6-v2 model"
            ),
            "{e}"
        );
        // Offsets past the end of the file: refused, never read.
        write_header(
            r#"{"embeddings.word_embeddings.weight":{"dtype":"F32","shape":[1,384],"data_offsets":[0,1536]}}"#,
            16,
        );
        let e = DenseModel::load(dir.path()).unwrap_err();
        assert!(e.contains("bad data offsets 0..1536"), "{e}");
        std::fs::write(&weights, b"not safetensors").unwrap();
        let e = DenseModel::load(dir.path()).unwrap_err();
        assert!(
            e.starts_with(&dir.path().join("model.safetensors").display().to_string()),
            "{e}"
        );
    }
}
