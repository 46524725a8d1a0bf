package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestEpisodesRateLimited(t *testing.T) {
	var e episodes
	t0 := time.Unix(1000, 0)
	if ok, n := e.begin(t0); !ok || n != 0 {
		t.Fatalf("first episode: want its line written, 0 suppressed; got %v, %d", ok, n)
	}
	if ok, d := e.end(t0.Add(3 * time.Millisecond)); !ok || d != 3*time.Millisecond {
		t.Fatalf("first episode's end: want written after 3ms, got %v after %s", ok, d)
	}
	// Ten short episodes within the second: none written, neither end.
	for i := 1; i <= 10; i++ {
		at := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		if ok, _ := e.begin(at); ok {
			t.Fatalf("episode %d at +%s: want it suppressed", i, at.Sub(t0))
		}
		if ok, _ := e.end(at.Add(time.Millisecond)); ok {
			t.Fatalf("episode %d: want its end suppressed with its begin", i)
		}
	}
	// One that lasts: its line is due at the second, then written late,
	// counting the ten before it; its end is written.
	at := t0.Add(500 * time.Millisecond)
	if ok, _ := e.begin(at); ok {
		t.Fatal("episode at +500ms: want it suppressed")
	}
	if d := e.due(at); d != 500*time.Millisecond {
		t.Errorf("want its line due in 500ms, got %s", d)
	}
	if n, lasted := e.late(t0.Add(logEvery)); n != 10 || lasted != 500*time.Millisecond {
		t.Errorf("late line: want 10 suppressed, lasted 500ms; got %d, %s", n, lasted)
	}
	if ok, _ := e.end(t0.Add(1100 * time.Millisecond)); !ok {
		t.Error("want the end of an episode written late written too")
	}
	if ok, n := e.begin(t0.Add(2200 * time.Millisecond)); !ok || n != 0 {
		t.Errorf("a second later: want the line written, 0 suppressed; got %v, %d", ok, n)
	}
	var l lines
	written, suppressed := 0, 0
	for i := range 100 {
		if ok, n := l.allow(t0.Add(time.Duration(i) * 25 * time.Millisecond)); ok {
			written++
			suppressed += n
		}
	}
	if written != 3 || suppressed != 78 { // at 0, 1 s, 2 s of 0..2.475 s
		t.Errorf("lines: 100 in 2.5 s: want 3 written and 78 suppressed counted, got %d and %d", written, suppressed)
	}
	if got := similar(7); got != " (7 similar suppressed)" {
		t.Errorf("similar(7): want %q, got %q", " (7 similar suppressed)", got)
	}
}

// At --max-children 1, with connections coming one after another, the
// cap is reached and left once per connection: a line pair per connection
// before; now at most a pair per second.
func TestCapLinesRateLimited(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 1})
	const n = 40
	start := time.Now()
	for range n {
		c := dial(t, fx.ls[0])
		c2 := dial(t, fx.ls[0]) // waits at the cap
		fx.fake.serve(fx.fake.waitStarted(t))
		fx.fake.serve(fx.fake.waitStarted(t))
		c.Close()
		c2.Close()
	}
	elapsed := time.Since(start)
	reached := strings.Count(fx.log.String(), "not accepting until one exits")
	left := strings.Count(fx.log.String(), "below --max-children again")
	limit := int(elapsed/logEvery) + 2
	if reached < 1 || reached > limit || left > reached {
		t.Errorf("%d cap episodes in %s: want 1 to %d cap lines and no more below-cap lines, got %d and %d\n%s",
			n, elapsed.Round(time.Millisecond), limit, reached, left, fx.log.String())
	}
	t.Logf("%d cap episodes in %s: %d cap lines, %d below-cap lines", n, elapsed.Round(time.Millisecond), reached, left)
}

// A start that fails with EAGAIN (a task limit) keeps the connection and
// retries: the client is served, and the episode is logged once.
func TestStartBackpressureKeepsConnection(t *testing.T) {
	fx := newFixture(t, Options{MaxChildren: 2})
	fx.fake.mu.Lock()
	fx.fake.failNext = fmt.Errorf("start fork child: clone: %w", unix.EAGAIN)
	fx.fake.mu.Unlock()
	c := dial(t, fx.ls[0])
	fx.fake.serve(fx.fake.waitStarted(t)) // the retry
	if got := readAll(t, c); !strings.HasPrefix(got, "HTTP/1.1 200 OK") {
		t.Errorf("want a 200 after a start failing with EAGAIN, got %q", got)
	}
	fx.log.waitFor(t, "children start again after")
	log := fx.log.String()
	if n := strings.Count(log, "task limit reached"); n != 1 {
		t.Errorf("want one task-limit line, got %d:\n%s", n, log)
	}
	if strings.Contains(log, "cannot start a child") {
		t.Errorf("want no connection closed for a task limit, got:\n%s", log)
	}
	if st := fx.srv.Stats(); st.StartFailures != 1 || st.Served != 1 {
		t.Errorf("want 1 failed start and 1 connection served, got %d and %d", st.StartFailures, st.Served)
	}
}
