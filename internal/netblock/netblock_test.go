package netblock

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseMask(t *testing.T) {
	for i, c := range []struct {
		in   string
		want Mask
		err  string
	}{
		{"32:64", Mask{32, 64}, ""},
		{"24", Mask{24, 64}, ""},
		{"0:0", Mask{0, 0}, ""},
		{"32:128", Mask{32, 128}, ""},
		{"33", Mask{}, `IPv4 prefix "33": want an integer from 0 to 32`},
		{"-1:64", Mask{}, `IPv4 prefix "-1"`},
		{"24:129", Mask{}, `IPv6 prefix "129": want an integer from 0 to 128`},
		{"24:", Mask{}, `IPv6 prefix ""`},
		{"", Mask{}, `IPv4 prefix ""`},
		{"x:64", Mask{}, `IPv4 prefix "x"`},
		{"24:56:1", Mask{}, `IPv6 prefix "56:1"`},
	} {
		got, err := ParseMask(c.in)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("#%d %q: want %v, got error %v", i, c.in, c.want, err)
		case c.err == "" && got != c.want:
			t.Errorf("#%d %q: want %v, got %v", i, c.in, c.want, got)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("#%d %q: want an error containing %q, got %v", i, c.in, c.err, err)
		}
	}
	if s := (Mask{24, 56}).String(); s != "24:56" {
		t.Errorf("want 24:56, got %s", s)
	}
}

func TestMaskKeyAndPrefix(t *testing.T) {
	a := netip.MustParseAddr
	for i, c := range []struct {
		m         Mask
		x, y      string
		same      bool
		prefixOfX string
	}{
		{DefaultMask, "127.0.0.1", "127.0.0.2", false, "127.0.0.1/32"},
		{DefaultMask, "127.0.0.2", "::ffff:127.0.0.2", true, "127.0.0.2/32"},
		{Mask{24, 64}, "192.0.2.1", "192.0.2.254", true, "192.0.2.0/24"},
		{Mask{24, 64}, "192.0.2.1", "192.0.3.1", false, "192.0.2.0/24"},
		{Mask{0, 64}, "10.1.2.3", "192.0.2.1", true, "0.0.0.0/0"},
		{DefaultMask, "2001:db8::1", "2001:db8::ffff:1", true, "2001:db8::/64"},
		{DefaultMask, "2001:db8::1", "2001:db8:0:1::1", false, "2001:db8::/64"},
		{Mask{32, 56}, "2001:db8:0:ff::1", "2001:db8:0:1::1", true, "2001:db8::/56"},
		{Mask{32, 128}, "2001:db8::1", "2001:db8::2", false, "2001:db8::1/128"},
		{Mask{32, 72}, "2001:db8::ff:1", "2001:db8::1", true, "2001:db8::/72"},
		{Mask{32, 72}, "2001:db8::100:0:0:1", "2001:db8::1", false, "2001:db8:0:0:100::/72"},
		{Mask{32, 0}, "2001:db8::1", "fe80::1", true, "::/0"},
		// An IPv4 source never shares a block with an IPv6 one.
		{Mask{0, 0}, "0.0.0.0", "::", false, "0.0.0.0/0"},
	} {
		kx, ky := c.m.Key(a(c.x)), c.m.Key(a(c.y))
		if (kx == ky) != c.same {
			t.Errorf("#%d %v: %s and %s: want same block %v, got %v (%+v, %+v)", i, c.m, c.x, c.y, c.same, kx == ky, kx, ky)
		}
		if p := c.m.Prefix(a(c.x)).String(); p != c.prefixOfX {
			t.Errorf("#%d %v: want prefix %s of %s, got %s", i, c.m, c.prefixOfX, c.x, p)
		}
	}
}

func TestTableCountsAndRemoves(t *testing.T) {
	tb, err := New(3)
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := DefaultMask.Key(netip.MustParseAddr("127.0.0.1")), DefaultMask.Key(netip.MustParseAddr("127.0.0.2"))
	for i := 1; i <= 2; i++ {
		if r, e := tb.Acquire(k1, 2); r != Admitted || e.Count != i {
			t.Fatalf("acquire %d: want Admitted with count %d, got %v %+v", i, i, r, e)
		}
	}
	r, e := tb.Acquire(k1, 2)
	if r != AtLimit || e == nil || e.Count != 2 {
		t.Fatalf("want AtLimit with count 2, got %v %+v", r, e)
	}
	e.Refused, e.Since = 5, 42 // the caller's state lives in the entry
	if r, _ := tb.Acquire(k2, 2); r != Admitted || tb.Len() != 2 {
		t.Fatalf("another source: want Admitted and 2 sources, got %v, %d", r, tb.Len())
	}
	if e := tb.Release(k1); e == nil || e.Count != 1 || e.Refused != 5 || e.Since != 42 {
		t.Fatalf("release: want count 1 with the caller's state kept, got %+v", e)
	}
	if e := tb.Release(k1); e == nil || e.Count != 0 || e.Refused != 5 {
		t.Fatalf("last release: want count 0 and the entry's state, got %+v", e)
	}
	if tb.Get(k1) != nil || tb.Len() != 1 {
		t.Fatalf("want the source removed at 0, got %+v, %d sources", tb.Get(k1), tb.Len())
	}
	if e := tb.Release(k1); e != nil {
		t.Fatalf("release of a source not held: want nil, got %+v", e)
	}
	if r, e := tb.Acquire(k1, 2); r != Admitted || e.Count != 1 || e.Refused != 0 || e.Since != 0 {
		t.Fatalf("back again: want a fresh entry, got %v %+v", r, e)
	}
}

func TestTableFull(t *testing.T) {
	tb, _ := New(2)
	key := func(i int) Key { return DefaultMask.Key(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})) }
	tb.Acquire(key(1), 9)
	tb.Acquire(key(2), 9)
	if r, e := tb.Acquire(key(3), 9); r != Full || e != nil {
		t.Fatalf("third source in a table of 2: want Full, got %v %+v", r, e)
	}
	if r, _ := tb.Acquire(key(1), 9); r != Admitted {
		t.Fatalf("a source held in a full table: want Admitted, got %v", r)
	}
	tb.Release(key(2))
	if r, _ := tb.Acquire(key(3), 9); r != Admitted {
		t.Fatalf("after a source left: want Admitted, got %v", r)
	}
	if _, err := New(0); err != ErrSize {
		t.Errorf("New(0): want ErrSize, got %v", err)
	}
}

// TestTableChurn checks the table against a map through many sources
// coming and going (backward-shift deletion moves entries around).
func TestTableChurn(t *testing.T) {
	const max = 64
	tb, _ := New(max)
	want := map[Key]int{}
	x := uint32(1)
	for step := 0; step < 200000; step++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		k := DefaultMask.Key(netip.AddrFrom4([4]byte{10, 0, byte(x >> 8 % 2), byte(x % 100)}))
		if x&(1<<20) != 0 {
			r, _ := tb.Acquire(k, 3)
			switch {
			case want[k] >= 3 && r != AtLimit, want[k] == 0 && len(want) >= max && r != Full:
				t.Fatalf("step %d: want AtLimit/Full, got %v (count %d, %d sources)", step, r, want[k], len(want))
			case r == Admitted:
				want[k]++
			}
		} else if e := tb.Release(k); (e == nil) != (want[k] == 0) {
			t.Fatalf("step %d: release of a source held %d times: got %+v", step, want[k], e)
		} else if e != nil {
			if want[k]--; want[k] == 0 {
				delete(want, k)
			}
		}
		if tb.Len() != len(want) {
			t.Fatalf("step %d: want %d sources, got %d", step, len(want), tb.Len())
		}
	}
	for k, n := range want {
		if e := tb.Get(k); e == nil || e.Count != n {
			t.Errorf("want count %d, got %+v", n, e)
		}
	}
}

func TestTableAllocatesNothing(t *testing.T) {
	tb, _ := New(512)
	a := netip.MustParseAddr("2001:db8::1")
	allocs := testing.AllocsPerRun(1000, func() {
		k := DefaultMask.Key(a)
		tb.Acquire(k, 1)
		tb.Acquire(k, 1)
		tb.Release(k)
	})
	if allocs != 0 {
		t.Errorf("want no allocation per acquire and release, got %.1f", allocs)
	}
}
