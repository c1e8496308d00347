#!/bin/bash
# Verdicts per second from one writer thread: a single redis-server
# against a Redis Cluster of three masters, in the same run, on loopback
# (tests/bench/store-cluster.c). Not part of make check:
#   make -C BUILD/tests bench/store-cluster
#   tests/bench/store-cluster.sh BUILD/tests/bench/store-cluster [--messages N] [--rounds N]
# Use a build without --enable-sanitizers for figures.
set -u
bench=${1:?usage: store-cluster.sh PATH/TO/store-cluster [ARGS...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/lib.sh"
mp_start_redis || exit 3
single=$MP_REDIS_PORT
mp_start_cluster 3 || exit 3
echo "redis-server $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), $(nproc) CPUs," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$bench" --single "127.0.0.1:$single" --cluster "$MP_CLUSTER_NODES" "$@"
