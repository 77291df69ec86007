//! The semantic tier: query expansion with the built-in static embeddings, only when tiers 1–3
//! are not confident, and its configuration.

use crate::env::TestEnv;

/// A tree with the example's storage decision and two unrelated entries.
fn storage_tree() -> TestEnv {
    let env = TestEnv::new();
    env.add(
        "architecture/storage/postgres",
        "PostgreSQL is the system of record",
        &["--alias", "primary database"],
        "Orders and users live in PostgreSQL 16. We chose it over MongoDB for transactions \
         across orders and payments.",
    );
    env.add(
        "procedures/release/deploy",
        "How to deploy a release",
        &[],
        "Tag vX.Y.Z on main; CI builds the image and runs the smoke test on staging.",
    );
    env.add(
        "conventions/code/errors",
        "Errors are typed with thiserror",
        &[],
        "Handlers map AppError to an HTTP status in one place; never unwrap in a handler.",
    );
    env
}

#[cfg(feature = "semantic")]
#[test]
fn a_question_sharing_no_word_with_its_answer_is_found_by_the_semantic_tier() {
    let env = storage_tree();
    let q = "what holds the money transfers and buyer accounts?";
    let v = env.json(&["query", q]);
    assert_eq!(v["confident"], false);
    assert_eq!(v["semantic"]["ran"], true, "{v}");
    assert_eq!(v["semantic"]["model"], "builtin:minilm-l6-m2v");
    assert!(
        v["tiers_run"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "semantic")
    );
    let top = &v["hits"][0];
    assert_eq!(top["id"], "architecture/storage/postgres", "{v}");
    assert_eq!(top["tier"], "semantic");
    // Found only through added words: relevance at most 0.5 (× a lifecycle weight of 1.0 for
    // a new entry at the default importance), below a good BM25 hit's 0.85.
    assert_eq!(top["score"], 0.5, "{v}");
    let why = top["matched"][0].as_str().unwrap();
    assert!(why.starts_with("semantic:"), "{why}");
    assert!(why.contains("money→payments"), "{why}");
    // The words added are reported with their similarity.
    let added: Vec<&str> = v["semantic"]["expansions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        added.iter().any(|e| e.starts_with("money→payments ")),
        "{added:?}"
    );

    // Off: the same question finds nothing.
    env.write(
        "memtree.yaml",
        "schema_version: 1\nsemantic:\n  enabled: false\n",
    );
    let v = env.json(&["query", q]);
    assert!(v["hits"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(v["semantic"]["ran"], false);
    assert_eq!(v["semantic"]["reason"], "disabled");
}

#[test]
fn a_confident_query_does_not_run_the_semantic_tier() {
    let env = storage_tree();
    let v = env.json(&["query", "primary database"]);
    assert_eq!(v["confident"], true);
    assert_eq!(v["semantic"]["ran"], false);
    assert_eq!(v["semantic"]["reason"], "confident");
    assert!(
        !v["tiers_run"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "semantic")
    );
}

#[test]
fn a_model_folder_that_cannot_be_loaded_leaves_the_query_lexical_and_says_why() {
    let env = storage_tree();
    env.write(
        "memtree.yaml",
        "schema_version: 1\nsemantic:\n  model: models/nowhere\n",
    );
    let v = env.json(&["query", "what holds the money transfers?"]);
    assert_eq!(v["semantic"]["ran"], false);
    let reason = v["semantic"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("models/nowhere") && reason.contains("tokenizer.json"),
        "{reason}"
    );
    assert!(v["hits"].as_array().unwrap().is_empty());
    // `check` names the setting without waiting for a query to need it.
    let (out, _) = env.fails(&["check"], 1);
    assert!(
        out.contains("memtree.yaml") && out.contains("semantic.model cannot be used"),
        "{out}"
    );
}

#[test]
fn a_user_model_folder_is_used_when_configured() {
    let env = storage_tree();
    let repo_model = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/minilm-l6-m2v");
    let dest = env.root().join("models/mine");
    std::fs::create_dir_all(&dest).unwrap();
    for f in ["tokenizer.json", "model.safetensors"] {
        std::fs::copy(repo_model.join(f), dest.join(f)).unwrap();
    }
    env.write(
        "memtree.yaml",
        "schema_version: 1\nsemantic:\n  model: models/mine\n",
    );
    let v = env.json(&[
        "query",
        "what holds the money transfers and buyer accounts?",
    ]);
    assert_eq!(v["semantic"]["ran"], true, "{v}");
    assert_eq!(v["semantic"]["model"], "models/mine");
    assert_eq!(v["hits"][0]["id"], "architecture/storage/postgres");
}

#[test]
fn semantic_settings_out_of_range_are_config_errors() {
    let env = storage_tree();
    for (yaml, needle) in [
        ("semantic: {min_similarity: 2}", "semantic.min_similarity"),
        ("semantic: {weight: .nan}", "semantic.weight"),
        ("semantic: {per_word: 100}", "semantic.per_word"),
        ("semantic: {modle: x}", "modle"),
    ] {
        env.write("memtree.yaml", &format!("schema_version: 1\n{yaml}\n"));
        let (_, err) = env.fails(&["query", "anything at all"], 1);
        assert!(err.contains(needle), "{yaml}: {err}");
    }
}

/// Words the semantic tier adds never make an answer confident (issue 22): before, the
/// expansion's coverage counted, and `postgresql money transfers` was confident although only
/// one of its three words is in the entry.
#[cfg(feature = "semantic")]
#[test]
fn words_the_semantic_tier_adds_never_make_an_answer_confident() {
    let env = storage_tree();
    let v = env.json(&["query", "postgresql money transfers"]);
    assert_eq!(v["semantic"]["ran"], true, "{v}");
    assert_eq!(v["hits"][0]["id"], "architecture/storage/postgres", "{v}");
    assert_eq!(v["hits"][0]["matched"][0], "bm25:postgresql in title,body");
    assert_eq!(v["confident"], false, "{v}");
    assert_eq!(v["note"], "low confidence: only weak text matches");
}
