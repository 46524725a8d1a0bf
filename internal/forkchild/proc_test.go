package forkchild

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hellod/hellod/internal/procfs"
	"golang.org/x/sys/unix"
)

// Test helpers over internal/procfs.

// procState is the state letter of /proc/pid/stat (S: sleeping, ...), or 0.
func procState(pid int) byte {
	st, _ := procfs.Stat(pid)
	return st.State
}

// procStatusKB is a size in kB of /proc/PID/status.
func procStatusKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	n, err := procfs.StatusField(pid, field)
	if err != nil {
		t.Fatalf("want /proc/%d/status %s, got %v", pid, field, err)
	}
	return n
}

// liveChildren lists this process's children (zombies included), or "" if
// there are none.
func liveChildren() string {
	pids, err := procfs.Children(os.Getpid())
	if err != nil {
		return err.Error()
	}
	if len(pids) == 0 {
		return ""
	}
	var b strings.Builder
	for i, pid := range pids {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(describeProc(pid))
	}
	return b.String()
}

// emulatorStuck reports whether process pid is a child that qemu-user
// runs and that sleeps in a futex(2) wait (wchan), and describes it. The
// fork child's code makes no futex call (cmd/hellod's
// TestForkChildCallsNothingButSyscalls lists its calls), so such a child
// waits on a lock of the emulator's own: qemu-user forks a multithreaded
// guest like any process, and a lock another emulator thread held at the
// fork is never released in the child. CI saw two arm64 children stuck
// without a response in one run of 2000 under .ci/arm64.sh (and about 40
// local runs none); the native 100k-child runs never had one. A child
// stuck anywhere else still fails the test, and its line says where.
func emulatorStuck(pid int) (string, bool) {
	if emulatorOf(pid) == "" {
		return "", false
	}
	wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
	return describeProc(pid), strings.Contains(string(wchan), "futex")
}

// describeProc says where process pid is: its state letter, the kernel
// function it sleeps in (wchan), the system call it is in (the first
// field of /proc/PID/syscall: the host's number, also under qemu-user) and
// the emulator that runs it, if any. A stuck child's line tells a child
// waiting in its own read(2) from one an emulator holds.
func describeProc(pid int) string {
	wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
	sc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
	call, _, _ := strings.Cut(strings.TrimSpace(string(sc)), " ")
	d := fmt.Sprintf("%d (state %q, wchan %q, syscall %q", pid, procState(pid), wchan, call)
	if emu := emulatorOf(pid); emu != "" {
		d += ", under " + emu
	}
	return d + ")"
}

func formatFDs(m map[int]string) string {
	fds := make([]int, 0, len(m))
	for fd := range m {
		fds = append(fds, fd)
	}
	slices.Sort(fds)
	var b strings.Builder
	for _, fd := range fds {
		fmt.Fprintf(&b, " %d->%s", fd, m[fd])
	}
	return strings.TrimSpace(b.String())
}

func socketLink(t *testing.T, fd int) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("socket:[%d]", st.Ino)
}

func sameFDs(a, b map[int]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// emulatorOf is the qemu-user emulator that runs process pid, or "": the
// target of /proc/PID/exe, which qemu rewrites only for a process itself.
func emulatorOf(pid int) string {
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if strings.HasPrefix(filepath.Base(exe), "qemu-") {
		return exe
	}
	return ""
}

// waitAsleep waits until pid sleeps (in read(2), for a child waiting for
// its request).
func waitAsleep(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); procState(pid) != 'S'; {
		if time.Now().After(deadline) {
			t.Fatalf("child %d: want it asleep in read(2), got state %q", pid, procState(pid))
		}
		time.Sleep(time.Millisecond) // polling /proc, not synchronising
	}
}
