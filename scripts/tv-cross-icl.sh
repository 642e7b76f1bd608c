#!/usr/bin/env bash
# The task vector across families through a bridge fitted where it is used (follow-up to
# scripts/tv-cross.sh, whose generic PTB bridge carried nothing from Qwen to SmolLM2: 0.000 held
# out, n = 40). Same scans, same blocks (20 -> 20) and items; only the bridge's data changes: the
# last token of 1008 skill-format texts that end where the sender would answer (scripts/icl_texts.py:
# 12 function-vectors tasks with no letter skill among them, 4 demonstrations + a withheld query),
# so the bridge is fitted at the readout's position and format but never on the scanned skill.
# Written and committed before its run.
# Usage: scripts/tv-cross-icl.sh [BUILD [SHARED]]   (outputs under out/issue9/tv-cross/; resumable)
set -euo pipefail
build=${1:-build}
shared=${2:-../shared}
cli="$build/latentwire"
cache=${LW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latentwire}/models
S="$cache/smollm2-135m-instruct.gguf"
Q="$cache/qwen2.5-coder-1.5b-instruct.gguf"
out=out/issue9/tv-cross
for f in "$S" "$Q"; do
  [ -f "$f" ] || { echo "tv-cross-icl: $f is missing; run make models-optional" >&2; exit 1; }
done
mkdir -p "$out"
t0=$SECONDS
step() { echo; echo "== $* ($((SECONDS - t0)) s)"; }
python3 "$(dirname "$0")/icl_texts.py" "$shared/data/function_vectors" "$out/icl-1008.jsonl"

step "block 20, last token, of the 1008 skill-format texts through each model"
for m in S Q; do
  "$cli" extract --model "${!m}" --layers 20 --pool last --input "$out/icl-1008.jsonl" \
    --out "$out/$m.icl20.safetensors" --shard-texts 252 --resume --threads 2
done

step "ridge bridges on them, both directions"
fit() { # source target name
  [ -f "$out/$3.bridge.safetensors" ] || "$cli" bridge fit --source "$out/$1.icl20.safetensors" \
    --source-tensor layer.20 --target "$out/$2.icl20.safetensors" --target-tensor layer.20 \
    --out "$out/$3.bridge.safetensors"
}
fit Q S q2s-icl
fit S Q s2q-icl

step "the scans through them: Qwen -> SmolLM2 and SmolLM2 -> Qwen, block 20 -> 20"
scan() { # sender receiver bridge name
  "$cli" scan --sender "$1" --receiver "$2" --bridge "$out/$3.bridge.safetensors" --layers 20 \
    --receiver-layers 20 --task skill:first_letter --items 60 --select-items 20 --task-vector \
    --data "$shared/data" --threads 2 --out "$out/$4" --resume
}
scan "$Q" "$S" q2s-icl qwen-to-smol-icl
scan "$S" "$Q" s2q-icl smol-to-qwen-icl
echo "tv-cross-icl: done in $((SECONDS - t0)) s"
