//! `memtree setup claude|cursor|codex`: connects an agent to memtree in the files the agent
//! reads, project-local (meant to be committed) unless `--global`.
//!
//! | agent | MCP server | session hooks |
//! |---|---|---|
//! | Claude Code | `.mcp.json` `mcpServers.memtree` | `.claude/settings.json`: `SessionStart` (matcher `startup\|resume\|clear\|compact`) runs `memtree prime --hook claude`; `PreCompact` and `SessionEnd` run `memtree curate --hook claude` |
//! | Cursor | `.cursor/mcp.json` `mcpServers.memtree` | `.cursor/hooks.json` (`version: 1`): `sessionStart` runs `memtree prime --hook cursor`, `sessionEnd` runs `memtree curate --hook cursor` |
//! | Codex | `.codex/config.toml` `[mcp_servers.memtree]` | `.codex/hooks.json`: `SessionStart` (`startup\|resume\|clear`) runs `memtree prime --hook codex`; `PreCompact` and `Stop` run `memtree curate --hook codex` |
//!
//! `--global` writes the user's files instead (`~/.claude.json` and `~/.claude/settings.json`,
//! `~/.cursor/`, `~/.codex/`).
//!
//! Existing files are merged, never replaced: JSON keys keep their order (serde_json with
//! `preserve_order`) and TOML keeps its comments and layout (toml_edit). A second run changes
//! nothing. `--remove` takes out exactly what setup adds (memtree's server entry and the hook
//! handlers whose command is memtree's), drops containers it leaves empty, and deletes a file
//! that is left with nothing in it. Every change is planned and every file parsed before any is
//! written; a file that does not parse is an error naming it, and nothing is written.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// An agent memtree connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Agent {
    /// Claude Code.
    Claude,
    /// Cursor.
    Cursor,
    /// OpenAI Codex.
    Codex,
}

impl Agent {
    fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Cursor => "cursor",
            Agent::Codex => "codex",
        }
    }
}

/// One file setup writes, as planned.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileChange {
    /// The file as shown (relative to the project, or `~/...`).
    pub file: String,
    /// `create`, `update`, `unchanged` or `delete`.
    pub action: &'static str,
    /// The new content (absent for `delete`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Where it is.
    #[serde(skip)]
    pub path: PathBuf,
}

/// What `setup` planned and did (`memtree.setup/v1`).
#[derive(Debug, Serialize)]
pub struct SetupReport {
    /// Always `memtree.setup/v1`.
    pub schema: &'static str,
    /// The agent.
    pub agent: Agent,
    /// `project` or `global`.
    pub scope: &'static str,
    /// `--remove`.
    pub remove: bool,
    /// The files were written (not `--print`).
    pub written: bool,
    /// Each file.
    pub files: Vec<FileChange>,
    /// What the user should know (trust prompts, what to commit).
    pub notes: Vec<String>,
    /// The memory tree setup created (`memtree init`) because the project had none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<crate::memory::InitReport>,
}

const MCP_COMMAND: &str = "memtree";

fn io(action: &'static str, path: &Path, e: std::io::Error) -> Error {
    Error::io(action, path, e)
}

/// The memtree command a hook runs.
fn prime_command(agent: Agent) -> String {
    format!("memtree prime --hook {}", agent.name())
}

fn curate_command(agent: Agent) -> String {
    format!("memtree curate --hook {}", agent.name())
}

/// The hooks of an agent whose hook files group handlers by matcher (Claude Code, Codex):
/// event, matcher, command, timeout in seconds. Codex has no `compact` start and no
/// `SessionEnd`; its `Stop` ends each turn.
fn session_events(agent: Agent) -> Vec<(&'static str, Option<&'static str>, String, u64)> {
    let (starts, end) = match agent {
        Agent::Codex => ("startup|resume|clear", "Stop"),
        _ => ("startup|resume|clear|compact", "SessionEnd"),
    };
    vec![
        ("SessionStart", Some(starts), prime_command(agent), 15),
        ("PreCompact", None, curate_command(agent), 60),
        (end, None, curate_command(agent), 60),
    ]
}

/// Whether a hook handler is memtree's (for this agent).
fn is_ours(handler: &Value, agent: Agent) -> bool {
    handler
        .get("command")
        .and_then(Value::as_str)
        .is_some_and(|c| c == prime_command(agent) || c == curate_command(agent))
}

/// Reads a file that may not exist. A symbolic link is refused: setup writes only the file
/// it names.
fn read_existing(path: &Path) -> Result<Option<String>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("cannot read", path, e)),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(Error::Refused(format!(
                "{} is a symbolic link; memtree setup writes only plain files (edit it by hand \
                 or use --print)",
                path.display()
            )));
        }
        Ok(_) => {}
    }
    std::fs::read_to_string(path)
        .map(Some)
        .map_err(|e| io("cannot read", path, e))
}

/// Refuses a folder between `base` and `rel` that is a symbolic link.
fn linked_folder(base: &Path, rel: &str) -> Result<()> {
    let mut at = base.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        at.push(part);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Refused(format!(
                "{} is a symbolic link; memtree setup writes only inside the project (edit the \
                 files by hand or use --print)",
                at.display()
            )));
        }
    }
    Ok(())
}

fn parse_json(path: &Path, text: &str) -> Result<Map<String, Value>> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::Config {
            file: path.to_path_buf(),
            message: "expected a JSON object".into(),
        }),
        Err(e) => Err(Error::Config {
            file: path.to_path_buf(),
            message: format!("line {}: {e}", e.line()),
        }),
    }
}

/// The object at `key` of `m`, created when missing.
///
/// # Errors
/// The key holds something else than an object.
fn object<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
    path: &Path,
) -> Result<&'a mut Map<String, Value>> {
    let v = m.entry(key).or_insert_with(|| Value::Object(Map::new()));
    v.as_object_mut().ok_or_else(|| Error::Config {
        file: path.to_path_buf(),
        message: format!("`{key}` is not an object"),
    })
}

/// `mcpServers.memtree` added (or, when `remove`, taken out) in a JSON MCP configuration.
fn edit_mcp_json(m: &mut Map<String, Value>, remove: bool, path: &Path) -> Result<()> {
    let servers = object(m, "mcpServers", path)?;
    if remove {
        let ours = servers
            .get("memtree")
            .and_then(|s| s.get("command"))
            .and_then(Value::as_str)
            .is_some_and(|c| c == MCP_COMMAND);
        if ours {
            servers.shift_remove("memtree");
        }
        if servers.is_empty() {
            m.shift_remove("mcpServers");
        }
        return Ok(());
    }
    let want = json!({"command": MCP_COMMAND, "args": ["mcp"]});
    if let Some(existing) = servers.get("memtree") {
        foreign_server(
            existing.get("command").and_then(Value::as_str),
            existing,
            path,
        )?;
    }
    match servers.get_mut("memtree") {
        // A server entry the user extended (env, a full path) is theirs to keep.
        Some(Value::Object(s)) => {
            s.entry("command").or_insert_with(|| json!(MCP_COMMAND));
            s.entry("args").or_insert_with(|| json!(["mcp"]));
        }
        _ => {
            servers.insert("memtree".into(), want);
        }
    }
    Ok(())
}

/// Whether `command` runs memtree: `memtree`, or a path to a file named `memtree`.
fn runs_memtree(command: &str) -> bool {
    Path::new(command)
        .file_name()
        .is_some_and(|n| n == MCP_COMMAND)
}

/// Refuses an MCP server entry named `memtree` that runs something else (`sh -c "curl … |
/// sh"` in a cloned `.mcp.json`): setup would report it as memtree's and tell the user to
/// approve it.
///
/// # Errors
/// [`Error::Taken`] (kind `conflict`) naming the command.
fn foreign_server(
    command: Option<&str>,
    entry: &impl std::fmt::Display,
    path: &Path,
) -> Result<()> {
    if command.is_some_and(runs_memtree) {
        return Ok(());
    }
    let what = match command {
        Some(c) => format!("runs `{c}`"),
        None => format!("runs no command ({entry})"),
    };
    Err(Error::Taken {
        file: path.to_path_buf(),
        reason: format!(
            "its `memtree` MCP server {what}, which is not memtree, and setup will not vouch \
             for it"
        ),
    })
}

/// Claude Code's and Codex's hook layout: `hooks.EVENT` is a list of matcher groups
/// `{matcher?, hooks: [{type: command, command, timeout?}]}`. memtree's group for an event is
/// replaced (or, when `remove`, removed); other groups and handlers are kept as they are.
fn edit_grouped_hooks(
    m: &mut Map<String, Value>,
    agent: Agent,
    events: &[(&str, Option<&str>, String, u64)],
    remove: bool,
    path: &Path,
) -> Result<()> {
    let hooks = object(m, "hooks", path)?;
    for (event, matcher, command, timeout) in events {
        let list = hooks
            .entry(*event)
            .or_insert_with(|| Value::Array(Vec::new()));
        let Some(groups) = list.as_array_mut() else {
            return Err(Error::Config {
                file: path.to_path_buf(),
                message: format!("`hooks.{event}` is not a list"),
            });
        };
        // Take memtree's handlers out of every group; drop groups left empty by that.
        for g in groups.iter_mut() {
            if let Some(hs) = g.get_mut("hooks").and_then(Value::as_array_mut) {
                hs.retain(|h| !is_ours(h, agent));
            }
        }
        groups.retain(|g| {
            g.get("hooks")
                .and_then(Value::as_array)
                .is_none_or(|hs| !hs.is_empty())
        });
        if !remove {
            let mut group = Map::new();
            if let Some(mt) = matcher {
                group.insert("matcher".into(), json!(mt));
            }
            group.insert(
                "hooks".into(),
                json!([{"type": "command", "command": command, "timeout": timeout}]),
            );
            groups.push(Value::Object(group));
        }
        if groups.is_empty() {
            hooks.shift_remove(*event);
        }
    }
    if hooks.is_empty() {
        m.shift_remove("hooks");
    }
    Ok(())
}

/// Cursor's layout: `{"version": 1, "hooks": {event: [{command, timeout?}]}}`.
fn edit_cursor_hooks(m: &mut Map<String, Value>, remove: bool, path: &Path) -> Result<()> {
    let agent = Agent::Cursor;
    if !remove && !m.contains_key("version") {
        m.insert("version".into(), json!(1));
    }
    let hooks = object(m, "hooks", path)?;
    for (event, command) in [
        ("sessionStart", prime_command(agent)),
        ("sessionEnd", curate_command(agent)),
    ] {
        let list = hooks
            .entry(event)
            .or_insert_with(|| Value::Array(Vec::new()));
        let Some(handlers) = list.as_array_mut() else {
            return Err(Error::Config {
                file: path.to_path_buf(),
                message: format!("`hooks.{event}` is not a list"),
            });
        };
        handlers.retain(|h| !is_ours(h, agent));
        if !remove {
            handlers.push(json!({"command": command, "timeout": 30}));
        }
        if handlers.is_empty() {
            hooks.shift_remove(event);
        }
    }
    if hooks.is_empty() {
        m.shift_remove("hooks");
        if remove && m.len() == 1 && m.get("version") == Some(&json!(1)) {
            m.shift_remove("version");
        }
    }
    Ok(())
}

/// `[mcp_servers.memtree]` in a Codex `config.toml`, comments and layout kept.
fn edit_codex_toml(text: &str, remove: bool, path: &Path) -> Result<String> {
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| Error::Config {
                file: path.to_path_buf(),
                message: e.to_string().trim().to_string(),
            })?;
    let not_table = || Error::Config {
        file: path.to_path_buf(),
        message: "`mcp_servers` is not a table".into(),
    };
    if remove {
        if let Some(servers) = doc.get_mut("mcp_servers") {
            let servers = servers.as_table_like_mut().ok_or_else(not_table)?;
            let ours = servers
                .get("memtree")
                .and_then(|s| s.get("command"))
                .and_then(|c| c.as_str())
                .is_some_and(|c| c == MCP_COMMAND);
            if ours {
                servers.remove("memtree");
            }
            if servers.is_empty() {
                doc.remove("mcp_servers");
            }
        }
        return Ok(doc.to_string());
    }
    let servers = doc
        .entry("mcp_servers")
        .or_insert_with(|| {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            toml_edit::Item::Table(t)
        })
        .as_table_like_mut()
        .ok_or_else(not_table)?;
    if let Some(existing) = servers.get("memtree") {
        let command = existing.get("command").and_then(|c| c.as_str());
        foreign_server(command, &existing.to_string().trim(), path)?;
    } else {
        let mut t = toml_edit::Table::new();
        t.insert("command", toml_edit::value(MCP_COMMAND));
        let mut args = toml_edit::Array::new();
        args.push("mcp");
        t.insert("args", toml_edit::value(args));
        servers.insert("memtree", toml_edit::Item::Table(t));
    }
    Ok(doc.to_string())
}

fn render_json(m: &Map<String, Value>) -> String {
    let mut s = serde_json::to_string_pretty(m).unwrap_or_default();
    s.push('\n');
    s
}

/// A JSON file's new text after `f` edited it; `None` when nothing is left in it.
fn json_edit(
    text: &str,
    path: &Path,
    f: impl Fn(&mut Map<String, Value>, &Path) -> Result<()>,
) -> Result<Option<String>> {
    let mut m = parse_json(path, text)?;
    f(&mut m, path)?;
    Ok((!m.is_empty()).then(|| render_json(&m)))
}

/// The project folder for `start` when no tree exists yet: the git work tree that holds it,
/// else `start` itself (an agent reads its project files from where it is started, which is
/// the repository's top for a repository).
pub fn project_dir(start: &Path) -> PathBuf {
    git2::Repository::discover(start)
        .ok()
        .and_then(|r| r.workdir().map(Path::to_path_buf))
        .unwrap_or_else(|| start.to_path_buf())
}

/// Plans the files for `agent` under `base` (the project root, or the home folder for
/// `global`), adding memtree or, with `remove`, taking it out.
///
/// # Errors
/// A file that does not parse, or holds the wrong type where memtree's entry goes
/// ([`Error::Config`] naming it); a symbolic link ([`Error::Refused`]); I/O errors.
pub fn plan(agent: Agent, base: &Path, global: bool, remove: bool) -> Result<SetupReport> {
    let shown = |rel: &str| {
        if global {
            format!("~/{rel}")
        } else {
            rel.to_string()
        }
    };
    let mut files = Vec::new();
    let mut change =
        |rel: &str, edit: &dyn Fn(&str, &Path) -> Result<Option<String>>| -> Result<()> {
            let path = base.join(rel);
            // In a project, a folder on the way (`.claude`, `.cursor`, `.codex`) that is a
            // link could send the write outside it: refused. A user's own folders may be
            // links (dotfiles), and are followed.
            if !global {
                linked_folder(base, rel)?;
            }
            let before = read_existing(&path)?;
            let after = edit(before.as_deref().unwrap_or(""), &path)?;
            let action = match (&before, &after) {
                (None, None) => return Ok(()),
                (Some(_), None) => "delete",
                (None, Some(_)) => "create",
                (Some(b), Some(a)) if a == b => "unchanged",
                (Some(_), Some(_)) => "update",
            };
            files.push(FileChange {
                file: shown(rel),
                action,
                content: after,
                path,
            });
            Ok(())
        };
    let mut notes = Vec::new();
    match agent {
        Agent::Claude => {
            let mcp = if global { ".claude.json" } else { ".mcp.json" };
            change(mcp, &|t, p| {
                json_edit(t, p, |m, p| edit_mcp_json(m, remove, p))
            })?;
            let events = session_events(agent);
            change(".claude/settings.json", &|t, p| {
                json_edit(t, p, |m, p| {
                    edit_grouped_hooks(m, agent, &events, remove, p)
                })
            })?;
            if !remove && !global && files.iter().any(|f| f.action != "unchanged") {
                notes.push(
                    "Claude Code asks once to approve the project's MCP servers in .mcp.json"
                        .into(),
                );
            }
        }
        Agent::Cursor => {
            change(".cursor/mcp.json", &|t, p| {
                json_edit(t, p, |m, p| edit_mcp_json(m, remove, p))
            })?;
            change(".cursor/hooks.json", &|t, p| {
                json_edit(t, p, |m, p| edit_cursor_hooks(m, remove, p))
            })?;
        }
        Agent::Codex => {
            change(".codex/config.toml", &|text, path| {
                let out = edit_codex_toml(text, remove, path)?;
                Ok((!out.trim().is_empty()).then_some(out))
            })?;
            let events = session_events(agent);
            change(".codex/hooks.json", &|t, p| {
                json_edit(t, p, |m, p| {
                    edit_grouped_hooks(m, agent, &events, remove, p)
                })
            })?;
            if !remove && !global && files.iter().any(|f| f.action != "unchanged") {
                notes.push(
                    "Codex reads a project's .codex/ only when the project is trusted, and runs \
                     its hooks after you review and trust them"
                        .into(),
                );
            }
        }
    }
    if !remove && !global {
        let changed: Vec<&str> = files
            .iter()
            .filter(|f| f.action != "unchanged")
            .map(|f| f.file.as_str())
            .collect();
        if !changed.is_empty() {
            notes.push(format!(
                "commit them so the team gets the same setup: git add {}",
                changed.join(" ")
            ));
        }
    }
    Ok(SetupReport {
        schema: "memtree.setup/v1",
        agent,
        scope: if global { "global" } else { "project" },
        remove,
        written: false,
        files,
        notes,
        init: None,
    })
}

/// Writes a planned setup: each file replaced whole through a temporary file in its folder
/// (never half-written), a `delete` removed, and folders setup leaves empty removed.
///
/// # Errors
/// I/O errors, naming the file.
pub fn apply(report: &mut SetupReport) -> Result<()> {
    for f in &report.files {
        match (&f.content, f.action) {
            (_, "unchanged") => {}
            (Some(text), _) => {
                let dir = f.path.parent().unwrap_or(Path::new("."));
                std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
                let mut tmp = tempfile::Builder::new()
                    .prefix(".memtree-setup-")
                    .tempfile_in(dir)
                    .map_err(|e| io("cannot write in", dir, e))?;
                std::io::Write::write_all(&mut tmp, text.as_bytes())
                    .map_err(|e| io("cannot write", &f.path, e))?;
                // Keep the file's permissions (a settings file may be private).
                if let Ok(meta) = std::fs::metadata(&f.path) {
                    let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
                }
                tmp.persist(&f.path)
                    .map_err(|e| io("cannot write", &f.path, e.error))?;
            }
            (None, _) => {
                std::fs::remove_file(&f.path).map_err(|e| io("cannot remove", &f.path, e))?;
                if let Some(dir) = f.path.parent() {
                    // Only when empty; `.claude/` with other files in it stays.
                    let _ = std::fs::remove_dir(dir);
                }
            }
        }
    }
    report.written = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keeps_comments_and_order_and_removes_exactly_what_it_added() {
        let before = "# my codex settings\nmodel = \"o4\"  # fast\n\n[mcp_servers.docs]\ncommand = \"docs-mcp\"\n\n[profiles.x]\nmodel = \"y\"\n";
        let added = edit_codex_toml(before, false, Path::new("c.toml")).unwrap();
        // Beside the other servers; everything else as it was.
        assert_eq!(
            added,
            before.replace(
                "\n[profiles.x]",
                "\n[mcp_servers.memtree]\ncommand = \"memtree\"\nargs = [\"mcp\"]\n\n[profiles.x]"
            )
        );
        assert_eq!(
            edit_codex_toml(&added, false, Path::new("c.toml")).unwrap(),
            added
        );
        assert_eq!(
            edit_codex_toml(&added, true, Path::new("c.toml")).unwrap(),
            before
        );
        assert!(edit_codex_toml("model = [", false, Path::new("c.toml")).is_err());
    }
}
