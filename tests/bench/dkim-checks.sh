# The checks of tests/bench/dkim-throughput: that each set-up judges the
# message as it should, before anything is measured (a fast filter that
# does not verify would measure nothing), and how many measured messages
# carry the expected results. Sourced by dkim-throughput; uses its setup
# and the helpers of bench-lib.sh.
#   check_samples          one message per set-up, headers printed; false
#                          when one check fails
#   count_results NAME     adds to RESULTS[NAME] the saved messages with
#                          NAME's expected results
#   show_misses NAME       what the others said instead

declare -A RESULTS=()

# expected NAME: the extended regular expressions that the
# Authentication-Results fields of set-up NAME must all match, one a line.
expected() {
	case $1 in
	mailposture|rss)
		printf '%s\n' '^mx\.example\.net;.* dkim=pass .*header\.d=dkim\.example\.org' \
			'^mx\.example\.net;.* dmarc=pass' ;;
	chain)
		printf '%s\n' '^mx\.example\.net;.* dkim=pass .*header\.d=dkim\.example\.org' \
			'^mx\.example\.net;.* dmarc=pass .*header\.from=dkim\.example\.org' ;;
	unsigned)
		printf '%s\n' '^mx\.example\.net;.* dkim=none' ;;
	null)
		printf '%s\n' '^mx\.example\.net; none$' ;;
	esac
}

# sample NAME: one message of set-up NAME; SAMPLE: its delivered copy.
sample() {
	setup "$1"
	bench_send "$MSG" 1 > /dev/null || return 1
	SAMPLE=$(find "$MP_SINK_DIR" -type f | head -n 1)
	[ -n "$SAMPLE" ] || { echo "check $1: the message was not delivered"; return 1; }
}

# ar_fields FILE...: "FILE|FIELD" for each Authentication-Results field
# of each message, unfolded, runs of blanks made one space.
ar_fields() {
	awk '
	function out() { if (keep) print FILENAME "|" cur; keep = 0 }
	FNR == 1 { keep = 0 }
	/^\r?$/ { out(); nextfile }
	/^[ \t]/ { if (keep) cur = cur $0; next }
	{ out() }
	tolower(substr($0, 1, 23)) == "authentication-results:" {
		keep = 1
		cur = substr($0, 24)
	}
	' "$@" | awk -F'|' '{ v = substr($0, length($1) + 2); gsub(/[ \t\r]+/, " ", v)
		sub(/^ /, "", v); print $1 "|" v }'
}

# matching NAME FILE...: "MATCHED SEEN": how many of the messages have
# fields that match every pattern of set-up NAME, and how many have an
# Authentication-Results field at all. With MISSES set, appends the
# fields of each message that has some but does not match to that file.
matching() {
	local name=$1
	shift
	ar_fields "$@" | PATS=$(expected "$name") awk -F'|' '
	BEGIN { np = split(ENVIRON["PATS"], p, "\n"); miss = ENVIRON["MISSES"] }
	{
		v = substr($0, length($1) + 2)
		all[$1] = $1 in seen ? all[$1] " | " v : v
		seen[$1] = 1
		for (i = 1; i <= np; i++)
			if (v ~ p[i] && !(($1, i) in m)) { m[$1, i] = 1; c[$1]++ }
	}
	END {
		for (f in seen) {
			k++
			if (c[f] == np)
				n++
			else if (miss != "")
				print all[f] >> miss
		}
		print n + 0, k + 0
	}'
}

# check_fields NAME: prints the Authentication-Results fields of SAMPLE
# and whether they say what set-up NAME must say.
check_fields() {
	ar_fields "$SAMPLE" | cut -d'|' -f2- | sed "s/^/  $1: Authentication-Results: /"
	if [ "$(matching "$1" "$SAMPLE")" = "1 1" ]; then
		echo "check $1: ok"
	else
		echo "check $1: FAILED (want: $(expected "$1" | paste -sd' '))"
		return 1
	fi
}

# check_transport: Postfix alone; dkimpy (tests/dkim/verify) on the
# delivered copy proves that smtp-source -F and Postfix kept the signed
# header fields and the body as they were signed.
check_transport() {
	local v
	sample without || return 1
	v=$(/usr/bin/python3 "$top/tests/dkim/verify" --resolver "$MP_TEST_RESOLVER" < "$SAMPLE")
	echo "  without: dkimpy on the delivered copy: $v"
	case $v in
	*result=pass*) echo "check without: ok" ;;
	*) echo "check without: FAILED"; return 1 ;;
	esac
}

check_samples() {
	local name bad=0
	check_transport || bad=1
	bench_sink_clear
	for name in mailposture chain unsigned null; do
		sample "$name" || return 1
		check_fields "$name" || bad=1
		bench_sink_clear
	done
	[ "$bad" = 0 ] || [ -n "${DKIM_BENCH_UNCHECKED:-}" ] ||
		{ echo "a check failed: nothing measured (DKIM_BENCH_UNCHECKED=1 measures anyway)"; return 1; }
}

# count_results NAME: adds to RESULTS[NAME] the messages of the run in
# the sink that say what set-up NAME must say; the others go to
# $D/misses.NAME, their fields on one line. The sink holds one run, a
# few thousand files: one command line.
count_results() {
	local total n=0 seen=0
	total=$(mp_sink_count)
	[ "$total" -gt 0 ] && read -r n seen < <(MISSES=$D/misses.$1 matching "$1" "$MP_SINK_DIR"/*)
	for ((; seen < total; seen++)); do
		echo "(no Authentication-Results field)" >> "$D/misses.$1"
	done
	RESULTS[$1]=$(( ${RESULTS[$1]:-0} + n ))
}

# show_misses NAME: what the messages of set-up NAME that did not say
# what they must said instead, the most frequent first.
show_misses() {
	[ -s "$D/misses.$1" ] || return 0
	echo "$1: $(wc -l < "$D/misses.$1") messages without the expected results; they said:"
	sort "$D/misses.$1" | uniq -c | sort -rn | head -n 5
}
