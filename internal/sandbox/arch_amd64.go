package sandbox

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_X86_64
	// x32Bit marks the x32 ABI's system call numbers (__X32_SYSCALL_BIT),
	// which the same architecture value carries: refused.
	x32Bit = 0x40000000
)
