#!/bin/bash
# The four ways a spoofed From of a p=reject domain once got through
# mailposture-milter (issue 11), each end to end through a real, private
# Postfix with dmarc_reject = reject and on_error = temperror = accept
# (the settings that let them through): every one must end refused, never
# delivered. The same message without the trick is delivered, so a
# refusal here is not a milter that refuses everything.
#
# Victim: pass.example.com (p=reject, SPF pass from 192.0.2.0/24).
# Attacker: attacker.spoof.example.net (SPF +all, another organizational
# domain), client 203.0.113.66 through XCLIENT. Needs root, postfix and
# swaks (skips otherwise); runs under tests/harness/with-servers.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
. "$here/../harness/postfix.sh"
. "$here/../harness/tap.sh"
. "$here/../harness/milter-mail.sh"

: "${TEST_BUILDDIR:=$(cd "$here/../.." && pwd)}"
mp_milter_prelude MP_TEST_RESOLVER_DROP
VICTIM=pass.example.com
ATTACKER=attacker.spoof.example.net
ATTACK_IP=203.0.113.66

# The resolver is the test NSD behind dns-drop.py: names below
# slow.example.net never get an answer.
cat > "$CONF" <<CONF
[milter]
socket = inet:$MPORT@127.0.0.1
user = nobody
pidfile =
dmarc_reject = reject
on_error = accept
temperror = accept
skip_mail_from = lists.example.net
[dns]
resolver = $MP_TEST_RESOLVER_DROP
timeout = 1000
[policy]
authserv_id = mx.example.net
eval_timeout = 5
[log]
level = info
CONF
chmod 644 "$CONF"

mp_start_sink || { echo "Bail out! smtp-sink did not start"; exit 1; }
mp_start_postfix "inet:127.0.0.1:$MPORT" "local_header_rewrite_clients =" ||
	{ echo "Bail out! postfix did not start"; exit 1; }
mp_start_milter "$CONF" || { echo "Bail out! mailposture-milter did not start"; exit 1; }

# refused NAME ID: the message ID got a 5xx or 4xx, and nothing tagged ID
# reached the sink.
refused() {
	local code
	code=$(mp_final_code "$2")
	case "$code" in
	5??|4??)
		if grep -q -s "^X-Test-Id: $2\$" "$MP_SINK_DIR"/*; then
			not_ok "$1" "refused with $code, yet delivered"
		else
			ok "$1 ($(mp_final_reply "$2" | sed -E 's/^(<-|<\*\*) +//'))"
		fi ;;
	*)
		not_ok "$1" "final reply: $(mp_final_reply "$2")" "$(grep "$2\|X-Test-Id" "$MP_MILTER_LOG" | tail -n 3)" ;;
	esac
}

# --- the control: the victim's own mail is delivered with dmarc=pass -------
mp_send control 192.0.2.10 --from "bob@$VICTIM" --header "From: <ceo@$VICTIM>" \
	--add-header "X-Test-Id: control"
if f=$(mp_saved control) && mp_header_of "$f" Authentication-Results | grep -q 'mx.example.net;.*dmarc=pass'; then
	ok "control: the victim's own message is delivered with dmarc=pass"
else
	not_ok "control: the victim's own message is delivered with dmarc=pass" "$(mp_final_reply control)"
fi
mp_send control-spoof "$ATTACK_IP" --from "x@$ATTACKER" --header "From: <ceo@$VICTIM>" \
	--add-header "X-Test-Id: control-spoof"
refused "control: a plain spoof of the victim is refused" control-spoof

# --- 1: MAIL FROM without '@', HELO = the victim ---------------------------
mp_send a1 "$ATTACK_IP" --helo "$VICTIM" --from "$ATTACKER" --header "From: <ceo@$VICTIM>" \
	--add-header "X-Test-Id: a1"
refused "attack 1: MAIL FROM:<$ATTACKER> (no '@') with HELO $VICTIM" a1

# --- 2: a quoted local part of backslashes hiding the victim's domain ------
bs=$(printf '\\\\%.0s' $(seq 1 120))
mp_send a2 "$ATTACK_IP" --from "\"$bs@$VICTIM\"@$ATTACKER" --header "From: <ceo@$VICTIM>" \
	--add-header "X-Test-Id: a2"
refused "attack 2: MAIL FROM with 120 backslashes then @$VICTIM in a quoted local part" a2

# --- 3: a flood of forged Authentication-Results with our authserv-id ------
# flood FILE N FROM: a message with N forged "mx.example.net; dmarc=pass".
flood() {
	{
		for i in $(seq 1 "$2"); do
			echo "Authentication-Results: mx.example.net; spf=pass; dmarc=pass header.from=$VICTIM forged=$i"
		done
		echo "From: <ceo@$3>"
		echo "To: <rcpt@example.net>"
		echo "Subject: flood"
		echo "X-Test-Id: $(basename "$1")"
		echo
		echo "body"
	} > "$1"
}
flood "$D/a3" 1001 "$VICTIM"
mp_send a3 "$ATTACK_IP" --from "x@$ATTACKER" --data "$D/a3"
refused "attack 3: 1001 forged Authentication-Results on a spoof" a3

# A legitimate message under 10,000 forged fields: delivered with none of
# them left and ours added, or refused; never delivered with one left.
flood "$D/a3b" 10000 "$VICTIM"
mp_send a3b 192.0.2.10 --from "bob@$VICTIM" --data "$D/a3b"
code=$(mp_final_code a3b)
if [ "$code" = 250 ]; then
	f=$(mp_saved a3b)
	left=$(grep -c 'forged=' "$f" 2>/dev/null)
	ours=$(mp_header_of "$f" Authentication-Results | grep -c '^mx.example.net;')
	if [ "$left" = 0 ] && [ "$ours" = 1 ]; then
		ok "attack 3: 10,000 forged fields on a real message: every one deleted, ours added"
	else
		not_ok "attack 3: 10,000 forged fields on a real message: every one deleted, ours added" \
			"$left forged left, $ours of ours"
	fi
elif [ "${code#4}" != "$code" ]; then
	ok "attack 3: 10,000 forged fields on a real message: refused with $code"
else
	not_ok "attack 3: 10,000 forged fields on a real message" "$(mp_final_reply a3b)"
fi

# --- From fields the milter does not keep whole -----------------------------
# Found in review: with four From fields the fourth was never read, and a
# third one was cut at 256 bytes; the evaluator saw only the attacker's.
mp_send from4 "$ATTACK_IP" --from "x@$ATTACKER" --header "From: <x@$ATTACKER>" \
	--add-header "From: <x@$ATTACKER>" --add-header "From: <x@$ATTACKER>" \
	--add-header "From: <ceo@$VICTIM>" --add-header "X-Test-Id: from4"
refused "four From fields, the victim's last" from4
commas=$(printf ',%.0s' $(seq 1 300))
mp_send from3cut "$ATTACK_IP" --from "x@$ATTACKER" --header "From: <x@$ATTACKER>" \
	--add-header "From: <x@$ATTACKER>" --add-header "From: x@$ATTACKER$commas ceo@$VICTIM" \
	--add-header "X-Test-Id: from3cut"
refused "a third From field longer than kept, the victim past the cut" from3cut

# --- skip_mail_from = lists.example.net: the envelope is only a claim -------
mp_send skipclaim "$ATTACK_IP" --from "x@lists.example.net" --header "From: <ceo@$VICTIM>" \
	--add-header "X-Test-Id: skipclaim"
refused "skip_mail_from: MAIL FROM:<x@lists.example.net> without an SPF pass" skipclaim
mp_send skipbare "$ATTACK_IP" --from "lists.example.net" --header "From: <ceo@$VICTIM>" \
	--add-header "X-Test-Id: skipbare"
refused "skip_mail_from: MAIL FROM:<lists.example.net> (no '@')" skipbare

# --- a header field larger than one libmilter packet (64 KB) --------------
# Postfix passes fields up to header_size_limit (102400 by default); one
# that libmilter cannot read must not leave the message unevaluated.
{
	printf 'X-Big: '
	head -c 101000 /dev/zero | tr '\0' 'a'
	printf '\nFrom: <ceo@%s>\nTo: <rcpt@example.net>\nSubject: big\nX-Test-Id: big\n\nbody\n' "$VICTIM"
} > "$D/big"
mp_send big "$ATTACK_IP" --from "x@$ATTACKER" --data "$D/big"
refused "a 101 kB header field on a spoof" big

# --- 4: the sender's own DNS is slow: the victim's policy still applies ---
# slowptr.spoof.example.net: "v=spf1 ptr:slow.example.net -all", and the
# client's PTR names lie below slow.example.net, which never answers.
start=$(date +%s%3N)
mp_send a4 203.0.113.250 --from "x@slowptr.spoof.example.net" --header "From: <ceo@$VICTIM>" \
	--add-header "X-Test-Id: a4"
ms=$(( $(date +%s%3N) - start ))
refused "attack 4: MAIL FROM domain whose SPF waits on a zone that never answers" a4
if [ "$ms" -lt 9000 ]; then
	ok "attack 4: answered in $ms ms (eval_timeout 5 s)"
else
	not_ok "attack 4: took $ms ms (eval_timeout 5 s)"
fi
check "attack 4: the victim's policy was fetched (dmarc=fail, p=reject in the log)" \
	grep -q "mailfrom=<x@slowptr.spoof.example.net> from=$VICTIM spf=temperror dmarc=fail (p=reject" "$MP_MILTER_LOG"

# --- 5: a tenant of a psd=y provider the PSL does not know (issue 14) ------
# walk.example.net's "tenants" publishes psd=y: each tenant is an
# Organizational Domain of its own (RFC 9989). Tenant b passes SPF from
# 198.51.100.66; tenant a publishes p=reject. By the PSL both are under
# example.net and b's pass aligned with a's From.
TENANTS=tenants.walk.example.net
mp_send psd-own 198.51.100.66 --from "x@b.$TENANTS" --header "From: <x@b.$TENANTS>" \
	--add-header "X-Test-Id: psd-own"
if f=$(mp_saved psd-own) && mp_header_of "$f" Authentication-Results | grep -q 'dmarc=pass'; then
	ok "psd=y: tenant b's own mail is delivered with dmarc=pass (the PSD's sp)"
else
	not_ok "psd=y: tenant b's own mail is delivered" "$(mp_final_reply psd-own)"
fi
mp_send psd-spoof 198.51.100.66 --from "x@b.$TENANTS" --header "From: <ceo@a.$TENANTS>" \
	--add-header "X-Test-Id: psd-spoof"
refused "psd=y: tenant b's SPF pass with tenant a's From (p=reject)" psd-spoof
mp_send psd-nx 198.51.100.66 --from "x@b.$TENANTS" --header "From: <ceo@nx.$TENANTS>" \
	--add-header "X-Test-Id: psd-nx"
refused "psd=y: tenant b's SPF pass with a From under the PSD that does not exist (np=reject)" psd-nx

# --- stop -------------------------------------------------------------------
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
