package server

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/activation"
	"github.com/hellod/hellod/internal/netblock"
	"github.com/hellod/hellod/internal/scoreboard"
)

// dialFrom connects to l from the loopback address src.
func dialFrom(t *testing.T, l activation.Listener, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", l.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantReset checks that a connection from src is closed by the server
// without a byte: reset (during the dial, when the reset comes before the
// dialer looks, or at the read), or, had the client's FIN raced it, ended.
func wantReset(t *testing.T, l activation.Listener, src, what string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", l.Addr)
	if err != nil {
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s: want the connection reset, got %v", what, err)
		}
		return
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if len(b) != 0 || err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("%s: want the connection reset without a byte, got %q, %v", what, b, err)
	}
}

func TestPerSourceLimit(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "h.sock")
	// 5: each listener's accept loop holds a slot while it waits.
	fx := newFixture(t, Options{MaxChildren: 5, MaxPerSource: 2, PerSourceNetBlock: netblock.Mask{V4: 32, V6: 64},
		perSourceEpisode: time.Hour}, "127.0.0.1:0", "unix:"+sock)
	tcp, unixL := fx.ls[0], fx.ls[1]
	dialFrom(t, tcp, "127.0.0.2")
	p1 := fx.fake.waitStarted(t)
	dialFrom(t, tcp, "127.0.0.2")
	fx.fake.waitStarted(t)
	// The third from 127.0.0.2 is over the limit: reset, no child.
	wantReset(t, tcp, "127.0.0.2", "third connection from 127.0.0.2")
	fx.log.waitFor(t, "source 127.0.0.2/32 reached its limit of 2 children (--max-per-source); resetting its new connections until one exits")
	wantReset(t, tcp, "127.0.0.2", "fourth connection from 127.0.0.2")
	// Another source still gets in, and so do unix-socket peers (no source).
	c := dialFrom(t, tcp, "127.0.0.1")
	p3 := fx.fake.waitStarted(t)
	fx.fake.serve(p3)
	if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("127.0.0.1 while 127.0.0.2 is at its limit: want a 200, got %q", got)
	}
	for range 2 {
		dial(t, unixL)
		fx.fake.waitStarted(t)
	}
	st := fx.srv.Stats()
	if st.Refused != 2 || st.Active != 4 {
		t.Errorf("want 2 refused and 4 active (2 from 127.0.0.2, 2 unix), got %+v", st)
	}
	if n := strings.Count(fx.log.String(), "reached its limit"); n != 1 {
		t.Errorf("want the episode logged once, got %d lines", n)
	}
	if line := fx.srv.status(); !strings.Contains(line, ", 2 refused by per-source limit") {
		t.Errorf("want the refusals in STATUS=, got %q", line)
	}
	// One of 127.0.0.2's children exits: it may have one more. (The
	// episode, an hour long here, stays open: no line yet.)
	fx.fake.serve(p1)
	fx.log.waitFor(t, "child 1001 served")
	dialFrom(t, tcp, "127.0.0.2")
	fx.fake.waitStarted(t)
	if strings.Contains(fx.log.String(), "below its limit") {
		t.Errorf("want the episode still open within its least length, got:\n%s", fx.log.String())
	}
	if st := fx.srv.Stats(); st.Refused != 2 {
		t.Errorf("want still 2 refused, got %d", st.Refused)
	}
}

func TestPerSourceEpisodeEnds(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 4, MaxPerSource: 1, PerSourceNetBlock: netblock.Mask{V4: 24, V6: 64},
		perSourceEpisode: time.Nanosecond})
	l := fx.ls[0]
	dialFrom(t, l, "127.0.0.2")
	p1 := fx.fake.waitStarted(t)
	// 127.0.0.3 is in the same /24.
	wantReset(t, l, "127.0.0.3", "127.0.0.3 while 127.0.0.2 holds 127.0.0.0/24's one child")
	wantReset(t, l, "127.0.0.4", "127.0.0.4, same /24")
	fx.log.waitFor(t, "source 127.0.0.0/24 reached its limit of 1 children")
	fx.fake.serve(p1)
	fx.log.waitFor(t, "source 127.0.0.0/24 below its limit of 1 children again: 2 connections reset in")
	fx.log.waitFor(t, "REFUSED=2")
	c := dialFrom(t, l, "127.0.0.3")
	p2 := fx.fake.waitStarted(t)
	fx.fake.serve(p2)
	if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("after the episode: want a 200, got %q", got)
	}
}

// TestPerSourceFinishingChildrenDoNotCount: at its limit, a source whose
// child is done with its connection (exiting, not reaped yet) may connect
// again: a client that reads its response's end and reconnects at once.
func TestPerSourceFinishingChildrenDoNotCount(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 4, MaxPerSource: 1, PerSourceNetBlock: netblock.DefaultMask})
	l := fx.ls[0]
	dialFrom(t, l, "127.0.0.2")
	p1 := fx.fake.waitStarted(t)
	wantReset(t, l, "127.0.0.2", "a second connection while the first is reading")
	for _, st := range []scoreboard.State{scoreboard.Lingering, scoreboard.Done} {
		fx.fake.set(p1, st, 0)
		dialFrom(t, l, "127.0.0.2")
		p := fx.fake.waitStarted(t)
		fx.fake.set(p, st, 0) // this one finishing too, for the next round
	}
	if st := fx.srv.Stats(); st.Refused != 1 || st.Active != 3 {
		t.Errorf("want 1 refused and 3 children (2 finishing), got %+v", st)
	}
}

// TestPerSourceIdleMakesRoom: at its limit, a source's new connection
// closes the source's own idle keep-alive child (claimed, then killed:
// nothing lost), never another source's.
func TestPerSourceIdleMakesRoom(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 4, MaxPerSource: 1, PerSourceNetBlock: netblock.DefaultMask})
	l := fx.ls[0]
	dialFrom(t, l, "127.0.0.1")
	other := fx.fake.waitStarted(t)
	fx.fake.set(other, scoreboard.Idle, time.Minute)
	dialFrom(t, l, "127.0.0.2")
	own := fx.fake.waitStarted(t)
	fx.fake.set(own, scoreboard.Idle, 0)
	dialFrom(t, l, "127.0.0.2")
	fx.fake.waitStarted(t)
	fx.log.waitFor(t, "(sent by hellod: per-source limit: idle keep-alive closed for its source's new connection)")
	if st, ok := fx.fake.killState(own); !ok || st != scoreboard.Closing {
		t.Errorf("want 127.0.0.2's idle child claimed (closing) before its SIGKILL, got %s, %v", st, ok)
	}
	if _, ok := fx.fake.killState(other); ok {
		t.Errorf("want 127.0.0.1's idle child left alone, got it killed")
	}
	if st := fx.srv.Stats(); st.Refused != 0 || st.IdleClosed != 1 || st.Killed != 0 {
		t.Errorf("want none refused, 1 idle closed, none killed, got %+v", st)
	}
}

func TestPerSourceStartFailureLeaves(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 4, MaxPerSource: 1, PerSourceNetBlock: netblock.DefaultMask})
	fx.fake.mu.Lock()
	fx.fake.failNext = errors.New("no child today")
	fx.fake.mu.Unlock()
	c := dialFrom(t, fx.ls[0], "127.0.0.2")
	if got := readAll(t, c); got != "" {
		t.Errorf("a connection whose child cannot start: want it closed, got %q", got)
	}
	fx.log.waitFor(t, "cannot start a child for 127.0.0.2")
	// The failed start does not count against the source.
	c = dialFrom(t, fx.ls[0], "127.0.0.2")
	fx.fake.serve(fx.fake.waitStarted(t))
	if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("after a failed start: want a 200, got %q", got)
	}
	if st := fx.srv.Stats(); st.Refused != 0 {
		t.Errorf("want none refused, got %d", st.Refused)
	}
}

func TestPerSourceOff(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 4})
	for range 4 {
		dialFrom(t, fx.ls[0], "127.0.0.2")
		fx.fake.waitStarted(t)
	}
	if st := fx.srv.Stats(); st.Active != 4 || st.Refused != 0 || fx.srv.ps != nil {
		t.Errorf("without MaxPerSource: want 4 active from one source, none refused, got %+v", st)
	}
}

// TestPerSourceAllocatesNothing: admitting, refusing within an episode and
// counting out allocate nothing (the accept path; only an episode's lines
// do).
func TestPerSourceAllocatesNothing(t *testing.T) {
	fake := newFake()
	s, err := New(Options{MaxChildren: 64, MaxPerSource: 2, PerSourceNetBlock: netblock.DefaultMask, ChildTimeout: time.Minute,
		ShutdownTimeout: time.Minute, Starter: fake, Reaper: fake, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.closeBoard()
	p := s.ps
	a := netip.MustParseAddrPort("[2001:db8::1]:4711")
	b := netip.MustParseAddrPort("192.0.2.1:4711")
	p.admit(a)
	p.admit(a)
	p.admit(a) // opens the episode (and logs, allocating)
	allocs := testing.AllocsPerRun(1000, func() {
		if p.admit(a) { // at its limit: refused
			t.Fatal("want the source at its limit refused")
		}
		if !p.admit(b) {
			t.Fatal("want another source admitted")
		}
		p.leave(b)
	})
	if allocs != 0 {
		t.Errorf("want no allocation per admission and refusal, got %.1f", allocs)
	}
	// The reset itself: a setsockopt and a close.
	allocs = testing.AllocsPerRun(100, func() {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		refuse(fds[0])
		syscall.Close(fds[1])
	})
	if allocs != 0 {
		t.Errorf("want no allocation per refuse, got %.1f", allocs)
	}
}
