// Command nopdeps does nothing, like nop, but links the packages whose
// initialisation every hellod process pays for: go-systemd's activation
// (which brings crypto/tls) and net/http (the exec child's
// http.ReadRequest). Spawning it is the floor for hellod's exec strategy as
// the design stands; spawning nop is the floor for any Go binary.
package main

import (
	"net/http"

	"github.com/coreos/go-systemd/v22/activation"
)

var (
	_ = activation.Files
	_ = http.ReadRequest
)

func main() {}
