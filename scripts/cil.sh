#!/usr/bin/env bash
# The class-incremental comparison: every method over three seeds (the training seed and the class
# order both change with it), then one table (`mllm-cl eval runs`: Ā = avg acc, A_B = last acc,
# BWT, forgetting, and the text-only knowledge suites before -> after, mean ± sd per method).
#   scripts/cil.sh [digits|scenes] [SEED ...]     (default: digits, seeds 1 2 3)
# digits: ../shared/data/digits, B0-Inc2. scenes: the toy world's 18 colour-shape classes
# (mllm-cl data scene-classes), B0-Inc3, for a machine without ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/mllm-cl
[ -x "$bin" ] || { bash scripts/setup.sh && swift build -c release; }
[ -d out/quickstart/checkpoints/align-step100 ] || { echo "cil: run the quickstart first (make run): its aligned model is the base" >&2; exit 1; }
[ -f out/data/toyworld/conversations.json ] || "$bin" data toy-world --out out/data/toyworld
data=${1:-digits}; shift || true
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
sets=()
if [ "$data" = scenes ]; then
  [ -d out/data/scene-classes ] || "$bin" data scene-classes --out out/data/scene-classes
  sets=(--set cil.data=out/data/scene-classes --set cil.protocol=B0-Inc3)
elif [ ! -d ../shared/data/digits ]; then
  echo "cil: ../shared/data/digits is absent: run scripts/cil.sh scenes" >&2; exit 1
fi
methods=(finetune replay ewc distill gmm gmm-replay simplecil twoteacher)
dirs=()
for m in "${methods[@]}"; do
  for s in "${seeds[@]}"; do
    out=out/cil-$data/$m-seed$s
    echo "== $m, seed $s"
    "$bin" train recipes/cil-digits-$m.yaml --overwrite --set output_dir=$out --set seed=$s \
      --set cil.class_order_seed=$((1992 + s)) "${sets[@]}" | grep -E "^(cil after task|done in)" || true
    dirs+=("$out")
  done
done
echo
"$bin" eval runs "${dirs[@]}"
