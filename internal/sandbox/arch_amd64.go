package sandbox

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_X86_64
	// x32Bit marks the x32 ABI's system call numbers (__X32_SYSCALL_BIT),
	// which the same architecture value carries: refused.
	x32Bit = 0x40000000
)

// archAllowed is what only this architecture's Go runtime calls.
var archAllowed = []call{
	{nr: unix.SYS_EPOLL_PWAIT, exec: true}, // the netpoller, from a thread that has nothing to run
}
