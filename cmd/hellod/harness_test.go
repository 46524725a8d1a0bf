package main

// Integration tests: they run the real daemon, with real children, as a
// copy of this test binary (TestMain turns it into hellod), self-bound and
// socket-activated. The harness shared by every suite: this file starts a
// daemon and reads its log and exit status; harness_proc_test.go watches
// its children and /proc entries; harness_strategy_test.go picks the child
// strategies; clients_test.go holds the clients.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/execchild"
)

const daemonEnv = "HELLOD_TEST_RUN_DAEMON"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == execchild.Arg {
		main() // an exec child of a daemon started below
	}
	if os.Getenv(daemonEnv) == "1" {
		os.Unsetenv(daemonEnv) // not a setting: hellod would warn of it
		main()                 // the daemon itself
	}
	os.Exit(m.Run())
}

// daemon is a running hellod.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string // first listener's address
	mu     sync.Mutex
	log    bytes.Buffer
	lines  chan struct{}
	exited chan struct{}
	err    error
	usr1   int // SIGUSR1 stats lines asked for
}

// environ returns this process's environment without hellod's variables.
func environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		// GOCOVERDIR (go test -cover): a daemon and each of its exec
		// children would write coverage files at exit, thousands of them
		// in the reliability suite, which makes exec children linger past
		// the tests' bounds; the report covers the test process only.
		if !strings.HasPrefix(kv, "HELLOD_") && !strings.HasPrefix(kv, "LISTEN_") &&
			!strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "WATCHDOG_") &&
			!strings.HasPrefix(kv, "GOCOVERDIR=") {
			env = append(env, kv)
		}
	}
	return append(append(env, daemonEnv+"=1"), extra...)
}

// startCmd runs cmd as a daemon and collects its stderr.
func startCmd(t *testing.T, cmd *exec.Cmd) *daemon {
	t.Helper()
	d := &daemon{t: t, cmd: cmd, lines: make(chan struct{}, 1), exited: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if sc.Text() == coverWarning {
				continue
			}
			d.mu.Lock()
			d.log.Write(sc.Bytes())
			d.log.WriteByte('\n')
			d.mu.Unlock()
			select {
			case d.lines <- struct{}{}:
			default:
			}
		}
		d.err = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.logText())
		}
	})
	return d
}

// start runs hellod with args, self-bound to 127.0.0.1:0 unless args say
// otherwise, and waits for its first log line.
func start(t *testing.T, env []string, args ...string) *daemon {
	t.Helper()
	hasListen := false
	for _, a := range args {
		hasListen = hasListen || strings.HasPrefix(a, "--listen")
	}
	if !hasListen {
		args = append([]string{"--listen", "127.0.0.1:0"}, args...)
	}
	cmd := exec.Command(os.Args[0], hellodArgs(env, args...)...)
	cmd.Env = environ(env...)
	d := startCmd(t, cmd)
	d.waitListening()
	return d
}

// activate runs the daemon with the given descriptors passed as systemd
// does: fds 3.., LISTEN_FDS, LISTEN_FDNAMES, and LISTEN_PID set to the
// daemon's own PID by a shell that then execs it.
func activate(t *testing.T, files []*os.File, names string, pid string, args ...string) *daemon {
	t.Helper()
	script := `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`
	if pid != "" {
		script = `LISTEN_PID=` + pid + `; export LISTEN_PID; exec "$0" "$@"`
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, os.Args[0]}, hellodArgs(nil, args...)...)...)
	cmd.Env = environ("LISTEN_FDS="+strconv.Itoa(len(files)), "LISTEN_FDNAMES="+names)
	cmd.ExtraFiles = files
	return startCmd(t, cmd)
}

// runToEnd runs cmd, a daemon that should exit by itself, to completion (killing
// it after 20 s) and returns its exit status, stdout and stderr.
func runToEnd(t *testing.T, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("want the daemon to exit by itself, still running after 20s: %q", stderr.String())
	}
	return exitCode(t, err), stdout.String(), strings.ReplaceAll(stderr.String(), coverWarning+"\n", "")
}

// coverWarning is what a coverage-instrumented binary (go test -cover)
// prints at exit without GOCOVERDIR, which environ leaves out: not the
// daemon's output, so the harness drops it.
const coverWarning = "warning: GOCOVERDIR not set, no coverage data emitted"

// runOnce runs the daemon to completion with env, files passed as fds 3..,
// and args, and returns its exit status, stdout and stderr.
func runOnce(t *testing.T, env []string, files []*os.File, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], hellodArgs(env, args...)...)
	cmd.Env = environ(env...)
	cmd.ExtraFiles = files
	return runToEnd(t, cmd)
}

// exitCode is the exit status in err, from Wait; other errors fail t.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("wait: %v", err)
	return -1
}

var listenRE = regexp.MustCompile(`LISTEN="?([^" ]+)`)

func (d *daemon) waitListening() {
	d.t.Helper()
	line := d.waitLog("listening on ")
	m := listenRE.FindStringSubmatch(line)
	if m == nil {
		d.t.Fatalf("no LISTEN= in %q", line)
	}
	d.addr = m[1]
	if i := strings.Index(d.addr, "("); i >= 0 { // NAME (ADDR)
		d.addr = strings.TrimSuffix(d.addr[i+1:], ")")
	}
}

func (d *daemon) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// waitLog waits for a log line containing s and returns it.
func (d *daemon) waitLog(s string) string {
	d.t.Helper()
	return d.waitLogN(s, 1)
}

// waitLogN waits until n log lines contain s, and returns the last.
func (d *daemon) waitLogN(s string, n int) string {
	d.t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	for {
		var found []string
		for _, l := range strings.Split(d.logText(), "\n") {
			if strings.Contains(l, s) {
				found = append(found, l)
			}
		}
		if len(found) >= n {
			return found[len(found)-1]
		}
		select {
		case <-d.lines:
		case <-d.exited:
			// drain what is left, then one last look
			select {
			case <-d.lines:
				continue
			default:
			}
			d.t.Fatalf("daemon exited (%v) before logging %d x %q", d.err, n, s)
		case <-deadline.C:
			d.t.Fatalf("want %d log lines with %q within 60s, got %d", n, s, len(found))
		}
	}
}

// count counts log lines containing s.
func (d *daemon) count(s string) int {
	n := 0
	for _, l := range strings.Split(d.logText(), "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// waitCount polls until n log lines contain s (cheaper than waitLogN on a
// long log).
func (d *daemon) waitCount(s string, n int, timeout time.Duration) int {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := d.count(s)
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exitLine waits for the exit line of the child serving client and returns it.
func (d *daemon) exitLine(client net.Conn) string {
	d.t.Helper()
	return d.waitLog(fmt.Sprintf("REMOTE_ADDR=%s EXIT_STATUS=", client.LocalAddr()))
}

// wait waits for the daemon to exit and returns its exit status.
func (d *daemon) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.exited:
	case <-time.After(timeout):
		d.t.Fatalf("daemon still running after %s", timeout)
	}
	return exitCode(d.t, d.err)
}

func (d *daemon) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
}
