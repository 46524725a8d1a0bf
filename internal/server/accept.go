package server

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/hellod/hellod/internal/linux"
	"golang.org/x/sys/unix"
)

// acceptBackoff bounds the pause after accept fails for lack of resources
// (EMFILE, ENFILE, ENOBUFS, ENOMEM) or a child cannot be started.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// acquire takes a free scoreboard slot for the next child, waiting at the
// cap. It returns false when the server stops accepting meanwhile. The
// cap's lines (reached, left) are rate-limited (s.capLog): an episode whose
// line was suppressed and that lasts gets its line once it may be written.
func (s *Server) acquire() (int, bool) {
	select {
	case i := <-s.slots:
		return i, true
	default:
	}
	won := s.atCap.CompareAndSwap(false, true)
	if won {
		now := time.Now()
		s.capSince.Store(now.UnixNano())
		select {
		case s.capHit <- struct{}{}:
		default:
		}
		if ok, n := s.capLog.begin(now); ok {
			s.logCap(n, 0)
		} else {
			s.capTimer.Reset(s.capLog.due(now))
		}
	}
	var i int
	select {
	case i = <-s.slots:
	case <-s.stop:
		return 0, false
	case <-s.capTimer.C: // only the winner armed it
		s.logCap(s.capLog.late(time.Now()))
		select {
		case i = <-s.slots:
		case <-s.stop:
			return 0, false
		}
	}
	if won {
		s.capTimer.Stop()
	}
	if s.atCap.CompareAndSwap(true, false) {
		if ok, waited := s.capLog.end(time.Now()); ok {
			s.log.Info(fmt.Sprintf("below --max-children again after %s: accepting", waited.Round(time.Millisecond)),
				"MAX_CHILDREN", s.o.MaxChildren)
		}
	}
	return i, true
}

// logCap writes the cap-reached line: n earlier episodes were not logged;
// lasted is how long this one has lasted already (0: it just began).
func (s *Server) logCap(n int, lasted time.Duration) {
	since := ""
	if lasted > 0 {
		since = fmt.Sprintf(" (for %s already)", lasted.Round(time.Millisecond))
	}
	s.log.Warn(fmt.Sprintf("%d children running (--max-children): not accepting until one exits%s; new connections wait in the listen backlog%s",
		s.o.MaxChildren, since, similar(n)), "MAX_CHILDREN", s.o.MaxChildren, "SUPPRESSED", n)
}

// release puts slot i, free again (scoreboard state Free), back on the free
// list. It never blocks: the list has room for every slot.
func (s *Server) release(i int) { s.slots <- i }

// acceptLoop accepts connections on rc until the server stops accepting.
func (s *Server) acceptLoop(rc syscall.RawConn) error {
	backoff := time.Duration(0)
	failures := 0
	unlogged := false // this failure episode's line was suppressed
	// The accept callback is made once: a closure per call would allocate.
	var nfd int
	var peer netip.AddrPort
	var aerr error
	accept := func(fd uintptr) bool {
		nfd, peer, aerr = linux.Accept(int(fd))
		return !errors.Is(aerr, unix.EAGAIN)
	}
	for {
		slot, ok := s.acquire()
		if !ok {
			return nil
		}
		err := rc.Read(accept)
		if err != nil {
			s.release(slot)
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) || s.stopping() {
				return nil
			}
			return err
		}
		if aerr != nil {
			s.release(slot)
			switch {
			case temporaryAcceptError(aerr):
				continue
			case resourceError(aerr):
				now := time.Now()
				if failures == 0 {
					ok, n := s.acceptLog.begin(now)
					unlogged = !ok
					if ok {
						s.logAcceptFailing(aerr, n, 0)
					}
				} else if unlogged && s.acceptLog.due(now) == 0 { // it lasts: say so after all
					unlogged = false
					n, lasted := s.acceptLog.late(now)
					s.logAcceptFailing(aerr, n, lasted)
				}
				failures++
				backoff = nextBackoff(backoff)
				if !s.pause(backoff) {
					return nil
				}
				continue
			default:
				return aerr
			}
		}
		if failures > 0 {
			if ok, lasted := s.acceptLog.end(time.Now()); ok {
				s.log.Info(fmt.Sprintf("accept recovered after %d failures in %s", failures, lasted.Round(time.Millisecond)))
			}
			failures, backoff = 0, 0
		}
		if !s.ps.admit(peer) { // over its source's limit: reset, and the slot stays free
			s.release(slot)
			refuse(nfd)
			continue
		}
		if !s.startChild(nfd, peer, slot, &backoff) {
			return nil
		}
	}
}

// logAcceptFailing writes the line of an episode of accept failures: n
// earlier episodes were not logged; lasted is how long this one has lasted
// already (0: it just began).
func (s *Server) logAcceptFailing(err error, n int, lasted time.Duration) {
	since := ""
	if lasted > 0 {
		since = fmt.Sprintf(" (failing for %s already)", lasted.Round(time.Millisecond))
	}
	s.log.Error("accept: out of resources; backing off until descriptors or memory are free"+since+similar(n),
		"err", err, "SUPPRESSED", n)
}

// startChild starts the child for connection fd on slot. A start that
// fails for lack of tasks or memory (EAGAIN, ENOMEM from clone or fork) is
// backpressure: the connection is kept and its start retried, after a
// child exits (the reaper's signalExit) or a backoff, whichever comes
// first, with one line per episode (s.taskLog). Another failure closes the
// connection (spawn logs it, rate-limited) and backs off, longer after
// each (*failBackoff, reset by a start). It returns false when the server
// stops accepting meanwhile (the connection is closed).
func (s *Server) startChild(fd int, peer netip.AddrPort, slot int, failBackoff *time.Duration) bool {
	backoff := time.Duration(0)
	retries := 0
	for {
		err := s.spawn(fd, peer, slot)
		if err == nil {
			break
		}
		if !backpressure(err) {
			*failBackoff = nextBackoff(*failBackoff)
			return s.pause(*failBackoff)
		}
		if retries == 0 {
			if ok, n := s.taskLog.begin(time.Now()); ok {
				what := "task limit reached"
				if errors.Is(err, unix.ENOMEM) {
					what = "out of memory"
				}
				m := s.taskFails.Swap(0)
				s.log.Warn(fmt.Sprintf("%s (%v): %d children, holding the connection and retrying as children exit; %d failed starts suppressed",
					what, err, s.active.Load(), m), "ACTIVE", s.active.Load(), "SUPPRESSED", m, "EPISODES_SUPPRESSED", n, "err", err)
			}
		}
		retries++
		s.startFails.Add(1)
		s.taskFails.Add(1) // written by the next episode's line
		backoff = nextBackoff(backoff)
		if !s.waitExit(backoff) {
			s.abandon(fd, peer, slot)
			return false
		}
	}
	if retries > 0 {
		if ok, lasted := s.taskLog.end(time.Now()); ok {
			s.log.Info(fmt.Sprintf("children start again after %s (%d starts retried)", lasted.Round(time.Millisecond), retries),
				"RETRIES", retries)
		}
	}
	return true
}

// backpressure: a child could not be started for lack of tasks (EAGAIN:
// a cgroup's pids.max, RLIMIT_NPROC) or memory (ENOMEM); one will be once
// a child exits.
func backpressure(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENOMEM)
}

// waitExit waits for a child's exit or d, whichever comes first, or until
// the server stops accepting (false). With no child running it waits d.
func (s *Server) waitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.exitWake:
		return true
	case <-s.stop:
		return false
	}
}

// pause waits d (a backoff after a failed accept or start), or less if
// the server stops accepting, in which case it returns false. It does not
// wake up for child exits: the parent closes every connection at once, so a
// child's exit frees none of the parent's descriptors, and waking on it
// would turn the backoff into a busy loop whenever children come and go.
func (s *Server) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stop:
		return false
	}
}

func nextBackoff(d time.Duration) time.Duration {
	if d < minBackoff {
		return minBackoff
	}
	return min(2*d, maxBackoff)
}

// temporaryAcceptError: the connection died in the queue or a signal
// interrupted; just accept the next (see accept(2), "Error handling").
func temporaryAcceptError(err error) bool {
	for _, e := range []error{unix.ECONNABORTED, unix.EPROTO, unix.EPERM, unix.ENETDOWN,
		unix.ENOPROTOOPT, unix.EHOSTDOWN, unix.ENONET, unix.EHOSTUNREACH, unix.EOPNOTSUPP, unix.ENETUNREACH} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// resourceError: accept failed for lack of descriptors or memory; back off.
func resourceError(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) ||
		errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM)
}
