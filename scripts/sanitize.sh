#!/usr/bin/env bash
# Builds Ember and its tests under AddressSanitizer (with LeakSanitizer) and
# UndefinedBehaviorSanitizer in build-asan/, and runs the suite there. Any report fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build build-asan -j"$(nproc 2>/dev/null || echo 2)"
cd build-asan
# The install test builds a user project, which would need the sanitizer runtime too; the
# distributed tests run Open MPI, whose own allocations LeakSanitizer would report.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" -E "install_and_consume|distributed"
