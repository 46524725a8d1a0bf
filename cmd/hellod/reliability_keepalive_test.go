package main

// Reliability (see reliability_slow_test.go). This file: persistent
// connections: idle keep-alive connections at the cap, SIGTERM during a
// keep-alive load.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestReliabilityKeepAliveIdleAtCap: 2000 clients that each got a response and
// keep their connection idle, against --max-children 64: the idle children
// are closed as soon as connections wait, so every client gets its 200 and
// fresh clients are served at once.
func TestReliabilityKeepAliveIdleAtCap(t *testing.T) {
	noRaceExitSleep(t)
	n := scaled(2000, 300)
	raiseNofile(t, n+200)
	eachStrategy(t, func(t *testing.T, strategy string) {
		const cap = 64
		// --evict-after 0: only idle children are evicted. With the default
		// (500 ms), a client goroutine that a loaded machine delays between
		// its connect and its request is a slow reader, evicted by design
		// (its connection ends before a response), which is not what this
		// test is about.
		d := start(t, nil, strategy, "--max-children", strconv.Itoa(cap), "--keepalive-timeout", "60s", "--evict-after", "0")
		var served, failed atomic.Int64
		var firstErr atomic.Pointer[string]
		conns := make([]net.Conn, n)
		var wg sync.WaitGroup
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: srcIP(i)}}).Dial("tcp", d.addr)
				if err == nil {
					c.SetDeadline(time.Now().Add(120 * time.Second))
					_, err = io.WriteString(c, kaReq)
				}
				var resp *http.Response
				if err == nil {
					resp, _, err = readOne(bufio.NewReader(c), "GET")
				}
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					s := fmt.Sprintf("client %d: %v %v", i, resp, err)
					firstErr.CompareAndSwap(nil, &s)
					return
				}
				served.Add(1)
				conns[i] = c // left open, idle
			}()
		}
		wg.Wait()
		defer func() {
			for _, c := range conns {
				if c != nil {
					c.Close()
				}
			}
		}()
		if served.Load() != int64(n) {
			t.Fatalf("want all %d idle-to-be clients served, got %d (first failure: %v)", n, served.Load(), *firstErr.Load())
		}
		// Fresh clients while up to 64 idle connections hold every slot.
		var worst time.Duration
		for i := 0; i < 20; i++ {
			t0 := time.Now()
			c, err := net.Dial("tcp", d.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(t0.Add(30 * time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			resp, body, err := readOne(bufio.NewReader(c), "GET")
			c.Close()
			if err != nil || resp.StatusCode != 200 || body != "Hello, World!\n" {
				t.Fatalf("fresh client %d: want a 200, got %v %q", i, err, body)
			}
			worst = max(worst, time.Since(t0))
		}
		if worst > 10*time.Second { // a bound with room; the figure is the measurement
			t.Errorf("want fresh clients served while idle connections hold the cap, got one after %s", worst)
		}
		evicted := d.count("evicted: idle keep-alive")
		t.Logf("FIGURE keepalive/idle-at-cap/%s: idle_clients=%d max_children=%d fresh_worst_ms=%s idle_evicted=%d", strategy[8:], n, cap, ms(worst), evicted)
	})
}

// TestReliabilityKeepAliveSIGTERM: SIGTERM while 16 keep-alive clients loop:
// every response that began arrives whole; a client whose idle connection
// is closed sees a clean end of stream before any response byte.
func TestReliabilityKeepAliveSIGTERM(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, nil, strategy, "--keepalive-timeout", "5s")
		const clients = 16
		var full, partial, cleanEnd, closing atomic.Int64
		var firstBad atomic.Pointer[string]
		var running sync.WaitGroup
		started := make(chan struct{}, clients)
		for i := 0; i < clients; i++ {
			running.Add(1)
			go func() {
				defer running.Done()
				c, err := net.Dial("tcp", d.addr)
				if err != nil {
					return // the listener closed
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(60 * time.Second))
				br := bufio.NewReader(c)
				for j := 0; j < 100000; j++ {
					if _, err := io.WriteString(c, kaReq); err != nil {
						cleanEnd.Add(1)
						return
					}
					// Nothing of a response: the connection closed idle
					// (net/http's ReadResponse calls that an unexpected EOF).
					if _, err := br.Peek(1); err == io.EOF || isReset(err) {
						cleanEnd.Add(1)
						return
					}
					resp, body, err := readOne(br, "GET")
					switch {
					case err == nil && resp.StatusCode == 200 && body == "Hello, World!\n":
						full.Add(1)
						if j == 10 {
							started <- struct{}{}
						}
						if resp.Close {
							closing.Add(1)
							return
						}
						continue
					default:
						partial.Add(1)
						s := fmt.Sprintf("%v %q %v", resp, body, err)
						firstBad.CompareAndSwap(nil, &s)
					}
					return
				}
			}()
		}
		for i := 0; i < clients; i++ {
			<-started
		}
		d.signal(syscall.SIGTERM)
		if code := d.wait(60 * time.Second); code != 0 {
			t.Errorf("want exit status 0 after SIGTERM, got %d", code)
		}
		running.Wait()
		if partial.Load() != 0 {
			t.Errorf("want no response cut short, got %d (first: %s)", partial.Load(), *firstBad.Load())
		}
		// Nothing lost on either side: every response the children
		// counted reached a client whole.
		m := regexp.MustCompile(`stopped \(shutdown\): .*, (\d+) requests served`).FindStringSubmatch(d.logText())
		if m == nil {
			t.Errorf("want the stop line with the requests served, got log %q", d.logText())
		} else if served, _ := strconv.ParseInt(m[1], 10, 64); served != full.Load() {
			t.Errorf("want the daemon's requests served to equal the clients' complete responses %d, got %d", full.Load(), served)
		}
		if full.Load() < clients*10 {
			t.Errorf("want at least %d complete responses, got %d", clients*10, full.Load())
		}
		t.Logf("FIGURE keepalive/sigterm/%s: clients=%d responses=%d last_said_close=%d clean_end_of_stream=%d cut_short=%d",
			strategy[8:], clients, full.Load(), closing.Load(), cleanEnd.Load(), partial.Load())
	})
}
