#!/usr/bin/env bash
# lab/test-busy.sh [N] -- run `make test` N times in a row (default 5) with
# both cores kept busy by two busy loops, as issue 15 asks; stop at the first
# failure. The loops are this script's own children, bounded by `timeout` and
# killed by PID when it exits (also on Ctrl-C). Each run's output goes to
# $LOGS/run-K.log (default results/test-busy/), one line per run to
# $LOGS/runs.txt. Exit status: 0 when all N passed, else that of the failed run.
set -uo pipefail
n=${1:-5}
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "test-busy: N must be a whole number above 0, not '$n'" >&2; exit 2; }
cd "$(dirname "$0")/.."
logs=${LOGS:-results/test-busy}
mkdir -p "$logs"
pids=()
stop_loops() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap stop_loops EXIT
trap 'exit 130' INT TERM
for _ in 1 2; do timeout 3600 bash -c 'while :; do :; done' & pids+=($!); done
echo "$(date -u +%FT%T) start: $n runs of make test beside busy loops ${pids[*]}, commit $(git rev-parse --short HEAD)" | tee -a "$logs/runs.txt"
rc=0
for k in $(seq 1 "$n"); do
	t0=$(date +%s)
	la=$(cut -d' ' -f1-3 /proc/loadavg)
	make test > "$logs/run-$k.log" 2>&1
	rc=$?
	echo "$(date -u +%FT%T) run $k: rc=$rc $(($(date +%s) - t0)) s (load average at start $la)" | tee -a "$logs/runs.txt"
	[[ $rc -eq 0 ]] || { echo "test-busy: run $k failed; its output: $logs/run-$k.log" >&2; break; }
done
exit "$rc"
