package forkchild

import "testing"

func TestParseMaps(t *testing.T) {
	in := "00400000-005f5000 r-xp 00000000 fe:01 123   /usr/bin/hellod\n" +
		"2bcca7800000-2bcca7c00000 rw-p 00000000 00:00 0 \n" +
		"7ffe87dd3000-7ffe87df4000 rw-p 00000000 00:00 0                          [stack]\n" +
		"7fb58726a000-7fb58726c000 r-xp 00000000 00:00 0  [vdso]\n" +
		"7fb58726c000-7fb58726d000 rw-p 00000000 fe:01 7 /tmp/a file (deleted)\n"
	ms, err := parseMaps([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []mapping{
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
	if ms[0].writable() || !ms[1].writable() || ms[2].special() || !ms[3].special() {
		t.Errorf("want Writable/Special to read perms and path, got %+v", ms)
	}
	for _, bad := range []string{"x", "1-2 rw-p 0 0", "zz-10 rw-p 0 00:00 0", "20-10 rw-p 0 00:00 0", "10-20 rw 0 00:00 0"} {
		if _, err := parseMaps([]byte(bad)); err == nil {
			t.Errorf("want an error for %q, got none", bad)
		}
	}
}

func TestArgStart(t *testing.T) {
	a, err := argStart()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := mappings()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Start <= a && a < m.End {
			if m.Path != "[stack]" {
				t.Errorf("want argv in the main thread's [stack], got %+v", m)
			}
			return
		}
	}
	t.Errorf("want arg_start %#x in a mapping, got %+v", a, ms)
}
