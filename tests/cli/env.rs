//! `TestEnv`: a temporary project with a memory tree, and a hermetic `memtree` command.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

pub const NOW: &str = "2026-11-22T12:00:00Z";

/// A hermetic git identity and configuration for tests (as jj's test environment does).
pub const GIT_ENV: &[(&str, &str)] = &[
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_CONFIG_SYSTEM", "/dev/null"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_AUTHOR_NAME", "Ann Author"),
    ("GIT_AUTHOR_EMAIL", "ann@example.com"),
    ("GIT_COMMITTER_NAME", "Ann Author"),
    ("GIT_COMMITTER_EMAIL", "ann@example.com"),
];

pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    /// A project with `memtree init` already run.
    pub fn new() -> TestEnv {
        let env = TestEnv::bare();
        env.ok(&["init"]);
        env
    }

    /// An empty project folder.
    pub fn bare() -> TestEnv {
        TestEnv {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn mem(&self, rel: &str) -> PathBuf {
        self.root().join(".memory").join(rel)
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("memtree");
        cmd.current_dir(self.root())
            .env_clear()
            .env("HOME", self.root())
            .env("MEMTREE_NOW", NOW)
            .env("NO_COLOR", "1")
            .envs(GIT_ENV.iter().copied());
        cmd
    }

    /// Runs `git ARGS` in the project (hermetic: no global or system config), asserts success,
    /// returns stdout.
    pub fn git(&self, args: &[&str]) -> String {
        let out = self.git_output(&std::env::var("PATH").unwrap_or_default(), args);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `git ARGS` in the project with `PATH` (hermetic, as [`TestEnv::git`]; hooks it
    /// runs see `MEMTREE_NOW`), whatever its outcome.
    pub fn git_output(&self, path: &str, args: &[&str]) -> std::process::Output {
        std::process::Command::new("git")
            .current_dir(self.root())
            .env_clear()
            .env("HOME", self.root())
            .env("PATH", path)
            .env("MEMTREE_NOW", NOW)
            .envs(GIT_ENV.iter().copied())
            .args(args)
            .output()
            .expect("git is installed")
    }

    /// A project that is a fresh git repository (branch `main`), with `memtree init` run:
    /// its scaffold committed by memtree when `scaffold` is set, else left uncommitted (no
    /// commit yet).
    pub fn repo(scaffold: bool) -> TestEnv {
        let env = TestEnv::bare();
        env.git(&["init", "-q", "-b", "main"]);
        if scaffold {
            env.ok(&["init"]);
        } else {
            env.ok(&["init", "--no-commit"]);
        }
        env
    }

    /// Runs memtree with `args`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        run_ok(self.cmd(), args)
    }

    /// Runs memtree with `args`, asserts exit code `code`, returns (stdout, stderr).
    pub fn fails(&self, args: &[&str], code: i32) -> (String, String) {
        run_fails(self.cmd(), args, code)
    }

    /// Runs memtree `args` as an agent's hook does (`stdin` its JSON): asserts exit 0 (a hook
    /// never fails the agent) and returns (stdout, stderr).
    pub fn hook(&self, args: &[&str], stdin: &str) -> (String, String) {
        let out = self.cmd().args(args).write_stdin(stdin).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "memtree {args:?}");
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// Runs `cmd` (a memtree command with `--json`, extra variables set), asserts success and
    /// parses stdout.
    pub fn json_of(mut cmd: Command) -> Value {
        let out = cmd.write_stdin("").output().unwrap();
        assert_ok(&out);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Runs memtree with `--json` and parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// Ids of the hits of `query ARGS --json`, in order.
    pub fn hits(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["query"];
        all.extend_from_slice(args);
        hit_ids(&self.json(&all))
    }

    /// Turns the semantic tier off, for tests of what the lexical index holds (a related
    /// word must not stand in for a word that is gone).
    pub fn lexical_only(&self) {
        let path = self.mem("memtree.yaml");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str("\nsemantic:\n  enabled: false\n");
        std::fs::write(path, text).unwrap();
    }

    /// The first hit of `query TEXT --json`.
    pub fn top(&self, args: &[&str]) -> Value {
        let mut all = vec!["query"];
        all.extend_from_slice(args);
        let v = self.json(&all);
        v["hits"][0].clone()
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.mem(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.mem(rel)).unwrap()
    }

    /// Adds an entry through the CLI.
    pub fn add(&self, id: &str, title: &str, extra: &[&str], body: &str) {
        let mut args = vec!["add", id, "--title", title, "--body", body];
        args.extend_from_slice(extra);
        self.ok(&args);
    }
}

/// The ids of the hits of a `memtree.query/v1` document, in order.
pub fn hit_ids(v: &Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

/// The string fields `a` and `b` of each object in the JSON array `rows`, in order (panics
/// when `rows` is not an array or a field is not a string: the test then fails there).
pub fn field_pairs<'v>(rows: &'v Value, a: &str, b: &str) -> Vec<(&'v str, &'v str)> {
    rows.as_array()
        .unwrap_or_else(|| panic!("not an array: {rows}"))
        .iter()
        .map(|r| (r[a].as_str().unwrap(), r[b].as_str().unwrap()))
        .collect()
}

/// Runs `cmd` (a prepared memtree command) with `args` and empty stdin, asserts success,
/// returns stdout.
pub fn run_ok(mut cmd: Command, args: &[&str]) -> String {
    let out = cmd.args(args).write_stdin("").output().unwrap();
    assert!(
        out.status.success(),
        "memtree {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `cmd` with `args` and empty stdin, asserts exit code `code`, returns (stdout, stderr).
pub fn run_fails(mut cmd: Command, args: &[&str], code: i32) -> (String, String) {
    let out = cmd.args(args).write_stdin("").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "memtree {args:?}: stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

pub fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The fields `keys` of each object in the JSON array `v`, as strings (a missing or non-string
/// field is empty): compare with `[["add", "a/b/c"], ...]`.
pub fn columns(v: &Value, keys: &[&str]) -> Vec<Vec<String>> {
    v.as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    keys.iter()
                        .map(|k| r[*k].as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A small coding-knowledge tree used by several tests.
pub fn sample() -> TestEnv {
    let env = TestEnv::new();
    env.add(
        "architecture/storage/search-index",
        "Search index is derived from the files",
        &[
            "--kind",
            "decision",
            "--alias",
            "search index",
            "--alias",
            "fts index",
            "--scope",
            "src/index/**",
            "--summary",
            "The tantivy index under .cache is rebuilt from entries and never edited.",
        ],
        "The index is a cache. Rebuilding it is always safe.",
    );
    env.add(
        "architecture/storage/segment-merges",
        "Segment merges happen in background threads",
        &["--kind", "fact"],
        "Tantivy merges segments after a commit; call wait_merging_threads before exit.",
    );
    env.add(
        "conventions/rust/error-handling",
        "Errors are typed with thiserror in the library",
        &[
            "--kind",
            "convention",
            "--alias",
            "error handling",
            "--tag",
            "rust",
        ],
        "The library returns memtree::Error; the CLI renders it once with a hint.",
    );
    env.add(
        "pitfalls/ci/flaky-timing-tests",
        "Timed tests flake on a loaded two-core machine",
        &["--kind", "pitfall", "--importance", "0.8"],
        "Never assert on wall time in cargo test; measure with hyperfine or criterion instead.",
    );
    env
}

/// Runs memtree as an unprivileged user (so that file permissions apply even when the tests
/// run as root), in a tree made readable and writable for that user.
pub fn run_unprivileged(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let bin = env!("CARGO_BIN_EXE_memtree");
    let mut cmd = if is_root() {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
        c
    } else {
        std::process::Command::new(bin)
    };
    cmd.current_dir(env.root())
        .env_clear()
        .env("MEMTREE_NOW", crate::env::NOW)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("setpriv (util-linux) runs memtree as another user")
}

fn is_root() -> bool {
    // The owner of a file we just created is our effective user.
    let probe = tempfile::NamedTempFile::new().unwrap();
    std::os::unix::fs::MetadataExt::uid(&probe.as_file().metadata().unwrap()) == 0
}

pub fn chmod_tree(dir: &Path, dirs: u32, files: u32) {
    for entry in walk(dir) {
        let mode = if entry.is_dir() { dirs } else { files };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

pub fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// A current-thread tokio runtime, for the tests that drive `memtree mcp` with rmcp's client.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// rmcp's own client, connected to `memtree mcp` started in `env`'s project (hermetic).
pub async fn mcp_client(
    env: &TestEnv,
) -> rmcp::service::RunningService<rmcp::service::RoleClient, ()> {
    mcp_client_at(env.root(), env.root()).await
}

/// rmcp's own client, connected to `memtree mcp` started in `dir` with `home` as HOME.
pub async fn mcp_client_at(
    dir: &Path,
    home: &Path,
) -> rmcp::service::RunningService<rmcp::service::RoleClient, ()> {
    use rmcp::ServiceExt as _;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_memtree"));
    cmd.current_dir(dir)
        .env_clear()
        .env("HOME", home)
        .env("MEMTREE_NOW", NOW)
        .envs(GIT_ENV.iter().copied())
        .arg("mcp");
    ().serve(rmcp::transport::TokioChildProcess::new(cmd).unwrap())
        .await
        .unwrap()
}

/// Calls `tool` with `args` through `client`: whether it is a tool error, and its structured
/// content.
pub async fn mcp_call(
    client: &rmcp::service::RunningService<rmcp::service::RoleClient, ()>,
    tool: &'static str,
    args: Value,
) -> (bool, Value) {
    let params = rmcp::model::CallToolRequestParams::new(tool)
        .with_arguments(args.as_object().unwrap().clone());
    let r = client.call_tool(params).await.unwrap();
    (
        r.is_error == Some(true),
        r.structured_content.unwrap_or(Value::Null),
    )
}

/// Every file below `.memory` except the cache, with its bytes.
pub fn memory_files(env: &TestEnv) -> Vec<(String, Vec<u8>)> {
    let root = env.mem("");
    let mut out: Vec<(String, Vec<u8>)> = walk(&root)
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .filter(|rel| !rel.starts_with(".cache/"))
        .map(|rel| {
            let bytes = std::fs::read(root.join(&rel)).unwrap();
            (rel, bytes)
        })
        .collect();
    out.sort();
    out
}
