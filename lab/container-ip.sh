#!/usr/bin/env bash
# lab/container-ip.sh SERVICE -- the address of the running container of the
# Compose service SERVICE in project $COMPOSE_PROJECT_NAME (default lblab),
# on the lab's network. The measurement scenarios send their load there
# rather than through the published port on 127.0.0.1: Docker's userland
# proxy adds its own latency and CPU to every request (and at 400 requests/s
# of queued requests it was seen to die).
set -euo pipefail
svc=${1:?usage: lab/container-ip.sh SERVICE}
project=${COMPOSE_PROJECT_NAME:-lblab}
ids=$(docker ps -q --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$svc")
[[ -n $ids ]] || { echo "container-ip: no running container of service $svc in project $project (is the lab up?)" >&2; exit 1; }
ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' ${ids%%$'\n'*} | awk '{print $1}')
[[ -n $ip ]] || { echo "container-ip: the container of service $svc in project $project has no address" >&2; exit 1; }
echo "$ip"
