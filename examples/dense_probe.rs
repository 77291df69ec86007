//! # Dense encoder timings
//!
//! Loads an all-MiniLM-L6-v2 folder with `memtree::semantic::dense` and encodes each text
//! argument, printing the load time and, over `REPEAT` encodes (default 1), the median encode
//! time of each text: a whole-process run with REPEAT=1 is the cold cost a CLI query would pay;
//! a larger REPEAT gives the warm cost `memtree mcp` would pay with the model loaded.
//!
//! ```sh
//! cargo build --release --example dense_probe
//! hyperfine -N 'target/release/examples/dense_probe /path/to/minilm "which datastore is authoritative?"'
//! REPEAT=50 target/release/examples/dense_probe /path/to/minilm "which datastore is authoritative?"
//! ```

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("MODEL-FOLDER TEXT...");
    let repeat: usize = std::env::var("REPEAT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1)
        .max(1);
    let t = Instant::now();
    let model = memtree::semantic::dense::DenseModel::load(std::path::Path::new(&dir))
        .unwrap_or_else(|e| panic!("{e}"));
    let load = t.elapsed();
    println!("load {:.2} ms", load.as_secs_f64() * 1e3);
    for text in args {
        let mut times = Vec::with_capacity(repeat);
        let mut first = 0.0;
        for _ in 0..repeat {
            let t = Instant::now();
            let v = model.encode(&text);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            first = v[0];
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{} tokens: median {:.2} ms over {repeat} (v[0] {first:.6}): {text}",
            model.tokenize(&text).len(),
            times[times.len() / 2]
        );
    }
}
