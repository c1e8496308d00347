#!/bin/bash
# mailposture-audit stores its result in Redis ([redis] address) and
# mailposture-report audits shows the history: audits of the scripted
# SMTP responder (tests/smtp-responder, as in audit-responder.sh) go into
# a private redis-server; then the report, as text and JSON, must show
# every run with the grade and score that run printed. A Redis that is
# down gives one warning line and changes neither the report nor the
# exit status; --no-store writes nothing. TAP; runs under
# tests/harness/with-servers, which sets MP_TEST_RESOLVER.
set -u
: "${MP_TEST_RESOLVER:?run me under tests/harness/with-servers}"
. "$TEST_SRCDIR/harness/lib.sh"
. "$(cd "$(dirname "$0")" && pwd)/../harness/tap.sh"
AUDIT="$TEST_BUILDDIR/selfaudit/mailposture-audit"
REPORT="$TEST_BUILDDIR/report/mailposture-report"
RESPONDER="$TEST_SRCDIR/smtp-responder/responder.py"
SCRIPTS="$TEST_SRCDIR/smtp-responder"
PY=/usr/bin/python3
ZONES="bl1.audit.example.org bl2.audit.example.org blsf.audit.example.org"
tmp=$MP_HARNESS_DIR/audit-redis
mkdir -p "$tmp"
# check DESC COMMAND...: ok when the command succeeds, else its output as
# diagnostics; replaces tap.sh's check, which discards the output
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc" "$(printf '%s' "$out" | head -c 1500)"; fi
}

mp_start_redis || { echo "Bail out! redis-server did not start"; exit 99; }
RCLI="redis-cli -p $MP_REDIS_PORT"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 30 \
	-subj /CN=mail.audit.example.org -addext subjectAltName=DNS:mail.audit.example.org 2>/dev/null

# start_responder NAME SCRIPTFILE: sets PORT_<NAME>; the harness stops it
start_responder() {
	local name=$1 script=$2 pf="$tmp/$1.port"
	$PY "$RESPONDER" "$script" --port-file "$pf" --cert "$tmp/cert.pem" --key "$tmp/key.pem" \
		2> "$tmp/$name.err" &
	MP_HARNESS_PIDS="$MP_HARNESS_PIDS $!"
	for _ in $(seq 1 50); do
		[ -s "$pf" ] && break
		sleep 0.1
	done
	eval "PORT_$name=$(cat "$pf" 2>/dev/null || echo 0)"
}

# A: the server of issue 5 (grade capped at C). B: a tidy server.
start_responder a "$SCRIPTS/example-report.script"
cat > "$tmp/b.script" <<'EOF'
banner: 220 mail.audit.example.org ESMTP
starttls: safe
rule: EHLO .* => 250-mail.audit.example.org|250-PIPELINING|250-STARTTLS|250 ENHANCEDSTATUSCODES
rule: HELP.* => 502 5.5.2 Error: command not recognized
rule: VRFY .* => 502 5.5.1 VRFY command is disabled
rule: EXPN .* => 502 5.5.2 Error: command not recognized
rule: MAIL FROM:.* => 250 2.1.0 Ok
rule: RCPT TO:.* => 554 5.7.1 Relay access denied
rule: RSET => 250 2.0.0 Ok
rule: NOOP => 250 2.0.0 Ok
EOF
start_responder b "$tmp/b.script"
TA="127.0.0.1:$PORT_a"
TB="127.0.0.1:$PORT_b"

printf '[redis]\naddress = 127.0.0.1:%s\n' "$MP_REDIS_PORT" > "$tmp/redis.conf"
DOWN=$(mp_free_port)
printf '[redis]\naddress = 127.0.0.1:%s\ntimeout = 500\n' "$DOWN" > "$tmp/down.conf"
: > "$tmp/none.conf"

# audit CONF PORT OUTFILE ARGS...: exit status in $rc, stderr in $tmp/err
audit() {
	local conf=$1 port=$2 out=$3
	shift 3
	"$AUDIT" -c "$conf" --no-host-checks --host 127.0.0.1 --port "$port" \
		--resolver "$MP_TEST_RESOLVER" --dnsbl-zones "$ZONES" --source 127.0.0.2 "$@" \
		> "$out" 2> "$tmp/err"
	rc=$?
}
# report OUTFILE ARGS...: exit status in $rc, stderr in $tmp/rerr
report() {
	local out=$1
	shift
	"$REPORT" -c "$tmp/redis.conf" "$@" > "$out" 2> "$tmp/rerr"
	rc=$?
}
# jget FILE PATH: a field of a JSON file (dotted path, numbers index arrays;
# a list prints its length)
jget() {
	$PY -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v=v[int(k)] if isinstance(v,list) else v[k]
if isinstance(v,bool): print(str(v).lower())
elif isinstance(v,list): print(len(v))
elif v is None: print("null")
else: print(v)' "$1" "$2" 2>/dev/null
}
# wide FILE: the lines over 100 columns (none expected)
wide() { awk 'length($0) > 100' "$1"; }

echo "1..21"

# ---- 1. Two audits of A (text, then JSON), one of B ----
audit "$tmp/redis.conf" "$PORT_a" "$tmp/a1.txt" --domain audit.example.org --public-ip 203.0.113.200
a1_rc=$rc
a1_grade=$(sed -n 's/^Security Score \([A-F?][+-]\{0,1\}\) (\([0-9]*\)\/100)$/\1/p' "$tmp/a1.txt")
a1_score=$(sed -n 's/^Security Score \([A-F?][+-]\{0,1\}\) (\([0-9]*\)\/100)$/\2/p' "$tmp/a1.txt")
if [ "$a1_rc" = 0 ] && [ "$a1_grade" = C ] && [ ! -s "$tmp/err" ] &&
	grep -qE '^Audit finished in [0-9.]+ s \(SMTP [0-9.]+ s, DNS [0-9.]+ s\), stored in Redis$' "$tmp/a1.txt"; then
	ok "audit 1 of A: grade C ($a1_score), text footer says stored in Redis"
else
	not_ok "audit 1 of A: grade C, text footer says stored in Redis" "rc $a1_rc grade '$a1_grade'" \
		"$(tail -n 3 "$tmp/a1.txt")" "stderr: $(head -c 300 "$tmp/err")"
fi
sleep 1   # the two audits of A must have different times
audit "$tmp/redis.conf" "$PORT_a" "$tmp/a2.json" --domain audit.example.org --json
a2_rc=$rc
a2_grade=$(jget "$tmp/a2.json" grade)
a2_score=$(jget "$tmp/a2.json" score)
if [ "$a2_rc" = 0 ] && [ "$a2_grade" = C ] && [ ! -s "$tmp/err" ]; then
	ok "audit 2 of A (--json): grade C ($a2_score), nothing on stderr"
else
	not_ok "audit 2 of A (--json): grade C" "rc $a2_rc grade '$a2_grade'" "stderr: $(head -c 300 "$tmp/err")"
fi
sleep 1
audit "$tmp/redis.conf" "$PORT_b" "$tmp/b1.json" --domain audit.example.org --json
b1_grade=$(jget "$tmp/b1.json" grade)
b1_score=$(jget "$tmp/b1.json" score)
if [ "$rc" = 0 ] && [ -n "$b1_grade" ] && [ "$b1_grade" != C ] && [ ! -s "$tmp/err" ]; then
	ok "audit of B: grade $b1_grade ($b1_score)"
else
	not_ok "audit of B: a grade other than A's" "rc $rc grade '$b1_grade'" "stderr: $(head -c 300 "$tmp/err")"
fi

# ---- 2. The keys, as README documents them ----
check "keys: mp:audit:TARGET lists (A: 2, B: 1), mp:audits has both, TTL ttl_domain" \
	$PY - "$MP_REDIS_PORT" "$TA" "$TB" <<'PYEOF'
import subprocess, sys
port, ta, tb = sys.argv[1:4]
def r(*a):
    return subprocess.run(["redis-cli", "-p", port, *a], capture_output=True, text=True).stdout.split()
assert r("LLEN", "mp:audit:" + ta) == ["2"], r("LLEN", "mp:audit:" + ta)
assert r("LLEN", "mp:audit:" + tb) == ["1"]
members = r("ZREVRANGE", "mp:audits", "0", "-1")
assert members == [tb, ta], members
for k in ("mp:audit:" + ta, "mp:audits"):
    ttl = int(r("TTL", k)[0])
    assert 7776000 - 60 < ttl <= 7776000, (k, ttl)
PYEOF
$RCLI --raw LINDEX "mp:audit:$TA" 0 > "$tmp/entry.json"
check "the stored entry: the JSON --json printed, with t, target, domain, score, grade" \
	$PY - "$tmp/entry.json" "$tmp/a2.json" "$TA" <<'PYEOF'
import json, sys, time
e = json.load(open(sys.argv[1]))
printed = json.load(open(sys.argv[2]))
assert e["audit"] == printed, "stored audit differs from the printed one"
assert e["target"] == sys.argv[3], e["target"]
assert e["domain"] == "audit.example.org" and e["grade"] == printed["grade"]
assert e["score"] == printed["score"]
assert abs(e["t"] - time.time()) < 120, e["t"]
PYEOF

# ---- 3. mailposture-report audits ----
report "$tmp/r1.txt" audits
if [ "$rc" = 0 ] && [ "$(grep -c "^[0-9-]* [0-9:]*  127.0.0.1:" "$tmp/r1.txt")" = 2 ] &&
	head -n 2 "$tmp/r1.txt" | tail -n 1 | grep -qE "  $TB  audit.example.org +$b1_score  ${b1_grade//+/\\+} " &&
	grep -qE "  $TA  audit.example.org +$a2_score  C " "$tmp/r1.txt" && [ -z "$(wide "$tmp/r1.txt")" ]; then
	ok "audits (text): one line per target, newest first, with score and grade"
else
	not_ok "audits (text): one line per target" "rc $rc" "$(cat "$tmp/r1.txt")" "$(cat "$tmp/rerr")"
fi
report "$tmp/r1.json" --json audits
check "audits --json: targets B then A, grades, scores, FAIL and WARN counts of the last run" \
	$PY - "$tmp/r1.json" "$tmp/a2.json" "$tmp/b1.json" "$TA" "$TB" "$rc" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
a2, b1 = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
ta, tb, rc = sys.argv[4], sys.argv[5], sys.argv[6]
assert rc == "0", rc
assert r["found"] is True
t = r["targets"]
assert [x["target"] for x in t] == [tb, ta], t
for row, doc in ((t[0], b1), (t[1], a2)):
    assert row["grade"] == doc["grade"] and row["score"] == doc["score"], row
    assert row["domain"] == "audit.example.org"
    assert row["fail"] == sum(c["status"] == "FAIL" for c in doc["checks"]), row
    assert row["warn"] == sum(c["status"] == "WARN" for c in doc["checks"]), row
    assert row["time"].endswith("Z")
PYEOF
report "$tmp/r2.txt" audits "$TA"
if [ "$rc" = 0 ] && grep -q "^Audits of $TA, newest first:" "$tmp/r2.txt" &&
	[ "$(grep -cE "^[0-9-]+ [0-9:]+  audit.example.org +[0-9]+  C " "$tmp/r2.txt")" = 2 ] &&
	[ "$(grep -c ' UTC: grade C (' "$tmp/r2.txt")" = 2 ] &&
	grep -q '^capped at C: plaintext AUTH' "$tmp/r2.txt" &&
	grep -qE '^FAIL +VRFY Command Exposure +' "$tmp/r2.txt" &&
	grep -qE '^FAIL +SMTP Authentication +.*before STARTTLS' "$tmp/r2.txt" &&
	[ -z "$(wide "$tmp/r2.txt")" ]; then
	ok "audits TARGET (text): both runs, grade C, their FAIL checks and the cap"
else
	not_ok "audits TARGET (text): both runs with their checks" "rc $rc" "$(head -c 2500 "$tmp/r2.txt")" "$(cat "$tmp/rerr")"
fi
report "$tmp/r2.json" --json audits "$TA"
check "audits TARGET --json: newest first, scores and grades of each run, FAIL and WARN checks" \
	$PY - "$tmp/r2.json" "$tmp/a2.json" "$a1_score" "$TA" "$rc" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
a2, a1_score, ta, rc = json.load(open(sys.argv[2])), int(sys.argv[3]), sys.argv[4], sys.argv[5]
assert rc == "0", rc
assert r["found"] is True and r["target"] == ta
a = r["audits"]
assert len(a) == 2, len(a)
assert a[0]["score"] == a2["score"] and a[1]["score"] == a1_score, (a[0]["score"], a[1]["score"])
assert a[0]["grade"] == "C" and a[1]["grade"] == "C"
assert a[0]["time"] > a[1]["time"], "not newest first"
assert a[0]["cap"].startswith("capped at C"), a[0]["cap"]
want_fail = sorted(c["id"] for c in a2["checks"] if c["status"] == "FAIL")
want_warn = sorted(c["id"] for c in a2["checks"] if c["status"] == "WARN")
assert sorted(c["id"] for c in a[0]["fail"]) == want_fail, a[0]["fail"]
assert sorted(c["id"] for c in a[0]["warn"]) == want_warn, a[0]["warn"]
assert "smtp.vrfy" in want_fail and "smtp.auth" in want_fail
assert all(c["finding"] and c["name"] for c in a[0]["fail"] + a[0]["warn"])
PYEOF
report "$tmp/r3.json" --json audits "$TA" -n 1
if [ "$rc" = 0 ] && [ "$(jget "$tmp/r3.json" audits)" = 1 ] &&
	[ "$(jget "$tmp/r3.json" audits.0.score)" = "$a2_score" ]; then
	ok "audits TARGET -n 1: the newest run only"
else
	not_ok "audits TARGET -n 1: the newest run only" "rc $rc" "$(head -c 500 "$tmp/r3.json")"
fi
report "$tmp/r4.txt" audits 192.0.2.1:25
r_unknown=$rc
report "$tmp/r5.txt" --json audits 192.0.2.1
if [ "$r_unknown" = 1 ] && [ ! -s "$tmp/r4.txt" ] && [ "$rc" = 1 ] &&
	[ "$(jget "$tmp/r5.txt" found)" = false ] && [ "$(jget "$tmp/r5.txt" target)" = 192.0.2.1:25 ]; then
	ok "audits of an unknown target: exit 1; HOST alone means port 25"
else
	not_ok "audits of an unknown target: exit 1" "rc $r_unknown / $rc" "$(cat "$tmp/r4.txt" "$tmp/r5.txt")"
fi
st=""
for args in "audits a:1 b:2" "audits --days 3" "audits -n 0" "audits bad\001target:25"; do
	# shellcheck disable=SC2086
	"$REPORT" -c "$tmp/redis.conf" $(printf "$args") > /dev/null 2>&1
	st="$st $?"
done
if [ "$st" = " 2 2 2 2" ]; then ok "audits usage errors: exit 2"; else not_ok "audits usage errors: exit 2" "got$st"; fi
"$REPORT" --help > "$tmp/help.txt"
if grep -q '^  audits \[TARGET\] \[-n N\]' "$tmp/help.txt" && [ -z "$(wide "$tmp/help.txt")" ]; then
	ok "--help documents audits"
else
	not_ok "--help documents audits" "$(grep -A4 audits "$tmp/help.txt")"
fi

# ---- 4. Redis down: one warning, same report and exit status ----
audit "$tmp/none.conf" "$PORT_a" "$tmp/n1.json" --domain audit.example.org --json --fail-under B
none_rc=$rc
none_err=$(cat "$tmp/err")
audit "$tmp/down.conf" "$PORT_a" "$tmp/d1.json" --domain audit.example.org --json --fail-under B
down_rc=$rc
if [ "$none_rc" = 1 ] && [ "$down_rc" = "$none_rc" ] && [ -z "$none_err" ] &&
	[ "$(wc -l < "$tmp/err")" = 1 ] &&
	grep -q "^mailposture-audit: could not store the audit in Redis: cannot connect to redis at 127.0.0.1:$DOWN" "$tmp/err"; then
	ok "Redis down: one warning line, exit status as without Redis ($down_rc)"
else
	not_ok "Redis down: one warning line, same exit status" "without Redis: rc $none_rc, '$none_err'" \
		"Redis down: rc $down_rc, '$(cat "$tmp/err")'"
fi
# Timings and the random VRFY names differ between any two runs.
check "Redis down: the same report as without Redis (score, grade, cap, every check's status)" \
	$PY - "$tmp/n1.json" "$tmp/d1.json" <<'PYEOF'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for k in ("host", "port", "domain", "score", "grade", "cap", "points_earned", "points_possible"):
    assert a[k] == b[k], (k, a[k], b[k])
sa = [(c["id"], c["status"]) for c in a["checks"]]
sb = [(c["id"], c["status"]) for c in b["checks"]]
assert sa == sb, [x for x in zip(sa, sb) if x[0] != x[1]]
PYEOF
audit "$tmp/down.conf" "$PORT_a" "$tmp/d2.txt" --domain audit.example.org
if [ "$rc" = 0 ] && grep -qE '^Audit finished in [0-9.]+ s \(SMTP [0-9.]+ s, DNS [0-9.]+ s\)$' "$tmp/d2.txt" &&
	! grep -q 'stored in Redis' "$tmp/d2.txt" && grep -q 'could not store the audit in Redis' "$tmp/err"; then
	ok "Redis down (text): exit 0, the footer does not claim it was stored"
else
	not_ok "Redis down (text): footer without 'stored in Redis'" "rc $rc" "$(tail -n 2 "$tmp/d2.txt")"
fi

# ---- 5. --no-store ----
before=$($RCLI LLEN "mp:audit:$TA")
audit "$tmp/redis.conf" "$PORT_a" "$tmp/ns.txt" --domain audit.example.org --no-store
after=$($RCLI LLEN "mp:audit:$TA")
if [ "$rc" = 0 ] && [ "$before" = 2 ] && [ "$after" = 2 ] && [ ! -s "$tmp/err" ] &&
	! grep -q 'stored in Redis' "$tmp/ns.txt" && [ "$($RCLI ZCARD mp:audits)" = 2 ]; then
	ok "--no-store: nothing written, nothing said"
else
	not_ok "--no-store writes nothing" "rc $rc, LLEN $before -> $after" "$(cat "$tmp/err")"
fi
if "$AUDIT" --help | grep -q -- '--no-store'; then ok "mailposture-audit --help lists --no-store"; else not_ok "--help lists --no-store"; fi

# ---- 6. The list is capped; entries that are not ours are skipped ----
# Target C: nothing listens there. Its list is prefilled with 98 entries
# that are not audits and one hostile one; one more audit makes 100.
PORT_c=$(mp_free_port)
TC="127.0.0.1:$PORT_c"
$PY - "$MP_REDIS_PORT" "mp:audit:$TC" <<'PYEOF' > /dev/null
import json, subprocess, sys
port, key = sys.argv[1:3]
junk = ["not json", "[1,2]", '{"t":"x","audit":{}}', "\x01\x7f", '{"t":1}'] * 20
hostile = json.dumps({"t": 1700000000, "target": "x", "domain": "evil\x1b[2J.example.org",
    "score": 5, "grade": "F\x07", "audit": {"cap": "capped \x1b[31mred" + "x" * 300,
    "checks": [{"id": "smtp.vrfy", "name": "VRFY\r\nforged line", "status": "FAIL",
    "finding": "\x1b]0;title\x07" + "y" * 500}]}})
subprocess.run(["redis-cli", "-p", port, "RPUSH", key, hostile, *junk[:98]], check=True,
    capture_output=True)
PYEOF
audit "$tmp/redis.conf" "$PORT_c" "$tmp/c1.json" --json --timeout 1000
c_grade=$(jget "$tmp/c1.json" grade)
if [ "$($RCLI LLEN "mp:audit:$TC")" = 100 ] && [ ! -s "$tmp/err" ] && [ -n "$c_grade" ]; then
	ok "99 old entries + 1 audit: the list holds 100"
else
	not_ok "the list is capped at 100" "LLEN $($RCLI LLEN "mp:audit:$TC")" "$(cat "$tmp/err")"
fi
audit "$tmp/redis.conf" "$PORT_c" "$tmp/c2.json" --json --timeout 1000
if [ "$($RCLI LLEN "mp:audit:$TC")" = 100 ] && [ "$($RCLI --raw LINDEX "mp:audit:$TC" 99)" = "[1,2]" ]; then
	ok "one more audit: still 100, the oldest entry dropped"
else
	not_ok "one more audit: still 100" "LLEN $($RCLI LLEN "mp:audit:$TC"), last $($RCLI --raw LINDEX "mp:audit:$TC" 99)"
fi
report "$tmp/c.json" --json audits "$TC" -n 100
c_json_rc=$rc
report "$tmp/c.txt" audits "$TC" -n 100
if [ "$c_json_rc" = 0 ] && [ "$rc" = 0 ] && [ "$(jget "$tmp/c.json" audits)" = 3 ] &&
	[ "$(jget "$tmp/c.json" audits.0.grade)" = "$c_grade" ] && [ "$(jget "$tmp/c.json" audits.2.score)" = 5 ] &&
	! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$tmp/c.txt" && [ -z "$(wide "$tmp/c.txt")" ] &&
	! grep -q '^forged line' "$tmp/c.txt"; then
	ok "entries that are not audits are skipped; hostile text printed escaped, within 100 columns"
else
	not_ok "junk skipped, hostile text escaped" "rc $c_json_rc/$rc, $(jget "$tmp/c.json" audits) audits" \
		"$(head -c 1500 "$tmp/c.txt")"
fi

if [ "$FAILED" -eq 0 ]; then exit 0; else exit 1; fi
