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
	remote   netip.AddrPort // invalid for a unix-socket peer
	start    time.Time
	deadline time.Time
	timer    *time.Timer            // fires kill at deadline; made once per record
	killed   atomic.Pointer[string] // why hellod killed it, if it did
}

// spawn starts the child for connection fd (and closes fd in the parent).
func (s *Server) spawn(fd int, peer netip.AddrPort) error {
	start := time.Now()
	pid, err := s.o.Starter.Start(fd)
	linux.Close(fd)
	if err != nil {
		s.release()
		s.startFails.Add(1)
		s.log.Error(fmt.Sprintf("cannot start a child for %s; connection closed: %v", addrString(peer), err),
			"REMOTE_ADDR", addrString(peer), "err", err)
		return err
	}
	s.active.Add(1)
	s.touch()
	s.mu.Lock()
	c := s.record()
	c.pid, c.remote, c.start, c.deadline = pid, peer, start, start.Add(s.o.ChildTimeout)
	c.killed.Store(nil)
	s.children[pid] = c
	s.mu.Unlock()
	c.timer.Reset(s.o.ChildTimeout)
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
		s.kill(c, pid, "child timeout")
	}
}

// kill sends SIGKILL to child pid, whose record is c, unless it has exited.
// The reason is recorded first, so the exit line says who killed it. s.mu is
// held throughout, so a recycled record is never mistaken for its new child.
func (s *Server) kill(c *child, pid int, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.children[pid] != c {
		return // exited meanwhile
	}
	c.killed.Store(&why)
	if err := s.o.Reaper.Signal(pid, unix.SIGKILL); err != nil {
		c.killed.Store(nil)
		if !errors.Is(err, reaper.ErrReaped) {
			s.log.Error(fmt.Sprintf("cannot kill child %d: %v", pid, err), "CHILD_PID", pid)
		}
		return
	}
	s.killed.Add(1)
}

func (s *Server) signalExit() {
	select {
	case s.exited <- struct{}{}:
	default:
	}
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
	s.mu.Unlock()
	c.timer.Stop()
	s.active.Add(-1)
	s.touch()
	s.release()
	s.signalExit()
	s.logExit(c, e)
	s.mu.Lock()
	s.free = append(s.free, c)
	s.mu.Unlock()
}

// KillAll sends SIGKILL to every running child.
func (s *Server) KillAll(why string) {
	s.mu.Lock()
	cs := make(map[int]*child, len(s.children))
	for pid, c := range s.children {
		cs[pid] = c
	}
	s.mu.Unlock()
	for pid, c := range cs {
		s.kill(c, pid, why)
	}
}

// drain waits for running children, killing them after ShutdownTimeout.
func (s *Server) drain(why string) {
	if s.active.Load() == 0 {
		return
	}
	s.log.Info(fmt.Sprintf("%s: waiting up to %s for %d children", why, s.o.ShutdownTimeout, s.active.Load()))
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
