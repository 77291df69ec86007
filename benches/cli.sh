#!/usr/bin/env bash
# Whole-process timings of the memtree binary against a grep scan, on generated trees.
#
#   bash benches/cli.sh            # 1k and 10k entries
#   bash benches/cli.sh 100000     # also 100k (generation and first build take about a minute)
#   PROFILE=release bash benches/cli.sh   # the `cargo install` build instead of the shipped one
#
# The binary is built with the cargo profile $PROFILE (default `dist`, the shipped binary; see
# BENCHMARKS.md, "Build profiles"), and every figure this script prints is for that profile.
# Needs hyperfine (Debian: apt-get install hyperfine), GNU time (/usr/bin/time, package
# `time`) and git. Trees go to ${BENCH_DIR:-/tmp/memtree-bench}; results to target/bench/*.json and stdout.
# Medians of back-to-back runs on a warm page cache, one run per size, side by side.
set -euo pipefail

source "$(dirname "$0")/support/prelude.sh"
DIR="${BENCH_DIR:-/tmp/memtree-bench}"
mkdir -p "$OUT" "$DIR"

sizes=(1000 10000 "$@")
# Three vocabulary words of the generator (word(5), word(40), word(300)); see benches/support.
Q="poloka daneka benelo"

for n in "${sizes[@]}"; do
  tree="$DIR/t$n"
  if [ ! -d "$tree/.memory" ]; then
    "$GEN" "$tree" "$n"
  fi
  echo "== $n entries"
  /usr/bin/time -f "full build: %e s, peak RSS %M KB" "$M" --root "$tree" index --full >/dev/null
  "$M" --root "$tree" index >/dev/null
  sleep 2.5 # let every file leave the racy window, so the no-op check is a true no-op
  "$M" --root "$tree" index >/dev/null
  edit="$tree/.memory/domain-01/topic-00/entry-000001.md"
  hyperfine -N --warmup 3 --runs 30 --export-json "$OUT/cli-$n.json" \
    -n "memtree query (bm25)" "$M --root $tree query '$Q'" \
    -n "memtree query --json (bm25)" "$M --root $tree query --json '$Q'" \
    -n "memtree query (path tier)" "$M --root $tree query domain-03/topic-00/entry-000003" \
    -n "memtree index (no change)" "$M --root $tree index" \
    -n "grep -rli (unranked scan)" "grep -rli daneka $tree/.memory"
  hyperfine -N --warmup 2 --runs 20 --export-json "$OUT/refresh-$n.json" \
    --prepare "sh -c 'echo edit >> $edit'" \
    -n "memtree index after one edit" "$M --root $tree index"
  /usr/bin/time -f "query peak RSS: %M KB" "$M" --root "$tree" query "$Q" >/dev/null
  # The git hook (consolidate --hook) after a commit, in a repository holding the tree.
  if [ ! -d "$tree/.git" ]; then
    git -C "$tree" init -q -b main
    git -C "$tree" -c user.name=bench -c user.email=bench@localhost add -A
    git -C "$tree" -c user.name=bench -c user.email=bench@localhost commit -q -m tree
  fi
  hyperfine -N --warmup 2 --runs 20 --export-json "$OUT/hook-$n.json" \
    -n "memtree consolidate --hook (no change)" "$M --root $tree consolidate --hook"
done
