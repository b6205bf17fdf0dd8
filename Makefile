# Ferry. `make demo` runs the main job end to end; `make test` runs the tests. Both install what they need.
SWIFT ?= swift
FERRY := .build/debug/ferry

.PHONY: setup build test demo demo-scripted e2e bench clean

setup:
	@./scripts/setup.sh

build: setup
	$(SWIFT) build --product ferry

test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: build
	@./scripts/setup.sh --local-model
	$(FERRY) demo --example examples/cart

# The real-model run, outside `make test`: the demo must end verified (exit 0).
e2e: demo

demo-scripted: build
	$(FERRY) demo --scripted --example examples/cart

bench: setup
	$(SWIFT) build -c release --product ferry-bench
	.build/release/ferry-bench

clean:
	rm -rf .build
