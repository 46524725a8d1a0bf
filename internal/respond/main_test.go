package respond

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestMain turns the garbage collector off: these tests run Serve on a
// goroutine, where its raw system calls cannot be preempted (each signal
// only makes them return EINTR and start again), so that a collection's
// stop-the-world would stall the whole test binary until Serve returns
// (up to a keep-alive timeout). A child runs Serve where no Go runtime
// waits for it (a fork child, an exec child's responder thread).
func TestMain(m *testing.M) {
	debug.SetGCPercent(-1)
	os.Exit(m.Run())
}
