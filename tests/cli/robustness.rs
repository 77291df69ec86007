//! Bad input loses nothing: malformed files, non-UTF-8, bad config, concurrent writers.

use crate::env::{TestEnv, sample};

#[test]
fn a_malformed_file_never_breaks_a_query() {
    let env = sample();
    env.write(
        "broken/yaml/entry.md",
        "---\ntitle: [unclosed\n---\nfts index mention\n",
    );
    env.write(
        "broken/open/entry.md",
        "---\ntitle: never closed\nfts index\n",
    );
    let v = env.json(&["query", "fts index"]);
    assert_eq!(v["hits"][0]["id"], "architecture/storage/search-index");
    // Every `index` names both, whether it re-read them or not.
    for args in [&["index"][..], &["index", "--full"]] {
        let out = env.cmd().args(args).output().unwrap();
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(".memory/broken/yaml/entry.md:3"), "{err}");
        assert!(err.contains("never closed"), "{err}");
    }
}

#[test]
fn non_utf8_files_are_reported_and_skipped() {
    let env = sample();
    let p = env.mem("binary/blob/data.md");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, b"---\ntitle: \xff\xfe\n---\n").unwrap();
    assert_eq!(
        env.hits(&["fts index"])[0],
        "architecture/storage/search-index"
    );
    let (out, _) = env.fails(&["check"], 1);
    assert!(
        out.contains(
            ".memory/binary/blob/data.md: error: .memory/binary/blob/data.md is not valid UTF-8"
        ),
        "{out}"
    );
}

#[test]
fn a_bad_config_names_the_key() {
    let env = TestEnv::new();
    env.write(
        "memtree.yaml",
        "schema_version: 1\nretrieval: {k: 3, hops: 2}\n",
    );
    let (_, err) = env.fails(&["query", "x"], 1);
    assert!(
        err.contains("memtree.yaml") && err.contains("hops"),
        "{err}"
    );
}

#[test]
fn writes_outside_the_root_are_refused() {
    let env = TestEnv::new();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), env.mem("escape")).unwrap();
    let (_, err) = env.fails(&["add", "escape/x/y", "--title", "T", "--body", "b"], 1);
    assert!(err.contains("outside the memory tree"), "{err}");
    assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
}

#[test]
fn concurrent_writers_both_land() {
    let env = TestEnv::new();
    let children: Vec<_> = (0..4)
        .map(|i| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_memtree"));
            cmd.current_dir(env.root())
                .env("MEMTREE_NOW", crate::env::NOW)
                .args([
                    "add",
                    &format!("load/writers/entry-{i}"),
                    "--title",
                    &format!("Writer {i}"),
                    "--body",
                    "parallel",
                ])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v = env.json(&["ls", "load"]);
    assert_eq!(v["entries"].as_array().unwrap().len(), 4);
    let v = env.json(&["query", "parallel", "-k", "10"]);
    assert_eq!(v["hits"].as_array().unwrap().len(), 4);
}
