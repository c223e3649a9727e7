#!/bin/sh
# lab/api-env.sh -- print the environment that Compose needs to talk to this
# Docker Engine, as NAME=value words (nothing when nothing is needed).
#
# docker-compose 1.29 (docker-py) speaks a fixed, old API version; Docker
# Engine 29 and later refuse anything below their minimum API version (1.44).
# Against such an engine, pin COMPOSE_API_VERSION and DOCKER_API_VERSION to the
# engine's minimum, unless the user set either already.
[ -n "${COMPOSE_API_VERSION:-}${DOCKER_API_VERSION:-}" ] && exit 0
set -- $(docker version --format '{{.Server.Version}} {{.Server.MinAPIVersion}}' 2>/dev/null)
case "${1:-}" in
[0-9]*)
	[ "${1%%.*}" -ge 29 ] && [ -n "${2:-}" ] && echo "COMPOSE_API_VERSION=$2 DOCKER_API_VERSION=$2"
	;;
esac
exit 0
