//! Layers: the trees one query reads (DESIGN.md §3b, issue 23).
//!
//! - `project`: the repository's `.memory/`, the default target of every write;
//! - `user`: the developer's own tree, `$XDG_DATA_HOME/memtree/user/.memory` (else
//!   `~/.local/share/...`), a git repository of its own, created by `init --user` or the first
//!   write with `--layer user`;
//! - shared layers, named in `layers:` of the user's own configuration
//!   (`$XDG_CONFIG_HOME/memtree/config.yaml`, no trust needed) or of the project's
//!   `memtree.yaml` (a folder outside the project, or a git URL, needs `memtree trust`): a folder
//!   (usually a clone of a team's memory repository) or a git URL that `layers sync` clones into
//!   `$XDG_CACHE_HOME/memtree/layers/NAME`; each `read-write` (default) or `read-only`.
//!
//! ```yaml
//! layers:
//!   platform: {git: "https://git.example.com/platform/memory.git", access: read-only}
//!   payments: {path: ../payments-memory, weight: 0.8}
//! ```
//!
//! Ids outside the project are qualified `NAME:domain/topic/entry` wherever an id is printed or
//! accepted ([`split`], [`qualify`]). The user's own declaration of a name wins over the
//! project's.

pub mod sync;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tree::{MEMORY_DIR, Tree};

/// The repository's own layer.
pub const PROJECT: &str = "project";
/// The developer's own layer.
pub const USER: &str = "user";

/// A layer's access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// memtree writes to it (with `--layer NAME`).
    #[default]
    ReadWrite,
    /// memtree refuses every write ([`Error::ReadOnly`]).
    ReadOnly,
}

impl Access {
    /// `read-write` or `read-only`.
    pub fn name(self) -> &'static str {
        match self {
            Access::ReadWrite => "read-write",
            Access::ReadOnly => "read-only",
        }
    }
}

/// One `layers.NAME` declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LayerDecl {
    /// The layer's folder: a project folder holding `.memory/`, or the `.memory` folder itself;
    /// relative to the declaring project (in `memtree.yaml`) or absolute (`~/` is the home
    /// folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A git URL: `layers sync` clones it into the user's cache; the layer is that clone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<String>,
    /// `read-write` (default) or `read-only`.
    #[serde(skip_serializing_if = "is_default_access")]
    pub access: Access,
    /// Multiplies the layer's scores in a merged answer (default 1.0; ties go project > shared
    /// > user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

fn is_default_access(a: &Access) -> bool {
    *a == Access::ReadWrite
}

/// Whether `name` may name a layer: 1–32 characters of `a-z`, `0-9`, `-`, starting with a
/// letter.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Checks a set of declarations (`origin` names the file for the message): valid names, a
/// `path` or a `git` (not both) for shared layers, neither for `project` and `user` (only
/// `weight` applies there), and a weight in 0..=10.
///
/// # Errors
/// A message naming the layer.
pub fn validate(decls: &BTreeMap<String, LayerDecl>) -> std::result::Result<(), String> {
    for (name, d) in decls {
        if !valid_name(name) {
            return Err(format!(
                "layers.{name}: a layer name is 1-32 characters of a-z, 0-9 and -, starting with a letter"
            ));
        }
        if let Some(w) = d.weight
            && !(0.0..=10.0).contains(&w)
        {
            return Err(format!(
                "layers.{name}.weight must be between 0 and 10, found {w}"
            ));
        }
        let builtin = name == PROJECT || name == USER;
        match (&d.path, &d.git) {
            (Some(_), Some(_)) => {
                return Err(format!("layers.{name}: give `path` or `git`, not both"));
            }
            (None, None) if !builtin => {
                return Err(format!(
                    "layers.{name}: give `path` (a folder) or `git` (a URL)"
                ));
            }
            (Some(_), _) | (_, Some(_)) if builtin => {
                return Err(format!(
                    "layers.{name}: the `{name}` layer's place is fixed; only `weight` may be set"
                ));
            }
            _ => {}
        }
        if builtin && d.access != Access::ReadWrite {
            return Err(format!(
                "layers.{name}: the `{name}` layer is always read-write"
            ));
        }
    }
    Ok(())
}

/// Splits a possibly qualified id: `platform:conventions/api` → `(Some("platform"),
/// "conventions/api")`; `project:x` → `(None, "x")`; an id without a valid layer name before
/// `:` is returned whole.
pub fn split(id: &str) -> (Option<&str>, &str) {
    match id.split_once(':') {
        Some((layer, rest)) if valid_name(layer) => {
            if layer == PROJECT {
                (None, rest)
            } else {
                (Some(layer), rest)
            }
        }
        _ => (None, id),
    }
}

/// The id as printed: bare in the project, `NAME:id` in another layer.
pub fn qualify(layer: &str, id: &str) -> String {
    if layer == PROJECT {
        id.to_string()
    } else {
        format!("{layer}:{id}")
    }
}

/// The user layer's `.memory` folder: `$XDG_DATA_HOME/memtree/user/.memory`, else
/// `$HOME/.local/share/memtree/user/.memory`; `None` when neither variable is set.
pub fn user_root() -> Option<PathBuf> {
    Some(
        crate::trust::xdg_dir("XDG_DATA_HOME", ".local/share")?
            .join("memtree")
            .join(USER)
            .join(MEMORY_DIR),
    )
}

/// Where `layers sync` clones the git layer `name`: `$XDG_CACHE_HOME/memtree/layers/NAME`.
pub fn clone_dir(name: &str) -> Option<PathBuf> {
    Some(
        crate::trust::xdg_dir("XDG_CACHE_HOME", ".cache")?
            .join("memtree")
            .join("layers")
            .join(name),
    )
}

/// Where a declaration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The project itself, or the user layer's fixed place.
    BuiltIn,
    /// `$XDG_CONFIG_HOME/memtree/config.yaml`.
    UserConfig,
    /// The project's `memtree.yaml`.
    ProjectConfig,
}

/// A layer as resolved for one project.
#[derive(Debug, Clone, Serialize)]
pub struct Layer {
    /// `project`, `user` or the shared layer's name.
    pub name: String,
    /// Its `.memory` folder (absolute), when it can be known.
    pub root: Option<PathBuf>,
    /// Its access.
    pub access: Access,
    /// The score multiplier.
    pub weight: f64,
    /// Where it was declared.
    pub origin: Origin,
    /// The git URL it is cloned from, for a git layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<String>,
    /// Why it is not searched (`None`: it is): not created yet, not cloned yet, the folder is
    /// missing, or `untrusted config: run memtree trust`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

impl Layer {
    /// The layer's tree, when it is available.
    ///
    /// # Errors
    /// [`Error::UnknownLayer`] with the reason it is unavailable.
    pub fn tree(&self, known: &[String]) -> Result<Tree> {
        match (&self.root, &self.unavailable) {
            (Some(root), None) => Ok(Tree::new(root.clone())),
            (_, why) => Err(Error::UnknownLayer {
                name: self.name.clone(),
                reason: Some(why.clone().unwrap_or_else(|| "it has no folder".into())),
                known: known.to_vec(),
            }),
        }
    }

    /// Tie order: project 0, shared 1, user 2.
    pub fn rank(&self) -> u8 {
        match self.name.as_str() {
            PROJECT => 0,
            USER => 2,
            _ => 1,
        }
    }
}

/// Expands a leading `~/` to the home folder.
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) if !home.is_empty() => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// The `.memory` folder a declared folder names: the folder itself when it is called
/// `.memory`, else its `.memory` child.
fn memory_folder(dir: &Path) -> PathBuf {
    if dir.file_name().is_some_and(|n| n == MEMORY_DIR) {
        dir.to_path_buf()
    } else {
        dir.join(MEMORY_DIR)
    }
}

/// Resolves the layers of the project `project` (its tree): the project first, then the
/// shared layers by name, then `user`. `user_decls` come from the user's configuration,
/// `project_decls` from the project's (already stripped of what trust did not allow), and
/// `untrusted` names the project's layers that trust left out (they are listed, unavailable).
pub fn resolve(
    project: &Tree,
    user_decls: &BTreeMap<String, LayerDecl>,
    project_decls: &BTreeMap<String, LayerDecl>,
    untrusted: &[String],
) -> Vec<Layer> {
    let weight = |name: &str| {
        user_decls
            .get(name)
            .or_else(|| project_decls.get(name))
            .and_then(|d| d.weight)
            .unwrap_or(1.0)
    };
    let mut out = vec![Layer {
        name: PROJECT.into(),
        root: Some(project.root.clone()),
        access: Access::ReadWrite,
        weight: weight(PROJECT),
        origin: Origin::BuiltIn,
        git: None,
        unavailable: None,
    }];
    let mut names: Vec<&String> = user_decls
        .keys()
        .chain(project_decls.keys())
        .chain(untrusted.iter())
        .filter(|n| *n != PROJECT && *n != USER)
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let (decl, origin) = match (user_decls.get(name), project_decls.get(name)) {
            (Some(d), _) => (d, Origin::UserConfig),
            (None, Some(d)) => (d, Origin::ProjectConfig),
            (None, None) => {
                out.push(Layer {
                    name: name.clone(),
                    root: None,
                    access: Access::ReadOnly,
                    weight: 1.0,
                    origin: Origin::ProjectConfig,
                    git: None,
                    unavailable: Some(crate::trust::UNTRUSTED_REASON.into()),
                });
                continue;
            }
        };
        let (root, unavailable) = match (&decl.path, &decl.git) {
            (Some(path), _) => {
                let p = expand_home(path);
                let base = match origin {
                    Origin::ProjectConfig => project.project().join(p),
                    _ => p,
                };
                let root = memory_folder(&std::path::absolute(&base).unwrap_or(base));
                let why = (!root.is_dir()).then(|| format!("{} does not exist", root.display()));
                (Some(root), why)
            }
            (None, Some(_)) => match clone_dir(name) {
                Some(dir) => {
                    let root = memory_folder(&dir);
                    let why = (!root.is_dir()).then(|| {
                        if dir.exists() {
                            format!("the clone {} holds no .memory folder", dir.display())
                        } else {
                            "not cloned yet: run memtree layers sync".to_string()
                        }
                    });
                    (Some(root), why)
                }
                None => (None, Some("neither XDG_CACHE_HOME nor HOME is set".into())),
            },
            (None, None) => (None, Some("neither `path` nor `git` is given".into())),
        };
        out.push(Layer {
            name: name.clone(),
            root,
            access: decl.access,
            weight: decl.weight.unwrap_or(1.0),
            origin,
            git: decl.git.clone(),
            unavailable,
        });
    }
    let user = user_root();
    let unavailable = match &user {
        Some(r) if r.is_dir() => None,
        Some(_) => {
            Some("not created yet: memtree init --user, or a write with --layer user".into())
        }
        None => Some("neither XDG_DATA_HOME nor HOME is set".into()),
    };
    out.push(Layer {
        name: USER.into(),
        root: user,
        access: Access::ReadWrite,
        weight: weight(USER),
        origin: Origin::BuiltIn,
        git: None,
        unavailable,
    });
    // A folder is searched once: a layer that is the project itself (a project opened inside
    // the user layer's folder), or the same folder as a layer before it, is left out.
    let mut seen: Vec<(PathBuf, String)> = Vec::new();
    for l in &mut out {
        let Some(canonical) = l
            .root
            .as_ref()
            .filter(|_| l.unavailable.is_none())
            .and_then(|r| std::fs::canonicalize(r).ok())
        else {
            continue;
        };
        match seen.iter().find(|(r, _)| *r == canonical) {
            Some((_, first)) if first == PROJECT => {
                l.unavailable = Some("it is the project itself".into());
            }
            Some((_, first)) => {
                l.unavailable = Some(format!("it is the same folder as layer `{first}`"));
            }
            None => seen.push((canonical, l.name.clone())),
        }
    }
    out
}

/// The user configuration's text with `layers.NAME` added as one flow-style line, the rest of
/// the file byte for byte: under an existing block-style `layers:` key, else in a new one at the
/// end.
///
/// # Errors
/// A message when `layers:` is written in flow style (`layers: {...}`), which memtree does not
/// edit, or when the result would not parse to the wanted declaration.
pub fn add_to_config_text(
    text: &str,
    name: &str,
    decl: &LayerDecl,
) -> std::result::Result<String, String> {
    let value = serde_json::to_string(&serde_json::to_value(decl).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let key = lines.iter().position(|l| is_top_key(l, "layers"));
    let out = match key {
        None => {
            let mut s = text.to_string();
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&format!("layers:\n  {name}: {value}\n"));
            s
        }
        Some(i) => {
            let rest = lines[i].trim_end().trim_start_matches("layers:").trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(
                    "`layers:` is written in flow style; add the layer to it by hand".into(),
                );
            }
            let indent = lines[i + 1..]
                .iter()
                .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .map(|l| l.len() - l.trim_start().len())
                .filter(|&n| n > 0)
                .unwrap_or(2);
            let mut s: String = lines[..=i].concat();
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&format!("{}{name}: {value}\n", " ".repeat(indent)));
            s.push_str(&lines[i + 1..].concat());
            s
        }
    };
    let parsed = crate::trust::parse_user_config(&out)?;
    if parsed.layers.get(name) != Some(decl) {
        return Err(format!(
            "the edited file does not declare layer `{name}` as asked"
        ));
    }
    Ok(out)
}

/// The user configuration's text without `layers.NAME` (its line and the lines indented
/// under it), the rest byte for byte. `Ok(None)` when the file does not declare it.
///
/// # Errors
/// A message when the declaration is not in block style under `layers:`, or the result would
/// not parse.
pub fn remove_from_config_text(
    text: &str,
    name: &str,
) -> std::result::Result<Option<String>, String> {
    let before = crate::trust::parse_user_config(text)?;
    if !before.layers.contains_key(name) {
        return Ok(None);
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let key = lines
        .iter()
        .position(|l| is_top_key(l, "layers"))
        .ok_or("`layers:` is not a top-level block key; remove the layer by hand")?;
    let indent_of = |l: &str| l.len() - l.trim_start().len();
    let start = (key + 1..lines.len())
        .take_while(|&j| lines[j].trim().is_empty() || indent_of(lines[j]) > 0)
        .find(|&j| {
            let t = lines[j].trim_start();
            t.strip_prefix(name).is_some_and(|r| r.starts_with(':'))
        })
        .ok_or("the layer is not written as `NAME:` under `layers:`; remove it by hand")?;
    let own = indent_of(lines[start]);
    let end = (start + 1..lines.len())
        .find(|&j| !lines[j].trim().is_empty() && indent_of(lines[j]) <= own)
        .unwrap_or(lines.len());
    // The `layers:` key goes too when nothing is left under it.
    let empty = (key + 1..start)
        .chain(end..lines.len())
        .take_while(|&j| lines[j].trim().is_empty() || indent_of(lines[j]) > 0)
        .all(|j| lines[j].trim().is_empty() || lines[j].trim_start().starts_with('#'));
    let mut out: String = if empty {
        lines[..key].concat() + &lines[key + 1..start].concat()
    } else {
        lines[..start].concat()
    };
    out.push_str(&lines[end..].concat());
    let after = crate::trust::parse_user_config(&out)?;
    let mut expected = before.layers.clone();
    expected.remove(name);
    if after.layers != expected {
        return Err(
            "removing the lines would change other settings; remove the layer by hand".into(),
        );
    }
    Ok(Some(out))
}

/// What `layers add SOURCE` declares: a folder holding `.memory/` (or `.memory` itself) as
/// `path` (absolute); a bare repository or a URL (`https://…`, `ssh://…`, `file://…`,
/// `user@host:path`) as `git`.
///
/// # Errors
/// [`Error::Refused`] for a folder that holds no tree and is not a repository, or text that is
/// neither a folder nor a URL.
pub fn decl_for(source: &str, cwd: &Path) -> Result<LayerDecl> {
    let url_like = source.contains("://")
        || source
            .split_once(':')
            .is_some_and(|(host, _)| host.contains('@') && !host.contains('/'));
    if url_like {
        return Ok(LayerDecl {
            git: Some(source.to_string()),
            ..LayerDecl::default()
        });
    }
    let dir = cwd.join(expand_home(source));
    let dir = std::fs::canonicalize(&dir).map_err(|e| {
        Error::Refused(format!(
            "`{source}` is neither a folder ({e}) nor a git URL"
        ))
    })?;
    if memory_folder(&dir).is_dir() {
        return Ok(LayerDecl {
            path: Some(dir.display().to_string()),
            ..LayerDecl::default()
        });
    }
    if dir.join("HEAD").is_file() && dir.join("objects").is_dir() {
        return Ok(LayerDecl {
            git: Some(dir.display().to_string()),
            ..LayerDecl::default()
        });
    }
    Err(Error::Refused(format!(
        "{} holds no .memory folder and is not a git repository to clone; `memtree init {}` \
         creates a tree there",
        dir.display(),
        dir.display()
    )))
}

/// `layers add NAME SOURCE`: checks the name, reads what SOURCE is ([`decl_for`], relative to
/// `cwd`), sets `access` and `weight`, and adds the declaration to the user's configuration
/// ([`add_to_user_config`]). Returns the file and the declaration.
///
/// # Errors
/// As [`decl_for`] and [`add_to_user_config`]; a bad name before anything is read.
pub fn add(
    name: &str,
    source: &str,
    cwd: &Path,
    access: Access,
    weight: Option<f64>,
) -> Result<(PathBuf, LayerDecl)> {
    if !valid_name(name) {
        return Err(Error::Refused(format!(
            "`{name}` cannot name a layer: 1-32 characters of a-z, 0-9 and -, starting with a letter"
        )));
    }
    let mut decl = decl_for(source, cwd)?;
    decl.access = access;
    decl.weight = weight;
    let file = add_to_user_config(name, &decl)?;
    Ok((file, decl))
}

/// Adds `layers.NAME` to the user's configuration file (created when missing), editing it as
/// text ([`add_to_config_text`]); returns the file.
///
/// # Errors
/// [`Error::Refused`] for `project`, `user`, a name already declared there, a file memtree
/// cannot edit, or no configuration folder; [`Error::Io`].
pub fn add_to_user_config(name: &str, decl: &LayerDecl) -> Result<PathBuf> {
    if name == PROJECT || name == USER {
        return Err(Error::Refused(format!(
            "`{name}` is a built-in layer; choose another name"
        )));
    }
    let mut one = BTreeMap::new();
    one.insert(name.to_string(), decl.clone());
    validate(&one).map_err(Error::Refused)?;
    let (file, text) = user_config_text()?;
    let current = crate::trust::parse_user_config(&text).map_err(|message| Error::Config {
        file: file.clone(),
        message,
    })?;
    if current.layers.contains_key(name) {
        return Err(Error::Refused(format!(
            "layer `{name}` is already declared in {}; `memtree layers remove {name}` first",
            file.display()
        )));
    }
    let new = add_to_config_text(&text, name, decl)
        .map_err(|m| Error::Refused(format!("{}: {m}", file.display())))?;
    write_user_config(&file, &new)?;
    Ok(file)
}

/// Removes `layers.NAME` from the user's configuration file; `Ok(None)` when it does not
/// declare it, else the file.
///
/// # Errors
/// [`Error::Refused`] when the declaration cannot be removed as text; [`Error::Io`].
pub fn remove_from_user_config(name: &str) -> Result<Option<PathBuf>> {
    let (file, text) = user_config_text()?;
    match remove_from_config_text(&text, name)
        .map_err(|m| Error::Refused(format!("{}: {m}", file.display())))?
    {
        None => Ok(None),
        Some(new) => {
            write_user_config(&file, &new)?;
            Ok(Some(file))
        }
    }
}

fn user_config_text() -> Result<(PathBuf, String)> {
    let dir = crate::trust::user_dir().ok_or_else(|| {
        Error::Refused(
            "neither XDG_CONFIG_HOME nor HOME is set: there is no user configuration".into(),
        )
    })?;
    let file = crate::trust::user_config_file(&dir);
    match std::fs::read_to_string(&file) {
        Ok(t) => Ok((file, t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((file, String::new())),
        Err(e) => Err(Error::io("cannot read", file, e)),
    }
}

/// Replaces the user's configuration file atomically (a temporary file renamed over it).
fn write_user_config(file: &Path, text: &str) -> Result<()> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create folder", dir, e))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io("cannot write in", dir, e))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .map_err(|e| Error::io("cannot write", file, e))?;
    tmp.persist(file)
        .map_err(|e| Error::io("cannot write", file, e.error))?;
    Ok(())
}

/// Whether `line` is the top-level key `key:` (no indentation).
fn is_top_key(line: &str, key: &str) -> bool {
    line.strip_prefix(key).is_some_and(|r| r.starts_with(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(path: &str, access: Access) -> LayerDecl {
        LayerDecl {
            path: Some(path.into()),
            access,
            ..LayerDecl::default()
        }
    }

    #[test]
    fn qualified_ids_split_and_join() {
        assert_eq!(
            split("platform:conventions/api"),
            (Some("platform"), "conventions/api")
        );
        assert_eq!(split("project:a/b"), (None, "a/b"));
        assert_eq!(split("a/b"), (None, "a/b"));
        assert_eq!(split("Bad Name:a"), (None, "Bad Name:a"));
        assert_eq!(qualify("user", "prefs/tools"), "user:prefs/tools");
        assert_eq!(qualify(PROJECT, "prefs/tools"), "prefs/tools");
    }

    /// `layers add` and `layers remove` edit the user's file as text: comments, other keys and
    /// their formatting stay byte for byte, and the round trip gives the file back.
    #[test]
    fn config_edits_keep_the_rest_of_the_file() {
        let original = "# my settings\nllm: {provider: openai}   # local\n";
        let added =
            add_to_config_text(original, "platform", &decl("/srv/p", Access::ReadOnly)).unwrap();
        assert_eq!(
            added,
            "# my settings\nllm: {provider: openai}   # local\nlayers:\n  platform: {\"path\":\"/srv/p\",\"access\":\"read-only\"}\n"
        );
        let twice = add_to_config_text(&added, "team", &decl("~/team", Access::ReadWrite)).unwrap();
        assert_eq!(
            twice,
            "# my settings\nllm: {provider: openai}   # local\nlayers:\n  team: {\"path\":\"~/team\"}\n  platform: {\"path\":\"/srv/p\",\"access\":\"read-only\"}\n"
        );
        let removed = remove_from_config_text(&twice, "team").unwrap().unwrap();
        assert_eq!(removed, added);
        let block = "layers:\n    platform:\n        path: /srv/p\n        # why\n        access: read-only\nllm: {provider: openai}\n";
        assert_eq!(
            remove_from_config_text(block, "platform").unwrap().unwrap(),
            "llm: {provider: openai}\n"
        );
        assert_eq!(remove_from_config_text(block, "other").unwrap(), None);
        assert!(add_to_config_text("layers: {}\n", "x", &decl("/x", Access::ReadWrite)).is_err());
    }

    /// A folder is searched once, whatever names it twice.
    #[test]
    fn one_folder_is_one_layer() {
        let dir = tempfile::tempdir().unwrap();
        let (project, shared) = (dir.path().join("p/.memory"), dir.path().join("s/.memory"));
        std::fs::create_dir_all(&project).unwrap();
        std::fs::create_dir_all(&shared).unwrap();
        let decls = BTreeMap::from([
            (
                "alpha".to_string(),
                decl(&shared.display().to_string(), Access::ReadOnly),
            ),
            (
                "beta".to_string(),
                decl(
                    &dir.path().join("s").display().to_string(),
                    Access::ReadOnly,
                ),
            ),
            (
                "gamma".to_string(),
                decl(&project.display().to_string(), Access::ReadOnly),
            ),
        ]);
        let layers = resolve(&Tree::new(project), &decls, &BTreeMap::new(), &[]);
        let why: Vec<(&str, Option<&str>)> = layers
            .iter()
            .filter(|l| l.name != USER)
            .map(|l| (l.name.as_str(), l.unavailable.as_deref()))
            .collect();
        assert_eq!(
            why,
            [
                ("project", None),
                ("alpha", None),
                ("beta", Some("it is the same folder as layer `alpha`")),
                ("gamma", Some("it is the project itself")),
            ]
        );
    }

    #[test]
    fn declarations_are_checked() {
        let one = |name: &str, d: LayerDecl| BTreeMap::from([(name.to_string(), d)]);
        assert!(validate(&one("platform", decl("/p", Access::ReadOnly))).is_ok());
        assert!(validate(&one("Platform", decl("/p", Access::ReadOnly))).is_err());
        assert!(validate(&one("user", decl("/p", Access::ReadWrite))).is_err());
        assert!(validate(&one("platform", LayerDecl::default())).is_err());
        let weighted = LayerDecl {
            weight: Some(0.5),
            ..LayerDecl::default()
        };
        assert!(validate(&one("user", weighted)).is_ok());
    }
}
