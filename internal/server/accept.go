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
// cap. It returns false when the server stops accepting meanwhile.
func (s *Server) acquire() (int, bool) {
	select {
	case i := <-s.slots:
		return i, true
	default:
	}
	if s.atCap.CompareAndSwap(false, true) {
		s.capSince.Store(time.Now().UnixNano())
		select {
		case s.capHit <- struct{}{}:
		default:
		}
		s.log.Warn(fmt.Sprintf("%d children running (--max-children): not accepting until one exits; new connections wait in the listen backlog", s.o.MaxChildren),
			"MAX_CHILDREN", s.o.MaxChildren)
	}
	var i int
	select {
	case i = <-s.slots:
	case <-s.stop:
		return 0, false
	}
	if s.atCap.CompareAndSwap(true, false) {
		waited := time.Since(time.Unix(0, s.capSince.Load()))
		s.log.Info(fmt.Sprintf("below --max-children again after %s: accepting", waited.Round(time.Millisecond)),
			"MAX_CHILDREN", s.o.MaxChildren)
	}
	return i, true
}

// release puts slot i, free again (scoreboard state Free), back on the free
// list. It never blocks: the list has room for every slot.
func (s *Server) release(i int) { s.slots <- i }

// acceptLoop accepts connections on rc until the server stops accepting.
func (s *Server) acceptLoop(rc syscall.RawConn) error {
	backoff := time.Duration(0)
	var failingSince time.Time
	failures := 0
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
				failures++
				if failingSince.IsZero() {
					failingSince = time.Now()
					s.log.Error("accept: out of resources; backing off until descriptors or memory are free",
						"err", aerr)
				}
				backoff = nextBackoff(backoff)
				if !s.pause(backoff) {
					return nil
				}
				continue
			default:
				return aerr
			}
		}
		if !failingSince.IsZero() {
			s.log.Info(fmt.Sprintf("accept recovered after %d failures in %s", failures, time.Since(failingSince).Round(time.Millisecond)))
			failingSince, failures, backoff = time.Time{}, 0, 0
		}
		if !s.ps.admit(peer) { // over its source's limit: reset, and the slot stays free
			s.release(slot)
			refuse(nfd)
			continue
		}
		if err := s.spawn(nfd, peer, slot); err != nil {
			backoff = nextBackoff(backoff)
			if !s.pause(backoff) {
				return nil
			}
			continue
		}
		backoff = 0
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
