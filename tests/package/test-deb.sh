#!/bin/bash
# The Debian package, end to end: builds mailposture_*.deb from a copy of
# the working tree (the checkout stays clean), runs lintian, installs it
# with apt-get, starts the installed milter the way its systemd unit does
# (the unit's User=, Group=, UMask= and ExecStart=, with the installed
# conffile), points a private Postfix at the installed socket, delivers
# mail through it, runs the installed mailposture-audit against that
# Postfix, purges the package and checks that nothing is left. Prints TAP.
#
# Run by scripts/test after make check, as root, under
# tests/harness/with-servers (MP_TEST_RESOLVER is the test NSD). It is not
# part of make check: it changes the system (a package, a system user, the
# postfix user's groups) and undoes it on exit. MP_DEB=FILE tests that
# .deb instead of building one.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"

top=$(cd "$here/../.." && pwd)
: "${TEST_BUILDDIR:=$top/build}"
UNIT=/lib/systemd/system/mailposture-milter.service
CONFFILE=/etc/mailposture/mailposture.conf
SOCK=/run/mailposture/milter.sock

skip() {
	N=$((N + 1))
	echo "ok $N - $1 # SKIP $2"
}
finish() {
	echo "1..$N"
	[ "$FAILED" = 0 ]
	exit $?
}

if ! why=$(mp_postfix_available); then
	echo "1..0 # SKIP $why"
	exit 0
fi
for c in dpkg-buildpackage dh lintian apt-get setpriv; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "1..0 # SKIP $c not found: scripts/install-deps installs it"
		exit 0
	fi
done
if [ -z "${MP_TEST_RESOLVER:-}" ]; then
	echo "Bail out! MP_TEST_RESOLVER not set: run under tests/harness/with-servers"
	exit 1
fi
if dpkg-query -W -f='${Status}' mailposture 2>/dev/null | grep -q 'ok installed'; then
	# Never purge a package this test did not install.
	echo "1..0 # SKIP the package mailposture is already installed on this machine"
	exit 0
fi

D=$MP_HARNESS_DIR
# apt's download sandbox (user _apt) reads the .deb from here.
chmod 755 "$D"
had_user=no
getent passwd mailposture >/dev/null && had_user=yes
added_postfix=no
installed=no

pkg_cleanup() {
	if [ "$installed" = yes ]; then
		[ -f "$D/conffile.orig" ] && cp "$D/conffile.orig" "$CONFFILE"
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q mailposture >> "$D/purge.log" 2>&1
		installed=no
	fi
	if [ "$added_postfix" = yes ]; then
		gpasswd -d postfix mailposture >/dev/null 2>&1
		added_postfix=no
	fi
	# The package keeps its user on purge (as Debian packages do); the
	# test removes the one it caused, so that a run leaves no trace.
	if [ "$had_user" = no ] && getent passwd mailposture >/dev/null; then
		deluser --system --quiet mailposture >/dev/null 2>&1
		getent group mailposture >/dev/null && delgroup --system --quiet mailposture >/dev/null 2>&1
	fi
}
# The milter stops before the package goes; lib.sh removes $D last.
trap 'mp_postfix_cleanup; pkg_cleanup; mp_harness_cleanup' EXIT

# --- build -----------------------------------------------------------------
if [ -n "${MP_DEB:-}" ]; then
	cp "$MP_DEB" "$D/" || { echo "Bail out! cannot read MP_DEB=$MP_DEB"; exit 1; }
	deb="$D/$(basename "$MP_DEB")"
	skip "dpkg-buildpackage builds the package" "MP_DEB=$MP_DEB given"
else
	# Only the files git knows (tracked, or new and not ignored): what a
	# clean clone with these changes would hold, never build/ or configure.
	mkdir -p "$D/src"
	if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$top" && git ls-files -z -c -o --exclude-standard |
			xargs -0 cp --parents -t "$D/src" 2>/dev/null)
		# Files deleted in the working tree but still tracked are skipped.
	else
		(cd "$top" && tar --exclude=./build --exclude=./autom4te.cache -cf - .) |
			(cd "$D/src" && tar -xf -)
	fi
	start=$(date +%s)
	if (cd "$D/src" && dpkg-buildpackage -us -uc -b) > "$D/build.log" 2>&1; then
		ok "dpkg-buildpackage builds the package ($(( $(date +%s) - start )) s)"
	else
		not_ok "dpkg-buildpackage builds the package" "$(tail -n 30 "$D/build.log")"
		finish
	fi
	deb=$(ls "$D"/mailposture_*.deb 2>/dev/null | head -n 1)
	# Kept for a look after the run (the build tree, not the source tree).
	mkdir -p "$TEST_BUILDDIR/tests/package" && cp "$deb" "$D/build.log" "$TEST_BUILDDIR/tests/package/"
fi
echo "# $(basename "$deb")"

# lintian: errors fail the test; warnings are shown.
lintian --fail-on error --pedantic "$deb" > "$D/lintian.out" 2>&1
rc=$?
grep -v 'running with root privileges' "$D/lintian.out" | sed 's/^/# lintian: /'
if [ "$rc" = 0 ]; then ok "lintian reports no errors"; else not_ok "lintian reports no errors"; fi

dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' > "$D/contents"
want="/usr/sbin/mailposture-milter /usr/bin/mailposture-check /usr/bin/mailposture-report
$CONFFILE $UNIT /usr/lib/tmpfiles.d/mailposture.conf
/usr/share/man/man8/mailposture-milter.8.gz /usr/share/man/man8/mailposture-audit.8.gz
/usr/share/man/man1/mailposture-check.1.gz /usr/share/man/man1/mailposture-report.1.gz
/usr/share/man/man5/mailposture.conf.5.gz
/usr/share/doc/mailposture/examples/postfix-main.cf.snippet
/usr/share/doc/mailposture/README.Debian"
# The audit is in the package once selfaudit/ builds it.
[ -f "$top/selfaudit/Makefile.am" ] && want="$want /usr/sbin/mailposture-audit"
missing=""
for f in $want; do grep -qxF "$f" "$D/contents" || missing="$missing $f"; done
if [ -z "$missing" ]; then ok "the package holds the programs, conffile, unit, tmpfiles entry, man pages and examples"
else not_ok "the package holds the programs, conffile, unit, tmpfiles entry, man pages and examples" "missing:$missing"; fi

# --- install ---------------------------------------------------------------
installed=yes
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" > "$D/install.log" 2>&1; then
	ok "apt-get install ./$(basename "$deb")"
else
	not_ok "apt-get install ./$(basename "$deb")" "$(tail -n 20 "$D/install.log")"
	finish
fi
pw=$(getent passwd mailposture)
uid=$(echo "$pw" | cut -d: -f3)
if [ -n "$pw" ] && [ "$uid" -lt 1000 ] && [ "$(echo "$pw" | cut -d: -f6)" = /nonexistent ] &&
    getent group mailposture >/dev/null && [ "$(id -gn mailposture)" = mailposture ]; then
	ok "postinst created the system user and group mailposture (home /nonexistent)"
else
	not_ok "postinst created the system user and group mailposture (home /nonexistent)" "passwd: $pw"
fi
check "$CONFFILE is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' mailposture | grep -q ' $CONFFILE '"
st=$(stat -c '%U:%G %a' /run/mailposture 2>/dev/null)
if [ "$st" = "mailposture:mailposture 750" ]; then ok "/run/mailposture exists (tmpfiles), mailposture:mailposture 750"
else not_ok "/run/mailposture exists (tmpfiles), mailposture:mailposture 750" "got: ${st:-nothing}"; fi
check "the unit is enabled (multi-user.target.wants)" test -L /etc/systemd/system/multi-user.target.wants/mailposture-milter.service
if systemd-analyze verify "$UNIT" > "$D/verify.out" 2>&1; then ok "systemd-analyze verify accepts the unit"
else not_ok "systemd-analyze verify accepts the unit" "$(cat "$D/verify.out")"; fi

# --- the milter as the unit runs it ---------------------------------------
user=$(sed -n 's/^User=//p' "$UNIT")
group=$(sed -n 's/^Group=//p' "$UNIT")
umask_=$(sed -n 's/^UMask=//p' "$UNIT")
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
check "the installed conffile is valid (mailposture-milter -t as $user)" \
	setpriv --reuid="$user" --regid="$group" --init-groups /usr/sbin/mailposture-milter -t -c "$CONFFILE"

# The test settings go into the installed conffile (restored before the
# purge): the unit's command line then runs unchanged. Mail comes from
# 192.0.2.10 (XCLIENT), not from loopback, which skip_networks skips.
cp -p "$CONFFILE" "$D/conffile.orig"
cat > "$CONFFILE" <<EOF
[milter]
dmarc_reject = reject
[dns]
resolver = $MP_TEST_RESOLVER
timeout = 1000
[policy]
authserv_id = mx.example.net
eval_timeout = 5
EOF

# The README.Debian procedure for a Postfix that is not chrooted.
if ! id -nG postfix | tr ' ' '\n' | grep -qx mailposture; then
	adduser --quiet postfix mailposture >/dev/null 2>&1 && added_postfix=yes
fi
check "adduser postfix mailposture" sh -c "id -nG postfix | tr ' ' '\n' | grep -qx mailposture"

MP_MILTER_LOG="$D/milter.log"
# shellcheck disable=SC2086
(umask "${umask_:-0022}"; exec setpriv --reuid="$user" --regid="$group" --init-groups $exec_start) \
	>> "$MP_MILTER_LOG" 2>&1 &
MP_MILTER_PID=$!
for _ in $(seq 1 100); do
	[ -S "$SOCK" ] && break
	kill -0 "$MP_MILTER_PID" 2>/dev/null || break
	sleep 0.1
done
if [ -S "$SOCK" ]; then
	ok "the unit's ExecStart listens on $SOCK"
else
	not_ok "the unit's ExecStart listens on $SOCK" "$exec_start" "$(tail -n 20 "$MP_MILTER_LOG")"
	MP_MILTER_PID=""
	finish
fi
echo "# ExecStart=$exec_start (User=$user Group=$group UMask=$umask_)"
st=$(stat -c '%U:%G %a' "$SOCK")
if [ "$st" = "mailposture:mailposture 660" ]; then ok "the socket is mailposture:mailposture 660"
else not_ok "the socket is mailposture:mailposture 660" "got: $st"; fi
u=$(ps -o user= -p "$MP_MILTER_PID" | tr -d ' ')
if [ "$u" = mailposture ]; then ok "the milter runs as mailposture"; else not_ok "the milter runs as mailposture" "user: $u"; fi

# --- Postfix at the installed socket ---------------------------------------
mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
mp_start_postfix "unix:$SOCK" "local_header_rewrite_clients =" ||
	{ echo "Bail out! postfix did not start"; exit 1; }

send() {
	local id=$1
	shift
	swaks --server "127.0.0.1:$MP_SMTP_PORT" --xclient-addr 192.0.2.10 \
		--helo client.example.org --to rcpt@example.net --timeout 60 \
		--add-header "X-Test-Id: $id" "$@" > "$D/swaks.$id" 2>&1
}
final_reply() {
	grep -E '^(<-|<\*\*) +[0-9]{3}' "$D/swaks.$1" | tail -n 2 | head -n 1
}
saved() {
	local f
	for i in $(seq 1 150); do
		f=$(grep -l -s "^X-Test-Id: $1\$" "$MP_SINK_DIR"/* | head -n 1)
		[ -n "$f" ] && { echo "$f"; return 0; }
		[ $((i % 20)) = 0 ] && mp_postfix_flush
		sleep 0.1
	done
	return 1
}

send pass --from bob@pass.milter.example.net --header "From: <bob@pass.milter.example.net>"
if f=$(saved pass) && ar=$(awk '/^$/ { exit } /^Authentication-Results:/ { p = 1; print; next }
    p && /^[ \t]/ { print; next } { p = 0 }' "$f") &&
    echo "$ar" | grep -q 'mx.example.net; spf=pass' && echo "$ar" | grep -q 'dmarc=pass'; then
	ok "a message through Postfix gets Authentication-Results: spf=pass, dmarc=pass"
	echo "$ar" | sed 's/^/# /'
else
	not_ok "a message through Postfix gets Authentication-Results: spf=pass, dmarc=pass" \
		"$(final_reply pass)" "$(tail -n 5 "$MP_MILTER_LOG")" "$(tail -n 5 "$MP_MAILLOG")"
fi
send fail --from bob@fail.milter.example.net --header "From: <bob@fail.milter.example.net>"
r=$(final_reply fail)
if echo "$r" | grep -q '550 5.7.1'; then ok "a DMARC failure (p=reject, dmarc_reject = reject) gets 550 5.7.1"
else not_ok "a DMARC failure (p=reject, dmarc_reject = reject) gets 550 5.7.1" "reply: $r"; fi
check "the milter logs one line per message" grep -q 'from=pass.milter.example.net spf=pass dmarc=pass' "$MP_MILTER_LOG"

# --- the installed audit against this Postfix ------------------------------
if [ -x /usr/sbin/mailposture-audit ]; then
	/usr/sbin/mailposture-audit --host 127.0.0.1 --port "$MP_SMTP_PORT" \
		--postfix-config "$MP_POSTFIX_DIR" --domain milter.example.net \
		--resolver "$MP_TEST_RESOLVER" --dnsbl-zones "" --timeout 3000 \
		--no-store --json > "$D/audit.json" 2> "$D/audit.err"
	rc=$?
	grade=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["grade"])' "$D/audit.json" 2>/dev/null)
	if [ "$rc" = 0 ] && [ -n "$grade" ]; then ok "mailposture-audit grades this Postfix ($grade)"
	else not_ok "mailposture-audit grades this Postfix" "status $rc" "$(head -c 2000 "$D/audit.err")"; fi
	milter=$(/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
for c in r["checks"]:
    if c["id"] == "host.milter":
        print(c["status"], "-", c.get("finding", ""))' "$D/audit.json" 2>/dev/null)
	if echo "$milter" | grep -q '^PASS'; then ok "mailposture-audit finds the milter wired in ($milter)"
	else not_ok "mailposture-audit finds the milter wired in" "host.milter: ${milter:-absent}"; fi
else
	skip "mailposture-audit grades this Postfix" "no /usr/sbin/mailposture-audit in this package"
	skip "mailposture-audit finds the milter wired in" "no /usr/sbin/mailposture-audit in this package"
fi

# --- purge -----------------------------------------------------------------
mp_stop_milter
cp "$D/conffile.orig" "$CONFFILE"
if DEBIAN_FRONTEND=noninteractive apt-get purge -y -q mailposture > "$D/purge.log" 2>&1; then
	installed=no
	ok "apt-get purge mailposture"
else
	not_ok "apt-get purge mailposture" "$(tail -n 20 "$D/purge.log")"
fi
left=""
for f in /usr/sbin/mailposture-milter /usr/sbin/mailposture-audit /usr/bin/mailposture-check \
    /usr/bin/mailposture-report /etc/mailposture "$UNIT" /usr/lib/tmpfiles.d/mailposture.conf \
    /etc/systemd/system/multi-user.target.wants/mailposture-milter.service \
    /var/lib/systemd/deb-systemd-helper-enabled/mailposture-milter.service.dsh-also \
    /usr/share/doc/mailposture /run/mailposture; do
	[ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done
if [ -z "$left" ]; then ok "nothing of the package is left (programs, /etc/mailposture, the unit and its link, /run/mailposture)"
else not_ok "nothing of the package is left (programs, /etc/mailposture, the unit and its link, /run/mailposture)" "left:$left"; fi
if dpkg-query -W -f='${Status}' mailposture 2>/dev/null | grep -q 'not-installed\|^$' ||
    ! dpkg-query -W mailposture >/dev/null 2>&1; then
	ok "dpkg no longer knows the package"
else
	not_ok "dpkg no longer knows the package" "$(dpkg-query -W -f='${Status}' mailposture)"
fi
finish
