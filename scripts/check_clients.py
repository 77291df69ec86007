#!/usr/bin/env python3
"""Assertions of scripts/test_clients.sh over what the fake model recorded and what memtree
left. Exits 1 with a sentence on the first that fails.

    check_clients.py claude|codex LOG BEFORE_COMPACT PLAN_FILE
    check_clients.py review-codex-hooks CODEX PROJECT CONFIG_TOML

BEFORE_COMPACT is the number of requests before the compaction, or -1: the request after the
one that asked Codex's compaction prompt. `review-codex-hooks` does what a user does once when
Codex asks to review a project's hooks: it asks `codex app-server` for them (`hooks/list`) and
records each one's current hash as trusted in Codex's config.toml.
"""
import json
import subprocess
import sys

BUNDLE = "# Project memory: session start"

if sys.argv[1] == "review-codex-hooks":
    codex, project, config = sys.argv[2], sys.argv[3], sys.argv[4]
    server = subprocess.Popen([codex, "app-server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    for message in [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"clientInfo": {"name": "test_clients", "version": "1"},
                    "capabilities": {"experimentalApi": True}}},
        {"jsonrpc": "2.0", "method": "initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "hooks/list", "params": {"cwds": [project]}},
    ]:
        server.stdin.write(json.dumps(message) + "\n")
        server.stdin.flush()
    hooks = []
    for line in server.stdout:
        reply = json.loads(line)
        if reply.get("id") == 2:
            hooks = reply["result"]["data"][0]["hooks"]
            break
    server.kill()
    ours = [h for h in hooks if h.get("command", "").startswith("memtree ")]
    if len(ours) != 3 or any(h.get("trustStatus") != "untrusted" for h in ours):
        print("test_clients: FAILED (codex): memtree's three hooks are not listed as awaiting review: %s"
              % hooks, file=sys.stderr)
        sys.exit(1)
    with open(config, "a", encoding="utf-8") as f:
        for h in ours:
            f.write('\n[hooks.state."%s"]\nenabled = true\ntrusted_hash = "%s"\n'
                    % (h["key"], h["currentHash"]))
    sys.exit(0)

client, log, before_compact, plan_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def fail(why):
    print("test_clients: FAILED (%s): %s" % (client, why), file=sys.stderr)
    sys.exit(1)


lines = [json.loads(l) for l in open(log, encoding="utf-8")]
posts = [(i, l["body"]) for i, l in enumerate(lines) if l.get("method") == "POST"
         and ("/messages" in l["path"] or "/responses" in l["path"])
         and "count_tokens" not in l["path"]]
if not posts:
    fail("the model received no request")
texts = [(i, json.dumps(b)) for i, b in posts]
if before_compact < 0:
    asked = [i for i, t in texts if "CONTEXT CHECKPOINT COMPACTION" in t]
    if not asked:
        fail("no compaction was asked of the model")
    before_compact = asked[0] + 1

start = [i for i, t in texts if i < before_compact and BUNDLE in t]
if not start:
    fail("the session-start bundle never reached the model")
if not any("memory_query" in t for _, t in texts):
    fail("memtree's tools were not offered")


def tool_results(body):
    """Texts of tool results in a request (Anthropic tool_result, Responses function_call_output)."""
    out = []
    for m in body.get("messages", []):
        for b in m.get("content") if isinstance(m.get("content"), list) else []:
            if b.get("type") == "tool_result":
                c = b.get("content")
                out.append(c if isinstance(c, str) else "".join(x.get("text", "") for x in c or []))
    for item in body.get("input", []):
        if item.get("type") == "function_call_output":
            o = item.get("output")
            out.append(o if isinstance(o, str) else json.dumps(o))
    return out


query = None
for _, body in posts:
    for r in tool_results(body):
        start_at = r.find('{"schema":"memtree.query/v1"')
        if start_at < 0:
            start_at = r.find('"memtree.query/v1"')
            start_at = r.rfind("{", 0, start_at) if start_at >= 0 else -1
        if start_at >= 0:
            try:
                query = json.JSONDecoder().raw_decode(r[start_at:])[0]
            except ValueError:
                query = None
if not query or query.get("schema") != "memtree.query/v1" or not query.get("hits"):
    fail("no memory_query result with hits came back as a tool result")

after = [t for i, t in texts if i >= before_compact]
if not after or BUNDLE not in after[-1]:
    fail("after the compaction the next request holds no bundle")

try:
    plan = json.load(open(plan_file, encoding="utf-8"))
except (OSError, ValueError) as e:
    fail("the end-of-session hook left no plan at %s (%s)" % (plan_file, e))
rows = [(r.get("op"), r.get("target")) for r in plan.get("plan", [])]
if ("supersede", "conventions/agents/build-and-test") not in rows:
    fail("the plan does not supersede conventions/agents/build-and-test: %s" % rows)
print("test_clients: %s: bundle at start and after compaction, memory_query answered (%d hits), plan %s"
      % (client, len(query["hits"]), rows))
