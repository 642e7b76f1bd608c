#!/bin/sh
# The CLI is a program over the public API: cli/*.c and cli/*.h include only the library's
# public headers (include/latentwire/*.h), the CLI's own headers and system headers, never a
# private header of src/ (common/fileio.h, eval/ci_json.h, ...), so that what the CLI needs is
# there for every other C or Python user too. Lists every offender as FILE:LINE; exit 1 if any.
# Usage: cli_includes.sh SOURCE_DIR
src=$1
[ -d "$src/cli" ] || { echo "SKIP: no $src/cli"; exit 77; }
bad=""
for f in "$src"/cli/*.c "$src"/cli/*.h; do
  [ -f "$f" ] || continue
  out=$(grep -n '^[[:space:]]*#[[:space:]]*include' "$f" | while IFS= read -r line; do
    no=${line%%:*}
    inc=$(printf '%s\n' "$line" | sed -n 's/.*#[[:space:]]*include[[:space:]]*["<]\([^">]*\)[">].*/\1/p')
    case "$line" in
      *'"'*) # a quoted include: the public API or the CLI's own header
        case "$inc" in
          latentwire/*) [ -f "$src/include/$inc" ] || echo "$(basename "$f"):$no: $inc (no such public header)" ;;
          */*) echo "$(basename "$f"):$no: $inc" ;;
          *) [ -f "$src/cli/$inc" ] || echo "$(basename "$f"):$no: $inc (not a header of cli/)" ;;
        esac ;;
      *) # an angle include that resolves to a private header of src/
        [ -f "$src/src/$inc" ] && echo "$(basename "$f"):$no: <$inc>" ;;
    esac
  done)
  [ -n "$out" ] && bad="$bad$out
"
done
if [ -n "$bad" ]; then
  echo "the CLI includes headers that are not public (move what it needs into include/latentwire/):"
  printf '%s' "$bad" | sed 's/^/  /'
  exit 1
fi
echo "cli/ includes only include/latentwire/*.h, its own headers and system headers"
