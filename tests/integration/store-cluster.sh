#!/bin/bash
# The store on a Redis Cluster: three masters made by redis-cli --cluster
# create on loopback. A real mailposture-milter ([redis] cluster) judges
# 1500 messages of 1000 domains, each its own registrable domain, so
# their {org} slots spread over the masters; one EVALSHA per message in
# its {org} slot (no CROSSSLOT: the installation's counters are per
# slot group). redis-cli --cluster reshard moves 2000 slots between two
# masters while the verdicts flow: MOVED and ASK are followed and
# nothing is lost or counted twice. mailposture-report reads it all back
# (summary, top, domain, ip) and gives the same answers as a single
# redis-server to which the same verdicts are written. TAP. Runs under
# tests/harness/with-servers (MP_TEST_RESOLVER); needs python3.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"
: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
MILTER_BIN="$TEST_BUILDDIR/milter/mailposture-milter"
REPORT="$TEST_BUILDDIR/report/mailposture-report"
NMSG=1500
DOMAINS=1000
MOVE=2000

for c in python3 redis-cli redis-server; do
	command -v "$c" >/dev/null 2>&1 || { echo "1..0 # SKIP $c not found"; exit 0; }
done
[ -x "$MILTER_BIN" ] || { echo "1..0 # SKIP $MILTER_BIN not built"; exit 0; }
[ -n "${MP_TEST_RESOLVER:-}" ] || { echo "Bail out! MP_TEST_RESOLVER not set"; exit 1; }

D=$MP_HARNESS_DIR
chmod 755 "$D"
export MP_MILTER_BIN="$MILTER_BIN"

# write_conf FILE PORT REDIS-LINE: the milter's configuration. The DNS
# timeouts are long: the two runs must judge every message alike, even
# on a loaded machine.
write_conf() {
	cat > "$1" <<CONF
[milter]
socket = inet:$2@127.0.0.1
user = nobody
pidfile =
[dns]
resolver = $MP_TEST_RESOLVER
timeout = 10000
[policy]
authserv_id = mx.example.net
eval_timeout = 60
[redis]
$3
CONF
	chmod 644 "$1"
}

# messages PORT...: message keys on each master, one number per line.
messages() {
	local p
	for p in "$@"; do
		redis-cli -p "$p" --scan --pattern 'mp:m:*' | wc -l
	done
}

# settle PORTS...: waits up to 60 s until the masters hold N message keys.
settle() {
	for _ in $(seq 1 600); do
		[ "$(messages "$@" | awk '{ s += $1 } END { print s }')" -ge "$NMSG" ] && return 0
		sleep 0.1
	done
	return 1
}

# slots PORT: how many slots the master on PORT serves.
slots() {
	redis-cli --cluster info "127.0.0.1:$1" 2>/dev/null |
		sed -n "s/^127\.0\.0\.1:$1 .*| \([0-9]*\) slots |.*/\1/p"
}

echo "1..12"

# ---- the cluster, under load and a reshard ----
mp_start_cluster 3 || { echo "Bail out! the cluster did not start"; exit 1; }
read -r P1 P2 P3 <<< "$MP_CLUSTER_PORTS"
MPORT=$(mp_free_port)
write_conf "$D/cluster.conf" "$MPORT" "cluster = $MP_CLUSTER_NODES"
MP_MILTER_LOG="$D/milter-cluster.log"
mp_start_milter "$D/cluster.conf" || { echo "Bail out! milter did not start"; exit 1; }
slots_before=$(slots "$P1")

mp_milter_load "$MPORT" Q "$NMSG" "$DOMAINS" 8 > "$D/load.out" 2> "$D/load.err" &
load=$!
# The reshard starts once verdicts are landing, and is slowed down
# (few keys per MIGRATE) so that it overlaps the load.
for _ in $(seq 1 300); do
	[ "$(messages $MP_CLUSTER_PORTS | awk '{ s += $1 } END { print s }')" -ge 200 ] && break
	sleep 0.1
done
redis-cli --cluster reshard "127.0.0.1:$P1" --cluster-from "$(redis-cli -p "$P1" cluster myid)" \
	--cluster-to "$(redis-cli -p "$P2" cluster myid)" --cluster-slots "$MOVE" --cluster-yes \
	--cluster-pipeline 2 > "$D/reshard.log" 2>&1
reshard_rc=$?
kill -0 "$load" 2>/dev/null && overlapped=yes || overlapped=no
wait "$load"
load_rc=$?
settle $MP_CLUSTER_PORTS
mp_stop_milter

if [ "$load_rc" = 0 ] && grep -q "^sent $NMSG accepted $NMSG refused 0" "$D/load.out"; then
	ok "cluster: the milter accepted all $NMSG messages of $DOMAINS domains"
else
	not_ok "cluster: the milter accepted all $NMSG messages" "$(cat "$D/load.out" "$D/load.err")"
fi
if [ "$reshard_rc" = 0 ] && [ "$overlapped" = yes ] &&
	[ "$(slots "$P1")" = $((slots_before - MOVE)) ]; then
	ok "reshard: $MOVE slots moved from one master to another while the verdicts flowed"
else
	not_ok "reshard: $MOVE slots moved during the load" "rc $reshard_rc, overlapped $overlapped," \
		"slots $slots_before -> $(slots "$P1")" "$(tail -n 5 "$D/reshard.log")"
fi
counts=$(messages $MP_CLUSTER_PORTS | tr '\n' ' ')
total=$(echo "$counts" | awk '{ print $1 + $2 + $3 }')
if [ "$total" = "$NMSG" ]; then
	ok "nothing lost, nothing twice: $NMSG message keys ($counts)"
else
	not_ok "nothing lost, nothing twice: $NMSG message keys ($counts)" \
		"$(for p in $MP_CLUSTER_PORTS; do redis-cli -p "$p" --scan --pattern 'mp:m:*' | sort -u; done |
			sort | uniq -d | head -n 5)" "$(cat "$D/load.err")"
fi
check "the verdicts landed on all three masters" \
	sh -c "echo '$counts' | awk '{ exit !(\$1 > 0 && \$2 > 0 && \$3 > 0) }'"
check "MOVED or ASK replies were followed (the milter's log says so)" \
	grep -qE 'cluster slots moving: [0-9]+ MOVED and [0-9]+ ASK replies followed' "$MP_MILTER_LOG"
check "no script error, no CROSSSLOT" sh -c "! grep -qiE 'script error|CROSSSLOT|not stored' '$MP_MILTER_LOG'"
# The installation's daily hash is one key per slot group: each of them
# in the slot of the {org} keys that the script updated with it.
check "the installation's counters are per slot group, next to their {org} keys" \
	test "$(redis-cli -c -p "$P3" --scan --pattern 'mp:day:{*}:*' | wc -l)" -ge 1

# ---- mailposture-report against the cluster ----
printf '[redis]\ncluster = %s\n' "$MP_CLUSTER_NODES" > "$D/report-cluster.conf"
report() {  # report CONF NAME ARGS...: JSON into $D/NAME.json
	local conf=$1 name=$2
	shift 2
	"$REPORT" -c "$conf" --json "$@" > "$D/$name.json" 2> "$D/$name.err"
}
jq_py() {  # jq_py FILE EXPR: a Python expression on the JSON j
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"
}
report "$D/report-cluster.conf" c-summary summary --days 1
check "report summary: $NMSG messages, $DOMAINS domains" test \
	"$(jq_py "$D/c-summary.json" "j['total']['messages'], j['per_day'][0]['domains']")" = "$NMSG $DOMAINS"
report "$D/report-cluster.conf" c-top top --volume -n "$DOMAINS" --days 1
check "report top --volume: $DOMAINS domains, $NMSG messages" test \
	"$(jq_py "$D/c-top.json" "len(j['domains']), sum(d['value'] for d in j['domains'])")" = "$DOMAINS $NMSG"
report "$D/report-cluster.conf" c-domain domain d7.example
check "report domain d7.example: its 2 messages, all time and this week" test \
	"$(jq_py "$D/c-domain.json" "j['all_time']['messages'], j['period']['messages'], len(j['recent'])")" = "2 2 2"
report "$D/report-cluster.conf" c-ip ip 192.0.2.10 --days 1
check "report ip: the client's $DOMAINS domains" test \
	"$(jq_py "$D/c-ip.json" "len(j['domains'])")" = "$DOMAINS"

# ---- the same verdicts on one redis-server: the same answers ----
# Each stored verdict (its message key) is written again, through the
# store, to a single server: the same verdicts, another deployment.
mp_start_redis_in single || { echo "Bail out! redis-server did not start"; exit 1; }
SPORT=$MP_REDIS_PORT
for p in $MP_CLUSTER_PORTS; do
	redis-cli -p "$p" --scan --pattern 'mp:m:*' | sed 's/^/GET /' | redis-cli -p "$p"
done > "$D/verdicts.json"
python3 - "$D/verdicts.json" > "$D/feed.txt" <<'PY'
import json, sys, time
now = int(time.time())
# In the order the milter judged them: a domain's recent list is ordered.
for v in sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda v: (v["t"], int(v["qid"][1:]))):
    w = ["domain=" + v["from"], "org=" + v["org"], "qid=" + v["qid"], "host=" + v["host"],
         "ip=" + v["ip"], "spf=" + v["spf"], "dmarc=" + v["dmarc"],
         "sa=%d" % v["spf_aligned"], "da=%d" % v["dkim_aligned"], "action=" + v["action"],
         "mailfrom=" + v["mailfrom"], "ago=%d" % (now - v["t"])]
    if v["disposition"]:
        w.append("dispo=" + v["disposition"])
    if "score" in v:
        w += ["score=%d" % v["score"], "grade=" + v["grade"]]
    print(" ".join(w))
PY
"$TEST_BUILDDIR/tests/integration/store-feed" --redis "127.0.0.1:$SPORT" < "$D/feed.txt" \
	> "$D/feed.out" 2>&1
printf '[redis]\naddress = 127.0.0.1:%s\n' "$SPORT" > "$D/report-single.conf"
same=""
for q in "summary summary --days 1" "top top --volume -n $DOMAINS --days 1" \
	"worst top --worst -n 20" "domain domain d7.example" "ip ip 192.0.2.10 --days 1"; do
	# shellcheck disable=SC2086
	report "$D/report-cluster.conf" "c2-${q%% *}" ${q#* }
	# shellcheck disable=SC2086
	report "$D/report-single.conf" "s-${q%% *}" ${q#* }
	# Times may differ by a second (store-feed writes a time ago), the
	# HELO is store-feed's own: compare the rest.
	python3 - "$D/c2-${q%% *}.json" "$D/s-${q%% *}.json" <<'PY' >> "$D/differ" ||
import json, re, sys
def clean(o):
    if isinstance(o, dict):
        return {k: clean(v) for k, v in o.items() if k not in ("t", "helo", "computed")}
    if isinstance(o, list):
        return [clean(v) for v in o]
    if isinstance(o, str) and re.match(r"^\d{4}-\d\d-\d\dT", o):
        return o[:10]
    return o
def first(a, b, at):
    if type(a) != type(b) or not isinstance(a, (dict, list)):
        return None if a == b else "%s: %r against %r" % (at, a, b)
    keys = sorted(set(a) | set(b)) if isinstance(a, dict) else range(max(len(a), len(b)))
    for k in keys:
        try:
            d = first(a[k], b[k], "%s.%s" % (at, k))
        except (KeyError, IndexError):
            d = "%s.%s: only on one side" % (at, k)
        if d:
            return d
    return None
d = first(*(clean(json.load(open(f))) for f in sys.argv[1:3]), at=sys.argv[1].split("-", 1)[-1])
if d:
    print(d)
sys.exit(1 if d else 0)
PY
		same="$same ${q%% *}"
done
if [ -z "$same" ] && grep -q "^written $NMSG duplicates 0 failed 0" "$D/feed.out"; then
	ok "summary, top --volume, top --worst, domain and ip: the same on the cluster as on one server"
else
	not_ok "the same answers on the cluster as on one server" "differs: $same" \
		"$(cat "$D/differ" "$D/feed.out")"
fi
grep -E "redis|cluster" "$D/milter-cluster.log" | grep -v "client=" | head -n 10 | sed 's/^/# milter: /'

[ "$FAILED" = 0 ]
