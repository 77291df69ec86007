//! # A synthetic memory tree for timings
//!
//! Writes N entries under `DIR/.memory` with a fixed seed: 20 domains × 10 topics (about 200
//! folders, as DESIGN.md §7 assumes for 10k entries), titles and bodies drawn from a 4,000-word
//! vocabulary plus some code identifiers, aliases on a third of the entries, scopes on a tenth, and
//! a `depends-on` relation on a fifth. Used by the whole-process timings in the closing notes
//! (hyperfine) and by the benchmarks to come.
//!
//! Run: `cargo run --release --example gen_tree -- /tmp/t10k 10000`

use memtree::entry::{Document, Meta, Relation, render_meta};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic and good enough for synthetic text.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn word(i: usize) -> String {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "ta", "po", "se", "vi", "da", "ge", "ho", "ju", "be", "fa",
        "zo",
    ];
    let mut w = String::new();
    let mut x = i + 17;
    for _ in 0..3 {
        w.push_str(SYL[x % 16]);
        x /= 16;
    }
    w
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: gen_tree DIR N"));
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let root = dir.join(".memory");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("memtree.yaml"), "schema_version: 1\n").unwrap();
    std::fs::write(root.join(".gitignore"), ".cache/\n").unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let vocab: Vec<String> = (0..4000).map(word).collect();
    let code = [
        "IndexWriter",
        "wait_merging_threads",
        "tantivy::Index",
        "serde_yaml",
        "WriteLock",
    ];
    let kinds = [
        "fact",
        "decision",
        "convention",
        "pitfall",
        "procedure",
        "reference",
    ];
    let mut ids: Vec<String> = Vec::with_capacity(n);
    for i in 0..n {
        let domain = format!("domain-{:02}", i % 20);
        let topic = format!("topic-{:02}", (i / 20) % 10);
        let id = format!("{domain}/{topic}/entry-{i:06}");
        // Zipf-like word choice: low indices are common.
        let pick = |rng: &mut Rng| {
            let r = rng.below(4000);
            vocab[(r * r) / 4000].clone()
        };
        let title: Vec<String> = (0..4).map(|_| pick(&mut rng)).collect();
        let mut body: Vec<String> = (0..80).map(|_| pick(&mut rng)).collect();
        if rng.below(5) == 0 {
            body.push(code[rng.below(code.len())].to_string());
        }
        let meta = Meta {
            title: Some(title.join(" ")),
            kind: Some(kinds[rng.below(kinds.len())].to_string()),
            aliases: if i % 3 == 0 {
                vec![format!("{} {}", pick(&mut rng), pick(&mut rng))]
            } else {
                Vec::new()
            },
            scope: if i % 10 == 0 {
                vec![format!("src/{}/**", word(i % 50))]
            } else {
                Vec::new()
            },
            importance: Some((rng.below(100) as f64) / 100.0),
            relations: if i % 5 == 0 && !ids.is_empty() {
                vec![Relation {
                    kind: "depends-on".into(),
                    to: ids[rng.below(ids.len())].clone(),
                }]
            } else {
                Vec::new()
            },
            created: Some("2026-01-01T00:00:00Z".into()),
            updated: Some("2026-06-01T00:00:00Z".into()),
            ..Meta::default()
        };
        let doc = Document {
            front: Some(render_meta(&meta)),
            body: format!("\n{}\n", body.join(" ")),
            newline: "\n",
        };
        let path = root.join(format!("{id}.md"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, doc.join()).unwrap();
        ids.push(id);
    }
    eprintln!("wrote {n} entries under {}", root.display());
}
