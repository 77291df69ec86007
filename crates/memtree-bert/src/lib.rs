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

use std::sync::Arc;

mod share;

/// Where the encoder reads its weights: each tensor's little-endian `f32` bytes by name (names as
/// sentence-transformers saves BERT). `'static` and shared, so that the helper thread that runs
/// part of a product can hold them.
pub trait Weights: Send + Sync {
    /// The bytes of the tensor `name`.
    ///
    /// # Panics
    /// May panic for a name the model does not have (the caller checks them on load).
    fn tensor(&self, name: &str) -> &[u8];
}

/// The unit sentence vector (mean of the last layer over all tokens, scaled to unit length) of
/// the token ids `ids` (at most [`POSITIONS`]), reading each tensor through `weights` (the caller
/// checks shapes). Ids past the word embeddings count as `unk`. With `threads` of at least 2 the
/// large products are shared with a helper thread that takes parts of them when it is running
/// (see `share.rs`); 1 when the caller runs encodes side by side already.
///
/// # Panics
/// When `weights` returns a tensor of the wrong size (the caller checks them on load).
pub fn encode(weights: &Arc<dyn Weights>, ids: &[u32], unk: u32, threads: usize) -> Vec<f32> {
    // The helper thread starts with the first product that is shared (none below 8 tokens).
    let split = two_threads(threads);
    let n = ids.len();
    let d = DIMS;
    let tensor = |name: &str| weights.tensor(name);
    let word = tensor("embeddings.word_embeddings.weight");
    let pos = tensor("embeddings.position_embeddings.weight");
    let typ = floats(weights, "embeddings.token_type_embeddings.weight");
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
        &floats(weights, "embeddings.LayerNorm.weight"),
        &floats(weights, "embeddings.LayerNorm.bias"),
    );
    let arch = pulp::Arch::new();
    for l in 0..LAYERS {
        arch.dispatch(Layer {
            weights,
            l,
            x: &mut x,
            n,
            split,
        });
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

/// Layer `l` of the encoder applied to the `n` token vectors in `x`, compiled by pulp for the
/// widest SIMD this processor has, so that the loops around the products (attention, layer
/// norm, GELU) vectorise to it (the default target is SSE2).
struct Layer<'a> {
    weights: &'a Arc<dyn Weights>,
    l: usize,
    x: &'a mut [f32],
    n: usize,
    split: bool,
}

impl pulp::WithSimd for Layer<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        layer(self.weights, self.l, self.x, self.n, self.split);
    }
}

#[inline(always)]
fn layer(weights: &Arc<dyn Weights>, l: usize, x: &mut [f32], n: usize, split: bool) {
    let d = DIMS;
    let name = |s: &str| format!("encoder.layer.{l}.{s}");
    let f = |s: &str| floats(weights, &name(s));
    let [q, k, v] = linears(
        x,
        n,
        weights,
        [
            name("attention.self.query"),
            name("attention.self.key"),
            name("attention.self.value"),
        ],
        split,
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
                *s = exp(*s - max);
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
    let [attn] = linears(&ctx, n, weights, [name("attention.output.dense")], split);
    x.iter_mut().zip(&attn).for_each(|(a, b)| *a += b);
    layer_norm(
        x,
        &f("attention.output.LayerNorm.weight"),
        &f("attention.output.LayerNorm.bias"),
    );
    let [mut inter] = linears(x, n, weights, [name("intermediate.dense")], split);
    inter.iter_mut().for_each(|v| *v = gelu(*v));
    let [out] = linears(&inter, n, weights, [name("output.dense")], split);
    x.iter_mut().zip(&out).for_each(|(a, b)| *a += b);
    layer_norm(
        x,
        &f("output.LayerNorm.weight"),
        &f("output.LayerNorm.bias"),
    );
}

/// A (small) tensor's values.
fn floats(weights: &Arc<dyn Weights>, name: &str) -> Vec<f32> {
    weights.tensor(name).chunks_exact(4).map(le_f32).collect()
}

/// `a · b` in eight independent sums (the compiler vectorises them; one running sum would
/// be summed in order and not).
#[inline(always)]
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

/// `x W^T + b` for `n` rows of `x` and each of `M` linear layers that read the same `x`
/// (attention's query, key and value), named by `names` (`NAME.weight`, `[out, in]` as PyTorch
/// stores it, and `NAME.bias`), with as many inputs.
///
/// Below [`SGEMM_TOKENS`] tokens (queries) the product is [`Product`], compiled by pulp for
/// AVX-512, AVX2+FMA and plain code and picked at run time; from there (long entries at index
/// time) it is matrixmultiply's sgemm through ndarray's safe `general_mat_mul`, which picks
/// AVX2+FMA at run time ([`sgemm`]). [`linear_le`] stays for weights that cannot be viewed as
/// `f32` in place (misaligned, or a big-endian machine).
///
/// With `split`, products of at least [`PARALLEL_MACS`] multiply-adds are cut into [`PARTS`]
/// runs of rows (the layers' rows laid end to end, so that three products each too small to be
/// worth a thread share one) that the caller and the helper thread claim in turn (`share.rs`).
/// The caller never waits for a helper that is not running (matrixmultiply's own thread pool
/// took a query from 33 to 350 ms when other processes kept both cores busy).
fn linears<const M: usize>(
    x: &[f32],
    n: usize,
    weights: &Arc<dyn Weights>,
    names: [String; M],
    split: bool,
) -> [Vec<f32>; M] {
    let layers: [(&[u8], Vec<f32>); M] = std::array::from_fn(|i| {
        (
            weights.tensor(&format!("{}.weight", names[i])),
            floats(weights, &format!("{}.bias", names[i])),
        )
    });
    let inn = layers
        .first()
        .map_or(0, |(w, b)| w.len() / 4 / b.len().max(1));
    if n == 0 || inn == 0 || layers.iter().any(|(w, b)| as_f32(w, b, inn).is_none()) {
        return layers.map(|(w, b)| linear_le(x, n, w, &b));
    }
    let x = &x[..n * inn];
    let total: usize = layers.iter().map(|(_, b)| b.len()).sum();
    if !split || n * total * inn < PARALLEL_MACS || total < PARTS {
        let rows: [(&[f32], &[f32]); M] = std::array::from_fn(|i| {
            let (w, b) = &layers[i];
            (as_f32(w, b, inn).unwrap_or_default(), &b[..])
        });
        return product_rows(x, n, inn, rows, 0, total);
    }
    // Cut at multiples of four rows (the product's block), then run with the helper: what it
    // runs is owned, so the job copies `x` (46 to 184 KB at 30 tokens) and the biases.
    let cuts: Vec<usize> = (0..=PARTS)
        .map(|p| {
            if p == PARTS {
                total
            } else {
                total * p / PARTS / 4 * 4
            }
        })
        .collect();
    let job = OwnedProducts {
        weights: Arc::clone(weights),
        names,
        biases: layers.map(|(_, b)| b),
        x: x.to_vec(),
        n,
        inn,
    };
    let parts = share::parts(PARTS, move |p| job.rows(cuts[p], cuts[p + 1]));
    // Each part holds, per layer, a token-major `n × rows` block; each y takes them row by row
    // (whole rows, not a scatter).
    std::array::from_fn(|i| {
        let blocks: Vec<&Vec<f32>> = parts.iter().map(|p| &p[i]).collect();
        let out: usize = blocks.iter().map(|b| b.len() / n).sum();
        let mut y = Vec::with_capacity(n * out);
        for t in 0..n {
            for b in &blocks {
                let l = b.len() / n;
                y.extend_from_slice(&b[t * l..(t + 1) * l]);
            }
        }
        y
    })
}

/// The weights `w` of a layer with bias `b` and `inn` inputs as `f32`s in place, when they are
/// whole, aligned and the machine is little-endian.
fn as_f32<'w>(w: &'w [u8], b: &[f32], inn: usize) -> Option<&'w [f32]> {
    let whole = !b.is_empty() && w.len() == 4 * inn * b.len();
    if cfg!(target_endian = "little") && whole {
        bytemuck::try_cast_slice(w).ok()
    } else {
        None
    }
}

/// How many runs of rows a shared product is cut into: more than two, so that when the helper
/// is stopped in the middle of one, the caller waits for that one only.
const PARTS: usize = 4;

/// What a part of a shared product needs, owned (see [`linears`]).
struct OwnedProducts<const M: usize> {
    weights: Arc<dyn Weights>,
    names: [String; M],
    biases: [Vec<f32>; M],
    x: Vec<f32>,
    n: usize,
    inn: usize,
}

impl<const M: usize> OwnedProducts<M> {
    /// Rows `from..to` of the layers laid end to end ([`product_rows`]).
    fn rows(&self, from: usize, to: usize) -> [Vec<f32>; M] {
        let rows: [(&[f32], &[f32]); M] = std::array::from_fn(|i| {
            let w = self.weights.tensor(&format!("{}.weight", self.names[i]));
            // `linears` checked that each casts.
            let w: &[f32] = bytemuck::try_cast_slice(w).unwrap_or_default();
            (w, &self.biases[i][..])
        });
        product_rows(&self.x, self.n, self.inn, rows, from, to)
    }
}

/// Rows `from..to` of the `M` layers `(W as f32, b)` laid end to end, for the `n` rows of `x`
/// (`inn` wide): per layer, a token-major `n × rows` block (empty for a layer outside the
/// range).
fn product_rows<const M: usize>(
    x: &[f32],
    n: usize,
    inn: usize,
    layers: [(&[f32], &[f32]); M],
    from: usize,
    to: usize,
) -> [Vec<f32>; M] {
    let arch = pulp::Arch::new();
    let prefetch = Prefetch::new();
    let mut start = 0;
    std::array::from_fn(|i| {
        let (w, b) = layers[i];
        let rows = |at: usize| at.clamp(start, start + b.len()) - start;
        let (r0, r1) = (rows(from), rows(to));
        start += b.len();
        if r1 <= r0 {
            return Vec::new();
        }
        let (w, b) = (&w[r0 * inn..r1 * inn], &b[r0..r1]);
        if n >= SGEMM_TOKENS
            && let Some(y) = sgemm(x, n, inn, w, b)
        {
            return y;
        }
        let mut y = vec![0.0f32; n * (r1 - r0)];
        arch.dispatch(Product {
            x,
            n,
            inn,
            w,
            b,
            y: &mut y,
            prefetch,
        });
        y
    })
}

/// Tokens from which [`linears`] uses matrixmultiply's sgemm, which packs W once per product and
/// is faster on long texts (dense_probe, side by side: 154 tokens 67 ms against 78 ms with
/// [`Product`]; at 78 tokens both take 30 ms; 6 tokens 2.5 against 7.6 ms).
const SGEMM_TOKENS: usize = 64;

/// `x W^T + b` by matrixmultiply (see [`linears`]), token-major; `None` if the shapes do not
/// fit.
fn sgemm(x: &[f32], n: usize, inn: usize, weights: &[f32], b: &[f32]) -> Option<Vec<f32>> {
    let out = b.len();
    let xv = ndarray::ArrayView2::from_shape((n, inn), x).ok()?;
    let wv = ndarray::ArrayView2::from_shape((out, inn), weights).ok()?;
    // y^T = W x^T, written into y's memory through a transposed view.
    let mut y = ndarray::Array2::from_shape_fn((n, out), |(_, j)| b[j]);
    let mut yt = y.view_mut().reversed_axes();
    ndarray::linalg::general_mat_mul(1.0, &wv, &xv.t(), 1.0, &mut yt);
    Some(y.into_raw_vec_and_offset().0)
}

/// `y = x W^T + b` for the rows of `w` (`[rows, inn]`) and the `n` rows of `x` (`[n, inn]`),
/// written token-major: `y[t * rows + j] = w_j · x_t + b_j`.
///
/// Register-blocked as in GotoBLAS (Goto & van de Geijn 2008), without packing: four rows of
/// `W` and [`Product::tokens`] tokens at a time, their sums in SIMD registers; a last group of
/// fewer tokens goes two at a time. Each block of `W` is read from memory once, by the first
/// tokens, while the next block is prefetched; the other tokens find it in cache. A query's few
/// tokens are bound by reading `W` (42 MB per encode), which matrixmultiply's packing read twice.
struct Product<'a> {
    x: &'a [f32],
    n: usize,
    inn: usize,
    w: &'a [f32],
    b: &'a [f32],
    y: &'a mut [f32],
    prefetch: Prefetch,
}

impl Product<'_> {
    /// Tokens per block for `S`: with 16-float registers (AVX-512, 32 of them), 6 (24 sums); with
    /// narrower ones (AVX2 has 16 registers), 2, so that the sums, four rows and a token fit.
    #[inline(always)]
    fn tokens<S: pulp::Simd>() -> usize {
        if size_of::<S::f32s>() >= 64 { 6 } else { 2 }
    }

    /// The product with blocks of `R` rows and `T` tokens, the last tokens two at a time.
    #[inline(always)]
    fn run<S: pulp::Simd, const R: usize, const T: usize>(self, simd: S) {
        let Product {
            x,
            n,
            inn,
            w,
            b,
            y,
            prefetch,
        } = self;
        let rows = w.len() / inn;
        for j0 in (0..rows).step_by(R) {
            let r = R.min(rows - j0);
            // A short last block repeats its last row (the extra sums are not stored).
            let wr: [(&[S::f32s], &[f32]); R] =
                std::array::from_fn(|i| S::as_simd_f32s(&w[(j0 + i.min(r - 1)) * inn..][..inn]));
            let next = w.get((j0 + R) * inn..(j0 + 2 * R) * inn);
            let mut t0 = 0;
            while t0 < n {
                let fetch = next.filter(|_| t0 == 0);
                let at = Block { j0, r, t0, rows };
                if n - t0 >= T {
                    let acc = sums::<S, R, T>(simd, &wr, x, inn, t0, T, fetch, prefetch);
                    at.store(simd, &wr, x, inn, T, &acc, b, y);
                    t0 += T;
                } else {
                    let tn = 2.min(n - t0);
                    let acc = sums::<S, R, 2>(simd, &wr, x, inn, t0, tn, fetch, prefetch);
                    at.store(simd, &wr, x, inn, tn, &acc, b, y);
                    t0 += tn;
                }
            }
        }
    }
}

/// Where a block of sums goes: rows `j0..j0 + r` of `rows`, tokens from `t0`.
#[derive(Clone, Copy)]
struct Block {
    j0: usize,
    r: usize,
    t0: usize,
    rows: usize,
}

impl Block {
    /// Stores the first `tn` tokens' sums of `acc`, each plus its row's scalar tail (the
    /// elements past the last whole vector) and bias.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn store<S: pulp::Simd, const R: usize, const T: usize>(
        self,
        simd: S,
        wr: &[(&[S::f32s], &[f32]); R],
        x: &[f32],
        inn: usize,
        tn: usize,
        acc: &[[S::f32s; T]; R],
        b: &[f32],
        y: &mut [f32],
    ) {
        for tt in 0..tn {
            let xt = S::as_simd_f32s(&x[(self.t0 + tt) * inn..][..inn]).1;
            let out = &mut y[(self.t0 + tt) * self.rows + self.j0..][..self.r];
            for (rr, o) in out.iter_mut().enumerate() {
                let tail: f32 = wr[rr].1.iter().zip(xt).map(|(a, b)| a * b).sum();
                *o = simd.reduce_sum_f32s(acc[rr][tt]) + tail + b[self.j0 + rr];
            }
        }
    }
}

/// The SIMD sums of `R` rows of W with `T` tokens of `x` from `t0` (a group of `tn` < `T`
/// repeats its last token), prefetching the block `fetch` meanwhile.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn sums<S: pulp::Simd, const R: usize, const T: usize>(
    simd: S,
    wr: &[(&[S::f32s], &[f32]); R],
    x: &[f32],
    inn: usize,
    t0: usize,
    tn: usize,
    fetch: Option<&[f32]>,
    prefetch: Prefetch,
) -> [[S::f32s; T]; R] {
    let len = wr[0].0.len();
    // Slices of one known length: the loop below indexes them without bounds checks.
    let w: [&[S::f32s]; R] = std::array::from_fn(|i| &wr[i].0[..len]);
    let xr: [&[S::f32s]; T] =
        std::array::from_fn(|i| &S::as_simd_f32s(&x[(t0 + i.min(tn - 1)) * inn..][..inn]).0[..len]);
    match fetch {
        Some(next) => sums_loop::<S, R, T, true>(simd, &w, &xr, next, inn, prefetch),
        None => sums_loop::<S, R, T, false>(simd, &w, &xr, &[], inn, prefetch),
    }
}

/// The inner loop of [`sums`]; `FETCH` is a constant so that the loop without prefetches has
/// no branch (with one, the sums spilled to the stack on every step).
#[inline(always)]
fn sums_loop<S: pulp::Simd, const R: usize, const T: usize, const FETCH: bool>(
    simd: S,
    w: &[&[S::f32s]; R],
    x: &[&[S::f32s]; T],
    next: &[f32],
    inn: usize,
    prefetch: Prefetch,
) -> [[S::f32s; T]; R] {
    let lanes = size_of::<S::f32s>() / size_of::<f32>();
    let mut acc = [[simd.splat_f32s(0.0); T]; R];
    for k in 0..w[0].len() {
        if FETCH {
            for i in 0..R {
                if let Some(line) = next.get(i * inn + k * lanes..) {
                    prefetch.line(line);
                }
            }
        }
        let wv: [S::f32s; R] = std::array::from_fn(|i| w[i][k]);
        for tt in 0..T {
            let xv = x[tt][k];
            for rr in 0..R {
                acc[rr][tt] = simd.mul_add_f32s(wv[rr], xv, acc[rr][tt]);
            }
        }
    }
    acc
}

impl pulp::WithSimd for Product<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        if Self::tokens::<S>() == 6 {
            self.run::<S, 4, 6>(simd);
        } else {
            self.run::<S, 4, 2>(simd);
        }
    }
}

/// Asks the processor to fetch a cache line it will read soon (x86's `prefetcht0`; nothing
/// elsewhere).
#[derive(Clone, Copy)]
struct Prefetch(#[cfg(target_arch = "x86_64")] Option<pulp::core_arch::x86::Sse>);

impl Prefetch {
    fn new() -> Self {
        Prefetch(
            #[cfg(target_arch = "x86_64")]
            pulp::core_arch::x86::Sse::try_new(),
        )
    }

    /// Prefetches the line holding `at[0]`.
    #[inline(always)]
    fn line(self, at: &[f32]) {
        #[cfg(target_arch = "x86_64")]
        if let Some(sse) = self.0 {
            sse._mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.as_ptr().cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = at;
    }
}

/// Multiply-adds from which a product is shared with the helper thread (from 8 tokens for the
/// feed-forward products, from 10 for attention's): a few tokens' products are bound by
/// reading the weights, which two threads share. Measured with a rayon pool of two splitting
/// products in halves (`dense_probe`): a 6-token query encoded in 2.53–2.76 ms whether the
/// threshold was 2^18, 2^20 or 2^22; a 25-token query, whose large products are split at all
/// three, in 8.4–8.8 ms.
const PARALLEL_MACS: usize = 1 << 22;

/// Whether a product may take a second thread: the caller allows `threads` and this process
/// may use two cores (asked once). At index time two encodes already run side by side, and a
/// third and fourth thread made `index --full` 3% slower.
fn two_threads(threads: usize) -> bool {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    threads >= 2
        && *CORES
            .get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
            >= 2
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

#[inline(always)]
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
/// Branch-free, with [`exp`] in place of libm's, so that a loop over it vectorises.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    let z = x / std::f32::consts::SQRT_2;
    let (s, z) = (z.signum(), z.abs());
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = ((((1.061_405_4 * t - 1.453_152_1) * t + 1.421_413_8) * t - 0.284_496_74) * t
        + 0.254_829_6)
        * t;
    let erf = s * (1.0 - poly * exp(-z * z));
    0.5 * x * (1.0 + erf)
}

/// `e^x` for `x` clamped to [-87, 88] (NaN stays NaN), within a few ulps of libm's: Cephes'
/// `expf` (Moshier 1984), `x = k ln 2 + r` with `|r| ≤ ln 2 / 2`, `e^r` by a degree-5 polynomial
/// and `2^k` by the exponent bits. Plain arithmetic, so that loops over it vectorise (a call
/// to libm's `expf` does not).
#[inline(always)]
fn exp(x: f32) -> f32 {
    // Adding 1.5 × 2^23 rounds to an integer (round to nearest) without a rounding instruction.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let k = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    // ln 2 in two parts, so that k ln 2 is exact enough: 0.693359375 - 2.12194440e-4.
    let r = (x - k * 0.693_359_4) + k * 2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 0.166_666_65)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    // k is an integer in [-126, 127]: 2^k is a normal f32.
    e * f32::from_bits(((k as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tensors by name, each starting `shift` bytes into its buffer (1: misaligned for `f32`).
    struct Named(std::collections::HashMap<String, Vec<u8>>, usize);

    impl Weights for Named {
        fn tensor(&self, name: &str) -> &[u8] {
            &self.0[name][self.1..]
        }
    }

    /// Weights holding the layers `(name, W as little-endian bytes, b)`.
    fn named(layers: &[(&str, &[u8], &[f32])], shift: usize) -> Arc<dyn Weights> {
        let mut tensors = std::collections::HashMap::new();
        for (name, w, b) in layers {
            let mut bytes = vec![0u8; shift];
            bytes.extend_from_slice(w);
            tensors.insert(format!("{name}.weight"), bytes);
            let mut bytes = vec![0u8; shift];
            bytes.extend(b.iter().flat_map(|v| v.to_le_bytes()));
            tensors.insert(format!("{name}.bias"), bytes);
        }
        Arc::new(Named(tensors, shift))
    }

    /// A layer, its input and bias, and the byte loop's answer.
    struct Case {
        bytes: Vec<u8>,
        x: Vec<f32>,
        b: Vec<f32>,
        slow: Vec<f32>,
    }

    /// `linears` (with `split`) and `linear_le` agree on an `n × inn` input and an `out × inn`
    /// layer of made-up values (divided by `scale`).
    fn both_products(n: usize, inn: usize, out: usize, scale: f32, split: bool) -> Case {
        let x: Vec<f32> = (0..n * inn)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / scale)
            .collect();
        let bytes: Vec<u8> = (0..out * inn)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / (2.0 * scale))
            .flat_map(f32::to_le_bytes)
            .collect();
        let b: Vec<f32> = (0..out).map(|j| j as f32 / 10.0).collect();
        let weights = named(&[("l", &bytes, &b)], 0);
        let [fast] = linears(&x, n, &weights, ["l".to_string()], split);
        let slow = linear_le(&x, n, &bytes, &b);
        assert_eq!(fast.len(), n * out);
        for (f, s) in fast.iter().zip(&slow) {
            assert!((f - s).abs() < 1e-3 * (1.0 + s.abs()), "{f} vs {s}");
        }
        Case { bytes, x, b, slow }
    }

    #[test]
    fn the_matrix_product_matches_the_byte_loop() {
        let Case { bytes, x, b, slow } = both_products(5, 24, 7, 5.0, true);
        // Misaligned bytes take the byte loop and give the same answer.
        let shifted = named(&[("l", &bytes, &b)], 1);
        assert_eq!(linears(&x, 5, &shifted, ["l".to_string()], true), [slow]);
        // A product large enough to be shared with the helper gives the same answer, on one
        // thread too, and so does one long enough for sgemm.
        const _: () = assert!(13 * 1536 * 384 >= PARALLEL_MACS && 13 < SGEMM_TOKENS);
        const _: () = assert!(SGEMM_TOKENS * 384 * 384 >= PARALLEL_MACS);
        for split in [true, false] {
            both_products(13, 384, 1536, 50.0, split);
            both_products(SGEMM_TOKENS, 384, 384, 50.0, split);
        }
    }

    #[test]
    fn products_shared_together_match_the_byte_loop() {
        // Three layers of 7, 9 and 5 rows, together just over PARALLEL_MACS: the parts are
        // cut at rows 4, 8 and 12 of 21, inside the first and the second layer.
        let (n, inn) = (13, 16_384);
        const _: () = assert!(13 * 16_384 * 21 >= PARALLEL_MACS && 13 * 16_384 * 9 < PARALLEL_MACS);
        let x: Vec<f32> = (0..n * inn).map(|i| (i * 7 % 13) as f32 - 6.0).collect();
        let layer = |out: usize, seed: usize| {
            let w: Vec<u8> = (0..out * inn)
                .map(|i| ((i * seed) % 11) as f32 - 5.0)
                .flat_map(f32::to_le_bytes)
                .collect();
            let b: Vec<f32> = (0..out).map(|j| (j * seed % 7) as f32).collect();
            (w, b)
        };
        let (a, b, c) = (layer(7, 5), layer(9, 3), layer(5, 2));
        let weights = named(
            &[("a", &a.0, &a.1), ("b", &b.0, &b.1), ("c", &c.0, &c.1)],
            0,
        );
        let names = ["a", "b", "c"].map(String::from);
        // Twice: the second time the helper is awake and takes parts.
        for _ in 0..2 {
            let ys = linears(&x, n, &weights, names.clone(), true);
            for (y, (w, bias)) in ys.iter().zip([&a, &b, &c]) {
                // Small integers: every sum is exact in f32, whatever the order.
                assert_eq!(*y, linear_le(&x, n, w, bias));
            }
        }
    }

    /// The product on one SIMD level, token-major.
    fn product_on<S: pulp::Simd>(
        simd: S,
        x: &[f32],
        n: usize,
        w: &[f32],
        inn: usize,
        b: &[f32],
    ) -> Vec<f32> {
        let mut y = vec![f32::NAN; w.len() / inn * n];
        simd.vectorize(Product {
            x,
            n,
            inn,
            w,
            b,
            y: &mut y,
            prefetch: Prefetch::new(),
        });
        y
    }

    #[test]
    fn every_simd_level_gives_the_byte_loops_product() {
        // Shapes with a short last block of rows and of tokens (6 + 2 + 1, 6 + 2 + 2 + 1),
        // and lengths that are not a multiple of 8 or 16 lanes.
        for (n, inn, out) in [
            (1, 3, 1),
            (5, 24, 7),
            (7, 40, 9),
            (13, 384, 6),
            (2, 1536, 5),
            (9, 40, 9),
            (11, 33, 5),
        ] {
            let x: Vec<f32> = (0..n * inn).map(|i| (i * 7 % 13) as f32 - 6.0).collect();
            let w: Vec<f32> = (0..out * inn).map(|i| (i * 5 % 11) as f32 - 5.0).collect();
            let bytes: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
            let b: Vec<f32> = (0..out).map(|j| j as f32 - 3.0).collect();
            let slow = linear_le(&x, n, &bytes, &b);
            let mut levels = vec![(
                "scalar",
                product_on(pulp::Scalar::new(), &x, n, &w, inn, &b),
            )];
            #[cfg(target_arch = "x86_64")]
            {
                if let Some(v3) = pulp::x86::V3::try_new() {
                    levels.push(("avx2", product_on(v3, &x, n, &w, inn, &b)));
                }
                if let Some(v4) = pulp::x86::V4::try_new() {
                    levels.push(("avx512", product_on(v4, &x, n, &w, inn, &b)));
                }
            }
            #[cfg(target_arch = "aarch64")]
            if let Some(neon) = pulp::aarch64::Neon::try_new() {
                levels.push(("neon", product_on(neon, &x, n, &w, inn, &b)));
            }
            for (level, y) in levels {
                // Small integers: every sum is exact in f32, whatever the order.
                assert_eq!(y, slow, "{level} {n}x{inn}x{out}");
            }
        }
    }

    #[test]
    fn exp_is_within_a_few_ulps_of_libm() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, libm) = (exp(x), x.exp());
            assert!(
                ((ours - libm) / libm).abs() < 4.0 * f32::EPSILON,
                "{x}: {ours} vs {libm}"
            );
            x += 0.001_7;
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), (-87.0f32).exp());
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn gelu_matches_its_definition() {
        // Φ(1) = 0.841344746, Φ(-2) = 0.022750132.
        assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu(-2.0) + 2.0 * 0.022_750_13).abs() < 1e-6);
        assert_eq!(gelu(0.0), 0.0);
    }
}
