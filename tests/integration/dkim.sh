#!/bin/bash
# DKIM through mailposture-check, every case of issue 13 on messages signed
# at test time by dkimpy (tests/dkim/sign), keys published in
# tests/zones/dkim.example.org.zone; and each message also through an
# independent verifier (tests/dkim/verify: dkimpy on the same DNS). Both
# results are printed; where they differ the test fails, unless the case
# is listed in KNOWN below with the reason (and in README, "DKIM").
#
# Every message comes the way an ESP sends it for dkim.example.org
# (p=reject): client 198.51.100.7, MAIL FROM bounce@bounce.esp.example.net,
# which passes SPF but does not align; so DMARC passes exactly when a DKIM
# signature passes and aligns. TAP output; runs under
# tests/harness/with-servers, which sets MP_TEST_RESOLVER.
set -u
: "${MP_TEST_RESOLVER:?run me under tests/harness/with-servers}"
here=$(cd "$(dirname "$0")" && pwd)
: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
CHECK="$TEST_BUILDDIR/milter/mailposture-check"
PY=/usr/bin/python3
VERIFY="$here/../dkim/verify"
. "$here/../harness/tap.sh"
. "$here/../dkim/cases.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! dkim_python_ok; then
	echo "1..0 # SKIP /usr/bin/python3 lacks dkim, nacl or dns (python3-dkim, python3-nacl, python3-dnspython)"
	exit 0
fi

# Disagreements with dkimpy that are understood, by case name: dkimpy's
# results, then why. Keep README's list the same.
declare -A KNOWN=(
	[fromtop]="fail|a From field put on top of a message whose signature names From once in h=: libopendkim hashes the signed From at the bottom and verifies the signature, but the From a mail reader shows is signed by nobody, so we make such a signature policy (\"2 From fields, h= signs 1: a From field is not signed\") and it cannot carry DMARC. dkimpy refuses it too, as a failed verification. Neither passes."
	[twokeys-weak]="policy|two key records at the selector, which RFC 6376 3.6.2.2 lets a verifier choose from: we use the one of the signature's key type with the longest p= (the 2048-bit key here), whatever the order of the DNS answer, so a signature made with the 512-bit key fails; tests/dkim/verify tries each record and finds the 512-bit key, which RFC 8301 makes policy. Neither passes."
	[longh]="pass|an h= list of 4,200 bytes (700 names of absent fields after From, To and Subject): libopendkim copies h= into a buffer of 4,096 bytes and would verify a list cut short, so we refuse a longer one before libopendkim sees it (neutral, \"h= is longer than 4095 bytes\"); dkimpy verifies it."
	[longrun]="pass|a body line of 70,000 bytes without white space under relaxed body canonicalization: libopendkim would hold such a run whole, so we stop hashing past 64 KiB (MP_DKIM_BODY_RUN) and say neutral, where dkimpy (which reads the whole message into memory) verifies it. RFC 5322 lines have 998 bytes at most; simple canonicalization is not bounded so (longrun-simple)."
)

# conf FILE [LINES...]: a configuration with [dkim] LINES added.
conf() {
	local f=$1
	shift
	{
		printf '[policy]\nauthserv_id = mx.example.org\n[dkim]\n'
		printf '%s\n' "$@"
	} > "$f"
}
conf "$tmp/policy.conf" "body_length = policy"
conf "$tmp/pass.conf" "body_length = pass"
conf "$tmp/max2.conf" "max_signatures = 2"
conf "$tmp/off.conf" "verify = no"

RES=$MP_TEST_RESOLVER

# check_run FILE CONF: mailposture-check --json as the ESP's client; the
# output in FILE's name with .json for .eml, named by OUT.
check_run() {
	OUT=${1%.eml}.json
	"$CHECK" -c "$2" --resolver "$RES" --timeout 1000 --json \
		--ip 198.51.100.7 --helo mail.esp.example.net \
		--mail-from bounce@bounce.esp.example.net "$1" > "$OUT" 2> "$tmp/err"
}

# sigs: one line per signature of the output OUT:
# RESULT d=D s=S b=B aligned=A checked=C reason=R
sigs() {
	$PY -c 'import json,sys
v=json.load(open(sys.argv[1]))
for s in v.get("dkim") or []:
    g=lambda *k: next((s[x] for x in k if x in s), "")
    b=lambda x: str(x).lower() if isinstance(x,bool) else x
    print("%s d=%s s=%s b=%s aligned=%s checked=%s reason=%s" % (g("result"),
        g("d","domain"), g("s","selector"), g("b"), b(g("aligned")),
        b(g("checked")), g("reason")))' "$OUT" 2>/dev/null
}

# brief: what a failure shows of the output OUT.
brief() {
	$PY -c 'import json,sys
v=json.load(open(sys.argv[1]))
print(json.dumps({k: v.get(k) for k in ("dkim", "authentication_results")}, indent=1))
print("dmarc:", v.get("dmarc", {}).get("reason"))' "$OUT" 2>&1 | head -c 3000
}

# field PATH: a field of the output OUT (dotted path).
field() {
	$PY -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v=v[k]
print(str(v).lower() if isinstance(v,bool) else v)' "$OUT" "$1" 2>/dev/null
}

# results: the results of the checked signatures, space separated.
results() { sigs | awk '$6 != "checked=false" { printf "%s%s", sep, $1; sep = " " }'; }

# judge NAME WANT DMARC [CONF [BODY_LENGTH]]: $tmp/NAME.eml through
# mailposture-check (each signature's result and DMARC as expected) and
# through dkimpy (the same results, or a KNOWN disagreement).
judge() {
	local name=$1 want=$2 dmarc=$3 c=${4:-$tmp/policy.conf} bl=${5:-policy}
	local ours theirs theirs_full got_dmarc
	check_run "$tmp/$name.eml" "$c"
	ours=$(results)
	got_dmarc=$(field dmarc.result)
	theirs_full=$($PY "$VERIFY" --resolver "$RES" --body-length "$bl" < "$tmp/$name.eml")
	theirs=$(printf '%s\n' "$theirs_full" | sed -n 's/.* result=\([a-z]*\).*/\1/p' | paste -sd ' ' -)
	if [ "$ours" = "$want" ] && [ "$got_dmarc" = "$dmarc" ]; then
		ok "$name: dkim=[$want] dmarc=$dmarc"
	else
		not_ok "$name: dkim=[$want] dmarc=$dmarc" "got dkim=[$ours] dmarc=$got_dmarc" \
			"$(brief)" "$(head -c 500 "$tmp/err")"
	fi
	echo "#   ours:   $(sigs | sed 's/ b=[^ ]*//' | paste -sd '|' -)"
	echo "#   dkimpy: $(printf '%s' "$theirs_full" | paste -sd '|' -)"
	if [ "$ours" = "$theirs" ]; then
		ok "$name: dkimpy agrees [$theirs]"
	elif [ -n "${KNOWN[$name]:-}" ] && [ "$theirs" = "${KNOWN[$name]%%|*}" ]; then
		ok "$name: dkimpy differs [$theirs], a known difference"
		printf '%s\n' "${KNOWN[$name]#*|}" | fold -s -w 74 | sed 's/^/#   known: /'
	else
		not_ok "$name: dkimpy agrees" "ours [$ours], dkimpy [$theirs]"
	fi
}

# --- the cases of issue 13 ---------------------------------------------------
dkim_make_cases "$tmp"
cp "$tmp/length.eml" "$tmp/length-pass.eml"
while IFS='|' read -r name want dmarc; do
	judge "$name" "$want" "$dmarc"
done <<< "$DKIM_CASES"

OUT=$tmp/revoked.json
revoked_reason=$(sigs | sed -n 's/.* reason=//p')
revoked_ar=$(field authentication_results)
OUT=$tmp/nokey.json
nokey_reason=$(sigs | sed -n 's/.* reason=//p')
nokey_ar=$(field authentication_results)
if [ -n "$revoked_reason" ] && [ -n "$nokey_reason" ] && [ "$revoked_reason" != "$nokey_reason" ]; then
	ok "revoked key and missing selector: distinct reasons ($revoked_reason / $nokey_reason)"
else
	not_ok "revoked key and missing selector: distinct reasons" "revoked: '$revoked_reason'" "nokey: '$nokey_reason'"
fi
if printf '%s' "$revoked_ar" | grep -q 'dkim=permerror (' && printf '%s' "$nokey_ar" | grep -q 'dkim=permerror ('; then
	ok "revoked key and missing selector: dkim=permerror with a reason comment in the header"
else
	not_ok "revoked key and missing selector: dkim=permerror with a reason comment in the header" \
		"$revoked_ar" "$nokey_ar"
fi
judge length-pass pass pass "$tmp/pass.conf" pass
check "l= with content appended: body_truncated in --json" \
	$PY -c 'import json,sys; s=json.load(open(sys.argv[1]))["dkim"][0]; sys.exit(not s.get("body_truncated"))' "$OUT"

# --- the ESP case and its unsigned twin --------------------------------------
b=$(dkim_b8 "$tmp/esp.eml")
OUT=$tmp/esp.json
esp_sigs=$(sigs)
esp_ar=$(field authentication_results | tr '\n\t' '  ')
esp_spf="$(field spf.result) $(field dmarc.spf_aligned)"
# A b= value with '/' is not an RFC 8601 token: our header quotes it.
if printf '%s' "$esp_ar" | grep -qF -e "dkim=pass header.d=dkim.example.org header.s=s2048 header.b=$b" \
    -e "dkim=pass header.d=dkim.example.org header.s=s2048 header.b=\"$b\""; then
	ok "ESP: Authentication-Results says dkim=pass header.d=dkim.example.org header.s=s2048 header.b=$b"
else
	not_ok "ESP: Authentication-Results dkim=pass with header.d, header.s, header.b=$b" "$esp_ar"
fi
if printf '%s\n' "$esp_sigs" | grep -q "^pass d=dkim.example.org s=s2048 b=$b aligned=true checked=true" &&
	[ "$esp_spf" = "pass false" ]; then
	ok "ESP: SPF passes unaligned, the aligned DKIM signature carries DMARC"
else
	not_ok "ESP: SPF passes unaligned, the aligned DKIM signature carries DMARC" "$esp_sigs" \
		"spf result, aligned: $esp_spf"
fi
OUT=$tmp/unsigned.json
unsigned_ar=$(field authentication_results | tr '\n\t' '  ')
unsigned_dis=$(field dmarc.disposition)
if printf '%s' "$unsigned_ar" | grep -q 'dkim=none' && [ "$unsigned_dis" = reject ]; then
	ok "unsigned twin: dkim=none, dmarc=fail, disposition reject"
else
	not_ok "unsigned twin: dkim=none, dmarc=fail, disposition reject" "$unsigned_ar" "disposition=$unsigned_dis"
fi

# --- line ends and bounds ------------------------------------------------------
# The signer writes CRLF; a file with LF line ends is the same message.
tr -d '\r' < "$tmp/simple.eml" > "$tmp/simple-lf.eml"
judge simple-lf pass pass
check_run "$tmp/esp.eml" "$tmp/off.conf"
if [ "$(field dmarc.result)" = fail ] && [ -z "$(sigs)" ]; then
	ok "[dkim] verify = no: no signature verified, the ESP message fails DMARC"
else
	not_ok "[dkim] verify = no: no signature verified, the ESP message fails DMARC" \
		"dmarc=$(field dmarc.result)" "$(sigs)"
fi
dkim_base three | dkim_sign | dkim_sign -s s1024 | dkim_sign -s ed > "$tmp/three.eml"
check_run "$tmp/three.eml" "$tmp/max2.conf"
n=$(sigs | wc -l)
nchecked=$(sigs | grep -c 'checked=true')
nnone=$(sigs | grep -c '^none .*checked=false')
if [ "$n" = 3 ] && [ "$nchecked" = 2 ] && [ "$nnone" = 1 ] && [ "$(field dmarc.result)" = pass ]; then
	ok "max_signatures = 2: three signatures, two checked, one none (not checked)"
else
	not_ok "max_signatures = 2: three signatures, two checked, one none (not checked)" "$(sigs)"
fi

# --- key records beyond the issue's list --------------------------------------
dkim_base s1024 | dkim_sign -s s1024 > "$tmp/s1024.eml"
judge s1024 pass pass
dkim_base notakey | dkim_sign -s notakey > "$tmp/notakey.eml"
judge notakey permerror fail
dkim_base garbage | dkim_sign -s garbage > "$tmp/garbage.eml"
judge garbage permerror fail
dkim_base twokeys | dkim_sign -s twokeys > "$tmp/twokeys.eml"
judge twokeys pass pass
dkim_base twokeys-weak | dkim_sign -s twokeys -k "$here/../dkim/keys/weak.key" > "$tmp/twokeys-weak.eml"
judge twokeys-weak fail fail

# An h= list longer than libopendkim reads.
dkim_base longh | dkim_sign -H "from:to:subject$(printf ':x-pad%.0s' $(seq 1 700))" > "$tmp/longh.eml"
judge longh neutral fail

# A body line longer than MP_DKIM_BODY_RUN without white space.
longrun() { dkim_base "$1"; head -c 70000 /dev/zero | tr '\0' x; printf '\n'; }
longrun longrun | dkim_sign > "$tmp/longrun.eml"
judge longrun neutral fail
longrun longrun-simple | dkim_sign -c simple/simple > "$tmp/longrun-simple.eml"
judge longrun-simple pass pass

# A key that never comes (a zone that does not answer): temperror, within
# the deadline. MP_TEST_RESOLVER_DROP is the test NSD behind dns-drop.py.
if [ -n "${MP_TEST_RESOLVER_DROP:-}" ]; then
	dkim_base slow | dkim_sign -d slow.example.org > "$tmp/slow.eml"
	RES=$MP_TEST_RESOLVER_DROP
	start=$(date +%s%N)
	judge slow temperror fail
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	RES=$MP_TEST_RESOLVER
	if [ "$ms" -lt 20000 ]; then ok "slow key: both verifiers done in $ms ms"; else not_ok "slow key: took $ms ms"; fi
else
	echo "# MP_TEST_RESOLVER_DROP not set: the key that never comes is not tested"
fi

echo "1..$N"
[ "$FAILED" -eq 0 ]
