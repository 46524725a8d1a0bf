package linux

import (
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SocketInfo describes a socket file descriptor.
type SocketInfo struct {
	Domain    int  // AF_INET, AF_INET6, AF_UNIX, ...
	Type      int  // SOCK_STREAM, SOCK_DGRAM, ...
	Listening bool // SO_ACCEPTCONN
}

// Socket inspects fd with getsockopt(2). It fails with ENOTSOCK (wrapped)
// when fd is not a socket and EBADF when it is not open.
func Socket(fd int) (SocketInfo, error) {
	var info SocketInfo
	var err error
	if info.Type, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return info, os.NewSyscallError("getsockopt SO_TYPE", err)
	}
	if info.Domain, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil {
		return info, os.NewSyscallError("getsockopt SO_DOMAIN", err)
	}
	acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return info, os.NewSyscallError("getsockopt SO_ACCEPTCONN", err)
	}
	info.Listening = acc != 0
	return info, nil
}

// Accept accepts one connection from the listening socket lfd with
// accept4(2) and returns it with the peer's address (invalid for a unix
// socket peer). The new descriptor is close-on-exec and blocking: a child
// gets it as a plain blocking socket. EINTR is retried; EAGAIN is returned as
// is so a caller driving a non-blocking listener can wait for readiness. It
// allocates nothing.
func Accept(lfd int) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	for {
		l := uint32(unix.SizeofSockaddrAny)
		nfd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(&rsa)),
			uintptr(unsafe.Pointer(&l)), unix.SOCK_CLOEXEC, 0, 0)
		switch errno {
		case 0:
			return int(nfd), peerAddr(&rsa), nil
		case unix.EINTR:
			continue
		}
		return -1, netip.AddrPort{}, os.NewSyscallError("accept4", errno)
	}
}

// peerAddr decodes an IPv4 or IPv6 socket address; IPv4-mapped IPv6
// addresses are unmapped (the IPv4 clients of a dual-stack socket).
func peerAddr(rsa *unix.RawSockaddrAny) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// Close closes fd, ignoring EINTR as close(2) on Linux always releases it.
func Close(fd int) error {
	if err := unix.Close(fd); err != nil && err != unix.EINTR {
		return os.NewSyscallError("close", err)
	}
	return nil
}

// DupCloexec duplicates fd with F_DUPFD_CLOEXEC.
func DupCloexec(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
	}
	return nfd, nil
}

// SetNonblock puts fd in non-blocking mode. The flag belongs to the open
// file description, so it is shared with every duplicate of fd.
func SetNonblock(fd int) error {
	if err := unix.SetNonblock(fd, true); err != nil {
		return os.NewSyscallError("fcntl O_NONBLOCK", err)
	}
	return nil
}

// Sockname returns the address fd is bound to (getsockname(2)).
func Sockname(fd int) (unix.Sockaddr, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, os.NewSyscallError("getsockname", err)
	}
	return sa, nil
}

// AcceptQueue returns how many connections wait in the accept queue of the
// listening socket fd: exact for TCP (tcpi_unacked of a listening socket,
// see tcp(7)), else 1 when poll(2) finds it readable, 0 otherwise.
func AcceptQueue(fd int) int {
	if info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil && info.State == unix.BPF_TCP_LISTEN {
		return int(info.Unacked)
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 0); err == nil && n > 0 && pfd[0].Revents&unix.POLLIN != 0 {
		return 1
	}
	return 0
}
