// Package netblock counts what each source network block holds: a peer's
// IPv4 address masked to a /N and an IPv6 one to a /M (OpenSSH's
// PerSourceNetBlockSize), counted in a fixed-size open-addressing table
// that allocates nothing after New. hellod's accept loop uses it for
// --max-per-source.
package netblock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
)

// Mask gives the prefix lengths that make a source: V4 bits of an IPv4
// address (0 to 32), V6 bits of an IPv6 one (0 to 128).
type Mask struct{ V4, V6 int }

// DefaultMask is /32 and /64: one IPv4 address, one IPv6 subnet (what a
// single site is routed; sshd's default is 32:128).
var DefaultMask = Mask{V4: 32, V6: 64}

// ParseMask reads "V4" or "V4:V6" (sshd's PerSourceNetBlockSize syntax,
// e.g. "24:56"); V6 defaults to DefaultMask's.
func ParseMask(s string) (Mask, error) {
	m := DefaultMask
	v4, v6, two := strings.Cut(s, ":")
	n, err := strconv.Atoi(v4)
	if err != nil || n < 0 || n > 32 {
		return m, fmt.Errorf("IPv4 prefix %q: want an integer from 0 to 32 (the form is V4 or V4:V6, e.g. 32:64)", v4)
	}
	m.V4 = n
	if two {
		n, err := strconv.Atoi(v6)
		if err != nil || n < 0 || n > 128 {
			return m, fmt.Errorf("IPv6 prefix %q: want an integer from 0 to 128 (the form is V4 or V4:V6, e.g. 32:64)", v6)
		}
		m.V6 = n
	}
	return m, nil
}

// String is the form ParseMask reads: "32:64".
func (m Mask) String() string { return strconv.Itoa(m.V4) + ":" + strconv.Itoa(m.V6) }

// Key is a masked address: IPv4 ones in their IPv4-mapped IPv6 form.
type Key struct{ hi, lo uint64 }

// Key masks a. An IPv4-mapped IPv6 address counts as the IPv4 address.
func (m Mask) Key(a netip.Addr) Key {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		v := binary.BigEndian.Uint32(b[:]) & ^(^uint32(0) >> m.V4) // shift >= 32 gives 0
		return Key{lo: 0xffff<<32 | uint64(v)}
	}
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	if m.V6 <= 64 {
		return Key{hi: hi & ^(^uint64(0) >> m.V6)}
	}
	return Key{hi: hi, lo: lo & ^(^uint64(0) >> (m.V6 - 64))}
}

// Prefix is a's source block, for messages: 127.0.0.2/32, 2001:db8::/64.
func (m Mask) Prefix(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	n := m.V6
	if a.Is4() {
		n = m.V4
	}
	p, _ := a.WithZone("").Prefix(n) // n is in range: ParseMask checked it
	return p
}

// Entry is one source's count, with room for its caller's per-source
// state (the episode at its limit, for hellod's log lines).
type Entry struct {
	Count   int
	Refused int64 // the caller's: refused in the current episode
	Since   int64 // the caller's: when the episode began (0: none)
	key     Key
	used    bool
}

// Result is what Acquire did.
type Result uint8

const (
	Admitted Result = iota // counted
	AtLimit                // the source holds limit already: not counted
	Full                   // a new source and no room: not counted
)

// Table counts up to max sources at once. It is not safe for concurrent
// use.
type Table struct {
	slots []Entry // a power of two, at least twice max: probes stay short
	mask  uint64
	seed  uint64 // per table, so that the probe sequences cannot be planned
	n     int
	max   int
	gone  Entry // the last entry removed, returned by Release
}

// ErrSize is returned by New for a table of no source.
var ErrSize = errors.New("netblock: a table holds at least one source")

// New returns a table for up to max sources at once.
func New(max int) (*Table, error) {
	if max < 1 {
		return nil, ErrSize
	}
	size := 1 << bits.Len(uint(2*max-1)) // the power of two >= 2*max
	return &Table{slots: make([]Entry, size), mask: uint64(size - 1), seed: rand.Uint64(), max: max}, nil
}

// Len is how many sources the table holds.
func (t *Table) Len() int { return t.n }

func (t *Table) home(k Key) uint64 {
	return mix(mix(k.hi^t.seed)^k.lo) & t.mask
}

// mix is splitmix64's finalizer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// find returns k's index, or the free index where it would go.
func (t *Table) find(k Key) (uint64, bool) {
	for i := t.home(k); ; i = (i + 1) & t.mask {
		e := &t.slots[i]
		if !e.used {
			return i, false
		}
		if e.key == k {
			return i, true
		}
	}
}

// Get returns k's entry, or nil. The pointer is valid until the next
// Acquire or Release.
func (t *Table) Get(k Key) *Entry {
	if i, ok := t.find(k); ok {
		return &t.slots[i]
	}
	return nil
}

// Acquire counts one more for k unless k holds limit already (AtLimit,
// returning its entry) or k is new and the table holds max sources
// (Full, nil). The entry is valid until the next Acquire or Release.
func (t *Table) Acquire(k Key, limit int) (Result, *Entry) {
	i, ok := t.find(k)
	e := &t.slots[i]
	switch {
	case ok && e.Count >= limit:
		return AtLimit, e
	case ok:
		e.Count++
		return Admitted, e
	case t.n >= t.max:
		return Full, nil
	}
	*e = Entry{Count: 1, key: k, used: true}
	t.n++
	return Admitted, e
}

// Release counts one less for k, and removes k at 0. It returns k's entry
// after the count (a copy when removed), valid until the next Acquire or
// Release, or nil if the table does not hold k.
func (t *Table) Release(k Key) *Entry {
	i, ok := t.find(k)
	if !ok {
		return nil
	}
	e := &t.slots[i]
	if e.Count--; e.Count > 0 {
		return e
	}
	t.gone = *e
	t.remove(i)
	t.n--
	return &t.gone
}

// remove empties slot i by shifting back the entries after it that may
// move (linear probing's deletion: no tombstones, probes stay short).
func (t *Table) remove(i uint64) {
	for j := (i + 1) & t.mask; t.slots[j].used; j = (j + 1) & t.mask {
		h := t.home(t.slots[j].key)
		// j may move to i unless its home lies cyclically in (i, j].
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = Entry{}
}
