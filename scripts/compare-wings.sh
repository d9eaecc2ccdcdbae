#!/usr/bin/env bash
# The Wings paper's table on the real stories260K: the base LM (every row's "before"), LLaVA-style
# training, LoRA on the LM, and Wings: recipes/stories260k-{llava,lora,wings}.yaml on the same
# English toy data, seeds and steps. Prints one table: TinyStories cloze acc / acc_norm before and
# after, toy-scene question accuracy, wall time (mean ± sd rows when several seeds are given).
#
#   scripts/compare-wings.sh [--base DIR] [--seeds "1 2 3"] [--out DIR]
#
# --base: a converted stories260K (default: converted here from ../shared/models/stories260K).
set -euo pipefail
cd "$(dirname "$0")/.."
base="" seeds="1 2 3" out=out/compare-wings
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--base DIR] [--seeds \"1 2 3\"] [--out DIR]" >&2; exit 2 ;;
  esac
done
bin=.build/release/mllm-cl
[ -x "$bin" ] || { bash scripts/setup.sh && swift build -c release; }

if [ -z "$base" ]; then
  shared=../shared/models/stories260K
  [ -f "$shared/stories260K.bin" ] || { echo "compare-wings: no --base and no $shared/stories260K.bin" >&2; exit 1; }
  base=$out/stories260K
  "$bin" convert llama2c "$shared/stories260K.bin" --tokenizer "$shared/tok512.model" --out "$base"
fi
[ -d ../shared/data/tinystories/cloze ] || { echo "compare-wings: the cloze suite ../shared/data/tinystories/cloze is missing" >&2; exit 1; }

"$bin" data toy-scenes --out out/data/scenes-en --languages en
"$bin" data toy-world --out out/data/toyworld-en --languages en

dirs=()
for seed in $seeds; do
  for method in llava lora wings; do
    dir=$out/$method-seed$seed
    echo "== $method, seed $seed -> $dir"
    "$bin" train recipes/stories260k-$method.yaml --overwrite --set model.base="$base" --set seed="$seed" --set output_dir="$dir" \
      | grep -E "^(eval after|done in)"
    dirs+=("$dir")
  done
done
echo
"$bin" eval runs "${dirs[@]}"
