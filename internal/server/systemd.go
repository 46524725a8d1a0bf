package server

import (
	"context"
	"fmt"
	"time"
)

// statusLoop looks at the status line every StatusInterval and sends it
// as STATUS= (sd_notify(3)) when it changed.
func (s *Server) statusLoop(ctx context.Context) {
	t := time.NewTicker(s.o.StatusInterval)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if st := s.status(); st != last {
			if err := s.o.Notifier.Status(st); err != nil {
				s.log.Debug("sd_notify STATUS failed", "err", err)
			}
			last = st
		}
	}
}

// watchdogLoop sends WATCHDOG=1 at once and then every WatchdogInterval.
func (s *Server) watchdogLoop(ctx context.Context) {
	t := time.NewTicker(s.o.WatchdogInterval)
	defer t.Stop()
	for {
		if err := s.o.Notifier.Watchdog(); err != nil {
			s.log.Warn("sd_notify WATCHDOG=1 failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// idleLoop closes idle once no connection was accepted and no child ran for
// IdleExit.
func (s *Server) idleLoop(ctx context.Context, idle chan<- struct{}) {
	t := time.NewTimer(s.o.IdleExit)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		quiet := time.Since(time.Unix(0, s.lastTouch.Load()))
		if s.active.Load() == 0 && quiet >= s.o.IdleExit {
			s.log.Info(fmt.Sprintf("idle for %s (--idle-exit): exiting; systemd starts hellod again on the next connection", quiet.Round(time.Millisecond)))
			close(idle)
			return
		}
		next := s.o.IdleExit - quiet
		if s.active.Load() > 0 || next <= 0 {
			next = s.o.IdleExit
		}
		t.Reset(next)
	}
}
