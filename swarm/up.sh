#!/usr/bin/env bash
# swarm/up.sh -- deploy the lblab stack (swarm/stack.yaml) to Docker Swarm and
# wait until its balancer has every backend healthy. `make swarm-up` runs it
# after building the images.
#
# Environment (all optional):
#   STACK=lbswarm           stack name
#   LB_PORT=8080            the balancer's port (published in host mode)
#   ADMIN_PORT=9090         the admin port (published in host mode, runtime API behind a token)
#   BACKENDS=3              backend tasks
#   BACKEND_CAPACITY=0      requests each backend serves at once (0: no limit)
#   BACKEND_RESTART_DELAY=5s  how long Swarm waits before it replaces a failed backend task
#   LBLAB_TAG=dev           image tag: lblab/lb:TAG, lblab/backend:TAG
#   LBLAB_ADMIN_TOKEN=...   the admin token (default: generated once, kept in .swarm/STACK/admin-token)
#   SWARM_INIT=1            initialise a single-node swarm when this node is in none
#   SWARM_ADVERTISE_ADDR=127.0.0.1  the address `docker swarm init` advertises
#   SWARM_USE=1             deploy into a swarm that swarm-up did not initialise
#   SWARM_WAIT_TIMEOUT=90   seconds to wait for the stack to be healthy
#
# What it refuses, changing nothing: a node that is a swarm worker (stacks
# are deployed from managers), a swarm that swarm-up did not initialise
# (unless SWARM_USE=1), a node in no swarm (unless SWARM_INIT=1), a swarm that
# is locked, pending or in error, ports taken by something else.
#
# A swarm it initialised is recorded in .swarm/initialised, so that
# `make swarm-down` leaves it again; if the deployment fails or is
# interrupted, it leaves it at once.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
stack=${STACK:-lbswarm}
lb_port=${LB_PORT:-8080}
admin_port=${ADMIN_PORT:-9090}
backends=${BACKENDS:-3}
capacity=${BACKEND_CAPACITY:-0}
restart_delay=${BACKEND_RESTART_DELAY:-5s}
tag=${LBLAB_TAG:-dev}
advertise=${SWARM_ADVERTISE_ADDR:-127.0.0.1}
wait_timeout=${SWARM_WAIT_TIMEOUT:-90}
state_dir=.swarm
marker=$state_dir/initialised

fail() {
	printf 'swarm: %s\n' "$1" >&2
	shift
	for hint in "$@"; do printf '       %s\n' "$hint" >&2; done
	exit 1
}

# --- inputs -----------------------------------------------------------------
[[ $stack =~ ^[a-zA-Z0-9][a-zA-Z0-9_-]*$ ]] ||
	fail "STACK=$stack is not a stack name." "Use letters, digits, - and _, e.g. STACK=lbswarm."
for v in "LB_PORT=$lb_port" "ADMIN_PORT=$admin_port"; do
	p=${v#*=}
	[[ $p =~ ^[0-9]+$ ]] && ((p >= 1 && p <= 65535)) ||
		fail "$v is not a port number." "Use a number between 1 and 65535."
done
[[ $lb_port != "$admin_port" ]] || fail "LB_PORT and ADMIN_PORT are both $lb_port." "Give them different values."
[[ $backends =~ ^[0-9]+$ ]] && ((backends >= 1 && backends <= 50)) ||
	fail "BACKENDS=$backends is out of range 1..50."
[[ $capacity =~ ^[0-9]+$ ]] || fail "BACKEND_CAPACITY=$capacity is not a number of requests."
[[ $restart_delay =~ ^[0-9]+(ms|s|m)$ ]] ||
	fail "BACKEND_RESTART_DELAY=$restart_delay is not a duration." "Use e.g. 5s, 500ms or 1m."
if [[ -n ${LBLAB_ADMIN_TOKEN:-} && ! ${LBLAB_ADMIN_TOKEN} =~ ^[A-Za-z0-9._~+/=-]+$ ]]; then
	fail "LBLAB_ADMIN_TOKEN holds characters other than letters, digits and ._~+/=-." "Use a token of those, e.g. openssl rand -hex 16."
fi

command -v docker >/dev/null 2>&1 || fail "docker is not installed."
if ! info=$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeID}} {{.Swarm.Nodes}}' 2>&1); then
	fail "the Docker daemon is not reachable${DOCKER_HOST:+ at DOCKER_HOST=$DOCKER_HOST}." "docker said: $(tail -n 1 <<<"$info")"
fi
LBLAB_TAG=$tag lab/preflight.sh images || exit 1

# --- the swarm ---------------------------------------------------------------
read -r state control node nodes <<<"$info"
ours=0
if [[ -f $marker ]] && grep -qx "node=$node" "$marker" 2>/dev/null && [[ -n $node ]]; then
	ours=1
fi
init=0
case "$state" in
inactive)
	[[ ${SWARM_INIT:-} == 1 ]] ||
		fail "this Docker node is not in a swarm; nothing was changed." \
			"make swarm-up SWARM_INIT=1 initialises a single-node swarm here (docker swarm init --advertise-addr $advertise)," \
			"and make swarm-down leaves it again. For a swarm of several machines, see docs/swarm.md."
	init=1
	;;
active)
	[[ $control == true ]] ||
		fail "this Docker node is a worker of a swarm; nothing was changed." \
			"Stacks are deployed from a manager: run make swarm-up there (docker node ls on a manager lists the nodes)," \
			"or make this node a manager (docker node promote $(hostname) on a manager)."
	if ((!ours)) && [[ ${SWARM_USE:-} != 1 ]]; then
		services=$(docker service ls --format '{{.Name}}' 2>/dev/null | grep -v "^${stack}_" | head -n 5 | tr '\n' ' ')
		fail "this node is a manager of a swarm that make swarm-up did not initialise (${nodes:-?} nodes${services:+; services: $services}); nothing was changed." \
			"To deploy the stack into it anyway: make swarm-up SWARM_USE=1 (make swarm-down then removes the stack, never the swarm)."
	fi
	;;
pending) fail "this node is joining a swarm (state pending); nothing was changed." "Wait for the join to finish, or docker swarm leave." ;;
locked) fail "this node's swarm is locked; nothing was changed." "Unlock it: docker swarm unlock" ;;
error) fail "this node's swarm is in error; nothing was changed." "See: docker info (Swarm section)" ;;
*) fail "unknown swarm state '$state' (docker info); nothing was changed." ;;
esac

# port_in_use PORT: something accepts connections on 127.0.0.1:PORT.
port_in_use() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
published=" "
if [[ $state == active ]]; then
	published=" $(docker service inspect "${stack}_lb" --format '{{range .Spec.EndpointSpec.Ports}}{{.PublishedPort}} {{end}}' 2>/dev/null) "
fi
for v in "LB_PORT=$lb_port" "ADMIN_PORT=$admin_port"; do
	p=${v#*=}
	if port_in_use "$p" && [[ $published != *" $p "* ]]; then
		fail "port $p (${v%%=*}) is already taken on this machine; nothing was changed." \
			"Free it (see: ss -ltnp 'sport = :$p'), or use another one, e.g. make swarm-up ${v%%=*}=$((p + 10000))"
	fi
done

deployed=0
cleanup() {
	local rc=$?
	((init && !deployed)) || return
	echo "swarm: swarm-up did not finish: removing the stack and leaving the swarm it initialised" >&2
	docker stack rm "$stack" >/dev/null 2>&1
	docker swarm leave --force >/dev/null 2>&1
	if grep -qx "gwbridge=created" "$marker" 2>/dev/null; then
		local i
		for i in $(seq 1 40); do # the swarm's sandboxes leave it a few seconds after
			docker network rm docker_gwbridge >/dev/null 2>&1 && break
			docker network inspect docker_gwbridge >/dev/null 2>&1 || break
			sleep 0.25
		done
	fi
	rm -f "$marker"
	rm -rf "${state_dir:?}/$stack"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$state_dir/$stack" || fail "cannot create $state_dir/$stack"
if ((init)); then
	gw=created
	docker network inspect docker_gwbridge >/dev/null 2>&1 && gw=existed
	out=$(docker swarm init --advertise-addr "$advertise" 2>&1) ||
		fail "docker swarm init --advertise-addr $advertise failed: $(tail -n 1 <<<"$out")"
	node=$(docker info --format '{{.Swarm.NodeID}}')
	printf 'node=%s\ngwbridge=%s\n' "$node" "$gw" >"$marker"
	echo "swarm: initialised a single-node swarm (node $node, advertising $advertise); make swarm-down leaves it"
fi

# --- the stack ---------------------------------------------------------------
token_file=$state_dir/$stack/admin-token
token=${LBLAB_ADMIN_TOKEN:-}
if [[ -z $token && -s $token_file ]]; then
	token=$(cat "$token_file")
fi
if [[ -z $token ]]; then
	token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
fi
(umask 077 && printf '%s\n' "$token" >"$token_file") || fail "cannot write $token_file"
config=$state_dir/$stack/lb.json
(umask 077 && sed "s/@ADMIN_TOKEN@/$token/" swarm/lb.json >"$config") || fail "cannot write $config"
hash=$(sha256sum "$config" | cut -c1-12)

t0=$(date +%s.%N)
if ! out=$(env LBLAB_TAG="$tag" LB_PORT="$lb_port" ADMIN_PORT="$admin_port" BACKENDS="$backends" \
	BACKEND_CAPACITY="$capacity" BACKEND_RESTART_DELAY="$restart_delay" \
	LB_CONFIG_FILE="$PWD/$config" LB_CONFIG_SECRET="${stack}_lb_config_$hash" \
	docker stack deploy --resolve-image never --prune -c swarm/stack.yaml "$stack" 2>&1); then
	printf '%s\n' "$out" >&2
	fail "docker stack deploy of $stack failed (see above)."
fi
grep -v -e 'detach=false' -e 'future release' <<<"$out"

# converged: every service of the stack runs as many tasks as it wants, and
# no update is rolling out (a redeploy with a new configuration replaces the
# tasks one by one after docker stack deploy returned).
converged() {
	local name replicas state n=0
	while read -r name replicas; do
		n=$((n + 1))
		[[ $replicas =~ ^([0-9]+)/([0-9]+) ]] && [[ ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]] || return 1
		state=$(docker service inspect --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$name" 2>/dev/null) || return 1
		case "$state" in "" | completed | rollback_completed) ;; *) return 1 ;; esac
	done < <(docker service ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Name}} {{.Replicas}}')
	((n >= 2))
}
deadline=$((SECONDS + wait_timeout))
until converged; do
	if ((SECONDS >= deadline)); then
		docker stack ps --no-trunc "$stack" >&2
		fail "the stack's services did not converge within ${wait_timeout}s (see the tasks above; docker service ps ${stack}_backend)."
	fi
	sleep 0.5
done
# Then the balancer: every backend task healthy in its status, and no other
# (those of a rolling update gone).
if ! LAB_T0=$t0 COMPOSE_PROJECT_NAME="$stack" LB_PORT="$lb_port" ADMIN_PORT="$admin_port" \
	lab/wait.sh --exact backend:8000 "$backends" "$wait_timeout"; then
	docker stack ps --no-trunc "$stack" >&2
	fail "the stack is not healthy after ${wait_timeout}s (see the tasks above; docker service logs ${stack}_lb)."
fi
deployed=1
echo "swarm: stack $stack: lb on http://127.0.0.1:$lb_port, admin on http://127.0.0.1:$admin_port"
echo "       (both published on every address of this node; the runtime API needs the token in $token_file)"
echo "       make swarm-scenario-failover, make swarm-ps, make swarm-down"
