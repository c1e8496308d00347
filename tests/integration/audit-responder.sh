#!/bin/bash
# mailposture-audit against the scripted SMTP responder
# (tests/smtp-responder) and the test zones (tests/zones/audit.example.org
# and friends). The first case is the server of the report in issue 5: its
# audit must say VRFY FAIL, SPF FAIL and DMARC PASS, with a spoofing
# finding that agrees with them. TAP output; runs under
# tests/harness/with-servers, which sets MP_TEST_RESOLVER.
set -u
: "${MP_TEST_RESOLVER:?run me under tests/harness/with-servers}"
AUDIT="$TEST_BUILDDIR/selfaudit/mailposture-audit"
RESPONDER="$TEST_SRCDIR/smtp-responder/responder.py"
SCRIPTS="$TEST_SRCDIR/smtp-responder"
PY=/usr/bin/python3
ZONES="bl1.audit.example.org bl2.audit.example.org blsf.audit.example.org"
. "$(cd "$(dirname "$0")" && pwd)/../harness/tap.sh"
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# Certificates made here: a valid self-signed one and an expired one.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 30 \
	-subj /CN=mail.audit.example.org -addext subjectAltName=DNS:mail.audit.example.org 2>/dev/null
mkdir -p "$tmp/ca"
(
	cd "$tmp/ca" || exit 1
	openssl req -newkey rsa:2048 -nodes -keyout key.pem -out req.pem -subj /CN=mail.audit.example.org 2>/dev/null
	: > index.txt
	echo 01 > serial
	printf '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nserial = serial\nnew_certs_dir = .\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n' > ca.cnf
	openssl ca -batch -config ca.cnf -selfsign -keyfile key.pem -in req.pem -out cert.pem \
		-startdate 20200101000000Z -enddate 20200201000000Z > /dev/null 2>&1
)

# start_responder NAME SCRIPTFILE [CERT KEY]: sets PORT_<NAME>
start_responder() {
	local name=$1 script=$2 cert=${3:-$tmp/cert.pem} key=${4:-$tmp/key.pem} pf="$tmp/$1.port"
	$PY "$RESPONDER" "$script" --port-file "$pf" --cert "$cert" --key "$key" 2> "$tmp/$name.err" &
	pids="$pids $!"
	for _ in $(seq 1 50); do
		[ -s "$pf" ] && break
		sleep 0.1
	done
	eval "PORT_$name=$(cat "$pf" 2>/dev/null || echo 0)"
}

# script NAME: writes a responder script from stdin; prints its path
script() { cat > "$tmp/$1.script"; echo "$tmp/$1.script"; }

# run PORT ARGS...: the audit as JSON into $tmp/out.json, exit status in $rc
run() {
	local port=$1
	shift
	local t0
	t0=$(date +%s%N)
	"$AUDIT" -c "$tmp/empty.conf" --no-host-checks --host 127.0.0.1 --port "$port" \
		--resolver "$MP_TEST_RESOLVER" --dnsbl-zones "$ZONES" --json "$@" > "$tmp/out.json" 2> "$tmp/err"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
}
: > "$tmp/empty.conf"

AUDIT_JSON="$tmp/out.json"
AUDIT_ERR="$tmp/err"
. "$TEST_SRCDIR/harness/audit-json.sh"

echo "1..36"

# ---- 1. The server of the report in issue 5 ----
start_responder example "$SCRIPTS/example-report.script"
run "$PORT_example" --domain audit.example.org --public-ip 203.0.113.200 --source 127.0.0.2
expect "issue 5 report: VRFY FAIL with the evidence" smtp.vrfy.status=FAIL \
	"smtp.vrfy.finding~users can be enumerated" "smtp.vrfy.evidence~VRFY root -> 252" \
	"smtp.vrfy.evidence~-> 550 5.1.1"
expect "issue 5 report: SPF FAIL, DMARC PASS" dns.spf.status=FAIL dns.dmarc.status=PASS \
	"dns.dmarc.finding~p=reject"
expect "issue 5 report: spoofing agrees with SPF and DMARC" dns.spoofing.status=WARN \
	"dns.spoofing.finding~DMARC p=reject" "dns.spoofing.finding~SPF record missing"
got_spoof=$(get dns.spoofing.finding)
if [[ $got_spoof == *"DMARC record missing"* ]]; then not_ok "spoofing never calls a published DMARC missing" "$got_spoof"; else ok "spoofing never calls a published DMARC missing"; fi
expect "issue 5 report: AUTH says before STARTTLS" smtp.auth.status=FAIL \
	"smtp.auth.finding~before STARTTLS" "smtp.auth.evidence~after STARTTLS: LOGIN PLAIN"
expect "issue 5 report: HELP and EXPN safe, relay refused, PTR confirmed" smtp.help.status=PASS \
	smtp.expn.status=PASS smtp.relay.status=PASS "smtp.relay.evidence~554 5.7.1 Relay access denied" \
	dns.ptr.status=PASS "dns.ptr.finding~mail.audit.example.org ==> 203.0.113.200"
expect "issue 5 report: grade capped at C by plaintext AUTH" grade=C "cap~plaintext AUTH" \
	tls.certificate.status=WARN "tls.certificate.finding~self-signed" tls.injection.status=PASS
if [ "$ms" -lt 5000 ] && [ "$rc" -eq 0 ]; then ok "full audit in $ms ms, exit 0"; else not_ok "full audit under 5 s, exit 0" "took $ms ms, rc $rc"; fi

# The same server, in text: reads like the report, footer with the time.
"$AUDIT" -c "$tmp/empty.conf" --no-host-checks --host 127.0.0.1 --port "$PORT_example" \
	--resolver "$MP_TEST_RESOLVER" --dnsbl-zones "$ZONES" --domain audit.example.org \
	--public-ip 203.0.113.200 --source 127.0.0.2 > "$tmp/out.txt" 2>&1
if grep -q '^Security Score C (' "$tmp/out.txt" && grep -qE '^VRFY Command Exposure +FAIL' "$tmp/out.txt" &&
	grep -qE '^Audit finished in [0-9.]+ s' "$tmp/out.txt" && grep -q '  fix: Postfix: disable_vrfy_command = yes' "$tmp/out.txt"; then
	ok "text report: score line, check lines, fix, timing footer"
else
	not_ok "text report: score line, check lines, fix, timing footer" "$(head -c 1500 "$tmp/out.txt")"
fi

# --fail-under and the exit status
run "$PORT_example" --domain audit.example.org --source 127.0.0.2 --fail-under B
r1=$rc
run "$PORT_example" --domain audit.example.org --source 127.0.0.2 --fail-under D
r2=$rc
run "$PORT_example" --fail-under Q
r3=$rc
"$AUDIT" --bogus-option > /dev/null 2>&1
r4=$?
if [ "$r1" = 1 ] && [ "$r2" = 0 ] && [ "$r3" = 2 ] && [ "$r4" = 2 ]; then ok "exit status: 1 below --fail-under, 0 above, 2 usage"; else not_ok "exit status" "below B: $r1, above D: $r2, bad grade: $r3, bad option: $r4"; fi

# From a trusted source (loopback, no --source, no XCLIENT) the relay test is not run.
run "$PORT_example" --domain audit.example.org
expect "relay from a trusted source: NOT TESTED, not a false verdict" "smtp.relay.status=NOT TESTED" \
	"smtp.relay.finding~the source is trusted"

# ---- 2. Other SMTP behaviours ----
s=$(script after <<'EOF'
banner: 220 mx.audit.example.org ESMTP Sendmail 8.15.2/8.15.2; Mon, 1 Jan 2024 00:00:00 GMT
starttls: safe
rule: EHLO .* => 250-mx.audit.example.org Hello|250-PIPELINING|250-STARTTLS|250 8BITMIME
ehlo_tls: 250-mx.audit.example.org Hello|250-PIPELINING|250-AUTH PLAIN LOGIN|250 8BITMIME
rule: HELP.* => 214-2.0.0 This is sendmail version 8.15.2|214 2.0.0 End of HELP info
rule: VRFY .* => 252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery
rule: EXPN (root|postmaster|admin|info|abuse) => 250 2.1.5 <\1@mx.audit.example.org>
rule: EXPN (.*) => 550 5.1.1 \1... User unknown
rule: MAIL FROM:.* => 250 2.1.0 Sender ok
rule: RCPT TO:.* => 550 5.7.1 Relaying denied
rule: RSET => 250 2.0.0 Reset state
EOF
)
start_responder after "$s"
run "$PORT_after" --source 127.0.0.2
expect "AUTH only after STARTTLS: PASS, said so" smtp.auth.status=PASS "smtp.auth.finding~only after STARTTLS"
expect "uniform VRFY 252: PASS; EXPN differing: FAIL" smtp.vrfy.status=PASS "smtp.vrfy.finding~uniform" \
	smtp.expn.status=FAIL "smtp.expn.evidence~EXPN root -> 250"
expect "version in banner and HELP: WARN" smtp.banner.status=WARN "smtp.banner.finding~8.15.2" \
	smtp.help.status=WARN "smtp.help.finding~sendmail"

s=$(script vuln <<'EOF'
banner: 220 mail.audit.example.org ESMTP
starttls: vulnerable
rule: EHLO .* => 250-mail.audit.example.org|250 STARTTLS
rule: NOOP => 250 2.0.0 Ok
EOF
)
start_responder vuln "$s" "$tmp/ca/cert.pem" "$tmp/ca/key.pem"
run "$PORT_vuln" --source 127.0.0.2
expect "STARTTLS injection: FAIL against a server that runs buffered commands" tls.injection.status=FAIL
expect "expired certificate: FAIL with the date" tls.certificate.status=FAIL "tls.certificate.finding~expired" \
	"tls.certificate.finding~2020"

s=$(script openrelay <<'EOF'
banner: 220 mail.audit.example.org ESMTP
rule: EHLO .* => 250-mail.audit.example.org|250 PIPELINING
rule: MAIL FROM:.* => 250 2.1.0 Ok
rule: RCPT TO:.* => 250 2.1.5 Ok
rule: RSET => 250 2.0.0 Ok
rule: DATA => 354 should never be sent
EOF
)
start_responder openrelay "$s"
run "$PORT_openrelay" --source 127.0.0.2
expect "open relay: FAIL, grade F" smtp.relay.status=FAIL "smtp.relay.finding~open relay" grade=F \
	"cap~open relay"

s=$(script xclient <<'EOF'
banner: 220 mail.audit.example.org ESMTP
rule: EHLO .* => 250-mail.audit.example.org|250 XCLIENT NAME ADDR PROTO HELO
rule: XCLIENT ADDR=203\.0\.113\.25 NAME=\[UNAVAILABLE\] => 220 mail.audit.example.org ESMTP
rule: MAIL FROM:.* => 250 2.1.0 Ok
rule: RCPT TO:.* => 454 4.7.1 Relay access denied
rule: RSET => 250 2.0.0 Ok
EOF
)
start_responder xclient "$s"
run "$PORT_xclient"
expect "XCLIENT offered: relay probed as 203.0.113.25, 454 counts as refused" smtp.relay.status=PASS \
	"smtp.relay.evidence~(XCLIENT)" "smtp.relay.evidence~454 4.7.1"

# ---- 2b. Real MTAs' replies that were once judged wrong (issue 17) ----
# Stock Exim: "252 2.1.5 Administrative prohibition" to every VRFY and
# EXPN. The real name "admin" inside "Administrative" is no difference.
s=$(script exim <<'EOF'
banner: 220 mx.audit.example.org ESMTP Exim 4.94.2 Mon, 01 Jan 2024 00:00:00 +0000
starttls: safe
rule: EHLO (.*) => 250-mx.audit.example.org Hello \1 [127.0.0.1]|250-SIZE 52428800|250-8BITMIME|250-PIPELINING|250-PIPE_CONNECT|250-CHUNKING|250-STARTTLS|250-PRDR|250 HELP
rule: HELP.* => 214-Commands supported:|214 AUTH HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP
rule: VRFY .* => 252 2.1.5 Administrative prohibition
rule: EXPN .* => 252 2.1.5 Administrative prohibition
rule: MAIL FROM:.* => 250 OK
rule: RCPT TO:.* => 550 relay not permitted
rule: RSET => 250 Reset OK
EOF
)
start_responder exim "$s"
run "$PORT_exim" --source 127.0.0.2
expect "Exim's uniform 252 Administrative prohibition: VRFY and EXPN PASS" smtp.vrfy.status=PASS \
	"smtp.vrfy.finding~uniform answer to 5 real" "smtp.vrfy.finding~Administrative prohibition" \
	smtp.expn.status=PASS "smtp.expn.evidence~EXPN admin -> 252 2.1.5 Administrative prohibition"
expect "Exim 4.94.2 in the banner: a version (not a status code), HELP without one" \
	smtp.banner.status=WARN "smtp.banner.finding~4.94.2" smtp.help.status=PASS

# Postfix 2.10.1 (smtpd_banner with $mail_version): a version that looks
# like a class-2 status code, but stands nowhere near the reply code.
s=$(script postfix210 <<'EOF'
banner: 220 mail.audit.example.org ESMTP Postfix 2.10.1
rule: EHLO .* => 250-mail.audit.example.org|250-PIPELINING|250-SIZE 10240000|250-VRFY|250-ETRN|250-ENHANCEDSTATUSCODES|250-8BITMIME|250 DSN
rule: HELP.* => 502 5.5.2 Error: command not recognized
rule: EXPN .* => 502 5.5.2 Error: command not recognized
rule: VRFY (.*) => 252 2.0.0 \1
rule: MAIL FROM:.* => 250 2.1.0 Ok
rule: RCPT TO:.* => 554 5.7.1 Relay access denied
rule: RSET => 250 2.0.0 Ok
EOF
)
start_responder postfix210 "$s"
run "$PORT_postfix210" --source 127.0.0.2
expect "Postfix 2.10.1 in the banner: WARN with the version; 5.5.2 and the echo are no findings" \
	smtp.banner.status=WARN "smtp.banner.finding~version \"2.10.1\"" smtp.help.status=PASS \
	smtp.vrfy.status=PASS "smtp.vrfy.finding~252 2.0.0 *"

# A large provider: the same words to every name, but a new trace id in
# each reply. The replies vary even among random names: no conclusion.
s=$(script traceid <<'EOF'
banner: 220 mx.audit.example.org ESMTP {traceid} - gsmtp
starttls: safe
rule: EHLO .* => 250-mx.audit.example.org at your service, [127.0.0.1]|250-SIZE 157286400|250-8BITMIME|250-STARTTLS|250-ENHANCEDSTATUSCODES|250-PIPELINING|250-CHUNKING|250 SMTPUTF8
rule: HELP.* => 214 2.0.0  https://www.google.com/search?btnI&q=RFC+5321 {traceid} - gsmtp
rule: VRFY .* => 252 2.1.5 Send some mail, I'll try my best {traceid} - gsmtp
rule: EXPN .* => 502 5.5.1 Unrecognized command. {traceid} - gsmtp
rule: MAIL FROM:.* => 250 2.1.0 OK {traceid} - gsmtp
rule: RCPT TO:.* => 550 5.7.1 Relaying denied {traceid} - gsmtp
rule: RSET => 250 2.1.5 Flushed {traceid} - gsmtp
EOF
)
start_responder traceid "$s"
run "$PORT_traceid" --source 127.0.0.2
expect "per-reply trace ids: VRFY and EXPN WARN 'no conclusion', never FAIL" smtp.vrfy.status=WARN \
	"smtp.vrfy.finding~no conclusion" "smtp.vrfy.finding~vary" smtp.expn.status=WARN \
	"smtp.expn.finding~no conclusion"
got_vrfy=$(get smtp.vrfy.evidence)
if [[ $(get smtp.vrfy.finding) != *enumerated* ]] && [[ $got_vrfy == *"try my best"*" - gsmtp"* ]]; then
	ok "per-reply trace ids: no enumeration claim, the replies in the evidence"
else
	not_ok "per-reply trace ids: no enumeration claim, the replies in the evidence" \
		"$(get smtp.vrfy.finding)" "$got_vrfy"
fi

# ---- 3. Servers that stall, drop or send garbage ----
s=$(script stall <<'EOF'
banner: STALL
EOF
)
start_responder stall "$s"
run "$PORT_stall" --timeout 500
if [ "$(get smtp.service.status)" = FAIL ] && [[ $(get smtp.service.finding) == *stalled* ]] && [ "$ms" -lt 3000 ]; then
	ok "stalled banner: FAIL 'stalled' within the timeout ($ms ms)"
else
	not_ok "stalled banner: FAIL 'stalled' within the timeout" "$(get smtp.service.finding), $ms ms"
fi
expect "stalled server: the other SMTP checks are NOT TESTED" "smtp.vrfy.status=NOT TESTED" "smtp.relay.status=NOT TESTED"

s=$(script garbage <<'EOF'
banner: RAW:HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n
EOF
)
start_responder garbage "$s"
run "$PORT_garbage"
expect "garbage banner: FAIL, says it is not SMTP" smtp.service.status=FAIL "smtp.service.finding~not an SMTP reply"

s=$(script drop <<'EOF'
banner: 220 mail.audit.example.org ESMTP
rule: EHLO .* => CLOSE
EOF
)
start_responder drop "$s"
run "$PORT_drop"
expect "dropped after EHLO: FAIL, says it dropped" smtp.service.status=FAIL "smtp.service.finding~dropped"

s=$(script huge <<'EOF'
banner: 220 mail.audit.example.org ESMTP
rule: EHLO .* => RAW:250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
EOF
)
start_responder huge "$s"
run "$PORT_huge"
expect "a reply line over the limit: FAIL, not a hang" smtp.service.status=FAIL "smtp.service.finding~size limits"

# ---- 4. DNS record states (the SMTP side is the issue 5 server) ----
run "$PORT_example" --domain good.audit.example.org --public-ip 203.0.113.210 --source 127.0.0.2
expect "good domain: SPF, DMARC, spoofing, MTA-STS, TLS-RPT PASS" dns.spf.status=PASS dns.dmarc.status=PASS \
	dns.spoofing.status=PASS dns.mta_sts.status=PASS dns.tls_rpt.status=PASS dns.mx.status=PASS \
	dns.dmarc_report_auth.status=PASS "dns.dmarc_report_auth.evidence~reports.audit.example.net: v=DMARC1"
expect "TLSA without DNSSEC: WARN, says not validated" dns.dane.status=WARN "dns.dane.finding~not DNSSEC-validated" \
	"dns.dane.evidence~TLSA 3 1 1 0123456789abcdef"

run "$PORT_example" --domain weak.audit.example.org --public-ip 203.0.113.201 --source 127.0.0.2
expect "weak domain: +all FAIL, p=none WARN, spoofing FAIL, unauthorized reports FAIL" dns.spf.status=FAIL \
	"dns.spf.finding~+all" dns.dmarc.status=WARN dns.spoofing.status=FAIL dns.dmarc_report_auth.status=FAIL \
	"dns.dmarc_report_auth.finding~noauth.audit.example.net"
expect "PTR that does not resolve back: FAIL" dns.ptr.status=FAIL "dns.ptr.finding~does not resolve back"

run "$PORT_example" --domain sf.audit.example.org --public-ip 203.0.113.202 --source 127.0.0.2
expect "SERVFAIL: could not check, never missing" "dns.spf.status=NOT TESTED" "dns.dmarc.status=NOT TESTED" \
	"dns.mx.status=NOT TESTED" "dns.spoofing.status=NOT TESTED" "dns.mta_sts.status=NOT TESTED" \
	"dns.mx.finding~could not check" dns.ptr.status=FAIL "dns.ptr.finding~no PTR"

run "$PORT_example" --domain nodmarc.brk.audit.example.org --public-ip 203.0.113.203 --source 127.0.0.2
expect "DNSBL: listed on bl1 caps at D; bl2's 127.255.255.254 is an error, blsf could not be checked" \
	dns.dnsbl.status=FAIL "dns.dnsbl.finding~bl1.audit.example.org" "cap~DNSBL" \
	"dns.dnsbl.evidence~error code" "dns.dnsbl.evidence~listed for testing" \
	"dns.dnsbl.evidence~blsf.audit.example.org: could not check"
expect "no DMARC record and the walk to its parent fails: could not check, never missing" \
	"dns.dmarc.status=NOT TESTED" "dns.spoofing.status=NOT TESTED" dns.spf.status=PASS

run "$PORT_example" --domain nodmarc.audit.example.net --source 127.0.0.2
expect "SPF -all without DMARC: DMARC FAIL, spoofing WARN" dns.dmarc.status=FAIL dns.spoofing.status=WARN \
	"dns.spoofing.finding~DMARC record missing" "dns.spoofing.finding~SPF -all"

echo "# $N tests, $FAILED failed"
[ "$FAILED" -eq 0 ]
