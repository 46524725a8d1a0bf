//go:build !amd64 && !arm64

package forkchild

import (
	"fmt"
	"runtime"
	"syscall"
)

// clone is not available here: the child needs an entry in assembly that
// starts it on mem's stack with the stand-in g (see clone_amd64.s and
// clone_arm64.s). The former full-copy path (clone on the forking
// goroutine's stack) cannot run code that is not //go:nosplit:
// runtime_BeforeFork spoils stackguard0, so the first prologue would
// throw.
func clone(a *call, exitSignal uintptr) (uintptr, syscall.Errno) { return 0, syscall.ENOSYS }

// startThread is not available either (ServeOnThread says ErrNoThread).
func startThread(a *call) (uintptr, syscall.Errno) { return 0, syscall.ENOSYS }

// archSupported says why there is no fork child on this architecture.
func archSupported() error {
	return fmt.Errorf("fork strategy unavailable on %s (no clone entry for its child yet); use --child exec", runtime.GOARCH)
}
