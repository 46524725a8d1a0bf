#!/bin/bash
# Packaging CI for hellod: installs every tool it needs on a fresh Debian 12
# (root, with only Go, gcc and apt), then builds the packages, lints them,
# builds and checks the signed repositories (make repo) and runs the
# booted-systemd end-to-end test on Debian 12 and Debian 13. Exits non-zero
# if any step fails, after a summary with timings.
#
#   bash packaging/ci.sh            # from anywhere in the repository
#
# Environment:
#   VERSION            package version (default: packaging/version.sh)
#   HELLOD_E2E_CACHE   cache of the e2e root file systems, one per Debian
#                      release (default /var/cache/hellod-e2e; kept between runs)
#   E2E_SUITES         Debian releases the e2e test boots (default
#                      "bookworm trixie")
#   HELLOD_CI_SKIP_APT=1  do not run apt-get (tools already installed)
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
[ "$(id -u)" = 0 ] || { echo "ci.sh: must run as root (apt, nspawn)" >&2; exit 2; }

# Debian 12 (bookworm) packages. Their versions are fixed by the stable
# release (point releases only fix bugs); the versions in use are printed.
# nfpm, the one tool whose version shapes the packages, is pinned exactly
# in the Makefile (NFPM_VERSION) and installed by the build.
APT_PACKAGES=(
	make git gzip xz-utils file cpio util-linux
	systemd-container mmdebstrap debian-archive-keyring # e2e: booted systemd
	curl jq iproute2 wrk                                # e2e: requests, checks, load
	lintian rpmlint python3-magic rpm rpm2cpio shellcheck # lint-packages
	apt-utils createrepo-c gnupg gpgv                     # make repo
	python3                                               # e2e: the repository's HTTP server
)

results=()
failed=0
t_all=$(date +%s.%N)
run_step() { # run_step NAME COMMAND...
	local name=$1 t rc=0 dt
	shift
	echo
	echo "################ $name"
	t=$(date +%s.%N)
	"$@" || rc=$?
	dt=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	if [ "$rc" = 0 ]; then
		results+=("$(printf 'PASS  %-28s %7ss' "$name" "$dt")")
	else
		results+=("$(printf 'FAIL  %-28s %7ss  (exit %s)' "$name" "$dt" "$rc")")
		failed=1
	fi
	return "$rc"
}
summary() {
	echo
	echo "################ packaging CI summary (version $VERSION)"
	printf '  %s\n' "${results[@]}"
	printf '  %-34s %7ss\n' total "$(awk -v a="$t_all" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
	if [ "$failed" = 0 ]; then echo "packaging CI: PASS"; else echo "packaging CI: FAIL"; fi
}

# shellcheck disable=SC2317 # called through run_step
install_tools() {
	if [ "${HELLOD_CI_SKIP_APT:-0}" = 1 ]; then
		echo "HELLOD_CI_SKIP_APT=1: not running apt-get"
	else
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q || return 1
		apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}" || return 1
	fi
	echo "tools:"
	dpkg-query -W -f '  ${Package} ${Version}\n' systemd systemd-container mmdebstrap \
		lintian rpmlint rpm shellcheck curl wrk apt-utils createrepo-c gnupg
	echo "  $(go version)"
}

VERSION=${VERSION:-$(packaging/version.sh)}
export VERSION
echo "hellod packaging CI, version $VERSION"

if ! run_step "install tools (apt)" install_tools; then
	summary
	exit 1
fi
built=0
run_step "make packages" make packages VERSION="$VERSION" &&
	run_step "make packages-next" make packages-next VERSION="$VERSION" &&
	built=1
if [ "$built" = 1 ]; then
	run_step "make lint-packages" make lint-packages VERSION="$VERSION"
	# The repository is checked as built (packaging/repo-check.sh); the URL
	# is only written into hellod.sources and hellod.repo.
	run_step "make repo" make repo VERSION="$VERSION" REPO_URL=https://hellod.example.org/repo
	# Bounded: e2e.sh cleans up on SIGTERM (container halted, cgroups removed).
	for suite in ${E2E_SUITES:-bookworm trixie}; do
		run_step "make e2e ($suite)" timeout --kill-after=60 900 make e2e VERSION="$VERSION" E2E_SUITES="$suite"
	done
fi
summary
exit "$failed"
