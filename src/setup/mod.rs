//! `memtree setup claude|cursor|codex`: connects an agent to memtree in the files the agent
//! reads, project-local (meant to be committed) unless `--global`.
//!
//! | agent | MCP server | session hooks |
//! |---|---|---|
//! | Claude Code | `.mcp.json` `mcpServers.memtree` | `.claude/settings.json`: `SessionStart` (matcher `startup\|resume\|clear\|compact`) runs `memtree prime --hook claude`; `PreCompact` and `SessionEnd` run `memtree curate --hook claude` |
//! | Cursor | `.cursor/mcp.json` `mcpServers.memtree` | `.cursor/hooks.json` (`version: 1`): `sessionStart` runs `memtree prime --hook cursor`, `sessionEnd` runs `memtree curate --hook cursor` |
//! | Codex | `.codex/config.toml` `[mcp_servers.memtree]` | `.codex/hooks.json`: `SessionStart` (`startup\|resume\|clear\|compact`) runs `memtree prime --hook codex`; `PreCompact` and `Stop` run `memtree curate --hook codex` |
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

pub mod status;

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstArray, CstInputValue, CstObject, CstRootNode};
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
    /// What the file held when it was planned (`None`: it did not exist); [`apply`] writes
    /// only over exactly this.
    #[serde(skip)]
    pub before: Option<String>,
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
    /// The folder the files are in (the project, or the home folder for `--global`).
    #[serde(skip)]
    pub base: PathBuf,
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
/// event, matcher, command, timeout in seconds. Both fire SessionStart with `compact` after a
/// compaction (Codex since 0.171), which must send the bundle again; Codex has no `SessionEnd`,
/// its `Stop` ends each turn.
fn session_events(agent: Agent) -> Vec<(&'static str, Option<&'static str>, String, u64)> {
    let starts = "startup|resume|clear|compact";
    let end = match agent {
        Agent::Codex => "Stop",
        _ => "SessionEnd",
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

/// A JSON value as the CST editor's input.
fn input(v: &Value) -> CstInputValue {
    match v {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(a) => CstInputValue::Array(a.iter().map(input).collect()),
        Value::Object(m) => {
            CstInputValue::Object(m.iter().map(|(k, v)| (k.clone(), input(v))).collect())
        }
    }
}

fn not_a(path: &Path, key: &str, what: &str) -> Error {
    Error::Config {
        file: path.to_path_buf(),
        message: format!("`{key}` is not {what}"),
    }
}

/// The object at `key` of `parent`: `None` when there is none (and `create` is false).
///
/// # Errors
/// The key holds something else than an object.
fn object_at(
    parent: &CstObject,
    key: &str,
    create: bool,
    path: &Path,
) -> Result<Option<CstObject>> {
    match parent.get(key) {
        Some(prop) => prop
            .object_value()
            .map(Some)
            .ok_or_else(|| not_a(path, key, "an object")),
        None if create => Ok(Some(parent.object_value_or_set(key))),
        None => Ok(None),
    }
}

/// The array at `key` of `parent`, as [`object_at`].
fn array_at(parent: &CstObject, key: &str, create: bool, path: &Path) -> Result<Option<CstArray>> {
    match parent.get(key) {
        Some(prop) => prop
            .array_value()
            .map(Some)
            .ok_or_else(|| not_a(path, key, "a list")),
        None if create => Ok(Some(parent.array_value_or_set(key))),
        None => Ok(None),
    }
}

/// Removes the property `key` of `parent` when its object or array is left empty.
fn drop_if_empty(parent: &CstObject, key: &str) {
    let Some(prop) = parent.get(key) else { return };
    let empty = match prop.value() {
        Some(v) => match (v.as_object(), v.as_array()) {
            (Some(o), _) => o.properties().is_empty(),
            (_, Some(a)) => a.elements().is_empty(),
            _ => false,
        },
        None => false,
    };
    if empty {
        prop.remove();
    }
}

/// `mcpServers.memtree` added (or, when `remove`, taken out) in a JSON MCP configuration.
fn edit_mcp_json(m: &CstObject, remove: bool, path: &Path) -> Result<()> {
    let Some(servers) = object_at(m, "mcpServers", !remove, path)? else {
        return Ok(());
    };
    if remove {
        if let Some(prop) = servers.get("memtree") {
            let ours = prop
                .to_serde_value()
                .and_then(|v| v.get("command").and_then(Value::as_str).map(runs_memtree))
                .unwrap_or(false);
            if ours {
                prop.remove();
            }
        }
        drop_if_empty(m, "mcpServers");
        return Ok(());
    }
    let want = json!({"command": MCP_COMMAND, "args": ["mcp"]});
    match servers.get("memtree") {
        Some(prop) => {
            let existing = prop.to_serde_value().unwrap_or(Value::Null);
            foreign_server(
                existing.get("command").and_then(Value::as_str),
                &existing,
                path,
            )?;
            // A server entry the user extended (env, a full path) is theirs to keep.
            if let Some(o) = prop.object_value()
                && o.get("args").is_none()
            {
                o.append("args", input(&json!(["mcp"])));
            }
        }
        None => {
            servers.append("memtree", input(&want));
        }
    }
    Ok(())
}

/// The handler list of `hooks.EVENT` (created unless `remove`; `None` when there is none to
/// remove from).
///
/// # Errors
/// `hooks.EVENT` holds something else than a list.
fn hook_list(
    hooks: &CstObject,
    event: &str,
    remove: bool,
    path: &Path,
) -> Result<Option<CstArray>> {
    array_at(hooks, event, !remove, path)
        .map_err(|_| not_a(path, &format!("hooks.{event}"), "a list"))
}

/// Takes memtree's own handlers (for `agent`) out of `list`, leaving every other one as it is.
fn remove_ours(list: &CstArray, agent: Agent) {
    for h in list.elements() {
        if h.to_serde_value().is_some_and(|v| is_ours(&v, agent)) {
            h.remove();
        }
    }
}

/// Claude Code's and Codex's hook layout: `hooks.EVENT` is a list of matcher groups
/// `{matcher?, hooks: [{type: command, command, timeout?}]}`. memtree's group for an event is
/// replaced (or, when `remove`, removed); other groups and handlers are kept as they are.
fn edit_grouped_hooks(
    m: &CstObject,
    agent: Agent,
    events: &[(&str, Option<&str>, String, u64)],
    remove: bool,
    path: &Path,
) -> Result<()> {
    let Some(hooks) = object_at(m, "hooks", !remove, path)? else {
        return Ok(());
    };
    for (event, matcher, command, timeout) in events {
        let Some(groups) = hook_list(&hooks, event, remove, path)? else {
            continue;
        };
        // Take memtree's handlers out of every group; drop groups left empty by that.
        for g in groups.elements() {
            let Some(handlers) = g.as_object().and_then(|o| o.array_value("hooks")) else {
                continue;
            };
            remove_ours(&handlers, agent);
            if handlers.elements().is_empty() {
                g.remove();
            }
        }
        if !remove {
            let mut group = Map::new();
            if let Some(mt) = matcher {
                group.insert("matcher".into(), json!(mt));
            }
            group.insert(
                "hooks".into(),
                json!([{"type": "command", "command": command, "timeout": timeout}]),
            );
            groups.append(input(&Value::Object(group)));
        }
        drop_if_empty(&hooks, event);
    }
    drop_if_empty(m, "hooks");
    Ok(())
}

/// Cursor's layout: `{"version": 1, "hooks": {event: [{command, timeout?}]}}`.
fn edit_cursor_hooks(m: &CstObject, remove: bool, path: &Path) -> Result<()> {
    let agent = Agent::Cursor;
    if !remove && m.get("version").is_none() {
        m.insert(0, "version", CstInputValue::Number("1".into()));
    }
    let Some(hooks) = object_at(m, "hooks", !remove, path)? else {
        return Ok(());
    };
    for (event, command) in [
        ("sessionStart", prime_command(agent)),
        ("sessionEnd", curate_command(agent)),
    ] {
        let Some(handlers) = hook_list(&hooks, event, remove, path)? else {
            continue;
        };
        remove_ours(&handlers, agent);
        if !remove {
            handlers.append(input(&json!({"command": command, "timeout": 30})));
        }
        drop_if_empty(&hooks, event);
    }
    drop_if_empty(m, "hooks");
    if remove
        && m.properties().len() == 1
        && let Some(p) = m.get("version")
        && p.to_serde_value() == Some(json!(1))
    {
        p.remove();
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

/// A JSON file's new text after `f` edited it, `None` when nothing is left in it. The file is
/// edited as a concrete syntax tree (jsonc-parser's CST): every byte memtree does not change
/// stays as the user wrote it (number literals such as `1.0e3` or integers past 64 bits,
/// duplicate keys, escapes, tabs, CRLF line endings, comments), so `--remove` gives back the
/// file as it was wherever memtree's entry was the only change.
fn json_edit(
    text: &str,
    path: &Path,
    f: impl Fn(&CstObject, &Path) -> Result<()>,
) -> Result<Option<String>> {
    let source = if text.trim().is_empty() { "{}\n" } else { text };
    let root = CstRootNode::parse(source, &ParseOptions::default()).map_err(|e| Error::Config {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let Some(m) = root.object_value() else {
        return Err(Error::Config {
            file: path.to_path_buf(),
            message: "expected a JSON object".into(),
        });
    };
    f(&m, path)?;
    Ok((!m.properties().is_empty()).then(|| root.to_string()))
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
            let mut after = edit(before.as_deref().unwrap_or(""), &path)?;
            // The file as setup left it: --remove gives back the bytes it had before, exactly
            // (a syntax-tree edit keeps them in all but a few layouts).
            if remove
                && let Some(record) = record_of(base, global, &path)
                && before.as_deref() == Some(record.after.as_str())
            {
                after = record.before;
            }
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
                before,
            });
            Ok(())
        };
    // The two editors every agent's files share: the MCP entry in a JSON file, and the hook
    // groups of Claude Code's and Codex's layout.
    let events = session_events(agent);
    let mcp_json = |t: &str, p: &Path| json_edit(t, p, |m, p| edit_mcp_json(m, remove, p));
    let grouped_hooks = |t: &str, p: &Path| {
        json_edit(t, p, |m, p| {
            edit_grouped_hooks(m, agent, &events, remove, p)
        })
    };
    // A note about what the client asks is worth saying when setup added something.
    let announce =
        |files: &[FileChange]| !remove && !global && files.iter().any(|f| f.action != "unchanged");
    let mut notes = Vec::new();
    match agent {
        Agent::Claude => {
            let mcp = if global { ".claude.json" } else { ".mcp.json" };
            change(mcp, &mcp_json)?;
            change(".claude/settings.json", &grouped_hooks)?;
            if announce(&files) {
                notes.push(
                    "Claude Code asks once to approve the project's MCP servers in .mcp.json"
                        .into(),
                );
            }
        }
        Agent::Cursor => {
            change(".cursor/mcp.json", &mcp_json)?;
            change(".cursor/hooks.json", &|t, p| {
                json_edit(t, p, |m, p| edit_cursor_hooks(m, remove, p))
            })?;
        }
        Agent::Codex => {
            change(".codex/config.toml", &|text, path| {
                let out = edit_codex_toml(text, remove, path)?;
                Ok((!out.trim().is_empty()).then_some(out))
            })?;
            change(".codex/hooks.json", &grouped_hooks)?;
            if announce(&files) {
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
        base: base.to_path_buf(),
    })
}

/// What setup wrote to a file, and what the file held before, so that `--remove` can give the
/// user's bytes back exactly while the file is as setup left it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct Record {
    /// The file before setup wrote it (`None`: it did not exist).
    before: Option<String>,
    /// The file as setup wrote it.
    after: String,
}

/// Where the records of files setup wrote are kept: the project's `.memory/.cache/setup/`
/// (never committed), or for `--global` the user's memtree folder; `None` when there is none.
fn record_dir(base: &Path, global: bool) -> Option<PathBuf> {
    if global {
        return crate::trust::user_dir().map(|d| d.join("setup"));
    }
    let memory = base.join(crate::tree::MEMORY_DIR);
    memory
        .is_dir()
        .then(|| memory.join(crate::tree::CACHE_DIR).join("setup"))
}

fn record_path(base: &Path, global: bool, file: &Path) -> Option<PathBuf> {
    let key = crate::changeset::content_hash(file.display().to_string().as_bytes());
    record_dir(base, global).map(|d| d.join(format!("{key:016x}.json")))
}

fn record_of(base: &Path, global: bool, file: &Path) -> Option<Record> {
    let path = record_path(base, global, file)?;
    let bytes = crate::tree::read_regular(&path, 16 << 20).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Keeps (or, after `--remove`, forgets) the record of a file setup wrote. Best effort: a
/// record that cannot be written only means `--remove` edits the file instead.
fn keep_record(report: &SetupReport, base: &Path, f: &FileChange) {
    let global = report.scope == "global";
    let Some(path) = record_path(base, global, &f.path) else {
        return;
    };
    match (&f.content, report.remove) {
        (Some(after), false) => {
            // Setup rewriting its own output (a newer matcher) keeps the user's first bytes.
            let before = match record_of(base, global, &f.path) {
                Some(old) if f.before.as_deref() == Some(old.after.as_str()) => old.before,
                _ => f.before.clone(),
            };
            let record = Record {
                before,
                after: after.clone(),
            };
            if let Some(dir) = path.parent()
                && std::fs::create_dir_all(dir).is_ok()
                && let Ok(text) = serde_json::to_string(&record)
            {
                let _ = std::fs::write(&path, text);
            }
        }
        _ => {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Writes a planned setup: each file replaced whole through a temporary file in its folder
/// (never half-written), a `delete` removed, and folders setup leaves empty removed.
///
/// Compare-and-swap: every file must still hold what it held when it was planned (checked for
/// all before any is written, and again for each as it is replaced: the new file is swapped in
/// with `renameat2(RENAME_EXCHANGE)` and what it displaced is compared, so an editor's save in
/// between is put back, never overwritten). A new file gets the permissions the umask gives
/// (0644 under 022); a replaced one keeps its own.
///
/// # Errors
/// [`Error::Conflict`] when a file changed since it was planned (the files already written
/// stay written, each whole); I/O errors, naming the file.
pub fn apply(report: &mut SetupReport) -> Result<()> {
    let changed = |f: &FileChange| -> Result<bool> { Ok(read_existing(&f.path)? != f.before) };
    for f in report.files.iter().filter(|f| f.action != "unchanged") {
        if changed(f)? {
            return Err(moved_under_us(f));
        }
    }
    let base = report.base.clone();
    for f in &report.files {
        match (&f.content, f.action) {
            (_, "unchanged") => {}
            (Some(text), _) => {
                swap_in(f, text)?;
                keep_record(report, &base, f);
            }
            (None, _) => {
                // Moved aside first, compared, then removed (or put back).
                let aside = f
                    .path
                    .with_file_name(format!(".memtree-setup-removed-{}", std::process::id()));
                std::fs::rename(&f.path, &aside).map_err(|e| io("cannot remove", &f.path, e))?;
                let displaced = std::fs::read_to_string(&aside).ok();
                if displaced != f.before {
                    let _ = rustix::fs::renameat_with(
                        rustix::fs::CWD,
                        &aside,
                        rustix::fs::CWD,
                        &f.path,
                        rustix::fs::RenameFlags::NOREPLACE,
                    );
                    return Err(moved_under_us(f));
                }
                std::fs::remove_file(&aside).map_err(|e| io("cannot remove", &aside, e))?;
                keep_record(report, &base, f);
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

fn moved_under_us(f: &FileChange) -> Error {
    Error::Conflict {
        file: f.path.clone(),
        reason: "it changed while setup was planning; run setup again".into(),
    }
}

/// Replaces (or creates) `f`'s file with `text` as [`apply`] describes.
fn swap_in(f: &FileChange, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    crate::failpoint::hit("setup");
    let dir = f.path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
    // A new file: 0666 less the umask, as any editor creates one; a replaced one keeps its
    // own permissions (a settings file may be private).
    let mode = std::fs::metadata(&f.path)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o666));
    let mut tmp = tempfile::Builder::new()
        .prefix(".memtree-setup-")
        .permissions(mode.clone())
        .tempfile_in(dir)
        .map_err(|e| io("cannot write in", dir, e))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .map_err(|e| io("cannot write", &f.path, e))?;
    if f.before.is_some() {
        // tempfile applies the mode through the umask; a replaced file keeps its exact one.
        let _ = std::fs::set_permissions(tmp.path(), mode);
    }
    let tmp = tmp.into_temp_path();
    let flags = if f.before.is_some() {
        rustix::fs::RenameFlags::EXCHANGE
    } else {
        rustix::fs::RenameFlags::NOREPLACE
    };
    rustix::fs::renameat_with(rustix::fs::CWD, &*tmp, rustix::fs::CWD, &f.path, flags).map_err(
        |e| match e {
            rustix::io::Errno::EXIST | rustix::io::Errno::NOENT => moved_under_us(f),
            e => io("cannot write", &f.path, e.into()),
        },
    )?;
    if f.before.is_some() {
        // `tmp` now names what was displaced: it must be what was planned from.
        let displaced = std::fs::read_to_string(&*tmp).ok();
        if displaced != f.before {
            let _ = rustix::fs::renameat_with(
                rustix::fs::CWD,
                &*tmp,
                rustix::fs::CWD,
                &f.path,
                rustix::fs::RenameFlags::EXCHANGE,
            );
            return Err(moved_under_us(f));
        }
    } else {
        // Renamed into place: nothing is left to remove.
        let _ = tmp.keep();
    }
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
