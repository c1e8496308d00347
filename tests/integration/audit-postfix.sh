#!/bin/bash
# mailposture-audit against a real, private Postfix in each state: VRFY
# enumerable, disabled, uniform, hidden from EHLO but answering; relay
# refused with 554 and with 454; an open relay; AUTH (Cyrus SASL, sasldb)
# before and only after STARTTLS; STARTTLS with a self-signed and an
# expired certificate; the milter wiring seen through postconf.
# Runs under tests/harness/with-servers; prints TAP. Needs root and the
# Debian package postfix; skips otherwise.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"

: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
AUDIT="$TEST_BUILDDIR/selfaudit/mailposture-audit"
MILTER_BIN="$TEST_BUILDDIR/milter/mailposture-milter"
PY=/usr/bin/python3

if ! why=$(mp_postfix_available); then
	echo "1..0 # SKIP $why"
	exit 0
fi
if [ -z "${MP_TEST_RESOLVER:-}" ]; then
	echo "Bail out! MP_TEST_RESOLVER not set: run under tests/harness/with-servers"
	exit 1
fi

D=$MP_HARNESS_DIR
chmod 755 "$D"

# Certificates: self-signed and valid; expired (made with "openssl ca").
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$D/key.pem" -out "$D/cert.pem" -days 30 \
	-subj /CN=mx.example.net -addext subjectAltName=DNS:mx.example.net 2>/dev/null
mkdir -p "$D/ca"
(
	cd "$D/ca" || exit 1
	openssl req -newkey rsa:2048 -nodes -keyout key.pem -out req.pem -subj /CN=mx.example.net 2>/dev/null
	: > index.txt
	echo 01 > serial
	printf '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nserial = serial\nnew_certs_dir = .\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n' > ca.cnf
	openssl ca -batch -config ca.cnf -selfsign -keyfile key.pem -in req.pem -out cert.pem \
		-startdate 20200101000000Z -enddate 20200201000000Z > /dev/null 2>&1
)
chmod 644 "$D"/*.pem "$D"/ca/*.pem

# Cyrus SASL inside Postfix with the sasldb plugin: a real SASL backend
# that announces PLAIN and LOGIN among others (the audit never logs in).
# Measured: Postfix announces every installed Cyrus mechanism here, the
# mech_list line notwithstanding.
mkdir -p "$D/sasl"
printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: %s/sasl/sasldb2\n' "$D" > "$D/sasl/smtpd.conf"
chmod 755 "$D/sasl"
chmod 644 "$D/sasl/smtpd.conf"

# The milter, when it is built, so that the wiring check can pass.
MPORT=$(mp_free_port)
if [ -x "$MILTER_BIN" ]; then
	printf '[milter]\nsocket = inet:%s@127.0.0.1\nuser = nobody\npidfile = %s/milter.pid\n[dns]\nresolver = %s\ntimeout = 1000\n' \
		"$MPORT" "$D" "$MP_TEST_RESOLVER" > "$D/milter.conf"
	chmod 644 "$D/milter.conf"
	mp_start_milter "$D/milter.conf" || MILTER_BIN=""
else
	MILTER_BIN=""
fi

mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
# mynetworks is 127.0.0.1 only, so the audit's --source 127.0.0.2 is an
# untrusted client; no relay_domains, so example.net is foreign.
# maillog_file is emptied: with the audit's parallel sessions, postlogd
# deadlocked here on its own full socket (net.unix.max_dgram_qlen = 10),
# and with it every Postfix process that logs.
mp_start_postfix "inet:127.0.0.1:$MPORT" "
maillog_file =
mydestination = \$myhostname localhost
local_recipient_maps = proxy:unix:passwd.byname
mynetworks = 127.0.0.1/32
relay_domains =
smtpd_authorized_xclient_hosts =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_tls_security_level = may
smtpd_tls_cert_file = $D/cert.pem
smtpd_tls_key_file = $D/key.pem
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $D/sasl
smtpd_tls_auth_only = no
disable_vrfy_command = no
" || { echo "Bail out! postfix did not start"; exit 1; }
# smtpd answers "454 TLS not available due to local problem" without tlsmgr.
echo "tlsmgr unix - - n 1000? 1 tlsmgr" >> "$MP_POSTFIX_DIR/master.cf"
postfix -c "$MP_POSTFIX_DIR" reload > /dev/null 2>&1
sleep 1

cat > "$D/audit.conf" <<EOF
[milter]
socket = inet:$MPORT@127.0.0.1
[dns]
resolver = $MP_TEST_RESOLVER
[audit]
host = 127.0.0.1
port = $MP_SMTP_PORT
domain = audit.example.org
public_ip = 203.0.113.200
dnsbl_zones = bl1.audit.example.org bl2.audit.example.org
EOF

# audit ARGS...: JSON into $D/out.json, status in $rc, time in $ms
audit() {
	local t0
	t0=$(date +%s%N)
	"$AUDIT" -c "$D/audit.conf" --postfix-config "$MP_POSTFIX_DIR" --json "$@" > "$D/out.json" 2> "$D/err"
	rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
}

AUDIT_JSON="$D/out.json"
AUDIT_ERR="$D/err"
. "$here/../harness/audit-json.sh"

echo "1..16"

# ---- State 1: VRFY enumerable, AUTH before TLS, self-signed certificate ----
audit --source 127.0.0.2
expect "VRFY enumerable (252 for root, 550 for random): FAIL" smtp.vrfy.status=FAIL \
	"smtp.vrfy.evidence~VRFY root -> 252" "smtp.vrfy.evidence~-> 550 5.1.1"
expect "Postfix has no EXPN and no HELP: uniform 502, PASS" smtp.expn.status=PASS smtp.help.status=PASS \
	"smtp.expn.finding~command not recognized"
expect "AUTH PLAIN LOGIN before STARTTLS (Cyrus SASL): FAIL, grade capped at C" smtp.auth.status=FAIL \
	"smtp.auth.finding~before STARTTLS" "smtp.auth.evidence~PLAIN LOGIN" "cap~plaintext AUTH"
expect "STARTTLS with a self-signed certificate: WARN; Postfix discards injected plaintext" \
	tls.starttls.status=PASS tls.certificate.status=WARN "tls.certificate.finding~self-signed" \
	tls.injection.status=PASS
expect "relay refused with 554 from an untrusted source" smtp.relay.status=PASS \
	"smtp.relay.evidence~554 5.7.1" "smtp.relay.evidence~(--source)"
expect "postconf read: VRFY and AUTH settings flagged" host.postconf.status=WARN \
	"host.postconf.finding~disable_vrfy_command = no" "host.postconf.finding~smtpd_tls_auth_only = no"
if [ -n "$MILTER_BIN" ]; then
	expect "the milter in smtpd_milters answers the handshake" host.milter.status=PASS
else
	expect "the milter in smtpd_milters does not answer: FAIL" host.milter.status=FAIL
fi
if [ "$ms" -lt 5000 ] && [ "$rc" = 0 ]; then ok "full audit of a local Postfix in $ms ms"; else not_ok "full audit of a local Postfix under 5 s" "$ms ms, rc $rc"; fi

# Without --source the probe comes from 127.0.0.1, which mynetworks trusts.
audit
expect "relay from 127.0.0.1 (in mynetworks): NOT TESTED" "smtp.relay.status=NOT TESTED" \
	"smtp.relay.finding~mynetworks"

# ---- State 2: VRFY disabled, AUTH only after TLS, expired certificate, 454 ----
mp_postfix_conf disable_vrfy_command=yes smtpd_tls_auth_only=yes \
	"smtpd_tls_cert_file=$D/ca/cert.pem" "smtpd_tls_key_file=$D/ca/key.pem" \
	"smtpd_relay_restrictions=permit_mynetworks, defer_unauth_destination"
audit --source 127.0.0.2
expect "VRFY disabled (502): PASS" smtp.vrfy.status=PASS "smtp.vrfy.finding~502"
expect "AUTH only after STARTTLS: PASS, said so" smtp.auth.status=PASS "smtp.auth.finding~only after STARTTLS" "smtp.auth.evidence~before STARTTLS: no AUTH"
expect "expired certificate: FAIL" tls.certificate.status=FAIL "tls.certificate.finding~expired"
expect "relay refused with 454: counts as refused" smtp.relay.status=PASS "smtp.relay.evidence~454 4.7.1"

# ---- State 3: uniform 252 (local_recipient_maps empty) ----
mp_postfix_conf disable_vrfy_command=no "local_recipient_maps="
audit --source 127.0.0.2
expect "uniform 252 with local_recipient_maps empty: PASS" smtp.vrfy.status=PASS "smtp.vrfy.finding~uniform"

# ---- State 4: VRFY hidden from EHLO but still answering ----
mp_postfix_conf "local_recipient_maps=proxy:unix:passwd.byname" smtpd_discard_ehlo_keywords=vrfy
audit --source 127.0.0.2
expect "VRFY not announced but answering: judged by the answers, FAIL" smtp.vrfy.status=FAIL \
	"smtp.vrfy.evidence~not announced in EHLO"

# ---- State 5: open relay (mynetworks 0.0.0.0/0) ----
mp_postfix_conf "mynetworks=0.0.0.0/0"
audit --source 127.0.0.2
expect "open relay from 127.0.0.2: FAIL, grade F" smtp.relay.status=FAIL grade=F "cap~open relay" \
	host.postconf.status=FAIL "host.postconf.finding~0.0.0.0/0"

echo "# $N tests, $FAILED failed"
[ "$FAILED" -eq 0 ]
