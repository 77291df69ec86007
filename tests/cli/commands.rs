//! Every command: init, add, get, ls, set, link/unlink, mv, rm, check, index, stats.

use crate::env::{TestEnv, sample};

#[test]
fn init_creates_the_scaffold_and_is_idempotent() {
    let env = TestEnv::bare();
    let out = env.ok(&["init"]);
    assert!(out.contains("initialised"), "{out}");
    for f in ["memtree.yaml", ".gitignore", "README.md"] {
        assert!(env.mem(f).is_file(), "{f} missing");
    }
    assert_eq!(env.read(".gitignore"), ".cache/\n");
    env.write("memtree.yaml", "schema_version: 1\nretrieval: {k: 3}\n");
    let v = env.json(&["init"]);
    assert_eq!(v["created"].as_array().unwrap().len(), 0);
    assert_eq!(
        env.read("memtree.yaml"),
        "schema_version: 1\nretrieval: {k: 3}\n"
    );
}

#[test]
fn commands_outside_a_tree_say_how_to_start() {
    let env = TestEnv::bare();
    let (_, err) = env.fails(&["ls"], 1);
    assert!(err.contains("no memory tree found"), "{err}");
    assert!(err.contains("memtree init"), "{err}");
}

#[test]
fn add_writes_front_matter_and_body_and_get_reads_it() {
    let env = TestEnv::new();
    env.ok(&[
        "add",
        "architecture/storage/search-index",
        "--title",
        "Search index: derived",
        "--kind",
        "decision",
        "--alias",
        "search index",
        "--alias",
        "fts, index",
        "--importance",
        "0.7",
        "--scope",
        "src/index/**",
        "--body",
        "Body line.",
    ]);
    let text = env.read("architecture/storage/search-index.md");
    assert!(
        text.starts_with("---\ntitle: \"Search index: derived\"\nkind: decision\n"),
        "{text}"
    );
    assert!(
        text.contains("aliases: [search index, \"fts, index\"]\n"),
        "{text}"
    );
    assert!(text.contains("importance: 0.7\n"), "{text}");
    assert!(text.contains("created: 2026-11-22T12:00:00Z\n"), "{text}");
    assert!(text.ends_with("---\n\nBody line.\n"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.mem("architecture/storage/search-index.md"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(
        mode & 0o044,
        0,
        "entry files are readable like any editor's files: {mode:o}"
    );
    let v = env.json(&["get", "search-index"]);
    assert_eq!(v["id"], "architecture/storage/search-index");
    assert_eq!(v["front_matter"]["aliases"][1], "fts, index");
    assert_eq!(v["front_matter"]["importance"], 0.7);
    assert_eq!(v["body"], "\nBody line.\n");
    assert_eq!(env.ok(&["get", "architecture/storage/search-index"]), text);
}

#[test]
fn add_reads_the_body_from_stdin_or_uses_the_kind_template() {
    let env = TestEnv::new();
    env.cmd()
        .args([
            "add",
            "a/b/from-stdin",
            "--title",
            "From stdin",
            "--body",
            "-",
        ])
        .write_stdin("piped body\n")
        .assert()
        .success();
    assert!(env.read("a/b/from-stdin.md").ends_with("\npiped body\n"));
    env.ok(&[
        "add",
        "a/b/templated",
        "--title",
        "Templated",
        "--kind",
        "pitfall",
    ]);
    assert!(env.read("a/b/templated.md").contains("## Symptom"));
    std::fs::write(env.root().join("body.md"), "from a file\n").unwrap();
    env.ok(&[
        "add",
        "a/b/from-file",
        "--title",
        "From file",
        "--body-file",
        "body.md",
    ]);
    assert!(env.read("a/b/from-file.md").ends_with("\nfrom a file\n"));
}

#[test]
fn add_refuses_bad_input_with_a_reason() {
    let env = sample();
    let (_, err) = env.fails(
        &[
            "add",
            "architecture/storage/search-index",
            "--title",
            "X",
            "--body",
            "x",
        ],
        1,
    );
    assert!(err.contains("already exists"), "{err}");
    let (_, err) = env.fails(&["add", "Bad/Id/x", "--title", "X", "--body", "x"], 1);
    assert!(err.contains("segment `Bad`"), "{err}");
    let (_, err) = env.fails(&["add", "a/b", "--title", "X", "--body", "x"], 1);
    assert!(err.contains("3 or 4 segments"), "{err}");
    let (_, err) = env.fails(&["add", "a/../../etc", "--title", "X", "--body", "x"], 1);
    assert!(err.contains("invalid id"), "{err}");
    let (_, err) = env.fails(
        &[
            "add", "a/b/c", "--title", "X", "--kind", "decison", "--body", "x",
        ],
        1,
    );
    assert!(err.contains("unknown kind `decison`"), "{err}");
    let (_, err) = env.fails(
        &[
            "add",
            "a/b/c",
            "--title",
            "X",
            "--importance",
            "1.5",
            "--body",
            "x",
        ],
        1,
    );
    assert!(err.contains("between 0.0 and 1.0"), "{err}");
    assert!(!env.mem("a/b/c.md").exists());
}

#[test]
fn add_names_near_duplicates() {
    let env = sample();
    let out = env
        .cmd()
        .args([
            "add",
            "notes/misc/fts",
            "--title",
            "FTS index",
            "--body",
            "dup",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("similar entry exists: architecture/storage/search-index"),
        "{err}"
    );
}

#[test]
fn get_unknown_id_suggests_the_closest() {
    let env = sample();
    let (_, err) = env.fails(&["get", "architecture/storage/serch-index"], 1);
    assert!(
        err.contains("no entry `architecture/storage/serch-index`"),
        "{err}"
    );
    assert!(
        err.contains("did you mean architecture/storage/search-index"),
        "{err}"
    );
}

#[test]
fn ls_prints_an_outline_and_json() {
    let env = sample();
    let out = env.ok(&["ls"]);
    assert!(
        out.contains("architecture/\n  storage/\n    search-index  Search index is derived"),
        "{out}"
    );
    let v = env.json(&["ls", "conventions"]);
    let ids: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["conventions/rust/error-handling"]);
}

#[test]
fn set_changes_only_the_lines_of_its_keys() {
    let env = TestEnv::new();
    let original = "---\n# a comment the developer wrote\ntitle: Hand written   # trailing comment\nkind: fact\nowner: {team: storage, since: 2024}\naliases:\n- one\n- two\n---\nBody *kept*  \r\nexactly.\n";
    env.write("a/b/hand.md", original);
    env.ok(&[
        "set",
        "a/b/hand",
        "importance=0.8",
        "maturity=core",
        "aliases+=three",
    ]);
    let text = env.read("a/b/hand.md");
    assert_eq!(
        text,
        "---\n# a comment the developer wrote\ntitle: Hand written   # trailing comment\nkind: fact\nowner: {team: storage, since: 2024}\naliases: [one, two, three]\nimportance: 0.8\nmaturity: core\nupdated: 2026-11-22T12:00:00Z\n---\nBody *kept*  \r\nexactly.\n"
    );
    env.ok(&["set", "a/b/hand", "aliases-=one", "importance="]);
    let text = env.read("a/b/hand.md");
    assert!(
        text.contains("aliases: [two, three]\n") && !text.contains("importance"),
        "{text}"
    );
}

#[test]
fn set_refuses_bad_values_and_unknown_keys() {
    let env = sample();
    let before = env.read("pitfalls/ci/flaky-timing-tests.md");
    let (_, err) = env.fails(&["set", "flaky-timing-tests", "importance=2"], 1);
    assert!(err.contains("importance"), "{err}");
    let (_, err) = env.fails(&["set", "flaky-timing-tests", "maturity=ripe"], 1);
    assert!(err.contains("unknown maturity `ripe`"), "{err}");
    let (_, err) = env.fails(&["set", "flaky-timing-tests", "improtance=0.3"], 1);
    assert!(err.contains("improtance"), "{err}");
    let (_, err) = env.fails(&["set", "flaky-timing-tests", "decay=soon"], 1);
    assert!(err.contains("half-life"), "{err}");
    assert_eq!(env.read("pitfalls/ci/flaky-timing-tests.md"), before);
}

#[test]
fn link_and_unlink_edit_relations() {
    let env = sample();
    env.ok(&[
        "link",
        "search-index",
        "segment-merges",
        "--type",
        "depends-on",
    ]);
    let text = env.read("architecture/storage/search-index.md");
    assert!(
        text.contains(
            "relations:\n  - {type: depends-on, to: architecture/storage/segment-merges}\n"
        ),
        "{text}"
    );
    let (_, err) = env.fails(&["link", "search-index", "nothing/here/at-all"], 1);
    assert!(err.contains("no entry"), "{err}");
    let (_, err) = env.fails(
        &["link", "search-index", "segment-merges", "--type", "likes"],
        1,
    );
    assert!(err.contains("unknown relation type"), "{err}");
    env.ok(&["unlink", "search-index", "segment-merges"]);
    assert!(
        !env.read("architecture/storage/search-index.md")
            .contains("relations")
    );
}

#[test]
fn mv_rewrites_every_link_to_the_moved_entry() {
    let env = sample();
    env.ok(&[
        "link",
        "search-index",
        "segment-merges",
        "--type",
        "depends-on",
    ]);
    env.write(
        "notes/misc/pointer.md",
        "---\ntitle: Pointer\nsupersedes: [architecture/storage/segment-merges]\n---\nSee [[architecture/storage/segment-merges]] and [this](../../architecture/storage/segment-merges.md#why), not `[[architecture/storage/segment-merges]]`.\n",
    );
    env.write(
        "architecture/storage/segment-merges.md",
        "---\ntitle: Segment merges\n---\nSee [the index](search-index.md).\n",
    );
    let v = env.json(&[
        "mv",
        "segment-merges",
        "internals/tantivy/merges/segment-merges",
    ]);
    let mut rewritten: Vec<&str> = v["rewritten"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    rewritten.sort();
    assert_eq!(
        rewritten,
        ["architecture/storage/search-index", "notes/misc/pointer"]
    );
    assert!(!env.mem("architecture/storage/segment-merges.md").exists());
    assert_eq!(
        env.read("notes/misc/pointer.md"),
        "---\ntitle: Pointer\nsupersedes: [internals/tantivy/merges/segment-merges]\n---\nSee [[internals/tantivy/merges/segment-merges]] and [this](../../internals/tantivy/merges/segment-merges.md#why), not `[[architecture/storage/segment-merges]]`.\n"
    );
    assert!(
        env.read("architecture/storage/search-index.md")
            .contains("to: internals/tantivy/merges/segment-merges}")
    );
    assert_eq!(
        env.read("internals/tantivy/merges/segment-merges.md"),
        "---\ntitle: Segment merges\n---\nSee [the index](../../../architecture/storage/search-index.md).\n"
    );
    env.ok(&["check"]);
}

#[test]
fn rm_deletes_and_warns_about_links_left_dangling() {
    let env = sample();
    env.ok(&["link", "search-index", "segment-merges"]);
    let out = env.cmd().args(["rm", "segment-merges"]).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("architecture/storage/search-index still links to")
    );
    assert!(!env.mem("architecture/storage/segment-merges.md").exists());
    assert!(
        env.hits(&["segment merges background threads"])
            .iter()
            .all(|h| !h.contains("segment-merges"))
    );
    let (out, _) = env.fails(&["check"], 1);
    assert!(out.contains("points to no entry"), "{out}");
}

#[test]
fn check_reports_every_problem_by_file_and_line() {
    let env = sample();
    env.write(
        "broken/yaml/entry.md",
        "---\ntitle: Broken\naliases: [unclosed\nkind: fact\n---\nbody\n",
    );
    env.write(
        "broken/values/entry.md",
        "---\ntitle: Values\nkind: decison\nimportance: 1.5\n---\nbody\n",
    );
    env.write("broken/notitle/entry.md", "---\nkind: fact\n---\nbody\n");
    env.write("Broken/Case/x.md", "---\ntitle: Case\n---\nbody\n");
    let (out, _) = env.fails(&["check"], 1);
    assert!(
        out.contains(".memory/broken/yaml/entry.md:4: error:"),
        "{out}"
    );
    assert!(
        out.contains(".memory/broken/values/entry.md:3: error: unknown kind `decison`"),
        "{out}"
    );
    assert!(
        out.contains(
            ".memory/broken/values/entry.md:4: error: importance must be between 0.0 and 1.0"
        ),
        "{out}"
    );
    assert!(
        out.contains(".memory/broken/notitle/entry.md:2: error: missing required key `title`"),
        "{out}"
    );
    assert!(
        out.contains(".memory/Broken/Case/x.md: error: invalid id"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&env.fails(&["check", "--json"], 1).0).unwrap();
    assert_eq!(v["errors"], 5);
    // The other entries keep working.
    assert_eq!(
        env.hits(&["fts index"])[0],
        "architecture/storage/search-index"
    );
}

#[test]
fn index_reports_and_rebuilds() {
    let env = sample();
    let v = env.json(&["index", "--full"]);
    assert_eq!(v["rebuilt"], true);
    assert_eq!(v["indexed"], 4);
    let v = env.json(&["index"]);
    assert_eq!(v["rebuilt"], false);
    assert_eq!(v["indexed"], 0);
    // A rebuild deletes nothing (its index is new), and leaves one document per file; an edit
    // after it replaces that file's document rather than adding a second.
    env.json(&["index", "--full"]);
    assert_eq!(env.json(&["stats"])["entries"], 4);
    let file = env.mem("architecture/storage/search-index.md");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text + "\nEdited after the rebuild.\n").unwrap();
    assert_eq!(env.json(&["index"])["rebuilt"], false);
    assert_eq!(env.json(&["stats"])["entries"], 4);
}

#[test]
fn stats_count_by_kind_and_domain() {
    let env = sample();
    let v = env.json(&["stats"]);
    assert_eq!(v["entries"], 4);
    assert_eq!(v["by_kind"]["decision"], 1);
    assert_eq!(v["by_domain"]["architecture"], 2);
    assert!(env.ok(&["stats"]).contains("4 entries in 4 files"));
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    env.fails(&["query"], 2);
    env.fails(&["frobnicate"], 2);
}
