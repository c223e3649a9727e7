#!/usr/bin/env bash
# lab/wait.sh [--tcp] [--exact SOURCE] [BACKENDS] [TIMEOUT_SECONDS] -- wait
# until the lab's balancer is ready, then print how long it took since $LAB_T0
# (unix seconds with fractions; default: when this script started).
#
# Ready means: /__health__ counts at least BACKENDS healthy backends (default
# 3), and every running replica of the Compose service "backend" is listed as
# healthy in /__status__, by address. The second part matters after Compose
# recreated the backends (new images, BACKEND_CAPACITY changed): until its next
# DNS resolve the balancer still lists the old replicas, healthy, and the
# count alone would say ready too early. With --exact, /__status__ must also
# list exactly BACKENDS backends from the entry SOURCE (e.g. backend:8000,
# after scaling down).
#
# The HTTP balancer (service lb) is asked on 127.0.0.1:$LB_PORT; with --tcp,
# the TCP one (service lb-tcp) on its admin port 127.0.0.1:$ADMIN_TCP_PORT
# (in TCP mode the status endpoints are only there). Default timeout 60 s.
set -uo pipefail

project=${COMPOSE_PROJECT_NAME:-lblab}
port=${LB_PORT:-8080}
admin=${ADMIN_PORT:-9090}
what=lb
if [[ ${1:-} == --tcp ]]; then
	port=${LB_TCP_PORT:-8081}
	admin=${ADMIN_TCP_PORT:-9091}
	what=lb-tcp
	base=http://127.0.0.1:$admin
	shift
else
	base=http://127.0.0.1:$port
fi
source=
if [[ ${1:-} == --exact ]]; then
	source=$2
	shift 2
fi
want=${1:-3}
limit=${2:-60}
t0=${LAB_T0:-$(date +%s.%N)}

command -v curl >/dev/null 2>&1 || {
	echo "lab: curl is needed to wait for the lab (Debian: apt-get install curl)." >&2
	exit 1
}

elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# replicas: the address (IP:8000) of each running replica of service backend.
replicas() {
	local ids
	ids=$(docker ps -q --filter "label=com.docker.compose.project=$project" \
		--filter "label=com.docker.compose.service=backend" 2>/dev/null) || return 1
	[[ -n $ids ]] || return 0
	# shellcheck disable=SC2086 # one word per ID
	docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}:8000 {{end}}' $ids 2>/dev/null
}

# healthy_addresses: the addresses /__status__ lists as healthy and up. The
# status is pretty-printed JSON, one field per line, "address" before
# "healthy" and "state" in each backend.
healthy_addresses() {
	awk '
		/"address":/ { gsub(/[",]/, "", $2); addr = $2; healthy = 0 }
		/"healthy": *true/ { healthy = 1 }
		/"state":/ { if (healthy && $2 ~ /"up"/) print addr }
	' <<<"$1"
}

deadline=$((SECONDS + limit))
healthy=0
missing=
while ((SECONDS < deadline)); do
	# /__health__: {"status": "healthy", "healthy_backends": n, ...}, 503 with none.
	body=$(curl -sS -m 1 "$base/__health__" 2>/dev/null) || body=
	healthy=$(sed -nE 's/.*"healthy_backends": *([0-9]+).*/\1/p' <<<"$body" | head -n 1)
	healthy=${healthy:-0}
	status=$(curl -sS -m 1 "$base/__status__" 2>/dev/null) || status=
	listed=$want
	if [[ -n $source ]]; then
		listed=$(grep -oE "\"source\": *\"$source\"" <<<"$status" | wc -l)
	fi
	missing=
	if ((healthy >= want && listed == want)); then
		up=" $(healthy_addresses "$status" | tr '\n' ' ') "
		for addr in $(replicas); do
			[[ $up == *" $addr "* ]] || missing+=" $addr"
		done
		if [[ -z $missing ]]; then
			echo "lab: ready in $(elapsed)s: $what on http://127.0.0.1:$port (admin http://127.0.0.1:$admin), $healthy healthy backends"
			exit 0
		fi
	fi
	sleep 0.2
done
echo "lab: not healthy after ${limit}s: $healthy of $want backends healthy behind $what ($base)." >&2
[[ -z $missing ]] || echo "     replicas not (yet) healthy in its /__status__:$missing" >&2
echo "     See what is wrong: make ps; make logs (or: curl $base/__status__)" >&2
exit 1
