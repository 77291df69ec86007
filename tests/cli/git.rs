//! Git (issue 8): commits of changesets, supersession, history, diff, get --at, restore, in
//! real temporary repositories (hermetic: GIT_CONFIG_GLOBAL and GIT_CONFIG_SYSTEM are
//! /dev/null, the author is set by environment).

use crate::env::TestEnv;

/// `main` and a branch `name` that change the same line of `f.txt`, with `main` checked out.
fn diverge(env: &TestEnv, name: &str) {
    std::fs::write(env.root().join("f.txt"), "base\n").unwrap();
    env.git(&["add", "f.txt"]);
    env.git(&["commit", "-q", "-m", "base"]);
    env.git(&["checkout", "-q", "-b", name]);
    std::fs::write(env.root().join("f.txt"), format!("{name}\n")).unwrap();
    env.git(&["commit", "-q", "-am", name]);
    env.git(&["checkout", "-q", "main"]);
    std::fs::write(env.root().join("f.txt"), "main\n").unwrap();
    env.git(&["commit", "-q", "-am", "main"]);
}

/// Runs a git command that is expected to fail (a conflicting merge or rebase).
fn git_fails(env: &TestEnv, args: &[&str]) -> std::process::Output {
    env.git_output(&std::env::var("PATH").unwrap_or_default(), args)
}

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
    diverge(&env, "side");
    let merge = git_fails(&env, &["merge", "-q", "side"]);
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
    let git_style = env.json(&["get", "db/storage/engine", "--at", "@{2099-01-01}"]);
    assert_eq!(git_style["body"], "\nSecond body.\n");
    env.git(&["tag", "v1", "HEAD~1"]);
    let tagged = env.json(&["get", "db/storage/engine", "--at", "v1"]);
    assert_eq!(tagged["body"], "\nFirst body.\n");
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

/// The folder holding the memtree binary under test, for a PATH in hooks.
fn bin_dir() -> String {
    std::path::Path::new(env!("CARGO_BIN_EXE_memtree"))
        .parent()
        .unwrap()
        .display()
        .to_string()
}

fn git_with_path(env: &TestEnv, path: &str, args: &[&str]) -> std::process::Output {
    env.git_output(path, args)
}

/// hooks install chains with a hook already there, which keeps running; a commit made with
/// memtree absent from PATH still succeeds; uninstall leaves the user's hook as it was.
#[test]
fn hooks_chain_with_existing_ones_and_never_break_git() {
    let env = TestEnv::repo(true);
    let hook = env.root().join(".git/hooks/post-commit");
    let mine = "#!/bin/sh\necho ran >> \"$(git rev-parse --show-toplevel)/mine.log\"\n";
    std::fs::write(&hook, mine).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let v = env.json(&["hooks", "install"]);
    assert_eq!(v["merge_driver"], true, "{v}");
    let states: Vec<&str> = v["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["chained", "installed", "installed", "installed"],
        "{v}"
    );
    // A second install changes nothing.
    assert_eq!(
        env.json(&["hooks", "install"])["changed"],
        serde_json::json!([])
    );
    // A commit with memtree on PATH: the user's hook runs, and so does consolidate.
    let path = format!("{}:{}", bin_dir(), std::env::var("PATH").unwrap());
    std::fs::write(env.root().join("a.txt"), "a\n").unwrap();
    assert!(
        git_with_path(&env, &path, &["add", "a.txt"])
            .status
            .success()
    );
    let out = git_with_path(&env, &path, &["commit", "-q", "-m", "with memtree"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(env.root().join("mine.log")).unwrap(),
        "ran\n"
    );
    assert!(
        std::fs::read_to_string(env.mem(".cache/hook.log"))
            .unwrap()
            .contains("ok: ")
    );
    // Without memtree on PATH the commit still succeeds and the user's hook still runs.
    std::fs::write(env.root().join("b.txt"), "b\n").unwrap();
    let bare_path = "/usr/bin:/bin";
    assert!(
        git_with_path(&env, bare_path, &["add", "b.txt"])
            .status
            .success()
    );
    let out = git_with_path(&env, bare_path, &["commit", "-q", "-m", "without memtree"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(env.root().join("mine.log")).unwrap(),
        "ran\nran\n"
    );
    // Uninstall: the user's hook is back as it was, the others are gone.
    env.ok(&["hooks", "uninstall"]);
    assert_eq!(std::fs::read_to_string(&hook).unwrap(), mine);
    assert!(!env.root().join(".git/hooks/post-merge").exists());
    assert_eq!(env.json(&["hooks", "status"])["merge_driver"], false);
}

/// core.hooksPath (husky, lefthook) is respected when it names a folder that is the user's
/// own: husky's `.husky/_`, which git ignores.
#[test]
fn hooks_respect_core_hooks_path() {
    let env = TestEnv::repo(true);
    std::fs::create_dir_all(env.root().join(".husky/_")).unwrap();
    std::fs::write(env.root().join(".husky/_/.gitignore"), "*\n").unwrap();
    env.git(&["config", "core.hooksPath", ".husky/_"]);
    let v = env.json(&["hooks", "install"]);
    assert!(
        v["hooks_dir"].as_str().unwrap().ends_with(".husky/_"),
        "{v}"
    );
    assert!(env.root().join(".husky/_/post-commit").is_file());
    assert!(!env.root().join(".git/hooks/post-commit").exists());
    // The hooks are not in git status; the merge driver's routing is (to be committed).
    assert_eq!(
        env.git(&["status", "--porcelain"]),
        "?? .memory/.gitattributes\n"
    );
}

/// Issue 20, item 6: core.hooksPath pointing at a tracked folder (a team's `.githooks/`) used to
/// get its tracked hook rewritten and untracked files added. `hooks install` now refuses with a
/// sentence saying what to do, and changes nothing.
#[test]
fn hooks_refuse_a_tracked_hooks_path() {
    let env = TestEnv::repo(true);
    let team_hook = "#!/bin/sh\necho team lint\n";
    std::fs::create_dir_all(env.root().join(".githooks")).unwrap();
    std::fs::write(env.root().join(".githooks/post-commit"), team_hook).unwrap();
    env.git(&["add", ".githooks"]);
    env.git(&["commit", "-q", "-m", "team hooks"]);
    env.git(&["config", "core.hooksPath", ".githooks"]);
    let (_, err) = env.fails(&["hooks", "install"], 1);
    assert_eq!(
        err.lines().next().unwrap(),
        "error: core.hooksPath is .githooks, a folder of the repository's own files (git tracks \
         hooks in it): installing memtree's hooks there would change the team's hooks in \
         everyone's next commit. Run `memtree consolidate --hook` from your hook manager's \
         post-commit, post-merge, post-checkout and post-rewrite hooks instead, or point \
         core.hooksPath at a folder outside the work tree"
    );
    assert_eq!(
        std::fs::read_to_string(env.root().join(".githooks/post-commit")).unwrap(),
        team_hook
    );
    assert_eq!(
        env.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
}

/// The hook repairs links broken by a move made outside memtree (`git mv`), as a commit.
#[test]
fn the_hook_repairs_links_after_a_git_mv() {
    let env = TestEnv::repo(true);
    env.add("db/engine/choice", "We use SQLite", &[], "Local state.");
    env.add("notes/misc/ref", "Ref", &[], "See [[db/engine/choice]].");
    env.ok(&[
        "link",
        "notes/misc/ref",
        "db/engine/choice",
        "--type",
        "depends-on",
    ]);
    env.ok(&["hooks", "install"]);
    env.git(&["add", ".memory/.gitattributes"]);
    std::fs::create_dir_all(env.mem("db/storage")).unwrap();
    env.git(&[
        "mv",
        ".memory/db/engine/choice.md",
        ".memory/db/storage/choice.md",
    ]);
    let path = format!("{}:{}", bin_dir(), std::env::var("PATH").unwrap());
    let out = git_with_path(&env, &path, &["commit", "-q", "-m", "move by hand"]);
    assert!(out.status.success());
    let text = env.read("notes/misc/ref.md");
    assert!(
        text.contains("to: db/storage/choice}") && text.contains("[[db/storage/choice]]"),
        "{text}"
    );
    assert_eq!(
        env.git(&["log", "-1", "--format=%s"]).trim(),
        "memtree: consolidate --hook: 1 change(s) (repair-link)"
    );
    assert_eq!(env.git(&["status", "--porcelain"]), "");
}

/// A branch merge of two edits of one entry is resolved field by field by the driver; a real
/// body conflict is left with markers, and `check` reports it.
#[test]
fn the_merge_driver_merges_entries_and_check_reports_conflicts() {
    let env = TestEnv::repo(true);
    env.add(
        "db/engine/choice",
        "We use SQLite",
        &["--alias", "db"],
        "Line one.\nLine two.\nLine three.",
    );
    env.ok(&["hooks", "install"]);
    env.git(&["add", ".memory/.gitattributes"]);
    env.git(&["commit", "-q", "-m", "merge driver attributes"]);
    let path = format!("{}:{}", bin_dir(), std::env::var("PATH").unwrap());
    env.git(&["checkout", "-q", "-b", "side"]);
    env.ok(&["set", "choice", "aliases+=database", "importance=0.9"]);
    let t = env
        .read("db/engine/choice.md")
        .replace("Line three.", "Line three, side.");
    env.write("db/engine/choice.md", &t);
    env.git(&["commit", "-q", "-am", "side edit"]);
    env.git(&["checkout", "-q", "main"]);
    env.ok(&["set", "choice", "aliases+=engine", "tags+=storage"]);
    let t = env
        .read("db/engine/choice.md")
        .replace("Line one.", "Line one, main.");
    env.write("db/engine/choice.md", &t);
    env.git(&["commit", "-q", "-am", "main edit"]);
    let out = git_with_path(&env, &path, &["merge", "-q", "--no-edit", "side"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = env.read("db/engine/choice.md");
    assert!(
        merged.contains("aliases: [db, engine, database]"),
        "{merged}"
    );
    assert!(
        merged.contains("tags: [storage]") && merged.contains("importance: 0.9"),
        "{merged}"
    );
    assert!(
        merged.contains("Line one, main.\nLine two.\nLine three, side.\n"),
        "{merged}"
    );
    env.ok(&["check"]);
    // Both branches change the same line: markers, and check names the file.
    env.git(&["checkout", "-q", "-b", "other"]);
    env.write(
        "db/engine/choice.md",
        &merged.replace("Line two.", "Line two, other."),
    );
    env.git(&["commit", "-q", "-am", "other"]);
    env.git(&["checkout", "-q", "main"]);
    env.write(
        "db/engine/choice.md",
        &merged.replace("Line two.", "Line two, main."),
    );
    env.git(&["commit", "-q", "-am", "main again"]);
    let out = git_with_path(&env, &path, &["merge", "-q", "--no-edit", "other"]);
    assert!(!out.status.success(), "a real conflict");
    let text = env.read("db/engine/choice.md");
    assert!(
        text.contains("<<<<<<< ours\nLine two, main.\n=======\nLine two, other.\n>>>>>>> theirs\n"),
        "{text}"
    );
    let (out, _) = env.fails(&["check"], 1);
    assert!(
        out.contains(".memory/db/engine/choice.md:") && out.contains("unresolved merge conflict"),
        "{out}"
    );
}

/// consolidate plans decay, archiving, promotion, duplicates and link repairs; --apply applies
/// them as one commit; nothing is deleted. confirm restarts decay.
#[test]
fn consolidate_plans_and_applies_as_one_commit() {
    let env = TestEnv::repo(true);
    let old = "---\ntitle: Old draft\nkind: fact\nmaturity: draft\ndecay: 30d\nupdated: 2025-01-01T00:00:00Z\n---\nA stale idea.\n";
    env.write("ideas/old/draft.md", old);
    env.add(
        "db/engine/sqlite",
        "Use SQLite",
        &["--kind", "decision"],
        "Same body.",
    );
    env.add(
        "db/other/sqlite-dup",
        "Use SQLite",
        &["--kind", "decision"],
        "Same body.",
    );
    env.add(
        "db/engine/notes",
        "Notes",
        &["--kind", "fact"],
        "See [[db/engine/gone]].",
    );
    env.add("db/moved/gone", "Moved", &[], "moved by hand");
    env.git(&["add", ".memory"]);
    env.git(&["commit", "-q", "-m", "fixture"]);
    let head = env.git(&["rev-parse", "HEAD"]);
    let plan = env.json(&["consolidate"]);
    let kinds: Vec<(String, String, bool)> = plan["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().into(),
                a["id"].as_str().unwrap().into(),
                a["applied"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("repair-link".into(), "db/engine/notes".into(), false)),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("archive".into(), "ideas/old/draft".into(), false)),
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|(k, _, _)| k == "merge"), "{kinds:?}");
    assert_eq!(
        env.git(&["rev-parse", "HEAD"]),
        head,
        "a dry run commits nothing"
    );
    assert_eq!(
        env.git(&["status", "--porcelain"]),
        "",
        "and writes nothing"
    );
    let applied = env.json(&["consolidate", "--apply"]);
    assert!(applied["commit"]["id"].is_string(), "{applied}");
    assert!(env.read("ideas/old/draft.md").contains("status: archived"));
    assert!(env.read("db/engine/notes.md").contains("[[db/moved/gone]]"));
    let dup = env.read("db/other/sqlite-dup.md");
    let kept = env.read("db/engine/sqlite.md");
    assert!(
        (dup.contains("status: superseded") && kept.contains("supersedes: [db/other/sqlite-dup]"))
            || (kept.contains("status: superseded")
                && dup.contains("supersedes: [db/engine/sqlite]")),
        "{dup}\n{kept}"
    );
    assert_eq!(env.git(&["status", "--porcelain"]), "");
    // Archived, still found with --all.
    assert!(
        env.hits(&["stale idea", "--all"])
            .contains(&"ideas/old/draft".to_string())
    );
    // confirm: validated, updated now.
    let c = env.json(&["confirm", "ideas/old/draft"]);
    assert_eq!(c["changed"], serde_json::json!(["updated", "maturity"]));
    assert!(
        env.read("ideas/old/draft.md")
            .contains("maturity: validated")
    );
}

/// Usage signals live in .cache: queries never change a tracked file.
#[test]
fn usage_is_recorded_per_machine_and_never_in_tracked_files() {
    let env = TestEnv::repo(true);
    env.add(
        "a/b/c",
        "Quokka facts",
        &["--kind", "fact"],
        "Quokkas smile.",
    );
    for _ in 0..6 {
        env.ok(&["query", "quokka"]);
    }
    assert_eq!(env.git(&["status", "--porcelain"]), "");
    assert!(
        std::fs::read_to_string(env.mem(".cache/usage.log"))
            .unwrap()
            .lines()
            .count()
            >= 6
    );
    env.ok(&["set", "a/b/c", "maturity=draft"]);
    let plan = env.json(&["consolidate"]);
    assert!(
        plan["actions"]
            .to_string()
            .contains("maturity: draft -> validated"),
        "{plan}"
    );
}

/// In the middle of a rebase nothing is committed either (the commit would join the rebase).
#[test]
fn a_rebase_in_progress_leaves_the_change_uncommitted() {
    let env = TestEnv::repo(true);
    diverge(&env, "topic");
    env.git(&["checkout", "-q", "topic"]);
    let rebase = git_fails(&env, &["rebase", "-q", "main"]);
    assert!(!rebase.status.success(), "the rebase stops on a conflict");
    let head = env.git(&["rev-parse", "HEAD"]);
    let v = env.json(&["add", "a/b/during-rebase", "--title", "During a rebase"]);
    assert!(
        v["commit"]["skipped"].as_str().unwrap().contains("rebase"),
        "{v}"
    );
    assert_eq!(env.git(&["rev-parse", "HEAD"]), head);
}

/// The hook never fails the user's git command: an error is logged and it exits 0.
#[test]
fn the_hook_logs_errors_and_exits_zero() {
    let env = TestEnv::repo(true);
    env.write("memtree.yaml", "schema_version: 1\nretrieval: {hopz: 1}\n");
    let out = env.cmd().args(["consolidate", "--hook"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log = std::fs::read_to_string(env.mem(".cache/hook.log")).unwrap();
    assert!(
        log.contains("error: invalid configuration") && log.contains("hopz"),
        "{log}"
    );
}
