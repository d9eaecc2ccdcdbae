#!/usr/bin/env bash
# The README's main job: the quickstart. Generates the toy world (facts about invented animals
# in six languages, and pictures of shapes), then trains recipes/quickstart.yaml from scratch:
# text stages, then a vision tower (vision, align, instruct), with the text-only suites scored
# before and after every stage; it ends with the forgetting table and the image-question accuracy.
# Then the remedy: the same instruct stage again from the quickstart's aligned checkpoint, with
# Wings' learners (recipes/quickstart-wings.yaml), and both runs' last stage side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/mllm-cl

"$bin" data toy-world --out out/data/toyworld
"$bin" data toy-scenes --out out/data/scenes
# Each run replaces out/quickstart (--overwrite), unless it continues one (make run ARGS=--resume).
overwrite=--overwrite
for a in "$@"; do [ "$a" = --resume ] && overwrite=; done
"$bin" train recipes/quickstart.yaml $overwrite "$@"

echo
echo "== The remedy: instruct again from out/quickstart's aligned checkpoint, with Wings' learners"
aligned=$(ls -d out/quickstart/checkpoints/align-step* | sort -V | tail -1)
"$bin" train recipes/quickstart-wings.yaml --overwrite --set model.base="$aligned"
echo
echo "== LLaVA-style instruct (out/quickstart) and Wings (out/quickstart-wings), from the same aligned model"
"$bin" eval runs --last-stage out/quickstart out/quickstart-wings
