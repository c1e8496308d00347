#!/bin/bash
# mailposture-milter inside a real, private Postfix: headers, actions,
# skip rules, hostile headers, a killed milter and a SIGHUP reload.
# Runs under tests/harness/with-servers (MP_TEST_RESOLVER is the test NSD)
# and prints TAP. Needs root (a private Postfix instance) and the Debian
# packages postfix and swaks; skips otherwise.
#
# Clients appear to Postfix as 192.0.2.10 through XCLIENT: libspf2 passes
# every 127/8 client, and 127/8 is in the milter's default skip_networks.
# Senders live in tests/zones/milter.example.net.zone.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"
. "$here/../harness/milter-mail.sh"

: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
mp_milter_prelude MP_TEST_RESOLVER

# write_conf [NAME = VALUE lines for [milter]]
write_conf() {
	{
		echo "[milter]"
		echo "socket = inet:$MPORT@127.0.0.1"
		echo "user = nobody"
		echo "pidfile = $D/milter.pid"
		for l in "$@"; do echo "$l"; done
		echo "[dns]"
		echo "resolver = ${RESOLVER:-$MP_TEST_RESOLVER}"
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
# reload_milter [NAME = VALUE lines]: rewrites the config, sends SIGHUP
# and waits until the milter says it reloaded.
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

SEQ=0
# send ID [swaks options...]: one message from 192.0.2.10 (mp_send).
send() {
	local id=$1
	shift
	mp_send "$id" 192.0.2.10 "$@"
}
send_tagged() {
	local id=$1
	shift
	send "$id" --add-header "X-Test-Id: $id" "$@"
}
final_code() { mp_final_code "$1"; }
final_reply() { mp_final_reply "$1"; }
saved() { mp_saved "$1"; }
header_of() { mp_header_of "$1" "$2"; }
has_ar() {
	local f
	f=$(saved "$1") || return 1
	header_of "$f" Authentication-Results | grep -q -- "$2"
}

mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
# Postfix adds a missing From (from the envelope) for the clients in
# local_header_rewrite_clients; none here, so the milter sees what was sent.
mp_start_postfix "inet:127.0.0.1:$MPORT" "local_header_rewrite_clients =" || { echo "Bail out! postfix did not start"; exit 1; }

# --- the daemon's command line --------------------------------------------
write_conf
check "-t accepts a valid configuration" "$MILTER_BIN" -t -c "$CONF"
printf '[milter]\ndmarc_reject = maybe\n' > "$D/bad.conf"
"$MILTER_BIN" -t -c "$D/bad.conf" > "$D/t.out" 2>&1
rc=$?
if [ "$rc" = 2 ] && grep -q dmarc_reject "$D/t.out"; then
	ok "-t rejects a bad value with status 2 and names the option"
else
	not_ok "-t rejects a bad value with status 2 and names the option" "status $rc" "$(cat "$D/t.out")"
fi
printf '[milter]\nsocket = inet:%s@127.0.0.1\nuser =\npidfile =\n[dns]\nresolver = %s\n' \
	"$(mp_free_port)" "$MP_TEST_RESOLVER" > "$D/root.conf"
timeout 20 "$MILTER_BIN" -f -c "$D/root.conf" > "$D/root.out" 2>&1
rc=$?
if [ "$rc" = 2 ] && grep -q 'refusing to run as root' "$D/root.out"; then
	ok "refuses to run as root without user or allow_root"
else
	not_ok "refuses to run as root without user or allow_root" "status $rc" "$(cat "$D/root.out")"
fi
# A unix socket gets socket_mode and [milter] user from the start (umask,
# lchown), and a link planted at the pidfile path is replaced, never
# written through (both done as root, in a directory the user may own).
mkdir -p "$D/usock"
echo keep > "$D/victim"
ln -sf "$D/victim" "$D/usock/milter.pid"
printf '[milter]\nsocket = unix:%s\nsocket_mode = 0620\nuser = nobody\npidfile = %s\n[dns]\nresolver = %s\n[policy]\nauthserv_id = mx.example.net\n' \
	"$D/usock/milter.sock" "$D/usock/milter.pid" "$MP_TEST_RESOLVER" > "$D/unix.conf"
"$MILTER_BIN" -f -c "$D/unix.conf" > "$D/unix.out" 2>&1 &
upid=$!
for _ in $(seq 1 100); do
	[ -S "$D/usock/milter.sock" ] && grep -q 'started' "$D/unix.out" && break
	sleep 0.1
done
check "unix socket: created with socket_mode 0620" test "$(stat -c %a "$D/usock/milter.sock" 2>/dev/null)" = 620
check "unix socket: owned by [milter] user" test "$(stat -c %U "$D/usock/milter.sock" 2>/dev/null)" = nobody
check "pidfile: a planted link is not written through" test "$(cat "$D/victim")" = keep
check "pidfile: a regular file with the pid" sh -c "test -f '$D/usock/milter.pid' && ! test -L '$D/usock/milter.pid' && grep -qx '$upid' '$D/usock/milter.pid'"
check "startup line names the authserv-id" grep -q "started: socket unix:.*authserv-id mx.example.net" "$D/unix.out"
# SIGHUP right before SIGTERM: the reload thread is stopped and joined
# before the engine goes, and the process still exits clean.
kill -HUP "$upid" 2>/dev/null
kill -TERM "$upid" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$upid" 2>/dev/null || break; sleep 0.1; done
{ wait "$upid"; } 2>/dev/null
rc=$?
if [ "$rc" = 0 ] && ! grep -q 'AddressSanitizer\|runtime error:\|LeakSanitizer' "$D/unix.out"; then
	ok "SIGHUP then SIGTERM: clean exit (status 0, no sanitizer report)"
else
	not_ok "SIGHUP then SIGTERM: clean exit (status 0, no sanitizer report)" "status $rc" "$(tail -n 20 "$D/unix.out")"
fi
check "--help exits 0" "$MILTER_BIN" --help
check "-V prints the version" sh -c "'$MILTER_BIN' -V | grep -q '^mailposture-milter '"

# --- start ------------------------------------------------------------------
write_conf "received_spf = yes"
if ! mp_start_milter "$CONF"; then
	echo "Bail out! mailposture-milter did not start"
	exit 1
fi
check "pidfile holds the milter's pid" grep -qx "$MP_MILTER_PID" "$D/milter.pid"
user=$(ps -o user= -p "$MP_MILTER_PID" | tr -d ' ')
if [ "$user" = nobody ]; then ok "runs as [milter] user after binding"; else not_ok "runs as [milter] user after binding" "user: $user"; fi

# --- verdict headers ---------------------------------------------------------
send_tagged pass --from pass@pass.milter.example.net \
	--header "From: <someone@pass.milter.example.net>" \
	--add-header "Authentication-Results: mx.example.net; dkim=pass header.d=pass.milter.example.net" \
	--add-header "Authentication-Results: other.example.org; spf=fail smtp.mailfrom=kept.example.org" \
	--add-header "Authentication-Results: MX.Example.NET (forged); dmarc=pass header.from=forged.example.org"
check "pass: accepted" test "$(final_code pass)" = 250
check "pass: A-R says spf=pass" has_ar pass "^mx.example.net; spf=pass smtp.mailfrom=\"\?pass@pass.milter.example.net"
check "pass: A-R says dmarc=pass" has_ar pass "dmarc=pass (p=reject dis=none) header.from=pass.milter.example.net"
f=$(saved pass)
check "pass: our A-R is the first header" sh -c "sed -n '1,12p' '$f' | grep -v '^X-\\|^Received: from mx.example.net\\|^[[:space:]]' | head -n 1 | grep -q '^Authentication-Results: mx.example.net;'"
check "pass: Received-SPF added (received_spf = yes)" sh -c "grep -q '^Received-SPF: pass' '$f'"
check "forged A-R with our authserv-id removed (both of them)" sh -c "! grep -qi 'forged\\|header.d=pass' '$f'"
check "A-R of another authserv-id kept" grep -q "^Authentication-Results: other.example.org; spf=fail" "$f"
check "exactly one A-R with our id" test "$(header_of "$f" Authentication-Results | grep -ci '^mx.example.net')" = 1

send_tagged fail --from fail@fail.milter.example.net --header "From: <ceo@fail.milter.example.net>"
check "fail: accepted by default (dmarc_reject = none)" test "$(final_code fail)" = 250
check "fail: A-R says spf=fail" has_ar fail "spf=fail"
check "fail: A-R says dmarc=fail (p=reject dis=reject)" has_ar fail "dmarc=fail (p=reject dis=reject) header.from=fail.milter.example.net"

send_tagged soft --from softfail@soft.milter.example.net --header "From: <a@soft.milter.example.net>"
check "softfail: A-R says spf=softfail" has_ar soft "spf=softfail"
check "softfail: A-R says dmarc=fail (p=none dis=none)" has_ar soft "dmarc=fail (p=none dis=none)"

send_tagged none --from none@none.milter.example.net --header "From: <a@none.milter.example.net>"
check "none: A-R says spf=none" has_ar none "spf=none"
check "none: A-R says dmarc=none" has_ar none "dmarc=none"

send_tagged temp --from temperror@temp.milter.example.net --header "From: <a@temp.milter.example.net>"
check "temperror: accepted (temperror = accept)" test "$(final_code temp)" = 250
check "temperror: A-R says spf=temperror" has_ar temp "spf=temperror"
check "temperror: A-R says dmarc=temperror" has_ar temp "dmarc=temperror"

check "one log line per message with queue id, client, SPF, DMARC, action, posture, ms" \
	grep -Eq '^mailposture-milter: [0-9A-F]+: client=unknown\[192\.0\.2\.10\] .*spf=fail dmarc=fail \(p=reject dis=reject\) action=accept posture=[0-9]+/[A-F][+-]?\?? ms=[0-9]+' "$MP_MILTER_LOG"

# --- several From, no From ---------------------------------------------------
send_tagged multi --from pass@pass.milter.example.net \
	--header "From: <a@pass.milter.example.net>, <b@spoof.milter.example.net>"
check "several From domains: strictest result (spoof's p=reject)" has_ar multi "dmarc=fail (p=reject dis=reject) header.from=spoof.milter.example.net"

cat > "$D/nofrom.eml" <<'EOF'
To: rcpt@example.net
Subject: no From at all
X-Test-Id: nofrom

body
EOF
send nofrom --from pass@pass.milter.example.net --data "@$D/nofrom.eml"
check "no From: accepted (no_from = accept)" test "$(final_code nofrom)" = 250
check "no From: A-R says dmarc=permerror with the reason" has_ar nofrom "dmarc=permerror reason=\"no From header\""

# --- hostile headers -------------------------------------------------------------
big=$(head -c 204800 /dev/zero | tr '\0' 'x')
{
	echo "From: <a@pass.milter.example.net>"
	echo "To: rcpt@example.net"
	echo "Subject: a 200 KB header"
	echo "X-Test-Id: bighdr"
	printf 'X-Big: %s\n' "$(echo "$big" | fold -w 900 | head -n 230 | sed '2,$s/^/ /')"
	echo
	echo "body"
} > "$D/bighdr.eml"
send bighdr --from pass@pass.milter.example.net --data "@$D/bighdr.eml"
check "200 KB header: accepted" test "$(final_code bighdr)" = 250
check "200 KB header: saved and evaluated" has_ar bighdr "dmarc=pass"

{
	printf 'From: <a@spoof.milter.example.net>\n'
	printf 'From: "%s" <b@pass.milter.example.net>\n' "$(head -c 70000 /dev/zero | tr '\0' 'y')"
	printf 'To: rcpt@example.net\nX-Test-Id: hugefrom\nSubject: two From, one huge\n\nbody\n'
} > "$D/hugefrom.eml"
send hugefrom --from pass@pass.milter.example.net --data "@$D/hugefrom.eml"
check "From past max_header_bytes: message kept" test "$(final_code hugefrom)" = 250
check "From past max_header_bytes: still counted (not a pass)" sh -c "f=\$(grep -l -s '^X-Test-Id: hugefrom' '$MP_SINK_DIR'/*) && grep -q '^Authentication-Results: mx.example.net;' \$f && ! grep -q 'dmarc=pass' \$f"

{
	echo "From: <a@pass.milter.example.net>"
	echo "To: rcpt@example.net"
	echo "X-Test-Id: manyar"
	for i in $(seq 1 150); do echo "Authentication-Results: relay$i.example.org; spf=pass smtp.mailfrom=x@example.org"; done
	for i in $(seq 1 3); do echo "Authentication-Results: mx.example.net; dmarc=pass header.from=forged$i.example.org"; done
	echo "Subject: 150 A-R headers"
	echo
	echo "body"
} > "$D/manyar.eml"
send manyar --from pass@pass.milter.example.net --data "@$D/manyar.eml"
f=$(saved manyar)
check "150 foreign A-R (past max_headers): message kept and evaluated" has_ar manyar "dmarc=pass"
check "forged A-R after 150 others still removed" sh -c "! grep -q 'forged[0-9].example.org' '$f'"
check "the 150 foreign A-R stay" test "$(grep -c '^Authentication-Results: relay' "$f")" = 150

# A From with a long display name after enough A-R fields to fill
# max_headers: From has a budget of its own and is kept whole, so it
# still parses and DMARC is evaluated.
{
	echo "To: rcpt@example.net"
	echo "X-Test-Id: longname"
	for i in $(seq 1 80); do echo "Authentication-Results: relay$i.example.org; spf=pass smtp.mailfrom=x@example.org"; done
	printf 'From: "%s" <a@pass.milter.example.net>\n' "$(head -c 1500 /dev/zero | tr '\0' 'n')"
	echo "Subject: long display name after 80 A-R"
	echo
	echo "body"
} > "$D/longname.eml"
send longname --from pass@pass.milter.example.net --data "@$D/longname.eml"
check "long From display name past max_headers: kept whole, DMARC evaluated" has_ar longname "dmarc=pass"

python3 - "$MP_SMTP_PORT" > "$D/nul.out" 2>&1 <<'EOF'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60)
s.ehlo("client.example.org")
s.docmd("XCLIENT", "ADDR=192.0.2.10")
s.ehlo("client.example.org")
msg = (b"From: <a@pass.milter.example.net\x00evil@fail.milter.example.net>\r\n"
       b"To: rcpt@example.net\r\nX-Test-Id: nul\r\nX-Nul: a\x00b\r\nSubject: NUL bytes\r\n\r\nbody\x00\r\n")
s.sendmail("pass@pass.milter.example.net", ["rcpt@example.net"], msg)
s.quit()
print("sent")
EOF
check "NUL bytes in headers: accepted" grep -q '^sent' "$D/nul.out"
check "NUL bytes in headers: message saved with our A-R" has_ar nul "^mx.example.net;"
check "milter still running after the hostile headers" kill -0 "$MP_MILTER_PID"

# --- skip rules --------------------------------------------------------------------
# A skipped message is not evaluated, but a header with our authserv-id
# is still deleted (RFC 8601 section 5): a trusted client must not be a
# way to pass a forged result on to the mailbox.
FORGED="Authentication-Results: mx.example.net; dmarc=pass header.from=paypal.com"
FOREIGN="Authentication-Results: other.example.org; spf=pass smtp.mailfrom=skip.example.org"
swaks --server "127.0.0.1:$MP_SMTP_PORT" --helo client.example.org --to rcpt@example.net \
	--from pass@pass.milter.example.net --add-header "X-Test-Id: loopback" \
	--add-header "$FORGED" --add-header "$FOREIGN" > "$D/swaks.loopback" 2>&1
f=$(saved loopback)
check "loopback client (skip_networks default): no A-R" sh -c "! grep -q '^Authentication-Results: mx.example.net' '$f'"
check "loopback client: the log says why" grep -q "client=.*127.0.0.1.*skipped: client in skip_networks" "$MP_MILTER_LOG"
check "loopback client: forged A-R deleted all the same" sh -c "! grep -q 'paypal.com' '$f'"
check "loopback client: foreign A-R kept" grep -q "^Authentication-Results: other.example.org; spf=pass" "$f"
send_tagged authd --xclient-login alice --from fail@fail.milter.example.net \
	--add-header "$FORGED" --add-header "$FOREIGN"
f=$(saved authd)
check "authenticated client (skip_authenticated): no A-R" sh -c "! grep -q '^Authentication-Results: mx.example.net' '$f'"
check "authenticated client: the log says why" grep -q "skipped: authenticated as alice" "$MP_MILTER_LOG"
check "authenticated client: forged A-R deleted" sh -c "! grep -q 'paypal.com' '$f'"
check "authenticated client: foreign A-R kept" grep -q "^Authentication-Results: other.example.org; spf=pass" "$f"
check "authenticated client: the skip log line counts the deleted header" \
	grep -Eq "skipped: authenticated as alice forged_ar_deleted=1" "$MP_MILTER_LOG"

reload_milter "skip_mail_from = @soft.milter.example.net" "skip_networks = 127.0.0.0/8 192.0.2.0/28"
send_tagged skipnet --from pass@pass.milter.example.net
f=$(saved skipnet)
check "skip_networks 192.0.2.0/28: no A-R" sh -c "! grep -q '^Authentication-Results: mx.example.net' '$f'"
reload_milter "skip_mail_from = @pass.milter.example.net @soft.milter.example.net"
send_tagged skipfrom --from pass@pass.milter.example.net --header "From: <a@fail.milter.example.net>" \
	--add-header "$FORGED"
f=$(saved skipfrom)
check "skip_mail_from, SPF pass: no A-R" sh -c "! grep -q '^Authentication-Results: mx.example.net' '$f'"
check "skip_mail_from, SPF pass: the log says why" grep -q "skipped: MAIL FROM domain in skip_mail_from, SPF pass" "$MP_MILTER_LOG"
check "skip_mail_from, SPF pass: forged A-R deleted" sh -c "! grep -q 'paypal.com' '$f'"
# The envelope sender is only a claim: without an SPF pass for it, the
# rule does not hold and the message is judged like any other.
send_tagged skipsoft --from softfail@soft.milter.example.net --header "From: <a@soft.milter.example.net>"
f=$(saved skipsoft)
check "skip_mail_from, SPF softfail: evaluated (A-R added)" grep -q '^Authentication-Results: mx.example.net' "$f"
check "skip_mail_from, SPF softfail: the log says the rule did not apply" \
	grep -q "skip_mail_from=not_applied (spf=softfail)" "$MP_MILTER_LOG"

# --- actions ------------------------------------------------------------------------
pid_before=$MP_MILTER_PID
if reload_milter "dmarc_reject = reject" "temperror = tempfail" "dmarc_quarantine = quarantine"; then
	ok "SIGHUP reloads the configuration"
else
	not_ok "SIGHUP reloads the configuration" "$(tail -n 5 "$MP_MILTER_LOG")"
fi
check "SIGHUP does not stop the milter" kill -0 "$pid_before"
send_tagged rej --from fail@fail.milter.example.net --header "From: <ceo@fail.milter.example.net>"
check "DMARC p=reject with dmarc_reject = reject: 550 5.7.1" sh -c "grep -Eq '^<\\*\\* +550 5\\.7\\.1 .*fail\\.milter\\.example\\.net' '$D/swaks.rej'"
send_tagged tempf --from temperror@temp.milter.example.net --header "From: <a@temp.milter.example.net>"
check "temperror with temperror = tempfail: 451 4.7.x" sh -c "grep -Eq '^<\\*\\* +451 4\\.7\\.[0-9]+ ' '$D/swaks.tempf'"
send_tagged quar --from fail@quar.milter.example.net --header "From: <a@quar.milter.example.net>"
check "DMARC p=quarantine with dmarc_quarantine = quarantine: accepted" test "$(final_code quar)" = 250
qid=$(sed -n 's/.*queued as \([0-9A-F]*\).*/\1/p' "$D/swaks.quar")
hold=no
for _ in $(seq 1 50); do
	grep -q "$qid: milter-hold" "$MP_MAILLOG" 2>/dev/null && { hold=yes; break; }
	sleep 0.1
done
check "quarantine: Postfix holds the message (smfi_quarantine)" test "$hold" = yes
send_tagged passrej --from pass@pass.milter.example.net --header "From: <a@pass.milter.example.net>"
check "a passing message still goes through with dmarc_reject = reject" has_ar passrej "dmarc=pass"

reload_milter "dmarc_reject = reject" "dry_run = yes"
send_tagged dry --from fail@fail.milter.example.net --header "From: <ceo@fail.milter.example.net>"
check "dry_run: a p=reject failure is accepted" test "$(final_code dry)" = 250
check "dry_run: it still gets the A-R" has_ar dry "dmarc=fail (p=reject dis=reject)"
check "dry_run: the log says what would have happened" grep -q "action=reject .*dry_run=yes (not applied)" "$MP_MILTER_LOG"

reload_milter "no_from = reject" "multiple_from = reject"
send nofromrej --from pass@pass.milter.example.net --data "@$D/nofrom.eml"
check "no From with no_from = reject: 550" test "$(final_code nofromrej)" = 550
send_tagged multirej --from pass@pass.milter.example.net \
	--header "From: <a@pass.milter.example.net>, <b@none.milter.example.net>"
check "several From with multiple_from = reject: 550" test "$(final_code multirej)" = 550

# A bad config on SIGHUP: logged, the running one stays.
before_fail=$(grep -c 'reload failed' "$MP_MILTER_LOG")
printf '[milter]\nno_such_option = 1\n' > "$CONF"
kill -HUP "$MP_MILTER_PID"
for _ in $(seq 1 50); do
	[ "$(grep -c 'reload failed' "$MP_MILTER_LOG")" -gt "$before_fail" ] && break
	sleep 0.1
done
check "bad config on SIGHUP: logged" test "$(grep -c 'reload failed' "$MP_MILTER_LOG")" -gt "$before_fail"
send nofromkeep --from pass@pass.milter.example.net --data "@$D/nofrom.eml"
check "bad config on SIGHUP: the running config stays (no_from = reject)" test "$(final_code nofromkeep)" = 550

# --- SIGHUP between two messages of one SMTP session ------------------------------
reload_milter
python3 - "$MP_SMTP_PORT" "$MP_MILTER_PID" "$CONF" "$MP_MILTER_LOG" > "$D/session.out" 2>&1 <<'EOF'
import os, signal, smtplib, sys, time
port, pid, conf, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
def msg(tag):
    return ("From: <ceo@fail.milter.example.net>\r\nTo: rcpt@example.net\r\n"
            "X-Test-Id: %s\r\nSubject: %s\r\n\r\nbody\r\n" % (tag, tag))
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
s.ehlo("client.example.org")
s.docmd("XCLIENT", "ADDR=192.0.2.10")
s.ehlo("client.example.org")
try:
    s.sendmail("fail@fail.milter.example.net", ["rcpt@example.net"], msg("hup1"))
    print("first: 250")
except smtplib.SMTPException as e:
    print("first: error", e)
text = open(conf).read().replace("[milter]\n", "[milter]\ndmarc_reject = reject\n", 1)
open(conf + ".new", "w").write(text)
os.chmod(conf + ".new", 0o644)
os.rename(conf + ".new", conf)
before = open(log).read().count("configuration reloaded")
os.kill(pid, signal.SIGHUP)
for _ in range(100):
    if open(log).read().count("configuration reloaded") > before:
        break
    time.sleep(0.1)
try:
    s.sendmail("fail@fail.milter.example.net", ["rcpt@example.net"], msg("hup2"))
    print("second: 250")
except smtplib.SMTPDataError as e:
    print("second: %d" % e.smtp_code)
s.quit()
EOF
check "SIGHUP in mid-session: the first message went through" grep -q '^first: 250' "$D/session.out"
check "SIGHUP in mid-session: same connection, new action (550)" grep -q '^second: 550' "$D/session.out"

# --- the milter dies --------------------------------------------------------------------
reload_milter
mp_stop_milter KILL
send_tagged dead --from fail@fail.milter.example.net --header "From: <a@fail.milter.example.net>"
check "milter down, milter_default_action = accept: accepted" test "$(final_code dead)" = 250
f=$(saved dead)
check "milter down: delivered without our A-R" sh -c "! grep -q '^Authentication-Results: mx.example.net' '$f'"
mp_postfix_conf milter_default_action=tempfail
send_tagged deadtf --from fail@fail.milter.example.net
check "milter down, milter_default_action = tempfail: 451" test "$(final_code deadtf)" = 451
mp_postfix_conf milter_default_action=accept

mp_start_milter "$CONF" || true
send_tagged back --from pass@pass.milter.example.net --header "From: <a@pass.milter.example.net>"
check "milter restarted clean: A-R again" has_ar back "dmarc=pass"

# A kill in the middle of a stream of messages: none is lost.
rm -f "$D"/stream.*
(
	for i in $(seq 1 30); do
		swaks --server "127.0.0.1:$MP_SMTP_PORT" --xclient-addr 192.0.2.10 --helo client.example.org \
			--to rcpt@example.net --from pass@pass.milter.example.net \
			--add-header "X-Test-Id: stream$i" --timeout 60 > "$D/stream.$i" 2>&1
	done
) &
streamer=$!
for _ in $(seq 1 100); do
	[ "$(ls "$D"/stream.* 2>/dev/null | wc -l)" -ge 8 ] && break
	sleep 0.1
done
mp_stop_milter KILL
sleep 0.3
mp_start_milter "$CONF" || true
wait "$streamer"
lost=0
for i in $(seq 1 30); do
	grep -Eq '^<- +250 .*queued as' "$D/stream.$i" || lost=$((lost + 1))
done
check "milter killed mid-stream: all 30 messages accepted" test "$lost" = 0
missing=0
for i in $(seq 1 30); do saved "stream$i" >/dev/null || missing=$((missing + 1)); done
check "milter killed mid-stream: all 30 messages delivered" test "$missing" = 0
send_tagged afterstream --from pass@pass.milter.example.net --header "From: <a@pass.milter.example.net>"
check "milter killed mid-stream: the restarted milter evaluates again" has_ar afterstream "dmarc=pass"

# --- eval_timeout: a resolver that never answers ------------------------------------------
# Every lookup times out (1 s each); the whole evaluation is cut at
# eval_timeout (5 s), well inside Postfix's milter timeouts, and the
# message gets the temperror action.
silent_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",int(sys.argv[1]))); time.sleep(120)' "$silent_port" &
silent_pid=$!
MP_HARNESS_PIDS="$MP_HARNESS_PIDS $silent_pid"
sleep 0.2
RESOLVER="127.0.0.1@$silent_port" reload_milter "temperror = accept" || true
t0=$(date +%s%N)
send_tagged deaddns --from pass@pass.milter.example.net --header "From: <a@pass.milter.example.net>"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "DNS never answers: accepted with temperror = accept" test "$(final_code deaddns)" = 250
check "DNS never answers: A-R says spf=temperror" has_ar deaddns "spf=temperror"
check "DNS never answers: A-R says dmarc=temperror" has_ar deaddns "dmarc=temperror"
if [ "$ms" -lt 9000 ]; then ok "DNS never answers: answered in $ms ms (eval_timeout 5 s)"; else not_ok "DNS never answers: took $ms ms"; fi
RESOLVER="127.0.0.1@$silent_port" reload_milter "temperror = tempfail" || true
send_tagged deaddns2 --from pass@pass.milter.example.net --header "From: <a@pass.milter.example.net>"
check "DNS never answers, temperror = tempfail: 451" test "$(final_code deaddns2)" = 451
kill "$silent_pid" 2>/dev/null

# --- stop -----------------------------------------------------------------------------------
mp_stop_milter TERM
check "SIGTERM: clean exit (status 0)" test "${MP_MILTER_STATUS:-x}" = 0
check "no sanitizer report in the milter log" sh -c "! grep -q 'ERROR: AddressSanitizer\\|runtime error:\\|LeakSanitizer' '$MP_MILTER_LOG'"

echo "1..$N"
if [ "$FAILED" -gt 0 ]; then
	echo "# milter log (last 40 lines):"
	tail -n 40 "$MP_MILTER_LOG" | sed 's/^/# /'
	echo "# postfix log (last 20 lines):"
	tail -n 20 "$MP_MAILLOG" | sed 's/^/# /'
fi
exit 0
