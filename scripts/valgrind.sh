#!/usr/bin/env bash
# make valgrind: the CLI's main paths under valgrind (memcheck), on a llama.cpp build valgrind
# can run (LW_PORTABLE: no AVX-512, no OpenMP). Fails on any memcheck error or definite leak.
set -euo pipefail
build=${1:-build-valgrind}
shared=${2:-../shared}
prefix=$(LW_PORTABLE=1 bash scripts/fetch-llama.sh)
cmake -S . -B "$build" -G Ninja -DLLAMA_CPP_DIR="$prefix" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLW_BUILD_TESTS=OFF -DLW_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target latentwire_cli lw-make-model >/dev/null
cli="$build/latentwire"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vg() {
  echo "valgrind: latentwire $*"
  valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite "$cli" "$@" >/dev/null
}
if [ -f "$shared/models/stories260K.gguf" ]; then
  a="$shared/models/stories260K.gguf"; b="$shared/models/tinystories656K.gguf"
else
  echo "valgrind: no $shared/models, using synthetic models"
  "$build/lw-make-model" "$tmp/a.gguf" >/dev/null; "$build/lw-make-model" "$tmp/b.gguf" --embd 96 --heads 6 --kv-heads 3 --seed 7 >/dev/null
  a="$tmp/a.gguf"; b="$tmp/b.gguf"
fi
printf 'the cat sat on the mat\nthe dog ran in the park\nsmith & sons\nthe sun was hot\n' >"$tmp/c.txt"
vg info "$a"
vg generate --model "$a" --prompt "Once upon a time" --max-tokens 8 --temp 0.8 --top-p 0.9
vg extract --model "$a" --layers embed,all --input "$tmp/c.txt" --out "$tmp/a.safetensors" --skip-untokenizable
vg extract --model "$b" --layers all --pool none --input "$tmp/c.txt" --out "$tmp/b.safetensors" --skip-untokenizable
vg extract --model "$b" --layers all --input "$tmp/c.txt" --out "$tmp/bm.safetensors" --skip-untokenizable
last_b=$("$cli" inspect "$tmp/bm.safetensors" | awk '$1 ~ /^layer\./ {t=$1} END {print t}') # tensor rows, not the metadata that names them
vg bridge fit --source "$tmp/a.safetensors" --source-tensor layer.0 --target "$tmp/bm.safetensors" \
  --target-tensor "$last_b" --recipe cca --cca-reg 0.001 --out "$tmp/br.safetensors" # 3 rows: too few to choose it on
vg retrieval --queries "$tmp/a.safetensors" --query-tensor layer.0 --candidates "$tmp/bm.safetensors" \
  --candidate-tensor "$last_b" --bridge "$tmp/br.safetensors" --resamples 100
vg channel --sender "$a" --receiver "$a" --task story:2 --channel none,text,cipher,ac,acw --calib 4 \
  --message-tokens 6 --resamples 100
echo "valgrind: clean"
