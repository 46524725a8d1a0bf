package sandbox

import "golang.org/x/sys/unix"

// call is one allowed system call.
type call struct {
	nr int
	// exec: only in the exec child (its Go runtime); else in both.
	exec bool
	// set, clear: allowed only when argument arg has all of set's bits
	// (one bit) or none of clear's.
	arg        int
	set, clear uint32
	// enosys: refused with ENOSYS instead of killing, so that the
	// caller falls back to an allowed call.
	enosys bool
}

// allowed is the allowlist, the one place it is written; each entry says
// why. The fork child's calls after the filter are internal/respond's
// (sys.go) and its exit; it installs the filter after it settled its
// descriptors and name. The exec child's Go runtime, which keeps running
// while the responder thread serves (internal/forkchild's ServeOnThread),
// needs the entries marked exec: found with strace -f of exec children
// serving, idling, timing out and exiting.
var allowed = []call{
	// The responder (internal/respond).
	{nr: unix.SYS_READ},          // the request, with SO_RCVTIMEO
	{nr: unix.SYS_RECVFROM},      // the request's bytes already there (MSG_DONTWAIT)
	{nr: unix.SYS_SENDMSG},       // the responses, one sendmsg per batch
	{nr: unix.SYS_SETSOCKOPT},    // SO_RCVTIMEO and SO_SNDTIMEO per deadline
	{nr: unix.SYS_FCNTL},         // clearing O_NONBLOCK
	{nr: unix.SYS_IOCTL},         // SIOCINQ: pipelined bytes waiting
	{nr: unix.SYS_PPOLL},         // waiting for a persistent connection's next request
	{nr: unix.SYS_SHUTDOWN},      // lingering: the half-close before the last reads
	{nr: unix.SYS_CLOCK_GETTIME}, // deadlines and the Date (raw calls: no vDSO in a fork child)
	{nr: unix.SYS_EXIT_GROUP},    // the fork child's exit with its outcome; the exec child's os.Exit
	{nr: unix.SYS_EXIT},          // the exec child's responder thread ends itself
	{nr: unix.SYS_FUTEX},         // the responder thread wakes the waiting goroutine; the Go runtime's locks

	// The exec child's Go runtime, while the responder serves.
	{nr: unix.SYS_RT_SIGRETURN, exec: true},                          // return from a signal handler (preemption's SIGURG)
	{nr: unix.SYS_RT_SIGPROCMASK, exec: true},                        // threads block and unblock signals
	{nr: unix.SYS_SIGALTSTACK, exec: true},                           // a new thread's signal stack
	{nr: unix.SYS_SCHED_YIELD, exec: true},                           // spinning locks
	{nr: unix.SYS_NANOSLEEP, exec: true},                             // sysmon's usleep
	{nr: unix.SYS_MMAP, exec: true},                                  // heap growth, a new thread's stack
	{nr: unix.SYS_MUNMAP, exec: true},                                // freeing them
	{nr: unix.SYS_MADVISE, exec: true},                               // the scavenger returning memory
	{nr: unix.SYS_GETPID, exec: true},                                // signalling a thread (preemption)
	{nr: unix.SYS_GETTID, exec: true},                                // idem
	{nr: unix.SYS_TGKILL, exec: true},                                // idem
	{nr: unix.SYS_CLONE, exec: true, arg: 0, set: unix.CLONE_THREAD}, // a new M (thread) when one blocks; never a process
	{nr: unix.SYS_EPOLL_PWAIT, exec: true},                           // the netpoller, from a thread with nothing to run
	{nr: unix.SYS_WRITE, exec: true},                                 // a runtime fatal error's message on stderr
	// A cgo build (the tests' binaries) makes its threads with glibc's
	// pthread_create.
	{nr: unix.SYS_CLONE3, exec: true, enosys: true},                    // glibc tries it first, then clone
	{nr: unix.SYS_MPROTECT, exec: true, arg: 2, clear: unix.PROT_EXEC}, // a thread stack's guard page; never executable
	{nr: unix.SYS_SET_ROBUST_LIST, exec: true},                         // a new thread's futex list
	{nr: unix.SYS_RSEQ, exec: true},                                    // a new thread's restartable sequences
}
