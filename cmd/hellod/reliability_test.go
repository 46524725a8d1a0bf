package main

// Reliability under abuse and faults (issue 5): slow clients, floods, fd
// exhaustion, faults, bad configuration and a soak, each against the real
// daemon with both child strategies, bounded in count and time, loopback
// only. Every test prints its figures as "FIGURE name: key=value ..." lines
// (go test -count=1 -v -run TestReliability ./cmd/hellod); RELIABILITY.md
// collects them. Under -race or -short the counts are scaled down.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const getReq = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

// noRaceExitSleep stops race-instrumented exec children (copies of this
// test binary) from sleeping 1 s at exit (the race runtime's
// atexit_sleep_ms), which would hold each connection open for a second
// after its response under -race.
func noRaceExitSleep(t *testing.T) {
	if raceEnabled {
		t.Setenv("GORACE", "atexit_sleep_ms=0")
	}
}

// scaled returns full, or small under -race or -short.
func scaled(full, small int) int {
	if raceEnabled || testing.Short() {
		return small
	}
	return full
}

// raiseNofile raises this process's RLIMIT_NOFILE soft limit to the hard
// limit (Go does so at start-up since 1.19; this is a check) and skips the
// test if the hard limit is below need.
func raiseNofile(t *testing.T, need int) {
	t.Helper()
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
			t.Fatal(err)
		}
	}
	if r.Max < uint64(need) {
		t.Skipf("RLIMIT_NOFILE hard limit is %d; this test holds about %d descriptors (raise it with ulimit -Hn)", r.Max, need)
	}
}

// procStatus returns a numeric field of /proc/PID/status (VmRSS in kB,
// Threads), or -1.
func procStatus(pid int, key string) int64 { return procField(pid, "status", key) }

// procField returns the number after "KEY:" in /proc/PID/FILE, or -1.
func procField(pid int, file, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return -1
}

// procStat returns the fields of /proc/PID/stat after the command name:
// [0] state, [1] ppid, ..., [11] utime, [12] stime.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// cpuTicks is the process's user+system CPU time in clock ticks (1/100 s).
func cpuTicks(pid int) int64 {
	f := procStat(pid)
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

func fdCount(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// liveChildren counts the daemon's children (zombies included), checking
// each listed PID again so that a child that exited while the per-thread
// lists were read is not counted next to its successor.
func (d *daemon) liveChildren() (n, zombies int) {
	for _, p := range d.children() {
		f := procStat(p)
		if len(f) < 2 || f[1] != strconv.Itoa(d.pid()) {
			continue
		}
		n++
		if f[0] == "Z" {
			zombies++
		}
	}
	return n, zombies
}

// count counts log lines containing s.
func (d *daemon) count(s string) int {
	n := 0
	for _, l := range strings.Split(d.logText(), "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// waitCount polls until n log lines contain s (cheaper than waitLogN on a
// long log).
func (d *daemon) waitCount(s string, n int, timeout time.Duration) int {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := d.count(s)
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// smapsRollup returns a field of /proc/PID/smaps_rollup in kB, or -1.
func smapsRollup(pid int, key string) int64 { return procField(pid, "smaps_rollup", key) }

// childrenMem sums the children's RSS, PSS and private memory in kB (RSS
// counts the pages a fork child shares with its parent once per child; PSS
// divides them among the sharers).
func (d *daemon) childrenMem() (rss, pss, private int64) {
	for _, p := range d.children() {
		if v := procStatus(p, "VmRSS"); v > 0 {
			rss += v
		}
		if v := smapsRollup(p, "Pss"); v > 0 {
			pss += v
		}
		for _, k := range []string{"Private_Clean", "Private_Dirty"} {
			if v := smapsRollup(p, k); v > 0 {
				private += v
			}
		}
	}
	return rss, pss, private
}

// stopper is a channel closed once.
type stopper struct {
	ch   chan struct{}
	once sync.Once
}

func newStopper() *stopper { return &stopper{ch: make(chan struct{})} }
func (s *stopper) stop()   { s.once.Do(func() { close(s.ch) }) }

// waitNoChildren polls until the daemon has no child, zombie or not.
func (d *daemon) waitNoChildren(timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n, z := d.liveChildren()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("want no children within %s, got %d (%d zombies)", timeout, n, z)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFDs polls until the daemon holds want descriptors, and returns the last count.
func (d *daemon) waitFDs(want int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		n := fdCount(d.pid())
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// outcome is what a client saw.
type outcome int

const (
	gotOK      outcome = iota // a complete 200 with the expected body
	gotClose                  // closed before any byte (EOF)
	gotReset                  // reset before any byte
	gotRefused                // connection refused
	gotPartial                // some bytes, not a complete 200
	gotTimeout                // nothing within the client's deadline
	gotOther                  // another error
	nOutcomes
)

var outcomeNames = [nOutcomes]string{"ok", "closed", "reset", "refused", "partial", "timeout", "other"}

type tally [nOutcomes]atomic.Int64

func (t *tally) String() string {
	var b strings.Builder
	for i := range t {
		fmt.Fprintf(&b, " %s=%d", outcomeNames[i], t[i].Load())
	}
	return strings.TrimSpace(b.String())
}

// complete reports whether b is a complete 200 with body msg.
func complete(b []byte, msg string) bool {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	return ok && bytes.HasPrefix(head, []byte("HTTP/1.1 200 OK\r\n")) &&
		bytes.Contains(head, []byte("\r\nContent-Length: "+strconv.Itoa(len(msg))+"\r\n")) &&
		string(body) == msg
}

// hit makes one GET from src (nil: any) and classifies what came back.
func hit(addr string, src net.IP, timeout time.Duration, msg string) (outcome, time.Duration, error) {
	start := time.Now()
	dl := net.Dialer{Timeout: timeout}
	if src != nil {
		dl.LocalAddr = &net.TCPAddr{IP: src}
	}
	c, err := dl.Dial("tcp", addr)
	if err != nil {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return gotRefused, time.Since(start), err
		case errors.Is(err, syscall.ECONNRESET):
			// Reset during the handshake: the listener closed with the
			// connection still in its queue.
			return gotReset, time.Since(start), err
		}
		return gotOther, time.Since(start), err
	}
	defer c.Close()
	c.SetDeadline(start.Add(timeout))
	_, werr := io.WriteString(c, getReq)
	b, rerr := io.ReadAll(c)
	lat := time.Since(start)
	var ne net.Error
	switch {
	case rerr == nil && complete(b, msg):
		return gotOK, lat, nil
	case len(b) > 0:
		return gotPartial, lat, fmt.Errorf("%q: %v", b, rerr)
	case errors.As(rerr, &ne) && ne.Timeout():
		return gotTimeout, lat, rerr
	case rerr == nil:
		return gotClose, lat, werr
	case errors.Is(rerr, syscall.ECONNRESET):
		return gotReset, lat, rerr
	}
	return gotOther, lat, fmt.Errorf("write: %v, read: %v", werr, rerr)
}

// srcIP spreads clients over 127.0.0.1-127.0.0.8.
func srcIP(i int) net.IP { return net.IPv4(127, 0, 0, byte(1+i%8)) }

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(p*float64(len(s)-1))]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
}

// load runs n GETs from conc workers, stopping early at the deadline, and
// tallies the outcomes. sample, if not nil, is called every 2 ms meanwhile.
// stopOnRefused makes a worker stop at its first refused connection.
type loadResult struct {
	tally    tally
	lat      []time.Duration
	elapsed  time.Duration
	firstBad []string
}

func load(addr string, n, conc int, deadline time.Duration, msg string, stopOnRefused bool, sample func()) *loadResult {
	r := &loadResult{}
	var next atomic.Int64
	var mu sync.Mutex
	start := time.Now()
	end := start.Add(deadline)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lats []time.Duration
			defer func() {
				mu.Lock()
				r.lat = append(r.lat, lats...)
				mu.Unlock()
			}()
			for time.Now().Before(end) {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				o, lat, err := hit(addr, srcIP(w), 30*time.Second, msg)
				r.tally[o].Add(1)
				if o == gotOK {
					lats = append(lats, lat)
				} else if o != gotRefused && o != gotClose && o != gotReset {
					mu.Lock()
					if len(r.firstBad) < 5 {
						r.firstBad = append(r.firstBad, fmt.Sprintf("%s: %v", outcomeNames[o], err))
					}
					mu.Unlock()
				}
				if o == gotRefused && stopOnRefused {
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	if sample != nil {
		go func() {
			t := time.NewTicker(2 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					sample()
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	r.elapsed = time.Since(start)
	return r
}

// ---------------------------------------------------------------------------
// 2. Slow clients

// slowConn is a client that sends its header section a byte at a time and
// never finishes it.
type slowConn struct {
	c      net.Conn
	opened time.Time
	done   chan struct{}
	resp   []byte
	err    error
	at     time.Time // when the read ended
}

func (s *slowConn) finished() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// slowFlood opens n slow connections, each reading its response (if any)
// until readLimit after it opened, and trickles a byte to every unfinished
// one every 2 s until stop is closed.
func slowFlood(t *testing.T, addr string, n int, readLimit time.Duration, stop <-chan struct{}) []*slowConn {
	t.Helper()
	conns := make([]*slowConn, 0, n)
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatalf("slow client %d: want connected (queued at worst), got %v", i, err)
		}
		s := &slowConn{c: c, opened: time.Now(), done: make(chan struct{})}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(s.opened.Add(readLimit))
		go func() {
			s.resp, s.err = io.ReadAll(c)
			s.at = time.Now()
			close(s.done)
		}()
		conns = append(conns, s)
	}
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for k := 0; k < 120; k++ { // at most 4 minutes
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, s := range conns {
				if !s.finished() {
					s.c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
					s.c.Write([]byte("a"))
				}
			}
		}
	}()
	return conns
}

// probe makes k fresh GETs one after another and returns their latencies;
// each must be a complete 200 within limit.
func probe(t *testing.T, addr string, k int, limit time.Duration) []time.Duration {
	t.Helper()
	var lats []time.Duration
	for i := 0; i < k; i++ {
		o, lat, err := hit(addr, net.IPv4(127, 0, 0, 9), limit, "Hello, World!\n")
		if o != gotOK {
			t.Errorf("fresh client %d: want a complete 200 within %s, got %s after %s (%v)", i, limit, outcomeNames[o], lat, err)
		}
		lats = append(lats, lat)
	}
	return lats
}

func TestReliabilitySlowClients(t *testing.T) {
	noRaceExitSleep(t)
	n := scaled(2000, 150)
	raiseNofile(t, n+500)
	t.Run("above-cap", func(t *testing.T) {
		eachStrategy(t, func(t *testing.T, strategy string) {
			// A fork child starts in well under a millisecond; 2000 exec
			// children (a Go runtime each) take 2-4 s to start on 2 cores,
			// and an exec child's header deadline runs from its own start.
			// The deadlines leave room for a loaded CI machine: the fresh
			// clients must be measured before the first 408s.
			ht := 10 * time.Second
			if strategy == "--child=exec" {
				ht = 15 * time.Second
			}
			d := start(t, nil, strategy, "--max-children", strconv.Itoa(n+100), "--header-timeout", ht.String(), "--child-timeout", "30s")
			stop := newStopper()
			defer stop.stop()
			t0 := time.Now()
			conns := slowFlood(t, d.addr, n, ht+30*time.Second, stop.ch)
			dialled := time.Since(t0)
			// Wait until every slow client has its child.
			for {
				k := len(d.children())
				if k >= n {
					break
				}
				if time.Since(t0) > ht {
					t.Fatalf("want %d children running within the header timeout %s, got %d", n, ht, k)
				}
				time.Sleep(50 * time.Millisecond)
			}
			allUp := time.Since(t0)
			parentRSS := procStatus(d.pid(), "VmRSS")
			kidsRSS, kidsPSS, kidsPriv := d.childrenMem()
			lats := probe(t, d.addr, 10, time.Second)
			answered := 0
			for _, s := range conns {
				if s.finished() {
					answered++
				}
			}
			if answered != 0 {
				t.Errorf("want every slow client still hanging while the fresh ones were served, got %d answered", answered)
			}
			// Each slow one gets 408 at its header deadline.
			var delays []time.Duration
			bad := 0
			slack := 5 * time.Second // exec children start late under load
			if raceEnabled {
				slack = 20 * time.Second
			}
			for i, s := range conns {
				<-s.done
				delay := s.at.Sub(s.opened)
				delays = append(delays, delay)
				if statusLine(string(s.resp)) != "HTTP/1.1 408 Request Timeout" || delay < ht-100*time.Millisecond || delay > ht+slack {
					if bad++; bad <= 5 {
						t.Errorf("slow client %d: want 408 after %s (+%s at most), got %q, %v after %s", i, ht, slack, statusLine(string(s.resp)), s.err, delay)
					}
				}
			}
			if got := d.waitCount("-> 408 in", n, 30*time.Second); got != n {
				t.Errorf("want %d 408s logged, got %d", n, got)
			}
			d.waitNoChildren(30 * time.Second)
			t.Logf("FIGURE slow-clients/above-cap/%s: slow=%d header_timeout=%s dial_all_ms=%s children_up_ms=%s fresh_p50_ms=%s fresh_max_ms=%s slow_408=%d/%d 408_after_p50_ms=%s 408_after_max_ms=%s parent_rss_kb=%d children_rss_kb=%d children_pss_kb=%d children_private_kb=%d",
				strategy[8:], n, ht, ms(dialled), ms(allUp), ms(percentile(lats, 0.5)), ms(percentile(lats, 1)), n-bad, n,
				ms(percentile(delays, 0.5)), ms(percentile(delays, 1)), parentRSS, kidsRSS, kidsPSS, kidsPriv)
		})
	})
	t.Run("at-cap", func(t *testing.T) {
		eachStrategy(t, func(t *testing.T, strategy string) {
			const cap = 64
			d := start(t, nil, strategy, "--max-children", strconv.Itoa(cap), "--header-timeout", "60s", "--child-timeout", "90s")
			stop := newStopper()
			defer stop.stop()
			t0 := time.Now()
			conns := slowFlood(t, d.addr, n, 120*time.Second, stop.ch)
			// A fresh client that arrives in the middle of the flood waits
			// its turn in the listen backlog (FIFO) behind the slow ones.
			duringCh := make(chan time.Duration, 1)
			go func() {
				o, lat, err := hit(d.addr, net.IPv4(127, 0, 0, 9), 150*time.Second, "Hello, World!\n")
				if o != gotOK {
					t.Errorf("fresh client during the churn: want a 200, got %s (%v)", outcomeNames[o], err)
				}
				duringCh <- lat
			}()
			// The churn: every slow client but the last cap accepted is evicted.
			var maxKids int
			var parentRSS, kidsRSS, kidsPSS, kidsPriv int64
			for {
				closed := 0
				for _, s := range conns {
					if s.finished() {
						closed++
					}
				}
				if k, _ := d.liveChildren(); k > maxKids {
					maxKids = k
				}
				if closed >= n-cap {
					break
				}
				if time.Since(t0) > 150*time.Second {
					t.Fatalf("want %d slow clients evicted within 150s, got %d", n-cap, closed)
				}
				if parentRSS == 0 && time.Since(t0) > time.Second {
					parentRSS = procStatus(d.pid(), "VmRSS")
					kidsRSS, kidsPSS, kidsPriv = d.childrenMem()
				}
				time.Sleep(20 * time.Millisecond)
			}
			churn := time.Since(t0)
			during := <-duringCh
			if parentRSS == 0 {
				parentRSS = procStatus(d.pid(), "VmRSS")
				kidsRSS, kidsPSS, kidsPriv = d.childrenMem()
			}
			// Now cap slow clients hold every slot; fresh clients still get in.
			k := 20
			lats := probe(t, d.addr, k, time.Second)
			hanging, answered := 0, 0
			for _, s := range conns {
				switch {
				case !s.finished():
					hanging++
				case len(s.resp) > 0:
					answered++
				}
			}
			// Each fresh client evicts one slow one, or a few when its child
			// is slow to be accepted (the eviction tick is 10 ms).
			if hanging < cap/2 {
				t.Errorf("want at least %d slow clients still hanging after %d fresh ones, got %d", cap/2, k, hanging)
			}
			if answered != 0 {
				t.Errorf("want evicted slow clients closed without a response, got %d answered", answered)
			}
			if maxKids > cap {
				t.Errorf("want at most %d children, got %d", cap, maxKids)
			}
			// The slow clients that are gone were evicted (their children
			// killed) or, the cap being clogged with stale children and the
			// backlog deeper than the cap, closed unserved straight from the
			// backlog, oldest first.
			evicted := d.count("evicted after")
			// (Under -race the burst is scaled down to a backlog barely deeper
			// than the cap, which eviction alone may clear first.)
			if !raceEnabled && d.count("stalled children: closing the oldest waiting ones unserved") < 1 {
				t.Errorf("want the clogged cap to drop the oldest waiting connections, and say so")
			}
			if evicted < 1 {
				t.Errorf("want stale children evicted, got %d", evicted)
			}
			if limit := 5 * time.Second; during > limit && !raceEnabled {
				t.Errorf("want the fresh client that came during the burst served within %s, got %s", limit, during)
			}
			stop.stop()
			for _, s := range conns {
				s.c.Close()
			}
			d.waitNoChildren(30 * time.Second)
			t.Logf("FIGURE slow-clients/at-cap/%s: slow=%d max_children=%d evict_after=500ms churn_ms=%s evicted=%d fresh_during_churn_ms=%s fresh_after_p50_ms=%s fresh_after_max_ms=%s still_hanging=%d max_children_seen=%d parent_rss_kb=%d children_rss_kb=%d children_pss_kb=%d children_private_kb=%d",
				strategy[8:], n, cap, ms(churn), evicted, ms(during), ms(percentile(lats, 0.5)), ms(percentile(lats, 1)), hanging, maxKids, parentRSS, kidsRSS, kidsPSS, kidsPriv)
		})
	})
}

// ---------------------------------------------------------------------------
// 3. Flood

func TestReliabilityFlood(t *testing.T) {
	noRaceExitSleep(t)
	n, conc := scaled(20000, 1000), scaled(512, 128)
	raiseNofile(t, conc+200)
	eachStrategy(t, func(t *testing.T, strategy string) {
		const cap = 64
		d := start(t, nil, strategy, "--max-children", strconv.Itoa(cap))
		// One connection first, so the baseline has whatever the first
		// child makes the parent open for good.
		if o, _, err := hit(d.addr, nil, 10*time.Second, "Hello, World!\n"); o != gotOK {
			t.Fatalf("want a 200, got %s (%v)", outcomeNames[o], err)
		}
		d.waitNoChildren(10 * time.Second)
		baseFD := fdCount(d.pid())
		var maxKids, maxZombies atomic.Int64
		var peakRSS atomic.Int64
		samples := 0
		r := load(d.addr, n, conc, 5*time.Minute, "Hello, World!\n", false, func() {
			k, z := d.liveChildren()
			if int64(k) > maxKids.Load() {
				maxKids.Store(int64(k))
			}
			if int64(z) > maxZombies.Load() {
				maxZombies.Store(int64(z))
			}
			if samples++; samples%50 == 0 {
				if v := procStatus(d.pid(), "VmRSS"); v > peakRSS.Load() {
					peakRSS.Store(v)
				}
			}
		})
		ok := r.tally[gotOK].Load()
		clean := r.tally[gotClose].Load() + r.tally[gotReset].Load()
		if ok+clean != int64(n) {
			t.Errorf("want %d complete 200s or clean closes, got %s; first: %q", n, r.tally.String(), r.firstBad)
		}
		if maxKids.Load() > cap {
			t.Errorf("want at most %d children at any time, got %d", cap, maxKids.Load())
		}
		d.waitNoChildren(30 * time.Second)
		afterFD := d.waitFDs(baseFD, 10*time.Second)
		if afterFD != baseFD {
			t.Errorf("want the parent's fd count back to %d, got %d", baseFD, afterFD)
		}
		// A child evicted after writing its 200 but before exiting (only
		// seen under -race, where children start and exit slowly) is logged
		// as killed although its client got the 200.
		evicted := d.count("evicted after")
		if got := d.waitCount("GET -> 200", int(ok+1), 10*time.Second); int64(got) > ok+1 || int64(got) < ok+1-int64(evicted) {
			t.Errorf("want %d 200s logged (as many as clients got, less at most %d evicted), got %d", ok+1, evicted, got)
		}
		if o, _, err := hit(d.addr, nil, 10*time.Second, "Hello, World!\n"); o != gotOK {
			t.Errorf("after the flood: want a 200, got %s (%v)", outcomeNames[o], err)
		}
		t.Logf("FIGURE flood/%s: connections=%d concurrency=%d max_children=%d elapsed_s=%.1f conn_per_s=%.0f %s p50_ms=%s p99_ms=%s max_ms=%s max_children_seen=%d zombies_seen_max=%d zombies_after=0 evicted=%d parent_fd_before=%d parent_fd_after=%d parent_rss_peak_kb=%d",
			strategy[8:], n, conc, cap, r.elapsed.Seconds(), float64(n)/r.elapsed.Seconds(), r.tally.String(),
			ms(percentile(r.lat, 0.5)), ms(percentile(r.lat, 0.99)), ms(percentile(r.lat, 1)), maxKids.Load(), maxZombies.Load(),
			d.count("evicted after"), baseFD, afterFD, peakRSS.Load())
	})
}

// ---------------------------------------------------------------------------
// 4. fd exhaustion

var recoveredRE = regexp.MustCompile(`accept recovered after (\d+) failures in ([0-9.]+m?s)`)

func TestReliabilityFDExhaustion(t *testing.T) {
	noRaceExitSleep(t)
	eachStrategy(t, func(t *testing.T, strategy string) {
		// The daemon runs under "ulimit -n 24" (soft and hard).
		cmd := exec.Command("/bin/sh", "-c", `ulimit -n 24 && exec "$0" "$@"`, os.Args[0],
			"--listen", "127.0.0.1:0", strategy, "--max-children", "8")
		cmd.Env = environ()
		d := startCmd(t, cmd)
		d.waitListening()
		pid := d.pid()
		var lim unix.Rlimit
		if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &lim); err != nil {
			t.Fatal(err)
		}
		if lim.Cur != 24 || lim.Max != 24 {
			t.Fatalf("want the daemon's RLIMIT_NOFILE 24/24, got %d/%d", lim.Cur, lim.Max)
		}
		// It serves under that limit, 16 clients at once.
		r := load(d.addr, 200, 16, time.Minute, "Hello, World!\n", false, nil)
		if r.tally[gotOK].Load() != 200 {
			t.Fatalf("under ulimit -n 24: want 200 x 200, got %s %q", r.tally.String(), r.firstBad)
		}
		d.waitNoChildren(10 * time.Second)
		served := 200
		var cpus []string
		for episode := 1; episode <= 2; episode++ {
			// Exhaust: lower the soft limit to the lowest free descriptor
			// number, so the next accept4 fails with EMFILE.
			ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
			if err != nil {
				t.Fatal(err)
			}
			used := map[int]bool{}
			for _, e := range ents {
				n, _ := strconv.Atoi(e.Name())
				used[n] = true
			}
			free := 0
			for used[free] {
				free++
			}
			if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: uint64(free), Max: 24}, nil); err != nil {
				t.Fatal(err)
			}
			const waiting = 5
			results := make(chan outcome, waiting)
			for i := 0; i < waiting; i++ {
				go func() {
					o, _, _ := hit(d.addr, nil, 30*time.Second, "Hello, World!\n")
					results <- o
				}()
			}
			d.waitLogN("accept: out of resources", episode)
			// Measure the daemon's CPU while accept keeps failing.
			const window = 3 * time.Second
			c0, w0 := cpuTicks(pid), time.Now()
			time.Sleep(window) // a measurement window, not a synchronisation
			c1, w1 := cpuTicks(pid), time.Now()
			cpu := float64(c1-c0) / 100 / w1.Sub(w0).Seconds()
			if cpu > 0.05 {
				t.Errorf("episode %d: want the daemon nearly idle while accept fails (backoff), got %.1f%% CPU", episode, 100*cpu)
			}
			if got := d.count("GET -> 200"); got != served {
				t.Errorf("episode %d: want no connection served while out of descriptors, got %d new", episode, got-served)
			}
			// Free descriptors: the daemon recovers by itself.
			freed := time.Now()
			if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 24, Max: 24}, nil); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < waiting; i++ {
				if o := <-results; o != gotOK {
					t.Errorf("episode %d: want every waiting client served after recovery, got %s", episode, outcomeNames[o])
				}
			}
			recovery := time.Since(freed)
			served += waiting
			line := d.waitLogN("accept recovered after", episode)
			m := recoveredRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("want %q in %q", recoveredRE, line)
			}
			fails, _ := strconv.Atoi(m[1])
			if fails > 30 {
				t.Errorf("episode %d: want a backoff (a few accept attempts), got %d failed accepts in %s", episode, fails, m[2])
			}
			if n := d.count("accept: out of resources"); n != episode {
				t.Errorf("want the exhaustion logged once per episode (%d episodes), got %d lines", episode, n)
			}
			cpus = append(cpus, fmt.Sprintf("episode%d_cpu_pct=%.1f episode%d_failed_accepts=%d episode%d_recovery_ms=%s", episode, 100*cpu, episode, fails, episode, ms(recovery)))
		}
		d.waitNoChildren(10 * time.Second)
		if o, _, err := hit(d.addr, nil, 10*time.Second, "Hello, World!\n"); o != gotOK {
			t.Errorf("after the episodes: want a 200, got %s (%v)", outcomeNames[o], err)
		}
		t.Logf("FIGURE fd-exhaustion/%s: rlimit_nofile=24 %s log_lines_per_episode=1", strategy[8:], strings.Join(cpus, " "))
	})
}

// ---------------------------------------------------------------------------
// 5. Faults

// smallClient dials with a tiny receive buffer and a small MSS, so that a
// response of tens of KiB cannot sit in the kernel's buffers: the child
// blocks writing it until the client reads.
func smallClient(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	dl := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 1024); serr != nil {
				return
			}
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG, 536)
		})
		return serr
	}}
	c, err := dl.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func alive(pid int) bool {
	f := procStat(pid)
	return len(f) > 0 && f[0] != "Z"
}

// exitLine waits for the exit line of the child serving client and returns it.
func (d *daemon) exitLine(client net.Conn) string {
	d.t.Helper()
	return d.waitLog(fmt.Sprintf("REMOTE_ADDR=%s EXIT_STATUS=", client.LocalAddr()))
}

var durationRE = regexp.MustCompile(`DURATION_MS=([0-9.]+)`)

func TestReliabilityFaults(t *testing.T) {
	noRaceExitSleep(t)
	big := strings.Repeat("0123456789abcdef", 4096) // 64 KiB, the --message cap
	t.Run("child-sigkilled", func(t *testing.T) {
		eachStrategy(t, func(t *testing.T, strategy string) {
			d := start(t, nil, strategy, "--log-level", "debug")
			c, err := net.Dial("tcp", d.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // mid-request
			pid := d.nthChildPID(1)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			line := d.waitLog(fmt.Sprintf("child %d for %s killed by signal SIGKILL after", pid, c.LocalAddr()))
			if !strings.Contains(line, "EXIT_STATUS=137") || strings.Contains(line, "sent by hellod") {
				t.Errorf("want EXIT_STATUS=137 and no hellod reason, got %q", line)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if b, _ := io.ReadAll(c); len(b) != 0 {
				t.Errorf("want the client closed without a response, got %q", b)
			}
			if got := statusLine(exchange(t, d.addr, getReq)); got != "HTTP/1.1 200 OK" {
				t.Errorf("want a 200 after the kill, got %q", got)
			}
			t.Logf("FIGURE faults/child-sigkilled/%s: logged=%q", strategy[8:], line[strings.Index(line, "msg="):])
		})
	})
	t.Run("client-resets-mid-response", func(t *testing.T) {
		eachStrategy(t, func(t *testing.T, strategy string) {
			d := start(t, nil, strategy, "--log-level", "debug", "--message", big)
			c := smallClient(t, d.addr)
			io.WriteString(c, getReq)
			pid := d.nthChildPID(1)
			buf := make([]byte, 512)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
			// The child is blocked writing the rest.
			deadline := time.Now().Add(5 * time.Second)
			for procStat(pid) != nil && procStat(pid)[0] != "S" && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if !alive(pid) {
				t.Fatalf("setup: want child %d still writing its 64 KiB response, it has exited: %s", pid, d.logText())
			}
			reset := time.Now()
			c.SetLinger(0)
			c.Close() // RST
			line := d.exitLine(c)
			took := time.Since(reset)
			if !strings.Contains(line, "response could not be written") || !strings.Contains(line, "EXIT_STATUS=21") {
				t.Errorf("want the child to end with \"response could not be written\" (21), got %q", line)
			}
			if took > 2*time.Second {
				t.Errorf("want the child to end at once after the reset, took %s", took)
			}
			if got := statusLine(exchange(t, d.addr, getReq)); got != "HTTP/1.1 200 OK" {
				t.Errorf("want a 200 afterwards, got %q", got)
			}
			t.Logf("FIGURE faults/client-reset/%s: child_end_after_reset_ms=%s logged=%q", strategy[8:], ms(took), line[strings.Index(line, "msg="):])
		})
	})
	t.Run("client-never-reads", func(t *testing.T) {
		eachStrategy(t, func(t *testing.T, strategy string) {
			ct := 3 * time.Second
			d := start(t, nil, strategy, "--log-level", "debug", "--message", big, "--header-timeout", "1s", "--child-timeout", ct.String())
			c := smallClient(t, d.addr)
			sent := time.Now()
			io.WriteString(c, getReq)
			d.nthChildPID(1)
			line := d.exitLine(c)
			took := time.Since(sent)
			m := durationRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("no DURATION_MS in %q", line)
			}
			dur, _ := strconv.ParseFloat(m[1], 64)
			ok := strings.Contains(line, "response could not be written") || strings.Contains(line, "(sent by hellod: child timeout)")
			if !ok || dur < float64(ct.Milliseconds())-200 || took > ct+2*time.Second {
				t.Errorf("want the child ended at --child-timeout %s (write failed or killed), got %q after %s", ct, line, took)
			}
			if got := statusLine(exchange(t, d.addr, getReq)); got != "HTTP/1.1 200 OK" {
				t.Errorf("want a 200 afterwards, got %q", got)
			}
			t.Logf("FIGURE faults/client-never-reads/%s: child_timeout=%s child_ended_ms=%.1f logged=%q", strategy[8:], ct, dur, line[strings.Index(line, "msg="):])
		})
	})
	t.Run("sigterm-during-flood", func(t *testing.T) {
		eachStrategy(t, func(t *testing.T, strategy string) {
			raiseNofile(t, 512)
			d := start(t, nil, strategy, "--max-children", "64")
			before := scaled(500, 100)
			out := make(chan *loadResult, 1)
			go func() { out <- load(d.addr, 1_000_000, 128, 90*time.Second, "Hello, World!\n", true, nil) }()
			d.waitLogN("GET -> 200", before)
			d.signal(syscall.SIGTERM)
			code := d.wait(60 * time.Second)
			r := <-out
			if code != 0 {
				t.Errorf("want exit status 0 after SIGTERM, got %d", code)
			}
			m := regexp.MustCompile(`stopped \(shutdown\): (\d+) connections served, (\d+) children killed`).FindStringSubmatch(d.logText())
			if m == nil {
				t.Fatalf("want the stopped line in the log")
			}
			served, _ := strconv.Atoi(m[1])
			ok := r.tally[gotOK].Load()
			// Under -race an exec child can be evicted (at the cap, after
			// 500 ms) between writing its 200 and exiting: its client got
			// the 200, the daemon logs it as killed.
			killed, _ := strconv.Atoi(m[2])
			if int64(served) != ok && !(raceEnabled && int64(served) < ok && ok-int64(served) <= int64(killed)) {
				t.Errorf("want the daemon's served count equal to the clients' 200s, got %d served and %d 200s (%s)", served, ok, r.tally.String())
			}
			if bad := r.tally[gotPartial].Load() + r.tally[gotTimeout].Load() + r.tally[gotOther].Load(); bad != 0 {
				t.Errorf("want every client a complete 200 or refused/reset before being accepted, got %s; first: %q", r.tally.String(), r.firstBad)
			}
			if (m[2] != "0" && !raceEnabled) || strings.Contains(d.logText(), "client closed") {
				t.Errorf("want no child killed or dropped during the drain, got %q", m[0])
			}
			t.Logf("FIGURE faults/sigterm-during-flood/%s: concurrency=128 daemon_served=%d clients_200=%d %s exit=%d", strategy[8:], served, ok, r.tally.String(), code)
		})
	})
}

// ---------------------------------------------------------------------------
// 6. Bad configuration

// runOnce runs the daemon to completion with env, files passed as fds 3..,
// and args, and returns its exit status, stdout and stderr.
func runOnce(t *testing.T, env []string, files []*os.File, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = environ(env...)
	cmd.ExtraFiles = files
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("want the daemon to exit with an error, still running after 20s: %q", stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

func TestReliabilityBadConfiguration(t *testing.T) {
	// Every flag of hellod --help with bad values, as a flag and as its
	// variable (flags and variables not covered by TestCommandLine).
	tooLong := strings.Repeat("x", 64<<10+1)
	type usageCase struct {
		name string
		args []string
		env  []string
		want string
	}
	usage := []usageCase{
		{"child flag", []string{"--child", "thread"}, nil, `invalid value "thread" for flag -child: want `},
		{"child empty", []string{"--child="}, nil, `invalid value "" for flag -child: want `},
		{"child var", nil, []string{"HELLOD_CHILD=EXEC"}, `invalid value "EXEC" for HELLOD_CHILD: want `},
		{"child-timeout zero", []string{"--child-timeout", "0"}, nil, `invalid value "0" for flag -child-timeout: want a positive duration`},
		{"child-timeout no unit", []string{"--child-timeout", "30"}, nil, `invalid value "30" for flag -child-timeout: want a duration`},
		{"child-timeout var", nil, []string{"HELLOD_CHILD_TIMEOUT=-1s"}, `invalid value "-1s" for HELLOD_CHILD_TIMEOUT: want a positive duration`},
		{"evict-after flag", []string{"--evict-after", "soon"}, nil, `invalid value "soon" for flag -evict-after: want a duration`},
		{"evict-after negative", []string{"--evict-after=-1ms"}, nil, `invalid value "-1ms" for flag -evict-after: want a positive duration`},
		{"evict-after var", nil, []string{"HELLOD_EVICT_AFTER=1d"}, `invalid value "1d" for HELLOD_EVICT_AFTER: want a duration`},
		{"header-timeout zero", []string{"--header-timeout", "0s"}, nil, `invalid value "0s" for flag -header-timeout: want a positive duration`},
		{"header-timeout var", nil, []string{"HELLOD_HEADER_TIMEOUT=ten"}, `invalid value "ten" for HELLOD_HEADER_TIMEOUT: want a duration`},
		{"header-timeout over child-timeout", []string{"--header-timeout", "1m", "--child-timeout", "30s"}, nil, "--header-timeout (1m0s) must not exceed --child-timeout (30s)"},
		{"header-timeout over child-timeout var", nil, []string{"HELLOD_HEADER_TIMEOUT=40s"}, "--header-timeout (40s) must not exceed --child-timeout (30s)"},
		{"header-timeout missing value", []string{"--header-timeout"}, nil, "flag needs an argument: -header-timeout"},
		{"idle-exit flag", []string{"--idle-exit=-5s"}, nil, `invalid value "-5s" for flag -idle-exit: want a positive duration`},
		{"idle-exit var", nil, []string{"HELLOD_IDLE_EXIT=never"}, `invalid value "never" for HELLOD_IDLE_EXIT: want a duration`},
		{"listen no port", []string{"--listen", "localhost"}, nil, `--listen "localhost": want HOST:PORT`},
		{"listen port range", []string{"--listen", "127.0.0.1:99999"}, nil, `--listen "127.0.0.1:99999": port "99999": want a number from 0 to 65535`},
		{"listen service name", []string{"--listen", "127.0.0.1:http"}, nil, `--listen "127.0.0.1:http": port "http"`},
		{"listen relative unix", []string{"--listen", "unix:hellod.sock"}, nil, `--listen "unix:hellod.sock": want unix:/absolute/path or unix:@abstract`},
		{"listen empty", []string{"--listen", ""}, nil, "--listen: want at least one address"},
		{"listen var", nil, []string{"HELLOD_LISTEN=127.0.0.1:-1"}, `--listen "127.0.0.1:-1": port "-1"`},
		{"log-level flag", []string{"--log-level", "verbose"}, nil, `invalid value "verbose" for flag -log-level: want debug, info, warn or error`},
		{"log-level var", nil, []string{"HELLOD_LOG_LEVEL=trace"}, `invalid value "trace" for HELLOD_LOG_LEVEL: want debug, info, warn or error`},
		{"max-children zero", []string{"--max-children", "0"}, nil, `invalid value "0" for flag -max-children: want an integer from 1 to 1048576`},
		{"max-children too many", []string{"--max-children", "1048577"}, nil, `invalid value "1048577" for flag -max-children: want an integer from 1 to 1048576`},
		{"max-children var", nil, []string{"HELLOD_MAX_CHILDREN=-1"}, `invalid value "-1" for HELLOD_MAX_CHILDREN: want an integer from 1 to 1048576`},
		{"max-children var empty", nil, []string{"HELLOD_MAX_CHILDREN="}, `invalid value "" for HELLOD_MAX_CHILDREN`},
		{"message not utf-8", []string{"--message", "\xff\xfe"}, nil, "for flag -message: want valid UTF-8"},
		{"message too long", []string{"--message", tooLong}, nil, "for flag -message: want at most 65536 bytes, got 65537"},
		{"message var not utf-8", nil, []string{"HELLOD_MESSAGE=caf\xe9"}, "for HELLOD_MESSAGE: want valid UTF-8"},
		{"message var too long", nil, []string{"HELLOD_MESSAGE=" + tooLong}, "for HELLOD_MESSAGE: want at most 65536 bytes, got 65537"},
		{"shutdown-timeout zero", []string{"--shutdown-timeout", "0"}, nil, `invalid value "0" for flag -shutdown-timeout: want a positive duration`},
		{"shutdown-timeout var", nil, []string{"HELLOD_SHUTDOWN_TIMEOUT=1e9"}, `invalid value "1e9" for HELLOD_SHUTDOWN_TIMEOUT: want a duration`},
		{"version value", []string{"--version=maybe"}, nil, `invalid boolean value "maybe" for -version`},
		{"single dash unknown", []string{"-x"}, nil, "flag provided but not defined: -x"},
	}
	for _, c := range usage {
		t.Run("usage/"+c.name, func(t *testing.T) {
			code, stdout, stderr := runOnce(t, c.env, nil, c.args...)
			if code != 2 {
				t.Errorf("want exit status 2, got %d (stderr %q)", code, stderr)
			}
			checkOneLine(t, stderr, "hellod: ", c.want)
			if stdout != "" {
				t.Errorf("want nothing on stdout, got %q", stdout)
			}
		})
	}

	// Runtime errors (exit status 1): a self-bound address that cannot be
	// bound, passed descriptors that are no listening stream socket, and
	// malformed LISTEN_* variables (TestBadActivation and TestCommandLine
	// cover UDP, a regular file, LISTEN_PID=1 and a port in use).
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := busy.Addr().(*net.TCPAddr).Port
	busy.Close() // free again: the daemon's own second bind conflicts
	bound, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "dgram"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer bound.Close()
	fDgram, _ := bound.File()
	notListening, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(notListening, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	fNotListening := os.NewFile(uintptr(notListening), "bound")
	defer fNotListening.Close()
	srv, _ := net.Listen("tcp", "127.0.0.1:0")
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fConn, _ := conn.(*net.TCPConn).File()
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	defer pw.Close()
	tcp, _ := net.Listen("tcp", "127.0.0.1:0")
	defer tcp.Close()
	fTCP, _ := tcp.(*net.TCPListener).File()
	type runtimeCase struct {
		name  string
		args  []string
		env   []string
		files []*os.File
		want  string
	}
	runtime := []runtimeCase{
		{"listen same port twice", []string{"--listen", fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", port, port)}, nil, nil, "address already in use"},
		{"listen address not local", []string{"--listen", "192.0.2.1:8000"}, nil, nil, "cannot assign requested address"},
		{"listen unix no directory", []string{"--listen", "unix:/nonexistent-hellod-dir/x.sock"}, nil, nil, "no such file or directory"},
		{"listen unknown host", []string{"--listen", "no-such-host.invalid:8000"}, nil, nil, "listen on no-such-host.invalid:8000"},
		{"LISTEN_FDS not a number", nil, []string{"LISTEN_FDS=abc", "LISTEN_PID=$$"}, []*os.File{fTCP}, `LISTEN_FDS="abc": want a positive number`},
		{"LISTEN_FDS zero", nil, []string{"LISTEN_FDS=0", "LISTEN_PID=$$"}, nil, `LISTEN_FDS="0": want a positive number`},
		{"LISTEN_FDS too many", nil, []string{"LISTEN_FDS=5000", "LISTEN_PID=$$"}, nil, "LISTEN_FDS=5000: too many descriptors"},
		{"LISTEN_PID missing", nil, []string{"LISTEN_FDS=1"}, []*os.File{fTCP}, `LISTEN_PID="": want the PID`},
		{"LISTEN_PID not a number", nil, []string{"LISTEN_FDS=1", "LISTEN_PID=me"}, []*os.File{fTCP}, `LISTEN_PID="me": want the PID`},
		{"passed unix datagram", nil, []string{"LISTEN_FDS=1", "LISTEN_PID=$$"}, []*os.File{fDgram}, "passed fd 3 (LISTEN_FD_3): not a stream socket (AF_UNIX SOCK_DGRAM)"},
		{"passed bound not listening", nil, []string{"LISTEN_FDS=1", "LISTEN_PID=$$"}, []*os.File{fNotListening}, "passed fd 3 (LISTEN_FD_3): AF_INET stream socket is not listening"},
		{"passed connected socket", nil, []string{"LISTEN_FDS=1", "LISTEN_PID=$$"}, []*os.File{fConn}, "passed fd 3 (LISTEN_FD_3): AF_INET stream socket is not listening"},
		{"passed pipe", nil, []string{"LISTEN_FDS=1", "LISTEN_PID=$$"}, []*os.File{pr}, "passed fd 3 (LISTEN_FD_3): not a socket"},
		{"LISTEN_FDS more than passed", nil, []string{"LISTEN_FDS=2", "LISTEN_PID=$$"}, []*os.File{fTCP}, "passed fd 4"},
	}
	for _, c := range runtime {
		t.Run("runtime/"+c.name, func(t *testing.T) {
			var code int
			var stderr string
			if len(c.env) > 0 {
				// Through a shell, so that LISTEN_PID=$$ is the daemon's PID.
				var assign []string
				for _, kv := range c.env {
					k, v, _ := strings.Cut(kv, "=")
					if v != "$$" {
						v = "'" + v + "'"
					}
					assign = append(assign, k+"="+v+"; export "+k+";")
				}
				cmd := exec.Command("/bin/sh", append([]string{"-c", strings.Join(assign, " ") + ` exec "$0" "$@"`, os.Args[0]}, c.args...)...)
				cmd.Env = environ()
				cmd.ExtraFiles = c.files
				var so, se bytes.Buffer
				cmd.Stdout, cmd.Stderr = &so, &se
				err := runBounded(cmd, 20*time.Second)
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				stderr = se.String()
			} else {
				code, _, stderr = runOnce(t, nil, c.files, c.args...)
			}
			if code != 1 {
				t.Errorf("want exit status 1, got %d (stderr %q)", code, stderr)
			}
			checkOneLine(t, stderr, "level=ERROR", c.want)
		})
	}
}

// runBounded runs cmd, killing it after timeout.
func runBounded(cmd *exec.Cmd, timeout time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running after %s", timeout)
	}
}

// checkOneLine checks that stderr is one line that contains prefix and want,
// and no panic or stack trace.
func checkOneLine(t *testing.T, stderr, prefix, want string) {
	t.Helper()
	trimmed := strings.TrimRight(stderr, "\n")
	if strings.Count(trimmed, "\n") != 0 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("want one error line, got %q", stderr)
	}
	text := trimmed
	if _, msg, ok := strings.Cut(trimmed, " msg="); ok { // a log line: the message is quoted
		if u, err := strconv.Unquote(msg); err == nil {
			text = u
		}
	}
	if !strings.Contains(trimmed, prefix) || !strings.Contains(text, want) {
		t.Errorf("want a line with %q and %q, got %q", prefix, want, trimmed)
	}
	if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
		t.Errorf("want no panic or stack trace, got %q", stderr)
	}
}

// ---------------------------------------------------------------------------
// 7. Soak

// soakCount is the fork soak's size: HELLOD_SOAK if set, else 200000
// (2000 under -race or -short).
func soakCount(t *testing.T) int {
	if v := os.Getenv("HELLOD_SOAK"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			t.Fatalf("HELLOD_SOAK=%q: want a number of connections, at least 1000", v)
		}
		return n
	}
	return scaled(200000, 2000)
}

type procSample struct {
	rss, threads, goroutines int64
	fds                      int
}

var goroutinesRE = regexp.MustCompile(`GOROUTINES=(\d+)`)

// sample reads the parent's RSS, threads and descriptors from /proc,
// and its goroutine count from the line SIGUSR1 makes it log.
func (d *daemon) sample() procSample {
	d.t.Helper()
	d.usr1++
	d.signal(syscall.SIGUSR1)
	m := goroutinesRE.FindStringSubmatch(d.waitLogN("GOROUTINES=", d.usr1))
	g, _ := strconv.ParseInt(m[1], 10, 64)
	pid := d.pid()
	return procSample{procStatus(pid, "VmRSS"), procStatus(pid, "Threads"), g, fdCount(pid)}
}

func TestReliabilitySoak(t *testing.T) {
	noRaceExitSleep(t)
	raiseNofile(t, 512)
	eachStrategy(t, func(t *testing.T, strategy string) {
		n := soakCount(t)
		if strategy == "--child=exec" {
			n = min(n, scaled(20000, 1000)) // about 1k connections/s: 20k is enough
		}
		const conc = 32
		d := start(t, nil, strategy, "--max-children", "64")
		// Warm up, so that "start" is the steady state (heap, threads).
		warm := load(d.addr, scaled(2000, 200), conc, time.Minute, "Hello, World!\n", false, nil)
		if warm.tally[gotOK].Load() != int64(scaled(2000, 200)) {
			t.Fatalf("warm-up: want every request served, got %s %q", warm.tally.String(), warm.firstBad)
		}
		d.waitNoChildren(10 * time.Second)
		s0 := d.sample()
		var mid procSample
		half := n / 2
		r1 := load(d.addr, half, conc, 10*time.Minute, "Hello, World!\n", false, nil)
		d.waitNoChildren(10 * time.Second)
		mid = d.sample()
		r2 := load(d.addr, n-half, conc, 10*time.Minute, "Hello, World!\n", false, nil)
		d.waitNoChildren(30 * time.Second)
		d.waitFDs(s0.fds, 10*time.Second)
		s1 := d.sample()
		ok := r1.tally[gotOK].Load() + r2.tally[gotOK].Load()
		if ok != int64(n) {
			t.Errorf("want %d complete 200s, got %s / %s; first: %q %q", n, r1.tally.String(), r2.tally.String(), r1.firstBad, r2.firstBad)
		}
		if s1.fds != s0.fds {
			t.Errorf("want the parent's fd count flat, got %d at start and %d at the end", s0.fds, s1.fds)
		}
		if s1.goroutines > s0.goroutines+2 {
			t.Errorf("want the parent's goroutine count flat, got %d at start and %d at the end", s0.goroutines, s1.goroutines)
		}
		if s1.threads > s0.threads+2 {
			t.Errorf("want the parent's thread count flat, got %d at start and %d at the end", s0.threads, s1.threads)
		}
		// Flat: the second half adds at most 2 MiB (a leaked goroutine, 2 KiB
		// of stack at least, or 200 bytes per connection would add >= 2 MiB
		// over 10k connections), the whole run at most 8 MiB (the heap
		// settles during the first half).
		// (Not under -race: the race detector's shadow memory grows with
		// every goroutine and allocation it has seen.)
		if !raceEnabled && (s1.rss-mid.rss > 2048 || s1.rss-s0.rss > 8192) {
			t.Errorf("want the parent's RSS flat (at most +2048 kB over the second half, +8192 kB in all), got %d kB at start, %d at half-way, %d at the end", s0.rss, mid.rss, s1.rss)
		}
		elapsed := r1.elapsed + r2.elapsed
		t.Logf("FIGURE soak/%s: connections=%d concurrency=%d elapsed_s=%.1f conn_per_s=%.0f p50_ms=%s p99_ms=%s max_ms=%s rss_kb start=%d mid=%d end=%d fds start=%d mid=%d end=%d threads start=%d mid=%d end=%d goroutines start=%d mid=%d end=%d",
			strategy[8:], n, conc, elapsed.Seconds(), float64(n)/elapsed.Seconds(),
			ms(percentile(append(r1.lat, r2.lat...), 0.5)), ms(percentile(append(r1.lat, r2.lat...), 0.99)), ms(percentile(append(r1.lat, r2.lat...), 1)),
			s0.rss, mid.rss, s1.rss, s0.fds, mid.fds, s1.fds, s0.threads, mid.threads, s1.threads, s0.goroutines, mid.goroutines, s1.goroutines)
	})
}
