//! Retrieval: each tier, supersession, scope, out-of-domain, filters and the context bundle.

use serde_json::json;

use crate::env::{TestEnv, sample};

#[test]
fn tier_path_answers_an_id_or_a_unique_suffix() {
    let env = sample();
    let top = env.top(&["architecture/storage/segment-merges"]);
    assert_eq!(top["id"], "architecture/storage/segment-merges");
    assert_eq!(top["tier"], "path");
    let top = env.top(&["flaky-timing-tests"]);
    assert_eq!(top["id"], "pitfalls/ci/flaky-timing-tests");
    assert_eq!(top["tier"], "path");
    assert_eq!(top["matched"][0], "id-suffix:flaky-timing-tests");
}

#[test]
fn tier_alias_matches_a_phrase_inside_the_question() {
    let env = sample();
    let v = env.json(&["query", "where does the FTS index live?"]);
    assert_eq!(v["confident"], true);
    let top = &v["hits"][0];
    assert_eq!(top["id"], "architecture/storage/search-index");
    assert_eq!(top["tier"], "alias");
    assert_eq!(top["matched"][0], "alias:fts index");
}

#[test]
fn tier_alias_allows_one_typo_by_the_design_rule() {
    let env = TestEnv::new();
    env.add(
        "lang/frontend/typescript",
        "TypeScript",
        &[],
        "We use strict mode.",
    );
    env.add("lang/testing/jest", "jest", &[], "Test runner.");
    env.add("lang/db/mongo", "mongo", &[], "Document store.");
    let top = env.top(&["typscript"]);
    assert_eq!(top["id"], "lang/frontend/typescript");
    assert_eq!(top["tier"], "alias");
    assert!(env.hits(&["just"]).is_empty());
    assert!(env.hits(&["mango"]).is_empty());
}

#[test]
fn tier_bm25_finds_body_words_with_stemming_and_code_tokens() {
    let env = sample();
    let top = env.top(&["why do merging threads matter before exiting"]);
    assert_eq!(top["id"], "architecture/storage/segment-merges");
    assert_eq!(top["tier"], "bm25");
    let m = top["matched"][0].as_str().unwrap();
    assert!(m.starts_with("bm25:") && m.contains("body"), "{m}");
    // `wait_merging_threads` is found from its parts and from its whole form.
    assert_eq!(
        env.hits(&["wait_merging_threads"])[0],
        "architecture/storage/segment-merges"
    );
    assert_eq!(env.hits(&["ZeppelinError"]).len(), 0);
    assert_eq!(
        env.hits(&["MemtreeError"])[0],
        "conventions/rust/error-handling"
    );
}

#[test]
fn tier_graph_brings_context_reachable_only_through_an_edge() {
    let env = sample();
    env.add(
        "architecture/storage/cache-layout",
        "Layout of the cache folder",
        &["--kind", "fact"],
        "The folder holds a manifest and the tantivy files.",
    );
    env.ok(&[
        "link",
        "search-index",
        "cache-layout",
        "--type",
        "depends-on",
    ]);
    let v = env.json(&["query", "fts index"]);
    let layout = hit_by_id(&v, "architecture/storage/cache-layout");
    assert_eq!(layout["tier"], "graph");
    assert_eq!(
        layout["matched"][0],
        "edge:depends-on from architecture/storage/search-index"
    );
    // The text of the question matches nothing in that entry.
    assert!(
        !env.read("architecture/storage/cache-layout.md")
            .to_lowercase()
            .contains("fts")
    );
}

/// The hit of `query --json` output `v` whose id is `id`; fails the test when there is none.
fn hit_by_id<'v>(v: &'v serde_json::Value, id: &str) -> &'v serde_json::Value {
    v["hits"]
        .as_array()
        .and_then(|hits| hits.iter().find(|h| h["id"] == id))
        .unwrap_or_else(|| panic!("no hit {id} in {v}"))
}

#[test]
fn tier_graph_offers_entries_that_share_a_seeds_scope_once_per_seed() {
    // Two seeds share the scope `src/cache/**` (the graph tier reads that scope's entries once
    // per query and offers them for each seed); a third entry with it shares no word with the
    // question.
    let env = TestEnv::new();
    for (id, title) in [
        ("architecture/cache/eviction", "Eviction of quokka pages"),
        ("architecture/cache/warmup", "Warmup of quokka pages"),
        ("architecture/cache/layout", "Layout on disk"),
    ] {
        env.add(
            id,
            title,
            &["--kind", "fact", "--scope", "src/cache/**"],
            "Text.",
        );
    }
    let v = env.json(&["query", "quokka pages", "-k", "10"]);
    let hits = v["hits"].as_array().unwrap();
    let layout = hit_by_id(&v, "architecture/cache/layout");
    assert_eq!(layout["tier"], "graph");
    let seeds: Vec<&str> = hits
        .iter()
        .filter(|h| h["tier"] == "bm25")
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(seeds.len(), 2, "{hits:?}");
    // One reason per seed (in the graph tier's seed order, ties by id).
    let mut want: Vec<String> = seeds
        .iter()
        .map(|s| format!("scope-shared:src/cache/** with {s}"))
        .collect();
    want.sort();
    assert_eq!(layout["matched"], json!(want));
    // Each seed is offered the other one (and, in the second hop, the entry found in the
    // first), never itself.
    for (seed, other) in [(seeds[0], seeds[1]), (seeds[1], seeds[0])] {
        let hit = hit_by_id(&v, seed);
        let reasons: Vec<&str> = hit["matched"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m.as_str())
            .filter(|m| m.starts_with("scope-shared:"))
            .collect();
        assert_eq!(
            reasons,
            [
                format!("scope-shared:src/cache/** with {other}"),
                "scope-shared:src/cache/** with architecture/cache/layout".to_string(),
            ],
            "{seed}"
        );
    }
}

#[test]
fn superseded_entries_are_replaced_by_their_successor() {
    let env = TestEnv::new();
    env.add(
        "decisions/db/use-sqlite",
        "Use SQLite for storage",
        &["--alias", "storage engine"],
        "SQLite FTS5.",
    );
    env.add(
        "decisions/db/use-tantivy",
        "Use tantivy for search",
        &[],
        "Tantivy replaces FTS5.",
    );
    env.ok(&[
        "set",
        "use-sqlite",
        "status=superseded",
        "superseded_by=decisions/db/use-tantivy",
    ]);
    env.ok(&["set", "use-tantivy", "supersedes=decisions/db/use-sqlite"]);
    let v = env.json(&["query", "which storage engine do we use"]);
    let hits = v["hits"].as_array().unwrap();
    assert_eq!(hits[0]["id"], "decisions/db/use-tantivy");
    assert!(
        hits[0]["matched"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "replaces:decisions/db/use-sqlite (superseded)")
    );
    assert!(hits.iter().all(|h| h["id"] != "decisions/db/use-sqlite"));
    let all = env.hits(&["which storage engine do we use", "--all"]);
    assert!(
        all.contains(&"decisions/db/use-sqlite".to_string()),
        "{all:?}"
    );
}

#[test]
fn path_puts_scoped_entries_first_even_without_text_matches() {
    let env = sample();
    let v = env.json(&["query", "what must I know", "--path", "src/index/mod.rs"]);
    assert_eq!(v["hits"][0]["id"], "architecture/storage/search-index");
    assert_eq!(v["hits"][0]["tier"], "scope");
    assert_eq!(v["hits"][0]["matched"][0], "scope:src/index/**");
    // A scoped entry outranks an unscoped one of similar text relevance.
    env.add(
        "notes/misc/index-notes",
        "Notes on the index",
        &[],
        "The index is a cache; rebuilding is safe.",
    );
    let ids = env.hits(&["index rebuilding cache", "--path", "src/index/build.rs"]);
    assert_eq!(ids[0], "architecture/storage/search-index", "{ids:?}");
    let ids = env.hits(&["index rebuilding cache", "--path", "src/main.rs"]);
    assert!(ids.contains(&"notes/misc/index-notes".to_string()));
}

#[test]
fn out_of_domain_questions_get_no_hits_and_say_so() {
    let env = sample();
    for q in [
        "kubernetes helm chart values",
        "what is the capital of mongolia",
        "the of and",
    ] {
        let v = env.json(&["query", q]);
        assert_eq!(v["hits"].as_array().unwrap().len(), 0, "{q}: {v}");
        assert!(v["note"].as_str().is_some(), "{q}");
    }
    let out = env.ok(&["query", "kubernetes helm chart"]);
    assert!(
        out.starts_with("no hits: nothing in the memory tree matches"),
        "{out}"
    );
}

#[test]
fn json_shape_is_stable() {
    let env = sample();
    let v = env.json(&["query", "search index"]);
    assert_eq!(v["schema"], "memtree.query/v1");
    assert_eq!(
        v["tiers_run"],
        serde_json::json!(["path", "alias", "bm25", "graph"])
    );
    assert_eq!(
        v["escalation"],
        serde_json::json!({"ran": false, "reason": "no llm configured"})
    );
    assert!(v["elapsed_ms"].as_f64().unwrap() > 0.0);
    let hit = &v["hits"][0];
    for key in [
        "id", "title", "kind", "tier", "score", "status", "matched", "snippet", "file",
    ] {
        assert!(!hit[key].is_null(), "missing {key}: {hit}");
    }
    assert_eq!(hit["file"], ".memory/architecture/storage/search-index.md");
}

#[test]
fn kind_in_and_k_filter_the_list() {
    let env = sample();
    let ids = env.hits(&["index threads tests flake", "--kind", "pitfall"]);
    assert_eq!(ids, ["pitfalls/ci/flaky-timing-tests"]);
    let ids = env.hits(&["index merges", "--in", "architecture/storage"]);
    assert!(
        !ids.is_empty() && ids.iter().all(|i| i.starts_with("architecture/storage/")),
        "{ids:?}"
    );
    assert_eq!(env.hits(&["index merges", "-k", "1"]).len(), 1);
    env.fails(&["query", "x", "--kind", "nonsense"], 1);
}

#[test]
fn importance_and_decay_order_equal_matches() {
    let env = TestEnv::new();
    env.add(
        "a/b/old",
        "Deploy notes old",
        &["--importance", "0.5"],
        "deploy steps",
    );
    env.add(
        "a/b/new",
        "Deploy notes new",
        &["--importance", "0.5"],
        "deploy steps",
    );
    env.ok(&["set", "a/b/old", "decay=30d"]);
    env.ok(&["set", "a/b/new", "decay=30d"]);
    // Same text; `old` was last updated a year before now.
    let text = env.read("a/b/old.md").replace(
        "updated: 2026-11-22T12:00:00Z",
        "updated: 2025-11-22T12:00:00Z",
    );
    env.write("a/b/old.md", &text);
    assert_eq!(env.hits(&["deploy steps"]), ["a/b/new", "a/b/old"]);
    env.ok(&["set", "a/b/old", "importance=1.0"]);
    assert_eq!(env.hits(&["deploy steps"])[0], "a/b/old");
}

#[test]
fn context_bundle_has_sections_and_respects_the_budget() {
    let env = sample();
    env.ok(&["set", "error-handling", "maturity=core"]);
    env.add(
        "questions/storage/merge-policy",
        "Which merge policy should we use?",
        &["--kind", "question", "--alias", "merge policy"],
        "Open.",
    );
    let v = env.json(&["query", "fts index and merge policy", "--format", "context"]);
    assert_eq!(v["schema"], "memtree.context/v1");
    let ids = |k: &str| bundle_ids(&v, k);
    assert_eq!(ids("pinned"), ["conventions/rust/error-handling"]);
    assert_eq!(ids("relevant"), ["architecture/storage/search-index"]);
    assert_eq!(ids("open_questions"), ["questions/storage/merge-policy"]);
    assert!(ids("related").is_empty());
    let md = v["markdown"].as_str().unwrap();
    assert!(
        md.contains("## Pinned") && md.contains("## Relevant") && md.contains("## Open questions"),
        "{md}"
    );
    // A small budget keeps pinned first and says what it left out.
    let v = env.json(&[
        "query",
        "fts index",
        "--format",
        "context",
        "--budget",
        "60",
    ]);
    assert!(v["used_tokens"].as_u64().unwrap() <= 60);
    assert!(
        v["omitted"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "architecture/storage/search-index"),
        "{v}"
    );
    assert!(v["markdown"].as_str().unwrap().contains("left out: "));
    let text = env.ok(&["query", "fts index", "--format", "context"]);
    assert!(text.starts_with("# Memory for: fts index"), "{text}");
}

#[test]
fn related_needs_two_distinct_terms_and_no_alias() {
    let env = sample();
    let v = env.json(&["query", "tantivy commit threads", "--format", "context"]);
    let related: Vec<&str> = v["related"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(related, ["architecture/storage/segment-merges"]);
    assert!(v["relevant"].as_array().unwrap().is_empty());
}

fn bundle_ids(v: &serde_json::Value, section: &str) -> Vec<String> {
    v[section]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_alias_outside_the_subtree_or_on_a_question_shadows_nothing() {
    let env = TestEnv::new();
    env.add("code/fact/react", "react", &[], "We use React 19.");
    env.add(
        "universal/preference/react-depth",
        "react depth",
        &[],
        "Knows React deeply.",
    );
    env.add(
        "code/question/auth-strategy",
        "auth strategy",
        &["--kind", "question", "--alias", "auth service"],
        "JWT or opaque session tokens?",
    );
    env.add(
        "code/fact/auth-redis",
        "auth depends on redis",
        &["--alias", "auth"],
        "Sessions live in Redis.",
    );
    // `react depth` is the longer match, but it is outside `--in code`.
    let hits = env.hits(&["what is my react depth?", "--in", "code"]);
    assert_eq!(hits, ["code/fact/react"]);
    // `auth service` names a question; `auth` still names the entry that answers.
    let v = env.json(&[
        "query",
        "what are the auth service dependencies?",
        "--in",
        "code",
        "--format",
        "context",
    ]);
    assert_eq!(bundle_ids(&v, "relevant"), ["code/fact/auth-redis"]);
    assert_eq!(
        bundle_ids(&v, "open_questions"),
        ["code/question/auth-strategy"]
    );
}

#[test]
fn core_open_questions_of_the_subtree_are_always_in_the_bundle() {
    let env = TestEnv::new();
    let q = ["--kind", "question"];
    env.add(
        "code/question/auth-strategy",
        "auth strategy",
        &q,
        "JWT or opaque tokens?",
    );
    env.add("code/question/hosting", "hosting", &q, "Resolved: Fly.io.");
    env.add(
        "writing/question/chapter-order",
        "chapter order",
        &q,
        "Linear or not?",
    );
    for id in ["auth-strategy", "hosting", "chapter-order"] {
        env.ok(&["set", id, "maturity=core"]);
    }
    env.ok(&["set", "hosting", "status=archived"]);
    env.add(
        "code/fact/repo-layer",
        "repository layer",
        &[],
        "One repository per aggregate.",
    );
    let v = env.json(&[
        "query",
        "how should I structure the repository layer?",
        "--in",
        "code",
        "--format",
        "context",
    ]);
    assert_eq!(
        bundle_ids(&v, "open_questions"),
        ["code/question/auth-strategy"]
    );
    assert_eq!(bundle_ids(&v, "relevant"), ["code/fact/repo-layer"]);
}

#[test]
fn an_alias_late_in_a_long_question_is_found() {
    let env = TestEnv::new();
    env.add(
        "code/fact/kubernetes",
        "Kubernetes",
        &["--alias", "k8s"],
        "We deploy on GKE.",
    );
    let filler = "so I have been going back and forth on this with the team for a while now and \
                  honestly I am not sure what the right call is anymore but basically the thing \
                  I keep coming back to is";
    let q = format!("{filler} whether Kubernetes rolling updates are enough");
    assert!(q.split_whitespace().count() > 40);
    assert_eq!(env.top(&[&q])["id"], "code/fact/kubernetes");
    assert_eq!(env.top(&[&q])["tier"], "alias");
}

/// See: issue 10. A folder id as the query lists that folder's entries (path tier) before any
/// content hit, even a core, important entry elsewhere that uses the folder's words.
#[test]
fn a_folder_id_lists_its_entries_before_content_hits() {
    let env = TestEnv::new();
    env.add(
        "domain/payments/refunds",
        "Refunds",
        &["--importance", "0.1"],
        "Refund flow.",
    );
    env.add(
        "domain/payments/ledger",
        "Ledger",
        &["--importance", "0.1"],
        "Double entry.",
    );
    env.ok(&["set", "refunds", "maturity=draft"]);
    env.add(
        "architecture/overview/domain-payments",
        "Domain payments overview",
        &["--importance", "1.0", "--alias", "domain payments"],
        "The domain payments service owns money movement.",
    );
    env.ok(&["set", "domain-payments", "maturity=core"]);
    let hits = env.hits(&["domain/payments"]);
    assert_eq!(
        hits[..2],
        ["domain/payments/ledger", "domain/payments/refunds"],
        "{hits:?}"
    );
    assert!(hits.contains(&"architecture/overview/domain-payments".to_string()));
}

/// Confidence that an agent can trust (issue 22): when two entries match the query's words
/// about as well, the first is a guess and the answer is not confident; the semantic tier does
/// not run (the query's own words matched). Asked about what sets one entry apart, the answer
/// is confident.
#[test]
fn an_answer_is_confident_only_when_its_first_hit_stands_out() {
    let env = TestEnv::new();
    env.add(
        "architecture/cache/ttl",
        "Cached sessions expire",
        &[],
        "The Redis cache keeps sessions for five minutes.",
    );
    env.add(
        "architecture/cache/eviction",
        "Eviction policy",
        &[],
        "The Redis cache evicts the least recently used keys first.",
    );
    let v = env.json(&["query", "redis cache"]);
    let hits: Vec<&str> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(hits.len(), 2, "{v}");
    assert_eq!(v["confident"], false, "{v}");
    assert_eq!(
        v["note"],
        "low confidence: other entries match the query almost as well as the first"
    );
    assert_eq!(v["semantic"]["ran"], false);
    assert_eq!(v["semantic"]["reason"], "the query's own words matched");

    let v = env.json(&["query", "redis cache eviction of least recently used keys"]);
    assert_eq!(v["hits"][0]["id"], "architecture/cache/eviction", "{v}");
    assert_eq!(v["hits"][0]["tier"], "bm25", "{v}");
    assert_eq!(v["confident"], true, "{v}");
    assert_eq!(v["semantic"]["reason"], "confident");
    assert!(v.get("note").is_none(), "{v}");
}

/// The re-scorer (issue 22) only reorders: on an unconfident answer it returns the same hits as
/// with `retrieval: {rescore: false}`, none lost and none twice.
#[test]
fn the_rescorer_reorders_the_same_hits() {
    let env = TestEnv::new();
    for (id, body) in [
        (
            "tools/build/pnpm",
            "We install with pnpm; the lockfile is committed.",
        ),
        (
            "tools/ci/cache",
            "CI caches the package store between runs of the install step.",
        ),
        (
            "tools/ci/timeouts",
            "The install step in CI times out after ten minutes.",
        ),
        (
            "tools/docker/install",
            "The Docker image runs the install step with a frozen lockfile.",
        ),
        (
            "tools/build/workspaces",
            "Workspaces share one lockfile at the root of the repository.",
        ),
    ] {
        env.add(id, "A note", &[], body);
    }
    let q = "install lockfile";
    let on = env.json(&["query", "-k", "10", q]);
    assert_eq!(on["confident"], false, "{on}");
    let mut a = env.hits(&["-k", "10", q]);
    env.write(
        "memtree.yaml",
        "schema_version: 1\nretrieval:\n  rescore: false\n",
    );
    let mut b = env.hits(&["-k", "10", q]);
    assert_eq!(a.len(), 5, "{on}");
    a.sort();
    b.sort();
    assert_eq!(a, b);
    a.dedup();
    assert_eq!(a.len(), 5);
}
