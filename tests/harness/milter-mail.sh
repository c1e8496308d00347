# Sending through the private Postfix of postfix.sh and reading what came
# out, for the milter tests. Source after lib.sh and postfix.sh; uses
# $D (the test's scratch directory) and $MP_SINK_DIR.

# mp_milter_prelude RESOLVER_VAR: what every milter-through-Postfix test
# does first. Skips the test (TAP "1..0 # SKIP") without Postfix or a
# built milter, bails out when RESOLVER_VAR (MP_TEST_RESOLVER or
# MP_TEST_RESOLVER_DROP) is not set; sets MILTER_BIN, D (scratch, opened
# to the milter's user, which must read its config on reload), MPORT,
# CONF and MP_MILTER_LOG, and exports MP_MILTER_BIN.
mp_milter_prelude() {
	local why
	: "${TEST_BUILDDIR:?}"
	MILTER_BIN="$TEST_BUILDDIR/milter/mailposture-milter"
	if ! why=$(mp_postfix_available); then
		echo "1..0 # SKIP $why"
		exit 0
	fi
	if [ ! -x "$MILTER_BIN" ]; then
		echo "1..0 # SKIP $MILTER_BIN not built"
		exit 0
	fi
	if [ -z "${!1:-}" ]; then
		echo "Bail out! $1 not set: run under tests/harness/with-servers"
		exit 1
	fi
	D=$MP_HARNESS_DIR
	chmod 755 "$D"
	MPORT=$(mp_free_port)
	CONF="$D/mailposture.conf"
	MP_MILTER_LOG="$D/milter.log"
	export MP_MILTER_BIN="$MILTER_BIN"
}

# mp_send ID CLIENT_IP [swaks options...]: one message that Postfix sees
# from CLIENT_IP (XCLIENT); the SMTP dialogue goes to $D/swaks.ID.
mp_send() {
	local id=$1 ip=$2
	shift 2
	swaks --server "127.0.0.1:$MP_SMTP_PORT" --xclient-addr "$ip" \
		--helo client.example.org --to rcpt@example.net --timeout 60 \
		"$@" > "$D/swaks.$id" 2>&1
}

# mp_final_code ID / mp_final_reply ID: the reply to the end of DATA
# (e.g. "250", "550", "451"), or the whole line.
mp_final_reply() {
	grep -E '^(<-|<\*\*) +[0-9]{3}' "$D/swaks.$1" | tail -n 2 | head -n 1
}
mp_final_code() {
	mp_final_reply "$1" | sed -E 's/^(<-|<\*\*) +([0-9]{3}).*/\2/'
}

# mp_saved ID: the sink file that holds the message with "X-Test-Id: ID"
# (waits up to 15 s, flushing the queue now and then).
mp_saved() {
	local f
	for i in $(seq 1 150); do
		f=$(grep -l -s "^X-Test-Id: $1\$" "$MP_SINK_DIR"/* | head -n 1)
		if [ -n "$f" ]; then
			echo "$f"
			return 0
		fi
		[ $((i % 20)) = 0 ] && mp_postfix_flush
		sleep 0.1
	done
	return 1
}

# mp_header_of FILE NAME: the unfolded values of every NAME header, one a line.
mp_header_of() {
	awk -v name="$2" '
		/^$/ { exit }
		/^[ \t]/ { if (keep) { sub(/^[ \t]+/, " "); cur = cur $0 }; next }
		{ if (keep) print cur; keep = 0 }
		tolower(substr($0, 1, length(name) + 1)) == tolower(name) ":" {
			keep = 1; cur = substr($0, length(name) + 3)
		}
		END { if (keep) print cur }' "$1" | tr -d '\r'
}
