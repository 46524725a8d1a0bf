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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hellod/hellod/internal/activation"
	"github.com/hellod/hellod/internal/reaper"
	"golang.org/x/sys/unix"
)

// Starter starts a child serving a connected socket (*forkchild.Fork,
// *execchild.Exec).
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

// Server runs the accept loop. Create it with New; Serve runs once.
type Server struct {
	o         Options
	log       *slog.Logger
	slots     chan struct{} // one token per running child
	stop      chan struct{} // closed: stop accepting
	stopOnce  sync.Once
	exited    chan struct{} // a child exited (coalescing)
	lastTouch atomic.Int64  // unix nanos of the last accept or exit

	// The child table (children.go).
	mu       sync.Mutex
	children map[int]*child
	free     []*child          // recycled records
	exitFn   func(reaper.Exit) // s.onExit, bound once

	ev *evictor // --evict-after and the backlog drop (evict.go)

	active, served, killed, startFails atomic.Int64
	atCap                              atomic.Bool
	capSince                           atomic.Int64
	capHit                             chan struct{} // the cap was reached (coalescing)
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
	s.ev = &evictor{s: s, after: o.EvictAfter, max: o.MaxChildren}
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
		s.ev.evicted.Load(), s.ev.dropped.Load()}
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
	// The listeners' raw conns, taken once: the accept loops and the
	// evictor share them.
	rcs := make([]syscall.RawConn, len(ls))
	for i, l := range ls {
		rc, err := l.File.SyscallConn()
		if err != nil {
			s.stopAccepting()
			return "", fmt.Errorf("listener %s: %w", l.Name, err)
		}
		rcs[i] = rc
	}
	fatal := make(chan error, len(ls))
	var loops sync.WaitGroup
	for i, l := range ls {
		loops.Add(1)
		go func() {
			defer loops.Done()
			if err := s.acceptLoop(rcs[i]); err != nil {
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
		s.ev.rcs = rcs
		go s.ev.run(bg)
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
