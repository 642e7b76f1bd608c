#!/usr/bin/env bash
# Install the Debian packages latentwire builds against; skips what is present.
# Safe to run repeatedly; needs root (or sudo) only when something is missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config git ninja-build python3 python3-pip python3-venv
      libopenblas-dev liblapacke-dev zlib1g-dev libbrotli-dev libzstd-dev
      libjansson-dev libssl-dev libcmocka-dev clang libclang-rt-14-dev
      chromium)  # chromium: the report's browser test (headless; tests/python/report_browser.py)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Python may come from a non-Debian install (pyenv...): accept a python3 on PATH that has pip
# and venv (the scripts fetch llama.cpp's source and the models from PyPI with pip).
if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 \
   && python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing=("${missing[@]/python3-venv}"); missing=("${missing[@]/python3-pip}"); missing=("${missing[@]/python3}")
fi
tmp=(); for p in "${missing[@]}"; do [ -n "$p" ] && tmp+=("$p"); done; missing=("${tmp[@]+"${tmp[@]}"}")
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
