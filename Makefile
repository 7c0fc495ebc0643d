# Entry points. `make test` and `make demo` work on a fresh Debian 12 machine as root:
# both install what they need first (scripts/deps.sh).
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD_TYPE ?= RelWithDebInfo
# `make install`: where to (PREFIX), and an optional staging root (DESTDIR) for packages.
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all deps node-deps build test test-asan demo bench soak fuzz format clean install

all: build

deps:
	bash scripts/deps.sh

# The npm packages of the browser tests (package-lock.json), installed into node_modules/
# when it is missing or older than the lockfile. Before the build, because configuring
# registers the browser tests only when they can run (tests/browser/browser.cmake).
node-deps: deps
	@if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	  echo "node-deps: npm ci"; npm ci --no-audit --no-fund; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build $(BUILD) -j$(JOBS)

# The whole suite, then once more under AddressSanitizer + UndefinedBehaviorSanitizer.
test: node-deps build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	$(MAKE) test-asan

test-asan: deps node-deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DCC_SANITIZE=ON
	cmake --build $(BUILD)-asan -j$(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j$(JOBS)

demo: build
	bash scripts/demo.sh

bench: build
	bash scripts/bench.sh

# Not part of `make test`: two runs of SOAK_SECONDS (default 600) each, without and then
# with hostile connections (docs/bench.md, "Soak").
soak: build
	bash scripts/soak.sh

# The programs, man pages, systemd units, sysusers.d file, docs and example configurations
# under PREFIX, staged below DESTDIR when given (docs/operations.md, "Install and upgrade").
# Builds what is not built yet, without scripts/deps.sh (on a fresh machine `make build`
# first). Never writes a configuration file, so installing an upgrade keeps the operator's.
install:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build $(BUILD) -j$(JOBS)
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

fuzz: deps
	CC=clang-14 cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=Debug -DCC_FUZZ=ON
	cmake --build $(BUILD)-fuzz -j$(JOBS)
	bash scripts/fuzz.sh $(BUILD)-fuzz/bin

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
