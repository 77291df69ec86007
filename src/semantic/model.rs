//! A static embedding model in the Model2Vec folder format (Tulkens & van Dongen 2024,
//! <https://github.com/MinishLab/model2vec>): `model.safetensors` with one `embeddings` tensor
//! (vocabulary × dimensions; F32, F16, BF16 or I8, or memtree's 4-bit form: U8 with two
//! signed nibbles per byte plus a `scales` tensor with one step per row) and `tokenizer.json`
//! with a WordPiece vocabulary. A word's vector is the mean of its WordPiece tokens' rows
//! (times their steps), as Model2Vec computes it; only cosines are used, so a global
//! quantisation scale does not matter.
//!
//! The same loader reads memtree's built-in model (from bytes embedded in the binary) and
//! `semantic.model`, a folder with a stronger model of the user's.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use super::is_target;

/// Longest word WordPiece splits (BERT's `max_input_chars_per_word`); longer is unknown.
const MAX_WORD_CHARS: usize = 100;

/// A loaded static embedding model.
pub struct StaticModel {
    vocab: Vocab,
    rows: Rows,
    dims: usize,
    prefix: String,
    /// Token ids of the target words (see [`is_target`]), ascending, computed on first use (a
    /// query that only needs a sentence vector never pays for it).
    target_ids: std::sync::OnceLock<Vec<u32>>,
    /// The target words' precomputed index terms (`terms.txt`, `term-of.bin`), read on first
    /// use.
    precomputed: std::sync::OnceLock<(&'static str, &'static [u8])>,
    /// The target words' index terms, computed on first use by the caller's analyzer.
    terms: std::sync::OnceLock<TermSet>,
}

/// The index terms of a model's target words: the distinct terms sorted (so the index can
/// check them in one merge pass), and for each target the position of its term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermSet {
    /// Distinct terms, ascending.
    pub distinct: Vec<Cow<'static, str>>,
    /// For each target word, the position of its term in `distinct` (`u32::MAX`: none).
    pub of: Vec<u32>,
}

impl TermSet {
    /// The set of one term per target word (empty: the word has none).
    pub fn from_terms(terms: &[String]) -> TermSet {
        let mut distinct: Vec<&str> = terms
            .iter()
            .map(String::as_str)
            .filter(|t| !t.is_empty())
            .collect();
        distinct.sort_unstable();
        distinct.dedup();
        let of = terms
            .iter()
            .map(|t| {
                distinct
                    .binary_search(&t.as_str())
                    .map_or(u32::MAX, |i| i as u32)
            })
            .collect();
        TermSet {
            distinct: distinct
                .into_iter()
                .map(|t| Cow::Owned(t.to_string()))
                .collect(),
            of,
        }
    }

    /// The term of target `i`, if it has one.
    pub fn term(&self, i: usize) -> Option<&str> {
        let at = *self.of.get(i)?;
        self.distinct.get(at as usize).map(AsRef::as_ref)
    }

    /// The stored form: the distinct terms one per line (`terms.txt`), and each target's
    /// position among them as a little-endian `u16`, `0xFFFF` for none (`term-of.bin`; 2 bytes
    /// a target instead of about 5 as text, which kept the binary under its budget).
    ///
    /// # Errors
    /// More than 65,535 distinct terms.
    pub fn render(&self) -> Result<(String, Vec<u8>), String> {
        if self.distinct.len() >= usize::from(u16::MAX) {
            return Err(format!(
                "{} distinct terms do not fit u16 positions",
                self.distinct.len()
            ));
        }
        let mut text = String::new();
        for t in &self.distinct {
            text.push_str(t);
            text.push('\n');
        }
        let positions = self
            .of
            .iter()
            .flat_map(|&i| u16::try_from(i).unwrap_or(u16::MAX).to_le_bytes())
            .collect();
        Ok((text, positions))
    }

    /// Parses [`TermSet::render`]'s form; `None` when it is malformed or does not have
    /// `targets` positions.
    pub fn parse(text: &'static str, positions: &[u8], targets: usize) -> Option<TermSet> {
        let distinct: Vec<Cow<'static, str>> = text.lines().map(Cow::Borrowed).collect();
        if positions.len() != targets * 2 {
            return None;
        }
        let of = positions
            .chunks_exact(2)
            .map(|b| match u16::from_le_bytes([b[0], b[1]]) {
                u16::MAX => Some(u32::MAX),
                i if usize::from(i) < distinct.len() => Some(u32::from(i)),
                _ => None,
            })
            .collect::<Option<_>>()?;
        Some(TermSet { distinct, of })
    }
}

/// The vocabulary: tokens by id, and the ids in token order for lookups by binary search
/// (`None` when the ids already are in token order, as in the built-in model).
struct Vocab {
    tokens: Vec<Cow<'static, str>>,
    by_token: Option<Vec<u32>>,
}

impl Vocab {
    fn new(tokens: Vec<Cow<'static, str>>) -> Vocab {
        let by_token = if tokens.is_sorted() {
            None
        } else {
            let mut ids: Vec<u32> = (0..tokens.len() as u32).collect();
            ids.sort_by(|&a, &b| tokens[a as usize].cmp(&tokens[b as usize]));
            Some(ids)
        };
        Vocab { tokens, by_token }
    }

    fn get(&self, token: &str) -> Option<u32> {
        match &self.by_token {
            None => self
                .tokens
                .binary_search_by(|t| t.as_ref().cmp(token))
                .ok()
                .map(|i| i as u32),
            Some(ids) => ids
                .binary_search_by(|&i| self.tokens[i as usize].as_ref().cmp(token))
                .ok()
                .map(|i| ids[i]),
        }
    }
}

/// The embedding table: int8 rows are used in place (the built-in model's bytes are part of
/// the binary); other types are decoded to `f32` once.
enum Rows {
    I8 {
        bytes: Cow<'static, [u8]>,
        start: usize,
    },
    /// memtree's 4-bit form (the built-in model): `embeddings` is U8 with two signed nibbles
    /// per byte (column 2j in the low nibble), and `scales` (F16 or F32, one per row) gives
    /// each row's step. Cosines do not need the scale; sums of rows do.
    I4 {
        bytes: Cow<'static, [u8]>,
        start: usize,
        scales: Vec<f32>,
    },
    F32(Vec<f32>),
}

/// Why a model folder could not be used.
pub type LoadError = String;

/// The largest `tokenizer.json` a model folder may hold, in bytes (64 MiB).
pub const MAX_TOKENIZER_BYTES: u64 = 64 << 20;
/// The largest `model.safetensors` a model folder may hold, in bytes (2 GiB).
pub const MAX_WEIGHTS_BYTES: u64 = 2 << 30;

impl StaticModel {
    /// Loads `dir/model.safetensors` and `dir/tokenizer.json`: regular files, opened without
    /// following a link, at most [`MAX_WEIGHTS_BYTES`] and [`MAX_TOKENIZER_BYTES`].
    ///
    /// # Errors
    /// A missing or unreadable file, a link, a file that is not regular or is too large, a tokenizer that is not WordPiece, a tensor that is not
    /// two-dimensional or whose row count differs from the vocabulary's, or an unsupported dtype;
    /// the message names the file.
    pub fn load(dir: &Path) -> Result<StaticModel, LoadError> {
        // Regular files only, never through a link, each read bounded by its size: a folder
        // committed to a repository could hold `model.safetensors -> /dev/zero`.
        let read = |name: &str, limit: u64| {
            let path = dir.join(name);
            crate::tree::read_regular(&path, limit).map_err(|e| format!("{}: {e}", path.display()))
        };
        let tok = read("tokenizer.json", MAX_TOKENIZER_BYTES)?;
        let weights = read("model.safetensors", MAX_WEIGHTS_BYTES)?;
        Self::from_bytes(&tok, Cow::Owned(weights)).map_err(|e| format!("{}: {e}", dir.display()))
    }

    /// Builds a model from the bytes of `tokenizer.json` and `model.safetensors`.
    ///
    /// # Errors
    /// As [`StaticModel::load`], without the folder name.
    pub fn from_bytes(
        tokenizer_json: &[u8],
        safetensors: Cow<'static, [u8]>,
    ) -> Result<StaticModel, LoadError> {
        let tok: serde_json::Value = serde_json::from_slice(tokenizer_json)
            .map_err(|e| format!("tokenizer.json is not JSON: {e}"))?;
        let model = &tok["model"];
        if model["type"].as_str() != Some("WordPiece") {
            return Err(format!(
                "tokenizer.json: only WordPiece vocabularies are supported, found {}",
                model["type"]
            ));
        }
        let prefix = model["continuing_subword_prefix"]
            .as_str()
            .unwrap_or("##")
            .to_string();
        let map = model["vocab"]
            .as_object()
            .ok_or("tokenizer.json has no model.vocab")?;
        let mut tokens = vec![Cow::Borrowed(""); map.len()];
        for (k, v) in map {
            match v
                .as_u64()
                .and_then(|i| tokens.get_mut(usize::try_from(i).ok()?))
            {
                Some(slot) => *slot = Cow::Owned(k.clone()),
                None => {
                    return Err(format!(
                        "tokenizer.json: token {k:?} has id {v}, outside 0..{}",
                        map.len()
                    ));
                }
            }
        }
        Self::from_parts(Vocab::new(tokens), prefix, safetensors)
    }

    /// Builds a model from a WordPiece `vocab.txt` (one token per line, the line number is
    /// the id; `##` marks continuations) and the bytes of `model.safetensors`. This is how
    /// the built-in model is stored: it parses in a fraction of the time JSON takes.
    ///
    /// # Errors
    /// As [`StaticModel::load`].
    pub fn from_vocab_txt(
        vocab_txt: &'static str,
        safetensors: Cow<'static, [u8]>,
    ) -> Result<StaticModel, LoadError> {
        let tokens = vocab_txt.lines().map(Cow::Borrowed).collect();
        Self::from_parts(Vocab::new(tokens), "##".into(), safetensors)
    }

    fn from_parts(
        vocab: Vocab,
        prefix: String,
        safetensors: Cow<'static, [u8]>,
    ) -> Result<StaticModel, LoadError> {
        let tensors = safetensors::SafeTensors::deserialize(&safetensors)
            .map_err(|e| format!("model.safetensors: {e}"))?;
        let t = tensors
            .tensor("embeddings")
            .map_err(|e| format!("model.safetensors: no `embeddings` tensor ({e})"))?;
        let &[n, width] = t.shape() else {
            return Err(format!(
                "model.safetensors: `embeddings` has shape {:?}, expected two dimensions",
                t.shape()
            ));
        };
        let packed = t.dtype() == safetensors::Dtype::U8;
        let dims = if packed { width * 2 } else { width };
        if dims == 0 || vocab.tokens.len() > n {
            return Err(format!(
                "model.safetensors: {n} rows do not cover the tokenizer's {} tokens",
                vocab.tokens.len()
            ));
        }
        // Int8 and 4-bit data are used in place: the tensor's data is a slice of
        // `safetensors`, so keep the bytes and note where it starts.
        let start = t.data().as_ptr() as usize - safetensors.as_ptr() as usize;
        let scales = if packed {
            let s = tensors.tensor("scales").map_err(|e| {
                format!("model.safetensors: 4-bit `embeddings` need `scales` ({e})")
            })?;
            if s.shape() != [n] {
                return Err(format!(
                    "model.safetensors: `scales` has shape {:?}, expected [{n}]",
                    s.shape()
                ));
            }
            Some(to_f32(s.dtype(), s.data())?)
        } else {
            None
        };
        let decoded = match t.dtype() {
            safetensors::Dtype::I8 | safetensors::Dtype::U8 => None,
            other => Some(to_f32(other, t.data())?),
        };
        drop(tensors);
        let rows = match (decoded, scales) {
            (Some(values), _) => Rows::F32(values),
            (None, Some(scales)) => Rows::I4 {
                bytes: safetensors,
                start,
                scales,
            },
            (None, None) => Rows::I8 {
                bytes: safetensors,
                start,
            },
        };
        let target_ids = std::sync::OnceLock::new();
        Ok(StaticModel {
            vocab,
            rows,
            dims,
            prefix,
            target_ids,
            precomputed: std::sync::OnceLock::new(),
            terms: std::sync::OnceLock::new(),
        })
    }

    fn target_ids(&self) -> &[u32] {
        self.target_ids.get_or_init(|| {
            (0..self.vocab.tokens.len() as u32)
                .filter(|&i| is_target(&self.vocab.tokens[i as usize]))
                .collect()
        })
    }

    /// Vector dimensions.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Number of target words (whole-word vocabulary entries an expansion may add).
    pub fn target_count(&self) -> usize {
        self.target_ids().len()
    }

    /// Target word `i` (`0..target_count()`), in token-id order.
    pub fn target(&self, i: usize) -> &str {
        &self.vocab.tokens[self.target_ids()[i] as usize]
    }

    /// The target words, in token-id order.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.target_ids()
            .iter()
            .map(|&i| self.vocab.tokens[i as usize].as_ref())
    }

    /// Adds token `i`'s row to `acc`.
    fn add_row(&self, i: u32, acc: &mut [f32]) {
        let at = i as usize * self.dims;
        match &self.rows {
            Rows::I8 { bytes, start } => {
                for (a, &b) in acc
                    .iter_mut()
                    .zip(&bytes[start + at..start + at + self.dims])
                {
                    *a += f32::from(b as i8);
                }
            }
            Rows::I4 {
                bytes,
                start,
                scales,
            } => {
                let half = at / 2;
                let step = scales[i as usize];
                for (pair, &b) in acc
                    .chunks_exact_mut(2)
                    .zip(&bytes[start + half..start + half + self.dims / 2])
                {
                    let (lo, hi) = nibbles(b);
                    pair[0] += step * lo;
                    pair[1] += step * hi;
                }
            }
            Rows::F32(rows) => {
                for (a, b) in acc.iter_mut().zip(&rows[at..at + self.dims]) {
                    *a += b;
                }
            }
        }
    }

    /// Cosine of the unit vector `v` with token `i`'s row; NaN for a zero or non-finite row,
    /// which [`StaticModel::nearest_among`] never returns.
    fn cosine(&self, v: &[f32], i: u32) -> f32 {
        let at = i as usize * self.dims;
        let (d, n) = match &self.rows {
            Rows::I8 { bytes, start } => {
                let r = &bytes[start + at..start + at + self.dims];
                (dot_i8(v, r), dot_i8_self(r))
            }
            Rows::I4 { bytes, start, .. } => {
                let r = &bytes[start + at / 2..start + (at + self.dims) / 2];
                dot_i4(v, r)
            }
            Rows::F32(rows) => {
                let r = &rows[at..at + self.dims];
                (dot(v, r), dot(r, r))
            }
        };
        if n > 0.0 && n.is_finite() {
            d / n.sqrt()
        } else {
            f32::NAN
        }
    }

    /// The WordPiece tokens of one lower-case word (greedy longest match first), or `None`
    /// when some part of it is not in the vocabulary.
    pub fn wordpiece(&self, word: &str) -> Option<Vec<u32>> {
        if word.is_empty() || word.chars().count() > MAX_WORD_CHARS {
            return None;
        }
        let mut out = Vec::new();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while end > start {
                if word.is_char_boundary(end) {
                    let piece = &word[start..end];
                    let id = if start == 0 {
                        self.vocab.get(piece)
                    } else {
                        self.vocab.get(&format!("{}{piece}", self.prefix))
                    };
                    if let Some(id) = id {
                        found = Some(id);
                        break;
                    }
                }
                end -= 1;
            }
            out.push(found?);
            start = end;
        }
        Some(out)
    }

    /// The unit vector of one lower-case word (the mean of its tokens' rows), or `None` when it
    /// cannot be tokenized or its vector is zero.
    pub fn embed(&self, word: &str) -> Option<Vec<f32>> {
        let tokens = self.wordpiece(word)?;
        let mut v = vec![0.0f32; self.dims];
        for &t in &tokens {
            self.add_row(t, &mut v);
        }
        unit(v)
    }

    /// The sentence vector of `text` as Model2Vec makes one: the mean of the rows of the
    /// WordPiece tokens of its lower-case words (split at anything not alphanumeric), scaled to
    /// unit length; `None` when no word can be tokenized. At most `max_words` words are read.
    pub fn embed_text(&self, text: &str, max_words: usize) -> Option<Vec<f32>> {
        self.embed_text_with(text, max_words, &mut HashMap::new())
    }

    /// [`StaticModel::embed_text`] with a cache of each word's WordPiece tokens, for callers
    /// that embed many texts (the index): a word is split once however often it occurs.
    pub fn embed_text_with(
        &self,
        text: &str,
        max_words: usize,
        cache: &mut HashMap<String, Option<Vec<u32>>>,
    ) -> Option<Vec<f32>> {
        let mut v = vec![0.0f32; self.dims];
        let mut any = false;
        let words = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(max_words);
        for word in words {
            let lower = word.to_lowercase();
            let tokens = match cache.get(&lower) {
                Some(t) => t,
                None => {
                    let t = self.wordpiece(&lower);
                    cache.entry(lower).or_insert(t)
                }
            };
            for &t in tokens.iter().flatten() {
                self.add_row(t, &mut v);
                any = true;
            }
        }
        if any { unit(v) } else { None }
    }

    /// The index terms of the target words, computed once per model by `analyze`, which maps
    /// all target words to their terms, in order (empty: no term).
    pub fn terms(&self, analyze: impl FnOnce(&[&str]) -> Vec<String>) -> &TermSet {
        self.terms.get_or_init(|| {
            // A malformed or stale file is ignored: the terms are then computed.
            if let Some((text, positions)) = self.precomputed.get()
                && let Some(t) = TermSet::parse(text, positions, self.target_count())
            {
                return t;
            }
            let words: Vec<&str> = self.targets().collect();
            TermSet::from_terms(&analyze(&words))
        })
    }

    /// Gives the target words' index terms as [`TermSet::render`] wrote them (precomputed for
    /// the built-in model), to be read when [`StaticModel::terms`] is first called; ignored
    /// once given.
    pub fn set_precomputed_terms(&self, text: &'static str, positions: &'static [u8]) {
        let _ = self.precomputed.set((text, positions));
    }

    /// The `k` targets among `among` (indexes into [`StaticModel::targets`]) nearest to the
    /// unit vector `v` by cosine, each at least `floor`, best first.
    pub fn nearest_among(&self, v: &[f32], among: &[u32], k: usize, floor: f32) -> Vec<(u32, f32)> {
        let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
        for &i in among {
            let Some(&id) = self.target_ids().get(i as usize) else {
                continue;
            };
            let c = self.cosine(v, id);
            // A non-finite cosine (a user model with NaN or infinite values) is never near.
            if !c.is_finite() || c < floor || (best.len() == k && c <= best[k - 1].1) {
                continue;
            }
            let at = best.partition_point(|b| b.1 >= c);
            best.insert(at, (i, c));
            best.truncate(k);
        }
        best
    }
}

/// Dot product of a float vector with an int8 row, in eight lanes.
fn dot_i8(a: &[f32], b: &[u8]) -> f32 {
    let mut acc = [0.0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += x[l] * f32::from(y[l] as i8);
        }
    }
    let tail = a.len() - a.len() % 8;
    let rest: f32 = a[tail..]
        .iter()
        .zip(&b[tail..])
        .map(|(x, &y)| x * f32::from(y as i8))
        .sum();
    acc.iter().sum::<f32>() + rest
}

/// The two signed 4-bit values of a byte (low nibble first).
fn nibbles(b: u8) -> (f32, f32) {
    (f32::from(((b << 4) as i8) >> 4), f32::from((b as i8) >> 4))
}

/// Dot product of a float vector with a packed 4-bit row, and the row's squared norm (both
/// in steps: the row's scale cancels in a cosine).
fn dot_i4(a: &[f32], b: &[u8]) -> (f32, f32) {
    let (mut d, mut n) = ([0.0f32; 2], [0.0f32; 2]);
    for (x, &y) in a.chunks_exact(2).zip(b) {
        let (lo, hi) = nibbles(y);
        d[0] += x[0] * lo;
        d[1] += x[1] * hi;
        n[0] += lo * lo;
        n[1] += hi * hi;
    }
    (d[0] + d[1], n[0] + n[1])
}

/// Squared norm of an int8 row, exact in integers.
fn dot_i8_self(b: &[u8]) -> f32 {
    b.iter().map(|&y| i32::from(y as i8).pow(2)).sum::<i32>() as f32
}

pub(crate) use memtree_bert::dot;

fn unit(mut v: Vec<f32>) -> Option<Vec<f32>> {
    let norm = dot(&v, &v).sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return None;
    }
    for x in &mut v {
        *x /= norm;
    }
    Some(v)
}

/// Decodes little-endian tensor data to `f32`.
fn to_f32(dtype: safetensors::Dtype, data: &[u8]) -> Result<Vec<f32>, LoadError> {
    use safetensors::Dtype;
    Ok(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
            .collect(),
        Dtype::I8 => data.iter().map(|&b| f32::from(b as i8)).collect(),
        other => {
            return Err(format!(
                "model.safetensors: dtype {other:?} is not supported (F32, F16, BF16 or I8)"
            ));
        }
    })
}

/// IEEE 754 half precision to single (subnormals, infinities and NaN included).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: m × 2^-24.
            let v = m as f32 * 2f32.powi(-24);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibbles_are_signed_low_first() {
        assert_eq!(nibbles(0x00), (0.0, 0.0));
        assert_eq!(nibbles(0x7F), (-1.0, 7.0));
        assert_eq!(nibbles(0x91), (1.0, -7.0));
        assert_eq!(nibbles(0x88), (-8.0, -8.0));
    }

    /// A 4-bit table reads like the float table it encodes: same cosines, and a word split
    /// into two tokens sums the rows times their steps.
    #[test]
    fn four_bit_rows_match_their_float_values() {
        // Rows (dims 4): "ab" = 0.5 × [1, -2, 3, 0], "##c" = 0.25 × [7, 7, -7, 1].
        let packed: Vec<u8> = vec![0xE1, 0x03, 0x77, 0x19];
        let header = r#"{"embeddings":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]},"scales":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&packed);
        bytes.extend_from_slice(&0.5f32.to_le_bytes());
        bytes.extend_from_slice(&0.25f32.to_le_bytes());
        // Ids by line: "ab" 0, "##c" 1 (not in byte order: the lookup index is built).
        let m = StaticModel::from_vocab_txt("ab\n##c\n", Cow::Owned(bytes)).unwrap();
        assert_eq!(m.dims(), 4);
        let expect = |v: [f32; 4]| {
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.map(|x| x / n)
        };
        let ab = m.embed("ab").unwrap();
        for (a, b) in ab.iter().zip(expect([0.5, -1.0, 1.5, 0.0])) {
            assert!((a - b).abs() < 1e-6, "{ab:?}");
        }
        let abc = m.embed("abc").unwrap();
        let sum = [0.5 + 1.75, -1.0 + 1.75, 1.5 - 1.75, 0.25];
        for (a, b) in abc.iter().zip(expect(sum)) {
            assert!((a - b).abs() < 1e-6, "{abc:?}");
        }
        // Cosine of "ab" with its own row is 1.
        assert!((m.cosine(&ab, 0) - 1.0).abs() < 1e-6);
    }

    /// A user model with NaN in a row never offers that word (nor panics).
    #[test]
    fn non_finite_rows_are_never_near() {
        let header = r#"{"embeddings":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        for x in [1.0f32, 0.0, f32::NAN, 1.0] {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        let m = StaticModel::from_vocab_txt("abc\nxyz\n", Cow::Owned(bytes)).unwrap();
        assert_eq!(m.target_count(), 2);
        let v = m.embed("abc").unwrap();
        assert_eq!(m.nearest_among(&v, &[0, 1], 4, -1.0), vec![(0, 1.0)]);
        assert!(m.embed("xyz").is_none());
    }

    #[test]
    fn half_precision_decodes() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x8001), -(2f32.powi(-24)));
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
