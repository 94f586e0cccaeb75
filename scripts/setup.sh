#!/usr/bin/env bash
# Installs what is missing from Debian's packages, then configures and builds Ember in build/.
# Idempotent. Used by run_example.sh and test.sh; EMBER_EXTRA_PACKAGES adds packages, and
# arguments name the targets to build (default: all).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install_deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${EMBER_CMAKE_ARGS:-} >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build -j"$jobs" "${targets[@]}"
