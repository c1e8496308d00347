# The summary of tests/bench/dkim-throughput: median ratios over the
# rounds (each ratio taken within one round), CPU per 1000 messages, RSS
# growth, and PASS or MISS for each target of issue 13. Sourced by
# dkim-throughput; reads its $D/rates (one line per round: msg/s without,
# null, mailposture, chain, unsigned), cpu[], RESULTS[], rss0 and rss1.

report() {
	local measured=$((N * ROUNDS)) name
	echo "results: mailposture dkim=pass and dmarc=pass on ${RESULTS[mailposture]:-0} of $measured;" \
		"OpenDKIM dkim=pass and OpenDMARC dmarc=pass on ${RESULTS[chain]:-0} of $measured;" \
		"unsigned dkim=none on ${RESULTS[unsigned]:-0} of $measured;" \
		"null filter's header on ${RESULTS[null]:-0} of $measured"
	for name in mailposture chain unsigned null rss; do
		show_misses "$name"
	done
	grep -q 'warning: milter' "$MP_MAILLOG" 2>/dev/null &&
		echo "Postfix's milter warnings: $(grep -c 'warning: milter' "$MP_MAILLOG"), e.g." &&
		grep 'warning: milter' "$MP_MAILLOG" | sed 's/^.*warning: //' | sort | uniq -c | sort -rn | head -n 3
	awk -v n="$measured" -v hz="$hz" -v cm="${cpu[mailposture]:-0}" -v cc="${cpu[chain]:-0}" \
		-v cu="${cpu[unsigned]:-0}" -v cn="${cpu[null]:-0}" -v r0="$rss0" -v r1="$rss1" \
		-v rn="$RSS_N" -v rr="${RESULTS[rss]:-0}" "$BENCH_AWK_MEDIAN"'
	function verdict(ok) { return ok ? "PASS" : "MISS" }
	{
		k++
		mc[k] = $3 / $4; mn[k] = 100 * $3 / $2; cn_[k] = 100 * $4 / $2
		un[k] = 100 * $5 / $2; nw[k] = 100 * $2 / $1; mw[k] = 100 * $3 / $1
	}
	END {
		r_mc = median(mc, k); r_mn = median(mn, k); r_cn = median(cn_, k)
		r_un = median(un, k)
		printf "median ratio mailposture / chain: %.2fx\n", r_mc
		printf "median ratio mailposture / null filter: %.1f%%\n", r_mn
		printf "median ratio chain / null filter: %.1f%%\n", r_cn
		printf "median ratio unsigned mailposture / null filter: %.1f%%\n", r_un
		printf "median ratio null filter / without: %.1f%%; mailposture / without: %.1f%%\n",
		    median(nw, k), median(mw, k)
		pm = cm / hz * 1000 / n; pc = cc / hz * 1000 / n
		printf "milter CPU per 1000 messages: mailposture %.3f s, opendkim + opendmarc %.3f s" \
		    " (unsigned mailposture %.3f s, null filter %.3f s)\n", pm, pc,
		    cu / hz * 1000 / n, cn / hz * 1000 / n
		printf "mailposture RSS: %d kB before, %d kB after %d signed messages (%+d kB;" \
		    " dkim=pass and dmarc=pass on %d)\n", r0, r1, rn, r1 - r0, rr
		if (r_cn > 40)
			printf "%s throughput: mailposture / null filter %.1f%% >= 95%% (the chain runs at" \
			    " %.1f%% of the null filter, over 40%%)\n", verdict(r_mn >= 95), r_mn, r_cn
		else
			printf "%s throughput: mailposture / chain %.2fx >= 2.5x (the chain runs at %.1f%%" \
			    " of the null filter)\n", verdict(r_mc >= 2.5), r_mc, r_cn
		printf "%s CPU per 1000 messages: mailposture %.3f s <= opendkim + opendmarc %.3f s\n",
		    verdict(pm <= pc), pm, pc
		printf "%s unsigned: mailposture / null filter %.1f%% >= 95%%\n", verdict(r_un >= 95), r_un
		printf "%s RSS growth over %d signed messages: %+d kB < 5120 kB\n",
		    verdict(r1 - r0 < 5120), rn, r1 - r0
	}' "$D/rates"
}
