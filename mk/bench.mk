# mk/bench.mk -- benchmarks beside `make bench` (top-level Makefile).
# Included by the top-level Makefile.
#
#   make bench                          balance pick microbenchmarks, then bench-compare
#   make bench ROUNDS=1 DURATION=2s     a short run
#   make bench-compare CASES=c64,tcp TARGETS=lb,lb-rp,haproxy PORT_BASE=19000
#   make bench-compare BASE_BIN=../main/bin   adds lb-base: before/after in one run
#   make bench-compare CASES=crowd TARGETS=lb BASE_CONFIG='{"max_conns_per_backend": 128}'
#                                       adds lb-base: bin/lb with these keys on top, side by side
#   make bench-compare CASES=crowd SERVER_MAXCONN=128
#                                       every proxy with a queue bounds each backend at 128
#                                       connections (lb, HAProxy; nginx has no queue: left out)
#   make bench-peers                    install haproxy, nginx (+stream module), wrk if missing
#   make bench-go                       the older Go-only loopback benchmarks
#
# bench-compare runs loadtest/cmd/peerbench: direct (one backend), bin/lb,
# lb-base (BASE_BIN/lb with lb's configs, only when BASE_BIN or BASE_CONFIG is
# set; BASE_CONFIG, a JSON object of config keys, goes on top of them), lb-rp
# (a second bin/lb with "forwarder": "reverseproxy"; HTTP cases only),
# haproxy (nbthread 1), haproxy-mt (nbthread = CPUs) and nginx
# (worker_processes auto) side by side on 127.0.0.1 in front of the same
# three bin/backend processes; tables on stdout, JSON and Markdown in
# $(BENCH_OUT). TARGETS picks among direct,lb,lb-base,lb-rp,haproxy,
# haproxy-mt,nginx (default all). CASES among c64,c512,close,body64k,http10,
# rate5000,rate7000,crowd,tcp,idle-http,idle-tcp (default all); the idle and
# crowd cases are sized to the open-file limit (9,500 and 9,800 connections
# at 20,000). More flags through PEERBENCH_FLAGS (bin/peerbench -h), e.g.
# PEERBENCH_FLAGS="--idle-conns 4000 --release-wait 30s".

ROUNDS          ?= 3
DURATION        ?= 5s
CASES           ?=
TARGETS         ?=
PORT_BASE       ?= 18000
BASE_BIN        ?=
BASE_CONFIG     ?=
SERVER_MAXCONN  ?=
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

bench-compare: build bench-peers ## direct vs bin/lb [vs BASE_BIN/lb] vs lb-rp vs HAProxy (1 thread, all cores) vs nginx on loopback: HTTP, HTTP/1.0, TCP, idle memory, a 10k crowd (ROUNDS=3 DURATION=5s CASES= TARGETS= BASE_BIN= BASE_CONFIG= SERVER_MAXCONN= PORT_BASE=18000)
	@CGO_ENABLED=0 $(GO) build -o $(BIN)/peerbench ./loadtest/cmd/peerbench
	$(BIN)/peerbench --bin $(BIN) --peers bench/peers --out $(BENCH_OUT) \
	  --rounds $(ROUNDS) --duration $(DURATION) --port-base $(PORT_BASE) \
	  $(if $(CASES),--cases $(CASES)) $(if $(TARGETS),--targets $(TARGETS)) \
	  $(if $(BASE_BIN),--base-bin $(BASE_BIN)) $(if $(BASE_CONFIG),--base-config '$(BASE_CONFIG)') \
	  $(if $(SERVER_MAXCONN),--server-maxconn $(SERVER_MAXCONN)) $(PEERBENCH_FLAGS)

bench-go: build ## Go-only loopback benchmarks: direct vs bin/lb (e2ebench), TCP mode vs direct vs HTTP mode (l4)
	$(GO) test -run '^$$' -bench Loopback -benchtime 20000x -count 3 ./lb/test/e2ebench/
	$(GO) test -run '^$$' -bench . -benchtime 3000x ./lb/internal/l4/
