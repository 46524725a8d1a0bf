package forkchild

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/hellod/hellod/internal/http1"
	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/response"
	"github.com/hellod/hellod/internal/sandbox"
	"github.com/hellod/hellod/internal/scoreboard"
)

// ServeOnThread serves the connection fd with a fork child's code and
// memory, on a thread of its own that the Go runtime does not know,
// recording its state in slot, and returns the outcome; the deadlines
// count from start, CLOCK_MONOTONIC nanoseconds (respond.Now). It is how an exec child serves, and why:
// the responder makes raw system calls (it must, in a fork child), and a
// goroutine blocked in one holds its P, so the runtime's sysmon thread
// wakes every 10 ms and signals it to preempt it (SIGURG, EINTR, the
// timeout set again), which cost a quarter of a core per 100 exec children
// waiting for their clients. Here the calling goroutine sleeps in
// futex(2), a system call the runtime knows, so that its P is released
// and sysmon sleeps too, while the responder thread (clone(2) with
// CLONE_VM|CLONE_THREAD onto mem's stack with the stand-in g, every
// signal blocked, under the CONTRACT in doc.go) serves, posts the outcome
// in mem, wakes the caller and exits. The caller exits the process after:
// the mapping is not unmapped. With s.Sandbox it installs internal/sandbox's
// filter on every thread first, and fails with response.Unsandboxed if it
// cannot. Where this architecture has no clone entry
// (clone_other.go) it serves from the calling goroutine.
func ServeOnThread(fd int, s respond.Settings, slot *scoreboard.Slot, start int64) (response.Outcome, error) {
	var t respond.Table
	size := t.Build(s.Message, time.Now())
	l := s.Limits(http1.StrictColons())
	if archSupported() != nil { // nor a sandbox: sandbox.Supported refuses these architectures too
		return respond.Serve(fd, &t, new(respond.Buffer), slot, &l, start), nil
	}
	m, b, err := newMem(l, size)
	if err != nil {
		return 0, err
	}
	if !m.setResponses(b, &t) {
		return 0, fmt.Errorf("responder memory: %d bytes of responses do not fit", size)
	}
	a := call{conn: fd, start: start, slot: slot, m: m}
	runtime.LockOSThread() // runtime_BeforeFork's thread: never unlocked, the process exits after
	if s.Sandbox {
		// Every thread, this one and the runtime's (TSYNC); the
		// responder thread inherits the filter at its clone.
		p, err := sandbox.Build(sandbox.Exec)
		if err == nil {
			err = sandbox.Install(p)
		}
		if err != nil {
			return response.Unsandboxed, err
		}
		if forbiddenCallTest { // a test build's hook (selftest_*.go): the filter must kill this
			syscall.Open("/", syscall.O_RDONLY, 0)
		}
	}
	if _, errno := startThread(&a); errno != 0 {
		return 0, fmt.Errorf("responder thread: %w", os.NewSyscallError("clone", errno))
	}
	for {
		if v := atomic.LoadUint32(&m.done); v != 0 {
			return response.Outcome(v - 1), nil
		}
		// EAGAIN (posted meanwhile) and EINTR: look again.
		syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&m.done)), futexWaitPrivate, 0, 0, 0, 0)
	}
}

// futex(2) operations (linux/futex.h): FUTEX_WAIT and FUTEX_WAKE with
// FUTEX_PRIVATE_FLAG.
const (
	futexWaitPrivate = 0 | 128
	futexWakePrivate = 1 | 128
)

// threadPC is the ABIInternal entry of threadMain (see childPC).
var threadPC = func() uintptr {
	f := threadMain
	return **(**uintptr)(unsafe.Pointer(&f))
}()

// threadMain is the responder thread of ServeOnThread: it serves a.conn,
// posts the outcome (plus one, zero meaning pending) in m.done, wakes the
// waiting goroutine and exits, this thread only. See the CONTRACT in doc.go.
//
//go:norace
//go:nocheckptr
func threadMain(a *call) {
	m := a.m
	o := respond.Serve(a.conn, &m.resp, &m.buf, a.slot, &m.limits, a.start)
	m.done = uint32(o) + 1
	syscall.RawSyscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&m.done)), futexWakePrivate, 1, 0, 0, 0)
	for {
		syscall.RawSyscall(syscall.SYS_EXIT, 0, 0, 0)
	}
}
