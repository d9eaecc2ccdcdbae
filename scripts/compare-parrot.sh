#!/usr/bin/env bash
# Parrot under the paper's conditions: per seed, recipes/parrot-en-align.yaml once (a multilingual
# LM; a tower and projector that only see English captions), then from its aligned checkpoint the
# stage-2 recipes with the MoE (recipes/parrot-en.yaml) and without (recipes/parrot-en-baseline.yaml),
# for each share of non-English scene questions. Prints the image-question accuracy per language
# (mean ± sd over seeds), then each MoE run's routing: mixture, entropy and g's nearest-centroid
# accuracy per language, at the end and over training.
#
#   scripts/compare-parrot.sh [--seeds "1 2 3"] [--shares "2 10"] [--lambdas "0.1 1"] [--out DIR]
#
# --shares: the non-English share of the stage-2 scene questions, in percent (all five languages together).
# --lambdas: the MoE's residual scale λ in H' = Σ pᵢ Eᵢ(H) + λH (the paper's 0.1; the released code's 1).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds="1 2 3" shares="2 10" lambdas="0.1 1" out=out/compare-parrot
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --shares) shares=$2; shift 2 ;;
    --lambdas) lambdas=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--seeds \"1 2 3\"] [--shares \"2 10\"] [--lambdas \"0.1 1\"] [--out DIR]" >&2; exit 2 ;;
  esac
done
bin=.build/release/mllm-cl
[ -x "$bin" ] || { bash scripts/setup.sh && swift build -c release; }

"$bin" data toy-world --out out/data/toyworld
"$bin" data toy-scenes --out out/data/scenes-en --languages en
"$bin" data toy-scenes --out out/data/scenes-other --languages zh,pt,ar,tr,ru

dirs=() moe=()
for seed in $seeds; do
  trunk=$out/align-seed$seed
  echo "== English-only tower and projector, seed $seed -> $trunk"
  "$bin" train recipes/parrot-en-align.yaml --overwrite --set seed="$seed" --set output_dir="$trunk" | grep -E "^(eval after|done in)"
  aligned=$(ls -d "$trunk"/checkpoints/align-step* | sort -V | tail -1)
  for share in $shares; do
    # The other languages' weight w of their 9,600 questions against English's 1,920: share = 5w / (1 + 5w).
    weight=$(awk -v s="$share" 'BEGIN { printf "%.6f", s / (5 * (100 - s)) }')
    runs=("baseline"); for l in $lambdas; do runs+=("moe-lambda$l"); done
    for method in "${runs[@]}"; do
      recipe=recipes/parrot-en-baseline.yaml extra=()
      if [ "$method" != baseline ]; then recipe=recipes/parrot-en.yaml; extra=(--set model.parrot.residual_scale="${method#moe-lambda}"); fi
      dir=$out/$method-share$share-seed$seed
      echo "== $method, ${share}% non-English, seed $seed -> $dir"
      "$bin" train "$recipe" --overwrite --set seed="$seed" --set model.base="$aligned" --set output_dir="$dir" \
        --set stages.0.data.1.weight="$weight" ${extra[@]+"${extra[@]}"} | grep -E "^(eval after|multimodal|done in)"
      dirs+=("$dir")
      if [ "$method" != baseline ]; then moe+=("$dir"); fi
    done
  done
done
echo
"$bin" eval runs --suite 'scenes-*' --average non-English=scenes-zh,scenes-pt,scenes-ar,scenes-tr,scenes-ru "${dirs[@]}"
for dir in "${moe[@]}"; do
  echo
  echo "== $dir/router.md"
  sed -n '/^| language/,$p' "$dir/router.md"
done
