package activation

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestFormatSockaddr(t *testing.T) {
	mapped := [16]byte{10: 0xff, 11: 0xff, 12: 127, 15: 1}
	loop6 := [16]byte{15: 1}
	for i, c := range []struct {
		sa   unix.Sockaddr
		want string
	}{
		{&unix.SockaddrInet4{Port: 4711, Addr: [4]byte{10, 0, 0, 5}}, "10.0.0.5:4711"},
		{&unix.SockaddrInet6{Port: 80, Addr: loop6}, "[::1]:80"},
		{&unix.SockaddrInet6{Port: 80, Addr: mapped}, "127.0.0.1:80"},
		{&unix.SockaddrInet6{Port: 80, Addr: [16]byte{0: 0xfe, 1: 0x80, 15: 1}, ZoneId: 2}, "[fe80::1%2]:80"},
		{&unix.SockaddrUnix{}, "unix"},
		{&unix.SockaddrUnix{Name: "/run/h.sock"}, "unix:/run/h.sock"},
		{&unix.SockaddrUnix{Name: "\x00abstract"}, "unix:@abstract"},
		{nil, "unknown"},
	} {
		if got := FormatSockaddr(c.sa); got != c.want {
			t.Errorf("#%d: want %q, got %q", i, c.want, got)
		}
	}
}
