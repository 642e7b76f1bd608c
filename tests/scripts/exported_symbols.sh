#!/bin/sh
# The library exports only lw_-prefixed symbols: an unprefixed global (`feed`, `make_side`)
# collides with whatever the user links beside it. Lists every offender; exit 1 if any.
# Also: no library object writes to stdout; the CLI links zlib, zstd and brotli only because library
# objects (the text codecs) call them: each one it links must have a caller, which is named.
# Usage: exported_symbols.sh NM LIBRARY.a [CLI]
nm_bin=$1
lib=$2
cli=$3
[ -f "$lib" ] || { echo "SKIP: $lib not built"; exit 77; }
# DW.ref.* are the C++ compiler's weak references to its own exception runtime (guard.cpp);
# __odr_asan.lw_* are AddressSanitizer's one-definition-rule markers of lw_ globals (the codec
# kinds' operation tables), named after them
bad=$("$nm_bin" -g --defined-only "$lib" |
  awk 'NF == 3 && $2 ~ /^[TDBRCGSVW]$/ && $3 !~ /^lw_/ && $3 !~ /^DW\.ref\./ && $3 !~ /^__odr_asan\.lw_/ {print $3}' | sort -u)
if [ -n "$bad" ]; then
  echo "exported without the lw_ prefix (make them static or name them lw_*):"
  echo "$bad" | sed 's/^/  /'
  exit 1
fi
echo "every exported symbol of $(basename "$lib") starts with lw_"
# The library returns results and reports through callbacks; only the CLI prints to stdout.
prints=$("$nm_bin" -A "$lib" 2>/dev/null | awk '$(NF-1) == "U" && $NF ~ /^(stdout|printf|puts|putchar|vprintf)$/ {print $1, $NF}')
if [ -n "$prints" ]; then
  echo "library objects that print to stdout (return results or report through a callback instead):"
  echo "$prints" | sed 's/^/  /'
  exit 1
fi
echo "no library object prints to stdout"
if [ -n "$cli" ] && command -v readelf >/dev/null; then
  needed=$(readelf -d "$cli" | grep NEEDED || true)
  undef=$("$nm_bin" -A "$lib" 2>/dev/null | awk '$(NF-1) == "U" {print $1, $NF}')
  unused=0
  # shared object : the prefix of the symbols a caller references
  for pair in 'libz\.:deflate' 'libzstd:ZSTD_' 'libbrotlienc:BrotliEncoder' 'libbrotlidec:BrotliDecoder'; do
    so=${pair%%:*}
    sym=${pair#*:}
    echo "$needed" | grep -q "$so" || continue
    users=$(echo "$undef" | awk -v s="^$sym" '$2 ~ s {n = split($1, p, ":"); print p[n - 1]}' | sort -u | tr '\n' ' ')
    if [ -z "$users" ]; then
      echo "$(basename "$cli") links ${so%\\.} but no library object calls it (${sym}*)"
      unused=1
    else
      echo "$(basename "$cli") links ${so%\\.} for: $users"
    fi
  done
  [ "$unused" -eq 0 ] || exit 1
fi
