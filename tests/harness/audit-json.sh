# Reading mailposture-audit --json output in the audit tests. Source from
# bash after defining ok and not_ok; set AUDIT_JSON (the output file) and
# AUDIT_ERR (its stderr) before calling.
#   get KEY      a top-level field, or CHECKID.field (status, finding,
#                evidence, fix; evidence lines joined by newlines)
#   expect DESC KEY=VALUE... KEY~SUBSTRING...   one TAP line for all of them

get() {
	/usr/bin/python3 - "$AUDIT_JSON" "$1" <<'PYEOF' 2>/dev/null
import json, sys
d = json.load(open(sys.argv[1]))
k = sys.argv[2]
if "." in k and k.rsplit(".", 1)[1] in ("status", "finding", "evidence", "fix"):
    cid, field = k.rsplit(".", 1)
    for c in d["checks"]:
        if c["id"] == cid:
            v = c[field]
            print("\n".join(v) if isinstance(v, list) else v)
else:
    print(d[k])
PYEOF
}

expect() {
	local desc=$1 bad=() kv k want got
	shift
	for kv in "$@"; do
		if [[ $kv == *"~"* && ( $kv != *"="* || ${kv%%~*} != *"="* ) ]]; then
			k=${kv%%~*}; want=${kv#*~}
			got=$(get "$k")
			[[ $got == *"$want"* ]] || bad+=("$k: expected to contain '$want', got '$got'")
		else
			k=${kv%%=*}; want=${kv#*=}
			got=$(get "$k")
			[ "$got" = "$want" ] || bad+=("$k: expected '$want', got '$got'")
		fi
	done
	if [ ${#bad[@]} -eq 0 ]; then
		ok "$desc"
	else
		not_ok "$desc" "${bad[@]}" "stderr: $(head -c 500 "$AUDIT_ERR")"
	fi
}
