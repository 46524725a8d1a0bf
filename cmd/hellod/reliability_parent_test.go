package main

// Reliability, 6. faults the parent must survive: the OOM killer under a
// memory limit, a parent stall, SIGHUP (the task limit:
// reliability_tasks_test.go).

import (
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stall opens a connection that sends half a request head and stops.
func stall(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// oomKilled counts the exit lines of children killed by SIGKILL that
// hellod did not send: the OOM killer's.
func oomKilled(log string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "killed by signal SIGKILL") && !strings.Contains(l, "sent by hellod") {
			n++
		}
	}
	return n
}

// Under a memory limit too small for its stalled connections' children,
// the OOM killer kills children (oom_score_adj 1000), never the parent,
// which serves again once the clients are gone.
func TestReliabilityParentOOM(t *testing.T) {
	noRaceExitSleep(t)
	eachStrategy(t, func(t *testing.T, strategy string) {
		const limit = 32 << 20
		maxConns := 1500
		raiseNofile(t, 2*maxConns+100)
		cg := newCgroup(t, "memory")
		cg.set(t, "memory.limit_in_bytes", "memory.max", strconv.Itoa(limit))
		if _, err := os.Stat(cg.dir + "/memory.memsw.limit_in_bytes"); err == nil {
			cg.set(t, "memory.memsw.limit_in_bytes", "", strconv.Itoa(limit))
		}
		cg.set(t, "", "memory.swap.max", "0")
		d := start(t, nil, strategy, "--log-level", "debug", "--max-children", strconv.Itoa(maxConns),
			"--evict-after", "0", "--header-timeout", "60s", "--child-timeout", "90s")
		cg.add(t, d.pid())
		first, err := stall(d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		child := d.nthChildPID(1)
		// An exec child sets it once its image runs: poll.
		var adj []byte
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if adj, err = os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", child)); err != nil || string(adj) == "1000\n" {
				break
			}
		}
		if err != nil || strings.TrimSpace(string(adj)) != "1000" {
			t.Errorf("child %d: want oom_score_adj 1000 within 10s, got %q (%v)", child, adj, err)
		}
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		deadline := time.Now().Add(90 * time.Second)
		for len(conns) < maxConns && oomKilled(d.logText()) < 3 && time.Now().Before(deadline) {
			c, err := stall(d.addr)
			if err != nil {
				t.Fatalf("stalled connection %d: %v", len(conns)+1, err)
			}
			conns = append(conns, c)
			if len(conns)%50 == 0 {
				time.Sleep(20 * time.Millisecond) // let children start (the limit is what is tested)
			}
		}
		killed := oomKilled(d.logText())
		if killed == 0 {
			t.Fatalf("want a child OOM-killed under %d MiB with %d stalled connections, got none (usage %s)",
				limit>>20, len(conns), cg.read("memory.max_usage_in_bytes"))
		}
		if !alive(d.pid()) {
			t.Fatalf("want the parent alive after %d children were OOM-killed, it is gone: %v", killed, d.err)
		}
		peak, _ := strconv.ParseInt(cg.read("memory.max_usage_in_bytes"), 10, 64)
		if cg.v2 {
			peak, _ = strconv.ParseInt(cg.read("memory.peak"), 10, 64)
		}
		running, _ := d.liveChildren()
		stalled := len(conns) + 1
		for _, c := range conns {
			c.Close()
		}
		first.Close()
		conns = nil
		d.waitNoChildren(60 * time.Second)
		if got := statusLine(exchange(t, d.addr, getReq)); got != "HTTP/1.1 200 OK" {
			t.Errorf("after the stalled clients left: want a 200, got %q", got)
		}
		if !alive(d.pid()) {
			t.Fatalf("want the parent alive at the end, it is gone: %v", d.err)
		}
		killed = oomKilled(d.logText()) // all of them, now that every child exited
		kernel := cg.stat("memory.oom_control", "oom_kill")
		if cg.v2 {
			kernel = cg.stat("memory.events", "oom_kill")
		}
		t.Logf("FIGURE parent/oom/%s: cgroup=%s limit_mib=%d stalled=%d children_at_end=%d oom_killed_logged=%d oom_kill_kernel=%d peak_mib=%.1f parent_rss_kb=%d parent_alive=true served_after=true",
			strategy[8:], cg.version(), limit>>20, stalled, running, killed, kernel, float64(peak)/(1<<20), d.status("VmRSS"))
	})
}

// A 3 s stall of the parent (SIGSTOP, SIGCONT) at --max-children 16
// under 48 ordinary clients resets no client: children that exited
// meanwhile are reaped before the evictor decides, and no ordinary child
// counts as stale.
func TestReliabilityParentStall(t *testing.T) {
	noRaceExitSleep(t)
	raiseNofile(t, 500)
	eachStrategy(t, func(t *testing.T, strategy string) {
		runs := scaled(3, 2)
		for run := 1; run <= runs; run++ {
			d := start(t, nil, strategy, "--max-children", "16")
			const clients = 48
			res := make(chan *loadResult, 1)
			go func() { res <- load(d.addr, 1<<30, clients, 7*time.Second, "Hello, World!\n", false, nil) }()
			time.Sleep(time.Second) // load runs meanwhile: the stall hits a busy parent
			d.signal(syscall.SIGSTOP)
			time.Sleep(3 * time.Second) // the stall itself
			d.signal(syscall.SIGCONT)
			r := <-res
			bad := r.tally[gotReset].Load() + r.tally[gotClose].Load() + r.tally[gotPartial].Load() + r.tally[gotOther].Load()
			if bad != 0 || r.tally[gotOK].Load() == 0 {
				t.Errorf("run %d: want every client served across the stall, got %s %q", run, r.tally.String(), r.firstBad)
			}
			log := d.logText()
			evicted, dropped := strings.Count(log, "killing children reading a request head"), strings.Count(log, "closing the oldest waiting ones unserved")
			if evicted+dropped != 0 {
				t.Errorf("run %d: want no eviction nor backlog drop after a stall, got %d and %d lines", run, evicted, dropped)
			}
			t.Logf("FIGURE parent/stall/%s/run%d: max_children=16 clients=%d stall_s=3 %s eviction_lines=%d drop_lines=%d p99_ms=%s",
				strategy[8:], run, clients, r.tally.String(), evicted, dropped, ms(percentile(r.lat, 0.99)))
			d.signal(syscall.SIGTERM)
			d.wait(30 * time.Second)
		}
	})
}

// SIGHUP is logged and changes nothing: hellod keeps serving, its
// children untouched.
func TestReliabilityParentSIGHUP(t *testing.T) {
	noRaceExitSleep(t)
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, nil, strategy, "--log-level", "debug")
		c, err := stall(d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		child := d.nthChildPID(1)
		for i := 1; i <= 3; i++ {
			d.signal(syscall.SIGHUP)
			d.waitLogN("SIGHUP: the configuration is read at start only; restart hellod", i)
		}
		if !alive(d.pid()) || !alive(child) {
			t.Fatalf("after SIGHUP: want hellod and its child alive, got %v and %v", alive(d.pid()), alive(child))
		}
		if got := statusLine(exchange(t, d.addr, getReq)); got != "HTTP/1.1 200 OK" {
			t.Errorf("after SIGHUP: want a 200, got %q", got)
		}
		io.WriteString(c, "\r\n") // the stalled request's end
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if b, _ := io.ReadAll(c); statusLine(string(b)) != "HTTP/1.1 200 OK" {
			t.Errorf("the child running across SIGHUP: want a 200, got %q", b)
		}
		d.signal(syscall.SIGTERM)
		if code := d.wait(30 * time.Second); code != 0 {
			t.Errorf("SIGTERM after SIGHUP: want exit 0, got %d", code)
		}
		t.Logf("FIGURE parent/sighup/%s: sighups=3 logged=%d alive=true child_untouched=true", strategy[8:],
			d.count("SIGHUP: the configuration"))
	})
}

// At the cap under a steady load, the cap is reached and left every few
// milliseconds: its lines are rate-limited (at most one pair a second,
// counting what was not written).
func TestReliabilityParentCapLines(t *testing.T) {
	noRaceExitSleep(t)
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, nil, strategy, "--max-children", "4")
		const window = 3 * time.Second
		r := load(d.addr, 1<<30, 32, window, "Hello, World!\n", false, nil)
		if r.tally[gotOK].Load() == 0 {
			t.Fatalf("want 200s at the cap, got %s", r.tally.String())
		}
		reached := d.count("not accepting until one exits")
		left := d.count("below --max-children again")
		limit := int(r.elapsed/time.Second) + 2
		if reached < 1 || reached > limit || left > reached {
			t.Errorf("%s at --max-children 4 under 32 clients: want 1 to %d cap lines and at most as many below-cap ones, got %d and %d",
				r.elapsed.Round(time.Millisecond), limit, reached, left)
		}
		suppressed := 0
		for _, m := range suppressedRE.FindAllStringSubmatch(d.logText(), -1) {
			n, _ := strconv.Atoi(m[1])
			suppressed += n
		}
		t.Logf("FIGURE parent/cap-lines/%s: max_children=4 clients=32 window_s=%.1f served=%d cap_lines=%d below_cap_lines=%d episodes_suppressed=%d",
			strategy[8:], r.elapsed.Seconds(), r.tally[gotOK].Load(), reached, left, suppressed)
	})
}

var suppressedRE = regexp.MustCompile(`not accepting until one exits[^"]*\((\d+) similar suppressed\)`)
