# shellcheck shell=bash
# The journal at full rate, sourced by packaging/e2e.sh (which calls
# journal_full_rate once hellod is installed): for each child strategy, with
# keep-alive off (--keepalive-timeout=0 and "Connection: close" clients) and
# on, wrk loads hellod for JOURNAL_SECONDS at the machine's maximum rate, and
# every connection hellod served must have its entry with CHILD_PID in the
# journal: the entries with REQUESTS= are counted against the connections of
# hellod's stop line, and their REQUESTS= summed against its requests and
# against wrk's count. Then the same load with stderr to /dev/null
# (StandardError=null) gives the throughput without the journal. Per run it
# prints one line of figures: entries, connections, req/s, journald's CPU per
# entry and hellod's (the parent's) CPU per connection. Uses the helpers of
# e2e-lib.sh (step, ok, fail, poll, inbox, innet, prop).

JOURNAL_SECONDS=${HELLOD_E2E_JOURNAL_SECONDS:-30}
JOURNAL_CONNS=32 # wrk's connections (2 threads)
journal_dropin=/run/systemd/system/hellod.service.d/e2e-journal.conf

# cpu_ticks PID: utime+stime of a process in the container, in clock ticks.
cpu_ticks() {
	# shellcheck disable=SC2016 # awk program
	inbox awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
journal_cursor() { inbox journalctl --no-pager -q -n 1 -o export | sed -n 's/^__CURSOR=//p'; }
# stop_line CURSOR PID: hellod PID's "stopped (...)" line after CURSOR, if
# written.
stop_line() {
	inbox journalctl --no-pager -q --after-cursor="$1" -o cat "_PID=$2" 2>/dev/null |
		grep -m1 '^stopped (' || true
}
stop_line_written() { [ -n "$(stop_line "$1" "$2")" ]; }

# journal_run STRATEGY KEEPALIVE(on|off) SINK(journal|null): one load run;
# sets the globals r_conns r_reqs r_wrk r_rps r_entries r_jcpu r_hcpu.
journal_run() {
	local strategy=$1 ka=$2 sink=$3 kat=5s hdr=() cur jpid hpid j0 h0 j1 h1 out line
	[ "$ka" = on ] || { kat=0; hdr=(-H 'Connection: close'); }
	inbox mkdir -p "${journal_dropin%/*}"
	{
		printf '[Service]\nEnvironment=HELLOD_CHILD=%s HELLOD_KEEPALIVE_TIMEOUT=%s\n' "$strategy" "$kat"
		[ "$sink" = journal ] || printf 'StandardError=null\n'
	} | inbox tee "$journal_dropin" >/dev/null
	inbox systemctl daemon-reload
	# The window: all of the new hellod's life (its entries carry its _PID).
	cur=$(journal_cursor)
	inbox systemctl restart hellod.service
	expect_hello >/dev/null # the restarted hellod serves
	jpid=$(prop systemd-journald.service MainPID)
	hpid=$(main_pid)
	j0=$(cpu_ticks "$jpid") h0=$(cpu_ticks "$hpid")
	# shellcheck disable=SC2154 # run: set by e2e.sh
	out=$run/wrk-$strategy-$ka-$sink.txt
	innet timeout $((JOURNAL_SECONDS + 30)) wrk -t2 -c"$JOURNAL_CONNS" -d"${JOURNAL_SECONDS}s" "${hdr[@]}" \
		http://127.0.0.1:8000/ >"$out" 2>&1 || fail "wrk ($strategy, keep-alive $ka, $sink): $(cat "$out")"
	# hellod's counters, from its STATUS= line (the stop line is lost with
	# stderr to /dev/null), then its stop line.
	h1=$(cpu_ticks "$hpid")
	inbox systemctl stop hellod.service
	if [ "$sink" = journal ]; then
		poll 60 "hellod's stop line in the journal" stop_line_written "$cur" "$hpid"
		line=$(stop_line "$cur" "$hpid")
	else
		line=$(stop_line "$cur" "$hpid")
		[ -z "$line" ] || fail "StandardError=null, yet hellod's stop line is in the journal: $line"
	fi
	j1=$(cpu_ticks "$jpid")
	grep -q '^ *Non-2xx' "$out" && fail "wrk got responses other than 200: $(cat "$out")"
	r_wrk=$(awk '/requests in/ { print $1 }' "$out")
	r_rps=$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$out")
	r_hcpu=$((h1 - h0)) r_jcpu=$((j1 - j0))
	[[ -n $r_wrk && -n $r_rps ]] || fail "no request count in wrk's output: $(cat "$out")"
	[ "$sink" = journal ] || return 0

	# "stopped (shutdown): 243712 connections served, 0 children killed, 243712 requests served"
	read -r r_conns r_reqs < <(sed -E 's/.*: ([0-9]+) connections served.* ([0-9]+) requests served$/\1 \2/' <<<"$line")
	[[ $r_conns =~ ^[0-9]+$ && $r_reqs =~ ^[0-9]+$ ]] || fail "cannot read hellod's stop line: $line"
	# Every child entry after the cursor: CHILD_PID, and REQUESTS= for one
	# that served (the others: a client that closed before its request).
	# shellcheck disable=SC2016 # awk program
	read -r r_entries served reqs < <(inbox journalctl --no-pager -q --after-cursor="$cur" -o export \
		--output-fields=CHILD_PID,REQUESTS _SYSTEMD_UNIT=hellod.service "_PID=$hpid" |
		awk '/^CHILD_PID=/ { e++ } /^REQUESTS=/ { s++; r += substr($0, 10) } END { printf "%d %d %d\n", e, s, r }')
	[ "$served" = "$r_conns" ] ||
		fail "$strategy, keep-alive $ka: want $r_conns entries with REQUESTS= (connections served), got $served ($r_entries with CHILD_PID)$(journal_suppressed "$cur")"
	[ "$reqs" = "$r_reqs" ] || fail "$strategy, keep-alive $ka: want REQUESTS= summing to $r_reqs (requests served), got $reqs"
	# wrk counts the responses it read: at most one in flight per
	# connection was sent but not read when it stopped. hellod's count also
	# has the one request of expect_hello.
	local by_wrk=$((r_reqs - 1))
	if [ "$r_wrk" -gt "$by_wrk" ] || [ $((by_wrk - r_wrk)) -gt "$JOURNAL_CONNS" ]; then
		fail "$strategy, keep-alive $ka: wrk read $r_wrk responses, hellod served $by_wrk to it (want 0 to $JOURNAL_CONNS more): $(cat "$out")"
	fi
	[ -z "$(journal_suppressed "$cur")" ] || fail "journald suppressed entries:$(journal_suppressed "$cur")"
}

# journal_suppressed CURSOR: journald's "Suppressed N messages" lines since.
journal_suppressed() {
	local s
	s=$(inbox journalctl --no-pager -q --after-cursor="$1" -o cat SYSLOG_IDENTIFIER=systemd-journald | grep 'Suppressed' | tr '\n' ' ' || true)
	[ -z "$s" ] || echo " (journald: $s)"
}

per() { awk -v a="$1" -v b="$2" -v m="$3" 'BEGIN { if (b > 0) printf "%.1f", a * m / b; else print "n/a" }'; }

journal_full_rate() {
	local tck strategy ka us
	local -A rps=()
	command -v wrk >/dev/null || fail "missing tool: wrk"
	tck=$(getconf CLK_TCK)
	us=$((1000000 / tck))
	step "6c. journald at full rate: an entry per connection (wrk, ${JOURNAL_SECONDS}s per run)"
	ok "LogRateLimitIntervalSec=$(prop hellod.service LogRateLimitIntervalUSec) LogRateLimitBurst=$(prop hellod.service LogRateLimitBurst)"
	for strategy in fork exec; do
		for ka in off on; do
			journal_run "$strategy" "$ka" journal
			ok "$strategy, keep-alive $ka: $r_entries entries with CHILD_PID, $r_conns connections served (all in the journal), $r_reqs requests, wrk $r_wrk at $r_rps req/s; journald $(per "$r_jcpu" "$r_entries" "$us") us CPU per entry ($r_jcpu ticks), hellod $(per "$r_hcpu" "$r_conns" "$us") us per connection"
			[ "$ka" = on ] || rps[$strategy]=$r_rps
		done
		journal_run "$strategy" off null
		ok "$strategy, keep-alive off, StandardError=null: wrk $r_wrk at $r_rps req/s, hellod $(per "$r_hcpu" "$r_wrk" "$us") us per connection (under journald: ${rps[$strategy]} req/s, $(per "${rps[$strategy]}" "$r_rps" 100)% of this)"
	done
	inbox rm -f "$journal_dropin"
	inbox systemctl daemon-reload
	inbox systemctl restart hellod.service
}
