package child

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

//go:generate go test -run ^TestForkParseFuzzCopy$ . -args -update-forkfuzz

// Fork starts each child with a true fork (clone(2) with SIGCHLD, no exec):
// the child answers its connection with the allocation-free responder of
// forkchild.go and forkparse.go, from responses the parent prepared. It
// speaks exactly the HTTP of the exec child and exits with the same
// outcome codes. See the contract at the top of forkchild.go.
type Fork struct {
	s            Settings
	strictColons bool

	mu   sync.Mutex // serialises refreshes of resp
	resp atomic.Pointer[forkResponses]
}

// forkResponses are the complete responses for one second's Date, indexed
// by outcome. Never modified once published.
type forkResponses struct {
	sec int64
	b   [outcomeSlots][]byte
}

// outcomeSlots bounds the outcome codes that index forkResponses.b.
const outcomeSlots = 32

// errForkFuzzBuild is NewFork's error in a build with -tags forkfuzz.
var errForkFuzzBuild = errors.New("fork strategy unavailable: built with -tags forkfuzz, whose request parser may not run in a forked child")

// NewFork prepares a fork strategy.
func NewFork(s Settings) (*Fork, error) {
	if !forkParserNosplit {
		return nil, errForkFuzzBuild
	}
	f := &Fork{s: s, strictColons: urlStrictColons()}
	f.responses(time.Now())
	return f, nil
}

// urlStrictColons reports how this process's net/url treats a host with
// several colons in an http URL (GODEBUG urlstrictcolons), so that the fork
// parser follows the same rule as http.ReadRequest.
func urlStrictColons() bool {
	_, err := url.ParseRequestURI("http://a:1:2/")
	return err != nil
}

// Name implements Strategy.
func (f *Fork) Name() string { return "fork" }

// Close implements Strategy.
func (f *Fork) Close() error { return nil }

// responses returns the prepared responses for now's second, building them
// at most once a second (under mu; readers never block).
func (f *Fork) responses(now time.Time) *forkResponses {
	sec := now.Unix()
	if r := f.resp.Load(); r != nil && r.sec == sec {
		return r
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r := f.resp.Load(); r != nil && r.sec == sec {
		return r
	}
	r := &forkResponses{sec: sec}
	for _, o := range response.Responses {
		r.b[o] = response.Append(make([]byte, 0, 256+len(f.s.Message)), o, f.s.Message, now)
	}
	f.resp.Store(r)
	return r
}

// Start implements Strategy. It is safe for concurrent use: a child reads
// only the arguments on this call's stack and immutable responses.
func (f *Fork) Start(fd int) (int, error) {
	r := f.responses(time.Now())
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("start fork child: %w", os.NewSyscallError("clock_gettime", err))
	}
	now := ts.Nano()
	a := forkArgs{
		conn:           fd,
		headerDeadline: now + int64(f.s.HeaderTimeout),
		deadline:       now + int64(f.s.ChildTimeout),
		strictColons:   f.strictColons,
		resp:           r,
		buf:            &forkBuf,
	}
	runtime.LockOSThread()
	pid, errno := forkClone(&a)
	runtime.UnlockOSThread()
	runtime.KeepAlive(r)
	if errno != 0 {
		return 0, fmt.Errorf("start fork child: %w", os.NewSyscallError("clone", errno))
	}
	return int(pid), nil
}
