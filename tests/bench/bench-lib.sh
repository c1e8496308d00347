# Helpers of the side-by-side milter benchmarks in tests/bench. Source
# from bash after tests/harness/lib.sh and postfix.sh, once Postfix runs.
#   bench_socket NAME KIND          "filter side|Postfix side" of the socket
#                                   of filter NAME (KIND unix or inet)
#   bench_wait_listen SPEC PID LOG  true once filter PID listens on SPEC
#   bench_cpu_ticks PID...          their user + system CPU, in clock ticks
#   bench_rss_kb PID                its resident set, in kB
#   bench_send FILE COUNT           smtp-source sends COUNT copies of FILE
#                                   in BENCH_SESSIONS sessions, HELO
#                                   BENCH_HELO, MAIL FROM BENCH_SENDER;
#                                   sets BENCH_RATE (msg/s)
#                                   and leaves the copies in MP_SINK_DIR
#   bench_sink_clear                empties the sink
#   BENCH_AWK_MEDIAN                awk source of median(array, count)

BENCH_SESSIONS=${BENCH_SESSIONS:-20}
BENCH_SENDER=${BENCH_SENDER:-bob@example.com}
BENCH_HELO=${BENCH_HELO:-client.example.org}

bench_socket() {
	local port
	if [ "$2" = unix ]; then
		echo "unix:$MP_HARNESS_DIR/$1.sock|unix:$MP_HARNESS_DIR/$1.sock"
	else
		port=$(mp_free_port) || return 1
		echo "inet:$port@127.0.0.1|inet:127.0.0.1:$port"
	fi
}

bench_wait_listen() {
	local spec=$1 pid=$2 log=$3 port
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		if [ "${spec#unix:}" != "$spec" ]; then
			[ -S "${spec#unix:}" ] && return 0
		else
			port=${spec#inet:}
			ss -Hlnt | awk '{print $4}' | grep -q "127.0.0.1:${port%@*}\$" && return 0
		fi
		sleep 0.1
	done
	echo "filter $pid does not listen on $spec:" >&2
	tail -n 20 "$log" >&2
	return 1
}

# /proc/PID/stat fields 14 and 15 count every thread of the process,
# those that have exited included.
bench_cpu_ticks() {
	local pid sum=0 t
	for pid in "$@"; do
		t=$(awk '{print $14 + $15}' "/proc/$pid/stat") || return 1
		sum=$((sum + t))
	done
	echo "$sum"
}

bench_rss_kb() {
	awk '/^VmRSS/{print $2}' "/proc/$1/status"
}

bench_send() {
	local file=$1 count=$2 t0 t1 ms
	t0=$(date +%s%N)
	smtp-source -s "$BENCH_SESSIONS" -m "$count" -F "$file" -f "$BENCH_SENDER" \
		-t rcpt@example.net -M "$BENCH_HELO" "127.0.0.1:$MP_SMTP_PORT" \
		> "$MP_HARNESS_DIR/source.out" 2>&1 ||
		{ echo "smtp-source failed:"; cat "$MP_HARNESS_DIR/source.out"; return 1; }
	t1=$(date +%s%N)
	ms=$(( (t1 - t0) / 1000000 ))
	mp_sink_wait "$count" 120 ||
		echo "warning: only $(mp_sink_count) of $count reached the sink"
	BENCH_RATE=$(awk -v n="$count" -v ms="$ms" 'BEGIN { printf "%.0f", n * 1000 / (ms ? ms : 1) }')
}

# Tens of thousands of saved files slow the file system down for whichever
# run comes later: the sink is emptied after each run.
bench_sink_clear() {
	find "$MP_SINK_DIR" -type f -delete
}

BENCH_AWK_MEDIAN='
function median(a, k,   i, j, t) {
	for (i = 1; i <= k; i++)
		for (j = i + 1; j <= k; j++)
			if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}'
