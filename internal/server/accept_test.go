package server

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

func TestServesEveryListener(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "h.sock")
	fx := newFixture(t, Options{}, "127.0.0.1:0", "unix:"+sock)
	for _, l := range fx.ls {
		c := dial(t, l)
		pid := fx.fake.waitStarted(t)
		fx.fake.serve(pid)
		if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
			t.Errorf("%s: want a 200, got %q", l.Addr, got)
		}
	}
	fx.log.waitForN(t, ": 1 request (1x 200) in", 2)
	fx.waitNoChildren(t)
	if st := fx.srv.Stats(); st.Served != 2 || st.Active != 0 {
		t.Errorf("want 2 served, 0 active, got %+v", st)
	}
	for _, want := range []string{"CHILD_PID=1001", "REMOTE_ADDR=127.0.0.1:", "EXIT_STATUS=0", "HTTP_STATUS=200", "DURATION_MS=", "REMOTE_ADDR=unix",
		"REQUESTS=1", `RESPONSES="1x 200"`} {
		if !strings.Contains(fx.log.String(), want) {
			t.Errorf("want %q in the log, got:\n%s", want, fx.log.String())
		}
	}
}

func TestMaxChildrenBackpressure(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 2})
	l := fx.ls[0]
	dial(t, l)
	dial(t, l)
	p1 := fx.fake.waitStarted(t)
	fx.fake.waitStarted(t)
	// The loop now waits for a slot and says so, once.
	fx.log.waitFor(t, "2 children running (--max-children): not accepting")
	var waiting []net.Conn
	for i := 0; i < 3; i++ {
		waiting = append(waiting, dial(t, l)) // queued in the kernel backlog
	}
	if n := len(fx.fake.started); n != 0 {
		t.Fatalf("want no child started at the cap, got %d", n)
	}
	if st := fx.srv.Stats(); st.Active != 2 {
		t.Fatalf("want 2 active, got %d", st.Active)
	}
	// One exits: exactly one more is accepted and started.
	fx.fake.serve(p1)
	p3 := fx.fake.waitStarted(t)
	fx.log.waitFor(t, "below --max-children again")
	fx.fake.serve(p3)
	p4 := fx.fake.waitStarted(t)
	fx.fake.serve(p4)
	p5 := fx.fake.waitStarted(t)
	fx.fake.serve(p5)
	for i, c := range waiting {
		if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
			t.Errorf("queued connection %d: want a 200, got %q", i, got)
		}
	}
	if n := strings.Count(fx.log.String(), "not accepting until one exits"); n < 1 || n > 4 {
		t.Errorf("want the cap logged once per episode (at most 4 episodes here), got %d", n)
	}
	if st := fx.srv.Stats(); st.Active > 2 {
		t.Errorf("want at most 2 active, got %d", st.Active)
	}
}

func TestStartFailureClosesAndGoesOn(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 1})
	fx.fake.mu.Lock()
	fx.fake.failNext = fmt.Errorf("fork/exec: %w", unix.EACCES) // not backpressure (ratelimit_test.go has EAGAIN)
	fx.fake.mu.Unlock()
	c := dial(t, fx.ls[0])
	if got := readAll(t, c); got != "" {
		t.Errorf("want the connection closed, got %q", got)
	}
	fx.log.waitFor(t, "cannot start a child for 127.0.0.1:")
	fx.fake.mu.Lock()
	failed := fx.fake.failedSlot
	fx.fake.mu.Unlock()
	if st := fx.srv.board.Slot(failed).Read().State; st != scoreboard.Free {
		t.Errorf("want the slot of the failed start free again, got %s", st)
	}
	// The slot was released: the next connection is served.
	c2 := dial(t, fx.ls[0])
	fx.fake.serve(fx.fake.waitStarted(t))
	if got := readAll(t, c2); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("want a 200 after a failed start, got %q", got)
	}
	if st := fx.srv.Stats(); st.StartFailures != 1 {
		t.Errorf("want 1 start failure, got %d", st.StartFailures)
	}
}

func TestBackoffAndAcceptErrors(t *testing.T) {
	var got []time.Duration
	for d := time.Duration(0); len(got) < 10; {
		d = nextBackoff(d)
		got = append(got, d)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Errorf("backoff %d: want %s, got %s", i, want[i]*time.Millisecond, got[i])
		}
	}
	for i, c := range []struct {
		err             error
		temporary, lack bool
	}{
		{os.NewSyscallError("accept4", unix.ECONNABORTED), true, false},
		{os.NewSyscallError("accept4", unix.EPROTO), true, false},
		{os.NewSyscallError("accept4", unix.EMFILE), false, true},
		{fmt.Errorf("wrapped: %w", unix.ENOMEM), false, true},
		{os.NewSyscallError("accept4", unix.EBADF), false, false}, // fatal
	} {
		if tmp, lack := temporaryAcceptError(c.err), resourceError(c.err); tmp != c.temporary || lack != c.lack {
			t.Errorf("#%d %v: want temporary %v, resource %v; got %v, %v", i, c.err, c.temporary, c.lack, tmp, lack)
		}
	}
}
