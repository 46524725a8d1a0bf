//go:build !cgo || !amd64

package child

// forkKeepTLS: without cgo no rseq(2) area is registered (the Go runtime
// registers none), and elsewhere than amd64 children get all the parent's
// memory anyway.
const forkKeepTLS = false

func keepThread() error { return nil }
