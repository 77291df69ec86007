//! Issue 16 (onboarding), item 1: updating an entry's text with `edit`, from the CLI and over
//! MCP, with optimistic concurrency (`--base`).

use serde_json::json;

use crate::env::{TestEnv, field_pairs, memory_files};

const FRONT: &str = "---\ntitle: Deploys run migrations first\nkind: procedure\n# keep this comment\naliases: [deploy order]\ncreated: 2026-11-01T00:00:00Z\nupdated: 2026-11-01T00:00:00Z\n---\n";

fn entry(env: &TestEnv) -> std::path::PathBuf {
    env.write(
        "ops/deploy/order.md",
        &format!("{FRONT}\nRun migrations, then deploy.\n"),
    );
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "entry"]);
    env.mem("ops/deploy/order.md")
}

/// `edit --body` replaces the body and `--append` adds a paragraph: the front matter changes
/// only by its `updated` line, each edit is one commit, and a query finds the new text.
#[test]
fn edit_replaces_or_appends_the_body_as_one_commit() {
    let env = TestEnv::repo(true);
    let path = entry(&env);
    let v = env.json(&[
        "edit",
        "ops/deploy/order",
        "--body",
        "Run migrations with the lock timeout set.\nThen deploy.",
    ]);
    assert_eq!(v["schema"], "memtree.edit/v1");
    assert_eq!(v["changed"], json!(["updated", "body"]));
    let front = FRONT.replace(
        "updated: 2026-11-01T00:00:00Z",
        "updated: 2026-11-22T12:00:00Z",
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{front}\nRun migrations with the lock timeout set.\nThen deploy.\n")
    );
    assert_eq!(
        env.git(&["log", "-1", "--format=%s"]),
        "memtree: edit ops/deploy/order\n"
    );
    env.ok(&["edit", "ops/deploy/order", "--append", "Never on Fridays."]);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!(
            "{front}\nRun migrations with the lock timeout set.\nThen deploy.\n\nNever on Fridays.\n"
        )
    );
    assert_eq!(env.hits(&["lock timeout"])[0], "ops/deploy/order");
    assert_eq!(env.git(&["status", "--porcelain"]), "");
    // Replacing the body with the text it has changes nothing and commits nothing.
    let head = env.git(&["rev-parse", "HEAD"]);
    let text = std::fs::read_to_string(&path).unwrap();
    let v = env.json(&[
        "edit",
        "ops/deploy/order",
        "--body",
        text.split_once("---\n\n").unwrap().1,
    ]);
    assert_eq!(v["changed"], json!([]), "{v}");
    assert_eq!(env.git(&["rev-parse", "HEAD"]), head);
}

/// `--base` with the `hash` of `get --json` makes the write fail with `conflict` when the file
/// changed since it was read; the file is left as the other writer made it.
#[test]
fn a_stale_base_is_a_conflict() {
    let env = TestEnv::repo(true);
    let path = entry(&env);
    let read = env.json(&["get", "ops/deploy/order"]);
    let hash = read["hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 16);
    // Someone else edits it meanwhile.
    let theirs = std::fs::read_to_string(&path)
        .unwrap()
        .replace("then deploy", "then deploy twice");
    std::fs::write(&path, &theirs).unwrap();
    let (out, err) = env.fails(
        &[
            "edit",
            "ops/deploy/order",
            "--body",
            "Mine.",
            "--base",
            &hash,
            "--json",
        ],
        1,
    );
    assert!(out.contains("\"kind\":\"conflict\""), "{out}");
    assert!(err.contains("it is no longer the version read"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), theirs);
    // Read again, write with the new hash.
    let hash = env.json(&["get", "ops/deploy/order"])["hash"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&[
        "edit",
        "ops/deploy/order",
        "--body",
        "Mine.",
        "--base",
        &hash,
    ]);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .ends_with("\nMine.\n")
    );
}

/// A secret in the new text is refused as `add` refuses it; an empty text is an error.
#[test]
fn edit_refuses_secrets_and_empty_text() {
    let env = TestEnv::repo(true);
    let path = entry(&env);
    let before = std::fs::read_to_string(&path).unwrap();
    let token = format!("ghp_{}", "R3n9xQ2mK8vL5tY1wZ7cB4nH6jD0fA2sE9uP");
    let (out, _) = env.fails(
        &[
            "edit",
            "ops/deploy/order",
            "--append",
            &format!("token = {token}"),
            "--json",
        ],
        1,
    );
    assert!(out.contains("\"kind\":\"secret\""), "{out}");
    let (out, _) = env.fails(&["edit", "ops/deploy/order", "--body", "  ", "--json"], 1);
    assert!(out.contains("\"kind\":\"invalid_value\""), "{out}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}

/// MCP `memory_write` on an existing id updates fields and the body in one commit, and honours
/// `base`.
#[test]
fn memory_write_updates_the_body_over_mcp() {
    use rmcp::model::CallToolRequestParams;
    let env = TestEnv::repo(true);
    let path = entry(&env);
    let rt = crate::env::runtime();
    rt.block_on(async {
        let client = crate::env::mcp_client(&env).await;
        let call = |args: serde_json::Value| {
            CallToolRequestParams::new("memory_write").with_arguments(args.as_object().unwrap().clone())
        };
        let r = client
            .call_tool(call(json!({"id": "ops/deploy/order", "importance": 0.9, "body": "Migrations first, always."})))
            .await
            .unwrap();
        let v = r.structured_content.unwrap();
        assert_eq!(v["changed"], json!(["importance", "updated", "body"]), "{v}");
        let r = client
            .call_tool(call(json!({"id": "ops/deploy/order", "body": "Stale.", "base": "0000000000000000"})))
            .await
            .unwrap();
        assert_eq!(r.is_error, Some(true));
        assert_eq!(r.structured_content.unwrap()["kind"], "conflict");
        client.cancel().await.unwrap();
    });
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("importance: 0.9\n") && text.ends_with("\nMigrations first, always.\n"),
        "{text}"
    );
    assert_eq!(
        env.git(&["log", "-1", "--format=%s"]),
        "memtree: edit ops/deploy/order\n"
    );
}

/// Issue 16, item 7: README's quick tour runs as written, command by command, in a fresh git
/// repository with the memtree under test on PATH (its `link` line used to fail: it linked to
/// an entry the tour never created).
/// The first ```sh block of `doc` after the line `after` (the document's first when empty).
fn sh_block<'a>(doc: &'a str, after: &str) -> &'a str {
    let rest = doc.split_once(after).map_or(doc, |(_, rest)| rest);
    let body = rest.split_once("```sh\n").expect("a ```sh block").1;
    body.split_once("```").expect("a closed block").0
}

/// Runs `script` with `sh -e` in `dir`, hermetic (HOME, git identity, the clock), with the
/// memtree under test first on PATH, as a reader would run documentation.
fn shell(script: &str, dir: &std::path::Path, home: &std::path::Path) -> std::process::Output {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_memtree"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
    std::process::Command::new("sh")
        .args(["-ec", script])
        .current_dir(dir)
        .env_clear()
        .env("HOME", home)
        .env("PATH", &path)
        .env("MEMTREE_NOW", crate::env::NOW)
        .envs(crate::env::GIT_ENV.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn the_readme_quick_tour_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = sh_block(&readme, "## Quick tour");
    // Join continuation lines, then drop comments (none of the tour's `#` sit inside quotes).
    let joined = block.replace("\\\n", " ");
    let commands: Vec<String> = joined
        .lines()
        .map(|l| l.split_once("  #").map_or(l, |(c, _)| c).trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert!(commands.len() >= 10, "{commands:?}");
    let env = TestEnv::bare();
    env.git(&["init", "-q", "-b", "main"]);
    for c in &commands {
        assert!(c.starts_with("memtree "), "{c}");
        let out = shell(c, env.root(), env.root());
        assert!(
            out.status.success(),
            "`{c}` failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let moved = env.read("architecture/index/derived.md");
    assert!(
        moved.contains("to: architecture/storage/segment-merges"),
        "{moved}"
    );
    assert!(moved.contains("A rebuild takes about a second"), "{moved}");
    assert_eq!(env.git(&["status", "--porcelain"]), "");
}

/// Issue 16, item 5: `memtree completions SHELL` prints a script for each shell that names every
/// command; the bash one parses.
#[test]
fn completions_name_every_command() {
    let env = TestEnv::bare();
    for (shell, start) in [
        ("bash", "_memtree() {"),
        ("zsh", "#compdef memtree"),
        ("fish", "# Print an optspec"),
    ] {
        let script = env.ok(&["completions", shell]);
        assert!(script.starts_with(start), "{shell}: {}", &script[..80]);
        for command in ["supersede", "recover", "trust", "edit", "merge-driver"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
        if shell == "bash" {
            let file = env.root().join("memtree.bash");
            std::fs::write(&file, &script).unwrap();
            let ok = std::process::Command::new("bash")
                .arg("-n")
                .arg(&file)
                .status()
                .unwrap();
            assert!(ok.success());
        }
    }
}

/// Issue 16, item 5: `graph` draws a subtree's relations, body links, supersessions and
/// dangling targets, as Mermaid (default) and Graphviz; a title cannot break out of its label.
#[test]
fn graph_draws_relations_links_and_supersession() {
    let env = TestEnv::new();
    env.add("db/engine/sqlite", "We use SQLite", &[], "Local state.");
    env.add(
        "db/engine/postgres",
        "We use \"Postgres\"",
        &[],
        "See [[ops/deploy/gone]].",
    );
    env.ok(&[
        "link",
        "db/engine/postgres",
        "db/engine/sqlite",
        "--type",
        "refines",
    ]);
    env.ok(&["supersede", "db/engine/sqlite", "db/engine/postgres"]);
    env.add("notes/misc/other", "Elsewhere", &[], "Not drawn.");
    assert_eq!(
        env.ok(&["graph", "db"]),
        "flowchart LR\n  \
         n0[\"We use 'Postgres'<br/>db/engine/postgres\"]\n  \
         n1[\"We use SQLite<br/>db/engine/sqlite\"]:::superseded\n  \
         n2[\"ops/deploy/gone (missing)\"]:::missing\n  \
         n0 -->|refines| n1\n  \
         n0 -->|see-also| n2\n  \
         n1 -.->|superseded-by| n0\n  \
         classDef superseded stroke-dasharray: 5 5,color:#888\n  \
         classDef archived color:#888\n  \
         classDef missing stroke:#c00,color:#c00\n"
    );
    let v = env.json(&["graph", "db", "--format", "dot"]);
    assert_eq!(v["schema"], "memtree.graph/v1");
    assert_eq!(v["edges"].as_array().unwrap().len(), 3);
    let text = v["text"].as_str().unwrap();
    assert!(text.starts_with("digraph memtree {\n"), "{text}");
    assert!(
        text.contains("\"db/engine/sqlite\" -> \"db/engine/postgres\" [label=\"superseded-by\", style=dashed];"),
        "{text}"
    );
    assert!(!text.contains("notes/misc/other"));
}

/// A fresh repository holding a copy of `tests/fixtures/import/NAME`, with memtree's
/// scaffold committed.
fn project_from(name: &str) -> TestEnv {
    let env = TestEnv::repo(true);
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name);
    let ok = std::process::Command::new("cp")
        .args(["-a", "--"])
        .arg(format!("{}/.", from.display()))
        .arg(env.root())
        .status()
        .unwrap();
    assert!(ok.success());
    env
}

/// Issue 16, item 2: one fixture per format (AGENTS.md, CLAUDE.md with nested @imports,
/// .cursorrules, Copilot instructions and an instructions file, Cursor rules with globs as a
/// list and as a string, a memory bank, a ByteRover context tree with and without front
/// matter) and a malformed rule, reported and skipped. One commit; a second import leaves the
/// tree byte-identical; a changed section updates its entry only.
#[test]
fn import_reads_every_format_and_is_idempotent() {
    let env = project_from("project");
    let dry = env.json(&["import", "--dry-run"]);
    assert!(!env.mem("conventions").exists(), "a dry run wrote");
    let v = env.json(&["import"]);
    assert_eq!(v["plan"], dry["plan"]);
    let ids = field_pairs(&v["plan"], "action", "id");
    assert_eq!(
        ids,
        [
            ("add", "conventions/agents/orders-service"),
            ("add", "conventions/agents/build-and-test"),
            ("add", "conventions/agents/database/migrations"),
            ("add", "conventions/agents/database/pitfalls-to-avoid"),
            ("add", "conventions/claude/code-style"),
            ("add", "conventions/claude/logging"),
            ("add", "conventions/claude/reviews"),
            ("add", "conventions/cursor/general"),
            ("add", "conventions/copilot/naming"),
            ("add", "conventions/cursor/frontend"),
            ("add", "conventions/cursor/rust"),
            ("add", "conventions/copilot/tests"),
            ("add", "project/brief/project-brief"),
            ("add", "architecture/patterns/event-sourcing"),
            ("add", "architecture/storage/postgres"),
            ("add", "ops/general/deploy"),
        ]
    );
    assert_eq!(v["skipped"][0]["file"], ".cursor/rules/broken.mdc");
    assert!(
        v["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("its front matter does not parse"),
        "{v}"
    );
    assert_eq!(
        env.git(&["log", "-1", "--format=%s"]).trim(),
        "memtree: import 16 entries from AGENTS.md, CLAUDE.md, .cursorrules, \
         .github/copilot-instructions.md, .cursor/rules/broken.mdc, .cursor/rules/frontend.mdc, \
         .cursor/rules/rust.mdc, .github/instructions/tests.instructions.md, \
         memory-bank/projectbrief.md, memory-bank/systemPatterns.md, \
         .brv/context-tree/architecture/storage/postgres.md, .brv/context-tree/ops/deploy.md"
    );
    assert_eq!(
        env.read("conventions/cursor/rust.md"),
        "---\ntitle: Rust conventions for the orders service.\nkind: convention\naliases: [rust]\n\
         tags: [cursor]\nscope: [\"crates/**/*.rs\", \"src/**/*.rs\"]\nimportance: 0.8\nsource:\n  \
         by: import\n  file: .cursor/rules/rust.mdc\ncreated: 2026-11-22T12:00:00Z\nupdated: \
         2026-11-22T12:00:00Z\n---\n\nUse `anyhow` in binaries and `thiserror` in libraries.\n"
    );
    assert!(
        env.read("conventions/cursor/frontend.md")
            .contains("scope: [\"web/**/*.tsx\", \"web/**/*.ts\"]\n")
    );
    assert!(
        env.read("conventions/copilot/tests.md")
            .contains("scope: [\"tests/**/*.rs\", \"benches/**/*.rs\"]\n")
    );
    let pg = env.read("architecture/storage/postgres.md");
    for line in [
        "title: Orders live in PostgreSQL\n",
        "aliases: [postgres, primary database]\n",
        "tags: [storage, database]\n",
        "importance: 0.8\n",
        "maturity: validated\n",
        "  - {type: see-also, to: ops/general/deploy}\n",
    ] {
        assert!(pg.contains(line), "{line}: {pg}");
    }
    // CLAUDE.md's nested @imports were followed.
    assert!(
        env.read("conventions/claude/logging.md")
            .contains("never println! in library code")
    );
    assert_eq!(
        env.read("conventions/agents/database/pitfalls-to-avoid.md")
            .lines()
            .nth(2),
        Some("kind: pitfall")
    );
    env.ok(&["check"]);
    assert_eq!(
        env.hits(&["backfill in batches"])[0],
        "conventions/agents/database/migrations"
    );
    // Idempotent: byte-identical, no commit.
    let (before, head) = (memory_files(&env), env.git(&["rev-parse", "HEAD"]));
    let again = env.json(&["import"]);
    assert!(
        again["plan"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["action"] == "noop"),
        "{again}"
    );
    assert_eq!(memory_files(&env), before);
    assert_eq!(env.git(&["rev-parse", "HEAD"]), head);
    // A changed section updates its entry, and only it.
    let agents = std::fs::read_to_string(env.root().join("AGENTS.md")).unwrap();
    std::fs::write(
        env.root().join("AGENTS.md"),
        agents.replace("in batches", "in batches of 10k"),
    )
    .unwrap();
    let v = env.json(&["import", "AGENTS.md"]);
    let actions: Vec<&str> = v["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["noop", "noop", "update", "noop"]);
    assert!(
        env.read("conventions/agents/database/migrations.md")
            .contains("backfill in batches of 10k")
    );
    assert_eq!(env.git(&["status", "--porcelain", ".memory"]), "");
}

/// A hand-written entry with an imported entry's id is never overwritten.
#[test]
fn import_leaves_entries_it_did_not_write() {
    let env = project_from("project");
    env.add(
        "conventions/agents/build-and-test",
        "Our own build notes",
        &[],
        "Written by hand.",
    );
    let before = env.read("conventions/agents/build-and-test.md");
    let v = env.json(&["import", "AGENTS.md"]);
    let row = &v["plan"][1];
    assert_eq!(row["action"], "skip", "{v}");
    assert_eq!(
        row["reason"],
        "the entry exists and was not imported: memtree leaves it"
    );
    assert_eq!(env.read("conventions/agents/build-and-test.md"), before);
}

/// The plan a real public AGENTS.md produces (openai/codex, Apache-2.0; see the fixture's
/// NOTICE): one entry per section, nested sections under their parent.
#[test]
fn import_of_a_real_agents_md() {
    let env = project_from("codex");
    let v = env.json(&["import", "AGENTS.md"]);
    let ids: Vec<&str> = v["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 14, "{ids:?}");
    assert_eq!(ids[0], "conventions/agents/rust-codex-rs");
    assert!(ids.contains(&"conventions/agents/tests/snapshot-tests"));
    assert!(ids.contains(&"conventions/agents/tui-code-conventions/text-wrapping"));
    env.ok(&["check"]);
    assert_eq!(
        env.hits(&["insta snapshot"])[0],
        "conventions/agents/tests/snapshot-tests"
    );
}

#[test]
fn long_work_shows_progress_on_a_terminal_and_nothing_otherwise() {
    let env = TestEnv::new();
    for i in 0..600 {
        env.write(
            &format!("bulk/part-{}/entry-{i}.md", i % 6),
            &format!("---\ntitle: Entry {i}\n---\n\nBody {i}.\n"),
        );
    }
    // stderr is a pipe: nothing but the result on stdout.
    let out = env.cmd().args(["index", "--full"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    // Under a terminal (util-linux `script` gives the command one), indicatif draws a bar.
    let log = env.root().join("tty.log");
    let command = format!(
        "{} --root {} index --full",
        env!("CARGO_BIN_EXE_memtree"),
        env.root().display()
    );
    let status = std::process::Command::new("script")
        .args(["-qec", &command])
        .arg(&log)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", env.root())
        .env("SHELL", "/bin/sh")
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let drawn = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    assert!(drawn.contains("indexing ["), "{drawn}");
    assert!(drawn.contains("/600 ("), "{drawn}");
    assert!(!drawn.contains("\u{1b}[3"), "no colour: {drawn}");
}

/// Issue 16, item 7: examples/day/README.md's script runs as written, in a copy of
/// examples/day/repo, and leaves the tree and the history it says.
#[test]
fn the_day_walkthrough_runs_as_written() {
    let day = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/day");
    let readme = std::fs::read_to_string(day.join("README.md")).unwrap();
    let script = sh_block(&readme, "");
    let env = TestEnv::bare();
    let status = std::process::Command::new("cp")
        .args(["-a", "--"])
        .arg(day.join("repo"))
        .arg(day.join("session.jsonl"))
        .arg(env.root())
        .status()
        .unwrap();
    assert!(status.success());
    let repo = env.root().join("repo");
    let out = shell(script, &repo, env.root());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(args)
            .current_dir(&repo)
            .env_clear()
            .envs(crate::env::GIT_ENV.iter().copied())
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap()
    };
    // The day in git, and nothing left uncommitted.
    assert_eq!(
        git(&["log", "--format=%s"]),
        "memtree: curate day-1: 2 added, 0 updated, 1 superseded\n\
         memtree: add pitfalls/db/discount-backfill\n\
         Connect Claude Code to memtree\n\
         memtree: import 6 entries from AGENTS.md, CLAUDE.md\n\
         memtree: init\n\
         Shop service\n"
    );
    assert_eq!(git(&["status", "--porcelain"]), "");
    // The session start got the bundle once, then only "unchanged".
    assert!(
        stdout.contains("# Project memory: session start\n"),
        "{stdout}"
    );
    assert!(stdout.contains("_Project memory: unchanged since it was loaded in this session._\n"));
    // MCP answered the query with the imported database section, and wrote the pitfall.
    assert!(
        stdout.contains(r#"{\"id\":\"conventions/agents/database\""#),
        "{stdout}"
    );
    // The hook planned, the person reviewed and applied.
    assert!(
        stderr.contains(
            "memtree: planned 2 to add, 0 to update, 1 to supersede, 1 already known, 0 skipped"
        ),
        "{stderr}"
    );
    let mem = |rel: &str| std::fs::read_to_string(repo.join(".memory").join(rel)).unwrap();
    let old = mem("conventions/agents/build-and-test.md");
    assert!(old.contains("\nstatus: superseded\nsuperseded_by: conventions/agents/we-no-longer-start-the-test-database-with-docker\n"), "{old}");
    let new = mem("conventions/agents/we-no-longer-start-the-test-database-with-docker.md");
    assert!(new.contains("\nmaturity: draft\nsupersedes: [conventions/agents/build-and-test]\nsource:\n  by: agent\n  session: day-1\n"), "{new}");
    // Exactly: the imported section with only its status lines added, and the new draft.
    let stamp = crate::env::NOW;
    assert_eq!(
        old,
        format!(
            "---\ntitle: Build and test\nkind: procedure\ntags: [agents]\nstatus: superseded\n\
             superseded_by: conventions/agents/we-no-longer-start-the-test-database-with-docker\n\
             source:\n  by: import\n  file: AGENTS.md\n  heading: Build and test\ncreated: \
             {stamp}\nupdated: {stamp}\n---\n\nRun `cargo test` before every push. The \
             integration tests need PostgreSQL 16; start it with\n`docker compose up -d db`.\n"
        )
    );
    assert_eq!(
        new,
        format!(
            "---\ntitle: We no longer start the test database with docker compose\nkind: \
             procedure\nmaturity: draft\nsupersedes: [conventions/agents/build-and-test]\n\
             source:\n  by: agent\n  session: day-1\ncreated: {stamp}\nupdated: {stamp}\n\
             ---\n\nWe no longer start the test database with docker compose; we switched to \
             testcontainers, so cargo test starts PostgreSQL by itself.\n"
        )
    );
    assert!(
        repo.join(".memory/conventions/general/discount-cents-is-never-negative.md")
            .is_file()
    );
    assert!(
        repo.join(".memory/decisions/general/discounts-are-stored-in-cents-as-bigint-like.md")
            .is_file()
    );
    // The graph shows the supersession; the private text is nowhere.
    assert!(stdout.contains("-.->|superseded-by|"), "{stdout}");
    assert!(!git(&["log", "-p"]).contains("pg-staging"));
    for f in crate::env::walk(&repo.join(".memory")) {
        if f.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
            assert!(!text.contains("pg-staging"), "{}", f.display());
        }
    }
}

/// README's "In your project" block runs as written in a repository that has an AGENTS.md,
/// and leaves a connected, committed project.
#[test]
fn the_readme_in_your_project_block_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = sh_block(&readme, "## In your project");
    let env = TestEnv::bare();
    env.git(&["init", "-q", "-b", "main"]);
    std::fs::write(
        env.root().join("AGENTS.md"),
        "# Service\n\n## Tests\n\nRun cargo test before a push.\n",
    )
    .unwrap();
    let out = shell(block, env.root(), env.root());
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.git(&["log", "--format=%s"]),
        "Connect Claude Code to memtree\nmemtree: import 1 entry from AGENTS.md\nmemtree: init\n"
    );
    assert_eq!(env.git(&["status", "--porcelain"]), "?? AGENTS.md\n");
}
