package child

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/activation"
	"github.com/hellod/hellod/internal/linux"
	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

// TestMain makes the test binary hellod's exec child when started with Arg,
// as cmd/hellod's main does: the exec strategy re-execs /proc/self/exe,
// which is this binary.
//
// The tests that start children reap them with reaper.Start (wait4(-1)),
// so nothing in this test binary may wait for a child in any other way: no
// exec.Cmd, no os.Process.Wait.
//
// Like hellod's main, it first marks every descriptor from 3 up that it
// inherited close-on-exec, so that none reaches an exec child.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == Arg {
		Main() // never returns
	}
	if err := linux.CloseOnExecFrom(3); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// harness is what hellod's parent is to a child: a blocking loopback
// listener whose accepted connections are blocking (as linux.Accept makes
// them) and the one reaper.
type harness struct {
	t    *testing.T
	lfd  int
	addr string
	r    *reaper.Reaper

	mu      sync.Mutex
	running map[int]bool // started, not reaped
	reaped  chan struct{}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, running: make(map[int]bool), reaped: make(chan struct{}, 1)}
	h.lfd, h.addr = listen(t)
	h.r = reaper.Start(func(err error) { t.Errorf("reaper: %v", err) })
	t.Cleanup(func() {
		if pids := h.wait(10 * time.Second); len(pids) > 0 {
			t.Errorf("children %v not reaped within 10s; killing them", pids)
			for _, pid := range pids {
				h.r.Signal(pid, unix.SIGKILL)
			}
			h.wait(5 * time.Second)
		}
		h.r.Stop()
	})
	return h
}

// listen opens a blocking TCP listener on 127.0.0.1:0.
func listen(t *testing.T) (int, string) {
	t.Helper()
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(lfd) })
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(lfd, 1024); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	return lfd, activation.FormatSockaddr(sa)
}

// wait waits up to d for every child started to be reaped and returns those
// that were not.
func (h *harness) wait(d time.Duration) []int {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		pids := make([]int, 0, len(h.running))
		for pid := range h.running {
			pids = append(pids, pid)
		}
		h.mu.Unlock()
		if len(pids) == 0 {
			return nil
		}
		select {
		case <-h.reaped:
		case <-deadline.C:
			return pids
		}
	}
}

// connect connects a client to lfd and accepts the server side, which is
// that client's connection as long as nobody else dials lfd meanwhile.
func connect(lfd int, addr string, d *net.Dialer) (*net.TCPConn, int, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, -1, err
	}
	fd, _, err := linux.Accept(lfd)
	if err != nil {
		c.Close()
		return nil, -1, err
	}
	return c.(*net.TCPConn), fd, nil
}

func dialAccept(t testing.TB, lfd int, addr string, d *net.Dialer) (*net.TCPConn, int) {
	t.Helper()
	c, fd, err := connect(lfd, addr, d)
	if err != nil {
		t.Fatal(err)
	}
	return c, fd
}

// start starts a child on the server side fd of a connection, closes fd as
// hellod's parent does, and returns the child's PID and its exit code to come.
func (h *harness) start(s Strategy, fd int) (int, <-chan int) {
	h.t.Helper()
	pid, err := s.Start(fd)
	linux.Close(fd)
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.running[pid] = true
	h.mu.Unlock()
	code := make(chan int, 1)
	h.r.Watch(pid, func(e reaper.Exit) {
		code <- e.Code()
		h.mu.Lock()
		delete(h.running, pid)
		h.mu.Unlock()
		select {
		case h.reaped <- struct{}{}:
		default:
		}
	})
	return pid, code
}

func waitCode(t testing.TB, code <-chan int) int {
	t.Helper()
	select {
	case c := <-code:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("child not reaped within 10s")
	}
	return -1
}

// strategies returns an exec and a fork strategy with settings s.
func strategies(t *testing.T, s Settings) []Strategy {
	t.Helper()
	skipWithoutForkChild(t)
	var out []Strategy
	for _, name := range []string{"exec", "fork"} {
		st, err := New(name, s, os.Environ())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out = append(out, st)
	}
	return out
}

func skipWithoutForkChild(t *testing.T) {
	if !forkParserNosplit {
		t.Skip("built with -tags forkfuzz: no fork child")
	}
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r\n]*\r\n`)

// withoutDate returns a response without its Date header line.
func withoutDate(b []byte) []byte { return dateLine.ReplaceAll(b, nil) }

// strategyCases are the exchanges both strategies must answer identically.
var strategyCases = []struct {
	name   string
	req    string // sent at once
	close  bool   // then half-close (end of stream)
	reset  bool   // close with RST at once instead of sending anything
	noRead bool   // never read the response
	slow   bool   // short header timeout, req is incomplete
	status string // want the status line to start so ("" for no response)
	code   response.Outcome
}{
	{name: "get", req: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", status: "HTTP/1.1 200 ", code: response.OKGet},
	{name: "head", req: "HEAD /a?b HTTP/1.1\r\nHost: x\r\n\r\n", status: "HTTP/1.1 200 ", code: response.OKHead},
	{name: "http/1.0", req: "GET / HTTP/1.0\r\n\r\n", status: "HTTP/1.1 200 ", code: response.OKGet},
	{name: "bare LF", req: "GET / HTTP/1.1\nHost: x\n\n", status: "HTTP/1.1 200 ", code: response.OKGet},
	{name: "pipelined", req: "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", status: "HTTP/1.1 200 ", code: response.OKGet},
	{name: "post with body", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", status: "HTTP/1.1 405 ", code: response.MethodNotAllowed},
	{name: "post with big body", req: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + strings.Repeat("b", 200000), status: "HTTP/1.1 405 ", code: response.MethodNotAllowed},
	{name: "chunked", req: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", status: "HTTP/1.1 405 ", code: response.MethodNotAllowed},
	{name: "missing host", req: "GET / HTTP/1.1\r\n\r\n", status: "HTTP/1.1 400 ", code: response.BadRequest},
	{name: "obs-fold", req: "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", status: "HTTP/1.1 400 ", code: response.BadRequest},
	{name: "garbage", req: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", status: "HTTP/1.1 400 ", code: response.BadRequest},
	{name: "target too long", req: "GET /" + strings.Repeat("a", MaxTarget) + " HTTP/1.1\r\nHost: x\r\n\r\n", status: "HTTP/1.1 414 ", code: response.URITooLong},
	{name: "line far too long", req: "GET /" + strings.Repeat("a", 3*MaxTarget), status: "HTTP/1.1 414 ", code: response.URITooLong},
	{name: "headers too large", req: "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n\r\n", status: "HTTP/1.1 431 ", code: response.HeaderTooLarge},
	{name: "http/2.0", req: "GET / HTTP/2.0\r\nHost: x\r\n\r\n", status: "HTTP/1.1 505 ", code: response.VersionNotSupported},
	{name: "http/2 preface", req: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", status: "HTTP/1.1 505 ", code: response.VersionNotSupported},
	{name: "partial then EOF", req: "GET / HT", close: true, status: "HTTP/1.1 400 ", code: response.BadRequest},
	{name: "headers then EOF", req: "GET / HTTP/1.1\r\nHost: x\r\n", close: true, status: "HTTP/1.1 400 ", code: response.BadRequest},
	{name: "nothing then EOF", close: true, code: response.ClientGone},
	{name: "empty lines then EOF", req: "\r\n\r\n", close: true, code: response.ClientGone},
	{name: "reset", reset: true, code: response.ClientGone},
	{name: "slow header", req: "GET / HTTP/1.1\r\nHost: x\r\n", slow: true, status: "HTTP/1.1 408 ", code: response.RequestTimeout},
	{name: "slow request line", req: "GET /", slow: true, status: "HTTP/1.1 408 ", code: response.RequestTimeout},
	{name: "never reads", req: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", noRead: true, code: response.WriteFailed},
}

// TestStrategiesAgree runs every exchange of strategyCases over loopback
// TCP against a real exec child and a real fork child: status line,
// headers (but Date) and body, and exit code must be the same.
func TestStrategiesAgree(t *testing.T) {
	h := newHarness(t)
	base := Settings{Message: "Hello, both!\n", HeaderTimeout: 2 * time.Second, ChildTimeout: 5 * time.Second}
	slow := base
	slow.HeaderTimeout = 300 * time.Millisecond
	// An exec child gets its message through the environment (at most
	// 128 KiB a string), hence a message that outgrows the small socket
	// buffers below without being huge.
	big := base
	big.Message = strings.Repeat("m", 100_000)
	big.ChildTimeout = 500 * time.Millisecond
	sets := map[*Settings][]Strategy{&base: strategies(t, base), &slow: strategies(t, slow), &big: strategies(t, big)}
	for _, c := range strategyCases {
		t.Run(c.name, func(t *testing.T) {
			s := &base
			switch {
			case c.slow:
				s = &slow
			case c.noRead:
				s = &big
			}
			var resps [2][]byte
			for i, st := range sets[s] {
				resp, code := exchange(t, h, st, c.req, c.close, c.reset, c.noRead)
				if code != int(c.code) {
					t.Errorf("%s: want exit code %d (%v), got %d", st.Name(), c.code, c.code, code)
				}
				if !bytes.HasPrefix(resp, []byte(c.status)) || (c.status == "" && len(resp) > 0) {
					t.Errorf("%s: want a response starting %q, got %q", st.Name(), c.status, trunc(string(resp)))
				}
				resps[i] = withoutDate(resp)
			}
			if !c.noRead && !bytes.Equal(resps[0], resps[1]) {
				t.Errorf("exec and fork differ:\nexec %q\nfork %q", trunc(string(resps[0])), trunc(string(resps[1])))
			}
		})
	}
}

// exchange serves one connection with st and returns what the client read
// and the child's exit code.
func exchange(t *testing.T, h *harness, st Strategy, req string, halfClose, reset, noRead bool) ([]byte, int) {
	t.Helper()
	var d *net.Dialer
	if noRead {
		d = &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
		}}
	}
	c, fd := dialAccept(t, h.lfd, h.addr, d)
	defer c.Close()
	if noRead {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	}
	_, code := h.start(st, fd)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if reset {
		c.SetLinger(0)
		c.Close()
		return nil, waitCode(t, code)
	}
	if req != "" {
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatalf("%s: write: %v", st.Name(), err)
		}
	}
	if halfClose {
		c.CloseWrite()
	}
	if noRead {
		return nil, waitCode(t, code)
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Errorf("%s: read: %v after %q", st.Name(), err, trunc(string(resp)))
	}
	c.Close()
	return resp, waitCode(t, code)
}

// fdTable lists /proc/pid/fd: descriptor number to link target.
func fdTable(pid int) (map[int]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := make(map[int]string, len(ents))
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if m[n], err = os.Readlink(filepath.Join(dir, e.Name())); err != nil {
			delete(m, n) // closed meanwhile
		}
	}
	return m, nil
}

func formatFDs(m map[int]string) string {
	fds := make([]int, 0, len(m))
	for fd := range m {
		fds = append(fds, fd)
	}
	slices.Sort(fds)
	var b strings.Builder
	for _, fd := range fds {
		fmt.Fprintf(&b, " %d->%s", fd, m[fd])
	}
	return strings.TrimSpace(b.String())
}

// procState is the state letter of /proc/pid/stat (S: sleeping, ...).
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if i := bytes.LastIndexByte(b, ')'); err == nil && i >= 0 && i+2 < len(b) {
		return b[i+2]
	}
	return 0
}

func socketLink(t *testing.T, fd int) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("socket:[%d]", st.Ino)
}

// TestChildDescriptors lists what a child of each strategy holds while it
// waits for its request: a fork child only stderr (2) and its connection
// (3), none of the parent's other descriptors (its listener, the Go
// runtime's epoll and eventfd, ...); an exec child also /dev/null as 0 and 1.
func TestChildDescriptors(t *testing.T) {
	skipWithoutForkChild(t)
	h := newHarness(t)
	parent, err := fdTable(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("parent (test binary) holds: %s", formatFDs(parent))
	listener := socketLink(t, h.lfd)
	var epoll bool
	for _, l := range parent {
		epoll = epoll || l == "anon_inode:[eventpoll]"
	}
	if !epoll {
		t.Errorf("want the parent to hold the runtime's epoll descriptor, it holds %s", formatFDs(parent))
	}
	for _, c := range []struct {
		name string
		want func(conn string) map[int]string
	}{
		{"fork", func(conn string) map[int]string { return map[int]string{2: parent[2], 3: conn} }},
		{"exec", func(conn string) map[int]string {
			return map[int]string{0: os.DevNull, 1: os.DevNull, 2: parent[2], 3: conn}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := New(c.name, testSettings, os.Environ())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			client, fd := dialAccept(t, h.lfd, h.addr, nil)
			defer client.Close()
			want := c.want(socketLink(t, fd))
			pid, code := h.start(st, fd)
			// The child settles (closes what it inherited, or execs) and
			// then sleeps in read(2) until the request comes.
			var got map[int]string
			for deadline := time.Now().Add(5 * time.Second); ; {
				// (While a child execs, /proc/PID/fd may briefly fail.)
				if m, err := fdTable(pid); err == nil {
					got = m
				}
				if sameFDs(got, want) && procState(pid) == 'S' {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("child %d: want descriptors %s, got %s", pid, formatFDs(want), formatFDs(got))
				}
				time.Sleep(time.Millisecond) // polling /proc, not synchronising
			}
			t.Logf("%s child %d holds: %s", c.name, pid, formatFDs(got))
			for fd, l := range got {
				if l == listener || strings.HasPrefix(l, "anon_inode:") {
					t.Errorf("child holds fd %d -> %s", fd, l)
				}
			}
			wantServedGET(t, client, code)
		})
	}
}

// wantServedGET sends a GET on client and wants its child's 200 and exit
// code 0 (code is the child's, from harness.start).
func wantServedGET(t *testing.T, client *net.TCPConn, code <-chan int) {
	t.Helper()
	client.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := io.ReadAll(client)
	if err != nil || !bytes.HasPrefix(resp, []byte("HTTP/1.1 200 OK\r\n")) {
		t.Errorf("want 200, got %q, %v", resp, err)
	}
	if c := waitCode(t, code); c != int(response.OKGet) {
		t.Errorf("want exit code 0, got %d", c)
	}
}

func sameFDs(a, b map[int]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
