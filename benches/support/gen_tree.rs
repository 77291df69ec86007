//! A synthetic memory tree for benchmarks and timings, shared by `benches/` and
//! `examples/gen_tree.rs` (included with `#[path]`).
//!
//! N entries under `DIR/.memory` with a fixed seed: 20 domains × 10 topics (about 200 folders, as
//! DESIGN.md §7 assumes for 10k entries), titles and bodies drawn from a 4,000-word vocabulary
//! (Zipf-like) plus some code identifiers, aliases on a third of the entries, scopes on a tenth,
//! a `depends-on` relation on a fifth, and a `follows` relation (to the entry 200 before it, in
//! the same folder) on a seventh, so that neighbour expansion is exercised.

use memtree::entry::{Document, Meta, Relation, render_meta};

/// xorshift64* with a fixed seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        // xorshift64*: deterministic and good enough for synthetic text.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The `i`-th word of the synthetic vocabulary (three syllables).
pub fn word(i: usize) -> String {
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

/// Writes `n` entries under `dir/.memory` (deterministic). Returns their ids in order.
///
/// # Panics
/// When the files cannot be written.
pub fn generate(dir: &std::path::Path, n: usize) -> Vec<String> {
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
            } else if i % 7 == 0 && i >= 200 {
                vec![Relation {
                    kind: "follows".into(),
                    to: ids[i - 200].clone(),
                }]
            } else {
                Vec::new()
            },
            created: Some("2026-01-01T00:00:00Z".into()),
            updated: Some("2026-06-01T00:00:00Z".into()),
            ..Meta::default()
        };
        let doc = Document::new(
            Some(render_meta(&meta)),
            format!("\n{}\n", body.join(" ")),
            "\n",
        );
        let path = root.join(format!("{id}.md"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, doc.join()).unwrap();
        ids.push(id);
    }
    ids
}
