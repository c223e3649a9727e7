# mk/lab.mk -- the Compose lab (compose.yaml): images, up, down, logs, ps.
# Included by the top-level Makefile. Each target builds what it needs first;
# lab/preflight.sh turns "Docker not running", "port taken" and "image not
# built" into one line that says how to fix it.
#
#   make up                         lb on 127.0.0.1:8080, admin on 127.0.0.1:9090, 3 backends
#   make up LB_BIND=0.0.0.0         lb published on every interface
#   make up LB_PORT=18080 ADMIN_PORT=19090 COMPOSE_PROJECT_NAME=mylab
#   make lab-up-slow                + backend-slow (profile slow, 40 ms)
#   make lab-up-tcp                 + lb-tcp (profile tcp): TCP mode on :8081, admin 127.0.0.1:9091
#   make up BACKEND_CAPACITY=2      backends serve 2 requests at once, the rest queue (default 0: no limit)
#   make up LAB_HEALTH_INTERVAL=30s Docker health checks every 30 s instead of 2 s (less CPU, slower `make ps`)
#   make lab-scale BACKENDS=5       docker-compose up -d --scale backend=5
#   make logs [SERVICE=lb]   make ps   make down

COMPOSE_PROJECT_NAME ?= lblab
# The host address lb (and lb-tcp) is published on: 127.0.0.1 keeps the lab
# to this machine; LB_BIND=0.0.0.0 publishes it on every interface.
LB_BIND              ?= 127.0.0.1
LB_PORT              ?= 8080
ADMIN_PORT           ?= 9090
LB_TCP_PORT          ?= 8081
ADMIN_TCP_PORT       ?= 9091
# Requests each backend serves at once (0 = no limit); compose.yaml passes it
# to the backends. A change recreates them on the next up.
BACKEND_CAPACITY     ?= 0
# Latency distribution of the backends (empty: none); e.g. exp:10ms for the
# supermarket. A change recreates them on the next up.
BACKEND_LATENCY_DIST ?=
# How often Docker runs each container's health check (compose.yaml). Every
# check is a `runc exec`: every 2s, an idle lab of 4 containers kept 20.7% of
# this 2-core machine busy, 2.2% every 60s (docs/lab.md, "Health-check
# interval"). The measurement scenarios (mk/loadtest.mk, mk/gray.mk) use
# LAB_MEASURE_HEALTH_INTERVAL. A change recreates the containers on the next up.
LAB_HEALTH_INTERVAL  ?= 2s
LAB_MEASURE_HEALTH_INTERVAL ?= 60s
# The balancer's config file, from lab/ (compose.yaml). The measurement
# scenarios use LAB_MEASURE_LB_CONFIG: the same without the access log.
LB_CONFIG            ?= lb.json
LAB_MEASURE_LB_CONFIG ?= lb-measure.json
# Extra flags for `compose up` in lab-start (e.g. --scale backend=10).
UP_FLAGS             ?=
BACKENDS             ?= 5
SERVICE              ?=
LAB_WAIT_TIMEOUT     ?= 60
# Image tag: lblab/lb:$(LBLAB_TAG) and lblab/backend:$(LBLAB_TAG).
LBLAB_TAG            ?= dev
LAB_IMAGES            = lblab/lb:$(LBLAB_TAG) lblab/backend:$(LBLAB_TAG)
# OCI labels of the images (org.opencontainers.image.version, .revision, .source).
IMAGE_REVISION       ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE_SOURCE         ?= https://github.com/lblab/lblab
IMAGE_LABEL_ARGS      = --build-arg VERSION=$(VERSION) --build-arg REVISION=$(IMAGE_REVISION) --build-arg SOURCE=$(IMAGE_SOURCE)
# down and ps see the services of every profile, not only the default ones.
LAB_ALL_PROFILES     := --profile slow --profile scaling --profile tcp --profile gray

# The Compose command: the `docker compose` plugin where present, else
# Debian's docker-compose 1.29. Worked out once, when a lab target first needs it.
ifeq ($(origin COMPOSE),undefined)
COMPOSE = $(eval COMPOSE := $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose))$(COMPOSE)
endif

# docker-compose 1.29 speaks a fixed, old Docker API version; Engine 29 and
# later refuse anything below their minimum (1.44). lab/api-env.sh prints
# COMPOSE_API_VERSION=... DOCKER_API_VERSION=... (the engine's minimum) against
# such an engine, nothing otherwise or when either is set already. Worked out once.
LAB_API_ENV = $(eval LAB_API_ENV := $(shell lab/api-env.sh))$(LAB_API_ENV)

# LAB_ENV prefixes every docker / compose command of the lab targets.
LAB_ENV = env COMPOSE_PROJECT_NAME=$(COMPOSE_PROJECT_NAME) LB_BIND=$(LB_BIND) LB_PORT=$(LB_PORT) ADMIN_PORT=$(ADMIN_PORT) \
	LB_TCP_PORT=$(LB_TCP_PORT) ADMIN_TCP_PORT=$(ADMIN_TCP_PORT) BACKEND_CAPACITY=$(BACKEND_CAPACITY) \
	BACKEND_LATENCY_DIST=$(BACKEND_LATENCY_DIST) LAB_HEALTH_INTERVAL=$(LAB_HEALTH_INTERVAL) LB_CONFIG=$(LB_CONFIG) LBLAB_TAG=$(LBLAB_TAG) $(LAB_API_ENV)
# Without buildx the docker CLI falls back to the legacy builder; say so up
# front instead of failing (the images are two COPYs, BuildKit adds nothing).
LAB_BUILD_ENV = $(shell docker buildx version >/dev/null 2>&1 || echo DOCKER_BUILDKIT=0)
LAB_COMPOSE = $(LAB_ENV) $(COMPOSE)
LAB_PREFLIGHT = $(LAB_ENV) lab/preflight.sh

.PHONY: images up lab-up lab-up-slow lab-up-scaling lab-up-tcp lab-start lab-scale down lab-down logs lab-logs ps lab-ps

images: build ## docker images lblab/lb:dev and lblab/backend:dev (FROM scratch + static binary; LBLAB_TAG=dev)
	@$(LAB_PREFLIGHT) docker bins
	@for img in lb:Dockerfile backend:Dockerfile.backend; do \
	  out=$$($(LAB_ENV) $(LAB_BUILD_ENV) docker build -q $(IMAGE_LABEL_ARGS) -f $${img#*:} -t lblab/$${img%%:*}:$(LBLAB_TAG) . 2>&1) || { \
	    grep -v -e DEPRECATED -e 'legacy builder' -e BuildKit -e buildx -e '^ *$$' <<<"$$out" >&2; \
	    echo "lab: docker build of lblab/$${img%%:*}:$(LBLAB_TAG) failed (see above)" >&2; exit 1; }; \
	done
	@# A rebuilt tag leaves the previous image dangling: drop this project's dangling ones.
	@docker image prune -f --filter label=org.lblab.image >/dev/null
	@$(LAB_PREFLIGHT) images
	@docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' $(addprefix --filter reference=,$(LAB_IMAGES))

# The services of each profile, profile:service. lab-start removes those of
# the profiles it was not asked for, so that no scenario measures a lab that
# another one left in its own shape (a backend-slow still running, say).
LAB_PROFILE_SERVICES := slow:backend-slow scaling:backend-extra tcp:lb-tcp gray:lb-gray
lab_unwanted = $(strip $(foreach p,$(LAB_PROFILE_SERVICES),$(if $(filter $(firstword $(subst :, ,$(p))),$(PROFILES)),,$(lastword $(subst :, ,$(p))))))

# lab-start PROFILES=... WANT=n [TCP=1] [UP_FLAGS=...]: start (or update) the
# lab from built images, without the services of other profiles, and wait
# until lb (and with TCP=1 lb-tcp) has n healthy backends, every running
# replica among them.
lab-start:
	@$(LAB_PREFLIGHT) docker images checkout ports $(if $(TCP),tcpports)
	$(if $(lab_unwanted),@$(LAB_COMPOSE) $(LAB_ALL_PROFILES) rm -s -f $(lab_unwanted) >/dev/null 2>&1 || true)
	@t0=$$(date +%s.%N); \
	$(LAB_COMPOSE) $(PROFILES) up -d $(UP_FLAGS) || { \
	  echo "lab: '$(COMPOSE) up' failed (see above). Clean up with: make down" >&2; exit 1; }; \
	LAB_T0=$$t0 $(LAB_ENV) lab/wait.sh $(or $(WANT),3) $(LAB_WAIT_TIMEOUT) \
	$(if $(TCP),&& LAB_T0=$$t0 $(LAB_ENV) lab/wait.sh --tcp 3 $(LAB_WAIT_TIMEOUT))

up: lab-up ## start the Compose lab (images first), wait until lb has 3 healthy backends
lab-up: images
	@$(MAKE) --no-print-directory lab-start LAB_HEALTH_INTERVAL=$(LAB_HEALTH_INTERVAL) LB_CONFIG=$(LB_CONFIG)

lab-up-slow: images ## the lab plus backend-slow (profile slow, +40 ms)
	@$(MAKE) --no-print-directory lab-start LAB_HEALTH_INTERVAL=$(LAB_HEALTH_INTERVAL) LB_CONFIG=$(LB_CONFIG) PROFILES='--profile slow' WANT=4

lab-up-scaling: images ## the lab plus 2 backend-extra replicas (profile scaling, 5 backends)
	@$(MAKE) --no-print-directory lab-start LAB_HEALTH_INTERVAL=$(LAB_HEALTH_INTERVAL) LB_CONFIG=$(LB_CONFIG) PROFILES='--profile scaling' WANT=5

lab-up-tcp: images ## the lab plus lb-tcp (profile tcp): TCP mode on :8081, admin 127.0.0.1:9091 (LB_TCP_PORT, ADMIN_TCP_PORT)
	@$(MAKE) --no-print-directory lab-start LAB_HEALTH_INTERVAL=$(LAB_HEALTH_INTERVAL) LB_CONFIG=$(LB_CONFIG) PROFILES='--profile tcp' TCP=1

lab-scale: ## scale the running lab: make lab-scale BACKENDS=5 (lb picks replicas up by DNS)
	@$(LAB_PREFLIGHT) docker images checkout
	@t0=$$(date +%s.%N); \
	$(LAB_COMPOSE) up -d --no-recreate --scale backend=$(BACKENDS) && \
	LAB_T0=$$t0 $(LAB_ENV) lab/wait.sh --exact backend:8000 $(BACKENDS) $(LAB_WAIT_TIMEOUT)

down: lab-down ## stop the lab and remove its containers, network and volumes
lab-down:
	@$(LAB_PREFLIGHT) docker
	@$(LAB_COMPOSE) $(LAB_ALL_PROFILES) down -v --remove-orphans

logs: lab-logs ## follow the lab's logs (SERVICE=lb for one service)
lab-logs:
	@$(LAB_PREFLIGHT) docker
	@$(LAB_COMPOSE) $(LAB_ALL_PROFILES) logs -f --tail=100 $(SERVICE)

ps: lab-ps ## the lab's containers and their health
lab-ps:
	@$(LAB_PREFLIGHT) docker
	@$(LAB_COMPOSE) $(LAB_ALL_PROFILES) ps
