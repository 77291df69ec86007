//! Sentence vectors of entries, computed at index time with the built-in static table and
//! stored in the index (issue 22, the re-scorer's cosine features).
//!
//! Each entry keeps its own unit vector and, when it has `follows` neighbours, the blend
//! `0.5 × previous + 0.25 × next` of theirs, so the blended cosine
//! `cos(q, e) + 0.5 cos(q, prev) + 0.25 cos(q, next)` is two dot products at query time. Both
//! are stored as i8 with one scale per vector (128 dimensions: 2 × 132 bytes per entry).

use std::cell::RefCell;
use std::collections::HashMap;

/// Words of an entry's text that go into its vector.
pub const MAX_WORDS: usize = 256;

/// A vector quantized to i8 with one scale: component `i` is `values[i] × scale`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantized {
    /// The step of one unit of `values`.
    pub scale: f32,
    /// The components in steps.
    pub values: Vec<i8>,
}

impl Quantized {
    /// Quantizes `v` so its largest component is ±127 steps.
    pub fn new(v: &[f32]) -> Quantized {
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 && max.is_finite() {
            max / 127.0
        } else {
            1.0
        };
        let values = v
            .iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        Quantized { scale, values }
    }

    /// The dot product with `q` (same length; extra components on either side are ignored).
    pub fn dot(&self, q: &[f32]) -> f32 {
        let d: f32 = self
            .values
            .iter()
            .zip(q)
            .map(|(&a, &b)| f32::from(a) * b)
            .sum();
        d * self.scale
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.scale.to_le_bytes());
        out.extend(self.values.iter().map(|&v| v as u8));
    }

    fn read(bytes: &[u8], dims: usize) -> Option<(Quantized, &[u8])> {
        let (scale, rest) = bytes.split_first_chunk::<4>()?;
        if rest.len() < dims {
            return None;
        }
        let (values, rest) = rest.split_at(dims);
        let q = Quantized {
            scale: f32::from_le_bytes(*scale),
            values: values.iter().map(|&b| b as i8).collect(),
        };
        Some((q, rest))
    }
}

/// An entry's stored vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryVectors {
    /// The entry's own unit vector.
    pub own: Quantized,
    /// `0.5 × previous + 0.25 × next` (unit vectors of its `follows` neighbours), when it has any.
    pub neighbours: Option<Quantized>,
}

impl EntryVectors {
    /// The bytes the index stores: dimensions (u16 LE), the own vector (scale f32 LE, then one
    /// byte per dimension), then the neighbours' blend in the same form when there is one.
    pub fn to_bytes(&self) -> Vec<u8> {
        let dims = u16::try_from(self.own.values.len()).unwrap_or(0);
        let mut out = dims.to_le_bytes().to_vec();
        self.own.write(&mut out);
        if let Some(n) = &self.neighbours {
            n.write(&mut out);
        }
        out
    }

    /// Reads what [`EntryVectors::to_bytes`] wrote; `None` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Option<EntryVectors> {
        let (dims, rest) = bytes.split_first_chunk::<2>()?;
        let dims = usize::from(u16::from_le_bytes(*dims));
        let (own, rest) = Quantized::read(rest, dims)?;
        let neighbours = match rest.len() {
            0 => None,
            _ => Some(Quantized::read(rest, dims)?.0),
        };
        Some(EntryVectors { own, neighbours })
    }

    /// `cos(q, entry)` and `cos(q, entry) + 0.5 cos(q, previous) + 0.25 cos(q, next)` for the unit
    /// vector `q`.
    pub fn cosines(&self, q: &[f32]) -> (f32, f32) {
        let own = self.own.dot(q);
        (
            own,
            own + self.neighbours.as_ref().map_or(0.0, |n| n.dot(q)),
        )
    }
}

/// The vectors of an entry whose text is `text` and whose neighbours' texts are `previous` and
/// `next`, with the built-in model; `None` when the build has no built-in model or no word
/// of `text` is in its vocabulary.
pub fn entry_vectors(
    text: &str,
    previous: Option<&str>,
    next: Option<&str>,
) -> Option<EntryVectors> {
    /// Words whose tokens are remembered per thread across entries; past this the cache is
    /// emptied (a few MB at most).
    const MAX_CACHED_WORDS: usize = 200_000;
    thread_local! {
        static WORDS: RefCell<HashMap<String, Option<Vec<u32>>>> = RefCell::new(HashMap::new());
    }
    let model = super::model(None, std::path::Path::new("")).ok()?;
    WORDS.with_borrow_mut(|cache| {
        if cache.len() > MAX_CACHED_WORDS {
            cache.clear();
        }
        vectors_with(&model, text, previous, next, cache)
    })
}

fn vectors_with(
    model: &super::StaticModel,
    text: &str,
    previous: Option<&str>,
    next: Option<&str>,
    cache: &mut HashMap<String, Option<Vec<u32>>>,
) -> Option<EntryVectors> {
    let own = model.embed_text_with(text, MAX_WORDS, cache)?;
    let mut blend = vec![0.0f32; own.len()];
    let mut any = false;
    for (t, w) in [(previous, 0.5f32), (next, 0.25)] {
        if let Some(v) = t.and_then(|t| model.embed_text_with(t, MAX_WORDS, cache)) {
            for (b, x) in blend.iter_mut().zip(v) {
                *b += w * x;
            }
            any = true;
        }
    }
    Some(EntryVectors {
        own: Quantized::new(&own),
        neighbours: any.then(|| Quantized::new(&blend)),
    })
}

/// The unit sentence vector of a query with the built-in model, if it has one.
pub fn query_vector(text: &str) -> Option<Vec<f32>> {
    super::model(None, std::path::Path::new(""))
        .ok()?
        .embed_text(text, MAX_WORDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_through_bytes_and_keep_their_cosines() {
        let a: Vec<f32> = (0..128)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 40.0)
            .collect();
        let n: Vec<f32> = (0..128).map(|i| ((i % 7) as f32 - 3.0) / 60.0).collect();
        let v = EntryVectors {
            own: Quantized::new(&a),
            neighbours: Some(Quantized::new(&n)),
        };
        let back = EntryVectors::from_bytes(&v.to_bytes()).expect("read back");
        assert_eq!(back, v);
        let exact: f32 = a.iter().map(|x| x * x).sum();
        let (own, blend) = back.cosines(&a);
        assert!((own - exact).abs() < 0.01 * exact, "{own} vs {exact}");
        let exact_n: f32 = a.iter().zip(&n).map(|(x, y)| x * y).sum();
        assert!((blend - own - exact_n).abs() < 0.01, "{blend}");
        let alone = EntryVectors {
            own: Quantized::new(&a),
            neighbours: None,
        };
        assert_eq!(EntryVectors::from_bytes(&alone.to_bytes()), Some(alone));
        assert_eq!(EntryVectors::from_bytes(&[1, 0, 0]), None);
        assert_eq!(EntryVectors::from_bytes(&[]), None);
    }
}
