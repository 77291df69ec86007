//! # MCP round-trip latency
//!
//! Starts `memtree mcp` on a tree, waits for it to be ready, then times `memory_query` calls
//! through rmcp's client: the latency an agent sees with the server already running, next to
//! the CLI's whole-process time (benches/cli.sh).
//!
//! ```sh
//! cargo build --release --bin memtree
//! cargo run --release --example mcp_latency -- /tmp/memtree-bench/t10000 "poloka daneka benelo" 200
//! ```

use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;

fn main() {
    let mut args = std::env::args().skip(1);
    let root = args.next().expect("TREE");
    let query = args.next().unwrap_or_else(|| "poloka daneka benelo".into());
    let runs: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100);
    let bin = std::env::var("MEMTREE_BIN").unwrap_or_else(|_| "target/release/memtree".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut cmd = tokio::process::Command::new(&bin);
        cmd.args(["--root", &root, "mcp"]);
        let client = ().serve(TokioChildProcess::new(cmd).unwrap()).await.unwrap();
        let args = serde_json::json!({"query": query, "llm": "never"});
        let params = CallToolRequestParams::new("memory_query")
            .with_arguments(args.as_object().unwrap().clone());
        for _ in 0..5 {
            client.call_tool(params.clone()).await.unwrap();
        }
        let mut ms = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = std::time::Instant::now();
            let r = client.call_tool(params.clone()).await.unwrap();
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            assert_ne!(r.is_error, Some(true));
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "memory_query round trip over {runs} calls: median {:.2} ms, p90 {:.2} ms, min {:.2} ms",
            ms[runs / 2],
            ms[runs * 9 / 10],
            ms[0]
        );
        client.cancel().await.unwrap();
    });
}
