package child

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
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
	s Settings

	mu   sync.Mutex // serialises forks and every write to mem
	sec  int64      // the second of the Date in mem's responses
	mem  []byte     // the forkMem mapping
	m    *forkMem
	resp [outcomeSlots][]byte // the responses of sec, reused to build the next

	mapped   []metrics.Sample // the runtime's mapped memory, read once a second
	isolated struct {
		mapped uint64 // the runtime's mapped memory at the last isolateForkMem
		sec    int64  // and its time
	}
}

// isolateEvery bounds the time between two isolateForkMem calls even when
// the runtime's mapped memory seems unchanged.
const isolateEvery = 60 // seconds

// outcomeSlots bounds the outcome codes that index the responses.
const outcomeSlots = 32

// errForkFuzzBuild is NewFork's error in a build with -tags forkfuzz.
var errForkFuzzBuild = errors.New("fork strategy unavailable: built with -tags forkfuzz, whose request parser may not run in a forked child")

// NewFork prepares a fork strategy: the child's memory, its responses and,
// where children run on their own stack, the parent's other mappings
// marked not to be copied into them.
func NewFork(s Settings) (*Fork, error) {
	if !forkParserNosplit {
		return nil, errForkFuzzBuild
	}
	f := &Fork{s: s}
	now := time.Now()
	size := f.build(now)
	m, mem, err := newForkMem(urlStrictColons(), size+forkPage)
	if err != nil {
		return nil, err
	}
	f.m, f.mem = m, mem
	if !m.setResponses(mem, &f.resp) {
		f.Close()
		return nil, fmt.Errorf("fork child memory: %d bytes of responses do not fit", size)
	}
	f.sec = now.Unix()
	f.mapped = []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	if forkOwnStack {
		if err := f.isolate(f.sec); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// build prepares the responses of now's Date in f.resp, reusing their
// buffers, and returns their total size.
func (f *Fork) build(now time.Time) int {
	n := 0
	for _, o := range response.Responses {
		f.resp[o] = response.Append(f.resp[o][:0], o, f.s.Message, now)
		n += len(f.resp[o])
	}
	return n
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

// Close implements Strategy: it unmaps the children's memory (children
// already forked have their own copy).
func (f *Fork) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mem == nil {
		return nil
	}
	unregisterForkMem(f.mem)
	err := unix.Munmap(f.mem)
	f.mem, f.m = nil, nil
	if err != nil {
		return fmt.Errorf("fork child memory: %w", os.NewSyscallError("munmap", err))
	}
	return nil
}

// isolate runs isolateForkMem and notes when. Called with f.mu held.
func (f *Fork) isolate(sec int64) error {
	metrics.Read(f.mapped)
	f.isolated.mapped, f.isolated.sec = f.mapped[0].Value.Uint64(), sec
	return isolateForkMem()
}

// refresh brings the responses in mem to now's second, at most once a
// second; then, if the runtime has mapped or unmapped memory since the
// last isolateForkMem (or that was a minute ago), it runs it again to mark
// MADV_DONTFORK what the runtime mapped. Called with f.mu held.
func (f *Fork) refresh(now time.Time) error {
	sec := now.Unix()
	if sec == f.sec {
		return nil
	}
	f.build(now)
	if !f.m.setResponses(f.mem, &f.resp) {
		return errors.New("responses grew beyond the fork child memory")
	}
	f.sec = sec
	if forkOwnStack {
		metrics.Read(f.mapped)
		if f.mapped[0].Value.Uint64() != f.isolated.mapped || sec-f.isolated.sec >= isolateEvery {
			f.isolate(sec) // best effort: what it misses is only copied
		}
	}
	return nil
}

// Start implements Strategy. It is safe for concurrent use: forks are
// serialised, and a child sees the responses as they were at its fork.
func (f *Fork) Start(fd int) (int, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, fmt.Errorf("start fork child: %w", os.NewSyscallError("clock_gettime", err))
	}
	now := ts.Nano()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		return 0, errors.New("start fork child: strategy closed")
	}
	if err := f.refresh(time.Now()); err != nil {
		return 0, fmt.Errorf("start fork child: %w", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if forkKeepTLS {
		if err := keepThread(); err != nil {
			return 0, fmt.Errorf("start fork child: %w", err)
		}
	}
	a := forkCall{
		conn:           fd,
		headerDeadline: now + int64(f.s.HeaderTimeout),
		deadline:       now + int64(f.s.ChildTimeout),
		m:              f.m,
	}
	pid, errno := forkClone(&a)
	if errno != 0 {
		return 0, fmt.Errorf("start fork child: %w", os.NewSyscallError("clone", errno))
	}
	return int(pid), nil
}
