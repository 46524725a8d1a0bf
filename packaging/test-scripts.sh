#!/bin/bash
# Runs the .deb maintainer scripts and the .rpm scriptlets with fake
# systemctl, deb-systemd-helper and deb-systemd-invoke that record their
# calls, with and without a running systemd (/run/systemd/system), and
# compares the calls with what dh_installsystemd and the %systemd_* macros do.
# The booted-systemd test (packaging/e2e.sh) runs the same scripts for real.
#
# Needs root: it runs in a private mount namespace (unshare -m) with a tmpfs
# on /run, so that "systemd is running" can be switched on and off without
# touching the machine.
set -euo pipefail

self=$(realpath "$0")
cd "$(dirname "$self")"
if [ "${1:-}" != --in-namespace ]; then
	exec unshare --mount --propagation private "$self" --in-namespace
fi

mount -t tmpfs -o mode=0755 tmpfs /run
# Everything below lives in this private /run and goes with the namespace.
fake=/run/fake-bin
mkdir "$fake"
log=$fake/calls
for tool in systemctl deb-systemd-helper deb-systemd-invoke; do
	cat >"$fake/$tool" <<'EOF'
#!/bin/sh
echo "${0##*/} $*" >>"$FAKE_LOG"
case "$*" in
*was-enabled*) exit "${FAKE_WAS_ENABLED:-0}" ;;
*is-enabled*) exit "${FAKE_IS_ENABLED:-0}" ;;
esac
exit 0
EOF
	chmod +x "$fake/$tool"
done

fails=0 cases=0
# t DESCRIPTION systemd|none SCRIPT ARG... <<< EXPECTED-CALLS
t() {
	local desc=$1 mode=$2 script=$3 got want
	shift 3
	cases=$((cases + 1))
	want=$(cat)
	if [ "$mode" = systemd ]; then mkdir -p /run/systemd/system; else rm -rf /run/systemd; fi
	[ -d "$fake" ] || { echo "fake tools gone"; exit 1; }
	: >"$log"
	env -i PATH="$fake:/usr/bin:/bin" FAKE_LOG="$log" \
		FAKE_WAS_ENABLED="${WAS:-0}" FAKE_IS_ENABLED="${ENABLED:-0}" ${DPKG_ROOT:+DPKG_ROOT=$DPKG_ROOT} \
		sh "$script" "$@" || { echo "FAIL $desc: $script exited $?"; fails=$((fails + 1)); return; }
	got=$(cat "$log")
	if [ "$got" = "$want" ]; then
		echo "ok   $desc"
	else
		echo "FAIL $desc ($script $*)"
		diff <(echo "$want") <(echo "$got") | sed 's/^/     /'
		fails=$((fails + 1))
	fi
}

# ---------------------------------------------------------------- .deb
t "deb: first install enables and starts the socket" systemd deb/postinst configure "" <<'EOF'
deb-systemd-helper unmask hellod.socket
deb-systemd-helper unmask hellod.service
deb-systemd-helper --quiet was-enabled hellod.socket
deb-systemd-helper enable hellod.socket
systemctl --system daemon-reload
deb-systemd-invoke start hellod.socket
EOF
t "deb: upgrade restarts the service only" systemd deb/postinst configure 0.1.0-1 <<'EOF'
deb-systemd-helper unmask hellod.socket
deb-systemd-helper unmask hellod.service
deb-systemd-helper --quiet was-enabled hellod.socket
deb-systemd-helper enable hellod.socket
systemctl --system daemon-reload
deb-systemd-invoke try-restart hellod.service
deb-systemd-invoke start hellod.socket
EOF
WAS=1 t "deb: upgrade keeps an admin's disable" systemd deb/postinst configure 0.1.0-1 <<'EOF'
deb-systemd-helper unmask hellod.socket
deb-systemd-helper unmask hellod.service
deb-systemd-helper --quiet was-enabled hellod.socket
deb-systemd-helper update-state hellod.socket
systemctl --system daemon-reload
deb-systemd-invoke try-restart hellod.service
deb-systemd-invoke start hellod.socket
EOF
t "deb: install in a chroot (no systemd) only enables" none deb/postinst configure "" <<'EOF'
deb-systemd-helper unmask hellod.socket
deb-systemd-helper unmask hellod.service
deb-systemd-helper --quiet was-enabled hellod.socket
deb-systemd-helper enable hellod.socket
EOF
DPKG_ROOT=/target t "deb: install with DPKG_ROOT only enables" systemd deb/postinst configure "" <<'EOF'
deb-systemd-helper unmask hellod.socket
deb-systemd-helper unmask hellod.service
deb-systemd-helper --quiet was-enabled hellod.socket
deb-systemd-helper enable hellod.socket
EOF
t "deb: prerm remove stops both units" systemd deb/prerm remove <<'EOF'
deb-systemd-invoke stop hellod.socket hellod.service
EOF
t "deb: prerm upgrade does nothing" systemd deb/prerm upgrade 0.2.0-1 </dev/null
t "deb: prerm remove in a chroot does nothing" none deb/prerm remove </dev/null
t "deb: postrm remove reloads and masks" systemd deb/postrm remove <<'EOF'
systemctl --system daemon-reload
deb-systemd-helper mask hellod.socket hellod.service
EOF
t "deb: postrm remove in a chroot masks" none deb/postrm remove <<'EOF'
deb-systemd-helper mask hellod.socket hellod.service
EOF
t "deb: postrm purge cleans the state" systemd deb/postrm purge <<'EOF'
deb-systemd-helper purge hellod.socket hellod.service
deb-systemd-helper unmask hellod.socket hellod.service
EOF
t "deb: postrm upgrade does nothing" systemd deb/postrm upgrade 0.2.0-1 </dev/null

# ---------------------------------------------------------------- .rpm
t "rpm: %post 1 presets and starts the socket" systemd rpm/post 1 <<'EOF'
systemctl --no-reload preset hellod.socket hellod.service
systemctl daemon-reload
systemctl --quiet is-enabled hellod.socket
systemctl start hellod.socket
EOF
ENABLED=1 t "rpm: %post 1 with a disabling preset starts nothing" systemd rpm/post 1 <<'EOF'
systemctl --no-reload preset hellod.socket hellod.service
systemctl daemon-reload
systemctl --quiet is-enabled hellod.socket
EOF
t "rpm: %post 1 in a chroot only presets" none rpm/post 1 <<'EOF'
systemctl --no-reload preset hellod.socket hellod.service
EOF
t "rpm: %post 2 (upgrade) does nothing" systemd rpm/post 2 </dev/null
t "rpm: %preun 0 disables and stops" systemd rpm/preun 0 <<'EOF'
systemctl --no-reload disable hellod.socket hellod.service
systemctl stop hellod.socket hellod.service
EOF
t "rpm: %preun 0 in a chroot only disables" none rpm/preun 0 <<'EOF'
systemctl --no-reload disable hellod.socket hellod.service
EOF
t "rpm: %preun 1 (upgrade) does nothing" systemd rpm/preun 1 </dev/null
t "rpm: %postun 1 (upgrade) restarts the service only" systemd rpm/postun 1 <<'EOF'
systemctl daemon-reload
systemctl try-restart hellod.service
EOF
t "rpm: %postun 0 reloads" systemd rpm/postun 0 <<'EOF'
systemctl daemon-reload
EOF
t "rpm: %postun 1 in a chroot does nothing" none rpm/postun 1 </dev/null

echo "test-scripts: $cases cases, $fails failed"
[ "$fails" = 0 ]
