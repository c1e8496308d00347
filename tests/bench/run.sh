#!/bin/bash
# Runs store-bench against a private redis-server on loopback.
#   make -C BUILD/tests bench        (or: tests/bench/run.sh BUILD/tests/bench/store-bench)
# For figures worth quoting, use a build without --enable-sanitizers.
set -u
bench=${1:?usage: run.sh PATH/TO/store-bench [ARGS...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
mp_start_redis || exit 3
"$bench" --redis "127.0.0.1:$MP_REDIS_PORT" "$@"
