//! Training rows and fitting for the learned re-scorer ([`memtree::retrieve::rescore`]).
//!
//! `rows` asks every question of a data set through `Memory::rescorer_rows` and labels each
//! candidate (1: an expected entry); `fit` fits pointwise logistic regression on standardised
//! features (L2-regularised, full-batch gradient descent) and writes the model as JSON.
//!
//! Data sets:
//! - `own` (shippable: written by the memtree team, or MIT-licensed): the question set over
//!   memtree's own tree (`examples/questions/memtree.json`, direct and paraphrase questions),
//!   the paraphrase set over `examples/project`, PrecisionMemBench's retrieval cases with
//!   expected relevant beliefs (MIT), and the curate evaluation statements with a target entry
//!   (`examples/curate_eval`, CLAUDE.md files of MIT projects), and the conversations of
//!   `examples/conversations/written.json` (written by the memtree team in LoCoMo's format).
//! - `locomo-dev`: LoCoMo's development split, CC BY-NC: for a comparison model only, never
//!   for the shipped weights.
//! - `locomo-heldout`: LoCoMo's held-out split, for `eval -- rows` only (evaluating a ranker
//!   outside memtree); `fit` refuses it.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use memtree::retrieve::rescore::{DENSE, FEATURES, Model, N};
use memtree::{Memory, Query, Tree};
use serde_json::{Value, json};

/// One labelled candidate.
pub struct Row {
    /// The question it was found for (rows of one question form a group).
    pub group: String,
    /// Whether it is an expected entry.
    pub label: bool,
    /// Its features.
    pub x: [f64; N],
}

/// Whether rows carry the dense tier's features (`fit --dense`).
static WITH_DENSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn ask(memory: &Memory, group: &str, q: Query, wanted: &HashSet<String>, out: &mut Vec<Row>) {
    let dense = WITH_DENSE.load(std::sync::atomic::Ordering::Relaxed);
    let Ok(rows) = memory.rescorer_rows(&q, dense) else {
        return;
    };
    if let Ok(want) = std::env::var("RESCORER_DEBUG")
        && group.contains(&want)
    {
        for (id, x) in rows.iter().take(8) {
            let xs: Vec<String> = x.iter().map(|v| format!("{v:.2}")).collect();
            eprintln!("{} {id} {}", u8::from(wanted.contains(id)), xs.join(" "));
        }
    }
    // A question whose expected entry is not among the candidates teaches nothing.
    if !rows.iter().any(|(id, _)| wanted.contains(id)) {
        return;
    }
    for (id, x) in rows {
        out.push(Row {
            group: group.to_string(),
            label: wanted.contains(&id),
            x,
        });
    }
}

fn query(text: &str) -> Query {
    Query {
        text: text.to_string(),
        k: Some(50),
        llm: memtree::retrieve::llm::LlmMode::Never,
        ..Query::default()
    }
}

/// The question sets `files` (with their default project folders).
fn question_sets(files: &[(&str, &str)], out: &mut Vec<Row>) {
    for &(file, default_project) in files {
        let set: Value = serde_json::from_str(&std::fs::read_to_string(file).expect(file))
            .expect("a question set");
        let project = set["project"].as_str().unwrap_or(default_project);
        let (_tmp, memory) = crate::paraphrase::copied(Path::new(project));
        for case in set["cases"].as_array().expect("cases") {
            // `paraphrase` and `ood` cases of a question set are held out for the dense tier.
            let direct = case["kind"].as_str().is_none_or(|k| k == "direct");
            let (Some(q), Some(id), true) = (case["q"].as_str(), case["id"].as_str(), direct)
            else {
                continue;
            };
            let wanted = HashSet::from([id.to_string()]);
            ask(&memory, &format!("{file}:{q}"), query(q), &wanted, out);
        }
    }
}

/// PrecisionMemBench retrieval cases with expected relevant beliefs.
fn pmb(out: &mut Vec<Row>) {
    let dir = Path::new("../shared/data/precisionmembench");
    let read = |f: &str| -> Vec<Value> {
        serde_json::from_str(&std::fs::read_to_string(dir.join(f)).expect(f)).expect(f)
    };
    let beliefs = read("beliefs.seed.json");
    let ids: crate::pmb::Ids = beliefs
        .iter()
        .filter_map(|b| Some((b["_id"].as_str()?.to_string(), crate::pmb::entry_id(b))))
        .collect();
    let mut trees = BTreeMap::new();
    for c in read("retrieval.cases.json") {
        let rel = &c["expect"]["relevantBeliefs"];
        let wanted: HashSet<String> = crate::pmb::strings(&rel["shouldOnlyInclude"])
            .into_iter()
            .chain(crate::pmb::strings(&rel["mustInclude"]))
            .filter_map(|b| ids.get(&b).cloned())
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let user = c["userId"].as_str().unwrap_or("test-user").to_string();
        let t = trees
            .entry(user.clone())
            .or_insert_with(|| crate::pmb::user_tree(&beliefs, &user, &ids));
        for scope in crate::pmb::strings(&c["scope"]) {
            let mut q = query(c["query"].as_str().unwrap_or_default());
            q.within = Some(crate::pmb::scope_folder(&scope));
            let group = format!("pmb:{}:{scope}", c["caseId"]);
            ask(&t.memory, &group, q, &wanted, out);
        }
    }
}

/// Curate statements that update, supersede or repeat an entry.
fn curate(out: &mut Vec<Row>) {
    for project in [
        "examples/curate_eval/ruff",
        "examples/curate_eval/pydantic-ai",
    ] {
        let (_dir, memory) = crate::curate::tree(Path::new(project));
        for case in crate::curate::cases(&Path::new(project).join("cases.jsonl")) {
            let wanted: HashSet<String> = case
                .rows
                .iter()
                .flatten()
                .filter_map(|r| r.split_once(':').map(|(_, t)| t.to_string()))
                .collect();
            if !wanted.is_empty() {
                let group = format!("{project}:{}", case.text);
                ask(&memory, &group, query(&case.text), &wanted, out);
            }
        }
    }
}

/// The conversations of `path` (LoCoMo's format) that `keep` accepts by sample id.
fn conversations(path: &str, keep: impl Fn(&str) -> bool, out: &mut Vec<Row>) {
    for conv in &crate::locomo::conversations(path) {
        let sid = conv["sample_id"].as_str().unwrap_or_default();
        if !keep(sid) {
            continue;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        crate::locomo::write_tree(dir.path(), conv, "schema_version: 1\n");
        let memory =
            Memory::open_trusting(Tree::at(dir.path()).expect("tree"), jiff::Timestamp::now())
                .expect("open");
        memory.index(true).expect("index");
        // A group is `sample:index:question`: a sample may ask one question twice.
        for (i, qa) in conv["qa"].as_array().into_iter().flatten().enumerate() {
            let question = qa["question"].as_str().unwrap_or_default();
            let wanted = crate::locomo::evidence(qa);
            if !wanted.is_empty() {
                ask(
                    &memory,
                    &format!("{sid}:{i}:{question}"),
                    query(question),
                    &wanted,
                    out,
                );
            }
        }
    }
}

/// The shippable data sets; `own` is all of them.
pub const OWN: [&str; 5] = ["questions", "paraphrases", "pmb", "curate", "written"];

/// The rows of data set `set`: one of [`OWN`], `own`, `locomo-dev` or `locomo-heldout`.
pub fn rows(set: &str) -> Vec<Row> {
    let mut out = Vec::new();
    match set {
        "own" => {
            for s in OWN {
                out.extend(rows(s));
            }
        }
        "questions" => question_sets(&[("examples/questions/memtree.json", ".")], &mut out),
        "paraphrases" => question_sets(
            &[("examples/project/paraphrases.json", "examples/project")],
            &mut out,
        ),
        "pmb" => pmb(&mut out),
        "curate" => curate(&mut out),
        "written" => conversations("examples/conversations/written.json", |_| true, &mut out),
        // `written:ID` is one conversation, `written-ID` the others (for cross-validation).
        s if s.starts_with("written:") || s.starts_with("written-") => {
            let (only, id) = (s.as_bytes()[7] == b':', &s[8..]);
            conversations(
                "examples/conversations/written.json",
                |sid| (sid == id) == only,
                &mut out,
            );
        }
        "locomo-heldout" => conversations(
            "../shared/data/locomo/locomo10.json",
            |sid| !crate::locomo::DEV.contains(&sid),
            &mut out,
        ),
        "locomo-dev" => conversations(
            "../shared/data/locomo/locomo10.json",
            |sid| crate::locomo::DEV.contains(&sid),
            &mut out,
        ),
        other => panic!(
            "unknown data set {other:?}: own, {}, locomo-dev or locomo-heldout",
            OWN.join(", ")
        ),
    }
    out
}

/// Fits pointwise logistic regression with an L2 penalty `l2` on the standardised features of
/// `rows`; `fitted_on` describes the data.
pub fn fit(rows: &[Row], l2: f64, drop: &[String], fitted_on: String) -> Model {
    let kept: Vec<bool> = FEATURES
        .iter()
        .map(|f| !drop.iter().any(|d| d == f))
        .collect();
    let n = rows.len().max(1) as f64;
    let mut mean = [0.0; N];
    for r in rows {
        for (m, x) in mean.iter_mut().zip(&r.x) {
            *m += x / n;
        }
    }
    let mut std = [0.0; N];
    for r in rows {
        for ((s, x), m) in std.iter_mut().zip(&r.x).zip(&mean) {
            *s += (x - m).powi(2) / n;
        }
    }
    let std: Vec<f64> = std
        .iter()
        .map(|v| if v.sqrt() > 1e-9 { v.sqrt() } else { 1.0 })
        .collect();
    let z: Vec<[f64; N]> = rows
        .iter()
        .map(|r| {
            let mut z = [0.0; N];
            for i in 0..N {
                z[i] = (r.x[i] - mean[i]) / std[i];
            }
            z
        })
        .collect();
    let (mut w, mut b) = ([0.0f64; N], 0.0f64);
    // Adam on the mean log loss plus l2/2 |w|².
    let (mut mw, mut vw, mut mb, mut vb) = ([0.0; N], [0.0; N], 0.0, 0.0);
    let (lr, b1, b2, eps) = (0.05, 0.9, 0.999, 1e-8);
    for step in 1..=3000 {
        let mut gw = [0.0; N];
        let mut gb = 0.0;
        for (zr, r) in z.iter().zip(rows) {
            let logit = b + zr.iter().zip(&w).map(|(a, c)| a * c).sum::<f64>();
            let p = 1.0 / (1.0 + (-logit).exp());
            let err = p - f64::from(u8::from(r.label));
            for i in 0..N {
                gw[i] += err * zr[i] / n;
            }
            gb += err / n;
        }
        for i in 0..N {
            if !kept[i] {
                continue;
            }
            gw[i] += l2 * w[i];
            mw[i] = b1 * mw[i] + (1.0 - b1) * gw[i];
            vw[i] = b2 * vw[i] + (1.0 - b2) * gw[i] * gw[i];
            let (mh, vh) = (mw[i] / (1.0 - b1.powi(step)), vw[i] / (1.0 - b2.powi(step)));
            w[i] -= lr * mh / (vh.sqrt() + eps);
        }
        mb = b1 * mb + (1.0 - b1) * gb;
        vb = b2 * vb + (1.0 - b2) * gb * gb;
        b -= lr * (mb / (1.0 - b1.powi(step))) / ((vb / (1.0 - b2.powi(step))).sqrt() + eps);
    }
    Model {
        features: FEATURES.iter().map(|s| s.to_string()).collect(),
        mean: mean.to_vec(),
        std,
        weights: w.iter().map(|x| (x * 1e4).round() / 1e4).collect(),
        bias: (b * 1e4).round() / 1e4,
        fitted_on,
    }
}

/// `eval -- rows`: the labelled rows of `sets` written to `file` as JSON lines; returns a
/// summary (questions, rows, relevant rows per set).
pub fn run_rows(sets: &[String], dense: bool, file: &Path) -> Value {
    use std::io::Write;
    WITH_DENSE.store(dense, std::sync::atomic::Ordering::Relaxed);
    let mut w = std::io::BufWriter::new(std::fs::File::create(file).expect("create the rows file"));
    let mut summary = serde_json::Map::new();
    for s in sets {
        let rows = self::rows(s);
        for r in &rows {
            writeln!(
                w,
                "{}",
                json!({"set": s, "g": r.group, "y": r.label, "x": r.x.to_vec()})
            )
            .expect("write a row");
        }
        let groups: HashSet<&str> = rows.iter().map(|r| r.group.as_str()).collect();
        let relevant = rows.iter().filter(|r| r.label).count();
        eprintln!(
            "{s}: {} questions, {} rows ({relevant} relevant)",
            groups.len(),
            rows.len()
        );
        summary.insert(
            s.clone(),
            json!({"questions": groups.len(), "rows": rows.len(), "relevant": relevant}),
        );
    }
    w.flush().expect("write the rows file");
    json!({"features": FEATURES, "dense": dense, "file": file, "sets": summary})
}

/// `eval -- fit`: rows of `sets`, fitted, written to `out`; returns a summary.
pub fn run_fit(sets: &[String], l2: f64, drop: &[String], dense: bool, out: &Path) -> Value {
    assert!(
        !sets.iter().any(|s| s == "locomo-heldout"),
        "the held-out split only evaluates: fit on own or locomo-dev"
    );
    for d in drop {
        assert!(FEATURES.contains(&d.as_str()), "unknown feature {d:?}");
    }
    WITH_DENSE.store(dense, std::sync::atomic::Ordering::Relaxed);
    let mut drop = drop.to_vec();
    if !dense {
        drop.extend(FEATURES[N - DENSE..].iter().map(|f| (*f).to_string()));
    }
    let drop = &drop[..];
    let mut rows = Vec::new();
    for s in sets {
        let before = rows.len();
        rows.extend(self::rows(s));
        eprintln!("{s}: {} rows", rows.len() - before);
    }
    let groups: HashSet<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    let positives = rows.iter().filter(|r| r.label).count();
    let fitted_on = format!(
        "{}: {} questions, {} rows ({} relevant); pointwise logistic regression, L2 {l2}, \
         standardised features{} (`cargo run --profile eval --example eval -- fit`)",
        sets.join(" + "),
        groups.len(),
        rows.len(),
        positives,
        if drop.is_empty() {
            String::new()
        } else {
            format!(", without {}", drop.join(", "))
        }
    );
    let model = fit(&rows, l2, drop, fitted_on.clone());
    let text = serde_json::to_string_pretty(&model).expect("serialize") + "\n";
    std::fs::write(out, text).expect("write the model");
    eprintln!("{fitted_on}\nwritten to {}", out.display());
    for (name, w) in FEATURES.iter().zip(&model.weights) {
        eprintln!("  {name:<18} {w:+.3}");
    }
    json!({"fitted_on": fitted_on, "weights": model.weights, "bias": model.bias})
}
