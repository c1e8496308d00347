# Test harness: real servers on loopback, stopped on exit even when a test
# fails. Source this file from bash; it sets a trap on EXIT.
#   mp_start_dns ZONEDIR  -> sets MP_DNS_PORT, MP_TEST_RESOLVER (127.0.0.1@PORT)
#   mp_start_redis        -> sets MP_REDIS_PORT
#   mp_start_dns_drop SUFFIX... (after mp_start_dns)
#                         -> sets MP_DNS_DROP_PORT, MP_TEST_RESOLVER_DROP
# Every zone file ZONEDIR/NAME.zone is served as zone NAME (root.zone as ".").

MP_HARNESS_DIR=$(mktemp -d /tmp/mp-harness.XXXXXX)
MP_HARNESS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MP_HARNESS_PIDS=""

# Servers are stopped by the PIDs this shell started, never by name: the
# machine may run its own nsd or redis-server.
# mp_harness_reap PID: gives PID (signalled already) a second to exit,
# then kills it.
mp_harness_reap() {
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
}

# mp_harness_forget PID: stops a server that did not come up and drops it
# from MP_HARNESS_PIDS, so that the cleanup never signals its PID after
# the system may have given it to another process.
mp_harness_forget() {
	kill "$1" 2>/dev/null
	mp_harness_reap "$1"
	{ wait "$1"; } 2>/dev/null
	MP_HARNESS_PIDS=$(echo " $MP_HARNESS_PIDS " | sed "s/ $1 / /")
}

mp_harness_cleanup() {
	for pid in $MP_HARNESS_PIDS; do
		kill "$pid" 2>/dev/null
	done
	for pid in $MP_HARNESS_PIDS; do
		mp_harness_reap "$pid"
	done
	rm -rf "$MP_HARNESS_DIR"
}
trap mp_harness_cleanup EXIT
trap 'exit 130' INT TERM

# A port nobody uses (TCP and UDP, in any state), random so that parallel
# test runs do not collide, and below the kernel's ephemeral range: a
# port from that range can be held by a client connection or sit in
# TIME_WAIT, which "ss -l" does not show, and bind() then fails (seen
# when many tests run at once).
mp_free_port() {
	local p lo hi
	read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	[ "$lo" -gt 12000 ] 2>/dev/null || lo=32768
	for _ in $(seq 1 50); do
		p=$((10000 + RANDOM % (lo - 10000)))
		if ! ss -Hanut 2>/dev/null | awk '{print $5}' | grep -q ":$p\$"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

mp_find_nsd() {
	for n in nsd /usr/sbin/nsd; do
		command -v "$n" >/dev/null 2>&1 && { command -v "$n"; return 0; }
	done
	echo "harness: nsd not found: install the Debian package nsd" >&2
	return 1
}

# mp_start_dns ZONEDIR [NAME]: starts NSD serving every ZONEDIR/*.zone.
mp_start_dns() {
	local zonedir=$1 name=${2:-dns} nsd dir port conf z zname tries
	nsd=$(mp_find_nsd) || return 1
	dir="$MP_HARNESS_DIR/$name"
	mkdir -p "$dir"
	for tries in 1 2 3 4 5; do
		port=$(mp_free_port) || return 1
		conf="$dir/nsd.conf"
		cat > "$conf" <<NSDCONF
server:
	ip-address: 127.0.0.1
	port: $port
	username: ""
	chroot: ""
	zonesdir: "$zonedir"
	database: ""
	zonelistfile: "$dir/zone.list"
	xfrdfile: "$dir/xfrd.state"
	xfrdir: "$dir"
	pidfile: "$dir/nsd.pid"
	logfile: "$dir/nsd.log"
	server-count: 1
	hide-version: yes
	verbosity: 1
	reuseport: no
	tcp-count: 20
remote-control:
	control-enable: no
NSDCONF
		for z in "$zonedir"/*.zone; do
			zname=$(basename "$z" .zone)
			# root.zone is the root: no file name can be ".".
			[ "$zname" = root ] && zname=.
			printf 'zone:\n\tname: "%s"\n\tzonefile: "%s"\n' "$zname" "$z" >> "$conf"
		done
		"$nsd" -c "$conf" -p "$port" -d > "$dir/stdout" 2>&1 &
		local pid=$!
		MP_HARNESS_PIDS="$MP_HARNESS_PIDS $pid"
		# Ready when it answers a query for the first zone's SOA.
		zname=$(basename "$(ls "$zonedir"/*.zone | head -n 1)" .zone)
		for _ in $(seq 1 50); do
			if ! kill -0 "$pid" 2>/dev/null; then break; fi
			if dig +time=1 +tries=1 -p "$port" @127.0.0.1 "$zname" SOA 2>/dev/null | grep -q 'status: NOERROR'; then
				MP_DNS_PORT=$port
				MP_TEST_RESOLVER="127.0.0.1@$port"
				export MP_DNS_PORT MP_TEST_RESOLVER
				return 0
			fi
			sleep 0.1
		done
		echo "harness: nsd did not start on port $port:" >&2
		cat "$dir/stdout" "$dir/nsd.log" >&2 2>/dev/null
		mp_harness_forget "$pid"
	done
	return 1
}

# mp_start_dns_drop SUFFIX...: starts dns-drop.py in front of the NSD of
# mp_start_dns. It forwards every query to that NSD except those for a
# SUFFIX or a name below one, which it never answers (a sender's DNS that
# is slow or dead). It stops with the harness, or by itself when this
# shell is gone.
mp_start_dns_drop() {
	local dir="$MP_HARNESS_DIR/dns-drop" port pid
	[ -n "${MP_DNS_PORT:-}" ] || { echo "harness: mp_start_dns_drop needs mp_start_dns first" >&2; return 1; }
	[ -x /usr/bin/python3 ] || { echo "harness: /usr/bin/python3 not found" >&2; return 1; }
	mkdir -p "$dir"
	for _ in 1 2 3 4 5; do
		port=$(mp_free_port) || return 1
		/usr/bin/python3 "$MP_HARNESS_LIB_DIR/dns-drop.py" "$port" "$MP_DNS_PORT" "$@" \
			> "$dir/stdout" 2>&1 &
		pid=$!
		MP_HARNESS_PIDS="$MP_HARNESS_PIDS $pid"
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			if dig +time=1 +tries=1 -p "$port" @127.0.0.1 . SOA 2>/dev/null | grep -q 'status: '; then
				MP_DNS_DROP_PORT=$port
				MP_TEST_RESOLVER_DROP="127.0.0.1@$port"
				export MP_DNS_DROP_PORT MP_TEST_RESOLVER_DROP
				return 0
			fi
			sleep 0.1
		done
		mp_harness_forget "$pid"
	done
	echo "harness: dns-drop.py did not start:" >&2
	cat "$dir/stdout" >&2 2>/dev/null
	return 1
}

# mp_start_redis: a private redis-server on a loopback port, no disk.
mp_start_redis() {
	local dir="$MP_HARNESS_DIR/redis" port pid
	mkdir -p "$dir"
	command -v redis-server >/dev/null 2>&1 || {
		echo "harness: redis-server not found: install the Debian package redis-server" >&2
		return 1
	}
	for _ in 1 2 3 4 5; do
		port=$(mp_free_port) || return 1
		redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
			--dir "$dir" --daemonize no ${MP_REDIS_ARGS:-} > "$dir/redis.log" 2>&1 &
		pid=$!
		MP_HARNESS_PIDS="$MP_HARNESS_PIDS $pid"
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
				MP_REDIS_PORT=$port
				MP_REDIS_PID=$pid
				export MP_REDIS_PORT MP_REDIS_PID
				return 0
			fi
			sleep 0.1
		done
		mp_harness_forget "$pid"
	done
	echo "harness: redis-server did not start" >&2
	return 1
}

# mp_start_redis_in NAME [redis-server options...]: another private
# redis-server, in $MP_HARNESS_DIR/NAME with its own log, and the options
# given -> MP_REDIS_PORT, MP_REDIS_PID (stopped with the harness).
mp_start_redis_in() {
	local name=$1 dir port pid
	shift
	dir="$MP_HARNESS_DIR/$name"
	mkdir -p "$dir"
	for _ in 1 2 3 4 5; do
		port=$(mp_free_port) || return 1
		redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
			--dir "$dir" --daemonize no "$@" > "$dir/redis.log" 2>&1 &
		pid=$!
		MP_HARNESS_PIDS="$MP_HARNESS_PIDS $pid"
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
				MP_REDIS_PORT=$port
				MP_REDIS_PID=$pid
				return 0
			fi
			sleep 0.1
		done
		mp_harness_forget "$pid"
	done
	echo "harness: redis-server $name did not start" >&2
	cat "$dir/redis.log" >&2 2>/dev/null
	return 1
}

# mp_start_cluster N: a Redis Cluster of N masters (no replicas) made by
# redis-cli --cluster create, each with its own bus port (cluster-port)
# -> MP_CLUSTER_NODES ("127.0.0.1:PORT ..."), MP_CLUSTER_PORTS and
# MP_CLUSTER_PIDS, in the same order.
mp_start_cluster() {
	local n=$1 i bus
	MP_CLUSTER_NODES="" MP_CLUSTER_PORTS="" MP_CLUSTER_PIDS=""
	for i in $(seq 1 "$n"); do
		bus=$(mp_free_port) || return 1
		mp_start_redis_in "cluster$i" --cluster-enabled yes --cluster-port "$bus" \
			--cluster-config-file "$MP_HARNESS_DIR/cluster$i/nodes.conf" \
			--cluster-node-timeout 2000 || return 1
		MP_CLUSTER_NODES="${MP_CLUSTER_NODES:+$MP_CLUSTER_NODES }127.0.0.1:$MP_REDIS_PORT"
		MP_CLUSTER_PORTS="${MP_CLUSTER_PORTS:+$MP_CLUSTER_PORTS }$MP_REDIS_PORT"
		MP_CLUSTER_PIDS="${MP_CLUSTER_PIDS:+$MP_CLUSTER_PIDS }$MP_REDIS_PID"
	done
	# shellcheck disable=SC2086
	redis-cli --cluster create $MP_CLUSTER_NODES --cluster-replicas 0 --cluster-yes \
		> "$MP_HARNESS_DIR/cluster-create.log" 2>&1 || {
		echo "harness: redis-cli --cluster create failed:" >&2
		cat "$MP_HARNESS_DIR/cluster-create.log" >&2
		return 1
	}
	for _ in $(seq 1 100); do
		for i in $MP_CLUSTER_PORTS; do
			redis-cli -p "$i" cluster info 2>/dev/null | grep -q '^cluster_state:ok' ||
				{ sleep 0.1; continue 2; }
		done
		return 0
	done
	echo "harness: the cluster did not reach cluster_state:ok" >&2
	return 1
}

# mp_start_sentinel: a master, one replica and three redis-sentinel
# processes that watch it as "mp-master" (down after 1 s, quorum 2)
# -> MP_SENTINELS ("127.0.0.1:PORT,..."), MP_SENTINEL_MASTER_PORT and
# _PID, MP_SENTINEL_REPLICA_PORT and _PID. Ready when the replica is in
# sync and every sentinel knows the two others (a failover can happen).
mp_start_sentinel() {
	local i port dir pid conf
	command -v redis-sentinel >/dev/null 2>&1 || {
		echo "harness: redis-sentinel not found: install the Debian package redis-sentinel" >&2
		return 1
	}
	mp_start_redis_in sentinel-master || return 1
	MP_SENTINEL_MASTER_PORT=$MP_REDIS_PORT MP_SENTINEL_MASTER_PID=$MP_REDIS_PID
	mp_start_redis_in sentinel-replica --replicaof 127.0.0.1 "$MP_SENTINEL_MASTER_PORT" || return 1
	MP_SENTINEL_REPLICA_PORT=$MP_REDIS_PORT MP_SENTINEL_REPLICA_PID=$MP_REDIS_PID
	MP_SENTINELS=""
	for i in 1 2 3; do
		dir="$MP_HARNESS_DIR/sentinel$i"
		mkdir -p "$dir"
		port=$(mp_free_port) || return 1
		conf="$dir/sentinel.conf"
		printf '%s\n' "port $port" "bind 127.0.0.1" "daemonize no" "dir $dir" \
			"sentinel monitor mp-master 127.0.0.1 $MP_SENTINEL_MASTER_PORT 2" \
			"sentinel down-after-milliseconds mp-master 1000" \
			"sentinel failover-timeout mp-master 10000" > "$conf"
		redis-sentinel "$conf" > "$dir/sentinel.log" 2>&1 &
		pid=$!
		MP_HARNESS_PIDS="$MP_HARNESS_PIDS $pid"
		MP_SENTINELS="$MP_SENTINELS${MP_SENTINELS:+,}127.0.0.1:$port"
	done
	for _ in $(seq 1 300); do
		redis-cli -p "$MP_SENTINEL_REPLICA_PORT" info replication 2>/dev/null |
			grep -q '^master_link_status:up' || { sleep 0.1; continue; }
		for i in $(echo "$MP_SENTINELS" | tr ',' ' '); do
			redis-cli -p "${i##*:}" sentinel master mp-master 2>/dev/null |
				grep -A1 -E '^num-(other-sentinels|slaves)$' | grep -cE '^(1|2)$' |
				grep -q '^2$' || { sleep 0.1; continue 2; }
		done
		return 0
	done
	echo "harness: the sentinels did not come up" >&2
	return 1
}

# mp_milter_load PORT PREFIX N DOMAINS [CONNECTIONS] [RATE]: N messages
# to a milter on 127.0.0.1:PORT, played as an MTA would
# (tests/miltertest/rawmilter.py): client 192.0.2.10, MAIL FROM
# pass@pass.milter.example.net, From d(I mod DOMAINS).example (each its
# own registrable domain, so their keys spread over a Cluster's slots),
# or From DOMAINS itself when it is a name; queue id PREFIX followed by I. CONNECTIONS (default 4) at once, several
# messages each; at most RATE messages a second overall when given.
# Prints "sent N accepted A refused R" and fails unless every message
# was answered.
mp_milter_load() {
	python3 - "$MP_HARNESS_LIB_DIR/../miltertest" "$@" <<'PY'
import struct, sys, threading, time
sys.path.insert(0, sys.argv[1])
from rawmilter import Conn, header
port, prefix, n = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ndom = int(sys.argv[5]) if sys.argv[5].isdigit() else 0
fixed = sys.argv[5].encode() if ndom == 0 else None
conns = int(sys.argv[6]) if len(sys.argv) > 6 else 4
rate = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0
counts = {"a": 0, "r": 0, "lost": 0}
lock = threading.Lock()
t0 = time.time()

def run(k):
    todo = list(range(k, n, conns))
    while todo:
        try:
            c = Conn("127.0.0.1", port)
            c.negotiate()
            c.step("C", b"client.example.org\0" + b"4" + struct.pack(">H", 25) + b"192.0.2.10\0")
            c.step("H", b"client.example.org\0")
            while todo:
                i = todo[0]
                if rate > 0:
                    time.sleep(max(0.0, t0 + i / rate - time.time()))
                c.send("D", b"M" + b"i\0" + (prefix + str(i)).encode() + b"\0")
                c.step("M", b"<pass@pass.milter.example.net>\0")
                c.step("R", b"<rcpt@example.net>\0")
                dom = fixed or b"d%d.example" % (i % ndom)
                c.step("L", header(b"From", b"<u@" + dom + b">"))
                c.step("N")
                r = c.eom()
                with lock:
                    counts["a" if r in ("a", "c") else "r"] += 1
                todo.pop(0)
            c.close()
        except Exception as e:
            with lock:
                counts["lost"] += 1
            print("# load: connection %d: %s" % (k, e), file=sys.stderr)
            if counts["lost"] > 50:
                return
            time.sleep(0.2)

ts = [threading.Thread(target=run, args=(k,)) for k in range(conns)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("sent %d accepted %d refused %d" % (n, counts["a"], counts["r"]))
sys.exit(0 if counts["a"] + counts["r"] == n else 1)
PY
}
