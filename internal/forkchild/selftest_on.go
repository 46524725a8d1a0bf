//go:build hellod_sandboxtest

package forkchild

// forbiddenCallTest: see selftest_off.go. This is the test build.
const forbiddenCallTest = true
