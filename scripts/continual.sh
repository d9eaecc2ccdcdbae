#!/usr/bin/env bash
# The continual-learning comparison: makes the toy task sequence's data (colour, counting and
# position questions, each its own task and suite), then runs every recipes/continual-*.yaml from
# the quickstart's aligned model and prints one table (task metrics and text-only forgetting).
#   scripts/continual.sh [RECIPE ...]     (default: every recipes/continual-*.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/mllm-cl
[ -x "$bin" ] || { bash scripts/setup.sh && swift build -c release; }
[ -d out/quickstart/checkpoints/align-step100 ] || { echo "continual: run the quickstart first (make run): its aligned model is the base" >&2; exit 1; }
[ -f out/data/toyworld/conversations.json ] || "$bin" data toy-world --out out/data/toyworld
for task in color count position; do
  "$bin" data toy-scenes --out out/data/tasks/$task --categories $task
  "$bin" data scene-suite --out out/data/tasks/suite-$task --categories $task --languages en --count 96
done
recipes=("$@")
[ ${#recipes[@]} -gt 0 ] || recipes=(recipes/continual-*.yaml)
dirs=()
for r in "${recipes[@]}"; do
  name=$(basename "$r" .yaml)
  echo "== $name"
  "$bin" train "$r" --overwrite | grep -E "^(eval after|done in)"
  dirs+=("out/$name")
done
echo
"$bin" eval runs "${dirs[@]}"
