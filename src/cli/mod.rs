//! The command-line frontend: parse, call the [`memtree::Memory`] facade, render.
//!
//! Data goes to stdout (text, or one JSON document with `--json`); errors and warnings go to
//! stderr. Exit codes: 0 success (also a query with no hits), 1 error, 2 usage error (clap).
//! A closed stdout (`memtree query … | head`) is not an error. No colour is ever printed, so
//! `NO_COLOR` is honoured trivially.

mod agents;
mod args;
mod commands;
mod render;

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;
use memtree::{Error, Memory, NewEntry, Tree};

use args::{Cli, Command};

/// Progress on stderr, drawn by indicatif, plain (no colour).
#[derive(Default)]
struct Bar(std::sync::Mutex<Option<indicatif::ProgressBar>>);

impl memtree::progress::Progress for Bar {
    fn begin(&self, label: &str, total: u64) {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta} left)")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_string());
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(bar);
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(slot) = self.0.lock()
            && let Some(bar) = slot.as_ref()
        {
            bar.inc(n);
        }
    }

    fn end(&self) {
        if let Ok(mut slot) = self.0.lock()
            && let Some(bar) = slot.take()
        {
            bar.finish_and_clear();
        }
    }
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Progress of long work, only for a person watching a terminal.
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        memtree::progress::install(Box::new(Bar::default()));
    }
    let json = cli.json;
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "error: {e}");
            if let Some(h) = e.hint() {
                let _ = writeln!(err, "hint: {h}");
            }
            if json {
                let doc = serde_json::json!({
                    "schema": "memtree.error/v1",
                    "kind": e.kind(),
                    "error": e.to_string(),
                    "hint": e.hint(),
                });
                out(&format!("{doc}\n"));
            }
            ExitCode::from(1)
        }
    }
}

/// Writes to stdout, treating a closed pipe as success.
pub(crate) fn out(s: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(s.as_bytes()).and_then(|_| stdout.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        let _ = writeln!(std::io::stderr(), "error: cannot write to stdout: {e}");
    }
}

fn warn(s: &str) {
    let _ = writeln!(std::io::stderr(), "warning: {s}");
}

fn now() -> Result<jiff::Timestamp, Error> {
    match std::env::var("MEMTREE_NOW") {
        Ok(s) if !s.trim().is_empty() => {
            memtree::entry::parse_time(&s).ok_or_else(|| Error::InvalidValue {
                key: "MEMTREE_NOW".into(),
                reason: format!("`{s}` is not an RFC 3339 time"),
            })
        }
        _ => Ok(jiff::Timestamp::now()),
    }
}

fn find_tree(cli: &Cli) -> Result<Tree, Error> {
    match &cli.root {
        Some(dir) => Tree::at(dir),
        None => Tree::discover(std::path::Path::new(".")),
    }
}

fn open(cli: &Cli) -> Result<Memory, Error> {
    Ok(Memory::open(find_tree(cli)?, now()?)?.commit_writes(!cli.no_commit))
}

/// The one layer `--layer` names, for a command that acts on one tree (`None`: the project).
fn one_layer(cli: &Cli) -> Result<Option<&str>, Error> {
    match cli.layers.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(Error::InvalidValue {
            key: "layer".into(),
            reason: "this command acts on one layer; give --layer once".into(),
        }),
    }
}

/// The tree a command that acts on one tree works in: the layer `--layer` names, else the
/// project; `write` refuses a read-only layer and creates the user layer on first use.
fn open_layer(cli: &Cli, write: bool) -> Result<Memory, Error> {
    let project = open(cli)?;
    match one_layer(cli)? {
        None => Ok(project),
        Some(name) if write => project.layer_for_write(name),
        Some(name) => project.layer(name),
    }
}

/// The tree a one-entry command works in and the id within it ([`Memory::entry_layer`]),
/// with the layer's name.
fn open_entry(cli: &Cli, id: &str, write: bool) -> Result<(Memory, String, String), Error> {
    open(cli)?.entry_layer(id, one_layer(cli)?, write)
}

/// ` [commit 3f2c1a9]` after a write's line, when it was committed; when it was not and the
/// user should hear why, that goes to stderr.
fn commit_note(c: &memtree::git::CommitReport) -> String {
    if let Some(why) = c.notable_skip() {
        warn(&format!("not committed: {why}"));
    }
    c.id.as_deref()
        .map(|id| format!(" [commit {}]", &id[..id.len().min(7)]))
        .unwrap_or_default()
}

/// `consolidate --hook`: never fails the user's git command. The outcome, or the error, is
/// appended to `.memory/.cache/hook.log`.
fn hook_run(cli: &Cli) -> ExitCode {
    let outcome = open(cli).and_then(|m| {
        let r = m.consolidate(memtree::memory::Mode::Hook)?;
        Ok((m, r))
    });
    let line = match &outcome {
        Ok((_, r)) => format!(
            "ok: {} applied, {} reindexed, {} ms{}",
            r.actions.iter().filter(|a| a.applied).count(),
            r.reindexed,
            r.elapsed_ms,
            match (&r.commit.id, r.commit.notable_skip()) {
                (Some(c), _) => format!(", commit {}", &c[..7]),
                (None, Some(why)) if why != "nothing to apply" => format!(", skipped: {why}"),
                _ => String::new(),
            }
        ),
        Err(e) => format!("error: {e}"),
    };
    if let Ok(tree) = find_tree(cli)
        && let Ok(p) = tree.safe(".cache/hook.log")
    {
        let when = now().map(|t| t.to_string()).unwrap_or_default();
        let _ = tree.append(&p, format!("{when} {line}\n").as_bytes());
    }
    ExitCode::SUCCESS
}

/// `merge-driver BASE OURS THEIRS [PATH]`: merges one entry and writes the result over OURS,
/// as git's merge drivers do. Exit 0 when clean, 1 when the body holds conflict markers. The
/// three files are git's temporary files, not paths of the tree.
fn merge_driver(
    base: &std::path::Path,
    ours: &std::path::Path,
    theirs: &std::path::Path,
    path: Option<&str>,
) -> Result<ExitCode, Error> {
    let (conflict, decided) = memtree::merge::driver(base, ours, theirs)?;
    let shown = path.unwrap_or("the entry");
    for key in &decided {
        warn(&format!(
            "{shown}: both sides changed `{key}`; kept the side updated later"
        ));
    }
    if conflict {
        warn(&format!(
            "{shown}: conflict; resolve the markers in the body, then `memtree check`"
        ));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr when an answer came from an index that could not be refreshed.
fn warn_index(state: &memtree::retrieve::IndexState) {
    if let Some(why) = &state.stale {
        warn(&format!(
            "answered from the last committed index, which may be behind the files: {why}"
        ));
    }
    if let Some(why) = &state.in_memory {
        warn(&format!(
            "the index was built in memory for this command only: {why}"
        ));
    }
}

/// A new entry from the command line's fields (the body read as [`read_body`] says).
fn new_entry(
    id: &str,
    title: &str,
    kind: Option<String>,
    f: &args::EntryFields,
) -> Result<NewEntry, Error> {
    Ok(NewEntry {
        id: id.to_string(),
        title: title.to_string(),
        kind,
        summary: f.summary.clone(),
        aliases: f.aliases.clone(),
        tags: f.tags.clone(),
        scope: f.scope.clone(),
        importance: None,
        why: f.why.clone(),
        body: read_body(f.body.as_deref(), f.body_file.as_deref())?,
        supersedes: Vec::new(),
    })
}

/// The body from `--body B` or `--body-file F`; `-` reads standard input, which is read only
/// when asked: a tool runner that leaves stdin open must never hang a command.
fn read_body(body: Option<&str>, file: Option<&std::path::Path>) -> Result<Option<String>, Error> {
    Ok(match (body, file) {
        (Some("-"), _) => Some(read_stdin()?),
        (Some(b), _) => Some(b.to_string()),
        (None, Some(f)) if f.as_os_str() == "-" => Some(read_stdin()?),
        (None, Some(f)) => {
            Some(std::fs::read_to_string(f).map_err(|e| Error::io("cannot read", f, e))?)
        }
        (None, None) => None,
    })
}

fn read_stdin() -> Result<String, Error> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| Error::io("cannot read", "stdin", e))?;
    Ok(s)
}

fn emit<T: serde::Serialize>(json: bool, value: &T, text: impl FnOnce(&T) -> String) {
    if json {
        let s = serde_json::to_string(value).unwrap_or_default();
        out(&format!("{s}\n"));
    } else {
        out(&text(value));
    }
}

/// Dispatches the parsed command to its function below.
fn run(cli: Cli) -> Result<ExitCode, Error> {
    use commands::*;
    match &cli.command {
        Command::Init { dir, user } => cmd_init(&cli, dir, *user),
        Command::Layers { action } => cmd_layers(&cli, action),
        Command::Add(a) => cmd_add(&cli, a),
        Command::Get { id, at } => cmd_get(&cli, id, at),
        Command::Ls { prefix } => cmd_ls(&cli, prefix),
        Command::Query(q) => cmd_query(&cli, q),
        Command::Set {
            id,
            assignments,
            allow_secret,
        } => cmd_set(&cli, id, assignments, allow_secret),
        Command::Edit {
            id,
            body,
            body_file,
            append,
            base,
            allow_secret,
        } => cmd_edit(
            &cli,
            id,
            (body.as_deref(), body_file.as_deref(), append.as_deref()),
            base.as_deref(),
            *allow_secret,
        ),
        Command::Link { from, to, kind } => cmd_link(&cli, from, to, kind),
        Command::Unlink { from, to, kind } => cmd_unlink(&cli, from, to, kind),
        Command::Mv { from, to } => cmd_mv(&cli, from, to),
        Command::Rm { id, force } => cmd_rm(&cli, id, force),
        Command::Supersede(a) => cmd_supersede(&cli, a),
        Command::History { id, no_diff } => cmd_history(&cli, id, no_diff),
        Command::Diff { id, rev } => cmd_diff(&cli, id, rev),
        Command::Restore { id, at, force } => cmd_restore(&cli, id, at, force),
        Command::Prime {
            within,
            since,
            budget,
            hook: Some(agent),
        } => Ok(agents::prime_hook(&cli, *agent, within, since, budget)),
        Command::Prime {
            within,
            since,
            budget,
            hook: None,
        } => cmd_prime(&cli, within, since, budget),
        Command::Confirm { id } => cmd_confirm(&cli, id),
        Command::Consolidate { apply, hook, .. } => cmd_consolidate(&cli, apply, hook),
        Command::Hooks { action } => cmd_hooks(&cli, action),
        Command::MergeDriver {
            base,
            ours,
            theirs,
            path,
        } => merge_driver(base, ours, theirs, path.as_deref()),
        Command::Model {
            action: args::ModelAction::Pull { from, to },
        } => cmd_model_pull(&cli, from.as_deref(), to.as_deref()),
        Command::Mcp => cmd_mcp(&cli),
        Command::Check => cmd_check(&cli),
        Command::Trust { show, revoke } => cmd_trust(&cli, show, revoke),
        Command::Recover { discard } => cmd_recover(&cli, discard),
        Command::Index { full } => cmd_index(&cli, full),
        Command::Stats => cmd_stats(&cli),
        Command::Curate(a) => agents::cmd_curate(&cli, a),
        Command::Setup {
            agent,
            status: true,
            ..
        } => agents::cmd_setup_status(&cli, *agent),
        Command::Setup {
            agent,
            print,
            remove,
            global,
            ..
        } => agents::cmd_setup(
            &cli,
            agent.expect("clap requires AGENT without --status"),
            *print,
            *remove,
            *global,
        ),
        Command::Import { paths, dry_run } => cmd_import(&cli, paths, *dry_run),
        Command::Graph { prefix, format } => cmd_graph(&cli, prefix.as_deref(), *format),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(
                *shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "memtree",
                &mut out,
            );
            self::out(&String::from_utf8_lossy(&out));
            Ok(ExitCode::SUCCESS)
        }
    }
}
