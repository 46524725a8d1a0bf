package forkchild

import (
	"github.com/hellod/hellod/internal/linux"
	"golang.org/x/sys/unix"
)

// cloneTLS: amd64's morestack loads g from thread-local storage (the FS
// base), so a child starts with its FS base at mem.tlsBase, whose last
// word below it is the stand-in g's address.
const cloneTLS = unix.CLONE_SETTLS

// threadPointer is the calling thread's thread pointer (the FS base).
func threadPointer() (uintptr, error) { return linux.FSBase() }
