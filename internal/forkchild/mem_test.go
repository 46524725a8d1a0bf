package forkchild

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/hellod/hellod/internal/response"
)

// TestForkChildMemory looks at the memory of a fork child waiting for its
// request. A fork copies only what a child needs (its mem, the mapping
// holding argv and, in a cgo build, the one holding the forking thread's
// thread pointer): the child has no copy of the Go heap, of the goroutine
// stacks or of the package variables. (Mappings the runtime makes between
// two isolate calls are copied until the next one, so the test checks
// known addresses rather than every mapping.)
func TestForkChildMemory(t *testing.T) {
	requireFork(t)
	h := newHarness(t)
	board := testBoard(t, 1)
	f, err := NewFork(testSettings, board)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st := withBoard(f, board)
	heapObject := new([4096]byte)
	heapObject[0] = 1
	var onStack int
	client, fd := dialAccept(t, h.lfd, h.addr, nil)
	defer client.Close()
	if err := isolate(); err != nil {
		t.Fatal(err)
	}
	absent := map[string]uintptr{
		"a heap object":           uintptr(unsafe.Pointer(heapObject)),
		"a goroutine's stack":     uintptr(unsafe.Pointer(&onStack)),
		"a package variable":      uintptr(unsafe.Pointer(&mems)),
		"a package variable (rw)": uintptr(unsafe.Pointer(&testSettings)),
	}
	pid, code := h.start(st, fd)
	var maps []mapping
	waitAsleep(t, pid)
	if emu := emulatorOf(pid); emu != "" {
		wantServedGET(t, client, code)
		t.Skipf("child %d runs under %s: qemu-user's madvise(2) ignores MADV_DONTFORK (it returns 0; a child gets the whole parent) and /proc/%d/maps shows the emulator's mappings, not the child's", pid, emu, pid)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err == nil {
		maps, err = parseMaps(b)
	}
	if err != nil {
		t.Fatalf("child %d: %v", pid, err)
	}
	inMem, inBoard := false, false
	boardAddr, _ := board.Mapping()
	for _, m := range maps {
		inBoard = inBoard || m.Start <= boardAddr && boardAddr < m.End
		for what, a := range absent {
			if m.Start <= a && a < m.End {
				t.Errorf("child %d: want no copy of %s (%#x), got it in %+v", pid, what, a, m)
			}
		}
		inMem = inMem || m.Start <= uintptr(unsafe.Pointer(f.m)) && uintptr(unsafe.Pointer(f.m)) < m.End
	}
	if !inBoard {
		t.Errorf("child %d: want the scoreboard (%#x) mapped, got %+v", pid, boardAddr, maps)
	}
	if !inMem {
		t.Errorf("child %d: want mem (%p) mapped, got %+v", pid, f.m, maps)
	}
	t.Logf("fork child: RssAnon %d kB, VmPTE %d kB; parent: RssAnon %d kB, VmPTE %d kB",
		procStatusKB(t, pid, "RssAnon"), procStatusKB(t, pid, "VmPTE"), procStatusKB(t, os.Getpid(), "RssAnon"), procStatusKB(t, os.Getpid(), "VmPTE"))
	// A child with a copy of the parent would have about the parent's
	// anonymous memory (shared pages count in both); with mem alone it
	// has a few pages (the main thread's stack, which holds argv, and in a
	// cgo build the forking thread's stack add some).
	if c, p := procStatusKB(t, pid, "RssAnon"), procStatusKB(t, os.Getpid(), "RssAnon"); c > p/4 {
		t.Errorf("child %d: want at most a quarter of the parent's anonymous memory (%d kB), got %d kB", pid, p, c)
	}
	wantServedGET(t, client, code)
}

// TestForkLargeMessage serves the largest --message through a fork child,
// whose responses live in its mem, and checks every byte of it.
func TestForkLargeMessage(t *testing.T) {
	requireFork(t)
	h := newHarness(t)
	msg := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16)
	s := testSettings
	s.Message = string(msg)
	b := testBoard(t, 1)
	f, err := NewFork(s, b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st := withBoard(f, b)
	client, fd := dialAccept(t, h.lfd, h.addr, nil)
	defer client.Close()
	_, code := h.start(st, fd)
	client.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := io.ReadAll(client)
	if err != nil {
		t.Fatalf("want the response, got %v after %d bytes", err, len(resp))
	}
	head, body, ok := bytes.Cut(resp, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.1 200 OK\r\n")) ||
		!bytes.Contains(head, []byte(fmt.Sprintf("\r\nContent-Length: %d\r\n", len(msg)))) {
		t.Errorf("want a 200 head with Content-Length %d, got %q", len(msg), head)
	}
	if !bytes.Equal(body, msg) {
		t.Errorf("want the %d-byte message as body, got %d bytes", len(msg), len(body))
	}
	if c := waitCode(t, code); c != int(response.OKGet) {
		t.Errorf("want exit code 0, got %d", c)
	}
}
