#!/usr/bin/env bash
# Builds Ember and its tests under AddressSanitizer (with LeakSanitizer) and
# UndefinedBehaviorSanitizer in build-asan/, and runs the suite there; then ThreadSanitizer over
# the tests that run threads, in build-tsan/. Any report fails.
# Usage: scripts/sanitize.sh [asan] [tsan]   (default: both)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=$(nproc 2>/dev/null || echo 2)
stages=" ${*:-asan tsan} "

if [[ "$stages" == *" asan "* ]]; then
  flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
  cmake --build build-asan -j"$jobs"
  # The install test builds a user project, which would need the sanitizer runtime too; the
  # distributed tests run Open MPI, whose own allocations LeakSanitizer would report. A request
  # beyond ASan's largest allocation (1 TiB) returns null, as the system's refusal would, so the
  # tests of Ember's out-of-memory errors run here too instead of ASan aborting.
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1 \
    UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$jobs" -E "install_and_consume|distributed")
fi

if [[ "$stages" == *" tsan "* ]]; then
  # ThreadSanitizer: the library and ember_tests with the suites that run threads only (no
  # examples, no MPI), then the cases that run Ember's thread pool, oneDNN's pieces on it, or
  # threads of their own. The hot loops' target_clones resolvers crash TSan at start-up, so
  # EMBER_TARGET_CLONES=OFF runs the baseline loops (the same bits). -g1: line tables name the
  # lines of a report and build faster.
  start=$SECONDS
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1" \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer -O1" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" -DEMBER_TARGET_CLONES=OFF \
    -DEMBER_BUILD_EXAMPLES=OFF -DEMBER_WITH_MPI=OFF \
    -DEMBER_TEST_ONLY="test_parallel;test_gemm_engine;test_embedding;test_autograd;test_reliability" \
    >/dev/null
  cmake --build build-tsan -j"$jobs" --target ember_tests
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
  # mallinfo() does not see TSan's allocator: the malloc-settings case cannot run under it.
  build-tsan/tests/ember_tests -sf='*test_parallel.cpp,*test_gemm_engine.cpp' \
    -tce='linking Ember changes neither*'
  build-tsan/tests/ember_tests -tc='*thread*' -sfe='*test_parallel.cpp'
  echo "ThreadSanitizer stage: $((SECONDS - start)) s"
fi
