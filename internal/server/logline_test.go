package server

import (
	"strings"
	"testing"

	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

func TestExitLogLevels(t *testing.T) {
	fx := newFixture(t, Options{})
	for _, c := range []struct {
		ws   unix.WaitStatus
		want string
	}{
		{unix.WaitStatus(int(response.RequestTimeout) << 8), ": 1 request (1x 408) in"}, // not counted in its slot
		{unix.WaitStatus(int(response.ClientGone) << 8), "client closed before a complete request"},
		{unix.WaitStatus(int(response.Failed) << 8), "failed with exit status 1"},
	} {
		dial(t, fx.ls[0])
		pid := fx.fake.waitStarted(t)
		fx.fake.exit(pid, c.ws, nil)
		fx.log.waitFor(t, c.want)
	}
	if !strings.Contains(fx.log.String(), "level=ERROR msg=\"child 1003") {
		t.Errorf("want a failed child logged as an error, got:\n%s", fx.log.String())
	}
}
