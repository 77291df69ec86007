//! # A synthetic memory tree for timings
//!
//! Writes N entries under `DIR/.memory` (see `benches/support/gen_tree.rs` for what the tree
//! looks like). Used by the whole-process timings in BENCHMARKS.md.
//!
//! Run: `cargo run --release --example gen_tree -- /tmp/t10k 10000`

#[path = "../benches/support/gen_tree.rs"]
mod gen_tree;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: gen_tree DIR N"));
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let ids = gen_tree::generate(&dir, n);
    eprintln!(
        "wrote {} entries under {}",
        ids.len(),
        dir.join(".memory").display()
    );
}
