# breakerbox — the two commands a newcomer needs are `make demo` and `make test`.

CARGO ?= cargo

.PHONY: soak bench demo demo-off test lint fmt-check clippy unit build release clean toolchain test-deps screenshot

## Run the embedded circuit-breaker drill on the built-in parts; exits 0 when it passes.
demo: toolchain
	$(CARGO) run --release --locked --quiet -- demo

## The same drill with the demo service's breaker off: must fail (exit 1).
demo-off: toolchain
	$(CARGO) run --release --locked --quiet -- demo --breaker off

## Format check, lint, and the whole test suite (unit + integration on loopback).
test: fmt-check clippy unit

fmt-check: toolchain
	$(CARGO) fmt --all -- --check

clippy: toolchain
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit: toolchain test-deps
	$(CARGO) test --locked

# sudo for apt-get when not root (a CI runner's usual user).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

## What the integration tests need beyond Rust, from Debian's packages, installed only when
## missing: a real redis-server (tests/proxy_redis.rs puts the TCP proxy in front of it) and
## chromium (tests/html_report.rs opens the HTML report in it, headless).
test-deps:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server (for tests/proxy_redis.rs)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y redis-server; }
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium (for tests/html_report.rs)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y chromium; }

## Regenerate docs/img/html-report.png (and .html): the shipped circuit-breaker drill's HTML
## report, screenshotted in headless chromium by tests/html_report.rs (35 s of load).
screenshot: toolchain test-deps
	BREAKERBOX_SCREENSHOT=docs/img/html-report.png $(CARGO) test --locked --test html_report

build: toolchain
	$(CARGO) build --locked

release: toolchain
	$(CARGO) build --release --locked

clean:
	$(CARGO) clean

# rustfmt and clippy ship with the machine's toolchain; add them if a machine lacks them.
toolchain:
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

## Quick mode against wrk and oha (installed on demand: apt-get, cargo install into
## bench/.tools), memory at 10,000 VUs, open-model accuracy against a stalling server, the
## fault proxy against noxious 1.0.4 (built from crates.io into bench/.tools), the
## in-process proxy path, validation staying linear; results go into docs/benchmarks.md.
bench: release
	bench/all.sh

## Memory over a long run: stub + proxy + demo at 2,000 req/s over 10,000,000 ids for 10 min,
## RSS and descriptors every 10 s; fails if RSS grows more than a few MB after warm-up.
soak: release
	bench/soak.sh 10m
