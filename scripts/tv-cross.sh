#!/usr/bin/env bash
# Does a task vector cross model families? (issue 9: "task-vector scans ... across models through a
# bridge"). Qwen2.5-Coder-1.5B-Instruct and SmolLM2-135M-Instruct each carry skill:first_letter in one
# residual vector at their block 20 when they read their own demonstrations (README "The task-vector
# readout"). Here the sender reads the demonstrations with its last answer withheld, its block-20
# residual at the last position goes through a ridge bridge into the other model's block 20, and the
# other model answers the query alone. Both directions; blocks fixed before the run (each model's own
# peak), so the 20 selection items choose nothing and the 40 held-out items are what is reported.
# The bridge is generic, not fitted on the task: the same 1000 PTB test sentences through both models,
# the last token's residual at block 20 (the readout is a last position too), ridge with alpha by GCV
# and centering (bridge fit's defaults). Written and committed before the run.
# The follow-up (its third argument `icl`, committed before its run, after the PTB bridge carried nothing
# from Qwen to SmolLM2): the same scans through bridges fitted where they are used, on the last token of
# 1008 skill-format texts that end where the sender would answer (scripts/icl_texts.py: 12
# function-vectors tasks with no letter skill among them, 4 demonstrations + a withheld query), so the
# bridge is fitted at the readout's position and format but never on the scanned skill.
# Usage: scripts/tv-cross.sh [BUILD [SHARED [ptb|icl]]]   (outputs under out/issue9/tv-cross/; resumable)
set -euo pipefail
build=${1:-build}
shared=${2:-../shared}
data=${3:-ptb}
cli="$build/latentwire"
cache=${LW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latentwire}/models
S="$cache/smollm2-135m-instruct.gguf"
Q="$cache/qwen2.5-coder-1.5b-instruct.gguf"
out=out/issue9/tv-cross
for f in "$S" "$Q"; do
  [ -f "$f" ] || { echo "tv-cross: $f is missing; run make models-optional" >&2; exit 1; }
done
mkdir -p "$out"
t0=$SECONDS
step() { echo; echo "== $* ($((SECONDS - t0)) s)"; }
case "$data" in
  ptb) input="$out/ptb-1000.txt" sfx=""
       head -n 1000 "$shared/data/ptb/ptb.test.txt" > "$input" ;;
  icl) input="$out/icl-1008.jsonl" sfx="-icl"
       python3 "$(dirname "$0")/icl_texts.py" "$shared/data/function_vectors" "$input" ;;
  *) echo "tv-cross: bridge data \"$data\": ptb or icl" >&2; exit 2 ;;
esac

step "block 20, last token, of the $data texts through each model"
for m in S Q; do
  "$cli" extract --model "${!m}" --layers 20 --pool last --input "$input" \
    --out "$out/$m.${data}20.safetensors" --shard-texts 250 --resume --threads 2
done

step "ridge bridges, both directions"
fit() { # source target name
  [ -f "$out/$3.bridge.safetensors" ] || "$cli" bridge fit --source "$out/$1.${data}20.safetensors" \
    --source-tensor layer.20 --target "$out/$2.${data}20.safetensors" --target-tensor layer.20 \
    --out "$out/$3.bridge.safetensors"
}
fit Q S "q2s$sfx"
fit S Q "s2q$sfx"

step "the scans: Qwen -> SmolLM2 and SmolLM2 -> Qwen, block 20 -> 20, skill:first_letter, task-vector readout"
scan() { # sender receiver bridge name
  "$cli" scan --sender "$1" --receiver "$2" --bridge "$out/$3.bridge.safetensors" --layers 20 \
    --receiver-layers 20 --task skill:first_letter --items 60 --select-items 20 --task-vector \
    --data "$shared/data" --threads 2 --out "$out/$4" --resume
}
scan "$Q" "$S" "q2s$sfx" "qwen-to-smol$sfx"
scan "$S" "$Q" "s2q$sfx" "smol-to-qwen$sfx"
echo "tv-cross: done in $((SECONDS - t0)) s"
