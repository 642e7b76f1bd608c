#!/usr/bin/env bash
# The paraphrase-adjacent regime with 10 machine-generated paraphrases per target.
#
#   scripts/paraphrases.sh generate [SHARED]          (re)makes examples/data/mrpc-paraphrases.v1.jsonl
#   scripts/paraphrases.sh eval [SHARED] [OUT]        Gemma 3 270M -> SmolLM2-135M retrieval on it
#
# generate: SmolLM2-135M-Instruct paraphrases the #1 sentences of 100 MRPC training pairs a
# person judged paraphrases (drawn with seed 1), sampling (temperature 0.8, top-p 0.95, up to 40
# samples per target) until 10 pass the filter (`latentwire paraphrase generate --help`); the file
# and its provenance record (model sha256, prompt, sampling, filter, counts, date) are written
# atomically; each finished target goes to FILE.partial first, so a killed run continues where it
# stopped (--resume). About 30-60 s per target on one busy core (53 minutes for v1). The committed file is what the eval reads;
# regenerating it with the same model file and settings gives the same lines.
#
# eval: the targets through Gemma 3 270M's last block (17), mapped by a ridge bridge fitted on
# 1000 MRPC test-file sentences to SmolLM2's last block (29), ranked among SmolLM2's vectors of
# every text of the file (targets and paraphrases): each target among its own 10 paraphrases (+ D
# random others), against the control of the target among as many random others, on the same
# queries, with the paired difference (`retrieval --control`). Env: LW (the CLI, default
# build/latentwire), THREADS (default 1), N (targets, default 100), FILE (the paraphrase file).
# Only the C CLI is used: no Python, no virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-}
shared=${2:-../shared}
out=${3:-out/paraphrases}
cli=${LW:-build/latentwire}
threads=${THREADS:-1}
models=${LW_CACHE_DIR:-$HOME/.cache/latentwire}/models
smol=$models/smollm2-135m-instruct.gguf
gemma=$models/gemma-3-270m.gguf
file=${FILE:-examples/data/mrpc-paraphrases.v1.jsonl}
[ -x "$cli" ] || { echo "paraphrases: $cli not built (make build, or LW=path/to/latentwire)" >&2; exit 1; }

case "$what" in
generate)
  [ -f "$smol" ] || { echo "paraphrases: $smol is missing; run scripts/fetch-models.sh" >&2; exit 1; }
  mkdir -p "$(dirname "$file")"
  "$cli" paraphrase generate --model "$smol" --data "$shared/data" --targets "${N:-100}" --per-target 10 \
    --samples 40 --max-tokens 64 --temp 0.8 --top-p 0.95 --seed 1 --threads "$threads" --resume \
    --out "$file" --provenance "${file%.jsonl}.provenance.json"
  ;;
eval)
  for f in "$smol" "$gemma"; do
    [ -f "$f" ] || { echo "paraphrases: $f is missing; run scripts/fetch-models.sh" >&2; exit 1; }
  done
  mkdir -p "$out"
  # calibration: the #1 sentences of the first 1000 pairs of MRPC's test file (in-domain news, disjoint
  # from the training-file targets), CR line ends dropped, each once
  calib=$out/mrpc-test-1000.txt
  # (awk stops printing at 1000 but reads to the end: no `head` whose early exit fails the pipeline)
  tail -n +2 "$shared/data/mrpc/msr_paraphrase_test.txt" | cut -f4 | tr -d '\r' \
    | awk 'NF && !seen[$0]++ && n < 1000 { print; n++ }' > "$calib.tmp"
  mv "$calib.tmp" "$calib"
  src=$out/gemma-3-270m.calib.safetensors tgt=$out/smollm2-135m-instruct.calib.safetensors
  "$cli" extract --model "$gemma" --layers 17 --input "$calib" --out "$src" --threads "$threads" --resume
  "$cli" extract --model "$smol" --layers 29 --input "$calib" --out "$tgt" --threads "$threads" --resume
  bridge=$out/gemma17-smol29.mrpc.bridge.safetensors
  [ -f "$bridge" ] || "$cli" bridge fit --source "$src" --source-tensor layer.17 --target "$tgt" \
    --target-tensor layer.29 --out "$bridge"
  "$cli" paraphrase texts "$file" --out "$out/texts.txt"
  # queries: the targets (row id = line of the file); candidates: every text (row id = line of texts.txt)
  "$cli" extract --model "$gemma" --layers 17 --input "$file" --field target --out "$out/gemma.targets.safetensors" \
    --threads "$threads" --resume
  "$cli" extract --model "$smol" --layers 29 --input "$out/texts.txt" --out "$out/smol.texts.safetensors" \
    --threads "$threads" --resume
  for d in 0 9; do
    "$cli" retrieval --queries "$out/gemma.targets.safetensors" --query-tensor layer.17 \
      --candidates "$out/smol.texts.safetensors" --candidate-tensor layer.29 --bridge "$bridge" \
      --regime "para:$file:$d" --control "random:$((10 + d))" --json "$out/para-$d.json"
  done
  ;;
*)
  echo "usage: scripts/paraphrases.sh generate|eval [SHARED] [OUT]" >&2
  exit 2
  ;;
esac
