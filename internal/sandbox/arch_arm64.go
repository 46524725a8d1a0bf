package sandbox

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_AARCH64
	x32Bit    = 0 // no second ABI on arm64
)

// archAllowed is what only this architecture's Go runtime calls.
var archAllowed = []call{
	{nr: unix.SYS_EPOLL_PWAIT, exec: true}, // the netpoller, from a thread that has nothing to run
}
