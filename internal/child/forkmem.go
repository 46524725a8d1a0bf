package child

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/hellod/hellod/internal/linux"
	"golang.org/x/sys/unix"
)

// forkMem is the memory a forked child works in: one private anonymous
// mapping, outside the Go heap, that the parent makes once. The parent
// writes only its first page (the header: settings and where each
// response lies) and the responses at its end, under Fork.mu; the guard
// page, the stack and buf it never touches, so a fork copies no page-table
// entry for them and each child gets them as fresh zero pages.
type forkMem struct {
	forkHeader
	_     [forkPage - unsafe.Sizeof(forkHeader{})]byte
	guard [forkPage]byte // PROT_NONE: a stack overflow faults
	stack [forkStackSize]byte
	buf   [forkBufSize]byte // where the child reads its request
	// The responses follow, from forkRespOff.
}

type forkHeader struct {
	strictColons bool
	resp         [outcomeSlots]forkSpan // by outcome; n == 0: no response
}

// forkSpan locates bytes within forkMem.
type forkSpan struct{ off, n uint32 }

const (
	forkPage      = 4096 // amd64's page size (elsewhere only a unit of layout)
	forkStackSize = 16 << 10
	// forkStackTop is where a child's stack starts (it grows down).
	forkStackTop = unsafe.Offsetof(forkMem{}.stack) + forkStackSize
	// forkRespOff is where the responses start.
	forkRespOff = (unsafe.Sizeof(forkMem{}) + forkPage - 1) &^ (forkPage - 1)
	// forkMaxMem bounds the mapping (and the array type pick indexes).
	forkMaxMem = forkRespOff + 1<<20
)

// newForkMem maps a forkMem with room for respBytes of responses.
func newForkMem(strictColons bool, respBytes int) (*forkMem, []byte, error) {
	size := (forkRespOff + uintptr(respBytes) + forkPage - 1) &^ (forkPage - 1)
	if size > forkMaxMem {
		return nil, nil, fmt.Errorf("fork child memory: want responses of at most %d bytes, got %d", forkMaxMem-forkRespOff, respBytes)
	}
	b, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, nil, fmt.Errorf("fork child memory: %w", os.NewSyscallError("mmap", err))
	}
	m := (*forkMem)(unsafe.Pointer(&b[0]))
	if forkOwnStack { // the stack is used: guard it
		g := unsafe.Offsetof(m.guard)
		if err := unix.Mprotect(b[g:g+forkPage], unix.PROT_NONE); err != nil {
			unix.Munmap(b)
			return nil, nil, fmt.Errorf("fork child memory: guard page: %w", os.NewSyscallError("mprotect", err))
		}
	}
	m.strictColons = strictColons
	registerForkMem(b)
	return m, b, nil
}

// setResponses copies rs (by outcome) into the mapping b of m. It reports
// false, changing nothing, when they do not fit.
func (m *forkMem) setResponses(b []byte, rs *[outcomeSlots][]byte) bool {
	total := 0
	for _, r := range rs {
		total += len(r)
	}
	if int(forkRespOff)+total > len(b) {
		return false
	}
	off := uint32(forkRespOff)
	for o, r := range rs {
		n := copy(b[off:], r)
		m.resp[o] = forkSpan{off: off, n: uint32(n)}
		off += uint32(n)
	}
	return true
}

// forkMems are the address ranges of every live forkMem of this process
// (one per Fork strategy) and the addresses whose mappings children must
// have (keepThread): isolateForkMem leaves them all alone.
var forkMems struct {
	sync.Mutex
	r    [][2]uintptr
	keep []uintptr
}

func registerForkMem(b []byte) {
	lo := uintptr(unsafe.Pointer(&b[0]))
	forkMems.Lock()
	forkMems.r = append(forkMems.r, [2]uintptr{lo, lo + uintptr(len(b))})
	forkMems.Unlock()
}

func unregisterForkMem(b []byte) {
	lo := uintptr(unsafe.Pointer(&b[0]))
	forkMems.Lock()
	defer forkMems.Unlock()
	for i, r := range forkMems.r {
		if r[0] == lo {
			forkMems.r = append(forkMems.r[:i], forkMems.r[i+1:]...)
			return
		}
	}
}

// isolateForkMem marks MADV_DONTFORK every mapping of this process that a
// forked child does not need, that is all but: every forkMem, the binary's
// text and read-only data (file-backed and not writable, which fork does
// not copy anyway), the kernel's [vdso] and the like, and the mappings
// that contain an address of forkMems.keep. The Go runtime maps new memory
// as the heap grows; those mappings are copied until the next call. A
// mapping madvise refuses is left as it is (it costs time, not safety).
func isolateForkMem() error {
	forkMems.Lock()
	defer forkMems.Unlock()
	ms, err := linux.Mappings()
	if err != nil {
		return fmt.Errorf("fork child memory: %w", err)
	}
next:
	for _, m := range ms {
		if m.Special() || !m.Writable() && m.Path != "" && m.Path[0] != '[' || containsAny(m, forkMems.keep) {
			continue
		}
		for _, r := range forkMems.r {
			if m.Start < r[1] && r[0] < m.End {
				continue next
			}
		}
		linux.SetDontFork(m.Start, m.End, true)
	}
	return nil
}

func containsAny(m linux.Mapping, addrs []uintptr) bool {
	for _, a := range addrs {
		if m.Start <= a && a < m.End {
			return true
		}
	}
	return false
}
