#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (+ ASan and UBSan) in build-fuzz/ and
# runs each for SECONDS (default 30) from its seed corpus. A crash, leak or UB report fails.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors vocab tsv vectors shapes packed_sequence)
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1"
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="$flags" -DEMBER_BUILD_TESTS=OFF \
  -DEMBER_BUILD_EXAMPLES=OFF -DEMBER_FUZZ=ON >/dev/null
for t in "${targets[@]}"; do cmake --build build-fuzz -j"$(nproc 2>/dev/null || echo 2)" --target "fuzz_$t"; done
for t in "${targets[@]}"; do
  corpus=$(mktemp -d)
  cp tests/fuzz/seeds/"$t"/* "$corpus"/
  echo "fuzz_$t: ${seconds}s"
  log="$corpus.log"
  status=0
  build-fuzz/tests/fuzz/"fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/$t-" "$corpus" >"$log" 2>&1 || status=$?
  grep -E "^Done|stat::number_of_executed_units|stat::peak_rss" "$log" || true
  if [ "$status" -ne 0 ]; then
    echo "fuzz_$t found a failure (exit $status); the input is in build-fuzz/$t-*:"
    grep -E "ERROR|SUMMARY|runtime error" "$log" | head -20
    exit 1
  fi
  rm -rf "$corpus" "$log"
done
