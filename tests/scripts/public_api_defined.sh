#!/bin/sh
# Every function the public headers (include/latentwire/*.h) declare is defined and exported by
# the library: a declaration without a definition (an API moved out of cli/ but left behind, a
# renamed function) links for no user. Lists every offender; exit 1 if any.
# Usage: public_api_defined.sh NM LIBRARY.a INCLUDE_DIR
nm_bin=$1
lib=$2
inc=$3
[ -f "$lib" ] || { echo "SKIP: $lib not built"; exit 77; }
[ -d "$inc/latentwire" ] || { echo "SKIP: no $inc/latentwire"; exit 77; }
defined=$("$nm_bin" -g --defined-only "$lib" | awk 'NF == 3 && $2 == "T" {print $3}' | sort -u)
# a declaration: a line that starts with a return type and ends its name with "(" (one per line
# in these headers; macros and function-pointer members do not start that way)
declared=$(grep -hoE '^[A-Za-z_][A-Za-z0-9_ *]*[ *](lw_[a-z0-9_]+)\(' "$inc"/latentwire/*.h |
  grep -oE 'lw_[a-z0-9_]+\($' | tr -d '(' | sort -u)
[ -n "$declared" ] || { echo "no declarations found in $inc/latentwire"; exit 1; }
missing=$(printf '%s\n' "$declared" | while read -r f; do
  printf '%s\n' "$defined" | grep -qx "$f" || echo "$f"
done)
if [ -n "$missing" ]; then
  echo "declared in include/latentwire/ but not defined by $(basename "$lib"):"
  echo "$missing" | sed 's/^/  /'
  exit 1
fi
echo "every one of the $(printf '%s\n' "$declared" | wc -l) functions the public headers declare is defined by $(basename "$lib")"
