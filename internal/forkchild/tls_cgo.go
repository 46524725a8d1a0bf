//go:build cgo && (amd64 || arm64)

package forkchild

import (
	"fmt"
	"slices"

	"github.com/hellod/hellod/internal/linux"
)

// keepTLS: in a cgo build, glibc registered each thread's rseq(2) area in
// its thread control block, and the kernel writes to that area on a fork
// child's behalf (the registration is inherited, whatever the child's own
// thread pointer). A child without that mapping would die of SIGSEGV at
// its first reschedule, so the mapping holding the forking thread's thread
// pointer stays in children.
const keepTLS = true

// keepThread makes sure the mapping holding this thread's thread pointer
// is copied into children. Called on a locked thread.
func keepThread() error {
	tp, err := threadPointer()
	if err != nil {
		return err
	}
	mems.Lock()
	kept := slices.Contains(mems.keep, tp)
	mems.Unlock()
	if kept {
		return nil
	}
	ms, err := mappings()
	if err != nil {
		return fmt.Errorf("fork child memory: %w", err)
	}
	for _, m := range ms {
		if m.Start <= tp && tp < m.End {
			if err := linux.SetDontFork(m.Start, m.End, false); err != nil {
				return fmt.Errorf("fork child memory: thread pointer's mapping: %w", err)
			}
			keep(tp)
			return nil
		}
	}
	return fmt.Errorf("fork child memory: thread pointer %#x in no mapping", tp)
}
