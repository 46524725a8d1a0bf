package forkchild

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Readers of /proc for the tests.

// fdTable lists /proc/pid/fd: descriptor number to link target.
func fdTable(pid int) (map[int]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := make(map[int]string, len(ents))
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if m[n], err = os.Readlink(filepath.Join(dir, e.Name())); err != nil {
			delete(m, n) // closed meanwhile
		}
	}
	return m, nil
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

// procState is the state letter of /proc/pid/stat (S: sleeping, ...).
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if i := bytes.LastIndexByte(b, ')'); err == nil && i >= 0 && i+2 < len(b) {
		return b[i+2]
	}
	return 0
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

// procStatus is a field of /proc/PID/status, or "?".
func procStatus(pid int, field string) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range bytes.Split(b, []byte{'\n'}) {
		if k, v, ok := bytes.Cut(l, []byte{':'}); ok && string(k) == field {
			return string(bytes.TrimSpace(v))
		}
	}
	return "?"
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

func procStatusKB(t *testing.T, pid int, field string) int {
	t.Helper()
	v := procStatus(pid, field)
	n, err := strconv.Atoi(string(bytes.TrimSuffix([]byte(v), []byte(" kB"))))
	if err != nil {
		t.Fatalf("/proc/%d/status %s: want a size in kB, got %q", pid, field, v)
	}
	return n
}

// liveChildren lists this process's children (zombies included) as the
// kernel's per-thread children files show them, or "" if there are none.
func liveChildren() string {
	var out []string
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, p := range tasks {
		if b, err := os.ReadFile(p); err == nil && len(bytes.TrimSpace(b)) > 0 {
			out = append(out, p+": "+string(bytes.TrimSpace(b)))
		}
	}
	return strings.Join(out, "; ")
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
