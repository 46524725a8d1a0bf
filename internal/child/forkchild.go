package child

// CONTRACT: everything in this file runs, or may run, in a forked child
// of the hellod parent between clone(2) and exit_group(2). The child is a
// copy of a multi-threaded Go process in which only the forking thread
// exists: the runtime's other threads, the scheduler, the GC, the signal
// handlers' helpers and any lock another thread held at the fork are gone
// or frozen. So, exactly as in syscall.forkAndExecInChild1 between fork and
// exec, every function here
//
//   - is //go:nosplit (no stack-growth check, hence no call into morestack
//     or the scheduler; the linker's nosplit check fails the build if a
//     chain of these frames could overflow the stack guard), //go:norace
//     (no race-detector calls) and //go:nocheckptr;
//   - calls only functions of this file, forkparse.go and
//     syscall.RawSyscall/RawSyscall6 (nosplit, norace, no entersyscall): no
//     runtime calls, no allocation, no interface or closure calls, no
//     defer, no panics on the paths it takes (indexes are bounded by hand),
//     no locks, no pointer writes through pointers (write barriers);
//   - touches no memory but its stack, the text and read-only data of the
//     binary and the forkMem region (forkmem.go): it reads no package
//     variable. On amd64 the child does not even have the rest: the parent
//     marks every other writable mapping MADV_DONTFORK (the Go heap, the
//     goroutine stacks, the binary's data and bss), so that a fork copies
//     a few page-table entries instead of all of them; the child starts on
//     a stack inside forkMem (forkclone_amd64.s) with no g, so that a
//     stray read of g, of its thread-local storage or of a global faults
//     at once, which the tests would see. Elsewhere the child runs on the
//     forking goroutine's stack in a full copy of the parent
//     (forkclone_other.go);
//   - reads what the parent prepared before the fork: its arguments and
//     forkMem's responses; it writes only its stack and forkMem.buf, which
//     the parent never touches.
//
// Signals: the parent calls syscall's runtime_BeforeFork (linknamed; it is
// one of the runtime's pushed "hall of shame" symbols, so Go 1.26's
// linkname check allows it) on a thread locked with runtime.LockOSThread:
// it blocks every signal on that thread, stops preemption (m.locks++) and
// spoils g.stackguard0 so that any stack check the child might still hit
// throws instead of entering the scheduler. The child never unblocks
// signals: no Go handler can run in it. SIGKILL still works, SIGPIPE is
// avoided with MSG_NOSIGNAL, and a synchronous fault (a bug) kills the
// child with that signal, which the parent logs as such.
//
// What the child holds: right after clone, a copy of every parent fd
// (listeners, the runtime's epoll fd and its eventfd, the reaper's signal
// pipe, other connections being forked at the same moment...). It then
// dup3s the connection to ConnFD (3), closes 0 and 1 and close_range(4,
// ~0)s the rest, so it serves with only stderr (2) and the connection (3),
// like an exec child (which has /dev/null on 0 and 1).
//
// The responder is the exec child's Serve in miniature: blocking socket,
// SO_RCVTIMEO/SO_SNDTIMEO recomputed before each call from absolute
// CLOCK_MONOTONIC deadlines the parent computed, the same head limits and
// the same decisions as Decide/Classify (forkparse.go keeps the parser;
// fork_test.go proves they agree), a response prepared by response.Append
// in the parent, shutdown(SHUT_WR) and a bounded linger, and exit_group
// with the outcome as exit code.

import (
	"syscall"
	"unsafe"

	"github.com/hellod/hellod/internal/response"
	"golang.org/x/sys/unix"
)

//go:linkname runtime_BeforeFork syscall.runtime_BeforeFork
func runtime_BeforeFork()

//go:linkname runtime_AfterFork syscall.runtime_AfterFork
func runtime_AfterFork()

// forkCall is what a child is forked with. On amd64 the child gets a copy
// of its first four words on its own stack; forkclone_amd64.s knows the
// layout.
type forkCall struct {
	conn           int
	headerDeadline int64 // CLOCK_MONOTONIC nanoseconds
	deadline       int64
	m              *forkMem
	fn             uintptr // amd64: where the child starts (forkChildPC)
}

// forkBufSize holds a request line (maxRequestLine), a header section
// (MaxHeaderBytes) and one read's overshoot.
const forkBufSize = maxRequestLine + MaxHeaderBytes + 8<<10

//go:nosplit
//go:norace
//go:nocheckptr
func forkExit(o response.Outcome) {
	for {
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, uintptr(o), 0, 0)
	}
}

//go:nosplit
//go:norace
//go:nocheckptr
func forkChildMain(a *forkCall) {
	m, deadline := a.m, a.deadline
	if a.conn != ConnFD {
		if _, _, e := syscall.RawSyscall(syscall.SYS_DUP3, uintptr(a.conn), ConnFD, 0); e != 0 {
			forkExit(response.Failed)
		}
	}
	if _, _, e := syscall.RawSyscall(unix.SYS_CLOSE_RANGE, ConnFD+1, ^uintptr(0), 0); e != 0 {
		for fd := uintptr(ConnFD + 1); fd < 1<<16; fd++ { // kernels before 5.9
			syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
		}
	}
	syscall.RawSyscall(syscall.SYS_CLOSE, 0, 0, 0)
	syscall.RawSyscall(syscall.SYS_CLOSE, 1, 0, 0)
	fl, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, ConnFD, syscall.F_GETFL, 0)
	if e == 0 && fl&syscall.O_NONBLOCK != 0 {
		syscall.RawSyscall(syscall.SYS_FCNTL, ConnFD, syscall.F_SETFL, fl&^syscall.O_NONBLOCK)
	}

	// h holds no pointers: writing it through a pointer needs no write
	// barrier (a runtime call, and the parent may have forked mid-GC).
	var h headScan
	body := false
	o := forkReadDecide(&m.buf, min(a.headerDeadline, deadline), &h)
	if o == headComplete {
		o = classifyFork(m.buf[:h.w], h.lineEnd, m.strictColons, &body)
	}
	if o == response.ClientGone {
		forkExit(o)
	}
	if !forkSend(m.pick(o), deadline) {
		forkExit(response.WriteFailed)
	}
	// Linger as Serve does: when the client may still be sending.
	if body || h.extra || (o != response.OKGet && o != response.OKHead) || forkPending() {
		forkLinger(&m.buf, deadline)
	}
	forkExit(o)
}

// forkNow is CLOCK_MONOTONIC in nanoseconds (a real system call: no vDSO).
//
//go:nosplit
//go:norace
//go:nocheckptr
func forkNow() int64 {
	var ts syscall.Timespec
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, unix.CLOCK_MONOTONIC, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Sec*1e9 + ts.Nsec
}

// forkSetTimeout sets opt (SO_RCVTIMEO or SO_SNDTIMEO) on the connection to
// what remains until deadline, rounded up to a microsecond. It returns
// false when nothing remains.
//
//go:nosplit
//go:norace
//go:nocheckptr
func forkSetTimeout(opt int, deadline int64) bool {
	rem := deadline - forkNow()
	if rem <= 0 {
		return false
	}
	us := (rem + 999) / 1000
	tv := syscall.Timeval{Sec: us / 1e6, Usec: us % 1e6}
	_, _, e := syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, ConnFD, syscall.SOL_SOCKET, uintptr(opt),
		uintptr(unsafe.Pointer(&tv)), unsafe.Sizeof(tv), 0)
	return e == 0
}

// forkRead reads into p with SO_RCVTIMEO until deadline. It returns the
// byte count (0 at end of stream), or -1 for a timeout and -2 for another
// error.
//
//go:nosplit
//go:norace
//go:nocheckptr
func forkRead(p []byte, deadline int64) int {
	for {
		if !forkSetTimeout(syscall.SO_RCVTIMEO, deadline) {
			return -1
		}
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, ConnFD, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case 0:
			return int(n)
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return -1
		}
		return -2
	}
}

// forkReadDecide reads the request head into b by deadline as ReadHead
// does and decides as Decide does, except that for a complete head it
// returns headComplete, the head being b[:h.w], for the caller to classify.
// It writes no pointer through a pointer (that would be a write barrier, a
// runtime call).
//
//go:nosplit
//go:norace
//go:nocheckptr
func forkReadDecide(b *[forkBufSize]byte, deadline int64, h *headScan) response.Outcome {
	buf := b[:]
	*h = headScan{lineEnd: -1}
	for {
		end := h.w + 4096
		if end > len(buf) {
			end = len(buf) // not reached: the limits stop reading first
		}
		if h.w >= end {
			return response.HeaderTooLarge
		}
		n := forkRead(buf[h.w:end], deadline)
		switch {
		case n < 0 && h.overflow:
			return h.tooLong(buf)
		case n == -1:
			return response.RequestTimeout
		case n < 0:
			return response.ClientGone
		case n == 0:
			return h.atEOF(buf)
		}
		if o, done := h.feed(buf, n); done {
			return o
		}
	}
}

// forkSend writes all of p with MSG_NOSIGNAL and SO_SNDTIMEO until deadline.
//
//go:nosplit
//go:norace
//go:nocheckptr
func forkSend(p []byte, deadline int64) bool {
	for len(p) > 0 {
		if !forkSetTimeout(syscall.SO_SNDTIMEO, deadline) {
			return false
		}
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, ConnFD, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
			syscall.MSG_NOSIGNAL, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			return false
		}
		p = p[n:]
	}
	return true
}

// forkPending reports whether received bytes wait unread (SIOCINQ), or
// it cannot tell.
//
//go:nosplit
//go:norace
//go:nocheckptr
func forkPending() bool {
	var n int32
	_, _, e := syscall.RawSyscall(syscall.SYS_IOCTL, ConnFD, unix.SIOCINQ, uintptr(unsafe.Pointer(&n)))
	return e != 0 || n > 0
}

// forkLinger is linger: half-close, then read and drop up to lingerBytes
// for up to lingerTime (within the child's deadline).
//
//go:nosplit
//go:norace
//go:nocheckptr
func forkLinger(b *[forkBufSize]byte, childDeadline int64) {
	if _, _, e := syscall.RawSyscall(syscall.SYS_SHUTDOWN, ConnFD, syscall.SHUT_WR, 0); e != 0 {
		return
	}
	deadline := min(forkNow()+int64(lingerTime), childDeadline)
	buf := b[:4096]
	for n := 0; n < lingerBytes; {
		m := forkRead(buf, deadline)
		if m <= 0 {
			return
		}
		n += m
	}
}

// pick returns the response bytes for o (nil for outcomes that send none).
//
//go:nosplit
//go:norace
//go:nocheckptr
func (m *forkMem) pick(o response.Outcome) []byte {
	if int(o) >= len(m.resp) {
		return nil
	}
	r := m.resp[o]
	if r.n == 0 {
		return nil
	}
	all := (*[forkMaxMem]byte)(unsafe.Pointer(m))
	return all[r.off : r.off+r.n : r.off+r.n]
}
