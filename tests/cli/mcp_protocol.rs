//! Regressions of issue 14, item 15: the MCP server answers every line (a line that is not
//! JSON gets `-32700`, one over 16 MiB a `-32600` with its id) and keeps serving; writes never
//! resolve an id suffix; arguments of the wrong type are tool errors carrying
//! `memtree.error/v1`. Raw JSON-RPC over the binary's stdio, and rmcp's own client.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::env::{GIT_ENV, NOW, TestEnv, mcp_call as call};

/// `memtree mcp` with raw pipes.
struct Raw {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Raw {
    fn start(env: &TestEnv) -> Raw {
        let mut child = Command::new(env!("CARGO_BIN_EXE_memtree"))
            .current_dir(env.root())
            .env_clear()
            .env("HOME", env.root())
            .env("MEMTREE_NOW", NOW)
            .envs(GIT_ENV.iter().copied())
            .arg("mcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut raw = Raw { child, out };
        raw.send(
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
        );
        assert_eq!(raw.reply()["id"], 1);
        raw.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        raw
    }

    fn send(&mut self, line: &[u8]) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(line).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn reply(&mut self) -> Value {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// See: issue 14, item 15. Non-JSON got no reply, and a request line over ~16 MiB got none
/// either (the client waited forever). Both are answered now, and the server keeps serving.
#[test]
fn every_line_gets_an_answer() {
    let env = TestEnv::new();
    let mut raw = Raw::start(&env);
    raw.send(b"this is not json");
    assert_eq!(
        raw.reply(),
        json!({"jsonrpc": "2.0", "id": null,
               "error": {"code": -32700, "message": "Parse error: the line is not JSON"}})
    );
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{{"name":"memory_query","arguments":{{"query":"{}"}}}}}}"#,
        "x".repeat(17 * 1024 * 1024)
    );
    raw.send(big.as_bytes());
    let v = raw.reply();
    assert_eq!(v["id"], 7, "{v}");
    assert_eq!(v["error"]["code"], -32600, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("16777216 bytes"),
        "{v}"
    );
    raw.send(br#"{"jsonrpc":"2.0","id":8,"method":"tools/list"}"#);
    let v = raw.reply();
    assert_eq!(v["id"], 8);
    assert!(v["result"]["tools"].as_array().unwrap().len() >= 8, "{v}");
}

/// See: issue 14, items 14 and 15. `memory_write` with a new id `b/c/d` edited the existing
/// `a/b/c/d` through the suffix; it creates `b/c/d`. A title change works through MCP too, and
/// a string where a number goes is a tool error with `memtree.error/v1`.
#[test]
fn writes_take_ids_exactly_and_type_errors_are_memtree_errors() {
    let env = TestEnv::new();
    env.add("a/b/c/d", "Deep entry", &[], "Body.");
    let deep = env.read("a/b/c/d.md");
    let rt = crate::env::runtime();
    rt.block_on(async {
        let client = crate::env::mcp_client(&env).await;
        let (err, v) = call(
            &client,
            "memory_write",
            json!({"id": "b/c/d", "title": "Short"}),
        )
        .await;
        assert!(!err, "{v}");
        assert_eq!(v["schema"], "memtree.add/v1", "{v}");
        let (err, v) = call(
            &client,
            "memory_write",
            json!({"id": "b/c/d", "title": "Renamed"}),
        )
        .await;
        assert!(!err, "{v}");
        assert_eq!(v["changed"], json!(["title", "updated"]), "{v}");
        let (err, v) = call(
            &client,
            "memory_query",
            json!({"query": "deep", "k": "five"}),
        )
        .await;
        assert!(err, "{v}");
        assert_eq!(v["schema"], "memtree.error/v1", "{v}");
        assert_eq!(v["kind"], "invalid_value", "{v}");
        client.cancel().await.unwrap();
    });
    assert_eq!(env.read("a/b/c/d.md"), deep);
    assert!(env.read("b/c/d.md").starts_with("---\ntitle: Renamed\n"));
}
