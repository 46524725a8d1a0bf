package main

// Reliability, 5. faults (see reliability_slow_test.go).

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/procfs"
	"github.com/hellod/hellod/internal/respond"
	"golang.org/x/sys/unix"
)

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
			for s, err := procfs.Stat(pid); err == nil && s.State != 'S' && time.Now().Before(deadline); s, err = procfs.Stat(pid) {
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
			// A response begun is written for up to respond.WriteTimeout,
			// even past the lifetime (--child-timeout); the parent kills at
			// --child-timeout + respond.Overrun.
			ok := strings.Contains(line, "response could not be written") || strings.Contains(line, "(sent by hellod: child timeout)")
			if !ok || dur < float64(min(ct, respond.WriteTimeout).Milliseconds())-200 || took > ct+respond.Overrun+2*time.Second {
				t.Errorf("want the child ended %s after its write began (write failed) or killed at --child-timeout %s + %s, got %q after %s",
					respond.WriteTimeout, ct, respond.Overrun, line, took)
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
			d.waitLogN("(1x 200)", before)
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
