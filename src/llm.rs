//! LLM providers for tier 5 (DESIGN.md §3): one prompt in, one reply out, within a timeout.
//!
//! - `openai`: any OpenAI-compatible chat-completions endpoint (`{base_url}/chat/completions`):
//!   Ollama, llama.cpp's server, vLLM, LM Studio and the hosted APIs that offer it. The key comes
//!   from the environment variable named by `api_key_env`, never from the file. Needs the `llm`
//!   cargo feature (ureq, a blocking HTTP client); without it the provider says so.
//! - `command`: a program that reads the prompt on stdin and writes the reply on stdout
//!   (`claude -p`, `llm`, `ollama run MODEL`). It runs in a process group of its own, and the
//!   whole group (a shell and what it started) is killed when the timeout passes or the reply
//!   grows past [`MAX_REPLY_BYTES`].
//!
//! A reply is read up to [`MAX_REPLY_BYTES`]: a provider that sends more is an error, never a
//! memtree that grows with it. Which settings are used at all is decided by [`crate::trust`].
//!
//! Errors are plain sentences ([`String`]): the caller never fails a query over them, it falls
//! back to the tier 1–4 answer and reports the reason.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::Llm;

/// A provider's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The reply text.
    pub text: String,
    /// Tokens used (prompt and reply), when the provider reports them.
    pub tokens: Option<u64>,
}

/// Something that answers a prompt.
pub trait Provider {
    /// `openai` or `command`.
    fn name(&self) -> &'static str;
    /// The model, when known (`openai`), or the program (`command`).
    fn model(&self) -> Option<String>;
    /// Sends `prompt` and waits at most `timeout` for the reply.
    ///
    /// # Errors
    /// A sentence: the HTTP status, a timeout, a program that failed, a reply without text.
    fn complete(&self, prompt: &str, timeout: Duration) -> Result<Completion, String>;
}

/// The provider `llm:` in memtree.yaml describes.
///
/// # Errors
/// A sentence naming what is missing (`base_url`, `model`, `command`) or an unknown provider.
pub fn from_config(llm: &Llm) -> Result<Box<dyn Provider>, String> {
    match llm.provider.as_str() {
        "openai" => {
            let base_url = llm
                .base_url
                .clone()
                .ok_or("llm.base_url is not set (e.g. http://127.0.0.1:11434/v1)")?;
            let model = llm.model.clone().ok_or("llm.model is not set")?;
            let api_key = llm
                .api_key_env
                .as_deref()
                .and_then(|name| std::env::var(name).ok())
                .filter(|k| !k.is_empty());
            openai(
                base_url,
                model,
                api_key,
                llm.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            )
        }
        "command" => {
            if llm.command.is_empty() {
                return Err("llm.command is not set (e.g. [\"claude\", \"-p\"])".into());
            }
            Ok(Box::new(CommandProvider {
                argv: llm.command.clone(),
            }))
        }
        other => Err(format!(
            "unknown llm.provider `{other}`; expected openai or command"
        )),
    }
}

/// The most bytes of a reply that are read (1 MiB); more is an error.
pub const MAX_REPLY_BYTES: u64 = 1 << 20;

/// Reply length cap when `llm.max_tokens` is not set.
pub const DEFAULT_MAX_TOKENS: u64 = 400;

#[cfg(feature = "llm")]
fn openai(
    base_url: String,
    model: String,
    api_key: Option<String>,
    max_tokens: u64,
) -> Result<Box<dyn Provider>, String> {
    Ok(Box::new(OpenAi {
        base_url,
        model,
        api_key,
        max_tokens,
    }))
}

#[cfg(not(feature = "llm"))]
fn openai(_: String, _: String, _: Option<String>, _: u64) -> Result<Box<dyn Provider>, String> {
    Err(
        "this memtree was built without the `llm` feature (no HTTP client); use provider: command"
            .into(),
    )
}

/// An OpenAI-compatible chat-completions endpoint.
#[cfg(feature = "llm")]
struct OpenAi {
    base_url: String,
    model: String,
    api_key: Option<String>,
    max_tokens: u64,
}

#[cfg(feature = "llm")]
impl Provider for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> Option<String> {
        Some(self.model.clone())
    }

    fn complete(&self, prompt: &str, timeout: Duration) -> Result<Completion, String> {
        let url = format!("{}/chat/completions", self.base_url.trim_end_matches('/'));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let body = serde_json::json!({
            "model": self.model,
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": prompt}],
        });
        let mut request = agent.post(&url).header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let mut response = request.send(body.to_string()).map_err(|e| match e {
            ureq::Error::Timeout(_) => format!("no reply within {} s", timeout.as_secs_f64()),
            other => format!("request to {url} failed: {other}"),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_REPLY_BYTES)
            .read_to_string()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    format!("the reply from {url} is over {MAX_REPLY_BYTES} bytes")
                }
                other => format!("reading the reply failed: {other}"),
            })?;
        if !(200..300).contains(&status) {
            let excerpt: String = text.chars().take(200).collect();
            return Err(format!("HTTP {status} from {url}: {excerpt}"));
        }
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("the reply is not JSON ({e})"))?;
        let content = v["choices"][0]["message"]["content"]
            .as_str()
            .ok_or("the reply has no choices[0].message.content")?;
        Ok(Completion {
            text: content.to_string(),
            tokens: v["usage"]["total_tokens"].as_u64(),
        })
    }
}

/// A program that reads the prompt on stdin and writes the reply on stdout.
struct CommandProvider {
    argv: Vec<String>,
}

impl Provider for CommandProvider {
    fn name(&self) -> &'static str {
        "command"
    }

    fn model(&self) -> Option<String> {
        self.argv.first().cloned()
    }

    fn complete(&self, prompt: &str, timeout: Duration) -> Result<Completion, String> {
        use std::os::unix::process::CommandExt as _;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let program = &self.argv[0];
        let mut child = Command::new(program)
            .args(&self.argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run `{program}`: {e}"))?;
        // The child leads a new process group: killing the group stops what it started too.
        let group = rustix::process::Pid::from_raw(child.id() as i32);
        let kill_group = |child: &mut std::process::Child| {
            if let Some(g) = group {
                let _ = rustix::process::kill_process_group(g, rustix::process::Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        };
        // Feed and drain on threads, so a large prompt or reply cannot deadlock the pipes.
        let mut stdin = child.stdin.take();
        let input = prompt.to_string();
        let writer = std::thread::spawn(move || {
            if let Some(s) = stdin.as_mut() {
                let _ = s.write_all(input.as_bytes());
            }
        });
        let too_long = Arc::new(AtomicBool::new(false));
        let mut stdout = child.stdout.take();
        let reader = {
            let too_long = too_long.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                if let Some(s) = stdout.as_mut() {
                    let _ = s.take(MAX_REPLY_BYTES + 1).read_to_end(&mut out);
                }
                if out.len() as u64 > MAX_REPLY_BYTES {
                    too_long.store(true, Ordering::SeqCst);
                }
                out
            })
        };
        let start = Instant::now();
        let status = loop {
            if too_long.load(Ordering::SeqCst) {
                kill_group(&mut child);
                let _ = writer.join();
                let _ = reader.join();
                return Err(format!(
                    "`{program}` replied with more than {MAX_REPLY_BYTES} bytes and was stopped"
                ));
            }
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    kill_group(&mut child);
                    return Err(format!(
                        "`{program}` gave no reply within {} s and was stopped",
                        timeout.as_secs_f64()
                    ));
                }
                Err(e) => return Err(format!("waiting for `{program}` failed: {e}")),
            }
        };
        // The program is done; anything it left running in its group goes with it, so that
        // the reader (whose pipe such a process may hold open) returns.
        if let Some(g) = group {
            let _ = rustix::process::kill_process_group(g, rustix::process::Signal::KILL);
        }
        let _ = writer.join();
        let bytes = reader.join().unwrap_or_default();
        if bytes.len() as u64 > MAX_REPLY_BYTES {
            return Err(format!(
                "`{program}` replied with more than {MAX_REPLY_BYTES} bytes"
            ));
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !status.success() {
            return Err(format!("`{program}` failed ({status})"));
        }
        Ok(Completion {
            // A rough count: about four characters a token.
            tokens: Some(((prompt.len() + text.len()) / 4) as u64),
            text,
        })
    }
}
