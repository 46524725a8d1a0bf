# shellcheck shell=bash
# Faults under real limits in the booted systemd (issue 11), sourced by
# packaging/e2e.sh (which calls limits_faults after the journal scenario):
# for each child strategy, a drop-in sets TasksMax= (with --max-children
# above it) or MemoryMax= (with stalled clients), and the parent must
# survive: MainPID unchanged, no Go crash in the unit's journal, every
# client served (tasks), children OOM-killed and a 200 after (memory).
#
# Who enforces the limit: systemd, when the unit's cgroup in the box has
# the controller's files (pids.max, memory.max / memory.limit_in_bytes).
# An nspawn box on a host whose pids and memory controllers are on cgroup
# v1 (these machines) has only hugetlb in its unified hierarchy, so its
# systemd accepts TasksMax=/MemoryMax= but cannot enforce them. Then the
# host enforces the unit's own value (read back from systemctl show) in a
# v1 cgroup it creates ($name-tasks, $name-mem, removed by cleanup): the
# container's PID 1 is moved into it for the restart, so that hellod is in
# it from its first instruction, and moved back at once; for the task
# limit the pids hierarchy is also mounted in the box (/run/e2e-pids), so
# that hellod can read its pids.max as it does under systemd.
# Uses the helpers of e2e-lib.sh and journal_cursor of e2e-journal.sh.

limits_dropin=/run/systemd/system/hellod.service.d/e2e-limits.conf
limits_mnt=/run/e2e-pids
limits_dir="" limits_where=""

# limits_dropin_set LINES...: the drop-in, daemon-reload.
limits_dropin_set() {
	inbox mkdir -p "${limits_dropin%/*}"
	printf '[Service]\n%s\n' "$@" | inbox tee "$limits_dropin" >/dev/null
	inbox systemctl daemon-reload
}

# limits_in_box FILE: the unit's cgroup in the box has FILE (systemd
# enforces the limit there).
limits_in_box() { inbox test -f "/sys/fs/cgroup$(prop hellod.service ControlGroup)/$1"; }

# limits_host_cgroup CONTROLLER SUFFIX: makes the host's v1 cgroup for
# CONTROLLER next to the container's PID 1's; sets limits_dir.
limits_host_cgroup() {
	local ctl=$1 rel dir
	[ -d "/sys/fs/cgroup/$ctl" ] || fail "no limit enforced: the box's hellod.service cgroup has no $ctl files and the host has no v1 $ctl hierarchy"
	# shellcheck disable=SC2016,SC2154 # awk program; pid1: e2e-lib.sh
	rel=$(awk -F: -v c="$ctl" '$2 == c { print $3 }' "/proc/$pid1/cgroup")
	# shellcheck disable=SC2154 # name: e2e-lib.sh
	dir=/sys/fs/cgroup/$ctl${rel%/}/$name-$2
	mkdir "$dir" || fail "mkdir $dir"
	cgroups+=("$dir")
	limits_dir=$dir
}

# limits_restart_in DIR...: restarts hellod.service with the container's
# PID 1 in the host cgroups DIR... (so hellod starts in them), then moves
# PID 1 back to where it was.
limits_restart_in() {
	local d ctl back=()
	for d in "$@"; do
		ctl=${d#/sys/fs/cgroup/}
		ctl=${ctl%%/*}
		# shellcheck disable=SC2016 # awk program
		back+=("/sys/fs/cgroup/$ctl$(awk -F: -v c="$ctl" '$2 == c { print $3 }' "/proc/$pid1/cgroup")")
		echo "$pid1" >"$d/cgroup.procs" || fail "moving the container's PID 1 into $d"
	done
	inbox systemctl restart hellod.service || true
	for d in "${back[@]}"; do echo "$pid1" >"${d%/}/cgroup.procs" || fail "moving the container's PID 1 back to $d"; done
}

# limits_restart WHAT FILE HOSTCTL VALUE: restarts hellod.service under the
# drop-in; when the box does not enforce it (no FILE in the unit's
# cgroup), in the host's v1 HOSTCTL cgroup set to VALUE. Sets limits_where
# and limits_dir (the host cgroup, or the box's unit cgroup).
limits_restart() {
	local what=$1 file=$2 ctl=$3 value=$4
	limits_dir=""
	inbox systemctl restart hellod.service
	if limits_in_box "$file"; then
		limits_where="systemd ($file of the unit's cgroup: $(inbox cat "/sys/fs/cgroup$(prop hellod.service ControlGroup)/$file"))"
		return 0
	fi
	inbox systemctl stop hellod.service 2>/dev/null # not the "can still be activated" warning
	limits_host_cgroup "$ctl" "$what"
	if [ "$ctl" = pids ]; then
		echo "$value" >"$limits_dir/pids.max"
		inbox mkdir -p "$limits_mnt"
		inbox mount -t cgroup -o pids e2e-pids "$limits_mnt" || fail "mounting the pids hierarchy at $limits_mnt in the box"
	else
		echo "$value" >"$limits_dir/memory.limit_in_bytes"
		if [ -f "$limits_dir/memory.memsw.limit_in_bytes" ]; then
			echo "$value" >"$limits_dir/memory.memsw.limit_in_bytes"
		fi
	fi
	limits_restart_in "$limits_dir"
	limits_where="the host (v1 $limits_dir = $value; the box's systemd cannot enforce $what)"
}

# limits_done: the drop-in removed, the host cgroup emptied (a restart
# outside it) and removed, the mount gone.
limits_done() {
	inbox rm -f "$limits_dropin"
	inbox systemctl daemon-reload
	inbox systemctl restart hellod.service
	if inbox mountpoint -q "$limits_mnt"; then inbox umount "$limits_mnt"; fi
	if [ -n "$limits_dir" ]; then
		poll 20 "the host cgroup $limits_dir to empty" limits_empty "$limits_dir"
		rmdir "$limits_dir" || fail "rmdir $limits_dir"
	fi
	expect_hello >/dev/null
}
limits_empty() { [ -z "$(cat "$1/cgroup.procs")" ]; }

# limits_crash CURSOR: the unit's journal lines since CURSOR that a Go
# crash writes.
limits_crash() {
	inbox journalctl --no-pager -q --after-cursor="$1" -o cat _SYSTEMD_UNIT=hellod.service |
		grep -E 'fatal error|^goroutine |panic:|newosproc' | head -5 || true
}
limits_journal() { inbox journalctl --no-pager -q --after-cursor="$1" -o cat _SYSTEMD_UNIT=hellod.service; }
limits_has_line() { limits_journal "$1" | grep -q "$2"; }

# limits_pids FILE [VALUE]: reads (or writes) FILE of the pids cgroup
# that enforces the limit.
limits_pids() {
	local f
	if [ -n "$limits_dir" ]; then
		f=$limits_dir/$1
		if [ $# -gt 1 ]; then echo "$2" >"$f"; else cat "$f"; fi
	else
		f=/sys/fs/cgroup$(prop hellod.service ControlGroup)/$1
		# shellcheck disable=SC2016 # $1 and $2 are the container's sh's
		if [ $# -gt 1 ]; then inbox sh -c 'echo "$2" >"$1"' sh "$f" "$2"; else inbox cat "$f"; fi
	fi
}

# limits_burst STRATEGY LABEL [CURSOR]: 100 requests, 20 at once, all
# served 200. With CURSOR, pids.max is first cut to the tasks in use (none
# free: a child start fails with EAGAIN), and set back once hellod's
# "task limit reached" line is in the journal after CURSOR.
limits_burst() {
	local strategy=$1 label=$2 starve=${3:-} out pid total bad max how args=() i
	for i in $(seq 1 100); do args+=(-o /dev/null "http://127.0.0.1:8000/?limits=$label-$i"); done
	# shellcheck disable=SC2154 # run: set by e2e.sh
	out=$run/limits-tasks-$strategy-$label.txt
	if [ -n "$starve" ]; then
		max=$(limits_pids pids.max)
		limits_pids pids.max "$(limits_pids pids.current)"
	fi
	innet timeout 120 curl -s --no-progress-meter --parallel --parallel-max 20 --max-time 60 \
		-H 'Connection: close' -w '%{http_code}\n' "${args[@]}" >"$out" 2>"$out.err" &
	pid=$!
	load_pids+=("$pid")
	if [ -n "$starve" ]; then
		poll 30 "hellod's 'task limit reached' line with pids.max cut" limits_has_line "$starve" 'task limit reached'
		limits_pids pids.max "$max"
	fi
	wait "$pid" || true
	load_pids=()
	read -r total bad < <(awk '{ n++ } $1 != "200" { b++ } END { printf "%d %d\n", n, b }' "$out")
	if [ "$total" != 100 ] || [ "$bad" != 0 ]; then
		fail "$strategy, TasksMax=24 ($label): want 100 of 100 requests served 200, got $total answers, $bad not 200 ($(sort "$out" | uniq -c | tr '\n' ' '))"
	fi
	how=""
	[ -z "$starve" ] || how=", starting with pids.max cut to the tasks in use (set back to $max at hellod's 'task limit reached' line)"
	ok "$strategy, TasksMax=24: 100 of 100 requests (20 at once) served 200$how"
}

# limits_tasks STRATEGY: TasksMax=24, --max-children 64, 100 requests 20
# at once, then 100 more starting with no task free.
limits_tasks() {
	local strategy=$1 cur mp lines cap crash
	limits_dropin_set "TasksMax=24" \
		"Environment=HELLOD_CHILD=$strategy HELLOD_MAX_CHILDREN=64 HELLOD_MAX_PER_SOURCE=0"
	[ "$(prop hellod.service TasksMax)" = 24 ] || fail "TasksMax=$(prop hellod.service TasksMax) after the drop-in, want 24"
	cur=$(journal_cursor)
	limits_restart tasks pids.max pids "$(prop hellod.service TasksMax)"
	is_active hellod.service active || fail "$strategy: hellod.service is $(inbox systemctl is-active hellod.service) under TasksMax=24"
	poll 10 "hellod's warning that --max-children was lowered" limits_has_line "$cur" 'task limit: pids.max 24 .*--max-children 64 lowered to'
	cap=$(limits_journal "$cur" | grep -m1 'task limit: pids.max 24' | sed -E 's/.*lowered to ([0-9]+).*/\1/')
	ok "$strategy: limit enforced by $limits_where"
	ok "$strategy: $(limits_journal "$cur" | grep -m1 'task limit: pids.max 24')"
	mp=$(main_pid)
	limits_burst "$strategy" first ""
	limits_burst "$strategy" starved "$(journal_cursor)"
	[ "$(main_pid)" = "$mp" ] || fail "$strategy, TasksMax=24: MainPID $mp -> $(main_pid) (the parent died)"
	crash=$(limits_crash "$cur")
	[ -z "$crash" ] || fail "$strategy, TasksMax=24: a Go crash in the journal: $crash"
	lines=$(limits_journal "$cur" | grep -c 'task limit reached' || true)
	[ "$lines" -le 5 ] || fail "$strategy, TasksMax=24: want at most 5 'task limit reached' lines (one per episode, rate-limited), got $lines"
	ok "$strategy, TasksMax=24: --max-children 64 capped to $cap; MainPID $mp unchanged; no crash; $lines 'task limit reached' line(s)"
	limits_done
}

# limits_oom_kills: the kernel's oom_kill count of the memory cgroup.
limits_oom_kills() {
	local f
	if [ -n "$limits_dir" ]; then
		f=$(cat "$limits_dir/memory.oom_control")
	else
		f=$(inbox cat "/sys/fs/cgroup$(prop hellod.service ControlGroup)/memory.events")
	fi
	# shellcheck disable=SC2016 # awk program
	awk '$1 == "oom_kill" { print $2; found = 1 } END { if (!found) print 0 }' <<<"$f"
}
limits_sigkilled() { limits_journal "$1" | grep -c 'killed by signal SIGKILL' || true; }
limits_oomed() { [ "$(limits_sigkilled "$1")" -ge 1 ] || [ "$(limits_oom_kills)" -ge 1 ]; }
limits_serves() { [ "$(get http://127.0.0.1:8000/ | cut -d' ' -f1)" = 200 ]; }

# limits_memory STRATEGY: MemoryMax=32M, no swap, up to 1500 stalled
# connections (half a head each), --evict-after 0.
limits_memory() {
	local strategy=$1 cur mp stop pypid res opened killed kernel crash deadline
	limits_dropin_set "MemoryMax=32M" "MemorySwapMax=0" \
		"Environment=HELLOD_CHILD=$strategy HELLOD_MAX_CHILDREN=1500 HELLOD_MAX_PER_SOURCE=0 HELLOD_EVICT_AFTER=0 HELLOD_HEADER_TIMEOUT=120s HELLOD_CHILD_TIMEOUT=300s"
	[ "$(prop hellod.service MemoryMax)" = 33554432 ] || fail "MemoryMax=$(prop hellod.service MemoryMax) after the drop-in, want 33554432"
	cur=$(journal_cursor)
	limits_restart mem memory.max memory "$(prop hellod.service MemoryMax)"
	is_active hellod.service active || fail "$strategy: hellod.service is $(inbox systemctl is-active hellod.service) under MemoryMax=32M"
	expect_hello >/dev/null
	mp=$(main_pid)
	ok "$strategy: limit enforced by $limits_where"
	stop=$run/limits-stop-$strategy res=$run/limits-stalled-$strategy.txt
	rm -f "$stop"
	# The stalled clients: open up to 1500 connections (each sends half a
	# head and holds it) within 30 s, then hold them until $stop exists or
	# 60 s have passed; prints "OPENED FAILED".
	innet python3 -c '
import os, resource, socket, sys, time
n, stop = int(sys.argv[1]), sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
socks, failed, t0 = [], 0, time.monotonic()
while len(socks) < n and time.monotonic() < t0 + 30 and not os.path.exists(stop):
    try:
        s = socket.create_connection(("127.0.0.1", 8000), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: e2e\r\n")
        socks.append(s)
    except OSError:
        failed += 1
    if len(socks) % 50 == 0:
        time.sleep(0.05)
while time.monotonic() < t0 + 60 and not os.path.exists(stop):
    time.sleep(0.05)
for s in socks:
    s.close()
print(len(socks), failed)
' 1500 "$stop" >"$res" 2>&1 &
	pypid=$!
	load_pids+=("$pypid")
	deadline=$((SECONDS + 45))
	until limits_oomed "$cur" || [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$pypid" 2>/dev/null; do sleep 0.2; done
	touch "$stop"
	wait "$pypid" || fail "$strategy: the stalled clients failed: $(cat "$res")"
	load_pids=()
	read -r opened _ <"$res" || true
	poll 60 "a 200 once the stalled clients closed" limits_serves
	# Counted once the children have exited (their exit lines are written
	# as the reaper sees them).
	killed=$(limits_sigkilled "$cur") kernel=$(limits_oom_kills)
	[ "$killed" -ge 1 ] || [ "$kernel" -ge 1 ] ||
		fail "$strategy, MemoryMax=32M: $opened stalled connections, want a child OOM-killed, got no 'killed by signal SIGKILL' line and oom_kill $kernel"
	is_active hellod.service active || fail "$strategy, MemoryMax=32M: hellod.service is $(inbox systemctl is-active hellod.service)"
	[ "$(main_pid)" = "$mp" ] || fail "$strategy, MemoryMax=32M: MainPID $mp -> $(main_pid) (the parent was killed)"
	crash=$(limits_crash "$cur")
	[ -z "$crash" ] || fail "$strategy, MemoryMax=32M: a Go crash in the journal: $crash"
	ok "$strategy, MemoryMax=32M: $opened stalled connections; $killed children logged 'killed by signal SIGKILL', kernel oom_kill $kernel; MainPID $mp unchanged, active; then a 200"
	limits_done
}

limits_faults() {
	local strategy
	step "6d. faults under TasksMax= and MemoryMax= drop-ins (issue 11)"
	for strategy in fork exec; do
		limits_tasks "$strategy"
		limits_memory "$strategy"
	done
}
