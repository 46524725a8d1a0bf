package main

// Integration tests: they run the real daemon, with real exec children, as
// a copy of this test binary (TestMain turns it into hellod), self-bound and
// socket-activated.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/execchild"
	"github.com/hellod/hellod/internal/respond"
)

const daemonEnv = "HELLOD_TEST_RUN_DAEMON"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == execchild.Arg {
		main() // an exec child of a daemon started below
	}
	if os.Getenv(daemonEnv) == "1" {
		main() // the daemon itself
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
		if !strings.HasPrefix(kv, "HELLOD_") && !strings.HasPrefix(kv, "LISTEN_") &&
			!strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "WATCHDOG_") {
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
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = environ(env...)
	d := startCmd(t, cmd)
	d.waitListening()
	return d
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

// wait waits for the daemon to exit and returns its exit status.
func (d *daemon) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.exited:
	case <-time.After(timeout):
		d.t.Fatalf("daemon still running after %s", timeout)
	}
	if d.err == nil {
		return 0
	}
	if ee, ok := d.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	d.t.Fatalf("wait: %v", d.err)
	return -1
}

func (d *daemon) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
}

var childPIDRE = regexp.MustCompile(`CHILD_PID=(\d+)`)

// nthChildPID waits for the n-th "child N started" debug line.
func (d *daemon) nthChildPID(n int) int {
	d.t.Helper()
	line := d.waitLogN("started for", n)
	m := childPIDRE.FindStringSubmatch(line)
	if m == nil {
		d.t.Fatalf("no CHILD_PID in %q", line)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// children lists the daemon's child processes.
func (d *daemon) children() []int {
	var pids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", d.cmd.Process.Pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, p := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(p)
			pids = append(pids, n)
		}
	}
	return pids
}

// exchange sends raw to addr and returns everything read until EOF.
func exchange(t *testing.T, addr string, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, b)
	}
	return string(b)
}

// strategies are the child strategies every behaviour test runs with.
var strategies = []string{"exec", "fork"}

// eachStrategy runs fn as a subtest per child strategy, with the --child
// flag to pass.
func eachStrategy(t *testing.T, fn func(t *testing.T, child string)) {
	for _, s := range strategies {
		t.Run(s, func(t *testing.T) { fn(t, "--child="+s) })
	}
}

func statusLine(resp string) string {
	line, _, _ := strings.Cut(resp, "\r\n")
	return line
}

func TestEveryStatusCode(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, nil, strategy, "--header-timeout", "500ms")
		long := strings.Repeat("a", 9000)
		for _, c := range []struct {
			name, req, status string
		}{
			{"get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"},
			{"get any target", "GET /any/where?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"},
			{"head", "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"},
			{"http/1.0", "GET / HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK"},
			{"post", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 405 Method Not Allowed"},
			{"malformed", "HELLO\r\n\r\n", "HTTP/1.1 400 Bad Request"},
			{"no host", "GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"},
			{"bad header", "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", "HTTP/1.1 400 Bad Request"},
			{"long target", "GET /" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 414 Request URI Too Long"},
			{"big headers", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + long + "\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large"},
			{"http/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
			{"http/3", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
			{"slow", "GET / HTTP/1.1\r\nHost: x\r\n", "HTTP/1.1 408 Request Timeout"},
		} {
			t.Run(c.name, func(t *testing.T) {
				resp := exchange(t, d.addr, c.req)
				if got := statusLine(resp); got != c.status {
					t.Fatalf("want %q, got %q", c.status, resp)
				}
				head, body, ok := strings.Cut(resp, "\r\n\r\n")
				if !ok {
					t.Fatalf("want a header section ending in CRLF CRLF, got %q", resp)
				}
				for _, h := range []string{"\r\nDate: ", "\r\nContent-Type: text/plain; charset=utf-8", "\r\nConnection: close"} {
					if !strings.Contains(head, h) {
						t.Errorf("want %q in %q", h, head)
					}
				}
				wantBody := "Hello, World!\n"
				if !strings.HasPrefix(c.status, "HTTP/1.1 200") {
					wantBody = strings.TrimPrefix(c.status, "HTTP/1.1 ") + "\n"
				}
				if !strings.Contains(head, "\r\nContent-Length: "+strconv.Itoa(len(wantBody))) {
					t.Errorf("want Content-Length %d in %q", len(wantBody), head)
				}
				if c.name == "head" {
					wantBody = ""
				}
				if body != wantBody {
					t.Errorf("want body %q, got %q", wantBody, body)
				}
			})
		}
		d.waitLog("-> 408 in")
		for _, want := range []string{"GET -> 200", "HEAD -> 200", "-> 405", "-> 400", "-> 414", "-> 431", "-> 505"} {
			if !strings.Contains(d.logText(), want) {
				t.Errorf("want %q in the log", want)
			}
		}
	})
}

func TestMessageAndRealClients(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, []string{"HELLOD_MESSAGE=Bonjour\n"}, strategy)
		// Go's client.
		for _, method := range []string{"GET", "HEAD"} {
			req, _ := http.NewRequest(method, "http://"+d.addr+"/x", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", method, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			want := "Bonjour\n"
			if method == "HEAD" {
				want = ""
			}
			if resp.StatusCode != 200 || string(body) != want || resp.ContentLength != 8 {
				t.Errorf("%s: want 200 %q (length 8), got %d %q (%d)", method, want, resp.StatusCode, body, resp.ContentLength)
			}
		}
		// curl and Python's http.client, when present (CI installs them).
		for _, c := range []struct {
			name string
			args []string
		}{
			{"curl", []string{"-sS", "--fail", "--max-time", "20", "http://" + d.addr + "/"}},
			{"python3", []string{"-c", `import http.client,sys; c=http.client.HTTPConnection(sys.argv[1],timeout=20); c.request("GET","/"); r=c.getresponse(); sys.stdout.write(str(r.status)+" "+r.read().decode())`, d.addr}},
		} {
			if _, err := exec.LookPath(c.name); err != nil {
				t.Logf("%s not installed: skipped", c.name)
				continue
			}
			out, err := exec.Command(c.name, c.args...).CombinedOutput()
			want := "Bonjour\n"
			if c.name == "python3" {
				want = "200 Bonjour\n"
			}
			if err != nil || string(out) != want {
				t.Errorf("%s: want %q, got %q (%v)", c.name, want, out, err)
			}
		}
	})
}

// fdTargets lists a process's open descriptors and what they point to.
func fdTargets(pid int) (map[int]string, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	m := map[int]string{}
	for _, e := range ents {
		n, _ := strconv.Atoi(e.Name())
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		m[n] = target
	}
	return m, nil
}

func TestChildHoldsOnlyItsConnection(t *testing.T) {
	// What a settled child holds: an exec child stdin and stdout on
	// /dev/null, stderr and its connection; a fork child closes everything
	// but stderr and its connection.
	for _, c := range []struct {
		strategy string
		want     string
	}{
		{"exec", "[0 1 2 3]"},
		{"fork", "[2 3]"},
	} {
		t.Run(c.strategy, func(t *testing.T) {
			d := start(t, []string{"NOTIFY_SOCKET=/nonexistent/notify", "WATCHDOG_USEC=60000000"},
				"--child="+c.strategy, "--log-level", "debug")
			conn, err := net.Dial("tcp", d.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			pid := d.nthChildPID(1)
			var fds map[int]string
			var keys []int
			deadline := time.Now().Add(20 * time.Second)
			for {
				cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				fds, err = fdTargets(pid)
				if err != nil {
					t.Fatalf("child %d: %v", pid, err)
				}
				keys = keys[:0]
				for k := range fds {
					keys = append(keys, k)
				}
				sort.Ints(keys)
				execd := bytes.Contains(cmdline, []byte("\x00"+execchild.Arg+"\x00"))
				if fmt.Sprint(keys) == c.want && (c.strategy != "exec" || execd) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("want child %d to settle holding fds %s, got %v (cmdline %q)", pid, c.want, fds, cmdline)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if !strings.HasPrefix(fds[respond.ConnFD], "socket:[") {
				t.Errorf("want fd %d to be the connection, got %v", respond.ConnFD, fds)
			}
			if c.strategy == "exec" && (fds[0] != "/dev/null" || fds[1] != "/dev/null") {
				t.Errorf("want 0,1 -> /dev/null, got %v", fds)
			}
			parent, _ := fdTargets(d.cmd.Process.Pid)
			if fds[2] != parent[2] {
				t.Errorf("want the child's stderr to be the parent's (%s), got %s", parent[2], fds[2])
			}
			for fd, target := range parent {
				if target == fds[respond.ConnFD] {
					t.Errorf("child's fd 3 (%s) is also the parent's fd %d: want the parent to have closed it", target, fd)
				}
			}
			if c.strategy == "exec" {
				env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range bytes.Split(env, []byte{0}) {
					for _, bad := range []string{"LISTEN_", "NOTIFY_SOCKET=", "WATCHDOG_"} {
						if bytes.HasPrefix(v, []byte(bad)) {
							t.Errorf("child environment has %q", v)
						}
					}
				}
			}
			io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			b, _ := io.ReadAll(conn)
			if statusLine(string(b)) != "HTTP/1.1 200 OK" {
				t.Errorf("want a 200, got %q", b)
			}
		})
	}
}

func TestNoZombiesAfter1000Connections(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		n := 1000
		if testing.Short() {
			n = 200
		}
		d := start(t, nil, strategy)
		const workers = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		bad := map[string]int{}
		next := make(chan int)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range next {
					got := statusLine(exchange(t, d.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
					if got != "HTTP/1.1 200 OK" {
						mu.Lock()
						bad[got]++
						mu.Unlock()
					}
				}
			}()
		}
		for i := 0; i < n; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		if len(bad) != 0 {
			t.Errorf("want %d x 200, got these others: %v", n, bad)
		}
		d.waitLogN("GET -> 200", n)
		// Every child has been reaped: the daemon has no child left, zombie or not.
		deadline := time.Now().Add(20 * time.Second)
		for len(d.children()) != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("want no children after %d connections, got %v", n, d.children())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := strings.Count(d.logText(), "EXIT_STATUS=0"); got != n {
			t.Errorf("want %d exits logged, got %d", n, got)
		}
	})
}

func TestMaxChildrenBackpressure(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, nil, strategy, "--max-children", "2", "--evict-after", "0", "--header-timeout", "20s", "--child-timeout", "30s")
		idle1, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer idle1.Close()
		idle2, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer idle2.Close()
		d.waitLog("not accepting until one exits")
		// A third client connects (the kernel queues it) and sends its request.
		var queued []net.Conn
		for i := 0; i < 3; i++ {
			c, err := net.Dial("tcp", d.addr)
			if err != nil {
				t.Fatalf("want the connection queued, not refused: %v", err)
			}
			defer c.Close()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			queued = append(queued, c)
		}
		if n := len(d.children()); n > 2 {
			t.Errorf("want at most 2 children at the cap, got %d", n)
		}
		// Finishing one idle client frees a slot; the third is served.
		io.WriteString(idle1, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		io.ReadAll(idle1)
		for i, c := range queued {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			b, err := io.ReadAll(c)
			if err != nil || statusLine(string(b)) != "HTTP/1.1 200 OK" {
				t.Fatalf("want queued client %d served once a slot freed, got %q, %v", i, b, err)
			}
		}
		// Three connections waited in one episode: it was logged once.
		first, _, _ := strings.Cut(d.logText(), "below --max-children again")
		if n := strings.Count(first, "not accepting until one exits"); n != 1 {
			t.Errorf("want the cap logged once for the episode, got %d", n)
		}
	})
}

func TestChildTimeoutKillsStoppedChild(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, nil, strategy, "--log-level", "debug", "--header-timeout", "300ms", "--child-timeout", "600ms")
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pid := d.nthChildPID(1)
		// A stopped child cannot honour its own deadline: the parent kills it.
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		exit := d.waitLog(fmt.Sprintf("child %d for %s killed by signal SIGKILL (sent by hellod: child timeout)", pid, c.LocalAddr()))
		if !strings.Contains(exit, "EXIT_STATUS=137") || !strings.Contains(exit, `REASON="child timeout"`) {
			t.Errorf("want EXIT_STATUS=137 and the reason, got %q", exit)
		}
		// The daemon goes on.
		if got := statusLine(exchange(t, d.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")); got != "HTTP/1.1 200 OK" {
			t.Errorf("want a 200 after the kill, got %q", got)
		}
	})
}

func TestSIGTERMDrainsRunningChildren(t *testing.T) {
	eachStrategy(t, func(t *testing.T, strategy string) {
		d := start(t, nil, strategy, "--log-level", "debug")
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		d.nthChildPID(1)
		d.signal(syscall.SIGTERM)
		d.waitLog("SIGTERM: stopping")
		// The running child still answers.
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		b, _ := io.ReadAll(c)
		if statusLine(string(b)) != "HTTP/1.1 200 OK" {
			t.Errorf("want the in-flight request served during the drain, got %q", b)
		}
		if code := d.wait(30 * time.Second); code != 0 {
			t.Errorf("want exit status 0, got %d", code)
		}
	})
}

func TestShutdownTimeoutAndSecondSignal(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		d := start(t, nil, "--log-level", "debug", "--shutdown-timeout", "200ms")
		c, _ := net.Dial("tcp", d.addr)
		defer c.Close()
		d.nthChildPID(1)
		d.signal(syscall.SIGINT)
		if code := d.wait(30 * time.Second); code != 0 {
			t.Errorf("want exit status 0, got %d", code)
		}
		if !strings.Contains(d.logText(), "killed by signal SIGKILL (sent by hellod: shutdown timeout)") {
			t.Errorf("want the straggler killed at the shutdown timeout")
		}
	})
	t.Run("second signal", func(t *testing.T) {
		d := start(t, nil, "--log-level", "debug", "--shutdown-timeout", "1m")
		c, _ := net.Dial("tcp", d.addr)
		defer c.Close()
		pid := d.nthChildPID(1)
		d.signal(syscall.SIGTERM)
		d.waitLog("SIGTERM: stopping")
		d.signal(syscall.SIGTERM)
		if code := d.wait(30 * time.Second); code != 1 {
			t.Errorf("want exit status 1 after a second signal, got %d", code)
		}
		// Its child was killed, not left behind.
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil || bytes.Contains(st, []byte(") Z ")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("child %d still running after the daemon exited", pid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// notifySocket creates a unixgram socket to stand in for systemd's.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "hellod-notify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}

func TestNotifyAndIdleExit(t *testing.T) {
	path, msgs := notifySocket(t)
	d := start(t, []string{"NOTIFY_SOCKET=" + path, "WATCHDOG_USEC=200000"}, "--idle-exit", "1500ms")
	if got := statusLine(exchange(t, d.addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")); got != "HTTP/1.1 200 OK" {
		t.Fatalf("want a 200, got %q", got)
	}
	if code := d.wait(30 * time.Second); code != 0 {
		t.Fatalf("want exit status 0 after --idle-exit, got %d", code)
	}
	var all []string
	timeout := time.After(5 * time.Second)
collect:
	for {
		select {
		case m := <-msgs:
			all = append(all, m)
			if strings.HasPrefix(m, "STOPPING=1") {
				break collect
			}
		case <-timeout:
			break collect
		}
	}
	joined := strings.Join(all, "\n")
	if len(all) == 0 || !strings.HasPrefix(all[0], "READY=1\nSTATUS=") {
		t.Errorf("want READY=1 with a status first, got %q", all)
	}
	if !strings.Contains(joined, "STATUS=0 active children, 1 connections served, 0 children killed") {
		t.Errorf("want a status line counting the served connection, got %q", all)
	}
	if !strings.Contains(joined, "WATCHDOG=1") {
		t.Errorf("want watchdog keep-alives, got %q", all)
	}
	if !strings.HasPrefix(all[len(all)-1], "STOPPING=1") {
		t.Errorf("want STOPPING=1 last, got %q", all)
	}
	if !strings.Contains(d.logText(), "(--idle-exit): exiting") {
		t.Errorf("want the idle exit logged")
	}
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
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, os.Args[0]}, args...)...)
	cmd.Env = environ("LISTEN_FDS="+strconv.Itoa(len(files)), "LISTEN_FDNAMES="+names)
	cmd.ExtraFiles = files
	return startCmd(t, cmd)
}

func TestSocketActivationEveryListener(t *testing.T) {
	tcp4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp4.Close()
	sock := filepath.Join(t.TempDir(), "hellod.sock")
	ux, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ux.Close()
	f4, _ := tcp4.(*net.TCPListener).File()
	fu, _ := ux.(*net.UnixListener).File()
	files := []*os.File{f4, fu}
	names := "web:local"
	tcp6, err := net.Listen("tcp6", "[::1]:0")
	if err == nil {
		defer tcp6.Close()
		f6, _ := tcp6.(*net.TCPListener).File()
		files = append(files, f6)
		names += ":web6"
	} else {
		t.Logf("no IPv6 loopback here (%v): IPv6 not covered", err)
	}
	d := activate(t, files, names, "")
	line := d.waitLog("listening on ")
	if !strings.Contains(line, "socket-activated") || !strings.Contains(line, "web ("+tcp4.Addr().String()+")") ||
		!strings.Contains(line, "local (unix:"+sock+")") {
		t.Errorf("want the first line to say socket-activated and name every socket, got %q", line)
	}
	for _, f := range files {
		f.Close()
	}
	if got := statusLine(exchange(t, tcp4.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")); got != "HTTP/1.1 200 OK" {
		t.Errorf("tcp4: want a 200, got %q", got)
	}
	if tcp6 != nil {
		if got := statusLine(exchange(t, tcp6.Addr().String(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")); got != "HTTP/1.1 200 OK" {
			t.Errorf("tcp6: want a 200, got %q", got)
		}
	}
	uc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	io.WriteString(uc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	b, _ := io.ReadAll(uc)
	if statusLine(string(b)) != "HTTP/1.1 200 OK" {
		t.Errorf("unix: want a 200, got %q", b)
	}
	// After the daemon exits, the passed sockets still listen (they are
	// systemd's): a connection made now waits for the next start.
	d.signal(syscall.SIGTERM)
	if code := d.wait(30 * time.Second); code != 0 {
		t.Errorf("want exit status 0, got %d", code)
	}
	late, err := net.Dial("tcp", tcp4.Addr().String())
	if err != nil {
		t.Fatalf("want the socket still listening after the daemon exited: %v", err)
	}
	late.Close()
}

func TestBadActivation(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	fudp, _ := udp.(*net.UDPConn).File()
	regular, err := os.Create(filepath.Join(t.TempDir(), "file"))
	if err != nil {
		t.Fatal(err)
	}
	tcp, _ := net.Listen("tcp", "127.0.0.1:0")
	defer tcp.Close()
	ftcp, _ := tcp.(*net.TCPListener).File()
	for _, c := range []struct {
		name  string
		files []*os.File
		names string
		pid   string
		want  string
	}{
		{"udp", []*os.File{fudp}, "dgram", "", "passed fd 3 (dgram): not a stream socket (AF_INET SOCK_DGRAM)"},
		{"regular file", []*os.File{regular}, "", "", "passed fd 3 (LISTEN_FD_3): not a socket"},
		{"second of two", []*os.File{ftcp, regular}, "ok:bad", "", "passed fd 4 (bad): not a socket"},
		{"other pid", []*os.File{ftcp}, "", "1", "LISTEN_PID=1 is not this process"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := activate(t, c.files, c.names, c.pid)
			if code := d.wait(30 * time.Second); code != 1 {
				t.Errorf("want exit status 1, got %d", code)
			}
			log := strings.TrimSpace(d.logText())
			if !strings.Contains(log, c.want) || strings.Count(log, "\n") != 0 {
				t.Errorf("want one error line containing %q, got %q", c.want, log)
			}
			if strings.Contains(log, "panic") || strings.Contains(log, "goroutine ") {
				t.Errorf("want no panic, got %q", log)
			}
		})
	}
}

func TestSystemdSocketActivate(t *testing.T) {
	ssa, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (Debian package systemd)")
	}
	// Find a free port; systemd-socket-activate binds it itself.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(ssa, "-l", addr, "--fdname=hellod", "-E", daemonEnv+"=1", os.Args[0])
	cmd.Env = environ()
	d := startCmd(t, cmd)
	// Nothing runs until the first connection arrives.
	deadline := time.Now().Add(10 * time.Second)
	var resp string
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.SetDeadline(time.Now().Add(30 * time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			b, _ := io.ReadAll(c)
			c.Close()
			resp = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate never listened on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if statusLine(resp) != "HTTP/1.1 200 OK" || !strings.HasSuffix(resp, "Hello, World!\n") {
		t.Errorf("want 200 Hello, World!, got %q", resp)
	}
	line := d.waitLog("listening on ")
	if !strings.Contains(line, "socket-activated") || !strings.Contains(line, "hellod ("+addr+")") {
		t.Errorf("want socket-activated on hellod (%s), got %q", addr, line)
	}
	d.waitLog("GET -> 200")
	d.signal(syscall.SIGTERM)
	d.wait(30 * time.Second)
}

func TestCommandLine(t *testing.T) {
	used, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer used.Close()
	for _, c := range []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout string // substring
		stderr string // substring of the one stderr line
	}{
		{"help", []string{"--help"}, nil, 0, "Usage: hellod [flags]", ""},
		{"version", []string{"--version"}, nil, 0, "hellod ", ""},
		{"bad flag", []string{"--nope"}, nil, 2, "", "hellod: flag provided but not defined: -nope"},
		{"bad value", []string{"--max-children", "lots"}, nil, 2, "", `invalid value "lots" for flag -max-children`},
		{"bad env", nil, []string{"HELLOD_CHILD_TIMEOUT=forever"}, 2, "", `invalid value "forever" for HELLOD_CHILD_TIMEOUT`},
		{"argument", []string{"serve"}, nil, 2, "", `unexpected argument "serve"`},
		{"port in use", []string{"--listen", used.Addr().String()}, nil, 1, "", "address already in use"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], c.args...)
			cmd.Env = environ(c.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != c.code {
				t.Errorf("want exit status %d, got %d (stderr %q)", c.code, code, stderr.String())
			}
			if !strings.Contains(stdout.String(), c.stdout) {
				t.Errorf("want %q on stdout, got %q", c.stdout, stdout.String())
			}
			if c.stderr != "" {
				lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
				if !strings.Contains(stderr.String(), c.stderr) {
					t.Errorf("want %q on stderr, got %q", c.stderr, stderr.String())
				}
				if c.code == 2 && len(lines) != 1 {
					t.Errorf("want a one-line usage error, got %q", stderr.String())
				}
				if strings.Contains(stderr.String(), "goroutine ") {
					t.Errorf("want no stack trace, got %q", stderr.String())
				}
			}
		})
	}
}
