package forkchild

// page is the unit of mem's layout and the size of its guard page: arm64
// kernels run with 4K, 16K or 64K pages, and 64K is a multiple of each,
// so the guard page is page-aligned on all of them.
const page = 64 << 10
