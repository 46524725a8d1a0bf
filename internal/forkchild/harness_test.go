package forkchild

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/activation"
	"github.com/hellod/hellod/internal/execchild"
	"github.com/hellod/hellod/internal/linux"
	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/response"
	"github.com/hellod/hellod/internal/sandbox"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

// TestMain makes the test binary hellod's exec child when started with
// execchild.Arg,
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
	if len(os.Args) > 1 && os.Args[1] == execchild.Arg {
		execchild.Main(ServeOnThread) // never returns
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
func (h *harness) start(s strategy, fd int) (int, <-chan int) {
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

// slotStarter is what main makes of --child: *Fork or *execchild.Exec.
type slotStarter interface {
	Start(fd, slot int) (pid int, err error)
	Name() string
	Close() error
}

// strategy is a slotStarter with a scoreboard of its own, as hellod's
// parent has: Start takes the next slot (round robin) and Resets it.
type strategy interface {
	Start(fd int) (pid int, err error)
	Name() string
	Close() error
	// Last is the slot of the child started last.
	Last() *scoreboard.Slot
}

type boardStrategy struct {
	slotStarter
	board *scoreboard.Board
	mu    sync.Mutex
	next  int
	last  *scoreboard.Slot
}

func (b *boardStrategy) Start(fd int) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.next % b.board.Len()
	b.next++
	b.last = b.board.Slot(i)
	b.last.Reset(scoreboard.Now())
	return b.slotStarter.Start(fd, i)
}

func (b *boardStrategy) Last() *scoreboard.Slot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// testBoard returns a scoreboard of n slots, unmapped when the test ends.
func testBoard(t testing.TB, n int) *scoreboard.Board {
	t.Helper()
	b, err := scoreboard.New(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// newStrategy returns the strategy called name with settings s and a
// board of its own, closed when the test ends.
func newStrategy(t *testing.T, name string, s respond.Settings) strategy {
	t.Helper()
	b := testBoard(t, 256)
	var st slotStarter
	var err error
	switch name {
	case "exec":
		st, err = execchild.New(s, os.Environ(), b)
	case "fork":
		requireFork(t)
		st, err = NewFork(s, b)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &boardStrategy{slotStarter: st, board: b}
}

// withBoard is st (made with board b) as a strategy.
func withBoard(st slotStarter, b *scoreboard.Board) strategy {
	return &boardStrategy{slotStarter: st, board: b}
}

// strategies returns an exec and a fork strategy with settings s.
func strategies(t *testing.T, s respond.Settings) []strategy {
	t.Helper()
	return []strategy{newStrategy(t, "exec", s), newStrategy(t, "fork", s)}
}

// requireFork skips a test of fork children in a build where they do not
// work (Probe says why).
func requireFork(t testing.TB) {
	t.Helper()
	if err := Probe(); err != nil {
		t.Skip(err)
	}
}

// testSettings close after every response (KeepAliveTimeout 0), as the
// tests that read a response to its end want; keepAliveSettings do not.
// Both sandbox their children where the kernel can (sandboxed), as
// hellod does by default.
var (
	sandboxed    = sandbox.Supported() == nil
	testSettings = respond.Settings{Message: "Hello, World!\n", HeaderTimeout: 2 * time.Second, ChildTimeout: 5 * time.Second,
		KeepAliveRequests: 1, Sandbox: sandboxed}
	keepAliveSettings = respond.Settings{Message: "Hello, World!\n", HeaderTimeout: 2 * time.Second, ChildTimeout: 5 * time.Second,
		KeepAliveTimeout: 2 * time.Second, KeepAliveRequests: 100, Sandbox: sandboxed}
)

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

var dateLine = regexp.MustCompile(`(?m)^Date: [^\r\n]*\r\n`)

// withoutDate returns a response without its Date header line.
func withoutDate(b []byte) []byte { return dateLine.ReplaceAll(b, nil) }

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
