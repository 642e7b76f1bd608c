#!/usr/bin/env bash
# make family: the family-universality rows of the probe panel beyond make experiments' Gemma 3 block 9 ->
# SmolLM2 block 15 (README "Family universality" and "A harder held-out test"):
#   SmolLM2 15 -> Gemma 9, Gemma 4 -> SmolLM2 7, Gemma 9 -> Qwen 14, Qwen 14 -> SmolLM2 15.
# Needs make demo's PTB activations (out/demo/*.ptb.safetensors, out/demo/ptb-1000.txt), make
# experiments' probe panel (out/demo/probes/gemma9-smol15) and the
# optional Qwen2.5-Coder-1.5B-Instruct (make models-optional). Per pair: a ridge bridge on the same
# 1000 PTB sentences, the whole panel under examples/plans/probes-v3.plan.json (out/family/PAIR/)
# and the compositionality probe under roles-v1(-qwen).plan.json (out/issue10/roles/PAIR/), each
# decided by `verdict`; and the versioning pair (Gemma 3 against itself requantized to Q4_0, both
# directions, under probes-quant.plan.json; out/versioning/). Every step reuses what a previous run
# finished. About an hour on 2 cores.
set -euo pipefail
build=${1:-build}
shared=${2:-../shared}
cli="$build/latentwire"
cache=${LW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latentwire}/models
G="$cache/gemma-3-270m.gguf"
S="$cache/smollm2-135m-instruct.gguf"
Q="$cache/qwen2.5-coder-1.5b-instruct.gguf"
demo=out/demo
for f in "$G" "$S" "$Q"; do
  [ -f "$f" ] || { echo "family: $f is missing; run make models-optional" >&2; exit 1; }
done
for f in "$demo/ptb-1000.txt" "$demo/gemma-3-270m.ptb.safetensors" "$demo/smollm2-135m-instruct.ptb.safetensors"; do
  [ -f "$f" ] || { echo "family: $f is missing; run make demo first (its PTB activations are the bridges' data)" >&2; exit 1; }
done
[ -f "$demo/probes/gemma9-smol15/probes.json" ] || {
  echo "family: $demo/probes/gemma9-smol15/probes.json is missing; run make experiments first (its probe panel is the table's first row)" >&2
  exit 1
}
mkdir -p out/family out/issue10/roles
t0=$SECONDS
step() { echo; echo "== $* ($((SECONDS - t0)) s)"; }

step "Qwen block 14 of the same 1000 PTB sentences, mean-pooled"
"$cli" extract --model "$Q" --layers 14 --pool mean --input "$demo/ptb-1000.txt" \
  --out out/family/qwen14.ptb.safetensors --shard-texts 100 --resume --threads 1

step "ridge bridges on the 1000 PTB sentences"
fit() { # source tensor target tensor name
  [ -f "out/family/$5.bridge.safetensors" ] || "$cli" bridge fit --source "$1" --source-tensor "$2" \
    --target "$3" --target-tensor "$4" --out "out/family/$5.bridge.safetensors"
}
gact="$demo/gemma-3-270m.ptb.safetensors" sact="$demo/smollm2-135m-instruct.ptb.safetensors"
qact=out/family/qwen14.ptb.safetensors
fit "$sact" layer.15 "$gact" layer.9 smol15-gemma9
fit "$gact" layer.4 "$sact" layer.7 gemma4-smol7
fit "$gact" layer.9 "$qact" layer.14 gemma9-qwen14
fit "$qact" layer.14 "$sact" layer.15 qwen14-smol15

pair() { # model-a layer-a model-b layer-b name roles-plan
  step "probe panel $5 (probes-v3)"
  [ -f "out/family/$5/records.jsonl" ] || "$cli" panel probes --a "$1" --layer-a "$2" --b "$3" --layer-b "$4" \
    --bridge "out/family/$5.bridge.safetensors" --combos 200 --topsim 80 --natural 150 --calib 300 \
    --confusers 60 --symbolic 40 --threads 1 --data "$shared/data" --plan examples/plans/probes-v3.plan.json \
    --out "out/family/$5" --resume
  "$cli" verdict examples/plans/probes-v3.plan.json "out/family/$5/records.jsonl"
  step "role binding $5 ($6)"
  [ -f "out/issue10/roles/$5/records.jsonl" ] || "$cli" panel probes --probes compositionality --a "$1" \
    --layer-a "$2" --b "$3" --layer-b "$4" --bridge "out/family/$5.bridge.safetensors" --combos 200 --topsim 80 \
    --threads 1 --data "$shared/data" --plan "examples/plans/$6.plan.json" --out "out/issue10/roles/$5" --resume
  "$cli" verdict "examples/plans/$6.plan.json" "out/issue10/roles/$5/records.jsonl"
}
pair "$S" 15 "$G" 9 smol15-gemma9 roles-v1
pair "$G" 4 "$S" 7 gemma4-smol7 roles-v1
pair "$G" 9 "$Q" 14 gemma9-qwen14 roles-v1-qwen
pair "$Q" 14 "$S" 15 qwen14-smol15 roles-v1-qwen

step "versioning: Gemma 3 block 9, Q4_K_M (as fetched) against the same file requantized to Q4_0, both directions (probes-quant)"
mkdir -p out/versioning
q40=out/versioning/gemma-3-270m-q4_0.gguf
[ -f "$q40" ] || "$cli" quantize "$G" "$q40" --type q4_0
[ -f out/versioning/gemma-q4_0.ptb.safetensors ] || "$cli" extract --model "$q40" --layers 9 --pool mean \
  --input "$demo/ptb-1000.txt" --out out/versioning/gemma-q4_0.ptb.safetensors --threads 1
qact=out/versioning/gemma-q4_0.ptb.safetensors
[ -f out/versioning/fwd.bridge.safetensors ] || "$cli" bridge fit --source "$gact" --source-tensor layer.9 \
  --target "$qact" --target-tensor layer.9 --out out/versioning/fwd.bridge.safetensors
[ -f out/versioning/bwd.bridge.safetensors ] || "$cli" bridge fit --source "$qact" --source-tensor layer.9 \
  --target "$gact" --target-tensor layer.9 --out out/versioning/bwd.bridge.safetensors
version() { # model-a model-b bridge out
  [ -f "out/versioning/$4/records.jsonl" ] || "$cli" panel probes --a "$1" --layer-a 9 --b "$2" --layer-b 9 \
    --bridge "out/versioning/$3.bridge.safetensors" --combos 200 --topsim 80 --natural 150 --calib 300 \
    --confusers 60 --symbolic 40 --threads 1 --data "$shared/data" --plan examples/plans/probes-quant.plan.json \
    --out "out/versioning/$4" --resume
  "$cli" verdict examples/plans/probes-quant.plan.json "out/versioning/$4/records.jsonl"
}
version "$G" "$q40" fwd forward
version "$q40" "$G" bwd backward

step "the five pairs in one table (make experiments' Gemma 9 -> SmolLM2 15 first)"
"$cli" panel probes merge --out out/family/universality "$demo/probes/gemma9-smol15" out/family/smol15-gemma9 \
  out/family/gemma4-smol7 out/family/gemma9-qwen14 out/family/qwen14-smol15
step "done; outputs in out/family/ and out/issue10/roles/"
