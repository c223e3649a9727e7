# lblab — build, test and run the load-balancing lab.
# Every target installs or builds what it needs first.

SHELL      := bash
GO         ?= go
BIN        := $(CURDIR)/bin
VERSION    ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -s -w -X main.version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
MODULES    := lb backend loadtest
PKGS       := $(addprefix ./,$(addsuffix /...,$(MODULES)))
# Tests use the binaries that `make build` wrote instead of building their own.
export LBLAB_BIN := $(BIN)

.PHONY: all build test test-portable test-short lint fmt vet clean bench demo help
all: build

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

build: ## static binaries bin/lb, bin/backend, bin/loadtest (CGO_ENABLED=0)
	@mkdir -p $(BIN)
	@for m in $(MODULES); do \
	  CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/$$m ./$$m || exit 1; \
	done
	@echo "built: $(addprefix bin/,$(MODULES))"

# PORTABLE_PKGS hold Linux-only fast paths (epoll relay, raw client I/O,
# parking); test-portable builds them with the tag "portable", which selects
# the portable code other systems (and linux/386) use, and runs their tests.
PORTABLE_PKGS := ./lb/internal/l4/ ./lb/internal/front/ ./lb/internal/upstream/ ./lb/internal/netx/

test: build test-portable ## every test, Docker ones included (SKIP loudly without a daemon; fail when CI=true)
	$(GO) test -count=1 -timeout 18m $(PKGS)

test-portable: ## the TCP relay and proxy front end built without their Linux fast paths (-tags portable)
	$(GO) test -count=1 -timeout 5m -tags portable $(PORTABLE_PKGS)

test-short: build ## unit tests only, no Docker
	$(GO) test -count=1 -short -timeout 10m $(PKGS)

lint: fmt vet ## gofmt + go vet

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

clean: ## remove binaries and benchmark output
	rm -rf $(BIN) bench/out

include $(wildcard mk/*.mk)

bench: build ## benchmarks: algorithm pick path, then direct vs bin/lb vs lb-rp vs HAProxy (1 thread and all cores) vs nginx on loopback: HTTP, HTTP/1.0, TCP, idle memory, a mostly idle crowd (ROUNDS=3 DURATION=5s BASE_BIN=; see mk/bench.mk)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 300ms ./lb/internal/balance/
	@$(MAKE) --no-print-directory bench-compare
