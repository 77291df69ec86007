#!/usr/bin/env bash
# Builds the memtree wheel (maturin, `bindings = "bin"`, the `dist` profile), installs it into a
# fresh virtual environment with no index (offline), and checks the installed binary:
# `memtree --version` and a query on the example tree. Not part of `cargo test` (the dist
# build takes about 5 minutes on 2 cores).
#
#   bash scripts/test_wheel.sh            # needs maturin (pip install maturin)
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# `--release` would override the `dist` profile that pyproject.toml names; maturin build uses it.
maturin build --out "$out/wheels" >&2
# The path `pip install .` takes (PEP 517), built without isolation so that it stays offline.
pip_wheel="$(python3 -m pip --version >/dev/null 2>&1 && echo yes || echo no)"
if [ "$pip_wheel" = yes ] && python3 -c 'import maturin' 2>/dev/null; then
  python3 -m pip wheel --quiet --no-build-isolation --no-deps --wheel-dir "$out/pep517" . >&2
  echo "pep517 wheel: $(ls "$out"/pep517/memtree-*.whl)"
fi
wheel="$(ls "$out"/wheels/memtree-*.whl)"
echo "wheel: $wheel ($(stat -c %s "$wheel") bytes)"
python3 -m venv "$out/venv"
"$out/venv/bin/pip" install --no-index --quiet "$wheel"
bin="$out/venv/bin/memtree"
size="$(stat -c %s "$bin")"
echo "installed binary: $size bytes"
# Issue 22 allows the binary to grow to 20 MB (the dense tier; its weights are not in it).
[ "$size" -le 20000000 ] || { echo "over the 20 MB budget" >&2; exit 1; }
"$bin" --version
"$bin" --root examples/project query "how do I add a column to orders safely?" | head -3
"$bin" --root examples/project query "how do I add a column to orders safely?" --json \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["hits"], d; print("top hit:", d["hits"][0]["id"])'
echo "ok"
