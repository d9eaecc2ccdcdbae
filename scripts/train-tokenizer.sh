#!/usr/bin/env bash
# Trains tokenizers/toyworld.model: a SentencePiece unigram model over the toy world's six
# languages (spm_train), extended with the project's special tokens through the ModelProto
# (mllm-cl tokenizer add-tokens). Deterministic for the same spm_train version and corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MLLM_CL:-.build/release/mllm-cl}
[ -x "$bin" ] || swift build -c release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin" data toy-world --out "$work/data"
spm_train --input="$work/data/spm_corpus.txt" --model_prefix="$work/toyworld" \
  --model_type=unigram --vocab_size=512 --character_coverage=1.0 --byte_fallback=true \
  --normalization_rule_name=identity --split_digits=true \
  --unk_id=0 --bos_id=1 --eos_id=2 --pad_id=3 \
  --num_threads=1 --seed_sentencepiece_size=100000 --minloglevel=2
"$bin" tokenizer add-tokens "$work/toyworld.model" --out tokenizers/toyworld.model
