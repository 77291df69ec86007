//! Text rendering of reports for people. Plain text, no colour, quiet.

use std::fmt::Write as _;

use memtree::hooks::HooksReport;
use memtree::memory::{
    CheckReport, ConsolidateReport, HistoryReport, IndexReport, InitReport, LsItem, RecoverReport,
    Stats, WriteReport,
};
use memtree::retrieve::QueryResult;

pub fn init(r: &InitReport, commit: &str) -> String {
    if r.created.is_empty() {
        format!("{} already exists; nothing changed\n", r.root.display())
    } else {
        format!(
            "initialised {} ({}){commit}\n",
            r.root.display(),
            r.created.join(", ")
        )
    }
}

pub fn query(r: &QueryResult) -> String {
    let mut s = String::new();
    if r.hits.is_empty() {
        let _ = writeln!(
            s,
            "no hits: {}",
            r.note.as_deref().unwrap_or("nothing matched")
        );
        return s;
    }
    for (i, h) in r.hits.iter().enumerate() {
        let status = if h.status == "active" {
            String::new()
        } else {
            format!(", {}", h.status)
        };
        let _ = writeln!(
            s,
            "{}. {}  [{}, {:.3}{status}]",
            i + 1,
            h.id,
            h.tier.name(),
            h.score
        );
        let _ = writeln!(s, "   {}", h.title);
        let _ = writeln!(s, "   matched: {}", h.matched.join("; "));
        if !h.snippet.is_empty() {
            let _ = writeln!(s, "   {}", h.snippet);
        }
    }
    if let Some(note) = &r.note {
        let _ = writeln!(s, "({note})");
    }
    for l in r.layers.iter().filter(|l| !l.searched) {
        let _ = writeln!(
            s,
            "(layer {} not searched: {})",
            l.name,
            l.reason.as_deref().unwrap_or("unavailable")
        );
    }
    s
}

pub fn layers(r: &memtree::memory::LayersReport) -> String {
    let mut s = String::new();
    for l in &r.layers {
        let entries = l.entries.map_or_else(
            || "-".to_string(),
            |n| format!("{n} {}", if n == 1 { "entry" } else { "entries" }),
        );
        let _ = writeln!(
            s,
            "{:<10} {:<10} {:<14} {}",
            l.name,
            l.access,
            entries,
            l.path.as_deref().unwrap_or("-")
        );
        let mut facts = vec![format!("trust: {}", l.trust)];
        if let Some(g) = &l.git {
            facts.push(format!("git: {g}"));
        }
        if let Some(c) = &l.last_commit {
            facts.push(format!("last commit {c}"));
        }
        if (l.weight - 1.0).abs() > f64::EPSILON {
            facts.push(format!("weight {}", l.weight));
        }
        if let Some(why) = &l.unavailable {
            facts.push(format!("not searched: {why}"));
        }
        let _ = writeln!(s, "           {}", facts.join("; "));
    }
    s
}

pub fn layers_sync(rows: &[memtree::layers::sync::SyncRow]) -> String {
    let mut s = String::new();
    if rows.is_empty() {
        s.push_str("no layer to sync\n");
    }
    for r in rows {
        let mut line = format!("{}: {}", r.name, r.action);
        if r.pulled > 0 {
            let _ = write!(line, ", {} commit(s) in", r.pulled);
        }
        if r.pushed > 0 {
            let _ = write!(line, ", {} pushed", r.pushed);
        }
        if let Some(d) = &r.detail {
            let _ = write!(line, " ({d})");
        }
        let _ = writeln!(s, "{line}");
    }
    s
}

pub fn ls(items: &[LsItem]) -> String {
    let mut s = String::new();
    let mut open: Vec<String> = Vec::new();
    for it in items {
        let segs: Vec<&str> = it.id.split('/').collect();
        let folders = &segs[..segs.len() - 1];
        let common = open
            .iter()
            .zip(folders)
            .take_while(|(a, b)| a.as_str() == **b)
            .count();
        open.truncate(common);
        for (depth, f) in folders.iter().enumerate().skip(common) {
            let _ = writeln!(s, "{}{}/", "  ".repeat(depth), f);
            open.push((*f).to_string());
        }
        let mut tags = Vec::new();
        if let Some(k) = &it.kind {
            tags.push(k.clone());
        }
        if it.status != "active" {
            tags.push(it.status.clone());
        }
        if let Some(m) = &it.maturity {
            tags.push(m.clone());
        }
        let _ = writeln!(
            s,
            "{}{}  {}  ({})",
            "  ".repeat(folders.len()),
            segs[segs.len() - 1],
            it.title,
            tags.join(", ")
        );
    }
    s
}

pub fn check(r: &CheckReport) -> String {
    let mut s = String::new();
    for d in &r.diagnostics {
        let line = d.line.map(|l| format!(":{l}")).unwrap_or_default();
        let _ = writeln!(s, "{}{line}: {}: {}", d.file, d.severity, d.message);
    }
    let _ = writeln!(
        s,
        "checked {} files: {} errors, {} warnings",
        r.files, r.errors, r.warnings
    );
    s
}

pub fn index(r: &IndexReport) -> String {
    let sync = &r.sync;
    let what = if sync.rebuilt { "rebuilt" } else { "refreshed" };
    let mut s = format!(
        "{what} index: {} files, {} indexed, {} removed, {} unreadable ({:.1} ms)\n",
        sync.files,
        sync.indexed,
        sync.removed,
        sync.errors.len(),
        r.elapsed_ms
    );
    let d = &r.dense;
    if d.model.is_some() {
        let _ = writeln!(
            s,
            "dense vectors: {} encoded, {} cached, {} dropped ({:.1} ms)",
            d.encoded, d.cached, d.pruned, d.elapsed_ms
        );
    }
    s
}

pub fn stats(st: &Stats) -> String {
    let mut s = format!("{} entries in {} files\n", st.entries, st.files);
    for e in &st.invalid {
        let _ = writeln!(s, "unreadable: {e}");
    }
    for (name, map) in [
        ("kind", &st.by_kind),
        ("status", &st.by_status),
        ("maturity", &st.by_maturity),
        ("domain", &st.by_domain),
    ] {
        let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(s, "{name}: {}", parts.join(", "));
    }
    let _ = writeln!(s, "cache: {:.1} MB", st.cache_bytes as f64 / 1e6);
    s
}

pub fn history(r: &HistoryReport) -> String {
    let mut s = String::new();
    for v in &r.versions {
        let _ = writeln!(s, "commit {}", v.commit);
        let _ = writeln!(s, "Author: {} <{}>", v.author, v.email);
        let _ = writeln!(s, "Date:   {}", v.date);
        let what = match &v.renamed_from {
            Some(from) => format!("renamed from {from}"),
            None => v.status.to_string(),
        };
        let _ = writeln!(s, "File:   .memory/{} ({what})", v.file);
        let _ = writeln!(s, "\n    {}\n", v.message);
        if !v.diff.is_empty() {
            s.push_str(&v.diff);
            if !v.diff.ends_with('\n') {
                s.push('\n');
            }
            s.push('\n');
        }
    }
    s
}

pub fn consolidate(r: &ConsolidateReport) -> String {
    let mut s = String::new();
    if r.actions.is_empty() {
        s.push_str("nothing to consolidate\n");
    }
    for a in &r.actions {
        let mark = if a.applied { "applied" } else { "proposed" };
        let _ = writeln!(s, "{mark}: {} {}: {}", a.kind, a.id, a.change);
        let _ = writeln!(s, "    because {}", a.reason);
    }
    if let Some(id) = &r.commit.id {
        let _ = writeln!(s, "committed {}", &id[..7]);
    } else if r.actions.iter().any(|a| !a.applied && a.kind != "decayed") {
        s.push_str("(run `memtree consolidate --apply` to apply the proposals)\n");
    }
    s
}

pub fn hooks(r: &HooksReport) -> String {
    let mut s = String::new();
    for c in &r.changed {
        let _ = writeln!(s, "{c}");
    }
    for h in &r.hooks {
        let _ = writeln!(s, "{:<14} {}", h.name, h.state);
    }
    let _ = writeln!(
        s,
        "merge driver   {}",
        if r.merge_driver {
            "registered"
        } else {
            "missing"
        }
    );
    s
}

/// `VERB ID: CHANGES [commit abc1234]`, or nothing when nothing changed (`commit` is the
/// CLI's commit note).
pub fn write(verb: &str, r: &WriteReport, commit: &str) -> String {
    if r.changed.is_empty() {
        return String::new();
    }
    format!("{verb} {}: {}{commit}\n", r.id, r.changed.join(", "))
}

/// What `recover` did (`commit` is the CLI's commit note).
pub fn recover(r: &RecoverReport, commit: &str) -> String {
    match (&r.operation, r.discarded) {
        (None, _) => "nothing to recover: no write was interrupted\n".into(),
        (Some(op), true) => {
            let mut s = format!("discarded `{op}`; the files are as they were on disk\n");
            for k in &r.kept {
                let _ = writeln!(s, "memtree's version kept in {k}");
            }
            s
        }
        (Some(op), false) => format!("{op}: {}{commit}\n", r.files.join(", ")),
    }
}

/// What `trust` did or found.
pub fn trust(r: &memtree::trust::TrustReport) -> String {
    let Some(hash) = &r.sha256 else {
        return format!("{} does not exist; there is nothing to trust\n", r.file);
    };
    let needs = if r.needs_trust.is_empty() {
        "it sets nothing that needs trust".to_string()
    } else {
        format!("it sets {}", r.needs_trust.join(" and "))
    };
    let state = if r.trusted { "trusted" } else { "not trusted" };
    format!("{} (sha256 {}): {state}; {needs}\n", r.file, &hash[..12])
}

/// `setup --status`: per agent, its files, what the client recorded, and the next step.
pub fn setup_status(r: &memtree::setup::status::StatusReport) -> String {
    let mut s = String::new();
    for a in &r.agents {
        let name = match a.agent {
            memtree::setup::Agent::Claude => "Claude Code",
            memtree::setup::Agent::Cursor => "Cursor",
            memtree::setup::Agent::Codex => "Codex",
        };
        let what = match (a.agent, a.allowed) {
            (memtree::setup::Agent::Claude, Some(allowed)) => format!(
                "MCP server {}; tools {} for claude -p",
                a.mcp,
                if allowed { "allowed" } else { "not allowed" }
            ),
            (memtree::setup::Agent::Codex, Some(reviewed)) => format!(
                "project {}; hooks {}",
                a.mcp,
                if reviewed { "reviewed" } else { "not reviewed" }
            ),
            _ => "MCP approval not readable".to_string(),
        };
        let _ = writeln!(s, "{name}: {what}");
        for f in &a.files {
            let _ = writeln!(s, "  {:<11}{}", f.state, f.file);
        }
        let _ = writeln!(s, "  next: {}", a.next);
    }
    s
}

/// The plan (and outcome) of `import`.
pub fn import(r: &memtree::memory::ImportReport, commit: &str) -> String {
    let mut s = String::new();
    if r.files.is_empty() {
        s.push_str("no source found (AGENTS.md, CLAUDE.md, .cursor/rules, .cursorrules, Copilot instructions, memory-bank/, .brv/context-tree)\n");
    }
    for row in &r.plan {
        let from = match &row.heading {
            Some(h) => format!("{}: {h}", row.file),
            None => row.file.clone(),
        };
        let _ = write!(s, "{:<7}{}  ({from})", row.action, row.id);
        if let Some(why) = &row.reason {
            let _ = write!(s, ": {why}");
        }
        s.push('\n');
    }
    let count = |a: &str| r.plan.iter().filter(|p| p.action == a).count();
    let _ = writeln!(
        s,
        "{}{} to add, {} to update, {} unchanged, {} skipped{commit}",
        if r.dry_run { "dry run: " } else { "" },
        count("add"),
        count("update"),
        count("noop"),
        count("skip"),
    );
    s
}

/// `2 to add, 1 to update, 0 to supersede, 3 already known, 0 skipped`.
pub fn curate_counts(r: &memtree::memory::CurateReport) -> String {
    let count = |op: &str| r.plan.iter().filter(|p| p.op == op).count();
    format!(
        "{} to add, {} to update, {} to supersede, {} already known, {} skipped",
        count("add"),
        count("update"),
        count("supersede"),
        count("noop"),
        count("skip"),
    )
}

/// The plan, a row per operation, then the counts.
pub fn curate(r: &memtree::memory::CurateReport, commit: &str) -> String {
    let mut s = String::new();
    if r.llm.ran || r.llm.reason.starts_with("untrusted") {
        let _ = writeln!(s, "llm: {}", r.llm.reason);
    }
    for row in &r.plan {
        let target = row
            .target
            .as_deref()
            .map(|t| format!(" (replaces {t})"))
            .unwrap_or_default();
        let id = if row.id.is_empty() {
            "-".to_string()
        } else {
            memtree::layers::qualify(&row.layer, &row.id)
        };
        let _ = writeln!(
            s,
            "{:<10} {id}{target}\n           {}: {}\n           {}",
            row.op.to_uppercase(),
            row.kind,
            row.text,
            row.reason
        );
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    if let Some(c) = r.user_commit.as_ref().and_then(|c| c.id.as_deref()) {
        let _ = writeln!(s, "user layer: [commit {}]", &c[..c.len().min(7)]);
    }
    let _ = writeln!(
        s,
        "{}{} (planner: {}){}{commit}",
        if r.applied { "" } else { "dry run: " },
        curate_counts(r),
        r.planner,
        if r.applied {
            ""
        } else {
            "; run with --apply to write it"
        }
    );
    s
}

/// The files setup wrote (or, with --print, would write, with their content).
pub fn setup(r: &memtree::setup::SetupReport) -> String {
    let mut s = String::new();
    for f in &r.files {
        if r.written {
            let verb = match f.action {
                "create" => "created",
                "update" => "updated",
                "delete" => "deleted",
                _ => "unchanged",
            };
            let _ = writeln!(s, "{verb:<10} {}", f.file);
        } else {
            let _ = writeln!(s, "# {} ({})", f.file, f.action);
            if let Some(c) = &f.content {
                s.push_str(c);
            }
            s.push('\n');
        }
    }
    if r.files.is_empty() {
        s.push_str("nothing to do\n");
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

/// `model pull`.
pub fn model_pull(r: &memtree::semantic::pull::PullReport) -> String {
    let files: Vec<String> = r
        .files
        .iter()
        .map(|f| format!("{} ({:.1} MB)", f.name, f.bytes as f64 / 1e6))
        .collect();
    let how = if r.already_present {
        "already in".to_string()
    } else {
        format!("pulled from {} into", r.source)
    };
    format!(
        "{} ({}): {how} {}\n  {}; every SHA-256 matches the sum pinned in memtree\n",
        r.title,
        r.licence,
        r.folder,
        files.join(", ")
    )
}
