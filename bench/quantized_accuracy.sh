#!/usr/bin/env bash
# Test accuracy of ember-classify models in float32 and with their Linear and LSTM layers in
# int8 (`eval --int8`, nn::quantize_dynamic), on the two corpora of bench/fasttext_compare.sh
# (built by bench/prepare_corpora.py from Debian packages). Trains each model once (defaults,
# 2 threads), then evaluates it both ways; eval wall seconds are the median of RUNS runs.
# Usage: [MODELS="lstm bag transformer"] [CORPORA="fortunes12 debian-sections"]
#        bench/quantized_accuracy.sh [build dir=build-bench] [work dir] [runs=3]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build-bench}
work=${2:-/tmp/ember-int8}
runs=${3:-3}
bin=$PWD/$build/examples/ember-classify
mkdir -p "$work"
[ -f "$work/fortunes12.test.tsv" ] || /usr/bin/python3 bench/prepare_corpora.py "$work"
cd "$work"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores); $("$bin" eval --help >/dev/null; echo ember-classify)"
echo
echo "| corpus | model | float32 accuracy | int8 accuracy | drop (points) | float32 eval s | int8 eval s |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
evaluate() {  # evaluate MODEL DATA [--int8]: accuracy, then the median wall seconds
  local times=() acc
  for _ in $(seq 1 "$runs"); do
    local t0 t1
    t0=$(date +%s.%N)
    acc=$("$bin" eval --model "$1" --data "$2" "${@:3}" 2>/dev/null | awk '/^accuracy/ {print $2}')
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc)")
  done
  echo "$acc $(printf '%s\n' "${times[@]}" | median | xargs printf '%.2f')"
}
for corpus in ${CORPORA:-fortunes12 debian-sections}; do
  for model in ${MODELS:-lstm bag transformer}; do
    dir="$corpus.$model"
    [ -f "$dir/model.safetensors" ] ||
      "$bin" train --train "$corpus.train.tsv" --out "$dir" --model "$model" --threads 2 >"$dir.log"
    read -r fa ft <<<"$(evaluate "$dir" "$corpus.test.tsv")"
    read -r qa qt <<<"$(evaluate "$dir" "$corpus.test.tsv" --int8)"
    drop=$(echo "($fa - $qa) * 100" | bc -l | xargs printf '%.2f')
    echo "| $corpus | $model | $fa | $qa | $drop | $ft | $qt |"
  done
done
