#!/bin/bash
# IPv6 end to end: a private Postfix listening on [::1] only, probed with
# --host ::1 (and from ::1, outside its mynetworks), for a domain whose
# MX hosts have AAAA records and TLSA records, whose public IPv6 address
# has a PTR in ip6.arpa that resolves back (FCrDNS for IPv6), and which a
# test DNSBL lists under the address's nibble name. Zones made here,
# served by a private NSD. TAP output; needs root.
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
ip -6 addr show dev lo 2>/dev/null | grep -q '::1/128' || { echo "1..0 # SKIP no ::1 on lo"; exit 0; }
D=$MP_HARNESS_DIR
chmod 755 "$D"
Z=v6.example
IP=2001:db8:17::25
IP2=2001:db8:17::26
CA=$D/ca
mp_tls_ca "$CA" && mp_tls_leaf "$CA" mx inter 30 "mx1.$Z" ||
	{ echo "Bail out! could not make the certificates"; exit 1; }
KEY=$(mp_tls_spki_sha256 "$CA/mx.pem")

# The reversed nibbles of an address, without ".ip6.arpa".
nibbles() {
	/usr/bin/python3 -c 'import ipaddress, sys
print(ipaddress.ip_address(sys.argv[1]).reverse_pointer[:-len(".ip6.arpa")])' "$1"
}
NIB=$(nibbles "$IP")
REV=7.1.0.0.8.b.d.0.1.0.0.2.ip6.arpa
mkdir -p "$D/zones"
soa() { printf '$ORIGIN %s.\n$TTL 300\n@\tIN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300\n\tIN NS ns.%s.\n' "$1" "$Z" "$Z" "$Z"; }
{
	soa "$Z"
	cat <<ZONE
ns	IN A 192.0.2.53
@	IN MX 10 mx1.$Z.
@	IN MX 20 mx2.$Z.
mx1	IN AAAA $IP
mx2	IN A 192.0.2.26
mx2	IN AAAA $IP2
_25._tcp.mx1	IN TLSA 3 1 1 $KEY
_25._tcp.mx2	IN TLSA 3 1 1 $(printf '%064d' 0)
$NIB.bl	IN A 127.0.0.2
ZONE
} > "$D/zones/$Z.zone"
{ soa "$REV"; printf '%s\tIN PTR mx1.%s.\n' "${NIB%."${REV%.ip6.arpa}"}" "$Z"; } > "$D/zones/$REV.zone"
{ soa 2.0.192.in-addr.arpa; echo "53	IN PTR ns.$Z."; } > "$D/zones/2.0.192.in-addr.arpa.zone"
mp_start_dns "$D/zones" v6 || { echo "Bail out! NSD did not start"; exit 1; }

mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
MP_POSTFIX_LISTEN="[::1]" mp_start_postfix "" "myhostname = mx1.$Z
mynetworks = 127.0.0.1/32
relay_domains =
smtpd_authorized_xclient_hosts =" || { echo "Bail out! postfix did not start on [::1]"; exit 1; }
mp_postfix_tls "$CA/mx-chain.pem"

printf '[dns]\nresolver = %s\n[audit]\nca_file = %s\n' "$MP_TEST_RESOLVER" "$CA/root.pem" > "$D/audit.conf"
AUDIT_JSON="$D/out.json"
AUDIT_ERR="$D/err"
. "$here/../harness/audit-json.sh"
"$AUDIT" -c "$D/audit.conf" --no-host-checks --no-store --host ::1 --port "$MP_SMTP_PORT" \
	--source ::1 --domain "$Z" --public-ip "$IP" --dnsbl-zones "bl.$Z" --json > "$D/out.json" 2> "$D/err"

echo "1..8"
expect "the probe over IPv6 to [::1]: SMTP, STARTTLS and the certificate PASS" smtp.service.status=PASS \
	source=::1 tls.starttls.status=PASS tls.certificate.status=PASS "tls.certificate.finding~mx1.$Z"
expect "relay from ::1, outside mynetworks: refused" smtp.relay.status=PASS "smtp.relay.evidence~from ::1 (--source)"
expect "FCrDNS of the public IPv6 address through ip6.arpa: PASS" dns.ptr.status=PASS \
	"dns.ptr.finding~mx1.$Z ==> $IP ==> mx1.$Z" smtp.hostname.status=PASS
expect "AAAA per MX host in the evidence" dns.mx.status=PASS \
	"dns.mx.evidence~MX 10 mx1.$Z: A nodata, AAAA $IP" "dns.mx.evidence~MX 20 mx2.$Z: A 192.0.2.26, AAAA $IP2"
expect "TLSA per MX host; the one of the probed MX (by its IPv6 address) matches" \
	"dns.dane.evidence~_25._tcp.mx1.$Z TLSA 3 1 1 ${KEY:0:16}" "dns.dane.evidence~_25._tcp.mx2.$Z TLSA 3 1 1" \
	tls.dane.status=PASS "tls.dane.finding~mx1.$Z"
expect "reverse DNS of every MX address, v4 and v6: mx2's are missing" dns.mx_ptr.status=WARN \
	"dns.mx_ptr.evidence~mx1.$Z $IP ==> mx1.$Z ==> $IP" "dns.mx_ptr.finding~$IP2 (mx2.$Z)" \
	"dns.mx_ptr.finding~192.0.2.26 (mx2.$Z)"
expect "DNSBL under the nibble name of the IPv6 address: listed, FAIL" dns.dnsbl.status=FAIL \
	"dns.dnsbl.evidence~$NIB.bl.$Z A 127.0.0.2: LISTED"
n=$(get dns.dnsbl.evidence | sed -n 's/^\([0-9a-f.]*\)\.bl\..*/\1/p' | awk -F. '{ print NF }')
if [ "$n" = 32 ]; then ok "the nibble name has 32 labels"; else not_ok "the nibble name has 32 labels" "$(get dns.dnsbl.evidence)"; fi

echo "# $N tests, $FAILED failed"
[ "$FAILED" -eq 0 ]
