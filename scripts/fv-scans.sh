#!/usr/bin/env bash
# Task-vector layer scans on function-vectors tasks (issue 9: "task-vector scans on more fv: tasks").
# The tasks, models and blocks below were written down and committed before any of these scans ran,
# so no task is reported or left out after its result was seen: every scan that finished is
# reported, and the summary adjusts the chosen-minus-floor p-values with Holm over all of them.
# Per scan: 60 items, the layer chosen on 20 (selection split), reported on the 40 held out;
# 5 demonstrations, the sender reads them with the last answer withheld (--task-vector).
# Usage: scripts/fv-scans.sh [BUILD [SHARED]]   (outputs under out/issue9/fv-scans/; resumable)
set -euo pipefail
build=${1:-build}
shared=${2:-../shared}
cli="$build/latentwire"
cache=${LW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latentwire}/models
out=out/issue9/fv-scans
# Tasks a 135M instruct model may do from text (a lookup, a morphological change, a letter): chosen
# for that, before the runs; antonym is in the README already (SmolLM2 could not do it as text).
tasks="country-capital capitalize present-past singular-plural english-french lowercase_first_letter"
# Blocks: around the first_letter peak (SmolLM2 20 of 30, Qwen 20 of 28), listed before the runs.
smol_layers=14,15,16,17,18,19,20,21,22,23,24
qwen_layers=12,14,16,18,20,22
mkdir -p "$out"
t0=$SECONDS
scan() { # model-file short-name layers task
  [ -f "$1" ] || { echo "fv-scans: $1 is missing; $2 is not scanned (make models / make models-optional)" >&2; return 0; }
  echo "== $2 fv:$4, blocks $3 ($((SECONDS - t0)) s)"
  "$cli" scan --sender "$1" --task "fv:$4" --items 60 --select-items 20 --task-vector --layers "$3" \
    --data "$shared/data" --threads 2 --out "$out/$2-$4" --resume > "$out/$2-$4.log" 2>&1 ||
    { echo "fv-scans: $2 fv:$4 failed; see $out/$2-$4.log" >&2; return 1; }
}
for t in $tasks; do scan "$cache/smollm2-135m-instruct.gguf" smol "$smol_layers" "$t"; done
for t in $tasks; do scan "$cache/qwen2.5-coder-1.5b-instruct.gguf" qwen "$qwen_layers" "$t"; done

# One line per finished scan; Holm over every finished scan's chosen - floor p-value.
python3 - "$out" $tasks <<'PY'
import json, os, sys
out, tasks = sys.argv[1], sys.argv[2:]
rows = []
for model in ("smol", "qwen"):
    for t in tasks:
        path = os.path.join(out, f"{model}-{t}", "scan.json")
        if not os.path.exists(path):
            print(f"{model:5} fv:{t:24} not run")
            continue
        s = json.load(open(path))
        c, d = s["chosen"], s["chosen"]["minus_floor"]
        rows.append((model, t, c, d, s["floor"]["held_out"], s["ceiling"]["held_out"]))
m = len(rows)
order = sorted(range(m), key=lambda i: rows[i][3]["p_value"])
holm, run = [0.0] * m, 0.0
for rank, i in enumerate(order):
    run = max(run, min(1.0, (m - rank) * rows[i][3]["p_value"]))
    holm[i] = run
ci = lambda x: f"{x['mean']:.3f} [{x['lo']:.3f}, {x['hi']:.3f}]"
for i, (model, t, c, d, fl, ce) in enumerate(rows):
    print(f"{model:5} fv:{t:24} block {c['layer']:2} select {c['select']['mean']:.3f} (n {c['select']['n']}) "
          f"held out {ci(c['held_out'])} (n {c['held_out']['n']}) floor {ci(fl)} ceiling {ci(ce)} "
          f"chosen-floor {d['mean']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}] p {d['p_value']:.2g} Holm({m}) {holm[i]:.2g}")
PY
