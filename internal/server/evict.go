package server

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hellod/hellod/internal/linux"
)

// evictTick is how often, at the cap, the backlog is looked at.
const evictTick = 10 * time.Millisecond

// evictor carries out --evict-after over the server's child table. While
// the server is at MaxChildren and connections wait in a listen backlog, it
// kills as many of the oldest children as are waiting, provided they have
// run at least EvictAfter. Children that old are almost always clients that
// do not finish their request (slow-loris), so fresh clients get served
// instead of waiting behind them (the policy of sshd's MaxStartups, made
// deterministic: oldest first).
//
// Eviction frees at most MaxChildren slots per EvictAfter, which is slow
// against a burst of stalled connections many times deeper than the cap,
// queued first-in first-out in front of any fresh client. So when more than
// MaxChildren connections wait and at least half the running children are
// stale, the oldest waiting connections beyond MaxChildren are accepted and
// closed unserved: a fast flood of real requests (young children) never
// triggers this; a clogged cap does.
//
// While the server is stopping nothing is evicted or dropped: what waits in
// the backlog then is the next instance's (systemd keeps the socket).
type evictor struct {
	s     *Server
	after time.Duration     // Options.EvictAfter
	max   int               // Options.MaxChildren
	rcs   []syscall.RawConn // the listeners', taken once by Serve

	// Evictions in the current and the previous window of length after.
	// Only run's goroutine uses them.
	window    time.Time
	cur, prev int

	evicted atomic.Int64 // children killed (also in Server.killed)
	dropped atomic.Int64 // waiting connections closed unserved
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
	evicted, dropped := 0, 0
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
		if n > ev.max && 2*(ev.stale()+ev.recentEvictions()) >= ev.max {
			if dropped == 0 {
				s.log.Warn(fmt.Sprintf("%d connections wait behind %d stalled children: closing the oldest waiting ones unserved, beyond %d (--evict-after)",
					n, ev.max, ev.max))
			}
			k := ev.dropOldest(n - ev.max)
			dropped += k
			ev.dropped.Add(int64(k))
		}
		k := ev.evict(n)
		if k > 0 && evicted == 0 {
			s.log.Warn(fmt.Sprintf("at --max-children with connections waiting: killing children older than %s, oldest first (--evict-after)", ev.after))
		}
		evicted += k
	}
	if evicted > 0 || dropped > 0 {
		s.log.Info(fmt.Sprintf("below --max-children again: %d children evicted, %d waiting connections closed unserved", evicted, dropped),
			"EVICTED", evicted, "DROPPED", dropped)
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

// stale counts the running children older than EvictAfter.
func (ev *evictor) stale() int {
	cutoff := time.Now().Add(-ev.after)
	s := ev.s
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.children {
		if c.start.Before(cutoff) {
			n++
		}
	}
	return n
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

// evict kills up to n of the oldest children that have run at least
// EvictAfter and were not killed yet, and returns how many it signalled.
func (ev *evictor) evict(n int) int {
	cutoff := time.Now().Add(-ev.after)
	type victim struct {
		c     *child
		pid   int
		start time.Time
	}
	s := ev.s
	s.mu.Lock()
	var old []victim
	for pid, c := range s.children {
		if c.start.Before(cutoff) && c.killed.Load() == nil {
			old = append(old, victim{c, pid, c.start})
		}
	}
	s.mu.Unlock()
	sort.Slice(old, func(i, j int) bool { return old[i].start.Before(old[j].start) })
	if len(old) > n {
		old = old[:n]
	}
	for _, v := range old {
		s.kill(v.c, v.pid, fmt.Sprintf("evicted after %s at --max-children, connections waiting", time.Since(v.start).Round(time.Millisecond)))
	}
	ev.roll(time.Now())
	ev.cur += len(old)
	ev.evicted.Add(int64(len(old)))
	return len(old)
}
