package forkchild

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"syscall"
	"time"

	"github.com/hellod/hellod/internal/http1"
	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/sandbox"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

// Fork starts each child with a true fork (clone(2) with SIGCHLD, no
// exec): the child answers its connection with internal/respond's
// responder, from responses the parent prepared, exactly as an exec child
// does, and exits with the outcome. See the CONTRACT in doc.go.
type Fork struct {
	s     respond.Settings
	board *scoreboard.Board // the children's slots

	mu  sync.Mutex // serialises forks and every write to mem
	mem []byte     // the mem mapping
	m   *mem

	mapped   []metrics.Sample // the runtime's mapped memory, read once a second
	isolated struct {
		mapped uint64 // the runtime's mapped memory at the last isolate
		sec    int64  // and its time
	}
}

// isolateEvery bounds the time between two isolate calls even when the
// runtime's mapped memory seems unchanged.
const isolateEvery = 60 // seconds

// NewFork prepares a fork strategy whose children record their state in
// board's slots: the child's memory and responses, the parent's other
// mappings but board's marked not to be copied into children. It returns
// Probe's error when this build's fork child does not work.
func NewFork(s respond.Settings, board *scoreboard.Board) (*Fork, error) {
	if board == nil {
		return nil, errors.New("fork strategy: want a scoreboard, got none")
	}
	f, err := newFork(s, board)
	if err != nil {
		return nil, err
	}
	if err := probeOnce(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// newFork is NewFork without the probe (and board nil for the probe's own
// strategy, whose canary has a slot in mem).
func newFork(s respond.Settings, board *scoreboard.Board) (*Fork, error) {
	if err := archSupported(); err != nil {
		return nil, err
	}
	args, err := argStart()
	if err != nil {
		return nil, fmt.Errorf("fork child memory: %w", err)
	}
	keep(args)
	if board != nil {
		addr, _ := board.Mapping()
		keep(addr)
	}
	f := &Fork{s: s, board: board}
	now := time.Now()
	var resp respond.Table
	size := resp.Build(s.Message, now)
	m, b, err := newMem(s.Limits(http1.StrictColons()), size)
	if err != nil {
		return nil, err
	}
	f.m, f.mem = m, b
	if s.Sandbox {
		p, err := sandbox.Build(sandbox.Fork)
		if err == nil {
			err = m.setFilter(p)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("fork strategy: sandbox: %w", err)
		}
	}
	if !m.setResponses(b, &resp) {
		f.Close()
		return nil, fmt.Errorf("fork child memory: %d bytes of responses do not fit", size)
	}
	f.mapped = []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	if err := f.isolate(now.Unix()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Name is the strategy's name as given to --child.
func (f *Fork) Name() string { return "fork" }

// Close unmaps the children's memory (children already forked have their
// own copy).
func (f *Fork) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mem == nil {
		return nil
	}
	unregisterMem(f.mem)
	err := unix.Munmap(f.mem)
	f.mem, f.m = nil, nil
	if err != nil {
		return fmt.Errorf("fork child memory: %w", os.NewSyscallError("munmap", err))
	}
	return nil
}

// isolate runs isolate and notes when. Called with f.mu held.
func (f *Fork) isolate(sec int64) error {
	metrics.Read(f.mapped)
	f.isolated.mapped, f.isolated.sec = f.mapped[0].Value.Uint64(), sec
	return isolate()
}

// refresh brings the Dates of the responses in mem to now's second in
// place, at most once a second; then, if the runtime has mapped or
// unmapped memory since the last isolate (or that was a minute ago), it
// runs it again to mark MADV_DONTFORK what the runtime mapped. Called with
// f.mu held.
func (f *Fork) refresh(now time.Time) {
	sec := now.Unix()
	if sec == f.m.resp.Second() {
		return
	}
	f.m.resp.SetDate(sec)
	metrics.Read(f.mapped)
	if f.mapped[0].Value.Uint64() != f.isolated.mapped || sec-f.isolated.sec >= isolateEvery {
		f.isolate(sec) // best effort: what it misses is only copied
	}
}

// Start starts a child serving the connected socket fd that records its
// state in the board's slot (which the caller Reset) and returns its PID.
// The caller keeps fd and closes it once Start returns; the child has its
// own copy. The child is reaped by the caller's reaper. Start is safe for
// concurrent use: forks are serialised, and a child sees the responses as
// they were at its fork.
func (f *Fork) Start(fd, slot int) (int, error) {
	if f.board == nil || slot < 0 || slot >= f.board.Len() {
		return 0, fmt.Errorf("start fork child: want a slot from 0 to %d, got %d", f.boardLen()-1, slot)
	}
	pid, err := f.start(fd, f.board.Slot(slot), uintptr(syscall.SIGCHLD))
	if err != nil {
		return 0, fmt.Errorf("start fork child: %w", err)
	}
	return pid, nil
}

// boardLen is the number of slots (0 without a board).
func (f *Fork) boardLen() int {
	if f.board == nil {
		return 0
	}
	return f.board.Len()
}

// start forks a child on fd and slot (nil: the canary's, in mem) with exit
// signal exitSignal.
func (f *Fork) start(fd int, slot *scoreboard.Slot, exitSignal uintptr) (int, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, os.NewSyscallError("clock_gettime", err)
	}
	now := ts.Nano()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		return 0, errors.New("strategy closed")
	}
	f.refresh(time.Now())
	if slot == nil {
		slot = &f.m.probe
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if keepTLS {
		if err := keepThread(); err != nil {
			return 0, err
		}
	}
	a := call{conn: fd, start: now, slot: slot, m: f.m}
	pid, errno := clone(&a, exitSignal)
	if errno != 0 {
		return 0, os.NewSyscallError("clone", errno)
	}
	return int(pid), nil
}
