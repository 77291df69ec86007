//! The forward pass of a 6-layer BERT sentence encoder (all-MiniLM-L6-v2: hidden size 384, 12
//! heads, intermediate 1536, post-layer-norm, GELU; Sentence-BERT, Reimers & Gurevych 2019)
//! over weights given as little-endian bytes, with mean pooling.
//!
//! A crate of its own so that it can be compiled with optimisations in every profile: memtree's
//! test suite runs unoptimised, where this loop is about 200 times slower (a 25-token sentence
//! took 5 s instead of 25 ms). memtree (`src/semantic/dense.rs`) maps and checks the weights,
//! tokenizes, and calls [`encode`].

/// The hidden size (and vector dimensions).
pub const DIMS: usize = 384;
/// Attention heads.
pub const HEADS: usize = 12;
/// The feed-forward layer's size.
pub const INTERMEDIATE: usize = 1536;
/// Encoder layers.
pub const LAYERS: usize = 6;
/// Position embeddings: the most tokens a text may have.
pub const POSITIONS: usize = 512;
const LAYER_NORM_EPS: f32 = 1e-12;

/// The unit sentence vector (mean of the last layer over all tokens, scaled to unit length) of
/// the token ids `ids` (at most [`POSITIONS`]), reading each tensor's little-endian `f32` bytes
/// through `tensor` (names as sentence-transformers saves BERT; the caller checks shapes). Ids
/// past the word embeddings count as `unk`.
///
/// # Panics
/// When `tensor` returns a tensor of the wrong size (the caller checks them on load).
pub fn encode<'w>(tensor: &dyn Fn(&str) -> &'w [u8], ids: &[u32], unk: u32) -> Vec<f32> {
    let n = ids.len();
    let d = DIMS;
    let word = tensor("embeddings.word_embeddings.weight");
    let pos = tensor("embeddings.position_embeddings.weight");
    let typ = floats(tensor, "embeddings.token_type_embeddings.weight");
    let rows = word.len() / (4 * d);
    let mut x = vec![0.0f32; n * d];
    for (t, &id) in ids.iter().enumerate() {
        let id = if (id as usize) < rows {
            id as usize
        } else {
            unk as usize
        };
        let w = word[id * d * 4..(id + 1) * d * 4].chunks_exact(4);
        let p = pos[t * d * 4..(t + 1) * d * 4].chunks_exact(4);
        for (i, (w, p)) in w.zip(p).enumerate() {
            x[t * d + i] = le_f32(w) + le_f32(p) + typ[i];
        }
    }
    layer_norm(
        &mut x,
        &floats(tensor, "embeddings.LayerNorm.weight"),
        &floats(tensor, "embeddings.LayerNorm.bias"),
    );
    for l in 0..LAYERS {
        layer(tensor, l, &mut x, n);
    }
    let mut mean = vec![0.0f32; d];
    for row in x.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v / n as f32;
        }
    }
    let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        mean.iter_mut().for_each(|v| *v /= norm);
    }
    mean
}

fn layer<'w>(tensor: &dyn Fn(&str) -> &'w [u8], l: usize, x: &mut [f32], n: usize) {
    let d = DIMS;
    let w = |s: &str| tensor(&format!("encoder.layer.{l}.{s}"));
    let f = |s: &str| floats(tensor, &format!("encoder.layer.{l}.{s}"));
    let q = linear(
        x,
        n,
        w("attention.self.query.weight"),
        &f("attention.self.query.bias"),
    );
    let k = linear(
        x,
        n,
        w("attention.self.key.weight"),
        &f("attention.self.key.bias"),
    );
    let v = linear(
        x,
        n,
        w("attention.self.value.weight"),
        &f("attention.self.value.bias"),
    );
    let hd = d / HEADS;
    let scale = 1.0 / (hd as f32).sqrt();
    let mut ctx = vec![0.0f32; n * d];
    let mut scores = vec![0.0f32; n];
    for h in 0..HEADS {
        let head = h * hd..(h + 1) * hd;
        for t in 0..n {
            let qh = &q[t * d..][head.clone()];
            for (u, s) in scores.iter_mut().enumerate() {
                *s = dot(qh, &k[u * d..][head.clone()]) * scale;
            }
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let out = &mut ctx[t * d..][head.clone()];
            for (u, s) in scores.iter().enumerate() {
                let a = s / sum;
                for (o, vv) in out.iter_mut().zip(&v[u * d..][head.clone()]) {
                    *o += a * vv;
                }
            }
        }
    }
    let attn = linear(
        &ctx,
        n,
        w("attention.output.dense.weight"),
        &f("attention.output.dense.bias"),
    );
    x.iter_mut().zip(&attn).for_each(|(a, b)| *a += b);
    layer_norm(
        x,
        &f("attention.output.LayerNorm.weight"),
        &f("attention.output.LayerNorm.bias"),
    );
    let mut inter = linear(
        x,
        n,
        w("intermediate.dense.weight"),
        &f("intermediate.dense.bias"),
    );
    inter.iter_mut().for_each(|v| *v = gelu(*v));
    let out = linear(&inter, n, w("output.dense.weight"), &f("output.dense.bias"));
    x.iter_mut().zip(&out).for_each(|(a, b)| *a += b);
    layer_norm(
        x,
        &f("output.LayerNorm.weight"),
        &f("output.LayerNorm.bias"),
    );
}

/// A (small) tensor's values.
fn floats<'w>(tensor: &dyn Fn(&str) -> &'w [u8], name: &str) -> Vec<f32> {
    tensor(name).chunks_exact(4).map(le_f32).collect()
}

/// `a · b` in eight independent sums (the compiler vectorises them; one running sum would
/// be summed in order and not).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `x W^T + b` for `n` rows of `x`; `W` is `[out, in]` as PyTorch stores a linear layer, given
/// as its little-endian bytes.
///
/// The product is matrixmultiply's sgemm (through ndarray's safe `general_mat_mul`), which
/// picks AVX and FMA at run time when the processor has them: a 51-token text encodes in 27 ms
/// instead of 51 ms with the eight-lane loop ([`linear_le`]), which stays for weights that
/// cannot be viewed as `f32` in place (misaligned, or a big-endian machine). Short queries gain
/// little: they are bound by reading the 88 MB of weights once per encode. Large products are
/// split over two threads (11 tokens: 10.0 → 9.3 ms).
fn linear(x: &[f32], n: usize, w: &[u8], b: &[f32]) -> Vec<f32> {
    let out = b.len();
    let inn = w.len() / 4 / out;
    let weights: Option<&[f32]> = if cfg!(target_endian = "little") {
        bytemuck::try_cast_slice(w).ok()
    } else {
        None
    };
    let Some(weights) = weights else {
        return linear_le(x, n, w, b);
    };
    let (Ok(xv), Ok(wv)) = (
        ndarray::ArrayView2::from_shape((n, inn), &x[..n * inn]),
        ndarray::ArrayView2::from_shape((out, inn), weights),
    ) else {
        return linear_le(x, n, w, b);
    };
    // y^T = W x^T, written into y's memory through a transposed view.
    let mut y = ndarray::Array2::from_shape_fn((n, out), |(_, j)| b[j]);
    let mut yt = y.view_mut().reversed_axes();
    let xt = xv.t();
    if n * out * inn >= PARALLEL_MACS && cores() >= 2 {
        // Half of W's rows on a second thread. A scoped thread blocks in `join` (no spinning):
        // matrixmultiply's own thread pool took a query from 33 to 350 ms when other processes
        // kept both cores busy.
        let half = out / 2;
        let (w1, w2) = wv.split_at(ndarray::Axis(0), half);
        let (mut y1, mut y2) = yt.view_mut().split_at(ndarray::Axis(0), half);
        std::thread::scope(|scope| {
            scope.spawn(|| ndarray::linalg::general_mat_mul(1.0, &w2, &xt, 1.0, &mut y2));
            ndarray::linalg::general_mat_mul(1.0, &w1, &xt, 1.0, &mut y1);
        });
    } else {
        ndarray::linalg::general_mat_mul(1.0, &wv, &xt, 1.0, &mut yt);
    }
    y.into_raw_vec_and_offset().0
}

/// Multiply-adds from which a product is split over two threads (below this a thread costs more
/// than it saves).
const PARALLEL_MACS: usize = 1 << 20;

/// The cores this process may use (asked once).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

/// [`linear`] reading each weight as little-endian bytes, in eight-lane dot products.
fn linear_le(x: &[f32], n: usize, w: &[u8], b: &[f32]) -> Vec<f32> {
    let out = b.len();
    let inn = w.len() / 4 / out;
    let mut y = vec![0.0f32; n * out];
    // Row by row of W: each row stays in cache while every token uses it.
    for (j, row) in w.chunks_exact(inn * 4).enumerate() {
        for t in 0..n {
            y[t * out + j] = b[j] + dot_le(&x[t * inn..(t + 1) * inn], row);
        }
    }
    y
}

/// `a · b` where `b` holds little-endian `f32`s, in eight independent sums (as fast as a dot of
/// two `f32` slices: on x86 the conversion is a plain load).
fn dot_le(a: &[f32], b: &[u8]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(32));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder().chunks_exact(4))
        .map(|(x, y)| x * le_f32(y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * le_f32(&y[4 * k..4 * k + 4]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The little-endian `f32` in the first four bytes of `b`.
fn le_f32(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32]) {
    let d = gamma.len();
    for row in x.chunks_exact_mut(d) {
        let mean = row.iter().sum::<f32>() / d as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let inv = 1.0 / (var + LAYER_NORM_EPS).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

/// GELU as BERT defines it, `x Φ(x)`, with erf by Abramowitz & Stegun 7.1.26 (error < 1.5e-7).
fn gelu(x: f32) -> f32 {
    let z = x / std::f32::consts::SQRT_2;
    let (s, z) = (z.signum(), z.abs());
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_8) * t - 0.284_496_74) * t
        + 0.254_829_6)
        * t;
    let erf = s * (1.0 - poly * (-z * z).exp());
    0.5 * x * (1.0 + erf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer, its input and bias, and the byte loop's answer.
    struct Case {
        bytes: Vec<u8>,
        x: Vec<f32>,
        b: Vec<f32>,
        slow: Vec<f32>,
    }

    /// `linear` and `linear_le` agree on an `n × inn` input and an `out × inn` layer of
    /// made-up values (divided by `scale`).
    fn both_products(n: usize, inn: usize, out: usize, scale: f32) -> Case {
        let x: Vec<f32> = (0..n * inn)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / scale)
            .collect();
        let bytes: Vec<u8> = (0..out * inn)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / (2.0 * scale))
            .flat_map(f32::to_le_bytes)
            .collect();
        let b: Vec<f32> = (0..out).map(|j| j as f32 / 10.0).collect();
        let (fast, slow) = (linear(&x, n, &bytes, &b), linear_le(&x, n, &bytes, &b));
        assert_eq!(fast.len(), n * out);
        for (f, s) in fast.iter().zip(&slow) {
            assert!((f - s).abs() < 1e-3 * (1.0 + s.abs()), "{f} vs {s}");
        }
        Case { bytes, x, b, slow }
    }

    #[test]
    fn the_matrix_product_matches_the_byte_loop() {
        let Case { bytes, x, b, slow } = both_products(5, 24, 7, 5.0);
        // Misaligned bytes take the byte loop and give the same answer.
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&bytes);
        assert_eq!(linear(&x, 5, &shifted[1..], &b), slow);
        // A product large enough to be split over two threads gives the same answer.
        const _: () = assert!(8 * 384 * 384 >= PARALLEL_MACS);
        both_products(8, 384, 384, 50.0);
    }

    #[test]
    fn gelu_matches_its_definition() {
        // Φ(1) = 0.841344746, Φ(-2) = 0.022750132.
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu(-2.0) + 2.0 * 0.022_750_13).abs() < 1e-6);
        assert_eq!(gelu(0.0), 0.0);
    }
}
