//! Which settings may run a program, reach the network, read outside the project, steer the
//! user's model or write without review, and `memtree trust`.
//!
//! A repository is code someone else wrote. A cloned `.memory/memtree.yaml` could name a
//! program for tier 5 (`llm: {provider: command}`), a `base_url` that receives the value of any
//! environment variable (`api_key_env`), a `semantic.model` folder anywhere on disk, or
//! `curate.auto_apply: true` (the session hook would commit session text without review); a
//! cloned `.memory/.llm-prompt.md` would write the instructions the user's own model receives
//! (with `provider: command` and `claude -p`, an agent with tools). So these settings are taken
//! from:
//! 1. the user's own file, `$XDG_CONFIG_HOME/memtree/config.yaml` (`~/.config/memtree/...`),
//!    which may hold `llm:` and `semantic: {model, dense_model}`;
//! 2. the project's `memtree.yaml` (with its `.llm-prompt.md`), only once the user has trusted
//!    those exact files with `memtree trust`, which records their SHA-256 and the path in
//!    `$XDG_CONFIG_HOME/memtree/trusted` (a changed file is untrusted again). The hash is of the
//!    bytes that were parsed: `memtree.yaml`'s alone when there is no prompt file (so trust
//!    recorded before the prompt was covered still holds), else of both;
//! 3. `MEMTREE_LLM_PROVIDER`, `MEMTREE_LLM_BASE_URL`, `MEMTREE_LLM_MODEL`,
//!    `MEMTREE_LLM_API_KEY_ENV`, `MEMTREE_LLM_COMMAND` (a JSON list, or words split on
//!    spaces), `MEMTREE_LLM_TIMEOUT_S`, `MEMTREE_SEMANTIC_MODEL` and `MEMTREE_DENSE_MODEL`,
//!    which win over both.
//!
//! An untrusted project's `llm:`, out-of-project `semantic.model` or `semantic.dense_model`,
//! layers whose folder is outside the project or that are cloned from a git URL (`layers.NAME`),
//! `curate.auto_apply` and `.llm-prompt.md` are ignored (the built-in prompt is used, the hook
//! only saves its plan), and the query's `escalation.reason` says `untrusted config: run memtree trust`. The model is
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
    /// `layers:`: the user's own layers ([`crate::layers`]); they win over a project's
    /// declaration of the same name.
    pub layers: std::collections::BTreeMap<String, crate::layers::LayerDecl>,
}

/// The `semantic:` part of the user's settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserSemantic {
    /// A Model2Vec folder.
    pub model: Option<String>,
    /// The dense tier's all-MiniLM-L6-v2 folder.
    pub dense_model: Option<String>,
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
    Some(xdg_dir("XDG_CONFIG_HOME", ".config")?.join("memtree"))
}

/// The XDG base folder `var` (`XDG_CONFIG_HOME`, `XDG_CACHE_HOME`, ...), else `$HOME/fallback`;
/// `None` when neither variable is set.
pub fn xdg_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(fallback))
        })
}

/// Reads the user's own settings; an absent file is the default.
///
/// # Errors
/// [`Error::Config`] for a file that does not parse (naming the key and line).
pub fn user_config() -> Result<UserConfig> {
    let Some(dir) = user_dir() else {
        return Ok(UserConfig::default());
    };
    let path = user_config_file(&dir);
    match fs::read_to_string(&path) {
        Ok(text) => parse_user_config(&text).map_err(|message| Error::Config {
            file: path,
            message,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UserConfig::default()),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

/// The user's configuration file in the folder [`user_dir`] gives.
pub fn user_config_file(dir: &Path) -> PathBuf {
    dir.join("config.yaml")
}

/// Parses the user's configuration text (empty text is the default).
///
/// # Errors
/// A message naming the bad key (and line) or the bad layer.
pub fn parse_user_config(text: &str) -> std::result::Result<UserConfig, String> {
    if text.trim().is_empty() {
        return Ok(UserConfig::default());
    }
    let config: UserConfig = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    crate::layers::validate(&config.layers)?;
    Ok(config)
}

/// The tree's own tier 5 prompt template, relative to the memory folder.
pub const PROMPT_FILE: &str = ".llm-prompt.md";

/// The largest `.llm-prompt.md` read, in bytes (64 KiB: a template, not a document).
const MAX_PROMPT_BYTES: u64 = 64 << 10;

/// The bytes of the tree's `.llm-prompt.md`, `None` when there is none (or it cannot be read:
/// a link, a file that is not UTF-8 or is over 64 KiB is not a template memtree uses).
pub fn project_prompt(tree: &Tree) -> Option<Vec<u8>> {
    let p = tree.safe(PROMPT_FILE).ok()?;
    let (bytes, size) = tree.read_limited(&p, MAX_PROMPT_BYTES + 1).ok()?;
    (size <= MAX_PROMPT_BYTES && std::str::from_utf8(&bytes).is_ok()).then_some(bytes)
}

/// The SHA-256 (hex) that trust records for a project: of `memtree.yaml`'s bytes alone when
/// there is no prompt file, else of both files' bytes, each after a label; `None` when there is
/// neither.
fn bundle_hash(config: Option<&[u8]>, prompt: Option<&[u8]>) -> Option<String> {
    let mut h = sha2::Sha256::new();
    match (config, prompt) {
        (None, None) => return None,
        (Some(c), None) => h.update(c),
        (c, Some(p)) => {
            h.update(b"memtree.yaml\0");
            h.update(c.unwrap_or_default());
            h.update(b"\0.llm-prompt.md\0");
            h.update(p);
        }
    }
    Some(hex(&h.finalize()))
}

/// The bytes of `memtree.yaml` when it does not parse (trust may still be shown or revoked).
fn project_bytes(tree: &Tree) -> Result<Option<Vec<u8>>> {
    let p = tree.safe(CONFIG_FILE)?;
    match tree.read(&p) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
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

/// The settings in `config` (and the prompt file) that need trust: `llm`, a `semantic.model`
/// that leads out of the project (an absolute path, `..`, or a link that resolves outside),
/// `curate.auto_apply: true`, and a `.llm-prompt.md`.
fn needing_trust(config: &Config, project: &Path, prompt: bool) -> Vec<String> {
    let mut out = Vec::new();
    if config.llm.is_some() {
        out.push("llm".to_string());
    }
    if config.curate.auto_apply {
        out.push("curate.auto_apply".to_string());
    }
    if prompt {
        out.push(PROMPT_FILE.to_string());
    }
    for (name, folder) in [
        ("semantic.model", &config.semantic.model),
        ("semantic.dense_model", &config.semantic.dense_model),
    ] {
        if folder.as_deref().is_some_and(|f| !inside(project, f)) {
            out.push(name.to_string());
        }
    }
    for (name, layer) in &config.layers {
        let outside = layer.git.is_some()
            || layer
                .path
                .as_deref()
                .is_some_and(|f| f.starts_with('~') || !inside(project, f));
        if outside {
            out.push(format!("{LAYER_PREFIX}{name}"));
        }
    }
    out
}

/// How [`TrustState`] names a project layer that needs trust: `layers.NAME`.
pub const LAYER_PREFIX: &str = "layers.";

/// Whether the folder `folder` (relative to `project`, or absolute) is inside `project`: by
/// where it resolves when it exists (a link that leads out is outside), else by its text (no
/// absolute path, no `..`).
fn inside(project: &Path, folder: &str) -> bool {
    match (
        fs::canonicalize(project.join(folder)),
        fs::canonicalize(project),
    ) {
        (Ok(m), Ok(p)) => m.starts_with(p),
        _ => {
            !Path::new(folder).is_absolute()
                && !Path::new(folder)
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
        }
    }
}

/// Applies the rules of the module doc to the project's `config`, parsed from `bytes` (the
/// file's bytes as [`Config::load_with_bytes`] read them; `None` when there is no file): drops
/// the settings that need trust when the files are not trusted, then lays the user's settings
/// and the `MEMTREE_*` variables over it. Returns what was decided.
///
/// # Errors
/// [`Error::Config`] for a user file or a variable that does not parse.
pub fn apply(tree: &Tree, config: &mut Config, bytes: Option<&[u8]>) -> Result<TrustState> {
    let state = decide(tree, config, bytes, &trusted_list());
    let user = user_config()?;
    if config.llm.is_none() {
        config.llm = user.llm;
    }
    if config.semantic.model.is_none() {
        config.semantic.model = user.semantic.model;
    }
    if config.semantic.dense_model.is_none() {
        config.semantic.dense_model = user.semantic.dense_model;
    }
    config.user_layers = user.layers;
    apply_env(config)?;
    Ok(state)
}

/// The project part of [`apply`]: whether `bytes` (and the prompt file) are trusted by
/// `trusted` (`(sha256, path)` records), and `config` without what needs trust when not.
fn decide(
    tree: &Tree,
    config: &mut Config,
    bytes: Option<&[u8]>,
    trusted: &[(String, String)],
) -> TrustState {
    let prompt = project_prompt(tree);
    let mut state = TrustState {
        needs_trust: needing_trust(config, tree.project(), prompt.is_some()),
        ..TrustState::default()
    };
    if !state.needs_trust.is_empty() {
        let key = config_key(tree);
        let hash = bundle_hash(bytes, prompt.as_deref());
        state.trusted = hash.is_some_and(|h| trusted.iter().any(|(th, p)| *th == h && *p == key));
        if !state.trusted {
            for setting in &state.needs_trust {
                match setting.as_str() {
                    "llm" => config.llm = None,
                    "curate.auto_apply" => config.curate.auto_apply = false,
                    PROMPT_FILE => {}
                    "semantic.dense_model" => config.semantic.dense_model = None,
                    "semantic.model" => config.semantic.model = None,
                    other => {
                        if let Some(name) = other.strip_prefix(LAYER_PREFIX) {
                            config.layers.remove(name);
                        }
                    }
                }
            }
            state.ignored = state.needs_trust.clone();
        }
    }
    if state.trusted {
        config.llm_prompt = prompt.and_then(|p| String::from_utf8(p).ok());
    }
    state
}

/// `MEMTREE_LLM_*`, `MEMTREE_SEMANTIC_MODEL` and `MEMTREE_DENSE_MODEL` (see the module doc).
pub(crate) fn apply_env(config: &mut Config) -> Result<()> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let bad = |name: &str, message: String| Error::Config {
        file: PathBuf::from(format!("${name}")),
        message,
    };
    if let Some(model) = var("MEMTREE_SEMANTIC_MODEL") {
        config.semantic.model = Some(model);
    }
    if let Some(model) = var("MEMTREE_DENSE_MODEL") {
        config.semantic.dense_model = Some(model);
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
    /// The SHA-256 trust records (of `memtree.yaml`, with `.llm-prompt.md` when there is one),
    /// `None` when there is neither file.
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
    let (config, bytes) = match crate::config::Config::load_with_bytes(tree) {
        Ok((config, bytes)) => (Some(config), bytes),
        Err(_) => (None, project_bytes(tree)?),
    };
    let prompt = project_prompt(tree);
    let hash = bundle_hash(bytes.as_deref(), prompt.as_deref());
    let key = config_key(tree);
    let mut list = trusted_list();
    let needs = config
        .map(|c| needing_trust(&c, tree.project(), prompt.is_some()))
        .unwrap_or_default();
    let mut store = user_dir().map(|d| d.join("trusted").display().to_string());
    if revoke {
        list.retain(|(_, p)| *p != key);
        store = Some(save_trusted(&list)?.display().to_string());
    } else if !show {
        let Some(h) = &hash else {
            return Err(Error::Refused(format!(
                "neither {} nor {} exists: there is nothing to trust",
                tree.display_path(CONFIG_FILE),
                tree.display_path(PROMPT_FILE)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Trust is decided on the bytes that were parsed, not on a second read of the file: a
    /// file swapped for the trusted one after it was parsed does not make what was parsed
    /// trusted. The prompt file is covered by the same hash.
    #[test]
    fn trust_covers_the_parsed_bytes_and_the_prompt() {
        let (_dir, tree) = crate::tree::temp_tree();
        let trusted_text =
            b"schema_version: 1\nllm: {provider: openai, base_url: http://127.0.0.1:1/v1}\n";
        let parsed_text = b"schema_version: 1\nllm: {provider: command, command: [sh, -c, evil]}\n";
        fs::write(tree.root.join(CONFIG_FILE), trusted_text).unwrap();
        let records = vec![(hex(&sha2::Sha256::digest(trusted_text)), config_key(&tree))];
        let parse = |b: &[u8]| Config::parse(std::str::from_utf8(b).unwrap()).unwrap();
        let mut config = parse(parsed_text);
        let state = decide(&tree, &mut config, Some(parsed_text), &records);
        assert!(!state.trusted);
        assert_eq!(state.ignored, ["llm"]);
        assert_eq!(config.llm, None);
        let mut config = parse(trusted_text);
        let state = decide(&tree, &mut config, Some(trusted_text), &records);
        assert!(state.trusted);
        assert!(config.llm.is_some());
        // A prompt file appears: the old record no longer covers the project.
        fs::write(tree.root.join(PROMPT_FILE), "Obey me.").unwrap();
        let mut config = parse(trusted_text);
        let state = decide(&tree, &mut config, Some(trusted_text), &records);
        assert_eq!(state.ignored, ["llm", PROMPT_FILE]);
        assert_eq!(config.llm_prompt, None);
        let both = bundle_hash(Some(trusted_text), Some(b"Obey me.")).unwrap();
        let records = vec![(both, config_key(&tree))];
        let mut config = parse(trusted_text);
        assert!(decide(&tree, &mut config, Some(trusted_text), &records).trusted);
        assert_eq!(config.llm_prompt.as_deref(), Some("Obey me."));
    }
}
