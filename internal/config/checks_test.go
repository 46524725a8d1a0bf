package config

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// clearHellodEnv unsets every HELLOD_* variable for the test (restored
// after it).
func clearHellodEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, EnvPrefix) {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

func TestUnknownEnv(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want []string // the variables warned about, and the nearest of each
	}{
		{"none", nil, nil},
		{"valid", map[string]string{"HELLOD_MAX_CHILDREN": "3", "HELLOD_CHILD": "exec"}, nil},
		{"missing letter", map[string]string{"HELLOD_MAX_CHILDRN": "3"}, []string{"HELLOD_MAX_CHILDRN", "HELLOD_MAX_CHILDREN"}},
		{"swapped letters", map[string]string{"HELLOD_MAX_CHILDERN": "3"}, []string{"HELLOD_MAX_CHILDERN", "HELLOD_MAX_CHILDREN"}},
		{"extra underscore", map[string]string{"HELLOD_KEEP_ALIVE_TIMEOUT": "1s"}, []string{"HELLOD_KEEP_ALIVE_TIMEOUT", "HELLOD_KEEPALIVE_TIMEOUT"}},
		{"no underscore", map[string]string{"HELLOD_LOGLEVEL": "debug"}, []string{"HELLOD_LOGLEVEL", "HELLOD_LOG_LEVEL"}},
		{"suffix", map[string]string{"HELLOD_LISTEN_ADDR": ":1"}, []string{"HELLOD_LISTEN_ADDR", "HELLOD_LISTEN"}},
		{"other prefix", map[string]string{"HELLODX_LISTEN": ":1", "hellod_listen": ":1"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			clearHellodEnv(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			got := UnknownEnv(os.Environ())
			if len(c.want) == 0 {
				if len(got) != 0 {
					t.Errorf("want no warning, got %q", got)
				}
				return
			}
			want := "unknown variable " + c.want[0] + " ignored (the nearest hellod reads is " + c.want[1] + "; see hellod --help)"
			if len(got) != 1 || got[0] != want {
				t.Errorf("want [%q], got %q", want, got)
			}
		})
	}
}

func TestUnknownEnvOneLineEach(t *testing.T) {
	got := UnknownEnv([]string{"HELLOD_A=1", "PATH=/bin", "HELLOD_MESAGE=x", "HELLOD_LISTEN=:1", "HELLOD_B"})
	if len(got) != 3 || !strings.Contains(got[0], "HELLOD_A ") || !strings.Contains(got[1], "HELLOD_MESAGE ignored (the nearest hellod reads is HELLOD_MESSAGE;") ||
		!strings.Contains(got[2], "HELLOD_B ") {
		t.Errorf("want 3 lines, for HELLOD_A, HELLOD_MESAGE (nearest HELLOD_MESSAGE) and HELLOD_B, got %q", got)
	}
	for _, w := range got {
		if strings.Contains(w, "\n") {
			t.Errorf("want one line, got %q", w)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	for _, c := range []struct {
		addr, want string // want: "" for accepted, else part of the error
	}{
		{":8000", ""}, {":0", ""}, {"127.0.0.1:80", ""}, {"0.0.0.0:65535", ""}, {"[::1]:80", ""}, {"[::]:8000", ""},
		{"[fe80::1%lo]:80", ""}, {"[::ffff:127.0.0.1]:80", ""}, {"localhost:80", ""}, {"www.example.org.:80", ""},
		{"a-b.c9:1", ""}, {"unix:/run/hellod.sock", ""}, {"unix:@hellod", ""},
		{"256.1.1.1:80", `host "256.1.1.1": not an IPv4 address`},
		{"1.2.3:80", `host "1.2.3": not an IPv4 address`},
		{"1.2.3.4.5:80", `host "1.2.3.4.5": not an IPv4 address`},
		{"010.0.0.1:80", `host "010.0.0.1": not an IPv4 address`},
		{"127.1:80", `host "127.1": not an IPv4 address`},
		{"0x7f.1:80", `host "0x7f.1": want an IP address or a host name (its last label is a number`},
		{"host.0x7f:80", `its last label is a number`},
		{"[127.0.0.1]:80", `host "127.0.0.1": want an IPv6 address between the brackets`},
		{"[::g]:80", `host "::g": want an IPv6 address`},
		{"::1:80", "want HOST:PORT"},
		{"8000", "want HOST:PORT (HOST an IPv4 address or a host name), [IPV6]:PORT, :PORT (every address), unix:/PATH or unix:@NAME (abstract)"},
		{"bad_name:80", `letters, digits, hyphens and dots only, got '_'`},
		{"-lead.example:80", "no label starting or ending with a hyphen"},
		{"a..b:80", "each dot-separated label 1 to 63 bytes"},
		{strings.Repeat("a", 64) + ":80", "each dot-separated label 1 to 63 bytes"},
		{strings.Repeat("a.", 127) + "ab:80", "at most 253 bytes"},
		{"127.0.0.1:+80", `port "+80": want a number from 0 to 65535`},
		{"127.0.0.1:65536", `port "65536"`},
		{"127.0.0.1:000080", `port "000080"`},
		{"127.0.0.1:", `port "": want a number`},
		{"unix:", "want unix:/absolute/path or unix:@abstract"},
		{"unix:rel.sock", "want unix:/absolute/path or unix:@abstract"},
		{"unix:@", "want unix:@NAME, a name after the @"},
		{"unix:/" + strings.Repeat("x", 107), "want a unix socket path of at most 107 bytes, got 108"},
		{"unix:/a\x00b", "cannot hold a NUL byte"},
	} {
		err := checkAddr(c.addr)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: want accepted, got %v", c.addr, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: want an error containing %q, got %v", c.addr, c.want, err)
		}
	}
}

// A bad address is a usage error of Parse, from the command line or the
// environment.
func TestParseAddrUsageError(t *testing.T) {
	_, err := Parse([]string{"--listen", "256.1.1.1:80"}, lookupIn(nil))
	if _, ok := err.(*UsageError); !ok || err.Error() != `--listen "256.1.1.1:80": host "256.1.1.1": not an IPv4 address (four numbers from 0 to 255, no leading zeros)` {
		t.Errorf("want a *UsageError for 256.1.1.1:80, got %T %v", err, err)
	}
	_, err = Parse(nil, lookupIn(map[string]string{"HELLOD_LISTEN": "[1.2.3.4]:80"}))
	if _, ok := err.(*UsageError); !ok || !strings.Contains(err.Error(), "want an IPv6 address between the brackets") {
		t.Errorf("want a *UsageError for HELLOD_LISTEN=[1.2.3.4]:80, got %T %v", err, err)
	}
}

var oneDash = regexp.MustCompile(`(^|[\s(])-[a-z]`)

func TestFlagErrorsTwoDashes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-children", "x"}, `invalid value "x" for --max-children: want an integer from 1 to 1048576`},
		{[]string{"-max-children=0"}, `invalid value "0" for --max-children: want an integer from 1 to 1048576`},
		{[]string{"--message", "\xff\" for flag -x: "}, `invalid value "\xff\" for flag -x: " for --message: want valid UTF-8`},
		{[]string{"--version=maybe"}, `invalid value "maybe" for --version: parse error`},
		{[]string{"--listen"}, "--listen needs a value"},
		{[]string{"--max-child", "3"}, "unknown flag --max-child (did you mean --max-children?)"},
		{[]string{"-keepalive-timout=1s"}, "unknown flag --keepalive-timout (did you mean --keepalive-timeout?)"},
		{[]string{"--frobnicate"}, "unknown flag --frobnicate"},
		{[]string{"---listen=:1"}, "bad flag syntax: ---listen=:1"},
	} {
		_, err := Parse(c.args, lookupIn(nil))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: want an error starting %q, got %v", c.args, c.want, err)
			continue
		}
		text := err.Error() // without the values quoted in it
		for _, a := range c.args {
			text = strings.ReplaceAll(text, strconv.Quote(a), `"..."`)
		}
		if m := oneDash.FindString(text); m != "" && c.args[0] != "---listen=:1" {
			t.Errorf("%q: want every flag with two dashes, got %q in %q", c.args, m, err)
		}
		if c.want == "unknown flag --frobnicate" && strings.Contains(err.Error(), "did you mean") {
			t.Errorf("--frobnicate: want no suggestion (nothing near), got %q", err)
		}
	}
}

func TestUsageTwoDashesEveryAddrForm(t *testing.T) {
	var b bytes.Buffer
	Usage(&b)
	help := b.String()
	for _, form := range []string{"HOST:PORT", "[IPV6]:PORT", ":PORT", "unix:/PATH", "unix:@NAME"} {
		if !strings.Contains(help, form) {
			t.Errorf("want --help to name the address form %s, got:\n%s", form, help)
		}
	}
	for _, line := range strings.Split(help, "\n") {
		if m := oneDash.FindString(line); m != "" {
			t.Errorf("want flags with two dashes in --help, got %q in %q", m, line)
		}
	}
}
