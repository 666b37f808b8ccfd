# plexus — the two commands a newcomer runs are `make run` and `make test`.
# Every target installs what is missing first (scripts/install-deps.sh), so nothing else is
# needed on a fresh Debian 12 machine.

JOBS      ?= $(shell nproc)
BUILD     ?= build
ASAN      ?= build-asan
FUZZ      ?= build-fuzz
CMAKE_GEN := -G Ninja
FUZZ_SECONDS ?= 20

.PHONY: all deps build build-asan build-fuzz run test test-release test-asan test-fuzz bench format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLEXUS_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DPLEXUS_WERROR=ON \
	  -DPLEXUS_SANITIZE=address,undefined -DPLEXUS_BENCH=OFF >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)

# libFuzzer needs clang; only the pure wire layer and its fuzz targets are built here.
build-fuzz: deps
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPLEXUS_FUZZ_ONLY=ON -DPLEXUS_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	@cmake --build $(FUZZ) -j $(JOBS)

# Starts `plexus serve` with the demo services on the default Unix socket.
run: build
	@$(BUILD)/tools/plexus/plexus serve --demo

test-release: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

test-asan: build-asan
	@cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS) --timeout 600

test-fuzz: build-fuzz
	@cd $(FUZZ) && ctest --output-on-failure --timeout 300

# Release suite, then the same suite under ASan+UBSan, then the bounded fuzz runs.
test: test-release test-asan test-fuzz
	@echo "make test: release, sanitizer and fuzz suites passed"

bench: build
	@$(BUILD)/bench/plexus_bench_rr --json $(BUILD)/bench-results/rr.json
	@$(BUILD)/bench/plexus_bench_pubsub --json $(BUILD)/bench-results/pubsub.json
	@$(BUILD)/bench/plexus_bench_stream --json $(BUILD)/bench-results/stream.json

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ)
