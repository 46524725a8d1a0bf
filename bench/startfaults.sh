#!/usr/bin/env bash
# bench/startfaults.sh: page faults and CPU per start of Go binaries, and per
# connection of hellod binaries with --child exec (parent and children
# together), measured with perf stat in one run of two interleaved rounds
# (BENCHMARKS.md). Needs perf (Debian: linux-perf) and ab (apache2-utils).
# Loopback only; each load is bounded by a count (N) and ab's timeout.
#   bench/startfaults.sh NAME=BIN ... -- NAME=HELLOD_BIN ...   (R starts, N connections)
set -euo pipefail
R=${R:-300} N=${N:-3000}
bins=(); hellods=(); side=bins
for a in "$@"; do
  if [[ $a == -- ]]; then side=hellods; continue; fi
  if [[ $side == bins ]]; then bins+=("$a"); else hellods+=("$a"); fi
done
for round in 1 2; do
for b in "${bins[@]}"; do
  name=${b%%=*} path=${b#*=}
  out=$(GOMAXPROCS=1 perf stat -x, -e page-faults,task-clock -r "$R" "$path" 2>&1 >/dev/null)
  pf=$(awk -F, '$3=="page-faults"{print $1}' <<<"$out")
  tc=$(awk -F, '$3=="task-clock"{printf "%.0f", $1*1000}' <<<"$out")
  echo "round=$round bin=$name starts=$R faults_per_start=$pf cpu_us_per_start=$tc"
done
for h in "${hellods[@]}"; do
  name=${h%%=*} path=${h#*=}
  log=$(mktemp) pst=$(mktemp)
  perf stat -x, -e page-faults,task-clock -o "$pst" -- "$path" --child exec --listen 127.0.0.1:0 2>"$log" &
  ppid=$!
  addr=
  for _ in $(seq 100); do addr=$(grep -oE '127\.0\.0\.1:[0-9]+' "$log" | head -1 || true); [[ -n $addr ]] && break; sleep 0.05; done
  [[ -n $addr ]] || { echo "no address from $name"; cat "$log"; kill "$ppid"; exit 1; }
  ab -q -n "$N" -c 4 -s 10 "http://$addr/" >/tmp/ab.$$ 2>&1 || true
  failed=$(awk '/Failed requests/{print $3}' /tmp/ab.$$)
  hpid=$(pgrep -P "$ppid" -x "$(basename "$path")" || true)
  if [[ -n $hpid ]]; then kill -TERM "$hpid"; else kill -TERM "$ppid"; fi
  wait "$ppid" || true
  pf=$(awk -F, '$3=="page-faults"{print $1}' "$pst")
  tc=$(awk -F, '$3=="task-clock"{print $1}' "$pst")
  echo "round=$round hellod=$name conns=$N failed=$failed faults_per_conn=$(( pf / N )) cpu_us_per_conn=$(awk -v t="$tc" -v n="$N" 'BEGIN{printf "%.0f", t*1000/n}')"
  rm -f "$log" "$pst" /tmp/ab.$$
done
done
