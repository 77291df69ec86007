//! Question sets over a project's own memory tree (`examples/questions/*.json`): `direct`
//! questions with the entry that answers them, `paraphrase` questions that share no content word
//! with it (checked with memtree's analyzer, as in [`crate::paraphrase`]), and `ood` near misses
//! that nothing in the tree answers. Each question is asked once through `Memory::query` on a
//! copy of the tree (no `.cache`, auto-commit off) and the report gives, per kind: first-hit and
//! top-3 recall, how often the answer is confident, and how often a confident answer's first hit
//! is wrong (for `ood`, every confident answer is).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::locomo::Confidence;
use crate::paraphrase::shared_words;

#[derive(Default)]
struct Kind {
    n: usize,
    at1: usize,
    at3: usize,
    answered: usize,
    /// Answers whose first hit the dense tier put there, and how many of them were right.
    promoted: usize,
    promoted_right: usize,
    conf: Confidence,
}

/// Runs the cases file at `cases` against the tree of the project it names (relative to the
/// current folder); prints a table and returns the figures as JSON.
pub fn run(cases: &str) -> Value {
    let set: Value =
        serde_json::from_str(&std::fs::read_to_string(cases).expect("read the question set"))
            .expect("parse the question set");
    let project = set["project"].as_str().unwrap_or(".");
    let (_tmp, memory) = crate::paraphrase::copied(Path::new(project));
    let mut kinds: BTreeMap<String, Kind> = BTreeMap::new();
    let mut rows = Vec::new();
    for case in set["cases"].as_array().expect("cases") {
        let q = case["q"].as_str().expect("q");
        let kind = case["kind"].as_str().unwrap_or("direct").to_string();
        let id = case["id"].as_str();
        if kind == "paraphrase" {
            let id = id.expect("a paraphrase names its entry");
            let shared = shared_words(Path::new(project), q, id);
            if !shared.is_empty() {
                eprintln!("refused: {q:?} shares {shared:?} with {id}");
                rows.push(json!({"q": q, "id": id, "refused": shared}));
                continue;
            }
        }
        let r = crate::paraphrase::ask(&memory, q);
        let at = id.and_then(|id| r.hits.iter().position(|h| h.id == id).map(|p| p + 1));
        let k = kinds.entry(kind.clone()).or_default();
        k.n += 1;
        k.at1 += usize::from(at == Some(1));
        k.at3 += usize::from(at.is_some_and(|r| r <= 3));
        k.answered += usize::from(!r.hits.is_empty());
        k.promoted += usize::from(r.dense.promoted.is_some());
        k.promoted_right += usize::from(r.dense.promoted.is_some() && at == Some(1));
        k.conf.count(
            r.confident,
            at == Some(1),
            r.hits.first().map(|h| h.tier.name()),
        );
        if r.confident && at != Some(1) {
            eprintln!(
                "confident, first hit wrong: {q:?} → {}",
                r.hits.first().map_or("-", |h| h.id.as_str())
            );
        }
        rows.push(
            json!({"q": q, "kind": kind, "id": id, "rank": at, "confident": r.confident,
                         "first": r.hits.first().map(|h| h.id.clone()),
                         "first_tier": r.hits.first().map(|h| h.tier.name()),
                         "dense": r.dense,
                         "orig_first": r.hits.get(usize::from(r.dense.promoted.is_some())).map(|h| h.id.clone()),
                         "hits": r.hits.iter().take(5).map(|h| format!("{} {}", h.id, h.matched.join(" "))).collect::<Vec<_>>()}),
        );
    }
    println!("{cases}: memtree query over {project}/.memory");
    println!(
        "{:<11} {:>4} {:>6} {:>6} {:>9} {:>9}  confidence",
        "kind", "n", "first", "top3", "answered", "promoted"
    );
    let mut summary = serde_json::Map::new();
    for (name, k) in &kinds {
        println!(
            "{:<11} {:>4} {:>6} {:>6} {:>9} {:>9}  {}",
            name,
            k.n,
            k.at1,
            k.at3,
            k.answered,
            format!("{}/{}", k.promoted_right, k.promoted),
            k.conf.line()
        );
        summary.insert(
            name.clone(),
            json!({"n": k.n, "first": k.at1, "top3": k.at3, "answered": k.answered,
                   "promoted": k.promoted, "promoted_right": k.promoted_right,
                   "confidence": k.conf.json()}),
        );
    }
    json!({"cases": cases, "kinds": summary, "rows": rows})
}
