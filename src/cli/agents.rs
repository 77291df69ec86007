//! The commands that connect memtree to coding agents' sessions: `curate` (and its session
//! hook).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use memtree::curate::transcript;
use memtree::memory::{CurateInput, SavedPlan};
use memtree::retrieve::llm::LlmMode;
use memtree::{Error, Memory, Tree};

use super::args::{AgentArg, Cli, CurateArgs, CurateLlmArg};
use super::{commit_note, emit, find_tree, now, open, read_body, render};

/// How long a session hook may plan before it stops taking candidates (the LLM call's
/// timeout is bounded by it too), in seconds.
pub const HOOK_BOUND_S: u64 = memtree::memory::SESSION_BOUND_S;
/// The most of a transcript a hook reads: its last 8 MiB.
pub const HOOK_TRANSCRIPT_BYTES: u64 = 8 << 20;
/// The most of a hook's stdin read: 1 MiB.
const HOOK_STDIN_BYTES: u64 = 1 << 20;

/// A file's text, or stdin's for `-`.
fn read_file(path: &Path) -> Result<String, Error> {
    Ok(read_body(None, Some(path))?.unwrap_or_default())
}

fn llm_mode(arg: CurateLlmArg) -> LlmMode {
    match arg {
        CurateLlmArg::Auto => LlmMode::Auto,
        CurateLlmArg::Never => LlmMode::Never,
    }
}

/// The last `limit` bytes of a transcript as text, from the first whole line (a transcript can
/// be large; its end is the part a hook has not seen): a regular file only, opened without
/// blocking (see [`memtree::tree::read_tail`]).
fn read_tail(path: &Path, limit: u64) -> std::io::Result<String> {
    let (bytes, skipped) = memtree::tree::read_tail(path, limit).map_err(|e| match e {
        memtree::tree::ReadError::Io(e) => e,
        other => std::io::Error::other(other.to_string()),
    })?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if skipped > 0 {
        let cut = text.find('\n').map_or(text.len(), |i| i + 1);
        text.drain(..cut);
    }
    Ok(text)
}

pub(super) fn cmd_curate(cli: &Cli, a: &CurateArgs) -> Result<ExitCode, Error> {
    if let Some(agent) = a.hook {
        return Ok(curate_hook(cli, agent, a));
    }
    let memory = open(cli)?;
    let report = if let Some(plan) = &a.plan {
        let text = read_file(plan)?;
        let mut saved: SavedPlan =
            serde_json::from_str(&text).map_err(|e| Error::InvalidValue {
                key: plan.display().to_string(),
                reason: format!("not a plan saved by memtree curate: {e}"),
            })?;
        if a.session.is_some() {
            saved.session = a.session.clone();
        }
        memory.curate_plan(saved, &plan.display().to_string(), a.apply)?
    } else {
        let (text, source) = match (&a.source, &a.file, &a.transcript) {
            (Some(p), _, _) | (_, Some(p), _) | (_, _, Some(p)) => {
                (read_file(p)?, p.display().to_string())
            }
            (None, None, None) => {
                return Err(Error::InvalidValue {
                    key: "source".into(),
                    reason: "say what to curate: a FILE, `-` for stdin, --transcript FILE, \
                             --file FILE or --plan FILE"
                        .into(),
                });
            }
        };
        let input = CurateInput {
            transcript: transcript::parse(&text),
            source,
            session: a.session.clone(),
            llm: llm_mode(a.llm),
            deadline: None,
        };
        memory.curate(&input, a.apply)?
    };
    emit(cli.json, &report, |r| {
        render::curate(r, &commit_note(&r.commit))
    });
    Ok(ExitCode::SUCCESS)
}

/// What an agent's hook sends on stdin (the fields memtree reads; the rest is ignored).
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct HookInput {
    /// Claude Code, Codex.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Cursor.
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub transcript_path: Option<PathBuf>,
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Cursor.
    #[serde(default)]
    pub workspace_roots: Vec<PathBuf>,
    /// SessionStart: `startup`, `resume`, `clear` or `compact`.
    #[serde(default)]
    pub source: Option<String>,
}

impl HookInput {
    /// Reads the hook's JSON from stdin (at most 1 MiB); nothing or garbage is an empty input.
    pub(super) fn read() -> HookInput {
        let mut raw = String::new();
        if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            return HookInput::default();
        }
        let _ = std::io::stdin()
            .take(HOOK_STDIN_BYTES)
            .read_to_string(&mut raw);
        serde_json::from_str(&raw).unwrap_or_default()
    }

    pub(super) fn session(&self) -> Option<String> {
        self.session_id
            .clone()
            .or_else(|| self.conversation_id.clone())
            .filter(|s| !s.trim().is_empty())
    }

    /// The tree: `--root`, else found from the hook's `cwd` (or Cursor's first workspace root),
    /// else from the current directory.
    pub(super) fn tree(&self, cli: &Cli) -> Result<Tree, Error> {
        if cli.root.is_some() {
            return find_tree(cli);
        }
        let dir = self
            .cwd
            .clone()
            .or_else(|| self.workspace_roots.first().cloned())
            .unwrap_or_else(|| PathBuf::from("."));
        Tree::discover(&dir)
    }
}

/// `curate --hook AGENT`: never fails the agent and never blocks it (exit 0 always, one line
/// on stderr), bounded in time ([`HOOK_BOUND_S`]) and in what it reads.
fn curate_hook(cli: &Cli, agent: AgentArg, a: &CurateArgs) -> ExitCode {
    let input = HookInput::read();
    match curate_hook_run(cli, agent, a, &input) {
        Ok(line) => eprintln!("memtree: {line}"),
        Err(e) => eprintln!("memtree: curate skipped: {e}"),
    }
    ExitCode::SUCCESS
}

fn curate_hook_run(
    cli: &Cli,
    agent: AgentArg,
    a: &CurateArgs,
    input: &HookInput,
) -> Result<String, Error> {
    let tree = input.tree(cli)?;
    let memory = Memory::open(tree, now()?)?.commit_writes(!cli.no_commit);
    let Some(path) = &input.transcript_path else {
        return Ok(format!(
            "no transcript_path in the {agent:?} hook's input; nothing to curate"
        ));
    };
    let text = read_tail(path, HOOK_TRANSCRIPT_BYTES)
        .map_err(|e| Error::io("cannot read", path.as_path(), e))?;
    let session = a.session.clone().or_else(|| input.session());
    let curate_input = CurateInput {
        transcript: transcript::parse(&text),
        source: path.display().to_string(),
        session,
        llm: llm_mode(a.llm),
        deadline: Some(Duration::from_secs(HOOK_BOUND_S)),
    };
    let apply = memory.config().curate.auto_apply;
    let report = memory.curate(&curate_input, apply)?;
    let summary = render::curate_counts(&report);
    if apply {
        return Ok(format!("curated {summary}{}", commit_note(&report.commit)));
    }
    let name = report
        .session
        .clone()
        .unwrap_or_else(|| format!("{agent:?}").to_lowercase());
    let saved = memory.save_curate_plan(&report, &name)?;
    Ok(format!(
        "planned {summary}; review it with `memtree curate --plan {saved}` and write it with \
         `memtree curate --plan {saved} --apply`"
    ))
}

/// `prime --hook AGENT`: the session-start bundle once per session, then only what changed
/// ([`Memory::prime_for_session`]). Claude Code and Codex add the hook's stdout to the
/// context; Cursor reads `additional_context` from a JSON reply. Never fails the agent: an
/// error is one line on stderr and exit 0.
pub(super) fn prime_hook(
    cli: &Cli,
    agent: AgentArg,
    within: &Option<String>,
    since: &Option<String>,
    budget: &Option<usize>,
) -> ExitCode {
    let input = HookInput::read();
    let run = || -> Result<String, Error> {
        let memory = Memory::open(input.tree(cli)?, now()?)?;
        let budget = budget.unwrap_or(memtree::retrieve::context::DEFAULT_BUDGET);
        let report = memory.prime(within.as_deref(), since.as_deref(), budget)?;
        Ok(match input.session() {
            Some(session) => {
                // `/clear` and a compaction leave a context without the bundle.
                let emptied = matches!(input.source.as_deref(), Some("clear" | "compact"));
                memory
                    .prime_for_session(&report, &session, emptied)?
                    .markdown
            }
            None => report.markdown,
        })
    };
    match run() {
        Ok(markdown) if agent == AgentArg::Cursor => {
            let doc = serde_json::json!({ "additional_context": markdown });
            super::out(&format!("{doc}\n"));
        }
        Ok(markdown) => super::out(&markdown),
        Err(e) => eprintln!("memtree: prime skipped: {e}"),
    }
    ExitCode::SUCCESS
}

fn setup_agent(agent: AgentArg) -> memtree::setup::Agent {
    match agent {
        AgentArg::Claude => memtree::setup::Agent::Claude,
        AgentArg::Cursor => memtree::setup::Agent::Cursor,
        AgentArg::Codex => memtree::setup::Agent::Codex,
    }
}

/// The project setup works in: the tree's project, else (no tree yet) the repository's top.
fn setup_project(cli: &Cli) -> Result<(PathBuf, bool), Error> {
    match find_tree(cli) {
        Ok(tree) => Ok((tree.project().to_path_buf(), false)),
        // No tree yet: setup is the one step that starts one.
        Err(Error::NoRoot { .. }) if cli.root.is_none() => {
            let cwd = std::env::current_dir()
                .map_err(|e| Error::io("cannot read the current directory", ".", e))?;
            Ok((memtree::setup::project_dir(&cwd), true))
        }
        Err(e) => Err(e),
    }
}

/// `setup --status [AGENT]`: whether each agent is really connected, and the next step.
pub(super) fn cmd_setup_status(cli: &Cli, agent: Option<AgentArg>) -> Result<ExitCode, Error> {
    use memtree::setup::status;
    let (project, _) = setup_project(cli)?;
    let project = std::fs::canonicalize(&project).unwrap_or(project);
    let agents: Vec<_> = agent.into_iter().map(setup_agent).collect();
    let report = status::status(&agents, &project, &status::Homes::from_env());
    emit(cli.json, &report, render::setup_status);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_setup(
    cli: &Cli,
    agent: AgentArg,
    print: bool,
    remove: bool,
    global: bool,
) -> Result<ExitCode, Error> {
    use memtree::setup;
    let agent = setup_agent(agent);
    let (base, missing) = if global {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| Error::InvalidValue {
                key: "HOME".into(),
                reason: "is not set, so --global has no home folder to write in".into(),
            })?;
        (home, false)
    } else {
        setup_project(cli)?
    };
    // Every file is planned (and parsed) before anything is written, the tree included.
    let mut report = setup::plan(agent, &base, global, remove)?;
    if missing && !remove {
        let shown = base.join(".memory").display().to_string();
        if print {
            report
                .notes
                .insert(0, format!("no memory tree yet: setup would create {shown}"));
        } else {
            let init = Memory::init(&base, now()?, !cli.no_commit)?;
            report.notes.insert(
                0,
                format!(
                    "created {shown} (memtree init){}",
                    commit_note(&init.commit)
                ),
            );
            report.init = Some(init);
        }
        let files =
            memtree::import::ProjectFiles::open(&base, memtree::tree::DEFAULT_MAX_FILE_BYTES);
        let sources: Vec<String> = memtree::import::discover(&files)
            .0
            .iter()
            .map(|p| files.shown(p))
            .collect();
        if !sources.is_empty() {
            report.notes.push(format!(
                "{} can become entries: memtree import",
                sources.join(", ")
            ));
        }
    }
    if !print {
        setup::apply(&mut report)?;
        // The one thing the client still asks of the user (approval, trust, review).
        if !remove && !global {
            let project = std::fs::canonicalize(&base).unwrap_or(base.clone());
            let status =
                setup::status::status(&[agent], &project, &setup::status::Homes::from_env());
            if let Some(a) = status.agents.first() {
                report.notes.push(format!("next: {}", a.next));
            }
        }
    }
    emit(cli.json, &report, render::setup);
    Ok(ExitCode::SUCCESS)
}
