#!/usr/bin/env bash
# Issue 23's budgets, measured side by side in one run: a query over three layers of 10k
# entries each against the same query over one 10k tree, peak RSS, and `layers sync` of an
# unchanged shared layer against git's own fetch.
#
#   bash benches/layers.sh              # release build
#   PROFILE=dist bash benches/layers.sh # the shipped binary
#   BASELINE=/path/to/old/memtree bash benches/layers.sh
#                                       # also: a project without layers, old binary vs this one
#
# The three layers are copies of the generated 10k tree (`examples/gen_tree`, fixed seed): the
# project, a shared layer `platform` (a clone of a bare repository, so that `layers sync` has
# a remote), and the user layer. Needs hyperfine, GNU time and git. Trees go to
# ${BENCH_DIR:-/tmp/memtree-bench}; hyperfine's JSON to target/bench/layers-*.json.
set -euo pipefail

PROFILE="${PROFILE:-release}"
source "$(dirname "$0")/support/prelude.sh"
DIR="${BENCH_DIR:-/tmp/memtree-bench}"
mkdir -p "$OUT" "$DIR"
tree="$DIR/t10000"
[ -d "$tree/.memory" ] || "$GEN" "$tree" 10000

L="$DIR/layers"
rm -rf "$L"
mkdir -p "$L/home" "$L/alone-home"
export GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
# The project, and the same tree as a shared repository and as the user layer.
cp -r "$tree" "$L/project"
cp -r "$tree" "$L/platform-work"
(cd "$L/platform-work" && git init -q -b main && git add -A && git commit -qm tree)
git clone -q --bare "$L/platform-work" "$L/platform.git"
mkdir -p "$L/home/.local/share/memtree/user"
cp -r "$tree/.memory" "$L/home/.local/share/memtree/user/.memory"
HOME="$L/home" "$M" --root "$L/project" layers add platform "$L/platform.git" >/dev/null
HOME="$L/home" "$M" --root "$L/project" layers sync >/dev/null
for h in home alone-home; do HOME="$L/$h" "$M" --root "$L/project" index >/dev/null; done
HOME="$L/home" "$M" --root "$L/project" layers list
for root in "$L/home/.cache/memtree/layers/platform" "$L/home/.local/share/memtree/user"; do
  "$M" --root "$root" index >/dev/null
done
sleep 2.5 # every file out of the racy window: the freshness checks are no-ops

run() { # NAME QUERY...
  local name="$1"; shift
  hyperfine -N --warmup 5 --runs 40 --export-json "$OUT/layers-$name.json" \
    -n "one tree" "env HOME=$L/alone-home $M --root $L/project query $* --llm never" \
    -n "three layers" "env HOME=$L/home $M --root $L/project query $* --llm never"
}
echo "== confident query (an id suffix)"
run id entry-000001
echo "== text query (three generator words)"
run text poloka daneka benelo
echo "== peak RSS"
for h in alone-home home; do
  /usr/bin/time -f "$h: %e s, peak RSS %M KB" env HOME="$L/$h" "$M" --root "$L/project" \
    query poloka daneka benelo --llm never >/dev/null
done
echo "== layers sync of an unchanged layer, and git's own fetch"
clone="$L/home/.cache/memtree/layers/platform"
hyperfine -N --warmup 2 --runs 15 --export-json "$OUT/layers-sync.json" \
  -n "git fetch" "git -C $clone fetch -q" \
  -n "memtree layers sync" "env HOME=$L/home $M --root $L/project layers sync platform"

if [ -n "${BASELINE:-}" ]; then
  echo "== a project without layers: $BASELINE vs this build"
  # Each binary on its own copy (the index schemas may differ).
  rm -rf "$L/base-project"
  cp -r "$tree" "$L/base-project"
  "$BASELINE" --root "$L/base-project" index >/dev/null
  sleep 2.5
  for q in entry-000001 "poloka daneka benelo"; do
    hyperfine -N --warmup 5 --runs 40 --export-json "$OUT/layers-none-${q%% *}.json" \
      -n "baseline" "env HOME=$L/alone-home $BASELINE --root $L/base-project query $q --llm never" \
      -n "this build" "env HOME=$L/alone-home $M --root $L/project query $q --llm never"
  done
fi
