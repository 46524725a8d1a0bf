package main

// The children's seccomp sandbox (internal/sandbox), in the daemon.

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/procfs"
	"github.com/hellod/hellod/internal/sandbox"
)

// requireSandbox skips a test where the kernel cannot sandbox children.
func requireSandbox(t *testing.T) {
	t.Helper()
	if err := sandbox.Supported(); err != nil {
		t.Skipf("no seccomp sandbox here: %v", err)
	}
}

// waitStatus polls /proc/PID/status until key reads want (a child installs
// its filter just after it starts) and fails with the last value after 10 s.
func waitStatus(t *testing.T, pid int, key string, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := procfs.StatusField(pid, key)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d: want %s: %d in /proc/%d/status within 10s, got %d (%v)", pid, key, want, pid, got, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChildrenAreSandboxed holds a child open with a client that has not
// sent its request and reads its /proc/PID/status: Seccomp: 2 (filter
// mode) and NoNewPrivs: 1 by default, 0 and 0 with --sandbox=none; the
// child then serves a request on the persistent connection and reads the
// same after it.
func TestChildrenAreSandboxed(t *testing.T) {
	requireSandbox(t)
	eachStrategy(t, func(t *testing.T, child string) {
		for _, c := range []struct {
			flag string
			want int64
		}{{"--sandbox=seccomp", 2}, {"--sandbox=none", 0}} {
			d := start(t, nil, child, c.flag, "--keepalive-timeout=10s", "--log-level=debug")
			conn, err := net.Dial("tcp", d.addr)
			if err != nil {
				t.Fatal(err)
			}
			pid := d.nthChildPID(1)
			waitStatus(t, pid, "Seccomp", c.want)
			waitStatus(t, pid, "NoNewPrivs", c.want/2)
			conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("%s: want a response, got %v", c.flag, err)
			}
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "Hello, World!\n" || err != nil {
				t.Errorf("%s: want 200 %q, got %d %q, %v", c.flag, "Hello, World!\n", resp.StatusCode, body, err)
			}
			waitStatus(t, pid, "Seccomp", c.want) // still, after serving
			waitStatus(t, pid, "NoNewPrivs", c.want/2)
			conn.Close()
			if line := d.exitLine(conn); !strings.Contains(line, " served ") || !strings.Contains(line, "REQUESTS=1 ") {
				t.Errorf("%s: want one request served, got %q", c.flag, line)
			}
		}
	})
}

// TestForbiddenCallKillsChild runs a test build of the daemon (-tags
// hellod_sandboxtest) whose children attempt openat(2) right after they
// installed their filter: each is killed by SIGSYS before it reads its
// request, the client gets no response, and the exit line says so with the
// child's PID.
func TestForbiddenCallKillsChild(t *testing.T) {
	requireSandbox(t)
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	bin := filepath.Join(t.TempDir(), "hellod")
	build := exec.Command(gotool, "build", "-tags", "hellod_sandboxtest", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags hellod_sandboxtest: %v\n%s", err, out)
	}
	lineRE := regexp.MustCompile(`msg="child (\d+) for [^ ]+ killed by signal SIGSYS \(seccomp: forbidden system call\) after [0-9.]+ ms \(exit status 159\)".* CHILD_PID=(\d+) `)
	eachStrategy(t, func(t *testing.T, child string) {
		cmd := exec.Command(bin, "--listen=127.0.0.1:0", child, "--log-level=debug")
		cmd.Env = environ()
		d := startCmd(t, cmd)
		d.waitListening()
		conn, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		pid := d.nthChildPID(1)
		conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if b, err := bufio.NewReader(conn).ReadString('\n'); b != "" {
			t.Errorf("want no response from a child killed by its filter, got %q, %v", b, err)
		}
		line := d.exitLine(conn)
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("want the exit line of a child killed by SIGSYS, matching %s, got %q", lineRE, line)
		}
		if m[1] != m[2] || m[1] != strconv.Itoa(pid) {
			t.Errorf("want the exit line of child %d, got PIDs %s and %s in %q", pid, m[1], m[2], line)
		}
		t.Logf("%s", line)
		if !strings.Contains(line, "level=WARN") {
			t.Errorf("want a warning, got %q", line)
		}
	})
}
