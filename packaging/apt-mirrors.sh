#!/bin/sh
# Prints the Debian apt sources of this machine for one release as one-line
# "deb [signed-by=...] URI SUITE COMPONENTS" entries, one per line, for
# mmdebstrap. Read from /etc/apt/sources.list, /etc/apt/sources.list.d/*.list
# and the deb822 /etc/apt/sources.list.d/*.sources, so that no mirror's name
# is written in this repository.
# Usage: apt-mirrors.sh [SUITE [FROM]]     (default: bookworm)
# Only SUITE, SUITE-updates and SUITE-security are kept; other repositories
# configured on the machine (third-party ones) are left out. When the machine
# names no SUITE (it is configured for its own release only, e.g. trixie on
# a bookworm host), the entries of FROM (default: this machine's release,
# VERSION_CODENAME in /etc/os-release) are printed with FROM renamed SUITE:
# the same mirrors serve every release.
set -eu
suite=${1:-bookworm}
etc=${APT_ETC:-/etc/apt}
from=${2:-$(sed -n 's/^VERSION_CODENAME=//p' "${OS_RELEASE:-/etc/os-release}" 2>/dev/null | tr -d '"')}

sources() {
	# One-line format.
	for f in "$etc/sources.list" "$etc"/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -e 's/#.*//' "$f"
	done | awk '
	$1 == "deb" {
		opts = ""
		i = 2
		if ($2 ~ /^\[/) {
			while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break }; i++ }
		}
		line = "deb" opts
		for (; i <= NF; i++) line = line " " $i
		print line
	}'

	# deb822 format: paragraphs separated by blank lines.
	for f in "$etc"/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
		function flush(   n, u, s, i, j, uris, suites, opts) {
			if (types ~ /(^| )deb( |$)/ && enabled != "no" && uri != "") {
				opts = ""
				if (signed != "" && signed ~ /^\//) opts = " [signed-by=" signed "]"
				n = split(uri, uris, " ")
				s = split(suite, suites, " ")
				for (i = 1; i <= n; i++)
					for (j = 1; j <= s; j++)
						print "deb" opts " " uris[i] " " suites[j] " " comps
			}
			types = uri = suite = comps = signed = enabled = ""
		}
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		/^[ \t]/ { next }   # continuation lines (inline keys): ignored
		{
			key = tolower($1); sub(/:$/, "", key)
			val = $0; sub(/^[^:]*:[ \t]*/, "", val)
			if (key == "types") types = val
			else if (key == "uris") uri = val
			else if (key == "suites") suite = val
			else if (key == "components") comps = val
			else if (key == "signed-by") signed = val
			else if (key == "enabled") enabled = tolower(val)
		}
		END { flush() }
		' "$f"
	done
}

# keep SUITE [AS]: the entries of SUITE, SUITE-updates and SUITE-security,
# their suite renamed AS (default SUITE).
keep() {
	sources | awk -v s="$1" -v as="${2:-$1}" '
	{
		# the suite is the first field after the URI
		i = 2
		if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
		suite = $(i + 1)
		if (suite == s || suite == s "-updates" || suite == s "-security") {
			$(i + 1) = as substr(suite, length(s) + 1)
			print
		}
	}' | awk '!seen[$0]++'
}

out=$(keep "$suite")
if [ -z "$out" ] && [ -n "$from" ] && [ "$from" != "$suite" ]; then
	out=$(keep "$from" "$suite")
fi
[ -z "$out" ] || printf '%s\n' "$out"
