//! The command-line frontend: parse, call the [`memtree::Memory`] facade, render.
//!
//! Data goes to stdout (text, or one JSON document with `--json`); errors and warnings go to
//! stderr. Exit codes: 0 success (also a query with no hits), 1 error, 2 usage error (clap).
//! A closed stdout (`memtree query … | head`) is not an error. No colour is ever printed, so
//! `NO_COLOR` is honoured trivially.

mod args;
mod render;

use std::io::{Read, Write};
use std::process::ExitCode;

use clap::Parser;
use memtree::retrieve::llm::LlmMode;
use memtree::{Error, Memory, NewEntry, Query, Tree};

use args::{Cli, Command, Format};

/// Runs the CLI and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| Error::io("cannot read", p, e));
    let (bytes, conflict, decided) =
        memtree::merge::merge_files(&read(base)?, &read(ours)?, &read(theirs)?)?;
    std::fs::write(ours, &bytes).map_err(|e| Error::io("cannot write", ours, e))?;
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

fn run(cli: Cli) -> Result<ExitCode, Error> {
    let json = cli.json;
    match &cli.command {
        Command::Init { dir } => {
            let dir = match (dir, &cli.root) {
                (Some(d), _) => d.clone(),
                (None, Some(r)) => r.clone(),
                (None, None) => std::path::PathBuf::from("."),
            };
            let report = Memory::init(&dir, now()?, !cli.no_commit)?;
            emit(json, &report, |r| render::init(r, &commit_note(&r.commit)));
        }
        Command::Add(a) => {
            let memory = open(&cli)?.allow_secret(a.fields.allow_secret);
            let mut entry = new_entry(&a.id, &a.title, Some(a.kind.clone()), &a.fields)?;
            entry.importance = a.importance;
            let report = memory.add(&entry)?;
            report.warnings.iter().for_each(|w| warn(w));
            emit(json, &report, |r| {
                format!("added {} ({}){}\n", r.id, r.file, commit_note(&r.commit))
            });
        }
        Command::Get { id, at } => {
            let memory = open(&cli)?;
            let view = match at {
                Some(rev) => memory.get_at(id, rev)?,
                None => memory.get(id)?,
            };
            for p in &view.problems {
                warn(&format!("{}:{}: {}", view.file, p.line, p.message));
            }
            emit(json, &view, |v| v.text.clone());
        }
        Command::Ls { prefix } => {
            let memory = open(&cli)?;
            let items = memory.ls(prefix.as_deref().unwrap_or(""))?;
            if json {
                let doc = serde_json::json!({"schema": "memtree.ls/v1", "entries": items});
                out(&format!("{doc}\n"));
            } else {
                out(&render::ls(&items));
            }
        }
        Command::Query(q) => {
            let memory = open(&cli)?;
            let cwd = std::env::current_dir()
                .map_err(|e| Error::io("cannot read the current directory", ".", e))?;
            let path = q.path.as_deref().map(|p| {
                memtree::retrieve::scope::resolve_typed_path(p, &cwd, memory.tree().project())
            });
            let query = Query {
                text: q.text.join(" "),
                k: q.k,
                path,
                kind: q.kind.clone(),
                within: q.within.as_deref().map(memtree::tree::normalize_id),
                all: q.all,
                llm: match q.llm {
                    args::LlmArg::Auto => LlmMode::Auto,
                    args::LlmArg::Always => LlmMode::Always,
                    args::LlmArg::Never => LlmMode::Never,
                },
            };
            match q.format {
                Format::List => {
                    let result = memory.query(&query)?;
                    warn_index(&result.index);
                    emit(json, &result, render::query);
                }
                Format::Context => {
                    let budget = q
                        .budget
                        .unwrap_or(memtree::retrieve::context::DEFAULT_BUDGET);
                    let bundle = memory.context(&query, budget)?;
                    warn_index(&bundle.index);
                    emit(json, &bundle, |b| b.markdown.clone());
                }
            }
        }
        Command::Set {
            id,
            assignments,
            allow_secret,
        } => {
            let memory = open(&cli)?.allow_secret(*allow_secret);
            let report = memory.set(id, assignments)?;
            report.warnings.iter().for_each(|w| warn(w));
            emit(json, &report, |r| {
                render::write("updated", r, &commit_note(&r.commit))
            });
        }
        Command::Link { from, to, kind } => {
            let memory = open(&cli)?;
            let report = memory.link(from, to, kind)?;
            report.warnings.iter().for_each(|w| warn(w));
            emit(json, &report, |r| {
                render::write("updated", r, &commit_note(&r.commit))
            });
        }
        Command::Unlink { from, to, kind } => {
            let memory = open(&cli)?;
            let report = memory.unlink(from, to, kind.as_deref())?;
            report.warnings.iter().for_each(|w| warn(w));
            emit(json, &report, |r| {
                render::write("updated", r, &commit_note(&r.commit))
            });
        }
        Command::Mv { from, to } => {
            let memory = open(&cli)?;
            let report = memory.mv(from, to)?;
            emit(json, &report, |r| {
                let mut s = format!(
                    "moved {} -> {} ({}){}\n",
                    r.from,
                    r.to,
                    r.file,
                    commit_note(&r.commit)
                );
                if !r.rewritten.is_empty() {
                    s.push_str(&format!("rewrote links in: {}\n", r.rewritten.join(", ")));
                }
                s
            });
        }
        Command::Rm { id, force } => {
            let memory = open(&cli)?;
            let report = memory.rm(id, *force)?;
            report.warnings.iter().for_each(|w| warn(w));
            emit(json, &report, |r| {
                format!("removed {} ({}){}\n", r.id, r.file, commit_note(&r.commit))
            });
        }
        Command::Supersede(a) => {
            let memory = open(&cli)?.allow_secret(a.fields.allow_secret);
            let create = match &a.title {
                Some(title) => Some(new_entry(&a.new, title, a.kind.clone(), &a.fields)?),
                None => None,
            };
            if create.is_none() && (a.fields.body.is_some() || a.fields.body_file.is_some()) {
                return Err(Error::InvalidValue {
                    key: "body".into(),
                    reason: "--body creates NEW and needs --title too".into(),
                });
            }
            let report = memory.supersede(&a.old, &a.new, create.as_ref())?;
            report.warnings.iter().for_each(|w| warn(w));
            emit(json, &report, |r| {
                format!(
                    "{} superseded by {}{}{}\n",
                    r.old,
                    r.new,
                    if r.created { " (created)" } else { "" },
                    commit_note(&r.commit)
                )
            });
        }
        Command::History { id, no_diff } => {
            let memory = open(&cli)?;
            let mut report = memory.history(id)?;
            if *no_diff {
                report.versions.iter_mut().for_each(|v| v.diff.clear());
            }
            emit(json, &report, render::history);
        }
        Command::Diff { id, rev } => {
            let memory = open(&cli)?;
            let report = memory.diff(id, rev.as_deref())?;
            emit(json, &report, |r| r.diff.clone());
        }
        Command::Restore { id, at, force } => {
            let memory = open(&cli)?;
            let report = memory.restore(id, at, *force)?;
            report.warnings.iter().for_each(|w| warn(w));
            emit(json, &report, |r| {
                render::write("restored", r, &commit_note(&r.commit))
            });
        }
        Command::Prime {
            within,
            since,
            budget,
        } => {
            let memory = open(&cli)?;
            let budget = budget.unwrap_or(memtree::retrieve::context::DEFAULT_BUDGET);
            let report = memory.prime(within.as_deref(), since.as_deref(), budget)?;
            emit(json, &report, |r| r.markdown.clone());
        }
        Command::Confirm { id } => {
            let memory = open(&cli)?;
            let report = memory.confirm(id)?;
            emit(json, &report, |r| {
                render::write("confirmed", r, &commit_note(&r.commit))
            });
        }
        Command::Consolidate { apply, hook, .. } => {
            if *hook {
                return Ok(hook_run(&cli));
            }
            let mode = if *apply {
                memtree::memory::Mode::Apply
            } else {
                memtree::memory::Mode::DryRun
            };
            let memory = open(&cli)?;
            let report = memory.consolidate(mode)?;
            emit(json, &report, render::consolidate);
        }
        Command::Hooks { action } => {
            let tree = find_tree(&cli)?;
            let report = match action {
                args::HooksAction::Install => memtree::hooks::install(&tree)?,
                args::HooksAction::Uninstall => memtree::hooks::uninstall(&tree)?,
                args::HooksAction::Status => memtree::hooks::status(&tree)?,
            };
            emit(json, &report, render::hooks);
        }
        Command::MergeDriver {
            base,
            ours,
            theirs,
            path,
        } => {
            return merge_driver(base, ours, theirs, path.as_deref());
        }
        Command::Mcp => {
            let tree = find_tree(&cli)?;
            #[cfg(feature = "mcp")]
            memtree::mcp::serve(tree)?;
            #[cfg(not(feature = "mcp"))]
            return Err(Error::Refused(format!(
                "this memtree was built without the `mcp` feature; {} cannot be served",
                tree.root.display()
            )));
        }
        Command::Check => {
            // `check` diagnoses a bad memtree.yaml instead of stopping at it.
            let (memory, _config_error) = Memory::open_lenient(find_tree(&cli)?, now()?);
            let report = memory.check()?;
            emit(json, &report, render::check);
            if report.errors > 0 {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Trust { show, revoke } => {
            let tree = find_tree(&cli)?;
            let report = memtree::trust::trust(&tree, *show, *revoke)?;
            emit(json, &report, render::trust);
        }
        Command::Recover { discard } => {
            let memory = open(&cli)?;
            let report = memory.recover(*discard)?;
            emit(json, &report, |r| {
                render::recover(r, &commit_note(&r.commit))
            });
        }
        Command::Index { full } => {
            let memory = open(&cli)?;
            let report = memory.index(*full)?;
            if !json {
                report.sync.errors.iter().for_each(|e| warn(e));
            }
            emit(json, &report, render::index);
        }
        Command::Stats => {
            let memory = open(&cli)?;
            let stats = memory.stats()?;
            emit(json, &stats, render::stats);
        }
    }
    Ok(ExitCode::SUCCESS)
}
