#!/usr/bin/env bash
# make bench: extraction throughput against plain llama.cpp, side by side, on the real
# models and on a synthetic ~1B-parameter model (width 2048, 16 layers, 32k vocab, Q8_0)
# written once by lw-make-model into the cache. Figures go into BENCHMARKS.md by hand.
set -euo pipefail
build=${1:-build}
shared=${2:-../shared}
corpus="$shared/data/ptb/ptb.test.txt"
cache=${LW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latentwire}/bench
mkdir -p "$cache"
big="$cache/synth-1b-q8_0.gguf"
if [ ! -f "$big" ]; then
  echo "bench: writing the synthetic 1B model to $big (once)"
  "$build/lw-make-model" "$big.tmp" --vocab 32000 --embd 2048 --layers 16 --heads 32 --kv-heads 32 \
    --ff 5632 --ctx 2048 --type q8_0 --untied
  mv "$big.tmp" "$big"
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
models=${LW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latentwire}/models
for m in gemma-3-270m smollm2-135m-instruct; do
  [ -f "$models/$m.gguf" ] || { echo "bench: $models/$m.gguf missing (make models)" >&2; exit 1; }
  "$build/bench/bench_extract" "$models/$m.gguf" "$corpus" --texts 128 --reps 3 --batch 2 --rss "$build/latentwire"
done
# the optional "realistic size" model (make models-optional), when fetched
qwen="$models/qwen2.5-coder-1.5b-instruct.gguf"
if [ -f "$qwen" ]; then
  "$build/bench/bench_extract" "$qwen" "$corpus" --texts 32 --reps 3 --batch 2 --rss "$build/latentwire"
else
  echo "bench: $qwen not fetched (make models-optional): its row is skipped"
fi
for m in stories260K tinystories656K; do
  "$build/bench/bench_extract" "$shared/models/$m.gguf" "$corpus" --texts 256 --reps 5 --batch 2 --rss "$build/latentwire"
done
echo
echo "fetch and verify, per model (cold: a fresh cache dir; warm: the stamp check):"
tmpcache=$(mktemp -d)
for m in gemma-3-270m smollm2-135m-instruct all-minilm-l6-v2; do
  start=$(date +%s%N)
  LW_CACHE_DIR="$tmpcache" python3 "$(dirname "$0")/fetch_models.py" "$m" 2>/dev/null
  mid=$(date +%s%N)
  LW_CACHE_DIR="$tmpcache" python3 "$(dirname "$0")/fetch_models.py" "$m" 2>/dev/null
  end=$(date +%s%N)
  echo "  $m: cold $(( (mid - start) / 1000000 )) ms, warm $(( (end - mid) / 1000000 )) ms"
done
rm -rf "$tmpcache"
"$build/bench/bench_extract" "$big" "$corpus" --texts ${LW_BENCH_BIG_TEXTS:-8} --reps 3 --batch 2

# Channel cost per item, side by side on the same items (the cost table of `channel`).
echo
echo "channel cost, stories260K -> stories260K, story task (20 items):"
"$build/latentwire" channel --sender "$shared/models/stories260K.gguf" --receiver "$shared/models/stories260K.gguf" \
  --task story:20 --channel none,text,cipher,ac --k -1 --j -1 --resamples 200 --data "$shared/data" | sed -n '/^condition/,/^$/p'
echo "channel cost, stories260K -> tinystories656K, story task (20 items):"
"$build/latentwire" channel --sender "$shared/models/stories260K.gguf" --receiver "$shared/models/tinystories656K.gguf" \
  --task story:20 --channel none,text,ac --k -1 --j -1 --resamples 200 --data "$shared/data" | sed -n '/^condition/,/^$/p'
echo "channel cost, synthetic 1B -> synthetic 1B, story task (${LW_BENCH_BIG_ITEMS:-4} items):"
"$build/latentwire" channel --sender "$big" --receiver "$big" --task story:${LW_BENCH_BIG_ITEMS:-4} \
  --channel none,text,cipher,ac --k -1 --j -1 --resamples 200 --data "$shared/data" | sed -n '/^condition/,/^$/p'
