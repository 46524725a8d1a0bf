#!/bin/bash
# Prints a new throwaway OpenPGP signing key (armored secret key, no
# passphrase) for packaging/repo.sh, made in a temporary GNUPGHOME that is
# removed afterwards. RSA 4096 with SHA-512 self-signatures: rpm (also
# RHEL's, which takes no EdDSA), gpgv and Debian 13's sqv all accept it.
#
# Usage: packaging/repo-key.sh [USER-ID] > key.asc
# For a release, use a real key instead: HELLOD_SIGNING_KEY=$(cat key.asc).
set -euo pipefail

uid=${1:-hellod throwaway repository key <hellod@example.org>}
home=$(mktemp -d)
trap 'gpgconf --homedir "$home" --kill all 2>/dev/null || true; rm -rf "$home"' EXIT
export GNUPGHOME=$home
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
	--personal-digest-preferences SHA512 --cert-digest-algo SHA512 \
	--quick-generate-key "$uid" rsa4096 sign 1y 2>/dev/null
gpg --batch --armor --export-secret-keys
