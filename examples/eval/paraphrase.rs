//! The paraphrase set: questions about `examples/project` that share no content word with the
//! entry that answers them (`examples/project/paraphrases.json`). Every case is checked for
//! that property with memtree's own analyzer over the entry's whole file and its id; a case
//! that breaks it is refused. Each question is asked twice through `Memory::query`, with the
//! semantic tier on and off, and the rank of the expected entry is reported.

use std::collections::HashSet;
use std::path::Path;

use memtree::index::analyzer;
use memtree::{Memory, Query, Tree};
use serde_json::{Value, json};

/// Copies the files under `from` to `to`, hidden ones included, `.cache` left out.
pub fn copy_tree(from: &Path, to: &Path) {
    let walk = ignore::WalkBuilder::new(from)
        .standard_filters(false)
        .filter_entry(|e| e.file_name() != ".cache")
        .build();
    for e in walk {
        let e = e.expect("walk the example tree");
        let dest = to.join(e.path().strip_prefix(from).expect("below the source"));
        if e.file_type().is_some_and(|t| t.is_dir()) {
            std::fs::create_dir_all(&dest).expect("create a folder");
        } else {
            std::fs::copy(e.path(), &dest).expect("copy a file");
        }
    }
}

fn terms(text: &str) -> HashSet<String> {
    analyzer::terms(&mut analyzer::analyzer(), text)
        .into_iter()
        .collect()
}

/// Indexes `memory` (its dense vectors too, when a dense model is configured), keeping the
/// vectors between runs in `target/eval-cache/NAME.dense`: they are keyed by content hash, so a
/// copy of an earlier run's file saves re-encoding (minutes for a LoCoMo conversation).
pub fn index_with_cached_vectors(memory: &Memory, name: &str) {
    let kept = Path::new("target/eval-cache").join(format!("{name}.dense"));
    let live = memory
        .tree()
        .cache_dir()
        .join(memtree::semantic::store::FILE);
    if kept.is_file() {
        std::fs::create_dir_all(live.parent().expect("cache dir")).expect("create .cache");
        std::fs::copy(&kept, &live).expect("restore the dense vectors");
    }
    let report = memory.index(false).expect("index");
    if report.dense.encoded > 0 {
        eprintln!(
            "{name}: {} dense vectors encoded in {:.0} ms",
            report.dense.encoded, report.dense.elapsed_ms
        );
        std::fs::create_dir_all(kept.parent().expect("parent")).expect("create target/eval-cache");
        std::fs::copy(&live, &kept).expect("keep the dense vectors");
    }
}

/// A copy of `project`'s tree in a temporary folder (no `.cache`, auto-commit off), opened.
pub fn copied(project: &Path) -> (tempfile::TempDir, Memory) {
    let tmp = tempfile::tempdir().expect("temp dir");
    copy_tree(&project.join(".memory"), &tmp.path().join(".memory"));
    let cfg = tmp.path().join(".memory/memtree.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap_or_default();
    std::fs::write(
        &cfg,
        text.replace("auto_commit: true", "auto_commit: false"),
    )
    .expect("write memtree.yaml");
    let tree = Tree::discover(tmp.path()).expect("the copied tree");
    let memory = Memory::open_trusting(tree, jiff::Timestamp::now()).expect("open");
    let name = std::fs::canonicalize(project)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "project".into());
    index_with_cached_vectors(&memory, &name);
    (tmp, memory)
}

/// The analyzed words `q` shares with the entry `id` of `project` (its whole file and its id).
pub fn shared_words(project: &Path, q: &str, id: &str) -> Vec<String> {
    let file = project.join(".memory").join(format!("{id}.md"));
    let text = std::fs::read_to_string(&file).expect("the expected entry's file");
    terms(q)
        .intersection(&terms(&format!("{text} {}", id.replace(['/', '-'], " "))))
        .cloned()
        .collect()
}

/// `q` asked of `memory` for 10 hits.
pub fn ask(memory: &Memory, q: &str) -> memtree::QueryResult {
    memory
        .query(&Query {
            text: q.to_string(),
            k: Some(10),
            ..Query::default()
        })
        .expect("query")
}

/// The rank (1-based) of `id` among the hits, if present.
fn rank(memory: &Memory, q: &str, id: &str) -> (Option<usize>, Value, bool) {
    let r = ask(memory, q);
    let at = r.hits.iter().position(|h| h.id == id).map(|p| p + 1);
    let semantic = serde_json::to_value(&r.semantic).expect("serialize");
    (at, semantic, r.confident)
}

pub fn run(project: &str, cases: &str, semantic: &str) -> Value {
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(cases).expect("read the paraphrase set"))
            .expect("parse the paraphrase set");
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut trees = Vec::new();
    let on = format!("semantic: {{{semantic}}}\n");
    for (name, extra) in [("on", on.as_str()), ("off", "semantic: {enabled: false}\n")] {
        let root = tmp.path().join(name);
        copy_tree(&Path::new(project).join(".memory"), &root.join(".memory"));
        let cfg = root.join(".memory/memtree.yaml");
        let mut text = std::fs::read_to_string(&cfg).unwrap_or_default();
        text = text.replace("auto_commit: true", "auto_commit: false");
        text.push_str(extra);
        std::fs::write(&cfg, text).expect("write memtree.yaml");
        let tree = Tree::discover(&root).expect("the copied tree");
        trees.push(Memory::open_trusting(tree, jiff::Timestamp::now()).expect("open"));
    }
    let mut rows = Vec::new();
    let (mut at1, mut at3, mut at1_off, mut at3_off, mut n) = (0, 0, 0, 0, 0);
    let mut conf = crate::locomo::Confidence::default();
    eprintln!("{:<58} {:>4} {:>4}  added words", "question", "on", "off");
    for case in cases["cases"].as_array().expect("cases") {
        let q = case["q"].as_str().expect("q");
        let id = case["id"].as_str().expect("id");
        let shared = shared_words(Path::new(project), q, id);
        if !shared.is_empty() {
            eprintln!("refused: {q:?} shares {shared:?} with {id}");
            rows.push(json!({"q": q, "id": id, "refused": shared}));
            continue;
        }
        n += 1;
        let (on, semantic, confident) = rank(&trees[0], q, id);
        let (off, _, _) = rank(&trees[1], q, id);
        conf.count(confident, on == Some(1), None);
        at1 += usize::from(on == Some(1));
        at3 += usize::from(on.is_some_and(|r| r <= 3));
        at1_off += usize::from(off == Some(1));
        at3_off += usize::from(off.is_some_and(|r| r <= 3));
        let show = |r: Option<usize>| r.map_or("-".to_string(), |r| r.to_string());
        eprintln!(
            "{:<58} {:>4} {:>4}  {}",
            q,
            show(on),
            show(off),
            semantic["expansions"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
        rows.push(json!({"q": q, "id": id, "rank_on": on, "rank_off": off, "semantic": semantic}));
    }
    eprintln!(
        "paraphrase set, {n} questions: semantic on R@1 {at1}/{n}, R@3 {at3}/{n}; off R@1 {at1_off}/{n}, R@3 {at3_off}/{n}"
    );
    eprintln!("{}", conf.line());
    json!({
        "questions": n,
        "confidence": conf.json(),
        "on": {"r_at_1": at1, "r_at_3": at3},
        "off": {"r_at_1": at1_off, "r_at_3": at3_off},
        "cases": rows,
    })
}
