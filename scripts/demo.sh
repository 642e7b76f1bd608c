#!/usr/bin/env bash
# make demo: the main job on the real models in ../shared.
# Extracts residual-stream activations (every layer, mean-pooled) of a real text set
# (Penn Treebank test sentences) from both real models and prints a short summary.
set -euo pipefail
build=${1:-build}
shared=${2:-../shared}
cli="$build/latentwire"
models="$shared/models"
corpus="$shared/data/ptb/ptb.test.txt"
if [ ! -f "$models/stories260K.gguf" ] || [ ! -f "$corpus" ]; then
  echo "demo: the real models and data are expected in $shared (models/, data/ptb/); not found" >&2
  exit 1
fi
out=out/demo
mkdir -p "$out"
echo "== latentwire demo: activations of $(wc -l <"$corpus") PTB test sentences from two real models"
for name in stories260K tinystories656K; do
  model="$models/$name.gguf"
  echo
  echo "-- $name"
  "$cli" info "$model" | sed -n '3,9p'
  start=$SECONDS
  "$cli" extract --model "$model" --layers embed,all --pool mean --input "$corpus" --skip-untokenizable \
    --out "$out/$name.ptb.safetensors" --resume
  echo "extract took $((SECONDS - start)) s"
  "$cli" inspect "$out/$name.ptb.safetensors" | grep -v "meta latentwire"
  echo "sample (greedy):"
  "$cli" generate --model "$model" --prompt "Once upon a time" --max-tokens 32
done
echo
echo "== outputs in $out/ (safetensors: open with Python's safetensors.safe_open)"

echo
echo "== alignment: bridges from stories260K to tinystories656K, scored by retrieval"
"$cli" align --source "$models/stories260K.gguf" --target "$models/tinystories656K.gguf" \
  --data "$shared/data" --out "$out/align"

echo
echo "== channels: what stories260K can pass to itself about a story (50 items)"
"$cli" channel --sender "$models/stories260K.gguf" --receiver "$models/stories260K.gguf" --task story:50 \
  --channel none,context,text,cipher,ac --k 2 --j 4 --data "$shared/data" --out "$out/channels-story.jsonl"
