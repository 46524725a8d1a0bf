//go:build race

package forkchild

const raceEnabled = true
