# Test harness: a private Sendmail daemon on loopback, from Debian's
# packages extracted into a private prefix (scripts/install-deps puts them
# in /var/cache/mailposture-test/sendmail: sendmail-bin conflicts with
# postfix, so it is never installed). Source it after lib.sh and
# postfix.sh (for the smtp-sink and the milter), from bash, as root.
# Everything is stopped on exit, even when a test fails (the cleanup is
# chained before postfix.sh's and lib.sh's).
#
# Sendmail runs in its own UTS and mount namespaces (unshare), which
# change nothing outside it:
#   - hostname mx.example.net: Sendmail qualifies its own name before it
#     reads its .cf, and on a host with a short name it sleeps 60 s.
#   - /etc/nsswitch.conf ("hosts: files"), /etc/hosts and /etc/resolv.conf
#     (a dead loopback server) are private copies bind-mounted over the
#     real ones: no DNS query leaves the machine, not even the libc
#     reverse lookup of the client address.
#   - /usr/lib/sasl2 (the last directory Cyrus SASL searches for
#     Sendmail.conf; Sendmail clears its environment, so SASL_CONF_PATH
#     does not reach the library) is a private directory whose
#     Sendmail.conf points at a private sasldb: real SMTP AUTH.
#
#   mp_sendmail_available            -> 0 when this machine can run the harness
#   mp_start_sendmail MC_LINES       -> MP_SM_DIR, MP_SM_PID; MC_LINES is the
#        .mc text for the listeners and filters (see the test); it may use
#        @SINK_PORT@ and @DIR@. The .cf is built with the extracted
#        sendmail-cf macros.
#   mp_sendmail_adduser USER PASS    -> adds a SASL user to the private sasldb
#   mp_sendmail_wait_port PORT       -> waits until Sendmail listens on PORT
#   mp_stop_sendmail

MP_SM_CACHE=${MP_SENDMAIL_CACHE:-/var/cache/mailposture-test/sendmail}
MP_SM_ROOT="$MP_SM_CACHE/root"
MP_SM_BIN="$MP_SM_ROOT/usr/libexec/sendmail/sendmail"
MP_SM_CF="$MP_SM_ROOT/usr/share/sendmail/cf"
MP_SM_PID=""
MP_SM_DIR=""

mp_sendmail_available() {
	[ "$(id -u)" = 0 ] || { echo "not root"; return 1; }
	[ -x "$MP_SM_BIN" ] && [ -f "$MP_SM_CF/m4/cf.m4" ] || {
		echo "no Sendmail in $MP_SM_CACHE: run scripts/install-deps"
		return 1
	}
	for c in m4 unshare mount saslpasswd2 swaks smtp-sink; do
		command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || {
			echo "$c not found: run scripts/install-deps"
			return 1
		}
	done
	[ -d /usr/lib/sasl2 ] || { echo "no /usr/lib/sasl2 (libsasl2-2)"; return 1; }
	unshare --uts --mount --propagation private sh -c \
		'hostname mx.example.net && mount --bind /usr/lib/sasl2 /usr/lib/sasl2' >/dev/null 2>&1 || {
		echo "unshare --uts --mount does not work here (no CAP_SYS_ADMIN?)"
		return 1
	}
	# In the namespace: outside it, a host with a short name makes
	# Sendmail sleep 60 s before it answers even this.
	unshare --uts sh -c 'hostname mx.example.net && exec "$0" -d0.1 -bt -C/dev/null' \
		"$MP_SM_BIN" < /dev/null 2>&1 | grep -q 'MILTER' || {
		echo "the extracted sendmail does not run (or lacks MILTER): $(ldd "$MP_SM_BIN" | grep 'not found' | head -n 1)"
		return 1
	}
	return 0
}

PATH="$PATH:/usr/sbin:/sbin"

mp_sendmail_cleanup() {
	local kids
	if [ -n "$MP_SM_PID" ]; then
		# Its per-connection children hold files under MP_SM_DIR.
		kids=$(ps -o pid= --ppid "$MP_SM_PID" 2>/dev/null)
		kill "$MP_SM_PID" $kids 2>/dev/null
		for _ in $(seq 1 50); do
			kill -0 "$MP_SM_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$MP_SM_PID" 2>/dev/null
		{ wait "$MP_SM_PID"; } 2>/dev/null
		MP_SM_PID=""
	fi
}
trap 'mp_sendmail_cleanup; mp_postfix_cleanup; mp_harness_cleanup' EXIT

# mp_sendmail_wait_port PORT: true once Sendmail listens on 127.0.0.1:PORT.
mp_sendmail_wait_port() {
	for _ in $(seq 1 100); do
		kill -0 "$MP_SM_PID" 2>/dev/null || return 1
		ss -Hlnt 2>/dev/null | awk '{print $4}' | grep -q "127.0.0.1:$1\$" && return 0
		sleep 0.1
	done
	return 1
}

# mp_start_sendmail MC_LINES: writes sendmail.mc, builds sendmail.cf and
# starts the daemon in the foreground (-bD). There is no syslog here:
# $MP_SM_DIR/debug.log gets the debug output of the daemon and its
# children (MP_SENDMAIL_DEBUG, default -d64.5: milter connections,
# negotiated flags and macro lists).
mp_start_sendmail() {
	local lines=$1 dir
	dir="$MP_HARNESS_DIR/sendmail"
	MP_SM_DIR=$dir
	mkdir -p "$dir/queue" "$dir/sasl"
	chmod 755 "$dir" "$dir/sasl"
	chmod 700 "$dir/queue"
	printf 'hosts: files\npasswd: files\ngroup: files\n' > "$dir/nsswitch.conf"
	# mx.example.net stays out: Sendmail adds the addresses of its own
	# name to class w, and with [127.0.0.1] there it would treat the smart
	# host as itself and skip it.
	printf '127.0.0.1\tlocalhost\n' > "$dir/hosts"
	# Port 53 on loopback: nothing listens, so a stray query fails at once.
	printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:1\n' > "$dir/resolv.conf"
	printf 'hosts files\naliases files\n' > "$dir/service.switch"
	: > "$dir/aliases"
	printf 'pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: %s\nmech_list: PLAIN LOGIN\n' \
		"$dir/sasldb2" > "$dir/sasl/Sendmail.conf"
	chmod 644 "$dir/nsswitch.conf" "$dir/hosts" "$dir/resolv.conf" "$dir/sasl/Sendmail.conf"
	lines=$(printf '%s\n' "$lines" | sed -e "s|@SINK_PORT@|$MP_SINK_PORT|g" -e "s|@DIR@|$dir|g")
	cat > "$dir/sendmail.mc" <<MC
divert(-1)
# Private test instance (tests/harness/sendmail.sh); every path is under $dir.
divert(0)dnl
OSTYPE(\`linux')dnl
define(\`MAIL_SETTINGS_DIR', \`$dir/')dnl
define(\`QUEUE_DIR', \`$dir/queue')dnl
define(\`confPID_FILE', \`$dir/sendmail.pid')dnl
define(\`STATUS_FILE', \`$dir/statistics')dnl
define(\`ALIAS_FILE', \`$dir/aliases')dnl
define(\`HELP_FILE', \`$MP_SM_ROOT/etc/mail/helpfile')dnl
define(\`confDOMAIN_NAME', \`mx.example.net')dnl
define(\`confSERVICE_SWITCH_FILE', \`$dir/service.switch')dnl
define(\`confHOSTS_FILE', \`$dir/hosts')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confTO_IDENT', \`0')dnl
define(\`confBIND_OPTS', \`-DNSRCH -DEFNAMES')dnl
dnl The harness directory is under /tmp (world-writable, sticky): without
dnl this Sendmail's file-safety checks refuse the sasldb.
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
define(\`confMILTER_LOG_LEVEL', \`9')dnl
define(\`confAUTH_MECHANISMS', \`PLAIN LOGIN')dnl
TRUST_AUTH_MECH(\`PLAIN LOGIN')dnl
dnl Every message goes to the local smtp-sink: nothing leaves the machine.
define(\`SMART_HOST', \`[127.0.0.1]')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $MP_SINK_PORT')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $MP_SINK_PORT')dnl
define(\`confTO_CONNECT', \`5s')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`accept_unresolvable_domains')dnl
RELAY_DOMAIN(\`example.net')dnl
$lines
MAILER(\`smtp')dnl
MC
	if ! m4 -D_CF_DIR_="$MP_SM_CF/" "$MP_SM_CF/m4/cf.m4" "$dir/sendmail.mc" \
		> "$dir/sendmail.cf" 2> "$dir/m4.err" || [ -s "$dir/m4.err" ]; then
		echo "harness: m4 could not build sendmail.cf:" >&2
		cat "$dir/m4.err" >&2
		return 1
	fi
	chmod 644 "$dir/sendmail.cf"
	# exec: the daemon keeps unshare's pid, so $! is Sendmail itself.
	unshare --uts --mount --propagation private sh -c '
		d=$1; shift
		hostname mx.example.net &&
		mount --bind "$d/nsswitch.conf" /etc/nsswitch.conf &&
		mount --bind "$d/hosts" /etc/hosts &&
		mount --bind "$d/resolv.conf" /etc/resolv.conf &&
		mount --bind "$d/sasl" /usr/lib/sasl2 &&
		exec "$@"' sh "$dir" \
		"$MP_SM_BIN" -C "$dir/sendmail.cf" -bD -D "$dir/debug.log" ${MP_SENDMAIL_DEBUG:--d64.5} \
		> "$dir/stdout" 2>&1 < /dev/null &
	MP_SM_PID=$!
	export MP_SM_DIR MP_SM_PID
	return 0
}

# mp_sendmail_adduser USER PASS: a SASL user in the realm mx.example.net
# (Sendmail's AuthRealm defaults to $j). Cyrus reads the sasldb at each
# AUTH, so this works while Sendmail runs.
mp_sendmail_adduser() {
	printf '%s' "$2" | saslpasswd2 -p -c -f "$MP_SM_DIR/sasldb2" -u mx.example.net "$1" &&
		chmod 600 "$MP_SM_DIR/sasldb2"
}

mp_stop_sendmail() {
	mp_sendmail_cleanup
}
