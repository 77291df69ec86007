//! Regressions of issue 14, items 12 and 13: a cloned repository's memory cannot run a
//! program, send a secret or read outside the project until the user trusts its memtree.yaml;
//! a command provider's whole process group is stopped and its reply is bounded.

use std::time::{Duration, Instant};

use crate::env::{TestEnv, sample};
use crate::llm::trusted_config;

/// A question the sample tree is not confident about, so tier 5 would run.
const VAGUE: &str = "how should failures be reported to callers";

/// A provider script that records that it ran (in `ran`) and answers with one id.
fn marker_script(env: &TestEnv) -> (std::path::PathBuf, std::path::PathBuf) {
    let script = env.root().join("provider.sh");
    let ran = env.root().join("ran");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat >/dev/null\ntouch '{}'\necho '{{\"ids\": [\"conventions/rust/error-handling\"], \"phrasings\": []}}'\n",
            ran.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (script, ran)
}

fn command_config(script: &std::path::Path) -> String {
    format!(
        "schema_version: 1\nllm:\n  provider: command\n  command: [\"{}\"]\n",
        script.display()
    )
}

/// See: issue 14, item 12. A committed memtree.yaml naming a program ran it on an ordinary
/// query. Now it is ignored until `memtree trust`, the reason says so, `check` warns, and a
/// changed file is untrusted again.
#[test]
fn a_cloned_config_runs_no_program_until_trusted() {
    let env = sample();
    let (script, ran) = marker_script(&env);
    env.write("memtree.yaml", &command_config(&script));
    let v = env.json(&["query", VAGUE]);
    assert_eq!(v["escalation"]["ran"], false, "{v}");
    assert_eq!(
        v["escalation"]["reason"],
        "untrusted config: run memtree trust"
    );
    assert!(!ran.exists(), "the program ran");
    let out = env.ok(&["check"]);
    assert!(
        out.contains(".memory/memtree.yaml: warning: llm can run a program"),
        "{out}"
    );
    let t = env.json(&["trust", "--show"]);
    assert_eq!(t["trusted"], false);
    assert_eq!(t["needs_trust"], serde_json::json!(["llm"]));
    // Trusted: used.
    let t = env.json(&["trust"]);
    assert_eq!(t["trusted"], true);
    let store = std::fs::read_to_string(env.root().join(".config/memtree/trusted")).unwrap();
    assert!(store.starts_with(t["sha256"].as_str().unwrap()), "{store}");
    let v = env.json(&["query", VAGUE]);
    assert_eq!(v["escalation"]["ran"], true, "{v}");
    assert!(ran.exists());
    // Changed: untrusted again.
    std::fs::remove_file(&ran).unwrap();
    env.write(
        "memtree.yaml",
        &format!("{}  timeout_s: 5\n", command_config(&script)),
    );
    let v = env.json(&["query", VAGUE]);
    assert_eq!(
        v["escalation"]["reason"],
        "untrusted config: run memtree trust"
    );
    assert!(!ran.exists());
    // Revoked.
    env.ok(&["trust"]);
    env.ok(&["trust", "--revoke"]);
    let v = env.json(&["query", VAGUE]);
    assert_eq!(
        v["escalation"]["reason"],
        "untrusted config: run memtree trust"
    );
    assert!(!ran.exists());
}

/// See: issue 14, item 12. The same through the MCP server.
#[test]
fn a_cloned_config_runs_no_program_over_mcp() {
    use rmcp::model::CallToolRequestParams;
    let env = sample();
    let (script, ran) = marker_script(&env);
    env.write("memtree.yaml", &command_config(&script));
    let rt = crate::env::runtime();
    let v = rt.block_on(async {
        let client = crate::env::mcp_client(&env).await;
        let args = serde_json::json!({"query": VAGUE});
        let params = CallToolRequestParams::new("memory_query")
            .with_arguments(args.as_object().unwrap().clone());
        let r = client.call_tool(params).await.unwrap();
        client.cancel().await.unwrap();
        r.structured_content.unwrap()
    });
    assert_eq!(
        v["escalation"]["reason"], "untrusted config: run memtree trust",
        "{v}"
    );
    assert!(!ran.exists(), "the program ran");
}

/// The user's own configuration (`~/.config/memtree/config.yaml`) and `MEMTREE_LLM_*`
/// variables need no trust: they are the user's.
#[test]
fn the_users_own_llm_settings_are_used_without_trust() {
    let env = sample();
    let (script, ran) = marker_script(&env);
    std::fs::create_dir_all(env.root().join(".config/memtree")).unwrap();
    std::fs::write(
        env.root().join(".config/memtree/config.yaml"),
        format!(
            "llm:\n  provider: command\n  command: [\"{}\"]\n",
            script.display()
        ),
    )
    .unwrap();
    let v = env.json(&["query", VAGUE]);
    assert_eq!(v["escalation"]["ran"], true, "{v}");
    assert!(ran.exists());
    std::fs::remove_file(env.root().join(".config/memtree/config.yaml")).unwrap();
    std::fs::remove_file(&ran).unwrap();
    let out = env
        .cmd()
        .env("MEMTREE_LLM_COMMAND", format!("[\"{}\"]", script.display()))
        .args(["query", VAGUE, "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["escalation"]["provider"], "command", "{v}");
    assert!(ran.exists());
}

/// See: issue 14, item 12. A `semantic.model` outside the project is not read from an
/// untrusted file (`check` does not even try to load it); one inside the project needs no
/// trust.
#[test]
fn an_outside_model_folder_needs_trust() {
    let env = sample();
    env.write(
        "memtree.yaml",
        "schema_version: 1\nsemantic:\n  model: /nonexistent/outside/model\n",
    );
    let out = env.ok(&["check"]);
    assert!(
        out.contains("warning: semantic.model can run a program"),
        "{out}"
    );
    assert!(!out.contains("semantic.model cannot be used"), "{out}");
    let t = env.json(&["trust", "--show"]);
    assert_eq!(t["needs_trust"], serde_json::json!(["semantic.model"]));
    env.write(
        "memtree.yaml",
        "schema_version: 1\nsemantic:\n  model: models/mine\n",
    );
    let t = env.json(&["trust", "--show"]);
    assert_eq!(t["needs_trust"], serde_json::json!([]));
}

/// See: issue 14, item 13. `sh -c "sleep 77"` outlived memtree when the timeout killed only
/// the shell; now the whole process group goes. The process the shell started is checked
/// gone (or a zombie awaiting its reaper) right after the query returns.
#[test]
fn a_timed_out_command_provider_is_stopped_with_everything_it_started() {
    let env = sample();
    let pidfile = env.root().join("sleeper.pid");
    let script = env.root().join("slow.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 77 &\necho $! > '{}'\nwait\n",
            pidfile.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    trusted_config(
        &env,
        &format!(
            "schema_version: 1\nllm:\n  provider: command\n  command: [\"{}\"]\n  timeout_s: 1\n",
            script.display()
        ),
    );
    let v = env.json(&["query", VAGUE]);
    assert!(
        v["escalation"]["reason"]
            .as_str()
            .unwrap()
            .contains("was stopped"),
        "{v}"
    );
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    // `pid (sleep) S ...`: the state is the field after the parenthesised name.
    let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
    assert!(
        matches!(state, None | Some("Z")),
        "sleep {} still runs: {stat}",
        pid.trim()
    );
}

/// See: issue 14, item 13. 300 MB of output grew memtree to 305 MB; the reply is now read
/// up to 1 MiB and the provider stopped.
#[test]
fn a_command_providers_reply_is_bounded() {
    let env = sample();
    let script = env.root().join("loud.sh");
    std::fs::write(&script, "#!/bin/sh\ncat >/dev/null\nexec yes\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    trusted_config(
        &env,
        &format!(
            "schema_version: 1\nllm:\n  provider: command\n  command: [\"{}\"]\n  timeout_s: 20\n",
            script.display()
        ),
    );
    let start = Instant::now();
    let v = env.json(&["query", VAGUE]);
    assert!(start.elapsed() < Duration::from_secs(15));
    assert_eq!(
        v["escalation"]["reason"],
        format!(
            "not confident; the call failed, so tiers 1–4 answered: `{}` replied with more \
             than 1048576 bytes and was stopped",
            script.display()
        ),
        "{v}"
    );
}
