#!/usr/bin/env bash
# Fails when a C++ file differs from .clang-format's layout; `--fix` rewrites them instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mapfile -t files < <(git ls-files 'src/*.cpp' 'src/*.hpp' 'include/*.hpp' 'modules/*.cpp' \
  'optim/*.cpp' 'tests/*.cpp' 'tests/*.hpp' 'examples/*.cpp' 'examples/*.hpp' \
  'examples/*/*.cpp' 'examples/*/*.hpp' 'bench/*.cpp' 'bench/*.hpp' 'bench/*/*.cpp' 2>/dev/null ||
  find src include modules optim tests examples bench -name '*.[ch]pp')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run --Werror "${files[@]}"
  echo "format: ${#files[@]} files follow .clang-format"
fi
