//! Robustness properties (proptest): arbitrary values for every front-matter key, arbitrary
//! bytes as whole files and arbitrary configurations never make a command panic, and a bad
//! file never takes the good entries down with it (issue 7). A longer randomized run of the
//! same property: `cargo run --release --example fuzz_tree -- CASES`.

#[path = "support/fuzz_tree.rs"]
mod fuzz_tree;

use memtree::record::Record;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Parsing alone, many cases: any bytes become a record or one clear error.
    #[test]
    fn any_file_parses_or_fails_cleanly(bytes in fuzz_tree::file()) {
        match Record::parse("a/b/c.md", &bytes, ".memory/a/b/c.md") {
            Ok(r) => {
                // What is indexed is well-formed whatever the input.
                prop_assert!(!r.stored.title.is_empty() || r.meta.title.is_some());
                let _ = r.search_parts(&[]);
                let _ = r.alias_keys();
                let _ = r.date_words();
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        // The same bytes read under a small size limit.
        let _ = Record::parse_limited("a/b/c.md", &bytes, ".memory/a/b/c.md", 64);
    }

    /// Arbitrary text is scanned for secrets and instructions without panicking.
    #[test]
    fn any_text_scans(text in "\\PC{0,200}") {
        let _ = memtree::secrets::secrets(&text);
        let _ = memtree::secrets::injections(&text);
    }
}

proptest! {
    // Each case builds and queries a real tree on disk, so fewer of them run here.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The whole property: check, index, query, context, ls, stats, get, set, link and mv on a
    /// tree with generated files (and sometimes a generated memtree.yaml).
    #[test]
    fn a_bad_file_marks_itself_invalid_and_nothing_else((files, config) in fuzz_tree::case()) {
        let dir = tempfile::tempdir().unwrap();
        let tree = fuzz_tree::write_tree(dir.path(), &files, config.as_deref());
        if let Err(why) = fuzz_tree::check_tree(&tree, config.is_some()) {
            return Err(TestCaseError::fail(why));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// `curate`'s reading of a session never panics on any text, as markdown or inside a
    /// Claude Code JSONL line, and what is inside `<private>…</private>` never reaches a
    /// candidate, whatever surrounds it.
    #[test]
    fn private_text_never_becomes_a_candidate(
        marker in prop::sample::select(vec!["remember: ", "We always ", "Decision: ", "# Notes\n\n", "- never "]),
        before in "\\PC{0,80}",
        secret in "[a-z]{16}",
        after in "\\PC{0,80}",
    ) {
        use memtree::curate::{candidates, transcript::parse};
        let text = format!("{marker}{before} <private>{secret}</private> {after}\n");
        let line = serde_json::json!({"type": "user", "message": {"role": "user", "content": text}});
        for session in [parse(&text), parse(&format!("{line}\n{line}\n"))] {
            for c in candidates(&session) {
                prop_assert!(!c.text.contains(&secret), "{:?}", c);
                prop_assert!(!c.title.contains(&secret), "{:?}", c);
            }
        }
    }
}
