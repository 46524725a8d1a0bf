package forkchild

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/hellod/hellod/internal/execchild"
	"github.com/hellod/hellod/internal/reaper"
	"github.com/hellod/hellod/internal/response"
)

// TestExecChildStartedWrongly: an exec child with wrong arguments or
// descriptors says what is wrong on stderr and exits with response.Usage.
func TestExecChildStartedWrongly(t *testing.T) {
	h := newHarness(t)
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	client, conn := dialAccept(t, h.lfd, h.addr, nil)
	defer client.Close()
	defer syscall.Close(conn)
	env := execchild.Env(os.Environ(), testSettings)
	for _, c := range []struct {
		args  []string
		board uintptr // fd 4
		want  string
	}{
		{[]string{execchild.Arg}, 0, `want arguments "be-child" SLOT COUNT`},
		{[]string{execchild.Arg, "5", "2"}, 0, `slot "5": want an integer from 0 to 1`},
		{[]string{execchild.Arg, "0", "1"}, null.Fd(), "want the hellod scoreboard on fd 4"},
	} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		files := []uintptr{null.Fd(), null.Fd(), w.Fd(), uintptr(conn)}
		if c.board != 0 {
			files = append(files, c.board)
		}
		pid, err := syscall.ForkExec("/proc/self/exe", append([]string{os.Args[0]}, c.args...),
			&syscall.ProcAttr{Env: env, Files: files})
		w.Close()
		if err != nil {
			r.Close()
			t.Fatal(err)
		}
		code := make(chan int, 1)
		h.r.Watch(pid, func(e reaper.Exit) { code <- e.Code() })
		stderr, _ := io.ReadAll(r)
		r.Close()
		if got := waitCode(t, code); got != int(response.Usage) || !strings.Contains(string(stderr), c.want) {
			t.Errorf("%q: want exit code %d and %q on stderr, got %d and %q", c.args, response.Usage, c.want, got, stderr)
		}
	}
}
