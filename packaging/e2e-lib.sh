# shellcheck shell=bash
# Helpers of packaging/e2e.sh, sourced by it: step timing and failure,
# polling, commands in the container, the load loops, the file snapshots
# for the purge check, cleanup, and booting the container. The run directory
# ($run) is made by e2e.sh before it installs cleanup as the EXIT trap.

t0=$(date +%s.%N)
timings=()
step_name="" step_t=""
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
step() {
	end_step
	step_name=$1 step_t=$(now)
	echo "=== $step_name"
}
end_step() {
	if [ -n "$step_name" ]; then
		timings+=("$(printf '%-44s %6ss' "$step_name" "$(elapsed "$step_t" "$(now)")")")
		step_name=""
	fi
}
ok() { echo "    ok: $*"; }

failed=0
fail() {
	echo "e2e: FAIL${step_name:+ ($step_name)}: $*" >&2
	failed=1
	diagnostics >&2 || true
	exit 1
}

# poll SECONDS DESCRIPTION COMMAND...: run COMMAND every 0.1 s until it
# succeeds; fail after SECONDS.
poll() {
	local limit=$1 desc=$2 deadline
	shift 2
	deadline=$(($(date +%s%N) + limit * 1000000000))
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			fail "timed out after ${limit}s waiting for: $desc"
		fi
		sleep 0.1
	done
}

run=""                  # the run directory, made by e2e.sh
name=hellod-e2e-$$      # the machine name, and the name of its cgroups
nspawn_pid="" pid1="" load_pids=() server_pids=()
suite=${HELLOD_E2E_SUITE:-bookworm} # the Debian release booted
cgroups=()

# In the container: all namespaces, its root and working directory, a clean
# environment.
inbox() {
	nsenter -t "$pid1" -a -r -w env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive SYSTEMD_PAGER= \
		SYSTEMD_COLORS=0 "$@"
}
# In the container's network namespace only: the host's tools (curl, ss).
innet() { nsenter -t "$pid1" --net "$@"; }
prop() { inbox systemctl show -p "$2" --value "$1"; }
is_active() { [ "$(inbox systemctl is-active "$1")" = "$2" ]; }

diagnostics() {
	[ -n "$pid1" ] && [ -d "/proc/$pid1" ] || return 0
	echo "--- systemctl status hellod.socket hellod.service"
	inbox systemctl status --no-pager --lines=0 hellod.socket hellod.service || true
	echo "--- journalctl -u hellod.socket -u hellod.service (last 40)"
	inbox journalctl --no-pager -n 40 -u hellod.socket -u hellod.service || true
}

cleanup() {
	local rc=$? p deadline
	set +e
	end_step
	for p in "${load_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${load_pids[@]}"; do wait "$p" 2>/dev/null; done
	for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null; done
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		# SIGTERM: nspawn halts the container in order.
		kill -TERM "$nspawn_pid"
		deadline=$((SECONDS + 30))
		while kill -0 "$nspawn_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
			sleep 0.1
		done
		if kill -0 "$nspawn_pid" 2>/dev/null; then
			echo "e2e: nspawn did not halt in 30 s, killing it" >&2
			kill -KILL "$nspawn_pid"
		fi
		wait "$nspawn_pid" 2>/dev/null
	fi
	# Remove our cgroups, innermost first.
	for p in "${cgroups[@]}"; do
		[ -d "$p" ] && find "$p" -depth -type d -exec rmdir {} + 2>/dev/null
		if [ -d "$p" ]; then echo "e2e: cgroup left behind: $p" >&2; rc=1; fi
	done
	if grep -q " $run" /proc/self/mountinfo; then
		echo "e2e: mounts left under $run" >&2
		rc=1
	elif [ "${HELLOD_E2E_KEEP:-0}" = 1 ]; then
		echo "e2e: kept $run"
	else
		rm -rf --one-file-system "$run"
	fi
	if [ "${#timings[@]}" -gt 0 ]; then
		echo "=== e2e timings"
		printf '    %s\n' "${timings[@]}"
		printf '    %-44s %6ss\n' total "$(elapsed "$t0" "$(now)")"
	fi
	if [ "$rc" = 0 ] && [ "$failed" = 0 ]; then echo "e2e: PASS"; else echo "e2e: FAIL" >&2; fi
	exit "$rc"
}


# Load: WORKERS background loops of curl, each request a new connection,
# each curl run making BATCH requests and writing one status code a line
# (000 for a failed connection) to $run/load.N. Bounded: at most MAX_RUNS
# curl runs per worker and LOAD_LIMIT seconds.
WORKERS=4 BATCH=10 MAX_RUNS=300 LOAD_LIMIT=60
load_start() {
	local w
	rm -f "$run"/load.* "$run/stop"
	load_pids=()
	for w in $(seq 1 "$WORKERS"); do
		(
			args=()
			for i in $(seq 1 "$BATCH"); do
				args+=(-o /dev/null "http://127.0.0.1:8000/?w=$w&i=$i")
			done
			end=$((SECONDS + LOAD_LIMIT)) runs=0
			while [ ! -e "$run/stop" ] && [ "$runs" -lt "$MAX_RUNS" ] && [ "$SECONDS" -lt "$end" ]; do
				innet curl -s --max-time 10 -H 'Connection: close' \
					-w '%{http_code}\n' "${args[@]}" >>"$run/load.$w" || true
				runs=$((runs + 1))
			done
		) &
		load_pids+=($!)
	done
}
load_count() { cat "$run"/load.* 2>/dev/null | wc -l; }
load_at_least() { [ "$(load_count)" -ge "$1" ]; }
# load_stop: stops the workers, prints "TOTAL FAILED".
load_stop() {
	local p
	touch "$run/stop"
	for p in "${load_pids[@]}"; do wait "$p" || true; done
	load_pids=()
	cat "$run"/load.* | awk '{ n++ } $1 != "200" { bad++ } END { printf "%d %d\n", n, bad }'
}
# under_load DESCRIPTION COMMAND...: COMMAND runs while the load runs; the
# load goes on until 40 more requests were made after it. No request may fail.
under_load() {
	local desc=$1 before result total bad
	shift
	load_start
	poll 20 "load to start" load_at_least 20
	"$@" || fail "$desc: command failed: $*"
	before=$(load_count)
	poll 30 "load to go on after $desc" load_at_least $((before + 40))
	result=$(load_stop)
	read -r total bad <<<"$result"
	[ "$bad" = 0 ] || fail "$desc under load: $bad of $total requests failed ($(sort "$run"/load.* | uniq -c | tr '\n' ' '))"
	ok "$desc under load: $total requests, 0 failed ($before before the command returned)"
}

get() { # get URL: prints "CODE LOCALPORT", body into $run/body
	innet curl -sS --max-time 10 -o "$run/body" -w '%{http_code} %{local_port}' "$1"
}
expect_hello() {
	local out
	out=$(get "${1:-http://127.0.0.1:8000/}") || fail "request to ${1:-port 8000} failed"
	[ "${out%% *}" = 200 ] || fail "status ${out%% *}, want 200"
	[ "$(cat "$run/body")" = "Hello, World!" ] || fail "body $(od -c "$run/body" | head -3)"
	echo "${out##* }"
}
# port_closed: connecting to port 8000 is refused (curl's exit 7), polled
# for up to 10 s (a loaded machine may still be closing the socket when the
# stop's systemctl returns); says so when it took more than one try.
port_closed() {
	local rc tries
	for tries in $(seq 1 50); do
		rc=0
		innet curl -sS --max-time 5 -o /dev/null http://127.0.0.1:8000/ 2>/dev/null || rc=$?
		if [ "$rc" = 7 ]; then
			[ "$tries" = 1 ] || echo "    (port 8000 closed after $tries tries, the last curl exit $rc)"
			return 0
		fi
		sleep 0.2
	done
	echo "    (port 8000: curl exit $rc after $tries tries)"
	return 1
}
listening() { [ -n "$(innet ss -Hltn 'sport = :8000')" ]; }
main_pid() { prop hellod.service MainPID; }
main_pid_is_new() { local p; p=$(main_pid); [ "$p" != 0 ] && [ "$p" != "$1" ]; }
# Files of the container, for the before/after-purge comparison.
snapshot() {
	inbox find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run \
		-o -path /tmp -o -path /var/tmp -o -path /var/log -o -path /var/cache \
		-o -path /var/lib/apt -o -path /var/lib/systemd/timers \
		-o -path /var/lib/dpkg/updates \) -prune -o -print | sort
}

# all_clean: the container's files are what they were before the install.
all_clean() {
	snapshot >"$run/files.after"
	if ! diff -u "$run/files.before" "$run/files.after" >"$run/files.diff"; then
		# dpkg's and apt's own bookkeeping may change; nothing else may.
		grep '^[-+]/' "$run/files.diff" |
			grep -Ev '^[-+]/var/lib/dpkg/(status|status-old|available|diversions|lock.*|triggers/.*|.*-old)$' \
				>"$run/files.left" || true
		[ ! -s "$run/files.left" ] || fail "purge left differences: $(cat "$run/files.left")"
	fi
}

# boot DEB NEXT_DEB [RPM]: builds (or reuses) the root file system and boots
# it with systemd-nspawn, the packages mounted read-only at /mnt/pkg; sets
# pid1 and takes the snapshot $run/files.before.
boot() {
	local deb=$1 deb_next=$2 rpm_pkg=${3:-} root root_t root_s c deadline state
	step "root file system (cached in ${HELLOD_E2E_CACHE:-/var/cache/hellod-e2e})"
	root_t=$(now)
	root=$("$(dirname "${BASH_SOURCE[0]}")/e2e-root.sh" "$suite") || fail "could not build the root file system"
	root_s=$(elapsed "$root_t" "$(now)")
	ok "$root (${root_s}s)"

	step "boot Debian $suite systemd (systemd-nspawn)"
	mkdir -p "$run/upper" "$run/pkg"
	cp "$deb" "$run/pkg/hellod.deb"
	cp "$deb_next" "$run/pkg/hellod-next.deb"
	if [ -n "$rpm_pkg" ]; then
		mkdir "$run/pkg/rpmroot"
		# rpm2archive, not rpm2cpio: nfpm's payload has absolute paths.
		rpm2archive -n <"$rpm_pkg" | tar -xf - -C "$run/pkg/rpmroot"
		rpm -qp --qf '%{POSTIN}\n' "$rpm_pkg" >"$run/pkg/rpm-post"
		rpm -qp --qf '%{PREUN}\n' "$rpm_pkg" >"$run/pkg/rpm-preun"
		rpm -qp --qf '%{POSTUN}\n' "$rpm_pkg" >"$run/pkg/rpm-postun"
	fi

	# A cgroup of its own for nspawn (and so the container), in each hierarchy
	# that systemd uses, so that nothing collides between runs and all of it can
	# be removed afterwards.
	if [ -d /sys/fs/cgroup/unified ]; then
		cgroups=("/sys/fs/cgroup/systemd/$name" "/sys/fs/cgroup/unified/$name")
	elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		cgroups=("/sys/fs/cgroup/$name")
	else
		cgroups=("/sys/fs/cgroup/systemd/$name")
	fi
	for c in "${cgroups[@]}"; do mkdir "$c"; done
	(
		for c in "${cgroups[@]}"; do echo "$BASHPID" >"$c/cgroup.procs"; done
		SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn --quiet --boot \
			--register=no --keep-unit --machine="$name" \
			--directory="$root" --overlay="$root:$run/upper:/" \
			--private-network --bind-ro="$run/pkg:/mnt/pkg" --console=pipe
	) </dev/null >"$run/console.log" 2>&1 &
	nspawn_pid=$!
	deadline=$((SECONDS + 30))
	until find_pid1; do
		[ "$SECONDS" -lt "$deadline" ] || fail "no container init after 30 s"
		sleep 0.1
	done
	poll 30 "systemd in the container (/run/systemd/private)" test -S "/proc/$pid1/root/run/systemd/private"
	state=$(inbox timeout 60 systemctl is-system-running --wait) || true
	case "$state" in
	running) ok "container PID 1 is host PID $pid1, system running ($(inbox systemctl --version | head -1), Debian $(inbox cat /etc/debian_version))" ;;
	degraded)
		echo "    warning: system degraded:"
		inbox systemctl --failed --no-pager --no-legend | sed 's/^/      /'
		;;
	*) fail "system state '$state'" ;;
	esac
	snapshot >"$run/files.before"
}

find_pid1() {
	local c ns
	kill -0 "$nspawn_pid" 2>/dev/null || fail "systemd-nspawn exited: $(tail -20 "$run/console.log")"
	ns=$(readlink "/proc/$nspawn_pid/ns/pid")
	# shellcheck disable=SC2013 # the file holds PIDs separated by spaces
	for c in $(cat /proc/"$nspawn_pid"/task/*/children 2>/dev/null); do
		if [ "$(readlink "/proc/$c/ns/pid" 2>/dev/null)" != "$ns" ]; then
			pid1=$c
			return 0
		fi
	done
	return 1
}
