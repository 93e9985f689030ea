# edgeseg: the two commands a user needs are `make dev` and `make test`.
# Every target installs what it needs first and skips what is already there.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PORT ?= 8787
CARGO_BIN := $(HOME)/.cargo/bin
export PATH := $(CARGO_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
# The wasm-bindgen CLI must match the library version locked in Cargo.lock exactly.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/{getline; gsub(/[^0-9.]/,""); print}' Cargo.lock)
WORKER_BUILD_VERSION := 0.8.7
# worker-build would download these from GitHub; point it at local copies.
export WASM_BINDGEN_BIN := $(CARGO_BIN)/wasm-bindgen
export ESBUILD_BIN := $(CURDIR)/node_modules/@esbuild/linux-x64/bin/esbuild
export WASM_OPT_BIN := $(CURDIR)/node_modules/.bin/wasm-opt
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER := wasm-bindgen-test-runner
WASM_TARGET := wasm32-unknown-unknown
# The wasm features worker-build enables for wasm-opt (worker-build 0.8.7, build/mod.rs).
WASM_OPT_FEATURES := $(addprefix --enable-,mutable-globals sign-ext nontrapping-float-to-int bulk-memory multivalue reference-types exception-handling)
RUST_SOURCES := $(shell find src -name '*.rs') Cargo.toml Cargo.lock schema/rules.schema.json
# The admin page is built, not committed (it embeds the schema, so every merge would regenerate it).
ADMIN_OUT := www/__edgeseg/admin
ADMIN_BUNDLE := $(ADMIN_OUT)/app.js $(ADMIN_OUT)/app.css $(ADMIN_OUT)/index.html
ADMIN_SOURCES := $(wildcard admin/src/*) admin/index.html admin/build.mjs schema/rules.schema.json

.PHONY: dev demo-traffic test tools lint unit wasm-test e2e bench bench-edge profile-edge load load-cache worker admin seed-local reseed deploy schema clean-local

## make dev: install what is missing, build, seed local KV, serve the demo store at http://127.0.0.1:$(PORT)
dev: tools worker .dev.vars seed-local
	@echo "edgeseg: serving the personalized demo store at http://127.0.0.1:$(PORT)"
	@echo "edgeseg: admin page at http://127.0.0.1:$(PORT)/__edgeseg/admin/ (token: EDGESEG_ADMIN_TOKEN in .dev.vars)"
	@# stderr through tools/dev-log.mjs: a visitor leaving mid-page is one dim line, not a red block.
	wrangler dev --ip 127.0.0.1 --port $(PORT) --persist-to .wrangler/state 2> >(node tools/dev-log.mjs >&2)

## make demo-traffic: a few hundred simulated shoppers through a running `make dev` (same PORT;
## URL=http://host:port to point elsewhere; SHOPPERS=N): results in the admin page's Experiments tab.
demo-traffic:
	node tools/demo-traffic.mjs --url $(or $(URL),http://127.0.0.1:$(PORT)) --shoppers $(or $(SHOPPERS),600)

## make test: every test — lint, native, wasm32 (Node), end to end in workerd and Chromium,
## and the load run (correctness under load; it reports speed, it does not judge it)
test: tools lint unit wasm-test worker e2e load

tools: .tools/rust .tools/npm .tools/worker-build .tools/wasm-bindgen-$(WASM_BINDGEN_VERSION) .tools/py

.tools/rust:
	rustup target add $(WASM_TARGET)
	rustup component add clippy rustfmt 2>/dev/null || true
	@mkdir -p .tools && touch $@

.tools/npm: package.json package-lock.json
	npm ci --no-audit --no-fund
	@mkdir -p .tools && touch $@

.tools/py: tests/loading/requirements.txt
	python3 -m venv .tools/py
	.tools/py/bin/pip install -q --disable-pip-version-check -r tests/loading/requirements.txt
	@touch $@

.tools/worker-build:
	@if worker-build --version 2>/dev/null | grep -q '$(WORKER_BUILD_VERSION)'; then \
	  echo "worker-build $(WORKER_BUILD_VERSION) already installed"; \
	else cargo install worker-build --version $(WORKER_BUILD_VERSION) --locked; fi
	@mkdir -p .tools && touch $@

.tools/wasm-bindgen-$(WASM_BINDGEN_VERSION):
	@if wasm-bindgen --version 2>/dev/null | grep -q ' $(WASM_BINDGEN_VERSION)$$'; then \
	  echo "wasm-bindgen $(WASM_BINDGEN_VERSION) already installed"; \
	else cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION); fi
	@mkdir -p .tools && touch $@

## The Worker bundle (wasm + JS shim) in build/ and the admin page it serves from www/;
## each rebuilt only when its sources change.
worker: build/worker/shim.mjs admin

## The admin page (admin/ bundled by esbuild into www/__edgeseg/admin/); fails over its size budget.
admin: $(ADMIN_BUNDLE)

$(ADMIN_BUNDLE) &: $(ADMIN_SOURCES) .tools/npm
	node admin/build.mjs

build/worker/shim.mjs: $(RUST_SOURCES) | tools
	EDGESEG_COMMIT=$$(git rev-parse --short HEAD 2>/dev/null || echo unknown) worker-build --release
	@# worker-build keeps the wasm name section (it always passes wasm-opt --debuginfo): 356 KB of
	@# function names, about 90 KiB of the gzipped bundle every cold start pays for. Strip it, with
	@# worker-build's own feature list so no newer encoding appears. A trap in workerd's log then
	@# reads wasm-function[N]; `make worker KEEP_WASM_NAMES=1` keeps the names for debugging.
	@# A failed strip removes the shim, so the next make builds again instead of taking the unstripped wasm as done.
	$(if $(KEEP_WASM_NAMES),,wasm-opt build/index_bg.wasm --strip-debug $(WASM_OPT_FEATURES) -o build/index_bg.wasm || { rm -f $@; exit 1; })

lint: tools
	python3 tools/import_cycles.py --self-test
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --lib --tests --no-default-features --target $(WASM_TARGET) -- -D warnings

unit: tools
	cargo test
	node --test tests/admin-unit/

## The core's tests compiled to wasm32 and run under Node by wasm-bindgen-test-runner.
wasm-test: tools
	cargo test --no-default-features --target $(WASM_TARGET) --test conformance --test rewrite_fixtures --test wasm_core --test experiment_stats --test cuped --test guardrails --test signal_journeys --test tcf --test schedules_and_values --test csp --test access --test server_events --test spa_report

e2e: tools worker
	node --test --test-concurrency=1 tests/e2e/

## make bench: criterion benchmarks of the core (native), then classification in wasm32 under Node.
bench: tools
	cargo bench --bench cookie --bench classify --bench rewrite --bench models
	cargo test --release --no-default-features --target $(WASM_TARGET) --test wasm_bench -- --nocapture

## make load: 10,000 requests at 64 connections through the Worker in workerd
## (Miniflare): no errors, memory flat, page_views exact after the cron.
load: tools worker
	node tests/load/run.mjs

## make bench-edge: the Worker side by side with a JS pass-through Worker and a
## JS HTMLRewriter Worker, each in its own workerd (Miniflare): CPU per request
## from /proc, req/s, latency; then the origin cache on and off (make load-cache).
## Reports; asserts nothing (see BENCHMARKS.md).
bench-edge: tools worker
	node benches/edge/run.mjs
	node tests/load/origin-cache.mjs

## make profile-edge: a CPU profile of the Worker under load (workerd's inspector).
profile-edge: tools worker
	node --experimental-websocket benches/edge/profile.mjs

## make load-cache: origin requests, requests/s and CPU per request with the origin cache on and off (Miniflare).
load-cache: tools worker
	node tests/load/origin-cache.mjs

.dev.vars:
	@echo "EDGESEG_SECRET=$$(head -c 32 /dev/urandom | base64 | tr -d '=+/')" > $@
	@echo "EDGESEG_ADMIN_TOKEN=$$(head -c 24 /dev/urandom | base64 | tr -d '=+/')" >> $@
	@echo "EDGESEG_WEBHOOK_SECRET=$$(head -c 32 /dev/urandom | base64 | tr -d '=+/')" >> $@
	@echo "EDGESEG_SERVER_EVENTS_SECRET=$$(head -c 32 /dev/urandom | base64 | tr -d '=+/')" >> $@
	@echo "created .dev.vars with a random EDGESEG_SECRET, EDGESEG_ADMIN_TOKEN, EDGESEG_WEBHOOK_SECRET and EDGESEG_SERVER_EVENTS_SECRET"

## Seeds local KV with the example rules, unless rules are there already (edits
## made in the local admin page survive a restart; `make reseed` forces it).
seed-local: tools
	@if wrangler kv key get --binding EDGESEG_KV --local --persist-to .wrangler/state rules 2>&1 | grep -q '^{'; then \
	  echo "local KV already has rules (make reseed replaces them with examples/rules.json)"; \
	else $(MAKE) -s reseed; fi

reseed: tools
	wrangler kv key put --binding EDGESEG_KV --local --persist-to .wrangler/state rules --path examples/rules.json

## make deploy: build and ship to Cloudflare (needs `wrangler login`, a KV id in wrangler.toml and the secret)
deploy: tools worker
	npx wrangler kv key put --binding EDGESEG_KV --remote rules --path examples/rules.json
	npx wrangler deploy

schema:
	UPDATE_SCHEMA=1 cargo test --test schema

clean-local:
	rm -rf .wrangler build .tools $(ADMIN_OUT)
