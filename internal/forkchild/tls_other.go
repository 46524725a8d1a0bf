//go:build !cgo || !(amd64 || arm64)

package forkchild

// keepTLS: without cgo no rseq(2) area is registered (the Go runtime
// registers none); elsewhere than amd64 and arm64 there are no fork
// children.
const keepTLS = false

func keepThread() error { return nil }
