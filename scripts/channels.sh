#!/usr/bin/env bash
# The channel experiments of the README on the real models: the story task (200 items) through
# every channel and an AC sweep over (k, j) and the three graft functions, for each model with
# itself and across models, plus a debate. Records and summaries go to out/channels/.
set -euo pipefail
build=${1:-build}
shared=${2:-../shared}
cli="$build/latentwire"
m="$shared/models"
out=out/channels
mkdir -p "$out"
run() { # name sender receiver channels ks js
  echo "== $1"
  "$cli" channel --sender "$m/$2.gguf" --receiver "$m/$3.gguf" --task story:200 --channel "$4" --k "$5" --j "$6" \
    --op replace,sum,mean --data "$shared/data" --out "$out/$1.jsonl" --json "$out/$1.json" --resume | tee "$out/$1.txt"
}
run s260-s260 stories260K stories260K none,context,text,cipher,ac,acw 0,2,4 0,2,4
run t656-t656 tinystories656K tinystories656K none,context,text,cipher,ac,acw 0,1 0,1
run s260-t656 stories260K tinystories656K none,context,text,acw 2,4 0,1
for ch in text cipher; do
  echo "== debate ($ch)"
  "$cli" debate --agents "$m/stories260K.gguf:0,$m/stories260K.gguf:0.7,$m/stories260K.gguf:1.0" --rounds 2 \
    --channel $ch --task story:100 --answer-tokens 8 --data "$shared/data" --out "$out/debate-$ch.jsonl"
done
