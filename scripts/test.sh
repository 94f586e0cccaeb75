#!/usr/bin/env bash
# Install what is missing, build with warnings as errors, check formatting, run every test;
# then the same suite under ASan/LSan/UBSan and a short libFuzzer run of each file reader.
# EMBER_QUICK=1 stops after the plain test run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
EMBER_EXTRA_PACKAGES="clang-format clang libclang-rt-14-dev ${EMBER_EXTRA_PACKAGES:-}" scripts/setup.sh
scripts/check_format.sh
(cd build && ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)")
[ "${EMBER_QUICK:-0}" = "1" ] && exit 0
scripts/sanitize.sh
scripts/fuzz.sh "${EMBER_FUZZ_SECONDS:-30}"
