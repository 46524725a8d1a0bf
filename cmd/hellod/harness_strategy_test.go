package main

// The child strategies the tests run with, and the fork probe.

import (
	"strings"
	"testing"

	"github.com/hellod/hellod/internal/config"
	"github.com/hellod/hellod/internal/forkchild"
	"github.com/hellod/hellod/internal/sandbox"
)

// hellodArgs returns args for a daemon started with env. When the fork
// strategy cannot run in this build and neither args nor env choose a
// strategy, the daemon (in a test not about the strategy) runs exec
// children instead of the default fork ones; without a keep-alive timeout
// in args or env, it closes after every response.
func hellodArgs(env []string, args ...string) []string {
	return sandboxArgs(env, perSourceOff(env, keepAliveOff(env, childArgs(env, args...))))
}

// perSourceOff turns --max-per-source off (0) unless args or env set it:
// most tests' clients come from one or a few loopback addresses, and their
// scenarios (and figures) predate the limit; reliability_persource_test.go
// sets it.
func perSourceOff(env, args []string) []string {
	if setting(env, args, "max-per-source") {
		return args
	}
	return append([]string{"--max-per-source=0"}, args...)
}

// sandboxArgs adds --sandbox=none to args where this kernel cannot
// sandbox children (qemu-user, which .ci/arm64.sh runs the tests under,
// has no seccomp for its guest), unless args or env choose: the daemon
// would refuse to start. The sandbox's own tests skip there instead.
func sandboxArgs(env, args []string) []string {
	if setting(env, args, "sandbox") || sandbox.Supported() == nil {
		return args
	}
	return append([]string{"--sandbox=none"}, args...)
}

// keepAliveOff makes the daemon close after every response
// (--keepalive-timeout=0) unless args or env set a keep-alive timeout: the
// clients of these tests read each answer to the end of its connection.
func keepAliveOff(env, args []string) []string {
	if setting(env, args, "keepalive-timeout") {
		return args
	}
	return append([]string{"--keepalive-timeout=0"}, args...)
}

// setting reports whether args or env set the flag name (or its variable).
func setting(env, args []string, name string) bool {
	for _, a := range args {
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, config.EnvName(name)+"=") {
			return true
		}
	}
	return false
}

// childArgs adds --child=exec to args when fork children cannot run here
// and neither args nor env choose a strategy.
func childArgs(env []string, args ...string) []string {
	if setting(env, args, "child") {
		return args
	}
	if forkUnavailable() == nil {
		return args
	}
	return append([]string{"--child=exec"}, args...)
}

// forkUnavailable says why fork children cannot run in this build (a
// coverage build, say), or nil if they can. The daemons the tests start are
// this binary, so forkchild.Probe here answers for them too (it is what
// hellod --child fork checks at start).
func forkUnavailable() error { return forkchild.Probe() }

// strategies are the child strategies every behaviour test runs with.
var strategies = []string{"exec", "fork"}

// eachStrategy runs fn as a subtest per child strategy, with the --child
// flag to pass; the fork one is skipped where fork children cannot run.
func eachStrategy(t *testing.T, fn func(t *testing.T, child string)) {
	for _, s := range strategies {
		t.Run(s, func(t *testing.T) {
			if s == "fork" {
				if err := forkUnavailable(); err != nil {
					t.Skipf("fork strategy unavailable in this build: %v", err)
				}
			}
			fn(t, "--child="+s)
		})
	}
}
