#!/bin/bash
# RFC 7208 conformance: the openspf.org test suite (16 scenarios, 203
# tests) run through the real SPF path. For every scenario, yml2zones.py
# writes NSD zones and a case list; one private NSD serves them and
# spf-suite-run evaluates each case with mp_spf over mp_dns. Prints TAP,
# one line per case, and "# N of 203 passed".
#
# The suite file: $MP_SPF_SUITE, else ../shared/testdata/spf beside the
# checkout. Without it the run fails (Bail out!): it never passes empty.
# Cases listed in known-failures (SCENARIO/TEST<TAB>cause) are reported
# with "# TODO <cause>": an expected failure, never counted as a pass.
set -u
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${TEST_SRCDIR:-$(cd "$here/.." && pwd)}
builddir=${TEST_BUILDDIR:-$(cd "$srcdir/.." && pwd)}
suite=${MP_SPF_SUITE:-"$srcdir/../../shared/testdata/spf/rfc7208-tests.yml"}
runner="$builddir/tests/spf-suite/spf-suite-run"
known="$srcdir/spf-suite/known-failures"
expected_total=203

if [ ! -r "$suite" ]; then
	echo "Bail out! RFC 7208 suite not found: $suite (set MP_SPF_SUITE)"
	exit 1
fi
if ! /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
	echo "Bail out! /usr/bin/python3 with python3-yaml is needed (scripts/install-deps)"
	exit 1
fi
if [ ! -x "$runner" ]; then
	echo "Bail out! $runner not built (make check builds it)"
	exit 1
fi

. "$srcdir/harness/lib.sh"
work="$MP_HARNESS_DIR/spf-suite"
mkdir -p "$work"
counts=$(/usr/bin/python3 "$srcdir/spf-suite/yml2zones.py" "$suite" "$work") || {
	echo "Bail out! yml2zones.py failed on $suite"
	exit 1
}
total=${counts#* }
[ "$total" = "$expected_total" ] || echo "# warning: the suite has $total tests, not $expected_total"
echo "1..$total"

out="$work/tap.out"
: > "$out"
for sdir in "$work"/s[0-9][0-9]; do
	name=$(basename "$sdir")
	echo "# $name: $(cat "$sdir/description")"
	if ! mp_start_dns "$sdir/zones" "spf-$name" >/dev/null; then
		echo "Bail out! NSD did not start for scenario $name"
		exit 1
	fi
	nsd_pid=${MP_HARNESS_PIDS##* }
	"$runner" "$MP_TEST_RESOLVER" "$sdir" "$known" | tee -a "$out"
	kill "$nsd_pid" 2>/dev/null
done

# Passed: the result (and explanation) matched, TODO or not.
passed=$(grep -c '^ok ' "$out")
ran=$(grep -c -E '^(ok|not ok) ' "$out")
echo "# $passed of $total passed"
[ "$ran" = "$total" ] || { echo "Bail out! $ran of $total cases ran"; exit 1; }
exit 0
