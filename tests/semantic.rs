//! The built-in semantic model: its files, its precomputed index terms, and what it embeds.
#![cfg(feature = "semantic")]

use memtree::index::analyzer;
use memtree::semantic::{self, StaticModel, TermSet};
use std::borrow::Cow;

fn builtin() -> StaticModel {
    StaticModel::from_vocab_txt(
        semantic::BUILTIN_VOCAB,
        Cow::Borrowed(semantic::BUILTIN_WEIGHTS),
    )
    .expect("the built-in model loads")
}

/// `terms.txt` and `term-of.bin` must be what the analyzer makes of every target word today; a change to the
/// analyzer (stemmer, stop words, tokenizer) must regenerate it: `MEMTREE_BLESS=1 cargo test
/// --test semantic`.
#[test]
fn shipped_terms_match_the_analyzer() {
    let m = builtin();
    let mut a = analyzer::analyzer();
    let terms: Vec<String> = m
        .targets()
        .map(|w| {
            analyzer::terms(&mut a, w)
                .into_iter()
                .next()
                .unwrap_or_default()
        })
        .collect();
    let now = TermSet::from_terms(&terms);
    if std::env::var_os("MEMTREE_BLESS").is_some() {
        let (text, positions) = now.render().expect("the terms fit");
        std::fs::write("models/minilm-l6-m2v/terms.txt", text).expect("write terms.txt");
        std::fs::write("models/minilm-l6-m2v/term-of.bin", positions).expect("write term-of.bin");
        return;
    }
    let shipped = TermSet::parse(
        semantic::BUILTIN_TERMS,
        semantic::BUILTIN_TERM_OF,
        m.target_count(),
    )
    .expect("terms.txt is malformed or stale: run MEMTREE_BLESS=1 cargo test --test semantic");
    assert!(
        shipped == now,
        "terms.txt is stale: run MEMTREE_BLESS=1 cargo test --test semantic"
    );
}

fn cos(m: &StaticModel, a: &str, b: &str) -> f32 {
    let (a, b) = (m.embed(a).unwrap(), m.embed(b).unwrap());
    a.iter().zip(&b).map(|(x, y)| x * y).sum()
}

/// The distillation kept meaning: related words are nearer than unrelated ones. (Figures from
/// the 128-dimension model; a regression in the distillation or the int8 reading breaks them.)
#[test]
fn related_words_are_nearer_than_unrelated_ones() {
    let m = builtin();
    assert!(
        cos(&m, "hiking", "trail") > 0.4,
        "{}",
        cos(&m, "hiking", "trail")
    );
    assert!(cos(&m, "hiking", "trail") > cos(&m, "hiking", "invoice") + 0.2);
    assert!(cos(&m, "money", "payments") > cos(&m, "money", "weather") + 0.1);
    assert!((cos(&m, "database", "database") - 1.0).abs() < 1e-5);
}

/// A word outside the vocabulary is split into WordPiece tokens; a character the vocabulary
/// lacks makes it unknown rather than wrong.
#[test]
fn wordpiece_splits_unknown_words_greedily() {
    let m = builtin();
    let pieces = m.wordpiece("datastore").unwrap();
    assert!(pieces.len() >= 2, "{pieces:?}");
    assert_eq!(m.wordpiece("data").unwrap().len(), 1);
    assert!(m.wordpiece("日本").is_none());
    assert!(m.embed("").is_none());
}

/// The committed folder is a Model2Vec folder: loaded through `tokenizer.json` (the path a
/// user's `semantic.model` takes) it embeds exactly as the built-in bytes do.
#[test]
fn the_model_folder_loads_like_the_builtin() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/minilm-l6-m2v");
    let folder = StaticModel::load(&dir).expect("the folder loads");
    let m = builtin();
    assert_eq!(folder.target_count(), m.target_count());
    for w in ["postgres", "deploy", "unwrap", "taekwondo"] {
        assert_eq!(folder.embed(w), m.embed(w), "{w}");
    }
}

/// A folder that is not a usable model is an error naming the file and what is wrong.
#[test]
fn bad_model_folders_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let err = StaticModel::load(dir.path()).err().unwrap();
    assert!(err.contains("tokenizer.json"), "{err}");

    std::fs::write(
        dir.path().join("tokenizer.json"),
        r#"{"model": {"type": "BPE", "vocab": {}}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"nonsense").unwrap();
    let err = StaticModel::load(dir.path()).err().unwrap();
    assert!(err.contains("only WordPiece"), "{err}");

    std::fs::write(
        dir.path().join("tokenizer.json"),
        r#"{"model": {"type": "WordPiece", "vocab": {"a": 0, "b": 1}}}"#,
    )
    .unwrap();
    let err = StaticModel::load(dir.path()).err().unwrap();
    assert!(err.contains("model.safetensors"), "{err}");

    // A tensor with fewer rows than the vocabulary has tokens.
    let header = r#"{"embeddings":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0u8; 8]);
    std::fs::write(dir.path().join("model.safetensors"), &bytes).unwrap();
    let err = StaticModel::load(dir.path()).err().unwrap();
    assert!(err.contains("do not cover"), "{err}");

    // An id outside the vocabulary's range.
    std::fs::write(
        dir.path().join("tokenizer.json"),
        r#"{"model": {"type": "WordPiece", "vocab": {"a": 7}}}"#,
    )
    .unwrap();
    let err = StaticModel::load(dir.path()).err().unwrap();
    assert!(err.contains("outside"), "{err}");
}

/// The semantic tier keeps which of the model's words the tree uses per index state: in one
/// process (an MCP server), a word that a new entry brings is found by the next query, and a
/// word whose only entry is gone is not.
#[test]
fn the_trees_words_follow_the_index_within_one_process() {
    use memtree::{Memory, Query, Tree};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".memory");
    std::fs::create_dir_all(root.join("ops/weather")).unwrap();
    std::fs::write(root.join("memtree.yaml"), "schema_version: 1\n").unwrap();
    std::fs::write(
        root.join("ops/weather/forecast.md"),
        "---\ntitle: Forecast\n---\n\nThe forecast comes from the met office every morning.\n",
    )
    .unwrap();
    let memory =
        Memory::open_trusting(Tree::at(dir.path()).unwrap(), jiff::Timestamp::now()).unwrap();
    memory.index(true).unwrap();
    let ask = || {
        let q = Query {
            text: "where do purchases go?".into(),
            k: Some(5),
            ..Query::default()
        };
        let r = memory.query(&q).unwrap();
        let added: Vec<String> = r.semantic.expansions.clone();
        let ids: Vec<String> = r.hits.iter().map(|h| h.id.clone()).collect();
        (added, ids)
    };
    let (before, _) = ask();
    assert!(
        !before.iter().any(|e| e.starts_with("purchas→payment")),
        "{before:?}"
    );
    std::fs::create_dir_all(root.join("billing/ledger")).unwrap();
    let payments = root.join("billing/ledger/payments.md");
    std::fs::write(
        &payments,
        "---\ntitle: Ledger\n---\n\nPayments are stored in the ledger service.\n",
    )
    .unwrap();
    memory.index(false).unwrap();
    let (after, ids) = ask();
    assert!(
        after.iter().any(|e| e.starts_with("purchas→payment")),
        "{after:?}"
    );
    assert_eq!(
        ids.first().map(String::as_str),
        Some("billing/ledger/payments")
    );
    std::fs::remove_file(&payments).unwrap();
    memory.index(true).unwrap();
    let (gone, _) = ask();
    assert!(
        !gone.iter().any(|e| e.starts_with("purchas→payment")),
        "{gone:?}"
    );
}
