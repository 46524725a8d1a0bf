#!/bin/bash
# End-to-end test of the hellod .deb in a booted Debian systemd (Debian 12
# bookworm by default, HELLOD_E2E_SUITE=trixie for Debian 13).
#
# Usage (as root): packaging/e2e.sh HELLOD.deb HELLOD-NEXT.deb [HELLOD.rpm]
#   HELLOD-NEXT.deb is the same package with a higher version (upgrade test).
#   HELLOD.rpm, when given, has its scriptlets run in the same systemd.
#
# It boots that Debian's systemd with systemd-nspawn on a cached minbase root
# (packaging/e2e-root.sh) under a throwaway overlay, with a private network
# (loopback only), and checks what a user of the package sees:
#   1. apt install: socket active and listening on 8000, service inactive
#   2. first connection: 200 "Hello, World!", service started on demand
#   3. journald: that connection's child with CHILD_PID, REMOTE_ADDR,
#      EXIT_STATUS, attributed to hellod.service
#   4. STATUS= line, dynamic user, watchdog pings
#   5. restart under load, and upgrade under load: no failed request
#   6. kill -9 of the main process: restarted, the socket keeps accepting
#      (6b. the other --child strategy: children served, no failure)
#      (6c. journald at full rate, wrk: an entry per connection, none lost;
#       packaging/e2e-journal.sh)
#      (6d. TasksMax= and MemoryMax= drop-ins: --max-children capped, every
#       client served, children OOM-killed, the parent never;
#       packaging/e2e-limits.sh)
#   7. HELLOD_IDLE_EXIT in /etc/default/hellod: stops when idle, restarts
#   8. apt remove: port closed, units gone; apt purge: no file left behind
#      (8b. policy-rc.d and an earlier "systemctl disable" are respected)
#   (9. the .rpm's scriptlets, run by hand on its extracted payload)
# then the scenarios in files of their own, sourced in order (see the end):
#  10. the signed repository (packaging/e2e-repo.sh): apt install hellod by
#      name, apt upgrade under load, a tampered InRelease refused
# Everything it starts runs in a cgroup of its own and is stopped and removed
# on exit, as is the overlay (HELLOD_E2E_KEEP=1 keeps the run directory).
# The helpers (steps, polling, the container, the load loops) are in
# packaging/e2e-lib.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
die() { echo "e2e: $*" >&2; exit 2; }
[ "$(id -u)" = 0 ] || die "must run as root"
[ $# -ge 2 ] || die "usage: $0 HELLOD.deb HELLOD-NEXT.deb [HELLOD.rpm]"
deb=$(realpath -e "$1") || die "no such file: $1"
deb_next=$(realpath -e "$2") || die "no such file: $2"
rpm_pkg=""
if [ $# -ge 3 ]; then rpm_pkg=$(realpath -e "$3") || die "no such file: $3"; fi
for tool in systemd-nspawn nsenter curl jq ss dpkg-deb wrk python3 gpg; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done

# shellcheck source-path=SCRIPTDIR source=e2e-lib.sh
. "$here/e2e-lib.sh"
run=$(mktemp -d /var/tmp/hellod-e2e.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- boot
boot "$deb" "$deb_next" "$rpm_pkg"
next_version=$(dpkg-deb -f "$deb_next" Version)
next_version=${next_version%-*}

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
step "6b. the other child strategy (HELLOD_CHILD) under the same sandbox"
# Steps 1-6 ran the default strategy; this runs the other one, named by
# --help ("how a child is made: fork or exec (default fork) [HELLOD_CHILD]").
help=$(inbox hellod --help 2>&1 || true)
case "$help" in
*"(default fork) [HELLOD_CHILD]"*) other="exec" ;;
*"(default exec) [HELLOD_CHILD]"*) other="fork" ;;
*) other="" ;;
esac
if [ -n "$other" ]; then
	echo "HELLOD_CHILD=$other" | inbox tee -a /etc/default/hellod >/dev/null
	inbox systemctl restart hellod.service
	port=$(expect_hello)
	poll 10 "a journal entry for the $other-mode child (port $port)" child_entry
	[ "$(jq -r '.EXIT_STATUS' "$run/entry.json")" = 0 ] || fail "$other-mode child: $(cat "$run/entry.json")"
	ok "$(jq -r .MESSAGE "$run/entry.json")"
	under_load "$other-mode children" true
	inbox sed -i "/^HELLOD_CHILD=$other\$/d" /etc/default/hellod
	inbox systemctl restart hellod.service
else
	echo "    skipped: this hellod's --help names no second child strategy"
fi

# ---------------------------------------------------------------- 6c
# shellcheck source-path=SCRIPTDIR source=e2e-journal.sh
. "$here/e2e-journal.sh" && journal_full_rate
# shellcheck source-path=SCRIPTDIR source=e2e-limits.sh
. "$here/e2e-limits.sh" && limits_faults # 6d. TasksMax=, MemoryMax=

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

# ---------------------------------------------------------------- scenarios
# Each in a file of its own, sourced in this order into the same container
# (they use the helpers above and leave hellod purged).
# shellcheck source-path=SCRIPTDIR source=e2e-repo.sh
. "$here/e2e-repo.sh" # 10. signed repository: install, upgrade, tampering

end_step
