package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/hellod/hellod/internal/linux"
	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/response"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

// reapWait bounds how long Serve waits for killed children to be reaped.
const reapWait = 5 * time.Second

// child is one running child. Records are recycled through Server.free so
// that serving a connection allocates nothing in the parent: with the fork
// strategy every heap page the parent writes is copied for the children
// that share it, and a heap that grows makes every later fork dearer.
type child struct {
	pid      int
	slot     int            // its scoreboard slot, held until it is reaped
	remote   netip.AddrPort // invalid for a unix-socket peer
	start    time.Time
	deadline time.Time
	timer    *time.Timer            // fires kill at deadline; made once per record
	killed   atomic.Pointer[string] // why hellod killed it, if it did
	claimed  atomic.Bool            // it was idle and claimed before the kill: nothing was lost
}

// The reasons for a kill that are not formatted: the kill stores their
// address, so that a kill allocates nothing. Never written.
var (
	reasonTimeout      = "child timeout"
	reasonIdleEvicted  = "evicted: idle keep-alive"
	reasonIdleShutdown = "stopping: idle keep-alive"
)

// spawn starts the child for connection fd on scoreboard slot slot and
// closes fd in the parent. When the start fails for lack of tasks or
// memory (backpressure), it keeps both fd and slot for a retry; after
// another failure it closes fd and frees slot, logging it (rate-limited).
func (s *Server) spawn(fd int, peer netip.AddrPort, slot int) error {
	start := time.Now()
	sl := s.board.Slot(slot)
	sl.Reset(scoreboard.Now())
	pid, err := s.o.Starter.Start(fd, slot)
	if err != nil && backpressure(err) {
		return err
	}
	linux.Close(fd)
	if err != nil {
		sl.Release()
		s.ps.leave(peer)
		s.release(slot)
		s.startFails.Add(1)
		if ok, n := s.startLog.allow(time.Now()); ok {
			s.log.Error(fmt.Sprintf("cannot start a child for %s; connection closed: %v%s", addrString(peer), err, similar(n)),
				"REMOTE_ADDR", addrString(peer), "err", err, "SUPPRESSED", n)
		}
		return err
	}
	s.active.Add(1)
	s.touch()
	s.mu.Lock()
	c := s.record()
	life := s.o.ChildTimeout + s.o.overrun
	c.pid, c.slot, c.remote, c.start, c.deadline = pid, slot, peer, start, start.Add(life)
	c.killed.Store(nil)
	c.claimed.Store(false)
	s.children[pid] = c
	s.mu.Unlock()
	c.timer.Reset(life)
	// Registered first: a child that has exited already is reported by
	// Watch at once (the reaper keeps exits nobody watched yet).
	s.o.Reaper.Watch(pid, s.exitFn)
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		s.log.Debug(fmt.Sprintf("child %d started for %s", pid, addrString(peer)),
			"CHILD_PID", pid, "REMOTE_ADDR", addrString(peer))
	}
	return nil
}

// record returns a recycled child record, or a new one with its timer.
// Call with s.mu held.
func (s *Server) record() *child {
	if n := len(s.free); n > 0 {
		c := s.free[n-1]
		s.free = s.free[:n-1]
		return c
	}
	c := &child{}
	c.timer = time.AfterFunc(time.Hour, func() { s.timeout(c) })
	c.timer.Stop()
	return c
}

// timeout runs when c's timer fires. The record may have been recycled for
// another child since the timer was set: only a child past its own deadline
// is killed.
func (s *Server) timeout(c *child) {
	s.mu.Lock()
	pid, late := c.pid, !time.Now().Before(c.deadline)
	s.mu.Unlock()
	if late {
		s.kill(c, pid, &reasonTimeout)
	}
}

// kill sends SIGKILL to child pid, whose record is c, unless it has exited.
func (s *Server) kill(c *child, pid int, why *string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked(c, pid, why)
}

// killLocked is kill with s.mu held: a recycled record is never mistaken
// for its new child, and c's slot is still c's. The reason is recorded
// first, so the exit line says who killed it. A child claimed while idle
// (c.claimed) is counted as closed, not killed. It reports whether the
// signal was sent.
func (s *Server) killLocked(c *child, pid int, why *string) bool {
	if s.children[pid] != c || c.killed.Load() != nil {
		return false // exited meanwhile, or SIGKILLed already
	}
	c.killed.Store(why)
	if err := s.o.Reaper.Signal(pid, unix.SIGKILL); err != nil {
		c.killed.Store(nil)
		if !errors.Is(err, reaper.ErrReaped) {
			s.log.Error(fmt.Sprintf("cannot kill child %d: %v", pid, err), "CHILD_PID", pid)
		}
		return false
	}
	if c.claimed.Load() {
		s.idleClosed.Add(1)
	} else {
		s.killed.Add(1)
	}
	return true
}

// claimLocked kills child pid (record c) if it is idle between two
// requests: Claim first, so that it reads nothing more (Wake fails), then
// SIGKILL, which loses nothing (RFC 9112 section 9.3). Call with s.mu held.
func (s *Server) claimLocked(c *child, pid int, why *string) bool {
	if c.killed.Load() != nil || !s.board.Slot(c.slot).Claim() {
		return false
	}
	c.claimed.Store(true)
	return s.killLocked(c, pid, why)
}

func (s *Server) signalExit() {
	select {
	case s.exited <- struct{}{}:
	default:
	}
	select {
	case s.exitWake <- struct{}{}:
	default:
	}
}

// abandon closes connection fd, whose child could not be started, and
// frees its slot and its source's count.
func (s *Server) abandon(fd int, peer netip.AddrPort, slot int) {
	linux.Close(fd)
	s.board.Slot(slot).Release()
	s.ps.leave(peer)
	s.release(slot)
}

// onExit runs when a child was reaped: on the reaper's goroutine, or on the
// accept loop's when the child had exited before spawn called Watch.
func (s *Server) onExit(e reaper.Exit) {
	s.mu.Lock()
	c, ok := s.children[e.PID]
	if !ok { // not ours: Watch is only called for registered children
		s.mu.Unlock()
		return
	}
	delete(s.children, e.PID)
	// What it served, read before the slot is released (and counted in the
	// same critical section as the child leaves the table, for Stats).
	sl := s.board.Slot(c.slot)
	v := sl.Read()
	fillIn(&v, e)
	s.requestsDone += int64(v.Requests)
	if v.Requests > 0 {
		s.served.Add(1)
	}
	s.mu.Unlock()
	c.timer.Stop()
	sl.Release()
	s.ps.leave(c.remote) // before the slot: its source's next connection may take it
	s.release(c.slot)    // the accept loop may go on at once
	s.logExit(c, e, &v)
	// Last: once drain sees no child active, every exit line is written.
	s.active.Add(-1)
	s.touch()
	s.signalExit()
	s.mu.Lock()
	s.free = append(s.free, c)
	s.mu.Unlock()
}

// fillIn counts, in v, the response of a child that exited with a
// response's outcome but counted none in its slot (a child that does not
// write its slot, or did not get to), so that the exit line and the
// counters still show it.
func fillIn(v *scoreboard.Snapshot, e reaper.Exit) {
	if v.Requests > 0 || e.Status.Signaled() {
		return
	}
	o, known := response.FromExitCode(e.Code())
	if !known || o.Status() == 0 {
		return
	}
	v.Requests, v.Last = 1, uint8(o)
	v.Counts[min(int(o), scoreboard.Outcomes-1)]++
}

// KillAll sends SIGKILL to every running child.
func (s *Server) KillAll(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, c := range s.children {
		s.killLocked(c, pid, &why)
	}
}

// stopChildren asks every running child to close its connection after its
// current response (Stop), and closes the idle ones at once (claimLocked).
// A child's own order is the reverse (Set(Idle), then Stopped): either the
// parent claims it while it is idle, or it sees the stop flag when it gets
// there and exits by itself. It returns how many idle children it closed.
func (s *Server) stopChildren() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for pid, c := range s.children {
		s.board.Slot(c.slot).Stop()
		if s.claimLocked(c, pid, &reasonIdleShutdown) {
			n++
		}
	}
	return n
}

// drain closes the idle children, lets the others finish their current
// request (whose response says Connection: close) and waits for them,
// killing them after ShutdownTimeout.
func (s *Server) drain(why string) {
	if s.active.Load() == 0 {
		return
	}
	idle := s.stopChildren()
	s.log.Info(fmt.Sprintf("%s: waiting up to %s for %d children (%d idle closed at once, the others finish their request)",
		why, s.o.ShutdownTimeout, s.active.Load(), idle), "IDLE_CLOSED", idle)
	deadline := time.NewTimer(s.o.ShutdownTimeout)
	defer deadline.Stop()
	for s.active.Load() > 0 {
		select {
		case <-s.exited:
			continue
		case <-deadline.C:
		}
		s.KillAll("shutdown timeout")
		break
	}
	giveUp := time.NewTimer(reapWait)
	defer giveUp.Stop()
	for s.active.Load() > 0 {
		select {
		case <-s.exited:
		case <-giveUp.C:
			s.log.Error(fmt.Sprintf("%d children not reaped %s after SIGKILL", s.active.Load(), reapWait))
			return
		}
	}
}
