package forkchild

import (
	"syscall"
	"unsafe"

	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/response"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

// call is what a child is forked with; clone_*.s know the layout. The
// child gets a copy of conn..m on its own stack.
type call struct {
	conn  int              // 0
	start int64            // 8  CLOCK_MONOTONIC ns: the child's deadlines count from here
	slot  *scoreboard.Slot // 16 the child's scoreboard slot (in the Board mapping, which children keep)
	m     *mem             // 24
	fn    uintptr          // 32 ABIInternal entry of the child's main (childPC)
	g     uintptr          // 40 address of the stand-in g inside m
	flags uintptr          // 48 clone flags: SIGCHLD, or 0 for the probe child (with CLONE_SETTLS on amd64)
	tls   uintptr          // 56 the child's thread pointer with CLONE_SETTLS (amd64: mem.tlsBase)
}

// childPC is the ABIInternal entry of childMain, which a func value holds
// (cloneStack calls it so: the ABI0 wrapper a CALL by name goes through
// would load g from thread-local storage).
var childPC = func() uintptr {
	f := childMain
	return **(**uintptr)(unsafe.Pointer(&f))
}()

// atFDCWD is AT_FDCWD (-100) as openat's first argument.
const atFDCWD = ^uintptr(99)

//go:norace
//go:nocheckptr
func exit(o response.Outcome) {
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, uintptr(o), 0, 0)
	}
}

// childMain is the child after clone: it settles its descriptors and its
// name, serves the connection and exits with the outcome. See the CONTRACT
// in doc.go.
//
//go:norace
//go:nocheckptr
func childMain(a *call) {
	m := a.m
	if a.conn != respond.ConnFD {
		if _, _, e := syscall.RawSyscall(syscall.SYS_DUP3, uintptr(a.conn), respond.ConnFD, 0); e != 0 {
			exit(response.Failed)
		}
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_CLOSE_RANGE, respond.ConnFD+1, ^uintptr(0), 0); e != 0 {
		for fd := uintptr(respond.ConnFD + 1); fd < 1<<16; fd++ { // kernels before 5.9
			syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
		}
	}
	syscall.RawSyscall(syscall.SYS_CLOSE, 0, 0, 0)
	syscall.RawSyscall(syscall.SYS_CLOSE, 1, 0, 0)
	// The OOM killer's first choice (respond.OOMScoreAdj), best effort:
	// before the responder (and before any seccomp filter set up for it).
	if fd, _, e := syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&m.oom[0])),
		syscall.O_WRONLY|syscall.O_CLOEXEC, 0, 0, 0); e == 0 {
		syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.StringData(respond.OOMScoreAdj))), uintptr(len(respond.OOMScoreAdj)))
		syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
	}
	syscall.RawSyscall(syscall.SYS_PRCTL, unix.PR_SET_NAME, uintptr(unsafe.Pointer(&m.name[0])), 0)
	if !enterSandbox(m) {
		exit(response.Unsandboxed)
	}
	if forbiddenCallTest && a.slot != &m.probe { // a test build's hook (selftest_*.go), not in Probe's canary: the filter must kill this
		syscall.RawSyscall6(syscall.SYS_OPENAT, ^uintptr(99), uintptr(unsafe.Pointer(&m.name[0])), 0, 0, 0, 0) // AT_FDCWD
	}
	exit(respond.Serve(respond.ConnFD, &m.resp, &m.buf, a.slot, &m.limits, a.start))
}

// enterSandbox sets no_new_privs and installs the seccomp filter the
// parent put in m (internal/sandbox), if any, with prctl (the unit's
// system call filter allows prctl; one thread: no TSYNC needed). It
// reports whether the child may serve.
//
//go:norace
//go:nocheckptr
func enterSandbox(m *mem) bool {
	if m.fprog.len == 0 {
		return true
	}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return false
	}
	_, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER,
		uintptr(unsafe.Pointer(&m.fprog)), 0, 0, 0)
	return e == 0
}
