#!/usr/bin/env bash
# memtree inside the real agent clients (issue 21, item 4): Claude Code and Codex CLI, installed
# from npm at pinned versions, run non-interactively with a private HOME against a scripted
# model server on 127.0.0.1 (scripts/fake_model.py, which records every request), in a project
# set up the way README says. Asserts from the recorded requests and the files:
#   - the session-start bundle reached the model at start, and again after a compaction;
#   - memtree's tools were offered, and a scripted memory_query call ran and its JSON was the
#     tool result;
#   - the end-of-session hook left a plan whose change of belief supersedes the right entry;
#   - `setup --remove` gave back the project's files byte for byte.
# When npm cannot be reached it prints SKIPPED and exits 0.
#
#   scripts/test_clients.sh [claude|codex|all]      (MEMTREE=path/to/memtree, default target/debug)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MEMTREE=${MEMTREE:-$ROOT/target/debug/memtree}
WHICH=${1:-all}
CLAUDE_VERSION=2.1.332
CODEX_VERSION=0.171.0
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "test_clients: FAILED: $*" >&2; exit 1; }

[ -x "$MEMTREE" ] || fail "no memtree binary at $MEMTREE (cargo build first)"
if ! command -v npm >/dev/null; then echo "test_clients: SKIPPED: npm is not installed"; exit 0; fi
if ! (cd "$WORK" && timeout 600 npm install --prefix "$WORK/clients" --no-audit --no-fund --loglevel=error \
        "@anthropic-ai/claude-code@$CLAUDE_VERSION" "@openai/codex@$CODEX_VERSION" >"$WORK/npm.log" 2>&1); then
    echo "test_clients: SKIPPED: npm could not install the clients (registry unreachable?)"
    tail -5 "$WORK/npm.log"
    exit 0
fi
# npm runs no install scripts here, so the platform binaries are used directly.
CLAUDE=$(find "$WORK/clients/node_modules/@anthropic-ai" -path '*claude-code-linux-*/claude' -type f | head -1)
CODEX=$(find "$WORK/clients/node_modules/@openai" -path '*bin/codex' -type f | head -1)
if [ ! -x "$CLAUDE" ] || [ ! -x "$CODEX" ]; then
    echo "test_clients: SKIPPED: npm installed no client binary for this platform ($(uname -sm))"
    exit 0
fi
export PATH="$(dirname "$MEMTREE"):$PATH"
# No update checks, telemetry or other traffic the closed network would only delay.
export DISABLE_AUTOUPDATER=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=Test GIT_AUTHOR_EMAIL=test@example.com GIT_COMMITTER_NAME=Test GIT_COMMITTER_EMAIL=test@example.com

# A project with its own CLAUDE.md, AGENTS.md and its own SessionStart hook, set up as README says.
project() {
    local dir=$1
    cp -a "$ROOT/examples/day/repo" "$dir"
    mkdir -p "$dir/.claude"
    printf '{\n\t"hooks": {\n\t\t"SessionStart": [{"hooks": [{"type": "command", "command": "echo project banner"}]}]\n\t}\n}\n' \
        > "$dir/.claude/settings.json"
    (cd "$dir" && git init -q -b main && git add -A && git commit -qm "Shop service")
}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts the fake model server (its output to a file: a background job that holds a pipe open
# would keep a command substitution waiting); sets PORT.
start_model() {
    local log=$1
    PORT=$(port)
    python3 "$ROOT/scripts/fake_model.py" "$PORT" "$log" 600 >"$log.server" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),0.2)" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "the fake model server did not start: $(cat "$log.server")"
}

CHANGE="Remember: we no longer start the test database with docker compose; we switched to testcontainers, so cargo test starts PostgreSQL by itself."

claude_test() {
    local dir=$WORK/claude-project log=$WORK/claude.jsonl
    export HOME=$WORK/claude-home
    mkdir -p "$HOME"
    project "$dir"
    cd "$dir"
    cp .claude/settings.json "$WORK/settings.before"
    memtree setup claude >/dev/null
    memtree import >/dev/null
    git add -A && git commit -qm "Connect Claude Code to memtree"
    # What the user does once: approve the project's MCP server.
    printf '{"enabledMcpjsonServers": ["memtree"]}\n' > .claude/settings.local.json
    memtree setup --status claude | grep -q "MCP server approved" || fail "setup --status does not see the approval"
    local session
    start_model "$log"
    session=$(python3 -c 'import uuid; print(uuid.uuid4())')
    export ANTHROPIC_BASE_URL=http://127.0.0.1:$PORT ANTHROPIC_API_KEY=sk-fake
    timeout 120 "$CLAUDE" -p "QUERY-MEMORY. $CHANGE" --session-id "$session" \
        --allowedTools 'mcp__memtree__*' </dev/null >"$WORK/claude.out" 2>&1 || fail "claude -p: $(tail -5 "$WORK/claude.out")"
    local before_compact
    before_compact=$(wc -l < "$log")
    timeout 120 "$CLAUDE" -p --resume "$session" "/compact" </dev/null >>"$WORK/claude.out" 2>&1 || fail "claude /compact: $(tail -5 "$WORK/claude.out")"
    timeout 120 "$CLAUDE" -p --resume "$session" "What do you know now?" </dev/null >>"$WORK/claude.out" 2>&1 || fail "claude after compact"
    python3 "$ROOT/scripts/check_clients.py" claude "$log" "$before_compact" "$dir/.memory/.cache/curate/$session.json"
    memtree setup claude --remove >/dev/null
    cmp -s .claude/settings.json "$WORK/settings.before" || fail "setup --remove changed .claude/settings.json"
    [ ! -e .mcp.json ] || fail "setup --remove left .mcp.json"
    unset HOME ANTHROPIC_BASE_URL ANTHROPIC_API_KEY
    echo "test_clients: Claude Code $CLAUDE_VERSION: ok"
}

codex_test() {
    local dir=$WORK/codex-project log=$WORK/codex.jsonl
    export HOME=$WORK/codex-home CODEX_HOME=$WORK/codex-home/.codex
    mkdir -p "$CODEX_HOME"
    project "$dir"
    cd "$dir"
    memtree setup codex >/dev/null
    memtree import >/dev/null
    git add -A && git commit -qm "Connect Codex to memtree"
    start_model "$log"
    # What the user does once: trust the project (Codex reads .codex/ only then) ...
    cat > "$CODEX_HOME/config.toml" <<TOML
model = "fake-model"
model_provider = "fake"

[model_providers.fake]
name = "fake"
base_url = "http://127.0.0.1:$PORT/v1"
wire_api = "responses"
env_key = "FAKE_MODEL_KEY"

[projects."$(pwd -P)"]
trust_level = "trusted"
TOML
    memtree setup --status codex | grep -q "project trusted; hooks not reviewed" \
        || fail "setup --status does not see the trust, or sees a review: $(memtree setup --status codex)"
    # ... and review memtree's hooks (codex exec skips unreviewed hooks without a word).
    python3 "$ROOT/scripts/check_clients.py" review-codex-hooks "$CODEX" "$(pwd -P)" "$CODEX_HOME/config.toml"
    memtree setup --status codex | grep -q "project trusted; hooks reviewed" || fail "setup --status does not see the review"
    # A token limit low enough that Codex compacts within the turn.
    FAKE_MODEL_KEY=x timeout 180 "$CODEX" exec -c model_auto_compact_token_limit=150 "QUERY-MEMORY. $CHANGE" \
        </dev/null >"$WORK/codex.out" 2>&1 || fail "codex exec: $(tail -5 "$WORK/codex.out")"
    local plan
    plan=$(ls -t .memory/.cache/curate/*.json 2>/dev/null | head -1)
    python3 "$ROOT/scripts/check_clients.py" codex "$log" -1 "${plan:-none}"
    memtree setup codex --remove >/dev/null
    [ ! -e .codex ] || fail "setup --remove left .codex"
    unset HOME CODEX_HOME
    echo "test_clients: Codex $CODEX_VERSION: ok"
}

case "$WHICH" in
    claude) claude_test ;;
    codex) codex_test ;;
    all) claude_test; codex_test ;;
esac
