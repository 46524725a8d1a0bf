// Package forkchild is the fork child strategy: each connection is served
// by a true fork of the daemon (clone(2) without exec) that runs
// internal/respond's responder on a stack of its own, from responses the
// parent prepared, and exits with the outcome.
//
// Files: parent.go (the strategy: Fork, NewFork, Start, the once-a-second
// refresh), mem.go (the child's mapping), isolate.go (MADV_DONTFORK of
// the parent's other mappings), page_*.go (its layout unit), tls_*.go (the
// mapping a cgo build must keep), clone_*.go and clone_*.s (the fork
// itself), child.go (the child after clone), probe.go (whether this
// build's child works at all), thread.go (the same code on a thread of its
// own in an exec child, whose Go runtime then sleeps).
//
// CONTRACT: child.go's childMain, and internal/respond's Serve and
// internal/http1's parser that it calls, run in a forked child of the
// hellod parent between clone(2) and exit_group(2) (and, in an exec child,
// on thread.go's responder thread, which the Go runtime does not know). The child is a copy of
// a multi-threaded Go process in which only the forking thread exists:
// the runtime's other threads, the scheduler, the GC, the signal handlers'
// helpers and any lock another thread held at the fork are gone or frozen.
// So, as in syscall.forkAndExecInChild1 between fork and exec, that code
//
//   - is //go:norace (no race-detector calls) and //go:nocheckptr, and
//     calls only itself and syscall.RawSyscall/RawSyscall6 (no
//     entersyscall): no other runtime calls, no allocation, no interface
//     or closure calls, no defer, no panics on the paths it takes (indexes
//     are bounded by hand), no locks, no pointer writes through pointers
//     (write barriers); cmd/hellod's TestForkChildCallsNothingButSyscalls
//     checks the compiled code;
//   - touches no memory but its stack, the text and read-only data of the
//     binary, the mem mapping and its Slot of the scoreboard (shared with
//     the parent, sync/atomic only): it reads no package variable. The child
//     does not even have the rest: the parent marks every other writable
//     mapping MADV_DONTFORK (the Go heap, the goroutine stacks, the
//     binary's data and bss), so that a fork copies a few page-table
//     entries instead of all of them, and a stray read of a global faults
//     at once. Kept are mem, the scoreboard's mapping, the mapping holding
//     argv (so that ps and systemctl status show the child's command line,
//     the parent's) and, in a cgo build, the one holding the forking
//     thread's rseq area;
//   - runs on mem's stack (clone_amd64.s, clone_arm64.s) with a stand-in g
//     (mem.go's standinG; amd64: in R14 and in the thread-local slot
//     morestack reads; arm64: in R28, where morestack reads it) whose
//     stackguard0 lies stackGuard bytes above the stack's end, above a
//     PROT_NONE guard page. It is not //go:nosplit: ordinary prologues
//     check the stack, and an overflow calls morestack, which finds the
//     stand-in's nil m and faults. So an instrumented or unoptimised build
//     (-N -l) cannot overflow silently; a build whose instrumentation
//     writes package variables (go test -cover) kills the child with
//     SIGSEGV, which Probe detects once at NewFork, so that such a build
//     refuses the strategy with one line saying why;
//   - reads what the parent prepared before the fork: its arguments (the
//     call struct, in registers: connection, start time, Slot, mem) and
//     mem's header and responses; it writes only its stack, mem.buf, which
//     the parent never touches, the Dates of its (copy-on-write) copy of
//     the responses once its connection outlives their second
//     (respond.Table.SetDate), and its Slot.
//
// Signals: the parent calls syscall's runtime_BeforeFork (linknamed; one
// of the runtime's pushed "hall of shame" symbols, so Go 1.26's linkname
// check allows it) on a thread locked with runtime.LockOSThread: it
// blocks every signal on that thread and stops preemption. The child never
// unblocks signals: no Go handler can run in it. SIGKILL still works,
// SIGPIPE is avoided with MSG_NOSIGNAL, and a synchronous fault (a bug)
// kills the child with that signal, which the parent logs as such.
//
// What the child holds: right after clone, a copy of every parent fd. It
// dup3s the connection to respond.ConnFD (3), closes 0 and 1 and
// close_range(4, ~0)s the rest, so it serves with only stderr (2) and the
// connection (3), like an exec child (which has /dev/null on 0 and 1). It
// makes itself the OOM killer's first choice (openat, write and close of
// respond.OOMScoreAdjPath, whose bytes it reads from mem, before the
// responder and any filter set up for it), names itself hellod-child
// (prctl PR_SET_NAME: /proc/PID/comm, the name ps -o comm and top show)
// and serves.
//
// Architectures: the child's entry is assembly (clone_amd64.s,
// clone_arm64.s; .ci/arm64.sh runs the tests for arm64 under qemu-user);
// elsewhere (clone_other.go) NewFork refuses with an error until that is
// written.
package forkchild
