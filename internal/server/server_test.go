package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/activation"
	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

// fakeChildren is the seam: a Starter and a Reaper in one, with no
// processes. Each "child" holds a duplicate of its connection until the
// test ends it.
type fakeChildren struct {
	mu       sync.Mutex
	next     int
	conns    map[int]int // pid -> fd
	watch    map[int]func(reaper.Exit)
	exited   map[int]reaper.Exit
	started  chan int
	failNext error
	signals  []string
}

func newFake() *fakeChildren {
	return &fakeChildren{next: 1000, conns: map[int]int{}, watch: map[int]func(reaper.Exit){},
		exited: map[int]reaper.Exit{}, started: make(chan int, 1000)}
}

func (f *fakeChildren) Name() string { return "fake" }

func (f *fakeChildren) Start(fd int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failNext; err != nil {
		f.failNext = nil
		return 0, err
	}
	nfd, err := unix.Dup(fd)
	if err != nil {
		return 0, err
	}
	f.next++
	f.conns[f.next] = nfd
	f.started <- f.next
	return f.next, nil
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
	f.mu.Unlock()
	if !ok {
		return reaper.ErrReaped
	}
	go f.exit(pid, unix.WaitStatus(sig), nil) // killed by sig
	return nil
}

// exit ends child pid with wait status ws, first writing reply to its
// connection.
func (f *fakeChildren) exit(pid int, ws unix.WaitStatus, reply []byte) {
	f.mu.Lock()
	fd, ok := f.conns[pid]
	delete(f.conns, pid)
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

// serve answers pid's connection with a 200 and exits 0, as a real child.
func (f *fakeChildren) serve(pid int) {
	f.exit(pid, 0, response.Append(nil, response.OKGet, "Hello, World!\n", time.Now()))
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
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
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

func TestServesEveryListener(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "h.sock")
	fx := newFixture(t, Options{}, "127.0.0.1:0", "unix:"+sock)
	for _, l := range fx.ls {
		c := dial(t, l)
		pid := fx.fake.waitStarted(t)
		fx.fake.serve(pid)
		if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
			t.Errorf("%s: want a 200, got %q", l.Addr, got)
		}
	}
	fx.log.waitForN(t, "GET -> 200", 2)
	if st := fx.srv.Stats(); st.Served != 2 || st.Active != 0 {
		t.Errorf("want 2 served, 0 active, got %+v", st)
	}
	for _, want := range []string{"CHILD_PID=1001", "REMOTE_ADDR=127.0.0.1:", "EXIT_STATUS=0", "HTTP_STATUS=200", "DURATION_MS=", "REMOTE_ADDR=unix"} {
		if !strings.Contains(fx.log.String(), want) {
			t.Errorf("want %q in the log, got:\n%s", want, fx.log.String())
		}
	}
}

func TestMaxChildrenBackpressure(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 2})
	l := fx.ls[0]
	dial(t, l)
	dial(t, l)
	p1 := fx.fake.waitStarted(t)
	fx.fake.waitStarted(t)
	// The loop now waits for a slot and says so, once.
	fx.log.waitFor(t, "2 children running (--max-children): not accepting")
	var waiting []net.Conn
	for i := 0; i < 3; i++ {
		waiting = append(waiting, dial(t, l)) // queued in the kernel backlog
	}
	if n := len(fx.fake.started); n != 0 {
		t.Fatalf("want no child started at the cap, got %d", n)
	}
	if st := fx.srv.Stats(); st.Active != 2 {
		t.Fatalf("want 2 active, got %d", st.Active)
	}
	// One exits: exactly one more is accepted and started.
	fx.fake.serve(p1)
	p3 := fx.fake.waitStarted(t)
	fx.log.waitFor(t, "below --max-children again")
	fx.fake.serve(p3)
	p4 := fx.fake.waitStarted(t)
	fx.fake.serve(p4)
	p5 := fx.fake.waitStarted(t)
	fx.fake.serve(p5)
	for i, c := range waiting {
		if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
			t.Errorf("queued connection %d: want a 200, got %q", i, got)
		}
	}
	if n := strings.Count(fx.log.String(), "not accepting until one exits"); n < 1 || n > 4 {
		t.Errorf("want the cap logged once per episode (at most 4 episodes here), got %d", n)
	}
	if st := fx.srv.Stats(); st.Active > 2 {
		t.Errorf("want at most 2 active, got %d", st.Active)
	}
}

func TestChildTimeoutKills(t *testing.T) {
	fx := newFixture(t, Options{ChildTimeout: 50 * time.Millisecond})
	c := dial(t, fx.ls[0])
	pid := fx.fake.waitStarted(t)
	fx.log.waitFor(t, "killed by signal SIGKILL")
	if got := readAll(t, c); got != "" {
		t.Errorf("want the connection closed without a response, got %q", got)
	}
	if sigs := fx.fake.signalList(); len(sigs) != 1 || sigs[0] != fmt.Sprintf("%d:SIGKILL", pid) {
		t.Errorf("want one SIGKILL for %d, got %v", pid, sigs)
	}
	for _, want := range []string{"killed by signal SIGKILL (sent by hellod: child timeout)", "EXIT_STATUS=137"} {
		if !strings.Contains(fx.log.String(), want) {
			t.Errorf("want %q in the log, got:\n%s", want, fx.log.String())
		}
	}
	if st := fx.srv.Stats(); st.Killed != 1 {
		t.Errorf("want 1 killed, got %d", st.Killed)
	}
}

func TestShutdownDrainsRunningChildren(t *testing.T) {
	fx := newFixture(t, Options{})
	c := dial(t, fx.ls[0])
	pid := fx.fake.waitStarted(t)
	fx.stop()
	fx.log.waitFor(t, "shutdown: waiting up to 1m0s for 1 children")
	// New connections are not accepted any more (they stay in the backlog).
	dial(t, fx.ls[0])
	fx.fake.serve(pid)
	if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("want the running child to finish its response, got %q", got)
	}
	if why := fx.waitDone(t); why != StopShutdown {
		t.Errorf("want %q, got %q", StopShutdown, why)
	}
	if n := len(fx.fake.started); n != 0 {
		t.Errorf("want nothing accepted after shutdown began, got %d children", n)
	}
	msgs := fx.note.all()
	if len(msgs) < 2 || !strings.HasPrefix(msgs[0], "READY=1") || !strings.HasPrefix(msgs[len(msgs)-1], "STOPPING=1") {
		t.Errorf("want READY=1 first and STOPPING=1 last, got %q", msgs)
	}
}

func TestShutdownKillsAfterTimeout(t *testing.T) {
	fx := newFixture(t, Options{ShutdownTimeout: 50 * time.Millisecond})
	dial(t, fx.ls[0])
	pid := fx.fake.waitStarted(t)
	fx.stop()
	if why := fx.waitDone(t); why != StopShutdown {
		t.Errorf("want %q, got %q", StopShutdown, why)
	}
	if sigs := fx.fake.signalList(); len(sigs) != 1 || sigs[0] != fmt.Sprintf("%d:SIGKILL", pid) {
		t.Errorf("want one SIGKILL for %d, got %v", pid, sigs)
	}
	if st := fx.srv.Stats(); st.Active != 0 {
		t.Errorf("want 0 active after shutdown, got %d", st.Active)
	}
}

func TestIdleExit(t *testing.T) {
	fx := newFixture(t, Options{IdleExit: 100 * time.Millisecond})
	start := time.Now()
	if why := fx.waitDone(t); why != StopIdle {
		t.Errorf("want %q, got %q", StopIdle, why)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("want no exit before the idle time, got one after %s", el)
	}
	msgs := fx.note.all()
	if len(msgs) == 0 || !strings.HasPrefix(msgs[len(msgs)-1], "STOPPING=1") {
		t.Errorf("want STOPPING=1 last, got %q", msgs)
	}
}

func TestIdleExitWaitsForChildren(t *testing.T) {
	fx := newFixture(t, Options{IdleExit: 50 * time.Millisecond})
	c := dial(t, fx.ls[0])
	pid := fx.fake.waitStarted(t)
	// While the child runs the server is not idle, however long that takes.
	select {
	case why := <-fx.done:
		t.Fatalf("want no idle exit while a child runs, got %q", why)
	case <-time.After(200 * time.Millisecond):
	}
	fx.fake.serve(pid)
	readAll(t, c)
	if why := fx.waitDone(t); why != StopIdle {
		t.Errorf("want %q, got %q", StopIdle, why)
	}
}

func TestStatusAndWatchdog(t *testing.T) {
	fx := newFixture(t, Options{StatusInterval: 10 * time.Millisecond, WatchdogInterval: 10 * time.Millisecond})
	dial(t, fx.ls[0])
	pid := fx.fake.waitStarted(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs := strings.Join(fx.note.all(), "\n")
		if strings.Contains(msgs, "STATUS=1 active children, 0 connections served") &&
			strings.Count(msgs, "WATCHDOG=1") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want a status line with 1 active child and watchdog pings, got %q", msgs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	fx.fake.serve(pid)
	fx.log.waitFor(t, "-> 200")
	// Unchanged status lines are not repeated.
	n := len(fx.note.all())
	st := 0
	for _, m := range fx.note.all()[:n] {
		if m == "STATUS=0 active children, 1 connections served, 0 children killed" {
			st++
		}
	}
	if st > 1 {
		t.Errorf("want an unchanged status sent once, got %d times", st)
	}
}

func TestStartFailureClosesAndGoesOn(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 1})
	fx.fake.mu.Lock()
	fx.fake.failNext = fmt.Errorf("fork/exec: %w", unix.EAGAIN)
	fx.fake.mu.Unlock()
	c := dial(t, fx.ls[0])
	if got := readAll(t, c); got != "" {
		t.Errorf("want the connection closed, got %q", got)
	}
	fx.log.waitFor(t, "cannot start a child for 127.0.0.1:")
	// The slot was released: the next connection is served.
	c2 := dial(t, fx.ls[0])
	fx.fake.serve(fx.fake.waitStarted(t))
	if got := readAll(t, c2); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("want a 200 after a failed start, got %q", got)
	}
	if st := fx.srv.Stats(); st.StartFailures != 1 {
		t.Errorf("want 1 start failure, got %d", st.StartFailures)
	}
}

func TestExitLogLevels(t *testing.T) {
	fx := newFixture(t, Options{})
	for _, c := range []struct {
		ws   unix.WaitStatus
		want string
	}{
		{unix.WaitStatus(int(response.RequestTimeout) << 8), "-> 408 in"},
		{unix.WaitStatus(int(response.ClientGone) << 8), "client closed before a complete request"},
		{unix.WaitStatus(int(response.Failed) << 8), "failed with exit status 1"},
	} {
		dial(t, fx.ls[0])
		pid := fx.fake.waitStarted(t)
		fx.fake.exit(pid, c.ws, nil)
		fx.log.waitFor(t, c.want)
	}
	if !strings.Contains(fx.log.String(), "level=ERROR msg=\"child 1003") {
		t.Errorf("want a failed child logged as an error, got:\n%s", fx.log.String())
	}
}

func TestEvictOldestAtCapWhenConnectionsWait(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 2, EvictAfter: 100 * time.Millisecond})
	slow1 := dial(t, fx.ls[0])
	p1 := fx.fake.waitStarted(t)
	dial(t, fx.ls[0])
	p2 := fx.fake.waitStarted(t)
	// Nobody waits: however old the children get, none is evicted.
	fx.log.waitFor(t, "not accepting until one exits")
	time.Sleep(300 * time.Millisecond) // older than EvictAfter, on purpose
	if sigs := fx.fake.signalList(); len(sigs) != 0 {
		t.Fatalf("want no eviction while no connection waits, got %v", sigs)
	}
	// A fresh client arrives: the oldest child is evicted, the client served.
	fresh := dial(t, fx.ls[0])
	p3 := fx.fake.waitStarted(t)
	if sigs := fx.fake.signalList(); len(sigs) != 1 || sigs[0] != fmt.Sprintf("%d:SIGKILL", p1) {
		t.Errorf("want the oldest child %d evicted, got %v", p1, sigs)
	}
	if st := fx.srv.Stats(); st.Evicted != 1 || st.Killed != 1 {
		t.Errorf("want 1 evicted and 1 killed, got %+v", st)
	}
	fx.fake.serve(p3)
	if got := readAll(t, fresh); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("want the fresh client served, got %q", got)
	}
	if got := readAll(t, slow1); got != "" {
		t.Errorf("want the evicted client closed without a response, got %q", got)
	}
	fx.log.waitFor(t, fmt.Sprintf("child %d for", p1))
	if !strings.Contains(fx.log.String(), "sent by hellod: evicted after") {
		t.Errorf("want the eviction on the exit line, got:\n%s", fx.log.String())
	}
	_ = p2
}

func TestNoEvictionWhenDisabled(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 1})
	dial(t, fx.ls[0])
	p1 := fx.fake.waitStarted(t)
	fx.log.waitFor(t, "not accepting until one exits")
	dial(t, fx.ls[0])
	time.Sleep(200 * time.Millisecond) // a window in which nothing may happen
	if sigs := fx.fake.signalList(); len(sigs) != 0 {
		t.Fatalf("want no eviction with EvictAfter 0, got %v", sigs)
	}
	fx.fake.serve(p1)
	fx.fake.waitStarted(t)
}

func TestCloggedCapDropsOldestWaiting(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 2, EvictAfter: 50 * time.Millisecond})
	dial(t, fx.ls[0])
	dial(t, fx.ls[0])
	fx.fake.waitStarted(t)
	fx.fake.waitStarted(t)
	fx.log.waitFor(t, "not accepting until one exits")
	// A burst deeper than the cap queues up behind two stalled children.
	var burst []net.Conn
	for i := 0; i < 6; i++ {
		burst = append(burst, dial(t, fx.ls[0]))
	}
	fx.log.waitFor(t, "connections wait behind 2 stalled children")
	// The 4 oldest waiting are closed unserved; the 2 newest get children.
	for i, c := range burst[:4] {
		if got := readAll(t, c); got != "" {
			t.Errorf("burst connection %d: want closed unserved, got %q", i, got)
		}
	}
	p1 := fx.fake.waitStarted(t)
	p2 := fx.fake.waitStarted(t)
	fx.fake.serve(p1)
	fx.fake.serve(p2)
	for i, c := range burst[4:] {
		if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
			t.Errorf("newest connection %d: want a 200, got %q", i, got)
		}
	}
	if n := fx.srv.Stats().Dropped; n != 4 {
		t.Errorf("want 4 dropped, got %d", n)
	}
}

func TestFastFloodAtCapIsNotDropped(t *testing.T) {
	// Young children mean a busy cap, not a clogged one: nothing is dropped.
	fx := newFixture(t, Options{MaxChildren: 2, EvictAfter: time.Hour})
	var cs []net.Conn
	for i := 0; i < 8; i++ {
		cs = append(cs, dial(t, fx.ls[0]))
	}
	for i := 0; i < 8; i++ {
		fx.fake.serve(fx.fake.waitStarted(t))
	}
	for i, c := range cs {
		if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
			t.Errorf("connection %d: want a 200, got %q", i, got)
		}
	}
	if n := fx.srv.Stats().Dropped; n != 0 {
		t.Errorf("want nothing dropped, got %d", n)
	}
}

func TestStoppingLeavesTheBacklogAlone(t *testing.T) {
	// During a drain the connections that wait in the backlog belong to the
	// next instance: nothing may be evicted or dropped then.
	fx := newFixture(t, Options{MaxChildren: 1, EvictAfter: 20 * time.Millisecond})
	dial(t, fx.ls[0])
	p1 := fx.fake.waitStarted(t)
	fx.log.waitFor(t, "not accepting until one exits")
	fx.stop()
	fx.log.waitFor(t, "shutdown: waiting up to")
	for i := 0; i < 4; i++ {
		dial(t, fx.ls[0])
	}
	time.Sleep(200 * time.Millisecond) // ten eviction ticks in which nothing may happen
	if sigs := fx.fake.signalList(); len(sigs) != 0 {
		t.Errorf("want no eviction while stopping, got %v", sigs)
	}
	if n := fx.srv.Stats().Dropped; n != 0 {
		t.Errorf("want nothing dropped while stopping, got %d", n)
	}
	fx.fake.serve(p1)
	fx.waitDone(t)
}
