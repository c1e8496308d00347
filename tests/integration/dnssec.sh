#!/bin/bash
# DNSSEC through the real path: a zone signed at test time with
# ldns-signzone, served by its own NSD, validated by libunbound with the
# zone's key as trust anchor. "secure" must be reported only when
# validation succeeds, and a tampered answer must be bogus (SERVFAIL),
# never data. TAP output.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/harness/lib.sh"
PROBE="$TEST_BUILDDIR/tests/dnssec/dns-probe"
zone=dnssec.example.org
work=$(mktemp -d)
trap 'rm -rf "$work"; mp_harness_cleanup' EXIT
echo "1..4"

command -v ldns-signzone >/dev/null || { echo "Bail out! ldns-signzone missing: install ldnsutils"; exit 1; }
mkdir -p "$work/good" "$work/bad"
cat > "$work/$zone" <<ZONE
\$ORIGIN $zone.
\$TTL 300
@	IN SOA ns.$zone. hostmaster.$zone. 1 3600 600 86400 300
	IN NS ns.$zone.
ns	IN A 192.0.2.53
www	IN A 192.0.2.80
	IN TXT "v=spf1 -all"
ZONE
(
	cd "$work" || exit 1
	ksk=$(ldns-keygen -a ECDSAP256SHA256 -k "$zone")
	zsk=$(ldns-keygen -a ECDSAP256SHA256 "$zone")
	ldns-signzone -f "good/$zone.zone" "$zone" "$zsk" "$ksk" >/dev/null
	cp "$ksk.key" anchor.key
	# The tampered copy: one signed A record's data changed after signing.
	sed 's/192\.0\.2\.80/192.0.2.81/' "good/$zone.zone" > "bad/$zone.zone"
) || { echo "Bail out! could not sign the test zone"; exit 1; }

mp_start_dns "$work/good" good || { echo "Bail out! NSD did not start"; exit 1; }
good=$MP_TEST_RESOLVER
mp_start_dns "$work/bad" bad || { echo "Bail out! NSD did not start"; exit 1; }
bad=$MP_TEST_RESOLVER

t() { # n desc want got
	if [ "$3" = "$4" ]; then echo "ok $1 - $2"; else echo "not ok $1 - $2"; echo "# want: $3"; echo "# got:  $4"; fi
}
t 1 "signed zone, with its trust anchor: secure" \
	"ok secure=1 bogus=0 count=1 192.0.2.80" "$("$PROBE" "$good" "$work/anchor.key" "www.$zone" A)"
t 2 "signed TXT: secure" \
	"ok secure=1 bogus=0 count=1 v=spf1 -all" "$("$PROBE" "$good" "$work/anchor.key" "www.$zone" TXT)"
t 3 "signed zone without a trust anchor: not secure" \
	"ok secure=0 bogus=0 count=1 192.0.2.80" "$("$PROBE" "$good" "" "www.$zone" A)"
t 4 "tampered answer: bogus, SERVFAIL, no data" \
	"servfail secure=0 bogus=1 count=0 " "$("$PROBE" "$bad" "$work/anchor.key" "www.$zone" A)"
