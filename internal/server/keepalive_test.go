// Tests of what the server does with the scoreboard: eviction order at the
// cap, claiming idle children before the kill, shutdown, STATUS, slot reuse.

package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/response"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

func TestEvictorOrder(t *testing.T) {
	st := func(s scoreboard.State, age time.Duration) slotState { return slotState{s, age} }
	s, fake := newEvictorServer(t, time.Second, map[int]slotState{
		1: st(scoreboard.Idle, 10*time.Millisecond), // idle: taken whatever its age
		2: st(scoreboard.Idle, 5*time.Second),       // idle longest: taken first
		3: st(scoreboard.Reading, 30*time.Second),
		4: st(scoreboard.Reading, 2*time.Second),
		5: st(scoreboard.Reading, 100*time.Millisecond), // reading, but not for EvictAfter yet
		6: st(scoreboard.Writing, time.Minute),
		7: st(scoreboard.Lingering, time.Minute),
		8: st(scoreboard.Starting, time.Minute),
		9: st(scoreboard.Done, time.Minute), // exiting: its slot is on its way back
	})
	// 3 waiting, less the one child done: two slots to free, both idle ones.
	if ki, ks := s.ev.evict(3); ki != 2 || ks != 0 {
		t.Errorf("evict(3): want 2 idle closed and 0 evicted, got %d and %d", ki, ks)
	}
	// Then the stale readers, oldest first; never 5 to 9.
	if ki, ks := s.ev.evict(20); ki != 0 || ks != 2 {
		t.Errorf("evict(20): want 0 idle closed and 2 evicted, got %d and %d", ki, ks)
	}
	if ki, ks := s.ev.evict(20); ki != 0 || ks != 0 {
		t.Errorf("evict(20) again: want nothing left to take, got %d and %d", ki, ks)
	}
	want := "2:SIGKILL 1:SIGKILL 3:SIGKILL 4:SIGKILL"
	if got := strings.Join(fake.signalList(), " "); got != want {
		t.Errorf("want the kills %q, got %q", want, got)
	}
	// Claim before kill: an idle child is Closing (it reads nothing more)
	// when its SIGKILL comes.
	for pid, want := range map[int]scoreboard.State{1: scoreboard.Closing, 2: scoreboard.Closing,
		3: scoreboard.Reading, 4: scoreboard.Reading} {
		if got, ok := fake.killState(pid); !ok || got != want {
			t.Errorf("child %d: want its slot %s at the kill, got %s (killed %v)", pid, want, got, ok)
		}
	}
	s.mu.Lock()
	why := *s.children[1].killed.Load()
	s.mu.Unlock()
	if why != "evicted: idle keep-alive" {
		t.Errorf("want the idle child's kill reason %q, got %q", "evicted: idle keep-alive", why)
	}
	if st := s.Stats(); st.IdleClosed != 2 || st.Killed != 2 || st.Evicted != 2 {
		t.Errorf("want 2 idle closed, 2 killed, 2 evicted, got %+v", st)
	}
}

func TestEvictorIdleOnlyWithoutEvictAfter(t *testing.T) {
	s, fake := newEvictorServer(t, 0, map[int]slotState{
		1: {scoreboard.Reading, time.Hour},
		2: {scoreboard.Idle, time.Millisecond},
	})
	if ki, ks := s.ev.evict(2); ki != 1 || ks != 0 {
		t.Errorf("evict(2) with EvictAfter 0: want the idle child closed only, got %d idle, %d evicted", ki, ks)
	}
	if got := strings.Join(fake.signalList(), " "); got != "2:SIGKILL" {
		t.Errorf("want only the idle child 2 killed, got %q", got)
	}
}

func TestIdleChildEvictedAtCap(t *testing.T) {
	// No --evict-after: the idle keep-alive child is closed anyway as soon
	// as a connection waits, and its exit line says what it served.
	fx := newFixture(t, Options{MaxChildren: 1})
	c1 := dial(t, fx.ls[0])
	p1 := fx.fake.waitStarted(t)
	fx.fake.count(p1, response.OKGet, 3)
	fx.fake.set(p1, scoreboard.Idle, 0)
	fx.log.waitFor(t, "not accepting until one exits")
	dial(t, fx.ls[0])
	p2 := fx.fake.waitStarted(t)
	if st, ok := fx.fake.killState(p1); !ok || st != scoreboard.Closing {
		t.Errorf("want the idle child claimed (closing) before its kill, got %s (killed %v)", st, ok)
	}
	if got := readAll(t, c1); got != "" {
		t.Errorf("want the idle connection closed, got %q", got)
	}
	want := fmt.Sprintf("level=INFO msg=\"child %d served 127.0.0.1:", p1)
	fx.log.waitFor(t, want)
	line := logLine(fx.log.String(), want)
	for _, w := range []string{": 3 requests (3x 200) in ", ", then killed by signal SIGKILL (sent by hellod: evicted: idle keep-alive)",
		"REQUESTS=3", `REASON="evicted: idle keep-alive"`} {
		if !strings.Contains(line, w) {
			t.Errorf("want %q in the exit line, got %q", w, line)
		}
	}
	fx.log.waitFor(t, "closing idle keep-alive connections, longest idle first")
	if st := fx.srv.Stats(); st.IdleClosed != 1 || st.Killed != 0 || st.Served != 1 || st.Requests != 3 {
		t.Errorf("want 1 idle closed, 0 killed, 1 served, 3 requests, got %+v", st)
	}
	fx.fake.serve(p2)
}

// logLine is the first line of log that contains s.
func logLine(log, s string) string {
	for l := range strings.Lines(log) {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

func TestShutdownClosesIdleLetsWritingFinish(t *testing.T) {
	fx := newFixture(t, Options{})
	dial(t, fx.ls[0])
	idle := fx.fake.waitStarted(t)
	fx.fake.count(idle, response.OKGet, 2)
	fx.fake.set(idle, scoreboard.Idle, 0)
	cw := dial(t, fx.ls[0])
	writing := fx.fake.waitStarted(t)
	fx.fake.set(writing, scoreboard.Writing, 0)
	fx.stop()
	fx.log.waitFor(t, "shutdown: waiting up to 1m0s for 2 children (1 idle closed at once")
	fx.log.waitFor(t, fmt.Sprintf("child %d served", idle))
	if st, ok := fx.fake.killState(idle); !ok || st != scoreboard.Closing {
		t.Errorf("want the idle child claimed (closing) before its kill, got %s (killed %v)", st, ok)
	}
	if !strings.Contains(fx.log.String(), "(sent by hellod: stopping: idle keep-alive)") {
		t.Errorf("want the idle child's exit line to say why, got:\n%s", fx.log.String())
	}
	// The writing child is told to close after its response, not killed.
	ws := fx.fake.slot(writing)
	if !ws.Stopped() {
		t.Error("want the writing child's slot stopped")
	}
	if _, ok := fx.fake.killState(writing); ok {
		t.Error("want the writing child left to finish, got it killed")
	}
	// Serve returns only once the last child's exit line is written.
	line := fmt.Sprintf("child %d served", writing)
	release := fx.log.holdLines(line)
	defer release()
	go fx.fake.serve(writing)
	if got := readAll(t, cw); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("want the writing child's response, got %q", got)
	}
	select {
	case why := <-fx.done:
		fx.done <- why
		t.Fatal("want Serve to wait for the last exit line, got it returned first")
	case <-time.After(200 * time.Millisecond): // a window in which Serve may not return
	}
	release()
	if why := fx.waitDone(t); why != StopShutdown {
		t.Errorf("want %q, got %q", StopShutdown, why)
	}
	if !strings.Contains(fx.log.String(), line) {
		t.Errorf("want %q logged before Serve returned, got:\n%s", line, fx.log.String())
	}
	if st := fx.srv.Stats(); st.IdleClosed != 1 || st.Killed != 0 || st.Served != 2 || st.Requests != 3 {
		t.Errorf("want 1 idle closed, 0 killed, 2 served, 3 requests, got %+v", st)
	}
}

func TestShutdownRaceWithChildGoingIdle(t *testing.T) {
	// The child's order: Set(Idle), then Stopped. A child reading when the
	// parent stops it is not claimed; when it goes idle afterwards it finds
	// the stop flag and exits by itself.
	s, fake := newEvictorServer(t, 0, map[int]slotState{1: {scoreboard.Reading, 0}})
	if n := s.stopChildren(); n != 0 {
		t.Errorf("want no idle child closed, got %d", n)
	}
	sl := fake.slot(1)
	sl.Set(scoreboard.Idle, scoreboard.Now())
	if !sl.Stopped() {
		t.Error("want the child that went idle after the stop to see it")
	}
	if sigs := fake.signalList(); len(sigs) != 0 {
		t.Errorf("want no kill, got %v", sigs)
	}
}

func TestExitLineCounts(t *testing.T) {
	fx := newFixture(t, Options{})
	dial(t, fx.ls[0])
	pid := fx.fake.waitStarted(t)
	for _, c := range []struct {
		o response.Outcome
		k int
	}{{response.OKGet, 3}, {response.MethodNotAllowed, 1}, {response.BadRequest, 2}, {response.OKHead, 2}, {response.MethodNotAllowed, 1}} {
		fx.fake.count(pid, c.o, c.k)
	}
	fx.fake.exit(pid, unix.WaitStatus(int(response.ClientGone)<<8), nil) // the client closed the persistent connection
	want := fmt.Sprintf("child %d served 127.0.0.1:", pid)
	fx.log.waitFor(t, want)
	line := logLine(fx.log.String(), want)
	for _, w := range []string{": 9 requests (5x 200, 2x 400, 2x 405) in ", "REQUESTS=9", `RESPONSES="5x 200, 2x 400, 2x 405"`,
		"HTTP_STATUS=405", "EXIT_STATUS=20", "level=INFO"} {
		if !strings.Contains(line, w) {
			t.Errorf("want %q in the exit line, got %q", w, line)
		}
	}
	if st := fx.srv.Stats(); st.Served != 1 || st.Requests != 9 {
		t.Errorf("want 1 served, 9 requests, got %+v", st)
	}
}

func TestAppendSummaryAndDuration(t *testing.T) {
	var counts [scoreboard.Outcomes]uint32
	if got := string(appendSummary(nil, &counts)); got != "" {
		t.Errorf("no counts: want an empty summary, got %q", got)
	}
	counts[response.OKGet], counts[response.OKHead] = 55, 1
	counts[response.HeaderTooLarge], counts[response.URITooLong] = 2, 2
	counts[response.ClientGone] = 7 // sends nothing: not a status
	if got, want := string(appendSummary(nil, &counts)), "56x 200, 2x 414, 2x 431"; got != want {
		t.Errorf("want %q, got %q", want, got)
	}
	for d, want := range map[time.Duration]string{900 * time.Microsecond: "0.9 ms", 999 * time.Millisecond: "999.0 ms",
		1200 * time.Millisecond: "1.2 s", 75 * time.Second: "75.0 s"} {
		if got := string(appendDuration(nil, d)); got != want {
			t.Errorf("%s: want %q, got %q", d, want, got)
		}
	}
}

func TestSlotsReusedWithoutLeak(t *testing.T) {
	const max, n = 3, 12
	fx := newFixture(t, Options{MaxChildren: max})
	used := map[int]bool{}
	for i := range n {
		c := dial(t, fx.ls[0])
		pid := fx.fake.waitStarted(t)
		fx.fake.mu.Lock()
		used[fx.fake.slots[pid]] = true
		fx.fake.mu.Unlock()
		fx.fake.serve(pid)
		if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
			t.Fatalf("connection %d: want a 200, got %q", i, got)
		}
	}
	fx.log.waitForN(t, ": 1 request (1x 200) in", n)
	fx.waitNoChildren(t)
	for i := range max {
		if st := fx.srv.board.Slot(i).Read().State; st != scoreboard.Free {
			t.Errorf("slot %d: want free, got %s", i, st)
		}
	}
	// The accept loop holds a slot for the connection it waits for: the
	// list is full once it stopped (and the board is closed then).
	fx.stop()
	fx.waitDone(t)
	if got := len(fx.srv.slots); got != max {
		t.Errorf("want the free list full (%d) after %d children, got %d", max, n, got)
	}
	for i := range used {
		if i < 0 || i >= max {
			t.Errorf("want slots 0..%d only, got %d", max-1, i)
		}
	}
	if st := fx.srv.Stats(); st.Served != n || st.Requests != n || st.Active != 0 {
		t.Errorf("want %d served, %d requests, 0 active, got %+v", n, n, st)
	}
}

func TestStatusShowsBusyAndIdle(t *testing.T) {
	fx := newFixture(t, Options{})
	var pids []int
	for range 4 {
		dial(t, fx.ls[0])
		pids = append(pids, fx.fake.waitStarted(t))
	}
	fx.fake.set(pids[0], scoreboard.Writing, 0)
	fx.fake.count(pids[1], response.OKGet, 2)
	fx.fake.set(pids[1], scoreboard.Idle, 0)
	fx.fake.count(pids[2], response.OKGet, 3)
	fx.fake.set(pids[2], scoreboard.Idle, 0)
	fx.fake.set(pids[3], scoreboard.Done, 0)
	want := "4 children (1 busy, 2 idle, 1 closing), 5 requests served, 0 children killed"
	if got := fx.srv.status(); got != want {
		t.Errorf("want the status %q, got %q", want, got)
	}
	if st := fx.srv.Stats(); st.Busy != 1 || st.Idle != 2 || st.Closing != 1 || st.Requests != 5 {
		t.Errorf("want 1 busy, 2 idle, 1 closing, 5 requests, got %+v", st)
	}
}

func TestBoardOption(t *testing.T) {
	fake := newFake()
	o := Options{MaxChildren: 4, ChildTimeout: time.Second, ShutdownTimeout: time.Second, Starter: fake, Reaper: fake}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if s.board.Len() != 4 || !s.ownBoard || s.o.overrun != respond.Overrun {
		t.Errorf("want a board of 4 slots made by New and the kill at ChildTimeout + respond.Overrun, got %d slots, own %v, overrun %s",
			s.board.Len(), s.ownBoard, s.o.overrun)
	}
	s.closeBoard()
	if s.ownBoard {
		t.Error("want the board New made closed")
	}
	b, err := scoreboard.New(2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	o.Board = b
	if _, err := New(o); err == nil || !strings.Contains(err.Error(), "at least MaxChildren 4 slots, got 2") {
		t.Errorf("want a board smaller than MaxChildren refused, got %v", err)
	}
}
