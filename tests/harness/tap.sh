# TAP helpers for the shell tests: source from bash. N counts the test
# points, FAILED the failures; print "1..$N" at the end (or the plan first).
#   ok DESC
#   not_ok DESC [DIAGNOSTIC...]     each diagnostic line becomes a "#" comment
#   check DESC COMMAND...           ok when COMMAND succeeds
N=0
FAILED=0

ok() {
	N=$((N + 1))
	echo "ok $N - $1"
}

not_ok() {
	N=$((N + 1))
	FAILED=$((FAILED + 1))
	echo "not ok $N - $1"
	shift
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/#   /'
	done
}

check() {
	local d=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$d"; else not_ok "$d" "failed: $*"; fi
}
