//! `memtree.yaml`: the tree's configuration (DESIGN.md §4).
//!
//! Every key is optional; an unknown key is an error that names the key and its line, because a
//! misspelt setting that is silently ignored is worse than one that stops the command.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::entry::parse_half_life;
use crate::error::{Error, Result};
use crate::tree::Tree;

/// The largest number of hits a query returns (`retrieval.k`, `query -k`).
pub const MAX_K: usize = 1000;
/// The most hops the graph tier may follow (`retrieval.graph_hops`).
pub const MAX_GRAPH_HOPS: usize = 10;

/// The most words the semantic tier adds per query word (`semantic.per_word`).
pub const MAX_PER_WORD: usize = 16;

/// The smallest `index.max_file_bytes` accepted: below it even ordinary front matter would not
/// fit.
pub const MIN_FILE_BYTES: u64 = 4096;

/// The configuration schema this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Must be 1.
    pub schema_version: u32,
    /// Query settings.
    pub retrieval: Retrieval,
    /// `index:` settings (how the freshness check trades cost against in-place edits).
    pub index: IndexSettings,
    /// Decay settings.
    pub lifecycle: Lifecycle,
    /// Git settings (used by the history and hook commands).
    pub git: Git,
    /// The semantic tier.
    pub semantic: Semantic,
    /// The LLM for tier 5; absent means tier 5 never runs.
    pub llm: Option<Llm>,
    /// `curate:` settings (what the agent session hooks do with a session).
    pub curate: Curate,
    /// Other trees searched with this one ([`crate::layers`]): `layers.NAME: {path | git,
    /// access, weight}`. A folder outside the project or a git URL needs `memtree trust`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub layers: BTreeMap<String, crate::layers::LayerDecl>,
    /// The user's own `layers:` ([`crate::trust::UserConfig::layers`]), laid beside the
    /// project's by [`crate::trust::apply`]; never read from `memtree.yaml`.
    #[serde(skip)]
    pub user_layers: BTreeMap<String, crate::layers::LayerDecl>,
    /// The tree's own tier 5 prompt template (`.memory/.llm-prompt.md`), set only when the
    /// project is trusted ([`crate::trust::apply`]); never read from `memtree.yaml`.
    #[serde(skip)]
    pub llm_prompt: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            schema_version: SCHEMA_VERSION,
            retrieval: Retrieval::default(),
            index: IndexSettings::default(),
            lifecycle: Lifecycle::default(),
            git: Git::default(),
            semantic: Semantic::default(),
            llm: None,
            curate: Curate::default(),
            layers: BTreeMap::new(),
            user_layers: BTreeMap::new(),
            llm_prompt: None,
        }
    }
}

/// `retrieval:` settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Retrieval {
    /// Hits returned by default (`-k` overrides).
    pub k: usize,
    /// How many hops the graph tier follows (0 turns it off).
    pub graph_hops: usize,
    /// Whether the learned re-scorer orders the non-structural candidates
    /// ([`crate::retrieve::rescore`]).
    pub rescore: bool,
}

impl Default for Retrieval {
    fn default() -> Self {
        Retrieval {
            k: 8,
            graph_hops: 2,
            rescore: true,
        }
    }
}

/// `index:` settings: how often every entry file is stat'ed (see `crate::index` for the
/// two-level freshness check).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IndexSettings {
    /// Trees with at most this many entry files stat every file on every command, so even an
    /// in-place edit is seen at once (about 2.5 µs per file on the development machine).
    pub full_scan_up_to: usize,
    /// Larger trees stat every folder on every command (new, deleted and renamed files, saves
    /// by rename) and every file at most once per this many seconds (in-place edits). `0`
    /// stats every file on every command whatever the size.
    pub full_scan_every_secs: u64,
    /// Entry files larger than this many bytes are indexed by their front matter only, and
    /// `check` names them (default 4 MiB): a pasted log or dump never stalls every command.
    pub max_file_bytes: u64,
}

impl Default for IndexSettings {
    fn default() -> Self {
        IndexSettings {
            full_scan_up_to: 5_000,
            full_scan_every_secs: 10,
            max_file_bytes: crate::tree::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// `lifecycle:` settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Lifecycle {
    /// Half-life per kind for entries without their own `decay` (`365d`, `never`, ...).
    pub default_decay: BTreeMap<String, String>,
}

/// `git:` settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Git {
    /// Commit memtree's own writes under `.memory/`.
    pub auto_commit: bool,
}

impl Default for Git {
    fn default() -> Self {
        Git { auto_commit: true }
    }
}

/// `semantic:` settings: query expansion with static word embeddings when tiers 1–3 are not
/// confident (see `crate::retrieve::semantic`). Defaults tuned on LoCoMo's development split.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Semantic {
    /// Run the tier at all.
    pub enabled: bool,
    /// A Model2Vec folder (`model.safetensors` + WordPiece `tokenizer.json`), relative to the
    /// project root; unset means the neighbour table built into the binary.
    pub model: Option<String>,
    /// Least cosine similarity (0..1) between a query word and a word added for it.
    pub min_similarity: f32,
    /// Most words added per query word.
    pub per_word: usize,
    /// Weight of an added word in the BM25 query relative to a query word (0..1), times its
    /// similarity.
    pub weight: f32,
    /// Run the dense tier (a transformer sentence encoder, `crate::retrieve::dense`) when tiers
    /// 1–4 are not confident and a model is available.
    pub dense: bool,
    /// The dense tier's model: an all-MiniLM-L6-v2 folder (`model.safetensors`, `vocab.txt`),
    /// relative to the project root or absolute (outside the project it needs `memtree trust`,
    /// as `model` does); unset means the folder `memtree model pull` fills, when it is there.
    pub dense_model: Option<String>,
}

impl Default for Semantic {
    fn default() -> Self {
        Semantic {
            enabled: true,
            model: None,
            min_similarity: 0.3,
            per_word: 3,
            weight: 0.2,
            dense: true,
            dense_model: None,
        }
    }
}

/// `curate:` settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Curate {
    /// `memtree curate --hook` applies its plan (one commit, new entries as `maturity:
    /// draft`) instead of leaving it in `.memory/.cache/curate/` for review. Default false.
    pub auto_apply: bool,
}

/// `llm:` settings for tier 5 (used by the LLM issue; parsed and validated now).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Llm {
    /// `openai` or `command`.
    pub provider: String,
    /// Base URL of an OpenAI-compatible server.
    pub base_url: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Name of the environment variable that holds the API key.
    pub api_key_env: Option<String>,
    /// For `provider: command`: argv; the prompt goes to stdin.
    pub command: Vec<String>,
    /// Timeout in seconds.
    pub timeout_s: Option<u64>,
    /// Most tokens the reply may have (`openai`; default 400): a reply is a short JSON object,
    /// and a small model left unbounded can ramble past the timeout.
    pub max_tokens: Option<u64>,
}

/// Built-in half-lives (days) per kind, used when neither the entry nor the config sets one.
fn builtin_decay(kind: &str) -> Option<f64> {
    match kind {
        "convention" | "preference" | "reference" => None,
        "decision" => Some(365.0),
        "pitfall" | "procedure" => Some(180.0),
        _ => Some(90.0),
    }
}

impl Config {
    /// Reads `memtree.yaml` from the tree's root; a missing file means defaults.
    ///
    /// # Errors
    /// [`Error::Config`] for YAML errors, unknown keys, a wrong schema version or a bad decay.
    pub fn load(tree: &Tree) -> Result<Config> {
        Config::load_with_bytes(tree).map(|(config, _)| config)
    }

    /// [`Config::load`], also returning the bytes that were parsed (`None` when there is no
    /// file), so that trust is decided on exactly what was read, never on a second read.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn load_with_bytes(tree: &Tree) -> Result<(Config, Option<Vec<u8>>)> {
        let path = tree.safe(crate::tree::CONFIG_FILE)?;
        let file = std::path::PathBuf::from(tree.display_path(crate::tree::CONFIG_FILE));
        let bytes = match tree.read(&path) {
            Ok(b) => b,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Config::default(), None));
            }
            Err(e) => return Err(e),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::Config {
            file: file.clone(),
            message: "the file is not UTF-8 text".into(),
        })?;
        let config = Config::parse(text).map_err(|message| Error::Config { file, message })?;
        Ok((config, Some(bytes)))
    }

    /// Parses configuration text.
    ///
    /// # Errors
    /// A message naming the bad key (and line, from serde_yaml).
    pub fn parse(text: &str) -> std::result::Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let config: Config = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        if config.schema_version != SCHEMA_VERSION {
            return Err(format!(
                "schema_version {} is not supported by this memtree (expected {SCHEMA_VERSION})",
                config.schema_version
            ));
        }
        if !(1..=MAX_K).contains(&config.retrieval.k) {
            return Err(format!(
                "retrieval.k must be between 1 and {MAX_K}, found {}",
                config.retrieval.k
            ));
        }
        if config.retrieval.graph_hops > MAX_GRAPH_HOPS {
            return Err(format!(
                "retrieval.graph_hops must be between 0 and {MAX_GRAPH_HOPS}, found {}",
                config.retrieval.graph_hops
            ));
        }
        let sem = &config.semantic;
        if !(0.0..=1.0).contains(&sem.min_similarity) || !(0.0..=1.0).contains(&sem.weight) {
            return Err(format!(
                "semantic.min_similarity and semantic.weight must be between 0 and 1, found {} and {}",
                sem.min_similarity, sem.weight
            ));
        }
        if sem.per_word > MAX_PER_WORD {
            return Err(format!(
                "semantic.per_word must be between 0 and {MAX_PER_WORD}, found {}",
                sem.per_word
            ));
        }
        if config.index.max_file_bytes < MIN_FILE_BYTES {
            return Err(format!(
                "index.max_file_bytes must be at least {MIN_FILE_BYTES} (bytes), found {}",
                config.index.max_file_bytes
            ));
        }
        crate::layers::validate(&config.layers)?;
        for (kind, decay) in &config.lifecycle.default_decay {
            if !crate::entry::KINDS.contains(&kind.as_str()) {
                return Err(format!("lifecycle.default_decay: unknown kind `{kind}`"));
            }
            parse_half_life(decay).map_err(|e| format!("lifecycle.default_decay.{kind}: {e}"))?;
        }
        Ok(config)
    }

    /// The half-life in days for an entry of `kind` with its own `decay` value, `None` for never.
    pub fn half_life_days(&self, kind: &str, own: Option<&str>) -> Option<f64> {
        if let Some(own) = own
            && let Ok(h) = parse_half_life(own)
        {
            return h;
        }
        if let Some(d) = self.lifecycle.default_decay.get(kind)
            && let Ok(h) = parse_half_life(d)
        {
            return h;
        }
        builtin_decay(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::parse("schema_version: 1\nretrieval: {k: 3, hopz: 1}\n").unwrap_err();
        assert!(err.contains("hopz"), "{err}");
    }

    #[test]
    fn defaults_and_overrides() {
        let c = Config::parse("lifecycle: {default_decay: {fact: 30d}}\n").unwrap();
        assert_eq!(c.retrieval.k, 8);
        assert_eq!(c.half_life_days("fact", None), Some(30.0));
        assert_eq!(c.half_life_days("fact", Some("never")), None);
        assert_eq!(c.half_life_days("convention", None), None);
        assert!(Config::parse("schema_version: 2\n").is_err());
    }

    /// See: issue 7 (found by examples/fuzz_tree): a huge `retrieval.k` overflowed a
    /// capacity computation in the BM25 tier and aborted every query.
    #[test]
    fn numbers_out_of_range_are_errors() {
        for bad in [
            "retrieval: {k: 18446744073709551615}\n",
            "retrieval: {k: 0}\n",
            "retrieval: {graph_hops: 1000000}\n",
            "index: {max_file_bytes: 3}\n",
        ] {
            let err = Config::parse(bad).unwrap_err();
            assert!(
                err.contains("retrieval.") || err.contains("index."),
                "{bad}: {err}"
            );
        }
        assert!(Config::parse("index: {full_scan_every_secs: 18446744073709551615}\n").is_ok());
    }
}
