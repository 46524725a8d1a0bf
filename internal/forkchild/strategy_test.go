package forkchild

import (
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/http1"
	"github.com/hellod/hellod/internal/procfs"
	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

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
	{name: "target too long", req: "GET /" + strings.Repeat("a", http1.MaxTarget) + " HTTP/1.1\r\nHost: x\r\n\r\n", status: "HTTP/1.1 414 ", code: response.URITooLong},
	{name: "line far too long", req: "GET /" + strings.Repeat("a", 3*http1.MaxTarget), status: "HTTP/1.1 414 ", code: response.URITooLong},
	{name: "headers too large", req: "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", http1.MaxHeaderBytes) + "\r\n\r\n", status: "HTTP/1.1 431 ", code: response.HeaderTooLarge},
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
	base := respond.Settings{Message: "Hello, both!\n", HeaderTimeout: 2 * time.Second, ChildTimeout: 5 * time.Second, Sandbox: sandboxed}
	slow := base
	slow.HeaderTimeout = 300 * time.Millisecond
	// An exec child gets its message through the environment (at most
	// 128 KiB a string), hence a message that outgrows the small socket
	// buffers below without being huge.
	big := base
	big.Message = strings.Repeat("m", 100_000)
	big.ChildTimeout = 500 * time.Millisecond
	sets := map[*respond.Settings][]strategy{&base: strategies(t, base), &slow: strategies(t, slow), &big: strategies(t, big)}
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
func exchange(t *testing.T, h *harness, st strategy, req string, halfClose, reset, noRead bool) ([]byte, int) {
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

// TestChildDescriptors lists what a child of each strategy holds while it
// waits for its request: a fork child only stderr (2) and its connection
// (3), none of the parent's other descriptors (its listener, the Go
// runtime's epoll and eventfd, ...); an exec child also /dev/null as 0 and 1
// and the scoreboard's memfd as 4.
func TestChildDescriptors(t *testing.T) {
	requireFork(t)
	h := newHarness(t)
	parent, err := procfs.FDTargets(os.Getpid())
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
			return map[int]string{0: os.DevNull, 1: os.DevNull, 2: parent[2], 3: conn, 4: "/memfd:hellod-scoreboard (deleted)"}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := newStrategy(t, c.name, testSettings)
			client, fd := dialAccept(t, h.lfd, h.addr, nil)
			defer client.Close()
			want := c.want(socketLink(t, fd))
			pid, code := h.start(st, fd)
			// The child settles (closes what it inherited, or execs) and
			// then sleeps in read(2) until the request comes.
			var got map[int]string
			for deadline := time.Now().Add(5 * time.Second); ; {
				// (While a child execs, /proc/PID/fd may briefly fail.)
				if m, err := procfs.FDTargets(pid); err == nil {
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
