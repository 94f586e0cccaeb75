#!/usr/bin/env bash
# One command for a newcomer: install what is missing, build, train the sentence classifier on
# the bundled data and print its test accuracy.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh ember-classify
exec build/examples/ember-classify "$@"
