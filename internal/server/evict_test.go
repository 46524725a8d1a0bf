package server

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/activation"
	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

func TestEvictOldestAtCapWhenConnectionsWait(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 2, EvictAfter: 100 * time.Millisecond})
	slow1 := dial(t, fx.ls[0])
	p1 := fx.fake.waitStarted(t)
	dial(t, fx.ls[0])
	fx.fake.waitStarted(t)
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
	if !strings.Contains(fx.log.String(), "sent by hellod: evicted: reading a head for") {
		t.Errorf("want the eviction on the exit line, got:\n%s", fx.log.String())
	}
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

// slotState is a fake child's scoreboard state, entered age ago.
type slotState struct {
	st  scoreboard.State
	age time.Duration
}

// newEvictorServer returns a Server that is not serving, whose child table
// holds children in the given states (pid: state), each on a slot of its
// own and watched by the fake so that a SIGKILL reaches it.
func newEvictorServer(t *testing.T, after time.Duration, states map[int]slotState) (*Server, *fakeChildren) {
	t.Helper()
	fake := newFake()
	s, err := New(Options{MaxChildren: len(states), ChildTimeout: time.Hour, ShutdownTimeout: time.Minute,
		EvictAfter: after, Starter: fake, Reaper: fake})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.closeBoard)
	fake.board = s.board
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	fake.mu.Lock()
	defer fake.mu.Unlock()
	for pid, st := range states {
		i := <-s.slots
		s.board.Slot(i).Reset(scoreboard.Now())
		s.board.Slot(i).Set(st.st, scoreboard.Now()-int64(st.age))
		c := s.record()
		c.pid, c.slot, c.start, c.deadline = pid, i, now.Add(-st.age), now.Add(time.Hour)
		s.children[pid] = c
		fake.slots[pid] = i
		fake.watch[pid] = func(reaper.Exit) {} // the exit is not reaped: the record stays
	}
	return s, fake
}

func TestEvictorPicksOldestStaleFirst(t *testing.T) {
	r := func(age time.Duration) slotState { return slotState{scoreboard.Reading, age} }
	s, fake := newEvictorServer(t, time.Second, map[int]slotState{
		1: r(5 * time.Second), 2: r(30 * time.Second), 3: r(2 * time.Second),
		4: r(100 * time.Millisecond), // younger than EvictAfter: never evicted
		5: r(10 * time.Second),
	})
	ev := s.ev
	if n := ev.stale(); n != 4 {
		t.Errorf("want 4 stale children, got %d", n)
	}
	if _, k := ev.evict(2); k != 2 {
		t.Errorf("evict(2): want 2 evicted, got %d", k)
	}
	want := []string{"2:SIGKILL", "5:SIGKILL"}
	if got := fake.signalList(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("evict(2): want the two oldest killed, oldest first, %v, got %v", want, got)
	}
	// Asked for more than are stale: the rest of the stale ones, once each
	// (the two killed and not reaped yet count against the 10).
	if _, k := ev.evict(10); k != 2 {
		t.Errorf("evict(10): want 2 evicted, got %d", k)
	}
	want = append(want, "1:SIGKILL", "3:SIGKILL")
	if got := fake.signalList(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("evict(10): want %v, got %v", want, got)
	}
	if _, k := ev.evict(10); k != 0 {
		t.Errorf("evict again: want none (all stale ones killed already), got %d", k)
	}
	if st := s.Stats(); st.Evicted != 4 || st.Killed != 4 || st.IdleClosed != 0 {
		t.Errorf("want 4 evicted, 4 killed, 0 idle closed, got %+v", st)
	}
	if n := ev.recentEvictions(); n != 4 {
		t.Errorf("want 4 recent evictions, got %d", n)
	}
	s.mu.Lock()
	why := s.children[2].killed.Load()
	s.mu.Unlock()
	if why == nil || !strings.HasPrefix(*why, "evicted: reading a head for 30") {
		t.Errorf("want child 2's kill reason to be its eviction after 30s of reading, got %v", why)
	}
}

func TestEvictorCountsPendingKills(t *testing.T) {
	// One waiting connection, one child killed already and not reaped: its
	// slot is on its way back, nobody else is evicted.
	r := slotState{scoreboard.Reading, time.Minute}
	s, fake := newEvictorServer(t, time.Second, map[int]slotState{1: r, 2: r})
	if _, k := s.ev.evict(1); k != 1 {
		t.Fatalf("evict(1): want 1 evicted, got %d", k)
	}
	if _, k := s.ev.evict(1); k != 0 {
		t.Errorf("evict(1) again before the reap: want none, got %d (signals %v)", k, fake.signalList())
	}
}

func TestEvictorWindows(t *testing.T) {
	ev := &evictor{after: time.Second}
	t0 := time.Now()
	ev.window, ev.cur = t0, 3
	for _, c := range []struct {
		at        time.Duration
		add       int // evictions counted after the roll
		cur, prev int
	}{
		{500 * time.Millisecond, 1, 4, 0}, // same window
		{time.Second, 2, 2, 4},            // next window: the current one becomes the previous
		{1500 * time.Millisecond, 0, 2, 4},
		{4 * time.Second, 0, 0, 0}, // two windows on: both forgotten
	} {
		ev.roll(t0.Add(c.at))
		ev.cur += c.add
		if ev.cur != c.cur || ev.prev != c.prev {
			t.Errorf("at %s: want cur %d prev %d, got cur %d prev %d", c.at, c.cur, c.prev, ev.cur, ev.prev)
		}
	}
}

func TestEvictorWaitingAndDropOldest(t *testing.T) {
	ls, err := activation.Bind(context.Background(), []string{"127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls[0].Close() })
	rc, err := ls[0].File.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	ev := &evictor{rcs: []syscall.RawConn{rc}}
	var cs []net.Conn
	for range 3 {
		cs = append(cs, dial(t, ls[0]))
	}
	deadline := time.Now().Add(10 * time.Second)
	for ev.waiting() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("want 3 connections waiting within 10s, got %d", ev.waiting())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if k := ev.dropOldest(2); k != 2 {
		t.Fatalf("dropOldest(2): want 2 closed, got %d", k)
	}
	// The two oldest were closed unserved (a wrong pick blocks until the
	// read deadline and fails).
	for i, c := range cs[:2] {
		if got := readAll(t, c); got != "" {
			t.Errorf("connection %d: want closed unserved, got %q", i, got)
		}
	}
	if n := ev.waiting(); n != 1 {
		t.Errorf("want 1 connection still waiting, got %d", n)
	}
	if k := ev.dropOldest(5); k != 1 {
		t.Errorf("dropOldest(5) with one waiting: want 1 closed, got %d", k)
	}
	if n := ev.waiting(); n != 0 {
		t.Errorf("want none waiting, got %d", n)
	}
}

// A child that died reading its head (OOM-killed, say) but was not reaped
// yet still shows Reading in its slot: the evictor reaps before it
// decides, so it neither kills it again nor counts it as stale.
func TestEvictReapsBeforeDeciding(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 2, EvictAfter: 100 * time.Millisecond})
	dial(t, fx.ls[0])
	p1 := fx.fake.waitStarted(t)
	dial(t, fx.ls[0])
	p2 := fx.fake.waitStarted(t)
	fx.log.waitFor(t, "not accepting until one exits")
	fx.fake.set(p1, scoreboard.Reading, time.Second)
	fx.fake.die(p1, unix.WaitStatus(unix.SIGKILL))
	fresh := dial(t, fx.ls[0])
	p3 := fx.fake.waitStarted(t)
	if sigs := fx.fake.signalList(); len(sigs) != 0 {
		t.Errorf("want no signal (the dead child is reaped, not evicted), got %v", sigs)
	}
	if st := fx.srv.Stats(); st.Evicted != 0 || st.Killed != 0 {
		t.Errorf("want 0 evicted and 0 killed, got %+v", st)
	}
	fx.fake.serve(p3)
	if got := readAll(t, fresh); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("want the fresh client served, got %q", got)
	}
	fx.fake.serve(p2)
}
