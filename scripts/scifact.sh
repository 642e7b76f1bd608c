#!/usr/bin/env bash
# The seed question for retrieval: a bridged language model against a real sentence encoder,
# on SciFact (BEIR: 300 test queries, 5183 abstracts), paired on the same queries.
#   A: all-MiniLM-L6-v2's own sentence embeddings (mean pooling, as sentence-transformers)
#   B: Gemma 3 270M's block 9 (queries) mapped by a ridge bridge into SmolLM2's block 15
#      (documents), both mean-pooled; the bridge is fitted on the PTB activations `make demo`
#      extracts. Layers are fixed in advance at mid-depth (never chosen on SciFact).
# Usage: scripts/scifact.sh BUILD SHARED OUT. Each finished part is reused on a rerun; the bridged
# embedding (hours on 2 cores) goes through OUT/bridged.cache in shards, so a killed run resumes.
set -euo pipefail
build=${1:-build}
shared=${2:-../shared}
out=${3:-out/demo/scifact}
cli="$build/latentwire"
cache=${LW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latentwire}/models
beir="$shared/data/scifact/beir_derived"
demo=$(dirname "$out")
mkdir -p "$out"
if [ ! -f "$out/minilm.per-query.jsonl" ]; then
  "$cli" retrieval --beir "$beir" --source-model "$cache/all-minilm-l6-v2.gguf" --source-layer pooled \
    --target-model "$cache/all-minilm-l6-v2.gguf" --target-layer pooled \
    --json "$out/minilm.json" --per-query "$out/minilm.per-query.jsonl"
fi
if [ ! -f "$out/gemma9-smol15.bridge.safetensors" ]; then
  "$cli" bridge fit --source "$demo/gemma-3-270m.ptb.safetensors" --source-tensor layer.9 \
    --target "$demo/smollm2-135m-instruct.ptb.safetensors" --target-tensor layer.15 \
    --out "$out/gemma9-smol15.bridge.safetensors"
fi
if [ ! -f "$out/bridged.per-query.jsonl" ]; then
  "$cli" retrieval --beir "$beir" --source-model "$cache/gemma-3-270m.gguf" --source-layer 9 \
    --target-model "$cache/smollm2-135m-instruct.gguf" --target-layer 15 \
    --bridge "$out/gemma9-smol15.bridge.safetensors" --cache "$out/bridged.cache" \
    --json "$out/bridged.json" --per-query "$out/bridged.per-query.jsonl"
fi
echo "A = MiniLM, B = Gemma 3 L9 -> SmolLM2 L15 (ridge bridge on PTB):"
"$cli" retrieval --paired "$out/minilm.per-query.jsonl" "$out/bridged.per-query.jsonl" --json "$out/paired.json"
