// Package linux holds hellod's thin wrappers around Linux system calls
// (see syscalls(2)): socket inspection, accept4, getsockname, wait4,
// kill, close_range, madvise(2) and arch_prctl(2).
//
// What belongs here: raw system calls and nothing else. Every wrapper retries
// EINTR where the call is restartable, returns errors built with
// os.NewSyscallError so callers can use errors.Is with the unix.E* values,
// and keeps no state. Policy (what to do about an error) lives in the callers.
package linux
