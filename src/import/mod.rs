//! Reading the files agents already keep, as entries: what `memtree import` plans from.
//!
//! Sources, found in the project when no path is given (and recognised by name when one is):
//! - `AGENTS.md`, `CLAUDE.md` (its `@path` imports expanded: see [`expand`]), `.cursorrules`,
//!   `.github/copilot-instructions.md`: one entry per section (headings of level 1 to 3), under
//!   `conventions/<agent>/`; a level-3 section under a level-2 one becomes
//!   `conventions/<agent>/<section>/<subsection>` with a `part-of` relation to it;
//! - `.cursor/rules/*.mdc` (front matter `description`, `globs` as a string or a list,
//!   `alwaysApply`) and `.github/instructions/*.instructions.md` (`applyTo`): one entry per
//!   rule, the globs as `scope`;
//! - a Cline or Roo `memory-bank/` folder: each file's sections, placed by the file
//!   (`systemPatterns.md` under `architecture/patterns`, `activeContext.md` under
//!   `project/active`, ...);
//! - a ByteRover `.brv/context-tree/`: one entry per file, its folders as domain and topic,
//!   `title`, `tags`, `keywords` (aliases), `related` (relations), `importance` (0–100, read
//!   as 0–1) and `maturity` from its front matter; any of them may be missing.
//!
//! Every entry records where it came from (`source: {by: import, file, heading}`), which is
//! how a second import recognises its own entries. This module only reads and plans; nothing
//! here writes (see `Memory::import`). Every file is read through [`ProjectFiles`]: only the
//! repository's own content (no link leading out, nothing under `.git/`, nothing git ignores,
//! nothing over `index.max_file_bytes`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::entry::Relation;
use crate::markdown;
pub use crate::tree::slug;

pub mod expand;
pub mod source;

pub use expand::MAX_IMPORT_DEPTH;
pub use source::ProjectFiles;

/// One entry planned from a source.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The entry id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Kind.
    pub kind: String,
    /// Aliases.
    pub aliases: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Scope globs.
    pub scope: Vec<String>,
    /// Importance in 0..1, when the source says.
    pub importance: Option<f64>,
    /// Maturity, when the source says.
    pub maturity: Option<String>,
    /// Relations to other planned entries.
    pub relations: Vec<Relation>,
    /// The markdown body.
    pub body: String,
    /// The source file, relative to the project.
    pub file: String,
    /// The heading path of the section (`Tests > Snapshot tests`), when the entry is one.
    pub heading: Option<String>,
}

/// A source file (or an `@import`, or a folder) that was not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// The file, relative to the project.
    pub file: String,
    /// Why.
    pub reason: String,
}

/// What one source gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The entries planned from it.
    pub items: Vec<Item>,
    /// Every file read for it (the source, then its `@imports`), relative to the project.
    pub read: Vec<String>,
    /// Imports that were refused or left as text, and why.
    pub refused: Vec<Skipped>,
    /// Files its imports name that are sources of their own (imported once, as themselves).
    pub sources: Vec<PathBuf>,
}

/// The files at the project's top that `import` reads by name.
const NAMED: [&str; 4] = [
    "AGENTS.md",
    "CLAUDE.md",
    ".cursorrules",
    ".github/copilot-instructions.md",
];

/// Whether the project-relative `rel` is a file `import` reads as a source of its own when no
/// path is given (so an `@import` of it is not inlined into another source).
pub fn is_source(rel: &str) -> bool {
    let in_dir = |dir: &str, suffix: &str| {
        rel.strip_prefix(dir)
            .is_some_and(|name| !name.contains('/') && name.ends_with(suffix))
    };
    NAMED.contains(&rel)
        || in_dir(".cursor/rules/", ".mdc")
        || in_dir(".github/instructions/", ".instructions.md")
        || in_dir("memory-bank/", ".md")
        || (rel.starts_with(".brv/context-tree/") && rel.ends_with(".md"))
}

/// The agents' user-level files under `files`' root (the home folder), in a fixed order:
/// `.claude/CLAUDE.md` (Claude Code's memory for every project), `.codex/AGENTS.md` (Codex
/// CLI's), and `.cursor/rules/*.mdc`; what `import --layer user` reads (issue 23).
pub fn discover_user(files: &ProjectFiles) -> (Vec<PathBuf>, Vec<Skipped>) {
    let home = files.project().to_path_buf();
    let mut out: Vec<PathBuf> = [".claude/CLAUDE.md", ".codex/AGENTS.md"]
        .iter()
        .map(|name| home.join(name))
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| !m.is_dir()))
        .collect();
    let mut skipped = Vec::new();
    let rules = home.join(".cursor/rules");
    if std::fs::symlink_metadata(&rules).is_ok() {
        match files.check(&rules) {
            Ok(_) => {
                let mut found = Vec::new();
                listed(&rules, ".mdc", false, &mut found);
                found.sort();
                out.extend(found);
            }
            Err(reason) => skipped.push(Skipped {
                file: ".cursor/rules".into(),
                reason,
            }),
        }
    }
    (out, skipped)
}

/// The source files of the formats above that exist in the project, in a fixed order, and the
/// folders on the way that were refused (a link leading outside, an ignored folder). A file
/// that is a link is listed, so that reading it names the refusal.
pub fn discover(files: &ProjectFiles) -> (Vec<PathBuf>, Vec<Skipped>) {
    let project = files.project().to_path_buf();
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for name in NAMED {
        let p = project.join(name);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| !m.is_dir()) {
            out.push(p);
        }
    }
    for (dir, suffix, deep) in [
        (".cursor/rules", ".mdc", false),
        (".github/instructions", ".instructions.md", false),
        ("memory-bank", ".md", false),
        (".brv/context-tree", ".md", true),
    ] {
        let folder = project.join(dir);
        if std::fs::symlink_metadata(&folder).is_err() {
            continue;
        }
        if let Err(reason) = files.check(&folder) {
            skipped.push(Skipped {
                file: dir.to_string(),
                reason,
            });
            continue;
        }
        let mut found = Vec::new();
        listed(&folder, suffix, deep, &mut found);
        found.sort();
        out.extend(found);
    }
    (out, skipped)
}

/// The files below `dir` whose names end in `suffix` (regular files and links, which reading
/// checks), descending into real folders when `deep`.
fn listed(dir: &Path, suffix: &str, deep: bool, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(t) = e.file_type() else { continue };
        let name = e.file_name().to_string_lossy().into_owned();
        if t.is_dir() {
            if deep {
                listed(&e.path(), suffix, deep, out);
            }
        } else if name.ends_with(suffix) {
            out.push(e.path());
        }
    }
}

/// The sources a path given to `import` names: the file itself, or a folder's `.md` and `.mdc`
/// files (sorted; git-ignored folders, `.git` and `.memory` left out, links not followed into).
/// A folder that breaks a rule of [`ProjectFiles::check`] is reported instead.
pub fn sources_in(files: &ProjectFiles, path: &Path) -> (Vec<PathBuf>, Vec<Skipped>) {
    if !path.is_dir() {
        return (vec![path.to_path_buf()], Vec::new());
    }
    if let Err(reason) = files.check(path) {
        let file = files.shown(path);
        return (Vec::new(), vec![Skipped { file, reason }]);
    }
    let mut out: Vec<PathBuf> = ignore::WalkBuilder::new(path)
        .hidden(false)
        .follow_links(false)
        .require_git(false)
        .filter_entry(|e| !matches!(e.file_name().to_str(), Some(".git" | ".memory")))
        .build()
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| !t.is_dir()))
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|x| x == "md" || x == "mdc"))
        .collect();
    out.sort();
    (out, Vec::new())
}

/// The entries `file` (absolute, inside the project) holds, read through `files` (see
/// [`source`]); CLAUDE.md's `@imports` expanded (see [`expand`]).
///
/// # Errors
/// A sentence: the file breaks a rule of [`ProjectFiles::check`], cannot be read, is not UTF-8,
/// is over the size limit (alone or with its imports), has front matter that does not parse,
/// or is of no format this module knows.
pub fn read(files: &ProjectFiles, file: &Path) -> Result<Source, String> {
    let found = files.read(file)?;
    // The name the project gives the file says its format (`CLAUDE.md` that links to a file of
    // another name is still CLAUDE.md).
    let rel = files.relative(file).unwrap_or_else(|| found.rel.clone());
    let name = rel.rsplit('/').next().unwrap_or(&rel).to_string();
    let single = |items: Result<Vec<Item>, String>| {
        items.map(|items| Source {
            items,
            read: vec![found.rel.clone()],
            refused: Vec::new(),
            sources: Vec::new(),
        })
    };
    let text = &found.text;
    if rel.starts_with(".brv/context-tree/") {
        return single(byterover(&rel, text));
    }
    if rel.starts_with("memory-bank/") {
        let stem = name.trim_end_matches(".md");
        let (domain, topic, kind) = memory_bank_place(stem);
        return single(Ok(sections(&rel, text, domain, &topic, kind)));
    }
    if name.ends_with(".mdc") {
        return single(cursor_rule(&rel, &name, text).map(|i| vec![i]));
    }
    if name.ends_with(".instructions.md") {
        return single(copilot_rule(&rel, &name, text).map(|i| vec![i]));
    }
    let agent = match name.as_str() {
        "AGENTS.md" => "agents",
        "CLAUDE.md" => "claude",
        ".cursorrules" => "cursor",
        "copilot-instructions.md" => "copilot",
        _ if name.ends_with(".md") => {
            let topic = slug(name.trim_end_matches(".md"));
            return single(Ok(sections(
                &rel,
                text,
                "conventions",
                &topic,
                "convention",
            )));
        }
        _ => {
            return Err(
                "not a format memtree imports (a markdown file, .mdc, .cursorrules)".into(),
            );
        }
    };
    if agent != "claude" {
        return single(Ok(sections(&rel, text, "conventions", agent, "convention")));
    }
    let expanded = expand::expand(files, &found, files.limit(), &|r| r != rel && is_source(r))?;
    Ok(Source {
        items: sections(&rel, &expanded.text, "conventions", agent, "convention"),
        read: expanded.read,
        refused: expanded.refused,
        sources: expanded.sources,
    })
}

/// The kind a section's heading suggests (`convention` unless it reads as something else).
fn kind_of(heading: &str, default: &str) -> String {
    let h = heading.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| h.contains(w));
    if has(&[
        "pitfall",
        "gotcha",
        "caveat",
        "avoid",
        "don't",
        "do not",
        "never",
        "warning",
        "known issue",
    ]) {
        "pitfall".into()
    } else if has(&[
        "setup",
        "set up",
        "install",
        "build",
        "deploy",
        "release",
        "workflow",
        "getting started",
        "how to",
        "running",
    ]) {
        "procedure".into()
    } else if has(&["reference", "links", "resources", "glossary"]) {
        "reference".into()
    } else {
        default.into()
    }
}

/// One entry per section of `text` (headings of level 1 to 3) under `domain/topic`; the text
/// before the first heading, when there is any, is `overview`.
fn sections(rel: &str, text: &str, domain: &str, topic: &str, kind: &str) -> Vec<Item> {
    let heads = markdown::headings(text, 3);
    let mut items: Vec<Item> = Vec::new();
    let mut used: HashMap<String, usize> = HashMap::new();
    let mut unique = |id: String| {
        let n = used.entry(id.clone()).or_insert(0);
        *n += 1;
        if *n == 1 { id } else { format!("{id}-{n}") }
    };
    let preamble = &text[..heads.first().map_or(text.len(), |h| h.start)];
    if !preamble.trim().is_empty() {
        items.push(Item {
            id: unique(format!("{domain}/{topic}/overview")),
            title: format!("{} overview", rel.rsplit('/').next().unwrap_or(rel)),
            kind: kind.into(),
            aliases: Vec::new(),
            tags: vec![topic.to_string()],
            scope: Vec::new(),
            importance: None,
            maturity: None,
            relations: Vec::new(),
            body: preamble.trim().to_string(),
            file: rel.into(),
            heading: None,
        });
    }
    // The section a level-3 heading belongs to: the last level-1 or level-2 heading before it.
    let mut parent: Option<(String, String)> = None;
    for (i, h) in heads.iter().enumerate() {
        let end = heads.get(i + 1).map_or(text.len(), |n| n.start);
        let body = text[h.end..end].trim().to_string();
        let (id, heading_path, part_of) = match (&parent, h.level) {
            (Some((pid, ptext)), 3) => (
                unique(format!("{pid}/{}", slug(&h.text))),
                format!("{ptext} > {}", h.text),
                Some(pid.clone()),
            ),
            _ => {
                let id = unique(format!("{domain}/{topic}/{}", slug(&h.text)));
                (id, h.text.clone(), None)
            }
        };
        if h.level < 3 {
            parent = Some((id.clone(), h.text.clone()));
        }
        if body.is_empty() && h.level < 3 && heads.get(i + 1).is_some_and(|n| n.level > h.level) {
            // A heading that only introduces its subsections is their parent, not an entry.
            continue;
        }
        let aliases = match &part_of {
            Some(_) => vec![heading_path.replace(" > ", " ")],
            None => Vec::new(),
        };
        items.push(Item {
            id,
            title: h.text.clone(),
            kind: kind_of(&h.text, kind),
            aliases,
            tags: vec![topic.to_string()],
            scope: Vec::new(),
            importance: None,
            maturity: None,
            relations: part_of
                .map(|to| {
                    vec![Relation {
                        kind: "part-of".into(),
                        to,
                    }]
                })
                .unwrap_or_default(),
            body: if body.is_empty() {
                h.text.clone()
            } else {
                body
            },
            file: rel.into(),
            heading: Some(heading_path),
        });
    }
    // A part-of relation to a parent that is not an entry points nowhere: drop it.
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    for item in &mut items {
        item.relations.retain(|r| ids.contains(&r.to));
    }
    items
}

/// Where a Cline/Roo memory-bank file goes: `(domain, topic, kind)`.
fn memory_bank_place(stem: &str) -> (&'static str, String, &'static str) {
    match stem {
        "projectbrief" | "projectBrief" => ("project", "brief".into(), "fact"),
        "productContext" => ("project", "product".into(), "fact"),
        "activeContext" => ("project", "active".into(), "fact"),
        "progress" => ("project", "progress".into(), "fact"),
        "systemPatterns" => ("architecture", "patterns".into(), "decision"),
        "techContext" => ("architecture", "tech".into(), "fact"),
        other => ("project", slug(other), "fact"),
    }
}

/// The YAML front matter of `text` (a mapping) and the rest.
fn front_matter(text: &str) -> Result<(serde_yaml::Mapping, String), String> {
    let doc = crate::entry::Document::split(text)
        .map_err(|_| "its front matter has no closing `---` line".to_string())?;
    let map = match &doc.front {
        Some(y) if !y.trim().is_empty() => match serde_yaml::from_str::<serde_yaml::Value>(y) {
            Ok(serde_yaml::Value::Mapping(m)) => m,
            Ok(serde_yaml::Value::Null) => serde_yaml::Mapping::new(),
            Ok(_) => return Err("its front matter is not a mapping of keys".into()),
            Err(e) => return Err(format!("its front matter does not parse: {e}")),
        },
        _ => serde_yaml::Mapping::new(),
    };
    Ok((map, doc.body.trim().to_string()))
}

fn text_of(m: &serde_yaml::Mapping, key: &str) -> Option<String> {
    match m.get(key)? {
        serde_yaml::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A string (comma-separated) or a list of strings.
fn list_of(m: &serde_yaml::Mapping, key: &str) -> Vec<String> {
    match m.get(key) {
        Some(serde_yaml::Value::String(s)) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        Some(serde_yaml::Value::Sequence(items)) => items
            .iter()
            .filter_map(|v| match v {
                serde_yaml::Value::String(s) => Some(s.trim().to_string()),
                serde_yaml::Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .filter(|x| !x.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

fn first_sentence(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s).trim();
    let cut = line.find(". ").map_or(line.len(), |i| i + 1);
    line[..cut].chars().take(120).collect()
}

/// A rule file of an agent (`cursor`, `copilot`): one entry under `conventions/AGENT/`, titled
/// by its description's first sentence (else its first heading, else its name), its globs as
/// `scope`, its name as an alias.
struct Rule<'a> {
    agent: &'a str,
    stem: &'a str,
    description: Option<String>,
    globs: Vec<String>,
    importance: Option<f64>,
    body: String,
}

impl Rule<'_> {
    fn item(self, rel: &str) -> Item {
        let name = self.stem.replace(['-', '_'], " ");
        let title = self
            .description
            .as_deref()
            .map(first_sentence)
            .or_else(|| markdown::first_heading(&self.body))
            .unwrap_or_else(|| name.clone());
        Item {
            id: format!("conventions/{}/{}", self.agent, slug(self.stem)),
            kind: kind_of(&title, "convention"),
            title,
            aliases: vec![name],
            tags: vec![self.agent.to_string()],
            scope: self.globs,
            importance: self.importance,
            maturity: None,
            relations: Vec::new(),
            body: if self.body.is_empty() {
                self.description.unwrap_or_default()
            } else {
                self.body
            },
            file: rel.into(),
            heading: None,
        }
    }
}

/// A Cursor rule (`.cursor/rules/NAME.mdc`): `description`, `globs` (a string or a list),
/// `alwaysApply` (importance 0.8, else 0.5).
fn cursor_rule(rel: &str, name: &str, text: &str) -> Result<Item, String> {
    let (m, body) = front_matter(text)?;
    let always = matches!(m.get("alwaysApply"), Some(serde_yaml::Value::Bool(true)));
    Ok(Rule {
        agent: "cursor",
        stem: name.trim_end_matches(".mdc"),
        description: text_of(&m, "description"),
        globs: list_of(&m, "globs"),
        importance: Some(if always { 0.8 } else { 0.5 }),
        body,
    }
    .item(rel))
}

/// A Copilot instructions file (`.github/instructions/NAME.instructions.md`): `description`,
/// `applyTo`.
fn copilot_rule(rel: &str, name: &str, text: &str) -> Result<Item, String> {
    let (m, body) = front_matter(text)?;
    Ok(Rule {
        agent: "copilot",
        stem: name.trim_end_matches(".instructions.md"),
        description: text_of(&m, "description"),
        globs: list_of(&m, "applyTo"),
        importance: None,
        body,
    }
    .item(rel))
}

/// The id a ByteRover context-tree file maps to (`.brv/context-tree/a/b/c.md`).
fn byterover_id(rel: &str) -> String {
    let inner = rel
        .trim_start_matches(".brv/context-tree/")
        .trim_end_matches(".md");
    let segs: Vec<String> = inner.split('/').map(slug).collect();
    match segs.len() {
        0 | 1 => format!(
            "context/general/{}",
            segs.first().cloned().unwrap_or_default()
        ),
        2 => format!("{}/general/{}", segs[0], segs[1]),
        3 | 4 => segs.join("/"),
        _ => format!(
            "{}/{}/{}/{}",
            segs[0],
            segs[1],
            segs[2],
            slug(&segs[3..].join("-"))
        ),
    }
}

/// A ByteRover context-tree file.
fn byterover(rel: &str, text: &str) -> Result<Vec<Item>, String> {
    let (m, body) = front_matter(text)?;
    let id = byterover_id(rel);
    let title = text_of(&m, "title")
        .or_else(|| markdown::first_heading(&body))
        .unwrap_or_else(|| id.rsplit('/').next().unwrap_or(&id).replace('-', " "));
    let importance = m.get("importance").and_then(|v| v.as_f64()).map(|i| {
        if i > 1.0 {
            (i / 100.0).clamp(0.0, 1.0)
        } else {
            i.clamp(0.0, 1.0)
        }
    });
    let maturity = text_of(&m, "maturity")
        .map(|s| s.to_lowercase())
        .filter(|s| crate::entry::MATURITIES.contains(&s.as_str()));
    let relations = list_of(&m, "related")
        .into_iter()
        .map(|r| {
            let r = r.trim_start_matches("./").trim_end_matches(".md");
            let r = r.trim_start_matches(".brv/context-tree/");
            Relation {
                kind: "see-also".into(),
                to: byterover_id(&format!(".brv/context-tree/{r}.md")),
            }
        })
        .collect();
    Ok(vec![Item {
        kind: text_of(&m, "kind")
            .filter(|k| crate::entry::KINDS.contains(&k.as_str()))
            .unwrap_or_else(|| "fact".into()),
        id,
        title,
        aliases: list_of(&m, "keywords"),
        tags: list_of(&m, "tags"),
        scope: Vec::new(),
        importance,
        maturity,
        relations,
        body: if body.is_empty() {
            "(no text)".into()
        } else {
            body
        },
        file: rel.into(),
        heading: None,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_ids() {
        assert_eq!(slug("Rust/codex-rs"), "rust-codex-rs");
        assert_eq!(slug("  TUI Styling (ratatui) "), "tui-styling-ratatui");
        assert_eq!(slug("!!!"), "section");
        assert!(crate::tree::valid_segment(&slug(&"x".repeat(100))));
    }

    #[test]
    fn sections_nest_one_level() {
        let text = "Intro line.\n\n# Title\n\nTop.\n\n## Tests\n\nRun them.\n\n### Snapshots\n\nUse insta.\n\n## Empty parent\n\n### Child\n\nText.\n";
        let items = sections("AGENTS.md", text, "conventions", "agents", "convention");
        let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "conventions/agents/overview",
                "conventions/agents/title",
                "conventions/agents/tests",
                "conventions/agents/tests/snapshots",
                "conventions/agents/empty-parent/child",
            ]
        );
        assert_eq!(items[3].heading.as_deref(), Some("Tests > Snapshots"));
        assert_eq!(items[3].body, "Use insta.");
        assert_eq!(
            items[3].relations,
            [Relation {
                kind: "part-of".into(),
                to: "conventions/agents/tests".into()
            }]
        );
        // The empty parent is not an entry, so its child has no relation to it.
        assert!(items[4].relations.is_empty());
    }
}
