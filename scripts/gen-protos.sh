#!/usr/bin/env bash
# Regenerates the committed Swift code for proto/*.proto. Needs protoc (apt: protobuf-compiler)
# and protoc-gen-swift 1.39.0 (build it once from swift-protobuf: swift build -c release
# --product protoc-gen-swift) on PATH or in $PROTOC_GEN_SWIFT. Builds never run this.
set -euo pipefail
cd "$(dirname "$0")/.."
plugin=${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift)}
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public \
  --swift_out=Sources/Tokenizer/Proto -I proto proto/sentencepiece_model.proto
mkdir -p Sources/Train/Logging/Proto
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public \
  --swift_out=Sources/Train/Logging/Proto -I proto proto/tensorboard_event.proto
