//! PrecisionMemBench (tenurehq, MIT): does the context bundle hold exactly the right entries?
//!
//! - One tree per user. Each belief becomes `<scope>/<kind>/<slug>`: the scope's name
//!   (`domain:code` → `code`, `user:universal` → `universal`), the belief type as a memtree kind
//!   (preference → preference, decision → decision, open_question → question, entity and
//!   relation → fact), `canonical_name` as slug and title, `aliases`, `why_it_matters` as `why`,
//!   `content` as body, `pinned` as `maturity: core`, `superseded_by` as status `superseded` plus
//!   `superseded_by`, a set `resolved_at` as status `archived`, relation participants as
//!   `depends-on` relations.
//! - Each case runs `Memory::context` once per scope of the case (`--in <scope>`), and the
//!   sections are merged. Scoring follows the benchmark's rules: `shouldOnlyInclude` is set
//!   equality on *relevant* (`[]` means relevant must be empty); pinned entries never count as
//!   relevant; questions are checked only in *open questions*; `budget.maxBeliefs` caps
//!   pinned + relevant, pinned first. The persona prelude is the pinned section of the
//!   `universal` scope.
//! - Session cases: each turn queries only its user message; a belief created or updated at a
//!   turn takes effect after that turn is checked, and the session cases share one tree in file
//!   order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use memtree::entry::{Document, Meta, Relation, render_meta};
use memtree::{Memory, Query, Tree};
use serde_json::{Value, json};

pub fn scope_folder(scope: &str) -> String {
    scope.rsplit(':').next().unwrap_or(scope).to_string()
}

fn kind_of(t: &str) -> &'static str {
    match t {
        "preference" => "preference",
        "decision" => "decision",
        "open_question" => "question",
        _ => "fact",
    }
}

/// The entry id of a belief.
pub fn entry_id(b: &Value) -> String {
    let scope = b["scope"][0].as_str().unwrap_or("domain:misc");
    format!(
        "{}/{}/{}",
        scope_folder(scope),
        kind_of(b["type"].as_str().unwrap_or("")),
        b["canonical_name"]
            .as_str()
            .unwrap_or("unnamed")
            .replace('_', "-")
    )
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// Beliefs by `_id` → entry id.
pub type Ids = BTreeMap<String, String>;

fn write_belief(root: &Path, b: &Value, ids: &Ids) {
    let id = entry_id(b);
    let superseded = b["superseded_by"]
        .as_str()
        .and_then(|s| ids.get(s))
        .cloned();
    let status = if superseded.is_some() || b["epistemic_status"] == "superseded" {
        Some("superseded".to_string())
    } else if b["resolved_at"].is_string() {
        Some("archived".to_string())
    } else {
        None
    };
    let relations = strings(&b["participants"])
        .iter()
        .filter_map(|p| ids.get(p))
        .map(|to| Relation {
            kind: "depends-on".into(),
            to: to.clone(),
        })
        .collect();
    let meta = Meta {
        title: b["canonical_name"].as_str().map(str::to_string),
        kind: Some(kind_of(b["type"].as_str().unwrap_or("")).into()),
        aliases: strings(&b["aliases"]),
        why: b["why_it_matters"].as_str().map(str::to_string),
        maturity: (b["pinned"] == true).then(|| "core".to_string()),
        status,
        superseded_by: superseded,
        relations,
        created: b["created_at"].as_str().map(str::to_string),
        updated: b["updated_at"].as_str().map(str::to_string),
        decay: Some("never".into()),
        ..Meta::default()
    };
    let doc = Document::new(
        Some(render_meta(&meta)),
        format!("\n{}\n", b["content"].as_str().unwrap_or_default()),
        "\n",
    );
    let path = root.join(format!("{id}.md"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, doc.join()).unwrap();
}

/// A user's tree in a temporary folder.
pub struct UserTree {
    _dir: tempfile::TempDir,
    pub memory: Memory,
    root: std::path::PathBuf,
}

pub fn user_tree(beliefs: &[Value], user: &str, ids: &Ids) -> UserTree {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".memory");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("memtree.yaml"), "schema_version: 1\n").unwrap();
    for b in beliefs.iter().filter(|b| b["user_id"] == user) {
        write_belief(&root, b, ids);
    }
    let memory =
        Memory::open_trusting(Tree::at(dir.path()).unwrap(), jiff::Timestamp::now()).unwrap();
    UserTree {
        _dir: dir,
        memory,
        root,
    }
}

/// What one context run returned, as belief `_id`s.
#[derive(Default, Debug)]
struct Sections {
    pinned: Vec<String>,
    relevant: Vec<String>,
    questions: Vec<String>,
    prelude: String,
    prelude_items: usize,
}

fn run_context(
    t: &UserTree,
    query: &str,
    scopes: &[String],
    back: &BTreeMap<String, String>,
) -> Sections {
    let name = |id: &str| back.get(id).cloned().unwrap_or_else(|| id.to_string());
    let mut out = Sections::default();
    let push = |v: &mut Vec<String>, id: String| {
        if !v.contains(&id) {
            v.push(id);
        }
    };
    for scope in scopes {
        let q = Query {
            text: query.to_string(),
            within: Some(scope_folder(scope)),
            ..Query::default()
        };
        let Ok(bundle) = t.memory.context(&q, 100_000) else {
            continue;
        };
        for it in &bundle.pinned {
            push(&mut out.pinned, name(&it.id));
        }
        for it in &bundle.relevant {
            push(&mut out.relevant, name(&it.id));
        }
        for it in &bundle.open_questions {
            push(&mut out.questions, name(&it.id));
        }
    }
    let prelude = Query {
        text: String::new(),
        within: Some("universal".into()),
        ..Query::default()
    };
    if let Ok(bundle) = t.memory.context(&prelude, 100_000) {
        out.prelude_items = bundle.pinned.len();
        out.prelude = bundle
            .pinned
            .iter()
            .map(|i| i.text.clone())
            .collect::<Vec<_>>()
            .join("\n");
    }
    out
}

/// Checks one `expect` object; returns the failures (empty: pass).
fn check(expect: &Value, s: &Sections, budget: Option<usize>) -> Vec<String> {
    let mut fails = Vec::new();
    let mut pinned = s.pinned.clone();
    let mut relevant: Vec<String> = s
        .relevant
        .iter()
        .filter(|r| !s.pinned.contains(r))
        .cloned()
        .collect();
    if let Some(max) = budget {
        pinned.truncate(max);
        relevant.truncate(max - pinned.len());
    }
    let set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
    let includes = |section: &str, have: &[String], key: &Value, fails: &mut Vec<String>| {
        for id in strings(&key["mustInclude"]) {
            if !have.contains(&id) {
                fails.push(format!("{section}: missing {id}"));
            }
        }
        for id in strings(&key["mustExclude"]) {
            if have.contains(&id) {
                fails.push(format!("{section}: must exclude {id}"));
            }
        }
    };
    includes("pinned", &pinned, &expect["pinnedFacts"], &mut fails);
    includes(
        "open questions",
        &s.questions,
        &expect["openQuestions"],
        &mut fails,
    );
    let rel = &expect["relevantBeliefs"];
    includes("relevant", &relevant, rel, &mut fails);
    if rel["shouldOnlyInclude"].is_array() {
        let want = set(&strings(&rel["shouldOnlyInclude"]));
        let have = set(&relevant);
        if want != have {
            fails.push(format!("relevant: want {want:?}, have {have:?}"));
        }
    }
    for id in strings(&expect["noiseCheck"]["mustNotSurface"]) {
        if relevant.contains(&id) {
            fails.push(format!("noise: {id} surfaced"));
        }
    }
    let p = &expect["personaPrelude"];
    if p["nonEmpty"] == true && s.prelude_items == 0 {
        fails.push("prelude: empty".into());
    }
    if p["isNull"] == true && s.prelude_items > 0 {
        fails.push("prelude: not empty".into());
    }
    let lower = s.prelude.to_lowercase();
    for w in strings(&p["contains"]) {
        if !lower.contains(&w.to_lowercase()) {
            fails.push(format!("prelude: lacks {w:?}"));
        }
    }
    for w in strings(&p["mustNotContain"]) {
        if lower.contains(&w.to_lowercase()) {
            fails.push(format!("prelude: contains {w:?}"));
        }
    }
    fails
}

/// Runs the benchmark in `dir`; prints failures and a summary, returns the figures as JSON.
pub fn run(dir: &str) -> Value {
    let read = |f: &str| -> Vec<Value> {
        serde_json::from_str(&std::fs::read_to_string(Path::new(dir).join(f)).unwrap()).unwrap()
    };
    let mut beliefs = read("beliefs.seed.json");
    let cases = read("retrieval.cases.json");
    let sessions = read("session-retrieval.cases.json");
    let mut ids: Ids = beliefs
        .iter()
        .map(|b| (b["_id"].as_str().unwrap().to_string(), entry_id(b)))
        .collect();
    let mut back: BTreeMap<String, String> =
        ids.iter().map(|(k, v)| (v.clone(), k.clone())).collect();
    let mut trees: BTreeMap<String, UserTree> = BTreeMap::new();
    for user in ["test-user", "other-user", "brand-new-user"] {
        trees.insert(user.into(), user_tree(&beliefs, user, &ids));
    }

    let (mut passed, mut strict_n, mut strict_passed) = (0, 0, 0);
    let mut ms = Vec::new();
    let mut failures = Vec::new();
    for c in &cases {
        let user = c["userId"].as_str().unwrap_or("test-user");
        let scopes = strings(&c["scope"]);
        let budget = c["budget"]["maxBeliefs"].as_u64().map(|n| n as usize);
        let t0 = std::time::Instant::now();
        let s = run_context(
            &trees[user],
            c["query"].as_str().unwrap_or(""),
            &scopes,
            &back,
        );
        ms.push(t0.elapsed().as_secs_f64() * 1e3);
        let fails = check(&c["expect"], &s, budget);
        let strict = !strings(&c["expect"]["relevantBeliefs"]["shouldOnlyInclude"]).is_empty();
        strict_n += usize::from(strict);
        if fails.is_empty() {
            passed += 1;
            strict_passed += usize::from(strict);
        } else {
            let id = c["caseId"].as_str().unwrap_or("?");
            println!("FAIL {id}: {}", fails.join("; "));
            failures.push(json!({"case": id, "why": fails}));
        }
    }

    // Session turns share the test user's tree, in file order.
    let (mut turns, mut turns_passed) = (0, 0);
    for case in &sessions {
        for turn in case["turns"].as_array().into_iter().flatten() {
            let t = &trees["test-user"];
            let scopes = strings(&turn["scope"]);
            let s = run_context(
                t,
                turn["userMessage"].as_str().unwrap_or(""),
                &scopes,
                &back,
            );
            let fails = check(&turn["expect"], &s, None);
            turns += 1;
            let label = format!(
                "{}#{}",
                case["caseId"].as_str().unwrap_or("?"),
                turn["turnIndex"]
            );
            if fails.is_empty() {
                turns_passed += 1;
            } else {
                println!("FAIL {label}: {}", fails.join("; "));
                failures.push(json!({"case": label, "why": fails}));
            }
            if let Some(b) = turn.get("createBeliefAtTurn").filter(|b| b.is_object()) {
                let id = entry_id(b);
                ids.insert(b["_id"].as_str().unwrap().to_string(), id.clone());
                back.insert(id, b["_id"].as_str().unwrap().to_string());
                write_belief(&t.root, b, &ids);
                beliefs.push(b.clone());
            }
            if let Some(u) = turn.get("updateBeliefAtTurn").filter(|u| u.is_object()) {
                let id = &ids[u["beliefId"].as_str().unwrap()];
                let adds: Vec<String> = strings(&u["addAliases"])
                    .iter()
                    .map(|a| format!("aliases+={a}"))
                    .collect();
                t.memory.set(id, &adds).unwrap();
            }
        }
    }
    ms.sort_by(f64::total_cmp);
    let median = ms.get(ms.len() / 2).copied().unwrap_or(0.0);
    println!(
        "PrecisionMemBench: {passed}/{} cases, {strict_passed}/{strict_n} with a non-empty \
         shouldOnlyInclude, {turns_passed}/{turns} session turns; in-process median {median:.2} ms \
         per case",
        cases.len()
    );
    json!({
        "benchmark": "precisionmembench",
        "cases": {"passed": passed, "total": cases.len()},
        "should_only_include_cases": {"passed": strict_passed, "total": strict_n},
        "session_turns": {"passed": turns_passed, "total": turns},
        "case_ms_median": median,
        "failures": failures,
    })
}
