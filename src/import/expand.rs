//! CLAUDE.md's `@path` imports, expanded the way Claude Code documents them: a whole line
//! `@docs/style.md`, or inline, `See @README.md for an overview and @docs/testing.md for tests`.
//!
//! - An `@` that starts a line or follows white space, outside code spans and fenced blocks,
//!   names a file relative to the importing file; trailing punctuation is not part of the name.
//!   A whole-line import is replaced by the file; an inline one keeps its sentence and the file
//!   follows the line.
//! - Every file goes through [`ProjectFiles::read`] (nothing outside the project, under `.git/`
//!   or ignored by git), is expanded once per source (a repeat or a cycle is left as text), at
//!   most [`MAX_IMPORT_DEPTH`] levels deep, and the expanded text is bounded by
//!   `index.max_file_bytes`: five files of twenty `@next` lines expand to five files, not 20^5.
//! - `@~/…` (the user's home) is left as text and named; so is an import that is refused. A
//!   name that is no file (`@alice`, a mention) is left as text; one that looks like a path
//!   (`@docs/x.md`) is named.
//! - An import of a file `import` reads as a source of its own (`@AGENTS.md`) is not inlined:
//!   that file is imported once, as itself. A whole-line import of it, or of a file this source
//!   already holds (a repeat, a cycle), is removed; an inline one stays in its sentence.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::Skipped;
use super::source::{ProjectFiles, SourceText};

/// How deep `@path` imports of CLAUDE.md are followed.
pub const MAX_IMPORT_DEPTH: usize = 5;

/// A source with its imports expanded.
#[derive(Debug, Default)]
pub struct Expansion {
    /// The text.
    pub text: String,
    /// The files read for it, the source first, relative to the project.
    pub read: Vec<String>,
    /// Imports left as text, and why.
    pub refused: Vec<Skipped>,
    /// Files named by an import that `import` reads as sources of their own.
    pub sources: Vec<PathBuf>,
}

/// Expands `source`'s imports; `is_source` says whether a project-relative path is a source
/// `import` reads on its own.
///
/// # Errors
/// A sentence when the expanded text exceeds `limit` bytes.
pub fn expand(
    files: &ProjectFiles,
    source: &SourceText,
    limit: u64,
    is_source: &dyn Fn(&str) -> bool,
) -> Result<Expansion, String> {
    let mut run = Run {
        files,
        limit,
        is_source,
        seen: HashSet::from([source.path.clone()]),
        out: Expansion {
            read: vec![source.rel.clone()],
            ..Expansion::default()
        },
        from: source.rel.clone(),
    };
    let mut text = String::with_capacity(source.text.len());
    run.file(&source.path, &source.text, 0, &mut text)?;
    run.out.text = text;
    Ok(run.out)
}

struct Run<'a> {
    files: &'a ProjectFiles,
    limit: u64,
    is_source: &'a dyn Fn(&str) -> bool,
    seen: HashSet<PathBuf>,
    out: Expansion,
    /// The source, for notes.
    from: String,
}

impl Run<'_> {
    fn file(
        &mut self,
        path: &Path,
        text: &str,
        depth: usize,
        out: &mut String,
    ) -> Result<(), String> {
        let dir = path.parent().unwrap_or(self.files.root()).to_path_buf();
        let mut fence: Option<&str> = None;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim();
            let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
            match (fence, marker) {
                (None, Some(m)) => fence = Some(m),
                (Some(f), Some(m)) if f == m => fence = None,
                _ => {}
            }
            let targets = if fence.is_some() || marker.is_some() {
                Vec::new()
            } else {
                import_targets(line)
            };
            let whole = targets.len() == 1 && trimmed == format!("@{}", targets[0]);
            let mut inserted = String::new();
            let mut dropped = false;
            for target in &targets {
                match self.import(&dir, target, depth)? {
                    Imported::Text(t) => {
                        inserted.push_str(&t);
                        if !inserted.ends_with('\n') {
                            inserted.push('\n');
                        }
                    }
                    Imported::Elsewhere => dropped = true,
                    Imported::Kept => {}
                }
            }
            if whole && (dropped || !inserted.is_empty()) {
                out.push_str(&inserted);
            } else {
                out.push_str(line);
                if !inserted.is_empty() {
                    if !out.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push('\n');
                    out.push_str(&inserted);
                }
            }
            if out.len() as u64 > self.limit {
                return Err(format!(
                    "its @imports expand to more than index.max_file_bytes ({} bytes)",
                    self.limit
                ));
            }
        }
        Ok(())
    }

    /// One import: its expanded text, or what becomes of it.
    fn import(&mut self, dir: &Path, target: &str, depth: usize) -> Result<Imported, String> {
        let mut refuse = |reason: String| {
            self.out.refused.push(Skipped {
                file: self.from.clone(),
                reason: format!("@{target}: {reason}; left as text"),
            });
            Ok(Imported::Kept)
        };
        if target.starts_with('~') {
            return refuse("a file in the home folder is not the repository's".into());
        }
        let path = dir.join(target);
        let (resolved, rel) = match self.files.check(&path) {
            Ok(found) => found,
            Err(why) if why == "it does not exist" && !looks_like_path(target) => {
                return Ok(Imported::Kept);
            }
            Err(why) => return refuse(why),
        };
        if (self.is_source)(&rel) {
            if !self.out.sources.contains(&resolved) {
                self.out.sources.push(resolved);
            }
            return Ok(Imported::Elsewhere);
        }
        if self.seen.contains(&resolved) {
            return Ok(Imported::Elsewhere);
        }
        if depth >= MAX_IMPORT_DEPTH {
            return refuse(format!("imports go deeper than {MAX_IMPORT_DEPTH} levels"));
        }
        let found = match self.files.read(&resolved) {
            Ok(found) => found,
            Err(why) => return refuse(why),
        };
        self.seen.insert(resolved.clone());
        self.out.read.push(found.rel.clone());
        let mut text = String::with_capacity(found.text.len());
        self.file(&resolved, &found.text, depth + 1, &mut text)?;
        Ok(Imported::Text(text))
    }
}

/// What became of one import.
enum Imported {
    /// The file's expanded text.
    Text(String),
    /// Its text is elsewhere: a source of its own, or a file this source already holds. A
    /// whole-line import of it is removed; an inline one stays in its sentence.
    Elsewhere,
    /// Left as text (refused, or not a file).
    Kept,
}

fn looks_like_path(target: &str) -> bool {
    target.contains(['/', '.'])
}

/// The import targets on `line`: `@name` at the start or after white space, outside code spans,
/// without trailing punctuation.
fn import_targets(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    let mut prev_space = true;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '`' {
            in_code = !in_code;
            prev_space = false;
            continue;
        }
        if c == '@' && prev_space && !in_code {
            let rest = &line[i + 1..];
            let end = rest
                .find(|ch: char| ch.is_whitespace() || ch == '`')
                .unwrap_or(rest.len());
            let name = rest[..end]
                .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}', '"', '\'']);
            if !name.is_empty() {
                out.push(name.to_string());
            }
            while chars.peek().is_some_and(|(j, _)| *j < i + 1 + end) {
                chars.next();
            }
            prev_space = false;
            continue;
        }
        prev_space = c.is_whitespace() || c == '(';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_found_inline_outside_code() {
        assert_eq!(
            import_targets("See @README.md for an overview and @docs/testing.md for tests.\n"),
            ["README.md", "docs/testing.md"]
        );
        assert_eq!(import_targets("@docs/style.md\n"), ["docs/style.md"]);
        assert_eq!(
            import_targets("Mail ann@example.com, run `npm i @scope/pkg` (see @a.md).\n"),
            ["a.md"]
        );
        assert!(import_targets("no imports here @\n").is_empty());
    }
}
