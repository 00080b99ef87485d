# pgcopy: `make demo` to see it work, `make test` to test it.
SHELL := /bin/bash
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PREFIX ?= /usr/local
DEMO_DIR ?= /tmp/pgcopy-demo
PGRX_TEST_DATA ?= /tmp/pgcopy-pgrx-test
export PGRX_PG_CONFIG_PATH := $(PG_CONFIG)
# Test servers must not inherit Rust backtraces (they leak into error details).
unexport RUST_BACKTRACE

.PHONY: setup build install install-ext install-ext-debug extensions package test-package test test-versions lint unit pgtest integration chaos demo demo-stop bench clean

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
	cd pgcopy-ext && cargo pgrx install --pg-config $(PG_CONFIG)

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
	cargo build -p pgcopy-cli
	cd pgcopy-ext && cargo pgrx package --debug --pg-config $(PG_CONFIG) >/dev/null
	PACKAGE_BIN=target/debug/pgcopy PACKAGE_EXT_PROFILE=debug bash scripts/package.sh
	cargo test -p pgcopy-tests --test integration package:: -- --ignored --nocapture

install: build install-ext
	install -m 755 target/release-lto/pgcopy $(PREFIX)/bin/pgcopy
	install -d $(PREFIX)/share/man/man1
	$(PREFIX)/bin/pgcopy man $(PREFIX)/share/man/man1

lint: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p pgcopy-core -p pgcopy-cli
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p pgcopy-ext -p pgcopy-tests

unit:
	cargo test -p pgcopy-core -p pgcopy-cli
	cargo test -p pgcopy-tests --lib

# The extension's #[pg_test]s run in a throwaway server as the postgres OS user;
# they install a debug build with the test functions, so make integration
# installs its own build again after.
pgtest: setup
	rm -rf $(PGRX_TEST_DATA) && mkdir -p $(PGRX_TEST_DATA)
	if [ "$$(id -u)" -eq 0 ]; then chown postgres:postgres $(PGRX_TEST_DATA); fi
	cd pgcopy-ext && if [ "$$(id -u)" -eq 0 ]; then \
	    cargo pgrx test pg15 --runas postgres --pgdata $(PGRX_TEST_DATA); \
	  else cargo pgrx test pg15; fi

# The extension is tested on the system's 15 and on 17 (make test-versions:
# on every major it is built for), in debug builds. Four tests at a time on
# two cores: most of a test's time is spent waiting (for a server, a phase, a
# signal, a failpoint's pause), and its clusters live in memory
# (tests/src/lib.rs, cluster_dir).
integration: install-ext-debug
	$(MAKE) --no-print-directory ext-17 EXT_PROFILE=debug
	cargo build -p pgcopy-cli
	PGCOPY_EXT_MAJORS=17 PGCOPY_EXT_PROFILE=debug \
	    cargo test -p pgcopy-tests --test integration -- --test-threads 4

test: lint unit pgtest integration test-package

# Copies stopped at random by signals, SIGKILL and closed pipes; make test
# runs 40, this runs 100 (PGCOPY_CHAOS_SEED replays one).
chaos: install-ext
	cargo build -p pgcopy-cli
	PGCOPY_CHAOS_RUNS=$${PGCOPY_CHAOS_RUNS:-100} cargo test -p pgcopy-tests --test integration chaos:: -- --nocapture

# Every pair of PostgreSQL 14-18 as source and destination (make test runs a
# few); servers other than the system's 15 are fetched into target/pg-versions.
test-versions: install-ext extensions
	cargo build -p pgcopy-cli
	PGCOPY_VERSION_PAIRS=all cargo test -p pgcopy-tests --test integration versions:: -- --test-threads 1 --nocapture
	PGCOPY_EXT_MAJORS="$(EXT_MAJORS)" cargo test -p pgcopy-tests --test integration \
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
