# pgcopy: `make demo` to see it work, `make test` to test it.
SHELL := /bin/bash
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PREFIX ?= /usr/local
DEMO_DIR ?= /tmp/pgcopy-demo
PGRX_TEST_DATA ?= /tmp/pgcopy-pgrx-test
export PGRX_PG_CONFIG_PATH := $(PG_CONFIG)
# Test servers must not inherit Rust backtraces (they leak into error details).
unexport RUST_BACKTRACE

.PHONY: setup build install install-ext test test-versions lint unit pgtest integration chaos demo demo-stop bench clean

setup:
	@bash scripts/setup.sh

build: setup
	cargo build --profile release-lto -p pgcopy-cli
	cd pgcopy-ext && cargo pgrx package --pg-config $(PG_CONFIG) >/dev/null

install-ext: setup
	cd pgcopy-ext && cargo pgrx install --release --pg-config $(PG_CONFIG)

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
# they install a debug build, so the release build is installed again after.
pgtest: setup
	rm -rf $(PGRX_TEST_DATA) && mkdir -p $(PGRX_TEST_DATA)
	if [ "$$(id -u)" -eq 0 ]; then chown postgres:postgres $(PGRX_TEST_DATA); fi
	cd pgcopy-ext && if [ "$$(id -u)" -eq 0 ]; then \
	    cargo pgrx test pg15 --runas postgres --pgdata $(PGRX_TEST_DATA); \
	  else cargo pgrx test pg15; fi

integration: install-ext
	cargo build -p pgcopy-cli
	cargo test -p pgcopy-tests --test integration -- --test-threads 2

test: lint unit pgtest integration

# Copies stopped at random by signals, SIGKILL and closed pipes; make test
# runs 40, this runs 100 (PGCOPY_CHAOS_SEED replays one).
chaos: install-ext
	cargo build -p pgcopy-cli
	PGCOPY_CHAOS_RUNS=$${PGCOPY_CHAOS_RUNS:-100} cargo test -p pgcopy-tests --test integration chaos:: -- --nocapture

# Every pair of PostgreSQL 14-18 as source and destination (make test runs a
# few); servers other than the system's 15 are fetched into target/pg-versions.
test-versions: install-ext
	cargo build -p pgcopy-cli
	PGCOPY_VERSION_PAIRS=all cargo test -p pgcopy-tests --test integration versions:: -- --test-threads 1 --nocapture

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
