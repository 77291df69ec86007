//! One function per command: parse what clap gave, call the [`memtree::Memory`] facade,
//! render. `super::run` only dispatches here.

use std::process::ExitCode;

use memtree::memory::InLayer;
use memtree::retrieve::llm::LlmMode;
use memtree::{Error, Memory, Query};

use super::args::{self, Cli, Format};
use super::{
    commit_note, emit, find_tree, hook_run, new_entry, now, open, open_entry, open_layer, out,
    read_body, render, warn, warn_index,
};

pub(super) fn cmd_init(
    cli: &Cli,
    dir: &Option<std::path::PathBuf>,
    user: bool,
) -> Result<ExitCode, Error> {
    let json = cli.json;
    if user {
        let report = Memory::init_user(now()?, !cli.no_commit)?;
        emit(json, &report, |r| render::init(r, &commit_note(&r.commit)));
        return Ok(ExitCode::SUCCESS);
    }
    let dir = match (dir, &cli.root) {
        (Some(d), _) => d.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) => std::path::PathBuf::from("."),
    };
    let report = Memory::init(&dir, now()?, !cli.no_commit)?;
    emit(json, &report, |r| render::init(r, &commit_note(&r.commit)));
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_add(cli: &Cli, a: &args::AddArgs) -> Result<ExitCode, Error> {
    let json = cli.json;
    let (memory, id, layer) = open_entry(cli, &a.id, true)?;
    let memory = memory.allow_secret(a.fields.allow_secret);
    let mut entry = new_entry(&id, &a.title, Some(a.kind.clone()), &a.fields)?;
    entry.importance = a.importance;
    let mut report = memory.add(&entry)?;
    report.in_layer(&layer, &memory.tree().root);
    report.warnings.iter().for_each(|w| warn(w));
    emit(json, &report, |r| {
        format!("added {} ({}){}\n", r.id, r.file, commit_note(&r.commit))
    });
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_get(cli: &Cli, id: &str, at: &Option<String>) -> Result<ExitCode, Error> {
    let json = cli.json;
    let (memory, id, layer) = open_entry(cli, id, false)?;
    let mut view = match at {
        Some(rev) => memory.get_at(&id, rev)?,
        None => memory.get(&id)?,
    };
    view.in_layer(&layer, &memory.tree().root);
    for p in &view.problems {
        warn(&format!("{}:{}: {}", view.file, p.line, p.message));
    }
    emit(json, &view, |v| v.text.clone());
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_ls(cli: &Cli, prefix: &Option<String>) -> Result<ExitCode, Error> {
    let json = cli.json;
    let memory = open_layer(cli, false)?;
    let items = memory.ls(prefix.as_deref().unwrap_or(""))?;
    if json {
        let doc = serde_json::json!({"schema": "memtree.ls/v1", "entries": items});
        out(&format!("{doc}\n"));
    } else {
        out(&render::ls(&items));
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_query(cli: &Cli, q: &args::QueryArgs) -> Result<ExitCode, Error> {
    let json = cli.json;
    let memory = open(cli)?;
    let cwd = std::env::current_dir()
        .map_err(|e| Error::io("cannot read the current directory", ".", e))?;
    let path = q
        .path
        .as_deref()
        .map(|p| memtree::retrieve::scope::resolve_typed_path(p, &cwd, memory.tree().project()));
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
        layers: cli.layers.clone(),
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
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_set(
    cli: &Cli,
    id: &str,
    assignments: &[String],
    allow_secret: &bool,
) -> Result<ExitCode, Error> {
    let json = cli.json;
    let (memory, id, layer) = open_entry(cli, id, true)?;
    let memory = memory.allow_secret(*allow_secret);
    let mut report = memory.set(&id, assignments)?;
    report.in_layer(&layer, &memory.tree().root);
    report.warnings.iter().for_each(|w| warn(w));
    emit(json, &report, |r| {
        render::write("updated", r, &commit_note(&r.commit))
    });
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_edit(
    cli: &Cli,
    id: &str,
    (body, body_file, append): (Option<&str>, Option<&std::path::Path>, Option<&str>),
    base: Option<&str>,
    allow_secret: bool,
) -> Result<ExitCode, Error> {
    let change = match (read_body(body, body_file)?, append) {
        (Some(b), _) => memtree::BodyChange::Replace(b),
        (None, Some(a)) => {
            memtree::BodyChange::Append(read_body(Some(a), None)?.unwrap_or_default())
        }
        (None, None) => {
            return Err(Error::InvalidValue {
                key: "body".into(),
                reason: "give the new text with --body, --body-file or --append".into(),
            });
        }
    };
    let (memory, id, layer) = open_entry(cli, id, true)?;
    let memory = memory.allow_secret(allow_secret);
    let mut report = memory.edit(&id, &change, &[], base)?;
    report.in_layer(&layer, &memory.tree().root);
    report.warnings.iter().for_each(|w| warn(w));
    emit(cli.json, &report, |r| {
        render::write("edited", r, &commit_note(&r.commit))
    });
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_link(cli: &Cli, from: &str, to: &str, kind: &str) -> Result<ExitCode, Error> {
    let json = cli.json;
    let (memory, from, layer) = open_entry(cli, from, true)?;
    let mut report = memory.link(&from, to, kind)?;
    report.in_layer(&layer, &memory.tree().root);
    report.warnings.iter().for_each(|w| warn(w));
    emit(json, &report, |r| {
        render::write("updated", r, &commit_note(&r.commit))
    });
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_unlink(
    cli: &Cli,
    from: &str,
    to: &str,
    kind: &Option<String>,
) -> Result<ExitCode, Error> {
    let json = cli.json;
    let (memory, from, layer) = open_entry(cli, from, true)?;
    let mut report = memory.unlink(&from, to, kind.as_deref())?;
    report.in_layer(&layer, &memory.tree().root);
    report.warnings.iter().for_each(|w| warn(w));
    emit(json, &report, |r| {
        render::write("updated", r, &commit_note(&r.commit))
    });
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_mv(cli: &Cli, from: &str, to: &str) -> Result<ExitCode, Error> {
    let json = cli.json;
    let (memory, from, layer) = open_entry(cli, from, true)?;
    let to = memtree::layers::split(to).1;
    let mut report = memory.mv(&from, to)?;
    report.in_layer(&layer, &memory.tree().root);
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
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_rm(cli: &Cli, id: &str, force: &bool) -> Result<ExitCode, Error> {
    let json = cli.json;
    let (memory, id, layer) = open_entry(cli, id, true)?;
    let mut report = memory.rm(&id, *force)?;
    report.in_layer(&layer, &memory.tree().root);
    report.warnings.iter().for_each(|w| warn(w));
    emit(json, &report, |r| {
        format!("removed {} ({}){}\n", r.id, r.file, commit_note(&r.commit))
    });
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_supersede(cli: &Cli, a: &args::SupersedeArgs) -> Result<ExitCode, Error> {
    let json = cli.json;
    // NEW decides the tree written to; OLD may be another layer's entry (an override).
    let (memory, new, layer) = open_entry(cli, &a.new, true)?;
    let memory = memory.allow_secret(a.fields.allow_secret);
    let create = match &a.title {
        Some(title) => Some(new_entry(&new, title, a.kind.clone(), &a.fields)?),
        None => None,
    };
    if create.is_none() && (a.fields.body.is_some() || a.fields.body_file.is_some()) {
        return Err(Error::InvalidValue {
            key: "body".into(),
            reason: "--body creates NEW and needs --title too".into(),
        });
    }
    let mut report = memory.supersede(&a.old, &new, create.as_ref())?;
    report.in_layer(&layer, &memory.tree().root);
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
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_history(cli: &Cli, id: &str, no_diff: &bool) -> Result<ExitCode, Error> {
    let json = cli.json;
    let (memory, id, layer) = open_entry(cli, id, false)?;
    let mut report = memory.history(&id)?;
    report.in_layer(&layer, &memory.tree().root);
    if *no_diff {
        report.versions.iter_mut().for_each(|v| v.diff.clear());
    }
    emit(json, &report, render::history);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_diff(cli: &Cli, id: &str, rev: &Option<String>) -> Result<ExitCode, Error> {
    let json = cli.json;
    let (memory, id, layer) = open_entry(cli, id, false)?;
    let mut report = memory.diff(&id, rev.as_deref())?;
    report.in_layer(&layer, &memory.tree().root);
    emit(json, &report, |r| r.diff.clone());
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_restore(cli: &Cli, id: &str, at: &str, force: &bool) -> Result<ExitCode, Error> {
    let json = cli.json;
    let (memory, id, layer) = open_entry(cli, id, true)?;
    let mut report = memory.restore(&id, at, *force)?;
    report.in_layer(&layer, &memory.tree().root);
    report.warnings.iter().for_each(|w| warn(w));
    emit(json, &report, |r| {
        render::write("restored", r, &commit_note(&r.commit))
    });
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_prime(
    cli: &Cli,
    within: &Option<String>,
    since: &Option<String>,
    budget: &Option<usize>,
) -> Result<ExitCode, Error> {
    let json = cli.json;
    let memory = open(cli)?;
    let budget = budget.unwrap_or(memtree::retrieve::context::DEFAULT_BUDGET);
    let report = memory.prime(within.as_deref(), since.as_deref(), budget)?;
    emit(json, &report, |r| r.markdown.clone());
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_confirm(cli: &Cli, id: &str) -> Result<ExitCode, Error> {
    let json = cli.json;
    let (memory, id, layer) = open_entry(cli, id, true)?;
    let mut report = memory.confirm(&id)?;
    report.in_layer(&layer, &memory.tree().root);
    emit(json, &report, |r| {
        render::write("confirmed", r, &commit_note(&r.commit))
    });
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_consolidate(cli: &Cli, apply: &bool, hook: &bool) -> Result<ExitCode, Error> {
    let json = cli.json;
    if *hook {
        return Ok(hook_run(cli));
    }
    let mode = if *apply {
        memtree::memory::Mode::Apply
    } else {
        memtree::memory::Mode::DryRun
    };
    let memory = open_layer(cli, mode != memtree::memory::Mode::DryRun)?;
    let report = memory.consolidate(mode)?;
    emit(json, &report, render::consolidate);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_hooks(cli: &Cli, action: &args::HooksAction) -> Result<ExitCode, Error> {
    let json = cli.json;
    let tree = find_tree(cli)?;
    let report = match action {
        args::HooksAction::Install => memtree::hooks::install(&tree)?,
        args::HooksAction::Uninstall => memtree::hooks::uninstall(&tree)?,
        args::HooksAction::Status => memtree::hooks::status(&tree)?,
    };
    emit(json, &report, render::hooks);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_model_pull(
    cli: &Cli,
    from: Option<&str>,
    to: Option<&std::path::Path>,
) -> Result<ExitCode, Error> {
    use memtree::semantic::pull::{MINILM, default_folder, pull};
    let dest = match to {
        Some(t) => t.to_path_buf(),
        None => default_folder(&MINILM).ok_or_else(|| {
            Error::Refused(
                "neither XDG_CACHE_HOME nor HOME is set: say where with --to FOLDER".into(),
            )
        })?,
    };
    let report = pull(&MINILM, &dest, from)?;
    emit(cli.json, &report, render::model_pull);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_mcp(cli: &Cli) -> Result<ExitCode, Error> {
    let tree = find_tree(cli)?;
    #[cfg(feature = "mcp")]
    {
        memtree::mcp::serve(tree)?;
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "mcp"))]
    Err(Error::Refused(format!(
        "this memtree was built without the `mcp` feature; {} cannot be served",
        tree.root.display()
    )))
}

pub(super) fn cmd_check(cli: &Cli) -> Result<ExitCode, Error> {
    let json = cli.json;
    // `check` diagnoses a bad memtree.yaml instead of stopping at it.
    let (memory, _config_error) = Memory::open_lenient(find_tree(cli)?, now()?);
    let report = memory.check()?;
    emit(json, &report, render::check);
    if report.errors > 0 {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_trust(cli: &Cli, show: &bool, revoke: &bool) -> Result<ExitCode, Error> {
    let json = cli.json;
    let tree = find_tree(cli)?;
    let report = memtree::trust::trust(&tree, *show, *revoke)?;
    emit(json, &report, render::trust);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_recover(cli: &Cli, discard: &bool) -> Result<ExitCode, Error> {
    let json = cli.json;
    let memory = open_layer(cli, true)?;
    let report = memory.recover(*discard)?;
    emit(json, &report, |r| {
        render::recover(r, &commit_note(&r.commit))
    });
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_index(cli: &Cli, full: &bool) -> Result<ExitCode, Error> {
    let json = cli.json;
    let memory = open_layer(cli, false)?;
    let report = memory.index(*full)?;
    if !json {
        report.sync.errors.iter().for_each(|e| warn(e));
    }
    emit(json, &report, render::index);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_stats(cli: &Cli) -> Result<ExitCode, Error> {
    let json = cli.json;
    let memory = open_layer(cli, false)?;
    let stats = memory.stats()?;
    emit(json, &stats, render::stats);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_graph(
    cli: &Cli,
    prefix: Option<&str>,
    format: args::GraphFormatArg,
) -> Result<ExitCode, Error> {
    let format = match format {
        args::GraphFormatArg::Mermaid => memtree::memory::GraphFormat::Mermaid,
        args::GraphFormatArg::Dot => memtree::memory::GraphFormat::Dot,
    };
    let report = open_layer(cli, false)?.graph(prefix.unwrap_or(""), format)?;
    emit(cli.json, &report, |r| r.text.clone());
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_import(
    cli: &Cli,
    paths: &[std::path::PathBuf],
    dry_run: bool,
) -> Result<ExitCode, Error> {
    let cwd = std::env::current_dir()
        .map_err(|e| Error::io("cannot read the current directory", ".", e))?;
    let paths: Vec<std::path::PathBuf> = paths.iter().map(|p| cwd.join(p)).collect();
    let memory = open_layer(cli, !dry_run)?;
    // The user layer's own sources are the agents' files in the home folder.
    let user_files = paths.is_empty()
        && super::one_layer(cli)? == Some(memtree::layers::USER)
        && std::env::var_os("HOME").is_some_and(|h| !h.is_empty());
    let report = if user_files {
        let home = std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
        memory.import_user_files(&home, dry_run)?
    } else {
        memory.import(&paths, dry_run)?
    };
    for s in &report.skipped {
        warn(&format!("{}: skipped: {}", s.file, s.reason));
    }
    emit(cli.json, &report, |r| {
        render::import(r, &commit_note(&r.commit))
    });
    Ok(ExitCode::SUCCESS)
}

pub(super) fn cmd_layers(cli: &Cli, action: &args::LayersAction) -> Result<ExitCode, Error> {
    let json = cli.json;
    match action {
        args::LayersAction::List => {
            let report = open(cli)?.layers_report();
            emit(json, &report, render::layers);
        }
        args::LayersAction::Add {
            name,
            source,
            read_only,
            weight,
        } => {
            let cwd = std::env::current_dir()
                .map_err(|e| Error::io("cannot read the current directory", ".", e))?;
            let access = if *read_only {
                memtree::layers::Access::ReadOnly
            } else {
                memtree::layers::Access::ReadWrite
            };
            let (file, decl) = memtree::layers::add(name, source, &cwd, access, *weight)?;
            let doc = serde_json::json!({
                "schema": "memtree.layers-add/v1",
                "name": name,
                "declared": decl,
                "file": file.display().to_string(),
            });
            emit(json, &doc, |_| {
                let what = decl.path.as_deref().or(decl.git.as_deref()).unwrap_or("");
                let mut s = format!(
                    "added layer {name} ({what}, {}) to {}\n",
                    decl.access.name(),
                    file.display()
                );
                if decl.git.is_some() {
                    s.push_str(&format!("run `memtree layers sync {name}` to clone it\n"));
                }
                s
            });
        }
        args::LayersAction::Remove { name } => {
            let file = memtree::layers::remove_from_user_config(name)?.ok_or_else(|| {
                Error::UnknownLayer {
                    name: name.clone(),
                    reason: Some("your configuration does not declare it (a project's memtree.yaml may: edit that file)".into()),
                    known: Vec::new(),
                }
            })?;
            let doc = serde_json::json!({
                "schema": "memtree.layers-remove/v1",
                "name": name,
                "file": file.display().to_string(),
            });
            emit(json, &doc, |_| {
                format!(
                    "removed layer {name} from {} (its files stay)\n",
                    file.display()
                )
            });
        }
        args::LayersAction::Sync { name } => {
            let project = open(cli)?;
            let layers: Vec<memtree::layers::Layer> = project
                .layers()
                .into_iter()
                .filter(|l| l.name != memtree::layers::PROJECT)
                .filter(|l| name.as_ref().is_none_or(|n| *n == l.name))
                // A user layer not created yet has nothing to sync (unless named).
                .filter(|l| {
                    name.is_some() || l.name != memtree::layers::USER || l.unavailable.is_none()
                })
                .collect();
            if let Some(n) = name
                && layers.is_empty()
            {
                return Err(Error::UnknownLayer {
                    name: n.clone(),
                    reason: None,
                    known: project.layers().into_iter().map(|l| l.name).collect(),
                });
            }
            let rows: Vec<_> = layers.iter().map(memtree::layers::sync::sync).collect();
            let failed = rows
                .iter()
                .any(|r| matches!(r.action, "failed" | "conflict"));
            let doc = serde_json::json!({"schema": "memtree.layers-sync/v1", "layers": rows});
            emit(json, &doc, |_| render::layers_sync(&rows));
            if failed {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
