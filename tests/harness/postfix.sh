# Test harness: a private Postfix instance, a local smtp-sink that saves
# every message, and mailposture-milter, all on loopback. Source it after
# lib.sh, from bash, as root. Everything is stopped on exit, even when a
# test fails (it chains its cleanup before lib.sh's EXIT trap). Nothing
# leaves the machine: every transport points at the local smtp-sink.
#
#   mp_postfix_available            -> 0 when this machine can run the harness
#   mp_start_sink                   -> MP_SINK_PORT, MP_SINK_DIR (one file per message)
#   mp_start_postfix MILTER [LINES] -> MP_SMTP_PORT, MP_POSTFIX_DIR, MP_MAILLOG
#        MILTER: the smtpd_milters value ("inet:127.0.0.1:PORT"); LINES:
#        extra main.cf lines (later lines win, so they can override).
#        MP_POSTFIX_LISTEN (default 127.0.0.1): the address smtpd listens
#        on, "[::1]" for IPv6 (inet_protocols is then all).
#   mp_postfix_conf NAME=VALUE...   -> changes main.cf and reloads Postfix
#   mp_postfix_tls CHAIN_FILE       -> STARTTLS with smtpd_tls_chain_files
#        (the key, then the certificate and its chain), tlsmgr, reload
#   mp_stop_postfix
#   mp_start_milter CONF            -> MP_MILTER_PID (foreground, logs to MP_MILTER_LOG)
#   mp_stop_milter [SIGNAL]
#   mp_sink_wait N [SECONDS]        -> waits until N messages are saved
#   mp_postfix_flush                -> asks the queue manager to deliver now

MP_POSTFIX_DIR=""
MP_SINK_PID=""
MP_MILTER_PID=""

mp_postfix_available() {
	[ "$(id -u)" = 0 ] || { echo "not root"; return 1; }
	for c in postfix postconf smtp-sink swaks; do
		command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || {
			echo "$c not found: install the Debian packages postfix and swaks"
			return 1
		}
	done
	getent passwd postfix >/dev/null || { echo "no postfix user"; return 1; }
	return 0
}

PATH="$PATH:/usr/sbin:/sbin"

mp_postfix_cleanup() {
	if [ -n "$MP_MILTER_PID" ]; then
		kill "$MP_MILTER_PID" 2>/dev/null
		# libmilter notices a stop only when its listener's poll times
		# out: up to about 5 seconds.
		for _ in $(seq 1 100); do
			kill -0 "$MP_MILTER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$MP_MILTER_PID" 2>/dev/null
		MP_MILTER_PID=""
	fi
	if [ -n "$MP_POSTFIX_DIR" ] && [ -f "$MP_POSTFIX_DIR/main.cf" ]; then
		postfix -c "$MP_POSTFIX_DIR" stop >/dev/null 2>&1 ||
			postfix -c "$MP_POSTFIX_DIR" abort >/dev/null 2>&1
		# master exits asynchronously; its children must be gone before
		# lib.sh removes the directories under them.
		for _ in $(seq 1 50); do
			[ -f "$MP_POSTFIX_DIR/queue/pid/master.pid" ] || break
			pid=$(tr -dc 0-9 < "$MP_POSTFIX_DIR/queue/pid/master.pid" 2>/dev/null)
			[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	if [ -n "$MP_SINK_PID" ]; then
		kill "$MP_SINK_PID" 2>/dev/null
		MP_SINK_PID=""
	fi
}
trap 'mp_postfix_cleanup; mp_harness_cleanup' EXIT

# mp_start_sink: smtp-sink on a loopback port, saving each message.
mp_start_sink() {
	local port
	MP_SINK_DIR="$MP_HARNESS_DIR/sink"
	mkdir -p "$MP_SINK_DIR"
	chown postfix "$MP_SINK_DIR"
	for _ in 1 2 3 4 5; do
		port=$(mp_free_port) || return 1
		# -u: smtp-sink drops to that user; -d: one file per transaction,
		# named from the strftime template plus a random suffix.
		smtp-sink -u postfix -d "$MP_SINK_DIR/%Y%m%d%H%M%S." -h sink.example.net \
			"127.0.0.1:$port" 100 > "$MP_HARNESS_DIR/sink.log" 2>&1 &
		MP_SINK_PID=$!
		for _ in $(seq 1 50); do
			kill -0 "$MP_SINK_PID" 2>/dev/null || break
			if ss -Hlnt 2>/dev/null | awk '{print $4}' | grep -q "127.0.0.1:$port\$"; then
				MP_SINK_PORT=$port
				export MP_SINK_PORT MP_SINK_DIR
				return 0
			fi
			sleep 0.1
		done
		kill "$MP_SINK_PID" 2>/dev/null
		MP_SINK_PID=""
	done
	echo "harness: smtp-sink did not start:" >&2
	cat "$MP_HARNESS_DIR/sink.log" >&2
	return 1
}

mp_sink_count() {
	find "$MP_SINK_DIR" -type f 2>/dev/null | wc -l
}

# mp_sink_wait N [SECONDS]: true once N messages have been saved.
mp_sink_wait() {
	local n=$1 secs=${2:-20} i
	for i in $(seq 1 $((secs * 10))); do
		[ "$(mp_sink_count)" -ge "$n" ] && return 0
		[ $((i % 20)) = 0 ] && mp_postfix_flush
		sleep 0.1
	done
	return 1
}

mp_postfix_flush() {
	postqueue -c "$MP_POSTFIX_DIR" -f >/dev/null 2>&1 || true
}

# Postfix's postlogd reads a unix datagram socket. With the kernel's
# default queue of 10 datagrams (net.unix.max_dgram_qlen, measured here)
# a burst of log lines blocks the writers, and a later "postfix reload"
# can hang. Raise it (only ever up: tests run in parallel, so putting the
# old value back at one test's exit would pull it from under another).
mp_raise_dgram_qlen() {
	local cur
	cur=$(cat /proc/sys/net/unix/max_dgram_qlen 2>/dev/null) || return 0
	[ "$cur" -ge 512 ] || echo 512 > /proc/sys/net/unix/max_dgram_qlen 2>/dev/null || true
}

# mp_start_postfix MILTER [EXTRA_MAIN_CF_LINES]
mp_start_postfix() {
	local milter=$1 extra=${2:-} dir port listen=${MP_POSTFIX_LISTEN:-127.0.0.1} protocols=ipv4
	[[ $listen == *:* ]] && protocols=all
	mp_raise_dgram_qlen
	dir="$MP_HARNESS_DIR/postfix"
	MP_POSTFIX_DIR=$dir
	mkdir -p "$dir/queue" "$dir/data"
	chown postfix "$dir/data"
	chmod 755 "$dir" "$dir/queue"
	port=$(mp_free_port) || return 1
	MP_SMTP_PORT=$port
	MP_MAILLOG="$dir/maillog"
	cat > "$dir/main.cf" <<MAINCF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.net
mydomain = example.net
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = $protocols
mynetworks = 127.0.0.0/8
relay_domains = example.net example.com example.org
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_tls_security_level = none
smtp_tls_security_level = none
smtp_host_lookup = native
# Every transport ends at the local smtp-sink: nothing leaves the machine.
default_transport = smtp:[127.0.0.1]:$MP_SINK_PORT
relay_transport = relay:[127.0.0.1]:$MP_SINK_PORT
smtpd_milters = $milter
non_smtpd_milters =
milter_default_action = accept
milter_connect_timeout = 5s
milter_command_timeout = 15s
milter_content_timeout = 30s
maillog_file = $MP_MAILLOG
maillog_file_prefixes = $MP_HARNESS_DIR
biff = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
$extra
MAINCF
	# No chroot anywhere: a chroot would need copies of /etc files.
	cat > "$dir/master.cf" <<MASTERCF
$listen:$port inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
MASTERCF
	# A port picked as free can be taken by a parallel test before master
	# binds it, and master then exits: try again on another port.
	for try in 1 2 3; do
		if postfix -c "$dir" start > "$MP_HARNESS_DIR/postfix-start.log" 2>&1; then
			for _ in $(seq 1 100); do
				if ss -Hlnt 2>/dev/null | awk -v a="$listen:$port" '$4 == a { f = 1 } END { exit !f }'; then
					export MP_SMTP_PORT MP_POSTFIX_DIR MP_MAILLOG
					return 0
				fi
				sleep 0.1
			done
		fi
		echo "harness: postfix did not start on port $port (try $try):" >&2
		grep -v 'overriding earlier entry' "$MP_HARNESS_DIR/postfix-start.log" >&2
		tail -n 5 "$MP_MAILLOG" >&2 2>/dev/null
		postfix -c "$dir" abort > /dev/null 2>&1
		sleep 1
		port=$(mp_free_port) || return 1
		MP_SMTP_PORT=$port
		sed -i "1s/^[^ ]* inet/$listen:$port inet/" "$dir/master.cf"
	done
	echo "harness: postfix is not listening on $port" >&2
	cat "$MP_MAILLOG" >&2 2>/dev/null
	return 1
}

# mp_postfix_conf NAME=VALUE...: edits main.cf and reloads.
mp_postfix_conf() {
	postconf -c "$MP_POSTFIX_DIR" -e "$@" && postfix -c "$MP_POSTFIX_DIR" reload >/dev/null 2>&1
	# smtpd processes already running keep the old settings until they
	# exit; the reload makes master replace them. Give it a moment.
	sleep 1
}

# mp_postfix_tls CHAIN_FILE: smtpd offers STARTTLS with that key and chain.
# smtpd answers "454 TLS not available due to local problem" without tlsmgr.
mp_postfix_tls() {
	grep -q '^tlsmgr ' "$MP_POSTFIX_DIR/master.cf" ||
		echo "tlsmgr unix - - n 1000? 1 tlsmgr" >> "$MP_POSTFIX_DIR/master.cf"
	mp_postfix_conf smtpd_tls_security_level=may "smtpd_tls_chain_files=$1"
}

mp_stop_postfix() {
	postfix -c "$MP_POSTFIX_DIR" stop >/dev/null 2>&1
}

# mp_start_milter CONF: runs mailposture-milter in the foreground; ready
# when its socket is there: an inet:PORT@127.0.0.1 port that listens, or
# a unix:PATH socket file.
mp_start_milter() {
	local conf=$1 bin port path
	bin=${MP_MILTER_BIN:-$TEST_BUILDDIR/milter/mailposture-milter}
	port=$(sed -n 's/^socket *= *inet:\([0-9]*\)@.*/\1/p' "$conf")
	path=$(sed -n 's/^socket *= *unix:\(.*\)$/\1/p' "$conf")
	MP_MILTER_LOG=${MP_MILTER_LOG:-$MP_HARNESS_DIR/milter.log}
	"$bin" -f -c "$conf" >> "$MP_MILTER_LOG" 2>&1 &
	MP_MILTER_PID=$!
	for _ in $(seq 1 100); do
		kill -0 "$MP_MILTER_PID" 2>/dev/null || break
		if [ -n "$port" ]; then
			ss -Hlnt 2>/dev/null | awk '{print $4}' | grep -q "127.0.0.1:$port\$" && return 0
		elif [ -n "$path" ]; then
			[ -S "$path" ] && return 0
		else
			return 0
		fi
		sleep 0.1
	done
	echo "harness: mailposture-milter did not start:" >&2
	tail -n 20 "$MP_MILTER_LOG" >&2
	MP_MILTER_PID=""
	return 1
}

# mp_stop_milter [SIGNAL]: TERM by default; waits until it is gone.
mp_stop_milter() {
	local sig=${1:-TERM}
	[ -n "$MP_MILTER_PID" ] || return 0
	kill "-$sig" "$MP_MILTER_PID" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$MP_MILTER_PID" 2>/dev/null || break
		sleep 0.1
	done
	# (braces: bash reports a killed job on the shell's stderr, not wait's)
	{ wait "$MP_MILTER_PID"; } 2>/dev/null
	MP_MILTER_STATUS=$?
	MP_MILTER_PID=""
}
