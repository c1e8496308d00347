#!/bin/bash
# mailposture-milter inside a real, private Sendmail (Debian's sendmail-bin
# and sendmail-cf, extracted by scripts/install-deps): headers, forged A-R
# removal, a DMARC reject, SMTP AUTH through Sendmail's own macros, and
# the milter dying while Sendmail runs, with F=T and without F=.
# Runs under tests/harness/with-servers (MP_TEST_RESOLVER is the test NSD)
# and prints TAP. Needs root; skips when the harness cannot run.
#
# Sendmail has no XCLIENT: the client really connects from 127.0.0.2
# (swaks --local-interface). The milter's skip_networks is narrowed to
# 127.0.0.1/32, and tests/zones/sendmail.example.net.zone authorizes
# 127.0.0.2 where a sender should pass (our SPF layer judges 127/8 like
# any address; libspf2's own localhost pass is bypassed).
#
# Two listeners share the milter: MTA on $SMPORT uses the filter from
# conf/mailposture.mc (F=T: tempfail while the milter is away), MTA-open
# on $OPENPORT a copy without F= (mail flows unchecked).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"
. "$here/../harness/sendmail.sh"

: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
: "${TEST_SRCDIR:=$(cd "$here/.." && pwd)}"
MILTER_BIN="$TEST_BUILDDIR/milter/mailposture-milter"
SNIPPET="$TEST_SRCDIR/../conf/mailposture.mc"

if ! why=$(mp_sendmail_available); then
	echo "1..0 # SKIP $why"
	exit 0
fi
if ! getent passwd postfix >/dev/null || ! command -v smtp-sink >/dev/null 2>&1; then
	echo "1..0 # SKIP smtp-sink (package postfix) is needed for the sink"
	exit 0
fi
if [ ! -x "$MILTER_BIN" ]; then
	echo "1..0 # SKIP $MILTER_BIN not built"
	exit 0
fi
if [ -z "${MP_TEST_RESOLVER:-}" ]; then
	echo "Bail out! MP_TEST_RESOLVER not set: run under tests/harness/with-servers"
	exit 1
fi


D=$MP_HARNESS_DIR
chmod 755 "$D"
MPORT=$(mp_free_port)
CONF="$D/mailposture.conf"
MP_MILTER_LOG="$D/milter.log"
export MP_MILTER_BIN="$MILTER_BIN"

write_conf() {
	{
		echo "[milter]"
		echo "socket = inet:$MPORT@127.0.0.1"
		echo "user = nobody"
		echo "pidfile = $D/milter.pid"
		echo "skip_networks = 127.0.0.1/32 ::1"
		echo "received_spf = yes"
		for l in "$@"; do echo "$l"; done
		echo "[dns]"
		echo "resolver = $MP_TEST_RESOLVER"
		echo "timeout = 1000"
		echo "[policy]"
		echo "authserv_id = mx.example.net"
		echo "eval_timeout = 5"
		echo "[log]"
		echo "level = info"
	} > "$CONF.new"
	chmod 644 "$CONF.new"
	mv "$CONF.new" "$CONF"
}
reloads() {
	grep -c 'configuration reloaded' "$MP_MILTER_LOG" 2>/dev/null
}
reload_milter() {
	local before
	before=$(reloads)
	write_conf "$@"
	kill -HUP "$MP_MILTER_PID"
	for _ in $(seq 1 100); do
		[ "$(reloads)" -gt "$before" ] && return 0
		sleep 0.1
	done
	return 1
}

# send ID [swaks options...]: one message from 127.0.0.2 to the F=T
# listener (PORT= overrides); the dialogue goes to $D/swaks.ID.
send() {
	local id=$1
	shift
	swaks --server "127.0.0.1:${PORT:-$SMPORT}" --local-interface "${FROM_IP:-127.0.0.2}" \
		--helo client.example.org --to rcpt@example.net --timeout 60 \
		"$@" > "$D/swaks.$id" 2>&1
}
send_tagged() {
	local id=$1
	shift
	send "$id" --add-header "X-Test-Id: $id" "$@"
}
final_code() {
	grep -E '^(<-|<\*\*) +[0-9]{3}' "$D/swaks.$1" | tail -n 2 | head -n 1 |
		sed -E 's/^(<-|<\*\*) +([0-9]{3}).*/\2/'
}
# Sendmail's queue id from its "250 2.0.0 ID Message accepted" reply.
queue_id() {
	sed -n 's/^<- *250 2\.0\.0 \([A-Za-z0-9]*\) Message accepted.*/\1/p' "$D/swaks.$1"
}
# saved ID: the sink file that holds the message tagged ID (waits; the
# delivery is Sendmail's background child, a moment after the 250).
saved() {
	local f
	for _ in $(seq 1 150); do
		f=$(grep -l -s "^X-Test-Id: $1\$" "$MP_SINK_DIR"/* | head -n 1)
		if [ -n "$f" ]; then
			echo "$f"
			return 0
		fi
		sleep 0.1
	done
	return 1
}
header_of() {
	awk -v name="$2" '
		/^\r?$/ { exit }
		/^[ \t]/ { if (keep) { sub(/^[ \t]+/, " "); cur = cur $0 }; next }
		{ if (keep) print cur; keep = 0 }
		tolower(substr($0, 1, length(name) + 1)) == tolower(name) ":" {
			keep = 1; cur = substr($0, length(name) + 3)
		}
		END { if (keep) print cur }' "$1" | tr -d '\r'
}
has_ar() {
	local f
	f=$(saved "$1") || return 1
	header_of "$f" Authentication-Results | grep -q -- "$2"
}
no_our_ar() {
	local f
	f=$(saved "$1") || return 1
	! grep -q '^Authentication-Results: mx.example.net' "$f"
}

mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
write_conf
if ! mp_start_milter "$CONF"; then
	echo "Bail out! mailposture-milter did not start"
	exit 1
fi

# A second milter on a unix socket: there it negotiates the no-reply
# and skip-stage flags (SMFIP_NR_*, NORCPT, NOEOH, NODATA) that it never
# uses over TCP, and Sendmail must honour them.
USOCK="$D/milter.sock"
UCONF="$D/mailposture-unix.conf"
sed -e "s|^socket = .*|socket = unix:$USOCK|" -e "s|^pidfile = .*|pidfile = $D/milter-unix.pid|" \
	"$CONF" > "$UCONF"
chmod 644 "$UCONF"
"$MILTER_BIN" -f -c "$UCONF" >> "$D/milter-unix.log" 2>&1 &
UPID=$!
MP_HARNESS_PIDS="$MP_HARNESS_PIDS $UPID"
for _ in $(seq 1 100); do
	[ -S "$USOCK" ] && break
	sleep 0.1
done
check "second milter listens on its unix socket" test -S "$USOCK"

SMPORT=$(mp_free_port)
OPENPORT=$(mp_free_port)
while [ "$OPENPORT" = "$SMPORT" ]; do OPENPORT=$(mp_free_port); done
UNIXPORT=$(mp_free_port)
while [ "$UNIXPORT" = "$SMPORT" ] || [ "$UNIXPORT" = "$OPENPORT" ]; do UNIXPORT=$(mp_free_port); done
# The filter as README tells administrators to add it, with our port.
snippet=$(sed "s/inet:8891@127\.0\.0\.1/inet:$MPORT@127.0.0.1/" "$SNIPPET")
mc="$snippet
dnl The same milter without F=: Sendmail carries on when it is away.
MAIL_FILTER(\`mpopen', \`S=inet:$MPORT@127.0.0.1, T=C:10s;S:20s;R:30s;E:60s')dnl
DAEMON_OPTIONS(\`Port=$SMPORT, Addr=127.0.0.1, Name=MTA')dnl
DAEMON_OPTIONS(\`Port=$OPENPORT, Addr=127.0.0.1, Name=MTA-open, InputMailFilters=mpopen')dnl
MAIL_FILTER(\`mpunix', \`S=local:$USOCK, F=T, T=C:10s;S:20s;R:30s;E:60s')dnl
DAEMON_OPTIONS(\`Port=$UNIXPORT, Addr=127.0.0.1, Name=MTA-unix, InputMailFilters=mpunix')dnl
dnl Sendmail's default MAIL FROM list has {auth_authen}; this one does not.
dnl The authenticated-sender case below passes only if Sendmail honours
dnl the list the milter asks for (smfi_setsymlist).
define(\`confMILTER_MACROS_ENVFROM', \`i')dnl"
if ! mp_start_sendmail "$mc"; then
	echo "Bail out! sendmail.cf could not be built"
	exit 1
fi
if ! mp_sendmail_wait_port "$SMPORT" || ! mp_sendmail_wait_port "$OPENPORT" ||
    ! mp_sendmail_wait_port "$UNIXPORT"; then
	echo "Bail out! sendmail is not listening on $SMPORT, $OPENPORT and $UNIXPORT"
	sed 's/^/# /' "$MP_SM_DIR/stdout" | tail -n 20
	exit 1
fi
check "the .cf carries the conf/ snippet's filter (F=T)" \
	grep -q "^Xmailposture, S=inet:$MPORT@127.0.0.1, F=T, T=C:10s;S:20s;R:30s;E:60s" "$MP_SM_DIR/sendmail.cf"
check "Sendmail listens only on its private ports (no 25, no 587)" \
	sh -c "! ss -Hlntp | grep 'pid=$MP_SM_PID,' | awk '{print \$4}' | grep -qv '127.0.0.1:\\($SMPORT\\|$OPENPORT\\|$UNIXPORT\\)\$'"

# --- headers ------------------------------------------------------------------
send_tagged pass --from pass@pass.sendmail.example.net \
	--header "From: <someone@pass.sendmail.example.net>" \
	--add-header "Authentication-Results: mx.example.net; dkim=pass header.d=pass.sendmail.example.net" \
	--add-header "Authentication-Results: other.example.org; spf=fail smtp.mailfrom=kept.example.org" \
	--add-header "Authentication-Results: MX.Example.NET (forged); dmarc=pass header.from=forged.example.org"
check "pass: accepted" test "$(final_code pass)" = 250
check "pass: A-R says spf=pass" has_ar pass "^mx.example.net; spf=pass smtp.mailfrom=\"\?pass@pass.sendmail.example.net"
check "pass: A-R says dmarc=pass" has_ar pass "dmarc=pass (p=reject dis=none) header.from=pass.sendmail.example.net"
f=$(saved pass)
check "pass: Received-SPF names the real client 127.0.0.2" \
	sh -c "f=\$1; awk '/^Received-SPF: pass/ {k=1} k && /client-ip=/ {print; exit}' \"\$f\" | grep -q 'client-ip=127.0.0.2;'" sh "$f"
check "pass: our A-R first, then Received-SPF, then Sendmail's own Received" \
	sh -c "grep -v '^X-\\|^Received: from mx.example.net\\|^[[:space:]]' '$f' | head -n 3 | tr '\\n' '|' |
		grep -q '^Authentication-Results: mx.example.net;[^|]*|Received-SPF: pass[^|]*|Received: from client.example.org (\\[127.0.0.2\\])|'"
check "forged A-R with our authserv-id removed (both of them)" sh -c "! grep -qi 'forged\\|header.d=pass' '$f'"
check "A-R of another authserv-id kept" grep -q "^Authentication-Results: other.example.org; spf=fail" "$f"
check "exactly one A-R with our id" test "$(header_of "$f" Authentication-Results | grep -ci '^mx.example.net')" = 1
check "Sendmail's own Received header is there (the message went through Sendmail)" \
	grep -q "by mx.example.net (8\.[0-9.]*/8\.[0-9.]*) with ESMTP id $(queue_id pass)" "$f"

send_tagged fail --from fail@fail.sendmail.example.net --header "From: <ceo@fail.sendmail.example.net>"
check "fail: accepted by default (dmarc_reject = none)" test "$(final_code fail)" = 250
check "fail: A-R says spf=fail" has_ar fail "spf=fail"
check "fail: A-R says dmarc=fail (p=reject dis=reject)" has_ar fail "dmarc=fail (p=reject dis=reject) header.from=fail.sendmail.example.net"

send_tagged other --from x@other.sendmail.example.net --header "From: <x@other.sendmail.example.net>"
check "127.0.0.2 is judged, not passed: ip4:127.0.0.3 gives spf=fail" has_ar other "spf=fail"

send_tagged soft --from softfail@soft.sendmail.example.net --header "From: <a@soft.sendmail.example.net>"
check "softfail: A-R says spf=softfail" has_ar soft "spf=softfail"
check "softfail: A-R says dmarc=fail (p=none dis=none)" has_ar soft "dmarc=fail (p=none dis=none)"

send_tagged none --from none@none.sendmail.example.net --header "From: <a@none.sendmail.example.net>"
check "none: A-R says spf=none" has_ar none "spf=none"
check "none: A-R says dmarc=none" has_ar none "dmarc=none"

send_tagged temp --from temperror@temp.sendmail.example.net --header "From: <a@temp.sendmail.example.net>"
check "temperror: accepted (temperror = accept)" test "$(final_code temp)" = 250
check "temperror: A-R says spf=temperror" has_ar temp "spf=temperror"
check "temperror: A-R says dmarc=temperror" has_ar temp "dmarc=temperror"

qid=$(queue_id fail)
check "log line carries Sendmail's queue id ({i}) and the client" \
	grep -Eq "^mailposture-milter: $qid: client=unknown\\[127\\.0\\.0\\.2\\] helo=client.example.org .*spf=fail dmarc=fail \\(p=reject dis=reject\\) action=accept" "$MP_MILTER_LOG"

# --- skip rules: Sendmail's own macros -------------------------------------------------
FROM_IP=127.0.0.1 send_tagged loopback --from pass@pass.sendmail.example.net
check "client 127.0.0.1 (skip_networks): no A-R" no_our_ar loopback
check "client 127.0.0.1: the log says why" grep -q "client=.*127.0.0.1.*skipped: client in skip_networks" "$MP_MILTER_LOG"

mp_sendmail_adduser alice 'correct horse' || not_ok "saslpasswd2 could not add a user"
send authbad --from fail@fail.sendmail.example.net -a PLAIN -au alice -ap wrong
check "SMTP AUTH with a wrong password: 535 (Sendmail checks the sasldb)" grep -q '^<\*\* *535 ' "$D/swaks.authbad"
send_tagged authd --from fail@fail.sendmail.example.net --header "From: <ceo@fail.sendmail.example.net>" \
	-a PLAIN -au alice -ap 'correct horse'
check "SMTP AUTH PLAIN accepted by Sendmail" grep -q '^<- *235 ' "$D/swaks.authd"
check "authenticated sender ({auth_authen}): accepted" test "$(final_code authd)" = 250
check "authenticated sender: no A-R" no_our_ar authd
qid=$(queue_id authd)
check "authenticated sender: skipped, with the queue id Sendmail gives at MAIL FROM" \
	grep -q "^mailposture-milter: $qid: client=unknown\\[127.0.0.2\\] mailfrom=<fail@fail.sendmail.example.net> skipped: authenticated as alice" "$MP_MILTER_LOG"

# --- the milter on a unix socket (no-reply and skipped stages negotiated) ---------
PORT=$UNIXPORT send_tagged upass --from pass@pass.sendmail.example.net \
	--header "From: <someone@pass.sendmail.example.net>" \
	--add-header "Authentication-Results: other.example.org; spf=fail smtp.mailfrom=kept.example.org" \
	--add-header "Authentication-Results: mx.example.net; dmarc=pass header.from=uforged.example.org"
check "unix socket: pass gets our A-R" has_ar upass "^mx.example.net; spf=pass .*dmarc=pass (p=reject dis=none)"
f=$(saved upass)
check "unix socket: forged A-R removed, foreign one kept" \
	sh -c "! grep -q uforged '$f' && grep -q '^Authentication-Results: other.example.org' '$f'"
PORT=$UNIXPORT send_tagged ufail --from fail@fail.sendmail.example.net --header "From: <ceo@fail.sendmail.example.net>"
check "unix socket: fail gets dmarc=fail" has_ar ufail "dmarc=fail (p=reject dis=reject)"
PORT=$UNIXPORT send_tagged uauth --from fail@fail.sendmail.example.net -a PLAIN -au alice -ap 'correct horse'
check "unix socket: authenticated sender skipped" no_our_ar uauth
check "unix socket: the skip is logged with the queue id" \
	grep -q "^mailposture-milter: $(queue_id uauth): .* skipped: authenticated as alice" "$D/milter-unix.log"

# What Sendmail agreed to, from its debug output (-d64.5).
SMDBG="$MP_SM_DIR/debug.log"
check "Sendmail took the milter's MAIL FROM macro list (smfi_setsymlist)" \
	grep -q 'milter_getsymlist(mailposture, macros.envfrom, "i {auth_authen}")=2' "$SMDBG"
# The body is asked for (DKIM), with SKIP to stop it early, and header
# values keep their leading space (LEADSPC) for simple canonicalization.
check "TCP: unknown commands skipped; SKIP and LEADSPC agreed (pflags 0x100500)" \
	grep -q 'milter_negotiate(mailposture): received: version 6, fflags 0x[0-9a-f]*, pflags 0x100500$' "$SMDBG"
check "unix socket: no-reply (connect, HELO, MAIL, headers, end of headers), skipped stages, SKIP and LEADSPC agreed (pflags 0x147788)" \
	grep -q 'milter_negotiate(mpunix): received: version 6, fflags 0x[0-9a-f]*, pflags 0x147788$' "$SMDBG"

# --- actions ---------------------------------------------------------------------
if reload_milter "dmarc_reject = reject" "dmarc_quarantine = quarantine"; then
	ok "SIGHUP reloads (dmarc_reject = reject, dmarc_quarantine = quarantine)"
else
	not_ok "SIGHUP reloads (dmarc_reject = reject, dmarc_quarantine = quarantine)"
fi
send_tagged rej --from fail@fail.sendmail.example.net --header "From: <ceo@fail.sendmail.example.net>"
check "DMARC p=reject with dmarc_reject = reject: 550 5.7.1 through Sendmail" \
	sh -c "grep -Eq '^<\\*\\* +550 5\\.7\\.1 .*fail\\.sendmail\\.example\\.net' '$D/swaks.rej'"
check "rejected message not delivered" sh -c "sleep 1; ! grep -l -s '^X-Test-Id: rej\$' '$MP_SINK_DIR'/* | grep -q ."
send_tagged quar --from fail@quar.sendmail.example.net --header "From: <a@quar.sendmail.example.net>"
check "DMARC p=quarantine with dmarc_quarantine = quarantine: accepted" test "$(final_code quar)" = 250
qid=$(queue_id quar)
held=no
for _ in $(seq 1 50); do
	[ -f "$MP_SM_DIR/queue/hf$qid" ] && { held=yes; break; }
	sleep 0.1
done
check "quarantine: Sendmail holds it in its quarantine queue (hf$qid, smfi_quarantine)" test "$held" = yes
check "quarantine: the reason is ours" grep -q '^qDMARC p=quarantine$' "$MP_SM_DIR/queue/hf$qid"
check "quarantine: not delivered" sh -c "! grep -l -s '^X-Test-Id: quar\$' '$MP_SINK_DIR'/* | grep -q ."
send_tagged passrej --from pass@pass.sendmail.example.net --header "From: <a@pass.sendmail.example.net>"
check "a passing message still goes through" has_ar passrej "dmarc=pass"
reload_milter || true

# --- the milter goes away while Sendmail runs --------------------------------------
mp_stop_milter KILL
send_tagged downT --from pass@pass.sendmail.example.net --header "From: <a@pass.sendmail.example.net>"
check "milter down, F=T: Sendmail answers 451 4.3.2 (tempfail)" \
	sh -c "grep -Eq '^<\\*\\* +451 4\\.3\\.2 ' '$D/swaks.downT'"
PORT=$OPENPORT send_tagged downopen --from fail@fail.sendmail.example.net --header "From: <a@fail.sendmail.example.net>"
check "milter down, no F= flag: accepted" test "$(final_code downopen)" = 250
check "milter down, no F= flag: delivered without our A-R" no_our_ar downopen

mp_start_milter "$CONF" || true
send_tagged back --from pass@pass.sendmail.example.net --header "From: <a@pass.sendmail.example.net>"
check "milter restarted: F=T listener evaluates again" has_ar back "dmarc=pass"
PORT=$OPENPORT send_tagged backopen --from pass@pass.sendmail.example.net --header "From: <a@pass.sendmail.example.net>"
check "milter restarted: the other listener too" has_ar backopen "dmarc=pass"

# Killed in the middle of a stream to the F=T listener: every message
# is either accepted with our header or tempfailed (the client keeps it);
# none is rejected, none passes unchecked.
rm -f "$D"/swaks.stream*
(
	for i in $(seq 1 20); do
		send "stream$i" --from pass@pass.sendmail.example.net --add-header "X-Test-Id: stream$i" \
			--header "From: <a@pass.sendmail.example.net>"
	done
) &
streamer=$!
for _ in $(seq 1 100); do
	[ "$(ls "$D"/swaks.stream* 2>/dev/null | wc -l)" -ge 6 ] && break
	sleep 0.05
done
mp_stop_milter KILL
sleep 0.3
mp_start_milter "$CONF" || true
wait "$streamer"
accepted=0 tempfailed=0 other=0 unchecked=0
for i in $(seq 1 20); do
	case $(final_code "stream$i") in
	250)
		accepted=$((accepted + 1))
		has_ar "stream$i" "dmarc=pass" || unchecked=$((unchecked + 1)) ;;
	4[0-9][0-9]) tempfailed=$((tempfailed + 1)) ;;
	*) other=$((other + 1)) ;;
	esac
done
echo "# stream through F=T: $accepted accepted, $tempfailed tempfailed, $other other"
check "milter killed mid-stream (F=T): every message accepted or tempfailed" test "$other" = 0
check "milter killed mid-stream (F=T): the kill was seen (some tempfailed)" test "$tempfailed" -gt 0
check "milter killed mid-stream (F=T): none accepted without our A-R" test "$unchecked" = 0
send_tagged afterstream --from pass@pass.sendmail.example.net --header "From: <a@pass.sendmail.example.net>"
check "after the stream: the restarted milter evaluates again" has_ar afterstream "dmarc=pass"

# --- stop ---------------------------------------------------------------------------
mp_stop_milter TERM
check "SIGTERM: clean exit (status 0)" test "${MP_MILTER_STATUS:-x}" = 0
kill -TERM "$UPID"
for _ in $(seq 1 100); do kill -0 "$UPID" 2>/dev/null || break; sleep 0.1; done
{ wait "$UPID"; } 2>/dev/null
check "SIGTERM: the unix-socket milter exits clean too (status 0)" test "$?" = 0
check "no sanitizer report in the milter logs" sh -c "! grep -q 'ERROR: AddressSanitizer\\|runtime error:\\|LeakSanitizer' '$MP_MILTER_LOG' '$D/milter-unix.log'"

echo "1..$N"
if [ "$FAILED" -gt 0 ]; then
	echo "# milter log (last 30 lines):"
	tail -n 30 "$MP_MILTER_LOG" | sed 's/^/# /'
	echo "# sendmail debug log (last 30 lines):"
	tail -n 30 "$MP_SM_DIR/debug.log" 2>/dev/null | sed 's/^/# /'
fi
exit 0
