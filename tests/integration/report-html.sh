#!/bin/bash
# mailposture-report html in a real browser: verdicts written through the
# real store (store-feed, as report.sh does) and audits stored as
# mailposture-audit stores them go into a private redis-server, some of
# them hostile (markup and quotes in domain names, IPs, grades, policies
# and audit targets; a 250-byte label). The page must show the numbers
# the JSON commands show; headless Chromium must find the totals in the
# DOM, make no network request (its net log, checked against a page that
# does make one) and find no external URL in it; its screenshot (kept
# beside this test's log as report-html.png, with the page) must not be
# blank. Hostile strings must come out as text. TAP.
set -u
: "${TEST_BUILDDIR:?run me from make check}"
. "$TEST_SRCDIR/harness/lib.sh"
. "$(cd "$(dirname "$0")" && pwd)/../harness/tap.sh"
REPORT="$TEST_BUILDDIR/report/mailposture-report"
FEED="$TEST_BUILDDIR/tests/integration/store-feed"
PY=/usr/bin/python3
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "1..0 # SKIP chromium not found (Debian package chromium)"; exit 0; }
tmp=$MP_HARNESS_DIR/report-html
ART=$TEST_BUILDDIR/tests/integration
PAGE=$ART/report-html.html
SHOT=$ART/report-html.png
mkdir -p "$tmp" "$ART"
rm -f "$PAGE" "$SHOT"

mp_start_redis || { echo "Bail out! redis-server did not start"; exit 99; }
ADDR="127.0.0.1:$MP_REDIS_PORT"
RCLI="redis-cli -p $MP_REDIS_PORT"

# chrome OPTIONS... URL: headless Chromium as root, a fresh profile, and
# no host name resolved (nothing it might ask for leaves the machine).
chrome() {
	rm -rf "$tmp/profile"
	mkdir -p "$tmp/profile"
	timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
		--disable-background-networking --disable-component-update --disable-sync \
		--no-first-run --hide-scrollbars --user-data-dir="$tmp/profile" \
		--host-resolver-rules="MAP * ~NOTFOUND" "$@" 2>> "$tmp/chrome.err"
}

# page_requests NETLOG: the URLs a file:// page asked for (Chromium's own
# background requests have another isolation key), one a line.
page_requests() {
	$PY - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
types = {v: k for k, v in d["constants"]["logEventTypes"].items()}
for e in d["events"]:
    p = e.get("params", {})
    if types.get(e["type"]) == "URL_REQUEST_START_JOB" and "file://" in p.get("network_isolation_key", ""):
        print(p.get("url"))
EOF
}

echo "1..15"

# --- data ----------------------------------------------------------------------
long=$(head -c 250 /dev/zero | tr '\0' a)
{
	cat <<'FEED'
domain=pass.example.com org=example.com qid=A1 ip=192.0.2.10 spf=pass dmarc=pass sa=1 published=reject score=100 grade=A+ ago=60
domain=pass.example.com org=example.com qid=A2 ip=192.0.2.10 spf=pass dmarc=pass sa=1 da=1 published=reject ago=30
domain=pass.example.com org=example.com qid=A3 ip=198.51.100.7 spf=fail dmarc=fail dispo=reject published=reject ago=20
domain=example.net qid=B1 ip=198.51.100.7 spf=softfail dmarc=none score=35 grade=D+ ago=10
domain=example.net qid=B2 ip=203.0.113.5 spf=pass dmarc=none ago=5
domain=example.org qid=C1 ip=2001:db8::25 spf=none dmarc=fail dispo=quarantine published=quarantine score=60 grade=C- ago=100000
domain=<script>alert(1)</script> qid=H1 ip=<img/src=x>"' spf=fail dmarc=fail score=5 grade=F ago=50
FEED
	echo "domain=$long.example.com qid=H2 ip=192.0.2.77 spf=fail dmarc=fail score=8 grade=F ago=40"
	for i in 1 2 3 4 5 6; do
		echo "domain=week.example.org org=example.org qid=WF$i ip=203.0.113.9 spf=fail dmarc=fail published=none ago=$((i * 86400 + 100))"
		echo "domain=week.example.org org=example.org qid=WP$i ip=203.0.113.10 spf=pass dmarc=pass sa=1 published=none ago=$((i * 86400 + 200))"
	done
} > "$tmp/feed"
out=$("$FEED" --redis "$ADDR" < "$tmp/feed" 2>&1)
# Hostile values where the store keeps text as it came: a grade and a
# published policy in a domain hash, and audit entries.
dkey=$($PY -c 'import re; d="<script>alert(1)</script>"; s=re.sub(r"[^A-Za-z0-9._-]", "_", d); print("mp:d:{%s}:%s" % (s, s))')
$RCLI HSET "$dkey" posture_grade '"><svg onload=alert(2)>' published '<iframe src=//evil.example>' > /dev/null
now=$(date +%s)
audit() {  # audit TARGET KEY-TARGET AGO SCORE GRADE DOMAIN
	local t=$(($now - $3))
	$RCLI LPUSH "mp:audit:$2" "$($PY -c 'import json, sys
print(json.dumps({"t": int(sys.argv[1]), "target": sys.argv[2], "domain": sys.argv[5], "score": int(sys.argv[3]),
    "grade": sys.argv[4], "audit": {"checks": [{"id": "relay", "name": "Open relay", "status": "WARN", "finding": "<b>x</b>"}]}}))' \
		"$t" "$1" "$4" "$5" "$6")" > /dev/null
	$RCLI ZADD mp:audits "$t" "$1" > /dev/null
}
audit 127.0.0.1:25 127.0.0.1:25 259200 60 C mail.example.org
audit 127.0.0.1:25 127.0.0.1:25 172800 75 B mail.example.org
audit 127.0.0.1:25 127.0.0.1:25 86400 90 A mail.example.org
audit '<b>x</b>:25' _b_x__b_:25 3600 40 '<i>' '"><script>alert(3)</script>'
case "$out" in *"written 20 duplicates 0 failed 0"*) ok "20 verdicts written through the store, audits stored" ;;
*) not_ok "20 verdicts written through the store, audits stored" "$out" ;; esac

# --- the page and the JSON commands ----------------------------------------------
"$REPORT" --redis "$ADDR" html --out "$PAGE" > "$tmp/stdout" 2> "$tmp/err"
rc=$?
if [ "$rc" = 0 ] && [ -s "$PAGE" ] && [ ! -s "$tmp/stdout" ] && grep -q '</html>' "$PAGE"; then
	ok "html --out FILE: exit 0, the page in FILE, nothing on stdout"
else
	not_ok "html --out FILE: exit 0, the page in FILE, nothing on stdout" "rc=$rc" "$(cat "$tmp/err")"
fi
"$REPORT" --redis "$ADDR" --json html > "$tmp/page.json"
"$REPORT" --redis "$ADDR" --json summary --days 30 > "$tmp/summary.json"
"$REPORT" --redis "$ADDR" --json top --worst --days 30 > "$tmp/worst.json"
"$REPORT" --redis "$ADDR" --json top --volume --days 30 -n 1000 > "$tmp/volume.json"
"$REPORT" --redis "$ADDR" --json audits > "$tmp/audits.json"
"$REPORT" --redis "$ADDR" --json ip 203.0.113.9 --days 30 > "$tmp/ip.json"
if out=$($PY - "$tmp" <<'EOF' 2>&1
import json, sys
t = sys.argv[1]
page, summ, worst, vol, aud, ip = (json.load(open("%s/%s.json" % (t, n)))
    for n in ("page", "summary", "worst", "volume", "audits", "ip"))
bad = []
if page["summary"]["total"] != summ["total"] or page["summary"]["per_day"] != summ["per_day"]:
    bad.append("summary differs from summary --days 30")
keys = ("domain", "posture_score", "grade", "messages", "dmarc_fail")
if [[d[k] for k in keys] for d in page["worst"]["domains"]] != [[d[k] for k in keys] for d in worst["domains"]]:
    bad.append("worst differs from top --worst --days 30")
if page["senders"]["domains"] != len(vol["domains"]) or \
        page["senders"]["messages"] != sum(d["value"] for d in vol["domains"]) or \
        page["senders"]["messages"] != summ["total"]["messages"]:
    bad.append("senders differ from top --volume / summary: %s" % page["senders"])
if [[a[k] for k in ("target", "score", "grade", "time")] for a in page["audits"]["targets"]] != \
        [[a[k] for k in ("target", "score", "grade", "time")] for a in aud["targets"]]:
    bad.append("audits differ from audits")
top = page["failing_ips"]["ips"][0]
if top["ip"] != "203.0.113.9" or top["dmarc_fail"] != 6 or top["messages"] != sum(d["messages"] for d in ip["domains"]):
    bad.append("top failing IP %s, ip 203.0.113.9 says %s" % (top, ip["domains"]))
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
); then ok "the page's data is what summary, top, audits and ip say"
else not_ok "the page's data is what summary, top, audits and ip say" "$out"; fi

# --- in Chromium ----------------------------------------------------------------------
chrome --log-net-log="$tmp/net.json" --dump-dom "file://$PAGE" > "$tmp/dom.html"
check "Chromium loads the page (--dump-dom)" grep -q 'id="total-messages"' "$tmp/dom.html"
$PY - "$tmp/dom.html" "$tmp/page.json" > "$tmp/dom.out" 2>&1 <<'EOF'
import html.parser, json, re, sys
page = json.load(open(sys.argv[2]))
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.text, self.ids, self.cur, self.styles = [], [], [], {}, None, []
        self.in_style = False
    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        self.cur = dict(attrs).get("id")
        self.in_style = tag == "style"
    def handle_endtag(self, tag):
        self.in_style = False
        self.cur = None
    def handle_data(self, d):
        if self.in_style:
            self.styles.append(d)
        self.text.append(d)
        if self.cur:
            self.ids[self.cur] = self.ids.get(self.cur, "") + d
p = P()
p.feed(open(sys.argv[1]).read())
t = page["summary"]["total"]
print("totals", p.ids.get("total-messages"), p.ids.get("total-dmarc-pass"), p.ids.get("total-dmarc-fail"),
      p.ids.get("total-dmarc-none"), "want", t["messages"], t["dmarc_pass"], t["dmarc_fail"], t["dmarc_none"])
print("enforcing", p.ids.get("enforcing-domains-pct"), p.ids.get("enforcing-messages-pct"), "want",
      "%.1f%%" % page["senders"]["enforcing_domains_pct"], "%.1f%%" % page["senders"]["enforcing_messages_pct"])
ext = [a for a in p.attrs if a[1] in ("src", "href", "xlink:href", "action", "srcset", "poster", "data")
       or re.search(r"(https?:|^//|url\()", a[2], re.I)]
ext += ["style: " + s for s in p.styles if re.search(r"url\(|@import", s, re.I)]
print("external", ext)
print("elements", sorted(set(p.tags) & {"script", "iframe", "img", "link", "object", "embed", "base", "frame", "audio", "video", "svg:script"}))
text = "".join(p.text)
print("hostile-text", "<script>alert(1)</script>" in text, '"><svg onload=alert(2)>' in text,
      "<img/src=x>\"'" in text, "<iframe src=//evil.example>" in text, "<b>x</b>:25" in text,
      '"><script>alert(3)</script>' in text)
print("long-label", max(len(m) for m in re.findall("a+", text)))
print("circles", p.tags.count("circle"), "rects", p.tags.count("rect"))
EOF
line() { grep "^$1 " "$tmp/dom.out"; }
dom_total=$(line totals)
if [ "$dom_total" = "totals 20 8 10 2 want 20 8 10 2" ]; then ok "DOM: the totals (20 messages: 8 DMARC pass, 10 fail, 2 none)"
else not_ok "DOM: the totals (20 messages: 8 DMARC pass, 10 fail, 2 none)" "$dom_total" "$(cat "$tmp/dom.out")"; fi
l=$(line enforcing)
if [ "$l" = "enforcing 33.3% 20.0% want 33.3% 20.0%" ]; then ok "DOM: the share of senders with an enforcing policy (2 of 6; 4 of 20 messages)"
else not_ok "DOM: the share of senders with an enforcing policy (2 of 6; 4 of 20 messages)" "$l"; fi
check "DOM: no external URL (src=, href=, http:, //, url() anywhere)" test "$(line external)" = "external []"
check "DOM: no script, iframe, img, link, object or embed element" test "$(line elements)" = "elements []"
check "DOM: every hostile string is there as text" \
	test "$(line hostile-text)" = "hostile-text True True True True True True"
l=$(line long-label)
if [ "${l#long-label }" -ge 200 ] && [ "${l#long-label }" -le 255 ]; then ok "DOM: the 250-byte label shown as text ($l)"
else not_ok "DOM: the 250-byte label shown as text" "$l"; fi
l=$(line circles)
if [ "$(echo "$l" | awk '{print $2}')" -ge 4 ] && [ "$(echo "$l" | awk '{print $4}')" -ge 20 ]; then
	ok "DOM: charts drawn ($l)"
else not_ok "DOM: charts drawn" "$l"; fi

reqs=$(page_requests "$tmp/net.json")
# The check itself, on a page that does make a request (to a closed port).
printf '<!DOCTYPE html><p>x</p><img src="http://127.0.0.1:%s/x.png">\n' "$(mp_free_port)" > "$tmp/control.html"
chrome --log-net-log="$tmp/net-control.json" --dump-dom "file://$tmp/control.html" > /dev/null
control=$(page_requests "$tmp/net-control.json")
if [ -z "$reqs" ] && [ -n "$control" ]; then
	ok "no network request from the page (net log; a page with an <img> is caught)"
else
	not_ok "no network request from the page (net log; a page with an <img> is caught)" "page: $reqs" "control: $control"
fi

chrome --window-size=900,2400 --screenshot="$SHOT" "file://$PAGE" > /dev/null
$PY - "$SHOT" > "$tmp/png.out" 2>&1 <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4])
    kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
    pos += 12 + n
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
raw = zlib.decompress(idat)
bpp = {6: 4, 2: 3}[ctype]
stride = w * bpp
prev, seen = bytes(stride), {}
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride) if f in (3, 4) else range(bpp, stride) if f == 1 else ():
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1:
            line[i] = (line[i] + a) & 255
        elif f == 3:
            line[i] = (line[i] + ((a + b) >> 1)) & 255
        else:
            pp = a + b - c
            pa, pb, pc = abs(pp - a), abs(pp - b), abs(pp - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if f == 2:
        line = bytearray((x + z) & 255 for x, z in zip(line, prev))
    prev = bytes(line)
    if y % 3 == 0:
        for x in range(0, w, 3):
            px = prev[x * bpp:x * bpp + 3]
            seen[px] = seen.get(px, 0) + 1
total = sum(seen.values())
top = max(seen.values())
red, green = bytes((0xc6, 0x28, 0x28)), bytes((0x2e, 0x7d, 0x32))
print("png %dx%d colours %d background %.0f%% red %s green %s" % (w, h, len(seen), 100.0 * top / total,
      red in seen, green in seen))
EOF
l=$(cat "$tmp/png.out")
set -- $l
if [ "${1:-}" = png ] && [ "${4:-0}" -ge 30 ] && [ "${6%\%}" -lt 95 ] && [ "${8:-}" = True ] && [ "${10:-}" = True ]; then
	ok "screenshot: not blank ($l), kept as $SHOT"
else
	not_ok "screenshot: not blank, kept as $SHOT" "$l" "$(tail -n 5 "$tmp/chrome.err")"
fi

# --- usage and nothing to show -------------------------------------------------------
bad=()
for args in "html extra" "summary --out $tmp/x.html" "--json html --days 0" "html -n 0"; do
	eval "\"$REPORT\" --redis \"$ADDR\" $args" > /dev/null 2> "$tmp/err"
	rc=$?
	[ "$rc" = 2 ] || bad+=("'$args': exit $rc")
done
"$REPORT" --redis "$ADDR" html --out "$tmp/no/such/dir/p.html" > /dev/null 2> "$tmp/err"
rc=$?
[ "$rc" = 2 ] && grep -q "no/such/dir/p.html" "$tmp/err" || bad+=("unwritable --out: exit $rc $(cat "$tmp/err")")
if [ ${#bad[@]} -eq 0 ]; then ok "usage errors and an unwritable --out exit 2"; else not_ok "usage errors and an unwritable --out exit 2" "${bad[@]}"; fi
printf '[redis]\naddress = %s\nkey_prefix = other:\n' "$ADDR" > "$tmp/conf"
"$REPORT" -c "$tmp/conf" html --out "$tmp/empty.html" > /dev/null 2> "$tmp/err"
rc=$?
if [ "$rc" = 1 ] && [ ! -e "$tmp/empty.html" ]; then ok "nothing stored: exit 1, no file written"
else not_ok "nothing stored: exit 1, no file written" "rc=$rc" "$(cat "$tmp/err")"; fi

[ "$FAILED" -eq 0 ]
