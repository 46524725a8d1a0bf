#!/bin/bash
# End-to-end test of the hellod .deb in a booted Debian 12 systemd.
#
# Usage (as root): packaging/e2e.sh HELLOD.deb HELLOD-NEXT.deb [HELLOD.rpm]
#   HELLOD-NEXT.deb is the same package with a higher version (upgrade test).
#   HELLOD.rpm, when given, has its scriptlets run in the same systemd.
#
# It boots Debian 12's systemd with systemd-nspawn on a cached minbase root
# (packaging/e2e-root.sh) under a throwaway overlay, with a private network
# (loopback only), and checks what a user of the package sees:
#   1. apt install: socket active and listening on 8000, service inactive
#   2. first connection: 200 "Hello, World!", service started on demand
#   3. journald: that connection's child with CHILD_PID, REMOTE_ADDR,
#      EXIT_STATUS, attributed to hellod.service
#   4. STATUS= line, dynamic user, watchdog pings
#   5. restart under load, and upgrade under load: no failed request
#   6. kill -9 of the main process: restarted, the socket keeps accepting
#      (6b. --child fork, when the binary has it: children served, no failure)
#   7. HELLOD_IDLE_EXIT in /etc/default/hellod: stops when idle, restarts
#   8. apt remove: port closed, units gone; apt purge: no file left behind
#      (8b. policy-rc.d and an earlier "systemctl disable" are respected)
#   (9. the .rpm's scriptlets, run by hand on its extracted payload)
# Everything it starts runs in a cgroup of its own and is stopped and removed
# on exit, as is the overlay (HELLOD_E2E_KEEP=1 keeps the run directory).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
die() { echo "e2e: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root"
[ $# -ge 2 ] || die "usage: $0 HELLOD.deb HELLOD-NEXT.deb [HELLOD.rpm]"
deb=$(realpath -e "$1") || die "no such file: $1"
deb_next=$(realpath -e "$2") || die "no such file: $2"
rpm_pkg=""
if [ $# -ge 3 ]; then rpm_pkg=$(realpath -e "$3") || die "no such file: $3"; fi
for tool in systemd-nspawn nsenter curl jq ss dpkg-deb; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done

# ---------------------------------------------------------------- helpers
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

run=$(mktemp -d /var/tmp/hellod-e2e.XXXXXX)
name=hellod-e2e-$$
nspawn_pid="" pid1="" load_pids=()
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
trap cleanup EXIT
trap 'exit 130' INT TERM

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
port_closed() {
	local rc=0
	innet curl -sS --max-time 5 -o /dev/null http://127.0.0.1:8000/ 2>/dev/null || rc=$?
	[ "$rc" = 7 ] # couldn't connect
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

# ---------------------------------------------------------------- boot
step "root file system (cached in ${HELLOD_E2E_CACHE:-/var/cache/hellod-e2e})"
root_t=$(now)
root=$("$here/e2e-root.sh") || fail "could not build the root file system"
root_s=$(elapsed "$root_t" "$(now)")
ok "$root (${root_s}s)"

step "boot Debian 12 systemd (systemd-nspawn)"
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
next_version=$(dpkg-deb -f "$deb_next" Version)
next_version=${next_version%-*}

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
deadline=$((SECONDS + 30))
until find_pid1; do
	[ "$SECONDS" -lt "$deadline" ] || fail "no container init after 30 s"
	sleep 0.1
done
poll 30 "systemd in the container (/run/systemd/private)" test -S "/proc/$pid1/root/run/systemd/private"
state=$(inbox timeout 60 systemctl is-system-running --wait) || true
case "$state" in
running) ok "container PID 1 is host PID $pid1, system running" ;;
degraded)
	echo "    warning: system degraded:"
	inbox systemctl --failed --no-pager --no-legend | sed 's/^/      /'
	;;
*) fail "system state '$state'" ;;
esac
snapshot >"$run/files.before"

# ---------------------------------------------------------------- 1
step "1. apt install: socket listening, service inactive"
inbox timeout 180 apt-get install -y -q --no-install-recommends /mnt/pkg/hellod.deb >"$run/apt-install.log" 2>&1 ||
	fail "apt-get install: $(tail -20 "$run/apt-install.log")"
is_active hellod.socket active || fail "hellod.socket is $(inbox systemctl is-active hellod.socket)"
[ "$(inbox systemctl is-enabled hellod.socket)" = enabled ] || fail "hellod.socket not enabled"
is_active hellod.service inactive || fail "hellod.service is $(inbox systemctl is-active hellod.service), want inactive"
listening || fail "nothing listens on port 8000"
ok "hellod.socket enabled and active, listening on $(innet ss -Hltn 'sport = :8000' | awk '{ print $4 }' | tr '\n' ' ')"
out=$(inbox systemd-analyze verify --man=no hellod.socket hellod.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify printed: $out"
ok "systemd-analyze verify: silent"
version=$(inbox hellod --version)
ok "installed: $version"

# ---------------------------------------------------------------- 2
step "2. first connection starts the service"
port=$(expect_hello)
is_active hellod.service active || fail "hellod.service is $(inbox systemctl is-active hellod.service) after a connection"
ok "200 'Hello, World!' from local port $port; hellod.service active (MainPID $(main_pid))"
expect_hello 'http://[::1]:8000/' >/dev/null
ok "IPv6 [::1]:8000 answers too"

# ---------------------------------------------------------------- 3
step "3. journald: the connection's child, attributed to hellod.service"
child_entry() {
	inbox journalctl -o json --no-pager _SYSTEMD_UNIT=hellod.service |
		jq -c --arg p ":$port" 'select((.REMOTE_ADDR // "") | endswith($p))' | head -1 >"$run/entry.json"
	[ -s "$run/entry.json" ]
}
poll 10 "a journal entry with REMOTE_ADDR ending in :$port" child_entry
for f in CHILD_PID REMOTE_ADDR EXIT_STATUS; do
	v=$(jq -r --arg f "$f" '.[$f] // empty' "$run/entry.json")
	[ -n "$v" ] || fail "journal entry lacks $f: $(cat "$run/entry.json")"
done
child_pid=$(jq -r .CHILD_PID "$run/entry.json")
[ "$child_pid" != "$(main_pid)" ] || fail "CHILD_PID is the main process"
ok "$(jq -r '"CHILD_PID=\(.CHILD_PID) REMOTE_ADDR=\(.REMOTE_ADDR) EXIT_STATUS=\(.EXIT_STATUS) _SYSTEMD_UNIT=\(._SYSTEMD_UNIT)"' "$run/entry.json")"
ok "MESSAGE: $(jq -r .MESSAGE "$run/entry.json")"
inbox journalctl -u hellod -o verbose --no-pager "CHILD_PID=$child_pid" >"$run/verbose.txt"
grep -q "EXIT_STATUS=" "$run/verbose.txt" ||
	fail "journalctl -u hellod -o verbose CHILD_PID=$child_pid shows no EXIT_STATUS"
ok "journalctl -u hellod -o verbose CHILD_PID=$child_pid:"
sed 's/^/        /' "$run/verbose.txt"

# ---------------------------------------------------------------- 4
step "4. status line, dynamic user, watchdog"
# Two connections were served: the STATUS= line (hellod refreshes it at most
# once a second) must come to show a non-zero count.
status_counts() { [[ $(prop hellod.service StatusText) == *[1-9]* ]]; }
poll 5 "a STATUS= line counting the connections served" status_counts
status=$(prop hellod.service StatusText)
inbox systemctl status --no-pager --lines=0 hellod.service >"$run/status.txt" || true
grep -q "Status: \"$status\"" "$run/status.txt" || fail "systemctl status shows no Status: line: $(cat "$run/status.txt")"
ok "systemctl status hellod.service:"
sed 's/^/        /' "$run/status.txt"
mp=$(main_pid)
# shellcheck disable=SC2016 # awk program
uid=$(inbox awk '/^Uid:/ { print $2 }' "/proc/$mp/status")
[ "$(prop hellod.service DynamicUser)" = yes ] || fail "DynamicUser is not set"
if [ "$uid" -lt 61184 ] || [ "$uid" -gt 65519 ]; then
	fail "main process runs as uid $uid, not a dynamic user"
fi
ok "main process $mp runs as dynamic uid $uid"
# The packaged WatchdogSec= is 30 s; a runtime drop-in makes it 1 s and the
# test waits for two pings (WatchdogTimestamp moves on each WATCHDOG=1).
inbox mkdir -p /run/systemd/system/hellod.service.d
printf '[Service]\nWatchdogSec=1s\n' | inbox tee /run/systemd/system/hellod.service.d/e2e-watchdog.conf >/dev/null
inbox systemctl daemon-reload
inbox systemctl restart hellod.service
wd0=$(prop hellod.service WatchdogTimestampMonotonic)
wd_moved() { local w; w=$(prop hellod.service WatchdogTimestampMonotonic); [ "$w" != "$wd0" ] && [ "$w" != 0 ]; }
poll 5 "a watchdog ping" wd_moved
wd0=$(prop hellod.service WatchdogTimestampMonotonic)
poll 5 "a second watchdog ping" wd_moved
mp=$(main_pid)
wd_restarts=$(prop hellod.service NRestarts)
inbox rm -r /run/systemd/system/hellod.service.d
inbox systemctl daemon-reload
[ "$wd_restarts" = 0 ] || fail "watchdog restarts: $wd_restarts"
ok "WatchdogSec=1s: pings received, no watchdog restart"

# ---------------------------------------------------------------- 5
step "5a. systemctl restart hellod.service under load"
mp=$(main_pid)
sock_since=$(prop hellod.socket ActiveEnterTimestampMonotonic)
under_load "systemctl restart" inbox systemctl restart hellod.service
main_pid_is_new "$mp" || fail "MainPID did not change"
ok "MainPID $mp -> $(main_pid)"

step "5b. upgrade to $next_version under load"
mp=$(main_pid)
upgrade() {
	inbox timeout 180 apt-get install -y -q --no-install-recommends /mnt/pkg/hellod-next.deb >"$run/apt-upgrade.log" 2>&1 ||
		{ tail -20 "$run/apt-upgrade.log"; return 1; }
}
under_load "package upgrade" upgrade
[ "$(inbox hellod --version)" = "hellod $next_version" ] || fail "after upgrade: $(inbox hellod --version)"
main_pid_is_new "$mp" || fail "the upgrade did not restart hellod.service"
exe=$(inbox readlink "/proc/$(main_pid)/exe")
[ "$exe" = /usr/bin/hellod ] || fail "main process runs $exe, not the new /usr/bin/hellod"
[ "$(prop hellod.socket ActiveEnterTimestampMonotonic)" = "$sock_since" ] || fail "hellod.socket was restarted"
ok "hellod $next_version running (MainPID $mp -> $(main_pid)); hellod.socket never restarted"

# ---------------------------------------------------------------- 6
step "6. kill -9 of the main process"
mp=$(main_pid)
restarts=$(prop hellod.service NRestarts)
# shellcheck disable=SC2016 # $1 is expanded by the container's sh
inbox sh -c 'kill -9 "$1"' sh "$mp"
new_restart() { [ "$(prop hellod.service NRestarts)" -gt "$restarts" ] && main_pid_is_new "$mp" && is_active hellod.service active; }
poll 15 "systemd to restart hellod.service" new_restart
expect_hello >/dev/null
is_active hellod.socket active || fail "hellod.socket is $(inbox systemctl is-active hellod.socket)"
ok "restarted by systemd (NRestarts $(prop hellod.service NRestarts), MainPID $mp -> $(main_pid)); socket still accepting"

# ---------------------------------------------------------------- 6b
step "6b. HELLOD_CHILD=fork under the same sandbox"
help=$(inbox hellod --help 2>&1 || true)
if grep -q 'exec or fork' <<<"$help"; then
	echo 'HELLOD_CHILD=fork' | inbox tee -a /etc/default/hellod >/dev/null
	inbox systemctl restart hellod.service
	port=$(expect_hello)
	poll 10 "a journal entry for the fork-mode child (port $port)" child_entry
	[ "$(jq -r '.EXIT_STATUS' "$run/entry.json")" = 0 ] || fail "fork-mode child: $(cat "$run/entry.json")"
	ok "$(jq -r .MESSAGE "$run/entry.json")"
	under_load "fork-mode children" true
	inbox sed -i '/^HELLOD_CHILD=fork$/d' /etc/default/hellod
	inbox systemctl restart hellod.service
else
	echo "    skipped: this hellod has no --child fork"
fi

# ---------------------------------------------------------------- 7
step "7. HELLOD_IDLE_EXIT=2s from /etc/default/hellod"
echo 'HELLOD_IDLE_EXIT=2s' | inbox tee -a /etc/default/hellod >/dev/null
inbox systemctl restart hellod.service
expect_hello >/dev/null
poll 20 "hellod.service to exit when idle" is_active hellod.service inactive
[ "$(prop hellod.service Result)" = success ] || fail "idle exit ended with Result=$(prop hellod.service Result)"
is_active hellod.socket active || fail "hellod.socket is $(inbox systemctl is-active hellod.socket)"
ok "service stopped by itself (Result=success), socket still active"
expect_hello >/dev/null
is_active hellod.service active || fail "the next connection did not start hellod.service"
ok "the next connection: 200, service active again"

# ---------------------------------------------------------------- 8
step "8. apt remove, apt purge"
inbox timeout 180 apt-get remove -y -q hellod >"$run/apt-remove.log" 2>&1 || fail "apt-get remove: $(tail -20 "$run/apt-remove.log")"
port_closed || fail "port 8000 still accepts connections after remove"
! listening || fail "something still listens on 8000"
for u in hellod.socket hellod.service; do
	ls=$(prop "$u" LoadState)
	case "$ls" in not-found | masked) ;; *) fail "$u LoadState=$ls after remove" ;; esac
	is_active "$u" inactive || fail "$u is $(inbox systemctl is-active "$u") after remove"
done
! inbox test -e /usr/lib/systemd/system/hellod.service || fail "unit file left after remove"
inbox test -e /etc/default/hellod || fail "remove deleted the conffile /etc/default/hellod"
ok "port closed, units gone (LoadState $(prop hellod.socket LoadState)), /etc/default/hellod kept"
inbox timeout 180 apt-get purge -y -q hellod >"$run/apt-purge.log" 2>&1 || fail "apt-get purge: $(tail -20 "$run/apt-purge.log")"
[ "$(prop hellod.socket LoadState)" = not-found ] || fail "hellod.socket LoadState=$(prop hellod.socket LoadState) after purge"
all_clean
ok "purged: no file left behind, LoadState not-found"

# ---------------------------------------------------------------- 8b
step "8b. policy-rc.d and an administrator's disable are respected"
# policy-rc.d saying 101 ("not allowed"): installed and enabled, not started.
printf '#!/bin/sh\nexit 101\n' | inbox tee /usr/sbin/policy-rc.d >/dev/null
inbox chmod 755 /usr/sbin/policy-rc.d
inbox timeout 180 apt-get install -y -q --no-install-recommends /mnt/pkg/hellod.deb >"$run/apt-install2.log" 2>&1 ||
	fail "apt-get install: $(tail -20 "$run/apt-install2.log")"
inbox rm /usr/sbin/policy-rc.d
[ "$(inbox systemctl is-enabled hellod.socket)" = enabled ] || fail "hellod.socket not enabled"
is_active hellod.socket inactive || fail "policy-rc.d said no, yet hellod.socket is $(inbox systemctl is-active hellod.socket)"
port_closed || fail "policy-rc.d said no, yet port 8000 accepts connections"
ok "policy-rc.d exit 101: hellod.socket enabled, not started"
# An administrator's "systemctl disable --now": an upgrade keeps it.
inbox systemctl start hellod.socket
inbox systemctl disable --now hellod.socket 2>/dev/null
inbox timeout 180 apt-get install -y -q --no-install-recommends /mnt/pkg/hellod-next.deb >"$run/apt-upgrade2.log" 2>&1 ||
	fail "apt-get install (upgrade): $(tail -20 "$run/apt-upgrade2.log")"
[ "$(inbox systemctl is-enabled hellod.socket)" = disabled ] || fail "the upgrade re-enabled hellod.socket"
is_active hellod.socket inactive || fail "the upgrade started the disabled hellod.socket"
port_closed || fail "the upgrade opened port 8000"
ok "disabled, then upgraded: still disabled and stopped"
inbox timeout 180 apt-get purge -y -q hellod >"$run/apt-purge2.log" 2>&1 || fail "apt-get purge: $(tail -20 "$run/apt-purge2.log")"
all_clean
ok "purged: no file left behind"

# ---------------------------------------------------------------- 9
if [ -n "$rpm_pkg" ]; then
	step "9. .rpm scriptlets in systemd (payload copied by hand)"
	# What rpm would do: copy the payload, run %post 1; %postun 1 for an
	# upgrade; %preun 0, remove the files, %postun 0 for an erase.
	rpm_files=$(cd "$run/pkg/rpmroot" && find . -type f | sed 's/^\.//')
	inbox cp -a /mnt/pkg/rpmroot/. /
	inbox sh /mnt/pkg/rpm-post 1
	is_active hellod.socket active || fail "rpm %post 1: hellod.socket is $(inbox systemctl is-active hellod.socket)"
	is_active hellod.service inactive || fail "rpm %post 1 started hellod.service"
	expect_hello >/dev/null
	ok "%post 1: preset enabled and started hellod.socket; first connection 200"
	mp=$(main_pid)
	sock_since=$(prop hellod.socket ActiveEnterTimestampMonotonic)
	inbox sh /mnt/pkg/rpm-postun 1
	main_pid_is_new "$mp" || fail "rpm %postun 1 did not restart hellod.service"
	[ "$(prop hellod.socket ActiveEnterTimestampMonotonic)" = "$sock_since" ] || fail "rpm %postun 1 restarted the socket"
	ok "%postun 1 (upgrade): service restarted, socket kept"
	inbox sh /mnt/pkg/rpm-preun 0
	port_closed || fail "rpm %preun 0: port 8000 still open"
	[ "$(inbox systemctl is-enabled hellod.socket 2>/dev/null)" = disabled ] || fail "rpm %preun 0: socket still enabled"
	for f in $rpm_files; do inbox rm -f "$f"; done
	inbox sh /mnt/pkg/rpm-postun 0
	[ "$(prop hellod.socket LoadState)" = not-found ] || fail "rpm %postun 0: hellod.socket LoadState=$(prop hellod.socket LoadState)"
	ok "%preun 0 + %postun 0 (erase): stopped, disabled, units gone"
fi

end_step
