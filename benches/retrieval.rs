//! Speed of the three things users wait for, on generated trees of 1k, 10k and (with
//! `MEMTREE_BENCH_100K=1`) 100k entries: a query (freshness check included, as every command
//! runs it), the freshness check alone, the refresh after one edited file, and a full build;
//! and the dense tier's cosines with 10k entry vectors.
//!
//! Run: `cargo bench --bench retrieval` (add `MEMTREE_BENCH_100K=1` for the 100k tree; its
//! generation and first build take about a minute). Budgets: DESIGN.md §7. Whole-process
//! timings (process start, index open, rendering) are measured with hyperfine: BENCHMARKS.md.

#[path = "support/gen_tree.rs"]
mod gen_tree;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use memtree::{Memory, Query, Tree};

fn main() {
    divan::main();
}

fn sizes() -> Vec<usize> {
    let mut v = vec![1_000, 10_000];
    if std::env::var_os("MEMTREE_BENCH_100K").is_some() {
        v.push(100_000);
    }
    v
}

/// One generated, indexed tree per size, made once per bench process.
fn tree(n: usize) -> PathBuf {
    static TREES: OnceLock<Mutex<HashMap<usize, PathBuf>>> = OnceLock::new();
    let trees = TREES.get_or_init(Default::default);
    let mut trees = trees.lock().unwrap();
    trees
        .entry(n)
        .or_insert_with(|| {
            let dir = tempfile::tempdir().unwrap().keep();
            gen_tree::generate(&dir, n);
            memory(&dir).index(true).unwrap();
            dir
        })
        .clone()
}

fn memory(dir: &std::path::Path) -> Memory {
    Memory::open(Tree::at(dir).unwrap(), jiff::Timestamp::now()).unwrap()
}

fn query(text: &str) -> Query {
    Query {
        text: text.into(),
        k: Some(10),
        ..Query::default()
    }
}

/// A BM25 query of three vocabulary words, through every tier.
#[divan::bench(args = sizes(), sample_count = 30)]
fn query_bm25(bencher: divan::Bencher, n: usize) {
    let dir = tree(n);
    let text = format!(
        "{} {} {}",
        gen_tree::word(5),
        gen_tree::word(40),
        gen_tree::word(300)
    );
    bencher.bench(|| memory(&dir).query(&query(&text)).unwrap());
}

/// An exact id (path tier).
#[divan::bench(args = sizes(), sample_count = 30)]
fn query_path(bencher: divan::Bencher, n: usize) {
    let dir = tree(n);
    bencher.bench(|| {
        memory(&dir)
            .query(&query("domain-03/topic-00/entry-000003"))
            .unwrap()
    });
}

/// The freshness check with nothing to do (what every command pays first).
#[divan::bench(args = sizes(), sample_count = 30)]
fn freshness_check(bencher: divan::Bencher, n: usize) {
    let dir = tree(n);
    bencher.bench(|| memory(&dir).index(false).unwrap());
}

/// Refresh after one hand-edited file (the edit itself is not timed).
#[divan::bench(args = sizes(), sample_count = 20)]
fn refresh_one_edit(bencher: divan::Bencher, n: usize) {
    let dir = tree(n);
    let file = dir.join(".memory/domain-01/topic-00/entry-000001.md");
    let round = std::sync::atomic::AtomicU32::new(0);
    bencher
        .with_inputs(|| {
            let round = round.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let text = std::fs::read_to_string(&file).unwrap();
            let base = text.split("\nedit ").next().unwrap().to_string();
            std::fs::write(&file, format!("{base}\nedit {round}\n")).unwrap();
        })
        .bench_values(|()| {
            let report = memory(&dir).index(false).unwrap();
            assert!(report.sync.indexed >= 1);
        });
}

/// A full rebuild of the index.
#[divan::bench(args = [1_000, 10_000], sample_count = 5)]
fn build(bencher: divan::Bencher, n: usize) {
    let dir = tree(n);
    bencher.bench(|| memory(&dir).index(true).unwrap());
}

/// The dense tier's cosine of one query with every entry vector (384 × i8 each), as an
/// unconfident query pays after its encode.
#[divan::bench(args = [10_000], sample_count = 30)]
fn dense_cosines(bencher: divan::Bencher, n: usize) {
    use memtree::semantic::store::{Query as Vector, VectorStore};
    let dims = memtree::semantic::dense::DIMS;
    let unit = |seed: usize| {
        let v: Vec<f32> = (0..dims)
            .map(|i| ((i * 31 + seed * 17) % 23) as f32 - 11.0)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
    };
    let mut store = VectorStore::new(1);
    for key in 0..n {
        store.insert(key as u64, &unit(key));
    }
    let store = std::sync::Arc::new(store);
    let q = Vector::new(&unit(n + 1));
    bencher.bench(|| store.all_cosines(&q));
}
