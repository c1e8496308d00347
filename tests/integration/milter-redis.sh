#!/bin/bash
# The milter's Redis cache end to end: messages through a real Postfix
# and mailposture-milter land in a real redis-server and show up in
# mailposture-report; Redis stopped while mail flows loses no mail and
# counts the drops; writes resume when Redis is back, without a restart;
# a wrong password gives one clear log line. TAP output. Runs under
# tests/harness/with-servers (MP_TEST_RESOLVER); needs root and postfix.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"
: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
export MP_MILTER_BIN="$TEST_BUILDDIR/milter/mailposture-milter"
REPORT="$TEST_BUILDDIR/report/mailposture-report"

if ! why=$(mp_postfix_available); then echo "1..0 # SKIP $why"; exit 0; fi
[ -n "${MP_TEST_RESOLVER:-}" ] || { echo "Bail out! MP_TEST_RESOLVER not set"; exit 1; }


D=$MP_HARNESS_DIR
chmod 755 "$D"
mp_start_redis || { echo "Bail out! redis-server did not start"; exit 1; }
RPORT=$MP_REDIS_PORT
MPORT=$(mp_free_port)
CONF="$D/mailposture.conf"
MP_MILTER_LOG="$D/milter.log"

write_conf() {  # write_conf [extra [redis] lines]
	cat > "$CONF" <<CONF
[milter]
socket = inet:$MPORT@127.0.0.1
user = nobody
pidfile = $D/milter.pid
[dns]
resolver = $MP_TEST_RESOLVER
[policy]
authserv_id = mx.example.net
[redis]
address = 127.0.0.1:$RPORT
timeout = 300
$*
CONF
	chmod 644 "$CONF"
}

# send N CLIENT MAIL-FROM FROM-HEADER: N messages in one SMTP session each.
send() {
	local i
	for i in $(seq 1 "$1"); do
		swaks --server "127.0.0.1:$MP_SMTP_PORT" --xclient-addr "$2" --helo mail.example.org \
			--from "$3" --to rcpt@example.net --header "From: $4" --timeout 30 \
			>> "$D/swaks.log" 2>&1 || echo "swaks failed" >> "$D/swaks.errors"
	done
}

write_conf
mp_start_milter "$CONF" || { echo "Bail out! milter did not start"; exit 1; }
mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
mp_start_postfix "inet:127.0.0.1:$MPORT" || { echo "Bail out! postfix did not start"; exit 1; }
echo "1..12"

send 3 192.0.2.10 bob@pass.example.com "Bob <bob@pass.example.com>"
send 2 198.51.100.7 ceo@pass.example.com "CEO <ceo@pass.example.com>"
send 1 198.51.100.9 alice@norec.example.net "Alice <alice@norec.example.net>"
mp_sink_wait 6 30 || true
# The writer is asynchronous: wait until Redis has all six messages.
for _ in $(seq 1 50); do
	[ "$(redis-cli -p "$RPORT" --scan --pattern 'mp:m:*' | wc -l)" -ge 6 ] && break
	sleep 0.1
done
check "six verdicts stored" test "$(redis-cli -p "$RPORT" --scan --pattern 'mp:m:*' | wc -l)" = 6

"$REPORT" --redis "127.0.0.1:$RPORT" --json domain pass.example.com > "$D/dom.json" 2> "$D/dom.err"
rc=$?
got=$(/usr/bin/python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
print(d["all_time"]["messages"], d["all_time"]["dmarc_fail"], d["all_time"]["reject"])' "$D/dom.json" 2>/dev/null)
if [ "$rc" = 0 ] && [ "$got" = "5 2 2" ]; then ok "report: pass.example.com has 5 messages, 2 DMARC failures, 2 rejected"
else not_ok "report: pass.example.com counters" "exit $rc, got '$got'" "$(head -c 1500 "$D/dom.json")" "$(cat "$D/dom.err")"; fi

"$REPORT" --redis "127.0.0.1:$RPORT" top --volume > "$D/top.txt" 2>&1
check "report top --volume lists pass.example.com first" sh -c "grep -v '^ *$' '$D/top.txt' | grep -m1 -n 'example' | grep -q 'pass.example.com'"
"$REPORT" --redis "127.0.0.1:$RPORT" ip 198.51.100.7 > "$D/ip.txt" 2>&1
check "report ip 198.51.100.7 names the forged domain" grep -q pass.example.com "$D/ip.txt"
check "report text fits 100 columns" sh -c "! awk 'length > 100' '$D/top.txt' '$D/ip.txt' | grep -q ."

# Redis goes away while mail flows: no mail lost, every message has our header.
before=$(mp_sink_count)
kill "$MP_REDIS_PID"
for _ in $(seq 1 50); do kill -0 "$MP_REDIS_PID" 2>/dev/null || break; sleep 0.1; done
send 5 192.0.2.10 bob@pass.example.com "Bob <bob@pass.example.com>"
mp_sink_wait $((before + 5)) 30
check "Redis down: all 5 messages delivered" test "$(mp_sink_count)" -eq $((before + 5))
hdrs=$(grep -l '^Authentication-Results: mx.example.net' "$MP_SINK_DIR"/* | wc -l)
check "Redis down: every message carries our header" test "$hdrs" -eq "$(mp_sink_count)"
check "Redis down: swaks saw no failure" test ! -s "$D/swaks.errors"
check "Redis down: the milter logged the outage" grep -qE 'redis at .*(closed|refused)|cannot connect to redis' "$MP_MILTER_LOG"

# Redis comes back on the same port: writes resume without a restart.
redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --dir "$D" \
	> "$D/redis2.log" 2>&1 &
MP_HARNESS_PIDS="$MP_HARNESS_PIDS $!"
for _ in $(seq 1 50); do redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
sleep 1.5	# the writer's reconnect backoff
send 2 192.0.2.10 bob@pass.example.com "Bob <bob@pass.example.com>"
for _ in $(seq 1 100); do
	[ "$(redis-cli -p "$RPORT" --scan --pattern 'mp:m:*' | wc -l)" -ge 2 ] && break
	sleep 0.1
done
check "Redis back: new verdicts are written again (same milter process)" \
	test "$(redis-cli -p "$RPORT" --scan --pattern 'mp:m:*' | wc -l)" -ge 2

# A wrong password: one clear log line, mail still flows.
redis-cli -p "$RPORT" config set requirepass s3cret > /dev/null
printf 'wrong\n' > "$D/redis.pw"
chmod 600 "$D/redis.pw"
chown nobody "$D/redis.pw"
write_conf "password_file = $D/redis.pw"
kill -HUP "$MP_MILTER_PID"
sleep 1
before=$(mp_sink_count)
send 1 192.0.2.10 bob@pass.example.com "Bob <bob@pass.example.com>"
mp_sink_wait $((before + 1)) 30
sleep 1
check "wrong password: the message is still delivered" test "$(mp_sink_count)" -eq $((before + 1))
check "wrong password: a log line says so" grep -q 'redis AUTH failed.*password_file' "$MP_MILTER_LOG"
grep -iE "redis|store" "$MP_MILTER_LOG" | head -n 20 | sed "s/^/# milter log: /"
