#!/bin/bash
# mailposture-report on known data: verdicts are written through the
# real store (writer thread and script, via store-feed) into a private
# redis-server, then every command is checked as text and JSON, with its
# exit status (0 found, 1 nothing, 2 usage, 3 Redis unreachable). TAP.
set -u
: "${TEST_BUILDDIR:?run me from make check}"
. "$TEST_SRCDIR/harness/lib.sh"
. "$(cd "$(dirname "$0")" && pwd)/../harness/tap.sh"
REPORT="$TEST_BUILDDIR/report/mailposture-report"
FEED="$TEST_BUILDDIR/tests/integration/store-feed"
PY=/usr/bin/python3
tmp=$MP_HARNESS_DIR/report
mkdir -p "$tmp"

mp_start_redis || { echo "Bail out! redis-server did not start"; exit 99; }
ADDR="127.0.0.1:$MP_REDIS_PORT"

# run ARGS...: the report against the test Redis; stdout, stderr, status.
run() {
	"$REPORT" --redis "$ADDR" "$@" > "$tmp/out" 2> "$tmp/err"
	rc=$?
}

# field PATH: a field of the last JSON output (dotted path, numbers index arrays)
field() {
	$PY -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v=v[int(k)] if isinstance(v,list) else v[k]
if isinstance(v,bool): print(str(v).lower())
elif isinstance(v,list): print(len(v))
else: print(v)' "$tmp/out" "$1" 2>/dev/null
}

# expect DESC RC PATH=VALUE...: status and JSON fields in one TAP line
expect() {
	local desc=$1 want_rc=$2 bad=() kv k want got
	shift 2
	[ "$rc" = "$want_rc" ] || bad+=("exit status: expected $want_rc, got $rc")
	for kv in "$@"; do
		k=${kv%%=*}; want=${kv#*=}
		got=$(field "$k")
		[ "$got" = "$want" ] || bad+=("$k: expected '$want', got '$got'")
	done
	if [ ${#bad[@]} -eq 0 ]; then ok "$desc"; else not_ok "$desc" "${bad[@]}" "$(head -c 1500 "$tmp/out")" "$(cat "$tmp/err")"; fi
}

# text DESC RC REGEX...: status, every line within 100 columns, each regex found
text() {
	local desc=$1 want_rc=$2 bad=() re wide
	shift 2
	[ "$rc" = "$want_rc" ] || bad+=("exit status: expected $want_rc, got $rc")
	wide=$(awk 'length($0) > 100' "$tmp/out" | head -n 1)
	[ -z "$wide" ] || bad+=("line over 100 columns: $wide")
	for re in "$@"; do
		grep -Eq -- "$re" "$tmp/out" || bad+=("no line matches /$re/")
	done
	if [ ${#bad[@]} -eq 0 ]; then ok "$desc"; else not_ok "$desc" "${bad[@]}" "$(cat "$tmp/out")" "$(cat "$tmp/err")"; fi
}

echo "1..27"

cat > "$tmp/feed" <<'FEED'
domain=pass.example.com org=example.com qid=A1 ip=192.0.2.10 spf=pass dmarc=pass sa=1 published=reject score=100 grade=A+ ago=60
domain=pass.example.com org=example.com qid=A2 ip=192.0.2.10 spf=pass dmarc=pass sa=1 da=1 published=reject ago=30
domain=pass.example.com org=example.com qid=A3 ip=198.51.100.7 spf=fail dmarc=fail dispo=reject published=reject ago=20
domain=example.net qid=B1 ip=198.51.100.7 spf=softfail dmarc=none score=35 grade=D+ ago=10
domain=example.net qid=B2 ip=203.0.113.5 spf=pass dmarc=none ago=5
domain=example.org qid=C1 ip=2001:db8::25 spf=none dmarc=fail dispo=quarantine published=quarantine score=60 grade=C- ago=100000
FEED
out=$("$FEED" --redis "$ADDR" < "$tmp/feed" 2>&1)
case "$out" in *"written 6 duplicates 0 failed 0"*) ok "6 verdicts written through the store" ;;
*) not_ok "6 verdicts written through the store" "$out" ;; esac

run --json summary
expect "summary: totals over 7 days" 0 total.messages=6 total.dmarc_fail=2 total.dmarc_pass=2 \
	total.spf_pass=3 total.dmarc_pass_pct=33.3 total.quarantine=1 total.reject=1 days=7 per_day=7
run summary --days 3
text "summary as text" 0 '^Day +Messages +Domains +SPF pass +DMARC pass' '^total +6 +50\.0% +33\.3% +2 +2 '

run --json domain pass.example.com
expect "domain: counters, posture, policy, IPs, recent" 0 found=true org=example.com \
	all_time.messages=3 all_time.spf_pass=2 all_time.dmarc_fail=1 all_time.aligned=2 \
	posture.score=100 posture.grade=A+ published_policy=reject auth_score=66.7 \
	top_ips.0.ip=192.0.2.10 top_ips.0.messages=2 top_ips=2 recent=3 recent.0.qid=A3 \
	recent.0.disposition=reject
run domain PASS.Example.COM.
text "domain as text (name normalised)" 0 '^Posture: +100 A\+' '^Published DMARC: +p=reject' \
	'^all time +3 +66\.7% +1 +66\.7% +1 ' '^192\.0\.2\.10 +2$' 'A3$'

# The same queue id again (a retried write) counts once.
out=$(echo "domain=pass.example.com org=example.com qid=A1 ip=192.0.2.10 spf=pass dmarc=pass sa=1 ago=1" |
	"$FEED" --redis "$ADDR" 2>&1)
case "$out" in *"written 0 duplicates 1"*) ok "replayed queue id is a duplicate" ;;
*) not_ok "replayed queue id is a duplicate" "$out" ;; esac
run --json domain pass.example.com
expect "replayed queue id counted once" 0 all_time.messages=3 recent=3

run --json top
expect "top --worst (default): lowest posture first" 0 by=worst domains=3 \
	domains.0.domain=example.net domains.0.posture_score=35 domains.1.domain=example.org \
	domains.2.domain=pass.example.com
run --json top --worst -n 1 --days 1
expect "top --worst --days 1 leaves out domains not seen that day" 0 domains=1 domains.0.domain=example.net
run --json top --volume
expect "top --volume" 0 domains.0.domain=pass.example.com domains.0.value=3 domains.1.value=2 domains=3
run --json top --dmarc-fail -n 5
expect "top --dmarc-fail" 0 domains=2 domains.0.value=1
run top --volume
text "top as text" 0 '^# +Domain +Messages +Grade' '^1 +pass\.example\.com +3 +A\+ +66\.7 +3 +66\.7%'

run --json ip 198.51.100.7
expect "ip: domains and results" 0 found=true domains=2 domains.0.messages=1
run --json ip 2001:db8:0:0::25
expect "ip: IPv6 normalised" 0 ip=2001:db8::25 domains.0.domain=example.org domains.0.dmarc.fail=1
run ip 198.51.100.7
text "ip as text" 0 '^Domain +Messages +SPF pass' '^pass\.example\.com +1 +0 +1 +0 +1 +0 '

run --json messages --domain example.net -n 1
expect "messages -n 1" 0 messages=1 messages.0.qid=B2 messages.0.ip=203.0.113.5 messages.0.spf=pass
run messages --domain example.net
text "messages as text" 0 '^Time \(UTC\) +Client IP +SPF +DMARC' '203\.0\.113\.5 +pass +none +no'

run domain nosuch.example.com
if [ "$rc" = 1 ] && [ ! -s "$tmp/out" ] && grep -q "no data for nosuch.example.com" "$tmp/err"; then
	ok "unknown domain: exit 1, nothing on stdout"
else not_ok "unknown domain: exit 1, nothing on stdout" "rc=$rc" "$(cat "$tmp/out" "$tmp/err")"; fi
run --json ip 192.0.2.99
expect "unknown ip: exit 1, JSON says found=false" 1 found=false domains=0
run messages --domain nosuch.example.com
expect "messages of an unknown domain: exit 1" 1

bad=()
for args in "" "bogus" "summary extra" "domain" "ip" "ip not-an-ip" "messages" \
	"domain 'exa mple.com'" "summary --days 0" "summary --days x" "top --worst --volume" \
	"summary --worst" "top -n" "--frobnicate summary" "messages --domain a..b"; do
	eval "run $args"
	[ "$rc" = 2 ] || bad+=("'$args': exit $rc")
	[ "$(wc -l < "$tmp/err")" -le 2 ] || bad+=("'$args': long error")
done
if [ ${#bad[@]} -eq 0 ]; then ok "usage errors exit 2"; else not_ok "usage errors exit 2" "${bad[@]}"; fi

"$REPORT" --help > "$tmp/out" 2>&1; rc=$?
text "--help" 0 '^Usage: mailposture-report' '^Exit status:' '3  Redis unreachable' 'messages --domain NAME'

# The config file gives the address (and the key prefix, db, password).
printf '[redis]\naddress = %s\n' "$ADDR" > "$tmp/conf"
"$REPORT" -c "$tmp/conf" --json summary > "$tmp/out" 2> "$tmp/err"; rc=$?
expect "-c FILE gives the Redis address" 0 total.messages=6
printf '[redis]\naddress = %s\nkey_prefix = other:\n' "$ADDR" > "$tmp/conf2"
"$REPORT" -c "$tmp/conf2" summary > "$tmp/out" 2> "$tmp/err"; rc=$?
expect "another key_prefix sees nothing" 1
"$REPORT" summary > "$tmp/out" 2> "$tmp/err"; rc=$?
if [ -e /etc/mailposture/mailposture.conf ]; then ok "no address: skipped, a system config exists"
elif [ "$rc" = 2 ] && grep -q -- "--redis" "$tmp/err"; then ok "no address configured: exit 2"
else not_ok "no address configured: exit 2" "rc=$rc" "$(cat "$tmp/err")"; fi

# Redis down: exit 3 with one line that says why.
kill "$MP_REDIS_PID"; wait "$MP_REDIS_PID" 2>/dev/null
for _ in $(seq 1 50); do redis-cli -p "$MP_REDIS_PORT" ping >/dev/null 2>&1 || break; sleep 0.1; done
run summary
if [ "$rc" = 3 ] && [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q "cannot connect to redis at $ADDR" "$tmp/err"; then
	ok "Redis down: exit 3 and one line"
else not_ok "Redis down: exit 3 and one line" "rc=$rc" "$(cat "$tmp/err")"; fi
run --json domain pass.example.com
if [ "$rc" = 3 ] && [ ! -s "$tmp/out" ]; then ok "Redis down with --json: exit 3, no output"
else not_ok "Redis down with --json: exit 3, no output" "rc=$rc"; fi

[ "$FAILED" -eq 0 ]
