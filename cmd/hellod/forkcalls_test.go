package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestForkChildCallsNothingButSyscalls disassembles the code a fork child
// runs (internal/forkchild's childMain, enterSandbox and threadMain, internal/respond's
// responder, internal/response's PutDate, internal/scoreboard's child-side
// Slot methods, whose sync/atomic calls are intrinsics, and
// internal/http1's parser) in this very binary and fails on any call that
// is not to that code itself, to a raw system call or to morestack: a
// compiler-inserted runtime call such as a GC write barrier or an
// allocation could deadlock a child forked from a multi-threaded Go
// process. Allowed besides: bounds-check panics, which only run on a bug
// (then the child dies, which the parent logs), and the prologues' call of
// morestack, which only runs on a stack overflow and then faults by design:
// it finds the fork child's stand-in g with a nil m (internal/forkchild's
// CONTRACT). It also fails on any reference to a package variable (a data
// or bss symbol) in that code: the child has no copy of those
// (MADV_DONTFORK).
func TestForkChildCallsNothingButSyscalls(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	const pkg = `github\.com/hellod/hellod/internal/`
	childFuncs := regexp.MustCompile(`^` + pkg + `(forkchild\.(childMain|exit|enterSandbox|threadMain)|` +
		`respond\.(Serve|finish|closing|Now|wallSec|makeBlocking|readHead|buffered|setTimeout|read|pending|waitReadable|discard|linger|` +
		`\(\*Table\)\.(Response|SetDate)|\(\*batch\)\.(add|flush|sendv))|response\.PutDate|` +
		`scoreboard\.(\(\*Slot\)\.(Set|Wake|Served|Stopped)|load32|store32|store64|cas32|add32|add64)|http1\.[^.]+|http1\.\(\*[A-Za-z]+\)\.[A-Za-z]+)(\.abi0)?$`)
	// What runs in the parent, before the fork: it may do anything.
	parentSide := regexp.MustCompile(`^` + pkg + `http1\.StrictColons$`)
	bin := filepath.Join(t.TempDir(), "hellod")
	build := exec.Command(gotool, "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(gotool, "tool", "objdump", "-s", `internal/(forkchild|respond|response|scoreboard|http1)\.`, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool objdump: %v\n%s", err, out)
	}
	allowed := []*regexp.Regexp{
		childFuncs,
		regexp.MustCompile(`^syscall\.(RawSyscall|RawSyscall6)$`),
		regexp.MustCompile(`^runtime\.morestack_noctxt(\.abi0)?$`),
		regexp.MustCompile(`^internal/runtime/syscall(/linux)?\.Syscall6$`),
		regexp.MustCompile(`^runtime\.(panicBounds|panicIndex|panicSlice[A-Za-z0-9]*|panicshift|panicdivide|panicExtend[A-Za-z0-9]*|goPanic[A-Za-z0-9]*)$`),
	}
	callRE := regexp.MustCompile(`\bCALL (\S+)\(SB\)`)
	symRE := regexp.MustCompile(`([^ \t,$]+)\(SB\)`)
	// Read-only data the child may read: string constants and type data.
	rodataRE := regexp.MustCompile(`^(go:string\.|type:|go:func\.)`)
	textRE := regexp.MustCompile(`^TEXT (\S+)\(SB\)`)
	fn, funcs, calls := "", 0, 0
	for _, line := range strings.Split(string(out), "\n") {
		if m := textRE.FindStringSubmatch(line); m != nil {
			fn = m[1]
			if childFuncs.MatchString(fn) && !parentSide.MatchString(fn) {
				funcs++
			}
			continue
		}
		if !childFuncs.MatchString(fn) || parentSide.MatchString(fn) {
			continue
		}
		m := callRE.FindStringSubmatch(line)
		if m == nil {
			if s := symRE.FindStringSubmatch(line); s != nil && !rodataRE.MatchString(s[1]) &&
				!childFuncs.MatchString(s[1]) {
				t.Errorf("%s refers to %s: a forked child may read no package variable", fn, s[1])
			}
			continue
		}
		calls++
		ok := false
		for _, a := range allowed {
			ok = ok || a.MatchString(m[1])
		}
		if !ok || parentSide.MatchString(m[1]) {
			t.Errorf("%s calls %s: a forked child may only make raw system calls", fn, m[1])
		}
	}
	if funcs < 20 || calls == 0 {
		t.Fatalf("want the fork child's functions in the disassembly, found %d functions and %d calls", funcs, calls)
	}
	t.Logf("checked %d calls in %d fork-child functions", calls, funcs)
}
