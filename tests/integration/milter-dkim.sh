#!/bin/bash
# DKIM end to end: mailposture-milter in a real, private Postfix with
# [milter] dmarc_reject = reject, on the messages of tests/dkim/cases.sh
# (signed at test time by dkimpy). They come the way an ESP sends for
# dkim.example.org (p=reject): client 198.51.100.7 through XCLIENT, MAIL
# FROM bounce@bounce.esp.example.net, whose SPF pass does not align. So
# a message is delivered exactly when one of its DKIM signatures passes
# and aligns, and refused with 550 otherwise: the ESP's newsletter is
# delivered with our dkim=pass, its unsigned twin is refused.
#
# Also: signed bodies of 2 and 8 MB, hashed as they stream (the milter's
# peak memory does not grow with the body's size), and unsigned mail
# judged as before. Needs root, postfix, swaks and python3-dkim (skips otherwise);
# runs under tests/harness/with-servers.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"
. "$here/../harness/milter-mail.sh"
. "$here/../dkim/cases.sh"

: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
mp_milter_prelude MP_TEST_RESOLVER
if ! dkim_python_ok; then
	echo "1..0 # SKIP /usr/bin/python3 lacks dkim, nacl or dns (python3-dkim, python3-nacl, python3-dnspython)"
	exit 0
fi
# No quarantine: under AddressSanitizer freed chunks are then reused, and
# the peak memory says whether a body was kept.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0"

# write_conf [[dkim] lines...]
write_conf() {
	{
		printf '[milter]\nsocket = inet:%s@127.0.0.1\nuser = nobody\npidfile =\n' "$MPORT"
		printf 'dmarc_reject = reject\n'
		printf '[dns]\nresolver = %s\ntimeout = 1000\n' "$MP_TEST_RESOLVER"
		printf '[policy]\nauthserv_id = mx.example.net\neval_timeout = 5\n'
		printf '[log]\nlevel = info\n[dkim]\n'
		printf '%s\n' "$@"
	} > "$CONF.new"
	chmod 644 "$CONF.new"
	mv "$CONF.new" "$CONF"
}
write_conf

mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
# Postfix leaves the signed header fields as they came.
mp_start_postfix "inet:127.0.0.1:$MPORT" "local_header_rewrite_clients =" ||
	{ echo "Bail out! postfix did not start"; exit 1; }
mp_start_milter "$CONF" || { echo "Bail out! mailposture-milter did not start"; exit 1; }

# esp_send ID FILE: FILE as the ESP sends it.
esp_send() {
	mp_send "$1" 198.51.100.7 --helo mail.esp.example.net \
		--from bounce@bounce.esp.example.net --data "$2"
}

# our_ar FILE: our Authentication-Results of a delivered message, on one line.
our_ar() {
	mp_header_of "$1" Authentication-Results | grep '^mx.example.net;' | tr '\t' ' '
}

# delivered DESC ID [WANT_AR_PATTERN...]: 250, saved, and our header
# matches every pattern (grep -E).
delivered() {
	local desc=$1 id=$2 f ar p bad=()
	shift 2
	if [ "$(mp_final_code "$id")" != 250 ] || ! f=$(mp_saved "$id"); then
		not_ok "$desc" "final reply: $(mp_final_reply "$id")" "$(tail -n 3 "$MP_MILTER_LOG")"
		return
	fi
	ar=$(our_ar "$f")
	for p in "$@"; do
		printf '%s' "$ar" | grep -q -E -- "$p" || bad+=("no '$p'")
	done
	if [ ${#bad[@]} -eq 0 ]; then ok "$desc"; else not_ok "$desc" "${bad[@]}" "header: $ar"; fi
}

# logged_results ID: the dkim= results the milter logged for the message
# whose Message-ID is <ID@dkim.example.org> (found by its queue id).
logged_results() {
	local qid
	qid=$(sed -n "s/.*: \([0-9A-F]*\): message-id=<$1@dkim\.example\.org>.*/\1/p" "$MP_MAILLOG" | tail -n 1)
	[ -n "$qid" ] || return 0
	grep "^mailposture-milter: $qid: " "$MP_MILTER_LOG" | tail -n 1 |
		sed -n 's/.* dkim=\("[^"]*"\|none\).*/\1/p' | tr -d '"' | tr ';' '\n' |
		awk '$1 != "none" { printf "%s%s", sep, $1; sep = " " }'
}

# refused DESC ID [RESULTS]: 550 at the end of DATA, nothing tagged ID
# saved, and the milter logged these dkim= results.
refused() {
	local code logged
	code=$(mp_final_code "$2")
	logged=$(logged_results "$2")
	if [ "$code" = 550 ] && ! grep -q -s "^X-Test-Id: $2\$" "$MP_SINK_DIR"/* &&
		{ [ $# -lt 3 ] || [ "$logged" = "$3" ]; }; then
		ok "$1 ($(mp_final_reply "$2" | sed -E 's/^(<-|<\*\*) +//'))"
	else
		not_ok "$1" "final reply: $(mp_final_reply "$2")" "logged dkim=[$logged]" \
			"$(tail -n 3 "$MP_MILTER_LOG")"
	fi
}

# ar_results RESULTS: the pattern of our header's dkim= results, in order.
ar_results() {
	local r pat=""
	for r in $1; do
		pat="${pat:+$pat.*}dkim=$r"
	done
	echo "${pat:-dkim=none}"
}

# --- every case of issue 13 -----------------------------------------------------
dkim_make_cases "$D"
while IFS='|' read -r name want dmarc; do
	esp_send "$name" "$D/$name.eml"
	if [ "$dmarc" = pass ]; then
		delivered "$name: delivered, dkim=[$want] dmarc=pass" "$name" "$(ar_results "$want")" 'dmarc=pass'
	else
		refused "$name: dkim=[$want] (logged), refused under p=reject" "$name" "$want"
	fi
done <<< "$DKIM_CASES"

# --- the ESP case, header by header ------------------------------------------
b=$(dkim_b8 "$D/esp.eml")
# b= is base64: '+' is an ERE operator, and a value with '/' is not an
# RFC 8601 token, so our header quotes it (header.b="ab/cdefg").
b_re=$(printf '%s' "$b" | sed 's/[][\.*^$+?(){}|]/\\&/g')
delivered "ESP: our header says dkim=pass header.d=dkim.example.org header.s=s2048 header.b=$b" esp \
	"dkim=pass header\.d=dkim\.example\.org header\.s=s2048 header\.b=\"?$b_re\"?( |;|$)" \
	'spf=pass smtp\.mailfrom=bounce@bounce\.esp\.example\.net' 'dmarc=pass'
delivered "Ed25519: dkim=pass header.s=ed" ed25519 'dkim=pass header\.d=dkim\.example\.org header\.s=ed '

# --- a 2 MB signed body, then an 8 MB one --------------------------------------
# Hashed as it streams: the milter's peak memory may grow once (buffers,
# allocator), but not again with a body four times larger.
hwm_kb() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$MP_MILTER_PID/status" 2>/dev/null
}
# big ID MB: a signed message with a body of MB megabytes.
big() {
	{
		dkim_base "$1"
		/usr/bin/python3 -c 'import sys
line = ("0123456789 abcdefghijklmnopqrstuvwxyz " * 2)[:76] + "\n"
sys.stdout.write(line * (int(sys.argv[1]) * 1024 * 1024 // len(line)))' "$2"
	} | dkim_sign > "$D/$1.eml"
}
big big2 2
big big8 8
hwm0=$(hwm_kb)
esp_send big2 "$D/big2.eml"
hwm2=$(hwm_kb)
delivered "a 2 MB signed body: delivered with dkim=pass dmarc=pass" big2 'dkim=pass' 'dmarc=pass'
esp_send big8 "$D/big8.eml"
hwm8=$(hwm_kb)
delivered "an 8 MB signed body: delivered with dkim=pass dmarc=pass" big8 'dkim=pass' 'dmarc=pass'
echo "# milter peak memory (VmHWM): ${hwm0:-?} kB, ${hwm2:-?} kB after 2 MB, ${hwm8:-?} kB after 8 MB"
if [ -n "$hwm2" ] && [ -n "$hwm8" ] && [ $((hwm8 - hwm2)) -lt 2048 ]; then
	ok "bodies hashed as they stream: peak memory grew by $((hwm8 - hwm2)) kB for the 8 MB body"
else
	not_ok "bodies hashed as they stream" "VmHWM ${hwm0:-?} -> ${hwm2:-?} -> ${hwm8:-?} kB"
fi

# --- unsigned mail, judged as before -----------------------------------------
mp_send own 192.0.2.10 --from bob@dkim.example.org --header "From: <bob@dkim.example.org>" \
	--add-header "X-Test-Id: own"
delivered "unsigned, from the domain's own server: delivered, spf=pass dmarc=pass dkim=none" own \
	'spf=pass' 'dmarc=pass' 'dkim=none'
mp_send spoof 203.0.113.66 --from x@attacker.spoof.example.net --header "From: <ceo@dkim.example.org>" \
	--add-header "X-Test-Id: spoof"
refused "unsigned spoof of dkim.example.org: refused" spoof

# --- [dkim] body_length = pass, after a reload -------------------------------
reloads() { grep -c 'configuration reloaded' "$MP_MILTER_LOG" 2>/dev/null; }
before=$(reloads)
write_conf "body_length = pass"
kill -HUP "$MP_MILTER_PID"
for _ in $(seq 1 100); do
	[ "$(reloads)" -gt "$before" ] && break
	sleep 0.1
done
sed 's/^X-Test-Id: length/X-Test-Id: length-pass/' "$D/length.eml" > "$D/length-pass.eml"
esp_send length-pass "$D/length-pass.eml"
delivered "l= with content appended, body_length = pass: delivered with dkim=pass" length-pass \
	'dkim=pass' 'dmarc=pass'

# --- stop ------------------------------------------------------------------------
mp_stop_milter TERM
check "SIGTERM: clean exit (status 0)" test "${MP_MILTER_STATUS:-x}" = 0
check "no sanitizer report in the milter log" sh -c "! grep -q 'ERROR: AddressSanitizer\\|runtime error:\\|LeakSanitizer' '$MP_MILTER_LOG'"

echo "1..$N"
if [ "$FAILED" -gt 0 ]; then
	echo "# milter log (last 30 lines):"
	tail -n 30 "$MP_MILTER_LOG" | cut -c1-400 | sed 's/^/# /'
	echo "# postfix log (last 20 lines):"
	tail -n 20 "$MP_MAILLOG" | cut -c1-400 | sed 's/^/# /'
fi
exit 0
