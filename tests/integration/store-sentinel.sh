#!/bin/bash
# The store behind Redis Sentinel: a master, its replica and three
# redis-sentinel processes on loopback. A real mailposture-milter
# ([redis] sentinels, master_name) judges a steady load of messages; the
# replica stops acknowledging (SIGSTOP), then the master is killed: the
# writes of the last moments are on no replica. Sentinel promotes the
# replica once it is back, the writer follows (+switch-master or its
# errors, the queue kept meanwhile), and what no replica had confirmed
# (WAIT after each batch) is sent again: afterwards the verdicts counted
# in Redis are the messages the milter accepted, each counted once. The old master comes back as a replica,
# and mailposture-report with read_from = replica reads there, with the
# master's answers. TAP. Runs under tests/harness/with-servers
# (MP_TEST_RESOLVER); needs python3 and redis-sentinel.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"
: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
MILTER_BIN="$TEST_BUILDDIR/milter/mailposture-milter"
REPORT="$TEST_BUILDDIR/report/mailposture-report"
NMSG=1500
RATE=150

for c in python3 redis-cli redis-server redis-sentinel; do
	command -v "$c" >/dev/null 2>&1 || { echo "1..0 # SKIP $c not found"; exit 0; }
done
[ -x "$MILTER_BIN" ] || { echo "1..0 # SKIP $MILTER_BIN not built"; exit 0; }
[ -n "${MP_TEST_RESOLVER:-}" ] || { echo "Bail out! MP_TEST_RESOLVER not set"; exit 1; }

D=$MP_HARNESS_DIR
chmod 755 "$D"
export MP_MILTER_BIN="$MILTER_BIN"
echo "1..8"

mp_start_sentinel || { echo "Bail out! the sentinels did not start"; exit 1; }
OLD=$MP_SENTINEL_MASTER_PORT
NEW=$MP_SENTINEL_REPLICA_PORT
MPORT=$(mp_free_port)
cat > "$D/milter.conf" <<CONF
[milter]
socket = inet:$MPORT@127.0.0.1
user = nobody
pidfile =
[dns]
resolver = $MP_TEST_RESOLVER
timeout = 10000
[policy]
authserv_id = mx.example.net
eval_timeout = 60
[redis]
sentinels = $MP_SENTINELS
master_name = mp-master
timeout = 300
CONF
chmod 644 "$D/milter.conf"
MP_MILTER_LOG="$D/milter.log"
mp_start_milter "$D/milter.conf" || { echo "Bail out! milter did not start"; exit 1; }

# messages PORT: message keys on the server at PORT.
messages() {
	redis-cli -p "$1" --scan --pattern 'mp:m:*' | sort -u | wc -l
}

mp_milter_load "$MPORT" S "$NMSG" 300 4 "$RATE" > "$D/load.out" 2> "$D/load.err" &
load=$!
# A third of the way: the master dies at once (no shutdown, no last write).
for _ in $(seq 1 300); do
	[ "$(messages "$OLD")" -ge $((NMSG / 3)) ] && break
	sleep 0.1
done
# The replica stops confirming: batches wait for it in vain and are kept.
kill -STOP "$MP_SENTINEL_REPLICA_PID"
sleep 1
at_kill=$(messages "$OLD")
# (braces: bash reports a killed job on the shell's stderr)
{ kill -9 "$MP_SENTINEL_MASTER_PID"; wait "$MP_SENTINEL_MASTER_PID"; } 2>/dev/null
sleep 0.3
kill -CONT "$MP_SENTINEL_REPLICA_PID"
t0=$(date +%s)
for _ in $(seq 1 300); do
	redis-cli -p "${MP_SENTINELS##*:}" sentinel get-master-addr-by-name mp-master 2>/dev/null |
		grep -qx "$NEW" && break
	sleep 0.1
done
promoted=$(( $(date +%s) - t0 ))
wait "$load"
load_rc=$?
for _ in $(seq 1 600); do
	[ "$(messages "$NEW")" -ge "$NMSG" ] && break
	sleep 0.1
done

if [ "$load_rc" = 0 ] && grep -q "^sent $NMSG accepted $NMSG refused 0" "$D/load.out"; then
	ok "the milter accepted all $NMSG messages, the master killed after $at_kill"
else
	not_ok "the milter accepted all $NMSG messages" "$(cat "$D/load.out" "$D/load.err")"
fi
check "Sentinel promoted the replica (in about $promoted s)" \
	sh -c "redis-cli -p '${MP_SENTINELS##*:}' sentinel get-master-addr-by-name mp-master | grep -qx '$NEW'"
check "what no replica had confirmed was sent again to the new master" \
	grep -qE 'redis: [0-9]+ verdicts no replica had confirmed are sent again' "$MP_MILTER_LOG"
check "the writer followed the failover to the new master" \
	grep -qE "redis: (sentinel switched master mp-master to 127\.0\.0\.1:$NEW|connected to 127\.0\.0\.1:$NEW)" \
	"$MP_MILTER_LOG"
n=$(messages "$NEW")
check "no verdict lost: the new master holds the $NMSG messages ($n)" test "$n" = "$NMSG"
printf '[redis]\nsentinels = %s\nmaster_name = mp-master\n' "$MP_SENTINELS" > "$D/report.conf"
"$REPORT" -c "$D/report.conf" --json summary --days 1 > "$D/summary.json" 2> "$D/summary.err"
total=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['total']['messages'])" \
	"$D/summary.json" 2>/dev/null)
check "each counted once: the daily counters say $NMSG messages (${total:-none})" test "$total" = "$NMSG"
mp_stop_milter
check "no script error in the milter's log" sh -c "! grep -qiE 'script error|not stored' '$MP_MILTER_LOG'"

# The old master comes back, empty, on its port: Sentinel makes it a
# replica of the new one.
redis-server --bind 127.0.0.1 --port "$OLD" --save '' --appendonly no --dir "$D" \
	> "$D/old-master.log" 2>&1 &
MP_HARNESS_PIDS="$MP_HARNESS_PIDS $!"
# sentinel_sees_replica: the sentinels list the old master as a replica
# that is up and linked (they refresh a replica's state every 10 s).
sentinel_sees_replica() {
	redis-cli -p "${MP_SENTINELS##*:}" sentinel replicas mp-master 2>/dev/null | awk -v me="127.0.0.1:$OLD" '
		$0 == "name" { getline; cur = $0 }
		$0 == "flags" { getline; if (cur == me && $0 == "slave") f = 1 }
		$0 == "master-link-status" { getline; if (cur == me && $0 == "ok") l = 1 }
		END { exit !(f && l) }'
}
for _ in $(seq 1 400); do
	redis-cli -p "$OLD" info replication 2>/dev/null | grep -q '^master_link_status:up' &&
		[ "$(messages "$OLD")" = "$NMSG" ] && sentinel_sees_replica && break
	sleep 0.1
done
printf 'read_from = replica\n' >> "$D/report.conf"
redis-cli -p "$OLD" config resetstat > /dev/null
redis-cli -p "$NEW" config resetstat > /dev/null
"$REPORT" -c "$D/report.conf" --json summary --days 1 > "$D/replica.json" 2> "$D/replica.err"
on_replica=$(redis-cli -p "$OLD" info commandstats | grep -c '^cmdstat_hgetall:')
on_master=$(redis-cli -p "$NEW" info commandstats | grep -c '^cmdstat_hgetall:')
if [ "$on_replica" = 1 ] && [ "$on_master" = 0 ] && cmp -s "$D/summary.json" "$D/replica.json"; then
	ok "read_from = replica: the report read the replica, with the master's answer"
else
	not_ok "read_from = replica: the report read the replica" "replica $on_replica master $on_master" \
		"$(diff "$D/summary.json" "$D/replica.json" | head -n 5)" "$(cat "$D/replica.err")"
fi
grep -E "redis" "$MP_MILTER_LOG" | grep -v "client=" | head -n 12 | sed 's/^/# milter: /'
[ "$FAILED" = 0 ]
