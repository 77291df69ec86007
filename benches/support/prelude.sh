# Sourced by benches/*.sh: moves to the repository's top, builds memtree with the cargo
# profile $PROFILE (default `dist`, the shipped binary; a script may set another default before
# sourcing) and the tree generator, and sets M (the binary), GEN (examples/gen_tree) and OUT
# (target/bench, created).
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PROFILE="${PROFILE:-dist}"
cargo build --profile "$PROFILE" --quiet --bin memtree
cargo build --profile eval --quiet --example gen_tree
M="$PWD/target/$PROFILE/memtree"
GEN="$PWD/target/eval/examples/gen_tree"
OUT="$PWD/target/bench"
mkdir -p "$OUT"
echo "profile: $PROFILE ($M)"
