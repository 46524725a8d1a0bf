#!/bin/sh
# Converts the Debian changelog (packaging/changelog, the one source of the
# release notes) into the chglog YAML that nfpm turns into the RPM %changelog.
# Usage: chglog-from-debian.sh packaging/changelog > dist/doc/changelog.yml
set -eu
awk '
function flush() {
	if (ver == "") return
	cmd = "date -u -d \"" date "\" +%Y-%m-%dT%H:%M:%SZ"
	cmd | getline iso; close(cmd)
	printf "- semver: \"%s\"\n  date: %s\n  packager: \"%s\"\n  changes:\n", ver, iso, who
	for (i = 1; i <= n; i++) {
		gsub(/"/, "\\\"", note[i])
		printf "    - note: \"%s\"\n", note[i]
	}
	ver = ""; n = 0
}
/^[a-z0-9][a-z0-9.+-]* \(/ {
	flush()
	ver = $2; gsub(/[()]/, "", ver)
	next
}
/^  \* / { n++; note[n] = substr($0, 5); next }
/^    [^ ]/ { sub(/^ +/, ""); note[n] = note[n] " " $0; next }
/^ -- / {
	line = substr($0, 5)
	split(line, parts, ">  ")
	who = parts[1] ">"
	date = parts[2]
	next
}
END { flush() }
' "$1"
