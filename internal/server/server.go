// Package server is hellod's accept loop: it accepts connections on the
// listening sockets, starts one child process per connection, caps how many
// run at once, kills children that outlive their deadline, and logs each one
// when the reaper reports its exit (accept(2), wait(2)).
//
// Each running child holds one slot of the scoreboard (internal/scoreboard)
// in which it records what it is doing with its connection (reading a head,
// writing, idle between two requests of a persistent connection...). The
// server reads the slots to choose whom to evict at the cap, to close idle
// connections at once on shutdown, and for STATUS= and the exit lines.
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
	"github.com/hellod/hellod/internal/netblock"
	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

// Starter starts a child serving a connected socket (*forkchild.Fork,
// *execchild.Exec) on scoreboard slot slot, which the server has reset
// (state Starting) and which the child keeps until it is reaped.
type Starter interface {
	Start(fd, slot int) (pid int, err error)
	Name() string
}

// Reaper reports child exits and signals children that were not reaped yet
// (*reaper.Reaper). Reap reaps, at once, every child that has exited, as
// SIGCHLD's handling would a moment later (the evictor, before it judges
// children by their state).
type Reaper interface {
	Watch(pid int, onExit func(reaper.Exit))
	Signal(pid int, sig unix.Signal) error
	Reap()
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
	MaxChildren int
	// ChildTimeout is a connection's lifetime: a child closes between two
	// responses once it is over, and is killed at ChildTimeout +
	// respond.Overrun (a response begun may still be written).
	ChildTimeout    time.Duration
	ShutdownTimeout time.Duration // on shutdown, SIGKILL children still alive after this
	IdleExit        time.Duration // 0: never
	// EvictAfter: at MaxChildren, while connections wait to be accepted,
	// kill the children that have been reading a request head at least
	// this long, oldest first (0: never). Idle keep-alive children are
	// closed first, whatever EvictAfter.
	EvictAfter       time.Duration
	WatchdogInterval time.Duration // 0: no keep-alives
	StatusInterval   time.Duration // least time between two STATUS= updates (default 1s)
	Logger           *slog.Logger
	Notifier         Notifier // nil: none
	Starter          Starter
	Reaper           Reaper
	// Board is the scoreboard the children write (at least MaxChildren
	// slots; the server uses the first MaxChildren). nil: New creates one,
	// which Serve closes when it returns.
	Board *scoreboard.Board

	// MaxPerSource bounds the children of one source netblock, an
	// address masked by PerSourceNetBlock (a zero Mask is /0: every
	// address one source); over it a connection is reset at once, without
	// taking a slot (persource.go). 0: no bound. Unix-socket peers are
	// exempt.
	MaxPerSource      int
	PerSourceNetBlock netblock.Mask

	overrun time.Duration // tests: respond.Overrun when 0

	perSourceEpisode time.Duration // tests: episodeMin when 0
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
	board     *scoreboard.Board
	ownBoard  bool          // New created board: Serve closes it
	slots     chan int      // the free list: indexes of the slots no child holds
	stop      chan struct{} // closed: stop accepting
	stopOnce  sync.Once
	exited    chan struct{} // a child exited (coalescing)
	lastTouch atomic.Int64  // unix nanos of the last accept or exit

	// The child table (children.go).
	mu       sync.Mutex
	children map[int]*child
	free     []*child          // recycled records
	exitFn   func(reaper.Exit) // s.onExit, bound once

	ev *evictor   // --evict-after and the backlog drop (evict.go)
	ps *perSource // --max-per-source (persource.go); nil: off

	active, served, killed, startFails atomic.Int64
	idleClosed                         atomic.Int64 // idle keep-alive children claimed and killed
	requestsDone                       int64        // responses of reaped children; under mu
	atCap                              atomic.Bool
	capSince                           atomic.Int64
	capHit                             chan struct{} // the cap was reached (coalescing)
	capLog                             episodes      // the cap's lines, rate-limited
	capTimer                           *time.Timer   // a suppressed cap line's due time (acquire)
	acceptLog                          episodes      // accept failing and recovered
	startLog                           lines         // failed starts
	taskLog                            episodes      // starts failing for lack of tasks or memory
	taskFails                          atomic.Int64  // such failed starts since taskLog's last line
	exitWake                           chan struct{} // a child exited: retry a start (coalescing)
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
	if o.overrun <= 0 {
		o.overrun = respond.Overrun
	}
	ps, err := newPerSource(&o)
	if err != nil {
		return nil, err
	}
	board, own := o.Board, false
	if board == nil {
		b, err := scoreboard.New(o.MaxChildren)
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		board, own = b, true
	} else if board.Len() < o.MaxChildren {
		return nil, fmt.Errorf("server: want a scoreboard of at least MaxChildren %d slots, got %d", o.MaxChildren, board.Len())
	}
	s := &Server{
		o:        o,
		log:      o.Logger,
		board:    board,
		ownBoard: own,
		slots:    make(chan int, o.MaxChildren),
		stop:     make(chan struct{}),
		exited:   make(chan struct{}, 1),
		capHit:   make(chan struct{}, 1),
		exitWake: make(chan struct{}, 1),
		children: make(map[int]*child, o.MaxChildren),
	}
	for i := range o.MaxChildren {
		s.slots <- i
	}
	if ps != nil {
		ps.finishing = s.finishing
		s.ps = ps
	}
	s.exitFn = s.onExit
	s.capTimer = time.NewTimer(time.Hour)
	s.capTimer.Stop()
	s.ev = &evictor{s: s, after: o.EvictAfter, max: o.MaxChildren}
	s.touch()
	return s, nil
}

// Stats are the server's counters.
type Stats struct {
	Active, Served, Killed, StartFailures int64
	Evicted                               int64 // children reading a head past --evict-after, killed at the cap (also in Killed)
	Dropped                               int64 // waiting connections closed unserved at a clogged cap
	// What the running children do, from the scoreboard: Busy (starting,
	// reading, writing, lingering) + Idle (between two requests of a
	// persistent connection) + Closing (claimed or done, exiting) = Active,
	// give or take a child starting or exiting meanwhile.
	Busy, Idle, Closing int64
	IdleClosed          int64 // idle keep-alive children closed at the cap or on shutdown (not in Killed: nothing was lost)
	Requests            int64 // responses sent, by running and exited children
	Refused             int64 // connections reset over --max-per-source (never a child, not in Served)
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{Active: s.active.Load(), Served: s.served.Load(), Killed: s.killed.Load(),
		StartFailures: s.startFails.Load(), Evicted: s.ev.evicted.Load(), Dropped: s.ev.dropped.Load(),
		IdleClosed: s.idleClosed.Load(), Refused: s.ps.refusedCount()}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Requests = s.requestsDone
	for _, c := range s.children {
		v := s.board.Slot(c.slot).Read()
		switch v.State {
		case scoreboard.Idle:
			st.Idle++
		case scoreboard.Closing, scoreboard.Done:
			st.Closing++
		default:
			st.Busy++
		}
		st.Requests += int64(v.Requests)
	}
	return st
}

// status is the STATUS= line: "3 children (1 busy, 2 idle), 1234 requests
// served, 0 children killed".
func (s *Server) status() string {
	st := s.Stats()
	line := fmt.Sprintf("%d children (%d busy, %d idle", st.Active, st.Busy, st.Idle)
	if st.Closing > 0 {
		line += fmt.Sprintf(", %d closing", st.Closing)
	}
	line += fmt.Sprintf("), %d requests served, %d children killed", st.Requests, st.Killed)
	if st.Refused > 0 {
		line += fmt.Sprintf(", %d refused by per-source limit", st.Refused)
	}
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
	// The evictor runs whatever EvictAfter: idle keep-alive children
	// are closed at the cap in any case.
	s.ev.rcs = rcs
	go s.ev.run(bg)

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
	s.closeBoard()
	return why, err
}

// closeBoard closes the scoreboard New created, once no child holds a slot
// (children that could not be reaped keep it mapped).
func (s *Server) closeBoard() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ownBoard || len(s.children) > 0 {
		return
	}
	if err := s.board.Close(); err != nil {
		s.log.Warn(err.Error())
	}
	s.ownBoard = false
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
