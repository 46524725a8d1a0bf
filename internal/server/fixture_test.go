// The fixture every test of the package uses: a fake child table
// (Starter and Reaper), a log buffer, a fake notifier, and a running Server
// on loopback listeners.

package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/activation"
	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/response"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

// fakeChildren is the seam: a Starter and a Reaper in one, with no
// processes. Each "child" holds a duplicate of its connection until the
// test ends it, and writes its scoreboard slot as the test tells it (set,
// count): it starts Reading, as a child that got a head's first byte.
type fakeChildren struct {
	mu         sync.Mutex
	board      *scoreboard.Board // the server's
	next       int
	conns      map[int]int // pid -> fd
	slots      map[int]int // pid -> scoreboard slot
	watch      map[int]func(reaper.Exit)
	exited     map[int]reaper.Exit
	started    chan int
	failNext   error
	failedSlot int // the slot of the last failed Start
	signals    []string
	killStates map[int]scoreboard.State // the slot's state when the SIGKILL came
	dead       map[int]unix.WaitStatus  // exited, not reaped yet (die, Reap)
}

func newFake() *fakeChildren {
	return &fakeChildren{next: 1000, conns: map[int]int{}, slots: map[int]int{}, watch: map[int]func(reaper.Exit){},
		exited: map[int]reaper.Exit{}, started: make(chan int, 1000), killStates: map[int]scoreboard.State{},
		dead: map[int]unix.WaitStatus{}}
}

func (f *fakeChildren) Name() string { return "fake" }

func (f *fakeChildren) Start(fd, slot int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.board.Slot(slot).Read().State; st != scoreboard.Starting {
		return 0, fmt.Errorf("fake: want slot %d reset (starting) before Start, got %s", slot, st)
	}
	if err := f.failNext; err != nil {
		f.failNext, f.failedSlot = nil, slot
		return 0, err
	}
	nfd, err := unix.Dup(fd)
	if err != nil {
		return 0, err
	}
	f.next++
	f.conns[f.next] = nfd
	f.slots[f.next] = slot
	f.board.Slot(slot).Set(scoreboard.Reading, scoreboard.Now())
	f.started <- f.next
	return f.next, nil
}

// slot is child pid's scoreboard slot.
func (f *fakeChildren) slot(pid int) *scoreboard.Slot {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.slots[pid]
	if !ok {
		panic(fmt.Sprintf("fake: no child %d", pid))
	}
	return f.board.Slot(i)
}

// set puts child pid in state st, entered age ago.
func (f *fakeChildren) set(pid int, st scoreboard.State, age time.Duration) {
	f.slot(pid).Set(st, scoreboard.Now()-int64(age))
}

// count records k responses with outcome o, as child pid would.
func (f *fakeChildren) count(pid int, o response.Outcome, k int) {
	sl := f.slot(pid)
	for range k {
		sl.Served(uint8(o), 100)
	}
}

func (f *fakeChildren) killState(pid int) (scoreboard.State, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.killStates[pid]
	return st, ok
}

func (f *fakeChildren) Watch(pid int, fn func(reaper.Exit)) {
	f.mu.Lock()
	if e, ok := f.exited[pid]; ok {
		f.mu.Unlock()
		fn(e)
		return
	}
	f.watch[pid] = fn
	f.mu.Unlock()
}

func (f *fakeChildren) Signal(pid int, sig unix.Signal) error {
	f.mu.Lock()
	_, ok := f.watch[pid]
	f.signals = append(f.signals, fmt.Sprintf("%d:%s", pid, unix.SignalName(sig)))
	if i, ok := f.slots[pid]; ok {
		f.killStates[pid] = f.board.Slot(i).Read().State
	}
	f.mu.Unlock()
	if !ok {
		return reaper.ErrReaped
	}
	go f.exit(pid, unix.WaitStatus(sig), nil) // killed by sig
	return nil
}

// die ends child pid with wait status ws without reaping it: its exit is
// reported by the next Reap (a zombie, as when the parent was stopped).
func (f *fakeChildren) die(pid int, ws unix.WaitStatus) {
	f.mu.Lock()
	f.dead[pid] = ws
	f.mu.Unlock()
}

// Reap reports the exits of the children that died.
func (f *fakeChildren) Reap() {
	f.mu.Lock()
	dead := f.dead
	f.dead = map[int]unix.WaitStatus{}
	f.mu.Unlock()
	for pid, ws := range dead {
		f.exit(pid, ws, nil)
	}
}

// exit ends child pid with wait status ws, first writing reply to its
// connection.
func (f *fakeChildren) exit(pid int, ws unix.WaitStatus, reply []byte) {
	f.mu.Lock()
	fd, ok := f.conns[pid]
	delete(f.conns, pid)
	delete(f.slots, pid)
	fn := f.watch[pid]
	delete(f.watch, pid)
	e := reaper.Exit{PID: pid, Status: ws, Time: time.Now()}
	if fn == nil {
		f.exited[pid] = e
	}
	f.mu.Unlock()
	if ok {
		if reply != nil {
			unix.Write(fd, reply)
		}
		unix.Close(fd)
	}
	if fn != nil {
		fn(e)
	}
}

// serve answers pid's connection with a 200 and exits 0, as a real child
// that counts it in its slot.
func (f *fakeChildren) serve(pid int) {
	b := response.Append(nil, response.OKGet, "Hello, World!\n", time.Now())
	sl := f.slot(pid)
	sl.Served(uint8(response.OKGet), len(b))
	sl.Set(scoreboard.Done, scoreboard.Now())
	f.exit(pid, 0, b)
}

func (f *fakeChildren) waitStarted(t *testing.T) int {
	t.Helper()
	select {
	case pid := <-f.started:
		return pid
	case <-time.After(10 * time.Second):
		t.Fatal("no child started within 10s")
	}
	return 0
}

func (f *fakeChildren) signalList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.signals...)
}

// logBuf collects log lines.
type logBuf struct {
	mu   sync.Mutex
	b    bytes.Buffer
	hold string        // a line containing it waits for gate to close
	gate chan struct{} // see hold
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	hold, gate := l.hold, l.gate
	l.mu.Unlock()
	if hold != "" && bytes.Contains(p, []byte(hold)) {
		<-gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// holdLines makes lines containing s wait until the returned function is
// called.
func (l *logBuf) holdLines(s string) (release func()) {
	gate := make(chan struct{})
	l.mu.Lock()
	l.hold, l.gate = s, gate
	l.mu.Unlock()
	return sync.OnceFunc(func() { close(gate) })
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls until the log contains s.
func (l *logBuf) waitFor(t *testing.T, s string) {
	t.Helper()
	l.waitForN(t, s, 1)
}

// waitForN polls until the log contains s n times.
func (l *logBuf) waitForN(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(l.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("want %q in the log within 10s, got:\n%s", s, l.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// fakeNotifier records sd_notify messages.
type fakeNotifier struct {
	mu   sync.Mutex
	msgs []string
}

func (n *fakeNotifier) add(s string) error {
	n.mu.Lock()
	n.msgs = append(n.msgs, s)
	n.mu.Unlock()
	return nil
}
func (n *fakeNotifier) Ready(s string) error    { return n.add("READY=1 STATUS=" + s) }
func (n *fakeNotifier) Status(s string) error   { return n.add("STATUS=" + s) }
func (n *fakeNotifier) Stopping(s string) error { return n.add("STOPPING=1 STATUS=" + s) }
func (n *fakeNotifier) Watchdog() error         { return n.add("WATCHDOG=1") }
func (n *fakeNotifier) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

type fixture struct {
	srv   *Server
	fake  *fakeChildren
	log   *logBuf
	note  *fakeNotifier
	ls    []activation.Listener
	stop  context.CancelFunc
	done  chan string
	err   error
	errMu sync.Mutex
}

func newFixture(t *testing.T, o Options, addrs ...string) *fixture {
	t.Helper()
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1:0"}
	}
	ls, err := activation.Bind(context.Background(), addrs)
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{fake: newFake(), log: &logBuf{}, note: &fakeNotifier{}, ls: ls, done: make(chan string, 1)}
	o.Starter, o.Reaper, o.Notifier = fx.fake, fx.fake, fx.note
	o.Logger = slog.New(slog.NewTextHandler(fx.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.MaxChildren == 0 {
		o.MaxChildren = 8
	}
	if o.ChildTimeout == 0 {
		o.ChildTimeout = time.Minute
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = time.Minute
	}
	fx.srv, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	fx.fake.board = fx.srv.board
	ctx, cancel := context.WithCancel(context.Background())
	fx.stop = cancel
	go func() {
		why, err := fx.srv.Serve(ctx, ls)
		fx.errMu.Lock()
		fx.err = err
		fx.errMu.Unlock()
		fx.done <- why
	}()
	t.Cleanup(func() {
		cancel()
		fx.fake.mu.Lock()
		pids := make([]int, 0)
		for pid := range fx.fake.conns {
			pids = append(pids, pid)
		}
		fx.fake.mu.Unlock()
		for _, pid := range pids {
			fx.fake.exit(pid, 0, nil)
		}
		select {
		case <-fx.done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return within 10s of the end of the test")
		}
		for _, l := range ls {
			l.Close()
		}
	})
	return fx
}

func (fx *fixture) waitDone(t *testing.T) string {
	t.Helper()
	select {
	case why := <-fx.done:
		fx.done <- why // for Cleanup
		fx.errMu.Lock()
		defer fx.errMu.Unlock()
		if fx.err != nil {
			t.Errorf("want Serve to return no error, got %v", fx.err)
		}
		return why
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s")
	}
	return ""
}

// waitNoChildren polls until no child is active (a child's exit line is
// written before it stops counting as active).
func (fx *fixture) waitNoChildren(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for fx.srv.Stats().Active != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("want no child active within 10s, got %+v", fx.srv.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func dial(t *testing.T, l activation.Listener) net.Conn {
	t.Helper()
	network, addr := "tcp", l.Addr
	if a, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", a
	}
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readAll(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}
