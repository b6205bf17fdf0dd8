# Ferry. `make demo` runs the main job end to end; `make test` runs the tests. Both install what they need.
SWIFT ?= swift
FERRY := .build/debug/ferry

.PHONY: format serve fuzz bench-server bench-ask bench-index bench-localize setup build test demo demo-scripted e2e bench clean

setup:
	@./scripts/setup.sh

build: setup
	$(SWIFT) build --product ferry

test: setup
	@./scripts/setup.sh --test-clients
	$(SWIFT) build --build-tests
	SWIFT=$(SWIFT) ./scripts/run-tests.sh

# The model's pieces and the prebuilt server are fetched while Swift compiles.
demo: setup
	@./scripts/setup.sh --local-model
	@./scripts/prefetch-local-model.sh > "$${TMPDIR:-/tmp}/ferry-prefetch.log" 2>&1 & pid=$$!; \
	    $(SWIFT) build --product ferry; status=$$?; wait $$pid; exit $$status
	$(FERRY) demo --example examples/cart

# The real-model run, outside `make test`: the demo must end verified (exit 0).
e2e: demo

# The team's one command: the API and workers on the embedded store, with the embedded model installed for the
# default profile. Flags through ARGS, e.g. make serve ARGS="--port 9000 --database postgres://…".
serve: setup
	@./scripts/setup.sh --local-model
	@./scripts/prefetch-local-model.sh > "$${TMPDIR:-/tmp}/ferry-prefetch.log" 2>&1 & pid=$$!; \
	    $(SWIFT) build --product ferry; status=$$?; wait $$pid; exit $$status
	$(FERRY) model install
	$(FERRY) serve $(ARGS)

demo-scripted: build
	$(FERRY) demo --scripted --example examples/cart

bench: setup
	$(SWIFT) build -c release --product ferry-bench
	.build/release/ferry-bench

# The team server under load: a throwaway PostgreSQL, the API, 4 worker processes, 200 tasks, wrk beside them.
bench-server: setup
	@command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || sudo apt-get install -y wrk; }
	$(SWIFT) build -c release --product ferry
	$(SWIFT) build -c release --product ferry-server-bench
	.build/release/ferry-server-bench --tasks $(or $(TASKS),200) --workers $(or $(WORKERS),4) --out $(or $(OUT),/tmp/ferry-server-load.md)

# The knowledge index on a real repository: make bench-index REPO=/path/to/sympy
# Time to first token of `ferry ask` with the embedded model on this repository's own code (three questions).
bench-ask: setup
	$(SWIFT) build -c release --product ferry
	.build/release/ferry model install
	python3 bench/ask_first_token.py --ferry .build/release/ferry --repo . --out $(or $(OUT),/tmp/ferry-ask-local.md)

bench-index: setup
	$(SWIFT) build -c release --product ferry-index-bench
	.build/release/ferry-index-bench $(REPO)

# ferry locate's Acc@1/5/10 on SWE-bench Lite's 4 local repositories: make bench-localize REPOS=/path/to/clones
bench-localize: setup
	$(SWIFT) build -c release --product ferry
	python3 bench/localize.py --repos $(REPOS) --ferry .build/release/ferry --out evals/out/localize.jsonl

clean:
	rm -rf .build

# The tree's one format (.swift-format); .ci/run fails on any difference.
format:
	$(SWIFT) format format --in-place --parallel --recursive Sources Tests bench Package.swift

# Seeded hostile inputs against the parsers of model output: make fuzz COUNT=20000 SEED=1
COUNT ?= 20000
SEED ?= 1
fuzz: setup
	$(SWIFT) build -c release --product ferry-fuzz
	.build/release/ferry-fuzz $(COUNT) $(SEED)
