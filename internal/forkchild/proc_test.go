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
	return fmt.Sprint(pids)
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
