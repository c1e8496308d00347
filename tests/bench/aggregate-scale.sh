#!/bin/bash
# The scale of DMARC aggregate reports: MESSAGES verdicts (default
# 1,000,000) of DOMAINS sender domains (10,000), each its own policy
# domain, through the store's writer and script into a private
# redis-server: first without the report capture, then, on an emptied
# server, with it. Prints the writer's verdicts per second and the
# script's time per call on the server for both (the capture's cost per
# message), the memory the report keys take per domain-day, and how long
# "mailposture-report aggregate --out" takes to write every report of
# the day. Not part of make check.
#
#   tests/bench/aggregate-scale.sh BUILD [MESSAGES [DOMAINS]]
#
# BUILD is a build directory; for figures, one without
# --enable-sanitizers. It builds BUILD/tests/bench/aggregate-scale.
set -u
build=$(cd "${1:?usage: aggregate-scale.sh BUILD [MESSAGES [DOMAINS]]}" && pwd)
n=${2:-1000000}
ndom=${3:-10000}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"

make -C "$build/tests" bench/aggregate-scale > "$MP_HARNESS_DIR/make.log" 2>&1 ||
	{ cat "$MP_HARNESS_DIR/make.log" >&2; exit 2; }
feed="$build/tests/bench/aggregate-scale"
report="$build/report/mailposture-report"
mp_start_redis || exit 3
addr="127.0.0.1:$MP_REDIS_PORT"
rcli() { redis-cli -p "$MP_REDIS_PORT" "$@"; }
used_memory() { rcli info memory | tr -d '\r' | sed -n 's/^used_memory://p'; }

# Every message on yesterday (UTC), the day aggregate reports by default.
day_start=$(( $(date -u +%s) / 86400 * 86400 - 86400 ))
day=$(date -u -d "@$day_start" +%F)
echo "$n messages of $ndom domains, on $day (UTC)"

m0=$(used_memory)
"$feed" --redis "$addr" --messages "$n" --domains "$ndom" --capture no --day-start "$day_start" ||
	exit 1
m1=$(used_memory)
rcli flushall > /dev/null
m2=$(used_memory)
"$feed" --redis "$addr" --messages "$n" --domains "$ndom" --capture yes --day-start "$day_start" \
	--measure || exit 1
m3=$(used_memory)
echo "used_memory: $(( (m1 - m0) / 1048576 )) MiB without the capture," \
	"$(( (m3 - m2) / 1048576 )) MiB with it: $(( ((m3 - m2) - (m1 - m0)) / ndom )) bytes" \
	"more per domain-day"

conf="$MP_HARNESS_DIR/report.conf"
printf '[report]\norg_name = bench\nemail = dmarc-reports@mx.example.net\n' > "$conf"
out="$MP_HARNESS_DIR/out"
mkdir -p "$out"
t0=$(date +%s.%N)
"$report" -c "$conf" --redis "$addr" aggregate --day "$day" --out "$out" > /dev/null || exit 1
t1=$(date +%s.%N)
echo "aggregate --out: $(ls "$out" | wc -l) reports," \
	"$(du -sk "$out" | cut -f1) KiB gzip, in $(echo "$t1 - $t0" | bc) s"
