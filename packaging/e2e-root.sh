#!/bin/bash
# Builds (once) and caches the Debian root file system that packaging/e2e.sh
# boots with systemd-nspawn, and prints its path.
#
# Usage: e2e-root.sh [SUITE]     (default bookworm; CI also runs trixie)
#
# The root is a minbase SUITE with systemd, dbus and curl, from the machine's
# own apt mirrors (packaging/apt-mirrors.sh). It is cached in
# $HELLOD_E2E_CACHE (default /var/cache/hellod-e2e) under a key made of the
# suite and this recipe, so a change of the recipe builds a new root; older
# roots of the same suite are deleted. Its apt sources are emptied: in the
# test the only repository is hellod's own (the container has no network).
# The cached root is never booted writable: e2e.sh puts an overlay on it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${HELLOD_E2E_CACHE:-/var/cache/hellod-e2e}
suite=${1:-bookworm}
case "$suite" in
*[!a-z]* | "") echo "e2e-root: bad suite name '$suite'" >&2; exit 2 ;;
esac
include=systemd,systemd-sysv,dbus,curl

# dpkg path filters: no manuals, translations or docs, except hellod's own
# (the test checks that purging removes them).
dpkgopts=(
	'path-exclude=/usr/share/man/*'
	'path-include=/usr/share/man/man8'
	'path-include=/usr/share/man/man8/hellod.8.gz'
	'path-exclude=/usr/share/locale/*'
	'path-exclude=/usr/share/doc/*'
	'path-include=/usr/share/doc/hellod'
	'path-include=/usr/share/doc/hellod/*'
	'path-exclude=/usr/share/info/*'
)
# Units that must not run during a test: timers that start apt or other jobs
# at random, and gettys (the console is a pipe).
masked=(apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer
	e2scrub_all.timer fstrim.timer console-getty.service getty.target
	systemd-networkd-wait-online.service)

recipe="v2 $suite $include ${dpkgopts[*]} ${masked[*]}"
key=$(printf '%s' "$recipe" | sha256sum | cut -c1-16)
root=$cache/root-$suite-$key

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -w 900 9 || { echo "e2e-root: cannot lock $cache/.lock" >&2; exit 1; }

if [ -f "$root/.complete" ]; then
	echo "$root"
	exit 0
fi

mapfile -t mirrors < <("$here/apt-mirrors.sh" "$suite")
if [ "${#mirrors[@]}" -eq 0 ]; then
	echo "e2e-root: no $suite apt source found in /etc/apt" >&2
	exit 1
fi

# Remove roots of older recipes of this suite and any half-built one.
for old in "$cache/root-$suite-"* "$cache/tmp-$suite-"*; do
	[ -e "$old" ] || continue
	rm -rf --one-file-system "$old"
done

tmp=$cache/tmp-$suite-$key.$$
args=(--variant=minbase "--include=$include" --quiet)
for o in "${dpkgopts[@]}"; do args+=("--dpkgopt=$o"); done
# shellcheck disable=SC2016 # $1 is expanded by mmdebstrap's hook shell
hook='set -e
: > "$1/etc/machine-id"
mkdir -p "$1/var/log/journal"
echo hellod-e2e > "$1/etc/hostname"
rm -f "$1/etc/apt/sources.list"
rm -rf "$1/etc/apt/sources.list.d"/*'
for u in "${masked[@]}"; do
	hook+=$'\n'"ln -sf /dev/null \"\$1/etc/systemd/system/$u\""
done
args+=("--customize-hook=$hook")

echo "e2e-root: building $root (mmdebstrap, ${#mirrors[@]} sources)" >&2
mmdebstrap "${args[@]}" "$suite" "$tmp" "${mirrors[@]}" </dev/null >&2
touch "$tmp/.complete"
mv "$tmp" "$root"
echo "$root"
