//! # A long randomized robustness run (issue 7)
//!
//! The property of `tests/properties.rs`, for as many cases as you like, outside `cargo test`:
//! generated entry files (arbitrary values for every front-matter key, unclosed front matter,
//! CRLF, arbitrary bytes) and sometimes a generated `memtree.yaml` are written into a real tree
//! next to two good entries; then check, index, query, context, ls, stats, get, set, link and
//! mv run on it. Nothing may panic, and the good entries must still answer.
//!
//! ```sh
//! cargo run --release --example fuzz_tree -- 5000          # whole-tree cases
//! cargo run --release --example fuzz_tree -- 5000 200000   # ... and parse-only cases
//! ```
//!
//! A failure is shrunk to a minimal case and printed; the run exits 1.

#[path = "../tests/support/fuzz_tree.rs"]
mod fuzz_tree;

use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn main() {
    let mut args = std::env::args().skip(1);
    let tree_cases: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let parse_cases: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let start = std::time::Instant::now();
    let mut failed = false;
    if parse_cases > 0 {
        let mut runner = TestRunner::new(Config {
            cases: parse_cases,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&fuzz_tree::file(), |bytes| {
            let _ = memtree::record::Record::parse("a/b/c.md", &bytes, "a/b/c.md");
            let text = String::from_utf8_lossy(&bytes);
            let _ = memtree::secrets::secrets(&text);
            let _ = memtree::secrets::injections(&text);
            Ok(())
        });
        println!(
            "parse: {parse_cases} cases, {}",
            result.map_or_else(|e| format!("FAILED: {e}"), |()| "no failure".into())
        );
    }
    let mut runner = TestRunner::new(Config {
        cases: tree_cases,
        failure_persistence: None,
        ..Config::default()
    });
    let ran = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&fuzz_tree::case(), |(files, config)| {
        ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let tree = fuzz_tree::write_tree(dir.path(), &files, config.as_deref());
        fuzz_tree::check_tree(&tree, config.is_some()).map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => println!("whole tree: {tree_cases} cases, no failure"),
        Err(e) => {
            failed = true;
            println!(
                "whole tree: FAILED after {} runs (cases and shrinking steps): {e}",
                ran.into_inner()
            );
        }
    }
    println!("{:.1} s", start.elapsed().as_secs_f64());
    if failed {
        std::process::exit(1);
    }
}
