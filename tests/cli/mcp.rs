//! `memtree mcp` (issue 9), driven by rmcp's own client over the binary's stdio: initialize,
//! tools/list, every tool, resources, the prime prompt, a bad id, a write followed by a query
//! that finds it, and a hand edit seen by the next call.

use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams};
use serde_json::json;

use crate::env::{TestEnv, mcp_call as call, mcp_client as connect, runtime};

#[test]
fn an_agent_uses_every_tool_through_rmcp() {
    let env = TestEnv::repo(true);
    env.add(
        "architecture/storage/search-index",
        "Search index is derived from the files",
        &[
            "--kind",
            "decision",
            "--alias",
            "fts index",
            "--scope",
            "src/index/**",
        ],
        "Rebuild it with memtree index --full.",
    );
    env.ok(&["set", "search-index", "maturity=core"]);
    runtime().block_on(async {
        let client = connect(&env).await;
        let info = client.peer_info().unwrap();
        assert_eq!(info.server_info.as_ref().unwrap().name, "memtree");
        assert!(
            info.instructions
                .as_deref()
                .unwrap()
                .contains("memory_context")
        );
        // tools/list: every tool, with schemas, descriptions and annotations.
        let tools = client.list_all_tools().await.unwrap();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "memory_context",
                "memory_curate",
                "memory_get",
                "memory_history",
                "memory_link",
                "memory_list",
                "memory_query",
                "memory_supersede",
                "memory_write"
            ]
        );
        let query_tool = tools.iter().find(|t| t.name == "memory_query").unwrap();
        assert_eq!(
            query_tool.annotations.as_ref().unwrap().read_only_hint,
            Some(true)
        );
        assert!(
            query_tool
                .input_schema
                .get("properties")
                .unwrap()
                .get("query")
                .is_some()
        );
        let write_tool = tools.iter().find(|t| t.name == "memory_write").unwrap();
        assert_eq!(
            write_tool.annotations.as_ref().unwrap().read_only_hint,
            Some(false)
        );
        // Reads.
        let (err, v) = call(&client, "memory_query", json!({"query": "fts index"})).await;
        assert!(!err, "{v}");
        assert_eq!(v["schema"], "memtree.query/v1");
        assert_eq!(v["hits"][0]["id"], "architecture/storage/search-index");
        let (_, v) = call(
            &client,
            "memory_context",
            json!({"query": "changing the index", "path": "src/index/mod.rs"}),
        )
        .await;
        assert_eq!(v["schema"], "memtree.context/v1");
        assert!(
            v["markdown"]
                .as_str()
                .unwrap()
                .contains("Search index is derived"),
            "{v}"
        );
        let (_, v) = call(&client, "memory_get", json!({"id": "search-index"})).await;
        assert_eq!(v["front_matter"]["kind"], "decision");
        let (_, v) = call(&client, "memory_list", json!({})).await;
        assert_eq!(v["entries"].as_array().unwrap().len(), 1);
        // A bad id is a tool error with one sentence and a stable kind, not a protocol error.
        let (err, v) = call(&client, "memory_get", json!({"id": "no/such/entry"})).await;
        assert!(err);
        assert_eq!(v["kind"], "not_found");
        let (err, v) = call(
            &client,
            "memory_write",
            json!({"id": "Bad/Id", "title": "x"}),
        )
        .await;
        assert!(err);
        assert_eq!(v["kind"], "invalid_id");
        // A write, then a query that finds it (and a git commit).
        let (err, v) = call(
            &client,
            "memory_write",
            json!({
                "id": "ops/deploy/rollback", "title": "Roll back with the previous image",
                "kind": "procedure", "aliases": ["rollback"], "body": "Redeploy the previous tag."
            }),
        )
        .await;
        assert!(!err, "{v}");
        assert!(v["commit"]["id"].is_string(), "{v}");
        let (_, v) = call(&client, "memory_query", json!({"query": "rollback"})).await;
        assert_eq!(v["hits"][0]["id"], "ops/deploy/rollback", "{v}");
        // Update named fields; the same values again change nothing.
        let (_, v) = call(
            &client,
            "memory_write",
            json!({"id": "ops/deploy/rollback", "importance": 0.9}),
        )
        .await;
        assert_eq!(v["changed"], json!(["importance", "updated"]), "{v}");
        let (_, v) = call(
            &client,
            "memory_write",
            json!({"id": "ops/deploy/rollback", "importance": 0.9}),
        )
        .await;
        assert_eq!(v["changed"], json!([]), "{v}");
        let (err, v) = call(
            &client,
            "memory_link",
            json!({"from": "ops/deploy/rollback", "to": "search-index", "type": "depends-on"}),
        )
        .await;
        assert!(!err, "{v}");
        let (err, v) = call(
            &client,
            "memory_supersede",
            json!({
                "old": "ops/deploy/rollback", "new": "ops/deploy/rollback-v2",
                "title": "Roll back with the deploy tool", "body": "deploytool rollback"
            }),
        )
        .await;
        assert!(!err, "{v}");
        assert_eq!(v["created"], true);
        let (_, v) = call(&client, "memory_query", json!({"query": "rollback"})).await;
        assert_eq!(v["hits"][0]["id"], "ops/deploy/rollback-v2", "{v}");
        let (_, v) = call(
            &client,
            "memory_history",
            json!({"id": "ops/deploy/rollback"}),
        )
        .await;
        assert_eq!(v["versions"].as_array().unwrap().len(), 4, "{v}");
        // A hand edit is seen by the next call of the same server.
        env.write(
            "notes/misc/quokka.md",
            "---\ntitle: Quokka notes\n---\nquokkas everywhere\n",
        );
        let (_, v) = call(&client, "memory_query", json!({"query": "quokkas"})).await;
        assert_eq!(v["hits"][0]["id"], "notes/misc/quokka", "{v}");
        // An entry another process wrote and indexed is seen too: the server's reader reloads
        // when tantivy's meta.json changed, and only then.
        env.ok(&[
            "add",
            "notes/misc/wombat",
            "--title",
            "Wombat notes",
            "--body",
            "wombats dig burrows",
        ]);
        env.ok(&["index"]);
        let (_, v) = call(&client, "memory_query", json!({"query": "wombats burrows"})).await;
        assert_eq!(v["hits"][0]["id"], "notes/misc/wombat", "{v}");
        // Resources and the prompt.
        let resources = client.list_all_resources().await.unwrap();
        assert!(
            resources
                .iter()
                .any(|r| r.uri == "memory://architecture/storage/search-index")
        );
        let read = client
            .read_resource(ReadResourceRequestParams::new(
                "memory://architecture/storage/search-index",
            ))
            .await
            .unwrap();
        let text = serde_json::to_value(&read.contents[0]).unwrap();
        assert!(
            text["text"]
                .as_str()
                .unwrap()
                .contains("Rebuild it with memtree index"),
            "{text}"
        );
        let prompts = client.list_all_prompts().await.unwrap();
        assert_eq!(prompts[0].name, "prime");
        let prime = client
            .get_prompt(GetPromptRequestParams::new("prime"))
            .await
            .unwrap();
        let msg = serde_json::to_value(&prime.messages[0]).unwrap();
        assert!(msg.to_string().contains("Pinned (core)"), "{msg}");
        client.cancel().await.unwrap();
    });
}
