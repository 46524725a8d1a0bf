// Package activation gives hellod its listening sockets: the ones systemd
// passes by socket activation (sd_listen_fds(3),
// https://www.freedesktop.org/software/systemd/man/sd_listen_fds.html), or
// ones it binds itself when started by hand.
package activation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/hellod/hellod/internal/linux"
	"golang.org/x/sys/unix"
)

// Listener is one listening stream socket, held as a non-blocking,
// close-on-exec *os.File registered with the runtime's poller: the accept
// loop calls accept4(2) on its descriptor through File.SyscallConn and stops
// a pending accept with File.SetReadDeadline. (A net.Listener's RawConn
// refuses Read, so it cannot drive a raw accept.)
type Listener struct {
	// Name is the socket's name: LISTEN_FDNAMES's entry (FileDescriptorName=
	// in the .socket unit) when passed, else its address.
	Name string
	// Addr is the local address it listens on.
	Addr string
	File *os.File
	// path is the file of a unix socket Bind made (nothing for a passed
	// socket or an abstract one), ino its inode: Close removes it.
	path string
	ino  uint64
}

// Close closes the listener's descriptor. A passed socket stays open in
// systemd, which keeps queuing connections for the next start. The file of
// a unix socket Bind made is removed, unless it is no longer the one bound
// (replaced meanwhile by someone else's).
func (l Listener) Close() error {
	err := l.File.Close()
	if l.path != "" {
		var st unix.Stat_t
		if unix.Lstat(l.path, &st) == nil && st.Ino == l.ino && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			if rerr := os.Remove(l.path); rerr != nil && err == nil {
				err = fmt.Errorf("remove the socket file: %w", rerr)
			}
		}
	}
	return err
}

// ErrNotActivated means no sockets were passed: bind them yourself.
var ErrNotActivated = errors.New("not socket-activated (LISTEN_FDS is not set)")

// FromSystemd returns the listening sockets systemd passed. It clears
// LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES so that no child inherits them.
// It fails with ErrNotActivated when LISTEN_FDS is unset, and with a precise
// error when the variables are malformed, meant for another process, or
// name a descriptor that is not a listening stream socket.
func FromSystemd() ([]Listener, error) {
	fdsVar, ok := os.LookupEnv("LISTEN_FDS")
	if !ok {
		clearEnv()
		return nil, ErrNotActivated
	}
	pidVar := os.Getenv("LISTEN_PID")
	if err := checkEnv(pidVar, fdsVar, os.Getpid()); err != nil {
		clearEnv()
		return nil, err
	}
	files := activation.Files(true) // the only call: it clears LISTEN_*
	if len(files) == 0 {
		return nil, fmt.Errorf("LISTEN_FDS=%s: go-systemd found no descriptors", fdsVar)
	}
	var ls []Listener
	var errs []error
	for i, f := range files {
		l, err := fromFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("passed fd %d (%s): %w", 3+i, f.Name(), err))
			continue
		}
		ls = append(ls, l)
	}
	if err := errors.Join(errs...); err != nil {
		for _, l := range ls {
			l.Close()
		}
		return nil, err
	}
	return ls, nil
}

func clearEnv() {
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
}

// checkEnv validates LISTEN_PID and LISTEN_FDS before go-systemd reads
// them, as it silently ignores what it does not like.
func checkEnv(pidVar, fdsVar string, self int) error {
	n, err := strconv.Atoi(fdsVar)
	if err != nil || n < 1 {
		return fmt.Errorf("LISTEN_FDS=%q: want a positive number of passed descriptors", fdsVar)
	}
	if n > 1024 {
		return fmt.Errorf("LISTEN_FDS=%d: too many descriptors (at most 1024)", n)
	}
	pid, err := strconv.Atoi(pidVar)
	if err != nil {
		return fmt.Errorf("LISTEN_PID=%q: want the PID the sockets were passed to (LISTEN_FDS=%s is set)", pidVar, fdsVar)
	}
	if pid != self {
		return fmt.Errorf("LISTEN_PID=%d is not this process (%d): the sockets were passed to another process", pid, self)
	}
	return nil
}

// fromFile turns a passed descriptor into a Listener after checking it is
// a listening stream socket. It closes f.
func fromFile(f *os.File) (Listener, error) {
	defer f.Close()
	info, err := linux.Socket(int(f.Fd()))
	if err != nil {
		if errors.Is(err, syscall.ENOTSOCK) {
			return Listener{}, errors.New("not a socket; hellod needs a listening stream socket (ListenStream=)")
		}
		return Listener{}, err
	}
	switch {
	case info.Type != syscall.SOCK_STREAM:
		return Listener{}, fmt.Errorf("not a stream socket (%s %s); hellod needs ListenStream=", domainName(info), typeName(info))
	case !info.Listening:
		return Listener{}, fmt.Errorf("%s stream socket is not listening (Accept=yes is not supported; use Accept=no)", domainName(info))
	}
	return pollable(int(f.Fd()), f.Name())
}

// pollable duplicates fd into a non-blocking, close-on-exec *os.File that
// the runtime's poller watches.
func pollable(fd int, name string) (Listener, error) {
	nfd, err := linux.DupCloexec(fd)
	if err != nil {
		return Listener{}, err
	}
	if err := linux.SetNonblock(nfd); err != nil {
		linux.Close(nfd)
		return Listener{}, err
	}
	sa, err := linux.Sockname(nfd)
	if err != nil {
		linux.Close(nfd)
		return Listener{}, err
	}
	addr := FormatSockaddr(sa)
	if name == "" {
		name = addr
	}
	return Listener{Name: name, Addr: addr, File: os.NewFile(uintptr(nfd), name)}, nil
}

// Bind listens on each address: HOST:PORT for TCP, unix:/PATH or
// unix:@NAME for a unix socket. On error, what was bound is closed.
func Bind(ctx context.Context, addrs []string) ([]Listener, error) {
	var lc net.ListenConfig
	var ls []Listener
	fail := func(err error) ([]Listener, error) {
		for _, l := range ls {
			l.Close()
		}
		return nil, err
	}
	for _, a := range addrs {
		network, addr := "tcp", a
		path := ""
		if p, ok := strings.CutPrefix(a, "unix:"); ok {
			network, addr = "unix", p
			if !strings.HasPrefix(p, "@") {
				path = p
				if err := removeStale(ctx, p); err != nil {
					return fail(fmt.Errorf("listen on %s: %w", a, err))
				}
			}
		}
		nl, err := lc.Listen(ctx, network, addr)
		if err != nil {
			return fail(fmt.Errorf("listen on %s: %w", a, err))
		}
		if ul, ok := nl.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false) // our duplicate lives on; Close removes the file
		}
		l, err := listenerOf(nl)
		nl.Close()
		if err == nil && path != "" {
			var st unix.Stat_t
			if err = unix.Lstat(path, &st); err == nil {
				l.path, l.ino = path, st.Ino
			}
		}
		if err != nil {
			if l.File != nil {
				l.File.Close()
			}
			if path != "" {
				os.Remove(path) // ours: bound above
			}
			return fail(fmt.Errorf("listen on %s: %w", a, err))
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// listenerOf takes a duplicate of nl's descriptor into a Listener.
func listenerOf(nl net.Listener) (Listener, error) {
	sc, ok := nl.(syscall.Conn)
	if !ok {
		return Listener{}, fmt.Errorf("%T has no descriptor", nl)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return Listener{}, err
	}
	var l Listener
	var lerr error
	if err := rc.Control(func(fd uintptr) { l, lerr = pollable(int(fd), "") }); err != nil {
		return Listener{}, err
	}
	return l, lerr
}
