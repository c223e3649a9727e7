#!/usr/bin/env bash
# lab/preflight.sh CHECK... -- checks before the Compose lab starts, each
# failing with one line that says what is wrong and how to fix it.
#
#   docker    the Docker daemon answers, and a Compose tool is installed
#   bins      bin/lb and bin/backend exist (make build)
#   images    lblab/lb:dev and lblab/backend:dev exist (make images)
#   ports     $LB_PORT and $ADMIN_PORT are free on 127.0.0.1, or already
#             published by this project's lb ($COMPOSE_PROJECT_NAME)
#   tcpports  the same for $LB_TCP_PORT and $ADMIN_TCP_PORT (lb-tcp, profile tcp)
#   checkout  no container of $COMPOSE_PROJECT_NAME was started from another
#             checkout (Compose's com.docker.compose.project.working_dir label):
#             a second clone would otherwise take over (and recreate) the lab
#             the first one runs
#
# Exit status: 0 all passed, 1 a check failed, 2 unknown check.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
project=${COMPOSE_PROJECT_NAME:-lblab}
lb_port=${LB_PORT:-8080}
admin_port=${ADMIN_PORT:-9090}
lb_tcp_port=${LB_TCP_PORT:-8081}
admin_tcp_port=${ADMIN_TCP_PORT:-9091}

fail() {
	printf 'lab: %s\n' "$1" >&2
	shift
	for hint in "$@"; do printf '     %s\n' "$hint" >&2; done
	exit 1
}

check_docker() {
	command -v docker >/dev/null 2>&1 ||
		fail "docker is not installed." "Install Docker Engine (Debian: apt-get install docker.io docker-compose)."
	local out
	if ! out=$(docker version --format '{{.Server.Version}}' 2>&1); then
		case "$out" in
		*"permission denied"*)
			fail "no permission to talk to the Docker daemon." \
				"Add yourself to the docker group (sudo usermod -aG docker \$USER, then log in again) or use sudo." ;;
		*)
			fail "the Docker daemon is not running (or not reachable${DOCKER_HOST:+ at DOCKER_HOST=$DOCKER_HOST})." \
				"Start it: sudo systemctl start docker (or start Docker Desktop), then retry." \
				"docker said: $(printf '%s' "$out" | tail -n 1)" ;;
		esac
	fi
	if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
		fail "no Compose tool: neither 'docker compose' nor 'docker-compose' is installed." \
			"Install one (Debian: apt-get install docker-compose)."
	fi
}

check_bins() {
	local b
	for b in lb backend; do
		[[ -x bin/$b ]] || fail "bin/$b is missing." "Run: make build (make images and make up do it for you)."
	done
}

check_images() {
	local img
	for img in lblab/lb:${LBLAB_TAG:-dev} lblab/backend:${LBLAB_TAG:-dev}; do
		docker image inspect "$img" >/dev/null 2>&1 ||
			fail "image $img is not built (nothing can be pulled: there is no registry)." "Run: make images"
	done
}

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT.
port_in_use() {
	timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# ours SERVICE PORT: this project's SERVICE container publishes PORT (a lab
# already up).
ours() {
	local id
	for id in $(docker ps -q --filter "label=com.docker.compose.project=$project" \
		--filter "label=com.docker.compose.service=$1" 2>/dev/null); do
		docker port "$id" 2>/dev/null | grep -qE ":$2\$" && return 0
	done
	return 1
}

# check_pair SERVICE NAME1 PORT1 NAME2 PORT2: both ports are numbers, differ,
# and are free or published by SERVICE of this project.
check_pair() {
	local service=$1 name port
	set -- "$2" "$3" "$4" "$5"
	while (($# >= 2)); do
		name=$1 port=$2
		shift 2
		[[ $port =~ ^[0-9]+$ ]] && ((port >= 1 && port <= 65535)) ||
			fail "$name=$port is not a port number." "Use a number between 1 and 65535, e.g. $name=18080."
		if port_in_use "$port" && ! ours "$service" "$port"; then
			fail "port $port ($name) is already taken on this machine." \
				"Free it (see: ss -ltnp 'sport = :$port'), or use another one, e.g. make ... $name=$((port + 10000))" \
				"(a lab under another project name? COMPOSE_PROJECT_NAME=... make down)"
		fi
	done
}

check_ports() {
	[[ $lb_port != "$admin_port" ]] || fail "LB_PORT and ADMIN_PORT are both $lb_port." "Give them different values."
	check_pair lb LB_PORT "$lb_port" ADMIN_PORT "$admin_port"
}

check_tcpports() {
	local p
	for p in "$lb_port" "$admin_port"; do
		[[ $p != "$lb_tcp_port" && $p != "$admin_tcp_port" ]] ||
			fail "port $p is given to both lb and lb-tcp (LB_PORT=$lb_port ADMIN_PORT=$admin_port LB_TCP_PORT=$lb_tcp_port ADMIN_TCP_PORT=$admin_tcp_port)." \
				"Give each a different value."
	done
	[[ $lb_tcp_port != "$admin_tcp_port" ]] || fail "LB_TCP_PORT and ADMIN_TCP_PORT are both $lb_tcp_port." "Give them different values."
	check_pair lb-tcp LB_TCP_PORT "$lb_tcp_port" ADMIN_TCP_PORT "$admin_tcp_port"
}

check_checkout() {
	local here dir id
	here=$(pwd -P)
	for id in $(docker ps -aq --filter "label=com.docker.compose.project=$project" 2>/dev/null); do
		dir=$(docker inspect --format '{{index .Config.Labels "com.docker.compose.project.working_dir"}}' "$id" 2>/dev/null) || continue
		[[ -n $dir && $dir != "<no value>" ]] || continue
		if [[ $(cd "$dir" 2>/dev/null && pwd -P || printf '%s' "$dir") != "$here" ]]; then
			fail "a lab named $project is already up, started from another checkout: $dir" \
				"This checkout ($here) would take it over. Stop it there (cd $dir && make down)," \
				"or run this one beside it under another name and ports, e.g." \
				"make ... COMPOSE_PROJECT_NAME=${project}2 LB_PORT=18080 ADMIN_PORT=19090"
		fi
	done
}

[[ $# -gt 0 ]] || set -- docker bins images ports checkout
for check in "$@"; do
	case "$check" in
	docker | bins | images | ports | tcpports | checkout) "check_$check" ;;
	*)
		echo "lab/preflight.sh: unknown check '$check' (docker, bins, images, ports, tcpports, checkout)" >&2
		exit 2
		;;
	esac
done
