package forkchild

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/hellod/hellod/internal/respond"
	"github.com/hellod/hellod/internal/sandbox"
	"github.com/hellod/hellod/internal/scoreboard"
	"golang.org/x/sys/unix"
)

// mem is the memory a fork child works in: one private anonymous mapping,
// outside the Go heap, that the parent makes once. The parent writes only
// its first page (the header) and the responses at its end, under
// Fork.mu; the guard page, the stack and buf it never touches, so a fork
// copies no page-table entry for them and each child gets them as fresh
// zero pages.
type mem struct {
	header
	_     [page - unsafe.Sizeof(header{})]byte
	guard [page]byte // PROT_NONE: a stack overflow past the guard faults
	stack [stackSize]byte
	buf   respond.Buffer // where the child reads its request
	// The responses follow, from respOff.
}

// header is what the parent prepares for every child.
type header struct {
	g standinG
	// tls is where an amd64 child's thread pointer (FS base, set by clone
	// with CLONE_SETTLS) points: its last word holds the address of g, the
	// slot from which the runtime's assembly (morestack) loads g on
	// linux/amd64; the words below are zero, so that a build whose g slot
	// lies elsewhere loads a nil g and faults as well. arm64 reads g from
	// R28 only and leaves it unused (clone_arm64.go).
	tls    [tlsWords]uintptr
	name   [16]byte       // the child's name (prctl PR_SET_NAME), NUL-terminated
	oom    [32]byte       // respond.OOMScoreAdjPath, NUL-terminated, for the child's openat
	limits respond.Limits // the Settings, as Serve reads them
	done   uint32         // ServeOnThread: the outcome plus one, once posted
	// resp holds the responses; the parent keeps their Date current
	// (refresh), and a child that outlives the second rewrites the Dates
	// of its own copy in place (respond.Table.SetDate).
	resp respond.Table
	// filter is the seccomp program the parent built once
	// (internal/sandbox), and fprog the struct sock_fprog that points at
	// it (len 0: no sandbox): the child hands fprog to prctl, so both
	// live here, in memory the child keeps.
	filter [maxFilter]unix.SockFilter
	fprog  sockFprog
	// probe is the slot of Probe's canary (its own: the board's are the
	// server's), private to the child like the rest of mem.
	probe scoreboard.Slot
}

// sockFprog is struct sock_fprog (linux/filter.h) with the filter's
// address as a number: no Go pointer in mem.
type sockFprog struct {
	len    uint16
	_      [6]byte
	filter uintptr
}

// setFilter copies p into m, for the children to install.
func (m *mem) setFilter(p sandbox.Program) error {
	if len(p) == 0 || len(p) > len(m.filter) {
		return fmt.Errorf("fork child memory: want a seccomp program of 1 to %d instructions, got %d", len(m.filter), len(p))
	}
	copy(m.filter[:], p)
	m.fprog = sockFprog{len: uint16(len(p)), filter: uintptr(unsafe.Pointer(&m.filter[0]))}
	return nil
}

// standinG stands in for the runtime's g in a fork child, which has none:
// laid out like the start of runtime.g (stack.lo, stack.hi, stackguard0,
// stackguard1, _panic, _defer, m, sched...). A function's prologue
// compares the stack pointer with stackguard0; below it, it calls
// morestack, which reads m (nil here) and faults: a child that would
// overflow its stack dies of SIGSEGV, which the parent logs. The words
// after m take what morestack stores into sched before it faults.
type standinG struct {
	stackLo, stackHi         uintptr
	stackguard0, stackguard1 uintptr
	_                        [28]uintptr // _panic, _defer, m (nil), sched...: zero
}

const (
	stackSize = 64 << 10
	// stackGuard is what stackguard0 leaves below it for the //go:nosplit
	// leaves (syscall.RawSyscall and what it calls), which skip the check:
	// more than the runtime's stackGuard (928 bytes on linux/amd64, twice
	// that under -race) and than their chain in a -N -l build (448 bytes).
	stackGuard = 8 << 10
	tlsWords   = 64
	// stackTop is where a child's stack starts (it grows down).
	stackTop = unsafe.Offsetof(mem{}.stack) + stackSize
	// respOff is where the responses start.
	respOff = (unsafe.Sizeof(mem{}) + page - 1) &^ (page - 1)
	// maxMem bounds the mapping.
	maxMem = respOff + 1<<20
	// childName is what ps and systemctl status show as a fork child's
	// name (/proc/PID/comm, at most 15 bytes).
	childName = "hellod-child"
	// maxFilter bounds the fork child's seccomp program (sandbox.Fork's
	// is about 20 instructions), which lives in the header's page.
	maxFilter = 32
)

// newMem maps a mem with room for respBytes of responses and prepares its
// header.
func newMem(l respond.Limits, respBytes int) (*mem, []byte, error) {
	size := (respOff + uintptr(respBytes) + page - 1) &^ (page - 1)
	if size > maxMem {
		return nil, nil, fmt.Errorf("fork child memory: want responses of at most %d bytes, got %d", maxMem-respOff, respBytes)
	}
	b, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, fmt.Errorf("fork child memory: %w", os.NewSyscallError("mmap", err))
	}
	m := (*mem)(unsafe.Pointer(&b[0]))
	if ps := os.Getpagesize(); ps > page {
		unix.Munmap(b)
		return nil, nil, fmt.Errorf("fork child memory: want a page size of at most %d bytes for the guard page, got %d", page, ps)
	}
	g := unsafe.Offsetof(m.guard)
	if err := unix.Mprotect(b[g:g+page], unix.PROT_NONE); err != nil {
		unix.Munmap(b)
		return nil, nil, fmt.Errorf("fork child memory: guard page: %w", os.NewSyscallError("mprotect", err))
	}
	lo := uintptr(unsafe.Pointer(&m.stack[0]))
	m.g.stackLo, m.g.stackHi = lo, lo+stackSize
	m.g.stackguard0, m.g.stackguard1 = lo+stackGuard, lo+stackGuard
	m.tls[tlsWords-1] = uintptr(unsafe.Pointer(&m.g))
	copy(m.name[:len(m.name)-1], childName)
	copy(m.oom[:len(m.oom)-1], respond.OOMScoreAdjPath)
	m.limits = l
	registerMem(b)
	return m, b, nil
}

// tlsBase is the thread pointer a child starts with: just past m.tls.
func (m *mem) tlsBase() uintptr {
	return uintptr(unsafe.Pointer(&m.tls)) + unsafe.Sizeof(m.tls)
}

// setResponses copies rs into the mapping b of m and points m's table at
// the copies. It reports false, changing nothing, when they do not fit.
func (m *mem) setResponses(b []byte, rs *respond.Table) bool {
	if len(b) < int(respOff) {
		return false
	}
	return rs.Place(&m.resp, b[respOff:])
}
