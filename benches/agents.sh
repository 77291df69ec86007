#!/usr/bin/env bash
# Whole-process timings of the session commands: curate (the fixture Claude Code session, and a
# transcript at the hook's 8 MiB read limit), prime --hook (first start, and a repeat that sends
# only what changed), and setup. On the example tree and on a generated 10k tree in git.
#
#   bash benches/agents.sh
#   PROFILE=release bash benches/agents.sh
#
# Needs hyperfine and git. Medians of back-to-back runs on a warm page cache; results go to
# target/bench/agents-*.json and stdout.
set -euo pipefail

source "$(dirname "$0")/support/prelude.sh"
T="$PWD/tests/fixtures/curate/claude-session.jsonl"
DIR="${BENCH_DIR:-/tmp/memtree-bench-agents}"
rm -rf "$DIR" && mkdir -p "$OUT" "$DIR"
export GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@x GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@x

# A transcript of about 8 MiB: the fixture's turns repeated with a different number each time
# (so every statement is a new candidate until the 200-candidate cap).
BIG="$DIR/big-session.jsonl"
python3 - "$T" "$BIG" <<'EOF'
import sys
src, dst = sys.argv[1], sys.argv[2]
lines = open(src).read().splitlines()
out, i = [], 0
while sum(len(l) + 1 for l in out) < 8 * 1024 * 1024:
    for l in lines:
        out.append(l.replace("10k rows", f"{i}k rows").replace("Tuesdays", f"day {i}"))
    i += 1
open(dst, "w").write("\n".join(out) + "\n")
EOF
echo "big transcript: $(du -h "$BIG" | cut -f1)"

median() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print('  '.join(f\"{x['command'][:60]}: {sorted(x['times'])[len(x['times'])//2]*1000:.1f} ms\" for x in r))" "$1"; }

for tree in example 10000; do
    P="$DIR/$tree"
    if [ "$tree" = example ]; then cp -r examples/project "$P"; else "$GEN" "$P" "$tree" >/dev/null; fi
    (cd "$P" && git init -q && git add -A && git commit -qm tree && "$M" index >/dev/null)
    echo "== $tree"
    (cd "$P" && hyperfine -N -w 3 -r 20 --export-json "$OUT/agents-$tree-curate.json" \
        "$M curate --transcript $T --json" \
        "$M curate --transcript $BIG --json" >/dev/null)
    median "$OUT/agents-$tree-curate.json"
    (cd "$P" && hyperfine -N -w 3 -r 20 --export-json "$OUT/agents-$tree-prime.json" \
        --prepare "rm -rf $P/.memory/.cache/sessions" \
        "sh -c 'echo {\"session_id\":\"b\"} | $M prime --hook claude'" >/dev/null)
    median "$OUT/agents-$tree-prime.json"
    (cd "$P" && echo '{"session_id":"b"}' | "$M" prime --hook claude >/dev/null && \
        hyperfine -N -w 3 -r 20 --export-json "$OUT/agents-$tree-prime-repeat.json" \
        "sh -c 'echo {\"session_id\":\"b\"} | $M prime --hook claude'" >/dev/null)
    median "$OUT/agents-$tree-prime-repeat.json"
done
P="$DIR/example"
(cd "$P" && hyperfine -N -w 3 -r 20 --export-json "$OUT/agents-setup.json" \
    "$M setup claude --print" >/dev/null)
median "$OUT/agents-setup.json"
