package main

// Reliability, 6. bad configuration (see reliability_slow_test.go).

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReliabilityBadConfiguration(t *testing.T) {
	// Every flag of hellod --help with bad values, as a flag and as its
	// variable (flags and variables not covered by TestCommandLine).
	tooLong := strings.Repeat("x", 64<<10+1)
	type usageCase struct {
		name string
		args []string
		env  []string
		want string
	}
	usage := []usageCase{
		{"child flag", []string{"--child", "thread"}, nil, `invalid value "thread" for --child: want `},
		{"child empty", []string{"--child="}, nil, `invalid value "" for --child: want `},
		{"child var", nil, []string{"HELLOD_CHILD=EXEC"}, `invalid value "EXEC" for HELLOD_CHILD: want `},
		{"child-timeout zero", []string{"--child-timeout", "0"}, nil, `invalid value "0" for --child-timeout: want a positive duration`},
		{"child-timeout no unit", []string{"--child-timeout", "30"}, nil, `invalid value "30" for --child-timeout: want a duration`},
		{"child-timeout var", nil, []string{"HELLOD_CHILD_TIMEOUT=-1s"}, `invalid value "-1s" for HELLOD_CHILD_TIMEOUT: want a positive duration`},
		{"evict-after flag", []string{"--evict-after", "soon"}, nil, `invalid value "soon" for --evict-after: want a duration`},
		{"evict-after negative", []string{"--evict-after=-1ms"}, nil, `invalid value "-1ms" for --evict-after: want a positive duration`},
		{"evict-after var", nil, []string{"HELLOD_EVICT_AFTER=1d"}, `invalid value "1d" for HELLOD_EVICT_AFTER: want a duration`},
		{"header-timeout zero", []string{"--header-timeout", "0s"}, nil, `invalid value "0s" for --header-timeout: want a positive duration`},
		{"header-timeout var", nil, []string{"HELLOD_HEADER_TIMEOUT=ten"}, `invalid value "ten" for HELLOD_HEADER_TIMEOUT: want a duration`},
		{"header-timeout over child-timeout", []string{"--header-timeout", "1m", "--child-timeout", "30s"}, nil, "--header-timeout (1m0s) must not exceed --child-timeout (30s)"},
		{"header-timeout over child-timeout var", nil, []string{"HELLOD_HEADER_TIMEOUT=40s"}, "--header-timeout (40s) must not exceed --child-timeout (30s)"},
		{"header-timeout missing value", []string{"--header-timeout"}, nil, "--header-timeout needs a value"},
		{"idle-exit flag", []string{"--idle-exit=-5s"}, nil, `invalid value "-5s" for --idle-exit: want a positive duration`},
		{"idle-exit var", nil, []string{"HELLOD_IDLE_EXIT=never"}, `invalid value "never" for HELLOD_IDLE_EXIT: want a duration`},
		{"listen no port", []string{"--listen", "localhost"}, nil, `--listen "localhost": want HOST:PORT`},
		{"listen port range", []string{"--listen", "127.0.0.1:99999"}, nil, `--listen "127.0.0.1:99999": port "99999": want a number from 0 to 65535`},
		{"listen service name", []string{"--listen", "127.0.0.1:http"}, nil, `--listen "127.0.0.1:http": port "http"`},
		{"listen relative unix", []string{"--listen", "unix:hellod.sock"}, nil, `--listen "unix:hellod.sock": want unix:/absolute/path or unix:@abstract`},
		{"listen empty", []string{"--listen", ""}, nil, "--listen: want at least one address"},
		{"listen var", nil, []string{"HELLOD_LISTEN=127.0.0.1:-1"}, `--listen "127.0.0.1:-1": port "-1"`},
		{"log-level flag", []string{"--log-level", "verbose"}, nil, `invalid value "verbose" for --log-level: want debug, info, warn or error`},
		{"log-level var", nil, []string{"HELLOD_LOG_LEVEL=trace"}, `invalid value "trace" for HELLOD_LOG_LEVEL: want debug, info, warn or error`},
		{"max-children zero", []string{"--max-children", "0"}, nil, `invalid value "0" for --max-children: want an integer from 1 to 1048576`},
		{"max-children too many", []string{"--max-children", "1048577"}, nil, `invalid value "1048577" for --max-children: want an integer from 1 to 1048576`},
		{"max-children var", nil, []string{"HELLOD_MAX_CHILDREN=-1"}, `invalid value "-1" for HELLOD_MAX_CHILDREN: want an integer from 1 to 1048576`},
		{"max-children var empty", nil, []string{"HELLOD_MAX_CHILDREN="}, `invalid value "" for HELLOD_MAX_CHILDREN`},
		{"max-per-source negative", []string{"--max-per-source", "-1"}, nil, `invalid value "-1" for --max-per-source: want an integer from 0 to 1048576`},
		{"max-per-source over max-children", []string{"--max-children", "16", "--max-per-source", "17"}, nil, "--max-per-source (17) exceeds --max-children (16): it would never refuse (0 turns it off)"},
		{"max-per-source var", nil, []string{"HELLOD_MAX_PER_SOURCE=half"}, `invalid value "half" for HELLOD_MAX_PER_SOURCE: want an integer from 0 to 1048576`},
		{"per-source-netblock v4", []string{"--per-source-netblock", "33"}, nil, `invalid value "33" for --per-source-netblock: IPv4 prefix "33": want an integer from 0 to 32`},
		{"per-source-netblock var v6", nil, []string{"HELLOD_PER_SOURCE_NETBLOCK=24:/56"}, `invalid value "24:/56" for HELLOD_PER_SOURCE_NETBLOCK: IPv6 prefix "/56": want an integer from 0 to 128`},
		{"message not utf-8", []string{"--message", "\xff\xfe"}, nil, "for --message: want valid UTF-8"},
		{"message too long", []string{"--message", tooLong}, nil, "for --message: want at most 65536 bytes, got 65537"},
		{"message var not utf-8", nil, []string{"HELLOD_MESSAGE=caf\xe9"}, "for HELLOD_MESSAGE: want valid UTF-8"},
		{"message var too long", nil, []string{"HELLOD_MESSAGE=" + tooLong}, "for HELLOD_MESSAGE: want at most 65536 bytes, got 65537"},
		{"shutdown-timeout zero", []string{"--shutdown-timeout", "0"}, nil, `invalid value "0" for --shutdown-timeout: want a positive duration`},
		{"shutdown-timeout var", nil, []string{"HELLOD_SHUTDOWN_TIMEOUT=1e9"}, `invalid value "1e9" for HELLOD_SHUTDOWN_TIMEOUT: want a duration`},
		{"version value", []string{"--version=maybe"}, nil, `invalid value "maybe" for --version`},
		{"single dash unknown", []string{"-x"}, nil, "unknown flag --x"},
		{"misspelt flag", []string{"--max-child", "3"}, nil, "unknown flag --max-child (did you mean --max-children?)"},
		{"listen not IPv4", []string{"--listen", "256.1.1.1:80"}, nil, `--listen "256.1.1.1:80": host "256.1.1.1": not an IPv4 address`},
		{"listen numeric name", []string{"--listen", "127.1:80"}, nil, `--listen "127.1:80": host "127.1": not an IPv4 address`},
		{"listen v4 in brackets", []string{"--listen", "[127.0.0.1]:80"}, nil, `want an IPv6 address between the brackets`},
		{"listen abstract empty", []string{"--listen", "unix:@"}, nil, `--listen "unix:@": want unix:@NAME`},
	}
	for _, c := range usage {
		t.Run("usage/"+c.name, func(t *testing.T) {
			code, stdout, stderr := runOnce(t, c.env, nil, c.args...)
			if code != 2 {
				t.Errorf("want exit status 2, got %d (stderr %q)", code, stderr)
			}
			checkOneLine(t, stderr, "hellod: ", c.want)
			if stdout != "" {
				t.Errorf("want nothing on stdout, got %q", stdout)
			}
		})
	}

	// Runtime errors (exit status 1): a self-bound address that cannot be
	// bound, passed descriptors that are no listening stream socket, and
	// malformed LISTEN_* variables (TestBadActivation and TestCommandLine
	// cover UDP, a regular file, LISTEN_PID=1 and a port in use).
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := busy.Addr().(*net.TCPAddr).Port
	busy.Close() // free again: the daemon's own second bind conflicts
	bound, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(t.TempDir(), "dgram"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer bound.Close()
	fDgram, _ := bound.File()
	notListening, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(notListening, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	fNotListening := os.NewFile(uintptr(notListening), "bound")
	defer fNotListening.Close()
	srv, _ := net.Listen("tcp", "127.0.0.1:0")
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fConn, _ := conn.(*net.TCPConn).File()
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	defer pw.Close()
	tcp, _ := net.Listen("tcp", "127.0.0.1:0")
	defer tcp.Close()
	fTCP, _ := tcp.(*net.TCPListener).File()
	type runtimeCase struct {
		name  string
		args  []string
		env   []string
		files []*os.File
		want  string
	}
	runtime := []runtimeCase{
		{"listen same port twice", []string{"--listen", fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", port, port)}, nil, nil, "address already in use"},
		{"listen address not local", []string{"--listen", "192.0.2.1:8000"}, nil, nil, "cannot assign requested address"},
		{"listen unix no directory", []string{"--listen", "unix:/nonexistent-hellod-dir/x.sock"}, nil, nil, "no such file or directory"},
		{"listen unknown host", []string{"--listen", "no-such-host.invalid:8000"}, nil, nil, "listen on no-such-host.invalid:8000"},
		{"LISTEN_FDS not a number", nil, []string{"LISTEN_FDS=abc", "LISTEN_PID=$$"}, []*os.File{fTCP}, `LISTEN_FDS="abc": want a positive number`},
		{"LISTEN_FDS zero", nil, []string{"LISTEN_FDS=0", "LISTEN_PID=$$"}, nil, `LISTEN_FDS="0": want a positive number`},
		{"LISTEN_FDS too many", nil, []string{"LISTEN_FDS=5000", "LISTEN_PID=$$"}, nil, "LISTEN_FDS=5000: too many descriptors"},
		{"LISTEN_PID missing", nil, []string{"LISTEN_FDS=1"}, []*os.File{fTCP}, `LISTEN_PID="": want the PID`},
		{"LISTEN_PID not a number", nil, []string{"LISTEN_FDS=1", "LISTEN_PID=me"}, []*os.File{fTCP}, `LISTEN_PID="me": want the PID`},
		{"passed unix datagram", nil, []string{"LISTEN_FDS=1", "LISTEN_PID=$$"}, []*os.File{fDgram}, "passed fd 3 (LISTEN_FD_3): not a stream socket (AF_UNIX SOCK_DGRAM)"},
		{"passed bound not listening", nil, []string{"LISTEN_FDS=1", "LISTEN_PID=$$"}, []*os.File{fNotListening}, "passed fd 3 (LISTEN_FD_3): AF_INET stream socket is not listening"},
		{"passed connected socket", nil, []string{"LISTEN_FDS=1", "LISTEN_PID=$$"}, []*os.File{fConn}, "passed fd 3 (LISTEN_FD_3): AF_INET stream socket is not listening"},
		{"passed pipe", nil, []string{"LISTEN_FDS=1", "LISTEN_PID=$$"}, []*os.File{pr}, "passed fd 3 (LISTEN_FD_3): not a socket"},
		{"LISTEN_FDS more than passed", nil, []string{"LISTEN_FDS=2", "LISTEN_PID=$$"}, []*os.File{fTCP}, "passed fd 4"},
	}
	for _, c := range runtime {
		t.Run("runtime/"+c.name, func(t *testing.T) {
			var code int
			var stderr string
			if len(c.env) > 0 {
				// Through a shell, so that LISTEN_PID=$$ is the daemon's PID.
				var assign []string
				for _, kv := range c.env {
					k, v, _ := strings.Cut(kv, "=")
					if v != "$$" {
						v = "'" + v + "'"
					}
					assign = append(assign, k+"="+v+"; export "+k+";")
				}
				cmd := exec.Command("/bin/sh", append([]string{"-c", strings.Join(assign, " ") + ` exec "$0" "$@"`, os.Args[0]}, hellodArgs(c.env, c.args...)...)...)
				cmd.Env = environ()
				cmd.ExtraFiles = c.files
				code, _, stderr = runToEnd(t, cmd)
			} else {
				code, _, stderr = runOnce(t, nil, c.files, c.args...)
			}
			if code != 1 {
				t.Errorf("want exit status 1, got %d (stderr %q)", code, stderr)
			}
			checkOneLine(t, stderr, "level=ERROR", c.want)
		})
	}
}

// checkOneLine checks that stderr is one line that contains prefix and want,
// and no panic or stack trace.
func checkOneLine(t *testing.T, stderr, prefix, want string) {
	t.Helper()
	trimmed := strings.TrimRight(stderr, "\n")
	if strings.Count(trimmed, "\n") != 0 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("want one error line, got %q", stderr)
	}
	text := trimmed
	if _, msg, ok := strings.Cut(trimmed, " msg="); ok { // a log line: the message is quoted
		if u, err := strconv.Unquote(msg); err == nil {
			text = u
		}
	}
	if !strings.Contains(trimmed, prefix) || !strings.Contains(text, want) {
		t.Errorf("want a line with %q and %q, got %q", prefix, want, trimmed)
	}
	if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
		t.Errorf("want no panic or stack trace, got %q", stderr)
	}
}
