//go:build race && (amd64 || arm64)

package scoreboard

// The atomic operations of a Slot's child side in a race build, in
// assembly (atomic_race_*.s): sync/atomic's would call the race detector,
// whose runtime a fork child does not have. The parent side keeps
// sync/atomic, which the detector sees; it cannot see these (nor another
// process's writes anyway).

//go:noescape
func load32(p *uint32) uint32

//go:noescape
func store32(p *uint32, v uint32)

//go:noescape
func store64(p *int64, v int64)

//go:noescape
func cas32(p *uint32, old, new uint32) bool

//go:noescape
func add32(p *uint32, d uint32)

//go:noescape
func add64(p *uint64, d uint64)
