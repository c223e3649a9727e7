#!/usr/bin/env bash
# swarm/down.sh -- remove the lblab stack, and leave the swarm when
# `make swarm-up SWARM_INIT=1` initialised it (.swarm/initialised) and nothing
# else runs in it. `make swarm-down` runs it.
#
# Environment: STACK=lbswarm, SWARM_WAIT_TIMEOUT=90 (seconds to wait for the
# stack's containers and network to go).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
stack=${STACK:-lbswarm}
wait_timeout=${SWARM_WAIT_TIMEOUT:-90}
state_dir=.swarm
marker=$state_dir/initialised

# remove_gwbridge removes the docker_gwbridge network the swarm brought,
# once the swarm's sandboxes have left it (a few seconds after leaving).
remove_gwbridge() {
	local i
	for i in $(seq 1 40); do
		docker network inspect docker_gwbridge >/dev/null 2>&1 || return 0
		if [[ $(docker network inspect docker_gwbridge --format '{{len .Containers}}' 2>/dev/null) == 0 ]] &&
			docker network rm docker_gwbridge >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.25
	done
	echo "swarm: the docker_gwbridge network is still in use; remove it later: docker network rm docker_gwbridge" >&2
}

fail() {
	printf 'swarm: %s\n' "$1" >&2
	shift
	for hint in "$@"; do printf '       %s\n' "$hint" >&2; done
	exit 1
}

[[ $stack =~ ^[a-zA-Z0-9][a-zA-Z0-9_-]*$ ]] || fail "STACK=$stack is not a stack name."
command -v docker >/dev/null 2>&1 || fail "docker is not installed."
if ! info=$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}} {{.Swarm.NodeID}}' 2>&1); then
	fail "the Docker daemon is not reachable${DOCKER_HOST:+ at DOCKER_HOST=$DOCKER_HOST}." "docker said: $(tail -n 1 <<<"$info")"
fi
read -r state control node <<<"$info"
if [[ $state != active ]]; then
	echo "swarm: this node is in no swarm (state $state): nothing to remove"
	rm -f "$marker"
	rm -rf "${state_dir:?}/$stack"
	exit 0
fi
[[ $control == true ]] ||
	fail "this node is a worker of a swarm; stacks are removed from a manager (make swarm-down there)."

if docker stack ls --format '{{.Name}}' | grep -qx "$stack"; then
	docker stack rm "$stack"
	# docker stack rm returns before the tasks and the network are gone.
	deadline=$((SECONDS + wait_timeout))
	while ((SECONDS < deadline)); do
		left=$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")
		if [[ -z $left ]] && ! docker network inspect "${stack}_default" >/dev/null 2>&1; then
			break
		fi
		sleep 0.5
	done
	((SECONDS < deadline)) || fail "the stack's containers or network are still there after ${wait_timeout}s (docker ps -a; docker network ls)."
	echo "swarm: stack $stack removed"
else
	echo "swarm: no stack $stack"
fi
rm -rf "${state_dir:?}/$stack"

if [[ ! -f $marker ]]; then
	echo "swarm: the swarm was not initialised by make swarm-up: left as it is"
	exit 0
fi
if ! grep -qx "node=$node" "$marker"; then
	echo "swarm: .swarm/initialised names another node than this one ($node): the swarm is left as it is"
	rm -f "$marker"
	exit 0
fi
others=$(docker service ls --format '{{.Name}}' | tr '\n' ' ')
if [[ -n ${others// /} ]]; then
	echo "swarm: the swarm make swarm-up initialised runs other services now ($others): not leaving it."
	echo "       Leave it when they are done: docker swarm leave --force"
	exit 0
fi
docker swarm leave --force >/dev/null || fail "docker swarm leave --force failed."
if grep -qx "gwbridge=created" "$marker"; then
	remove_gwbridge
fi
rm -f "$marker"
echo "swarm: left the single-node swarm make swarm-up initialised"
