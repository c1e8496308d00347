#!/bin/bash
# MTA-STS (RFC 8461) end to end: a zone of test domains served by a
# private NSD, and their policies served over HTTPS on port 443 of a
# loopback address of this test's own (tests/tls/https-server.py), with a
# certificate from a test CA made here and given to the audit as
# [audit] ca_file. Cases: good, a wildcard pattern, an MX the policy does
# not list (stale), a pattern no MX has, testing mode, a certificate for
# other names, an unreachable server, no address, a redirect, an invalid
# policy, a record without id, and the good case without the test CA.
# TAP output; needs root (port 443).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/tap.sh"
. "$here/../tls/lib.sh"
: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
AUDIT="$TEST_BUILDDIR/selfaudit/mailposture-audit"
PY=/usr/bin/python3

[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP the policy server binds port 443: run as root"; exit 0; }
D=$MP_HARNESS_DIR/sts
Z=sts.example
mkdir -p "$D/zones" "$D/www"
mp_tls_ca "$D/ca" || { echo "Bail out! could not make the test CA"; exit 1; }
names=""
for d in good wild stale extra testing redirect invalid; do names="$names mta-sts.$d.$Z"; done
# shellcheck disable=SC2086
mp_tls_leaf "$D/ca" web inter 30 $names || { echo "Bail out! could not make the certificate"; exit 1; }
mp_tls_leaf "$D/ca" other inter 30 "mta-sts.other.$Z"

# policy DOMAIN BODY [STATUS] [TYPE]: the file https://mta-sts.DOMAIN.$Z/ serves
policy() {
	local dir="$D/www/mta-sts.$1.$Z/.well-known"
	mkdir -p "$dir"
	printf '%b' "$2" > "$dir/mta-sts.txt"
	[ -n "${3:-}" ] && echo "$3" > "$dir/mta-sts.txt.status"
	[ -n "${4:-}" ] && echo "$4" > "$dir/mta-sts.txt.type"
	return 0
}
P='version: STSv1\r\nmode: enforce\r\nmax_age: 604800\r\n'
policy good "${P}mx: mx1.good.$Z\r\n"
policy wild "${P}mx: *.wild.$Z\r\n"
policy stale "${P}mx: mx1.stale.$Z\r\n"
policy extra "${P}mx: mx1.extra.$Z\r\nmx: old.extra.$Z\r\n"
policy testing "version: STSv1\r\nmode: testing\r\nmax_age: 86400\r\nmx: mx1.testing.$Z\r\n"
policy wrongname "${P}mx: mx1.wrongname.$Z\r\n"
policy redirect "https://mta-sts.good.$Z/.well-known/mta-sts.txt" 301
policy invalid "<html>version: STSv1\r\nmode: enforce\r\nmx: mx1.invalid.$Z\r\n</html>" 200 text/html

# The servers, each on port 443 of the first free address from
# 127.0.2.43 up (a parallel run of this test takes the next ones): one
# for the policies, one with a certificate for other names for
# wrongname. Nothing listens at DOWN, taken from 127.0.2.250 down, where
# no run starts a server.
start_https() { # ADDR CHAIN KEY NAME
	local pid
	$PY "$here/../tls/https-server.py" "$1" 443 "$2" "$3" "$D/www" "$D/$4.ready" 2> "$D/$4.log" &
	pid=$!
	MP_HARNESS_PIDS="$MP_HARNESS_PIDS $pid"
	for _ in $(seq 1 50); do
		[ -s "$D/$4.ready" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	mp_harness_forget "$pid"
	return 1
}
free443() { ! ss -Hlnt 2>/dev/null | awk '{print $4}' | grep -q "^$1:443\$"; }
ADDR="" ; ADDR2="" ; DOWN=""
for i in $(seq 43 90); do
	a=127.0.2.$i
	free443 "$a" || continue
	if [ -z "$ADDR" ]; then
		start_https "$a" "$D/ca/web-chain.pem" "$D/ca/web.key" web && ADDR=$a
	elif [ -z "$ADDR2" ]; then
		start_https "$a" "$D/ca/other-chain.pem" "$D/ca/other.key" other && ADDR2=$a && break
	fi
done
for i in $(seq 250 -1 200); do
	free443 "127.0.2.$i" && DOWN=127.0.2.$i && break
done
[ -n "$ADDR" ] && [ -n "$ADDR2" ] && [ -n "$DOWN" ] || { echo "Bail out! no loopback address for port 443"; cat "$D"/*.log; exit 1; }

{
	cat <<ZONE
\$ORIGIN $Z.
\$TTL 300
@	IN SOA ns.$Z. hostmaster.$Z. 1 3600 600 86400 300
	IN NS ns.$Z.
ns	IN A 192.0.2.53
ZONE
	n=60
	for d in good wild stale extra testing wrongname redirect invalid unreach noaddr noid two; do
		n=$((n + 1))
		mx=mx1.$d
		[ "$d" = stale ] && mx=mx2.$d
		[ "$d" = wild ] && mx=a.$d
		printf '%s\tIN MX 10 %s\n%s\tIN A 192.0.2.%s\n' "$d" "$mx.$Z." "$mx" "$n"
		case $d in
		noid) printf '_mta-sts.%s\tIN TXT "v=STSv1;"\n' "$d" ;;
		two) printf '_mta-sts.%s\tIN TXT "v=STSv1; id=1"\n_mta-sts.%s\tIN TXT "v=STSv1; id=2"\n' "$d" "$d" ;;
		*) printf '_mta-sts.%s\tIN TXT "v=STSv1; id=20240101T000000"\n' "$d" ;;
		esac
		case $d in
		noaddr) ;;
		unreach) printf 'mta-sts.%s\tIN A %s\n' "$d" "$DOWN" ;;
		wrongname) printf 'mta-sts.%s\tIN A %s\n' "$d" "$ADDR2" ;;
		*) printf 'mta-sts.%s\tIN A %s\n' "$d" "$ADDR" ;;
		esac
	done
} > "$D/zones/$Z.zone"
mp_start_dns "$D/zones" sts || { echo "Bail out! NSD did not start"; exit 1; }

SMTP=$(mp_free_port)    # nothing listens: only the DNS and HTTPS checks matter here
printf '[dns]\nresolver = %s\n[audit]\nca_file = %s\n' "$MP_TEST_RESOLVER" "$D/ca/root.pem" > "$D/audit.conf"
: > "$D/plain.conf"
printf '[dns]\nresolver = %s\n' "$MP_TEST_RESOLVER" > "$D/plain.conf"
AUDIT_JSON="$D/out.json"
AUDIT_ERR="$D/err"
. "$here/../harness/audit-json.sh"
run() { # CONF DOMAIN
	"$AUDIT" -c "$1" --no-host-checks --no-store --host 127.0.0.1 --port "$SMTP" --timeout 2000 \
		--domain "$2.$Z" --dnsbl-zones "" --json > "$D/out.json" 2> "$D/err"
}

echo "1..13"
run "$D/audit.conf" good
expect "good: record with id, policy fetched over HTTPS from the test CA's certificate: PASS" \
	dns.mta_sts.status=PASS "dns.mta_sts.finding~id 20240101T000000" mta_sts.policy.status=PASS \
	"mta_sts.policy.finding~mode enforce" "mta_sts.policy.evidence~HTTP 200" \
	"mta_sts.policy.evidence~MX mx1.good.$Z: matches a pattern" "mta_sts.policy.evidence~($ADDR)"
run "$D/audit.conf" wild
expect "a *. pattern matches the MX one label below: PASS" mta_sts.policy.status=PASS
run "$D/audit.conf" stale
expect "stale policy: the MX is not in it, enforce mode: FAIL" mta_sts.policy.status=FAIL \
	"mta_sts.policy.finding~MX mx2.stale.$Z not in the policy" \
	"mta_sts.policy.finding~will not deliver" "mta_sts.policy.finding~stale pattern mx1.stale.$Z"
run "$D/audit.conf" extra
expect "a pattern no MX has: WARN, named" mta_sts.policy.status=WARN \
	"mta_sts.policy.finding~stale pattern old.extra.$Z matches no MX"
run "$D/audit.conf" testing
expect "testing mode: WARN" mta_sts.policy.status=WARN "mta_sts.policy.finding~mode testing"
run "$D/audit.conf" wrongname
expect "a certificate for other names: FAIL, and the policy is still read" \
	mta_sts.policy.status=FAIL "mta_sts.policy.finding~certificate of mta-sts.wrongname.$Z is not valid" \
	"mta_sts.policy.evidence~mode enforce"
run "$D/audit.conf" unreach
expect "unreachable server: FAIL, cannot be fetched" mta_sts.policy.status=FAIL \
	"mta_sts.policy.finding~cannot be fetched" "mta_sts.policy.evidence~($DOWN)"
run "$D/audit.conf" noaddr
expect "no address for mta-sts.DOMAIN: FAIL" mta_sts.policy.status=FAIL \
	"mta_sts.policy.finding~has no A or AAAA record"
run "$D/audit.conf" redirect
expect "a redirect is not followed: FAIL" mta_sts.policy.status=FAIL "mta_sts.policy.finding~HTTP status 301" \
	"mta_sts.policy.finding~redirects"
run "$D/audit.conf" invalid
expect "an HTML page without max_age: FAIL, invalid, and not text/plain" mta_sts.policy.status=FAIL \
	"mta_sts.policy.finding~invalid policy" "mta_sts.policy.finding~no max_age" \
	"mta_sts.policy.finding~not text/plain"
run "$D/audit.conf" noid
expect "record without id: the record FAILs, no policy is fetched" dns.mta_sts.status=FAIL \
	"dns.mta_sts.finding~no id" "mta_sts.policy.status=NOT TESTED"
run "$D/audit.conf" two
expect "two v=STSv1 records: invalid" dns.mta_sts.status=FAIL "dns.mta_sts.finding~2 records"
run "$D/plain.conf" good
expect "the good case without [audit] ca_file: the certificate is not trusted, FAIL" \
	mta_sts.policy.status=FAIL "mta_sts.policy.finding~certificate of mta-sts.good.$Z is not valid"

echo "# $N tests, $FAILED failed"
[ "$FAILED" -eq 0 ]
