# Ferry. `make demo` runs the main job end to end; `make test` runs the tests. Both install what they need.
SWIFT ?= swift
FERRY := .build/debug/ferry

.PHONY: setup build test demo bench clean

setup:
	@./scripts/setup.sh

build: setup
	$(SWIFT) build --product ferry

test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

demo: build
	$(FERRY) demo --example examples/cart

bench: setup
	$(SWIFT) build -c release --product ferry-bench
	.build/release/ferry-bench

clean:
	rm -rf .build
