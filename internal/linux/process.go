package linux

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Exited describes a child reaped by Wait4Any.
type Exited struct {
	PID    int
	Status unix.WaitStatus
	Rusage unix.Rusage
}

// Wait4Any reaps one terminated child of this process without blocking
// (wait4(-1, WNOHANG)). It returns ok=false when no child has terminated yet
// or there are no children at all.
func Wait4Any() (e Exited, ok bool, err error) {
	for {
		pid, err := unix.Wait4(-1, &e.Status, unix.WNOHANG, &e.Rusage)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.ECHILD:
			return e, false, nil
		case err != nil:
			return e, false, os.NewSyscallError("wait4", err)
		case pid <= 0:
			return e, false, nil
		}
		e.PID = pid
		return e, true, nil
	}
}

// Kill sends sig to the process pid.
func Kill(pid int, sig unix.Signal) error {
	if err := unix.Kill(pid, sig); err != nil {
		return os.NewSyscallError("kill", err)
	}
	return nil
}

// ExitCode returns the conventional exit status of a terminated process:
// its exit code, or 128+signal when a signal killed it (as a shell reports).
func ExitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// CloseOnExecFrom marks every descriptor from lowfd up close-on-exec, so
// that descriptors inherited from whoever started us never reach a child
// (close_range(2) with CLOSE_RANGE_CLOEXEC; on kernels before 5.11 each open
// descriptor listed in /proc/self/fd is marked by fcntl).
func CloseOnExecFrom(lowfd int) error {
	err := unix.CloseRange(uint(lowfd), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	if err != unix.ENOSYS && err != unix.EINVAL && err != unix.EPERM { // EPERM: a seccomp filter
		return os.NewSyscallError("close_range", err)
	}
	ents, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return fmt.Errorf("close_range: %w; listing descriptors: %w", err, rerr)
	}
	for _, e := range ents {
		fd, cerr := strconv.Atoi(e.Name())
		if cerr != nil || fd < lowfd {
			continue
		}
		if _, ferr := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); ferr != nil && ferr != unix.EBADF {
			return os.NewSyscallError("fcntl F_SETFD", ferr)
		}
	}
	return nil
}
