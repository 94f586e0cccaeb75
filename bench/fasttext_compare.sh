#!/usr/bin/env bash
# fastText (Debian's fasttext 0.9.2) and ember-classify side by side on two real public
# corpora built from Debian packages by bench/prepare_corpora.py (fortune cookies in 12
# languages; Debian package descriptions by section). Same splits, 2 threads each, a few
# settings of each tool; prints a markdown table of test accuracy, training wall time and
# peak memory (both from /usr/bin/time), each the median of RUNS runs, the tools interleaved
# so that both see the same machine load.
# Usage: [CORPORA="fortunes12 debian-sections"] bench/fasttext_compare.sh [runs=3] [work dir]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-3}
work=${2:-/tmp/ember-fasttext}
fortunes="fortunes fortunes-zh fortunes-bg fortunes-br fortunes-cs fortunes-de fortunes-eo
          fortunes-es fortunes-ga fortunes-it fortunes-pl fortunes-ru"
EMBER_EXTRA_PACKAGES="fasttext time python3 $(echo $fortunes) ${EMBER_EXTRA_PACKAGES:-}" \
  scripts/install_deps.sh
scripts/setup.sh ember-classify >/dev/null
bin=$PWD/build/examples/ember-classify
mkdir -p "$work"
/usr/bin/python3 bench/prepare_corpora.py "$work"
cd "$work"

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores)"
echo
echo "| corpus | tool | settings | test accuracy | train wall s | peak MB |"
echo "| --- | --- | --- | --- | --- | --- |"
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
# run NAME CMD...: RUNS timed runs; leaves the median wall seconds and peak MB in $wall $mb.
run() {
  local name=$1; shift
  : >"$name.times"
  for _ in $(seq 1 "$runs"); do
    /usr/bin/time -f "%e %M" -o "$name.time" "$@" >"$name.log" 2>&1
    cat "$name.time" >>"$name.times"
  done
  wall=$(cut -d' ' -f1 "$name.times" | median)
  mb=$(cut -d' ' -f2 "$name.times" | median | awk '{printf "%.0f", $1/1024}')
}
for corpus in ${CORPORA:-fortunes12 debian-sections}; do
  while IFS='|' read -r tool label args; do
    name="$corpus.$tool.$(printf %s "$label" | tr -c 'a-z0-9' '_')"
    if [ "$tool" = fastText ]; then
      run "$name" fasttext supervised -input "$corpus.train.txt" -output "$name" -thread 2 \
        -verbose 0 $args
      acc=$(fasttext test "$name.bin" "$corpus.test.txt" | awk '/^P@1/ {print $2}')
    else
      run "$name" "$bin" train --train "$corpus.train.tsv" --out "$name" --threads 2 $args
      acc=$("$bin" eval --model "$name" --data "$corpus.test.tsv" | awk '/^accuracy/ {print $2}')
    fi
    echo "| $corpus | $tool | $label | $acc | $wall | $mb |"
  done <<'SETTINGS'
fastText|defaults|
fastText|-wordNgrams 2|-wordNgrams 2
fastText|-minn 2 -maxn 5|-minn 2 -maxn 5
ember-classify|defaults|
ember-classify|--minn 2 --maxn 4|--minn 2 --maxn 4
ember-classify|--dense|--dense
SETTINGS
  # The int8 copy of the default model: file size and accuracy change.
  q=$("$bin" quantize --model "$corpus.ember-classify.defaults" --data "$corpus.test.tsv")
  echo "| $corpus | ember-classify | quantize defaults | ${q//$'\n'/; } | | |"
done
