package child

import (
	"syscall"
	"unsafe"
)

// forkOwnStack reports that a child starts on forkMem's stack, so the
// parent keeps the rest of its memory out of it (isolateForkMem).
const forkOwnStack = true

// forkCloneStack is clone(2) with SIGCHLD and a new stack pointer. The
// parent gets the child's PID or the error. The child, on the new stack,
// copies *a there, calls a.fn (forkChildMain) with the copy and, should
// that return, exits with status 1. See forkclone_amd64.s.
//
//go:noescape
func forkCloneStack(stack uintptr, a *forkCall) (pid uintptr, errno syscall.Errno)

// forkClone forks a child that serves a.conn and exits; in the parent it
// returns the child's PID or the error. Its caller holds the OS thread
// (runtime.LockOSThread).
//
//go:nosplit
//go:norace
//go:nocheckptr
func forkClone(a *forkCall) (uintptr, syscall.Errno) {
	a.fn = forkChildPC
	runtime_BeforeFork()
	pid, errno := forkCloneStack(uintptr(unsafe.Pointer(a.m))+forkStackTop, a)
	runtime_AfterFork()
	return pid, errno
}

// forkChildPC is the ABIInternal entry of forkChildMain, which a func value
// holds (forkCloneStack calls it so).
var forkChildPC = func() uintptr {
	f := forkChildMain
	return **(**uintptr)(unsafe.Pointer(&f))
}()
