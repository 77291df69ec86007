//! Issue 23: layers. A developer's own memory (`user`), a team's shared memory (`platform`,
//! a bare remote and its clones) and the project's, in one query; overrides, cross-layer links,
//! read-only refusal, writes that commit in their own layer, `layers sync` through the merge
//! driver, and trust for a project that names an outside layer. Real git, hermetic; every
//! developer has a home folder of their own.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::env::{
    GIT_ENV, NOW, TestEnv, field_pairs, hit_ids, mcp_call, mcp_client_at, run_fails, run_ok,
    runtime,
};

/// A developer: a home folder of their own (user configuration, user layer, clones of git
/// layers).
struct Dev {
    home: tempfile::TempDir,
}

impl Dev {
    fn new() -> Dev {
        Dev {
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// `memtree` in `dir` as this developer: their HOME, git and the memtree binary on PATH
    /// (git runs the merge driver), a hermetic git configuration.
    fn cmd(&self, dir: &Path) -> assert_cmd::Command {
        let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("memtree");
        cmd.current_dir(dir)
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", path_with_memtree())
            .env("MEMTREE_NOW", NOW)
            .env("NO_COLOR", "1")
            .envs(GIT_ENV.iter().copied());
        cmd
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        run_ok(self.cmd(dir), args)
    }

    fn json(&self, dir: &Path, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(dir, &all)).unwrap()
    }

    /// `memtree ARGS --json` that must exit with `code`; its JSON document.
    fn fails(&self, dir: &Path, args: &[&str], code: i32) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&run_fails(self.cmd(dir), &all, code).0).unwrap()
    }

    fn config(&self) -> PathBuf {
        self.home.path().join(".config/memtree/config.yaml")
    }

    fn user_repo(&self) -> PathBuf {
        self.home.path().join(".local/share/memtree/user")
    }

    fn clone_of(&self, name: &str) -> PathBuf {
        self.home.path().join(".cache/memtree/layers").join(name)
    }
}

fn path_with_memtree() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_memtree")).parent().unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `git -C dir ARGS`, hermetic, asserting success; stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_clear()
        .env("PATH", path_with_memtree())
        .env("HOME", dir)
        .env("MEMTREE_NOW", NOW)
        .envs(GIT_ENV.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The team's memory: a repository with two conventions, and a bare remote cloned from it.
struct Team {
    work: TestEnv,
    remote: tempfile::TempDir,
}

impl Team {
    fn new() -> Team {
        let work = TestEnv::repo(true);
        work.add(
            "conventions/api/errors",
            "API errors",
            &["--kind", "convention"],
            "Errors are returned as RFC 7807 problem documents with a type URI.",
        );
        work.add(
            "conventions/logging/format",
            "Structured logging",
            &["--kind", "convention"],
            "Log JSON lines; never log tokens.",
        );
        let remote = tempfile::tempdir().unwrap();
        git(
            work.root(),
            &[
                "clone",
                "-q",
                "--bare",
                ".",
                &remote.path().display().to_string(),
            ],
        );
        Team { work, remote }
    }

    fn url(&self) -> String {
        self.remote.path().display().to_string()
    }

    /// A teammate's working clone of the remote.
    fn teammate(&self) -> TestEnv {
        let env = TestEnv::bare();
        git(env.root(), &["clone", "-q", &self.url(), "."]);
        env
    }
}

/// The developer's preference in their user layer.
fn add_pnpm(dev: &Dev, project: &Path, body: &str) {
    dev.ok(
        project,
        &[
            "add",
            "user:prefs/tools/pnpm",
            "--title",
            "I use pnpm",
            "--kind",
            "preference",
            "--body",
            body,
        ],
    );
}

/// A project whose developer has the team's layer (read-only, cloned) and a user layer.
fn world() -> (Team, Dev, TestEnv) {
    let team = Team::new();
    let dev = Dev::new();
    let project = TestEnv::repo(true);
    dev.ok(
        project.root(),
        &[
            "add",
            "decisions/storage/database",
            "--title",
            "Database choice",
            "--kind",
            "decision",
            "--body",
            "We use Postgres 16; its errors follow [[platform:conventions/api/errors]].",
        ],
    );
    dev.ok(
        project.root(),
        &["layers", "add", "platform", &team.url(), "--read-only"],
    );
    let synced = dev.json(project.root(), &["layers", "sync", "platform"]);
    assert_eq!(synced["layers"][0]["action"], "cloned", "{synced}");
    (team, dev, project)
}

/// Three layers answer one query: each hit names its layer and ids outside the project are
/// qualified; a write to the user layer commits there and nowhere else; `--layer` narrows; a
/// cross-layer link is followed by the graph tier; `get` takes a qualified id.
#[test]
fn three_layers_answer_one_query_and_name_their_layers() {
    let (team, dev, project) = world();
    let p = project.root();
    assert_eq!(
        std::fs::read_to_string(dev.config()).unwrap(),
        format!(
            "layers:\n  platform: {{\"git\":\"{}\",\"access\":\"read-only\"}}\n",
            team.url()
        )
    );
    let project_log = git(p, &["log", "--format=%s"]);

    let added = dev.json(
        p,
        &[
            "add",
            "prefs/tools/pnpm",
            "--layer",
            "user",
            "--title",
            "I use pnpm",
            "--kind",
            "preference",
            "--body",
            "Use pnpm, never npm, in every project.",
        ],
    );
    let user_file = dev.user_repo().join(".memory/prefs/tools/pnpm.md");
    assert_eq!(added["id"], "user:prefs/tools/pnpm");
    assert_eq!(added["file"], user_file.display().to_string());
    assert_eq!(
        std::fs::read_to_string(&user_file).unwrap(),
        "---\ntitle: I use pnpm\nkind: preference\ncreated: 2026-11-22T12:00:00Z\nupdated: 2026-11-22T12:00:00Z\n---\n\nUse pnpm, never npm, in every project.\n"
    );
    assert_eq!(
        git(&dev.user_repo(), &["log", "--format=%s"]),
        "memtree: add prefs/tools/pnpm\nmemtree: init\n"
    );
    assert_eq!(git(p, &["log", "--format=%s"]), project_log);
    assert_eq!(git(p, &["status", "--porcelain"]), "");

    let v = dev.json(p, &["query", "how are API errors returned"]);
    assert_eq!(hit_ids(&v)[0], "platform:conventions/api/errors", "{v}");
    let first = &v["hits"][0];
    assert_eq!(first["layer"], "platform");
    assert_eq!(
        first["file"],
        dev.clone_of("platform")
            .join(".memory/conventions/api/errors.md")
            .display()
            .to_string()
    );
    let layers: Vec<(&str, bool)> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap(),
                l["searched"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        layers,
        [("project", true), ("platform", true), ("user", true)]
    );

    let v = dev.json(p, &["query", "pnpm"]);
    assert_eq!(hit_ids(&v), ["user:prefs/tools/pnpm"]);
    assert_eq!(v["hits"][0]["layer"], "user");

    // The project's entry links into the shared layer: the graph tier follows it.
    let v = dev.json(p, &["query", "database choice"]);
    assert_eq!(
        hit_ids(&v)[..2],
        [
            "decisions/storage/database",
            "platform:conventions/api/errors"
        ],
        "{v}"
    );
    assert_eq!(v["hits"][0]["layer"], "project");
    assert_eq!(
        v["hits"][1]["matched"],
        json!(["edge:see-also from project:decisions/storage/database"])
    );

    // --layer narrows; an unknown layer is an error that lists the layers.
    let narrowed = hit_ids(&dev.json(p, &["query", "pnpm", "--layer", "project"]));
    assert!(narrowed.iter().all(|id| !id.contains(':')), "{narrowed:?}");
    let err = dev.fails(p, &["query", "pnpm", "--layer", "payments"], 1);
    assert_eq!(err["kind"], "unknown_layer");
    assert_eq!(
        err["error"],
        "no layer `payments`; the layers are project, platform, user"
    );

    // One session bundle and one context bundle over every layer, each item naming its layer.
    dev.ok(p, &["set", "user:prefs/tools/pnpm", "maturity=core"]);
    let prime = dev.json(p, &["prime"]);
    let pinned = field_pairs(&prime["pinned"], "id", "layer");
    assert_eq!(pinned, [("user:prefs/tools/pnpm", "user")]);
    assert!(
        prime["markdown"]
            .as_str()
            .unwrap()
            .contains("### I use pnpm (`user:prefs/tools/pnpm`)\n"),
        "{prime}"
    );
    let bundle = dev.json(p, &["query", "--format", "context", "API errors"]);
    assert_eq!(
        bundle["relevant"][0]["id"], "platform:conventions/api/errors",
        "{bundle}"
    );
    assert_eq!(bundle["relevant"][0]["layer"], "platform");
    assert_eq!(bundle["pinned"][0]["id"], "user:prefs/tools/pnpm");

    // A relation to another layer's entry keeps its qualified id; a missing one is named as
    // typed, with suggestions from that layer.
    dev.ok(
        p,
        &[
            "link",
            "decisions/storage/database",
            "platform:conventions/logging/format",
            "--type",
            "depends-on",
        ],
    );
    assert_eq!(
        project.read("decisions/storage/database.md"),
        "---\ntitle: Database choice\nkind: decision\nrelations:\n  - {type: depends-on, to: platform:conventions/logging/format}\ncreated: 2026-11-22T12:00:00Z\nupdated: 2026-11-22T12:00:00Z\n---\n\nWe use Postgres 16; its errors follow [[platform:conventions/api/errors]].\n"
    );
    let err = dev.fails(p, &["get", "platform:conventions/api/error"], 1);
    assert_eq!(
        err["error"],
        "no entry `platform:conventions/api/error`; did you mean platform:conventions/api/errors, platform:conventions/logging/format?"
    );

    let got = dev.json(p, &["get", "platform:conventions/api/errors"]);
    assert_eq!(got["id"], "platform:conventions/api/errors");
    assert_eq!(
        got["body"].as_str().unwrap().trim(),
        "Errors are returned as RFC 7807 problem documents with a type URI."
    );
}

/// A read-only layer refuses every write with kind `read_only`, naming the layer, and its
/// clone is left exactly as it was.
#[test]
fn a_read_only_layer_refuses_writes() {
    let (_team, dev, project) = world();
    let p = project.root();
    let clone = dev.clone_of("platform");
    let head = git(&clone, &["rev-parse", "HEAD"]);
    let before = std::fs::read_to_string(clone.join(".memory/conventions/api/errors.md")).unwrap();
    for args in [
        vec![
            "add",
            "conventions/api/paging",
            "--layer",
            "platform",
            "--title",
            "Paging",
        ],
        vec!["set", "platform:conventions/api/errors", "importance=0.9"],
        vec![
            "edit",
            "platform:conventions/api/errors",
            "--append",
            "More.",
        ],
        vec!["rm", "platform:conventions/api/errors"],
    ] {
        let err = dev.fails(p, &args, 1);
        assert_eq!(err["kind"], "read_only", "{args:?}");
        assert_eq!(
            err["error"],
            "layer `platform` is read-only: memtree does not write to it"
        );
    }
    assert_eq!(git(&clone, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&clone, &["status", "--porcelain"]), "");
    assert_eq!(
        std::fs::read_to_string(clone.join(".memory/conventions/api/errors.md")).unwrap(),
        before
    );
}

/// A project entry that supersedes a shared one replaces it in that project's answers (with
/// `replaces:` in the reason); another project with the same layer still gets the shared
/// entry, and the shared layer is not touched.
#[test]
fn a_project_override_hides_the_shared_entry_only_in_that_project() {
    let (_team, dev, project) = world();
    let other = TestEnv::repo(true);
    let clone = dev.clone_of("platform");
    let head = git(&clone, &["rev-parse", "HEAD"]);
    let p = project.root();
    let r = dev.json(
        p,
        &[
            "supersede",
            "platform:conventions/api/errors",
            "conventions/api/errors",
            "--title",
            "API errors here",
            "--body",
            "This service returns errors as plain JSON: {\"error\": \"text\"}.",
        ],
    );
    assert_eq!(r["old"], "platform:conventions/api/errors");
    assert_eq!(r["new"], "conventions/api/errors");
    assert_eq!(
        project.read("conventions/api/errors.md"),
        "---\ntitle: API errors here\nkind: convention\nsupersedes: [platform:conventions/api/errors]\ncreated: 2026-11-22T12:00:00Z\nupdated: 2026-11-22T12:00:00Z\n---\n\nThis service returns errors as plain JSON: {\"error\": \"text\"}.\n"
    );
    assert_eq!(git(&clone, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&clone, &["status", "--porcelain"]), "");

    let v = dev.json(p, &["query", "how are API errors returned"]);
    assert_eq!(hit_ids(&v)[0], "conventions/api/errors", "{v}");
    assert!(
        !hit_ids(&v).contains(&"platform:conventions/api/errors".to_string()),
        "{v}"
    );
    let matched = v["hits"][0]["matched"].as_array().unwrap();
    assert!(
        matched.contains(&json!(
            "replaces:platform:conventions/api/errors (overridden)"
        )),
        "{v}"
    );
    // --all shows both, as for supersession inside one tree.
    let all = hit_ids(&dev.json(p, &["query", "how are API errors returned", "--all"]));
    assert!(
        all.contains(&"platform:conventions/api/errors".to_string()),
        "{all:?}"
    );

    let v = dev.json(other.root(), &["query", "how are API errors returned"]);
    assert_eq!(hit_ids(&v)[0], "platform:conventions/api/errors", "{v}");

    // Only the project overrides: the user layer's entry cannot supersede a shared one.
    add_pnpm(&dev, p, "Use pnpm.");
    let err = dev.fails(
        p,
        &[
            "supersede",
            "platform:conventions/api/errors",
            "user:prefs/tools/pnpm",
        ],
        1,
    );
    assert_eq!(
        (err["kind"].as_str(), err["error"].as_str()),
        (
            Some("refused"),
            Some(
                "only the project overrides another layer's entries; layer `user` cannot supersede `platform:conventions/api/errors`"
            )
        )
    );

    // `check` follows the qualified ids: the override and the link resolve, a missing entry
    // and an unconfigured layer are errors.
    let c = dev.json(p, &["check"]);
    assert_eq!(c["errors"], 0, "{c}");
    project.write(
        "decisions/storage/cache.md",
        "---\ntitle: Cache\n---\n\nSee [[platform:conventions/api/paging]] and [[payments:a/b/c]].\n",
    );
    let out = dev.cmd(p).args(["check", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    let messages: Vec<&str> = c["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "body link to `platform:conventions/api/paging`: layer `platform` has no entry `conventions/api/paging`",
            "body link to `payments:a/b/c`: layer `payments` is not configured (`memtree layers add` declares it)",
        ]
    );
}

/// `layers sync` brings a teammate's entry in, merges a concurrent edit of one entry through
/// memtree's merge driver (aliases united), pushes the developer's own commits of a read-write
/// layer, and leaves a real conflict as git leaves it, reported.
#[test]
fn layers_sync_pulls_merges_through_the_driver_and_pushes() {
    let team = Team::new();
    let dev = Dev::new();
    let project = TestEnv::repo(true);
    let p = project.root();
    dev.ok(p, &["layers", "add", "platform", &team.url()]);
    // Every layer that can be synced: the user layer does not exist yet, so it is not listed.
    let s = dev.json(p, &["layers", "sync"]);
    let rows = field_pairs(&s["layers"], "name", "action");
    assert_eq!(rows, [("platform", "cloned")]);
    let clone = dev.clone_of("platform");
    assert_eq!(
        std::fs::read_to_string(clone.join(".git/info/attributes")).unwrap(),
        "*.md merge=memtree\n"
    );

    // A teammate adds an entry and edits the aliases of another; the developer, meanwhile,
    // adds an alias to the same entry through memtree (a commit in the clone).
    let mate = team.teammate();
    let mate_dev = Dev::new();
    mate_dev.ok(
        mate.root(),
        &[
            "add",
            "conventions/api/versioning",
            "--title",
            "API versioning",
            "--body",
            "Versions go in the URL path: /v2/orders.",
        ],
    );
    mate_dev.ok(
        mate.root(),
        &["set", "conventions/api/errors", "aliases+=problem json"],
    );
    git(mate.root(), &["push", "-q"]);
    dev.ok(
        p,
        &[
            "set",
            "platform:conventions/api/errors",
            "aliases+=error format",
        ],
    );

    let s = dev.json(p, &["layers", "sync", "platform"]);
    // In: the teammate's two commits and the merge; out: the developer's commit and the merge.
    let row = &s["layers"][0];
    assert_eq!(
        (
            row["action"].as_str(),
            row["pulled"].as_u64(),
            row["pushed"].as_u64()
        ),
        (Some("pulled"), Some(3), Some(2)),
        "{s}"
    );
    let text = std::fs::read_to_string(clone.join(".memory/conventions/api/errors.md")).unwrap();
    assert_eq!(
        text,
        "---\ntitle: API errors\nkind: convention\naliases: [error format, problem json]\ncreated: 2026-11-22T12:00:00Z\nupdated: 2026-11-22T12:00:00Z\n---\n\nErrors are returned as RFC 7807 problem documents with a type URI.\n"
    );
    assert_eq!(git(&clone, &["status", "--porcelain"]), "");
    assert_eq!(
        hit_ids(&dev.json(p, &["query", "how are API versions named"]))[0],
        "platform:conventions/api/versioning"
    );
    // The teammate gets the developer's alias and the merge.
    git(mate.root(), &["pull", "-q", "--no-rebase"]);
    assert_eq!(
        std::fs::read_to_string(mate.mem("conventions/api/errors.md")).unwrap(),
        text
    );
    // An unchanged layer: nothing to do.
    let s = dev.json(p, &["layers", "sync", "platform"]);
    assert_eq!(s["layers"][0]["action"], "up-to-date", "{s}");

    // Both change the same body line: a real conflict, left as git leaves it.
    mate_dev.ok(
        mate.root(),
        &[
            "edit",
            "conventions/logging/format",
            "--body",
            "Log JSON lines with a trace id.",
        ],
    );
    git(mate.root(), &["push", "-q"]);
    dev.ok(
        p,
        &[
            "edit",
            "platform:conventions/logging/format",
            "--body",
            "Log logfmt lines.",
        ],
    );
    let s = dev.fails(p, &["layers", "sync", "platform"], 1);
    assert_eq!(s["layers"][0]["action"], "conflict", "{s}");
    assert!(
        s["layers"][0]["detail"]
            .as_str()
            .unwrap()
            .contains(".memory/conventions/logging/format.md"),
        "{s}"
    );
    let text =
        std::fs::read_to_string(clone.join(".memory/conventions/logging/format.md")).unwrap();
    assert!(
        text.contains("<<<<<<<") && text.contains(">>>>>>>"),
        "{text}"
    );
}

/// A project's `memtree.yaml` that names a layer outside the project is ignored, with the
/// untrusted reason, until `memtree trust`.
#[test]
fn an_untrusted_project_layer_is_ignored_until_trusted() {
    let team = Team::new();
    let dev = Dev::new();
    let project = TestEnv::repo(true);
    let p = project.root();
    let config = project.read("memtree.yaml");
    project.write(
        "memtree.yaml",
        &format!(
            "{config}layers:\n  platform: {{path: \"{}\", access: read-only}}\n",
            team.work.root().display()
        ),
    );
    let v = dev.json(p, &["query", "how are API errors returned"]);
    assert_eq!(hit_ids(&v), Vec::<String>::new());
    assert_eq!(
        v["layers"],
        json!([
            {"name": "project", "searched": true, "hits": 0},
            {"name": "platform", "searched": false, "hits": 0, "reason": "untrusted config: run memtree trust"}
        ])
    );
    let list = dev.json(p, &["layers", "list"]);
    assert_eq!(list["layers"][1]["name"], "platform");
    assert_eq!(
        list["layers"][1]["trust"],
        "untrusted config: run memtree trust"
    );

    dev.ok(p, &["trust"]);
    let v = dev.json(p, &["query", "how are API errors returned"]);
    assert_eq!(hit_ids(&v)[0], "platform:conventions/api/errors", "{v}");
    let list = dev.json(p, &["layers", "list"]);
    assert_eq!(
        (
            list["layers"][1]["trust"].as_str(),
            list["layers"][1]["entries"].as_u64()
        ),
        (Some("trusted"), Some(2))
    );
}

/// `layers remove` takes the declaration out of the user's file (the rest byte for byte) and
/// leaves the clone's files.
#[test]
fn layers_remove_keeps_the_rest_of_the_users_file() {
    let (_team, dev, project) = world();
    let before = std::fs::read_to_string(dev.config()).unwrap();
    std::fs::write(dev.config(), format!("# mine\n{before}# end\n")).unwrap();
    // A bad name or weight is refused before anything is read or written.
    for (args, error) in [
        (
            vec!["layers", "add", "Bad Name", "/nowhere"],
            "`Bad Name` cannot name a layer: 1-32 characters of a-z, 0-9 and -, starting with a letter",
        ),
        (
            vec![
                "layers",
                "add",
                "heavy",
                project.root().to_str().unwrap(),
                "--weight",
                "50",
            ],
            "layers.heavy.weight must be between 0 and 10, found 50",
        ),
    ] {
        let err = dev.fails(project.root(), &args, 1);
        assert_eq!(err["error"], error, "{args:?}");
    }
    dev.ok(project.root(), &["layers", "remove", "platform"]);
    assert_eq!(
        std::fs::read_to_string(dev.config()).unwrap(),
        "# mine\n# end\n"
    );
    assert!(dev.clone_of("platform").join(".memory").is_dir());
    let v = dev.json(project.root(), &["query", "how are API errors returned"]);
    assert_eq!(hit_ids(&v), ["decisions/storage/database"], "{v}");
    // Only the project is left: the answer is a single tree's, without a `layers` report.
    assert_eq!(v.get("layers"), None);
}

/// MCP: `layer` on the search and write tools, qualified ids in and out, through rmcp's own
/// client; a read-only layer refuses a write with kind `read_only`.
#[test]
fn mcp_tools_take_a_layer_and_qualified_ids() {
    let (_team, dev, project) = world();
    runtime().block_on(async {
        let client = mcp_client_at(project.root(), dev.home.path()).await;
        let (err, v) = mcp_call(
            &client,
            "memory_query",
            json!({"query": "how are API errors returned"}),
        )
        .await;
        assert!(!err, "{v}");
        assert_eq!(v["hits"][0]["id"], "platform:conventions/api/errors", "{v}");
        assert_eq!(v["hits"][0]["layer"], "platform");

        let (err, v) = mcp_call(
            &client,
            "memory_write",
            json!({"id": "prefs/tools/pnpm", "layer": "user", "title": "I use pnpm",
                   "kind": "preference", "body": "Use pnpm, never npm."}),
        )
        .await;
        assert!(!err, "{v}");
        assert_eq!(v["id"], "user:prefs/tools/pnpm");
        assert_eq!(
            git(&dev.user_repo(), &["log", "--format=%s"]),
            "memtree: add prefs/tools/pnpm\nmemtree: init\n"
        );

        let (err, v) = mcp_call(
            &client,
            "memory_query",
            json!({"query": "pnpm", "layer": ["user"]}),
        )
        .await;
        assert!(!err, "{v}");
        assert_eq!(hit_ids(&v), ["user:prefs/tools/pnpm"]);

        let (err, v) = mcp_call(&client, "memory_list", json!({"layer": "platform"})).await;
        assert!(!err, "{v}");
        let listed: Vec<&str> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            listed,
            [
                "platform:conventions/api/errors",
                "platform:conventions/logging/format"
            ]
        );

        let (err, v) = mcp_call(
            &client,
            "memory_get",
            json!({"id": "user:prefs/tools/pnpm"}),
        )
        .await;
        assert!(!err, "{v}");
        assert_eq!(v["id"], "user:prefs/tools/pnpm");

        let (err, v) = mcp_call(
            &client,
            "memory_write",
            json!({"id": "platform:conventions/api/errors", "importance": 0.9}),
        )
        .await;
        assert!(err);
        assert_eq!(v["kind"], "read_only", "{v}");

        // Resources: every layer's entries, qualified outside the project.
        let mut uris: Vec<String> = client
            .list_all_resources()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.uri.clone())
            .collect();
        uris.sort();
        assert_eq!(
            uris,
            [
                "memory://decisions/storage/database",
                "memory://platform:conventions/api/errors",
                "memory://platform:conventions/logging/format",
                "memory://user:prefs/tools/pnpm",
            ]
        );
        let read = client
            .read_resource(rmcp::model::ReadResourceRequestParams::new(
                "memory://platform:conventions/api/errors",
            ))
            .await
            .unwrap();
        let text = serde_json::to_value(&read.contents[0]).unwrap();
        assert_eq!(
            text["text"],
            std::fs::read_to_string(
                dev.clone_of("platform")
                    .join(".memory/conventions/api/errors.md")
            )
            .unwrap()
        );
        client.cancel().await.unwrap();
    });
    assert_eq!(
        git(&dev.clone_of("platform"), &["status", "--porcelain"]),
        ""
    );
}

/// `curate` plans a statement about the person for the user layer (against its entries), the
/// rest for the project, shows the layer per row, and commits each part in its own repository.
#[test]
fn curate_puts_statements_about_the_person_in_the_user_layer() {
    let (_team, dev, project) = world();
    let p = project.root();
    add_pnpm(&dev, p, "I use pnpm, never npm, in every project.");
    let notes = p.join("notes.md");
    std::fs::write(
        &notes,
        "We always run cargo fmt before committing.\n\
         Always explain a diff to me before applying it.\n\
         I use pnpm, never npm, in every project.\n",
    )
    .unwrap();
    let project_log = git(p, &["log", "--format=%s"]);
    let plan = dev.json(p, &["curate", "notes.md", "--apply"]);
    let rows: Vec<(&str, &str, &str)> = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["op"].as_str().unwrap(),
                r["layer"].as_str().unwrap(),
                r["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "add",
                "project",
                "conventions/general/we-always-run-cargo-fmt-before-committing"
            ),
            (
                "add",
                "user",
                "preferences/general/always-explain-a-diff-to-me-before-applying-it"
            ),
            ("noop", "user", "prefs/tools/pnpm"),
        ],
        "{plan}"
    );
    assert_eq!(
        git(p, &["log", "--format=%s"]),
        format!("memtree: curate notes.md: 1 added, 0 updated, 0 superseded\n{project_log}")
    );
    assert_eq!(
        git(&dev.user_repo(), &["log", "--format=%s"]),
        "memtree: curate notes.md: 1 added, 0 updated, 0 superseded\n\
         memtree: add prefs/tools/pnpm\nmemtree: init\n"
    );
    assert!(
        dev.user_repo()
            .join(".memory/preferences/general/always-explain-a-diff-to-me-before-applying-it.md")
            .is_file()
    );
    assert!(!project.mem("preferences").exists());
}

/// `import --layer user` reads the agents' user-level files in the home folder into the user
/// layer (one commit there), and nothing into the project.
#[test]
fn import_into_the_user_layer_reads_the_agents_user_files() {
    let dev = Dev::new();
    let project = TestEnv::repo(true);
    let home = dev.home.path();
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::write(
        home.join(".claude/CLAUDE.md"),
        "# Style\n\nExplain a diff before applying it.\n\n# Tools\n\nUse pnpm, never npm.\n",
    )
    .unwrap();
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    std::fs::write(
        home.join(".codex/AGENTS.md"),
        "# Commits\n\nWrite commit messages in English.\n",
    )
    .unwrap();
    // A file beside them is not a source.
    std::fs::write(home.join(".env"), "TOKEN=x\n").unwrap();
    let project_log = git(project.root(), &["log", "--format=%s"]);
    let r = dev.json(project.root(), &["import", "--layer", "user"]);
    let mut ids: Vec<&str> = r["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "conventions/agents/commits",
            "conventions/claude/style",
            "conventions/claude/tools"
        ],
        "{r}"
    );
    assert_eq!(r["read"], json!([".claude/CLAUDE.md", ".codex/AGENTS.md"]));
    assert_eq!(
        std::fs::read_to_string(dev.user_repo().join(".memory/conventions/claude/tools.md"))
            .unwrap(),
        "---\ntitle: Tools\nkind: convention\ntags: [claude]\nsource:\n  by: import\n  file: .claude/CLAUDE.md\n  heading: Tools\ncreated: 2026-11-22T12:00:00Z\nupdated: 2026-11-22T12:00:00Z\n---\n\nUse pnpm, never npm.\n"
    );
    assert_eq!(git(project.root(), &["log", "--format=%s"]), project_log);
    assert_eq!(
        git(&dev.user_repo(), &["log", "--format=%s"])
            .lines()
            .count(),
        2,
        "init and the import"
    );
}

/// Tier 5 across layers, against a real HTTP server on 127.0.0.1: the prompt carries every
/// layer's outline with qualified folders, the model's qualified ids are found in their layers
/// (an unknown layer's are dropped), and a phrasing runs in every layer.
#[test]
fn tier_five_runs_across_layers() {
    let (_team, dev, project) = world();
    let p = project.root();
    add_pnpm(&dev, p, "Use pnpm, never npm, in every project.");
    let reply = r#"{"ids": ["user:prefs/tools/pnpm", "nowhere:a/b/c"], "phrasings": ["problem documents"]}"#;
    let (url, requests) = crate::llm::server(crate::llm::Answer::Content(reply.into()));
    std::fs::write(
        dev.config(),
        format!(
            "{}llm: {{provider: openai, base_url: \"{url}\", model: tiny-test, timeout_s: 10}}\n",
            std::fs::read_to_string(dev.config()).unwrap()
        ),
    )
    .unwrap();
    let v = dev.json(p, &["query", "which installer should scripts call"]);
    let e = &v["escalation"];
    assert_eq!(e["ran"], true, "{v}");
    assert_eq!(e["chosen"], json!(["user:prefs/tools/pnpm"]));
    assert_eq!(e["dropped"], json!(["nowhere:a/b/c"]));
    let found = hit_ids(&v);
    assert_eq!(found[0], "user:prefs/tools/pnpm", "{v}");
    assert_eq!(v["hits"][0]["matched"][0], "llm:chosen #1");
    assert!(
        found.contains(&"platform:conventions/api/errors".to_string()),
        "the phrasing's find in the shared layer: {v}"
    );
    let sent = requests
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    assert!(sent.contains("- platform:conventions/api (1)"), "{sent}");
    assert!(sent.contains("- user:prefs/tools (1)"), "{sent}");
}
