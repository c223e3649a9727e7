# mk/swarm.mk -- the lab as a Docker Swarm stack (swarm/stack.yaml), and the
# scenarios against it. Included by the top-level Makefile; see docs/swarm.md.
#
#   make swarm-up SWARM_INIT=1        # single-node swarm (only if there is none) + the stack
#   make swarm-up                     # the stack, into the swarm swarm-up initialised before
#   make swarm-scenario-failover      # kill a backend task under load; Swarm replaces it
#   make swarm-scenario-failover LOADTEST_FLAGS='--workers 2'   # the load from two worker processes
#   make swarm-ps   make swarm-down   # tasks; remove the stack (and the swarm swarm-up initialised)
#   make swarm-up STACK=mystack LB_PORT=28080 ADMIN_PORT=29090 BACKENDS=5
#
# swarm-up refuses, changing nothing, on a worker node, in a swarm it did not
# initialise (SWARM_USE=1 deploys into it anyway) and without a swarm unless
# SWARM_INIT=1. The admin API's token is kept in .swarm/$(STACK)/admin-token;
# the swarm-scenario targets pass it to bin/loadtest.

STACK                 ?= lbswarm
SWARM_INIT            ?=
SWARM_USE             ?=
SWARM_ADVERTISE_ADDR  ?= 127.0.0.1
SWARM_WAIT_TIMEOUT    ?= 90
# How long Swarm waits before it replaces a failed backend task (Swarm's default: 5s).
BACKEND_RESTART_DELAY ?= 5s
SWARM_BACKENDS        ?= 3
SWARM_SCENARIOS       := failover hang partition algorithms

SWARM_ENV = env STACK=$(STACK) LB_PORT=$(LB_PORT) ADMIN_PORT=$(ADMIN_PORT) BACKENDS=$(SWARM_BACKENDS) \
	BACKEND_CAPACITY=$(BACKEND_CAPACITY) BACKEND_RESTART_DELAY=$(BACKEND_RESTART_DELAY) LBLAB_TAG=$(LBLAB_TAG) \
	SWARM_INIT=$(SWARM_INIT) SWARM_USE=$(SWARM_USE) SWARM_ADVERTISE_ADDR=$(SWARM_ADVERTISE_ADDR) \
	SWARM_WAIT_TIMEOUT=$(SWARM_WAIT_TIMEOUT)

# bin/loadtest run against the stack, with the admin token swarm-up kept.
SWARM_LOADTEST_RUN = LBLAB_ADMIN_TOKEN="$${LBLAB_ADMIN_TOKEN:-$$(cat .swarm/$(STACK)/admin-token 2>/dev/null)}" \
	$(BIN)/loadtest run --out $(RESULTS) --lab swarm --project $(STACK) \
	--target http://127.0.0.1:$(LB_PORT) --admin http://127.0.0.1:$(ADMIN_PORT) $(LOADTEST_FLAGS)

.PHONY: swarm-up swarm-down swarm-ps swarm-images swarm-scenario-scaling $(addprefix swarm-scenario-,$(SWARM_SCENARIOS))

swarm-images: images ## images for the stack, plus lblab/loadtest (the distributed load's workers as a Swarm service)
	@out=$$($(LAB_ENV) $(LAB_BUILD_ENV) docker build -q $(IMAGE_LABEL_ARGS) -f Dockerfile.loadtest -t lblab/loadtest:$(LBLAB_TAG) . 2>&1) || { \
	  grep -v -e DEPRECATED -e 'legacy builder' -e BuildKit -e buildx -e '^ *$$' <<<"$$out" >&2; \
	  echo "swarm: docker build of lblab/loadtest:$(LBLAB_TAG) failed (see above)" >&2; exit 1; }
	@docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' --filter reference=lblab/loadtest:$(LBLAB_TAG)

swarm-up: swarm-images ## deploy the stack (swarm/stack.yaml); SWARM_INIT=1 initialises a single-node swarm first if there is none
	@$(SWARM_ENV) swarm/up.sh

swarm-down: ## remove the stack, and leave the swarm if swarm-up initialised it and nothing else runs in it
	@$(SWARM_ENV) swarm/down.sh

swarm-ps: ## the stack's tasks (docker stack ps)
	@docker stack ps $(STACK)

$(addprefix swarm-scenario-,$(SWARM_SCENARIOS)): swarm-scenario-%: build swarm-up
	$(SWARM_LOADTEST_RUN) scenarios/$*.yaml
swarm-scenario-failover: ## failover against the stack: kill a backend task under load; Swarm replaces it (timed)
swarm-scenario-hang: ## hang against the stack: pause a backend task's container, then unpause it
swarm-scenario-partition: ## partition against the stack: cut a task off the overlay; reconnect replaces it
swarm-scenario-algorithms: ## algorithms against the stack (it has no backend-slow: three backends alike)

# Backends that serve SCALING_CAPACITY requests at once, as scenario-scaling.
swarm-scenario-scaling: build swarm-images ## scaling against the stack: 3 capacity-limited backend tasks, a service update to 5, back to 3
	@$(SWARM_ENV) BACKEND_CAPACITY=$(SCALING_CAPACITY) swarm/up.sh
	$(SWARM_LOADTEST_RUN) scenarios/scaling.yaml
