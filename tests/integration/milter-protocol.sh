#!/bin/bash
# mailposture-milter at the protocol level: miltertest plays the MTA, one
# Lua script per topic in tests/miltertest/ (negotiation, verdicts,
# forged Authentication-Results, several messages and aborts on one
# connection, hostile input, skip rules, spoofed identities, DKIM with
# the body streamed and skipped), plus
# rawmilter.py for packets miltertest cannot send (NUL bytes, values over
# 1 KB) and bounds.py for every bound taken past its limit (floods of
# forged Authentication-Results, long HELO and MAIL FROM, a deletion that
# fails). Each script prints "ok - ..." / "not ok - ..." lines that
# become TAP here. Last, the pidfile: written and removed by the user
# the milter drops to.
# Runs under tests/harness/with-servers (MP_TEST_RESOLVER is the test
# NSD). Needs no root and no MTA; skips without miltertest.
#
# Clients are documentation addresses: libspf2 passes every 127/8
# client, and 127/8 is in the milter's default skip_networks. Senders
# live in tests/zones/milter.example.net.zone.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/tap.sh"

: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
MILTER_BIN="$TEST_BUILDDIR/milter/mailposture-milter"
MT_DIR=$(cd "$here/../miltertest" && pwd)

if ! command -v miltertest >/dev/null 2>&1; then
	echo "1..0 # SKIP miltertest not found: install the Debian package miltertest"
	exit 0
fi
if [ ! -x "$MILTER_BIN" ]; then
	echo "1..0 # SKIP $MILTER_BIN not built"
	exit 0
fi
if [ -z "${MP_TEST_RESOLVER:-}" ]; then
	echo "Bail out! MP_TEST_RESOLVER not set: run under tests/harness/with-servers"
	exit 1
fi

D=$MP_HARNESS_DIR
# As root the milter drops to nobody, who must still reach its config.
chmod 755 "$D"
MILTER_PID=""
LOG="$D/milter.log"

stop_milter() {
	[ -n "$MILTER_PID" ] || return 0
	kill "$MILTER_PID" 2>/dev/null
	# libmilter notices a stop only when its listener's poll times out:
	# up to about 5 seconds.
	for _ in $(seq 1 100); do
		kill -0 "$MILTER_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$MILTER_PID" 2>/dev/null
	{ wait "$MILTER_PID"; } 2>/dev/null
	MILTER_STATUS=$?
	MILTER_PID=""
}
trap 'stop_milter; mp_harness_cleanup' EXIT

# write_conf FILE SOCKET: the configuration every script expects.
# 198.51.100.0/24 is skipped (skip.lua); every other documentation
# network is judged. on_error = accept (the default) is the setting under
# which a bound once let a forged message through: bounds.py tests it.
write_conf() {
	cat > "$1" <<CONF
[milter]
socket = $2
user = nobody
pidfile =
on_error = accept
dmarc_reject = reject
dmarc_quarantine = quarantine
skip_networks = 127.0.0.0/8 ::1 198.51.100.0/24
[dns]
resolver = $MP_TEST_RESOLVER
timeout = 1000
[policy]
authserv_id = mx.example.net
eval_timeout = 5
[log]
level = info
CONF
	chmod 644 "$1"
}

# start_milter CONF: in the foreground, logging to $LOG; ready when the
# socket accepts connections (inet:PORT@127.0.0.1 or unix:PATH).
start_milter() {
	local conf=$1 spec port path
	spec=$(sed -n 's/^socket = //p' "$conf")
	"$MILTER_BIN" -f -c "$conf" >> "$LOG" 2>&1 &
	MILTER_PID=$!
	port=$(printf '%s' "$spec" | sed -n 's/^inet:\([0-9]*\)@.*/\1/p')
	path=${spec#unix:}
	for _ in $(seq 1 100); do
		kill -0 "$MILTER_PID" 2>/dev/null || break
		if [ -n "$port" ]; then
			ss -Hlnt 2>/dev/null | awk '{print $4}' | grep -q "127.0.0.1:$port\$" && return 0
		elif [ -S "$path" ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "# mailposture-milter did not start:"
	tail -n 20 "$LOG" | sed 's/^/#   /'
	MILTER_PID=""
	return 1
}

# report NAME OUTFILE STATUS: the script's "ok - X" / "not ok - X" lines
# as TAP ("# ..." lines after a failure are its diagnostics), then one
# check that the script ran to its end ("done") and exited 0: a script
# stopped by a Lua error or a crash fails here instead of passing by
# not running its checks.
report() {
	local name=$1 out=$2 status=$3 l desc="" diag=()
	# (not_ok loops with a variable named "line": bash scoping is
	# dynamic, so ours has another name.)
	while IFS= read -r l; do
		case "$l" in
		"ok - "* | "not ok - "*)
			[ -n "$desc" ] && not_ok "$name: $desc" "${diag[@]}"
			desc=""
			diag=()
			case "$l" in
			"ok - "*) ok "$name: ${l#ok - }" ;;
			*) desc=${l#not ok - } ;;
			esac
			;;
		"# "*) [ -n "$desc" ] && diag+=("${l#\# }") ;;
		esac
	done < "$out"
	[ -n "$desc" ] && not_ok "$name: $desc" "${diag[@]}"
	if [ "$status" = 0 ] && grep -qx done "$out"; then
		ok "$name: ran to its end"
	else
		not_ok "$name: ran to its end" "exit status $status; last lines:" "$(tail -n 8 "$out")"
	fi
}

# run_lua NAME SOCKET [-D VAR=VALUE...]: one script through miltertest.
run_lua() {
	local name=$1 sock=$2 status
	shift 2
	timeout 120 miltertest -D MT_DIR="$MT_DIR" -D SOCK="$sock" "$@" -s "$MT_DIR/$name.lua" \
		> "$D/$name.out" 2>&1
	status=$?
	report "$name" "$D/$name.out" "$status"
}

# The ESP's newsletter for dkim.example.org (tests/zones), signed at test
# time by dkimpy (tests/dkim/sign), and its unsigned twin, for dkim.lua.
DKIM_OK=""
if /usr/bin/python3 -c 'import dkim' 2>/dev/null; then
	printf 'From: Bob <bob@dkim.example.org>\nTo: <rcpt@example.net>\nSubject: News\n' > "$D/unsigned.eml"
	printf 'Message-ID: <esp1@dkim.example.org>\n\nHello,\n\nthis month'"'"'s  news.\t\n\n-- \nThe team\n' \
		>> "$D/unsigned.eml"
	sed -i 's/$/\r/' "$D/unsigned.eml"
	/usr/bin/python3 "$here/../dkim/sign" -s s2048 < "$D/unsigned.eml" > "$D/signed.eml" && DKIM_OK=1
fi
# run_dkim SOCKET: dkim.lua, or a skip without dkimpy.
run_dkim() {
	if [ -n "$DKIM_OK" ]; then
		run_lua dkim "$1" -D SIGNED="$D/signed.eml" -D UNSIGNED="$D/unsigned.eml"
	else
		ok "dkim # SKIP /usr/bin/python3 lacks dkim (python3-dkim)"
	fi
}

lines() {
	grep -c -- "$1" "$LOG" 2>/dev/null
}

# wait_log PATTERN: up to 10 s for a line that a message still in the
# milter's hands (the client gone) logs at its end.
wait_log() {
	for _ in $(seq 1 100); do
		grep -Eq -- "$1" "$LOG" && return 0
		sleep 0.1
	done
	return 1
}

# run_bounds NAME ARGS...: bounds.py against a milter socket.
run_bounds() {
	local name=$1
	shift
	timeout 300 python3 "$MT_DIR/bounds.py" "$@" > "$D/$name.out" 2>&1
	report "$name" "$D/$name.out" $?
}

# --- over TCP ----------------------------------------------------------------
PORT=$(mp_free_port)
TCP="inet:$PORT@127.0.0.1"
write_conf "$D/tcp.conf" "$TCP"
start_milter "$D/tcp.conf" || { echo "Bail out! mailposture-milter did not start"; exit 1; }
PID_TCP=$MILTER_PID

run_lua negotiate "$TCP"
check "negotiate: each refusal is logged with its reason" \
	test "$(lines 'the MTA does not let a milter add and change headers')" -ge 2

run_lua verdicts "$TCP"
check "verdicts: the log has the pass verdict under its queue id" \
	grep -Eq 'PASS1: client=client.example.org\[192.0.2.10\] .* spf=pass dmarc=pass .*action=accept' "$LOG"
check "verdicts: the log has the quarantine" grep -q 'QUAR1: .*action=quarantine' "$LOG"
check "verdicts: the log has the reject and its reply" \
	grep -q 'REJ1: .*action=reject .*reply="550 5.7.1 Message rejected by the DMARC policy' "$LOG"

run_lua forged "$TCP"
check "forged: the log counts the 3 deleted fields" grep -q 'FORGED1: .*forged_ar_deleted=3' "$LOG"

run_lua session "$TCP"
check "session: message 4 logged as pass, after the aborted message 3" \
	grep -q 'SESS4: .*mailfrom=<pass@pass.milter.example.net> .*spf=pass' "$LOG"
check "session: the aborted message 3 has no verdict line" sh -c "! grep -q 'SESS3: ' '$LOG'"

run_lua hostile "$TCP"
check "hostile: IPv6 client logged with its address and spf=fail" \
	grep -q 'V6A: client=client.example.org\[2001:db8::25\] .* spf=fail ' "$LOG"
check "hostile: IPv4-mapped client logged as IPv4" grep -q 'V6MAPPED: client=client.example.org\[192.0.2.10\]' "$LOG"
check "hostile: unknown family logged as skipped (no address)" \
	grep -q 'UNSPEC: client=.*\[-\] .*skipped: no client IP address forged_ar_deleted=1' "$LOG"
check "hostile: no {i} macro logged as NOQUEUE" \
	grep -q 'NOQUEUE: client=.* from=pass.milter.example.net spf=pass' "$LOG"
check "hostile: the 700-byte MAIL FROM is judged whole (spf=pass)" \
	grep -q 'LONGMAIL: .* spf=pass ' "$LOG"

run_lua spoof "$TCP"
check "spoof: attacks 1 and 2 logged as rejected, neither as dmarc=pass" \
	sh -c "grep -q 'SPOOF1: .*action=reject' '$LOG' && grep -q 'SPOOF2: .*action=reject' '$LOG' \
		&& ! grep -Eq 'SPOOF[12]: .*dmarc=pass' '$LOG'"

run_lua skip "$TCP"
check "skip: the log says why and counts the deleted field" \
	grep -q 'SKIP1: client=.*\[198.51.100.7\] .*skipped: client in skip_networks forged_ar_deleted=1' "$LOG"

run_dkim "$TCP"
if [ -n "$DKIM_OK" ]; then
	check "dkim: the log has the signature with its result and alignment" \
		grep -q 'DKIM1: .*dmarc=pass .*action=accept .*dkim="pass d=dkim.example.org s=s2048 aligned"' "$LOG"
	check "dkim: the unsigned twin is logged with dkim=none and refused" \
		grep -q 'DKIM2: .*dmarc=fail .*action=reject .*dkim=none' "$LOG"
fi

if command -v python3 >/dev/null 2>&1; then
	timeout 120 python3 "$MT_DIR/rawmilter.py" 127.0.0.1 "$PORT" > "$D/rawmilter.out" 2>&1
	report rawmilter "$D/rawmilter.out" $?
	check "rawmilter: the 20000-byte From is logged as cut and too long" \
		grep -q 'RAW20K: .*problem="unusable From header: value too long" over_cap=.*1 cut' "$LOG"
	run_bounds bounds 127.0.0.1 "$PORT"
	check "bounds: the log counts 1001 deleted forged fields" \
		grep -q 'FLOOD1001: .*action=accept .*forged_ar_deleted=1001' "$LOG"
	check "bounds: the log counts 10000 deleted forged fields" \
		grep -q 'FLOOD10000: .*action=accept .*forged_ar_deleted=10000' "$LOG"
	check "bounds: a failed deletion tempfails, whatever on_error says" \
		wait_log 'FAILDEL: .*action=tempfail .*error="could not delete a forged Authentication-Results"'
	check "bounds: the failed deletion was not accepted" \
		sh -c "! grep -q 'FAILDEL: .*action=accept' '$LOG'"
	check "bounds: the 2049-byte MAIL FROM is logged as refused" \
		grep -q 'MF2049: .*refused: MAIL FROM longer than 2048 bytes action=reject reply="501 5.1.7' "$LOG"
	check "bounds: the 2049-byte HELO is logged as refused" \
		grep -q 'HELO2049: .*refused: HELO longer than 2048 bytes action=reject reply="501 5.5.2' "$LOG"
else
	ok "rawmilter # SKIP python3 not found"
fi

check "TCP: the milter is still running after every script" kill -0 "$PID_TCP"
stop_milter
check "TCP: SIGTERM ends the milter cleanly (status 0)" test "${MILTER_STATUS:-x}" = 0

# --- over a unix socket --------------------------------------------------------
# There the milter asks for fewer steps and no replies to connect, HELO,
# MAIL and headers (see mlfi_negotiate): the same verdicts must come out.
UNIX="unix:$D/milter.sock"
write_conf "$D/unix.conf" "$UNIX"
start_milter "$D/unix.conf" || { echo "Bail out! mailposture-milter did not start on $UNIX"; exit 1; }
PID_UNIX=$MILTER_PID
cat > "$D/steps.lua" <<'LUA'
dofile(MT_DIR .. "/lib.lua")
local c = mt.connect(SOCK, 20, 0.1)
must("mt.negotiate", mt.negotiate(c, nil, nil, nil))
check("unix socket: no reply to headers (SMFIP_NR_HDR)", mt.test_option(c, SMFIP_NR_HDR))
check("unix socket: no reply to MAIL (SMFIP_NR_MAIL)", mt.test_option(c, SMFIP_NR_MAIL))
check("unix socket: no reply to connect and HELO", mt.test_option(c, SMFIP_NR_CONN) and mt.test_option(c, SMFIP_NR_HELO))
check("unix socket: no RCPT (SMFIP_NORCPT)", mt.test_option(c, SMFIP_NORCPT))
check("unix socket: no reply to end of header (SMFIP_NR_EOH)", mt.test_option(c, SMFIP_NR_EOH))
check("unix socket: the body is asked for and answered",
    not mt.test_option(c, SMFIP_NOBODY) and not mt.test_option(c, SMFIP_NR_BODY))
mt.disconnect(c)
done()
LUA
timeout 60 miltertest -D MT_DIR="$MT_DIR" -D SOCK="$UNIX" -s "$D/steps.lua" > "$D/steps.out" 2>&1
report "unix steps" "$D/steps.out" $?
for s in verdicts forged session skip spoof; do
	timeout 120 miltertest -D MT_DIR="$MT_DIR" -D SOCK="$UNIX" -s "$MT_DIR/$s.lua" \
		> "$D/unix-$s.out" 2>&1
	report "unix $s" "$D/unix-$s.out" $?
done
if [ -n "$DKIM_OK" ]; then
	timeout 120 miltertest -D MT_DIR="$MT_DIR" -D SOCK="$UNIX" -D SIGNED="$D/signed.eml" \
		-D UNSIGNED="$D/unsigned.eml" -s "$MT_DIR/dkim.lua" > "$D/unix-dkim.out" 2>&1
	report "unix dkim" "$D/unix-dkim.out" $?
fi
if command -v python3 >/dev/null 2>&1; then
	# Refusals come at end of message here: MAIL gets no reply.
	run_bounds "unix bounds" "$D/milter.sock"
	check "unix bounds: the 2049-byte MAIL FROM is logged as refused at end of message" \
		grep -q 'MF2049: .*refused: MAIL FROM longer than 2048 bytes action=reject reply="550 5.1.7' "$LOG"
fi
check "unix socket: the milter is still running after every script" kill -0 "$PID_UNIX"
stop_milter
check "unix socket: SIGTERM ends the milter cleanly (status 0)" test "${MILTER_STATUS:-x}" = 0

# --- the pidfile -------------------------------------------------------------
# Started as root, the milter drops to nobody and writes its pidfile
# again as nobody, in a directory nobody owns (as systemd's
# /run/mailposture is the service user's): the same user removes it on
# SIGTERM. A directory that user cannot write is reported at start.
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$D/run"
	chown nobody "$D/run"
	chmod 700 "$D/run"
	PIDFILE="$D/run/milter.pid"
	write_conf "$D/pid.conf" "inet:$(mp_free_port)@127.0.0.1"
	sed -i "s|^pidfile =.*|pidfile = $PIDFILE|" "$D/pid.conf"
	if start_milter "$D/pid.conf"; then
		# The socket listens before the pidfile is written again by nobody.
		for _ in $(seq 1 50); do
			[ "$(stat -c %U "$PIDFILE" 2>/dev/null)" = nobody ] && break
			sleep 0.1
		done
		check "pidfile: written with the milter's pid" \
			test "$(cat "$PIDFILE" 2>/dev/null)" = "$MILTER_PID"
		check "pidfile: owned by the user the milter dropped to" \
			test "$(stat -c %U "$PIDFILE" 2>/dev/null)" = nobody
		stop_milter
		check "pidfile: SIGTERM ends the milter cleanly (status 0)" \
			test "${MILTER_STATUS:-x}" = 0
		check "pidfile: removed on stop" test ! -e "$PIDFILE"
		check "pidfile: no error removing it" \
			sh -c "! grep -q 'pidfile .*: Permission denied' '$LOG'"
	else
		not_ok "pidfile: the milter started with its pidfile in $D/run"
	fi
	# $D is root's (mode 755): nobody cannot remove a file there. The
	# milter says so at start and does not fail at stop.
	write_conf "$D/pid-root.conf" "inet:$(mp_free_port)@127.0.0.1"
	sed -i "s|^pidfile =.*|pidfile = $D/milter.pid|" "$D/pid-root.conf"
	if start_milter "$D/pid-root.conf"; then
		check "pidfile: in a directory its user cannot write, the start log says so" \
			wait_log "pidfile $D/milter.pid: directory $D is not writable by uid [0-9]+, which will not be able to remove"
		check "pidfile: ... and the file (written as root) has the pid" \
			test "$(cat "$D/milter.pid" 2>/dev/null)" = "$MILTER_PID"
		stop_milter
		check "pidfile: ... and stop neither fails nor logs an error" \
			sh -c "test '${MILTER_STATUS:-x}' = 0 && ! grep -q 'pidfile .*: Permission denied' '$LOG'"
	else
		not_ok "pidfile: the milter started with its pidfile in $D"
	fi
	rm -f "$D/milter.pid"
else
	ok "pidfile # SKIP not root: the milter drops no privileges"
fi

check "no sanitizer report in the milter log" \
	sh -c "! grep -q 'ERROR: AddressSanitizer\\|runtime error:\\|LeakSanitizer' '$LOG'"

echo "1..$N"
if [ "$FAILED" -gt 0 ]; then
	echo "# milter log (last 40 lines):"
	tail -n 40 "$LOG" | sed 's/^/# /'
fi
exit 0
