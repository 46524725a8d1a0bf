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
// the child dies, which the parent logs. It also fails on any reference to
// a package variable (a data or bss symbol) in the functions that run in
// the child: on amd64 the child has no copy of those (MADV_DONTFORK).
func TestForkChildCallsNothingButSyscalls(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	childFuncs := `^github\.com/hellod/hellod/internal/child\.(fork[A-Za-z0-9]*|\(\*headScan\)\.[a-zA-Z]+|\(\*forkMem\)\.pick|classifyFork|looksLikeRequestLineFork)(\.abi0)?$`
	// forkClone runs in the parent, up to and after clone: it may read
	// package variables.
	parentSide := regexp.MustCompile(`internal/child\.forkClone$`)
	bin := filepath.Join(t.TempDir(), "hellod")
	build := exec.Command(gotool, "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(gotool, "tool", "objdump", "-s", `internal/child\.(fork|\(\*headScan\)|\(\*forkMem\)|classifyFork|looksLikeRequestLineFork)`, bin).CombinedOutput()
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
	symRE := regexp.MustCompile(`([^ \t,$]+)\(SB\)`)
	// Read-only data the child may read: string constants and type data.
	rodataRE := regexp.MustCompile(`^(go:string\.|type:|go:func\.)`)
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
			if s := symRE.FindStringSubmatch(line); s != nil && !rodataRE.MatchString(s[1]) &&
				!regexp.MustCompile(childFuncs).MatchString(s[1]) && !parentSide.MatchString(fn) {
				t.Errorf("%s refers to %s: a forked child may read no package variable", fn, s[1])
			}
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
