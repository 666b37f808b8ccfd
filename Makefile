# plexus — the two commands a newcomer runs are `make run` and `make test`.
# Every target installs what is missing first (scripts/install-deps.sh), so nothing else is
# needed on a fresh Debian 12 machine.

JOBS      ?= $(shell nproc)
BUILD     ?= build
ASAN      ?= build-asan
FUZZ      ?= build-fuzz
TSAN      ?= build-tsan
CMAKE_GEN := -G Ninja
# Line tables only (-g1): stack traces, sanitizer reports, perf and callgrind still name every
# file and line, and an -O2 build compiles ~40% faster than with full -g (variables in gdb are
# what it gives up; configure a build directory of your own with -g for that).
OPT_FLAGS := -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_DEBUG="-g1"
FUZZ_SECONDS ?= 20
# make soak: how long the load runs, and the seconds between samples of the server.
SOAK_SECONDS  ?= 1800
SOAK_INTERVAL ?= 10

.PHONY: all deps build docs package build-asan build-fuzz build-tsan run test test-release test-asan test-fuzz test-tsan test-soak soak bench bench-node bench-node-deps format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLEXUS_WERROR=ON $(OPT_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DPLEXUS_WERROR=ON $(OPT_FLAGS) \
	  -DPLEXUS_SANITIZE=address,undefined -DPLEXUS_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)

# libFuzzer needs clang; only the pure wire layer and its fuzz targets are built here.
build-fuzz: deps
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPLEXUS_FUZZ_ONLY=ON -DPLEXUS_FUZZ_SECONDS=$(FUZZ_SECONDS) $(OPT_FLAGS) >/dev/null
	@cmake --build $(FUZZ) -j $(JOBS)

# ThreadSanitizer, for the shared-memory transport, the I/O threads' idle wait and the
# sockets' lending only: the test binaries (unit_test, and integration_test whose suites run
# once per transport), not a third build of everything. test-tsan runs only their shm cases
# (case names end in /shm), the IdleWait ones, the direct channels' (both ends in one process,
# and the suite against a child server), the hot-read ones (sockets the idle I/O thread reads
# itself, with blocking calls posted from another thread meanwhile), and a socket lending its
# writing side (StreamLend, and blocking calls from several threads over every transport).
TSAN_TESTS := unit_test integration_test
# In those binaries, the cases named here (a GoogleTest filter).
# The CLI's cases are left out: it is a client like any other, and not building it under TSan
# saves a minute.
TSAN_FILTER := *Shm*:*/shm:*IdleWait*:*DirectEndpoint*:*HotRead*:*StreamLend*:*BlockingCalls*-*Cli*
empty :=
space := $(empty) $(empty)
# integration_test runs as shards under the sanitizers (integration_test.shard0, …).
TSAN_REGEX := ^($(subst $(space),|,$(strip $(TSAN_TESTS))))(\.shard[0-9]+)?$$
# -O1 (ThreadSanitizer's own advice is -O1 or higher): these binaries build faster than at -O2
# and their TSan cases run no slower.
build-tsan: deps
	@cmake -S . -B $(TSAN) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLEXUS_WERROR=ON \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" \
	  -DPLEXUS_SANITIZE=thread -DPLEXUS_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(TSAN) -j $(JOBS) --target $(TSAN_TESTS)

# Starts `plexus serve` with the demo services on the default Unix socket.
run: build
	@$(BUILD)/tools/plexus/plexus serve --demo

test-release: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

test-asan: build-asan
	@cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS) --timeout 600

test-tsan: build-tsan
	@cd $(TSAN) && TSAN_OPTIONS=halt_on_error=1 GTEST_FILTER='$(TSAN_FILTER)' \
	  ctest --output-on-failure -j $(JOBS) --timeout 600 -R '$(TSAN_REGEX)'

# Each target fuzzes for FUZZ_SECONDS on a core of its own, $(JOBS) at a time.
test-fuzz: build-fuzz
	@cd $(FUZZ) && ctest --output-on-failure -j $(JOBS) --timeout 300

# A soak (tests/soak/): SOAK_SECONDS of mixed load (calls, pub/sub, streams, reconnects, client
# processes killed at random) against one `plexus serve --demo`, a sample of its RSS and open
# descriptors every SOAK_INTERVAL s; fails when either keeps growing or the server answers wrong.
# Samples and summary in $(BUILD)/soak.json. Not a CTest test: ctest stays fast.
SOAK = $(BUILD)/tests/soak/plexus_soak --interval $(SOAK_INTERVAL) --json $(BUILD)/soak.json
soak: build
	@$(SOAK) --seconds $(SOAK_SECONDS)

# make test's soak: two minutes of it.
test-soak: build
	@$(SOAK) --seconds 120

# Release suite, a two-minute soak, then the same suite under ASan+UBSan, the shared-memory
# cases under TSan, then the bounded fuzz runs.
test: test-release test-soak test-asan test-tsan test-fuzz
	@echo "make test: release, soak, sanitizer and fuzz suites passed"

# Runs the seven C++ benchmarks and then the Node.js one (bench/node/node_bench.js), each writing
# JSON into $(BENCH_OUT), then writes the one current table, docs/BENCHMARKS.md, from that JSON
# (scripts/bench_table.py records the options, machine, date and commit in it). BENCH_ARGS go to
# every benchmark: `make bench BENCH_ARGS=--quick` for a short run, `BENCH_ARGS='--reps 5'` for
# more repetitions. A benchmark that fails still leaves the others' rows in the table, and
# `make bench` then fails.
BENCHES   := plexus_bench_rr plexus_bench_pubsub plexus_bench_stream plexus_bench_shm plexus_bench_conns \
             plexus_bench_durable plexus_bench_nats
BENCH_ARGS ?=
BENCH_OUT ?= $(BUILD)/bench-results
BENCH_DOC ?= docs/BENCHMARKS.md
bench: build bench-node-deps
	@cmake --build $(BUILD) -j $(JOBS) --target $(BENCHES) $(NODE_BENCH_TARGETS)
	@mkdir -p $(BENCH_OUT) && rm -f $(BENCH_OUT)/*.json
	@status=0; \
	for b in rr pubsub stream shm conns durable nats; do \
	  $(BUILD)/bench/plexus_bench_$$b $(BENCH_ARGS) --json $(BENCH_OUT)/$$b.json || status=1; \
	done; \
	$(NODE_BENCH) $(BENCH_ARGS) --json $(BENCH_OUT)/node.json || status=1; \
	python3 scripts/bench_table.py --results $(BENCH_OUT) --out $(BENCH_DOC) \
	  --options="$(BENCH_ARGS)" || status=1; \
	exit $$status

# The Node.js benchmark alone (its table on stdout, $(BENCH_OUT)/node.json; docs/BENCHMARKS.md is
# left as it is): the binding's calls to a C++ server beside the C++ client's, and the npm peers
# (zeromq, node-ipc, @grpc/grpc-js, Node's net), installed by bench-node-deps from
# bench/node/package-lock.json (not by `make test`, which needs none of them). A peer that does not
# install is a row that says so.
NODE_BENCH_DIR     := bench/node
NODE_BENCH_TARGETS := plexus_node plexus_cli plexus_bench_call
NODE_BENCH = PLEXUS_NODE_ADDON=$(abspath $(BUILD))/bindings/node/plexus.node \
  PLEXUS_CLI=$(abspath $(BUILD))/tools/plexus/plexus \
  PLEXUS_BENCH_CALL=$(abspath $(BUILD))/bench/plexus_bench_call node $(NODE_BENCH_DIR)/node_bench.js
bench-node-deps: deps
	@if [ ! -f $(NODE_BENCH_DIR)/node_modules/.package-lock.json ] || \
	   [ $(NODE_BENCH_DIR)/package-lock.json -nt $(NODE_BENCH_DIR)/node_modules/.package-lock.json ]; then \
	  echo "npm ci in $(NODE_BENCH_DIR)"; \
	  (cd $(NODE_BENCH_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || \
	    echo "bench-node-deps: npm ci failed; the peers' rows will say they did not run"; \
	fi
# Builds only what it runs: the addon, the CLI (its server) and the C++ client.
bench-node: deps bench-node-deps
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLEXUS_WERROR=ON $(OPT_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target $(NODE_BENCH_TARGETS)
	@mkdir -p $(BENCH_OUT)
	@$(NODE_BENCH) $(BENCH_ARGS) --json $(BENCH_OUT)/node.json

# The API reference (Doxygen, warnings are errors) into $(BUILD)/docs/html.
docs: build
	@cmake --build $(BUILD) --target docs

# The Debian package, $(BUILD)/plexus_<version>_amd64.deb (CPack).
package: build
	@cd $(BUILD) && cpack -G DEB

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN) $(FUZZ) $(TSAN)
