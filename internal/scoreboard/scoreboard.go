// Package scoreboard is the shared memory in which each child records the
// state of its connection and what it served, for the parent to read, in
// the manner of Apache httpd's scoreboard
// (https://httpd.apache.org/docs/2.4/mod/mod_status.html).
//
// The parent creates one Board (a memfd mapped shared) with a Slot per
// child slot before it starts any child. A fork child inherits the mapping;
// an exec child maps the memfd it inherits (Open). Each child writes only
// its own Slot, the parent reads every Slot and writes two words of a Slot
// (its stop flag, and its state only from Idle to Closing): the fields are
// accessed with sync/atomic only, on both sides.
//
// The child's methods (Set, Wake, Served, Stopped) run in a fork child under
// internal/forkchild's CONTRACT: no allocation, no runtime calls, no package
// variables, //go:norace and //go:nocheckptr: their atomic operations
// (atomic.go) are sync/atomic's, compiler intrinsics on amd64 and arm64 (no
// call), except in a race build, where sync/atomic calls the race
// detector and assembly ones stand in (atomic_race.go).
package scoreboard

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// State is what a child is doing with its connection.
type State uint32

// The states, in the order a connection usually passes them.
const (
	Free      State = iota // no child holds the slot
	Starting               // the parent reserved the slot and starts a child on it
	Reading                // reading a request head (from its first byte)
	Writing                // sending a response
	Idle                   // waiting for the next request of a persistent connection
	Lingering              // closing: reading and dropping what the client still sends
	Closing                // the parent claimed the idle child (eviction, shutdown): it exits unread
	Done                   // the child has finished and exits
	numStates
)

// String names s for logs and STATUS.
func (s State) String() string {
	switch s {
	case Free:
		return "free"
	case Starting:
		return "starting"
	case Reading:
		return "reading"
	case Writing:
		return "writing"
	case Idle:
		return "idle"
	case Lingering:
		return "lingering"
	case Closing:
		return "closing"
	case Done:
		return "done"
	}
	return fmt.Sprintf("state %d", uint32(s))
}

// Outcomes bounds the outcome codes (internal/response.Outcome) a Slot
// counts; larger codes are counted in Counts[Outcomes-1].
const Outcomes = 32

// Slot is one child's record. Its size is SlotSize; the fields are
// unexported so that only this package's atomic accessors touch them.
type Slot struct {
	state    uint32 // State
	stop     uint32 // 1: the parent asks the child to close after its current response
	requests uint32 // responses sent
	last     uint32 // outcome of the last response (internal/response.Outcome)
	since    int64  // CLOCK_MONOTONIC nanoseconds at which state was entered
	bytes    uint64 // response bytes sent
	counts   [Outcomes]uint32
	_        [SlotSize - 32 - 4*Outcomes]byte
}

// SlotSize is the size of a Slot: three cache lines.
const SlotSize = 192

// The layout is part of the exec child's interface: a size change is a
// compile error here, not a misread slot there.
var _ [SlotSize - unsafe.Sizeof(Slot{})]byte
var _ [unsafe.Sizeof(Slot{}) - SlotSize]byte

// Set records that the child entered state st at now (CLOCK_MONOTONIC
// nanoseconds). Child side.
//
//go:norace
//go:nocheckptr
func (s *Slot) Set(st State, now int64) {
	store64(&s.since, now)
	store32(&s.state, uint32(st))
}

// Wake moves an Idle child to Reading at now, unless the parent has
// claimed it (Claim) first: it reports whether the child may read its next
// request. A child that was not Idle is moved too. Child side.
//
//go:norace
//go:nocheckptr
func (s *Slot) Wake(now int64) bool {
	store64(&s.since, now)
	for {
		old := load32(&s.state)
		if State(old) == Closing {
			return false
		}
		if cas32(&s.state, old, uint32(Reading)) {
			return true
		}
	}
}

// Served counts a response with outcome o of n bytes. Child side.
//
//go:norace
//go:nocheckptr
func (s *Slot) Served(o uint8, n int) {
	i := int(o)
	if i >= Outcomes {
		i = Outcomes - 1
	}
	add32(&s.counts[i], 1)
	add64(&s.bytes, uint64(n))
	store32(&s.last, uint32(o))
	add32(&s.requests, 1)
}

// Stopped reports whether the parent asked the child to close after its
// current response (Stop). Child side.
//
//go:norace
//go:nocheckptr
func (s *Slot) Stopped() bool { return load32(&s.stop) != 0 }

// Reset prepares the slot for a child about to start, at now. Parent side.
func (s *Slot) Reset(now int64) {
	atomic.StoreUint32(&s.stop, 0)
	atomic.StoreUint32(&s.requests, 0)
	atomic.StoreUint32(&s.last, 0)
	atomic.StoreUint64(&s.bytes, 0)
	for i := range s.counts {
		atomic.StoreUint32(&s.counts[i], 0)
	}
	s.Set(Starting, now)
}

// Release marks the slot free once its child was reaped. Parent side.
func (s *Slot) Release() { atomic.StoreUint32(&s.state, uint32(Free)) }

// Stop asks the child to close its connection after its current response
// (and its next one to say Connection: close). Parent side.
func (s *Slot) Stop() { atomic.StoreUint32(&s.stop, 1) }

// Claim moves an Idle child to Closing and reports whether it did: a
// claimed child reads nothing more (Wake fails), so the parent may kill it
// without losing a request (RFC 9112 section 9.3). Parent side.
func (s *Slot) Claim() bool {
	return atomic.CompareAndSwapUint32(&s.state, uint32(Idle), uint32(Closing))
}

// Snapshot is a copy of a Slot's fields, read one by one (not as a whole
// atomically: counters may be one response apart).
type Snapshot struct {
	State    State
	Since    int64 // CLOCK_MONOTONIC nanoseconds
	Requests int
	Bytes    uint64
	Last     uint8 // outcome of the last response, meaningful when Requests > 0
	Counts   [Outcomes]uint32
}

// State returns the state s is in (Read's State, alone). Parent side.
func (s *Slot) State() State { return State(atomic.LoadUint32(&s.state)) }

// Read returns a Snapshot of s. Parent side.
func (s *Slot) Read() Snapshot {
	var v Snapshot
	v.State = State(atomic.LoadUint32(&s.state))
	v.Since = atomic.LoadInt64(&s.since)
	v.Requests = int(atomic.LoadUint32(&s.requests))
	v.Bytes = atomic.LoadUint64(&s.bytes)
	v.Last = uint8(atomic.LoadUint32(&s.last))
	for i := range s.counts {
		v.Counts[i] = atomic.LoadUint32(&s.counts[i])
	}
	return v
}

// Now is CLOCK_MONOTONIC in nanoseconds, the clock of Slot.Since, for the
// parent (a child uses internal/respond.Now).
func Now() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // cannot fail for this clock
	return ts.Nano()
}

// Board is the shared mapping of n Slots.
type Board struct {
	mem []byte
	n   int
	f   *os.File // the memfd, for exec children (nil for an Open board)
}

// New creates a Board of n slots in a memfd (close-on-exec: an exec child
// gets it through os/exec's ExtraFiles only).
func New(n int) (*Board, error) {
	if n <= 0 {
		return nil, fmt.Errorf("scoreboard: want a positive slot count, got %d", n)
	}
	fd, err := unix.MemfdCreate("hellod-scoreboard", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("scoreboard: %w", os.NewSyscallError("memfd_create", err))
	}
	f := os.NewFile(uintptr(fd), "hellod-scoreboard")
	size := size(n)
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("scoreboard of %d slots: %w", n, os.NewSyscallError("ftruncate", err))
	}
	b, err := mapShared(fd, size, n)
	if err != nil {
		f.Close()
		return nil, err
	}
	b.f = f
	return b, nil
}

// Open maps the Board of n slots in the memfd fd, as an exec child
// inherits it. It fails if fd is not a memfd that large.
func Open(fd, n int) (*Board, error) {
	if n <= 0 {
		return nil, fmt.Errorf("scoreboard: want a positive slot count, got %d", n)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("scoreboard on fd %d: %w", fd, os.NewSyscallError("fstat", err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size < int64(n*SlotSize) {
		return nil, fmt.Errorf("scoreboard on fd %d: want a file of at least %d bytes for %d slots, got mode %#o size %d",
			fd, n*SlotSize, n, st.Mode, st.Size)
	}
	return mapShared(fd, n*SlotSize, n)
}

// size is the mapping's length for n slots, in whole pages.
func size(n int) int {
	p := os.Getpagesize()
	return (n*SlotSize + p - 1) / p * p
}

func mapShared(fd, size, n int) (*Board, error) {
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("scoreboard of %d slots: %w", n, os.NewSyscallError("mmap", err))
	}
	return &Board{mem: mem, n: n}, nil
}

// Len is the number of slots.
func (b *Board) Len() int { return b.n }

// Slot returns slot i (0 <= i < Len).
func (b *Board) Slot(i int) *Slot {
	if i < 0 || i >= b.n {
		panic(fmt.Sprintf("scoreboard: slot %d of %d", i, b.n))
	}
	return (*Slot)(unsafe.Pointer(&b.mem[i*SlotSize]))
}

// Mapping is the address and length of the shared mapping (a fork
// strategy keeps it in its children).
func (b *Board) Mapping() (addr uintptr, length int) {
	return uintptr(unsafe.Pointer(&b.mem[0])), len(b.mem)
}

// File is the memfd an exec child inherits (nil for a Board from Open).
func (b *Board) File() *os.File { return b.f }

// Close unmaps the board and closes its memfd.
func (b *Board) Close() error {
	err := unix.Munmap(b.mem)
	if b.f != nil {
		if cerr := b.f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("scoreboard: %w", err)
	}
	return nil
}
