#!/usr/bin/env bash
# Installs the Debian packages Ember needs that are missing (plus EMBER_EXTRA_PACKAGES).
# Idempotent; when not root it prints the exact apt-get line and stops.
set -euo pipefail
packages=(cmake g++ make libxtensor-dev xtl-dev libxsimd-dev libxtensor-blas-dev libopenblas-dev
          libdnnl-dev doctest-dev libutf8proc-dev libcli11-dev libopenmpi-dev openmpi-bin
          ${EMBER_EXTRA_PACKAGES:-})
# Multilingual text for the tokenizer tests' 1 MB check (tests/test_tokenizers.cpp; skipped
# without them) and for ember-lm's examples.
packages+=(fortunes fortunes-de fortunes-es fortunes-it fortunes-ru fortunes-zh)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Ember needs these Debian packages; run as root:"
    echo "  apt-get update && apt-get install -y ${missing[*]}"
    exit 1
  fi
  echo "Installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

