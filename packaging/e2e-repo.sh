# shellcheck shell=bash disable=SC2154 # run, here, deb, ...: e2e.sh's
# Scenario 10 of packaging/e2e.sh, sourced by it (same container, same
# helpers; $deb, $deb_next, $rpm_pkg and $here are e2e.sh's): hellod from its
# signed repository, the way the README tells a user.
#   10a. the repository (packaging/repo.sh, one throwaway key for the whole
#        scenario) served over HTTP on the container's loopback by a server
#        this script starts and stops by PID; its checks include the dnf
#        side (rpm -K, repomd.xml.asc)
#   10b. key and hellod.sources fetched with curl, "apt-get update" verifies
#        the signature, "apt install hellod" by name: socket enabled,
#        listening, serving
#   10c. a newer version published into the same repository, then
#        "apt-get update && apt upgrade" while four clients keep connecting:
#        no failed request, the socket is never restarted
#   10d. a tampered InRelease: "apt-get update" reports the bad signature
#        and keeps the genuine lists (apt warns, exit 0); without earlier
#        lists it exits non-zero with E: and keeps nothing; the genuine
#        InRelease again: update clean
#   10e. apt purge; the server is stopped

repo_key=$("$here/repo-key.sh") || fail "repo-key.sh failed"
repo_url=""
http_port() { sed -n 's/^Serving HTTP on [^ ]* port \([0-9][0-9]*\) .*/\1/p' "$run/http.log" | head -1; }
http_up() { [ -n "$(http_port)" ]; }
# publish NAME PACKAGE...: builds the repository $run/www/NAME from the
# packages and makes it the one served at $repo_url (a symlink, swapped
# atomically).
publish() {
	local name=$1
	shift
	HELLOD_SIGNING_KEY=$repo_key "$here/repo.sh" "$run/www/$name" "$repo_url" "$@" >"$run/repo-$name.log" 2>&1 ||
		fail "repo.sh $name: $(tail -20 "$run/repo-$name.log")"
	ln -sfn "$name" "$run/www/hellod.new"
	mv -T "$run/www/hellod.new" "$run/www/hellod"
}
# apt_update LOG: apt-get update in the container; fails on any W:/E:/Err:.
apt_update() {
	inbox timeout 120 apt-get update -q >"$1" 2>&1 || { tail -20 "$1"; return 1; }
	! grep -E '^(W|E|Err):' "$1" || return 1
}
candidate() { inbox apt-cache policy hellod | sed -n 's/^ *Candidate: //p'; }
# shellcheck disable=SC2016 # dpkg-query's format
installed() { inbox dpkg-query -W -f '${Version}' hellod 2>/dev/null; }

# ---------------------------------------------------------------- 10a
step "10a. signed repository served on the container's loopback (HTTP)"
mkdir -p "$run/www"
# Port 0: the server picks a free one and says which. nsenter itself, not
# the innet function: nsenter execs the server in place, so $! is the
# server's PID (a backgrounded function is a subshell, whose kill left the
# server running).
# shellcheck disable=SC2154 # pid1: set by e2e-lib.sh
nsenter -t "$pid1" --net python3 -u -m http.server --bind 127.0.0.1 --directory "$run/www" 0 >"$run/http.log" 2>&1 &
server_pids+=($!)
poll 20 "the repository's HTTP server to listen" http_up
# The PID held is the server's own (the one kill stops), not a wrapper's.
grep -qF http.server "/proc/${server_pids[-1]}/cmdline" ||
	fail "PID ${server_pids[-1]}, held for the repository's server, is not the server"
repo_url=http://127.0.0.1:$(http_port)/hellod
repo_pkgs=("$deb")
[ -z "$rpm_pkg" ] || repo_pkgs+=("$rpm_pkg")
publish r1 "${repo_pkgs[@]}"
grep '^repo-check: ok' "$run/repo-r1.log" | sed 's/^repo-check: ok: /    ok: /'
ok "$(grep -c '^repo-check: ok' "$run/repo-r1.log") checks of repo.sh passed; served at $repo_url"
v1=$(dpkg-deb -f "$deb" Version) v2=$(dpkg-deb -f "$deb_next" Version)

# ---------------------------------------------------------------- 10b
step "10b. key + hellod.sources, apt-get update, apt install hellod"
inbox install -d -m 0755 /etc/apt/keyrings
inbox curl -fsSL -o /etc/apt/keyrings/hellod.gpg "$repo_url/hellod.gpg" || fail "curl $repo_url/hellod.gpg"
inbox curl -fsSL -o /etc/apt/sources.list.d/hellod.sources "$repo_url/hellod.sources" || fail "curl $repo_url/hellod.sources"
apt_update "$run/apt-update1.log" || fail "apt-get update: $(cat "$run/apt-update1.log")"
grep -q "^Get:[0-9]* $repo_url stable InRelease" "$run/apt-update1.log" ||
	fail "apt-get update did not fetch InRelease: $(cat "$run/apt-update1.log")"
ok "apt-get update: $(grep -c '^Get:' "$run/apt-update1.log") files fetched, signature verified (no W:/E:)"
[ "$(candidate)" = "$v1" ] || fail "apt-cache policy: candidate $(candidate), want $v1"
inbox timeout 180 apt install -y -q hellod >"$run/apt-install-repo.log" 2>&1 ||
	fail "apt install hellod: $(tail -20 "$run/apt-install-repo.log")"
[ "$(installed)" = "$v1" ] || fail "installed hellod $(installed), want $v1"
[ "$(inbox systemctl is-enabled hellod.socket)" = enabled ] || fail "hellod.socket not enabled"
is_active hellod.socket active || fail "hellod.socket is $(inbox systemctl is-active hellod.socket)"
expect_hello >/dev/null
ok "apt install hellod: $v1 from $repo_url; hellod.socket enabled and active; 200 'Hello, World!'"

# ---------------------------------------------------------------- 10c
step "10c. $v2 published; apt-get update && apt upgrade under load"
repo_pkgs+=("$deb_next")
publish r2 "${repo_pkgs[@]}"
mp=$(main_pid)
sock_since=$(prop hellod.socket ActiveEnterTimestampMonotonic)
repo_upgrade() {
	apt_update "$run/apt-update2.log" || { echo "apt-get update: $(cat "$run/apt-update2.log")"; return 1; }
	[ "$(candidate)" = "$v2" ] || { echo "candidate $(candidate), want $v2"; return 1; }
	inbox timeout 180 apt upgrade -y -q >"$run/apt-upgrade-repo.log" 2>&1 ||
		{ tail -20 "$run/apt-upgrade-repo.log"; return 1; }
}
under_load "apt-get update && apt upgrade" repo_upgrade
[ "$(installed)" = "$v2" ] || fail "after apt upgrade: hellod $(installed), want $v2"
main_pid_is_new "$mp" || fail "apt upgrade did not restart hellod.service"
[ "$(prop hellod.socket ActiveEnterTimestampMonotonic)" = "$sock_since" ] || fail "hellod.socket was restarted"
ok "hellod $v2 from the repository (MainPID $mp -> $(main_pid)); hellod.socket never restarted"

# ---------------------------------------------------------------- 10d
step "10d. a tampered InRelease is refused"
cp -a "$run/www/r2" "$run/www/r3"
sed -i 's/^Origin: hellod$/Origin: hellox/' "$run/www/r3/dists/stable/InRelease"
grep -q '^Origin: hellox$' "$run/www/r3/dists/stable/InRelease" || fail "could not tamper with InRelease"
ln -sfn r3 "$run/www/hellod.new"
mv -T "$run/www/hellod.new" "$run/www/hellod"
# bad_update LOG: apt-get update, its exit status in $rc; the output must
# name InRelease's failure (Err:) and the signature.
bad_update() {
	rc=0
	inbox timeout 120 apt-get update -q >"$1" 2>&1 || rc=$?
	if ! grep -qE '^Err:[0-9]+ .* InRelease$' "$1" || ! grep -qi 'signature' "$1"; then
		fail "apt-get update (exit $rc) did not refuse the tampered InRelease: $(cat "$1")"
	fi
}
lists_inrelease() { inbox sh -c 'cat /var/lib/apt/lists/*127.0.0.1*_InRelease'; }
# With the genuine lists of 10c on disk apt warns and keeps them (exit 0).
bad_update "$run/apt-update-tampered.log"
cmp -s <(lists_inrelease) "$run/www/r2/dists/stable/InRelease" ||
	fail "after the tampered update /var/lib/apt/lists does not hold the genuine InRelease"
ok "apt-get update (exit $rc) refused it and kept the genuine lists:"
grep -E '^(W|E):' "$run/apt-update-tampered.log" | cut -c1-150 | sed 's/^/        /'
# On a host that has no lists of hellod yet it is an error.
inbox find /var/lib/apt/lists -name '*127.0.0.1*' -delete
bad_update "$run/apt-update-tampered2.log"
[ "$rc" != 0 ] || fail "apt-get update without earlier lists exits 0 on a tampered InRelease"
grep -q '^E: ' "$run/apt-update-tampered2.log" || fail "no E: line: $(cat "$run/apt-update-tampered2.log")"
# (the refused download stays in lists/partial/, which apt does not read)
kept=$(inbox find /var/lib/apt/lists -maxdepth 1 -name '*127.0.0.1*')
[ -z "$kept" ] || fail "lists kept from the tampered repository: $kept"
! inbox apt-cache policy hellod | grep -q 127.0.0.1 || fail "apt-cache policy still lists the repository's hellod"
ok "without earlier lists: apt-get update exit $rc, no list kept, apt knows no hellod of the repository: $(grep -m1 '^E: ' "$run/apt-update-tampered2.log" | cut -c1-120)"
ln -sfn r2 "$run/www/hellod.new"
mv -T "$run/www/hellod.new" "$run/www/hellod"
apt_update "$run/apt-update3.log" || fail "apt-get update with the good InRelease again: $(cat "$run/apt-update3.log")"
ok "the genuine InRelease again: apt-get update clean, candidate $(candidate)"

# ---------------------------------------------------------------- 10e
step "10e. apt purge hellod; the repository's server stopped"
inbox timeout 180 apt-get purge -y -q hellod >"$run/apt-purge-repo.log" 2>&1 ||
	fail "apt-get purge: $(tail -20 "$run/apt-purge-repo.log")"
port_closed || fail "port 8000 still accepts connections after purge"
inbox rm -f /etc/apt/sources.list.d/hellod.sources /etc/apt/keyrings/hellod.gpg
for p in "${server_pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null || true; done
server_pids=()
requests=$(grep -c '"GET /hellod/' "$run/http.log" || true)
ok "purged; the server served $requests GETs and is stopped"
