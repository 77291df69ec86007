//! The curate evaluation set (`examples/curate_eval`, see its README): each case is curated
//! alone (rules only, dry run) against a fresh `memtree import` of the project's agent file,
//! once from a notes file and once from a Claude Code transcript line of the same text, and
//! scored for harmful rows, precision of update/supersede/noop, supersede recall, dropped rows
//! and whether both inputs gave the same plan.

use std::path::Path;

use memtree::curate::transcript;
use memtree::memory::{CurateInput, CurateRow};
use memtree::retrieve::llm::LlmMode;
use memtree::{Memory, Tree};
use serde_json::{Value, json};

/// One labelled case.
pub struct Case {
    id: String,
    category: String,
    /// The statement.
    pub text: String,
    /// Per expected row, the acceptable plans (`add`, `op:target`).
    pub rows: Vec<Vec<String>>,
}

pub fn cases(path: &Path) -> Vec<Case> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON case");
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            Case {
                id: s("id"),
                category: s("category"),
                text: s("text"),
                rows: v["rows"]
                    .as_array()
                    .expect("rows")
                    .iter()
                    .map(|r| {
                        r.as_array()
                            .expect("a row")
                            .iter()
                            .map(|a| a.as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .collect(),
            }
        })
        .collect()
}

/// A planned row as the labels write it: `add`, or `op:target`.
fn label(r: &CurateRow) -> String {
    match r.op.as_str() {
        "add" => "add".into(),
        "supersede" => format!("supersede:{}", r.target.clone().unwrap_or_default()),
        op => format!("{op}:{}", r.id),
    }
}

/// The tree of `project` (its CLAUDE.md imported) in a new temporary folder.
pub fn tree(project: &Path) -> (tempfile::TempDir, Memory) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::copy(project.join("CLAUDE.md"), dir.path().join("CLAUDE.md")).expect("CLAUDE.md");
    let now = jiff::Timestamp::now();
    Memory::init(dir.path(), now, false).expect("init");
    let memory = Memory::open(Tree::at(dir.path()).expect("tree"), now).expect("open");
    let report = memory.import(&[], false).expect("import");
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    (dir, memory)
}

fn plan(memory: &Memory, text: &str) -> Vec<CurateRow> {
    let input = CurateInput {
        transcript: transcript::parse(text),
        source: "case".into(),
        session: None,
        llm: LlmMode::Never,
        deadline: None,
    };
    memory.curate(&input, false).expect("curate").plan
}

/// Scores of one set of cases.
#[derive(Default)]
struct Score {
    cases: usize,
    rows: usize,
    harmful: Vec<String>,
    usn: usize,
    usn_right: usize,
    supersede_due: usize,
    supersede_hit: usize,
    dropped: Vec<String>,
    differ: Vec<String>,
    rows_by_op: std::collections::BTreeMap<String, usize>,
}

impl Score {
    fn json(&self) -> Value {
        let ratio = |a: usize, b: usize| {
            if b == 0 {
                1.0
            } else {
                (a as f64 / b as f64 * 1000.0).round() / 1000.0
            }
        };
        json!({
            "cases": self.cases,
            "expected_rows": self.rows,
            "harmful": self.harmful.len(),
            "harmful_rows": self.harmful,
            "precision_update_supersede_noop": ratio(self.usn_right, self.usn),
            "update_supersede_noop_rows": self.usn,
            "supersede_recall": ratio(self.supersede_hit, self.supersede_due),
            "supersede_due": self.supersede_due,
            "dropped": self.dropped.len(),
            "dropped_rows": self.dropped,
            "plans_that_differ_by_input": self.differ,
            "rows_by_op": self.rows_by_op,
        })
    }
}

fn score_case(case: &Case, got: &[CurateRow], s: &mut Score) {
    s.cases += 1;
    s.rows += case.rows.len();
    let planned: Vec<&CurateRow> = got.iter().filter(|r| r.op != "skip").collect();
    for (i, want) in case.rows.iter().enumerate() {
        if want.iter().any(|w| w.starts_with("supersede:")) {
            s.supersede_due += 1;
            if planned.get(i).is_some_and(|r| want.contains(&label(r))) {
                s.supersede_hit += 1;
            }
        }
        if planned.get(i).is_none() {
            s.dropped.push(format!("{} row {}", case.id, i + 1));
        }
    }
    for (i, r) in planned.iter().enumerate() {
        *s.rows_by_op.entry(r.op.clone()).or_default() += 1;
        if r.op == "add" {
            continue;
        }
        let want: &[String] = case.rows.get(i).map(Vec::as_slice).unwrap_or(&[]);
        let got = label(r);
        s.usn += 1;
        let right = want.contains(&got);
        if right {
            s.usn_right += 1;
            continue;
        }
        let targets: Vec<&str> = want
            .iter()
            .filter_map(|w| w.split_once(':').map(|(_, t)| t))
            .collect();
        let target = got.split_once(':').map_or("", |(_, t)| t);
        let harmful = match r.op.as_str() {
            "update" => !targets.contains(&target),
            "supersede" => {
                !targets.contains(&target) || !want.iter().any(|w| w.starts_with("supersede:"))
            }
            "noop" => {
                matches!(case.category.as_str(), "new" | "change" | "lookalike")
                    || !want.iter().any(|w| w.starts_with("noop:"))
            }
            _ => false,
        };
        if harmful {
            s.harmful.push(format!(
                "{} [{}] {got} (want {}): {}",
                case.id,
                case.category,
                want.join(" | "),
                r.reason
            ));
        }
    }
}

/// Runs every project folder under `dir`.
pub fn run(dir: &str) -> Value {
    let mut projects = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("cases.jsonl").is_file())
        .collect();
    entries.sort();
    let mut total = Score::default();
    for project in entries {
        let name = project.file_name().unwrap().to_string_lossy().into_owned();
        let (_dir, memory) = tree(&project);
        let mut s = Score::default();
        for case in cases(&project.join("cases.jsonl")) {
            let notes = plan(&memory, &case.text);
            let line = json!({"type": "user", "sessionId": "eval",
                "message": {"role": "user", "content": case.text}})
            .to_string();
            let jsonl = plan(&memory, &line);
            let labels = |p: &[CurateRow]| p.iter().map(label).collect::<Vec<_>>();
            if labels(&notes) != labels(&jsonl) {
                s.differ.push(case.id.clone());
                total.differ.push(case.id.clone());
            }
            if std::env::var_os("CURATE_EVAL_VERBOSE").is_some() {
                eprintln!(
                    "{} [{}] {:?} -> {:?}",
                    case.id,
                    case.category,
                    case.rows,
                    notes
                        .iter()
                        .map(|r| format!("{} ({})", label(r), r.reason))
                        .collect::<Vec<_>>()
                );
            }
            score_case(&case, &notes, &mut s);
            score_case(&case, &notes, &mut total);
        }
        let v = s.json();
        eprintln!(
            "{name:>12}: {} cases, harmful {}, precision {}, supersede recall {}, dropped {}, \
             differ {}",
            v["cases"],
            v["harmful"],
            v["precision_update_supersede_noop"],
            v["supersede_recall"],
            v["dropped"],
            s.differ.len()
        );
        for h in &s.harmful {
            eprintln!("    harmful: {h}");
        }
        projects.push(json!({"project": name, "score": v}));
    }
    let v = total.json();
    eprintln!(
        "{:>12}: {} cases, harmful {}, precision {}, supersede recall {}, dropped {}",
        "all",
        v["cases"],
        v["harmful"],
        v["precision_update_supersede_noop"],
        v["supersede_recall"],
        v["dropped"]
    );
    json!({"projects": projects, "all": v})
}
