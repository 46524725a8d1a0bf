#!/bin/bash
# Checks a repository built by packaging/repo.sh; exits non-zero at the
# first failed check, saying which.
#
# Usage: packaging/repo-check.sh REPODIR REPO_URL
#
#   - InRelease and Release.gpg verify (gpgv) against the published key
#     alone, InRelease's text is Release, and a tampered copy does not verify
#   - every file Release lists has its size and SHA256; each
#     binary-ARCH/Packages lists only ARCH, and every .deb of the pool is
#     listed, with its SHA256
#   - apt itself (a private state directory, the file:// of REPODIR) reads
#     hellod.sources, verifies the signature and finds hellod for each
#     architecture
#   - rpm -K: each .rpm's signatures OK with the key imported into a
#     throwaway rpm database (and NOT OK without it); repomd.xml.asc verifies;
#     the metadata lists every .rpm; hellod.repo has gpgcheck, repo_gpgcheck,
#     gpgkey and baseurl under REPO_URL
set -euo pipefail

[ $# = 2 ] || { echo "usage: $0 REPODIR REPO_URL" >&2; exit 2; }
repo=$(realpath -e "$1") url=${2%/}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "repo-check: FAIL: $*" >&2; exit 1; }
ok() { echo "repo-check: ok: $*"; }
dists=$repo/dists/stable
key=$repo/hellod.gpg

# ------------------------------------------------------------ signatures
gpgv --keyring "$key" "$dists/InRelease" 2>"$tmp/gpgv.log" || fail "gpgv InRelease: $(cat "$tmp/gpgv.log")"
gpgv --keyring "$key" --output "$tmp/inrelease.txt" "$dists/InRelease" 2>/dev/null
cmp -s "$tmp/inrelease.txt" "$dists/Release" || fail "InRelease's signed text is not Release"
gpgv --keyring "$key" "$dists/Release.gpg" "$dists/Release" 2>"$tmp/gpgv.log" ||
	fail "gpgv Release.gpg Release: $(cat "$tmp/gpgv.log")"
sed 's/^Origin: hellod$/Origin: hellox/' "$dists/InRelease" >"$tmp/InRelease.tampered"
! cmp -s "$tmp/InRelease.tampered" "$dists/InRelease" || fail "could not tamper with InRelease (no Origin: line)"
! gpgv --keyring "$key" "$tmp/InRelease.tampered" 2>/dev/null || fail "a tampered InRelease verifies"
ok "InRelease and Release.gpg verify with hellod.gpg (gpgv); a tampered InRelease does not"

# ------------------------------------------------------------ indexes
arches=$(sed -n 's/^Architectures: //p' "$dists/Release")
[ -n "$arches" ] || fail "Release has no Architectures:"
# SHA256 section: " HASH SIZE PATH" lines.
awk '/^SHA256:/ { s = 1; next } /^[^ ]/ { s = 0 } s { print $1, $2, $3 }' "$dists/Release" >"$tmp/sums"
[ -s "$tmp/sums" ] || fail "Release lists no SHA256 sums"
while read -r sum size path; do
	f=$dists/$path
	[ -f "$f" ] || fail "Release lists $path, which is missing"
	[ "$(stat -c %s "$f")" = "$size" ] || fail "$path: size $(stat -c %s "$f"), Release says $size"
	[ "$(sha256sum "$f" | cut -d' ' -f1)" = "$sum" ] || fail "$path: SHA256 differs from Release's"
done <"$tmp/sums"
for a in $arches; do
	pk=$dists/main/binary-$a/Packages
	grep -q "main/binary-$a/Packages\$" "$tmp/sums" || fail "Release does not list main/binary-$a/Packages"
	[ "$(grep -c '^Package: hellod$' "$pk")" -ge 1 ] || fail "$pk lists no hellod"
	others=$(grep '^Architecture: ' "$pk" | grep -v "^Architecture: $a\$" || true)
	[ -z "$others" ] || fail "$pk lists other architectures: $others"
	cmp -s <(gzip -dc "$pk.gz") "$pk" || fail "$pk.gz is not Packages"
	# Every package it lists is in the pool, with that SHA256.
	awk '$1 == "Filename:" { f = $2 } $1 == "SHA256:" { print $2, f }' "$pk" >"$tmp/listed"
	while read -r sum f; do
		[ -f "$repo/$f" ] || fail "binary-$a/Packages lists $f, which is missing"
		[ "$(sha256sum "$repo/$f" | cut -d' ' -f1)" = "$sum" ] || fail "$f: SHA256 differs from binary-$a/Packages'"
	done <"$tmp/listed"
done
for d in "$repo"/pool/main/h/hellod/*.deb; do
	rel=${d#"$repo"/}
	a=$(dpkg-deb -f "$d" Architecture)
	sum=$(awk -v f="$rel" '$1 == "Filename:" && $2 == f { s = 1 } s && $1 == "SHA256:" { print $2; exit }' \
		"$dists/main/binary-$a/Packages")
	[ "$sum" = "$(sha256sum "$d" | cut -d' ' -f1)" ] || fail "$rel: not in binary-$a/Packages with its SHA256"
done
ok "Release's $(wc -l <"$tmp/sums") sums match; Packages for $arches list the pool's $(find "$repo/pool" -name '*.deb' | wc -l) .deb"

# ------------------------------------------------------------ apt
grep -qx "URIs: $url" "$repo/hellod.sources" || fail "hellod.sources does not point at $url"
grep -qx "Signed-By: /etc/apt/keyrings/hellod.gpg" "$repo/hellod.sources" || fail "hellod.sources has no Signed-By"
mkdir -p "$tmp/apt/sources" "$tmp/apt/lists/partial" "$tmp/apt/cache/archives/partial" "$tmp/apt/keyrings" "$tmp/apt/trusted"
cp "$key" "$tmp/apt/keyrings/hellod.gpg"
sed -e "s|^URIs: .*|URIs: file://$repo|" -e "s|^Signed-By: .*|Signed-By: $tmp/apt/keyrings/hellod.gpg|" \
	"$repo/hellod.sources" >"$tmp/apt/sources/hellod.sources"
apt_opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$tmp/apt/sources"
	-o "Dir::Etc::Trusted=/dev/null" -o "Dir::Etc::TrustedParts=$tmp/apt/trusted"
	-o "Dir::State=$tmp/apt" -o "Dir::State::Lists=$tmp/apt/lists" -o "Dir::State::status=/dev/null"
	-o "Dir::Cache=$tmp/apt/cache" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root"
	-o "APT::Architectures=$(tr ' ' ',' <<<"$arches")")
apt-get "${apt_opts[@]}" -q update >"$tmp/apt-update.log" 2>&1 || fail "apt-get update of hellod.sources: $(cat "$tmp/apt-update.log")"
! grep -E '^(W|E|Err):' "$tmp/apt-update.log" || fail "apt-get update warned: $(cat "$tmp/apt-update.log")"
for a in $arches; do
	v=$(apt-cache "${apt_opts[@]}" show "hellod:$a" 2>/dev/null | sed -n 's/^Version: //p' | head -1)
	[ -n "$v" ] || fail "apt finds no hellod:$a through hellod.sources"
	ok "apt (hellod.sources, Signed-By): signature verified, hellod:$a $v"
done

# ------------------------------------------------------------ dnf
if [ -d "$repo/rpm" ]; then
	# Two throwaway rpm databases: one with the key, one without.
	mkdir "$tmp/rpmdb" "$tmp/rpmdb-empty"
	rpm --dbpath "$tmp/rpmdb" --initdb
	rpm --dbpath "$tmp/rpmdb-empty" --initdb
	rpm --dbpath "$tmp/rpmdb" --import "$repo/hellod.asc"
	for r in "$repo"/rpm/*.rpm; do
		k=$(rpm --dbpath "$tmp/rpmdb" -K "$r" 2>&1) || fail "rpm -K $r: $k"
		[[ $k == *": digests signatures OK" ]] || fail "rpm -K $r: want 'digests signatures OK' (signed with hellod.asc's key), got: $k"
		if k=$(rpm --dbpath "$tmp/rpmdb-empty" -K "$r" 2>&1); then
			fail "rpm -K without the key: want SIGNATURES NOT OK, got: $k"
		fi
	done
	ok "rpm -K: $(find "$repo/rpm" -name '*.rpm' | wc -l) .rpm 'digests signatures OK' with hellod.asc imported, NOT OK without it"
	gpgv --keyring "$key" "$repo/rpm/repodata/repomd.xml.asc" "$repo/rpm/repodata/repomd.xml" 2>"$tmp/gpgv.log" ||
		fail "gpgv repomd.xml.asc: $(cat "$tmp/gpgv.log")"
	primary=$(sed -n 's|.*<location href="\(repodata/[^"]*primary.xml.gz\)".*|\1|p' "$repo/rpm/repodata/repomd.xml")
	[ -n "$primary" ] || fail "repomd.xml names no primary.xml.gz"
	for r in "$repo"/rpm/*.rpm; do
		gzip -dc "$repo/rpm/$primary" | grep -qF "<location href=\"$(basename "$r")\"" ||
			fail "$primary does not list $(basename "$r")"
	done
	ok "repomd.xml.asc verifies (gpgv); $primary lists every .rpm"
	for l in "baseurl=$url/rpm" gpgcheck=1 repo_gpgcheck=1 "gpgkey=$url/hellod.asc"; do
		grep -qx "$l" "$repo/hellod.repo" || fail "hellod.repo lacks '$l'"
	done
	ok "hellod.repo: baseurl, gpgcheck=1, repo_gpgcheck=1, gpgkey under $url"
fi
