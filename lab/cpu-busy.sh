#!/usr/bin/env bash
# lab/cpu-busy.sh [SECONDS] -- the share of all CPUs busy over SECONDS
# (default 30), from /proc/stat: 1 - (idle + iowait) / total, over every
# CPU together. Used to measure what an idle lab costs (docs/lab.md,
# "Health-check interval"): run it with the lab up and nothing else running.
set -euo pipefail
secs=${1:-30}
[[ $secs =~ ^[0-9]+$ && $secs -gt 0 ]] || { echo "cpu-busy: SECONDS must be a whole number above 0, not '$secs'" >&2; exit 2; }
# The first line of /proc/stat: cpu user nice system idle iowait irq softirq steal ...
sample() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6; exit }' /proc/stat; }
read -r t0 i0 < <(sample)
sleep "$secs"
read -r t1 i1 < <(sample)
awk -v t="$((t1 - t0))" -v i="$((i1 - i0))" -v s="$secs" -v n="$(nproc)" \
	'BEGIN { printf "busy %.1f%% of %d CPUs over %d s (%.1f%% of one CPU)\n", 100 * (t - i) / t, n, s, 100 * n * (t - i) / t }'
