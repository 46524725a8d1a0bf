package server

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hellod/hellod/internal/linux"
	"github.com/hellod/hellod/internal/scoreboard"
)

// evictTick is how often, at the cap, the backlog is looked at.
const evictTick = 10 * time.Millisecond

// evictor frees slots at the cap, reading what each child does from the
// scoreboard. While the server is at MaxChildren and connections wait in a
// listen backlog, it frees as many slots as connections wait:
//
//   - first the children idle between two requests of a persistent
//     connection, longest idle first, whatever their age: claimed
//     (Slot.Claim: the child reads nothing more), then killed, which loses
//     nothing (RFC 9112 section 9.3; nginx too closes idle keep-alive
//     connections first under pressure);
//   - then, with --evict-after, the children that have been reading a
//     request head for at least EvictAfter, oldest first. These are almost
//     always clients that do not finish their request (slow-loris), so
//     fresh clients get served instead of waiting behind them (the policy
//     of sshd's MaxStartups, made deterministic: oldest first).
//
// A child that is writing a response, lingering, done, starting or already
// claimed is never taken. Children killed (or done) but not reaped yet
// count against the waiting connections: one connection never costs two
// children.
//
// Eviction frees at most MaxChildren slots per EvictAfter, which is slow
// against a burst of stalled connections many times deeper than the cap,
// queued first-in first-out in front of any fresh client. So when more than
// MaxChildren connections wait and at least half the running children are
// stale (reading a head past EvictAfter), the oldest waiting connections
// beyond MaxChildren are accepted and closed unserved: a fast flood of real
// requests (young children) never triggers this; a clogged cap does.
//
// While the server is stopping nothing is evicted or dropped: what waits in
// the backlog then is the next instance's (systemd keeps the socket).
type evictor struct {
	s     *Server
	after time.Duration     // Options.EvictAfter (0: only idle children are evicted)
	max   int               // Options.MaxChildren
	rcs   []syscall.RawConn // the listeners', taken once by Serve
	cand  []victim          // evict's candidates, reused (under s.mu)

	// Evictions in the current and the previous window of length after.
	// Only run's goroutine uses them.
	window    time.Time
	cur, prev int

	evicted atomic.Int64 // stale children killed (also in Server.killed)
	dropped atomic.Int64 // waiting connections closed unserved
}

// victim is a child evict may take: idle, or reading a head since since.
type victim struct {
	c     *child
	pid   int
	since int64 // scoreboard.Now() nanoseconds
	idle  bool
}

// run waits for the cap to be hit and handles each episode at the cap. It
// returns when ctx is done or the server stops accepting.
func (ev *evictor) run(ctx context.Context) {
	s := ev.s
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case <-s.capHit:
		}
		if !ev.episode(ctx) {
			return
		}
	}
}

// episode looks at the backlog every evictTick until the server is below
// the cap again, then logs what it evicted and dropped. It returns false
// when ctx is done or the server stops accepting meanwhile.
func (ev *evictor) episode(ctx context.Context) bool {
	s := ev.s
	t := time.NewTicker(evictTick)
	defer t.Stop()
	evicted, idle, dropped := 0, 0, 0
	for s.atCap.Load() {
		select {
		case <-ctx.Done():
			return false
		case <-s.stop:
			return false
		case <-t.C:
		}
		if s.stopping() { // the tick and the stop came together
			return false
		}
		n := ev.waiting()
		if n == 0 {
			continue
		}
		// Reap first: a child that has exited but was not reaped yet
		// (the parent was stopped, or busy) would count as running. Its
		// exit frees its slot, and may well end the episode.
		s.o.Reaper.Reap()
		if !s.atCap.Load() {
			break
		}
		if ev.after > 0 && n > ev.max && 2*(ev.stale()+ev.recentEvictions()) >= ev.max {
			if dropped == 0 {
				s.log.Warn(fmt.Sprintf("%d connections wait behind %d stalled children: closing the oldest waiting ones unserved, beyond %d (--evict-after)",
					n, ev.max, ev.max))
			}
			k := ev.dropOldest(n - ev.max)
			dropped += k
			ev.dropped.Add(int64(k))
			n -= k
		}
		ki, ks := ev.evict(n)
		if ki > 0 && idle == 0 {
			s.log.Info("at --max-children with connections waiting: closing idle keep-alive connections, longest idle first (nothing is lost)")
		}
		if ks > 0 && evicted == 0 {
			s.log.Warn(fmt.Sprintf("at --max-children with connections waiting: killing children reading a request head for longer than %s, oldest first (--evict-after)", ev.after))
		}
		idle += ki
		evicted += ks
	}
	if evicted > 0 || idle > 0 || dropped > 0 {
		s.log.Info(fmt.Sprintf("below --max-children again: %d idle keep-alive children closed, %d children evicted, %d waiting connections closed unserved", idle, evicted, dropped),
			"IDLE_CLOSED", idle, "EVICTED", evicted, "DROPPED", dropped)
	}
	return true
}

// recentEvictions counts the children evicted in the last one to two
// EvictAfter periods: with children started at a steady pace they go stale,
// and are evicted, a few at a time, so the stale count alone never shows a
// clogged cap.
func (ev *evictor) recentEvictions() int {
	ev.roll(time.Now())
	return ev.cur + ev.prev
}

// roll advances the two eviction-count windows to now.
func (ev *evictor) roll(now time.Time) {
	switch since := now.Sub(ev.window); {
	case since >= 2*ev.after:
		ev.prev, ev.cur, ev.window = 0, 0, now
	case since >= ev.after:
		ev.prev, ev.cur, ev.window = ev.cur, 0, now
	}
}

// stale counts the running children that have been reading a request
// head for at least EvictAfter.
func (ev *evictor) stale() int {
	now := scoreboard.Now()
	s := ev.s
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.children {
		if c.killed.Load() != nil {
			continue // on its way out
		}
		if v := s.board.Slot(c.slot).Read(); ev.isStale(&v, now) {
			n++
		}
	}
	return n
}

// isStale: a child in state v has been reading a head for EvictAfter by now.
func (ev *evictor) isStale(v *scoreboard.Snapshot, now int64) bool {
	return ev.after > 0 && v.State == scoreboard.Reading && now-v.Since >= int64(ev.after)
}

// waiting estimates how many connections wait in the listeners' accept
// queues: the exact count for TCP (TCP_INFO of a listening socket), 1 for
// another readable listener.
func (ev *evictor) waiting() int {
	n := 0
	for _, rc := range ev.rcs {
		rc.Control(func(fd uintptr) { n += linux.AcceptQueue(int(fd)) })
	}
	return n
}

// dropOldest accepts up to n waiting connections, oldest first, and closes
// them without a child. It returns how many it closed.
func (ev *evictor) dropOldest(n int) int {
	done := 0
	for _, rc := range ev.rcs {
		rc.Control(func(fd uintptr) {
			for done < n {
				nfd, _, err := linux.Accept(int(fd))
				if err != nil {
					return
				}
				linux.Close(nfd)
				done++
			}
		})
	}
	return done
}

// evict frees up to n slots, idle children first, then stale ones (see
// evictor), less the children killed or done and not reaped yet. It
// returns how many idle children it closed and how many stale ones it
// killed.
func (ev *evictor) evict(n int) (idle, stale int) {
	s := ev.s
	now := scoreboard.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	cand := ev.cand[:0]
	for pid, c := range s.children {
		if c.killed.Load() != nil {
			n-- // its slot is on its way back
			continue
		}
		v := s.board.Slot(c.slot).Read()
		switch {
		case v.State == scoreboard.Closing || v.State == scoreboard.Done:
			n--
		case v.State == scoreboard.Idle:
			cand = append(cand, victim{c, pid, v.Since, true})
		case ev.isStale(&v, now):
			cand = append(cand, victim{c, pid, v.Since, false})
		}
	}
	ev.cand = cand[:0]
	if n <= 0 {
		return 0, 0
	}
	slices.SortFunc(cand, func(a, b victim) int {
		if a.idle != b.idle {
			if a.idle {
				return -1
			}
			return 1
		}
		return int(min(max(a.since-b.since, -1), 1))
	})
	for _, v := range cand {
		if idle+stale >= n {
			break
		}
		if v.idle {
			// A child that woke up meanwhile is not claimed: it reads a
			// request now.
			if s.claimLocked(v.c, v.pid, &reasonIdleEvicted) {
				idle++
			}
			continue
		}
		why := "evicted: reading a head for " + roundAge(time.Duration(now-v.since)).String()
		if s.killLocked(v.c, v.pid, &why) {
			stale++
		}
	}
	ev.roll(time.Now())
	ev.cur += stale
	ev.evicted.Add(int64(stale))
	return idle, stale
}

// roundAge rounds d for a log line: to the millisecond below a second,
// else to a tenth of a second.
func roundAge(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}
