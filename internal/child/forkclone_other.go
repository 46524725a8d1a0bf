//go:build !amd64

package child

import "syscall"

// forkOwnStack reports that a child runs on the forking goroutine's stack,
// in a full copy of the parent: no isolateForkMem here.
const forkOwnStack = false

// forkClone forks a child that serves a.conn and exits; in the parent it
// returns the child's PID or the error. Its caller holds the OS thread
// (runtime.LockOSThread).
//
//go:nosplit
//go:norace
//go:nocheckptr
func forkClone(a *forkCall) (uintptr, syscall.Errno) {
	runtime_BeforeFork()
	pid, _, errno := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 || pid != 0 {
		runtime_AfterFork()
		return pid, errno
	}
	forkChildMain(a)
	return 0, 0 // not reached
}
