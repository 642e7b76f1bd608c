#!/bin/sh
# Every public header compiles on its own, first in its translation unit, as C11 and as C++
# (a binding or a C++ user includes one header, not the set): no missing include, and the
# extern "C" guards balanced. Lists every header that fails with the compiler's first error;
# exit 1 if any. Usage: headers_alone.sh CC CXX INCLUDE_DIR [EXTRA_INCLUDE_DIR...]
cc=$1 cxx=$2 inc=$3
shift 3
[ -d "$inc/latentwire" ] || { echo "SKIP: no $inc/latentwire"; exit 77; }
flags="-I$inc"
for d in "$@"; do flags="$flags -I$d"; done
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
bad=0
for h in "$inc"/latentwire/*.h; do
  name=latentwire/$(basename "$h")
  printf '#include "%s"\nint lw_headers_alone_probe;\n' "$name" > "$tmp/t.c"
  cp "$tmp/t.c" "$tmp/t.cpp"
  if ! err=$("$cc" -std=c11 -Wall -Werror -fsyntax-only $flags "$tmp/t.c" 2>&1); then
    echo "$name as C11: $(printf '%s\n' "$err" | grep -m1 error)"; bad=1
  fi
  if [ -n "$cxx" ] && ! err=$("$cxx" -std=c++17 -Wall -Werror -fsyntax-only $flags "$tmp/t.cpp" 2>&1); then
    echo "$name as C++: $(printf '%s\n' "$err" | grep -m1 error)"; bad=1
  fi
done
[ $bad -eq 0 ] && echo "every public header compiles alone as C11 and C++"
exit $bad
