#!/usr/bin/env bash
# Locate or build the pinned llama.cpp (static llama + ggml) and print its install prefix.
#
# Order: $LLAMA_CPP_DIR (an install prefix with include/llama.h and lib/); pkg-config
# `llama` whose version is the pinned one (another version is refused, naming both;
# LW_IGNORE_PKG_CONFIG=1 skips it); a cache outside the clone ($LW_CACHE_DIR, default
# ~/.cache/latentwire/llama.cpp-<commit>[-cuda-<archs>][-portable]); else the source distribution of
# llama-cpp-python from PyPI, whose sdist vendors llama.cpp's full source under
# vendor/llama.cpp: its sha256 is checked, then static llama + ggml are built into the cache.
# Set LW_CUDA=1 to build the CUDA backend (needs nvcc; LW_CUDA_ARCHS picks the architectures,
# since a machine without a GPU cannot use "native"). LW_PORTABLE=1 builds a variant for
# valgrind: no -march=native (valgrind cannot run AVX-512), AVX2 kernels, no OpenMP.
set -euo pipefail
# llama-cpp-python 0.3.36 vendors llama.cpp commit 0c1e57098 (its CHANGELOG; ggml 0.25.3).
COMMIT=0c1e57098
PYPI_PKG=llama-cpp-python==0.3.36
PYPI_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
# The version this tree writes into llama.pc (CMakeLists.txt: LLAMA_VERSION 0.5.0, dev build).
# A pkg-config install must report the same, or it is refused.
PIN_VERSION=0.5.0-dev
log() { echo "fetch-llama: $*" >&2; }

if [ -n "${LLAMA_CPP_DIR:-}" ] && [ "${LW_PORTABLE:-0}" != "1" ]; then
  if [ -f "$LLAMA_CPP_DIR/include/llama.h" ]; then echo "$LLAMA_CPP_DIR"; exit 0; fi
  log "LLAMA_CPP_DIR=$LLAMA_CPP_DIR has no include/llama.h"; exit 1
fi

# an installed llama.cpp that pkg-config knows (its prefix has include/llama.h)
if [ "${LW_IGNORE_PKG_CONFIG:-0}" != "1" ] && [ "${LW_PORTABLE:-0}" != "1" ] && pkg-config --exists llama 2>/dev/null; then
  p=$(pkg-config --variable=prefix llama)
  v=$(pkg-config --modversion llama)
  if [ "$v" != "$PIN_VERSION" ]; then
    log "pkg-config finds llama.cpp $v at $p, but latentwire is pinned to $PIN_VERSION (llama.cpp $COMMIT);"
    log "set LLAMA_CPP_DIR to a matching install, or LW_IGNORE_PKG_CONFIG=1 to build the pinned one"
    exit 1
  fi
  if [ -f "$p/include/llama.h" ]; then echo "$p"; exit 0; fi
fi

suffix=""
cuda_flag=OFF
extra=()
if [ "${LW_CUDA:-0}" = "1" ]; then
  archs=${LW_CUDA_ARCHS:-90}
  # the architectures name the cache: a "90-real" build (no PTX) is not reused for "90"
  suffix="-cuda-${archs//;/_}"; cuda_flag=ON
  # explicit architectures: "native" needs a GPU at configure time. Default sm_90 (H100/H200)
  # with its PTX; each added architecture multiplies a build that is long already
  extra+=(-DGGML_NATIVE=OFF "-DCMAKE_CUDA_ARCHITECTURES=$archs")
fi
if [ "${LW_PORTABLE:-0}" = "1" ]; then
  suffix="$suffix-portable"
  extra=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_OPENMP=OFF)
fi
cache_root=${LW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/latentwire}
# r2: built without AMX. ggml's AMX matmul (picked by -march=native on Sapphire Rapids and later)
# segfaults on Q8_0/Q4_K weights on these machines (llama.cpp issue 20824, closed unfixed), so the
# AMX code is compiled out; AVX-512 VNNI kernels do that work instead.
prefix="$cache_root/llama.cpp-${COMMIT:0:12}-r2$suffix"
if [ -f "$prefix/.complete" ]; then echo "$prefix"; exit 0; fi

mkdir -p "$cache_root"
work=$(mktemp -d "$cache_root/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
log "fetching the $PYPI_PKG source distribution from PyPI"
python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python "$PYPI_PKG" -d sdist >pip.log 2>&1 || {
  tail -5 pip.log >&2; log "pip could not download $PYPI_PKG"; exit 1; }
tarball=$(ls sdist/*.tar.gz)
got=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$got" != "$PYPI_SHA256" ]; then
  log "sha256 mismatch for $tarball: got $got, want $PYPI_SHA256"; exit 1
fi
tar -xzf "$tarball"
mv llama_cpp_python-*/vendor/llama.cpp src
log "building llama.cpp ${COMMIT:0:12} (static, CUDA=$cuda_flag); takes a few minutes"
cmake -S src -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_COMMIT=$COMMIT -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF \
  -DCMAKE_C_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" \
  -DCMAKE_CXX_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16" \
  -DGGML_CUDA=$cuda_flag "${extra[@]+"${extra[@]}"}" -DCMAKE_INSTALL_PREFIX="$prefix" >build.log 2>&1 || { tail -30 build.log >&2; exit 1; }
cmake --build build -j"${LW_BUILD_JOBS:-$(nproc)}" >>build.log 2>&1 || { tail -30 build.log >&2; exit 1; }
rm -rf "$prefix"
cmake --install build >>build.log 2>&1 || { tail -30 build.log >&2; exit 1; }
echo "$COMMIT" > "$prefix/.complete"
log "installed into $prefix"
echo "$prefix"
