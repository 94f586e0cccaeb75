#!/usr/bin/env bash
# Install what is missing, build with warnings as errors, check formatting, run every test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
EMBER_EXTRA_PACKAGES="clang-format ${EMBER_EXTRA_PACKAGES:-}" scripts/setup.sh
scripts/check_format.sh
cd build
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)"
