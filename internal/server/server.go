// Package server is hellod's accept loop: it accepts connections on the
// listening sockets, starts one child process per connection, caps how many
// run at once, kills children that outlive their deadline, and logs each one
// when the reaper reports its exit (accept(2), wait(2)).
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hellod/hellod/internal/activation"
	"github.com/hellod/hellod/internal/linux"
	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

// Starter starts a child serving a connected socket (child.Strategy).
type Starter interface {
	Start(fd int) (pid int, err error)
	Name() string
}

// Reaper reports child exits and signals children that were not reaped yet
// (*reaper.Reaper).
type Reaper interface {
	Watch(pid int, onExit func(reaper.Exit))
	Signal(pid int, sig unix.Signal) error
}

// Notifier tells the service manager about the server's state
// (*notify.Notifier). All methods may be no-ops.
type Notifier interface {
	Ready(status string) error
	Status(status string) error
	Stopping(status string) error
	Watchdog() error
}

// Options configure a Server.
type Options struct {
	MaxChildren     int
	ChildTimeout    time.Duration // SIGKILL a child alive this long
	ShutdownTimeout time.Duration // on shutdown, SIGKILL children still alive after this
	IdleExit        time.Duration // 0: never
	// EvictAfter: at MaxChildren, while connections wait to be accepted,
	// kill the oldest children that have run at least this long (0: never).
	EvictAfter       time.Duration
	WatchdogInterval time.Duration // 0: no keep-alives
	StatusInterval   time.Duration // least time between two STATUS= updates (default 1s)
	Logger           *slog.Logger
	Notifier         Notifier // nil: none
	Starter          Starter
	Reaper           Reaper
}

// Why Serve returned.
const (
	StopShutdown = "shutdown" // the context was cancelled (SIGTERM, SIGINT)
	StopIdle     = "idle"     // --idle-exit passed without activity
)

// acceptBackoff bounds the pause after accept fails for lack of resources
// (EMFILE, ENFILE, ENOBUFS, ENOMEM) or a child cannot be started.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
	// reapWait bounds how long Serve waits for killed children to be reaped.
	reapWait = 5 * time.Second
	// evictTick is how often, at the cap, the backlog is looked at.
	evictTick = 10 * time.Millisecond
)

// Server runs the accept loop. Create it with New; Serve runs once.
type Server struct {
	o         Options
	log       *slog.Logger
	slots     chan struct{} // one token per running child
	stop      chan struct{} // closed: stop accepting
	stopOnce  sync.Once
	exited    chan struct{} // a child exited (coalescing)
	lastTouch atomic.Int64  // unix nanos of the last accept or exit

	mu       sync.Mutex
	children map[int]*child
	free     []*child          // recycled records
	exitFn   func(reaper.Exit) // s.onExit, bound once
	// Evictions in the current and the previous EvictAfter window.
	evictWindow         time.Time
	evictCur, evictPrev int

	active, served, killed, startFails atomic.Int64
	atCap                              atomic.Bool
	capSince                           atomic.Int64
	capHit                             chan struct{} // the cap was reached (coalescing)
	evicted                            atomic.Int64
	dropped                            atomic.Int64 // waiting connections closed unserved
}

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

// New returns a Server.
func New(o Options) (*Server, error) {
	switch {
	case o.MaxChildren < 1:
		return nil, fmt.Errorf("server: MaxChildren %d: want at least 1", o.MaxChildren)
	case o.ChildTimeout <= 0, o.ShutdownTimeout <= 0:
		return nil, errors.New("server: ChildTimeout and ShutdownTimeout must be positive")
	case o.Starter == nil, o.Reaper == nil:
		return nil, errors.New("server: Starter and Reaper are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = time.Second
	}
	s := &Server{
		o:        o,
		log:      o.Logger,
		slots:    make(chan struct{}, o.MaxChildren),
		stop:     make(chan struct{}),
		exited:   make(chan struct{}, 1),
		capHit:   make(chan struct{}, 1),
		children: make(map[int]*child, o.MaxChildren),
	}
	s.exitFn = s.onExit
	s.touch()
	return s, nil
}

// Stats are the server's counters.
type Stats struct {
	Active, Served, Killed, StartFailures int64
	Evicted                               int64 // children killed by --evict-after (also in Killed)
	Dropped                               int64 // waiting connections closed unserved at a clogged cap
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{s.active.Load(), s.served.Load(), s.killed.Load(), s.startFails.Load(),
		s.evicted.Load(), s.dropped.Load()}
}

func (s *Server) status() string {
	st := s.Stats()
	line := fmt.Sprintf("%d active children, %d connections served, %d children killed", st.Active, st.Served, st.Killed)
	if s.atCap.Load() {
		line += fmt.Sprintf(" (at --max-children %d: not accepting)", s.o.MaxChildren)
	}
	return line
}

func (s *Server) touch() { s.lastTouch.Store(time.Now().UnixNano()) }

// Serve accepts on ls until ctx is cancelled or the server has been idle for
// IdleExit, then stops accepting, lets running children finish (up to
// ShutdownTimeout, then kills them), and returns why it stopped. Connections
// not yet accepted stay in the listening sockets' backlog. It returns an
// error if a listener fails for good.
func (s *Server) Serve(ctx context.Context, ls []activation.Listener) (string, error) {
	if len(ls) == 0 {
		return "", errors.New("server: no listeners")
	}
	fatal := make(chan error, len(ls))
	var loops sync.WaitGroup
	for _, l := range ls {
		rc, err := l.File.SyscallConn()
		if err != nil {
			s.stopAccepting()
			return "", fmt.Errorf("listener %s: %w", l.Name, err)
		}
		loops.Add(1)
		go func() {
			defer loops.Done()
			if err := s.acceptLoop(rc); err != nil {
				fatal <- fmt.Errorf("listener %s: %w", l.Name, err)
			}
		}()
	}

	n := s.o.Notifier
	if n != nil {
		if err := n.Ready(s.status()); err != nil {
			s.log.Warn("sd_notify READY=1 failed", "err", err)
		}
	}
	bg, cancelBG := context.WithCancel(context.Background())
	defer cancelBG()
	if n != nil {
		go s.statusLoop(bg)
		if s.o.WatchdogInterval > 0 {
			go s.watchdogLoop(bg)
		}
	}
	idle := make(chan struct{})
	if s.o.IdleExit > 0 {
		go s.idleLoop(bg, idle)
	}
	if s.o.EvictAfter > 0 {
		go s.evictLoop(bg, ls)
	}

	var why string
	var err error
	select {
	case <-ctx.Done():
		why = StopShutdown
	case <-idle:
		why = StopIdle
	case err = <-fatal:
		why = "error"
	}
	if n != nil {
		n.Stopping(fmt.Sprintf("stopping (%s): %s", why, s.status()))
	}
	s.stopAccepting()
	for _, l := range ls {
		l.File.SetReadDeadline(time.Unix(1, 0)) // wake any accept in progress
	}
	loops.Wait()
	s.drain(why)
	return why, err
}

func (s *Server) stopAccepting() { s.stopOnce.Do(func() { close(s.stop) }) }

func (s *Server) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// acquire takes a child slot, waiting at the cap. It returns false when the
// server stops accepting meanwhile.
func (s *Server) acquire() bool {
	select {
	case s.slots <- struct{}{}:
		return true
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
	select {
	case s.slots <- struct{}{}:
	case <-s.stop:
		return false
	}
	if s.atCap.CompareAndSwap(true, false) {
		waited := time.Since(time.Unix(0, s.capSince.Load()))
		s.log.Info(fmt.Sprintf("below --max-children again after %s: accepting", waited.Round(time.Millisecond)),
			"MAX_CHILDREN", s.o.MaxChildren)
	}
	return true
}

func (s *Server) release() { <-s.slots }

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
		if !s.acquire() {
			return nil
		}
		err := rc.Read(accept)
		if err != nil {
			s.release()
			if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, net.ErrClosed) || s.stopping() {
				return nil
			}
			return err
		}
		if aerr != nil {
			s.release()
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
		if err := s.spawn(nfd, peer); err != nil {
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

func resourceError(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) ||
		errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM)
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

// addrString formats a peer for logs; "unix" for a unix-socket peer.
func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return "unix"
	}
	return a.String()
}

func (s *Server) logExit(c *child, e reaper.Exit) {
	code := e.Code()
	o, known := response.FromExitCode(code)
	signaled := e.Status.Signaled()
	served := !signaled && known && o.Status() != 0
	if served {
		s.served.Add(1)
	}
	level := slog.LevelInfo
	switch {
	case signaled:
		level = slog.LevelWarn
	case !known || o == response.Failed || o == response.Usage:
		level = slog.LevelError
	}
	if !s.log.Enabled(context.Background(), level) {
		return // build nothing: this runs once per connection
	}
	dur := e.Time.Sub(c.start)
	ms := strconv.FormatFloat(float64(dur.Microseconds())/1000, 'f', 1, 64)
	remote := addrString(c.remote)
	// The common line (a served request) is built with appends and typed
	// attributes: it is written once per connection.
	var buf [128]byte
	attrs := [6]slog.Attr{slog.Int("CHILD_PID", c.pid), slog.String("REMOTE_ADDR", remote),
		slog.Int("EXIT_STATUS", code), slog.String("DURATION_MS", ms)}
	n := 4
	var msg string
	switch {
	case signaled:
		by := ""
		if why := c.killed.Load(); why != nil {
			by = " (sent by hellod: " + *why + ")"
			attrs[n] = slog.String("REASON", *why)
			n++
		}
		msg = fmt.Sprintf("child %d for %s killed by signal %s%s after %s ms (exit status %d)", c.pid, remote,
			unix.SignalName(e.Status.Signal()), by, ms, code)
	case served:
		attrs[n] = slog.Int("HTTP_STATUS", o.Status())
		n++
		m := append(buf[:0], "child "...)
		m = strconv.AppendInt(m, int64(c.pid), 10)
		m = append(m, " served "...)
		m = append(m, remote...)
		m = append(m, ' ')
		if method := o.Method(); method != "" {
			m = append(append(m, method...), ' ')
		}
		m = append(m, "-> "...)
		m = strconv.AppendInt(m, int64(o.Status()), 10)
		m = append(append(append(m, " in "...), ms...), " ms"...)
		msg = string(m)
	case known && (o == response.ClientGone || o == response.WriteFailed):
		msg = fmt.Sprintf("child %d for %s: %s, after %s ms", c.pid, remote, o, ms)
	default:
		msg = fmt.Sprintf("child %d for %s failed with exit status %d after %s ms (see its message above)", c.pid, remote, code, ms)
	}
	s.log.LogAttrs(context.Background(), level, msg, attrs[:n]...)
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

// evictLoop runs while the server is at MaxChildren: when connections wait
// in a listen backlog, it kills as many of the oldest children as are
// waiting, provided they have run at least EvictAfter. Children that old are
// almost always clients that do not finish their request (slow-loris), so
// fresh clients get served instead of waiting behind them (the policy of
// sshd's MaxStartups, made deterministic: oldest first).
//
// Eviction frees at most MaxChildren slots per EvictAfter, which is slow
// against a burst of stalled connections many times deeper than the cap,
// queued first-in first-out in front of any fresh client. So when more than
// MaxChildren connections wait and at least half the running children are
// stale, the oldest waiting connections beyond MaxChildren are accepted and
// closed unserved: a fast flood of real requests (young children) never
// triggers this; a clogged cap does.
func (s *Server) evictLoop(ctx context.Context, ls []activation.Listener) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stop:
			return
		case <-s.capHit:
		}
		t := time.NewTicker(evictTick)
		evicted, dropped := 0, 0
		for s.atCap.Load() {
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-s.stop:
				// Stopping: what waits in the backlog is the next
				// instance's (systemd keeps the socket); touch nothing.
				t.Stop()
				return
			case <-t.C:
			}
			n := waiting(ls)
			if n == 0 {
				continue
			}
			if n > s.o.MaxChildren && 2*(s.stale()+s.recentEvictions()) >= s.o.MaxChildren {
				if dropped == 0 {
					s.log.Warn(fmt.Sprintf("%d connections wait behind %d stalled children: closing the oldest waiting ones unserved, beyond %d (--evict-after)",
						n, s.o.MaxChildren, s.o.MaxChildren))
				}
				k := dropOldest(ls, n-s.o.MaxChildren)
				dropped += k
				s.dropped.Add(int64(k))
			}
			k := s.evict(n)
			if k > 0 && evicted == 0 {
				s.log.Warn(fmt.Sprintf("at --max-children with connections waiting: killing children older than %s, oldest first (--evict-after)", s.o.EvictAfter))
			}
			evicted += k
		}
		t.Stop()
		if evicted > 0 || dropped > 0 {
			s.log.Info(fmt.Sprintf("below --max-children again: %d children evicted, %d waiting connections closed unserved", evicted, dropped),
				"EVICTED", evicted, "DROPPED", dropped)
		}
	}
}

// recentEvictions counts the children evicted in the last one to two
// EvictAfter periods: with children started at a steady pace they go stale,
// and are evicted, a few at a time, so the stale count alone never shows a
// clogged cap.
func (s *Server) recentEvictions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rollEvictWindow(time.Now())
	return s.evictCur + s.evictPrev
}

// rollEvictWindow advances the two eviction-count windows. Call with s.mu.
func (s *Server) rollEvictWindow(now time.Time) {
	switch since := now.Sub(s.evictWindow); {
	case since >= 2*s.o.EvictAfter:
		s.evictPrev, s.evictCur, s.evictWindow = 0, 0, now
	case since >= s.o.EvictAfter:
		s.evictPrev, s.evictCur, s.evictWindow = s.evictCur, 0, now
	}
}

// stale counts the running children older than EvictAfter.
func (s *Server) stale() int {
	cutoff := time.Now().Add(-s.o.EvictAfter)
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

// dropOldest accepts up to n waiting connections, oldest first, and closes
// them without a child.
func dropOldest(ls []activation.Listener, n int) int {
	done := 0
	for _, l := range ls {
		rc, err := l.File.SyscallConn()
		if err != nil {
			continue
		}
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

// waiting estimates how many connections wait in the listeners' accept
// queues: the exact count for TCP (TCP_INFO of a listening socket), 1 for
// another readable listener.
func waiting(ls []activation.Listener) int {
	n := 0
	for _, l := range ls {
		rc, err := l.File.SyscallConn()
		if err != nil {
			continue
		}
		rc.Control(func(fd uintptr) { n += linux.AcceptQueue(int(fd)) })
	}
	return n
}

// evict kills up to n of the oldest children that have run at least
// EvictAfter, and returns how many it signalled.
func (s *Server) evict(n int) int {
	cutoff := time.Now().Add(-s.o.EvictAfter)
	type victim struct {
		c     *child
		pid   int
		start time.Time
	}
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
	s.mu.Lock()
	s.rollEvictWindow(time.Now())
	s.evictCur += len(old)
	s.mu.Unlock()
	s.evicted.Add(int64(len(old)))
	return len(old)
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
