//go:build !arm64

package forkchild

// page is the unit of mem's layout and the size of its guard page:
// amd64's page size (elsewhere only a unit of layout).
const page = 4096
