// Package sandbox builds the seccomp-BPF filter every hellod child
// installs before it reads a byte of its connection: an allowlist of the
// system calls serving needs, anything else (or another architecture's
// calling convention) killing the process, see
// https://man7.org/linux/man-pages/man2/seccomp.2.html.
package sandbox

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kind says which child a program is for.
type Kind int

const (
	// Fork is the fork child: raw system calls only, one thread.
	Fork Kind = iota
	// Exec is the exec child: the fork child's calls plus what its Go
	// runtime needs while it waits for the responder thread and exits.
	Exec
)

// Program is a seccomp-BPF program.
type Program []unix.SockFilter

// seccomp_data offsets (linux/seccomp.h): nr, arch, instruction pointer,
// args[6]; an argument's low 32 bits come first (little-endian).
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16
)

// Build returns the program for kind on this architecture, or an error
// where hellod has no allowlist (see Supported).
func Build(kind Kind) (Program, error) {
	if auditArch == 0 {
		return nil, errUnsupportedArch
	}
	const (
		ld   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
	)
	// Jumps to allow and kill are resolved at the end, where those two
	// returns are: -1 and -2 mark them until then.
	const toAllow, toKill, toENOSYS = -1, -2, -3
	type insn struct {
		code   uint16
		jt, jf int
		k      uint32
	}
	p := []insn{
		{ld, 0, 0, offArch},
		{jeq, 0, 0, auditArch}, // jf patched below: kill
		{ld, 0, 0, offNr},
	}
	p[1].jf = toKill
	// amd64's x32 calls have the same architecture value and their
	// numbers x32Bit (__X32_SYSCALL_BIT) set: no entry below matches one
	// (each compares all 32 bits), so they are killed without a test of
	// their own, which would cost every child an instruction to compile.
	for _, c := range allowed {
		if c.exec && kind != Exec {
			continue
		}
		switch {
		case c.enosys:
			p = append(p, insn{jeq, toENOSYS, 0, uint32(c.nr)})
		case c.set != 0 || c.clear != 0:
			// jeq nr, else skip the argument test; load the argument's
			// low word; allow only with its bits set / clear.
			p = append(p, insn{jeq, 0, 2, uint32(c.nr)}, insn{ld, 0, 0, uint32(offArg0 + 8*c.arg)})
			if c.set != 0 {
				p = append(p, insn{jset, toAllow, toKill, c.set})
			} else {
				p = append(p, insn{jset, toKill, toAllow, c.clear})
			}
		default:
			p = append(p, insn{jeq, toAllow, 0, uint32(c.nr)})
		}
	}
	kill := len(p)
	p = append(p, insn{ret, 0, 0, unix.SECCOMP_RET_KILL_PROCESS}, insn{ret, 0, 0, unix.SECCOMP_RET_ALLOW})
	allow, enosys := kill+1, kill+2
	if kind == Exec { // the only kind with an enosys entry
		p = append(p, insn{ret, 0, 0, unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)})
	}
	if len(p) > 256 { // a jump's offset is one byte
		return nil, fmt.Errorf("seccomp program: want at most 256 instructions, got %d", len(p))
	}
	prog := make(Program, len(p))
	for i, in := range p {
		jt, jf := in.jt, in.jf
		for _, j := range []*int{&jt, &jf} {
			switch *j {
			case toAllow:
				*j = allow - i - 1
			case toKill:
				*j = kill - i - 1
			case toENOSYS:
				*j = enosys - i - 1
			}
		}
		prog[i] = unix.SockFilter{Code: in.code, Jt: uint8(jt), Jf: uint8(jf), K: in.k}
	}
	return prog, nil
}

var errUnsupportedArch = errors.New("hellod has no system call allowlist for this architecture")

// Supported reports whether this kernel can sandbox a child here: an
// architecture with an allowlist, and seccomp(2) with
// SECCOMP_RET_KILL_PROCESS (Linux 4.14). qemu-user, for one, has no
// seccomp for its guest (ENOSYS).
func Supported() error {
	if auditArch == 0 {
		return errUnsupportedArch
	}
	action := uint32(unix.SECCOMP_RET_KILL_PROCESS)
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action))); e != 0 {
		return fmt.Errorf("seccomp(SECCOMP_GET_ACTION_AVAIL, SECCOMP_RET_KILL_PROCESS): %w", e)
	}
	return nil
}

// Install sets no_new_privs and installs p on every thread of the calling
// process (SECCOMP_FILTER_FLAG_TSYNC): how an exec child, a Go process,
// sandboxes itself. A fork child does the same with raw calls on its one
// thread (internal/forkchild).
func Install(p Program) error {
	if len(p) == 0 {
		return errors.New("seccomp: empty program")
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("sandbox: %w", os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", err))
	}
	fp := unix.SockFprog{Len: uint16(len(p)), Filter: &p[0]}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fp)))
	switch {
	case e != 0:
		return fmt.Errorf("sandbox: %w", os.NewSyscallError("seccomp(SECCOMP_SET_MODE_FILTER)", e))
	case r != 0:
		return fmt.Errorf("sandbox: seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): thread %d could not be synchronised", r)
	}
	return nil
}
