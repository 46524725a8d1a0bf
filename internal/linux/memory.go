package linux

import (
	"os"

	"golang.org/x/sys/unix"
)

// SetDontFork marks the pages of [start, end) not to be copied into a
// child by fork(2) (MADV_DONTFORK), or, with on false, to be copied again
// (MADV_DOFORK). See madvise(2).
func SetDontFork(start, end uintptr, on bool) error {
	advice := uintptr(unix.MADV_DOFORK)
	if on {
		advice = unix.MADV_DONTFORK
	}
	if _, _, e := unix.Syscall(unix.SYS_MADVISE, start, end-start, advice); e != 0 {
		return os.NewSyscallError("madvise", e)
	}
	return nil
}
