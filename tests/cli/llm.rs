//! Tier 5 (issue 9): one LLM call when tiers 1–4 are not confident, against a real HTTP server
//! on 127.0.0.1 started by the test (an OpenAI-compatible chat-completions endpoint) and a fake
//! `command` provider.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::env::{TestEnv, sample};

/// How the test server answers.
#[derive(Clone)]
pub enum Answer {
    /// HTTP 200 with this message content.
    Content(String),
    /// HTTP 200 with this raw body.
    Raw(String),
    /// HTTP 500.
    Error,
    /// No answer for this long.
    Hang(Duration),
}

/// A chat-completions server on 127.0.0.1; returns its base URL and a channel of the request
/// bodies it received.
pub fn server(answer: Answer) -> (String, mpsc::Receiver<String>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for mut request in server.incoming_requests() {
            let mut body = String::new();
            let _ = request.as_reader().read_to_string(&mut body);
            let auth = request
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.to_string())
                .unwrap_or_default();
            let _ = tx.send(format!(
                "{} {}\n{auth}\n{body}",
                request.method(),
                request.url()
            ));
            let response = match &answer {
                Answer::Content(c) => {
                    let body = serde_json::json!({
                        "choices": [{"message": {"role": "assistant", "content": c}}],
                        "usage": {"total_tokens": 321}
                    });
                    tiny_http::Response::from_string(body.to_string()).with_status_code(200)
                }
                Answer::Raw(r) => tiny_http::Response::from_string(r.clone()).with_status_code(200),
                Answer::Error => tiny_http::Response::from_string("boom").with_status_code(500),
                Answer::Hang(d) => {
                    std::thread::sleep(*d);
                    tiny_http::Response::from_string("{}").with_status_code(200)
                }
            };
            let _ = request.respond(response);
        }
    });
    (format!("http://127.0.0.1:{port}/v1"), rx)
}

/// Writes the project's memtree.yaml and trusts it (its `llm:` is used only then).
pub fn trusted_config(env: &TestEnv, text: &str) {
    env.write("memtree.yaml", text);
    env.ok(&["trust"]);
}

fn configure(env: &TestEnv, base_url: &str, timeout_s: u64) {
    trusted_config(
        env,
        &format!(
            "schema_version: 1\nllm:\n  provider: openai\n  base_url: {base_url}\n  model: tiny-test\n  api_key_env: MEMTREE_TEST_KEY\n  timeout_s: {timeout_s}\n"
        ),
    );
}

/// A question that shares no word with its answer: tiers 1–4 are not confident, the model
/// names the answer (and an id that does not exist) and a phrasing that finds another entry.
#[test]
fn the_model_reorders_and_rephrases_and_unknown_ids_are_dropped() {
    let env = sample();
    let reply = r#"Here you go: {"ids": ["pitfalls/ci/flaky-timing-tests", "made/up/entry"], "phrasings": ["segment merges"]}"#;
    let (url, requests) = server(Answer::Content(reply.into()));
    configure(&env, &url, 10);
    let mut cmd = env.cmd();
    cmd.env("MEMTREE_TEST_KEY", "sk-test-123").args([
        "query",
        "why do my benchmarks wobble under load",
        "--json",
    ]);
    let v = TestEnv::json_of(cmd);
    let e = &v["escalation"];
    assert_eq!(e["ran"], true, "{v}");
    assert_eq!(e["provider"], "openai");
    assert_eq!(e["model"], "tiny-test");
    assert_eq!(e["tokens"], 321);
    assert_eq!(
        e["chosen"],
        serde_json::json!(["pitfalls/ci/flaky-timing-tests"])
    );
    assert_eq!(e["dropped"], serde_json::json!(["made/up/entry"]));
    assert_eq!(e["phrasings"], serde_json::json!(["segment merges"]));
    assert!(e["latency_ms"].as_f64().unwrap() >= 0.0);
    let ids: Vec<&str> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[0], "pitfalls/ci/flaky-timing-tests", "{v}");
    assert!(
        ids.contains(&"architecture/storage/segment-merges"),
        "the phrasing's find: {v}"
    );
    assert!(!ids.contains(&"made/up/entry"));
    assert!(
        v["tiers_run"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("llm"))
    );
    // What the server saw: the question, the outline, the model, the key.
    let request = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        request.starts_with("POST /v1/chat/completions"),
        "{request}"
    );
    assert!(
        request.contains("why do my benchmarks wobble under load"),
        "{request}"
    );
    assert!(
        request.contains("pitfalls/ci (1)"),
        "the outline: {request}"
    );
    assert!(request.contains("\"model\":\"tiny-test\""), "{request}");
    assert!(
        request.contains("\"max_tokens\":400"),
        "a bounded reply: {request}"
    );
    assert!(
        request.contains("\nBearer sk-test-123\n"),
        "the key from api_key_env: {request}"
    );
}

/// A confident answer never calls the model (auto); --llm always does; --llm never does not.
#[test]
fn the_model_is_called_only_when_asked_or_not_confident() {
    let env = sample();
    let (url, requests) = server(Answer::Content(r#"{"ids": [], "phrasings": []}"#.into()));
    configure(&env, &url, 10);
    let v = env.json(&["query", "fts index"]);
    assert_eq!(
        v["escalation"],
        serde_json::json!({"ran": false, "reason": "confident"})
    );
    assert!(
        requests.try_recv().is_err(),
        "no call for a confident answer"
    );
    let v = env.json(&["query", "fts index", "--llm", "always"]);
    assert_eq!(v["escalation"]["ran"], true);
    assert_eq!(v["hits"][0]["id"], "architecture/storage/search-index");
    let v = env.json(&["query", "why do my benchmarks wobble", "--llm", "never"]);
    assert_eq!(v["escalation"]["reason"], "--llm never");
}

/// A malformed reply, an HTTP 500 and a server that hangs all fall back to the tier 1–4 answer
/// with the reason; the hanging one answers within the timeout plus a little.
#[test]
fn failures_fall_back_to_tiers_one_to_four() {
    let q = "which tests are unreliable on a small machine";
    let tier4 = |env: &TestEnv| env.hits(&[q, "--llm", "never"]);
    for (answer, expect) in [
        (Answer::Raw("not json at all".into()), "not JSON"),
        (
            Answer::Content("I think it is the second one.".into()),
            "holds no JSON object",
        ),
        (Answer::Error, "HTTP 500"),
    ] {
        let env = sample();
        let (url, _requests) = server(answer);
        configure(&env, &url, 10);
        let v = env.json(&["query", q]);
        let e = &v["escalation"];
        assert_eq!(e["ran"], true, "{v}");
        assert!(
            e["reason"].as_str().unwrap().contains(expect),
            "{expect}: {v}"
        );
        let ids: Vec<&str> = v["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap())
            .collect();
        assert!(!ids.is_empty(), "tiers 1–4 find something weak: {v}");
        assert_eq!(ids, tier4(&env), "the tier 1–4 answer, unchanged");
    }
    let env = sample();
    let (url, _requests) = server(Answer::Hang(Duration::from_secs(30)));
    configure(&env, &url, 1);
    let start = Instant::now();
    let v = env.json(&["query", q]);
    // A hang detector, not a timing assertion: 1 s timeout, a generous bound.
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    assert!(
        v["escalation"]["reason"]
            .as_str()
            .unwrap()
            .contains("no reply within 1 s"),
        "{v}"
    );
    assert_eq!(v["hits"][0]["id"], tier4(&env)[0].as_str());
}

/// The `command` provider pipes the prompt to a program and reads its reply.
#[test]
fn a_command_provider_gets_the_prompt_on_stdin() {
    let env = sample();
    let script = env.root().join("fake-llm.sh");
    let seen = env.root().join("prompt.txt");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat > '{}'\necho '{{\"ids\": [\"conventions/rust/error-handling\"], \"phrasings\": []}}'\n",
            seen.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    trusted_config(
        &env,
        &format!(
            "schema_version: 1\nllm:\n  provider: command\n  command: [\"{}\"]\n",
            script.display()
        ),
    );
    let v = env.json(&["query", "how should failures be reported to callers"]);
    assert_eq!(v["escalation"]["provider"], "command", "{v}");
    assert_eq!(v["hits"][0]["id"], "conventions/rust/error-handling", "{v}");
    assert_eq!(v["hits"][0]["matched"][0], "llm:chosen #1", "{v}");
    let prompt = std::fs::read_to_string(&seen).unwrap();
    assert!(
        prompt.contains("Question: how should failures be reported to callers"),
        "{prompt}"
    );
    // A program that hangs is stopped at the timeout.
    std::fs::write(&script, "#!/bin/sh\nsleep 30\n").unwrap();
    trusted_config(
        &env,
        &format!(
            "schema_version: 1\nllm:\n  provider: command\n  command: [\"{}\"]\n  timeout_s: 1\n",
            script.display()
        ),
    );
    let start = Instant::now();
    let v = env.json(&["query", "how should failures be reported to callers"]);
    assert!(start.elapsed() < Duration::from_secs(15));
    assert!(
        v["escalation"]["reason"]
            .as_str()
            .unwrap()
            .contains("was stopped"),
        "{v}"
    );
}
