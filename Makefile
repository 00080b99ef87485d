# pgcopy: `make demo` to see it work, `make test` to test it.
SHELL := /bin/bash
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PREFIX ?= /usr/local
DEMO_DIR ?= /tmp/pgcopy-demo
# /dev/shm when it is a memory file system with 4 GiB free (the rule of the
# tests' clusters, tests/src/lib.rs cluster_dir): creating a file on this
# machine's disk costs about a millisecond, and a server creates thousands.
MEMORY_DIR := $(shell df -k --output=fstype,avail /dev/shm 2>/dev/null | \
    awk 'NR == 2 && $$1 == "tmpfs" && $$2 >= 4194304 { print "/dev/shm" }')
PGRX_TEST_DATA ?= $(or $(MEMORY_DIR),/tmp)/pgcopy-pgrx-test
# One selection of packages for every build of the CLI and its tests: cargo
# unifies features over the packages an invocation names (with their
# dev-dependencies when it builds tests), so each other selection built the
# shared dependencies again (52 s of make test's).
TEST_PACKAGES := -p pgcopy-core -p pgcopy-cli -p pgcopy-tests
# The debug builds of the extension (make test's) leave out cargo-pgrx's
# "-Wl,--no-gc-sections" (a guard for aarch64 linkers that drop the schema
# section; a build that lost it fails at cargo pgrx schema, never quietly).
# With it, the build the pgrx tests install and the test harness they run
# differ in their flags, and every dependency was built twice (72 s).
# Release builds keep it.
PGRX_DEBUG := CARGO_PGRX_DISABLE_GC_SECTIONS_WORKAROUND=1
export PGRX_PG_CONFIG_PATH := $(PG_CONFIG)
# Test servers must not inherit Rust backtraces (they leak into error details).
unexport RUST_BACKTRACE

.PHONY: setup build install install-ext install-ext-debug extensions package test-package test test-versions lint unit pgtest integration integration-build integration-run chaos demo demo-stop bench clean

setup:
	@bash scripts/setup.sh

build: setup
	cargo build --profile release-lto -p pgcopy-cli
	cd pgcopy-ext && cargo pgrx package --pg-config $(PG_CONFIG) >/dev/null

install-ext: setup
	cd pgcopy-ext && cargo pgrx install --release --pg-config $(PG_CONFIG)

# The extension as make test installs it: a debug build, which reuses what
# the pgrx tests compiled (the release build costs a minute more and tests
# nothing the debug one does not).
install-ext-debug: setup
	cd pgcopy-ext && $(PGRX_DEBUG) cargo pgrx install --pg-config $(PG_CONFIG)

# The extension for another PostgreSQL major N (14, 16, 17, 18; 15 is the
# system's): its server headers are fetched once into target/pg-headers/N
# (scripts/pg-headers.sh), and the package, in Debian's layout
# (usr/lib/postgresql/N/lib, usr/share/postgresql/N/extension), lands in
# target/$(EXT_PROFILE)/pgcopy-pgN (EXT_PROFILE=debug: a debug build, as
# make test uses).
EXT_MAJORS ?= 14 16 17 18
EXT_PROFILE ?= release
ext-%: setup
	pgc=$$(bash scripts/pg-headers.sh $*) && cd pgcopy-ext && PGRX_PG_CONFIG_PATH=$$pgc \
	    $(if $(filter debug,$(EXT_PROFILE)),$(PGRX_DEBUG)) \
	    cargo pgrx package $(if $(filter debug,$(EXT_PROFILE)),--debug) --pg-config $$pgc \
	    --no-default-features --features pg$*

extensions: $(addprefix ext-,$(EXT_MAJORS))

# .deb packages into target/debian: pgcopy (the CLI, man pages, completions)
# and postgresql-N-pgcopy for 15 and every major of EXT_MAJORS.
package: build extensions
	bash scripts/package.sh

# Packages what make test builds (the debug CLI, which skips the LTO build's
# minutes, the extension for 15 and any other major built), installs them
# with apt-get (root), copies pagila with them, and removes them again.
test-package: install-ext-debug
	cargo build $(TEST_PACKAGES) --bins --tests
	cd pgcopy-ext && $(PGRX_DEBUG) cargo pgrx package --debug --pg-config $(PG_CONFIG) >/dev/null
	PACKAGE_BIN=target/debug/pgcopy PACKAGE_EXT_PROFILE=debug PACKAGE_COMPRESSION=gzip \
	    bash scripts/package.sh
	cargo test $(TEST_PACKAGES) --test integration package:: -- --ignored --nocapture

install: build install-ext
	install -m 755 target/release-lto/pgcopy $(PREFIX)/bin/pgcopy
	install -d $(PREFIX)/share/man/man1
	$(PREFIX)/bin/pgcopy man $(PREFIX)/share/man/man1

# The docs: one run over the workspace, as clippy's, reuses its
# dependencies (two runs over other selections built them again: 72 to 88 s
# against 35). cargo warns of an "output filename collision": the
# extension's library and the CLI are both called pgcopy and share
# doc/pgcopy (cargo issue 6313); what this checks is rustdoc's warnings,
# not those pages.
lint: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace

unit:
	cargo test $(TEST_PACKAGES) --lib --bins
	cargo test $(TEST_PACKAGES) --doc

# The extension's #[pg_test]s run in a throwaway server as the postgres OS user;
# they install a debug build with the test functions, so make integration
# installs its own build again after.
pgtest: setup
	rm -rf $(PGRX_TEST_DATA) && mkdir -p $(PGRX_TEST_DATA)
	if [ "$$(id -u)" -eq 0 ]; then chown postgres:postgres $(PGRX_TEST_DATA); fi
	cd pgcopy-ext && if [ "$$(id -u)" -eq 0 ]; then \
	    $(PGRX_DEBUG) cargo pgrx test pg15 --runas postgres --pgdata $(PGRX_TEST_DATA); \
	  else $(PGRX_DEBUG) cargo pgrx test pg15; fi

# The extension is tested on the system's 15 and on 17 (make test-versions:
# on every major it is built for), in debug builds. Six tests at a time on
# two cores: much of a test's time is spent waiting (for a server, a phase, a
# signal, a failpoint's pause), and its clusters live in memory
# (tests/src/lib.rs, cluster_dir). At six the cores are busy throughout
# (416 CPU seconds in 210 s; at four, 227 s).
integration: integration-build
	$(MAKE) --no-print-directory integration-run

integration-build: install-ext-debug
	$(MAKE) --no-print-directory ext-17 EXT_PROFILE=debug
	cargo build $(TEST_PACKAGES) --bins --tests

# The suite, as integration-build built it, runs from its executable, as
# cargo test would run it (from tests/), so that no cargo holds the target
# directory while it runs (make test's lint works there meanwhile).
INTEGRATION_BIN_SH = cargo test $(TEST_PACKAGES) --test integration --no-run 2>&1 | \
    grep -o '[^ ()]*deps/integration-[0-9a-f]*' | head -1
INTEGRATION_BIN = $(shell $(INTEGRATION_BIN_SH))
integration-run:
	@bin='$(INTEGRATION_BIN)'; [ -n "$$bin" ] || { \
	    echo "make: the integration tests' executable was not found (make integration-build)" >&2; exit 1; }; \
	bin=$$(realpath "$$bin") && cd tests && PGCOPY_EXT_MAJORS=17 PGCOPY_EXT_PROFILE=debug \
	    "$$bin" --test-threads 6

# lint runs beside the integration tests, in the same target directory, its
# output held in target/lint.log and shown at the end; either failing fails
# make test. By then the test builds have compiled what clippy and rustdoc
# would compile again elsewhere (the proc macros, the build scripts, the
# extension's bindings), and cargo holds no lock while tests run (test-package
# after them waits for lint's lock where lint still runs). Beside
# the builds, in a directory of its own, it compiled 138 units again (make
# test from a clean clone: 10 min 20 s then, 9 min 52 s so).
test: setup
	@mkdir -p target
	@$(MAKE) --no-print-directory unit pgtest integration-build || exit 1; \
	bin=$$($(INTEGRATION_BIN_SH)); [ -n "$$bin" ] || { \
	    echo "make test: the integration tests' executable was not found" >&2; exit 1; }; \
	$(MAKE) --no-print-directory lint > target/lint.log 2>&1 & lint=$$!; \
	$(MAKE) --no-print-directory integration-run INTEGRATION_BIN=$$bin test-package; tests=$$?; \
	wait $$lint; linted=$$?; \
	echo "== make lint (ran beside the integration tests) =="; cat target/lint.log; \
	[ $$linted -eq 0 ] || echo "make test: make lint failed (above)"; \
	[ $$tests -eq 0 ] && [ $$linted -eq 0 ]

# Copies stopped at random by signals, SIGKILL and closed pipes; make test
# runs 40, this runs 100 (PGCOPY_CHAOS_SEED replays one).
chaos: install-ext
	cargo build $(TEST_PACKAGES) --bins --tests
	PGCOPY_CHAOS_RUNS=$${PGCOPY_CHAOS_RUNS:-100} cargo test $(TEST_PACKAGES) --test integration chaos:: -- --nocapture

# Every pair of PostgreSQL 14-18 as source and destination (make test runs a
# few); servers other than the system's 15 are fetched into target/pg-versions.
test-versions: install-ext extensions
	cargo build $(TEST_PACKAGES) --bins --tests
	PGCOPY_VERSION_PAIRS=all cargo test $(TEST_PACKAGES) --test integration versions:: -- --test-threads 1 --nocapture
	PGCOPY_EXT_MAJORS="$(EXT_MAJORS)" cargo test $(TEST_PACKAGES) --test integration \
	    extension::the_extension_on_every_major_it_is_built_for -- --exact --nocapture

demo: setup install-ext
	cargo build --release -p pgcopy-cli -p pgcopy-tests
	@bash scripts/demo.sh "$(DEMO_DIR)"

demo-stop:
	@cargo build -q -p pgcopy-tests --bin pgcopy-cluster
	@target/debug/pgcopy-cluster stop $(DEMO_DIR)/source
	@target/debug/pgcopy-cluster stop $(DEMO_DIR)/destination
	@echo "demo clusters stopped and removed"

# Benchmarks (not part of make test): BENCH_SCALE, BENCH_RUNS, BENCH_PARALLEL,
# BENCH_DATASETS, BENCH_TOOLS; see BENCHMARKS.md.
bench: setup
	command -v pgcopydb >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgcopydb >/dev/null
	cargo build --release -p pgcopy-tests
	cargo build --profile release-lto -p pgcopy-cli
	PGCOPY_BIN=$(CURDIR)/target/release-lto/pgcopy target/release/pgcopy-bench

clean:
	cargo clean
