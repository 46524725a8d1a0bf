package linux

import (
	"errors"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestParseMaps(t *testing.T) {
	in := "00400000-005f5000 r-xp 00000000 fe:01 123   /usr/bin/hellod\n" +
		"2bcca7800000-2bcca7c00000 rw-p 00000000 00:00 0 \n" +
		"7ffe87dd3000-7ffe87df4000 rw-p 00000000 00:00 0                          [stack]\n" +
		"7fb58726a000-7fb58726c000 r-xp 00000000 00:00 0  [vdso]\n" +
		"7fb58726c000-7fb58726d000 rw-p 00000000 fe:01 7 /tmp/a file (deleted)\n"
	ms, err := ParseMaps([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mapping{
		{0x400000, 0x5f5000, "r-xp", "/usr/bin/hellod"},
		{0x2bcca7800000, 0x2bcca7c00000, "rw-p", ""},
		{0x7ffe87dd3000, 0x7ffe87df4000, "rw-p", "[stack]"},
		{0x7fb58726a000, 0x7fb58726c000, "r-xp", "[vdso]"},
		{0x7fb58726c000, 0x7fb58726d000, "rw-p", "/tmp/a file (deleted)"},
	}
	if len(ms) != len(want) {
		t.Fatalf("want %d mappings, got %d: %+v", len(want), len(ms), ms)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("line %d: want %+v, got %+v", i+1, want[i], ms[i])
		}
	}
	if ms[0].Writable() || !ms[1].Writable() || ms[2].Special() || !ms[3].Special() {
		t.Errorf("want Writable/Special to read perms and path, got %+v", ms)
	}
	for _, bad := range []string{"x", "1-2 rw-p 0 0", "zz-10 rw-p 0 00:00 0", "20-10 rw-p 0 00:00 0", "10-20 rw 0 00:00 0"} {
		if _, err := ParseMaps([]byte(bad)); err == nil {
			t.Errorf("want an error for %q, got none", bad)
		}
	}
}

func TestMappingsAndDontFork(t *testing.T) {
	ms, err := Mappings()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 3 {
		t.Fatalf("want this process's mappings, got %+v", ms)
	}
	b, err := unix.Mmap(-1, 0, 2*unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	start := uintptr(0)
	ms, _ = Mappings()
	for _, m := range ms {
		if m.Start <= addrOf(b) && addrOf(b) < m.End {
			start = m.Start
		}
	}
	if start == 0 {
		t.Fatalf("want the new mapping at %#x in /proc/self/maps, got %+v", addrOf(b), ms)
	}
	end := addrOf(b) + uintptr(len(b))
	if err := SetDontFork(addrOf(b), end, true); err != nil {
		t.Fatalf("want MADV_DONTFORK to apply, got %v", err)
	}
	if err := SetDontFork(addrOf(b), end, false); err != nil {
		t.Fatalf("want MADV_DOFORK to apply, got %v", err)
	}
	if err := SetDontFork(addrOf(b)+1, end, true); !errors.Is(err, unix.EINVAL) {
		t.Errorf("want EINVAL for an unaligned start, got %v", err)
	}
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
