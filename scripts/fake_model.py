#!/usr/bin/env python3
"""A scripted model server on 127.0.0.1 for scripts/test_clients.sh: the Anthropic Messages API
(Claude Code) and the OpenAI Responses API (Codex), both streamed as server-sent events. It
records every request body as one JSON line and stops by itself.

    fake_model.py PORT LOG_FILE SECONDS

The script it plays, whatever the client:
- a user turn that holds `QUERY-MEMORY` makes the model call memtree's `memory_query` (Claude
  Code first loads the deferred tool through its `ToolSearch`), then answer `Done.` once the
  tool result came back;
- a request to summarise the conversation (a compaction) gets a short summary;
- anything else gets `ok`.
Standard library only.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG, SECONDS = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
QUERY = {"query": "how are migrations applied?"}
SUMMARY = "Summary: the session set up the discount column and noted the test database change."


def record(entry):
    with open(LOG, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")


def text_of(content):
    if isinstance(content, str):
        return content
    out = []
    for block in content or []:
        if block.get("type") in ("text", "input_text", "output_text"):
            out.append(block.get("text", ""))
        elif block.get("type") == "tool_result":
            out.append(text_of(block.get("content")))
    return "\n".join(out)


def is_compaction(body_text):
    lowered = body_text.lower()
    return "summary of the conversation" in lowered or "summarize the conversation" in lowered \
        or "create a detailed summary" in lowered or "context checkpoint" in lowered


# ---- Anthropic Messages (Claude Code) ----

def anthropic_plan(body):
    """What the model says next: ('text', str) or ('tool', name, input)."""
    messages = body.get("messages", [])
    if is_compaction(json.dumps(body)):
        return ("text", SUMMARY)
    last = messages[-1] if messages else {}
    blocks = last.get("content") if isinstance(last.get("content"), list) else []
    results = [b for b in blocks if b.get("type") == "tool_result"]
    if results:
        # Which tool is this the result of? Look up the id among earlier tool_use blocks.
        uses = {b.get("id"): b.get("name") for m in messages for b in
                (m.get("content") if isinstance(m.get("content"), list) else [])
                if b.get("type") == "tool_use"}
        name = uses.get(results[-1].get("tool_use_id"), "")
        if name == "ToolSearch":
            return ("tool", "mcp__memtree__memory_query", QUERY)
        return ("text", "Done.")
    tools = [t.get("name") for t in body.get("tools", [])]
    users = [m for m in messages if m.get("role") == "user"]
    said = text_of(users[-1].get("content")) if users else ""
    if "QUERY-MEMORY" in said and tools:
        if "mcp__memtree__memory_query" in tools:
            return ("tool", "mcp__memtree__memory_query", QUERY)
        return ("tool", "ToolSearch", {"query": "select:mcp__memtree__memory_query"})
    return ("text", "ok")


def anthropic_events(plan, model):
    msg = {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
           "content": [], "stop_reason": None, "stop_sequence": None,
           "usage": {"input_tokens": 100, "output_tokens": 1}}
    ev = [("message_start", {"type": "message_start", "message": msg})]
    if plan[0] == "text":
        ev += [("content_block_start", {"type": "content_block_start", "index": 0,
                                        "content_block": {"type": "text", "text": ""}}),
               ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": plan[1]}}),
               ("content_block_stop", {"type": "content_block_stop", "index": 0})]
        stop = "end_turn"
    else:
        ev += [("content_block_start", {"type": "content_block_start", "index": 0,
                                        "content_block": {"type": "tool_use", "id": "toolu_%d" % abs(hash(plan[1])),
                                                          "name": plan[1], "input": {}}}),
               ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "input_json_delta",
                                                  "partial_json": json.dumps(plan[2])}}),
               ("content_block_stop", {"type": "content_block_stop", "index": 0})]
        stop = "tool_use"
    ev += [("message_delta", {"type": "message_delta",
                              "delta": {"stop_reason": stop, "stop_sequence": None},
                              "usage": {"output_tokens": 10}}),
           ("message_stop", {"type": "message_stop"})]
    return "".join("event: %s\ndata: %s\n\n" % (e, json.dumps(d)) for e, d in ev)


# ---- OpenAI Responses (Codex) ----

def responses_plan(body):
    items = body.get("input", [])
    if is_compaction(json.dumps(body)):
        return ("text", SUMMARY)
    outputs = [i for i in items if i.get("type") == "function_call_output"]
    calls = [i for i in items if i.get("type") == "function_call"]
    if outputs and calls:
        return ("text", "Done.")
    last_user = [i for i in items if i.get("role") == "user"]
    text = text_of(last_user[-1].get("content")) if last_user else ""
    # MCP tools come as a `namespace` tool (`mcp__memtree`) holding functions.
    target = None
    for t in body.get("tools", []):
        if not isinstance(t, dict):
            continue
        if t.get("name", "").endswith("memory_query"):
            target = (t["name"], None)
        for sub in t.get("tools", []) if t.get("type") == "namespace" else []:
            if sub.get("name") == "memory_query":
                target = ("memory_query", t.get("name"))
    if "QUERY-MEMORY" in text and target:
        return ("tool", target, QUERY)
    return ("text", "ok")


def responses_events(plan, model):
    rid = "resp_fake"
    base = {"id": rid, "object": "response", "created_at": 0, "model": model, "status": "in_progress",
            "output": []}
    ev = [("response.created", {"type": "response.created", "response": base})]
    if plan[0] == "text":
        item = {"id": "msg_fake", "type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": plan[1], "annotations": []}]}
        ev += [("response.output_item.added", {"type": "response.output_item.added", "output_index": 0,
                                               "item": dict(item, content=[], status="in_progress")}),
               ("response.output_text.delta", {"type": "response.output_text.delta", "item_id": "msg_fake",
                                               "output_index": 0, "content_index": 0, "delta": plan[1]}),
               ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0,
                                              "item": item})]
    else:
        name, namespace = plan[1]
        item = {"id": "fc_fake", "type": "function_call", "status": "completed", "call_id": "call_fake",
                "name": name, "arguments": json.dumps(plan[2])}
        if namespace:
            item["namespace"] = namespace
        ev += [("response.output_item.added", {"type": "response.output_item.added", "output_index": 0,
                                               "item": item}),
               ("response.output_item.done", {"type": "response.output_item.done", "output_index": 0,
                                              "item": item})]
    done = dict(base, status="completed", output=[ev[-1][1]["item"]],
                usage={"input_tokens": 100, "output_tokens": 10, "total_tokens": 110,
                       "input_tokens_details": {"cached_tokens": 0},
                       "output_tokens_details": {"reasoning_tokens": 0}})
    ev.append(("response.completed", {"type": "response.completed", "response": done}))
    return "".join("event: %s\ndata: %s\n\n" % (e, json.dumps(d)) for e, d in ev)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, ctype, payload):
        data = payload.encode()
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        record({"method": "GET", "path": self.path})
        if self.path.rstrip("/").endswith("/models"):
            return self.reply(200, "application/json", json.dumps({"object": "list", "data": [], "models": []}))
        self.reply(404, "application/json", "{}")

    def do_POST(self):
        n = int(self.headers.get("content-length", 0))
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        record({"method": "POST", "path": self.path, "body": body})
        model = body.get("model", "fake")
        if "/messages/count_tokens" in self.path:
            return self.reply(200, "application/json", json.dumps({"input_tokens": 100}))
        if "/messages" in self.path:
            plan = anthropic_plan(body)
            if body.get("stream"):
                return self.reply(200, "text/event-stream", anthropic_events(plan, model))
            content = [{"type": "text", "text": plan[1]}] if plan[0] == "text" else \
                [{"type": "tool_use", "id": "toolu_1", "name": plan[1], "input": plan[2]}]
            return self.reply(200, "application/json", json.dumps(
                {"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": content,
                 "stop_reason": "end_turn" if plan[0] == "text" else "tool_use",
                 "usage": {"input_tokens": 100, "output_tokens": 10}}))
        if "/responses" in self.path:
            return self.reply(200, "text/event-stream", responses_events(responses_plan(body), model))
        self.reply(404, "application/json", "{}")


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
threading.Timer(SECONDS, server.shutdown).start()
server.serve_forever()
