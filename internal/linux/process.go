package linux

import (
	"os"

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
