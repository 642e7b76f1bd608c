#!/bin/sh
# Every public destructor (void lw_*_free / lw_*_close of one pointer) is called with NULL in
# test_api_args.c, so a new one that dereferences NULL fails under ASan there instead of in a
# binding's error path. Lists the ones missing; exit 1 if any. Usage: free_null_listed.sh SOURCE_DIR
src=$1
[ -d "$src/include/latentwire" ] && [ -f "$src/tests/test_api_args.c" ] || { echo "SKIP: no sources at $src"; exit 77; }
missing=0
for name in $(grep -ho '^void lw_[a-z0-9_]*_\(free\|close\)([^,)]*);' "$src"/include/latentwire/*.h | sed 's/^void \([a-z0-9_]*\)(.*/\1/' | sort -u); do
  grep -q "$name(NULL)" "$src/tests/test_api_args.c" || { echo "$name is never called with NULL in tests/test_api_args.c"; missing=1; }
done
[ $missing -eq 0 ] && echo "every public destructor is called with NULL in test_api_args"
exit $missing
