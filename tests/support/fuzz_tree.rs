//! Arbitrary entry files and the property every command must keep on them: a bad value in one
//! file marks that file invalid and nothing else. No command panics, and the good entries of
//! the tree still answer.
//!
//! Shared by `tests/robustness.rs` (a short run inside `cargo test`) and
//! `examples/fuzz_tree.rs` (a long randomized run with a case count of your choice).

#![allow(dead_code)]

use std::path::Path;

use memtree::entry::CANONICAL_KEYS;
use memtree::{Memory, Query, Tree};
use proptest::prelude::*;

/// Keys that memtree does not know (kept as they are), besides [`CANONICAL_KEYS`].
const UNKNOWN_KEYS: &[&str] = &["unknown_key", ""];

/// Every front-matter key memtree knows, plus a few it does not.
pub fn keys() -> Vec<&'static str> {
    CANONICAL_KEYS.iter().chain(UNKNOWN_KEYS).copied().collect()
}

/// A YAML scalar as someone might type it: non-ASCII, full-width digits, NaN and infinities,
/// huge and negative numbers, out-of-range dates, YAML 1.1 booleans, quotes, nothing at all.
pub fn scalar() -> BoxedStrategy<String> {
    prop_oneof![
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        "[^\n\r]{0,16}",
        Just(".nan".to_string()),
        Just(".inf".to_string()),
        Just("-.inf".to_string()),
        Just("~".to_string()),
        Just(String::new()),
        "[0-9０-９]{1,5}[dwmyéあ ]?",
        any::<f64>().prop_map(|f| f.to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        "-?[0-9]{1,3}(\\.[0-9]{1,3})?e[+-]?[0-9]{1,4}",
        "[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2}))?",
        prop_oneof![Just("yes"), Just("no"), Just("true"), Just("on")].prop_map(String::from),
        prop_oneof![
            Just("never"),
            Just("30d"),
            Just("30é"),
            Just("0d"),
            Just("-1y"),
            Just("1e400d"),
            Just("NaNd")
        ]
        .prop_map(String::from),
        prop_oneof![
            Just("a/b/c"),
            Just("../../etc/passwd"),
            Just("/abs/path"),
            Just("good/notes/quokka")
        ]
        .prop_map(String::from),
    ]
    .boxed()
}

/// A YAML value: a scalar, a flow or block list, a flow map, a relation list, or an
/// anchor/alias pair.
pub fn value() -> BoxedStrategy<String> {
    let leaf = scalar();
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(inner.clone(), 1..3).prop_map(|v| format!(
                "\n{}",
                v.iter().map(|x| format!("  - {x}\n")).collect::<String>()
            )),
            (inner.clone(), inner.clone()).prop_map(|(k, v)| format!("{{{k}: {v}}}")),
            (scalar(), scalar()).prop_map(|(t, to)| format!("\n  - {{type: {t}, to: {to}}}\n")),
            inner.prop_map(|v| format!("&anchor {v}")),
            Just("*anchor".to_string()),
        ]
    })
    .boxed()
}

/// Front matter made of known and unknown keys with arbitrary values (keys may repeat).
pub fn front_matter() -> BoxedStrategy<String> {
    prop::collection::vec((prop::sample::select(keys()), value()), 0..8)
        .prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| {
                    let v = v.trim_end().to_string();
                    if v.starts_with('\n') {
                        format!("{k}:{v}\n")
                    } else {
                        format!("{k}: {v}\n")
                    }
                })
                .collect()
        })
        .boxed()
}

/// A markdown body with links, wiki links, comments and headings among arbitrary text.
pub fn body() -> BoxedStrategy<String> {
    prop::collection::vec(
        prop_oneof![
            "[^\u{0}]{0,40}",
            Just("[[good/notes/quokka]]".to_string()),
            Just("[x](../../notes/quokka.md#sec)".to_string()),
            Just("[y](/etc/passwd)".to_string()),
            Just("<!-- hidden -->".to_string()),
            Just("# heading\n".to_string()),
            Just("```\ncode\n".to_string()),
            Just("> > > nested\n".to_string()),
            Just("---\n".to_string()),
        ],
        0..8,
    )
    .prop_map(|parts| parts.join("\n"))
    .boxed()
}

/// The bytes of one file: front matter and body, front matter never closed, CRLF lines, or
/// arbitrary bytes.
pub fn file() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => (front_matter(), body()).prop_map(|(f, b)| format!("---\n{f}---\n{b}").into_bytes()),
        1 => front_matter().prop_map(|f| format!("---\n{f}").into_bytes()),
        1 => (front_matter(), body())
            .prop_map(|(f, b)| format!("---\r\n{f}---\r\n{b}").replace('\n', "\r\n").into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..300),
    ]
    .boxed()
}

/// Where a generated file goes: entries of 3 and 4 segments, folder notes, wrong depths.
pub const PLACES: &[&str] = &[
    "bad/fuzz/e0.md",
    "bad/fuzz/e1.md",
    "bad/fuzz/deep/e2.md",
    "bad/fuzz/README.md",
    "bad/e3.md",
    "good/notes/quokka/README.md",
];

/// Generated files (an index into [`PLACES`] and the bytes) and, sometimes, a configuration.
pub type Case = (Vec<(usize, Vec<u8>)>, Option<String>);

/// A whole case: generated files (each at one of [`PLACES`]) and, sometimes, a generated
/// `memtree.yaml`.
pub fn case() -> BoxedStrategy<Case> {
    (
        prop::collection::vec((0..PLACES.len(), file()), 1..4),
        prop::option::weighted(
            0.2,
            prop_oneof![
                "[^\u{0}]{0,60}",
                (
                    prop::sample::select(
                        &[
                            "lifecycle: {default_decay: {fact: ",
                            "index: {max_file_bytes: ",
                            "retrieval: {k: "
                        ][..]
                    ),
                    scalar()
                )
                    .prop_map(|(k, v)| format!("schema_version: 1\n{k}{v}}}\n")),
            ],
        ),
    )
        .boxed()
}

const GOOD: &[(&str, &str)] = &[
    (
        "good/notes/quokka.md",
        "---\ntitle: Quokka habitats\naliases: [quokka]\nkind: fact\n---\nQuokkas live on Rottnest Island.\n",
    ),
    (
        "good/notes/wombat.md",
        "---\ntitle: Wombat burrows\nkind: fact\nrelations:\n  - {type: see-also, to: good/notes/quokka}\n---\nWombats dig burrows.\n",
    ),
];

/// Writes the good entries and the generated files into a new tree under `dir`.
pub fn write_tree(dir: &Path, files: &[(usize, Vec<u8>)], config: Option<&str>) -> Tree {
    let root = dir.join(".memory");
    std::fs::create_dir_all(&root).unwrap();
    for (rel, text) in GOOD {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    for (place, bytes) in files {
        let p = root.join(PLACES[*place]);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    if let Some(c) = config {
        std::fs::write(root.join("memtree.yaml"), c).unwrap();
    }
    Tree::new(root)
}

fn now() -> jiff::Timestamp {
    "2026-11-22T12:00:00Z".parse().unwrap()
}

/// The property: every command runs without panicking, and the good entries still answer.
/// Returns a description of the first violation.
pub fn check_tree(tree: &Tree, config_is_generated: bool) -> Result<(), String> {
    // `check` runs whatever the configuration.
    let (lenient, config_error) = Memory::open_lenient(tree.clone(), now());
    let report = lenient.check().map_err(|e| format!("check failed: {e}"))?;
    if config_error.is_some() && report.errors == 0 {
        return Err("check found no error although memtree.yaml is invalid".into());
    }
    let memory = match Memory::open(tree.clone(), now()) {
        Ok(m) => m,
        Err(e) if config_is_generated => {
            // A bad generated configuration is an error, never a panic; nothing else to run.
            let _ = e.to_string();
            return Ok(());
        }
        Err(e) => return Err(format!("open failed: {e}")),
    };
    memory
        .index(false)
        .map_err(|e| format!("index failed: {e}"))?;
    let q = |text: &str| Query {
        text: text.into(),
        ..Query::default()
    };
    let answer = memory
        .query(&q("quokka habitats"))
        .map_err(|e| format!("query failed: {e}"))?;
    let ids: Vec<&str> = answer.hits.iter().map(|h| h.id.as_str()).collect();
    if !config_is_generated && !ids.contains(&"good/notes/quokka") {
        return Err(format!("the good entry no longer answers: {ids:?}"));
    }
    memory
        .query(&q("wombat burrows"))
        .map_err(|e| format!("query failed: {e}"))?;
    memory
        .context(&q("quokka"), 400)
        .map_err(|e| format!("context failed: {e}"))?;
    let ls = memory.ls("").map_err(|e| format!("ls failed: {e}"))?;
    if !config_is_generated && !ls.iter().any(|i| i.id == "good/notes/wombat") {
        return Err("ls lost a good entry".into());
    }
    memory.stats().map_err(|e| format!("stats failed: {e}"))?;
    // Reads and writes of the generated files may fail, but only with an error.
    for place in PLACES {
        let id = place.trim_end_matches(".md").trim_end_matches("/README");
        let _ = memory.get(id);
        let _ = memory.set(id, &["importance=0.7".into(), "aliases+=fuzzed".into()]);
        let _ = memory.link(id, "good/notes/wombat", "see-also");
    }
    let _ = memory.mv("good/notes/wombat", "good/notes/wombat-moved");
    memory
        .check()
        .map_err(|e| format!("check after writes failed: {e}"))?;
    Ok(())
}
