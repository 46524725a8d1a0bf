package config

import (
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/netblock"
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
				c.Message == "Hello, World!\n" && c.LogLevel == slog.LevelInfo && c.Child == Strategies[0] &&
				c.KeepAliveTimeout == 5*time.Second && c.KeepAliveRequests == 1000
		}},
		{[]string{"--keepalive-timeout", "0", "--keepalive-requests=1"}, nil, func(c Config) bool {
			return c.KeepAliveTimeout == 0 && c.KeepAliveRequests == 1
		}},
		{nil, map[string]string{"HELLOD_KEEPALIVE_TIMEOUT": "250ms", "HELLOD_KEEPALIVE_REQUESTS": "7"}, func(c Config) bool {
			return c.KeepAliveTimeout == 250*time.Millisecond && c.KeepAliveRequests == 7
		}},
		{[]string{"--keepalive-requests", "9"}, map[string]string{"HELLOD_KEEPALIVE_REQUESTS": "7"}, func(c Config) bool {
			return c.KeepAliveRequests == 9
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
		// --max-per-source: half of --max-children unless set; /32 and /64.
		{nil, nil, func(c Config) bool {
			return c.MaxPerSource == 256 && c.PerSourceNetBlock == netblock.Mask{V4: 32, V6: 64}
		}},
		{[]string{"--max-children", "9"}, nil, func(c Config) bool { return c.MaxPerSource == 4 }},
		{[]string{"--max-children", "1"}, nil, func(c Config) bool { return c.MaxPerSource == 1 }},
		{[]string{"--max-per-source", "0"}, nil, func(c Config) bool { return c.MaxPerSource == 0 }},
		{[]string{"--max-per-source", "512"}, nil, func(c Config) bool { return c.MaxPerSource == 512 }},
		{nil, map[string]string{"HELLOD_MAX_PER_SOURCE": "8", "HELLOD_PER_SOURCE_NETBLOCK": "24:56"}, func(c Config) bool {
			return c.MaxPerSource == 8 && c.PerSourceNetBlock == netblock.Mask{V4: 24, V6: 56}
		}},
		{[]string{"--per-source-netblock=16"}, nil, func(c Config) bool { return c.PerSourceNetBlock == netblock.Mask{V4: 16, V6: 64} }},
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
		{[]string{"--bogus"}, nil, "unknown flag --bogus"},
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
		{[]string{"--keepalive-timeout", "-1s"}, nil, "want a positive duration"},
		{[]string{"--keepalive-timeout", "5"}, nil, "want a duration"},
		{[]string{"--keepalive-requests", "0"}, nil, "invalid value \"0\" for --keepalive-requests: want an integer from 1 to 1073741824"},
		{[]string{"--keepalive-requests", "many"}, nil, "want an integer from 1"},
		{nil, map[string]string{"HELLOD_KEEPALIVE_REQUESTS": "0"}, `invalid value "0" for HELLOD_KEEPALIVE_REQUESTS: want an integer from 1`},
		{nil, map[string]string{"HELLOD_KEEPALIVE_TIMEOUT": "idle"}, `invalid value "idle" for HELLOD_KEEPALIVE_TIMEOUT: want a duration`},
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
		{[]string{"--max-per-source", "-1"}, nil, `invalid value "-1" for --max-per-source: want an integer from 0 to`},
		{[]string{"--max-children", "16", "--max-per-source", "17"}, nil, "--max-per-source (17) exceeds --max-children (16): it would never refuse (0 turns it off)"},
		{nil, map[string]string{"HELLOD_MAX_PER_SOURCE": "all"}, `invalid value "all" for HELLOD_MAX_PER_SOURCE: want an integer from 0`},
		{[]string{"--per-source-netblock", "33:64"}, nil, `invalid value "33:64" for --per-source-netblock: IPv4 prefix "33": want an integer from 0 to 32`},
		{nil, map[string]string{"HELLOD_PER_SOURCE_NETBLOCK": "32:200"}, `invalid value "32:200" for HELLOD_PER_SOURCE_NETBLOCK: IPv6 prefix "200": want an integer from 0 to 128`},
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
		"idle-exit", "evict-after", "max-per-source", "per-source-netblock", "message", "log-level", "child", "version"} {
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

// TestEnvironmentThenFlag sets each flag's variable in the real environment
// (t.Setenv, read through os.LookupEnv), then the flag itself: the variable
// alone gives its value, and the flag wins over it.
func TestEnvironmentThenFlag(t *testing.T) {
	for _, c := range []struct {
		flag, env, arg string
		get            func(Config) string
		wantEnv        string
		wantArg        string
	}{
		{"listen", "127.0.0.1:5, unix:/run/a.sock", "127.0.0.1:7", func(c Config) string { return strings.Join(c.Listen, " ") }, "127.0.0.1:5 unix:/run/a.sock", "127.0.0.1:7"},
		{"max-children", "3", "9", func(c Config) string { return strconv.Itoa(c.MaxChildren) }, "3", "9"},
		{"header-timeout", "1s", "2s", func(c Config) string { return c.HeaderTimeout.String() }, "1s", "2s"},
		{"child-timeout", "40s", "1m", func(c Config) string { return c.ChildTimeout.String() }, "40s", "1m0s"},
		{"shutdown-timeout", "3s", "250ms", func(c Config) string { return c.ShutdownTimeout.String() }, "3s", "250ms"},
		{"evict-after", "0", "1s", func(c Config) string { return c.EvictAfter.String() }, "0s", "1s"},
		{"idle-exit", "1m", "0", func(c Config) string { return c.IdleExit.String() }, "1m0s", "0s"},
		{"message", "from env", "from flag", func(c Config) string { return c.Message }, "from env", "from flag"},
		{"log-level", "Warning", "ERROR", func(c Config) string { return c.LogLevel.String() }, "WARN", "ERROR"},
		{"child", "exec", "fork", func(c Config) string { return c.Child }, "exec", "fork"},
	} {
		t.Run(c.flag, func(t *testing.T) {
			t.Setenv(EnvName(c.flag), c.env)
			got, err := Parse(nil, os.LookupEnv)
			if err != nil {
				t.Fatalf("%s=%q: want no error, got %v", EnvName(c.flag), c.env, err)
			}
			if g := c.get(got); g != c.wantEnv {
				t.Errorf("%s=%q: want %q, got %q", EnvName(c.flag), c.env, c.wantEnv, g)
			}
			got, err = Parse([]string{"--" + c.flag, c.arg}, os.LookupEnv)
			if err != nil {
				t.Fatalf("--%s %q: want no error, got %v", c.flag, c.arg, err)
			}
			if g := c.get(got); g != c.wantArg {
				t.Errorf("%s=%q --%s %q: want %q, got %q", EnvName(c.flag), c.env, c.flag, c.arg, c.wantArg, g)
			}
		})
	}
}

// TestListenRepeated: the first --listen replaces the environment's list
// (and the default), later ones add to it.
func TestListenRepeated(t *testing.T) {
	t.Setenv("HELLOD_LISTEN", "127.0.0.1:5,127.0.0.1:6")
	got, err := Parse([]string{"--listen", ":7", "--listen=:8,:9"}, os.LookupEnv)
	if err != nil {
		t.Fatalf("want no error, got %v", err)
	}
	if want, g := ":7 :8 :9", strings.Join(got.Listen, " "); g != want {
		t.Errorf("want listen %q, got %q", want, g)
	}
}

// TestBadEnvironmentNamesVariable: a bad variable's error names it, in the
// same words as the flag's.
func TestBadEnvironmentNamesVariable(t *testing.T) {
	for _, c := range []struct{ env, val, want string }{
		{"HELLOD_MAX_CHILDREN", "", `invalid value "" for HELLOD_MAX_CHILDREN: want an integer from 1 to 1048576`},
		{"HELLOD_EVICT_AFTER", "-1ms", `invalid value "-1ms" for HELLOD_EVICT_AFTER: want a positive duration`},
		{"HELLOD_HEADER_TIMEOUT", "0", `invalid value "0" for HELLOD_HEADER_TIMEOUT: want a positive duration`},
		{"HELLOD_LOG_LEVEL", "INFO+2", `invalid value "INFO+2" for HELLOD_LOG_LEVEL: want debug, info, warn or error`},
		{"HELLOD_CHILD", "EXEC", `invalid value "EXEC" for HELLOD_CHILD: want fork or exec`},
		{"HELLOD_MESSAGE", "caf\xe9", `invalid value "caf\xe9" for HELLOD_MESSAGE: want valid UTF-8`},
	} {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv(c.env, c.val)
			_, err := Parse(nil, os.LookupEnv)
			var ue *UsageError
			if !errors.As(err, &ue) || err.Error() != c.want {
				t.Errorf("%s=%q: want UsageError %q, got %v", c.env, c.val, c.want, err)
			}
		})
	}
}

// TestUsageDefaults: --help shows each flag's default, as before flag.Func.
func TestUsageDefaults(t *testing.T) {
	var b strings.Builder
	Usage(&b)
	for _, want := range []string{"(default fork) [HELLOD_CHILD]", "(default 30s) [HELLOD_CHILD_TIMEOUT]",
		"(default 500ms) [HELLOD_EVICT_AFTER]",
		"(default 5s) [HELLOD_KEEPALIVE_TIMEOUT]", "(default 1000) [HELLOD_KEEPALIVE_REQUESTS]", "(default 10s) [HELLOD_HEADER_TIMEOUT]", "(0: never) [HELLOD_IDLE_EXIT]",
		"(default :8000) [HELLOD_LISTEN]", "(default info) [HELLOD_LOG_LEVEL]", "(default 512) [HELLOD_MAX_CHILDREN]",
		`(default "Hello, World!\n") [HELLOD_MESSAGE]`, "(default 10s) [HELLOD_SHUTDOWN_TIMEOUT]", "print the version and exit\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("want %q in the help text, got:\n%s", want, b.String())
		}
	}
}
