#!/bin/bash
# mailposture-check against the test zones (tests/zones/example.com.zone,
# example.net.zone) through the real resolver path. TAP output.
# Runs under tests/harness/with-servers, which sets MP_TEST_RESOLVER.
set -u
: "${MP_TEST_RESOLVER:?run me under tests/harness/with-servers}"
CHECK="$TEST_BUILDDIR/milter/mailposture-check"
PY=/usr/bin/python3
. "$(cd "$(dirname "$0")" && pwd)/../harness/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${silent_pid:-}" ] && kill "$silent_pid" 2>/dev/null' EXIT

# run NAME ARGS...: runs mailposture-check --json, output in $tmp/out.json
run() {
	"$CHECK" --resolver "$MP_TEST_RESOLVER" --authserv-id mx.example.org --json "$@" \
		> "$tmp/out.json" 2> "$tmp/err"
}

# field PATH: prints a field of the last JSON output (dotted path)
field() {
	$PY -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v=v[k]
print(str(v).lower() if isinstance(v,bool) else v)' "$tmp/out.json" "$1" 2>/dev/null
}

# expect DESC PATH=VALUE...: one TAP line for all of the fields
expect() {
	local desc=$1 bad=() kv k want got
	shift
	for kv in "$@"; do
		k=${kv%%=*}; want=${kv#*=}
		got=$(field "$k")
		[ "$got" = "$want" ] || bad+=("$k: expected '$want', got '$got'")
	done
	if [ ${#bad[@]} -eq 0 ]; then ok "$desc"; else not_ok "$desc" "${bad[@]}" "$(head -c 2000 "$tmp/out.json")" "$(cat "$tmp/err")"; fi
}

echo "1..17"

run --ip 192.0.2.10 --helo mail.example.com --mail-from bob@pass.example.com --from-domain pass.example.com
expect "SPF pass, DMARC pass aligned" spf.result=pass dmarc.result=pass dmarc.spf_aligned=true \
	dmarc.policy=reject dmarc.disposition=none action.action=accept posture.score=100 posture.grade=A+
hdr=$(field authentication_results)
want=$'mx.example.org; spf=pass smtp.mailfrom=bob@pass.example.com;\n\tdmarc=pass (p=reject dis=none) header.from=pass.example.com'
if [ "$hdr" = "$want" ]; then ok "exact Authentication-Results header"; else not_ok "exact Authentication-Results header" "got: $hdr" "want: $want"; fi

run --ip 198.51.100.7 --helo mail.example.net --mail-from bob@pass.example.com --from-domain pass.example.com
expect "SPF fail with DMARC p=reject" spf.result=fail dmarc.result=fail dmarc.policy=reject \
	dmarc.disposition=reject dmarc.spf_aligned=false

run --ip 203.0.113.5 --helo mail.example.net --mail-from bob@soft.example.com --from-domain soft.example.com
expect "softfail; org-domain record with sp=quarantine applies" spf.result=softfail dmarc.result=fail \
	dmarc.policy=quarantine dmarc.disposition=quarantine dmarc.from_org=true dmarc.policy_domain=example.com

run --ip 192.0.2.10 --helo mail.example.com --mail-from bob@news.example.com --from-domain news.example.com
expect "subdomain sender covered by the org record passes" spf.result=pass dmarc.result=pass dmarc.from_org=true \
	dmarc.policy=quarantine

run --ip 198.51.100.9 --helo mail.example.net --mail-from alice@norec.example.net --from-domain norec.example.net
expect "no records at all" spf.result=none dmarc.result=none action.action=accept posture.score=0 posture.complete=true

run --ip 192.0.2.10 --helo mail.example.com --mail-from bob@bounce.strict.example.com --from-domain strict.example.com
expect "aspf=s: a subdomain MAIL FROM is not aligned" spf.result=pass dmarc.result=fail dmarc.spf_aligned=false

run --ip 192.0.2.10 --helo mail.example.com --mail-from bob@bounce.relaxed.example.com --from-domain relaxed.example.com
expect "aspf=r: a subdomain MAIL FROM is aligned" spf.result=pass dmarc.result=pass dmarc.spf_aligned=true

run --ip 192.0.2.10 --helo mail.example.com --mail-from bob@twospf.example.com --from-domain twospf.example.com
expect "two SPF records: permerror" spf.result=permerror dmarc.result=fail

run --ip 192.0.2.10 --helo mail.example.com --mail-from "" --from-domain pass.example.com
expect "null sender uses postmaster@HELO" spf.result=none spf.identity=postmaster@mail.example.com

printf 'From: Alice <alice@pass.example.com>, Mallory <m@norec.example.net>\nSubject: x\n\nbody\n' > "$tmp/two.eml"
run --ip 192.0.2.10 --helo mail.example.com --mail-from bob@pass.example.com "$tmp/two.eml"
expect "From with two domains: strictest outcome, problem reported" problem="several From domains" \
	dmarc.result=none from_domain=norec.example.net

printf 'From: Alice <alice@pass.example.com>, Mallory <m@weak.example.com>\nSubject: x\n\nbody\n' > "$tmp/two2.eml"
run --ip 198.51.100.7 --helo mail.example.net --mail-from bob@pass.example.com "$tmp/two2.eml"
expect "From with two failing domains: the p=reject one wins" dmarc.result=fail dmarc.disposition=reject \
	from_domain=pass.example.com

printf 'Subject: no from\n\nbody\n' > "$tmp/nofrom.eml"
run --ip 192.0.2.10 --helo mail.example.com --mail-from bob@pass.example.com "$tmp/nofrom.eml"
expect "missing From" problem="no From header" dmarc.result=permerror

# A dead upstream: a UDP socket that never answers. The answer must be
# temperror (never none), within the timeout plus a little.
port=$($PY -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$PY -c 'import socket,sys,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",int(sys.argv[1]))); time.sleep(60)' "$port" &
silent_pid=$!
sleep 0.2
start=$(date +%s%N)
"$CHECK" --resolver "127.0.0.1@$port" --timeout 1000 --json --ip 192.0.2.10 --helo mail.example.com \
	--mail-from bob@pass.example.com --from-domain pass.example.com > "$tmp/out.json" 2> "$tmp/err"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect "dead upstream: temperror, never none" spf.result=temperror dmarc.result=temperror posture.complete=false
if [ "$ms" -lt 12000 ]; then ok "dead upstream answered in $ms ms (eval_timeout 10 s)"; else not_ok "dead upstream took $ms ms"; fi

"$CHECK" --ip 192.0.2.10 > /dev/null 2>&1; rc=$?
[ "$rc" = 2 ] && ok "missing arguments exit 2" || not_ok "missing arguments exit 2 (got $rc)"
"$CHECK" --resolver "$MP_TEST_RESOLVER" --ip 192.0.2.10 /nonexistent/file.eml > /dev/null 2> "$tmp/err"; rc=$?
if [ "$rc" = 2 ] && [ "$(wc -l < "$tmp/err")" = 1 ]; then ok "unreadable file: one-line error, exit 2"; else not_ok "unreadable file: exit $rc" "$(cat "$tmp/err")"; fi

[ "$FAILED" -eq 0 ]
