// Package execchild is the exec child strategy: each connection is served
// by a fresh image of the running binary (/proc/self/exe re-executed with
// Arg, see execve(2)) that runs the fork child's responder
// (internal/respond) on the connection it holds as fd 3, on a thread of its
// own as a fork child would (forkchild.ServeOnThread, handed to Main), and
// exits with the outcome.
package execchild

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/hellod/hellod/internal/linux"
	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/response"
)

// Arg is the first argument that puts the hellod binary in child mode.
const Arg = "be-child"

// Environment variables through which the parent hands settings to an exec
// child. They mirror the parent's flags of the same names.
const (
	envMessage       = "HELLOD_MESSAGE"
	envHeaderTimeout = "HELLOD_HEADER_TIMEOUT"
	envChildTimeout  = "HELLOD_CHILD_TIMEOUT"
)

// Exec starts each child as a fresh copy of the running binary
// (/proc/self/exe) in child mode: a new process image with fresh ASLR that
// holds nothing but stdio and the connection as fd 3.
type Exec struct {
	path  string
	argv  []string
	env   []string
	null  *os.File
	files []uintptr // stdin, stdout, stderr; the connection is appended
}

// New prepares an exec strategy. environ is the parent's environment
// (after activation cleared LISTEN_*); the child gets it without the
// variables that would let it talk to systemd, plus its settings.
func New(s respond.Settings, environ []string) (*Exec, error) {
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
		argv:  []string{argv0, Arg},
		env:   Env(environ, s),
		null:  null,
		files: []uintptr{null.Fd(), null.Fd(), os.Stderr.Fd()},
	}, nil
}

// Name is the strategy's name as given to --child.
func (e *Exec) Name() string { return "exec" }

// Start starts a child serving the connected socket fd and returns its
// PID. The caller keeps fd and closes it once Start returns; the child has
// its own copy. The child is reaped by the caller's reaper.
func (e *Exec) Start(fd int) (int, error) {
	files := make([]uintptr, len(e.files), len(e.files)+1)
	copy(files, e.files)
	files = append(files, uintptr(fd))
	pid, err := syscall.ForkExec(e.path, e.argv, &syscall.ProcAttr{Env: e.env, Files: files})
	if err != nil {
		return 0, fmt.Errorf("start exec child: %w", os.NewSyscallError("fork/exec "+e.path, err))
	}
	return pid, nil
}

// Close releases the strategy's /dev/null.
func (e *Exec) Close() error { return e.null.Close() }

// Env returns the environment of an exec child: environ without the
// variables that address systemd (LISTEN_*, NOTIFY_SOCKET, WATCHDOG_*) or
// set hellod's own settings, plus the child's settings, GOMAXPROCS=1 (a
// child serves one connection on one thread; it starts faster) and
// GODEBUG=containermaxprocs=0 (else the runtime keeps the cgroup's CPU
// limit files open for the child's whole life).
func Env(environ []string, s respond.Settings) []string {
	env := make([]string, 0, len(environ)+5)
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
	return s, nil
}

// ServeFunc serves the connection fd with settings s within the
// deadlines (CLOCK_MONOTONIC nanoseconds, respond.Now) and returns the
// outcome: forkchild.ServeOnThread, the fork child's code on a thread of
// its own. (A parameter of Main rather than an import, so that
// forkchild's tests can run exec children.)
type ServeFunc func(fd int, s respond.Settings, headerDeadline, deadline int64) (response.Outcome, error)

// Main is the entry point of an exec child: it checks its connection on
// respond.ConnFD, serves it with serve, then exits with the outcome as
// exit code. It never returns. Only a failure to run at all is written to
// stderr; the parent logs the rest.
func Main(serve ServeFunc) {
	start := respond.Now()
	s, err := settingsFromEnv(os.LookupEnv)
	if err != nil {
		fail(2, err)
	}
	info, err := linux.Socket(respond.ConnFD)
	if err != nil {
		fail(2, fmt.Errorf("fd %d: %w (child mode is started by the hellod parent, not by hand)", respond.ConnFD, err))
	}
	if info.Listening {
		fail(2, fmt.Errorf("fd %d is a listening socket, want a connection", respond.ConnFD))
	}
	o, err := serve(respond.ConnFD, s, start+int64(s.HeaderTimeout), start+int64(s.ChildTimeout))
	if err != nil {
		fail(1, err)
	}
	os.Exit(int(o))
}

func fail(code int, err error) {
	fmt.Fprintf(os.Stderr, "hellod child %d: %v\n", os.Getpid(), err)
	os.Exit(code)
}
