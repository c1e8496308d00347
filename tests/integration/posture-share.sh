#!/bin/bash
# Posture scores shared between MX hosts: two mailposture-milter
# processes on one Redis ([redis] share_posture, the default). The first
# judges a message from a domain and computes its posture; the second,
# later, judges a message from the same domain and reuses that score, as
# its log shows, without computing it again (it publishes nothing) and
# without a Redis read on the message's path (its writer thread brought
# the score in beforehand: no HMGET, no HGETALL reach Redis). TAP. Runs
# under tests/harness/with-servers (MP_TEST_RESOLVER); needs python3.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"
: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
MILTER_BIN="$TEST_BUILDDIR/milter/mailposture-milter"
DOMAIN=pass.milter.example.net

for c in python3 redis-cli redis-server; do
	command -v "$c" >/dev/null 2>&1 || { echo "1..0 # SKIP $c not found"; exit 0; }
done
[ -x "$MILTER_BIN" ] || { echo "1..0 # SKIP $MILTER_BIN not built"; exit 0; }
[ -n "${MP_TEST_RESOLVER:-}" ] || { echo "Bail out! MP_TEST_RESOLVER not set"; exit 1; }

D=$MP_HARNESS_DIR
chmod 755 "$D"
export MP_MILTER_BIN="$MILTER_BIN"
echo "1..6"

mp_start_redis || { echo "Bail out! redis-server did not start"; exit 1; }
RPORT=$MP_REDIS_PORT

# start NAME: a milter on its own port and log -> its PID in PID_NAME, port in PORT_NAME.
start() {
	local port
	port=$(mp_free_port)
	cat > "$D/$1.conf" <<CONF
[milter]
socket = inet:$port@127.0.0.1
user = nobody
pidfile =
[dns]
resolver = $MP_TEST_RESOLVER
[policy]
authserv_id = mx.example.net
[redis]
address = 127.0.0.1:$RPORT
CONF
	chmod 644 "$D/$1.conf"
	MP_MILTER_LOG="$D/$1.log"
	mp_start_milter "$D/$1.conf" || { echo "Bail out! milter $1 did not start"; exit 1; }
	printf -v "PID_$1" '%s' "$MP_MILTER_PID"
	# postfix.sh stops the last milter only: the harness stops both.
	MP_HARNESS_PIDS="$MP_HARNESS_PIDS $MP_MILTER_PID"
	printf -v "PORT_$1" '%s' "$port"
}
start a
start b
redis-cli -p "$RPORT" config resetstat > /dev/null

mp_milter_load "$PORT_a" A 1 "$DOMAIN" 1 > "$D/load-a.out" 2>&1
# The posture A computed is published, then read by B's writer thread
# (it looks once a second).
for _ in $(seq 1 100); do
	[ "$(redis-cli -p "$RPORT" xlen mp:postures)" -ge 1 ] && break
	sleep 0.1
done
sleep 2.5
# Every command a client sends while B judges its message (MONITOR also
# shows the script's own calls, tagged "lua").
redis-cli -p "$RPORT" monitor > "$D/monitor.log" 2>&1 &
monitor=$!
MP_HARNESS_PIDS="$MP_HARNESS_PIDS $monitor"
sleep 0.5
mp_milter_load "$PORT_b" B 1 "$DOMAIN" 1 > "$D/load-b.out" 2>&1
sleep 1.5
kill "$monitor"
{ wait "$monitor"; } 2>/dev/null
MP_HARNESS_PIDS=$(echo " $MP_HARNESS_PIDS " | sed "s/ $monitor / /")

posture_of() {  # posture_of LOG: the posture=S/G its message line shows
	sed -n "s/.* from=$DOMAIN .* posture=\\([^ ]*\\) .*/\\1/p" "$1" | head -n 1
}
pa=$(posture_of "$D/a.log")
pb=$(posture_of "$D/b.log")
check "milter A judged the message and computed the posture ($pa)" \
	sh -c "grep -q '^sent 1 accepted 1' '$D/load-a.out' && [ -n '$pa' ] && [ '$pa' != '0/F' ]"
check "A published the score for the other hosts" \
	sh -c "redis-cli -p $RPORT xrange mp:postures - + | grep -qx '$DOMAIN'"
if grep -F "posture of $DOMAIN: $pa computed by " "$D/b.log" |
	grep -qF " s ago, reused (shared through redis)"; then
	ok "milter B reused A's score, as its log says"
else
	not_ok "milter B reused A's score, as its log says" "$(grep -v 'client=' "$D/b.log" | tail -n 5)"
fi
check "B's verdict carries the same posture ($pb)" test "$pb" = "$pa"
# B computed nothing: only A's score is in the stream.
check "B did not compute the posture again (one publication, A's)" \
	test "$(redis-cli -p "$RPORT" xlen mp:postures)" = 1
# A read on the message's path would be the store's reader (HMGET); the
# writer threads only send EVALSHA, XADD and XRANGE.
sent=$(sed -n 's/^[0-9.]* \[[0-9]* 127\.0\.0\.1:[0-9]*\] "\([A-Za-z]*\)".*/\1/p' "$D/monitor.log" |
	tr 'a-z' 'A-Z' | sort -u | tr '\n' ' ')
if echo "$sent" | grep -q EVALSHA && ! echo "$sent" | grep -qE 'HMGET|HGET|GET '; then
	ok "no Redis read on the message's path (B's clients sent: $sent)"
else
	not_ok "no Redis read on the message's path" "sent: $sent"
fi
for pid in "$PID_a" "$PID_b"; do
	MP_MILTER_PID=$pid
	mp_stop_milter
	MP_HARNESS_PIDS=$(echo " $MP_HARNESS_PIDS " | sed "s/ $pid / /")
done
[ "$FAILED" = 0 ]
