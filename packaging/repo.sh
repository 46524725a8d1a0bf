#!/bin/bash
# Builds signed apt and dnf repositories of hellod from its packages, from
# scratch (nothing is kept from an earlier run), then checks them
# (packaging/repo-check.sh).
#
# Usage: packaging/repo.sh OUTDIR REPO_URL PACKAGE.deb|PACKAGE.rpm...
#   ("make repo REPO_URL=https://..." runs it on dist/*.deb dist/*.rpm)
#
# OUTDIR, once published at REPO_URL:
#   dists/stable/{Release,InRelease,Release.gpg}, dists/stable/main/binary-ARCH/
#   Packages(.gz), pool/main/h/hellod/*.deb     the apt repository
#   rpm/*.rpm (signed), rpm/repodata/repomd.xml(.asc)   the dnf repository
#   hellod.asc, hellod.gpg    the public key, armored and as a binary keyring
#   hellod.sources            for /etc/apt/sources.list.d (deb822, Signed-By)
#   hellod.repo               for /etc/yum.repos.d (gpgcheck, repo_gpgcheck)
#
# Environment:
#   HELLOD_SIGNING_KEY   the armored secret key to sign with (a release);
#                        without it a throwaway key is made (and said so)
#   HELLOD_SIGNING_PASSPHRASE  its passphrase, if it has one
#   HELLOD_REPO_SKIP_APT=1     do not install missing tools with apt
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
die() { echo "repo: $*" >&2; exit 2; }
[ $# -ge 3 ] || die "usage: $0 OUTDIR REPO_URL PACKAGE..."
out=$1 url=${2%/}
shift 2
[ -n "$url" ] || die "REPO_URL is empty: give the URL the repository will be published at, e.g. make repo REPO_URL=https://example.org/hellod"
[[ $url =~ ^(https?://[A-Za-z0-9.-]+(:[0-9]+)?|file://)(/[A-Za-z0-9._~%+/-]*)?$ ]] ||
	die "REPO_URL '$url' is not an http://, https:// or file:/// URL (host, optional port, path of [A-Za-z0-9._~%+/-])"
[[ $url != file://* || $url == file:///* ]] || die "REPO_URL '$url': a file URL needs an absolute path (file:///...)"

# ------------------------------------------------------------ tools
# Debian packages of the tools (versions fixed by the stable release;
# printed below).
declare -A tool_pkg=([gpg]=gnupg [gpgv]=gpgv [apt-ftparchive]=apt-utils
	[createrepo_c]=createrepo-c [rpmsign]=rpm [rpm]=rpm [dpkg-deb]=dpkg)
missing=()
for t in "${!tool_pkg[@]}"; do command -v "$t" >/dev/null || missing+=("${tool_pkg[$t]}"); done
if [ "${#missing[@]}" -gt 0 ]; then
	if [ "${HELLOD_REPO_SKIP_APT:-0}" = 1 ] || [ "$(id -u)" != 0 ]; then
		die "missing tools; install: apt-get install ${missing[*]}"
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2
	apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
echo "repo: tools: $(dpkg-query -W -f '${Package} ${Version}\n' apt-utils createrepo-c rpm gnupg 2>/dev/null | paste -sd, | sed 's/,/, /g')"

debs=() rpms=()
for p in "$@"; do
	[ -f "$p" ] || die "no such package: $p (run make packages first)"
	case "$p" in
	*.deb) debs+=("$(realpath "$p")") ;;
	*.rpm) rpms+=("$(realpath "$p")") ;;
	*) die "not a .deb or .rpm: $p" ;;
	esac
done
[ "${#debs[@]}" -gt 0 ] || die "no .deb given"

# OUTDIR is replaced as a whole: refuse anything but an earlier repository.
if [ -e "$out" ] && { [ ! -d "$out/dists" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ]; }; then
	die "$out exists and is not a repository made by repo.sh (no dists/): not replacing it"
fi
new=$out.new.$$
tmp=$(mktemp -d)
export GNUPGHOME=$tmp/gnupg
trap 'gpgconf --homedir "$GNUPGHOME" --kill all 2>/dev/null || true; rm -rf "$tmp" "$new"' EXIT
mkdir -m 700 "$GNUPGHOME"
mkdir -p "$new"

# ------------------------------------------------------------ key
if [ -n "${HELLOD_SIGNING_KEY:-}" ]; then
	key=$HELLOD_SIGNING_KEY
else
	key=$("$here/repo-key.sh")
	echo "repo: HELLOD_SIGNING_KEY is not set: signed with a new throwaway key (for tests only; users cannot verify a later build)"
fi
gpg --batch --quiet --import <<<"$key" 2>"$tmp/import.log" || die "HELLOD_SIGNING_KEY: gpg --import failed: $(cat "$tmp/import.log")"
fpr=$(gpg --batch --with-colons --list-secret-keys | awk -F: '$1 == "sec" { s = 1 } s && $1 == "fpr" { print $10; exit }')
[ -n "$fpr" ] || die "HELLOD_SIGNING_KEY holds no secret key"
sign_args=(--batch --yes --local-user "$fpr" --digest-algo SHA512)
if [ -n "${HELLOD_SIGNING_PASSPHRASE:-}" ]; then
	printf '%s' "$HELLOD_SIGNING_PASSPHRASE" >"$tmp/passphrase"
	sign_args+=(--pinentry-mode loopback --passphrase-file "$tmp/passphrase")
fi
gpg --batch --armor --export "$fpr" >"$new/hellod.asc"
gpg --batch --export "$fpr" >"$new/hellod.gpg"
echo "repo: signing key $fpr"

# ------------------------------------------------------------ apt
dists=$new/dists/stable
mkdir -p "$new/pool/main/h/hellod"
declare -A arches=()
for d in "${debs[@]}"; do
	pkg=$(dpkg-deb -f "$d" Package) ver=$(dpkg-deb -f "$d" Version) arch=$(dpkg-deb -f "$d" Architecture)
	cp "$d" "$new/pool/main/h/$pkg/${pkg}_${ver#*:}_$arch.deb"
	arches[$arch]=1
done
arch_list=$(printf '%s\n' "${!arches[@]}" | sort | tr '\n' ' ')
arch_list=${arch_list% }
for a in $arch_list; do
	mkdir -p "$dists/main/binary-$a"
	(cd "$new" && apt-ftparchive --arch "$a" packages pool/main) >"$dists/main/binary-$a/Packages"
	gzip -9n -k "$dists/main/binary-$a/Packages"
done
ftp=APT::FTPArchive::Release
apt-ftparchive -o "$ftp::Origin=hellod" -o "$ftp::Label=hellod" -o "$ftp::Suite=stable" \
	-o "$ftp::Codename=stable" -o "$ftp::Architectures=$arch_list" -o "$ftp::Components=main" \
	-o "$ftp::Description=hellod packages" release "$dists" >"$tmp/Release"
mv "$tmp/Release" "$dists/Release"
gpg "${sign_args[@]}" --clearsign --output "$dists/InRelease" "$dists/Release"
gpg "${sign_args[@]}" --armor --detach-sign --output "$dists/Release.gpg" "$dists/Release"
cat >"$new/hellod.sources" <<EOF
Types: deb
URIs: $url
Suites: stable
Components: main
Signed-By: /etc/apt/keyrings/hellod.gpg
EOF
echo "repo: apt: $(cd "$new/pool/main/h/hellod" && printf '%s ' ./*.deb)($arch_list)"

# ------------------------------------------------------------ dnf
if [ "${#rpms[@]}" -gt 0 ]; then
	mkdir -p "$new/rpm"
	cp "${rpms[@]}" "$new/rpm/"
	rpm_macros=(--define "__gpg $(command -v gpg)" --define "_gpg_name $fpr"
		--define "_gpg_path $GNUPGHOME" --define "_gpg_digest_algo sha512")
	if [ -n "${HELLOD_SIGNING_PASSPHRASE:-}" ]; then
		rpm_macros+=(--define "_gpg_sign_cmd_extra_args --pinentry-mode loopback --passphrase-file $tmp/passphrase")
	fi
	rpmsign "${rpm_macros[@]}" --addsign "$new"/rpm/*.rpm >"$tmp/rpmsign.log" 2>&1 ||
		die "rpmsign failed: $(cat "$tmp/rpmsign.log")"
	createrepo_c --quiet --general-compress-type=gz "$new/rpm" >&2
	gpg "${sign_args[@]}" --armor --detach-sign --output "$new/rpm/repodata/repomd.xml.asc" \
		"$new/rpm/repodata/repomd.xml"
	printf '%s\n' '[hellod]' 'name=hellod' "baseurl=$url/rpm" 'enabled=1' 'gpgcheck=1' \
		'repo_gpgcheck=1' "gpgkey=$url/hellod.asc" >"$new/hellod.repo"
	echo "repo: dnf: $(cd "$new/rpm" && printf '%s ' ./*.rpm)(signed)"
fi

"$here/repo-check.sh" "$new" "$url"
rm -rf "$out"
mv "$new" "$out"
echo "repo: $out ready for $url"
