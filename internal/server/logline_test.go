package server

import (
	"strings"
	"testing"

	"github.com/hellod/hellod/internal/response"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

func TestExitLogLevels(t *testing.T) {
	fx := newFixture(t, Options{})
	for _, c := range []struct {
		ws       unix.WaitStatus
		want     string
		starting bool // the child never got to serve (its slot still Starting)
	}{
		{unix.WaitStatus(int(response.RequestTimeout) << 8), ": 1 request (1x 408) in", false}, // not counted in its slot
		{unix.WaitStatus(int(response.ClientGone) << 8), "client closed before a complete request", false},
		{unix.WaitStatus(int(response.Failed) << 8), "failed with exit status 1", false},
		// An exec child whose runtime could not start (status 2, its slot
		// still Starting: execchild.StderrFD).
		{unix.WaitStatus(int(response.Usage) << 8), "failed with exit status 2 after", true},
	} {
		dial(t, fx.ls[0])
		pid := fx.fake.waitStarted(t)
		if c.starting {
			fx.fake.set(pid, scoreboard.Starting, 0)
		}
		fx.fake.exit(pid, c.ws, nil)
		fx.log.waitFor(t, c.want)
	}
	if !strings.Contains(fx.log.String(), "before serving (see its message above; without one, its Go runtime could not start") {
		t.Errorf("want a status 2 before serving explained, got:\n%s", fx.log.String())
	}
	if !strings.Contains(fx.log.String(), "level=ERROR msg=\"child 1003") {
		t.Errorf("want a failed child logged as an error, got:\n%s", fx.log.String())
	}
}
