package linux

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

const archGetFS = 0x1003 // ARCH_GET_FS, see arch_prctl(2)

// FSBase returns the calling thread's FS base register: its thread pointer
// (with cgo, glibc's thread control block). See arch_prctl(2).
func FSBase() (uintptr, error) {
	var fs uintptr
	if _, _, e := unix.RawSyscall(unix.SYS_ARCH_PRCTL, archGetFS, uintptr(unsafe.Pointer(&fs)), 0); e != 0 {
		return 0, os.NewSyscallError("arch_prctl", e)
	}
	return fs, nil
}
