# mk/bench.mk -- benchmarks beside `make bench` (top-level Makefile).
# Included by the top-level Makefile.
#
#   make bench                          balance pick microbenchmarks, then bench-compare
#   make bench ROUNDS=1 DURATION=2s     a short run
#   make bench-compare CASES=c64,tcp TARGETS=lb,lb-rp,haproxy PORT_BASE=19000
#   make bench-peers                    install haproxy, nginx (+stream module), wrk if missing
#   make bench-go                       the older Go-only loopback benchmarks
#
# bench-compare runs loadtest/cmd/peerbench: direct (one backend), bin/lb,
# lb-rp (a second bin/lb with "forwarder": "reverseproxy"; HTTP cases only),
# HAProxy and nginx side by side on 127.0.0.1 in front of the same three
# bin/backend processes; table on stdout, JSON and Markdown in $(BENCH_OUT).
# TARGETS picks among direct,lb,lb-rp,haproxy,nginx (default all).

ROUNDS          ?= 3
DURATION        ?= 5s
CASES           ?=
TARGETS         ?=
PORT_BASE       ?= 18000
BENCH_OUT       ?= bench/out
PEERBENCH_FLAGS ?=
# Debian packages of the peers; the stream module is what nginx's stream {} needs.
PEER_PACKAGES   := haproxy nginx libnginx-mod-stream wrk
NGINX_STREAM_SO := /usr/lib/nginx/modules/ngx_stream_module.so

.PHONY: bench-peers bench-compare bench-go

# peer_missing: prints the Debian packages whose tool is absent (nginx and
# haproxy live in /usr/sbin, which a user's PATH may lack).
define peer_missing
missing=""; \
for t in haproxy nginx wrk; do \
  command -v $$t >/dev/null 2>&1 || [ -x /usr/sbin/$$t ] || missing="$$missing $$t"; \
done; \
[ -f $(NGINX_STREAM_SO) ] || missing="$$missing libnginx-mod-stream"
endef

bench-peers: ## install haproxy, nginx, libnginx-mod-stream and wrk with apt-get, only when one is missing
	@$(peer_missing); \
	if [ -z "$$missing" ]; then echo "bench-peers: haproxy, nginx (stream module) and wrk are installed"; exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	else echo "bench-peers: missing:$$missing, and not root without sudo; install them with: apt-get install -y$$missing" >&2; exit 1; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "bench-peers: missing:$$missing, and no apt-get here; install them by hand" >&2; exit 1; fi; \
	echo "bench-peers: installing$$missing"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing || \
	  { $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; }; \
	want="$$missing"; $(peer_missing); \
	if [ -n "$$missing" ]; then \
	  echo "bench-peers: could not install:$$missing (tried: $${sudo:+$$sudo }apt-get install -y$$want)" >&2; exit 1; fi; \
	echo "bench-peers: installed$$want"

bench-compare: build bench-peers ## direct vs bin/lb vs lb-rp (ReverseProxy forwarder) vs HAProxy vs nginx on loopback, HTTP and TCP (ROUNDS=3 DURATION=5s CASES= TARGETS= PORT_BASE=18000)
	@CGO_ENABLED=0 $(GO) build -o $(BIN)/peerbench ./loadtest/cmd/peerbench
	$(BIN)/peerbench --bin $(BIN) --peers bench/peers --out $(BENCH_OUT) \
	  --rounds $(ROUNDS) --duration $(DURATION) --port-base $(PORT_BASE) \
	  $(if $(CASES),--cases $(CASES)) $(if $(TARGETS),--targets $(TARGETS)) $(PEERBENCH_FLAGS)

bench-go: build ## Go-only loopback benchmarks: direct vs bin/lb (e2ebench), TCP mode vs direct vs HTTP mode (l4)
	$(GO) test -run '^$$' -bench Loopback -benchtime 20000x -count 3 ./lb/test/e2ebench/
	$(GO) test -run '^$$' -bench . -benchtime 3000x ./lb/internal/l4/
