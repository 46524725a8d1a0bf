//go:build !hellod_sandboxtest

package forkchild

// forbiddenCallTest makes every child attempt openat(2) right after it
// installed its seccomp filter, which must kill it with SIGSYS: true only
// in a test build (go build -tags hellod_sandboxtest, selftest_on.go),
// never in a daemon a user runs.
const forbiddenCallTest = false
