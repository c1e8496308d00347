#!/bin/bash
# TLS quality end to end, against a private Postfix with a certificate
# from a test CA (tests/tls/lib.sh), as far as Debian 12's OpenSSL 3.0
# can negotiate: Postfix as configured by default; allowing TLS 1.0 and
# 1.1 (tls_low_cipherlist at SECLEVEL=0); offering NULL ciphers; with
# static-RSA suites excluded; with its own cipher order; and with a
# certificate that expires in a few days. The audit must catch each.
# TAP output; needs root.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"
. "$here/../tls/lib.sh"
: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
AUDIT="$TEST_BUILDDIR/selfaudit/mailposture-audit"

if ! why=$(mp_postfix_available); then
	echo "1..0 # SKIP $why"
	exit 0
fi
: "${MP_TEST_RESOLVER:?run me under tests/harness/with-servers}"
D=$MP_HARNESS_DIR
chmod 755 "$D"
CA=$D/ca
H=mx.tls.example
mp_tls_ca "$CA" && mp_tls_leaf "$CA" mx inter 30 "$H" && mp_tls_leaf "$CA" soon inter 5 "$H" ||
	{ echo "Bail out! could not make the certificates"; exit 1; }

mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
mp_start_postfix "" "myhostname = $H
mynetworks = 127.0.0.1/32
relay_domains =
smtpd_authorized_xclient_hosts =" || { echo "Bail out! postfix did not start"; exit 1; }
mp_postfix_tls "$CA/mx-chain.pem"

printf '[dns]\nresolver = %s\n[audit]\nca_file = %s\n' "$MP_TEST_RESOLVER" "$CA/root.pem" > "$D/audit.conf"
AUDIT_JSON="$D/out.json"
AUDIT_ERR="$D/err"
. "$here/../harness/audit-json.sh"
run() {
	local t0
	t0=$(date +%s%N)
	"$AUDIT" -c "$D/audit.conf" --no-host-checks --no-store --host 127.0.0.1 --port "$MP_SMTP_PORT" \
		--source 127.0.0.2 --dnsbl-zones "" --json > "$D/out.json" 2> "$D/err"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
}

echo "1..10"
# Measured: Postfix 3.7 on Debian 12 takes TLS 1.0 and 1.1 as it comes
# (smtpd_tls_protocols = >=TLSv1 by default), with SHA-1 suites.
run
expect "Postfix's defaults: TLS 1.0 and 1.1 accepted: WARN; trusted chain" \
	tls.protocols.status=WARN "tls.protocols.evidence~TLS 1.0: accepted" \
	"tls.protocols.evidence~TLS 1.1: accepted" tls.certificate.status=PASS tls.starttls.status=PASS
expect "Postfix's defaults: static RSA accepted (no forward secrecy): WARN; NULL refused" \
	tls.ciphers.status=WARN "tls.ciphers.finding~static RSA" "tls.ciphers.evidence~NULL ciphers: refused" \
	"tls.ciphers.evidence~key exchange" "tls.ciphers.finding~TLS 1.2 takes the sender's order"
if [ "$rc" = 0 ] && [ "$ms" -lt 5000 ]; then ok "audit with every TLS session in $ms ms"; else not_ok "audit under 5 s" "$ms ms, rc $rc"; fi

mp_postfix_conf "smtpd_tls_protocols = >=TLSv1.2"
run
expect "smtpd_tls_protocols = >=TLSv1.2: TLS 1.0 and 1.1 refused, PASS" tls.protocols.status=PASS \
	"tls.protocols.evidence~TLS 1.0: refused" "tls.protocols.evidence~TLS 1.1: refused"

mp_postfix_conf "smtpd_tls_protocols = >=TLSv1" "smtpd_tls_ciphers = low" \
	"tls_low_cipherlist = ALL:@SECLEVEL=0"
run
expect "TLS 1.0 and 1.1 allowed (tls_low_cipherlist at SECLEVEL=0): WARN, both named" \
	tls.protocols.status=WARN "tls.protocols.finding~TLS 1.0 and TLS 1.1" \
	"tls.protocols.evidence~TLS 1.0: accepted, TLSv1 with" "tls.protocols.fix~>=TLSv1.2"

mp_postfix_conf "smtpd_tls_protocols = >=TLSv1.2" "smtpd_tls_ciphers = medium" \
	"tls_medium_cipherlist = eNULL:HIGH:@SECLEVEL=0"
run
expect "NULL ciphers enabled: FAIL, the NULL suite named" tls.ciphers.status=FAIL \
	"tls.ciphers.finding~accepts NULL ciphers (" "tls.ciphers.finding~NULL-SHA" "tls.ciphers.fix~eNULL" \
	tls.protocols.status=PASS

mp_postfix_conf "tls_medium_cipherlist = aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH" \
	"smtpd_tls_exclude_ciphers = kRSA"
run
expect "static RSA excluded: forward secrecy only, PASS, the preferred cipher said" \
	tls.ciphers.status=PASS "tls.ciphers.finding~forward secrecy only" "tls.ciphers.finding~TLS 1.2"

mp_postfix_conf "tls_preempt_cipherlist = yes"
run
expect "tls_preempt_cipherlist = yes: the server's own order is seen" tls.ciphers.status=PASS \
	"tls.ciphers.finding~(its own order)"

mp_postfix_tls "$CA/soon-chain.pem"
run
expect "a certificate that expires in 5 days: WARN" tls.certificate.status=WARN \
	"tls.certificate.finding~expires in"
d=$(get tls.certificate.finding | sed -n 's/.*expires in \([0-9]*\) days.*/\1/p')
if [ -n "$d" ] && [ "$d" -le 5 ]; then ok "expiry in days: $d"; else not_ok "expiry in days" "$(get tls.certificate.finding)"; fi

echo "# $N tests, $FAILED failed"
[ "$FAILED" -eq 0 ]
