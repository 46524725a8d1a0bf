package forkchild

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"unsafe"

	"github.com/hellod/hellod/internal/response"
)

// TestChildName: ps and systemctl status tell a fork child from a kernel
// thread: it is named hellod-child (/proc/PID/comm) and shows the
// parent's command line (/proc/PID/cmdline, empty unless the mapping
// holding argv stays in the child).
func TestChildName(t *testing.T) {
	requireFork(t)
	h := newHarness(t)
	st := newStrategy(t, "fork", testSettings)
	client, fd := dialAccept(t, h.lfd, h.addr, nil)
	defer client.Close()
	pid, code := h.start(st, fd)
	waitAsleep(t, pid)
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || string(comm) != childName+"\n" {
		t.Errorf("child %d: want comm %q, got %q, %v", pid, childName+"\n", comm, err)
	}
	want, err := os.ReadFile("/proc/self/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if emu := emulatorOf(pid); emu != "" && err == nil && bytes.HasSuffix(got, want) {
		// qemu-user shows a process its own cmdline without the emulator's
		// name; the child's, read from outside, starts with it.
		got = got[len(got)-len(want):]
	}
	if err != nil || len(want) == 0 || !bytes.Equal(got, want) {
		t.Errorf("child %d: want the parent's cmdline %q, got %q, %v", pid, want, got, err)
	}
	wantServedGET(t, client, code)
}

// overflow recurses until the stack runs out, as a child with a runaway
// recursion or frames too large for its stack would.
//
//go:norace
//go:nocheckptr
func overflow(a *call) {
	var pad [256]byte
	pad[a.conn&255] = 1
	overflow(a)
	exit(response.Outcome(pad[0]))
}

// TestChildStackOverflowFaults: a fork child that outgrows its stack hits
// the stand-in g's stackguard0, and morestack faults on the stand-in's nil
// m: the child dies of SIGSEGV (exit code 128+11 as the reaper reports
// it) rather than running off its stack or into the runtime.
func TestChildStackOverflowFaults(t *testing.T) {
	requireFork(t)
	h := newHarness(t)
	st := newStrategy(t, "fork", testSettings)
	f := overflow
	pc := childPC
	childPC = **(**uintptr)(unsafe.Pointer(&f))
	defer func() { childPC = pc }()
	client, fd := dialAccept(t, h.lfd, h.addr, nil)
	defer client.Close()
	_, code := h.start(st, fd)
	if c := waitCode(t, code); c != 128+11 {
		t.Errorf("want exit code %d (SIGSEGV), got %d", 128+11, c)
	}
}
