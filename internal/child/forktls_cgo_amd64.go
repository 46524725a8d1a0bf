//go:build cgo

package child

import (
	"fmt"

	"github.com/hellod/hellod/internal/linux"
)

// forkKeepTLS: in a cgo build, glibc registered each thread's rseq(2) area
// in its thread control block, and the kernel writes to that area on a
// forked child's behalf (the registration is inherited). A child without
// that mapping would die of SIGSEGV at its first reschedule, so the
// mapping holding the forking thread's thread pointer stays in children.
const forkKeepTLS = true

// keepThread makes sure the mapping holding this thread's thread pointer
// is copied into children. Called on a locked thread.
func keepThread() error {
	fs, err := linux.FSBase()
	if err != nil {
		return err
	}
	forkMems.Lock()
	defer forkMems.Unlock()
	for _, a := range forkMems.keep {
		if a == fs {
			return nil
		}
	}
	ms, err := linux.Mappings()
	if err != nil {
		return fmt.Errorf("fork child memory: %w", err)
	}
	for _, m := range ms {
		if m.Start <= fs && fs < m.End {
			if err := linux.SetDontFork(m.Start, m.End, false); err != nil {
				return fmt.Errorf("fork child memory: thread pointer's mapping: %w", err)
			}
			forkMems.keep = append(forkMems.keep, fs)
			return nil
		}
	}
	return fmt.Errorf("fork child memory: thread pointer %#x in no mapping", fs)
}
