//! Regressions of issue 14 ("safe in a team's git workflow"): crash recovery, racing edits,
//! the git index lock, leftovers, secrets in whole-file commits. Crashes are injected with the
//! debug build's failpoints (`MEMTREE_FAILPOINT`, src/failpoint.rs: the process aborts as a
//! `kill -9` would), and every test asserts exact file contents and `git status`.

use crate::env::{TestEnv, memory_files};

/// The target of the moves below, and the entries that link to it.
const REFERRERS: usize = 4;

/// A repository whose memory has `a/b/target` and `REFERRERS` entries linking to it, all
/// committed.
fn linked_repo() -> TestEnv {
    let env = TestEnv::repo(true);
    env.add("a/b/target", "Target", &[], "The target.");
    for i in 0..REFERRERS {
        env.add(
            &format!("a/r/ref{i}"),
            &format!("Referrer {i}"),
            &[],
            "See [[a/b/target]] for the details.",
        );
    }
    env
}

/// A copy of `env`'s project (work tree and `.git`), to run one scenario on.
pub(crate) fn copy(env: &TestEnv) -> TestEnv {
    let to = TestEnv::bare();
    let status = std::process::Command::new("cp")
        .args(["-a", "--"])
        .arg(format!("{}/.", env.root().display()))
        .arg(to.root())
        .status()
        .unwrap();
    assert!(status.success());
    to
}

/// `memtree ARGS` with a failpoint set; returns the output (a stopped process has no code).
pub(crate) fn with_failpoint(env: &TestEnv, point: &str, args: &[&str]) -> std::process::Output {
    env.cmd()
        .env("MEMTREE_FAILPOINT", point)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(args)
        .write_stdin("")
        .output()
        .unwrap()
}

pub(crate) fn status(env: &TestEnv) -> String {
    env.git(&["status", "--porcelain", "--untracked-files=all"])
}

pub(crate) fn head_tree(env: &TestEnv) -> String {
    env.git(&["rev-parse", "HEAD^{tree}"]).trim().to_string()
}

/// See: issue 14, item 1. `mv` killed at each of its renames in turn, then `memtree index`:
/// the result is always the whole move committed, or nothing at all, with `git status` clean.
/// Before, the recovery commit held only the renames still pending and the deletion, so HEAD
/// had no target at all, and a kill after the installs left everything uncommitted.
#[cfg(debug_assertions)]
#[test]
fn a_move_killed_at_any_rename_is_completed_whole_or_not_at_all() {
    let env = linked_repo();
    let before_tree = head_tree(&env);
    let before_files = memory_files(&env);
    let reference = copy(&env);
    reference.ok(&["mv", "a/b/target", "a/c/target"]);
    let after_tree = head_tree(&reference);
    let after_files = memory_files(&reference);
    assert_ne!(before_tree, after_tree);
    let mut completed = 0;
    for n in 1.. {
        let run = copy(&env);
        let out = with_failpoint(
            &run,
            &format!("rename#{n}"),
            &["mv", "a/b/target", "a/c/target"],
        );
        if out.status.success() {
            // Past the last rename: the move ran to its end.
            assert!(n > REFERRERS + 2, "only {n} renames");
            break;
        }
        assert_eq!(
            out.status.code(),
            None,
            "rename#{n}: not stopped by the failpoint"
        );
        run.ok(&["index"]);
        let tree = head_tree(&run);
        if tree == before_tree {
            assert_eq!(memory_files(&run), before_files, "rename#{n}");
        } else {
            assert_eq!(tree, after_tree, "rename#{n}: HEAD holds a partial move");
            assert_eq!(memory_files(&run), after_files, "rename#{n}");
            completed += 1;
        }
        assert_eq!(status(&run), "", "rename#{n}");
        assert!(!run.mem(".cache/journal").exists(), "rename#{n}");
    }
    assert!(completed > REFERRERS, "{completed}");
}

/// See: issue 14, item 1. Killed after every file is installed but before the commit, a move
/// keeps its journal: `check` names the write as not committed, and the next write commits it
/// whole (the log shows it) before its own.
#[cfg(debug_assertions)]
#[test]
fn a_write_installed_but_not_committed_is_named_and_then_committed() {
    let env = linked_repo();
    let reference = copy(&env);
    reference.ok(&["mv", "a/b/target", "a/c/target"]);
    let out = with_failpoint(&env, "commit", &["mv", "a/b/target", "a/c/target"]);
    assert_eq!(out.status.code(), None);
    let (check, _) = env.fails(&["check"], 1);
    assert!(
        check.contains(
            ".memory/.cache/journal: error: `mv a/b/target -> a/c/target` was written but not \
             committed"
        ),
        "{check}"
    );
    env.add("a/b/other", "Other", &[], "Another entry.");
    let log = env.git(&["log", "--format=%s", "-2"]);
    assert_eq!(
        log,
        "memtree: add a/b/other\nmemtree: complete interrupted mv a/b/target -> a/c/target\n"
    );
    env.git(&["rm", "-q", "--cached", ".memory/a/b/other.md"]);
    env.git(&["commit", "-q", "-m", "drop other"]);
    std::fs::remove_file(env.mem("a/b/other.md")).unwrap();
    assert_eq!(head_tree(&env), head_tree(&reference));
    assert_eq!(status(&env), "");
}

/// See: issue 14, item 2. A `set` killed before its file was installed, then a line appended
/// by hand: recovery stops with a conflict and never overwrites the line (before, `memtree
/// index` installed the staged file over it, and the line was in no blob). `recover
/// --discard` leaves the file as the user made it and keeps memtree's version aside.
#[cfg(debug_assertions)]
#[test]
fn a_hand_edit_after_a_crash_is_never_overwritten() {
    let env = linked_repo();
    let head = env.git(&["rev-parse", "HEAD"]);
    let out = with_failpoint(&env, "rename#2", &["set", "a/b/target", "importance=0.9"]);
    assert_eq!(out.status.code(), None);
    let path = env.mem("a/b/target.md");
    let mut edited = std::fs::read_to_string(&path).unwrap();
    assert!(!edited.contains("importance"));
    edited.push_str("A line added by hand after the crash.\n");
    std::fs::write(&path, &edited).unwrap();
    let (out, err) = env.fails(&["index", "--json"], 1);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["kind"], "conflict", "{err}");
    assert!(
        err.contains(".memory/a/b/target.md changed after the crash"),
        "{err}"
    );
    assert!(err.contains("memtree recover --discard"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
    // Every other write waits for the decision too, and writes nothing.
    env.fails(&["set", "a/r/ref0", "importance=0.2"], 1);
    let (check, _) = env.fails(&["check"], 1);
    assert!(
        check.contains("a/b/target.md changed after the crash"),
        "{check}"
    );
    let v = env.json(&["recover", "--discard"]);
    assert_eq!(v["discarded"], true);
    let kept = v["kept"][0].as_str().unwrap();
    assert!(kept.starts_with(".memory/.cache/discarded/"), "{kept}");
    let memtrees = std::fs::read_to_string(env.root().join(kept)).unwrap();
    assert!(memtrees.contains("importance: 0.9"), "{memtrees}");
    assert!(!memtrees.contains("added by hand"), "{memtrees}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
    assert_eq!(env.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(status(&env), " M .memory/a/b/target.md\n");
    env.ok(&["check"]);
    env.ok(&["set", "a/r/ref0", "importance=0.2"]);
}

/// See: issue 14, item 3. `sed -i` appending lines while `set` adds aliases to the same entry:
/// no appended line is ever lost. memtree's install exchanges the files and compares what it
/// displaced, so an edit saved after memtree's last check is put back and reported as a
/// conflict instead of being overwritten (before: 36 of 400 lines lost).
#[test]
fn hand_edits_racing_writes_are_never_lost() {
    let env = linked_repo();
    let file = env.mem("a/b/target.md");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let editor = {
        let (file, stop) = (file.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut lines = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let status = std::process::Command::new("sed")
                    .args(["-i", &format!("$a line {lines} by hand")])
                    .arg(&file)
                    .status()
                    .unwrap();
                assert!(status.success());
                lines += 1;
            }
            lines
        })
    };
    let mut conflicts = 0;
    let mut written = 0;
    for i in 0..25 {
        let out = env
            .cmd()
            .args(["set", "a/b/target", &format!("aliases+=al{i}"), "--json"])
            .write_stdin("")
            .output()
            .unwrap();
        if out.status.success() {
            written += 1;
        } else {
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(doc["kind"], "conflict", "{doc}");
            conflicts += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let lines = editor.join().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    let missing: Vec<usize> = (0..lines)
        .filter(|i| !text.contains(&format!("line {i} by hand\n")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {lines} lines lost ({written} writes, {conflicts} conflicts): {missing:?}",
        missing.len()
    );
    assert_eq!(written + conflicts, 25);
    assert!(!env.mem(".cache/journal").exists());
    // Only the entry is changed (by the editor since the last commit); nothing leaked.
    let st = status(&env);
    assert!(st.is_empty() || st == " M .memory/a/b/target.md\n", "{st}");
}

/// See: issue 14, item 4. `rm` and `restore` refuse, as `git rm` does, a file whose content
/// git does not have, unless `--force` (before, `rm` deleted a never-committed file and both
/// discarded uncommitted edits).
#[test]
fn rm_and_restore_refuse_uncommitted_work() {
    let env = linked_repo();
    let head = env.git(&["rev-parse", "HEAD"]);
    // Never committed.
    env.write("a/b/draft.md", "---\ntitle: Draft\n---\nwritten by hand\n");
    let (out, err) = env.fails(&["rm", "a/b/draft", "--json"], 1);
    assert!(out.contains("\"kind\":\"local_changes\""), "{out}");
    assert!(
        err.contains("refusing to replace or delete .memory/a/b/draft.md: it was never committed"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        env.read("a/b/draft.md"),
        "---\ntitle: Draft\n---\nwritten by hand\n"
    );
    // Changed since its commit.
    let path = env.mem("a/b/target.md");
    let committed = std::fs::read_to_string(&path).unwrap();
    let edited = format!("{committed}An edit not committed yet.\n");
    std::fs::write(&path, &edited).unwrap();
    let (_, err) = env.fails(&["rm", "a/b/target"], 1);
    assert!(
        err.contains("it has changes that are not committed"),
        "{err}"
    );
    let (_, err) = env.fails(&["restore", "a/b/target", "--at", "HEAD"], 1);
    assert!(
        err.contains("it has changes that are not committed"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
    assert_eq!(env.git(&["rev-parse", "HEAD"]), head);
    // --force does what it was asked.
    env.ok(&["restore", "a/b/target", "--at", "HEAD", "--force"]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), committed);
    env.ok(&["rm", "a/b/draft", "--force"]);
    assert!(!env.mem("a/b/draft.md").exists());
    // A committed, unchanged entry is removed as before.
    env.ok(&["rm", "a/r/ref0"]);
    assert_eq!(status(&env), "");
}

/// See: issue 14, items 5 and 11. With `.git/index.lock` held by another git process, `add`
/// moves no HEAD and says why in both outputs (before, it committed and left the index stale,
/// so the user's next `git commit` deleted the entry). Released, the file is simply untracked.
#[test]
fn a_locked_git_index_leaves_the_change_uncommitted_and_says_so() {
    let env = linked_repo();
    let head = env.git(&["rev-parse", "HEAD"]);
    let lock = env.root().join(".git/index.lock");
    std::fs::write(&lock, "").unwrap();
    let v = env.json(&["add", "a/b/new", "--title", "New"]);
    assert_eq!(v["commit"]["id"], serde_json::Value::Null);
    let skipped = v["commit"]["skipped"].as_str().unwrap();
    assert!(skipped.starts_with("git index locked: "), "{skipped}");
    let out = env
        .cmd()
        .args(["add", "a/b/newer", "--title", "Newer"])
        .write_stdin("")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: not committed: git index locked: "),
        "{err}"
    );
    assert_eq!(env.git(&["rev-parse", "HEAD"]), head);
    assert!(lock.exists(), "memtree removed someone else's lock");
    std::fs::remove_file(&lock).unwrap();
    assert_eq!(
        status(&env),
        "?? .memory/a/b/new.md\n?? .memory/a/b/newer.md\n"
    );
}

/// See: issue 14, item 11. HEAD moved by someone else while memtree commits: the commit is
/// rebuilt on the new HEAD instead of failing or dropping that commit.
#[cfg(debug_assertions)]
#[test]
fn a_commit_is_rebuilt_on_a_head_that_moved_meanwhile() {
    let env = linked_repo();
    let concurrent = "git update-ref refs/heads/main \
                      $(git commit-tree HEAD^{tree} -p HEAD -m concurrent)";
    let out = with_failpoint(
        &env,
        &format!("head:sh:{concurrent}"),
        &["set", "a/b/target", "importance=0.9", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["commit"]["id"].as_str().unwrap();
    assert_eq!(env.git(&["rev-parse", "HEAD"]).trim(), id);
    assert_eq!(
        env.git(&["log", "--format=%s", "-3"]),
        "memtree: set a/b/target\nconcurrent\nmemtree: add a/r/ref3\n"
    );
    assert_eq!(status(&env), "");
}

/// See: issue 14, item 6. A kill while staging leaves its temporary file in `.cache/staging`,
/// which git ignores (before, 3,438 `.memtree-*.tmp` files showed in `git status`); the next
/// write removes it. Files an older memtree left next to entries are named by `check` and
/// removed by `memtree index`.
#[cfg(debug_assertions)]
#[test]
fn temporary_files_never_reach_git_status_and_are_cleaned() {
    let env = linked_repo();
    let out = with_failpoint(&env, "rename#1", &["add", "a/b/new", "--title", "New"]);
    assert_eq!(out.status.code(), None);
    // The entry's new file and the journal, both staged before the journal's rename.
    let staged = std::fs::read_dir(env.mem(".cache/staging"))
        .unwrap()
        .count();
    assert_eq!(staged, 2);
    assert_eq!(status(&env), "");
    env.ok(&["set", "a/b/target", "importance=0.7"]);
    assert_eq!(
        std::fs::read_dir(env.mem(".cache/staging"))
            .unwrap()
            .count(),
        0
    );
    // An older memtree's leftover.
    env.write("a/r/.memtree-AbC123.tmp", "half a file");
    let out = env.ok(&["check"]);
    assert!(
        out.contains(
            ".memory/a/r/.memtree-AbC123.tmp: warning: a temporary file left by an interrupted \
             memtree write"
        ),
        "{out}"
    );
    let v = env.json(&["index"]);
    assert_eq!(
        v["removed_leftovers"],
        serde_json::json!([".memory/a/r/.memtree-AbC123.tmp"])
    );
    assert!(!env.mem("a/r/.memtree-AbC123.tmp").exists());
    assert_eq!(status(&env), "");
}

fn fake_token() -> String {
    format!("ghp_{}", "R3n9xQ2mK8vL5tY1wZ7cB4nH6jD0fA2sE9uP")
}

/// See: issue 14, item 7. A token typed by hand into an entry is refused when a `set` on that
/// entry would commit the whole file (before, it went into history); `--allow-secret` lets it
/// through; a token git already has does not block writes.
#[test]
fn a_hand_typed_secret_is_not_committed_by_a_later_write() {
    let env = linked_repo();
    let head = env.git(&["rev-parse", "HEAD"]);
    let path = env.mem("a/b/target.md");
    let edited = format!(
        "{}token = {}\n",
        std::fs::read_to_string(&path).unwrap(),
        fake_token()
    );
    std::fs::write(&path, &edited).unwrap();
    let (out, err) = env.fails(&["set", "a/b/target", "importance=0.9", "--json"], 1);
    assert!(out.contains("\"kind\":\"secret\""), "{out}");
    assert!(
        err.contains("refusing to write .memory/a/b/target.md: line"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
    assert_eq!(env.git(&["rev-parse", "HEAD"]), head);
    env.ok(&["set", "a/b/target", "importance=0.9", "--allow-secret"]);
    // Committed now: later writes and moves of the entry are not blocked by it.
    env.ok(&["set", "a/b/target", "importance=0.8"]);
    env.ok(&["mv", "a/b/target", "a/c/target"]);
    assert_eq!(status(&env), "");
}

/// See: issue 14, item 14. `set ID title=...` always failed (`duplicate entry with key
/// "title"`). A byte-order mark, `--- ` with a trailing space and CRLF line endings are front
/// matter (before, `set` prepended a second block), CRLF files stay CRLF, and a file without
/// front matter is refused, not given an invented one.
#[test]
fn set_recognises_every_front_matter_form_and_changes_the_title() {
    let env = TestEnv::new();
    env.add("a/b/plain", "Hello", &[], "Body.");
    env.ok(&["set", "a/b/plain", "title=New title"]);
    assert!(
        env.read("a/b/plain.md")
            .starts_with("---\ntitle: New title\nkind: fact\n")
    );
    let cases: [(&str, &[u8], &[u8]); 3] = [
        (
            "bom",
            b"\xef\xbb\xbf---\ntitle: Bom\n---\nbody\n",
            b"\xef\xbb\xbf---\ntitle: Bom\nimportance: 0.3\nupdated: 2026-11-22T12:00:00Z\n---\nbody\n",
        ),
        (
            "space",
            b"--- \ntitle: Space\n---\nbody\n",
            b"--- \ntitle: Space\nimportance: 0.3\nupdated: 2026-11-22T12:00:00Z\n---\nbody\n",
        ),
        (
            "crlf",
            b"---\r\ntitle: Crlf\r\n---\r\nbody\r\n",
            b"---\r\ntitle: Crlf\r\nimportance: 0.3\r\nupdated: 2026-11-22T12:00:00Z\r\n---\r\nbody\r\n",
        ),
    ];
    for (name, before, after) in cases {
        std::fs::write(env.mem(&format!("a/b/{name}.md")), before).unwrap();
        env.ok(&["set", &format!("a/b/{name}"), "importance=0.3"]);
        let got = std::fs::read(env.mem(&format!("a/b/{name}.md"))).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(after),
            "{name}"
        );
    }
    for (name, text) in [("none", "just a body\n"), ("empty", "")] {
        env.write(&format!("a/b/{name}.md"), text);
        let (out, err) = env.fails(
            &["set", &format!("a/b/{name}"), "importance=0.3", "--json"],
            1,
        );
        assert!(out.contains("\"kind\":\"front_matter\""), "{out}");
        assert!(err.contains("has no front matter"), "{err}");
        assert_eq!(env.read(&format!("a/b/{name}.md")), text);
    }
}

/// See: issue 14, item 16. `set tags=[2024, v2]` dropped the number silently; numbers and
/// booleans are kept as written, and a nested list is an error.
#[test]
fn list_values_keep_numbers() {
    let env = TestEnv::new();
    env.add("a/b/c", "Tagged", &[], "Body.");
    env.ok(&["set", "a/b/c", "tags=[2024, v2, true]"]);
    assert!(
        env.read("a/b/c.md")
            .contains("tags: [\"2024\", v2, \"true\"]\n")
    );
    let (_, err) = env.fails(&["set", "a/b/c", "tags=[[1], v2]"], 1);
    assert!(
        err.contains("invalid value for `tags`: list items are text"),
        "{err}"
    );
}

/// See: issue 14, item 16. Superseding an entry a second time left the first successor's
/// `supersedes: [c]`, and `check` reported a supersession that is not mutual.
#[test]
fn superseding_again_keeps_supersession_mutual() {
    let env = TestEnv::repo(true);
    env.add("a/b/c", "Old belief", &[], "Old.");
    env.add("a/b/new0", "First successor", &[], "New 0.");
    env.add("a/b/new1", "Second successor", &[], "New 1.");
    env.ok(&["supersede", "a/b/c", "a/b/new0"]);
    let v = env.json(&["supersede", "a/b/c", "a/b/new1"]);
    assert_eq!(
        v["changed"],
        serde_json::json!([
            "a/b/new0: supersedes",
            "a/b/new0: updated",
            "a/b/c: superseded_by",
            "a/b/c: updated",
            "a/b/new1: supersedes",
            "a/b/new1: updated"
        ]),
        "{v}"
    );
    assert!(!env.read("a/b/new0.md").contains("supersedes"));
    assert!(env.read("a/b/new1.md").contains("supersedes: [a/b/c]"));
    env.ok(&["check"]);
    assert_eq!(status(&env), "");
}

/// See: issue 14, item 16. `check` skipped symlinked entries without a word.
#[test]
fn check_names_symlinked_entries() {
    let env = TestEnv::new();
    env.add("a/b/real", "Real", &[], "Body.");
    std::os::unix::fs::symlink(env.mem("a/b/real.md"), env.mem("a/b/alias.md")).unwrap();
    let out = env.ok(&["check"]);
    assert!(
        out.contains(".memory/a/b/alias.md: warning: a symbolic link: memtree never follows links"),
        "{out}"
    );
}

/// See: issue 14, item 16. Usage counts follow `mv`: an entry used often is still proposed
/// for promotion under its new id.
#[test]
fn usage_follows_a_move() {
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
    env.ok(&["set", "a/b/c", "maturity=draft"]);
    env.ok(&["mv", "a/b/c", "a/b/quokkas"]);
    let plan = env.json(&["consolidate"]);
    let actions = plan["actions"].to_string();
    assert!(
        actions.contains("a/b/quokkas") && actions.contains("maturity: draft -> validated"),
        "{plan}"
    );
}

/// The memtree binary's folder, for git to find the merge driver.
fn path_with_memtree() -> String {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_memtree"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    format!("{bin}:{}", std::env::var("PATH").unwrap_or_default())
}

/// A clone of `remote` in a new folder, with the merge driver registered.
fn clone(remote: &TestEnv) -> TestEnv {
    let env = TestEnv::bare();
    env.git(&["clone", "-q", &remote.root().display().to_string(), "."]);
    env.ok(&["hooks", "install"]);
    env
}

/// Appends `line` to the body of the entry file `rel` and replaces `old` by `new` in it.
fn edit(env: &TestEnv, rel: &str, old: &str, new: &str) {
    let text = env.read(rel);
    assert!(text.contains(old));
    env.write(rel, &text.replace(old, new));
}

/// See: issue 14, item 8. Two clones of one remote edit the same entry's aliases and the same
/// body line, push and pull, with a merge and with a rebase. The driver used to run
/// `memtree merge-driver ... || git merge-file ...`: memtree's exit 1 for a body conflict made
/// git merge-file merge memtree's output again, nesting markers and turning the alias list
/// memtree had merged into a front-matter conflict. Now the aliases merge, the markers are in
/// the body only, and the front matter parses.
#[test]
fn two_clones_merge_an_entry_field_by_field_with_markers_only_in_the_body() {
    let path = path_with_memtree();
    for rebase in [false, true] {
        let remote = TestEnv::bare();
        remote.git(&["init", "-q", "--bare", "-b", "main"]);
        let first = TestEnv::bare();
        first.git(&["clone", "-q", &remote.root().display().to_string(), "."]);
        first.ok(&["init"]);
        first.ok(&["hooks", "install"]);
        first.git(&["add", ".memory"]);
        first.git(&["commit", "-q", "-m", "merge driver attributes"]);
        first.add(
            "db/engine/choice",
            "We use SQLite",
            &["--alias", "db"],
            "Line one.\nLine two.\nLine three.",
        );
        first.git(&["push", "-q", "origin", "main"]);
        let (a, b) = (clone(&remote), clone(&remote));
        a.ok(&["set", "db/engine/choice", "aliases+=database"]);
        edit(&a, "db/engine/choice.md", "Line two.", "Line two, from A.");
        a.git(&["commit", "-q", "-am", "A"]);
        a.git(&["push", "-q", "origin", "main"]);
        b.ok(&["set", "db/engine/choice", "aliases+=engine"]);
        edit(&b, "db/engine/choice.md", "Line two.", "Line two, from B.");
        b.git(&["commit", "-q", "-am", "B"]);
        let mode = if rebase { "--rebase" } else { "--no-rebase" };
        let out = b.git_output(&path, &["pull", "-q", mode, "origin", "main"]);
        assert!(
            !out.status.success(),
            "{mode}: a body conflict stops the pull"
        );
        // In a rebase, "ours" is the upstream (A) and "theirs" the commit replayed (B).
        let (aliases, first, second) = if rebase {
            ("[db, database, engine]", "A", "B")
        } else {
            ("[db, engine, database]", "B", "A")
        };
        let expected = format!(
            "---\ntitle: We use SQLite\nkind: fact\naliases: {aliases}\ncreated: \
             2026-11-22T12:00:00Z\nupdated: 2026-11-22T12:00:00Z\n---\n\nLine one.\n<<<<<<< \
             ours\nLine two, from {first}.\n=======\nLine two, from {second}.\n>>>>>>> \
             theirs\nLine three.\n"
        );
        assert_eq!(b.read("db/engine/choice.md"), expected, "{mode}");
        let status = b.git(&["status", "--porcelain"]);
        assert_eq!(status, "UU .memory/db/engine/choice.md\n", "{mode}");
        // The front matter parses: get reads it; check names the markers in the body only.
        let v = b.json(&["get", "db/engine/choice"]);
        assert_eq!(v["front_matter"]["title"], "We use SQLite", "{v}");
        assert_eq!(v["problems"], serde_json::json!([]), "{v}");
        let (out, _) = b.fails(&["check"], 1);
        assert!(
            out.contains(".memory/db/engine/choice.md:10: error: unresolved merge conflict"),
            "{mode}: {out}"
        );
    }
}

/// A repository with hooks installed on top of `hooks` (name, bytes, mode) written first.
fn repo_with_hooks(hooks: &[(&str, &[u8], u32)]) -> TestEnv {
    let env = TestEnv::repo(true);
    for (name, bytes, mode) in hooks {
        let p = env.root().join(".git/hooks").join(name);
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(*mode)).unwrap();
    }
    env
}

fn mode_of(p: &std::path::Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::symlink_metadata(p).unwrap().permissions())
        & 0o777
}

fn commit_with_memtree(env: &TestEnv, message: &str) -> std::process::Output {
    std::fs::write(env.root().join(format!("{message}.txt")), message).unwrap();
    env.git(&["add", "-A", "."]);
    env.git_output(&path_with_memtree(), &["commit", "-q", "-m", message])
}

/// See: issue 14, item 9. A hook ending in `exit 0` (or `exec`) never reached the block memtree
/// appended, while `status` said "chained". memtree now puts its own script in place and runs
/// the hook that was there first.
#[test]
fn a_hook_that_exits_early_still_runs_memtree() {
    let mine = b"#!/bin/sh\necho ran >> \"$(git rev-parse --show-toplevel)/mine.log\"\nexit 0\n";
    let env = repo_with_hooks(&[("post-commit", mine, 0o755)]);
    let v = env.json(&["hooks", "install"]);
    assert_eq!(v["hooks"][0]["state"], "chained", "{v}");
    let out = commit_with_memtree(&env, "one");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(env.root().join("mine.log")).unwrap(),
        "ran\n"
    );
    let log = std::fs::read_to_string(env.mem(".cache/hook.log")).unwrap();
    assert!(log.contains(" ok: "), "{log}");
    env.ok(&["hooks", "uninstall"]);
    assert_eq!(
        std::fs::read(env.root().join(".git/hooks/post-commit")).unwrap(),
        mine
    );
}

/// See: issue 14, item 9. A symlinked hook was followed into a tracked script, which was
/// rewritten (and lost its trailing blank lines). Hooks that are not UTF-8, have no final
/// newline or end in CRLF come back byte for byte, with their mode; a disabled hook (644)
/// stays disabled instead of printing "Permission denied" at every checkout.
#[test]
fn hooks_that_were_there_come_back_byte_for_byte() {
    let latin1: &[u8] = b"#!/bin/sh\n# caf\xe9\necho latin1 >/dev/null";
    let crlf: &[u8] = b"#!/bin/sh\r\necho crlf >/dev/null\r\n";
    let disabled: &[u8] = b"#!/bin/sh\necho disabled\n";
    let env = repo_with_hooks(&[
        ("post-merge", latin1, 0o755),
        ("post-checkout", crlf, 0o700),
        ("post-rewrite", disabled, 0o644),
    ]);
    let script = b"#!/bin/sh\necho linked >> \"$(git rev-parse --show-toplevel)/linked.log\"\n\n\n";
    std::fs::create_dir_all(env.root().join("scripts")).unwrap();
    std::fs::write(env.root().join("scripts/post-commit.sh"), script).unwrap();
    std::fs::set_permissions(
        env.root().join("scripts/post-commit.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    env.git(&["add", "scripts"]);
    env.git(&["commit", "-q", "-m", "scripts"]);
    let hooks = env.root().join(".git/hooks");
    std::os::unix::fs::symlink("../../scripts/post-commit.sh", hooks.join("post-commit")).unwrap();
    let v = env.json(&["hooks", "install"]);
    let states: Vec<&str> = v["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["chained"; 4], "{v}");
    assert_eq!(
        std::fs::read(env.root().join("scripts/post-commit.sh")).unwrap(),
        script
    );
    // The linked script runs through the chain; the disabled hook does not run at all.
    let out = commit_with_memtree(&env, "two");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(env.root().join("linked.log")).unwrap(),
        "linked\n"
    );
    let out = env.git_output(
        &path_with_memtree(),
        &["commit", "-q", "--amend", "-m", "two"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("Permission denied") && !err.contains("disabled"),
        "{err}"
    );
    assert_eq!(env.git(&["status", "--porcelain", "scripts"]), "");
    env.ok(&["hooks", "uninstall"]);
    for (name, bytes, mode) in [
        ("post-merge", latin1, 0o755),
        ("post-checkout", crlf, 0o700),
        ("post-rewrite", disabled, 0o644),
    ] {
        assert_eq!(std::fs::read(hooks.join(name)).unwrap(), bytes, "{name}");
        assert_eq!(mode_of(&hooks.join(name)), mode, "{name}");
    }
    assert_eq!(
        std::fs::read_link(hooks.join("post-commit")).unwrap(),
        std::path::Path::new("../../scripts/post-commit.sh")
    );
    assert_eq!(
        std::fs::read(env.root().join("scripts/post-commit.sh")).unwrap(),
        script
    );
    assert!(!hooks.join("post-commit.pre-memtree").exists());
}

/// See: issue 14, item 9. A hook with memtree's start marker but no end marker, or a name
/// `NAME.pre-memtree` already taken beside someone's hook, is an error; nothing is deleted
/// and no hook is half-installed.
#[test]
fn a_damaged_hook_or_a_taken_name_is_an_error_never_a_deletion() {
    let damaged = b"#!/bin/sh\n# >>> memtree (managed by `memtree hooks install`; `memtree hooks uninstall` removes it) >>>\necho edited by hand\n";
    let env = repo_with_hooks(&[("post-merge", damaged, 0o755)]);
    let (_, err) = env.fails(&["hooks", "install"], 1);
    assert!(err.contains("start marker but not its end marker"), "{err}");
    let hooks = env.root().join(".git/hooks");
    assert_eq!(std::fs::read(hooks.join("post-merge")).unwrap(), damaged);
    assert!(!hooks.join("post-commit").exists(), "half-installed");
    let (_, err) = env.fails(&["hooks", "uninstall"], 1);
    assert!(err.contains("end marker"), "{err}");
    assert_eq!(std::fs::read(hooks.join("post-merge")).unwrap(), damaged);
    std::fs::write(hooks.join("post-merge"), b"#!/bin/sh\necho mine\n").unwrap();
    std::fs::write(
        hooks.join("post-merge.pre-memtree"),
        b"#!/bin/sh\necho older\n",
    )
    .unwrap();
    let (_, err) = env.fails(&["hooks", "install"], 1);
    assert!(err.contains("post-merge.pre-memtree"), "{err}");
    assert_eq!(
        std::fs::read(hooks.join("post-merge")).unwrap(),
        b"#!/bin/sh\necho mine\n"
    );
    assert_eq!(
        std::fs::read(hooks.join("post-merge.pre-memtree")).unwrap(),
        b"#!/bin/sh\necho older\n"
    );
}

/// An entry `db/m/migrations` linked from another, committed, and moved by hand with
/// `git mv` to a new last segment.
fn repo_with_a_hand_move(env: &TestEnv) {
    env.add(
        "db/m/migrations",
        "Migrations run at deploy",
        &[],
        "Run them first.",
    );
    env.add("notes/misc/ref", "Ref", &[], "See [[db/m/migrations]].");
    env.git(&[
        "mv",
        ".memory/db/m/migrations.md",
        ".memory/db/m/schema-migrations.md",
    ]);
}

/// See: issue 14, item 9. After `git mv migrations schema-migrations` the hook said "nothing
/// to consolidate" while `check` failed: link repair only matched an unchanged last segment.
/// It now follows git's rename detection.
#[test]
fn the_hook_repairs_links_to_an_entry_renamed_by_hand() {
    let env = TestEnv::repo(true);
    env.ok(&["hooks", "install"]);
    env.git(&["add", ".memory/.gitattributes"]);
    env.git(&["commit", "-q", "-m", "attributes"]);
    repo_with_a_hand_move(&env);
    let out = env.git_output(
        &path_with_memtree(),
        &["commit", "-q", "-m", "rename by hand"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        env.git(&["log", "-1", "--format=%s"]).trim(),
        "memtree: consolidate --hook: 1 change(s) (repair-link)"
    );
    assert!(
        env.read("notes/misc/ref.md")
            .contains("See [[db/m/schema-migrations]].")
    );
    env.ok(&["check"]);
    assert_eq!(status(&env), "");
}

/// See: issue 14, item 9. Checking out a tag detaches HEAD; the hook repaired a link and
/// committed, moving HEAD off the tag. It now writes nothing on a detached HEAD (nor during a
/// rebase, merge, cherry-pick, revert or bisect) and logs why.
#[test]
fn the_hook_never_writes_on_a_detached_head() {
    let env = TestEnv::repo(true);
    repo_with_a_hand_move(&env);
    env.git(&["commit", "-q", "-m", "rename by hand, no hooks yet"]);
    env.git(&["tag", "v1"]);
    env.git(&["checkout", "-q", "-b", "work"]);
    env.ok(&["hooks", "install"]);
    let tagged = env.git(&["rev-parse", "v1"]);
    let out = env.git_output(&path_with_memtree(), &["checkout", "-q", "v1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.git(&["rev-parse", "HEAD"]), tagged);
    assert!(
        env.read("notes/misc/ref.md")
            .contains("[[db/m/migrations]]")
    );
    let log = std::fs::read_to_string(env.mem(".cache/hook.log")).unwrap();
    assert!(
        log.contains("skipped: the hook writes nothing while HEAD is detached"),
        "{log}"
    );
}

/// See: issue 14, item 10. `init` inside a repository left its scaffold uncommitted, so a
/// teammate's clone was not clean; it is one commit now. `init .memory` made `.memory/.memory`.
#[test]
fn init_commits_its_scaffold_and_takes_the_memory_folder_itself() {
    let env = TestEnv::bare();
    env.git(&["init", "-q", "-b", "main"]);
    let v = env.json(&["init"]);
    assert_eq!(
        v["created"],
        serde_json::json!([
            ".memory/memtree.yaml",
            ".memory/.gitignore",
            ".memory/README.md"
        ])
    );
    assert_eq!(v["commit"]["message"], "memtree: init");
    assert_eq!(status(&env), "");
    assert_eq!(
        env.git(&["ls-tree", "-r", "--name-only", "HEAD"]),
        ".memory/.gitignore\n.memory/README.md\n.memory/memtree.yaml\n"
    );
    let teammate = TestEnv::bare();
    teammate.git(&["clone", "-q", &env.root().display().to_string(), "."]);
    teammate.ok(&["check"]);
    assert_eq!(status(&teammate), "");
    // A second init changes nothing and commits nothing.
    let head = env.git(&["rev-parse", "HEAD"]);
    env.ok(&["init"]);
    assert_eq!(env.git(&["rev-parse", "HEAD"]), head);
    // `init .memory` from a fresh project.
    let other = TestEnv::bare();
    other.ok(&["init", ".memory"]);
    assert!(other.mem("memtree.yaml").is_file());
    assert!(!other.mem(".memory").exists());
}

/// Issue 14, structure: a rebuild is made in `.cache/index.building` and swapped in whole, so
/// a reader never opens an empty index; a folder left by a rebuild that was killed is
/// replaced, and none is left behind.
#[test]
fn a_rebuild_is_swapped_in_whole() {
    let env = crate::env::sample();
    let hit = env.hits(&["fts index"]);
    std::fs::create_dir_all(env.mem(".cache/index.building")).unwrap();
    std::fs::write(env.mem(".cache/index.building/meta.json"), "half a rebuild").unwrap();
    let v = env.json(&["index", "--full"]);
    assert_eq!(v["rebuilt"], true, "{v}");
    assert!(!env.mem(".cache/index.building").exists());
    assert!(env.mem(".cache/index/meta.json").is_file());
    assert_eq!(env.hits(&["fts index"]), hit);
}
