#!/bin/bash
# Checks the packages built by "make packages" and the units in them.
# Usage: packaging/lint.sh VERSION ARCH...     (run from the repository root)
#
#   - systemd-analyze verify on the units as installed (a root made of the
#     .deb's contents plus this machine's units): any output is a failure
#   - systemd-analyze security --offline=true: exposure must be <= 0.2
#   - lintian on each .deb: no error, no warning (overrides carry a reason)
#   - rpmlint on each .rpm: no error (filters carry a reason)
#   - contents, conffiles and scriptlets of each package (dpkg-deb, rpm -qp)
#   - the binary: static ELF of the package's architecture, version stamped
#   - shellcheck on the maintainer scripts and tooling
#   - the maintainer scripts' behaviour (packaging/test-scripts.sh)
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 VERSION ARCH..." >&2; exit 2; }
version=$1
shift
arches=("$@")
SECURITY_THRESHOLD=${SECURITY_THRESHOLD:-2}  # systemd's scale: 2 = 0.2, what hellod.service scores

cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=()
check() { # check NAME COMMAND...: runs it, records a failure
	local name=$1
	shift
	echo "=== $name"
	if "$@"; then
		echo "    ok"
	else
		echo "    FAILED: $name"
		failures+=("$name")
	fi
}

rpm_arch() { case $1 in amd64) echo x86_64 ;; arm64) echo aarch64 ;; *) echo "$1" ;; esac; }
elf_arch() { case $1 in amd64) echo x86-64 ;; arm64) echo "ARM aarch64" ;; *) echo "$1" ;; esac; }
deb_of() { echo "dist/hellod_${version}-1_$1.deb"; }
rpm_of() { echo "dist/hellod-${version}-1.$(rpm_arch "$1").rpm"; }

for a in "${arches[@]}"; do
	for f in "$(deb_of "$a")" "$(rpm_of "$a")"; do
		[ -f "$f" ] || { echo "missing $f: run make packages VERSION=$version" >&2; exit 2; }
	done
done

host_deb=$(deb_of "$(dpkg --print-architecture)")
[ -f "$host_deb" ] || host_deb=$(deb_of "${arches[0]}")

# ------------------------------------------------------------ units
verify_units() {
	local root=$tmp/verify out
	mkdir -p "$root/usr/lib/systemd/system"
	# The machine's own units (sockets.target, sysinit.target, ...), then
	# the package over them, so that ExecStart= and man: are checked too.
	cp -a /lib/systemd/system/. "$root/usr/lib/systemd/system/"
	dpkg-deb -x "$host_deb" "$root"
	out=$(MANPATH=$root/usr/share/man systemd-analyze verify --root="$root" \
		hellod.socket hellod.service 2>&1) || { echo "$out"; return 1; }
	if [ -n "$out" ]; then
		echo "$out"
		return 1
	fi
}
check "systemd-analyze verify (any output fails)" verify_units

security() {
	local out rc=0
	out=$(systemd-analyze security --offline=true --threshold="$SECURITY_THRESHOLD" \
		systemd/hellod.service 2>&1) || rc=$?
	echo "$out" | grep -E '✗|Overall' | sed 's/^/    /'
	return "$rc"
}
check "systemd-analyze security --offline=true (<= $(awk -v t="$SECURITY_THRESHOLD" 'BEGIN { print t / 10 }'))" security

# ------------------------------------------------------------ .deb
lint_deb() {
	local rc=0
	# The gate: errors and warnings fail (overridden tags do not).
	# (lintian only notes on stderr that it runs as root.)
	lintian --fail-on error,warning --display-info "$1" 2>/dev/null | sed 's/^/    /' ||
		rc=${PIPESTATUS[0]}
	# For the record, the overrides in use and their reasons. (With
	# --show-overrides lintian counts them as failures: not the gate.)
	lintian --show-overrides "$1" 2>/dev/null | grep -E '^(O|N):' | sed 's/^/    /' || true
	return "$rc"
}
deb_contents() {
	local deb=$1 arch=$2 got want
	got=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $1, $6 }' | sort)
	want=$(sort <<EOF
-rw-r--r-- ./etc/default/hellod
-rwxr-xr-x ./usr/bin/hellod
-rw-r--r-- ./usr/lib/systemd/system/hellod.service
-rw-r--r-- ./usr/lib/systemd/system/hellod.socket
-rw-r--r-- ./usr/share/doc/hellod/changelog.Debian.gz
-rw-r--r-- ./usr/share/doc/hellod/copyright
-rw-r--r-- ./usr/share/lintian/overrides/hellod
-rw-r--r-- ./usr/share/man/man8/hellod.8.gz
EOF
)
	diff <(echo "$want") <(echo "$got") || return 1
	[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || return 1
	[ "$(dpkg-deb -f "$deb" Version)" = "$version-1" ] || return 1
	[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)" = /etc/default/hellod ] || return 1
	for s in postinst prerm postrm; do
		cmp -s <(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - "./$s") "packaging/deb/$s" ||
			{ echo "    $s differs from packaging/deb/$s"; return 1; }
	done
	binary_ok "$deb" "$arch" deb
}
# binary_ok PKG ARCH deb|rpm: /usr/bin/hellod is a static ELF of ARCH and,
# when it can run here, prints the version.
binary_ok() {
	local dir=$tmp/bin-$3-$2 info
	mkdir -p "$dir"
	if [ "$3" = deb ]; then
		dpkg-deb --fsys-tarfile "$1" | tar -xf - -C "$dir" ./usr/bin/hellod
	else
		rpm2archive -n <"$1" | tar -xf - -C "$dir" ./usr/bin/hellod
	fi
	info=$(file -b "$dir/usr/bin/hellod")
	echo "    /usr/bin/hellod: ${info%%, BuildID*}"
	[[ $info == *"$(elf_arch "$2")"* && $info == *"statically linked"* ]] || return 1
	if [ "$2" = "$(dpkg --print-architecture)" ]; then
		[ "$("$dir/usr/bin/hellod" --version)" = "hellod $version" ] ||
			{ echo "    --version: $("$dir/usr/bin/hellod" --version)"; return 1; }
		echo "    --version: hellod $version"
	fi
}
for a in "${arches[@]}"; do
	check "lintian $(deb_of "$a") (errors and warnings fail)" lint_deb "$(deb_of "$a")"
	check "contents of $(deb_of "$a")" deb_contents "$(deb_of "$a")" "$a"
done

# ------------------------------------------------------------ .rpm
lint_rpm() {
	local dir out rc=0
	# rpmlint unpacks with "rpm2cpio | cpio -id", and nfpm's payload has
	# absolute paths: as root that would write into / (it did, once). So it
	# runs as nobody, in a directory of its own.
	dir=$(mktemp -d)
	cp "$1" packaging/rpmlint.toml "$dir/"
	chmod 755 "$dir"
	chmod 644 "$dir"/*
	out=$(cd "$dir" && setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env -i PATH=/usr/bin:/bin HOME="$dir" LANG=C.UTF-8 \
		rpmlint -c rpmlint.toml "$(basename "$1")" 2>&1) || rc=$?
	rm -rf "$dir"
	echo "$out" | grep -E '^[^ ]+: [EW]: |packages and' | sed 's/^/    /'
	# rpmlint exits 64 when it found errors, 66 when only the badness
	# threshold was exceeded; warnings alone exit 0.
	[ "$rc" = 0 ] && [[ $out == *" 0 errors"* ]]
}
rpm_contents() {
	local pkg=$1 arch=$2 got want scripts
	got=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$pkg" |
		awk '$1 !~ /^d/' | sort)
	want=$(sort <<EOF
-rw-r--r-- cn /etc/default/hellod
-rwxr-xr-x  /usr/bin/hellod
-rw-r--r--  /usr/lib/systemd/system/hellod.service
-rw-r--r--  /usr/lib/systemd/system/hellod.socket
-rw-r--r-- l /usr/share/licenses/hellod/copyright
-rw-r--r-- d /usr/share/man/man8/hellod.8.gz
EOF
)
	diff <(echo "$want") <(echo "$got") || return 1
	rpm -qpl "$pkg" | sed 's/^/    /'
	[ "$(rpm -qp --qf '%{VERSION}-%{RELEASE} %{ARCH}' "$pkg")" = "$version-1 $(rpm_arch "$arch")" ] || return 1
	[ -n "$(rpm -qp --changelog "$pkg")" ] || { echo "    no %changelog"; return 1; }
	[[ $(rpm -K --nosignature "$pkg") == *"digests OK"* ]] || return 1
	scripts=$(rpm -qp --scripts "$pkg")
	for s in "postinstall scriptlet" "preuninstall scriptlet" "postuninstall scriptlet"; do
		grep -q "^$s" <<<"$scripts" || { echo "    no $s"; return 1; }
	done
	grep -q 'systemctl --no-reload preset hellod.socket' <<<"$scripts" &&
		grep -q 'systemctl try-restart hellod.service' <<<"$scripts" &&
		! grep -q 'restart hellod.socket' <<<"$scripts" || return 1
	binary_ok "$pkg" "$arch" rpm
}
for a in "${arches[@]}"; do
	check "rpmlint $(rpm_of "$a") (errors fail)" lint_rpm "$(rpm_of "$a")"
	check "contents and scriptlets of $(rpm_of "$a")" rpm_contents "$(rpm_of "$a")" "$a"
done

# ------------------------------------------------------------ scripts
if command -v shellcheck >/dev/null; then
	check "shellcheck" shellcheck -x packaging/*.sh packaging/deb/* packaging/rpm/*
else
	echo "=== shellcheck: not installed, skipped"
fi
check "maintainer scripts' behaviour (packaging/test-scripts.sh)" packaging/test-scripts.sh

echo
if [ "${#failures[@]}" -gt 0 ]; then
	echo "lint-packages: ${#failures[@]} check(s) FAILED:"
	printf '  - %s\n' "${failures[@]}"
	exit 1
fi
echo "lint-packages: all checks passed"
