//! # Retrieval evaluation harness
//!
//! Runs public benchmarks through memtree's library API (the same calls the CLI makes), prints a
//! table and writes the figures as JSON. Not part of `cargo test`: run it in release mode.
//!
//! ```text
//! cargo run --release --example eval -- locomo --split dev      # tune on this split only
//! cargo run --release --example eval -- locomo --split heldout  # report as it falls
//! cargo run --release --example eval -- pmb
//! cargo run --profile eval --example eval -- curate              # examples/curate_eval
//! cargo run --release --example eval -- paraphrase               # examples/project/paraphrases.json
//! cargo run --release --example eval -- questions                # examples/questions/memtree.json
//! ```
//!
//! JSON goes to `target/eval/<benchmark>[-<split>].json` unless `--out` says otherwise.
//! `LOCOMO_MISSES=FILE` also writes every LoCoMo question whose evidence is not all in the top 5
//! (question, answer, evidence turns with their dates, top 5 hits) as JSON lines, for failure
//! analysis on the development split; `LOCOMO_DUMP=FILE` writes every question's confidence,
//! first scores and whether each of the top 10 is evidence (how `CONFIDENT_MARGIN` was chosen).
//! The data is read from `../shared/data` (LoCoMo is licensed for non-commercial evaluation
//! only and is never shipped with the crate).

mod curate;
mod locomo;
mod paraphrase;
mod pmb;
mod questions;
mod rescorer;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "memtree retrieval evaluation (LoCoMo, PrecisionMemBench)")]
struct Args {
    #[command(subcommand)]
    bench: Bench,
    /// Where to write the JSON figures.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// Re-scorer weights to evaluate instead of the shipped ones (a JSON model file), or
    /// `none` for no re-scoring (neither model).
    #[arg(long, global = true)]
    rescorer: Option<String>,
    /// Weights of the re-scorer with the dense tier's features instead of the shipped ones, or
    /// `none` (answers the dense tier encoded are then re-scored by the other model).
    #[arg(long, global = true)]
    rescorer_dense: Option<String>,
}

#[derive(Subcommand)]
enum Bench {
    /// LoCoMo evidence recall, one tree per conversation.
    Locomo {
        /// dev (conv-26, 30, 41, 42, 43), heldout (the other five) or all.
        #[arg(long, default_value = "dev")]
        split: String,
        /// Path of locomo10.json.
        #[arg(long, default_value = "../shared/data/locomo/locomo10.json")]
        data: String,
        /// A memtree.yaml for every tree (for ablations, e.g. `retrieval: {graph_hops: 0}`, or
        /// an `llm:` section to measure tier 5 with a real provider).
        #[arg(long, default_value = "schema_version: 1\n")]
        config: String,
        /// When tier 5 runs (needs an `llm:` section in --config): auto, always or never.
        #[arg(long, default_value = "auto")]
        llm: String,
    },
    /// The paraphrase set on examples/project, semantic tier on and off.
    Paraphrase {
        /// The project whose `.memory` is copied and queried.
        #[arg(long, default_value = "examples/project")]
        project: String,
        /// The cases.
        #[arg(long, default_value = "examples/project/paraphrases.json")]
        cases: String,
        /// The `semantic:` settings of the run with the tier on, as YAML flow-map entries
        /// (`min_similarity: 0.5, model: /abs/folder`); empty means the defaults.
        #[arg(long, default_value = "")]
        semantic: String,
    },
    /// A question set over a project's own tree: first hit, top 3, confidence.
    Questions {
        /// The question set (its `project` names the tree, relative to the current folder).
        #[arg(long, default_value = "examples/questions/memtree.json")]
        cases: String,
    },
    /// Writes the re-scorer's labelled rows of data sets as JSON lines (`g` question, `y`
    /// label, `x` features), for analysis outside memtree (`scripts/rescorer_ceiling.py`);
    /// fits nothing.
    Rows {
        /// Data sets: `own`, `locomo-dev`, or `locomo-heldout` (evaluation only: `fit`
        /// refuses it).
        #[arg(long, value_delimiter = ',', default_value = "own")]
        sets: Vec<String>,
        /// With the dense tier's features for every question (needs `MEMTREE_DENSE_MODEL`).
        #[arg(long)]
        dense: bool,
        /// Where the rows go.
        #[arg(long)]
        file: PathBuf,
    },
    /// Fits the re-scorer on the rows of data sets and writes the model as JSON.
    Fit {
        /// Data sets: `own` (shippable) and/or `locomo-dev` (comparison only).
        #[arg(long, value_delimiter = ',', default_value = "own")]
        sets: Vec<String>,
        /// L2 penalty.
        #[arg(long, default_value_t = 0.01)]
        l2: f64,
        /// Features left out (their weight stays 0).
        #[arg(long, value_delimiter = ',')]
        drop: Vec<String>,
        /// Fit the model with the dense tier's features (needs `MEMTREE_DENSE_MODEL`; its
        /// shipped weights are src/retrieve/rescore-dense.json); without it they are left out.
        #[arg(long)]
        dense: bool,
        /// Where the model goes (the shipped one is src/retrieve/rescore.json).
        #[arg(long = "model", default_value = "src/retrieve/rescore.json")]
        model_out: PathBuf,
    },
    /// The curate evaluation set: harmful rows, precision, supersede recall.
    Curate {
        /// Folder whose project folders hold CLAUDE.md and cases.jsonl.
        #[arg(long, default_value = "examples/curate_eval")]
        data: String,
    },
    /// PrecisionMemBench context-bundle precision.
    Pmb {
        /// Folder holding beliefs.seed.json and the case files.
        #[arg(long, default_value = "../shared/data/precisionmembench")]
        data: String,
    },
}

fn main() {
    let args = Args::parse();
    // `--rescorer FILE` evaluates with other weights (a LoCoMo-fitted comparison model), `none`
    // without the re-scorer.
    use memtree::retrieve::rescore::{Variant, parse, set_model};
    let load = |w: &str| {
        (w != "none").then(|| {
            let text = std::fs::read_to_string(w).expect("read the re-scorer model");
            parse(&text).expect("a re-scorer model for this build")
        })
    };
    if let Some(w) = &args.rescorer {
        set_model(Variant::Static, load(w));
        if w == "none" {
            set_model(Variant::Dense, None);
        }
    }
    if let Some(w) = &args.rescorer_dense {
        set_model(Variant::Dense, load(w));
    }
    let (value, name) = match &args.bench {
        Bench::Locomo {
            split,
            data,
            config,
            llm,
        } => {
            let mode = match llm.as_str() {
                "always" => memtree::retrieve::llm::LlmMode::Always,
                "never" => memtree::retrieve::llm::LlmMode::Never,
                _ => memtree::retrieve::llm::LlmMode::Auto,
            };
            (
                locomo::run(data, split, config, mode),
                format!("locomo-{split}"),
            )
        }
        Bench::Paraphrase {
            project,
            cases,
            semantic,
        } => (
            paraphrase::run(project, cases, semantic),
            "paraphrase".to_string(),
        ),
        Bench::Questions { cases } => {
            let name = Path::new(cases)
                .file_stem()
                .map_or("questions".into(), |s| s.to_string_lossy().into_owned());
            (questions::run(cases), format!("questions-{name}"))
        }
        Bench::Fit {
            sets,
            l2,
            drop,
            dense,
            model_out,
        } => (
            rescorer::run_fit(sets, *l2, drop, *dense, model_out),
            "fit".to_string(),
        ),
        Bench::Rows { sets, dense, file } => {
            (rescorer::run_rows(sets, *dense, file), "rows".to_string())
        }
        Bench::Pmb { data } => (pmb::run(data), "precisionmembench".to_string()),
        Bench::Curate { data } => (curate::run(data), "curate".to_string()),
    };
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("target/eval/{name}.json")));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("create the output folder");
    }
    let text = serde_json::to_string_pretty(&value).expect("serialize figures");
    std::fs::write(&out, text + "\n").expect("write the JSON figures");
    eprintln!("figures written to {}", out.display());
}
