#!/bin/bash
# The milter's memory across SIGHUP reloads under load (issue 11): mail
# flows from smtp-source through a private Postfix while the milter is
# sent RELOADS (100) SIGHUPs; its RSS after the reloads must stay within
# twice its RSS after warm-up. Both figures are printed as TAP comments.
#
# Why under load: a generation's allocations are made by whichever thread
# touches it first (libmilter's per-connection threads, libunbound's
# worker, the store's writer), so they land in glibc's per-thread malloc
# arenas; without load every generation lives in one arena and the test
# would prove nothing. The configuration alternates between two [dns]
# timeouts, so half of the reloads build a new resolver and the other
# half may keep it: both paths are exercised.
#
# Under AddressSanitizer the RSS figure means nothing (its allocator
# replaces glibc's arenas and quarantines what is freed): the reloads
# and the mail still run and are checked, the RSS bound is reported as
# SKIP. scripts/test builds a plain -O2 tree as well and names it in
# MP_PLAIN_BUILDDIR: its milter is the one measured here when it is there.
# By hand: TEST_BUILDDIR=/tmp/b-o2 tests/harness/with-servers tests/integration/milter-reload-rss.sh
# Whole test bounded: about a minute on two cores (3 minutes at most).
# Runs under tests/harness/with-servers (MP_TEST_RESOLVER); needs root.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"
: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
MILTER_BIN="$TEST_BUILDDIR/milter/mailposture-milter"
[ -x "${MP_PLAIN_BUILDDIR:-/nonexistent}/milter/mailposture-milter" ] &&
	MILTER_BIN="$MP_PLAIN_BUILDDIR/milter/mailposture-milter"
export MP_MILTER_BIN="$MILTER_BIN"
RELOADS=${MP_RSS_RELOADS:-100}
DEADLINE=$((SECONDS + 170))     # the whole test, startup included

if ! why=$(mp_postfix_available); then echo "1..0 # SKIP $why"; exit 0; fi
command -v smtp-source >/dev/null 2>&1 || { echo "1..0 # SKIP smtp-source not found (Debian package postfix)"; exit 0; }
[ -x "$MILTER_BIN" ] || { echo "1..0 # SKIP $MILTER_BIN not built"; exit 0; }
[ -n "${MP_TEST_RESOLVER:-}" ] || { echo "Bail out! MP_TEST_RESOLVER not set"; exit 1; }

asan=no
if grep -q __asan_init "$MILTER_BIN" 2>/dev/null ||
    ldd "$MILTER_BIN" 2>/dev/null | grep -q libasan; then
	asan=yes
fi

D=$MP_HARNESS_DIR
chmod 755 "$D"
MPORT=$(mp_free_port)
CONF="$D/mailposture.conf"
MP_MILTER_LOG="$D/milter.log"
redis_lines=""
if mp_start_redis 2>/dev/null; then
	# The store's writer thread is part of a generation too.
	redis_lines="[redis]
address = 127.0.0.1:$MP_REDIS_PORT
timeout = 300"
fi

# write_conf DNS_TIMEOUT_MS: smtp-source connects from 127.0.0.1, which
# the default skip_networks would wave through without an evaluation.
write_conf() {
	cat > "$CONF.new" <<CONF
[milter]
socket = inet:$MPORT@127.0.0.1
user = nobody
pidfile = $D/milter.pid
skip_networks =
[dns]
resolver = $MP_TEST_RESOLVER
timeout = $1
[policy]
authserv_id = mx.example.net
[log]
level = ${MP_RSS_LOG_LEVEL:-notice}
$redis_lines
CONF
	chmod 644 "$CONF.new"
	mv "$CONF.new" "$CONF"
}

rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$MP_MILTER_PID/status" 2>/dev/null
}
reloads() {
	grep -c 'configuration reloaded' "$MP_MILTER_LOG" 2>/dev/null
}
# Messages that got past the milter and Postfix (discarded, as set up).
evaluated() {
	grep -c 'status=sent' "$MP_MAILLOG" 2>/dev/null
}

# burst ROUND: four parallel smtp-source runs, each with its own sender
# domain (new names every round, so the DNS caches keep filling as with
# real traffic), 2 sessions x 10 messages, one connection per message.
burst() {
	local r=$1 j dom pids=""
	for j in 1 2 3 4; do
		dom="r$r-$j.milter.example.net"
		printf 'From: <u@%s>\nTo: <rcpt@example.net>\nSubject: rss %s\n\nbody\n' \
			"$dom" "$r" > "$D/msg.$j"
		timeout 60 smtp-source -s 2 -m 10 -f "u@$dom" -t rcpt@example.net \
			-M client.example.org -F "$D/msg.$j" "127.0.0.1:$MP_SMTP_PORT" \
			>> "$D/source.log" 2>&1 &
		pids="$pids $!"
	done
	# (not a bare wait: the servers are this shell's children too)
	wait $pids
}

# load: bursts until $D/stop exists or the deadline nears.
load() {
	local r=1000
	while [ ! -e "$D/stop" ] && [ "$SECONDS" -lt "$DEADLINE" ]; do
		burst "$r"
		r=$((r + 1))
	done
}

# Nothing is delivered anywhere: the messages only need to pass the milter.
mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
mp_start_postfix "inet:127.0.0.1:$MPORT" "default_transport = discard:
relay_transport = discard:
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
default_process_limit = 20" ||
	{ echo "Bail out! postfix did not start"; exit 1; }
write_conf 1000
mp_start_milter "$CONF" || { echo "Bail out! the milter did not start"; exit 1; }

# Warm-up: enough traffic that every arena the load uses exists.
for r in 1 2 3 4 5; do burst "$r"; done
sleep 1
rss_start=$(rss_kb)
evals_start=$(evaluated)
check "warm-up mail went through the milter" test "${evals_start:-0}" -ge 100

load &
load_pid=$!
done_reloads=0
timeouts=(1000 1500)
for i in $(seq 1 "$RELOADS"); do
	[ "$SECONDS" -lt "$((DEADLINE - 20))" ] || break
	before=$(reloads)
	write_conf "${timeouts[$((i % 2))]}"
	kill -HUP "$MP_MILTER_PID" || break
	for _ in $(seq 1 100); do
		[ "$(reloads)" -gt "$before" ] && break
		sleep 0.05
	done
	[ "$(reloads)" -gt "$before" ] || break
	done_reloads=$i
	# Let messages run under this generation before the next one.
	sleep 0.2
done
touch "$D/stop"
wait "$load_pid"
sleep 2     # the last generations' reapers finish
rss_after=$(rss_kb)
evals_after=$(evaluated)

echo "# rss: start ${rss_start:-?} kB, after $done_reloads reloads under load ${rss_after:-?} kB"
echo "# messages through the milter: ${evals_start:-?} at warm-up, ${evals_after:-?} in all"
check "all $RELOADS reloads done (SIGHUP answered every time)" test "$done_reloads" = "$RELOADS"
check "mail kept flowing during the reloads" test "${evals_after:-0}" -ge $((${evals_start:-0} + 200))
check "no reload failed" sh -c "! grep -q 'reload failed' '$MP_MILTER_LOG'"
if [ -z "$rss_start" ] || [ -z "$rss_after" ]; then
	not_ok "RSS could be read" "start '$rss_start', after '$rss_after'"
elif [ "$asan" = yes ]; then
	ok "RSS after reloads <= 2x RSS after warm-up # SKIP AddressSanitizer build: its allocator, not glibc's arenas, decides RSS"
elif [ "$rss_after" -le $((rss_start * 2)) ]; then
	ok "RSS after $done_reloads reloads <= 2x RSS after warm-up"
else
	not_ok "RSS after $done_reloads reloads <= 2x RSS after warm-up" \
		"start $rss_start kB, after $rss_after kB"
fi

# MP_RSS_DEBUG=DIR keeps the evidence: the process's memory map summary
# and glibc's per-arena figures (malloc_stats, through gdb if present).
if [ -n "${MP_RSS_DEBUG:-}" ]; then
	mkdir -p "$MP_RSS_DEBUG"
	cat "/proc/$MP_MILTER_PID/smaps_rollup" > "$MP_RSS_DEBUG/smaps_rollup" 2>&1
	ls "/proc/$MP_MILTER_PID/task" | wc -l > "$MP_RSS_DEBUG/threads"
	command -v gdb >/dev/null 2>&1 && timeout 60 gdb -p "$MP_MILTER_PID" -batch \
		-ex 'call (void)malloc_stats()' > "$MP_RSS_DEBUG/gdb.out" 2>&1
fi
mp_stop_milter TERM
[ -n "${MP_RSS_DEBUG:-}" ] && cp "$MP_MILTER_LOG" "$MP_RSS_DEBUG/milter.log"
check "SIGTERM: clean exit (status 0)" test "${MP_MILTER_STATUS:-x}" = 0
check "no sanitizer report in the milter log" sh -c "! grep -q 'ERROR: AddressSanitizer\\|runtime error:\\|LeakSanitizer' '$MP_MILTER_LOG'"

echo "1..$N"
if [ "$FAILED" -gt 0 ]; then
	echo "# milter log (last 30 lines):"
	tail -n 30 "$MP_MILTER_LOG" | sed 's/^/# /'
	echo "# postfix log (last 10 lines):"
	tail -n 10 "$MP_MAILLOG" | sed 's/^/# /'
fi
exit 0
