#!/bin/bash
# DANE (RFC 7672) end to end: a private Postfix serving a certificate
# from a test CA (tests/tls/lib.sh) with its intermediate, and TLSA
# records in a zone signed at test time (as in dnssec.sh), validated by
# our resolver with the zone's key as trust anchor. Each test domain has
# one MX whose address is the --public-ip of its audit, so the audit
# compares that MX's TLSA records with what Postfix serves: DANE-EE,
# DANE-TA, a TA record whose leaf does not name the MX, a mismatch (the
# outage: FAIL, grade capped at D), a key rollover with the old and the
# new key published, a full-certificate SHA-512 record, PKIX usages only,
# the same mismatch unsigned (FAIL, no cap), and Postfix sending its
# certificate without the intermediate. TAP output; needs root.
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
command -v ldns-signzone >/dev/null || { echo "1..0 # SKIP ldns-signzone missing: install ldnsutils"; exit 0; }
D=$MP_HARNESS_DIR
chmod 755 "$D"
Z=dane.example
CA=$D/ca
mp_tls_ca "$CA" || { echo "Bail out! could not make the test CA"; exit 1; }
mp_tls_leaf "$CA" mx inter 30 mx.ee.$Z mx.ta.$Z mx.bad.$Z mx.roll.$Z mx.full.$Z mx.pkix.$Z ||
	{ echo "Bail out! could not make the certificate"; exit 1; }
mp_tls_leaf "$CA" old inter 30 mx.ee.$Z
KEY=$(mp_tls_spki_sha256 "$CA/mx.pem")
OLD=$(mp_tls_spki_sha256 "$CA/old.pem")
INTER=$(mp_tls_cert_sha256 "$CA/inter.pem")
FULL=$(mp_tls_cert_sha512 "$CA/mx.pem")

# zone: one MX per case, at 192.0.2.N, with its TLSA records.
mkdir -p "$D/z" "$D/signed"
{
	cat <<ZONE
\$ORIGIN $Z.
\$TTL 300
@	IN SOA ns.$Z. hostmaster.$Z. 1 3600 600 86400 300
	IN NS ns.$Z.
ns	IN A 192.0.2.53
ZONE
	n=70
	while read -r d tlsa; do
		n=$((n + 1))
		printf '%s\tIN MX 10 mx.%s.%s.\nmx.%s\tIN A 192.0.2.%s\n' "$d" "$d" "$Z" "$d" "$n"
		echo "$tlsa" | tr ';' '\n' | while read -r rec; do
			[ -n "$rec" ] && printf '_25._tcp.mx.%s\tIN TLSA %s\n' "$d" "$rec"
		done
	done <<CASES
ee 3 1 1 $KEY
ta 2 0 1 $INTER
taname 2 0 1 $INTER
bad 3 1 1 $OLD
roll 3 1 1 $OLD;3 1 1 $KEY
full 3 0 2 $FULL
pkix 1 1 1 $KEY;0 0 1 $INTER
CASES
} > "$D/z/$Z"
(
	cd "$D/z" || exit 1
	ksk=$(ldns-keygen -a ECDSAP256SHA256 -k "$Z") && zsk=$(ldns-keygen -a ECDSAP256SHA256 "$Z") &&
	ldns-signzone -f "$D/signed/$Z.zone" "$Z" "$zsk" "$ksk" > /dev/null && cp "$ksk.key" "$D/anchor.key"
) || { echo "Bail out! could not sign the zone"; exit 1; }
chmod 644 "$D/anchor.key"
mp_start_dns "$D/signed" dane || { echo "Bail out! NSD did not start"; exit 1; }

mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
# Probed from 127.0.0.2, outside mynetworks, relaying nowhere: no open relay caps the grade.
mp_start_postfix "" "myhostname = mx.ee.$Z
mynetworks = 127.0.0.1/32
relay_domains =
smtpd_authorized_xclient_hosts =" || { echo "Bail out! postfix did not start"; exit 1; }
mp_postfix_tls "$CA/mx-chain.pem"

printf '[dns]\nresolver = %s\ntrust_anchor_file = %s\n[audit]\nca_file = %s\n' \
	"$MP_TEST_RESOLVER" "$D/anchor.key" "$CA/root.pem" > "$D/audit.conf"
printf '[dns]\nresolver = %s\n[audit]\nca_file = %s\n' "$MP_TEST_RESOLVER" "$CA/root.pem" > "$D/unsigned.conf"
AUDIT_JSON="$D/out.json"
AUDIT_ERR="$D/err"
. "$here/../harness/audit-json.sh"
ip_of() { sed -n "s/^mx\.$1\tIN A //p" "$D/z/$Z"; }
run() { # CONF CASE
	local t0
	t0=$(date +%s%N)
	"$AUDIT" -c "$1" --no-host-checks --no-store --host 127.0.0.1 --port "$MP_SMTP_PORT" \
		--source 127.0.0.2 --domain "$2.$Z" --public-ip "$(ip_of "$2")" --dnsbl-zones "" --json > "$D/out.json" 2> "$D/err"
	echo "# $2: $((($(date +%s%N) - t0) / 1000000)) ms"
}

echo "1..12"
run "$D/audit.conf" ee
expect "DANE-EE 3 1 1 of the served key, DNSSEC-validated: PASS" tls.dane.status=PASS \
	"tls.dane.finding~mx.ee.$Z" "tls.dane.evidence~TLSA 3 1 1 ${KEY:0:16}" \
	"tls.dane.evidence~matches the server certificate" dns.dane.status=PASS
expect "the certificate from the test CA, chain complete, valid for the MX name: PASS" \
	tls.certificate.status=PASS "tls.certificate.finding~valid for mx.ee.$Z" \
	"tls.certificate.evidence~MX name mx.ee.$Z: matches"
run "$D/audit.conf" ta
expect "DANE-TA 2 0 1 of the intermediate the server sends: PASS" tls.dane.status=PASS \
	"tls.dane.evidence~a trust anchor the server certificate verifies to for mx.ta.$Z"
run "$D/audit.conf" taname
expect "DANE-TA whose leaf does not name the MX: FAIL, and the certificate WARNs for the MX name" \
	tls.dane.status=FAIL "tls.dane.evidence~does not verify to it for mx.taname.$Z" \
	tls.certificate.status=WARN "tls.certificate.finding~not valid for mx.taname.$Z"
run "$D/audit.conf" bad
expect "TLSA for a key the server does not use, validated: FAIL, grade capped at D, fix names the key" \
	tls.dane.status=FAIL "tls.dane.finding~matches nothing the server presents" \
	"tls.dane.finding~DANE senders cannot deliver" "cap~TLSA records match nothing" \
	"tls.dane.fix~TLSA 3 1 1 $KEY"
g=$(get grade)
case $g in D|D-|F) ok "the mismatch caps the grade: $g" ;; *) not_ok "the mismatch caps the grade at D" "grade $g" ;; esac
run "$D/audit.conf" roll
expect "rollover, old and new key published: PASS, the old one said not to match" tls.dane.status=PASS \
	"tls.dane.evidence~TLSA 3 1 1 ${OLD:0:16}" "tls.dane.evidence~does not match"
run "$D/audit.conf" full
expect "3 0 2, SHA-512 of the whole certificate: PASS" tls.dane.status=PASS \
	"tls.dane.evidence~TLSA 3 0 2 ${FULL:0:16}"
run "$D/audit.conf" pkix
expect "PKIX-EE and PKIX-TA only: WARN, unusable for SMTP" tls.dane.status=WARN \
	"tls.dane.finding~unusable" "tls.dane.evidence~RFC 7672"
run "$D/unsigned.conf" bad
expect "the same mismatch without DNSSEC validation: FAIL, not capped" tls.dane.status=FAIL \
	"tls.dane.finding~not DNSSEC-validated" dns.dane.status=WARN
c=$(get cap)
if [[ $c != *TLSA* ]]; then ok "no DANE cap without validation"; else not_ok "no DANE cap without validation" "$c"; fi

# Postfix leaves out the intermediate: the chain is incomplete, and a
# DANE-TA record for that intermediate matches nothing served.
mp_postfix_conf "smtpd_tls_chain_files=$CA/mx.key, $CA/mx.pem"
run "$D/audit.conf" ta
expect "no intermediate sent: certificate WARN 'incomplete', DANE-TA FAIL" tls.certificate.status=WARN \
	"tls.certificate.finding~chain is incomplete" tls.dane.status=FAIL \
	"tls.dane.evidence~matches no certificate above"

echo "# $N tests, $FAILED failed"
[ "$FAILED" -eq 0 ]
