package scoreboard

import (
	"os"
	"strings"
	"sync"
	"testing"
)

func newBoard(t *testing.T, n int) *Board {
	t.Helper()
	b, err := New(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestOpenSharesSlots: a board mapped again from its memfd, as an exec
// child does, sees and makes the same writes.
func TestOpenSharesSlots(t *testing.T) {
	b := newBoard(t, 3)
	c, err := Open(int(b.File().Fd()), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b.Slot(2).Reset(100)
	c.Slot(2).Set(Writing, 200)
	c.Slot(2).Served(10, 57)
	c.Slot(2).Served(0, 43)
	got := b.Slot(2).Read()
	if got.State != Writing || got.Since != 200 || got.Requests != 2 || got.Bytes != 100 || got.Last != 0 ||
		got.Counts[10] != 1 || got.Counts[0] != 1 {
		t.Errorf("want writing since 200, 2 requests (1x outcome 0, 1x 10), 100 bytes, last 0; got %+v", got)
	}
	if s := b.Slot(1).Read(); s.State != Free || s.Requests != 0 {
		t.Errorf("slot 1: want free and untouched, got %+v", s)
	}
	b.Slot(2).Stop()
	if !c.Slot(2).Stopped() {
		t.Error("want the child's view stopped after the parent's Stop")
	}
	b.Slot(2).Reset(300)
	if s := c.Slot(2).Read(); s.State != Starting || s.Requests != 0 || s.Bytes != 0 || s.Counts[0] != 0 || c.Slot(2).Stopped() {
		t.Errorf("after Reset: want starting, no counts, not stopped; got %+v", s)
	}
}

// TestServedClampsOutcome: an outcome past the table is counted in its last
// entry, never outside the slot.
func TestServedClampsOutcome(t *testing.T) {
	b := newBoard(t, 2)
	b.Slot(0).Served(200, 1)
	if got := b.Slot(0).Read().Counts[Outcomes-1]; got != 1 {
		t.Errorf("want outcome 200 counted in entry %d, got %d", Outcomes-1, got)
	}
	if got := b.Slot(1).Read(); got.Requests != 0 || got.Counts != [Outcomes]uint32{} {
		t.Errorf("slot 1: want untouched, got %+v", got)
	}
}

// TestClaimAndWakeExclude: of a parent's Claim and a child's Wake on an
// idle slot, exactly one wins, every time.
func TestClaimAndWakeExclude(t *testing.T) {
	b := newBoard(t, 1)
	s := b.Slot(0)
	for i := 0; i < 2000; i++ {
		s.Set(Idle, int64(i))
		var claimed, woke bool
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); claimed = s.Claim() }()
		go func() { defer wg.Done(); woke = s.Wake(int64(i)) }()
		wg.Wait()
		if claimed == woke {
			t.Fatalf("round %d: want exactly one of Claim and Wake to win, got claimed %v, woke %v", i, claimed, woke)
		}
		want := Reading
		if claimed {
			want = Closing
		}
		if got := s.Read().State; got != want {
			t.Fatalf("round %d: want state %v, got %v", i, want, got)
		}
	}
	s.Set(Writing, 0)
	if s.Claim() {
		t.Error("want Claim to refuse a writing child")
	}
}

func TestBadBoards(t *testing.T) {
	if _, err := New(0); err == nil || !strings.Contains(err.Error(), "positive") {
		t.Errorf("New(0): want a positive-count error, got %v", err)
	}
	b := newBoard(t, 1)
	if _, err := Open(int(b.File().Fd()), 1000); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Errorf("Open of a too small memfd: want a size error, got %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, err := Open(int(r.Fd()), 1); err == nil {
		t.Error("Open of a pipe: want an error, got none")
	}
	if _, err := Open(1<<20, 1); err == nil || !strings.Contains(err.Error(), "fstat") {
		t.Errorf("Open of a closed fd: want an fstat error, got %v", err)
	}
}

func TestStateNames(t *testing.T) {
	seen := map[string]bool{}
	for s := Free; s < numStates; s++ {
		n := s.String()
		if seen[n] || strings.HasPrefix(n, "state ") {
			t.Errorf("state %d: want a unique name, got %q", s, n)
		}
		seen[n] = true
	}
	if got := State(99).String(); got != "state 99" {
		t.Errorf("want %q, got %q", "state 99", got)
	}
}
