//! `memtree setup claude|cursor|codex` (issue 16, item 4): existing files are merged without
//! losing a key, an order or a TOML comment; a second run changes nothing; `--remove` takes
//! out exactly what setup added; a file that does not parse stops everything before anything
//! is written.

use serde_json::Value;

use crate::env::{TestEnv, field_pairs};

fn write(env: &TestEnv, rel: &str, text: &str) {
    let path = env.root().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read(env: &TestEnv, rel: &str) -> String {
    std::fs::read_to_string(env.root().join(rel)).unwrap()
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The keys of a JSON object, in file order.
fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

const MCP_BEFORE: &str = r#"{
  "mcpServers": {
    "github": {"command": "gh-mcp", "args": ["--read-only"], "env": {"GH_HOST": "github.com"}}
  },
  "zeta": true,
  "alpha": [3, 1, 2]
}
"#;

const SETTINGS_BEFORE: &str = r#"{
  "permissions": {"allow": ["Bash(cargo test:*)"], "deny": ["Read(./.env)"]},
  "hooks": {
    "SessionStart": [
      {"matcher": "startup", "hooks": [{"type": "command", "command": "./scripts/banner.sh"}]}
    ],
    "PostToolUse": [
      {"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "cargo fmt"}]}
    ]
  },
  "env": {"RUST_LOG": "info"}
}
"#;

#[test]
fn claude_setup_merges_into_existing_files_and_remove_restores_them() {
    let env = TestEnv::new();
    write(&env, ".mcp.json", MCP_BEFORE);
    write(&env, ".claude/settings.json", SETTINGS_BEFORE);
    let report = env.json(&["setup", "claude"]);
    assert_eq!(report["schema"], "memtree.setup/v1");
    let actions = field_pairs(&report["files"], "file", "action");
    assert_eq!(
        actions,
        [(".mcp.json", "update"), (".claude/settings.json", "update")]
    );
    // .mcp.json: every key kept, in its order, memtree's server added last.
    let mcp = parse(&read(&env, ".mcp.json"));
    assert_eq!(keys(&mcp), ["mcpServers", "zeta", "alpha"]);
    assert_eq!(keys(&mcp["mcpServers"]), ["github", "memtree"]);
    assert_eq!(
        mcp["mcpServers"]["github"],
        parse(MCP_BEFORE)["mcpServers"]["github"]
    );
    assert_eq!(
        mcp["mcpServers"]["memtree"],
        serde_json::json!({"command": "memtree", "args": ["mcp"]})
    );
    assert_eq!(mcp["alpha"], serde_json::json!([3, 1, 2]));
    // settings.json: the user's hooks and keys kept; memtree's three hooks added.
    let settings = parse(&read(&env, ".claude/settings.json"));
    assert_eq!(keys(&settings), ["permissions", "hooks", "env"]);
    assert_eq!(
        keys(&settings["hooks"]),
        ["SessionStart", "PostToolUse", "PreCompact", "SessionEnd"]
    );
    assert_eq!(
        settings["hooks"]["SessionStart"],
        serde_json::json!([
            {"matcher": "startup", "hooks": [{"type": "command", "command": "./scripts/banner.sh"}]},
            {"matcher": "startup|resume|clear|compact", "hooks": [
                {"type": "command", "command": "memtree prime --hook claude", "timeout": 15}]}
        ])
    );
    for event in ["PreCompact", "SessionEnd"] {
        assert_eq!(
            settings["hooks"][event],
            serde_json::json!([{"hooks": [
                {"type": "command", "command": "memtree curate --hook claude", "timeout": 60}]}])
        );
    }
    assert_eq!(
        settings["permissions"],
        parse(SETTINGS_BEFORE)["permissions"]
    );
    // Idempotent: byte for byte.
    let (mcp_text, settings_text) = (read(&env, ".mcp.json"), read(&env, ".claude/settings.json"));
    let again = env.json(&["setup", "claude"]);
    assert!(
        again["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["action"] == "unchanged")
    );
    assert_eq!(read(&env, ".mcp.json"), mcp_text);
    assert_eq!(read(&env, ".claude/settings.json"), settings_text);
    // --remove: what was there before, every key in its order.
    env.ok(&["setup", "claude", "--remove"]);
    let mcp = parse(&read(&env, ".mcp.json"));
    assert_eq!(mcp, parse(MCP_BEFORE));
    assert_eq!(keys(&mcp), ["mcpServers", "zeta", "alpha"]);
    let settings = parse(&read(&env, ".claude/settings.json"));
    assert_eq!(settings, parse(SETTINGS_BEFORE));
    assert_eq!(keys(&settings["hooks"]), ["SessionStart", "PostToolUse"]);
    // Byte for byte (issue 20, item 6).
    assert_eq!(read(&env, ".mcp.json"), MCP_BEFORE);
    assert_eq!(read(&env, ".claude/settings.json"), SETTINGS_BEFORE);
}

/// `memtree setup claude` in `env`'s project under umask 022, as a shell would run it.
fn setup_claude_under_umask_022(env: &TestEnv) {
    let out = std::process::Command::new("sh")
        .args(["-c", "umask 022 && exec \"$0\" setup claude"])
        .arg(env!("CARGO_BIN_EXE_memtree"))
        .current_dir(env.root())
        .env("HOME", env.root())
        .output()
        .unwrap();
    crate::env::assert_ok(&out);
}

/// Issue 20, item 6: setup then `--remove` on hand-written files used to change them (big
/// integers became floats, `1.0e3` became `1000.0`, a duplicate key was dropped, tabs became
/// two spaces, escapes were decoded, CRLF became LF). Now every byte memtree did not add comes
/// back; files setup creates get the umask's permissions (0644 under 022), not 0600.
#[test]
fn setup_then_remove_gives_back_the_users_bytes() {
    use std::os::unix::fs::PermissionsExt as _;
    let env = TestEnv::new();
    let mcp = "{\r\n\t\"mcpServers\": {\r\n\t\t\"db\": {\"command\": \"db-mcp\", \"env\": \
               {\"MAX\": 12345678901234567890123, \"RATIO\": 1.0e3, \"NAME\": \"caf\\u00e9 \\\"x\\\"\"}}\r\n\
               \t},\r\n\t\"dup\": 1,\r\n\t\"dup\": 2\r\n}\r\n";
    // A hook list on one line, where memtree's group joins the project's own.
    let settings = "{\n\t\"model\": \"opus\",\n\t\"hooks\": {\n\t\t\"Stop\": [{\"hooks\": \
                    [{\"type\": \"command\", \"command\": \"say done\"}]}],\n\t\t\"SessionStart\": \
                    [{\"hooks\": [{\"type\": \"command\", \"command\": \"echo banner\"}]}]\n\t}\n}\n";
    write(&env, ".mcp.json", mcp);
    write(&env, ".claude/settings.json", settings);
    setup_claude_under_umask_022(&env);
    // The user's bytes are all still there; memtree's entry is added in the file's style.
    assert_eq!(
        read(&env, ".mcp.json"),
        mcp.replace(
            "}}\r\n\t},",
            "}},\r\n\t\t\"memtree\": {\r\n\t\t\t\"command\": \"memtree\",\r\n\t\t\t\"args\": \
             [\"mcp\"]\r\n\t\t}\r\n\t},"
        )
    );
    env.ok(&["setup", "claude", "--remove"]);
    assert_eq!(read(&env, ".mcp.json"), mcp);
    assert_eq!(read(&env, ".claude/settings.json"), settings);
    // Edited by hand after setup: --remove takes out memtree's entries from the syntax tree,
    // and the user's edit stays.
    setup_claude_under_umask_022(&env);
    let edited = read(&env, ".mcp.json").replace("\"dup\": 2", "\"dup\": 3");
    write(&env, ".mcp.json", &edited);
    env.ok(&["setup", "claude", "--remove"]);
    assert_eq!(
        read(&env, ".mcp.json"),
        mcp.replace("\"dup\": 2", "\"dup\": 3")
    );
    // Files setup creates: 0666 less the umask.
    let fresh = TestEnv::new();
    setup_claude_under_umask_022(&fresh);
    for f in [".mcp.json", ".claude/settings.json"] {
        let mode = std::fs::metadata(fresh.root().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "{f}");
    }
}

/// Issue 20, item 6: an editor's save during setup used to be overwritten. setup swaps each
/// file in and compares what it displaced with what it planned from: the editor's version
/// is put back and setup stops with `conflict`.
#[cfg(debug_assertions)]
#[test]
fn an_editors_save_during_setup_is_never_overwritten() {
    let env = TestEnv::new();
    write(&env, ".mcp.json", "{\n  \"mcpServers\": {}\n}\n");
    let editor = "{\"mine\": true}\n";
    let out = env
        .cmd()
        .env(
            "MEMTREE_FAILPOINT",
            format!("setup:sh:printf '%s' '{editor}' > .mcp.json"),
        )
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["setup", "claude", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "conflict");
    assert_eq!(read(&env, ".mcp.json"), editor);
    let leftovers: Vec<String> = std::fs::read_dir(env.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".memtree-setup"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn cursor_setup_creates_its_files_and_remove_deletes_them() {
    let env = TestEnv::new();
    let out = env.ok(&["setup", "cursor"]);
    assert_eq!(
        out,
        "created    .cursor/mcp.json\ncreated    .cursor/hooks.json\nnote: commit them so the \
         team gets the same setup: git add .cursor/mcp.json .cursor/hooks.json\nnote: next: open \
         the project in Cursor and enable the memtree MCP server when it asks (memtree cannot \
         read Cursor's approvals)\n"
    );
    assert_eq!(
        read(&env, ".cursor/hooks.json"),
        "{\n  \"version\": 1,\n  \"hooks\": {\n    \"sessionStart\": [\n      {\n        \
         \"command\": \"memtree prime --hook cursor\",\n        \"timeout\": 30\n      }\n    \
         ],\n    \"sessionEnd\": [\n      {\n        \"command\": \"memtree curate --hook \
         cursor\",\n        \"timeout\": 30\n      }\n    ]\n  }\n}\n"
    );
    assert_eq!(
        parse(&read(&env, ".cursor/mcp.json")),
        serde_json::json!({"mcpServers": {"memtree": {"command": "memtree", "args": ["mcp"]}}})
    );
    env.ok(&["setup", "cursor", "--remove"]);
    assert!(!env.root().join(".cursor").exists(), "nothing left behind");
}

const CODEX_BEFORE: &str = "# Codex, tuned by hand\nmodel = \"gpt-5-codex\"   # the default\napproval_policy = \"on-request\"\n\n[mcp_servers.docs]\ncommand = \"docs-mcp\"\nargs = [\"serve\"]  # keep\n\n[profiles.fast]\nmodel = \"o4-mini\"\n";

#[test]
fn codex_setup_keeps_every_comment_of_config_toml() {
    let env = TestEnv::new();
    write(&env, ".codex/config.toml", CODEX_BEFORE);
    let report = env.json(&["setup", "codex"]);
    assert!(
        report["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("Codex reads a project's .codex/ only when the project is trusted")
    );
    assert_eq!(
        read(&env, ".codex/config.toml"),
        CODEX_BEFORE.replace(
            "\n[profiles.fast]",
            "\n[mcp_servers.memtree]\ncommand = \"memtree\"\nargs = [\"mcp\"]\n\n[profiles.fast]"
        )
    );
    let hooks = parse(&read(&env, ".codex/hooks.json"));
    assert_eq!(
        keys(&hooks["hooks"]),
        ["SessionStart", "PreCompact", "Stop"]
    );
    assert_eq!(
        hooks["hooks"]["SessionStart"][0]["hooks"][0]["command"],
        "memtree prime --hook codex"
    );
    // Issue 21: Codex 0.171 fires SessionStart with `compact` after a compaction.
    assert_eq!(
        hooks["hooks"]["SessionStart"][0]["matcher"],
        "startup|resume|clear|compact"
    );
    env.ok(&["setup", "codex"]);
    env.ok(&["setup", "codex", "--remove"]);
    assert_eq!(
        read(&env, ".codex/config.toml"),
        CODEX_BEFORE,
        "byte for byte"
    );
    assert!(!env.root().join(".codex/hooks.json").exists());
}

#[test]
fn a_file_that_does_not_parse_stops_setup_before_anything_is_written() {
    let env = TestEnv::new();
    write(&env, ".claude/settings.json", "{\n  \"hooks\": {,\n}\n");
    let (_, err) = env.fails(&["setup", "claude"], 1);
    assert!(err.contains(".claude/settings.json"), "{err}");
    assert!(err.contains("line 2"), "{err}");
    assert!(
        !env.root().join(".mcp.json").exists(),
        "planned, never written"
    );
    // A symbolic link is not followed.
    std::fs::remove_file(env.root().join(".claude/settings.json")).unwrap();
    write(&env, "elsewhere.json", "{}\n");
    std::os::unix::fs::symlink(
        "../elsewhere.json",
        env.root().join(".claude/settings.json"),
    )
    .unwrap();
    let (_, err) = env.fails(&["setup", "claude"], 1);
    assert!(err.contains("is a symbolic link"), "{err}");
    assert_eq!(read(&env, "elsewhere.json"), "{}\n");
    // Nor is a folder on the way that is a link (it could point outside the project).
    std::fs::remove_file(env.root().join(".claude/settings.json")).unwrap();
    std::fs::remove_dir(env.root().join(".claude")).unwrap();
    std::fs::create_dir(env.root().join("outside")).unwrap();
    std::os::unix::fs::symlink("outside", env.root().join(".claude")).unwrap();
    let (_, err) = env.fails(&["setup", "claude"], 1);
    assert!(err.contains(".claude is a symbolic link"), "{err}");
    assert_eq!(
        std::fs::read_dir(env.root().join("outside"))
            .unwrap()
            .count(),
        0
    );
    std::fs::remove_file(env.root().join(".claude")).unwrap();
    std::fs::create_dir(env.root().join(".claude")).unwrap();
    std::fs::write(env.root().join(".claude/settings.json"), "{}\n").unwrap();
    // --print writes nothing and shows the files.
    std::fs::remove_file(env.root().join(".claude/settings.json")).unwrap();
    let shown = env.ok(&["setup", "claude", "--print"]);
    assert!(
        shown.starts_with("# .mcp.json (create)\n{\n  \"mcpServers\": {\n"),
        "{shown}"
    );
    assert!(!env.root().join(".mcp.json").exists());
    // --global writes the user's files (HOME is the test's root here).
    let home = env.json(&["setup", "claude", "--global"]);
    assert_eq!(home["files"][0]["file"], "~/.claude.json");
    assert!(env.root().join(".claude.json").is_file());
}

#[test]
fn setup_in_a_project_without_memory_starts_one_at_the_repository_top() {
    let env = TestEnv::bare();
    env.git(&["init", "-q", "-b", "main"]);
    write(
        &env,
        "AGENTS.md",
        "# Project\n\n## Tests\n\nRun cargo test.\n",
    );
    std::fs::create_dir_all(env.root().join("src/deep")).unwrap();
    // (Empty folders are not in git status.) --print creates nothing, and says what it would do.
    let shown = env
        .cmd()
        .current_dir(env.root().join("src/deep"))
        .args(["setup", "claude", "--print", "--json"])
        .output()
        .unwrap();
    assert!(shown.status.success());
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert!(
        shown["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("no memory tree yet: setup would create ")
    );
    assert!(!env.root().join(".memory").exists());
    let mut cmd = env.cmd();
    cmd.current_dir(env.root().join("src/deep"))
        .args(["setup", "claude", "--json"]);
    let report = TestEnv::json_of(cmd);
    assert_eq!(report["init"]["new"], true);
    let notes = report["notes"].as_array().unwrap();
    assert_eq!(
        notes[notes.len() - 2],
        "AGENTS.md can become entries: memtree import"
    );
    assert!(
        notes[notes.len() - 1]
            .as_str()
            .unwrap()
            .starts_with("next: start `claude` in the project once")
    );
    assert!(env.mem("memtree.yaml").is_file(), "the tree is at the top");
    assert!(env.root().join(".mcp.json").is_file());
    assert!(env.root().join(".claude/settings.json").is_file());
    assert!(!env.root().join("src/deep/.mcp.json").exists());
    assert_eq!(env.git(&["log", "--format=%s"]), "memtree: init\n");
    assert_eq!(
        env.git(&["status", "--porcelain"]),
        "?? .claude/\n?? .mcp.json\n?? AGENTS.md\n"
    );
}

/// Issue 21, item 3: `setup --status` says whether each agent is really connected, from the
/// files the clients record (formats checked against Claude Code 2.1.332's `claude mcp list`,
/// which said "Pending approval" and then "Connected", and Codex 0.171.0's `app-server`
/// `hooks/list`, which said `untrusted` and then `trusted` for the same files), and setup ends
/// with the one next step.
#[test]
fn setup_status_reads_what_the_clients_recorded() {
    let env = TestEnv::new();
    let project = std::fs::canonicalize(env.root()).unwrap();
    let v = env.json(&["setup", "claude"]);
    assert_eq!(
        v["notes"].as_array().unwrap().last().unwrap(),
        "next: start `claude` in the project once and approve the memtree MCP server (or put \
         \"enabledMcpjsonServers\": [\"memtree\"] in .claude/settings.local.json); until then \
         Claude Code starts it for no session"
    );
    let claude = |env: &TestEnv| {
        let v = env.json(&["setup", "--status", "claude"]);
        (
            v["agents"][0]["mcp"].as_str().unwrap().to_string(),
            v["agents"][0]["allowed"].as_bool().unwrap(),
        )
    };
    assert_eq!(claude(&env), ("pending".to_string(), false));
    write(
        &env,
        ".claude/settings.local.json",
        "{\"enabledMcpjsonServers\": [\"memtree\"], \"permissions\": {\"allow\": [\"mcp__memtree__memory_query\"]}}\n",
    );
    assert_eq!(claude(&env), ("approved".to_string(), true));
    let v = env.json(&["setup", "--status", "claude"]);
    assert_eq!(
        v["agents"][0]["next"],
        "nothing: Claude Code starts memtree and may call its tools"
    );
    // The user's own settings reject it: rejected wins.
    write(
        &env,
        ".config-home/.claude/settings.json",
        "{\"disabledMcpjsonServers\": [\"memtree\"]}\n",
    );
    let mut cmd = env.cmd();
    cmd.env("HOME", env.root().join(".config-home"))
        .args(["setup", "--status", "claude", "--json"]);
    assert_eq!(TestEnv::json_of(cmd)["agents"][0]["mcp"], "rejected");

    // Codex: the project's trust, then a review recorded for each of memtree's hooks.
    env.ok(&["setup", "codex"]);
    let codex_home = env.root().join("codex-home");
    std::fs::create_dir_all(&codex_home).unwrap();
    let codex = |env: &TestEnv| {
        let mut cmd = env.cmd();
        cmd.env("CODEX_HOME", &codex_home)
            .args(["setup", "--status", "codex", "--json"]);
        let v = TestEnv::json_of(cmd);
        (
            v["agents"][0]["mcp"].as_str().unwrap().to_string(),
            v["agents"][0]["allowed"].as_bool().unwrap(),
            v["agents"][0]["next"].as_str().unwrap().to_string(),
        )
    };
    let (mcp, reviewed, next) = codex(&env);
    assert_eq!((mcp.as_str(), reviewed), ("untrusted", false));
    assert!(
        next.starts_with("start `codex` in the project and trust it"),
        "{next}"
    );
    let mut config = format!(
        "[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
        project.display()
    );
    std::fs::write(codex_home.join("config.toml"), &config).unwrap();
    assert_eq!(
        codex(&env),
        (
            "trusted".to_string(),
            false,
            "start `codex` in the project and approve memtree's hooks when it asks; until then \
             `codex exec` skips them without a word"
                .to_string()
        )
    );
    for key in ["session_start:0:0", "pre_compact:0:0", "stop:0:0"] {
        config.push_str(&format!(
            "\n[hooks.state.\"{}/.codex/hooks.json:{key}\"]\nenabled = true\ntrusted_hash = \
             \"sha256:0\"\n",
            project.display()
        ));
    }
    std::fs::write(codex_home.join("config.toml"), &config).unwrap();
    assert_eq!(
        codex(&env),
        (
            "trusted".to_string(),
            true,
            "nothing: Codex starts memtree and runs its hooks".to_string()
        )
    );
    // Cursor: files only.
    let v = env.json(&["setup", "--status"]);
    assert_eq!(
        crate::env::columns(&v["agents"], &["agent", "mcp"]),
        [
            ["claude", "approved"],
            ["codex", "untrusted"],
            ["cursor", "unknown"]
        ]
    );
    assert_eq!(v["agents"][2]["next"], "run `memtree setup cursor`");
}
