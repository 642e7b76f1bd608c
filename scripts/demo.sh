#!/usr/bin/env bash
# make demo (about 15 minutes on 2 idle cores): the real pretrained models (fetched by
# scripts/fetch-models.sh) through issue 7's list, into out/demo/:
#   1. facts of Gemma 3 270M, SmolLM2-135M-Instruct and all-MiniLM-L6-v2 from their files
#   2. residual-stream activations (every block, mean-pooled) of the first 1000 Penn Treebank
#      test sentences from Gemma 3 and SmolLM2 (LW_DEMO_PTB=N for another count)
#   3. align: bridges from Gemma 3 to SmolLM2 (cross-family), scored by retrieval with CIs
#   4. channels on the story task: SmolLM2 to itself in its chat template, Gemma 3 to SmolLM2
#   5. the patching panel (receivers x donors), decided by `verdict` under examples/plans/patching.plan.json
#   6. SciFact on a seeded sample (100 of its 300 test queries, 300 of its 5183 abstracts: every one
#      those queries judge, the rest random): MiniLM's own sentence embeddings against the bridged
#      Gemma 3 -> SmolLM2 substrate, paired on the same queries
#   7. out/demo/report.html: every result of the steps run, in one self-contained page
# LW_DEMO_PART=all (make experiments, about 28 minutes more): then issues 9 and 10's programme at the
# sizes README's findings quote: the probe panel under probes-v3.plan.json and its harder
# role-binding test under roles-v1.plan.json; the layer scan (plain and with the task-vector
# readout), the channel races (decided under examples/plans/race-smollm2*.plan.json: middle block;
# block 20 with the task-vector readout, one skill and a mixture of three) and the codec retrieval
# test on SmolLM2; and, with LW_DEMO_SCIFACT=1 only, the whole of SciFact (scripts/scifact.sh: hours
# on 2 cores). Its report shows every result of both parts.
# LW_DEMO_TOY=1 also runs the TinyStories pair from ../shared (the fast path of earlier steps).
# LW_DEMO_QUICK=1 (make demo-quick, about 15 minutes on 2 idle cores): both parts at smaller sizes
# into out/demo-quick/ (300 PTB sentences, align --quick, 20 story items, SciFact on 30 queries and
# 100 abstracts, the patching and probe panels as above, the task-vector scan on 30 items and a race
# at the layer it chooses on its selection items, with the zero-payload mean; a 150-passage codec
# retrieval test); no role-binding step, plain-readout scan and race or three-skill races. Its
# numbers are smaller-n versions of those README reports.
# Every step resumes or reuses what a previous run finished.
set -euo pipefail
build=${1:-build}
shared=${2:-../shared}
cli="$build/latentwire"
cache=${LW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latentwire}/models
gemma="$cache/gemma-3-270m.gguf"
smol="$cache/smollm2-135m-instruct.gguf"
minilm="$cache/all-minilm-l6-v2.gguf"
corpus="$shared/data/ptb/ptb.test.txt"
scifact="$shared/data/scifact/beir_derived"
for f in "$gemma" "$smol" "$minilm"; do
  [ -f "$f" ] || { echo "demo: $f is missing; run scripts/fetch-models.sh (make models)" >&2; exit 1; }
done
[ -f "$corpus" ] || { echo "demo: $corpus not found (the shared data is expected in $shared)" >&2; exit 1; }
quick=${LW_DEMO_QUICK:-0}
part=${LW_DEMO_PART:-demo}
if [ "$quick" = 1 ]; then part=all; fi
case "$part" in demo|all) ;; *) echo "demo: LW_DEMO_PART=$part: use demo or all" >&2; exit 1 ;; esac
if [ "$quick" = 1 ]; then
  out=out/demo-quick; n_ptb=${LW_DEMO_PTB:-300}; n_story=20; sample=(--sample-queries 30 --sample-docs 100)
else
  out=out/demo; n_ptb=${LW_DEMO_PTB:-1000}; n_story=50; sample=(--sample-queries 100 --sample-docs 300)
fi
mkdir -p "$out"
t0=$SECONDS
step() { echo; echo "== $* ($((SECONDS - t0)) s)"; }

step "the models, read from their GGUF headers"
for m in "$gemma" "$smol" "$minilm"; do "$cli" info "$m"; echo; done

ptb="$out/ptb-$n_ptb.txt"
head -n "$n_ptb" "$corpus" > "$ptb.tmp" && mv "$ptb.tmp" "$ptb"
step "activations of $(wc -l <"$ptb") PTB test sentences, every block, mean-pooled"
for m in gemma-3-270m smollm2-135m-instruct; do
  start=$SECONDS
  "$cli" extract --model "$cache/$m.gguf" --layers embed,all --pool mean --input "$ptb" \
    --out "$out/$m.ptb.safetensors" --resume
  echo "$m: extract took $((SECONDS - start)) s"
  "$cli" inspect "$out/$m.ptb.safetensors" | grep -v "meta latentwire" | sed -n 1,8p  # sed reads to the end: head would close the pipe early and pipefail would stop the demo (exit 141)
done
echo "sample, SmolLM2 in its chat template:"
"$cli" generate --model "$smol" --chat --prompt "Name three colors." --max-tokens 24
echo "sample, Gemma 3 (base model, plain text):"
"$cli" generate --model "$gemma" --prompt "The capital of France is" --max-tokens 16

step "align: Gemma 3 270M -> SmolLM2-135M (cross-family bridges, retrieval with 95% CIs)"
align_sizes=()
[ "$quick" = 1 ] && align_sizes=(--quick --per-domain 100 --pairs 50 --paraphrases 50)
"$cli" align --source "$gemma" --target "$smol" --data "$shared/data" ${align_sizes[@]+"${align_sizes[@]}"} --out "$out/align"

step "channels on the story task ($n_story items): SmolLM2 -> itself in its chat template"
"$cli" channel --sender "$smol" --receiver "$smol" --chat --task story:$n_story \
  --channel none,context,text,cipher,ac --k 15 --j 15 --data "$shared/data" \
  --out "$out/channels-smol-chat.jsonl" --resume
step "channels on the story task ($n_story items): Gemma 3 -> SmolLM2 (different vocabularies and widths: no CIPHER, AC through a fitted map)"
"$cli" channel --sender "$gemma" --receiver "$smol" --task story:$n_story \
  --channel none,context,text,acw --k 9 --j 15 --data "$shared/data" \
  --out "$out/channels-gemma-smol.jsonl" --resume

step "patching panel: Gemma 3 and SmolLM2 as receivers and donors (middle depth), decided under a plan written before the run"
"$cli" panel patching --receivers "$gemma,$smol" --donors "$gemma,$smol" --depths 0.5 --prompts 20 --calib 60 \
  --data "$shared/data" --plan examples/plans/patching.plan.json --out "$out/panel" --resume
"$cli" verdict examples/plans/patching.plan.json "$out/panel/records.jsonl"

# The ridge bridge from Gemma 3's block 9 to SmolLM2's block 15 on the PTB activations (mid-depth on
# both, fixed in advance): the SciFact substrate below and the probe panel of the programme read it.
bridge="$out/probes/gemma9-smol15.bridge.safetensors"
mkdir -p "$out/probes"
[ -f "$bridge" ] || "$cli" bridge fit --source "$out/gemma-3-270m.ptb.safetensors" --source-tensor layer.9 \
  --target "$out/smollm2-135m-instruct.ptb.safetensors" --target-tensor layer.15 --out "$bridge"

if [ -d "$scifact" ]; then
  step "SciFact on a seeded sample (${sample[1]} test queries, ${sample[3]} abstracts): MiniLM against the bridged Gemma 3 block 9 -> SmolLM2 block 15 substrate, paired"
  sf="$out/scifact-sample"
  mkdir -p "$sf"
  # each run's JSON is written last: it marks the run finished
  [ -f "$sf/minilm.json" ] || "$cli" retrieval --beir "$scifact" "${sample[@]}" \
    --source-model "$minilm" --source-layer pooled --target-model "$minilm" --target-layer pooled \
    --json "$sf/minilm.json" --per-query "$sf/minilm.per-query.jsonl"
  [ -f "$sf/bridged.json" ] || "$cli" retrieval --beir "$scifact" "${sample[@]}" \
    --source-model "$gemma" --source-layer 9 --target-model "$smol" --target-layer 15 --bridge "$bridge" \
    --json "$sf/bridged.json" --per-query "$sf/bridged.per-query.jsonl"
  echo "A = MiniLM, B = Gemma 3 L9 -> SmolLM2 L15 (ridge bridge on PTB), the same sampled queries:"
  "$cli" retrieval --paired "$sf/minilm.per-query.jsonl" "$sf/bridged.per-query.jsonl" --json "$sf/paired.json"
else
  echo "demo: $scifact not found: the SciFact step is left out" >&2
fi

if [ "$part" != all ] && [ "${LW_DEMO_SCIFACT:-0}" = 1 ]; then
  echo "demo: LW_DEMO_SCIFACT=1 runs all of SciFact in make experiments (LW_DEMO_PART=all), not in make demo" >&2
fi
if [ "$part" = all ]; then
step "probe panel: does the Gemma 3 block 9 -> SmolLM2 block 15 space behave like a language or a code? (plan written before the run)"
"$cli" panel probes --a "$gemma" --layer-a 9 --b "$smol" --layer-b 15 --bridge "$bridge" \
  --combos 200 --topsim 80 --natural 150 --calib 300 --confusers 60 --symbolic 40 --threads 1 \
  --data "$shared/data" --plan examples/plans/probes-v3.plan.json --out "$out/probes/gemma9-smol15" --resume
"$cli" verdict examples/plans/probes-v3.plan.json "$out/probes/gemma9-smol15/records.jsonl"
if [ "$quick" = 1 ]; then
  step "layer scan with the task-vector readout (issue 9): SmolLM2 -> itself, every block; the layer chosen on 10 items, reported on 20"
  "$cli" scan --sender "$smol" --task skill:first_letter --items 30 --select-items 10 --data "$shared/data" \
    --task-vector --out "$out/scan-smol-tv" --resume
  layer=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["chosen"]["layer"])' "$out/scan-smol-tv/scan.json")
  step "the race at the chosen block $layer: activation (pcaq, and the zero-payload mean) vs text (zlib), 30 items the scan did not choose on"
  "$cli" race --sender "$smol" --task skill:first_letter:30 --calib 30 --layer "$layer" --task-vector \
    --exclude "$out/scan-smol-tv/scan.select.jsonl" --channel floor,ceiling,mean,act:pcaq,text:zlib --budgets 16,64,256,1024 \
    --data "$shared/data" --out "$out/race-smol-tv" --resume
  step "the codec retrieval test: SmolLM2's middle block, 150 PTB passages, pass at a lower bound >= 0.85"
  "$cli" race retrieval --model "$smol" --passages "$corpus" --n 150 --calib 100 \
    --codecs topk,pcaq,zlib,truncate --out "$out/codec-retrieval" --resume
else
  step "role binding, harder: a person in a role never seen for it (roles_newgiver), decided under its own plan"
  mkdir -p "$out/roles"
  "$cli" panel probes --probes compositionality --a "$gemma" --layer-a 9 --b "$smol" --layer-b 15 --bridge "$bridge" \
    --combos 200 --topsim 80 --threads 1 --data "$shared/data" --plan examples/plans/roles-v1.plan.json \
    --out "$out/roles/gemma9-smol15" --resume
  "$cli" verdict examples/plans/roles-v1.plan.json "$out/roles/gemma9-smol15/records.jsonl"

  step "layer scan (issue 9): SmolLM2 -> itself, skill first_letter, every block; the layer chosen on 20 items, reported on 40"
  "$cli" scan --sender "$smol" --task skill:first_letter --items 60 --select-items 20 --data "$shared/data" \
    --out "$out/scan-smol" --resume
  step "the race: activation vs text channels at 16..2048 bits, SmolLM2 -> itself, decided under a plan written before the run"
  "$cli" race --sender "$smol" --task skill:first_letter:40 --calib 40 \
    --channel floor,ceiling,act:topk,act:pcaq,text:zlib,text:truncate --data "$shared/data" \
    --plan examples/plans/race-smollm2.plan.json --out "$out/race-smol" --resume
  "$cli" verdict examples/plans/race-smollm2.plan.json "$out/race-smol/records.jsonl"
  step "layer scan with the task-vector readout: the sender read where it would answer (its last answer withheld)"
  "$cli" scan --sender "$smol" --task skill:first_letter --items 60 --select-items 20 --data "$shared/data" \
    --task-vector --out "$out/scan-smol-tv" --resume
  # Block 20 is what this scan chooses on its selection split; the two plans below fixed it before their
  # runs, and --exclude keeps the 20 items it was chosen on out of both races.
  step "the race at block 20 with the task-vector readout, one skill (the codec's fitted mean can carry it)"
  "$cli" race --sender "$smol" --task skill:first_letter:60 --calib 50 --layer 20 --task-vector \
    --exclude "$out/scan-smol-tv/scan.select.jsonl" --channel floor,ceiling,act:pcaq,act:topk,text:zlib,text:truncate \
    --data "$shared/data" --plan examples/plans/race-smollm2-tv.plan.json --out "$out/race-smol-tv" --resume
  "$cli" verdict examples/plans/race-smollm2-tv.plan.json "$out/race-smol-tv/records.jsonl"
  step "the zero-payload control on the same items: the calibration mean alone, against pcaq's payload"
  "$cli" race --sender "$smol" --task skill:first_letter:60 --calib 50 --layer 20 --task-vector \
    --exclude "$out/scan-smol-tv/scan.select.jsonl" --channel floor,mean,act:pcaq,act:topk --budgets 16,64,256,1024 \
    --data "$shared/data" --plan examples/plans/race-smollm2-tv-mean.plan.json --out "$out/race-smol-tv-mean" --resume
  "$cli" verdict examples/plans/race-smollm2-tv-mean.plan.json "$out/race-smol-tv-mean/records.jsonl"
  step "the same race on a mixture of three skills: the payload has to say which"
  "$cli" race --sender "$smol" --task skill:first_letter+last_letter+repeat_word:90 --calib 90 --layer 20 --task-vector \
    --exclude "$out/scan-smol-tv/scan.select.jsonl" --channel floor,ceiling,act:pcaq,act:topk,text:zlib \
    --data "$shared/data" --plan examples/plans/race-smollm2-tv-mix.plan.json --out "$out/race-smol-tv-mix" --resume
  "$cli" verdict examples/plans/race-smollm2-tv-mix.plan.json "$out/race-smol-tv-mix/records.jsonl"
  step "the zero-payload control on the mixture: one mean for three skills, against pcaq's payload"
  "$cli" race --sender "$smol" --task skill:first_letter+last_letter+repeat_word:90 --calib 90 --layer 20 --task-vector \
    --exclude "$out/scan-smol-tv/scan.select.jsonl" --channel floor,mean,act:pcaq --budgets 16,64,256 \
    --data "$shared/data" --plan examples/plans/race-smollm2-tv-mix-mean.plan.json --out "$out/race-smol-tv-mix-mean" --resume
  "$cli" verdict examples/plans/race-smollm2-tv-mix-mean.plan.json "$out/race-smol-tv-mix-mean/records.jsonl"
  step "the codec retrieval test: SmolLM2's middle block, 300 PTB passages, pass at a lower bound >= 0.85"
  "$cli" race retrieval --model "$smol" --passages "$corpus" --n 300 --calib 200 \
    --codecs topk,pcaq,pq,sae,zlib,zstd,truncate --out "$out/codec-retrieval" --resume
fi

if [ "${LW_DEMO_SCIFACT:-0}" = "1" ] && [ -d "$scifact" ]; then
  step "SciFact, all of it: MiniLM against the bridged Gemma 3 -> SmolLM2 substrate, paired on the same queries"
  bash "$(dirname "$0")/scifact.sh" "$build" "$shared" "$out/scifact"
fi
fi # the programme (LW_DEMO_PART=all)

if [ "${LW_DEMO_TOY:-0}" = "1" ] && [ -f "$shared/models/stories260K.gguf" ]; then
  step "fast path: the TinyStories pair"
  "$cli" align --source "$shared/models/stories260K.gguf" --target "$shared/models/tinystories656K.gguf" \
    --data "$shared/data" --out "$out/align-toy" --quick
fi
step "report: every result above in one self-contained page"
results=("$out/align/align.json" "$out/channels-smol-chat.jsonl" "$out/channels-gemma-smol.jsonl" "$out/panel/panel.json")
programme=()
[ "$part" = all ] && programme=("$out/probes/gemma9-smol15/probes.json" "$out/roles/gemma9-smol15/probes.json" \
  "$out/scan-smol/scan.json" "$out/race-smol/race.json" "$out/scan-smol-tv/scan.json" "$out/race-smol-tv/race.json" \
  "$out/race-smol-tv-mean/race.json" "$out/race-smol-tv-mix/race.json" "$out/race-smol-tv-mix-mean/race.json" \
  "$out/codec-retrieval/retrieval.json" "$out/scifact/minilm.json" "$out/scifact/bridged.json" "$out/scifact/paired.json")
for f in "$out/scifact-sample/minilm.json" "$out/scifact-sample/bridged.json" "$out/scifact-sample/paired.json" \
  ${programme[@]+"${programme[@]}"} "$out/align-toy/align.json"; do
  [ -f "$f" ] && results+=("$f")
done
"$cli" report "${results[@]}" -o "$out/report.html" --title "latentwire demo: Gemma 3 270M and SmolLM2-135M"

step "done; outputs in $out/ (open $out/report.html in a browser)"
