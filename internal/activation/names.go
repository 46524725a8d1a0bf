package activation

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/hellod/hellod/internal/linux"
	"golang.org/x/sys/unix"
)

// domainName returns a readable name for the socket's address family.
func domainName(s linux.SocketInfo) string {
	switch s.Domain {
	case unix.AF_INET:
		return "AF_INET"
	case unix.AF_INET6:
		return "AF_INET6"
	case unix.AF_UNIX:
		return "AF_UNIX"
	}
	return fmt.Sprintf("address family %d", s.Domain)
}

// typeName returns a readable name for the socket type.
func typeName(s linux.SocketInfo) string {
	switch s.Type {
	case unix.SOCK_STREAM:
		return "SOCK_STREAM"
	case unix.SOCK_DGRAM:
		return "SOCK_DGRAM"
	case unix.SOCK_SEQPACKET:
		return "SOCK_SEQPACKET"
	case unix.SOCK_RAW:
		return "SOCK_RAW"
	}
	return fmt.Sprintf("socket type %d", s.Type)
}

// FormatSockaddr formats a socket address for logs: IP:PORT ([IPv6]:PORT),
// unix:PATH, or "unix" for an unnamed unix socket.
func FormatSockaddr(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr).Unmap() // IPv4 clients of a dual-stack socket
		if a.ZoneId != 0 && ip.Is6() {
			ip = ip.WithZone(strconv.FormatUint(uint64(a.ZoneId), 10))
		}
		return netip.AddrPortFrom(ip, uint16(a.Port)).String()
	case *unix.SockaddrUnix:
		if a.Name == "" {
			return "unix"
		}
		if a.Name[0] == 0 {
			return "unix:@" + a.Name[1:]
		}
		return "unix:" + a.Name
	case nil:
		return "unknown"
	}
	return fmt.Sprintf("%T", sa)
}
