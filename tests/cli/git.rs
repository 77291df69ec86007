//! Git (issue 8): commits of changesets, supersession, history, diff, get --at, restore, in
//! real temporary repositories (hermetic: GIT_CONFIG_GLOBAL and GIT_CONFIG_SYSTEM are
//! /dev/null, the author is set by environment).

use crate::env::TestEnv;

fn head_files(env: &TestEnv) -> Vec<String> {
    let out = env.git(&["show", "--name-status", "--no-renames", "--format=", "HEAD"]);
    out.lines().map(str::to_string).collect()
}

/// A write commits exactly its files, and the user's staged and unstaged work survives.
#[test]
fn a_write_commits_only_its_files_and_keeps_the_users_work() {
    let env = TestEnv::repo(true);
    std::fs::write(env.root().join("app.rs"), "fn main() {}\n").unwrap();
    env.git(&["add", "app.rs"]);
    env.git(&["commit", "-q", "-m", "code"]);
    // Unstaged change to a tracked file, a staged new file, an untracked file.
    std::fs::write(env.root().join("app.rs"), "fn main() { todo!() }\n").unwrap();
    std::fs::write(env.root().join("staged.rs"), "// staged\n").unwrap();
    env.git(&["add", "staged.rs"]);
    std::fs::write(env.root().join("untracked.txt"), "x\n").unwrap();
    let v = env.json(&[
        "add",
        "db/engine/choice",
        "--title",
        "We use SQLite",
        "--body",
        "Local state.",
    ]);
    let id = v["commit"]["id"].as_str().unwrap();
    assert_eq!(env.git(&["rev-parse", "HEAD"]).trim(), id);
    assert_eq!(
        env.git(&["log", "-1", "--format=%s%n%an <%ae>"]).trim(),
        "memtree: add db/engine/choice\nAnn Author <ann@example.com>"
    );
    assert_eq!(head_files(&env), ["A\t.memory/db/engine/choice.md"]);
    let status = env.git(&["status", "--porcelain"]);
    assert_eq!(
        status, " M app.rs\nA  staged.rs\n?? untracked.txt\n",
        "{status}"
    );
    // The staged file is still only staged: in the index, not in HEAD.
    assert!(
        env.git(&["ls-tree", "-r", "--name-only", "HEAD"])
            .lines()
            .all(|l| l != "staged.rs")
    );
}

/// `mv` is one commit: the new file, every rewritten referrer, and the old file's deletion.
#[test]
fn a_move_is_one_commit_of_its_whole_changeset() {
    let env = TestEnv::repo(true);
    env.add("db/engine/choice", "We use SQLite", &[], "Local state.");
    env.add("notes/misc/ref", "Ref", &[], "See [[db/engine/choice]].");
    env.ok(&["mv", "db/engine/choice", "db/storage/engine"]);
    let mut files = head_files(&env);
    files.sort();
    assert_eq!(
        files,
        [
            "A\t.memory/db/storage/engine.md",
            "D\t.memory/db/engine/choice.md",
            "M\t.memory/notes/misc/ref.md"
        ]
    );
    assert_eq!(env.git(&["status", "--porcelain"]), "");
}

#[test]
fn no_commit_and_auto_commit_off_commit_nothing() {
    let env = TestEnv::repo(true);
    let before = env.git(&["rev-parse", "HEAD"]);
    let v = env.json(&["add", "a/b/one", "--title", "One", "--no-commit"]);
    assert_eq!(v["commit"]["skipped"], "--no-commit");
    env.write(
        "memtree.yaml",
        "schema_version: 1\ngit: {auto_commit: false}\n",
    );
    let v = env.json(&["add", "a/b/two", "--title", "Two"]);
    assert!(
        v["commit"]["skipped"]
            .as_str()
            .unwrap()
            .contains("auto_commit"),
        "{v}"
    );
    assert_eq!(env.git(&["rev-parse", "HEAD"]), before);
    assert!(
        env.git(&["status", "--porcelain"])
            .contains("?? .memory/a/")
    );
}

/// A fresh `git init` (unborn branch): the first commit has no parent and creates the branch.
#[test]
fn an_unborn_branch_gets_its_first_commit() {
    let env = TestEnv::repo(false);
    env.add("a/b/first", "First", &[], "body");
    assert_eq!(env.git(&["rev-list", "--count", "main"]).trim(), "1");
    assert_eq!(
        env.git(&["log", "-1", "--format=%P"]).trim(),
        "",
        "no parent"
    );
    assert_eq!(head_files(&env), ["A\t.memory/a/b/first.md"]);
}

/// A detached HEAD moves with the commit, as with `git commit`; the branch stays.
#[test]
fn a_detached_head_moves_with_the_commit() {
    let env = TestEnv::repo(true);
    let main = env.git(&["rev-parse", "main"]);
    env.git(&["checkout", "-q", "--detach"]);
    env.add("a/b/detached", "Detached", &[], "body");
    assert_eq!(env.git(&["rev-parse", "main"]), main);
    assert_eq!(
        env.git(&["log", "-1", "--format=%s"]).trim(),
        "memtree: add a/b/detached"
    );
    assert_eq!(env.git(&["rev-parse", "HEAD~1"]), main);
}

/// In the middle of a merge nothing is committed: the file is written and the report says why.
#[test]
fn a_merge_in_progress_leaves_the_change_uncommitted() {
    let env = TestEnv::repo(true);
    std::fs::write(env.root().join("f.txt"), "base\n").unwrap();
    env.git(&["add", "f.txt"]);
    env.git(&["commit", "-q", "-m", "base"]);
    env.git(&["checkout", "-q", "-b", "side"]);
    std::fs::write(env.root().join("f.txt"), "side\n").unwrap();
    env.git(&["commit", "-q", "-am", "side"]);
    env.git(&["checkout", "-q", "main"]);
    std::fs::write(env.root().join("f.txt"), "main\n").unwrap();
    env.git(&["commit", "-q", "-am", "main"]);
    let merge = std::process::Command::new("git")
        .current_dir(env.root())
        .envs(crate::env::GIT_ENV.iter().copied())
        .args(["merge", "-q", "side"])
        .output()
        .unwrap();
    assert!(!merge.status.success(), "the merge conflicts");
    let head = env.git(&["rev-parse", "HEAD"]);
    let v = env.json(&["add", "a/b/during-merge", "--title", "During a merge"]);
    assert!(
        v["commit"]["skipped"].as_str().unwrap().contains("merge"),
        "{v}"
    );
    assert_eq!(env.git(&["rev-parse", "HEAD"]), head);
    assert!(env.mem("a/b/during-merge.md").is_file());
}

/// Outside a repository writes work, and history commands say why they cannot run.
#[test]
fn outside_a_repository_writes_work_and_history_says_why() {
    let env = TestEnv::new();
    let v = env.json(&["add", "a/b/c", "--title", "C"]);
    assert_eq!(v["commit"]["skipped"], "not inside a git repository");
    let (out, err) = env.fails(&["history", "a/b/c", "--json"], 1);
    assert!(
        err.contains("no git history here: not inside a git repository"),
        "{err}"
    );
    assert!(out.contains("\"kind\":\"no_git\""), "{out}");
}

/// A memory folder ignored by .gitignore is not committed.
#[test]
fn an_ignored_memory_is_not_committed() {
    let env = TestEnv::repo(false);
    std::fs::write(env.root().join(".gitignore"), ".memory/\n").unwrap();
    let v = env.json(&["add", "a/b/c", "--title", "C"]);
    assert!(
        v["commit"]["skipped"].as_str().unwrap().contains("ignored"),
        "{v}"
    );
}

/// supersede: one commit of both files; queries return NEW in OLD's place; chains resolve to
/// the newest; self-supersession and cycles are refused.
#[test]
fn supersede_is_one_commit_and_queries_follow_it() {
    let env = TestEnv::repo(true);
    env.add(
        "db/engine/sqlite",
        "We use SQLite",
        &["--kind", "decision", "--alias", "database engine"],
        "SQLite for local state.",
    );
    let v = env.json(&[
        "supersede",
        "db/engine/sqlite",
        "db/engine/postgres",
        "--title",
        "We use Postgres",
        "--body",
        "Postgres since the move to a server.",
    ]);
    assert_eq!(v["created"], true);
    let mut files = head_files(&env);
    files.sort();
    assert_eq!(
        files,
        [
            "A\t.memory/db/engine/postgres.md",
            "M\t.memory/db/engine/sqlite.md"
        ]
    );
    assert_eq!(
        env.git(&["log", "-1", "--format=%s"]).trim(),
        "memtree: supersede db/engine/sqlite -> db/engine/postgres"
    );
    let old = env.read("db/engine/sqlite.md");
    assert!(
        old.contains("status: superseded\n") && old.contains("superseded_by: db/engine/postgres\n"),
        "{old}"
    );
    let new = env.read("db/engine/postgres.md");
    assert!(
        new.contains("kind: decision\n") && new.contains("supersedes: [db/engine/sqlite]"),
        "{new}"
    );
    let hit = env.top(&["database engine"]);
    assert_eq!(hit["id"], "db/engine/postgres");
    assert!(
        hit["matched"]
            .to_string()
            .contains("replaces:db/engine/sqlite"),
        "{hit}"
    );
    let get = env.json(&["get", "db/engine/sqlite"]);
    assert_eq!(get["front_matter"]["superseded_by"], "db/engine/postgres");
    // A chain resolves to the newest.
    env.add(
        "db/engine/cockroach",
        "We use CockroachDB",
        &[],
        "Distributed.",
    );
    env.ok(&["supersede", "db/engine/postgres", "db/engine/cockroach"]);
    assert_eq!(env.top(&["database engine"])["id"], "db/engine/cockroach");
    // Self and cycles are refused, and write nothing.
    let before = env.git(&["rev-parse", "HEAD"]);
    let (_, err) = env.fails(
        &["supersede", "db/engine/cockroach", "db/engine/cockroach"],
        1,
    );
    assert!(err.contains("cannot supersede itself"), "{err}");
    let (_, err) = env.fails(&["supersede", "db/engine/cockroach", "db/engine/sqlite"], 1);
    assert!(err.contains("cycle"), "{err}");
    assert_eq!(env.git(&["rev-parse", "HEAD"]), before);
    assert_eq!(env.git(&["status", "--porcelain"]), "");
}

/// history follows `mv`, with a diff per version; get --at, diff and restore use it.
#[test]
fn history_follows_moves_and_old_versions_come_back() {
    let env = TestEnv::repo(true);
    env.add("db/engine/choice", "We use SQLite", &[], "First body.");
    env.ok(&["set", "choice", "importance=0.9"]);
    env.ok(&["mv", "db/engine/choice", "db/storage/engine"]);
    // A hand edit, committed by the user with git.
    let text = env
        .read("db/storage/engine.md")
        .replace("First body.", "Second body.");
    env.write("db/storage/engine.md", &text);
    env.git(&["commit", "-q", "-am", "edit by hand"]);
    let v = env.json(&["history", "db/storage/engine"]);
    let versions = v["versions"].as_array().unwrap();
    let statuses: Vec<&str> = versions
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["modified", "renamed", "modified", "added"],
        "{v}"
    );
    assert_eq!(versions[1]["renamed_from"], "db/engine/choice.md");
    assert_eq!(versions[3]["file"], "db/engine/choice.md");
    assert_eq!(versions[0]["author"], "Ann Author");
    assert!(
        versions[0]["diff"]
            .as_str()
            .unwrap()
            .contains("-First body.\n+Second body."),
        "{v}"
    );
    assert!(
        versions[2]["diff"]
            .as_str()
            .unwrap()
            .contains("+importance: 0.9"),
        "{v}"
    );
    // The version before the move, by revision and by date.
    let old = env.json(&["get", "db/storage/engine", "--at", "HEAD~2"]);
    assert_eq!(old["file"], ".memory/db/engine/choice.md");
    assert_eq!(old["front_matter"]["importance"], 0.9);
    assert_eq!(old["body"], "\nFirst body.\n");
    let dated = env.json(&["get", "db/storage/engine", "--at", "2099-01-01"]);
    assert_eq!(dated["body"], "\nSecond body.\n");
    let (_, err) = env.fails(&["get", "db/storage/engine", "--at", "2000-01-01"], 1);
    assert!(err.contains("no commit at or before"), "{err}");
    // diff against a revision, and restore it as a new commit.
    let d = env.json(&["diff", "db/storage/engine", "HEAD~1"]);
    assert_eq!(d["changed"], true);
    assert!(d["diff"].as_str().unwrap().contains("+Second body."), "{d}");
    let r = env.json(&["restore", "db/storage/engine", "--at", "HEAD~1"]);
    assert!(r["commit"]["id"].is_string(), "{r}");
    assert!(env.read("db/storage/engine.md").contains("First body."));
    assert!(
        env.git(&["log", "-1", "--format=%s"])
            .starts_with("memtree: restore db/storage/engine as of HEAD~1")
    );
    // A deleted entry keeps its history and can be restored.
    env.ok(&["rm", "db/storage/engine"]);
    let v = env.json(&["history", "db/storage/engine"]);
    assert_eq!(v["versions"][0]["status"], "deleted");
    env.ok(&["restore", "db/storage/engine", "--at", "HEAD~1"]);
    assert!(env.mem("db/storage/engine.md").is_file());
}
