//! `memtree setup --status [AGENT]`: whether an agent is really connected (issue 21, item 3).
//!
//! Writing the files is not enough: each client also asks something of the user, and says
//! nothing when it is missing. This reads (never writes) what the clients record:
//! - **Claude Code** starts a project's `.mcp.json` servers only once they are approved: a
//!   server named in `disabledMcpjsonServers` is rejected; one in `enabledMcpjsonServers`, or
//!   any with `enableAllProjectMcpServers`, is approved; otherwise it is pending ("Pending
//!   approval" in `claude mcp list`). The settings are `~/.claude/settings.json`,
//!   `.claude/settings.json` and `.claude/settings.local.json` (merged, as Claude Code 2.1
//!   merges them), and the project's record in `~/.claude.json`. `claude -p` also needs the
//!   tools allowed (`--allowedTools 'mcp__memtree__*'` or a `permissions.allow` rule).
//! - **Codex** reads a project's `.codex/` only when `~/.codex/config.toml` (`$CODEX_HOME`)
//!   says `[projects."PATH"] trust_level = "trusted"`, and runs a project hook only once it was
//!   reviewed: `[hooks.state."PATH/.codex/hooks.json:EVENT:GROUP:HANDLER"]` holds its
//!   `trusted_hash` (`codex exec` skips unreviewed hooks without a word). memtree cannot
//!   recompute Codex's hash, so a hook reviewed before its file changed still reads as
//!   reviewed here; `codex app-server`'s `hooks/list` has the last word.
//! - **Cursor** keeps its MCP approvals where memtree does not read them: only the files.
//!
//! Each agent gets the one next step a user must take.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::{Agent, session_events};

/// One agent's connection, as far as memtree can tell (`memtree.setup-status/v1`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgentStatus {
    /// The agent.
    pub agent: Agent,
    /// Each file setup writes, and whether memtree's entries are in it.
    pub files: Vec<FileState>,
    /// Claude Code: `approved`, `pending` or `rejected`; Codex: `trusted` or `untrusted` (the
    /// project); Cursor: `unknown`.
    pub mcp: &'static str,
    /// Codex: every memtree hook has a review recorded. Claude Code: `claude -p` may call
    /// memtree's tools without asking. `None` where it does not apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
    /// The one thing left for the user to do, or that nothing is.
    pub next: String,
    /// The client files read for this answer.
    pub read: Vec<String>,
}

/// One file setup writes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileState {
    /// The file, relative to the project.
    pub file: String,
    /// `ok` (memtree's entries are in it), `missing` (the file is not there) or `incomplete`
    /// (it lacks some of memtree's entries).
    pub state: &'static str,
}

/// `memtree setup --status` (`memtree.setup-status/v1`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusReport {
    /// Always `memtree.setup-status/v1`.
    pub schema: &'static str,
    /// The project folder.
    pub project: String,
    /// One per agent asked about.
    pub agents: Vec<AgentStatus>,
}

/// Where the clients keep the user's own files.
#[derive(Debug, Clone)]
pub struct Homes {
    /// The user's home (`~/.claude.json`, `~/.claude/`).
    pub home: Option<PathBuf>,
    /// Codex's home (`$CODEX_HOME`, else `~/.codex`).
    pub codex: Option<PathBuf>,
}

impl Homes {
    /// From `HOME` and `CODEX_HOME`.
    pub fn from_env() -> Homes {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = var("HOME");
        Homes {
            codex: var("CODEX_HOME").or_else(|| home.as_ref().map(|h| h.join(".codex"))),
            home,
        }
    }
}

fn read_json(path: &Path, read: &mut Vec<String>) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    read.push(path.display().to_string());
    serde_json::from_str(&text).ok()
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The state of each file setup writes for `agent` in `project`.
fn files(agent: Agent, project: &Path) -> Vec<FileState> {
    match super::plan(agent, project, false, false) {
        Ok(report) => report
            .files
            .iter()
            .map(|f| {
                let state = match f.action {
                    "unchanged" => "ok",
                    "create" => "missing",
                    _ => "incomplete",
                };
                FileState {
                    file: f.file.clone(),
                    state,
                }
            })
            .collect(),
        Err(_) => vec![FileState {
            file: "(a file setup writes does not parse)".into(),
            state: "incomplete",
        }],
    }
}

fn claude(project: &Path, homes: &Homes) -> AgentStatus {
    let mut read = Vec::new();
    let mut settings: Vec<Value> = Vec::new();
    if let Some(h) = &homes.home {
        settings.extend(read_json(&h.join(".claude/settings.json"), &mut read));
    }
    for rel in [".claude/settings.json", ".claude/settings.local.json"] {
        settings.extend(read_json(&project.join(rel), &mut read));
    }
    // Earlier versions kept the approval with the project in ~/.claude.json.
    if let Some(h) = &homes.home
        && let Some(state) = read_json(&h.join(".claude.json"), &mut read)
        && let Some(p) = state
            .get("projects")
            .and_then(|p| p.get(project.display().to_string()))
    {
        settings.push(p.clone());
    }
    let named = |key: &str| {
        settings
            .iter()
            .any(|s| strings(s, key).iter().any(|n| n == "memtree"))
    };
    let mcp = if named("disabledMcpjsonServers") {
        "rejected"
    } else if named("enabledMcpjsonServers")
        || settings
            .iter()
            .any(|s| s.get("enableAllProjectMcpServers") == Some(&Value::Bool(true)))
    {
        "approved"
    } else {
        "pending"
    };
    let allowed = settings.iter().any(|s| {
        s.get("permissions")
            .map(|p| strings(p, "allow"))
            .unwrap_or_default()
            .iter()
            .any(|r| r == "mcp__memtree" || r.starts_with("mcp__memtree__"))
    });
    let files = files(Agent::Claude, project);
    let next = if files.iter().any(|f| f.state != "ok") {
        "run `memtree setup claude`".to_string()
    } else {
        match mcp {
            "rejected" => "memtree is in disabledMcpjsonServers: take it out (Claude Code then asks again)".into(),
            "pending" => "start `claude` in the project once and approve the memtree MCP server (or put \"enabledMcpjsonServers\": [\"memtree\"] in .claude/settings.local.json); until then Claude Code starts it for no session".into(),
            _ if !allowed => "nothing for sessions; for `claude -p` pass --allowedTools 'mcp__memtree__*' (or add \"mcp__memtree\" to permissions.allow), or its tool calls are refused".into(),
            _ => "nothing: Claude Code starts memtree and may call its tools".into(),
        }
    };
    AgentStatus {
        agent: Agent::Claude,
        files,
        mcp,
        allowed: Some(allowed),
        next,
        read,
    }
}

/// `SessionStart` as Codex names it in a hook key: `session_start`.
fn snake(event: &str) -> String {
    let mut out = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The keys Codex gives memtree's hooks in `hooks.json` (`PATH:event:group:handler`).
fn codex_hook_keys(hooks_file: &Path, hooks: &Value) -> Vec<String> {
    let ours: Vec<String> = session_events(Agent::Codex)
        .into_iter()
        .map(|(_, _, command, _)| command)
        .collect();
    let mut keys = Vec::new();
    let Some(events) = hooks.get("hooks").and_then(Value::as_object) else {
        return keys;
    };
    for (event, groups) in events {
        for (g, group) in groups.as_array().into_iter().flatten().enumerate() {
            let handlers = group.get("hooks").and_then(Value::as_array);
            for (h, handler) in handlers.into_iter().flatten().enumerate() {
                let command = handler.get("command").and_then(Value::as_str);
                if command.is_some_and(|c| ours.iter().any(|o| o == c)) {
                    keys.push(format!("{}:{}:{g}:{h}", hooks_file.display(), snake(event)));
                }
            }
        }
    }
    keys
}

fn codex(project: &Path, homes: &Homes) -> AgentStatus {
    let mut read = Vec::new();
    let config: Option<toml_edit::DocumentMut> = homes.codex.as_ref().and_then(|c| {
        let path = c.join("config.toml");
        let text = std::fs::read_to_string(&path).ok()?;
        read.push(path.display().to_string());
        text.parse().ok()
    });
    let item = |path: &[&str]| -> Option<toml_edit::Item> {
        let mut at = config.as_ref()?.as_item().clone();
        for k in path {
            at = at.get(k)?.clone();
        }
        Some(at)
    };
    let root = project.display().to_string();
    let trusted = item(&["projects", &root, "trust_level"])
        .and_then(|v| v.as_str().map(str::to_string))
        .is_some_and(|v| v == "trusted");
    let hooks_file = project.join(".codex/hooks.json");
    let keys = read_json(&hooks_file, &mut Vec::new())
        .map(|h| codex_hook_keys(&hooks_file, &h))
        .unwrap_or_default();
    let reviewed = !keys.is_empty()
        && keys.iter().all(|k| {
            let state = item(&["hooks", "state", k]);
            let enabled = state
                .as_ref()
                .and_then(|s| s.get("enabled"))
                .and_then(toml_edit::Item::as_bool)
                .unwrap_or(true);
            enabled && state.as_ref().and_then(|s| s.get("trusted_hash")).is_some()
        });
    let files = files(Agent::Codex, project);
    let next = if files.iter().any(|f| f.state != "ok") {
        "run `memtree setup codex`".to_string()
    } else if !trusted {
        format!(
            "start `codex` in the project and trust it (or add [projects.\"{root}\"] \
             trust_level = \"trusted\" to Codex's config.toml); Codex ignores the project's \
             .codex/ until then"
        )
    } else if !reviewed {
        "start `codex` in the project and approve memtree's hooks when it asks; until then \
         `codex exec` skips them without a word"
            .to_string()
    } else {
        "nothing: Codex starts memtree and runs its hooks".to_string()
    };
    AgentStatus {
        agent: Agent::Codex,
        files,
        mcp: if trusted { "trusted" } else { "untrusted" },
        allowed: Some(reviewed),
        next,
        read,
    }
}

fn cursor(project: &Path) -> AgentStatus {
    let files = files(Agent::Cursor, project);
    let next = if files.iter().any(|f| f.state != "ok") {
        "run `memtree setup cursor`".to_string()
    } else {
        "open the project in Cursor and enable the memtree MCP server when it asks (memtree \
         cannot read Cursor's approvals)"
            .to_string()
    };
    AgentStatus {
        agent: Agent::Cursor,
        files,
        mcp: "unknown",
        allowed: None,
        next,
        read: Vec::new(),
    }
}

/// The status of `agents` (all three when empty) in `project` (absolute), read from the
/// project's files and the clients' own files in `homes`. Reads only.
pub fn status(agents: &[Agent], project: &Path, homes: &Homes) -> StatusReport {
    let all = [Agent::Claude, Agent::Codex, Agent::Cursor];
    let agents = if agents.is_empty() { &all[..] } else { agents };
    StatusReport {
        schema: "memtree.setup-status/v1",
        project: project.display().to_string(),
        agents: agents
            .iter()
            .map(|a| match a {
                Agent::Claude => claude(project, homes),
                Agent::Codex => codex(project, homes),
                Agent::Cursor => cursor(project),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codex_hook_keys_name_event_group_and_handler() {
        let hooks = serde_json::json!({"hooks": {
            "SessionStart": [
                {"hooks": [{"type": "command", "command": "./banner.sh"}]},
                {"matcher": "startup", "hooks": [{"type": "command", "command": "memtree prime --hook codex"}]}
            ],
            "PreCompact": [{"hooks": [{"type": "command", "command": "memtree curate --hook codex"}]}]
        }});
        assert_eq!(
            codex_hook_keys(Path::new("/p/.codex/hooks.json"), &hooks),
            [
                "/p/.codex/hooks.json:session_start:1:0",
                "/p/.codex/hooks.json:pre_compact:0:0"
            ]
        );
    }
}
