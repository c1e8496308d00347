#!/bin/bash
# DMARC aggregate reports end to end: messages from several client IPs
# through a private Postfix and mailposture-milter (pass, an SPF fail
# under p=reject that is refused, a softfail under sp=quarantine, a
# subdomain under sp, a second policy domain, and a failure delivered by
# local policy) are counted in a private Redis; "mailposture-report
# aggregate --out" writes one file per policy domain, each validated
# against the working group's schema (xmllint) and parsed by Python's
# xml.etree, whose rows and counts must be what was sent; "--send" mails
# them through the same Postfix to smtp-sink: the internal rua and the
# authorized external rua get one mail each, the unauthorized one none,
# and a second run sends nothing and asks no DNS. The once-only markers
# name the policy domain; reports go largest first; rows whose policy id
# is not the writer's are skipped with a warning. Redis down is exit
# status 3. TAP.
# Our own zones (aggregate.example.org, rua.example.net) are served with
# the test zones by a second private NSD. Needs root, postfix, xmllint.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"
. "$here/../harness/milter-mail.sh"

: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
mp_milter_prelude MP_TEST_RESOLVER
REPORT="$TEST_BUILDDIR/report/mailposture-report"
XSD="$here/../xsd/dmarc-xml-0.2.xsd"
PY=/usr/bin/python3
command -v xmllint >/dev/null 2>&1 || { echo "1..0 # SKIP xmllint not found: install libxml2-utils"; exit 0; }

# ---- DNS: the test zones and ours ------------------------------------------
ZDIR="$D/zones"
mkdir -p "$ZDIR"
cp "$here"/../zones/*.zone "$ZDIR/"
cat > "$ZDIR/aggregate.example.org.zone" <<'ZONE'
$ORIGIN aggregate.example.org.
$TTL 300
@		IN SOA ns.aggregate.example.org. hostmaster.aggregate.example.org. 1 3600 600 86400 300
		IN NS ns.aggregate.example.org.
ns		IN A 192.0.2.53
@		IN TXT "v=spf1 ip4:192.0.2.10 ip4:192.0.2.11 -all"
_dmarc		IN TXT "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@aggregate.example.org,mailto:agg@ok.rua.example.net,mailto:agg@bad.rua.example.net"
soft		IN TXT "v=spf1 ip4:192.0.2.10 ~all"
news		IN TXT "v=spf1 ip4:192.0.2.20 -all"
other		IN TXT "v=spf1 ip4:192.0.2.10 -all"
_dmarc.other	IN TXT "v=DMARC1; p=none; rua=mailto:dmarc@aggregate.example.org"
ZONE
# ok.rua.example.net takes reports for aggregate.example.org (RFC 9990 3);
# bad.rua.example.net does not.
cat > "$ZDIR/rua.example.net.zone" <<'ZONE'
$ORIGIN rua.example.net.
$TTL 300
@		IN SOA ns.rua.example.net. hostmaster.rua.example.net. 1 3600 600 86400 300
		IN NS ns.rua.example.net.
ns		IN A 192.0.2.53
ok		IN MX 10 ok.rua.example.net.
bad		IN MX 10 bad.rua.example.net.
aggregate.example.org._report._dmarc.ok	IN TXT "v=DMARC1"
ZONE
mp_start_dns "$ZDIR" aggdns || { echo "Bail out! our NSD did not start"; exit 1; }
mp_start_redis || { echo "Bail out! redis-server did not start"; exit 1; }
RPORT=$MP_REDIS_PORT

write_conf() {  # write_conf DMARC_REJECT
	cat > "$CONF.new" <<CONF
[milter]
socket = inet:$MPORT@127.0.0.1
user = nobody
pidfile = $D/milter.pid
dmarc_reject = $1
dmarc_quarantine = quarantine
[dns]
resolver = $MP_TEST_RESOLVER
timeout = 1000
[policy]
authserv_id = mx.example.net
eval_timeout = 5
[redis]
address = 127.0.0.1:$RPORT
timeout = 300
CONF
	chmod 644 "$CONF.new"
	mv "$CONF.new" "$CONF"
}
write_conf reject
mp_start_milter "$CONF" || { echo "Bail out! milter did not start"; exit 1; }
mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
mp_start_postfix "inet:127.0.0.1:$MPORT" || { echo "Bail out! postfix did not start"; exit 1; }

# The report tool's own configuration: the sender goes through the same Postfix.
RCONF="$D/report.conf"
cat > "$RCONF" <<CONF
[dns]
resolver = $MP_TEST_RESOLVER
timeout = 1000
[redis]
address = 127.0.0.1:$RPORT
[report]
org_name = mailposture test <receiver> & "sons"
email = dmarc-reports@mx.example.net
from = reports@mx.example.net
extra_contact_info = https://mx.example.net/dmarc?a=1&b=2
sendmail = /usr/sbin/sendmail -C $MP_POSTFIX_DIR -t -oi
max_destinations = 3
CONF
echo "1..21"

# ---- mail -------------------------------------------------------------------
n=0
send() {  # send COUNT IP MAIL-FROM FROM-DOMAIN
	local i
	for i in $(seq 1 "$1"); do
		n=$((n + 1))
		mp_send "m$n" "$2" --from "$3" --header "From: <x@$4>" --add-header "X-Test-Id: m$n"
	done
}
send 3 192.0.2.10 bob@aggregate.example.org aggregate.example.org
send 1 192.0.2.11 bob@aggregate.example.org aggregate.example.org
send 2 198.51.100.7 bob@aggregate.example.org aggregate.example.org
send 1 198.51.100.8 ceo@soft.aggregate.example.org soft.aggregate.example.org
send 1 192.0.2.20 news@news.aggregate.example.org news.aggregate.example.org
send 1 192.0.2.10 o@other.aggregate.example.org other.aggregate.example.org
check "SPF fail under p=reject is refused" test "$(mp_final_code m5)" = 550

# dmarc_reject = none: the same failure is delivered (local policy).
before=$(grep -c 'configuration reloaded' "$MP_MILTER_LOG")
write_conf none
kill -HUP "$MP_MILTER_PID"
for _ in $(seq 1 100); do
	[ "$(grep -c 'configuration reloaded' "$MP_MILTER_LOG")" -gt "$before" ] && break
	sleep 0.1
done
send 1 198.51.100.9 bob@aggregate.example.org aggregate.example.org
check "with dmarc_reject = none the failure is delivered" test "$(mp_final_code m10)" = 250

for _ in $(seq 1 100); do
	[ "$(redis-cli -p "$RPORT" --scan --pattern 'mp:m:*' | wc -l)" -ge "$n" ] && break
	sleep 0.1
done
check "all $n verdicts stored" test "$(redis-cli -p "$RPORT" --scan --pattern 'mp:m:*' | wc -l)" -eq "$n"

# ---- aggregate --out ---------------------------------------------------------
DAY=$(date -u +%F)
OUT="$D/out"
mkdir -p "$OUT"
"$REPORT" -c "$RCONF" aggregate --day "$DAY" --out "$OUT" > "$D/out.txt" 2> "$D/out.err"
rc=$?
files=$(ls "$OUT" | wc -l)
if [ "$rc" = 0 ] && [ "$files" = 2 ]; then ok "aggregate --out writes one file per policy domain"
else not_ok "aggregate --out" "exit $rc, $files files" "$(cat "$D/out.txt" "$D/out.err")" "$(ls "$OUT")"; fi

bad=
for f in "$OUT"/*; do
	[[ $(basename "$f") =~ ^mx\.example\.net!(other\.)?aggregate\.example\.org![0-9]+![0-9]+![A-Za-z0-9]+\.xml\.gz$ ]] ||
		bad="$bad name:$(basename "$f")"
	gzip -dc "$f" > "${f%.gz}.plain" || bad="$bad gzip:$f"
	xmllint --noout --schema "$XSD" "${f%.gz}.plain" > "$D/xmllint.out" 2>&1 ||
		bad="$bad schema:$(basename "$f") $(cat "$D/xmllint.out")"
done
if [ -z "$bad" ]; then ok "every file is named as RFC 9990 says and validates against the schema"
else not_ok "file names and schema" "$bad"; fi

# The rows, read by an independent parser, against what was sent.
cat > "$D/rows.py" <<'PY'
import glob, os, re, sys
import xml.etree.ElementTree as ET
ns = {"d": "urn:ietf:params:xml:ns:dmarc-2.0"}
out = []
for path in sorted(glob.glob(sys.argv[1] + "/*.plain")):
    root = ET.parse(path).getroot()
    assert root.tag == "{urn:ietf:params:xml:ns:dmarc-2.0}feedback", root.tag
    meta = root.find("d:report_metadata", ns)
    rid = meta.findtext("d:report_id", namespaces=ns)
    uid = re.search(r"!([A-Za-z0-9]+)\.xml\.plain$", path).group(1)
    assert rid == uid, (rid, uid)
    assert meta.findtext("d:org_name", namespaces=ns) == 'mailposture test <receiver> & "sons"'
    pol = root.find("d:policy_published", ns)
    dom = pol.findtext("d:domain", namespaces=ns)
    out.append("policy %s p=%s sp=%s" % (dom, pol.findtext("d:p", namespaces=ns),
        pol.findtext("d:sp", namespaces=ns)))
    for rec in root.findall("d:record", ns):
        row = rec.find("d:row", ns)
        pe = row.find("d:policy_evaluated", ns)
        reasons = ",".join(r.findtext("d:type", namespaces=ns) for r in pe.findall("d:reason", ns))
        ids = rec.find("d:identifiers", ns)
        spf = rec.find("d:auth_results/d:spf", ns)
        out.append(" ".join([dom, row.findtext("d:source_ip", namespaces=ns),
            row.findtext("d:count", namespaces=ns), pe.findtext("d:disposition", namespaces=ns),
            "dkim=" + pe.findtext("d:dkim", namespaces=ns), "spf=" + pe.findtext("d:spf", namespaces=ns),
            "reason=" + (reasons or "-"), ids.findtext("d:header_from", namespaces=ns),
            ids.findtext("d:envelope_from", namespaces=ns),
            spf.findtext("d:domain", namespaces=ns) + "/" + spf.findtext("d:scope", namespaces=ns) +
            "/" + spf.findtext("d:result", namespaces=ns)]))
print("\n".join(sorted(out)))
PY
cat > "$D/rows.want" <<'WANT'
aggregate.example.org 192.0.2.10 3 none dkim=fail spf=pass reason=- aggregate.example.org aggregate.example.org aggregate.example.org/mfrom/pass
aggregate.example.org 192.0.2.11 1 none dkim=fail spf=pass reason=- aggregate.example.org aggregate.example.org aggregate.example.org/mfrom/pass
aggregate.example.org 192.0.2.20 1 none dkim=fail spf=pass reason=- news.aggregate.example.org news.aggregate.example.org news.aggregate.example.org/mfrom/pass
aggregate.example.org 198.51.100.7 2 reject dkim=fail spf=fail reason=- aggregate.example.org aggregate.example.org aggregate.example.org/mfrom/fail
aggregate.example.org 198.51.100.8 1 quarantine dkim=fail spf=fail reason=- soft.aggregate.example.org soft.aggregate.example.org soft.aggregate.example.org/mfrom/softfail
aggregate.example.org 198.51.100.9 1 none dkim=fail spf=fail reason=local_policy aggregate.example.org aggregate.example.org aggregate.example.org/mfrom/fail
other.aggregate.example.org 192.0.2.10 1 none dkim=fail spf=pass reason=- other.aggregate.example.org other.aggregate.example.org other.aggregate.example.org/mfrom/pass
policy aggregate.example.org p=reject sp=quarantine
policy other.aggregate.example.org p=none sp=none
WANT
$PY "$D/rows.py" "$OUT" > "$D/rows.got" 2>&1
if diff -u "$D/rows.want" "$D/rows.got" > "$D/rows.diff"; then ok "xml.etree reads the rows and counts that were sent"
else not_ok "rows read back" "$(cat "$D/rows.diff")"; fi

# Listing, a day without mail, and a configuration without org_name.
"$REPORT" -c "$RCONF" aggregate --day "$DAY" > "$D/list.txt" 2>&1
rc=$?
check "without --out or --send: one line per report" test "$rc" = 0 -a "$(wc -l < "$D/list.txt")" = 2
"$REPORT" -c "$RCONF" aggregate --day "$DAY" --domain Other.Aggregate.Example.org > "$D/list1.txt" 2>&1
check "--domain keeps one policy domain" grep -q ' other.aggregate.example.org  *1 rows  *1 messages ' "$D/list1.txt"
"$REPORT" -c "$RCONF" aggregate --day 2001-02-03 --out "$OUT" > /dev/null 2>&1
check "a day without reports: exit status 1" test $? = 1
grep -v '^org_name' "$RCONF" > "$D/noname.conf"
"$REPORT" -c "$D/noname.conf" aggregate --day "$DAY" --out "$OUT" > /dev/null 2> "$D/noname.err"
rc=$?
check "--out without [report] org_name: exit status 2" test "$rc" = 2
"$REPORT" -c "$D/noname.conf" aggregate --configured > /dev/null 2>&1
rc1=$?
"$REPORT" -c "$RCONF" aggregate --configured > /dev/null 2>&1
check "--configured says whether org_name and email are set" test "$rc1" = 1 -a $? = 0

# ---- aggregate --send ----------------------------------------------------------
before=$(mp_sink_count)
"$REPORT" -c "$RCONF" aggregate --day "$DAY" --send > "$D/send.txt" 2> "$D/send.err"
rc=$?
mp_sink_wait $((before + 3)) 30
sleep 2
mp_postfix_flush
sleep 1
check "aggregate --send exits 0" test "$rc" = 0

# Every report mail in the sink: To, Subject, and the attachment unpacked.
cat > "$D/mails.py" <<'PY'
import email, glob, gzip, re, sys
from email import policy
out = []
for path in sorted(glob.glob(sys.argv[1] + "/*")):
    # smtp-sink puts its X-Client-Addr... lines first: header fields too.
    msg = email.message_from_bytes(open(path, "rb").read(), policy=policy.default)
    subj = " ".join(str(msg["Subject"] or "").split())
    m = re.fullmatch(r"Report Domain: (\S+) Submitter: mx\.example\.net Report-ID: ([A-Za-z0-9]+)", subj)
    if not m:
        continue
    parts = [p for p in msg.walk() if p.get_content_type() == "application/gzip"]
    assert len(parts) == 1, path
    name = parts[0].get_filename()
    assert name.endswith("!" + m.group(2) + ".xml.gz"), (name, m.group(2))
    doc = gzip.decompress(parts[0].get_payload(decode=True))
    open(sys.argv[2] + "/" + name[:-3], "wb").write(doc)
    assert msg.get_content_type() == "multipart/mixed"
    assert str(msg["From"]) == "reports@mx.example.net"
    out.append("%s %s" % (str(msg["To"]), m.group(1)))
print("\n".join(sorted(out)))
PY
mkdir -p "$D/mailed"
$PY "$D/mails.py" "$MP_SINK_DIR" "$D/mailed" > "$D/mails.got" 2>&1
cat > "$D/mails.want" <<'WANT'
agg@ok.rua.example.net aggregate.example.org
dmarc@aggregate.example.org aggregate.example.org
dmarc@aggregate.example.org other.aggregate.example.org
WANT
if diff -u "$D/mails.want" "$D/mails.got" > "$D/mails.diff"; then
	ok "the internal and the authorized external rua get one mail each, the unauthorized none"
else
	not_ok "report mails" "$(cat "$D/mails.diff")" "$(cat "$D/send.txt" "$D/send.err")"
fi
bad=
for f in "$D"/mailed/*.xml; do
	[ -e "$f" ] || { bad="no attachment"; break; }
	xmllint --noout --schema "$XSD" "$f" > "$D/xmllint.out" 2>&1 || bad="$bad $(cat "$D/xmllint.out")"
	cmp -s "$f" "$OUT/$(basename "$f").plain" || bad="$bad differs:$(basename "$f")"
done
if [ -z "$bad" ]; then ok "the mailed reports validate and equal the files of --out"
else not_ok "mailed reports" "$bad"; fi
check "the unauthorized destination is logged" grep -q 'not sent to agg@bad.rua.example.net: not authorized' "$D/send.err"

# A second run (or a second host on this Redis) sends nothing again.
before=$(mp_sink_count)
"$REPORT" -c "$RCONF" aggregate --day "$DAY" --send > "$D/send2.txt" 2> "$D/send2.err"
rc=$?
sleep 3
mp_postfix_flush
sleep 1
if [ "$rc" = 0 ] && [ "$(mp_sink_count)" = "$before" ] && grep -q '^0 report mails sent, 3 sent before' "$D/send2.txt"; then
	ok "running --send again sends nothing"
else
	not_ok "second --send" "exit $rc, sink $(mp_sink_count) (was $before)" "$(cat "$D/send2.txt" "$D/send2.err")"
fi
# A report done whole (each destination sent or not allowed) is not
# looked at again: the unauthorized destination is not asked about.
if grep -q 'not sent to\|not checked' "$D/send2.err"; then
	not_ok "the second run asks no DNS" "$(cat "$D/send2.err")"
else
	ok "the second run asks no DNS about reports done whole"
fi
redis-cli -p "$RPORT" --scan --pattern 'mp:as:*' | sort > "$D/marks.txt"
if [ "$(wc -l < "$D/marks.txt")" = 2 ] &&
	[ "$(grep -cE '^mp:as:[0-9]{8}[0-9a-f]{32}:(other\.)?aggregate\.example\.org$' "$D/marks.txt")" = 2 ]; then
	ok "the once-only markers are per report id and policy domain"
else
	not_ok "marker keys" "$(cat "$D/marks.txt")"
fi

# Rows written by someone else than the milter: a policy id that is not
# eight lowercase hex digits is skipped and counted in a warning; and the
# reports come largest first (aa.example.org has 1 message).
YMD=$(date -u +%Y%m%d)
redis-cli -p "$RPORT" HSET "mp:ar:{aa.example.org}:aa.example.org:$YMD" \
	"0a1b2c3d 192.0.2.99 aa.example.org = = pass 0 1 none -" 1 \
	"DEADBEEF 192.0.2.98 aa.example.org = = pass 0 1 none -" 5 > /dev/null
redis-cli -p "$RPORT" HSET "mp:am:{aa.example.org}:aa.example.org:$YMD" \
	policy:0a1b2c3d "p=none sp= np= adkim=r aspf=r t=n fo=0 disc=treewalk rua=" \
	policy:DEADBEEF "p=none sp= np= adkim=r aspf=r t=n fo=0 disc=treewalk rua=" > /dev/null
"$REPORT" -c "$RCONF" aggregate --day "$DAY" > "$D/list2.txt" 2> "$D/list2.err"
if [ "$(wc -l < "$D/list2.txt")" = 3 ] && grep -q '2 report rows or policies .*no well-formed policy id' "$D/list2.err"; then
	ok "rows and policies with a malformed policy id are skipped, with a warning"
else
	not_ok "malformed policy ids" "$(cat "$D/list2.txt" "$D/list2.err")"
fi
if awk '{ print $2 }' "$D/list2.txt" | tr '\n' ' ' | grep -qx 'aggregate.example.org aa.example.org other.aggregate.example.org '; then
	ok "reports are handled largest first"
else
	not_ok "report order" "$(cat "$D/list2.txt")"
fi

# ---- Redis down ------------------------------------------------------------------
"$REPORT" -c "$RCONF" --redis "127.0.0.1:$(mp_free_port)" aggregate --day "$DAY" --out "$OUT" \
	> /dev/null 2> "$D/down.err"
check "Redis unreachable: exit status 3" test $? = 3
