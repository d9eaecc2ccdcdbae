#!/usr/bin/env bash
# The README's main job (until the quickstart recipe lands): the throughput benchmark, then
# a converted real model (llama2.c stories260K, from ../shared when present) generating text.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/mllm-cl
out=${OUT_DIR:-out}
mkdir -p "$out"

echo "== mllm-cl bench =="
"$bin" bench --steps 2 --json "$out/bench.json"

shared=${MLLM_CL_SHARED:-../shared}
model="$shared/models/stories260K"
if [ -f "$model/stories260K.bin" ]; then
  echo
  echo "== convert llama2.c stories260K and generate =="
  "$bin" convert llama2c "$model/stories260K.bin" --tokenizer "$model/tok512.model" --out "$out/stories260K"
  "$bin" generate --model "$out/stories260K" --prompt "Once upon a time" --max-new-tokens 80
  "$bin" generate --model "$out/stories260K" --prompt "The little dog" --max-new-tokens 80 --temperature 0.8 --top-p 0.9 --seed 7
else
  echo
  echo "(no $model: skipping the stories260K conversion and generation demo)"
fi
