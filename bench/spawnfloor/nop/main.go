// Command nop does nothing: bench/spawnfloor starts it over and over to
// measure the cost of starting and reaping a bare Go binary.
package main

func main() {}
