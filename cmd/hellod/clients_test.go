package main

// Clients of the daemon under test, and the test environment's limits.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
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

// exchange sends raw to addr and returns everything read until EOF.
func exchange(t *testing.T, addr string, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, b)
	}
	return string(b)
}

func statusLine(resp string) string {
	line, _, _ := strings.Cut(resp, "\r\n")
	return line
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
		bytes.Contains(append(head, "\r\n"...), []byte("\r\nContent-Length: "+strconv.Itoa(len(msg))+"\r\n")) &&
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

// stopper is a channel closed once.
type stopper struct {
	ch   chan struct{}
	once sync.Once
}

func newStopper() *stopper { return &stopper{ch: make(chan struct{})} }
func (s *stopper) stop()   { s.once.Do(func() { close(s.ch) }) }

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
