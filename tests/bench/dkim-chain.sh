# The filters a postmaster chains today for what mailposture-milter does
# alone: OpenDKIM in verify mode, then OpenDMARC with SPFSelfValidate,
# reading OpenDKIM's Authentication-Results (the Debian packages opendkim
# and opendmarc). They run as private foreground processes with their own
# configuration in MP_HARNESS_DIR, never as the system services, and stop
# with the harness. Source from bash after tests/harness/lib.sh, with the
# test NSD on 127.0.0.1:53 and /etc/resolv.conf naming it (see
# dkim-throughput): OpenDMARC and its SPF library resolve with the C
# library's resolver, which reads that file; OpenDKIM forwards every
# query to MP_TEST_RESOLVER (its Nameservers option: libunbound).
#   chain_start DKIM_SPEC DMARC_SPEC  -> CHAIN_PIDS (OpenDKIM's, OpenDMARC's)
#   chain_alive                       true while both run
#   chain_versions                    the packages' versions, on one line

CHAIN_PIDS=""

# chain_conf: both configurations. Neither logs (no syslog here), while
# mailposture-milter logs a line per message: that favours the chain.
chain_conf() {
	local d=$MP_HARNESS_DIR/chain
	mkdir -p "$d"
	cat > "$d/opendkim.conf" <<CONF
Mode			v
Socket			$1
UMask			000
Background		no
Syslog			no
AuthservID		mx.example.net
Nameservers		$MP_TEST_RESOLVER
CONF
	cat > "$d/opendmarc.conf" <<CONF
Socket			$2
UMask			000
Background		false
Syslog			false
AuthservID		mx.example.net
TrustedAuthservIDs	mx.example.net
SPFSelfValidate		true
CONF
	# As Debian's own opendmarc.conf does, when the list is there.
	if [ -r /usr/share/publicsuffix/public_suffix_list.dat ]; then
		echo "PublicSuffixList	/usr/share/publicsuffix/public_suffix_list.dat" \
			>> "$d/opendmarc.conf"
	fi
}

# chain_run LOG SPEC COMMAND...: starts one filter in the foreground.
chain_run() {
	local log=$1 spec=$2 pid
	shift 2
	"$@" > "$log" 2>&1 &
	pid=$!
	MP_HARNESS_PIDS="$MP_HARNESS_PIDS $pid"
	CHAIN_PIDS="$CHAIN_PIDS $pid"
	disown "$pid"
	bench_wait_listen "$spec" "$pid" "$log"
}

chain_start() {
	local d=$MP_HARNESS_DIR/chain
	if ! command -v opendkim >/dev/null || ! command -v opendmarc >/dev/null; then
		echo "chain: opendkim or opendmarc not found: install the Debian packages" >&2
		return 1
	fi
	chain_conf "$1" "$2"
	chain_run "$d/opendkim.log" "$1" opendkim -f -x "$d/opendkim.conf" || return 1
	chain_run "$d/opendmarc.log" "$2" opendmarc -f -c "$d/opendmarc.conf" || return 1
}

# chain_alive: true while both filters run.
chain_alive() {
	local pid
	for pid in $CHAIN_PIDS; do
		kill -0 "$pid" 2>/dev/null || return 1
	done
}

chain_versions() {
	dpkg-query -W -f='${Package} ${Version}, ' opendkim opendmarc 2>/dev/null | sed 's/, $//'
	echo " (OpenDKIM: Mode v, Nameservers $MP_TEST_RESOLVER; OpenDMARC: SPFSelfValidate)"
}
