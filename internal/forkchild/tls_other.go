//go:build !cgo || !amd64

package forkchild

// keepTLS: without cgo no rseq(2) area is registered (the Go runtime
// registers none); elsewhere than amd64 there are no fork children yet.
const keepTLS = false

func keepThread() error { return nil }
