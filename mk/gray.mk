# Gray-failure scenarios (issue 13, docs/gray-failures.md): each fault runs
# twice, against the lab's balancer with its defaults (lb, :8080) and against
# lb-gray (profile gray, :8082: try_timeout, hedge_after p95, retry budget,
# outlier ejection), one row each in the table.
#
#   make scenario-gray-slow      one backend +200 ms, health checks passing
#   make scenario-gray-errors    one backend answers 30% of requests with 500
#   make scenario-gray-hang      one backend paused (docker pause), as scenario-hang
#   make scenario-tail           every backend: 2 ms, 1% of requests at 100 ms
#   make scenarios-gray          the four, one after another

LB_GRAY_PORT    ?= 8082
ADMIN_GRAY_PORT ?= 9092
GRAY_SCENARIOS  := gray-slow gray-errors gray-hang tail
# compose.yaml maps lb-gray's ports from these.
export LB_GRAY_PORT ADMIN_GRAY_PORT

.PHONY: lab-up-gray scenarios-gray $(addprefix scenario-,$(GRAY_SCENARIOS))

lab-up-gray: images ## the lab plus lb-gray (profile gray): gray-failure knobs on, :8082, admin 127.0.0.1:9092
	@$(MAKE) --no-print-directory lab-start LAB_HEALTH_INTERVAL=$(LAB_HEALTH_INTERVAL) LB_CONFIG=$(LB_CONFIG) PROFILES='--profile gray'
	@LAB_T0=$$(date +%s.%N) $(LAB_ENV) LB_PORT=$(LB_GRAY_PORT) ADMIN_PORT=$(ADMIN_GRAY_PORT) lab/wait.sh 3 $(LAB_WAIT_TIMEOUT)

# The scenarios' variants name their balancers as
# http://${LB_HOST:-127.0.0.1}:${LB_PORT:-8080} and so on: the environment
# sets them. The load goes to the lb and lb-gray containers' own addresses
# (port 8080 inside), not through the published ports: Docker's userland
# proxy adds its own latency and CPU to every request, and its spread hid
# the tail the tail scenario sets. The admin APIs stay on the published ports.
GRAY_RUN = $(BIN)/loadtest run --out $(RESULTS) \
	$(if $(COMPOSE_PROJECT_NAME),--project $(COMPOSE_PROJECT_NAME)) $(LOADTEST_FLAGS)
GRAY_ENV = LB_HOST=$$lb LB_PORT=8080 ADMIN_PORT=$(ADMIN_PORT) LB_GRAY_HOST=$$gray LB_GRAY_PORT=8080 ADMIN_GRAY_PORT=$(ADMIN_GRAY_PORT)

# None of them starts, restarts or scales a container (configure, pause and
# unpause only): Docker's health checks every LAB_MEASURE_HEALTH_INTERVAL
# (mk/lab.mk, mk/loadtest.mk), not every 2 s; and lb without its access log
# (lab/lb-measure.json), as lb-gray, so that the two differ only by the knobs.
$(addprefix scenario-,$(GRAY_SCENARIOS)): LAB_HEALTH_INTERVAL = $(LAB_MEASURE_HEALTH_INTERVAL)
$(addprefix scenario-,$(GRAY_SCENARIOS)): LB_CONFIG = $(LAB_MEASURE_LB_CONFIG)
$(addprefix scenario-,$(GRAY_SCENARIOS)): scenario-%: build lab-up-gray ## (gray) run scenarios/%.yaml against lb and lb-gray
	@lb=$$($(LAB_ENV) lab/container-ip.sh lb) && gray=$$($(LAB_ENV) lab/container-ip.sh lb-gray) || exit 1; \
	echo "load to the lb container at $$lb:8080 and lb-gray at $$gray:8080"; \
	$(GRAY_ENV) $(GRAY_RUN) scenarios/$*.yaml

scenarios-gray: build ## the four gray-failure scenarios, one after another
	@failed=""; for s in $(GRAY_SCENARIOS); do \
	  $(MAKE) --no-print-directory scenario-$$s || failed="$$failed $$s"; \
	done; \
	if [ -n "$$failed" ]; then echo "scenarios failed:$$failed"; exit 1; fi; \
	echo "all gray scenarios passed"
