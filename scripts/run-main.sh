#!/usr/bin/env bash
# The README's main job: the quickstart. Generates the toy world (facts about invented animals
# in six languages, and pictures of shapes), then trains recipes/quickstart.yaml from scratch:
# text stages, then a vision tower (vision, align, instruct), with the text-only suites scored
# before and after every stage; it ends with the forgetting table and the image-question accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/mllm-cl

"$bin" data toy-world --out out/data/toyworld
"$bin" data toy-scenes --out out/data/scenes
# Each run replaces out/quickstart (--overwrite), unless it continues one (make run ARGS=--resume).
overwrite=--overwrite
for a in "$@"; do [ "$a" = --resume ] && overwrite=; done
"$bin" train recipes/quickstart.yaml $overwrite "$@"
