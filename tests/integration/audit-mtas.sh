#!/bin/bash
# mailposture-audit against the replies of real MTAs, played by the
# scripted responder (tests/smtp-responder/exim.script, sendmail.script,
# qmail.script): Exim's capability list and uniform refusals, Sendmail's
# answers and its slowdown from the sixth VRFY or EXPN of a session, and
# qmail's replies without enhanced status codes. The audit must judge
# each as it is, and not run into Sendmail's delay. TAP output; runs
# under tests/harness/with-servers (the zones of tests/zones).
set -u
: "${MP_TEST_RESOLVER:?run me under tests/harness/with-servers}"
here=$(cd "$(dirname "$0")" && pwd)
AUDIT="$TEST_BUILDDIR/selfaudit/mailposture-audit"
RESPONDER="$TEST_SRCDIR/smtp-responder/responder.py"
SCRIPTS="$TEST_SRCDIR/smtp-responder"
PY=/usr/bin/python3
. "$here/../harness/tap.sh"
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 30 \
	-subj /CN=mx.audit.example.org -addext subjectAltName=DNS:mx.audit.example.org 2>/dev/null

# start NAME SCRIPT: sets PORT_<NAME>
start() {
	local pf="$tmp/$1.port"
	$PY "$RESPONDER" "$2" --port-file "$pf" --cert "$tmp/cert.pem" --key "$tmp/key.pem" 2> "$tmp/$1.err" &
	pids="$pids $!"
	for _ in $(seq 1 50); do
		[ -s "$pf" ] && break
		sleep 0.1
	done
	eval "PORT_$1=$(cat "$pf" 2>/dev/null || echo 0)"
}
: > "$tmp/empty.conf"
run() { # PORT
	local t0
	t0=$(date +%s%N)
	"$AUDIT" -c "$tmp/empty.conf" --no-host-checks --no-store --host 127.0.0.1 --port "$1" \
		--resolver "$MP_TEST_RESOLVER" --dnsbl-zones "" --domain audit.example.org \
		--source 127.0.0.2 --json > "$tmp/out.json" 2> "$tmp/err"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
}
AUDIT_JSON="$tmp/out.json"
AUDIT_ERR="$tmp/err"
. "$TEST_SRCDIR/harness/audit-json.sh"

echo "1..12"

start exim "$SCRIPTS/exim.script"
run "$PORT_exim"
expect "Exim: its capability list read, PIPE_CONNECT and PRDR among them" \
	"smtp.ehlo.finding~PIPE_CONNECT" "smtp.ehlo.finding~PRDR" "smtp.ehlo.finding~CHUNKING"
expect "Exim: uniform 252 and 550 'Administrative prohibition': VRFY and EXPN PASS" \
	smtp.vrfy.status=PASS smtp.expn.status=PASS "smtp.expn.finding~Administrative prohibition"
expect "Exim: version in the banner WARN, HELP without one PASS, AUTH only inside TLS" \
	smtp.banner.status=WARN "smtp.banner.finding~4.96" smtp.help.status=PASS smtp.auth.status=PASS \
	"smtp.auth.finding~only after STARTTLS"
expect "Exim: postmaster@ and abuse@ accepted, relay refused" smtp.postmaster.status=PASS \
	"smtp.postmaster.evidence~RCPT TO:<postmaster@audit.example.org> -> 250 Accepted" \
	smtp.relay.status=PASS "smtp.relay.evidence~550 relay not permitted"

start sendmail "$SCRIPTS/sendmail.script"
# The responder really slows down from the sixth VRFY of a session.
t=$($PY - "$PORT_sendmail" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rwb")
f.readline()
def cmd(c):
    f.write(c + b"\r\n"); f.flush()
    while True:
        l = f.readline()
        if l[3:4] != b"-":
            return
cmd(b"EHLO t")
for i in range(5):
    cmd(b"VRFY root")
t0 = time.time()
cmd(b"VRFY root")
print(int((time.time() - t0) * 1000))
PYEOF
)
if [ "${t:-0}" -ge 900 ]; then ok "Sendmail's responder: the sixth VRFY waits ($t ms)"; else not_ok "the sixth VRFY waits" "$t ms"; fi
run "$PORT_sendmail"
if [ "$rc" = 0 ] && [ "$ms" -lt 2500 ]; then
	ok "Sendmail: at most five lookups a session, so no delay: $ms ms"
else
	not_ok "Sendmail: no delay from the lookups" "$ms ms, rc $rc"
fi
expect "Sendmail: VRFY and EXPN answer for real users only: FAIL, every reply seen" \
	smtp.vrfy.status=FAIL smtp.expn.status=FAIL "smtp.vrfy.evidence~VRFY root -> 250 2.1.5" \
	"smtp.vrfy.evidence~User unknown"
n=$(get smtp.vrfy.evidence | grep -c '^VRFY [^ ]* -> ')
if [ "$n" = 7 ]; then ok "Sendmail: all seven VRFY answers, over two sessions"; else not_ok "seven VRFY answers" "$n"; fi
expect "Sendmail: version in banner and HELP WARN; postmaster@ accepted; relaying denied" \
	smtp.banner.status=WARN smtp.help.status=WARN "smtp.help.finding~8.17.1.9" \
	smtp.postmaster.status=PASS smtp.relay.status=PASS "smtp.relay.evidence~Relaying denied"

start qmail "$SCRIPTS/qmail.script"
run "$PORT_qmail"
expect "qmail: the same VRFY answer for every name, no EXPN: PASS" smtp.vrfy.status=PASS \
	"smtp.vrfy.finding~send some mail" smtp.expn.status=PASS "smtp.expn.finding~unimplemented (#5.5.1)"
expect "qmail: no enhanced codes, '(#5.7.1)' is no version; HELP names qmail only" \
	smtp.banner.status=PASS smtp.help.status=PASS smtp.relay.status=PASS \
	"smtp.relay.evidence~553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"
expect "qmail: postmaster@ and abuse@ accepted (it takes any local part, from an untrusted source)" \
	smtp.postmaster.status=PASS "smtp.postmaster.evidence~-> 250 ok" tls.starttls.status=FAIL

echo "# $N tests, $FAILED failed"
[ "$FAILED" -eq 0 ]
