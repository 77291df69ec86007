//! Which settings may run a program, reach the network or read outside the project, and
//! `memtree trust`.
//!
//! A repository is code someone else wrote. A cloned `.memory/memtree.yaml` could name a
//! program for tier 5 (`llm: {provider: command}`), a `base_url` that receives the value of any
//! environment variable (`api_key_env`), or a `semantic.model` folder anywhere on disk. So these
//! settings are taken from:
//! 1. the user's own file, `$XDG_CONFIG_HOME/memtree/config.yaml` (`~/.config/memtree/...`),
//!    which may hold `llm:` and `semantic: {model}`;
//! 2. the project's `memtree.yaml`, only once the user has trusted that exact file with
//!    `memtree trust`, which records its SHA-256 and path in
//!    `$XDG_CONFIG_HOME/memtree/trusted` (a changed file is untrusted again);
//! 3. `MEMTREE_LLM_PROVIDER`, `MEMTREE_LLM_BASE_URL`, `MEMTREE_LLM_MODEL`,
//!    `MEMTREE_LLM_API_KEY_ENV`, `MEMTREE_LLM_COMMAND` (a JSON list, or words split on
//!    spaces), `MEMTREE_LLM_TIMEOUT_S` and `MEMTREE_SEMANTIC_MODEL`, which win over both.
//!
//! An untrusted project's `llm:` and out-of-project `semantic.model` are ignored, and the
//! query's `escalation.reason` says `untrusted config: run memtree trust`. The model is
//! direnv's `direnv allow`, mise's `mise trust` and Codex's trusted projects.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::config::{Config, Llm};
use crate::error::{Error, Result};
use crate::tree::{CONFIG_FILE, Tree};

/// The reason tier 5 gives when the project's `llm:` is ignored.
pub const UNTRUSTED_REASON: &str = "untrusted config: run memtree trust";

/// The user's own settings (`$XDG_CONFIG_HOME/memtree/config.yaml`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserConfig {
    /// Tier 5's provider, as in memtree.yaml.
    pub llm: Option<Llm>,
    /// `semantic: {model: FOLDER}`: a Model2Vec folder (absolute, or relative to the project).
    pub semantic: UserSemantic,
}

/// The `semantic:` part of the user's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserSemantic {
    /// A Model2Vec folder.
    pub model: Option<String>,
}

/// How the project's configuration was treated ([`apply`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TrustState {
    /// The project's file holds settings that need trust (`llm`, `semantic.model` outside the
    /// project).
    pub needs_trust: Vec<String>,
    /// The user trusted this exact file.
    pub trusted: bool,
    /// The settings that were ignored because the file is not trusted.
    pub ignored: Vec<String>,
}

/// The user's memtree configuration folder: `$XDG_CONFIG_HOME/memtree`, else
/// `$HOME/.config/memtree`; `None` when neither variable is set.
pub fn user_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        })?;
    Some(base.join("memtree"))
}

/// Reads the user's own settings; an absent file is the default.
///
/// # Errors
/// [`Error::Config`] for a file that does not parse (naming the key and line).
pub fn user_config() -> Result<UserConfig> {
    let Some(dir) = user_dir() else {
        return Ok(UserConfig::default());
    };
    let path = dir.join("config.yaml");
    match fs::read_to_string(&path) {
        Ok(text) if text.trim().is_empty() => Ok(UserConfig::default()),
        Ok(text) => serde_yaml::from_str(&text).map_err(|e| Error::Config {
            file: path,
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UserConfig::default()),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

/// The SHA-256 of the project's `memtree.yaml` (hex), `None` when there is none.
fn project_hash(tree: &Tree) -> Result<Option<String>> {
    let p = tree.safe(CONFIG_FILE)?;
    match tree.read(&p) {
        Ok(bytes) => Ok(Some(hex(&sha2::Sha256::digest(&bytes)))),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key under which a project's file is trusted: its canonical path.
fn config_key(tree: &Tree) -> String {
    let p = tree.root.join(CONFIG_FILE);
    fs::canonicalize(&p).unwrap_or(p).display().to_string()
}

/// The trusted files: `(sha256, path)` per line of `$XDG_CONFIG_HOME/memtree/trusted`.
fn trusted_list() -> Vec<(String, String)> {
    let Some(dir) = user_dir() else {
        return Vec::new();
    };
    fs::read_to_string(dir.join("trusted"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(h, p)| (h.to_string(), p.to_string()))
        .collect()
}

fn save_trusted(list: &[(String, String)]) -> Result<PathBuf> {
    let dir = user_dir().ok_or_else(|| {
        Error::Refused(
            "neither XDG_CONFIG_HOME nor HOME is set: there is no place to record trust".into(),
        )
    })?;
    fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create folder", &dir, e))?;
    let path = dir.join("trusted");
    let text: String = list.iter().map(|(h, p)| format!("{h} {p}\n")).collect();
    let mut tmp =
        tempfile::NamedTempFile::new_in(&dir).map_err(|e| Error::io("cannot write in", &dir, e))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .map_err(|e| Error::io("cannot write", &path, e))?;
    tmp.persist(&path)
        .map_err(|e| Error::io("cannot write", &path, e.error))?;
    Ok(path)
}

/// The settings in `config` that need trust: `llm`, and a `semantic.model` that leads out of
/// the project (an absolute path, `..`, or a link that resolves outside).
fn needing_trust(config: &Config, project: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if config.llm.is_some() {
        out.push("llm".to_string());
    }
    if let Some(model) = &config.semantic.model {
        let inside = match (
            fs::canonicalize(project.join(model)),
            fs::canonicalize(project),
        ) {
            (Ok(m), Ok(p)) => m.starts_with(p),
            // Not there (yet): judge the text.
            _ => {
                !Path::new(model).is_absolute()
                    && !Path::new(model)
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
            }
        };
        if !inside {
            out.push("semantic.model".to_string());
        }
    }
    out
}

/// Applies the rules of the module doc to the project's `config`: drops the settings that
/// need trust when the file is not trusted, then lays the user's settings and the
/// `MEMTREE_*` variables over it. Returns what was decided.
///
/// # Errors
/// [`Error::Config`] for a user file or a variable that does not parse.
pub fn apply(tree: &Tree, config: &mut Config) -> Result<TrustState> {
    let mut state = TrustState {
        needs_trust: needing_trust(config, tree.project()),
        ..TrustState::default()
    };
    if !state.needs_trust.is_empty() {
        let key = config_key(tree);
        let hash = project_hash(tree)?;
        state.trusted =
            hash.is_some_and(|h| trusted_list().iter().any(|(th, p)| *th == h && *p == key));
        if !state.trusted {
            for setting in &state.needs_trust {
                match setting.as_str() {
                    "llm" => config.llm = None,
                    _ => config.semantic.model = None,
                }
            }
            state.ignored = state.needs_trust.clone();
        }
    }
    let user = user_config()?;
    if config.llm.is_none() {
        config.llm = user.llm;
    }
    if config.semantic.model.is_none() {
        config.semantic.model = user.semantic.model;
    }
    apply_env(config)?;
    Ok(state)
}

/// `MEMTREE_LLM_*` and `MEMTREE_SEMANTIC_MODEL` (see the module doc).
fn apply_env(config: &mut Config) -> Result<()> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let bad = |name: &str, message: String| Error::Config {
        file: PathBuf::from(format!("${name}")),
        message,
    };
    if let Some(model) = var("MEMTREE_SEMANTIC_MODEL") {
        config.semantic.model = Some(model);
    }
    let names = [
        "MEMTREE_LLM_PROVIDER",
        "MEMTREE_LLM_BASE_URL",
        "MEMTREE_LLM_MODEL",
        "MEMTREE_LLM_API_KEY_ENV",
        "MEMTREE_LLM_COMMAND",
        "MEMTREE_LLM_TIMEOUT_S",
    ];
    if names.iter().all(|n| var(n).is_none()) {
        return Ok(());
    }
    let llm = config.llm.get_or_insert_with(Llm::default);
    if let Some(v) = var("MEMTREE_LLM_PROVIDER") {
        llm.provider = v;
    }
    if let Some(v) = var("MEMTREE_LLM_BASE_URL") {
        llm.base_url = Some(v);
    }
    if let Some(v) = var("MEMTREE_LLM_MODEL") {
        llm.model = Some(v);
    }
    if let Some(v) = var("MEMTREE_LLM_API_KEY_ENV") {
        llm.api_key_env = Some(v);
    }
    if let Some(v) = var("MEMTREE_LLM_COMMAND") {
        llm.command = if v.trim_start().starts_with('[') {
            serde_json::from_str(&v).map_err(|e| {
                bad(
                    "MEMTREE_LLM_COMMAND",
                    format!("not a JSON list of strings: {e}"),
                )
            })?
        } else {
            v.split_whitespace().map(str::to_string).collect()
        };
    }
    if let Some(v) = var("MEMTREE_LLM_TIMEOUT_S") {
        llm.timeout_s = Some(v.trim().parse().map_err(|_| {
            bad(
                "MEMTREE_LLM_TIMEOUT_S",
                format!("`{v}` is not a number of seconds"),
            )
        })?);
    }
    if llm.provider.is_empty() {
        llm.provider = if llm.command.is_empty() {
            "openai".into()
        } else {
            "command".into()
        };
    }
    Ok(())
}

/// What `memtree trust` did or found (`memtree.trust/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct TrustReport {
    /// Always `memtree.trust/v1`.
    pub schema: &'static str,
    /// The project's configuration file.
    pub file: String,
    /// Its SHA-256, `None` when there is no file.
    pub sha256: Option<String>,
    /// The settings in it that need trust.
    pub needs_trust: Vec<String>,
    /// Whether this exact file is trusted now.
    pub trusted: bool,
    /// Where trust is recorded.
    pub store: Option<String>,
}

/// `memtree trust`: records that the user trusts the project's `memtree.yaml` as it is now
/// (`revoke`: forgets it; `show`: changes nothing).
///
/// # Errors
/// [`Error::Refused`] when there is no file to trust or no user configuration folder;
/// [`Error::Io`].
pub fn trust(tree: &Tree, show: bool, revoke: bool) -> Result<TrustReport> {
    let hash = project_hash(tree)?;
    let key = config_key(tree);
    let mut list = trusted_list();
    let needs = crate::config::Config::load(tree)
        .map(|c| needing_trust(&c, tree.project()))
        .unwrap_or_default();
    let mut store = user_dir().map(|d| d.join("trusted").display().to_string());
    if revoke {
        list.retain(|(_, p)| *p != key);
        store = Some(save_trusted(&list)?.display().to_string());
    } else if !show {
        let Some(h) = &hash else {
            return Err(Error::Refused(format!(
                "{} does not exist: there is nothing to trust",
                tree.display_path(CONFIG_FILE)
            )));
        };
        list.retain(|(_, p)| *p != key);
        list.push((h.clone(), key.clone()));
        store = Some(save_trusted(&list)?.display().to_string());
    }
    let trusted = hash
        .as_ref()
        .is_some_and(|h| list.iter().any(|(th, p)| th == h && *p == key));
    Ok(TrustReport {
        schema: "memtree.trust/v1",
        file: tree.display_path(CONFIG_FILE),
        sha256: hash,
        needs_trust: needs,
        trusted,
        store,
    })
}
