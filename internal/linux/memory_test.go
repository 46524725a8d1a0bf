package linux

import (
	"errors"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestSetDontFork(t *testing.T) {
	b, err := unix.Mmap(-1, 0, 2*unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	start := uintptr(unsafe.Pointer(&b[0]))
	end := start + uintptr(len(b))
	if err := SetDontFork(start, end, true); err != nil {
		t.Fatalf("want MADV_DONTFORK to apply, got %v", err)
	}
	if err := SetDontFork(start, end, false); err != nil {
		t.Fatalf("want MADV_DOFORK to apply, got %v", err)
	}
	if err := SetDontFork(start+1, end, true); !errors.Is(err, unix.EINVAL) {
		t.Errorf("want EINVAL for an unaligned start, got %v", err)
	}
}
