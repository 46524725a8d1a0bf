#!/usr/bin/env bash
# arm64 CI for hellod on an amd64 Debian 12 machine, as root: cross-builds
# the child strategies' tests (internal/forkchild, internal/execchild,
# internal/respond, internal/http1) and the daemon's with GOARCH=arm64 and
# runs them under qemu-user (qemu-aarch64-static), with real loopback
# sockets. The exec strategy re-execs /proc/self/exe, an arm64 ELF, which
# the kernel runs only through a binfmt_misc entry for qemu-aarch64;
# without one, the exec tests are skipped (named below) and the fork tests
# still run.
#
# Under qemu-user, TestForkChildMemory skips itself: qemu's madvise(2)
# ignores MADV_DONTFORK, and /proc/PID/maps of a forked qemu shows the
# emulator's mappings. Everything else runs as on arm64 hardware, except
# that qemu emulates the guest's page size (4K) whatever the hardware's.
# TestProbe shows that the fork strategy, hellod's default, starts on
# arm64. qemu-user has no seccomp for its guest (seccomp(2): ENOSYS), so
# the children's sandbox cannot run there: the daemon's tests pass
# --sandbox=none by themselves where sandbox.Supported fails, the other
# packages' tests run unsandboxed, and the sandbox's own tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

step "apt: qemu-user-static, binfmt-support, an arm64 C toolchain (cgo leg)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends qemu-user-static binfmt-support \
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross >/dev/null
qemu-aarch64-static --version | head -1

# binfmt_misc: mount it if needed, then enable qemu-aarch64 (the package's
# entry has flag F: the kernel opens the interpreter at registration).
step "binfmt_misc for arm64 executables"
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/register" ]; then
	mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true
fi
if [ -e "$binfmt/register" ] && ! grep -qsx enabled "$binfmt/qemu-aarch64"; then
	update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
fi
have_binfmt=false
if grep -qsx enabled "$binfmt/qemu-aarch64"; then
	have_binfmt=true
	echo "binfmt_misc: qemu-aarch64 enabled ($(sed -n 's/^interpreter //p' "$binfmt/qemu-aarch64"))"
else
	echo "binfmt_misc: no qemu-aarch64 entry (cannot mount or register): exec strategy tests will be skipped"
fi

pkgs='forkchild execchild respond http1'
step "cross-build (CGO_ENABLED=0 GOARCH=arm64)"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export CGO_ENABLED=0
for p in $pkgs; do
	GOARCH=arm64 go vet "./internal/$p"
	GOARCH=arm64 go test -c -o "$out/$p.test" "./internal/$p"
done
GOARCH=arm64 go test -c -o "$out/hellod.test" ./cmd/hellod
step "cross-build (CGO_ENABLED=1 GOARCH=arm64 CC=aarch64-linux-gnu-gcc)"
CGO_ENABLED=1 CC=aarch64-linux-gnu-gcc GOARCH=arm64 go vet ./internal/forkchild
CGO_ENABLED=1 CC=aarch64-linux-gnu-gcc GOARCH=arm64 go test -c -o "$out/forkchild-cgo.test" ./internal/forkchild
# The cgo test binary's dynamic loader and libc, for qemu.
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu

# run NAME DIR BINARY ARGS...: runs a test binary under qemu (directly
# through qemu-aarch64-static, so that it does not depend on binfmt_misc;
# what it execs does) in the package's directory, and prints each test's
# verdict, skip reasons and the Probe and torture lines.
run() {
	local name=$1 dir=$2 bin=$3
	shift 3
	step "$name"
	local log="$out/$name.log"
	if ! (cd "$dir" && timeout 20m qemu-aarch64-static "$bin" -test.v -test.timeout 15m "$@") >"$log" 2>&1; then
		cat "$log"
		echo "$name: FAIL" >&2
		exit 1
	fi
	grep -E '^(--- |PASS|FAIL|ok )|^    .*(SKIP|skip)' "$log" | grep -v '^    --- PASS' || true
	grep -E '^ +[a-z_]+_test\.go:[0-9]+: .*(runs under|children|Probe|unavailable)' "$log" || true
}

# internal/forkchild: both strategies through their Start on loopback
# sockets, Probe, the stack overflow test and a bounded torture run; the
# same with cgo, where keepThread keeps the mapping of the forking
# thread's TPIDR_EL0 in children (what glibc's rseq area needs on real
# hardware). The other packages: the exec child's environment, the
# responder and the parser.
exec_tests='TestStrategiesAgree|TestChildDescriptors'
skip=()
if ! $have_binfmt; then
	echo "skipped (no binfmt_misc entry: the exec child is an arm64 ELF the kernel cannot run): $exec_tests"
	skip=(-test.skip "^($exec_tests)\$")
fi
HELLOD_TORTURE=2000 run forkchild-arm64 internal/forkchild "$out/forkchild.test" "${skip[@]}"
HELLOD_TORTURE=2000 run forkchild-arm64-cgo internal/forkchild "$out/forkchild-cgo.test" "${skip[@]}"
for p in execchild respond http1; do
	run "$p-arm64" "internal/$p" "$out/$p.test"
done

# cmd/hellod: the daemon's behaviour tests, each with --child=exec and
# --child=fork; the daemon is the test binary re-executed, so all of them
# need binfmt_misc.
daemon_tests='TestKeepAlive|TestKeepAliveHTTP10|TestEveryStatusCode|TestMessageAndRealClients|TestChildHoldsOnlyItsConnection|TestNoZombiesAfter1000Connections|TestMaxChildrenBackpressure|TestChildTimeoutKillsStoppedChild|TestSIGTERMDrainsRunningChildren'
if $have_binfmt; then
	run hellod-arm64 cmd/hellod "$out/hellod.test" -test.short -test.run "^($daemon_tests)\$"
else
	echo "skipped (no binfmt_misc entry: the daemon re-executes the arm64 test binary): $daemon_tests"
fi

# The fork child's calls, in an arm64 build's disassembly (the test builds
# hellod with the environment's GOARCH). Only its call check bites on arm64:
# objdump shows a package variable's load as ADRP+MOVD with no symbol.
step "fork child calls (arm64 disassembly)"
log="$out/forkcalls.log"
if ! GOARCH=arm64 go test -count=1 -exec qemu-aarch64-static -run '^TestForkChildCallsNothingButSyscalls$' -v ./cmd/hellod >"$log" 2>&1; then
	cat "$log"
	echo "fork child calls: FAIL" >&2
	exit 1
fi
grep -E '^(--- |ok )|checked' "$log"
