package server

import (
	"strings"
	"testing"
	"time"
)

func TestIdleExit(t *testing.T) {
	fx := newFixture(t, Options{IdleExit: 100 * time.Millisecond})
	start := time.Now()
	if why := fx.waitDone(t); why != StopIdle {
		t.Errorf("want %q, got %q", StopIdle, why)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("want no exit before the idle time, got one after %s", el)
	}
	msgs := fx.note.all()
	if len(msgs) == 0 || !strings.HasPrefix(msgs[len(msgs)-1], "STOPPING=1") {
		t.Errorf("want STOPPING=1 last, got %q", msgs)
	}
}

func TestIdleExitWaitsForChildren(t *testing.T) {
	fx := newFixture(t, Options{IdleExit: 50 * time.Millisecond})
	c := dial(t, fx.ls[0])
	pid := fx.fake.waitStarted(t)
	// While the child runs the server is not idle, however long that takes.
	select {
	case why := <-fx.done:
		t.Fatalf("want no idle exit while a child runs, got %q", why)
	case <-time.After(200 * time.Millisecond):
	}
	fx.fake.serve(pid)
	readAll(t, c)
	if why := fx.waitDone(t); why != StopIdle {
		t.Errorf("want %q, got %q", StopIdle, why)
	}
}

func TestStatusAndWatchdog(t *testing.T) {
	fx := newFixture(t, Options{StatusInterval: 10 * time.Millisecond, WatchdogInterval: 10 * time.Millisecond})
	dial(t, fx.ls[0])
	pid := fx.fake.waitStarted(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs := strings.Join(fx.note.all(), "\n")
		if strings.Contains(msgs, "STATUS=1 children (1 busy, 0 idle), 0 requests served") &&
			strings.Count(msgs, "WATCHDOG=1") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want a status line with 1 active child and watchdog pings, got %q", msgs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	fx.fake.serve(pid)
	fx.log.waitFor(t, "1 request (1x 200)")
	// Unchanged status lines are not repeated.
	st := 0
	for _, m := range fx.note.all() {
		if m == "STATUS=0 children (0 busy, 0 idle), 1 requests served, 0 children killed" {
			st++
		}
	}
	if st > 1 {
		t.Errorf("want an unchanged status sent once, got %d times", st)
	}
}
