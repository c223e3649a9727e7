# lblab — build, test and run the load-balancing lab.
# Every target installs or builds what it needs first.

SHELL      := bash
GO         ?= go
BIN        := $(CURDIR)/bin
VERSION    ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS    := -s -w -X main.version=$(VERSION)
GOFLAGS_BUILD := -trimpath -ldflags '$(LDFLAGS)'
# MODULES are the binaries; GO_MODULES every Go module of go.work (testkit
# holds the Docker test helpers lb's and loadtest's tests share). Each module
# builds, vets and tests on its own (GOWORK=off) as well as in the workspace.
MODULES    := lb backend loadtest
GO_MODULES := $(MODULES) testkit
PKGS       := $(addprefix ./,$(addsuffix /...,$(GO_MODULES)))
TOOLS      := $(BIN)/tools
# Tests use the binaries that `make build` wrote instead of building their own.
export LBLAB_BIN := $(BIN)
# The Go toolchain: go1.26.11, the latest 1.26 release. 1.26.8 has standard
# library vulnerabilities that govulncheck finds reachable (net/http,
# crypto/tls, crypto/x509, net/textproto, ...: fixed in 1.26.9 and 1.26.10;
# `make vuln`). go.mod's toolchain line asks for it where GOTOOLCHAIN is auto;
# a Go whose go.env says GOTOOLCHAIN=local ignores that line, so make names
# it: the go command fetches it once through the module proxy (about 3 s).
# `make GOTOOLCHAIN=local ...` builds with the Go on the PATH instead.
GOTOOLCHAIN ?= go1.26.11
export GOTOOLCHAIN

.PHONY: all build test test-unit test-docker test-portable test-short lint fmt vet modules vuln clean bench demo help
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

# The Docker tests (a Compose lab each, and Swarm) mostly wait on the daemon
# and their scenarios' clocks; they run beside the others rather than after
# them (the Docker test lock orders them among themselves: see
# testkit/composelab/lock.go). Swarm comes last: it runs alone on the
# daemon, so the lab controller's test runs beside the Compose labs, two at
# a time (-p 2), rather than after Swarm.
DOCKER_PKGS := ./lb/test/compose/ ./loadtest/test/e2e/ ./loadtest/internal/lab/ ./loadtest/test/swarm/

test: build ## every test, Docker ones included (SKIP loudly without a daemon; fail when CI=true)
	@$(MAKE) --no-print-directory -j3 test-docker test-unit test-portable

test-unit: ## every test but the Docker ones
	$(GO) test -count=1 -timeout 12m $$($(GO) list $(PKGS) | grep -v -x -F $(patsubst ./%/,-e github.com/lblab/lblab/%,$(DOCKER_PKGS)))

test-docker: ## the Docker tests: the Compose lab, the end-to-end scenarios, Swarm, the lab controller
	$(GO) test -count=1 -p 2 -timeout 15m $(DOCKER_PKGS)

test-portable: ## the TCP relay and proxy front end built without their Linux fast paths (-tags portable)
	$(GO) test -count=1 -timeout 5m -tags portable $(PORTABLE_PKGS)

test-short: build ## unit tests only, no Docker
	$(GO) test -count=1 -short -timeout 10m $(PKGS)

lint: fmt vet modules ## gofmt, go vet in the workspace, and each module on its own (tidy, build, vet with GOWORK=off)

fmt:
	@out=$$(gofmt -l $(GO_MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# modules: each module alone, outside go.work: go.mod and go.sum tidy
# (`go mod tidy -diff` prints what tidy would change), builds, vets.
modules: ## each Go module alone (GOWORK=off): go mod tidy -diff, go build, go vet
	@for m in $(GO_MODULES); do \
	  ( cd $$m && GOWORK=off $(GO) mod tidy -diff && GOWORK=off $(GO) build ./... && GOWORK=off $(GO) vet ./... ) || \
	    { echo "modules: $$m does not stand alone (GOWORK=off; see above)" >&2; exit 1; }; \
	  echo "modules: $$m: tidy, builds and vets alone"; \
	done

# vuln: govulncheck over every module, inside the workspace and alone
# (GOWORK=off); fails on any vulnerability the code reaches, the standard
# library's included (those are fixed by a newer Go: see its "Fixed in").
# govulncheck is installed into bin/tools through the module proxy. Its
# database is vuln.go.dev; where that is unreachable (VULN_DB=local, or found
# so), a copy is built from the golang.org/x/vulndb module (also through the
# module proxy) with its indexdb command, into bin/tools/vulndb.
VULN_DB ?=
vuln: ## govulncheck (installed into bin/tools) over every module, in and out of the workspace (VULN_DB=local: the database from the module proxy)
	@GOBIN=$(TOOLS) $(GO) install golang.org/x/vuln/cmd/govulncheck@latest
	@db="$(VULN_DB)"; \
	if [ -z "$$db" ] && ! curl -fsS --max-time 5 -o /dev/null https://vuln.go.dev/index/db.json 2>/dev/null; then db=local; fi; \
	if [ "$$db" = local ]; then \
	  echo "vuln: vuln.go.dev unreachable or VULN_DB=local: building the database from golang.org/x/vulndb (module proxy)"; \
	  [ -x $(TOOLS)/indexdb ] || GOBIN=$(TOOLS) GOFLAGS=-mod=mod $(GO) install golang.org/x/vulndb/cmd/indexdb@latest || exit 1; \
	  dir=$$($(GO) mod download -json golang.org/x/vulndb@latest | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$$/\1/p'); \
	  [ -d "$$dir/data/osv" ] || { echo "vuln: no data/osv in golang.org/x/vulndb ($$dir)" >&2; exit 1; }; \
	  rm -rf $(TOOLS)/vulndb && $(TOOLS)/indexdb -vulns "$$dir/data/osv" -out $(TOOLS)/vulndb || exit 1; \
	  db=file://$(TOOLS)/vulndb; \
	fi; \
	failed=""; \
	for m in $(GO_MODULES); do for ws in on off; do \
	  if [ $$ws = off ]; then env=GOWORK=off; else env=; fi; \
	  echo "== govulncheck $$m (workspace $$ws)"; \
	  ( cd $$m && env $$env $(TOOLS)/govulncheck $${db:+-db $$db} ./... ) || failed="$$failed $$m($$ws)"; \
	done; done; \
	if [ -n "$$failed" ]; then echo "vuln: reachable vulnerabilities in:$$failed (Go $$($(GO) env GOVERSION))" >&2; exit 1; fi; \
	echo "vuln: nothing reachable in $(GO_MODULES), in and out of the workspace"

clean: ## remove binaries and benchmark output
	rm -rf $(BIN) bench/out

include $(wildcard mk/*.mk)

bench: build ## benchmarks: algorithm pick path, then direct vs bin/lb vs lb-rp vs HAProxy (1 thread and all cores) vs nginx on loopback: HTTP, HTTP/1.0, TCP, idle memory, a mostly idle crowd (ROUNDS=3 DURATION=5s BASE_BIN=; see mk/bench.mk)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 300ms ./lb/internal/balance/
	@$(MAKE) --no-print-directory bench-compare
