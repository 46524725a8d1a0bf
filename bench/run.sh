#!/usr/bin/env bash
# bench/run.sh: hellod's benchmark harness (see bench/README.md).
#
#   bench/run.sh              full run: 5 interleaved rounds, c = 1, 16, 128
#   QUICK=1 bench/run.sh      smoke test, under a minute
#   bench/run.sh leak         leak check: 100k connections against one hellod
#
# Settings (environment): ROUNDS (5), N requests per run (10000), CONC
# ("1,16,128"), T seconds bound per ab run (60), SPAWN_N (= N), MAX_CHILDREN
# (1024), ONLY (comma-separated rows, e.g. "cfork,hellod-exec,spawn-floor"),
# OUT (Markdown output file), LEAK_N (100000), LEAK_C (16), LEAK_T seconds
# bound on the leak run (900), LEAK_CHILD ("fork,exec"), KEEP_LOGS=1 (keep
# every server log).
#
# Everything talks to 127.0.0.1 only, on ports picked at run time; every load
# is bounded by a request count, ab's -t and an outer timeout.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD

mode=${1:-${MODE:-bench}}
case $mode in
bench | leak) ;;
*)
	echo "usage: bench/run.sh [bench|leak]" >&2
	exit 2
	;;
esac

# The command line as given, with the settings that were set, for the results.
cmdline="bench/run.sh${1:+ $1}"
for v in LEAK_CHILD LEAK_T LEAK_C LEAK_N OUT ONLY MAX_CHILDREN SPAWN_N T CONC N ROUNDS QUICK; do
	if [[ -n ${!v:-} ]]; then
		cmdline="$v=${!v} $cmdline"
	fi
done

if [[ ${QUICK:-0} == 1 ]]; then
	: "${ROUNDS:=1}" "${N:=1000}" "${T:=10}" "${LEAK_N:=5000}" "${LEAK_T:=30}"
	default_out=bench/results-quick.md
else
	default_out=bench/results.md
fi
[[ $mode == leak ]] && default_out=bench/results-leak.md
: "${ROUNDS:=5}" "${N:=10000}" "${CONC:=1,16,128}" "${T:=60}" "${SPAWN_N:=$N}" "${MAX_CHILDREN:=1024}"
: "${LEAK_N:=100000}" "${LEAK_C:=16}" "${LEAK_T:=900}" "${LEAK_CHILD:=fork,exec}" "${ONLY:=}" "${OUT:=$default_out}"

# Tools: ab (apache2-utils) and busybox from Debian, installed only if missing.
need=()
command -v ab >/dev/null 2>&1 || need+=(apache2-utils)
command -v busybox >/dev/null 2>&1 || need+=(busybox)
command -v timeout >/dev/null 2>&1 || need+=(coreutils)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if ((${#need[@]})); then
	echo "== installing ${need[*]}"
	sudo=()
	[[ $(id -u) == 0 ]] || sudo=(sudo)
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
	"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
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

# Many connections in flight: make sure fd limits are not the bottleneck.
ulimit -n 65536 2>/dev/null || true

status=0
"$bin/harness" -mode "$mode" -bindir "$bin" -workdir "$work" -out "$OUT" \
	-rounds "$ROUNDS" -n "$N" -conc "$CONC" -t "$T" -spawn-n "$SPAWN_N" \
	-max-children "$MAX_CHILDREN" -only "$ONLY" \
	-leak-n "$LEAK_N" -leak-c "$LEAK_C" -leak-t "$LEAK_T" -leak-child "$LEAK_CHILD" \
	-keep-logs="$([[ ${KEEP_LOGS:-0} == 1 ]] && echo true || echo false)" \
	-cmdline "$cmdline" || status=$?

# Keep the scratch directory only if it holds server logs worth reading.
rm -rf "$bin" "$work/www" "$work/ab-percentiles.csv" "$work/hellod-build.log"
if [[ -z $(ls -A "$work/logs" 2>/dev/null) ]]; then
	rm -rf "$work"
else
	echo "server logs kept in $work/logs"
fi
exit $status
