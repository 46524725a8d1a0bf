package sandbox

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const childEnv = "HELLOD_SANDBOX_TEST_CHILD"

// TestMain: with childEnv set, this binary installs the Exec program and
// makes the call childEnv names, for TestInstall.
func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "openat":
		mustInstall()
		f, err := os.Open("/") // openat(2): must kill
		os.Stderr.WriteString("openat was allowed: " + f.Name() + " " + errString(err) + "\n")
		os.Exit(3)
	case "fork":
		mustInstall()
		// clone without CLONE_THREAD (a process): must kill.
		_, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0, 0, 0, 0)
		os.Stderr.WriteString("fork was allowed: " + errString(e) + "\n")
		os.Exit(3)
	case "x32":
		mustInstall()
		// getpid, by the x32 ABI's number (amd64 only): must kill.
		_, _, e := syscall.RawSyscall(x32Bit|syscall.SYS_GETPID, 0, 0, 0)
		os.Stderr.WriteString("an x32 call was allowed: " + errString(e) + "\n")
		os.Exit(3)
	case "serve":
		mustInstall()
		// What an exec child does after: allowed calls only, from every
		// thread (TSYNC), then exit_group with a status.
		done := make(chan int)
		go func() { done <- unix.Getpid() }()
		<-done
		// exit_group itself, as the exec child's responder does: os.Exit
		// would first run the exit hooks of an instrumented build (go test
		// -cover writes its counters to a file: openat, killed).
		syscall.RawSyscall(syscall.SYS_EXIT_GROUP, 7, 0, 0)
	}
	os.Exit(2)
}

func mustInstall() {
	p, err := Build(Exec)
	if err == nil {
		err = Install(p)
	}
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(4)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestInstall runs this binary sandboxed: an allowed life exits with its
// status, openat(2) and a fork are killed by SIGSYS.
func TestInstall(t *testing.T) {
	if err := Supported(); err != nil {
		t.Skipf("no seccomp here: %v", err)
	}
	for _, c := range []struct {
		call string
		sig  syscall.Signal // 0: want exit status 7
	}{{"serve", 0}, {"openat", syscall.SIGSYS}, {"fork", syscall.SIGSYS}, {"x32", syscall.SIGSYS}} {
		if c.call == "x32" && x32Bit == 0 {
			continue // no x32 ABI here
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+c.call)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("%s: want an exit, got %v (%q)", c.call, err, out)
			continue
		}
		ws := ee.Sys().(syscall.WaitStatus)
		switch {
		case c.sig != 0 && (!ws.Signaled() || ws.Signal() != c.sig):
			t.Errorf("%s: want killed by %v, got %v (%q)", c.call, c.sig, ws, out)
		case c.sig == 0 && (ws.Signaled() || ws.ExitStatus() != 7):
			t.Errorf("%s: want exit status 7, got %v (%q)", c.call, ws, out)
		}
	}
}

// TestBuild checks the programs' shape: the architecture check first,
// every jump inside the program, the two returns last, and the fork
// child's program a strict subset of the exec child's.
func TestBuild(t *testing.T) {
	if auditArch == 0 {
		if _, err := Build(Fork); err == nil {
			t.Fatal("want an error on an architecture without an allowlist, got none")
		}
		t.Skip("no allowlist for this architecture")
	}
	seen := map[int]bool{}
	for _, c := range allowed {
		if seen[c.nr] {
			t.Errorf("system call %d listed twice", c.nr)
		}
		seen[c.nr] = true
	}
	progs := map[Kind]Program{}
	for _, k := range []Kind{Fork, Exec} {
		p, err := Build(k)
		if err != nil {
			t.Fatal(err)
		}
		progs[k] = p
		n := len(p)
		if p[0].K != offArch || p[1].K != auditArch {
			t.Errorf("kind %d: want the architecture check first, got %+v", k, p[:2])
		}
		ret := func(k uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: k} }
		tail := []unix.SockFilter{ret(unix.SECCOMP_RET_KILL_PROCESS), ret(unix.SECCOMP_RET_ALLOW)}
		if k == Exec {
			tail = append(tail, ret(unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)))
		}
		if got := p[n-len(tail):]; !slices.Equal(got, tail) {
			t.Errorf("kind %d: want the returns %+v last, got %+v", k, tail, got)
		}
		for _, in := range p[3:] { // after the architecture check, the numbers
			if in.Code == unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K && x32Bit != 0 && in.K&x32Bit != 0 {
				t.Errorf("kind %d: allows x32 call %#x", k, in.K)
			}
		}
		for i, in := range p {
			if in.Code&0x07 == unix.BPF_JMP && (i+1+int(in.Jt) >= n || i+1+int(in.Jf) >= n) {
				t.Errorf("kind %d: instruction %d jumps out of the program: %+v", k, i, in)
			}
		}
	}
	if len(progs[Fork]) >= len(progs[Exec]) {
		t.Errorf("want the fork child's program shorter than the exec child's, got %d and %d", len(progs[Fork]), len(progs[Exec]))
	}
}

// run interprets p, the subset of classic BPF Build emits, on a system
// call nr of architecture arch with arguments args.
func run(t *testing.T, p Program, nr int, arch uint32, args [6]uint64) uint32 {
	t.Helper()
	var a uint32
	for pc := 0; pc < len(p); pc++ {
		in := p[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			switch k := int(in.K); {
			case k == offNr:
				a = uint32(nr)
			case k == offArch:
				a = arch
			case k >= offArg0 && (k-offArg0)%8 == 0:
				a = uint32(args[(k-offArg0)/8])
			default:
				t.Fatalf("instruction %d loads offset %d", pc, k)
			}
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var ok bool
			switch in.Code & 0xf0 {
			case unix.BPF_JEQ:
				ok = a == in.K
			case unix.BPF_JGE:
				ok = a >= in.K
			default:
				ok = a&in.K != 0
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: unexpected code %#x", pc, in.Code)
		}
	}
	t.Fatal("ran off the end of the program")
	return 0
}

// TestVerdicts runs each program on every system call number (and its x32
// twin, and another architecture): allowed exactly what the allowlist
// says, with its argument tests, and killed otherwise.
func TestVerdicts(t *testing.T) {
	if auditArch == 0 {
		t.Skip("no allowlist for this architecture")
	}
	const kill, allow, enosys = unix.SECCOMP_RET_KILL_PROCESS, unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	for _, k := range []Kind{Fork, Exec} {
		p, err := Build(k)
		if err != nil {
			t.Fatal(err)
		}
		want := map[int]call{}
		for _, c := range allowed {
			if !c.exec || k == Exec {
				want[c.nr] = c
			}
		}
		for nr := 0; nr < 1024; nr++ {
			c, listed := want[nr]
			var none, all [6]uint64
			for i := range all {
				all[i] = ^uint64(0)
			}
			wantNone, wantAll := uint32(kill), uint32(kill)
			switch {
			case !listed:
			case c.enosys:
				wantNone, wantAll = enosys, enosys
			case c.set != 0:
				wantAll = allow
			case c.clear != 0:
				wantNone = allow
			default:
				wantNone, wantAll = allow, allow
			}
			if got := run(t, p, nr, auditArch, none); got != wantNone {
				t.Errorf("kind %d, call %d, arguments 0: want %#x, got %#x", k, nr, wantNone, got)
			}
			if got := run(t, p, nr, auditArch, all); got != wantAll {
				t.Errorf("kind %d, call %d, arguments ~0: want %#x, got %#x", k, nr, wantAll, got)
			}
			if got := run(t, p, nr, auditArch^1, none); got != kill {
				t.Errorf("kind %d, call %d of another architecture: want kill, got %#x", k, nr, got)
			}
			if x32Bit != 0 {
				if got := run(t, p, nr|x32Bit, auditArch, none); got != kill {
					t.Errorf("kind %d, x32 call %d: want kill, got %#x", k, nr, got)
				}
			}
		}
	}
}
