package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// AddrForms lists the forms --listen takes, for the help text and errors.
const AddrForms = "HOST:PORT (HOST an IPv4 address or a host name), [IPV6]:PORT, :PORT (every address), unix:/PATH or unix:@NAME (abstract)"

// maxUnixPath is the longest unix socket path or abstract name the kernel
// takes (sun_path is 108 bytes; Go keeps one for the terminating NUL).
const maxUnixPath = 107

// checkAddr validates a --listen address by its syntax alone: nothing is
// looked up. A host of digits and dots must be an IPv4 address (it is
// never a name to ask DNS for), a bracketed one an IPv6 address, any other
// a host name by RFC 1123's syntax (looked up when bound); the port is a
// number.
func checkAddr(a string) error {
	if path, ok := strings.CutPrefix(a, "unix:"); ok {
		return checkUnix(path)
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("want %s", AddrForms)
	}
	if !allDigits(port) || len(port) > 5 || atoi(port) > 65535 {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	switch {
	case host == "":
		return nil
	case strings.HasPrefix(a, "["):
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return fmt.Errorf("host %q: want an IPv6 address between the brackets", host)
		}
	case strings.Trim(host, "0123456789.") == "":
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is4() {
			return fmt.Errorf("host %q: not an IPv4 address (four numbers from 0 to 255, no leading zeros)", host)
		}
	default:
		return checkHostName(host)
	}
	return nil
}

func checkUnix(path string) error {
	switch {
	case strings.HasPrefix(path, "@"):
		if len(path) == 1 {
			return errors.New("want unix:@NAME, a name after the @")
		}
	case !strings.HasPrefix(path, "/"):
		return errors.New("want unix:/absolute/path or unix:@abstract")
	}
	if strings.ContainsRune(path, 0) {
		return errors.New("a unix socket path cannot hold a NUL byte")
	}
	if len(path) > maxUnixPath {
		return fmt.Errorf("want a unix socket path of at most %d bytes, got %d", maxUnixPath, len(path))
	}
	return nil
}

// checkHostName checks a host name's syntax: dot-separated labels of
// letters, digits and hyphens, 1 to 63 bytes, no hyphen first or last, 253
// bytes at most, and a last label that is not numeric (such a name reads as
// an address to some resolvers: 0x7f.1, 1.2.3.4.5).
func checkHostName(h string) error {
	bad := func(why string) error { return fmt.Errorf("host %q: want an IP address or a host name (%s)", h, why) }
	name := strings.TrimSuffix(h, ".")
	if len(name) > 253 {
		return bad("at most 253 bytes")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return bad("each dot-separated label 1 to 63 bytes")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return bad("no label starting or ending with a hyphen")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return bad(fmt.Sprintf("letters, digits, hyphens and dots only, got %q", c))
			}
		}
	}
	last := strings.ToLower(labels[len(labels)-1])
	if allDigits(last) || strings.HasPrefix(last, "0x") && strings.Trim(last[2:], "0123456789abcdef") == "" {
		return bad("its last label is a number, as in an address")
	}
	return nil
}

func allDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// atoi converts at most 5 digits, checked by allDigits.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
