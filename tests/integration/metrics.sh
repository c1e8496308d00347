#!/bin/bash
# mailposture-milter's Prometheus metrics ([metrics] listen) under a real,
# private Postfix with a real redis-server: /metrics is fetched before and
# after 10 messages of known outcomes, and every counter must have moved
# by exactly what those messages account for; both scrapes must pass
# `promtool check metrics`. The Grafana dashboard (conf/) must query only
# series that exist, with queries that parse (promtool check rules). Then
# the listener across SIGHUP (kept, moved, kept on a failed move or a bad
# config, stopped), wrong paths and methods, and the start-up errors. TAP. Runs under tests/harness/with-servers: the
# resolver is the test NSD behind dns-drop.py (slow.example.net never
# answers, for the DNS timeouts). Needs root, postfix, swaks and curl.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"
. "$here/../harness/milter-mail.sh"

: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
mp_milter_prelude MP_TEST_RESOLVER_DROP
command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl not found"; exit 0; }
PROMTOOL=$(command -v promtool || true)

mp_start_redis || { echo "Bail out! redis-server did not start"; exit 1; }
METRICS_PORT=$(mp_free_port)
LISTEN="127.0.0.1:$METRICS_PORT"

# write_conf LISTEN [more [milter] lines]
write_conf() {
	local listen=$1
	shift
	{
		echo "[milter]"
		echo "socket = inet:$MPORT@127.0.0.1"
		echo "user = nobody"
		echo "pidfile ="
		echo "dmarc_reject = reject"
		echo "temperror = tempfail"
		for l in "$@"; do echo "$l"; done
		echo "[dns]"
		echo "resolver = $MP_TEST_RESOLVER_DROP"
		echo "timeout = 1000"
		echo "[policy]"
		echo "authserv_id = mx.example.net"
		echo "eval_timeout = 5"
		echo "[redis]"
		echo "address = 127.0.0.1:$MP_REDIS_PORT"
		echo "[metrics]"
		echo "listen = $listen"
		echo "[log]"
		echo "level = info"
	} > "$CONF.new"
	chmod 644 "$CONF.new"
	mv "$CONF.new" "$CONF"
}

# scrape FILE [ADDR]: GET /metrics into FILE; fails on anything but 200.
scrape() {
	curl -sS --max-time 10 -o "$1" -w '%{http_code}' "http://${2:-$LISTEN}/metrics" 2>/dev/null |
		grep -qx 200
}
# val FILE SERIES: the value of one series ("name{labels}"), empty if absent.
val() {
	awk -v s="$2" 'index($0, s " ") == 1 { print $2; exit }' "$1"
}
# moved SERIES: how much SERIES moved from $D/before to $D/after.
moved() {
	local a b
	b=$(val "$D/before" "$1")
	a=$(val "$D/after" "$1")
	[ -n "$a" ] && [ -n "$b" ] || { echo "absent"; return; }
	echo $((${a%.*} - ${b%.*}))
}
# expect_moved DESC SERIES=DELTA...: one TAP line for several series.
expect_moved() {
	local desc=$1 bad=() kv s want got
	shift
	for kv in "$@"; do
		s=${kv%=*}; want=${kv##*=}
		got=$(moved "$s")
		[ "$got" = "$want" ] || bad+=("$s: moved by $got, expected $want")
	done
	if [ ${#bad[@]} -eq 0 ]; then ok "$desc"; else not_ok "$desc" "${bad[@]}"; fi
}
promcheck() {
	local desc=$1 out
	if [ -z "$PROMTOOL" ]; then ok "$desc # SKIP promtool not installed"; return; fi
	if out=$("$PROMTOOL" check metrics < "$2" 2>&1); then ok "$desc"
	else not_ok "$desc" "$out"; fi
}
reloads() {
	grep -c 'configuration reloaded\|reload failed' "$MP_MILTER_LOG" 2>/dev/null
}
# hup: SIGHUP, then waits until the milter logged the reload's outcome.
hup() {
	local before
	before=$(reloads)
	kill -HUP "$MP_MILTER_PID"
	for _ in $(seq 1 100); do
		[ "$(reloads)" -gt "$before" ] && return 0
		sleep 0.1
	done
	return 1
}

echo "1..29"

# --- the option --------------------------------------------------------------
write_conf "$LISTEN"
check "-t accepts [metrics] listen = ADDRESS:PORT" "$MILTER_BIN" -t -c "$CONF"
write_conf "localhost:$METRICS_PORT"
"$MILTER_BIN" -t -c "$CONF" > "$D/t.out" 2>&1
rc=$?
if [ "$rc" = 2 ] && grep -q 'listen.*ADDRESS:PORT' "$D/t.out"; then
	ok "-t refuses a host name: an address is needed (status 2)"
else
	not_ok "-t refuses a host name: an address is needed (status 2)" "status $rc" "$(cat "$D/t.out")"
fi
# A port that is taken: the milter says so at start and exits 1.
write_conf "127.0.0.1:$MP_REDIS_PORT"
timeout 20 "$MILTER_BIN" -f -c "$CONF" > "$D/busy.out" 2>&1
rc=$?
if [ "$rc" = 1 ] && grep -q "\[metrics\] listen 127.0.0.1:$MP_REDIS_PORT: Address already in use" "$D/busy.out"; then
	ok "listen address in use at start: one line that says so, exit 1"
else
	not_ok "listen address in use at start: one line that says so, exit 1" "status $rc" "$(cat "$D/busy.out")"
fi

# --- 10 messages of known outcomes ---------------------------------------------
write_conf "$LISTEN"
mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
mp_start_postfix "inet:127.0.0.1:$MPORT" "local_header_rewrite_clients =" ||
	{ echo "Bail out! postfix did not start"; exit 1; }
mp_start_milter "$CONF" || { echo "Bail out! mailposture-milter did not start"; exit 1; }
for _ in $(seq 1 50); do scrape "$D/before" && break; sleep 0.1; done
if scrape "$D/before" && grep -q '^# TYPE mailposture_messages_dmarc_total counter$' "$D/before"; then
	ok "GET /metrics: 200 with the exposition"
else
	not_ok "GET /metrics: 200 with the exposition" "$(head -c 500 "$D/before" 2>/dev/null)"
fi
promcheck "promtool check metrics: before the messages" "$D/before"
check "the listener is the milter's, on the address given" \
	sh -c "ss -Hltnp | grep -q '$LISTEN .*pid=$MP_MILTER_PID'"

FORGED="Authentication-Results: mx.example.net; dmarc=pass header.from=paypal.com"
send() {  # send ID MAIL-FROM FROM-DOMAIN [swaks options]
	local id=$1 mf=$2 dom=$3
	shift 3
	mp_send "$id" 192.0.2.10 --from "$mf" --header "From: <a@$dom>" \
		--add-header "X-Test-Id: $id" "$@"
}
send pass1 pass@pass.milter.example.net pass.milter.example.net
send pass2 pass@pass.milter.example.net pass.milter.example.net
send pass3 pass@pass.milter.example.net pass.milter.example.net \
	--add-header "$FORGED" --add-header "$FORGED"
send fail1 fail@fail.milter.example.net fail.milter.example.net
send fail2 fail@fail.milter.example.net fail.milter.example.net
send soft softfail@soft.milter.example.net soft.milter.example.net
send none none@none.milter.example.net none.milter.example.net
send temp temperror@temp.milter.example.net temp.milter.example.net
send slow x@slow.example.net slow.example.net
# From loopback: exempt by the default skip_networks; its forged A-R goes.
swaks --server "127.0.0.1:$MP_SMTP_PORT" --helo client.example.org --to rcpt@example.net \
	--from pass@pass.milter.example.net --add-header "X-Test-Id: skipped" \
	--add-header "$FORGED" --timeout 60 > "$D/swaks.skipped" 2>&1
codes=""
for id in pass1 pass2 pass3 fail1 fail2 soft none temp slow skipped; do
	codes="$codes $id=$(mp_final_code "$id")"
done
if [ "$codes" = " pass1=250 pass2=250 pass3=250 fail1=550 fail2=550 soft=250 none=250 temp=451 slow=451 skipped=250" ]; then
	ok "the 10 messages got the expected replies"
else
	not_ok "the 10 messages got the expected replies" "$codes"
fi
# Redis writes are asynchronous: wait for the nine verdicts.
for _ in $(seq 1 100); do
	scrape "$D/after"
	[ "$(moved 'mailposture_redis_writes_total{result="stored"}')" = 9 ] && break
	sleep 0.1
done

expect_moved "by SPF result: 3 pass, 2 fail, 1 softfail, 1 none, 2 temperror" \
	'mailposture_messages_spf_total{result="pass"}=3' \
	'mailposture_messages_spf_total{result="fail"}=2' \
	'mailposture_messages_spf_total{result="softfail"}=1' \
	'mailposture_messages_spf_total{result="none"}=1' \
	'mailposture_messages_spf_total{result="temperror"}=2' \
	'mailposture_messages_spf_total{result="neutral"}=0' \
	'mailposture_messages_spf_total{result="permerror"}=0'
expect_moved "by DMARC result: 3 pass, 3 fail, 1 none, 2 temperror" \
	'mailposture_messages_dmarc_total{result="pass"}=3' \
	'mailposture_messages_dmarc_total{result="fail"}=3' \
	'mailposture_messages_dmarc_total{result="none"}=1' \
	'mailposture_messages_dmarc_total{result="temperror"}=2' \
	'mailposture_messages_dmarc_total{result="permerror"}=0'
expect_moved "by DKIM result: 9 unsigned (none)" \
	'mailposture_messages_dkim_total{result="none"}=9' \
	'mailposture_messages_dkim_total{result="pass"}=0' \
	'mailposture_messages_dkim_total{result="not_verified"}=0'
expect_moved "by action: 5 accept, 2 reject, 2 tempfail" \
	'mailposture_messages_action_total{action="accept"}=5' \
	'mailposture_messages_action_total{action="reject"}=2' \
	'mailposture_messages_action_total{action="tempfail"}=2' \
	'mailposture_messages_action_total{action="quarantine"}=0'
expect_moved "skipped: 1 by skip_networks, none for another reason" \
	'mailposture_skipped_messages_total{reason="skip_networks"}=1' \
	'mailposture_skipped_messages_total{reason="authenticated"}=0' \
	'mailposture_skipped_messages_total{reason="skip_mail_from"}=0' \
	'mailposture_skipped_messages_total{reason="no_client_ip"}=0'
expect_moved "forged A-R removed: 2 + 1 (the skipped message's too)" \
	'mailposture_forged_authres_removed_total=3'
expect_moved "evaluation time histogram: 9 observations" \
	'mailposture_evaluation_seconds_count=9' 'mailposture_evaluation_seconds_bucket{le="+Inf"}=9'
expect_moved "Redis: 9 verdicts stored, in batches summing to 9, nothing dropped, no reconnect" \
	'mailposture_redis_writes_total{result="stored"}=9' \
	'mailposture_redis_writes_total{result="duplicate"}=0' \
	'mailposture_redis_writes_total{result="failed"}=0' \
	'mailposture_redis_batch_messages_sum=9' \
	'mailposture_redis_dropped_total{reason="queue_full"}=0' \
	'mailposture_redis_dropped_total{reason="shutdown"}=0' \
	'mailposture_redis_reconnects_total=0' \
	'mailposture_redis_connect_failures_total=0'
check "Redis queue depth is 0 once written" test "$(val "$D/after" mailposture_redis_queue_depth)" = 0
dq=$(moved mailposture_dns_queries_total)
dh=$(moved mailposture_dns_cache_hits_total)
dt=$(moved mailposture_dns_timeouts_total)
if [ "$dq" -gt 0 ] && [ "$dh" -ge 0 ] && [ "$dh" -le "$dq" ] && [ "$dt" -ge 1 ] && [ "$dt" -le "$dq" ]; then
	ok "DNS: queries moved ($dq), cache hits ($dh) and timeouts ($dt, slow.example.net) within them"
else
	not_ok "DNS: queries moved, cache hits and timeouts within them" "queries $dq hits $dh timeouts $dt"
fi
promcheck "promtool check metrics: after the messages" "$D/after"
# The Grafana dashboard: every series it asks for exists, every query parses.
DASH="$TEST_SRCDIR/../conf/grafana-dashboard.json"
/usr/bin/python3 - "$DASH" "$D/after" "$D/dash-rules.yml" > "$D/dash.out" 2>&1 <<'EOF'
import json, re, sys
d = json.load(open(sys.argv[1]))
have = {re.split(r"[{ ]", l)[0] for l in open(sys.argv[2]) if l and not l.startswith("#")}
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
names = {n for e in exprs for n in re.findall(r"mailposture_[a-z_]+", e)}
missing = sorted(names - have)
with open(sys.argv[3], "w") as f:
    f.write("groups:\n- name: dashboard\n  rules:\n")
    for i, e in enumerate(exprs):
        e = e.replace("$__rate_interval", "5m").replace("$__range", "1h").replace("$instance", ".*")
        f.write("  - record: dashboard:q%d\n    expr: %s\n" % (i, json.dumps(e)))
print("queries", len(exprs), "names", len(names), "missing", missing)
EOF
l=$(cat "$D/dash.out")
case "$l" in "queries "*" missing []") ok "Grafana dashboard: every series it queries is exported ($l)" ;;
*) not_ok "Grafana dashboard: every series it queries is exported" "$l" ;; esac
if [ -z "$PROMTOOL" ]; then ok "Grafana dashboard: queries parse # SKIP promtool not installed"
elif out=$("$PROMTOOL" check rules "$D/dash-rules.yml" 2>&1); then ok "Grafana dashboard: every query parses (promtool check rules)"
else not_ok "Grafana dashboard: every query parses (promtool check rules)" "$out"; fi
if grep -Eq 'example|192\.0\.2' "$D/after"; then
	not_ok "no domain name or address in any label" "$(grep -E 'example|192\.0\.2' "$D/after" | head -n 3)"
else
	ok "no domain name or address in any label"
fi

# --- paths and methods ----------------------------------------------------------
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$LISTEN/")
code2=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x=1 "http://$LISTEN/metrics")
if [ "$code" = 404 ] && [ "$code2" = 405 ]; then ok "other paths: 404; POST: 405"
else not_ok "other paths: 404; POST: 405" "GET / $code, POST $code2"; fi

# --- SIGHUP -----------------------------------------------------------------------
cp "$D/after" "$D/before"
hup
scrape "$D/after"
expect_moved "SIGHUP, same listen: the listener stays and counts on; reloads{ok} +1" \
	'mailposture_reloads_total{result="ok"}=1' 'mailposture_messages_action_total{action="accept"}=0'
check "SIGHUP, same listen: counters are not reset" \
	test "$(val "$D/after" 'mailposture_messages_spf_total{result="pass"}')" -ge 3
NEW_PORT=$(mp_free_port)
write_conf "127.0.0.1:$NEW_PORT"
hup
if scrape "$D/moved" "127.0.0.1:$NEW_PORT" && ! scrape "$D/gone" "$LISTEN"; then
	ok "SIGHUP, listen changed: served on the new port, not on the old one"
else
	not_ok "SIGHUP, listen changed: served on the new port, not on the old one" "$(tail -n 5 "$MP_MILTER_LOG")"
fi
write_conf "127.0.0.1:$MP_REDIS_PORT"
hup
if scrape "$D/kept" "127.0.0.1:$NEW_PORT" &&
	grep -q "listen 127.0.0.1:$MP_REDIS_PORT: Address already in use (still serving 127.0.0.1:$NEW_PORT)" "$MP_MILTER_LOG"; then
	ok "SIGHUP to a port in use: logged, the listener stays where it was"
else
	not_ok "SIGHUP to a port in use: logged, the listener stays where it was" "$(tail -n 5 "$MP_MILTER_LOG")"
fi
cp "$D/kept" "$D/before"
printf '[milter]\nno_such_option = 1\n' > "$CONF"
hup
scrape "$D/after" "127.0.0.1:$NEW_PORT"
expect_moved "bad config on SIGHUP: reloads{failed} +1, the listener stays" \
	'mailposture_reloads_total{result="failed"}=1' 'mailposture_reloads_total{result="ok"}=0'
write_conf ""
hup
if ! scrape "$D/gone" "127.0.0.1:$NEW_PORT" && grep -q 'metrics: listener stopped' "$MP_MILTER_LOG"; then
	ok "SIGHUP, listen emptied: the listener stops"
else
	not_ok "SIGHUP, listen emptied: the listener stops" "$(tail -n 5 "$MP_MILTER_LOG")"
fi
mp_stop_milter TERM
if [ "$MP_MILTER_STATUS" = 0 ] && ! grep -q 'AddressSanitizer\|runtime error:\|LeakSanitizer' "$MP_MILTER_LOG"; then
	ok "the milter stops clean (status 0, no sanitizer report)"
else
	not_ok "the milter stops clean (status 0, no sanitizer report)" "status $MP_MILTER_STATUS" "$(tail -n 20 "$MP_MILTER_LOG")"
fi

[ "$FAILED" -eq 0 ]
