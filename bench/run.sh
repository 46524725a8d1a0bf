#!/usr/bin/env bash
# bench/run.sh: hellod's benchmark harness (see bench/README.md).
#
#   bench/run.sh              full run (ab, no keep-alive): 5 interleaved rounds, c = 1, 16, 128
#   QUICK=1 bench/run.sh      smoke test, under a minute
#   bench/run.sh wrk          wrk, keep-alive and Connection: close, c = 16, 128,
#                             against nginx, Apache prefork and the C fork servers
#   bench/run.sh leak         leak check: 100k connections against one hellod
#
# Settings (environment): ROUNDS (5), N requests per run (10000), CONC
# ("1,16,128"), T seconds bound per ab run (60), SPAWN_N (= N), MAX_CHILDREN
# (1024), ONLY (comma-separated rows, e.g. "cfork,hellod-exec,spawn-floor"),
# OUT (Markdown output file), LEAK_N (100000), LEAK_C (16), LEAK_T seconds
# bound on the leak run (900), LEAK_CHILD ("fork,exec"), KEEP_LOGS=1 (keep
# every server log); wrk mode: WRK_D seconds per run (5), WRK_T wrk threads
# (2), WRK_CONC ("16,128"), WRK_LOADS ("keep-alive,close"); hellod's
# --keepalive-timeout KA_TIMEOUT (5s) and --keepalive-requests KA_REQUESTS
# (1000), passed only when `hellod --help` lists them.
#
# Everything talks to 127.0.0.1 only, on ports picked at run time; every load
# is bounded by a request count or a duration, ab's -t and an outer timeout.
# The harness stops every process it started by PID; so does this script's
# trap if it is interrupted.
set -euo pipefail

cd "$(dirname "$0")/.."

mode=${1:-${MODE:-bench}}
case $mode in
bench | leak | wrk) ;;
*)
	echo "usage: bench/run.sh [bench|wrk|leak]" >&2
	exit 2
	;;
esac

# The command line as given, with the settings that were set, for the results.
cmdline="bench/run.sh${1:+ $1}"
for v in KA_REQUESTS KA_TIMEOUT WRK_LOADS WRK_CONC WRK_T WRK_D LEAK_CHILD LEAK_T LEAK_C LEAK_N OUT ONLY MAX_CHILDREN SPAWN_N T CONC N ROUNDS QUICK; do
	if [[ -n ${!v:-} ]]; then
		cmdline="$v=${!v} $cmdline"
	fi
done

if [[ ${QUICK:-0} == 1 ]]; then
	: "${ROUNDS:=1}" "${N:=1000}" "${T:=10}" "${LEAK_N:=5000}" "${LEAK_T:=30}" "${WRK_D:=1}"
	default_out=bench/results-quick.md
	[[ $mode == wrk ]] && default_out=bench/results-wrk-quick.md
else
	default_out=bench/results.md
	[[ $mode == wrk ]] && default_out=bench/results-wrk.md
fi
[[ $mode == leak ]] && default_out=bench/results-leak.md
: "${ROUNDS:=5}" "${N:=10000}" "${CONC:=1,16,128}" "${T:=60}" "${SPAWN_N:=$N}" "${MAX_CHILDREN:=1024}"
: "${LEAK_N:=100000}" "${LEAK_C:=16}" "${LEAK_T:=900}" "${LEAK_CHILD:=fork,exec}" "${ONLY:=}" "${OUT:=$default_out}"
: "${WRK_D:=5}" "${WRK_T:=2}" "${WRK_CONC:=16,128}" "${WRK_LOADS:=keep-alive,close}" "${KA_TIMEOUT:=5s}" "${KA_REQUESTS:=1000}"

# What this script started and must undo if it stops early: a policy-rc.d
# of its own (see below) and the harness (which stops its servers by PID).
policy_rc_d=
harness_pid=
work=
sudo=()
[[ $(id -u) == 0 ]] || sudo=(sudo)
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [[ -n $harness_pid ]] && kill -0 "$harness_pid" 2>/dev/null; then
		kill -TERM "$harness_pid" 2>/dev/null || true
		wait "$harness_pid" 2>/dev/null || true
	fi
	if [[ -n $policy_rc_d ]]; then
		"${sudo[@]}" rm -f "$policy_rc_d"
	fi
	# Keep the scratch directory only if it holds server logs worth reading.
	if [[ -n $work ]]; then
		rm -rf "${work:?}/bin" "$work/www" "$work/nginx" "$work/apache" "$work/ab-percentiles.csv" "$work/hellod-build.log"
		if [[ -z $(ls -A "$work/logs" 2>/dev/null) ]]; then
			rm -rf "$work"
		else
			echo "server logs kept in $work/logs"
		fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Tools from Debian, installed only if missing: ab (apache2-utils) and
# busybox; for wrk mode wrk, nginx (nginx-light) and Apache httpd (apache2).
sbin() { command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 ]]; }
need=()
command -v ab >/dev/null 2>&1 || need+=(apache2-utils)
command -v busybox >/dev/null 2>&1 || need+=(busybox)
command -v timeout >/dev/null 2>&1 || need+=(coreutils)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if [[ $mode == wrk ]]; then
	command -v wrk >/dev/null 2>&1 || need+=(wrk)
	sbin nginx || need+=(nginx-light)
	sbin apache2 || need+=(apache2)
fi
if ((${#need[@]})); then
	echo "== installing ${need[*]}"
	# nginx's and apache2's maintainer scripts start their service (on
	# port 80) unless a policy-rc.d says no: if the machine has none,
	# one that denies is put in place for the install and removed after.
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		policy_rc_d=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# bench/run.sh: no service starts during its install\nexit 101\n' |
			"${sudo[@]}" tee "$policy_rc_d" >/dev/null
		"${sudo[@]}" chmod 755 "$policy_rc_d"
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	if [[ -n $policy_rc_d ]]; then
		"${sudo[@]}" rm -f "$policy_rc_d"
		policy_rc_d=
	fi
fi
if ! busybox --list | grep -x httpd >/dev/null; then # not -q: an early exit would SIGPIPE busybox under pipefail
	echo "bench/run.sh: this busybox has no httpd applet" >&2
	exit 1
fi

work=$(mktemp -d /tmp/hellod-bench.XXXXXX)
bin=$work/bin
mkdir -p "$bin"

echo "== building into $bin"
gcc -O2 -Wall -Wextra -o "$bin/cfork" bench/cfork/cfork.c
# Go binaries are built as `make build` builds hellod: static, no cgo. This
# matters: with cgo (the default where gcc is installed) any program that
# imports net is dynamically linked, and the loader plus cgo's start-up cost
# each exec'd child about 0.8 ms of CPU on this kind of machine.
export CGO_ENABLED=0
go build -o "$bin/nethttp" ./bench/nethttp
go build -o "$bin/spawnfloor" ./bench/spawnfloor
go build -o "$bin/nop" ./bench/spawnfloor/nop
go build -trimpath -ldflags '-s -w' -o "$bin/nopdeps" ./bench/spawnfloor/nopdeps
go build -o "$bin/harness" ./bench/harness
if ! go build -trimpath -ldflags '-s -w' -o "$bin/hellod" ./cmd/hellod 2>"$work/hellod-build.log"; then
	echo "!! hellod does not build; its rows are skipped:"
	head -n 5 "$work/hellod-build.log" | sed 's/^/   /'
	rm -f "$bin/hellod"
fi

# hellod's keep-alive flags exist only once issue 10's child work is in:
# pass them when its --help lists them.
hellod_args=
if [[ -x $bin/hellod ]]; then
	help=$("$bin/hellod" --help 2>&1 || true)
	if [[ $help == *--keepalive-timeout* && $help == *--keepalive-requests* ]]; then
		hellod_args="--keepalive-timeout $KA_TIMEOUT --keepalive-requests $KA_REQUESTS"
	fi
	echo "== hellod $("$bin/hellod" --version 2>&1 | head -n 1), extra flags: ${hellod_args:-none (no keep-alive flags in --help)}"
fi

echo "== versions"
echo "   ab:      $(ab -V 2>&1 | head -n 1)"
echo "   gcc:     $(gcc --version | head -n 1)"
echo "   go:      $(go version)"
if [[ $mode == wrk ]]; then
	echo "   wrk:     $(wrk -v 2>&1 | head -n 1)"
	echo "   nginx:   $({ nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1; } | head -n 1)"
	echo "   apache2: $({ apache2 -v 2>&1 || /usr/sbin/apache2 -v 2>&1; } | head -n 1)"
fi

# Many connections in flight: make sure fd limits are not the bottleneck.
ulimit -n 65536 2>/dev/null || true

status=0
"$bin/harness" -mode "$mode" -bindir "$bin" -workdir "$work" -out "$OUT" \
	-rounds "$ROUNDS" -n "$N" -conc "$CONC" -t "$T" -spawn-n "$SPAWN_N" \
	-max-children "$MAX_CHILDREN" -only "$ONLY" \
	-leak-n "$LEAK_N" -leak-c "$LEAK_C" -leak-t "$LEAK_T" -leak-child "$LEAK_CHILD" \
	-wrk-d "$WRK_D" -wrk-t "$WRK_T" -wrk-conc "$WRK_CONC" -wrk-loads "$WRK_LOADS" \
	-hellod-args "$hellod_args" \
	-keep-logs="$([[ ${KEEP_LOGS:-0} == 1 ]] && echo true || echo false)" \
	-cmdline "$cmdline" &
harness_pid=$!
wait "$harness_pid" || status=$?
harness_pid=
exit $status
