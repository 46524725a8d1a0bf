//go:build !race

package main

// raceEnabled: the tests run under the race detector (go test -race), so the
// reliability tests scale their counts down.
const raceEnabled = false
