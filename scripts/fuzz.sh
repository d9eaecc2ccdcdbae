#!/usr/bin/env bash
# Runs the libFuzzer targets (Sources/Fuzzing) for N minutes each.
#   bash scripts/fuzz.sh [MINUTES] [TARGET...]      (default 10 minutes, every target)
#   FUZZ_JOBS=2 bash scripts/fuzz.sh ...            (run two targets at a time; one per core)
# Builds mllm-cl-fuzz with -sanitize=fuzzer,address into .build-fuzz, copies each target's
# committed seeds (Tests/Fixtures/fuzz/TARGET) into a working corpus under out/fuzz/TARGET, and
# runs under libFuzzer's limits (2 GB RSS, 2 GB per allocation). Crashes and findings are saved
# as out/fuzz/TARGET/crash-*; a summary line per target gives executions and coverage.
# Replay one with: .build-fuzz/debug/mllm-cl-fuzz FILE (MLLM_CL_FUZZ_TARGET=TARGET).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(safetensors config recipe suite data image tokenizer llama2c); fi
jobs=${FUZZ_JOBS:-1}

swift build --product mllm-cl-fuzz --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING
fuzzer=.build-fuzz/debug/mllm-cl-fuzz

run_target() {
  local t=$1 dir=out/fuzz/$1 status=0
  mkdir -p "$dir/corpus"
  touch "$dir/.started"  # artifacts newer than this are this run's
  cp -n Tests/Fixtures/fuzz/"$t"/* "$dir/corpus/"
  echo "fuzz: $t for $minutes min (log $dir/fuzz.log)"
  # No Swift backtracer (it reads memory ASan flags) and no leak check: Foundation leaks 4 KiB
  # reading an empty file (readBytesFromFile), which would stop every run at its first input.
  ASAN_OPTIONS=detect_leaks=0 SWIFT_BACKTRACE=enable=no MLLM_CL_FUZZ_TARGET=$t \
    "$fuzzer" "$dir/corpus" -max_total_time=$((minutes * 60)) -rss_limit_mb=2048 \
    -malloc_limit_mb=2048 -max_len=65536 -timeout=30 -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$dir/" \
    > "$dir/fuzz.log" 2>&1 || status=$?
  local execs cov crashes
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/fuzz.log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$dir/fuzz.log" | tail -1 || echo "cov: ?")
  crashes=$(find "$dir" -maxdepth 1 -newer "$dir/.started" \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
  echo "fuzz: $t: exit $status, $execs executions, $cov, $crashes new crash files"
}

running=0
for t in "${targets[@]}"; do
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n || true; running=$((running - 1)); fi
done
wait
