package execchild

import (
	"strings"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/respond"
)

func TestEnvStripsSystemdVariables(t *testing.T) {
	in := []string{"PATH=/bin", "LISTEN_FDS=1", "LISTEN_PID=7", "LISTEN_FDNAMES=x", "NOTIFY_SOCKET=/run/n",
		"WATCHDOG_USEC=1", "WATCHDOG_PID=7", "HELLOD_MAX_CHILDREN=3", "GOMAXPROCS=8", "JOURNAL_STREAM=1:2",
		"GODEBUG=inittrace=1"}
	got := Env(in, respond.Settings{Message: "hi", HeaderTimeout: time.Second, ChildTimeout: 2 * time.Second})
	want := []string{"PATH=/bin", "JOURNAL_STREAM=1:2", "HELLOD_MESSAGE=hi", "HELLOD_HEADER_TIMEOUT=1s",
		"HELLOD_CHILD_TIMEOUT=2s", "GOMAXPROCS=1", "GODEBUG=inittrace=1,containermaxprocs=0"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("want %q, got %q", want, got)
	}
}

func TestSettingsFromEnv(t *testing.T) {
	for i, c := range []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{"HELLOD_MESSAGE": "m", "HELLOD_HEADER_TIMEOUT": "1s", "HELLOD_CHILD_TIMEOUT": "2s"}, ""},
		{map[string]string{"HELLOD_HEADER_TIMEOUT": "1s", "HELLOD_CHILD_TIMEOUT": "2s"}, "HELLOD_MESSAGE is not set"},
		{map[string]string{"HELLOD_MESSAGE": "m", "HELLOD_HEADER_TIMEOUT": "x", "HELLOD_CHILD_TIMEOUT": "2s"}, `HELLOD_HEADER_TIMEOUT="x"`},
		{map[string]string{"HELLOD_MESSAGE": "m", "HELLOD_HEADER_TIMEOUT": "1s"}, `HELLOD_CHILD_TIMEOUT=""`},
		{map[string]string{"HELLOD_MESSAGE": "m", "HELLOD_HEADER_TIMEOUT": "1s", "HELLOD_CHILD_TIMEOUT": "-2s"}, `HELLOD_CHILD_TIMEOUT="-2s"`},
	} {
		lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		s, err := settingsFromEnv(lookup)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("#%d: want no error, got %v", i, err)
		case c.wantErr == "" && (s.Message != "m" || s.HeaderTimeout != time.Second || s.ChildTimeout != 2*time.Second):
			t.Errorf("#%d: want m 1s 2s, got %+v", i, s)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("#%d: want error containing %q, got %v", i, c.wantErr, err)
		}
	}
}
