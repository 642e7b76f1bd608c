# Third-party dependencies, gathered into one interface target `lw_deps`.
#
# llama.cpp (static llama + ggml): -DLLAMA_CPP_DIR=<install prefix> (the Makefile passes
# what scripts/fetch-llama.sh prints: the user's LLAMA_CPP_DIR or the pinned build in the
# cache), else pkg-config `llama`.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenMP COMPONENTS C CXX)

set(LLAMA_CPP_DIR "$ENV{LLAMA_CPP_DIR}" CACHE PATH "llama.cpp install prefix")
add_library(lw_deps INTERFACE)
if(LLAMA_CPP_DIR)
  # a new prefix (another pin, a CUDA build) must not reuse the package dirs found for the old one
  if(NOT "${LLAMA_CPP_DIR}" STREQUAL "${LW_LLAMA_CPP_DIR_USED}")
    unset(llama_DIR CACHE)
    unset(ggml_DIR CACHE)
    unset(llama_LIBRARY CACHE)
    set(LW_LLAMA_CPP_DIR_USED "${LLAMA_CPP_DIR}" CACHE INTERNAL "")
  endif()
  list(PREPEND CMAKE_PREFIX_PATH "${LLAMA_CPP_DIR}")
  find_package(llama CONFIG REQUIRED)
  target_link_libraries(lw_deps INTERFACE llama ggml::all)
  message(STATUS "latentwire: llama.cpp from ${LLAMA_CPP_DIR}")
  # A static CUDA build (make cuda): ggml's exported targets do not carry the CUDA runtime
  # libraries ggml-cuda was linked against, so name them here.
  if(EXISTS "${LLAMA_CPP_DIR}/lib/libggml-cuda.a")
    find_package(CUDAToolkit REQUIRED)
    target_link_libraries(lw_deps INTERFACE CUDA::cudart CUDA::cublas CUDA::cublasLt CUDA::cuda_driver)
    # ggml-cuda uses NCCL for multi-GPU when its configure found it (the toolkit here ships it)
    find_library(LW_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR})
    if(LW_NCCL_LIBRARY)
      target_link_libraries(lw_deps INTERFACE ${LW_NCCL_LIBRARY})
    endif()
    set(LW_HAVE_CUDA ON)
    message(STATUS "latentwire: CUDA backend (CUDA ${CUDAToolkit_VERSION})")
  endif()
else()
  pkg_check_modules(LLAMA REQUIRED IMPORTED_TARGET llama)
  target_link_libraries(lw_deps INTERFACE PkgConfig::LLAMA)
  message(STATUS "latentwire: llama.cpp from pkg-config")
endif()

pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
# zlib, zstd and brotli: the text codecs (src/codec/text_*.c); exported_symbols checks the CLI
# links them because they are used, and nothing else it does not use.
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(BROTLI REQUIRED IMPORTED_TARGET libbrotlienc libbrotlidec)
pkg_check_modules(CRYPTO REQUIRED IMPORTED_TARGET libcrypto)
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
find_path(LAPACKE_INCLUDE_DIR lapacke.h REQUIRED)
find_library(LAPACKE_LIBRARY lapacke REQUIRED)

target_link_libraries(lw_deps INTERFACE
  PkgConfig::JANSSON PkgConfig::CRYPTO PkgConfig::ZLIB PkgConfig::ZSTD PkgConfig::BROTLI
  ${LAPACKE_LIBRARY} PkgConfig::OPENBLAS Threads::Threads m stdc++)
target_include_directories(lw_deps INTERFACE ${LAPACKE_INCLUDE_DIR})
if(OpenMP_C_FOUND)
  target_link_libraries(lw_deps INTERFACE OpenMP::OpenMP_C)
endif()
