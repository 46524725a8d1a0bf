package forkchild

// cloneTLS: arm64's prologues and morestack read g from R28 alone, which
// the child's entry sets (clone_arm64.s), so a child keeps the forking
// thread's TPIDR_EL0 and mem.tls goes unused.
const cloneTLS = 0

// threadPointer is the calling thread's thread pointer (TPIDR_EL0).
func threadPointer() (uintptr, error) { return readTPIDR(), nil }

// readTPIDR reads TPIDR_EL0. See clone_arm64.s.
func readTPIDR() uintptr
