package main

// Reliability, 7. one source against the others (--max-per-source, issue
// 12; see reliability_slow_test.go): a source holding 1500 stalled
// connections, and one source's legitimate connections up to its limit.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	stalledSrc = net.IPv4(127, 0, 0, 2)
	freshSrc   = net.IPv4(127, 0, 0, 1)
	legitSrc   = net.IPv4(127, 0, 0, 3)
)

// stallFrom keeps n connections from src open on addr, each sending a
// header section it never finishes: when one is closed or reset (evicted,
// refused), its goroutine dials again after a backoff (50 ms, doubling to
// 1 s while the server keeps refusing), until stop. Bounded: 300 dials per
// connection.
type stalledSource struct {
	open, dials, resets atomic.Int64
	wg                  sync.WaitGroup
}

func stallFrom(addr string, src net.IP, n int, stop <-chan struct{}) *stalledSource {
	s := &stalledSource{}
	for range n {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			backoff := 50 * time.Millisecond
			for k := 0; k < 300; k++ {
				select {
				case <-stop:
					return
				default:
				}
				began := time.Now()
				s.dials.Add(1)
				dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
				c, err := dl.Dial("tcp", addr)
				if err == nil {
					s.open.Add(1)
					err = holdStalled(c, stop)
					s.open.Add(-1)
					c.Close()
				}
				if errors.Is(err, syscall.ECONNRESET) {
					s.resets.Add(1)
				}
				if time.Since(began) > time.Second {
					backoff = 50 * time.Millisecond // it was held: not refused
				}
				select {
				case <-stop:
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, time.Second)
			}
		}()
	}
	return s
}

// holdStalled sends a header section's start on c and reads until the
// server ends the connection (the error, nil for a close) or stop.
func holdStalled(c net.Conn, stop <-chan struct{}) error {
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Stalled: "); err != nil {
		return err
	}
	var b [512]byte
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := c.Read(b[:])
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			continue
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
	}
}

// freshClients makes n GETs from src, conc at a time, each allowed limit,
// a worker pausing gap between two (the GETs spread over the stalled
// source's redial waves), and returns how many were complete 200s within it, and the latencies of
// those.
func freshClients(addr string, src net.IP, n, conc int, limit, gap time.Duration) (int, []time.Duration, []string) {
	var mu sync.Mutex
	var lats []time.Duration
	var bad []string
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				o, lat, err := hit(addr, src, limit, "Hello, World!\n")
				mu.Lock()
				if o == gotOK {
					lats = append(lats, lat)
				} else if len(bad) < 5 {
					bad = append(bad, outcomeNames[o]+": "+ms(lat)+" ms: "+errString(err))
				}
				mu.Unlock()
				time.Sleep(gap) // pacing, not a wait for a condition
			}
		}()
	}
	wg.Wait()
	return len(lats), lats, bad
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

var (
	refusedRE    = regexp.MustCompile(`REFUSED=(\d+)`)
	episodeEndRE = regexp.MustCompile(`source 127\.0\.0\.2/32 below its limit of \d+ children again: (\d+) connections reset in`)
)

// refused asks the daemon for its counters (SIGUSR1) and returns REFUSED.
func (d *daemon) refused(nth int) int {
	d.t.Helper()
	d.signal(unix.SIGUSR1)
	m := refusedRE.FindStringSubmatch(d.waitLogN("REFUSED=", nth))
	if m == nil {
		d.t.Fatal("no REFUSED= in the SIGUSR1 line")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestReliabilityPerSourceStalled(t *testing.T) {
	noRaceExitSleep(t)
	n := scaled(1500, 200)
	raiseNofile(t, 2*n+500) // the clients' and the daemon's ends
	const cap, limit, fresh = 64, 32, 80
	for _, v := range []struct {
		name  string
		args  []string
		limit bool
	}{
		{"no-limit", []string{"--max-per-source=0", "--evict-after=500ms"}, false},
		{"limit-evict", []string{"--max-per-source=" + strconv.Itoa(limit), "--evict-after=500ms"}, true},
		{"limit-no-evict", []string{"--max-per-source=" + strconv.Itoa(limit), "--evict-after=0"}, true},
	} {
		t.Run(v.name, func(t *testing.T) {
			eachStrategy(t, func(t *testing.T, strategy string) {
				args := append([]string{strategy, "--max-children", strconv.Itoa(cap), "--header-timeout", "60s", "--child-timeout", "90s"}, v.args...)
				d := start(t, nil, args...)
				stop := newStopper()
				defer stop.stop()
				t0 := time.Now()
				att := stallFrom(d.addr, stalledSrc, n, stop.ch)
				defer att.wg.Wait()
				defer stop.stop()
				// The source holds what it can: its limit, or the whole cap.
				want := cap
				if v.limit {
					want = limit
				}
				for k := len(d.children()); k < want || att.dials.Load() < int64(n); k = len(d.children()) {
					if time.Since(t0) > 60*time.Second {
						t.Fatalf("want %d children for %s and %d dials within 60s, got %d and %d", want, stalledSrc, n, k, att.dials.Load())
					}
					time.Sleep(20 * time.Millisecond)
				}
				dials0, p0 := att.dials.Load(), time.Now()
				// Each fresh client gets 10 s (a bound with room: a loaded
				// machine delays exec children by hundreds of ms); how many
				// were served within 1 s is the figure.
				ok, lats, bad := freshClients(d.addr, freshSrc, fresh, 8, 10*time.Second, 400*time.Millisecond)
				within := 0
				for _, l := range lats {
					if l <= time.Second {
						within++
					}
				}
				probeDials, probeTime := att.dials.Load()-dials0, time.Since(p0)
				held := att.open.Load()
				kids, _ := d.liveChildren()
				refused := d.refused(1)
				if v.limit {
					if ok != fresh {
						t.Errorf("want all %d fresh clients from %s served (within 10 s each), got %d; first failures: %q", fresh, freshSrc, ok, bad)
					}
					if refused == 0 {
						t.Errorf("want connections from %s refused at its limit, got none", stalledSrc)
					}
					if n := d.count("source 127.0.0.2/32 reached its limit of 32 children"); n != 1 {
						t.Errorf("want the episode at the limit logged once (it lasts the test), got %d lines", n)
					}
				} else if d.count("64 children running (--max-children)") < 1 {
					t.Errorf("without the limit: want %s to fill the cap (the scenario's premise), and it said nothing", stalledSrc)
				}
				if kids > cap {
					t.Errorf("want at most %d children, got %d", cap, kids)
				}
				stop.stop()
				att.wg.Wait()
				d.waitNoChildren(60 * time.Second)
				if v.limit {
					// Its children gone, every episode of the source has
					// ended, and the ends' counts add up to the connections
					// reset. (One episode, unless the run is slow: the
					// stalled source's connections still queued when it
					// stopped are accepted and reset, or served, after its
					// first child's exit, which may close an episode over
					// 10 s old.)
					sum, total := 0, 0
					for nth, t0 := 2, time.Now(); ; nth++ {
						sum = 0
						for _, m := range episodeEndRE.FindAllStringSubmatch(d.logText(), -1) {
							k, _ := strconv.Atoi(m[1])
							sum += k
						}
						if total = d.refused(nth); sum == total || time.Since(t0) > 10*time.Second {
							break
						}
						time.Sleep(50 * time.Millisecond)
					}
					if sum != total {
						t.Errorf("want the episodes' ends to count all %d connections reset, got %d", total, sum)
					}
				}
				t.Logf("FIGURE per-source/stalled/%s/%s: stalled_source_conns=%d max_children=%d max_per_source=%v fresh=%d fresh_ok=%d fresh_ok_within_1s=%d fresh_p50_ms=%s fresh_max_ms=%s stalled_open_at_probe=%d children_at_probe=%d stalled_dials=%d stalled_dials_during_probe=%d probe_s=%.1f stalled_resets=%d refused=%d",
					v.name, strategy[8:], n, cap, map[bool]string{true: strconv.Itoa(limit), false: "off"}[v.limit], fresh, ok, within,
					ms(percentile(lats, 0.5)), ms(percentile(lats, 1)), held, kids, att.dials.Load(), probeDials, probeTime.Seconds(), att.resets.Load(), refused)
			})
		})
	}
}

// TestReliabilityPerSourceUpToLimit: one source's connections up to its
// limit are all served, the one over it is reset, and the limit does not
// count a connection whose child is exiting, or whose child is idle when
// its source connects again (persistent connections on).
func TestReliabilityPerSourceUpToLimit(t *testing.T) {
	noRaceExitSleep(t)
	const cap, limit = 64, 32
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, nil, strategy, "--max-children", strconv.Itoa(cap), "--max-per-source", strconv.Itoa(limit), "--keepalive-timeout=5s")
		d.waitLog("at most 64 at once, 32 per source (/32, IPv6 /64)")
		// limit connections from one source, each with half a request.
		conns := make([]net.Conn, limit)
		for i := range conns {
			dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: legitSrc}, Timeout: 10 * time.Second}
			c, err := dl.Dial("tcp", d.addr)
			if err != nil {
				t.Fatalf("connection %d of %d from %s: %v", i, limit, legitSrc, err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
				t.Fatal(err)
			}
			conns[i] = c
		}
		for t0 := time.Now(); ; time.Sleep(10 * time.Millisecond) {
			if n, _ := d.liveChildren(); n >= limit {
				break
			} else if time.Since(t0) > 30*time.Second {
				t.Fatalf("want %d children within 30s, got %d", limit, n)
			}
		}
		// One more from the same source: reset, unread.
		o, _, err := hit(d.addr, legitSrc, 10*time.Second, "Hello, World!\n")
		if o != gotReset {
			t.Errorf("connection %d from %s: want it reset, got %s (%v)", limit+1, legitSrc, outcomeNames[o], err)
		}
		d.waitLog("source 127.0.0.3/32 reached its limit of 32 children")
		// The held ones finish their requests: every one is served.
		served := 0
		for i, c := range conns {
			c.SetDeadline(time.Now().Add(30 * time.Second))
			io.WriteString(c, "Connection: close\r\n\r\n")
			b, err := io.ReadAll(c)
			if complete(b, "Hello, World!\n") {
				served++
			} else {
				t.Errorf("held connection %d: want a complete 200, got %q (%v)", i, b, err)
			}
		}
		d.waitNoChildren(30 * time.Second)
		d.waitLog("source 127.0.0.3/32 below its limit of 32 children again: 1 connections reset in")
		// Clients of that source at once, each making requests one after
		// another, a connection each: read the response, close, connect
		// again at once. The previous child is still running then: idle
		// (closed for the new one), exiting (not counted), or, for a few
		// microseconds after the client's close, woken and reading its end
		// (counted: the parent cannot tell it from a request's start).
		// Half the limit at once: all served. The limit at once: a few may
		// find their previous child in that window and be reset (measured,
		// not asserted).
		const each = 20
		half, halfReset, _ := reconnecting(t, d.addr, limit/2, each)
		if half != limit/2*each {
			t.Errorf("want all %d served from %d clients at once, got %d (%d reset)", limit/2*each, limit/2, half, halfReset)
		}
		full, fullReset, el := reconnecting(t, d.addr, limit, each)
		if full+fullReset != limit*each || full < limit*each/2 {
			t.Errorf("%d clients at once: want at least half of %d served, the others reset, got %d served, %d reset", limit, limit*each, full, fullReset)
		}
		closed := d.count("per-source limit: idle keep-alive closed")
		t.Logf("FIGURE per-source/up-to-limit/%s: max_children=%d max_per_source=%d held=%d held_served=%d over_limit=reset reconnecting_half=%dx%d ok=%d reset=%d reconnecting_at_limit=%dx%d ok=%d reset=%d own_idle_closed=%d elapsed_ms=%s",
			strategy[8:], cap, limit, limit, served, limit/2, each, half, halfReset, limit, each, full, fullReset, closed, ms(el))
	})
}

// reconnecting runs conc clients from legitSrc, each making each requests
// on a connection of its own, one after another, and returns how many
// were served and reset, and how long it took.
func reconnecting(t *testing.T, addr string, conc, each int) (int, int, time.Duration) {
	var ok, resets atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				switch o, err := oneRequest(addr, legitSrc); o {
				case gotOK:
					ok.Add(1)
				case gotReset:
					resets.Add(1)
				default:
					t.Errorf("want a 200 or a reset, got %s (%v)", outcomeNames[o], err)
				}
			}
		}()
	}
	wg.Wait()
	return int(ok.Load()), int(resets.Load()), time.Since(t0)
}

// oneRequest makes a GET from src on a persistent connection, reads its
// response (to its Content-Length) and closes the connection.
func oneRequest(addr string, src net.IP) (outcome, error) {
	dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	c, err := dl.Dial("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.ECONNRESET) {
			return gotReset, err
		}
		return gotOther, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, getReq); err != nil {
		if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			return gotReset, err // reset before the request was sent
		}
		return gotOther, err
	}
	var b []byte
	buf := make([]byte, 4096)
	for !complete(b, "Hello, World!\n") {
		n, err := c.Read(buf)
		b = append(b, buf[:n]...)
		switch {
		case err != nil && len(b) == 0 && errors.Is(err, syscall.ECONNRESET):
			return gotReset, err
		case err != nil:
			return gotPartial, fmt.Errorf("%q: %w", b, err)
		}
	}
	return gotOK, nil
}
