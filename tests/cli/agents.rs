//! The agent side (issue 9): `prime`, the session-start bundle.

use crate::env::{TestEnv, field_pairs};

/// prime: pinned core entries, open questions, what changed since a revision, the outline, all
/// within the budget, which names what it left out.
#[test]
fn prime_gives_the_session_start_bundle() {
    let env = TestEnv::repo(true);
    env.add(
        "db/engine/choice",
        "We use Postgres",
        &["--kind", "decision", "--importance", "0.9"],
        "Postgres for everything.",
    );
    env.ok(&["set", "choice", "maturity=core"]);
    env.add(
        "db/engine/sharding",
        "Should we shard orders?",
        &["--kind", "question"],
        "Open since the load test.",
    );
    env.add(
        "ops/deploy/steps",
        "Deploy steps",
        &["--kind", "procedure"],
        "Run make deploy.",
    );
    let base = env.git(&["rev-parse", "HEAD~1"]);
    // An uncommitted hand edit shows too.
    env.write(
        "ops/deploy/hotfix.md",
        "---\ntitle: Hotfix\n---\nBy hand.\n",
    );
    let v = env.json(&["prime", "--since", base.trim()]);
    assert_eq!(v["schema"], "memtree.prime/v1");
    assert_eq!(v["pinned"][0]["id"], "db/engine/choice", "{v}");
    assert_eq!(v["open_questions"][0]["id"], "db/engine/sharding", "{v}");
    let changed = field_pairs(&v["changes"]["entries"], "id", "status");
    assert_eq!(
        changed,
        [
            ("ops/deploy/hotfix", "added"),
            ("ops/deploy/steps", "added")
        ],
        "{v}"
    );
    let outline: Vec<(&str, u64)> = v["outline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["folder"].as_str().unwrap(),
                r["entries"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outline,
        [("db", 2), ("db/engine", 2), ("ops", 2), ("ops/deploy", 2)],
        "{v}"
    );
    let md = v["markdown"].as_str().unwrap();
    assert!(
        md.contains("## Pinned (core)") && md.contains("Postgres for everything."),
        "{md}"
    );
    assert!(v["used_tokens"].as_u64().unwrap() <= v["budget_tokens"].as_u64().unwrap());
    // A small budget leaves things out and says which.
    let small = env.json(&["prime", "--budget", "30"]);
    assert!(!small["omitted"].as_array().unwrap().is_empty(), "{small}");
    assert!(small["markdown"].as_str().unwrap().contains("left out:"));
    // Outside a repository the changes section says why.
    let bare = TestEnv::new();
    let v = bare.json(&["prime"]);
    assert!(
        v["changes"]["note"]
            .as_str()
            .unwrap()
            .contains("not inside a git repository"),
        "{v}"
    );
}
