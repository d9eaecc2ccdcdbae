#!/usr/bin/env bash
# Regenerates the project's own evaluation suites under evals/ (deterministic; a test checks
# that the committed files equal what this writes).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MLLM_CL:-.build/release/mllm-cl}
[ -x "$bin" ] || swift build -c release
"$bin" data knowledge-suite --out evals/toyworld
"$bin" data scene-suite --out evals/toyworld-mm
