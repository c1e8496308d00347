# The DKIM cases of issue 13, for tests/integration/dkim.sh and
# milter-dkim.sh: messages signed at test time by dkimpy (sign), then
# altered as each case says. Source from bash; needs /usr/bin/python3
# with python3-dkim and python3-nacl.
#
#   dkim_base SUBJECT [FROM]      a plain message from dkim.example.org
#                                 (LF line ends; X-Test-Id: the subject)
#   dkim_sign [sign options]      sign stdin (CRLF out)
#   dkim_make_cases DIR           DIR/NAME.eml for every case of DKIM_CASES
#
# DKIM_CASES: "NAME|RESULTS|DMARC" lines. RESULTS: each signature's result
# in header order under [dkim] body_length = policy; DMARC: the result for
# the ESP's envelope (client 198.51.100.7, MAIL FROM
# bounce@bounce.esp.example.net: SPF passes but does not align with
# dkim.example.org, whose policy is p=reject), so DMARC passes exactly
# when a signature passes and aligns.

DKIM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

DKIM_CASES="relaxed|pass|pass
simple|pass|pass
body|fail|fail
header|fail|fail
from|fail|fail
list|fail|fail
revoked|permerror|fail
nokey|permerror|fail
ed25519|pass|pass
weak|policy|fail
sha1|policy|fail
two|fail pass|pass
length|policy|fail
esp|pass|pass
fromtop|policy|fail
unsigned||fail"

dkim_python_ok() {
	/usr/bin/python3 -c 'import dkim, nacl, dns' 2>/dev/null
}

dkim_base() {
	printf 'From: %s\nTo: <rcpt@example.net>\nSubject: %s\n' "${2:-Bob <bob@dkim.example.org>}" "$1"
	printf 'Date: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <%s@dkim.example.org>\n' "${1// /.}"
	printf 'MIME-Version: 1.0\nContent-Type: text/plain\nX-Test-Id: %s\n\n' "$1"
	# Runs of spaces, a trailing tab and empty lines at the end: what
	# relaxed and simple canonicalization treat differently.
	printf 'Hello,\n\nthis month'"'"'s  newsletter.\t\n\n-- \nThe team\n\n'
}

dkim_sign() {
	/usr/bin/python3 "$DKIM_DIR/sign" "$@"
}

# dkim_make_cases DIR: the subject of each message is its case name.
dkim_make_cases() {
	local d=$1
	dkim_base relaxed | dkim_sign -c relaxed/relaxed > "$d/relaxed.eml"
	dkim_base simple | dkim_sign -c simple/simple > "$d/simple.eml"
	dkim_base body | dkim_sign | sed 's/newsletter/newsletter, altered/' > "$d/body.eml"
	dkim_base header | dkim_sign | sed 's/^Subject: header/Subject: header changed/' > "$d/header.eml"
	dkim_base from | dkim_sign | sed 's/^From: .*/From: CEO <ceo@dkim.example.org>\r/' > "$d/from.eml"
	{
		dkim_base list | dkim_sign | sed 's/^Subject: list/Subject: [the-list] list/'
		printf -- '--\r\nthe-list mailing list: https://lists.example.net/the-list\r\n'
	} > "$d/list.eml"
	dkim_base revoked | dkim_sign -s revoked > "$d/revoked.eml"
	dkim_base nokey | dkim_sign -s nokey > "$d/nokey.eml"
	dkim_base ed25519 | dkim_sign -s ed > "$d/ed25519.eml"
	dkim_base weak | dkim_sign -s weak > "$d/weak.eml"
	dkim_base sha1 | dkim_sign -a rsa-sha1 > "$d/sha1.eml"
	# The outer signature claims s1024 but was made with another key.
	dkim_base two | dkim_sign | dkim_sign -s s1024 -k "$DKIM_DIR/keys/s2048.key" > "$d/two.eml"
	{
		dkim_base length | dkim_sign -l
		printf 'Appended past l=: visit https://evil.example.net/\r\n'
	} > "$d/length.eml"
	dkim_base esp | dkim_sign -s s2048 > "$d/esp.eml"
	# A From field put on top of a message signed with From in h= once:
	# what a mail reader shows is signed by nobody.
	{
		printf 'From: CEO <ceo@dkim.example.org>\r\n'
		dkim_base fromtop | dkim_sign -H from:to:subject:date:message-id
	} > "$d/fromtop.eml"
	dkim_base unsigned > "$d/unsigned.eml"
}

# dkim_b8 FILE: the first 8 characters of the first signature's b= (RFC 6008).
dkim_b8() {
	tr -d '\r' < "$1" | /usr/bin/python3 -c 'import re, sys
h = re.sub(r"\n[ \t]+", " ", sys.stdin.read().split("\n\n")[0])
m = re.search(r"(?im)^DKIM-Signature:.*?[; ]b=([^;]*)", h)
print(re.sub(r"\s+", "", m.group(1))[:8] if m else "")'
}
