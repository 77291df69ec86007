//! The derived index: hand edits, new, renamed and deleted files are seen without `index`;
//! a damaged or foreign index is rebuilt; queries never write tracked files.

use std::collections::BTreeMap;
use std::path::Path;

use crate::env::sample;

#[test]
fn hand_edits_are_picked_up_without_index() {
    let env = sample();
    assert!(env.hits(&["zeppelin"]).is_empty());
    // In-place edit of the body, same file size class.
    let text = env
        .read("architecture/storage/segment-merges.md")
        .replace("Tantivy merges", "Zeppelin merges");
    env.write("architecture/storage/segment-merges.md", &text);
    assert_eq!(
        env.hits(&["zeppelin"]),
        ["architecture/storage/segment-merges"]
    );
    // A new file written by an editor.
    env.write(
        "notes/misc/airships.md",
        "---\ntitle: Airships\n---\nA zeppelin is rigid.\n",
    );
    assert!(
        env.hits(&["zeppelin rigid"])
            .contains(&"notes/misc/airships".to_string())
    );
    // A rename (save by rename, git mv).
    std::fs::rename(
        env.mem("notes/misc/airships.md"),
        env.mem("notes/misc/dirigibles.md"),
    )
    .unwrap();
    let ids = env.hits(&["zeppelin rigid"]);
    assert!(
        ids.contains(&"notes/misc/dirigibles".to_string())
            && !ids.contains(&"notes/misc/airships".to_string()),
        "{ids:?}"
    );
    // A deletion.
    std::fs::remove_file(env.mem("notes/misc/dirigibles.md")).unwrap();
    assert!(
        !env.hits(&["zeppelin rigid"])
            .contains(&"notes/misc/dirigibles".to_string())
    );
}

#[test]
fn a_same_size_edit_within_the_same_second_is_seen() {
    let env = sample();
    env.ok(&["query", "anything"]);
    // Same length, written immediately after the index was refreshed.
    let text = env
        .read("conventions/rust/error-handling.md")
        .replace("renders", "rendarz");
    env.write("conventions/rust/error-handling.md", &text);
    assert_eq!(env.hits(&["rendarz"]), ["conventions/rust/error-handling"]);
}

#[test]
fn a_damaged_or_foreign_index_is_rebuilt_not_an_error() {
    let env = sample();
    env.ok(&["query", "fts index"]);
    let cache = env.mem(".cache");
    std::fs::write(cache.join("index/meta.json"), "{ not json").unwrap();
    assert_eq!(
        env.hits(&["fts index"])[0],
        "architecture/storage/search-index"
    );
    std::fs::write(cache.join("manifest"), "memtree-manifest 999\n").unwrap();
    assert_eq!(
        env.hits(&["fts index"])[0],
        "architecture/storage/search-index"
    );
    std::fs::remove_dir_all(&cache).unwrap();
    assert_eq!(
        env.hits(&["fts index"])[0],
        "architecture/storage/search-index"
    );
}

fn snapshot(root: &Path) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.file_name().unwrap() == ".cache" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let meta = std::fs::metadata(&p).unwrap();
                out.insert(
                    p.display().to_string(),
                    (std::fs::read(&p).unwrap(), meta.modified().unwrap()),
                );
            }
        }
    }
    out
}

#[test]
fn queries_never_write_tracked_files() {
    let env = sample();
    let before = snapshot(&env.mem(""));
    for args in [
        vec!["query", "fts index"],
        vec!["query", "search-index", "--json"],
        vec!["query", "threads", "--format", "context"],
        vec!["query", "x", "--path", "src/index/a.rs"],
        vec!["ls"],
        vec!["stats"],
        vec!["check"],
        vec!["get", "search-index"],
    ] {
        env.ok(&args);
    }
    assert_eq!(before, snapshot(&env.mem("")));
}

/// Tier of each hit of `query TEXT --json`, by id.
fn tiers(env: &crate::env::TestEnv, text: &str) -> BTreeMap<String, String> {
    let v = env.json(&["query", text]);
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["id"].as_str().unwrap().to_string(),
                h["tier"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn neighbour_text_is_indexed_along_follows_and_kept_fresh() {
    let env = crate::env::TestEnv::new();
    env.lexical_only();
    env.add(
        "talk/day-1/a",
        "First turn",
        &[],
        "We planned the garden beds.",
    );
    env.add(
        "talk/day-1/b",
        "Second turn",
        &[],
        "Tomatoes need full sun.",
    );
    env.add("talk/day-1/c", "Third turn", &[], "Sounds great to me.");
    env.add("talk/day-2/d", "Other day", &[], "Fine weather again.");
    env.ok(&["link", "talk/day-1/b", "talk/day-1/a", "--type", "follows"]);
    env.ok(&["link", "talk/day-1/c", "talk/day-1/b", "--type", "follows"]);
    // Across folders: no expansion.
    env.ok(&["link", "talk/day-2/d", "talk/day-1/b", "--type", "follows"]);

    // c follows b, so c is indexed with b's words (previous ×0.75) and found by BM25 itself,
    // not only as b's graph neighbour; a gets b's words as its next neighbour (×0.25).
    let t = tiers(&env, "tomatoes sun");
    assert_eq!(env.hits(&["tomatoes sun"])[0], "talk/day-1/b");
    assert_eq!(t.get("talk/day-1/c").map(String::as_str), Some("bm25"));
    assert_eq!(t.get("talk/day-1/a").map(String::as_str), Some("bm25"));
    assert_ne!(t.get("talk/day-2/d").map(String::as_str), Some("bm25"));

    // A hand edit of b re-indexes its neighbours too.
    let b = env.read("talk/day-1/b.md");
    env.write(
        "talk/day-1/b.md",
        &b.replace("Tomatoes need full sun.", "Peppers like warm soil."),
    );
    assert!(
        env.hits(&["tomatoes"]).is_empty(),
        "{:?}",
        env.hits(&["tomatoes"])
    );
    let t = tiers(&env, "peppers soil");
    assert_eq!(t.get("talk/day-1/c").map(String::as_str), Some("bm25"));

    // Deleting b takes its words out of c as well.
    std::fs::remove_file(env.mem("talk/day-1/b.md")).unwrap();
    assert!(
        env.hits(&["peppers"]).is_empty(),
        "{:?}",
        env.hits(&["peppers"])
    );
}

/// Sets the mtime of every file and folder under `.memory/` (but `.cache/`) to a minute ago,
/// out of the two-second racy window.
fn age_tree(root: &Path) {
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap().flatten() {
                if e.file_name() != ".cache" {
                    stack.push(e.path());
                }
            }
        }
        std::fs::File::open(&p).unwrap().set_modified(past).unwrap();
    }
}

#[test]
fn large_trees_stat_folders_every_time_and_files_on_full_scans() {
    let env = crate::env::TestEnv::new();
    // Treat even this tree as large, and never fall due for a full scan by time.
    env.write(
        "memtree.yaml",
        "schema_version: 1\nindex:\n  full_scan_up_to: 0\n  full_scan_every_secs: 3600\nsemantic:\n  enabled: false\n",
    );
    env.add(
        "notes/garden/beds",
        "Garden beds",
        &[],
        "Raised beds of cedar.",
    );
    env.add("notes/garden/soil", "Soil", &[], "Loam with compost.");
    age_tree(&env.mem(""));
    env.ok(&["index"]);
    assert!(env.mem(".cache/folders").is_file());

    // An in-place edit keeps its folder's mtime: only the next full scan sees it.
    let file = env.mem("notes/garden/soil.md");
    let text = env.read("notes/garden/soil.md").replace("Loam", "Clay");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&file)
        .unwrap();
    std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
    drop(f);
    age_tree(&env.mem("notes/garden/soil.md"));
    assert!(
        env.hits(&["clay"]).is_empty(),
        "folder scan only, as configured"
    );
    env.ok(&["index"]); // `index` always scans every file
    assert_eq!(env.hits(&["clay"]), ["notes/garden/soil"]);

    // A new file changes its folder's mtime: seen at once, without `index`.
    env.write(
        "notes/garden/paths.md",
        "---\ntitle: Paths\n---\nGravel between the beds.\n",
    );
    assert_eq!(env.hits(&["gravel"]), ["notes/garden/paths"]);
    // So does a deletion.
    age_tree(&env.mem(""));
    env.ok(&["index"]);
    let scanned = || {
        env.read(".cache/folders")
            .lines()
            .nth(1)
            .unwrap()
            .to_string()
    };
    let full_scan = scanned();
    std::fs::remove_file(env.mem("notes/garden/beds.md")).unwrap();
    assert!(env.hits(&["cedar"]).is_empty());
    // And a rename, and a new folder; listing the changed folders is not a full scan.
    std::fs::rename(
        env.mem("notes/garden/paths.md"),
        env.mem("notes/garden/walks.md"),
    )
    .unwrap();
    assert_eq!(env.hits(&["gravel"]), ["notes/garden/walks"]);
    env.write(
        "notes/orchard/apples.md",
        "---\ntitle: Apples\n---\nCox and Bramley.\n",
    );
    assert_eq!(env.hits(&["bramley"]), ["notes/orchard/apples"]);
    assert_eq!(
        scanned().split('\t').next(),
        full_scan.split('\t').next(),
        "the time of the last full scan is kept"
    );
}

#[test]
fn a_zero_interval_scans_every_file_on_every_command() {
    let env = crate::env::TestEnv::new();
    env.write(
        "memtree.yaml",
        "schema_version: 1\nindex:\n  full_scan_up_to: 0\n  full_scan_every_secs: 0\n",
    );
    env.add("notes/garden/soil", "Soil", &[], "Loam with compost.");
    age_tree(&env.mem(""));
    env.ok(&["index"]);
    let text = env.read("notes/garden/soil.md").replace("Loam", "Clay");
    std::fs::write(env.mem("notes/garden/soil.md"), text).unwrap();
    age_tree(&env.mem("notes/garden/soil.md"));
    assert_eq!(env.hits(&["clay"]), ["notes/garden/soil"]);
}
