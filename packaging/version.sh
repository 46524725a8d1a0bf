#!/bin/sh
# Prints the package version of the work tree, always a valid Debian and RPM
# version that grows with history:
#   tag v1.2.3 on HEAD          -> 1.2.3
#   5 commits after tag v1.2.3  -> 1.2.3+git5.gabc1234
#   no tag, 7 commits           -> 0.1.0+git7.gabc1234
#   no commit yet               -> 0.1.0
set -eu
cd "$(dirname "$0")/.."
if desc=$(git describe --tags --long --match 'v[0-9]*' 2>/dev/null); then
	# v1.2.3-5-gabc1234
	hash=${desc##*-}
	rest=${desc%-*}
	count=${rest##*-}
	tag=${rest%-*}
	tag=$(printf %s "${tag#v}" | tr - "~")  # 1.2.3-rc1 -> 1.2.3~rc1
	if [ "$count" = 0 ]; then
		echo "$tag"
	else
		echo "$tag+git$count.$hash"
	fi
elif count=$(git rev-list --count HEAD 2>/dev/null); then
	echo "0.1.0+git$count.g$(git rev-parse --short=8 HEAD)"
else
	echo 0.1.0
fi
