package config

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestParse(t *testing.T) {
	for i, c := range []struct {
		args  []string
		env   map[string]string
		check func(Config) bool
	}{
		{nil, nil, func(c Config) bool {
			return strings.Join(c.Listen, ",") == ":8000" && c.MaxChildren == 512 && c.HeaderTimeout == 10*time.Second &&
				c.ChildTimeout == 30*time.Second && c.ShutdownTimeout == 10*time.Second && c.IdleExit == 0 && c.EvictAfter == 500*time.Millisecond &&
				c.Message == "Hello, World!\n" && c.LogLevel == slog.LevelInfo && c.Child == Strategies[0]
		}},
		{[]string{"--listen", "127.0.0.1:1", "--listen=[::1]:2,unix:/run/x.sock"}, nil, func(c Config) bool {
			return strings.Join(c.Listen, " ") == "127.0.0.1:1 [::1]:2 unix:/run/x.sock"
		}},
		{nil, map[string]string{"HELLOD_LISTEN": "127.0.0.1:5, 127.0.0.1:6"}, func(c Config) bool {
			return strings.Join(c.Listen, " ") == "127.0.0.1:5 127.0.0.1:6"
		}},
		{[]string{"-listen", ":7"}, map[string]string{"HELLOD_LISTEN": "127.0.0.1:5"}, func(c Config) bool {
			return strings.Join(c.Listen, " ") == ":7"
		}},
		{nil, map[string]string{"HELLOD_MAX_CHILDREN": "3", "HELLOD_IDLE_EXIT": "1m", "HELLOD_MESSAGE": "hi",
			"HELLOD_LOG_LEVEL": "debug", "HELLOD_HEADER_TIMEOUT": "1s", "HELLOD_CHILD_TIMEOUT": "2s", "HELLOD_SHUTDOWN_TIMEOUT": "3s"},
			func(c Config) bool {
				return c.MaxChildren == 3 && c.IdleExit == time.Minute && c.Message == "hi" && c.LogLevel == slog.LevelDebug &&
					c.HeaderTimeout == time.Second && c.ChildTimeout == 2*time.Second && c.ShutdownTimeout == 3*time.Second
			}},
		{[]string{"--max-children=9"}, map[string]string{"HELLOD_MAX_CHILDREN": "3"}, func(c Config) bool { return c.MaxChildren == 9 }},
		{[]string{"--version"}, nil, func(c Config) bool { return c.Version }},
		{[]string{"--evict-after", "0"}, nil, func(c Config) bool { return c.EvictAfter == 0 }},
		{[]string{"--log-level", "WARN"}, nil, func(c Config) bool { return c.LogLevel == slog.LevelWarn }},
	} {
		got, err := Parse(c.args, lookupIn(c.env))
		if err != nil {
			t.Errorf("#%d: want no error, got %v", i, err)
			continue
		}
		if !c.check(got) {
			t.Errorf("#%d: %v %v: unexpected config %+v", i, c.args, c.env, got)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for i, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--bogus"}, nil, "flag provided but not defined: -bogus"},
		{[]string{"extra"}, nil, `unexpected argument "extra"`},
		{[]string{"--max-children", "0"}, nil, "want an integer from 1"},
		{[]string{"--max-children", "x"}, nil, "want an integer from 1"},
		{nil, map[string]string{"HELLOD_MAX_CHILDREN": "-1"}, `invalid value "-1" for HELLOD_MAX_CHILDREN`},
		{[]string{"--header-timeout", "10"}, nil, "want a duration"},
		{[]string{"--header-timeout", "0s"}, nil, "want a positive duration"},
		{[]string{"--child-timeout", "-1s"}, nil, "want a positive duration"},
		{[]string{"--shutdown-timeout", "soon"}, nil, "want a duration"},
		{[]string{"--idle-exit", "-5s"}, nil, "want a positive duration"},
		{nil, map[string]string{"HELLOD_IDLE_EXIT": "forever"}, "HELLOD_IDLE_EXIT"},
		{[]string{"--evict-after", "-1s"}, nil, "want a positive duration"},
		{[]string{"--header-timeout", "1m", "--child-timeout", "30s"}, nil, "must not exceed --child-timeout"},
		{[]string{"--log-level", "loud"}, nil, "want debug, info, warn or error"},
		{[]string{"--child", "thread"}, nil, "want " + strings.Join(Strategies, " or ")},
		{[]string{"--message", "\xff"}, nil, "want valid UTF-8"},
		{[]string{"--message", strings.Repeat("m", MaxMessage+1)}, nil, "want at most"},
		{[]string{"--listen", "8000"}, nil, "want HOST:PORT"},
		{[]string{"--listen", "127.0.0.1:99999"}, nil, "want a number from 0 to 65535"},
		{[]string{"--listen", "unix:relative"}, nil, "want unix:/absolute/path"},
		{[]string{"--listen", ""}, nil, "want at least one address"},
		{nil, map[string]string{"HELLOD_LISTEN": "nonsense"}, "want HOST:PORT"},
	} {
		_, err := Parse(c.args, lookupIn(c.env))
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("#%d: %v %v: want a UsageError, got %v", i, c.args, c.env, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("#%d: want error containing %q, got %q", i, c.want, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("#%d: want a one-line error, got %q", i, err)
		}
	}
}

func TestParseHelp(t *testing.T) {
	for _, a := range []string{"-h", "--help", "-help"} {
		if _, err := Parse([]string{a}, lookupIn(nil)); !errors.Is(err, ErrHelp) {
			t.Errorf("%s: want ErrHelp, got %v", a, err)
		}
	}
}

func TestUsageNamesEveryFlagAndVariable(t *testing.T) {
	var b strings.Builder
	Usage(&b)
	c := Default()
	fs := NewFlagSet(&c)
	for _, name := range []string{"listen", "max-children", "header-timeout", "child-timeout", "shutdown-timeout",
		"idle-exit", "evict-after", "message", "log-level", "child", "version"} {
		if fs.Lookup(name) == nil {
			t.Errorf("want flag --%s", name)
		}
		if !strings.Contains(b.String(), "--"+name) {
			t.Errorf("want --%s in the help text", name)
		}
		if name != "version" && !strings.Contains(b.String(), EnvName(name)) {
			t.Errorf("want %s in the help text", EnvName(name))
		}
	}
}
