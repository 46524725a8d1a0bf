// Package execchild is the exec child strategy: each connection is served
// by a fresh image of the running binary (/proc/self/exe re-executed with
// Arg, its scoreboard slot and the slot count, see execve(2)) that runs
// the fork child's responder (internal/respond) on the connection it holds
// as fd 3, recording its state in its slot of the scoreboard it maps from
// fd 4 (BoardFD), on a thread of its own as a fork child would
// (forkchild.ServeOnThread, handed to Main), and exits with the outcome.
package execchild

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hellod/hellod/internal/linux"
	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/response"
	"github.com/hellod/hellod/internal/scoreboard"
)

// Arg is the first argument that puts the hellod binary in child mode:
// "hellod be-child SLOT COUNT".
const Arg = "be-child"

// BoardFD is the descriptor on which an exec child finds the scoreboard's
// memfd (after the connection, respond.ConnFD).
const BoardFD = respond.ConnFD + 1

// StderrFD is where an exec child finds the parent's stderr: its own fd 2
// is /dev/null until Main moves StderrFD there, so that a Go runtime that
// cannot start (no task left for its threads, no memory: "fatal error:
// newosproc" and a stack trace per child) writes nothing, and the parent
// logs that child's exit, status 2, in one line. Once Main runs, every
// message and panic goes to the parent's stderr as usual.
const StderrFD = BoardFD + 1

// Environment variables through which the parent hands settings to an exec
// child. They mirror the parent's flags of the same names.
const (
	envMessage       = "HELLOD_MESSAGE"
	envHeaderTimeout = "HELLOD_HEADER_TIMEOUT"
	envChildTimeout  = "HELLOD_CHILD_TIMEOUT"
	envKeepAlive     = "HELLOD_KEEPALIVE_TIMEOUT"
	envKeepAliveReqs = "HELLOD_KEEPALIVE_REQUESTS"
	envSandbox       = "HELLOD_SANDBOX"
)

// Exec starts each child as a fresh copy of the running binary
// (/proc/self/exe) in child mode: a new process image with fresh ASLR that
// holds nothing but stdio, the connection as fd 3 and the scoreboard as
// fd 4 (and, until its Main moves it to fd 2, the parent's stderr as
// StderrFD).
type Exec struct {
	path  string
	argv0 string
	count string // the board's slot count, for argv
	n     int
	env   []string
	null  *os.File
	board *os.File
	files []uintptr // stdin, stdout, stderr; the connection and the board are appended
}

// New prepares an exec strategy whose children record their state in
// board's slots. environ is the parent's environment (after activation
// cleared LISTEN_*); the child gets it without the variables that would
// let it talk to systemd, plus its settings.
func New(s respond.Settings, environ []string, board *scoreboard.Board) (*Exec, error) {
	if board == nil || board.File() == nil {
		return nil, errors.New("exec strategy: want a scoreboard with its memfd (scoreboard.New), got none")
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("exec strategy: %w", err)
	}
	argv0 := "hellod"
	if len(os.Args) > 0 {
		argv0 = os.Args[0]
	}
	return &Exec{
		path:  "/proc/self/exe",
		argv0: argv0,
		count: strconv.Itoa(board.Len()),
		n:     board.Len(),
		env:   Env(environ, s),
		null:  null,
		board: board.File(),
		files: []uintptr{null.Fd(), null.Fd(), null.Fd()}, // stderr: see StderrFD
	}, nil
}

// Name is the strategy's name as given to --child.
func (e *Exec) Name() string { return "exec" }

// Start starts a child serving the connected socket fd that records its
// state in the board's slot (which the caller Reset) and returns its PID.
// The caller keeps fd and closes it once Start returns; the child has its
// own copy. The child is reaped by the caller's reaper.
func (e *Exec) Start(fd, slot int) (int, error) {
	if slot < 0 || slot >= e.n {
		return 0, fmt.Errorf("start exec child: want a slot from 0 to %d, got %d", e.n-1, slot)
	}
	files := make([]uintptr, len(e.files), len(e.files)+3)
	copy(files, e.files)
	files = append(files, uintptr(fd), e.board.Fd(), os.Stderr.Fd())
	argv := []string{e.argv0, Arg, strconv.Itoa(slot), e.count}
	pid, err := syscall.ForkExec(e.path, argv, &syscall.ProcAttr{Env: e.env, Files: files})
	if err != nil {
		return 0, fmt.Errorf("start exec child: %w", os.NewSyscallError("fork/exec "+e.path, err))
	}
	// The OOM killer's first choice from now (it has exec'd: ForkExec
	// returns after the exec), not only once its runtime has started and
	// reached Main (oomFirst), which may take megabytes.
	writeOOMScoreAdj("/proc/" + strconv.Itoa(pid) + "/oom_score_adj")
	return pid, nil
}

// Close releases the strategy's /dev/null (the board is the caller's).
func (e *Exec) Close() error { return e.null.Close() }

// Env returns the environment of an exec child: environ without the
// variables that address systemd (LISTEN_*, NOTIFY_SOCKET, WATCHDOG_*) or
// set hellod's own settings, plus the child's settings, GOMAXPROCS=1 (a
// child serves one connection on one thread; it starts faster) and
// GODEBUG=containermaxprocs=0 (else the runtime keeps the cgroup's CPU
// limit files open for the child's whole life).
func Env(environ []string, s respond.Settings) []string {
	env := make([]string, 0, len(environ)+7)
	godebug := "containermaxprocs=0"
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "LISTEN_"), name == "NOTIFY_SOCKET",
			strings.HasPrefix(name, "WATCHDOG_"), strings.HasPrefix(name, "HELLOD_"),
			name == "GOMAXPROCS":
			continue
		case name == "GODEBUG":
			if val != "" {
				godebug = val + "," + godebug
			}
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		envMessage+"="+s.Message,
		envHeaderTimeout+"="+s.HeaderTimeout.String(),
		envChildTimeout+"="+s.ChildTimeout.String(),
		envKeepAlive+"="+s.KeepAliveTimeout.String(),
		envKeepAliveReqs+"="+strconv.Itoa(s.KeepAliveRequests),
		envSandbox+"="+sandboxName(s.Sandbox),
		"GOMAXPROCS=1",
		"GODEBUG="+godebug)
}

// settingsFromEnv reads what Env wrote.
func settingsFromEnv(lookup func(string) (string, bool)) (respond.Settings, error) {
	var s respond.Settings
	msg, ok := lookup(envMessage)
	if !ok {
		return s, fmt.Errorf("%s is not set", envMessage)
	}
	s.Message = msg
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{envHeaderTimeout, &s.HeaderTimeout}, {envChildTimeout, &s.ChildTimeout}} {
		v, _ := lookup(d.name)
		t, err := time.ParseDuration(v)
		if err != nil || t <= 0 {
			return s, fmt.Errorf("%s=%q: want a positive duration", d.name, v)
		}
		*d.dst = t
	}
	v, _ := lookup(envKeepAlive)
	t, err := time.ParseDuration(v)
	if err != nil || t < 0 {
		return s, fmt.Errorf("%s=%q: want a duration, zero or more", envKeepAlive, v)
	}
	s.KeepAliveTimeout = t
	v, _ = lookup(envKeepAliveReqs)
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return s, fmt.Errorf("%s=%q: want an integer, zero or more", envKeepAliveReqs, v)
	}
	s.KeepAliveRequests = n
	switch v, _ = lookup(envSandbox); v {
	case sandboxName(true), sandboxName(false):
		s.Sandbox = v == sandboxName(true)
	default:
		return s, fmt.Errorf("%s=%q: want %q or %q", envSandbox, v, sandboxName(true), sandboxName(false))
	}
	return s, nil
}

// sandboxName is --sandbox's value for on and off.
func sandboxName(on bool) string {
	if on {
		return "seccomp"
	}
	return "none"
}

// ServeFunc serves the connection fd with settings s, recording its state
// in slot, its deadlines counted from start (CLOCK_MONOTONIC nanoseconds,
// respond.Now), and returns the outcome (with an error: response.Unsandboxed
// when it could not install its sandbox, else any): forkchild.ServeOnThread, the fork
// child's code on a thread of its own. (A parameter of Main rather than an
// import, so that forkchild's tests can run exec children.)
type ServeFunc func(fd int, s respond.Settings, slot *scoreboard.Slot, start int64) (response.Outcome, error)

// Main is the entry point of an exec child: it checks its arguments (Arg,
// its slot, the slot count), its connection on respond.ConnFD and its
// scoreboard on BoardFD, serves the connection with serve, then exits with
// the outcome as exit code. It never returns. Only a failure to run at all
// is written to stderr (exit code response.Usage when started wrongly);
// the parent logs the rest.
func Main(serve ServeFunc) {
	start := respond.Now()
	oomFirst()
	// The parent's stderr (StderrFD), now that the runtime runs; absent
	// when started by hand, fd 2 is left as it is.
	if err := syscall.Dup3(StderrFD, 2, 0); err == nil {
		syscall.Close(StderrFD)
	}
	slot, n, err := parseArgs(os.Args)
	if err != nil {
		fail(response.Usage, err)
	}
	s, err := settingsFromEnv(os.LookupEnv)
	if err != nil {
		fail(response.Usage, err)
	}
	info, err := linux.Socket(respond.ConnFD)
	if err != nil {
		fail(response.Usage, fmt.Errorf("fd %d: %w (child mode is started by the hellod parent, not by hand)", respond.ConnFD, err))
	}
	if info.Listening {
		fail(response.Usage, fmt.Errorf("fd %d is a listening socket, want a connection", respond.ConnFD))
	}
	board, err := scoreboard.Open(BoardFD, n)
	if err != nil {
		fail(response.Usage, fmt.Errorf("want the hellod scoreboard on fd %d: %w", BoardFD, err))
	}
	o, err := serve(respond.ConnFD, s, board.Slot(slot), start)
	if err != nil {
		if o != response.Unsandboxed {
			o = response.Failed
		}
		fail(o, err)
	}
	os.Exit(int(o))
}

// oomFirst makes this child the out-of-memory killer's first choice,
// before it reads a byte, as a fork child does (respond.OOMScoreAdj); the
// parent has done so already, unless it could not.
func oomFirst() { writeOOMScoreAdj(respond.OOMScoreAdjPath) }

// writeOOMScoreAdj writes respond.OOMScoreAdj to path, best effort (for a
// /proc that is not mounted, or a child gone already).
func writeOOMScoreAdj(path string) {
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	syscall.Write(fd, []byte(respond.OOMScoreAdj))
	syscall.Close(fd)
}

// parseArgs reads a child's slot and the slot count from its arguments:
// the program, Arg, SLOT, COUNT.
func parseArgs(args []string) (slot, n int, err error) {
	if len(args) != 4 || args[1] != Arg {
		return 0, 0, fmt.Errorf("want arguments %q SLOT COUNT, got %q (child mode is started by the hellod parent, not by hand)", Arg, args[min(1, len(args)):])
	}
	n, err = strconv.Atoi(args[3])
	if err != nil || n < 1 {
		return 0, 0, fmt.Errorf("slot count %q: want a positive integer", args[3])
	}
	slot, err = strconv.Atoi(args[2])
	if err != nil || slot < 0 || slot >= n {
		return 0, 0, fmt.Errorf("slot %q: want an integer from 0 to %d", args[2], n-1)
	}
	return slot, n, nil
}

func fail(code response.Outcome, err error) {
	fmt.Fprintf(os.Stderr, "hellod child %d: %v\n", os.Getpid(), err)
	os.Exit(int(code))
}
