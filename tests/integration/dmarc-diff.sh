#!/bin/bash
# The differential test of DMARC (issue 14): every sender case below, over
# all test zones that publish DMARC, through mailposture-check and through
# mailauth (npm), an RFC 9989 implementation that is not ours, on the same
# DNS (tests/dmarc-ref/mailauth-dmarc.js). Both outcomes are printed per
# case: the DMARC result, the policy applied to a failing message (p, sp
# or np, after t=y), the DMARC Policy Domain and the Organizational
# Domain. The test fails where the results differ, where both name a
# policy domain or an Organizational Domain and the two differ, or where
# both fail with a different policy, unless the case is in KNOWN below
# with the reason (and in README, "DMARC differential test"). We name the
# Organizational Domain only where the evaluation needed it.
#
# mailauth lives outside the tree: tests/dmarc-ref/install (run by
# scripts/install-deps) puts it into MP_DMARC_REF_CACHE. Without node or
# that install the test skips and says why. TAP output; runs under
# tests/harness/with-servers, which sets MP_TEST_RESOLVER.
set -u
: "${MP_TEST_RESOLVER:?run me under tests/harness/with-servers}"
here=$(cd "$(dirname "$0")" && pwd)
: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
CHECK="$TEST_BUILDDIR/milter/mailposture-check"
PY=/usr/bin/python3
REF="$here/../dmarc-ref/mailauth-dmarc.js"
MP_DMARC_REF_MODULES=${MP_DMARC_REF_CACHE:-/var/cache/mailposture-test/dmarc-ref}/node_modules
export MP_DMARC_REF_MODULES
. "$here/../harness/tap.sh"
. "$here/../dkim/cases.sh"

if ! command -v node >/dev/null 2>&1; then
	echo "1..0 # SKIP node not found: mailauth, the reference implementation, runs on node"
	exit 0
fi
if [ ! -f "$MP_DMARC_REF_MODULES/mailauth/package.json" ]; then
	echo "1..0 # SKIP mailauth not installed in $MP_DMARC_REF_MODULES: run scripts/install-deps (tests/dmarc-ref/install)"
	exit 0
fi
if ! dkim_python_ok; then
	echo "1..0 # SKIP /usr/bin/python3 lacks dkim, nacl or dns: the DKIM cases cannot be signed (python3-dkim)"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

W=walk.example.net
D=dmarc.example.org
# NAME|CLIENT IP|HELO|MAIL FROM (<> the null sender)|FROM|DKIM: "-" unsigned,
# else the options of tests/dkim/sign. FROM is a domain (the message is
# From: <bob@FROM>) or a whole header value.
CASES="walk-psd-itself|198.51.100.66|mx.b.tenants.$W|bounce@b.tenants.$W|tenants.$W|-
walk-tenant-own|198.51.100.65|mx.a.tenants.$W|bob@a.tenants.$W|a.tenants.$W|-
walk-cross-tenant|198.51.100.66|mx.b.tenants.$W|bob@b.tenants.$W|a.tenants.$W|-
walk-tenant-bounce|198.51.100.65|mx.a.tenants.$W|bounce@bounce.a.tenants.$W|a.tenants.$W|-
walk-tenant-psd-policy|198.51.100.66|mx.b.tenants.$W|bob@b.tenants.$W|b.tenants.$W|-
walk-tenant-sp|198.51.100.66|mx.b.tenants.$W|bob@b.tenants.$W|c.tenants.$W|-
walk-tenant-np|198.51.100.66|mx.b.tenants.$W|bob@b.tenants.$W|nx.tenants.$W|-
walk-tenant-sub-relaxed|198.51.100.65|mx.a.tenants.$W|bounce@bounce.a.tenants.$W|x.a.tenants.$W|-
walk-tenant-sub-cross|198.51.100.66|mx.b.tenants.$W|bob@b.tenants.$W|x.a.tenants.$W|-
walk-tenant-case|198.51.100.65|mx.a.tenants.$W|bob@A.Tenants.Walk.Example.NET|Bob <bob@A.TENANTS.walk.example.NET>|-
walk-corp|198.51.100.67|mx.corp.$W|bob@corp.$W|corp.$W|-
walk-psd-n|198.51.100.68|mx.dept.corp.$W|bob@y.dept.corp.$W|dept.corp.$W|-
walk-psd-n-below|198.51.100.69|mx.corp.$W|bob@x.corp.$W|x.dept.corp.$W|-
walk-psd-n-parent|198.51.100.68|mx.dept.corp.$W|bob@y.dept.corp.$W|x.corp.$W|-
walk-psd-n-apex|198.51.100.68|mx.dept.corp.$W|bob@y.dept.corp.$W|corp.$W|-
walk-deep-11|203.0.113.5|mx.example.net|bob@a.b.c.d.e.f.g.deep.$W|a.b.c.d.e.f.g.deep.$W|-
walk-deep-12-nx|203.0.113.5|mx.example.net|bob@nx.a.b.c.d.e.f.g.deep.$W|nx.a.b.c.d.e.f.g.deep.$W|-
walk-deep-10-own|203.0.113.5|mx.example.net|bob@b.c.d.e.f.g.deep.$W|b.c.d.e.f.g.deep.$W|-
walk-deep-apex|203.0.113.5|mx.example.net|bob@deep.$W|deep.$W|-
walk-pol|203.0.113.5|mx.example.net|bob@pol.$W|pol.$W|-
walk-pol-sp|203.0.113.5|mx.example.net|bob@x.pol.$W|x.pol.$W|-
walk-pol-np|203.0.113.5|mx.example.net|bob@nx.pol.$W|nx.pol.$W|-
walk-pol-ent|203.0.113.5|mx.example.net|bob@ent.pol.$W|ent.pol.$W|-
walk-pol-leaf|203.0.113.5|mx.example.net|bob@leaf.ent.pol.$W|leaf.ent.pol.$W|-
walk-fam|203.0.113.5|mx.example.net|bob@fam.$W|fam.$W|-
walk-fam-several|203.0.113.5|mx.example.net|bob@two.fam.$W|two.fam.$W|-
walk-fam-several-below|203.0.113.5|mx.example.net|bob@x.two.fam.$W|x.two.fam.$W|-
walk-servfail-halfway|203.0.113.5|mx.example.net|bob@x.y.brk.$W|x.y.brk.$W|-
walk-servfail-org|198.51.100.70|mx.ok.brk.$W|bob@sub.ok.brk.$W|ok.brk.$W|-
walk-servfail-sub|198.51.100.70|mx.ok.brk.$W|bob@sub.ok.brk.$W|sub.ok.brk.$W|-
walk-servfail-no-id|203.0.113.5|mx.example.net|bob@ok.brk.$W|ok.brk.$W|-
walk-apex|203.0.113.5|mx.example.net|bob@$W|$W|-
dmarc-reject|203.0.113.5|mx.example.net|bob@reject.$D|reject.$D|-
dmarc-quarantine|203.0.113.5|mx.example.net|bob@quarantine.$D|quarantine.$D|-
dmarc-none|203.0.113.5|mx.example.net|bob@none.$D|none.$D|-
dmarc-parent|203.0.113.5|mx.example.net|bob@parent.$D|parent.$D|-
dmarc-parent-sp|203.0.113.5|mx.example.net|bob@mail.parent.$D|mail.parent.$D|-
dmarc-parent-np|203.0.113.5|mx.example.net|bob@nx.parent.$D|nx.parent.$D|-
dmarc-txtonly|203.0.113.5|mx.example.net|bob@txtonly.parent.$D|txtonly.parent.$D|-
dmarc-self|203.0.113.5|mx.example.net|bob@self.parent.$D|self.parent.$D|-
dmarc-bad|203.0.113.5|mx.example.net|bob@bad.parent.$D|bad.parent.$D|-
dmarc-nosp|203.0.113.5|mx.example.net|bob@mail.nosp.$D|mail.nosp.$D|-
dmarc-nponly-sub|203.0.113.5|mx.example.net|bob@mail.nponly.$D|mail.nponly.$D|-
dmarc-nponly-nx|203.0.113.5|mx.example.net|bob@nx.nponly.$D|nx.nponly.$D|-
dmarc-pct50|203.0.113.5|mx.example.net|bob@pct50.$D|pct50.$D|-
dmarc-pct0|203.0.113.5|mx.example.net|bob@pct0.$D|pct0.$D|-
dmarc-testing|203.0.113.5|mx.example.net|bob@testing.$D|testing.$D|-
dmarc-testpct|203.0.113.5|mx.example.net|bob@testpct.$D|testpct.$D|-
dmarc-strict|203.0.113.5|mx.example.net|bob@bounce.strict.$D|strict.$D|-
dmarc-two|203.0.113.5|mx.example.net|bob@two.$D|two.$D|-
dmarc-two-sub|203.0.113.5|mx.example.net|bob@mail.two.$D|mail.two.$D|-
dmarc-oneplus|203.0.113.5|mx.example.net|bob@oneplus.$D|oneplus.$D|-
dmarc-malformed|203.0.113.5|mx.example.net|bob@malformed.$D|malformed.$D|-
dmarc-fallback|203.0.113.5|mx.example.net|bob@fallback.$D|fallback.$D|-
dmarc-nul|203.0.113.5|mx.example.net|bob@nul.$D|nul.$D|-
dmarc-nodmarc|203.0.113.5|mx.example.net|bob@mail.nodmarc.$D|mail.nodmarc.$D|-
dmarc-loop|203.0.113.5|mx.example.net|bob@loop.$D|loop.$D|-
dmarc-loop-sub|203.0.113.5|mx.example.net|bob@mail.loop.$D|mail.loop.$D|-
dmarc-broken|203.0.113.5|mx.example.net|bob@broken.$D|broken.$D|-
com-pass|192.0.2.10|mail.example.com|bob@pass.example.com|pass.example.com|-
com-spf-fail|198.51.100.7|mail.example.net|bob@pass.example.com|pass.example.com|-
com-softfail-sp|203.0.113.5|mail.example.net|bob@soft.example.com|soft.example.com|-
com-news|192.0.2.10|mail.example.com|bob@news.example.com|news.example.com|-
com-aspf-s|192.0.2.10|mail.example.com|bob@bounce.strict.example.com|strict.example.com|-
com-aspf-r|192.0.2.10|mail.example.com|bob@bounce.relaxed.example.com|relaxed.example.com|-
com-twospf|192.0.2.10|mail.example.com|bob@twospf.example.com|twospf.example.com|-
com-weak|203.0.113.5|mail.example.net|bob@weak.example.com|weak.example.com|-
com-pct50|198.51.100.7|mail.example.net|bob@half.example.com|half.example.com|-
com-nx-aligned|192.0.2.10|mail.example.com|bob@pass.example.com|nx.example.com|-
com-nx-fail|198.51.100.7|mail.example.net|bob@nx.example.com|nx.example.com|-
com-apex-relaxed|192.0.2.10|mail.example.com|bob@pass.example.com|example.com|-
com-null-sender|192.0.2.25|mail.example.com|<>|example.com|-
com-two-from|198.51.100.7|mail.example.net|bob@pass.example.com|Alice <alice@pass.example.com>, Eve <eve@weak.example.com>|-
dkim-esp|198.51.100.7|mail.esp.example.net|bounce@bounce.esp.example.net|dkim.example.org|-s s2048
dkim-unsigned|198.51.100.7|mail.esp.example.net|bounce@bounce.esp.example.net|dkim.example.org|-
dkim-relaxed-sub|198.51.100.7|mail.esp.example.net|bounce@bounce.esp.example.net|news.dkim.example.org|-s s2048
dkim-relaxed-nx|198.51.100.7|mail.esp.example.net|bounce@bounce.esp.example.net|nx.dkim.example.org|-s s2048
dkim-ed25519|198.51.100.7|mail.esp.example.net|bounce@bounce.esp.example.net|dkim.example.org|-s ed
dkim-512|198.51.100.7|mail.esp.example.net|bounce@bounce.esp.example.net|dkim.example.org|-s weak
dkim-nokey|198.51.100.7|mail.esp.example.net|bounce@bounce.esp.example.net|dkim.example.org|-s nokey
audit-apex|203.0.113.200|mail.audit.example.org|bob@audit.example.org|audit.example.org|-
audit-good|203.0.113.210|mx.good.audit.example.org|bob@good.audit.example.org|good.audit.example.org|-
audit-org-strict|203.0.113.210|mx.good.audit.example.org|bob@good.audit.example.org|nodmarc.audit.example.org|-
audit-net-none|203.0.113.5|mx.example.net|bob@nodmarc.audit.example.net|nodmarc.audit.example.net|-
milter-pass|192.0.2.10|mail.example.com|bob@pass.milter.example.net|pass.milter.example.net|-
milter-quarantine|192.0.2.10|mail.example.com|bob@quar.milter.example.net|quar.milter.example.net|-
milter-temperror|192.0.2.10|mail.example.com|bob@temp.milter.example.net|temp.milter.example.net|-
milter-aspf-s|192.0.2.10|mail.example.com|bob@pass.milter.example.net|spoof.milter.example.net|-
milter-none|192.0.2.10|mail.example.com|bob@none.milter.example.net|none.milter.example.net|-
sendmail-pass|127.0.0.2|localhost|bob@pass.sendmail.example.net|pass.sendmail.example.net|-
sendmail-other|127.0.0.2|localhost|bob@other.sendmail.example.net|other.sendmail.example.net|-
spoof-envelope|203.0.113.66|attacker.spoof.example.net|x@attacker.spoof.example.net|pass.example.com|-
net-norec|198.51.100.9|mail.example.net|alice@norec.example.net|norec.example.net|-
walk-dangling-cname|203.0.113.66|attacker.spoof.example.net|x@attacker.spoof.example.net|dangling.pol.$W|-
walk-cname-loop|203.0.113.66|attacker.spoof.example.net|x@attacker.spoof.example.net|cl.pol.$W|-
walk-brk-own|198.51.100.70|mx.ok.brk.$W|bob@ok.brk.$W|ok.brk.$W|-
walk-no-p|203.0.113.66|attacker.spoof.example.net|x@attacker.spoof.example.net|bare.$W|-
walk-no-p-sp|203.0.113.66|attacker.spoof.example.net|x@attacker.spoof.example.net|x.baresub.$W|-
walk-bad-sp-self|203.0.113.66|attacker.spoof.example.net|x@attacker.spoof.example.net|badsp.$W|-
walk-bad-sp-sub|203.0.113.66|attacker.spoof.example.net|x@attacker.spoof.example.net|x.badsp.$W|-
walk-bad-np|203.0.113.66|attacker.spoof.example.net|x@attacker.spoof.example.net|nx.badnp.$W|-
walk-dup-p|203.0.113.66|attacker.spoof.example.net|x@attacker.spoof.example.net|dup.$W|-"

# Disagreements that are understood, by case name: "OURS ~ MAILAUTH", each
# "RESULT POLICY POLICY-DOMAIN" as the case prints them, then why. A case
# listed here passes only while both outputs stay exactly so.
INVALID_P="A record whose p= is not none, quarantine or reject, without a valid rua=: RFC 9989 4.10.1 says the receiver then \"applies no DMARC processing to this message\", and 9.2 names \"the retrieval of an improperly formatted DMARC Policy Record\" as the example of dmarc=permerror. Both apply no policy; we report permerror, the registered result for this very case, mailauth reports none."
NO_P="RFC 9989 reads two ways for a record without p=: 4.7 says it \"is treated as if it included p=none\", 4.10.1 that a record without a valid p and without a valid rua gets \"no DMARC processing\". We follow 4.7 for an absent p (the record applies, with p=none, and its sp and np stand); mailauth follows 4.10.1."
BAD_SP="4.10.1 read literally makes a record with an invalid sp or np act as p=none (with a rua) or as no record at all: a typo in sp would then deliver spoofs of the domain itself under p=reject. We take 4.8 instead (\"Syntax errors in the remainder of the record MUST be discarded in favor of default values\"): the invalid tag alone is dropped and its fallback applies (np to sp, sp to p). The stricter reading, on purpose."
declare -A KNOWN=(
	[walk-no-p]="fail none bare.$W ~ none - -|$NO_P No action follows either way (p=none)."
	[walk-no-p-sp]="fail reject baresub.$W ~ none - -|$NO_P Here the record is \"v=DMARC1; sp=reject\": under 4.7 its existing subdomains get sp=reject."
	[walk-bad-sp-self]="fail reject badsp.$W ~ none - -|$BAD_SP"
	[walk-bad-sp-sub]="fail reject badsp.$W ~ none - -|$BAD_SP"
	[walk-bad-np]="fail reject badnp.$W ~ none - -|$BAD_SP"
	[walk-dup-p]="fail none dup.$W ~ fail reject dup.$W|\"p=none; p=reject\": RFC 6376 3.2, whose tag-list syntax RFC 9989 4.7 adopts, makes a tag list with a repeated tag invalid (no policy at all). mailauth takes the last p, we the first, so that nothing after the owner's first p can lower it (\"p=reject; p=none\" is reject)."
	[dmarc-bad]="fail quarantine parent.$D ~ none - -|\"p=bogus\" at the From domain, no rua, and a parent (its Organizational Domain) with p=reject; sp=quarantine. RFC 9989 4.10.1 says both \"If no valid DMARC Policy Record is found by the first query, then perform a DNS Tree Walk\" and, of a retrieved record without a valid p, that the receiver \"applies no DMARC processing\". mailauth stops at the invalid record (none); we walk on and apply the parent's sp, the stricter reading (a typo in the subdomain's record does not switch its protection off)."
	[dmarc-malformed]="permerror - malformed.$D ~ none - -|$INVALID_P"
	[dmarc-nul]="permerror - nul.$D ~ none - -|p=reject followed by a NUL byte: NUL is no dmarc-value character (RFC 9989 4.8), so p is not valid. $INVALID_P"
	[dmarc-broken]="temperror - - ~ none - -|_dmarc.broken is delegated to a name server that does not answer. The test DNS is an authoritative NSD: mailauth's resolver (c-ares, asked directly) takes its referral for an empty answer, no record, so none. We ask through libunbound, which says the upstream answered with a referral instead of recursing: a failed lookup. A recursive resolver would follow the delegation and time out, so on a real resolver both give temperror; RFC 9989 4.10.1 lets only \"an indication that there is no such record as opposed to a transient DNS error\" end in none."
	[com-two-from]="fail reject pass.example.com ~ none - -|Two Author Domains in From (pass.example.com and weak.example.com). RFC 9989 5.3.1 ends DMARC there but lets the receiver go on (MAY); 11.5 recommends, where it goes on, evaluating each domain and applying the strictest policy among those that fail, since otherwise a second From domain escapes the first one's policy. We do that (pass.example.com fails SPF: p=reject); mailauth stops (no DMARC result)."
)

# make_message NAME FROM DKIM: $tmp/NAME.eml.
make_message() {
	local from=$2
	case $from in *@*) ;; *) from="Bob <bob@$from>" ;; esac
	if [ "$3" = - ]; then
		dkim_base "$1" "$from" > "$tmp/$1.eml"
	else
		# shellcheck disable=SC2086
		dkim_base "$1" "$from" | dkim_sign $3 > "$tmp/$1.eml"
	fi
}

printf '[policy]\nauthserv_id = mx.example.org\n' > "$tmp/mp.conf"
names=()
: > "$tmp/cases.tsv"
while IFS='|' read -r name ip helo mfrom from sign; do
	[ "$mfrom" = '<>' ] && mfrom=
	names+=("$name")
	make_message "$name" "$from" "$sign"
	"$CHECK" -c "$tmp/mp.conf" --resolver "$MP_TEST_RESOLVER" --timeout 2000 --json --no-posture \
		--ip "$ip" --helo "$helo" --mail-from "$mfrom" "$tmp/$name.eml" \
		> "$tmp/$name.json" 2> "$tmp/$name.err"
	printf '%s\t%s\t%s\t%s\n' "$ip" "$helo" "$mfrom" "$tmp/$name.eml" >> "$tmp/cases.tsv"
done <<< "$CASES"

# Ours, one line per case as mailauth-dmarc.js prints its own: RESULT,
# the policy applied when the message fails, the policy domain, the
# Organizational Domain, DETAIL.
$PY - "$tmp" "${names[@]}" > "$tmp/ours.tsv" <<'PYEOF'
import json, re, sys
down = {"reject": "quarantine", "quarantine": "none", "none": "none"}
tmp = sys.argv[1]
for name in sys.argv[2:]:
    try:
        v = json.load(open("%s/%s.json" % (tmp, name)))
    except (OSError, ValueError):
        err = open("%s/%s.err" % (tmp, name)).read().strip().replace("\n", " ")[:300]
        print("error\t-\t-\t-\tno JSON from mailposture-check: %s" % err)
        continue
    d = v.get("dmarc") or {}
    res = d.get("result") or "-"
    pol = d.get("policy") or ""
    if res == "fail":
        pol = d.get("disposition") or pol
    elif pol in down and re.search(r"(^|;)\s*t\s*=\s*y\s*(;|$)", d.get("record") or ""):
        pol = down[pol]
    if pol in ("", "unset"):
        pol = "-"
    if res not in ("pass", "fail"):
        pol = "-"
    dk = ",".join("%s(%s)" % (s.get("result"), s.get("d") or s.get("domain") or "-")
                  for s in v.get("dkim") or []) or "none"
    spf = v.get("spf") or {}
    det = "spf=%s(%s) dkim=%s" % (spf.get("result"), spf.get("domain") or "-", dk)
    if v.get("problem"):
        det += " problem: %s" % v["problem"]
    if res in ("none", "temperror", "permerror") and d.get("reason"):
        det += " reason: %s" % d["reason"]
    print("\t".join([res, pol, d.get("policy_domain") or "-", d.get("org_domain") or "-", det]))
PYEOF

if ! node "$REF" < "$tmp/cases.tsv" > "$tmp/theirs.tsv" 2> "$tmp/node.err"; then
	echo "Bail out! mailauth-dmarc.js failed: $(head -c 500 "$tmp/node.err")"
	exit 1
fi

# differs OURS THEIRS: the fields that disagree (empty when none).
differs() {
	local r1 p1 d1 o1 r2 p2 d2 o2 out=""
	IFS=$'\t' read -r r1 p1 d1 o1 _ <<< "$1"
	IFS=$'\t' read -r r2 p2 d2 o2 _ <<< "$2"
	[ "$r1" = "$r2" ] || out+=" result"
	[ "$d1" = - ] || [ "$d2" = - ] || [ "$d1" = "$d2" ] || out+=" policy-domain"
	[ "$o1" = - ] || [ "$o2" = - ] || [ "$o1" = "$o2" ] || out+=" org-domain"
	[ "$r1" != fail ] || [ "$r2" != fail ] || [ "$p1" = "$p2" ] || out+=" policy"
	echo "${out# }"
}

# brief LINE: "RESULT POLICY POLICY-DOMAIN".
brief() { printf '%s\n' "$1" | awk -F '\t' '{ print $1, $2, $3 }'; }

agree=0
known=0
i=0
while IFS= read -r ours && IFS= read -r theirs <&3; do
	name=${names[$i]}
	i=$((i + 1))
	diff=$(differs "$ours" "$theirs")
	pair="$(brief "$ours") ~ $(brief "$theirs")"
	if [ -z "$diff" ]; then
		agree=$((agree + 1))
		ok "$name: $(brief "$ours")"
		[ -z "${KNOWN[$name]:-}" ] || echo "#   KNOWN lists $name, but both agree now: drop it from KNOWN and README"
	elif [ -n "${KNOWN[$name]:-}" ] && [ "$pair" = "${KNOWN[$name]%%|*}" ]; then
		known=$((known + 1))
		ok "$name: a known disagreement ($diff)"
		printf '%s\n' "${KNOWN[$name]#*|}" | fold -s -w 74 | sed 's/^/#   known: /'
	else
		not_ok "$name: mailposture and mailauth disagree ($diff)" "$pair"
	fi
	printf '#   mailposture: %s\n' "$(printf '%s' "$ours" | tr '\t' ' ')"
	printf '#   mailauth:    %s\n' "$(printf '%s' "$theirs" | tr '\t' ' ')"
done < "$tmp/ours.tsv" 3< "$tmp/theirs.tsv"

if [ "$i" -eq "${#names[@]}" ] && [ "$i" -ge 28 ]; then
	ok "all ${#names[@]} cases compared: $agree agree, $known known disagreements"
else
	not_ok "all cases compared" "${#names[@]} cases, $i compared (mailauth printed $(wc -l < "$tmp/theirs.tsv") lines)"
fi
echo "1..$N"
[ "$FAILED" -eq 0 ]
