//go:build !race || !(amd64 || arm64)

package scoreboard

import "sync/atomic"

// The atomic operations of a Slot's child side. Here sync/atomic's, which
// the compiler turns into instructions (no call) on amd64 and arm64; in a
// race build it calls the race detector instead, which a fork child
// cannot (its runtime is not there), so atomic_race.go has assembly ones.

//go:norace
//go:nocheckptr
func load32(p *uint32) uint32 { return atomic.LoadUint32(p) }

//go:norace
//go:nocheckptr
func store32(p *uint32, v uint32) { atomic.StoreUint32(p, v) }

//go:norace
//go:nocheckptr
func store64(p *int64, v int64) { atomic.StoreInt64(p, v) }

//go:norace
//go:nocheckptr
func cas32(p *uint32, old, new uint32) bool { return atomic.CompareAndSwapUint32(p, old, new) }

//go:norace
//go:nocheckptr
func add32(p *uint32, d uint32) { atomic.AddUint32(p, d) }

//go:norace
//go:nocheckptr
func add64(p *uint64, d uint64) { atomic.AddUint64(p, d) }
