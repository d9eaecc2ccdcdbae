#!/usr/bin/env bash
# The README's main job: the quickstart. Generates the toy world (facts about invented animals
# in six languages), then trains recipes/quickstart.yaml from scratch (pretrain, then chat) and
# ends by completing prompts whose answers it had to learn.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.build/release/mllm-cl

"$bin" data toy-world --out out/data/toyworld
"$bin" train recipes/quickstart.yaml "$@"
