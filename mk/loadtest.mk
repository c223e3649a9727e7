# Load-test scenarios (issue 5): each target builds the binaries, brings the
# Compose lab up (lab-up / lab-up-slow / lab-up-tcp / lab-start, from
# mk/lab.mk), runs one scenario file and prints its tables; results go to
# results/<scenario>-<time>.json and .html. Exit status: non-zero when a
# scenario's expectations fail.
#
#   make scenario-failover                       # the README's first command
#   make scenarios                               # all of them, one after another
#   make scenario-hang LOADTEST_FLAGS=--quiet     # extra flags for bin/loadtest run
#   make scenario-failover LB_PORT=18080 ADMIN_PORT=19090 COMPOSE_PROJECT_NAME=mylab
#   make scenario-tcp LB_TCP_PORT=18081 ADMIN_TCP_PORT=19091

LB_PORT          ?= 8080
ADMIN_PORT       ?= 9090
LB_TCP_PORT      ?= 8081
ADMIN_TCP_PORT   ?= 9091
RESULTS          ?= results
LOADTEST_FLAGS   ?=
# Requests each backend serves at once during scenario-scaling: with 50 ms
# requests, 2 makes three backends a ceiling of 120 req/s (the scenario sends 130).
SCALING_CAPACITY ?= 2
# The supermarket's lab: this many backends, one request at a time each,
# with exponential service times of this mean.
SUPERMARKET_BACKENDS ?= 10
SUPERMARKET_LATENCY  ?= exp:20ms
SCENARIOS        := failover hang scaling partition algorithms tcp supermarket

# loadtest_run LB_PORT,ADMIN_PORT: bin/loadtest run against those ports.
loadtest_run = $(BIN)/loadtest run --out $(RESULTS) \
	--target http://127.0.0.1:$(1) --admin http://127.0.0.1:$(2) \
	$(if $(COMPOSE_PROJECT_NAME),--project $(COMPOSE_PROJECT_NAME)) $(LOADTEST_FLAGS)
LOADTEST_RUN     = $(call loadtest_run,$(LB_PORT),$(ADMIN_PORT))
LOADTEST_RUN_TCP = $(call loadtest_run,$(LB_TCP_PORT),$(ADMIN_TCP_PORT))

.PHONY: scenarios $(addprefix scenario-,$(SCENARIOS))

# Scenarios that start, restart or scale no container (so nothing waits for
# Docker's health status: only failover's wait_healthy does) run the lab
# with Docker's health checks every LAB_MEASURE_HEALTH_INTERVAL instead of
# 2 s: each check is a `runc exec`, 5.5 a second for the supermarket's eleven
# containers, CPU taken from the path being measured. The lab's readiness
# (lab/wait.sh) reads the balancer's own checks, so start-up does not wait
# for Docker's first check. They also run lb without its access log
# (LAB_MEASURE_LB_CONFIG). Set LAB_HEALTH_INTERVAL=2s LB_CONFIG=lb.json on the
# command line to measure the lab as make up starts it.
scenario-supermarket scenario-algorithms scenario-hang scenario-partition: LAB_HEALTH_INTERVAL = $(LAB_MEASURE_HEALTH_INTERVAL)
scenario-supermarket scenario-algorithms scenario-hang scenario-partition: LB_CONFIG = $(LAB_MEASURE_LB_CONFIG)

scenario-failover: build lab-up ## kill a backend under load, start it again: failed requests, time to detect/recover
	$(LOADTEST_RUN) scenarios/failover.yaml

scenario-hang: build lab-up ## pause (hang) a backend under load, then unpause it
	$(LOADTEST_RUN) scenarios/hang.yaml

# The backends are (re)started with a capacity limit, so that three of them
# are saturated; the next lab-up (any other scenario, make up) recreates them
# without it.
scenario-scaling: build images ## load above what 3 backends serve (capacity-limited); scale to 5, back to 3
	@$(MAKE) --no-print-directory lab-start LAB_HEALTH_INTERVAL=$(LAB_HEALTH_INTERVAL) LB_CONFIG=$(LB_CONFIG) BACKEND_CAPACITY=$(SCALING_CAPACITY)
	$(LOADTEST_RUN) scenarios/scaling.yaml

scenario-partition: build lab-up ## cut a backend off the network and reconnect it
	$(LOADTEST_RUN) scenarios/partition.yaml

scenario-algorithms: build lab-up-slow ## the same load once per algorithm, against fast and slow backends
	$(LOADTEST_RUN) scenarios/algorithms.yaml

# Ten capacity-1 backends with exponential service: the supermarket model.
# The next lab-up (any other scenario, make up) puts three plain backends back.
# The load goes to the lb container's own address, not through the published
# port: Docker's userland proxy adds its own latency, and at 400 requests/s
# of queued requests it was seen to die (connection refused on 127.0.0.1).
scenario-supermarket: build images ## queueing theory: 10 capacity-1 backends, exp service, Poisson arrivals at rho 0.5/0.8/0.9 per algorithm, against M/M/1 and a simulation
	@$(MAKE) --no-print-directory lab-start LAB_HEALTH_INTERVAL=$(LAB_HEALTH_INTERVAL) LB_CONFIG=$(LB_CONFIG) BACKEND_CAPACITY=1 BACKEND_LATENCY_DIST=$(SUPERMARKET_LATENCY) \
	  UP_FLAGS='--scale backend=$(SUPERMARKET_BACKENDS)' WANT=$(SUPERMARKET_BACKENDS)
	@ip=$$($(LAB_ENV) lab/container-ip.sh lb) || exit 1; \
	echo "load to the lb container at $$ip:8080"; \
	$(BIN)/loadtest run --out $(RESULTS) --target http://$$ip:8080 --admin http://127.0.0.1:$(ADMIN_PORT) \
	  $(if $(COMPOSE_PROJECT_NAME),--project $(COMPOSE_PROJECT_NAME)) $(LOADTEST_FLAGS) scenarios/supermarket.yaml

scenario-tcp: build lab-up-tcp ## TCP mode (lb-tcp): kill a backend under a stream of new connections, start it again
	$(LOADTEST_RUN_TCP) scenarios/tcp-failover.yaml

# One after another (never in parallel: they share the lab); keeps going
# after a failure and fails at the end if any failed.
scenarios: build ## run every scenario in turn
	@failed=""; for s in $(SCENARIOS); do \
	  $(MAKE) --no-print-directory scenario-$$s || failed="$$failed $$s"; \
	done; \
	if [ -n "$$failed" ]; then echo "scenarios failed:$$failed"; exit 1; fi; \
	echo "all scenarios passed"
