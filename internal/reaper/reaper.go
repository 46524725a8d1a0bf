// Package reaper collects every terminated child of the process with
// wait4(-1, WNOHANG) on SIGCHLD and reports each exit to whoever started that
// child (see wait4(2) and signal-safety notes in signal(7)).
//
// It is the process's only reaping mechanism: while a Reaper runs, nothing
// else may wait for children (no exec.Cmd.Wait, no os.Process.Wait), or exits
// would be stolen from one another.
package reaper

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/hellod/hellod/internal/linux"
	"golang.org/x/sys/unix"
)

// Exit is a reaped child.
type Exit struct {
	PID    int
	Status unix.WaitStatus
	Rusage unix.Rusage
	Time   time.Time // when it was reaped
}

// Code is the exit status as a shell reports it: 128+signal when killed.
func (e Exit) Code() int { return linux.ExitCode(e.Status) }

// ErrReaped is returned by Signal for a child that was already reaped.
var ErrReaped = errors.New("child already reaped")

// unclaimedTTL is how long the exit of a PID nobody watches is kept for a
// Watch that may still come (a child can exit before its starter calls
// Watch). Exits of processes nobody started through us are dropped after it.
const unclaimedTTL = time.Minute

// Reaper reaps children and dispatches their exits.
type Reaper struct {
	mu        sync.Mutex
	watch     map[int]func(Exit)
	unclaimed map[int]Exit
	sig       chan os.Signal
	done      chan struct{}
	stopped   chan struct{}
	onError   func(error)
	ready     []dispatch // reused by reapAll: reaping allocates nothing
	reaping   sync.Mutex // serialises reapAll (the loop's and Reap's)
}

// Start installs the SIGCHLD handler and starts reaping. onError, if not
// nil, is told about unexpected wait4 failures.
func Start(onError func(error)) *Reaper {
	r := &Reaper{
		watch:     make(map[int]func(Exit)),
		unclaimed: make(map[int]Exit),
		sig:       make(chan os.Signal, 1),
		done:      make(chan struct{}),
		stopped:   make(chan struct{}),
		onError:   onError,
	}
	signal.Notify(r.sig, unix.SIGCHLD)
	go r.loop()
	return r
}

// Watch arranges for onExit to run, on the reaper's goroutine, when child
// pid has been reaped; at once if it already was. Call it right after
// starting the child. onExit must not block for long.
func (r *Reaper) Watch(pid int, onExit func(Exit)) {
	r.mu.Lock()
	if e, ok := r.unclaimed[pid]; ok {
		delete(r.unclaimed, pid)
		r.mu.Unlock()
		onExit(e)
		return
	}
	r.watch[pid] = onExit
	r.mu.Unlock()
}

// Signal sends sig to child pid unless it was already reaped. Reaping and
// signalling are serialised, so a PID is never signalled after it could have
// been reused by another process.
func (r *Reaper) Signal(pid int, sig unix.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.watch[pid]; !ok {
		return ErrReaped
	}
	return linux.Kill(pid, sig)
}

// Stop stops reaping and removes the SIGCHLD handler. Children still running
// are left alone.
func (r *Reaper) Stop() {
	signal.Stop(r.sig)
	close(r.done)
	<-r.stopped
}

func (r *Reaper) loop() {
	defer close(r.stopped)
	for {
		select {
		case <-r.done:
			return
		case <-r.sig:
			r.reapAll()
		}
	}
}

// Reap reaps, now, every child that has terminated and dispatches their
// exits, as SIGCHLD's handling would a moment later: a caller about to
// judge its children by their state (the evictor) sees no exited child as
// running.
func (r *Reaper) Reap() { r.reapAll() }

type dispatch struct {
	fn func(Exit)
	e  Exit
}

// reapAll reaps every terminated child: SIGCHLD coalesces, so one signal
// may stand for many exits.
func (r *Reaper) reapAll() {
	r.reaping.Lock()
	defer r.reaping.Unlock()
	ready := r.ready[:0]
	now := time.Now()
	r.mu.Lock()
	for {
		ex, ok, err := linux.Wait4Any()
		if err != nil && r.onError != nil {
			r.onError(err)
		}
		if !ok {
			break
		}
		e := Exit{PID: ex.PID, Status: ex.Status, Rusage: ex.Rusage, Time: now}
		if fn, ok := r.watch[e.PID]; ok {
			delete(r.watch, e.PID)
			ready = append(ready, dispatch{fn, e})
		} else {
			r.unclaimed[e.PID] = e
		}
	}
	for pid, e := range r.unclaimed {
		if now.Sub(e.Time) > unclaimedTTL {
			delete(r.unclaimed, pid)
		}
	}
	r.mu.Unlock()
	for i, d := range ready {
		d.fn(d.e)
		ready[i] = dispatch{}
	}
	r.ready = ready[:0]
}
