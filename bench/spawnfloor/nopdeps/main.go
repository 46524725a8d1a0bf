// Command nopdeps does nothing, like nop, but links the package whose
// initialisation every hellod process pays for: go-systemd's activation
// (which brings crypto/tls). hellod's children no longer link net/http (one
// parser, internal/http1, serves both strategies). Spawning it is the floor
// for hellod's exec strategy as the design stands; spawning nop is the floor
// for any Go binary.
package main

import "github.com/coreos/go-systemd/v22/activation"

var _ = activation.Files

func main() {}
