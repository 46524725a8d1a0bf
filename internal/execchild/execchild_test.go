package execchild

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/respond"
)

func TestEnvStripsSystemdVariables(t *testing.T) {
	in := []string{"PATH=/bin", "LISTEN_FDS=1", "LISTEN_PID=7", "LISTEN_FDNAMES=x", "NOTIFY_SOCKET=/run/n",
		"WATCHDOG_USEC=1", "WATCHDOG_PID=7", "HELLOD_MAX_CHILDREN=3", "GOMAXPROCS=8", "JOURNAL_STREAM=1:2",
		"GODEBUG=inittrace=1"}
	got := Env(in, respond.Settings{Message: "hi", HeaderTimeout: time.Second, ChildTimeout: 2 * time.Second,
		KeepAliveTimeout: 0, KeepAliveRequests: 9})
	want := []string{"PATH=/bin", "JOURNAL_STREAM=1:2", "HELLOD_MESSAGE=hi", "HELLOD_HEADER_TIMEOUT=1s",
		"HELLOD_CHILD_TIMEOUT=2s", "HELLOD_KEEPALIVE_TIMEOUT=0s", "HELLOD_KEEPALIVE_REQUESTS=9", "HELLOD_SANDBOX=none", "GOMAXPROCS=1",
		"GODEBUG=inittrace=1,containermaxprocs=0"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("want %q, got %q", want, got)
	}
}

func TestSettingsFromEnv(t *testing.T) {
	ok := map[string]string{"HELLOD_MESSAGE": "m", "HELLOD_HEADER_TIMEOUT": "1s", "HELLOD_CHILD_TIMEOUT": "2s",
		"HELLOD_KEEPALIVE_TIMEOUT": "3s", "HELLOD_KEEPALIVE_REQUESTS": "4", "HELLOD_SANDBOX": "seccomp"}
	with := func(k, v string) map[string]string {
		m := maps.Clone(ok)
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for i, c := range []struct {
		env     map[string]string
		wantErr string
	}{
		{ok, ""},
		{with("HELLOD_KEEPALIVE_TIMEOUT", "-1s"), `HELLOD_KEEPALIVE_TIMEOUT="-1s": want a duration, zero or more`},
		{with("HELLOD_KEEPALIVE_TIMEOUT", ""), `HELLOD_KEEPALIVE_TIMEOUT=""`},
		{with("HELLOD_KEEPALIVE_REQUESTS", "-1"), `HELLOD_KEEPALIVE_REQUESTS="-1": want an integer, zero or more`},
		{with("HELLOD_KEEPALIVE_REQUESTS", ""), `HELLOD_KEEPALIVE_REQUESTS=""`},
		{with("HELLOD_MESSAGE", ""), "HELLOD_MESSAGE is not set"},
		{with("HELLOD_HEADER_TIMEOUT", "x"), `HELLOD_HEADER_TIMEOUT="x"`},
		{with("HELLOD_CHILD_TIMEOUT", ""), `HELLOD_CHILD_TIMEOUT=""`},
		{with("HELLOD_CHILD_TIMEOUT", "-2s"), `HELLOD_CHILD_TIMEOUT="-2s"`},
		{with("HELLOD_SANDBOX", ""), `HELLOD_SANDBOX="": want "seccomp" or "none"`},
		{with("HELLOD_SANDBOX", "yes"), `HELLOD_SANDBOX="yes"`},
	} {
		lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		s, err := settingsFromEnv(lookup)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("#%d: want no error, got %v", i, err)
		case c.wantErr == "" && (s.Message != "m" || s.HeaderTimeout != time.Second || s.ChildTimeout != 2*time.Second ||
			s.KeepAliveTimeout != 3*time.Second || s.KeepAliveRequests != 4 || !s.Sandbox):
			t.Errorf("#%d: want m 1s 2s 3s 4 sandboxed, got %+v", i, s)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("#%d: want error containing %q, got %v", i, c.wantErr, err)
		}
	}
}

func TestParseArgs(t *testing.T) {
	if slot, n, err := parseArgs([]string{"hellod", Arg, "3", "8"}); err != nil || slot != 3 || n != 8 {
		t.Errorf("want slot 3 of 8, got %d of %d, %v", slot, n, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"hellod", Arg}, `want arguments "be-child" SLOT COUNT, got ["be-child"]`},
		{[]string{"hellod", Arg, "1", "2", "3"}, "want arguments"},
		{[]string{"hellod", "other", "1", "2"}, "want arguments"},
		{[]string{"hellod", Arg, "1", "0"}, `slot count "0": want a positive integer`},
		{[]string{"hellod", Arg, "1", "x"}, `slot count "x"`},
		{[]string{"hellod", Arg, "8", "8"}, `slot "8": want an integer from 0 to 7`},
		{[]string{"hellod", Arg, "-1", "8"}, `slot "-1"`},
		{[]string{}, "want arguments"},
	} {
		if _, _, err := parseArgs(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: want an error containing %q, got %v", c.args, c.want, err)
		}
	}
}
