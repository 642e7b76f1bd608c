#!/usr/bin/env bash
# Locate or build the pinned llama.cpp (static llama + ggml) and print its install prefix.
#
# Order: $LLAMA_CPP_DIR (an install prefix with include/llama.h and lib/); pkg-config
# `llama` (an installed llama.cpp; LW_IGNORE_PKG_CONFIG=1 skips it); a cache outside the
# clone ($LW_CACHE_DIR, default ~/.cache/latentwire/llama.cpp-<commit>[-cuda]); else fetch
# the source from the npm registry (node-llama-cpp carries it as a git bundle), verify the
# tarball's sha256, build and install into the cache.
# Set LW_CUDA=1 to build the CUDA backend (needs nvcc). LW_PORTABLE=1 builds a variant for
# valgrind: no -march=native (valgrind cannot run AVX-512), AVX2 kernels, no OpenMP.
set -euo pipefail
COMMIT=de3ff815ea7d559ee917f063901b8986f038abc6
NPM_PKG=node-llama-cpp@3.22.1
NPM_SHA256=a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f
log() { echo "fetch-llama: $*" >&2; }

if [ -n "${LLAMA_CPP_DIR:-}" ] && [ "${LW_PORTABLE:-0}" != "1" ]; then
  if [ -f "$LLAMA_CPP_DIR/include/llama.h" ]; then echo "$LLAMA_CPP_DIR"; exit 0; fi
  log "LLAMA_CPP_DIR=$LLAMA_CPP_DIR has no include/llama.h"; exit 1
fi

# an installed llama.cpp that pkg-config knows (its prefix has include/llama.h)
if [ "${LW_IGNORE_PKG_CONFIG:-0}" != "1" ] && [ "${LW_PORTABLE:-0}" != "1" ] && pkg-config --exists llama 2>/dev/null; then
  p=$(pkg-config --variable=prefix llama)
  if [ -f "$p/include/llama.h" ]; then echo "$p"; exit 0; fi
fi

suffix=""
cuda_flag=OFF
extra=()
if [ "${LW_CUDA:-0}" = "1" ]; then suffix="-cuda"; cuda_flag=ON; fi
if [ "${LW_PORTABLE:-0}" = "1" ]; then
  suffix="$suffix-portable"
  extra=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_OPENMP=OFF)
fi
cache_root=${LW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latentwire}
prefix="$cache_root/llama.cpp-${COMMIT:0:12}$suffix"
if [ -f "$prefix/.complete" ]; then echo "$prefix"; exit 0; fi

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
log "fetching $NPM_PKG from the npm registry"
tarball=$(npm pack "$NPM_PKG" --silent 2>/dev/null | tail -n1)
got=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$got" != "$NPM_SHA256" ]; then
  log "sha256 mismatch for $tarball: got $got, want $NPM_SHA256"; exit 1
fi
tar -xzf "$tarball" package/llama/gitRelease.bundle
git clone -q package/llama/gitRelease.bundle src 2>/dev/null || git clone -q --no-checkout package/llama/gitRelease.bundle src
git -C src -c advice.detachedHead=false checkout -q "$COMMIT"
log "building llama.cpp ${COMMIT:0:12} (static, CUDA=$cuda_flag); takes a few minutes"
cmake -S src -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF \
  -DGGML_CUDA=$cuda_flag "${extra[@]+"${extra[@]}"}" -DCMAKE_INSTALL_PREFIX="$prefix" >build.log 2>&1 || { tail -30 build.log >&2; exit 1; }
cmake --build build -j"$(nproc)" >>build.log 2>&1 || { tail -30 build.log >&2; exit 1; }
rm -rf "$prefix"
cmake --install build >>build.log 2>&1 || { tail -30 build.log >&2; exit 1; }
echo "$COMMIT" > "$prefix/.complete"
log "installed into $prefix"
echo "$prefix"
