package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestForkChildCallsNothingButSyscalls disassembles the code a forked child
// runs (internal/child/forkchild.go and forkparse.go) in this very binary and
// fails on any call that is not to that code itself or to a raw system call.
// The nosplit check catches stack growth at link time; this catches what it
// cannot: a compiler-inserted runtime call such as a GC write barrier or an
// allocation, which could deadlock a child forked from a multi-threaded Go
// process. Bounds-check panics are allowed: they only run on a bug, and then
// the child dies, which the parent logs.
func TestForkChildCallsNothingButSyscalls(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	childFuncs := `internal/child\.(fork[A-Za-z0-9]*|\(\*headScan\)\.[a-zA-Z]+|classifyFork|looksLikeRequestLineFork)$`
	bin := filepath.Join(t.TempDir(), "hellod")
	build := exec.Command(gotool, "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(gotool, "tool", "objdump", "-s", `internal/child\.(fork|\(\*headScan\)|classifyFork|looksLikeRequestLineFork)`, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool objdump: %v\n%s", err, out)
	}
	allowed := []*regexp.Regexp{
		regexp.MustCompile(childFuncs),
		regexp.MustCompile(`^syscall\.(RawSyscall|RawSyscall6|rawVforkSyscall|runtime_BeforeFork|runtime_AfterFork)$`),
		regexp.MustCompile(`^internal/runtime/syscall(/linux)?\.Syscall6$`),
		regexp.MustCompile(`^runtime\.(panicBounds|panicIndex|panicSlice[A-Za-z0-9]*|panicshift|panicdivide|panicExtend[A-Za-z0-9]*|goPanic[A-Za-z0-9]*)$`),
	}
	callRE := regexp.MustCompile(`\bCALL ([^ (]+)\(SB\)`)
	textRE := regexp.MustCompile(`^TEXT (\S+)\(SB\)`)
	fn, funcs, calls := "", 0, 0
	for _, line := range strings.Split(string(out), "\n") {
		if m := textRE.FindStringSubmatch(line); m != nil {
			fn = m[1]
			if regexp.MustCompile(childFuncs).MatchString(fn) {
				funcs++
			}
			continue
		}
		if !regexp.MustCompile(childFuncs).MatchString(fn) {
			continue
		}
		m := callRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		calls++
		ok := false
		for _, a := range allowed {
			ok = ok || a.MatchString(m[1])
		}
		if !ok {
			t.Errorf("%s calls %s: a forked child may only make raw system calls", fn, m[1])
		}
	}
	if funcs < 5 || calls == 0 {
		t.Fatalf("want the fork child's functions in the disassembly, found %d functions and %d calls", funcs, calls)
	}
	t.Logf("checked %d calls in %d fork-child functions", calls, funcs)
}
