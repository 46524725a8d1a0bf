package server

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestChildTimeoutKills(t *testing.T) {
	// Killed at ChildTimeout + the overrun (a response begun may finish).
	fx := newFixture(t, Options{ChildTimeout: 50 * time.Millisecond, overrun: 100 * time.Millisecond})
	t0 := time.Now()
	c := dial(t, fx.ls[0])
	pid := fx.fake.waitStarted(t)
	fx.log.waitFor(t, "killed by signal SIGKILL")
	if el := time.Since(t0); el < 150*time.Millisecond {
		t.Errorf("want the kill at ChildTimeout + overrun (150ms) at the earliest, got it after %s", el)
	}
	if got := readAll(t, c); got != "" {
		t.Errorf("want the connection closed without a response, got %q", got)
	}
	if sigs := fx.fake.signalList(); len(sigs) != 1 || sigs[0] != fmt.Sprintf("%d:SIGKILL", pid) {
		t.Errorf("want one SIGKILL for %d, got %v", pid, sigs)
	}
	for _, want := range []string{"killed by signal SIGKILL (sent by hellod: child timeout)", "EXIT_STATUS=137"} {
		if !strings.Contains(fx.log.String(), want) {
			t.Errorf("want %q in the log, got:\n%s", want, fx.log.String())
		}
	}
	if st := fx.srv.Stats(); st.Killed != 1 {
		t.Errorf("want 1 killed, got %d", st.Killed)
	}
}

func TestShutdownDrainsRunningChildren(t *testing.T) {
	fx := newFixture(t, Options{})
	c := dial(t, fx.ls[0])
	pid := fx.fake.waitStarted(t)
	fx.stop()
	fx.log.waitFor(t, "shutdown: waiting up to 1m0s for 1 children")
	// New connections are not accepted any more (they stay in the backlog).
	dial(t, fx.ls[0])
	fx.fake.serve(pid)
	if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("want the running child to finish its response, got %q", got)
	}
	if why := fx.waitDone(t); why != StopShutdown {
		t.Errorf("want %q, got %q", StopShutdown, why)
	}
	if n := len(fx.fake.started); n != 0 {
		t.Errorf("want nothing accepted after shutdown began, got %d children", n)
	}
	msgs := fx.note.all()
	if len(msgs) < 2 || !strings.HasPrefix(msgs[0], "READY=1") || !strings.HasPrefix(msgs[len(msgs)-1], "STOPPING=1") {
		t.Errorf("want READY=1 first and STOPPING=1 last, got %q", msgs)
	}
}

func TestShutdownKillsAfterTimeout(t *testing.T) {
	fx := newFixture(t, Options{ShutdownTimeout: 50 * time.Millisecond})
	dial(t, fx.ls[0])
	pid := fx.fake.waitStarted(t)
	fx.stop()
	if why := fx.waitDone(t); why != StopShutdown {
		t.Errorf("want %q, got %q", StopShutdown, why)
	}
	if sigs := fx.fake.signalList(); len(sigs) != 1 || sigs[0] != fmt.Sprintf("%d:SIGKILL", pid) {
		t.Errorf("want one SIGKILL for %d, got %v", pid, sigs)
	}
	if st := fx.srv.Stats(); st.Active != 0 {
		t.Errorf("want 0 active after shutdown, got %d", st.Active)
	}
}
