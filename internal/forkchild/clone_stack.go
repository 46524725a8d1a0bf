//go:build amd64 || arm64

package forkchild

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

//go:linkname runtime_BeforeFork syscall.runtime_BeforeFork
func runtime_BeforeFork()

//go:linkname runtime_AfterFork syscall.runtime_AfterFork
func runtime_AfterFork()

// cloneStack is clone(2) with a.flags, a.tls and a new stack pointer. The
// parent gets the child's PID or the error. The child, on the new stack,
// copies conn..m of *a there, sets g (amd64: R14, arm64: R28) to a.g,
// calls a.fn (childMain) with the copy and, should that return, exits with
// status 1. See clone_amd64.s and clone_arm64.s.
//
//go:noescape
func cloneStack(stack uintptr, a *call) (pid uintptr, errno syscall.Errno)

// clone forks a child that serves a.conn and exits, with exit signal
// exitSignal (SIGCHLD, or 0 for a child only wait4's __WCLONE sees); in
// the parent it returns the child's PID or the error. Its caller holds the
// OS thread (runtime.LockOSThread). It runs in the parent only.
func clone(a *call, exitSignal uintptr) (uintptr, syscall.Errno) {
	return cloneOnStack(a, childPC, exitSignal|cloneTLS)
}

// threadFlags make clone start a thread of this process rather than a
// child: the same memory, descriptors, signal handlers and thread group.
const threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_THREAD | unix.CLONE_SYSVSEM

// startThread starts ServeOnThread's responder thread on a.m's stack; it
// returns the thread's ID or the error. Its caller holds the OS thread,
// whose signal mask (all blocked, by runtime_BeforeFork) the new thread
// inherits.
func startThread(a *call) (uintptr, syscall.Errno) {
	return cloneOnStack(a, threadPC, threadFlags|cloneTLS)
}

// cloneOnStack is clone(2) with flags onto a.m's stack and stand-in g,
// the new task starting at fn, with every signal blocked on this thread
// meanwhile (runtime_BeforeFork), so that the new task starts with them
// blocked.
func cloneOnStack(a *call, fn, flags uintptr) (uintptr, syscall.Errno) {
	a.fn = fn
	a.g = uintptr(unsafe.Pointer(&a.m.g))
	a.tls = a.m.tlsBase()
	a.flags = flags
	runtime_BeforeFork()
	id, errno := cloneStack(uintptr(unsafe.Pointer(a.m))+stackTop, a)
	runtime_AfterFork()
	return id, errno
}

// archSupported is nil: children have their entry here (clone_*.s).
func archSupported() error { return nil }
