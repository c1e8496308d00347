/*
 * redis_cluster: nodes, their connections and the slot map (see
 * redis_cluster.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_cluster.h"
#include "util.h"

struct mp_redis_nodes {
	mp_redis_dial_fn dial;
	void *arg;
	bool cluster;
	struct mp_redis_map *map;
	redisContext **conn;        /* one per node of the map, NULL: not open */
	size_t nconn;
};

struct mp_redis_nodes *
mp_redis_nodes_new(mp_redis_dial_fn dial, void *arg)
{
	struct mp_redis_nodes *n = xcalloc(1, sizeof(*n));

	n->dial = dial;
	n->arg = arg;
	n->map = mp_redis_map_new();
	return n;
}

void
mp_redis_nodes_close(struct mp_redis_nodes *n, size_t node)
{
	if (node < n->nconn && n->conn[node] != NULL) {
		redisFree(n->conn[node]);
		n->conn[node] = NULL;
	}
}

void
mp_redis_nodes_close_all(struct mp_redis_nodes *n)
{
	for (size_t i = 0; i < n->nconn; i++)
		mp_redis_nodes_close(n, i);
}

void
mp_redis_nodes_free(struct mp_redis_nodes **np)
{
	struct mp_redis_nodes *n = *np;

	if (n == NULL)
		return;
	mp_redis_nodes_close_all(n);
	free(n->conn);
	mp_redis_map_free(&n->map);
	free(n);
	*np = NULL;
}

/* Keeps conn[] as long as the map's node list. */
static void
conn_fit(struct mp_redis_nodes *n)
{
	size_t want = mp_redis_map_nodes(n->map);

	if (want <= n->nconn)
		return;
	n->conn = xreallocarray(n->conn, want, sizeof(*n->conn));
	memset(n->conn + n->nconn, 0, (want - n->nconn) * sizeof(*n->conn));
	n->nconn = want;
}

/* Replaces the map, moving the open connections of nodes that remain. */
static void
map_replace(struct mp_redis_nodes *n, struct mp_redis_map *m, bool cluster)
{
	size_t nn = mp_redis_map_nodes(m);
	redisContext **conn = xcalloc(nn + 1, sizeof(*conn));

	for (size_t i = 0; i < nn; i++) {
		for (size_t k = 0; k < n->nconn; k++) {
			if (n->conn[k] != NULL &&
			    strcmp(mp_redis_map_addr(n->map, k), mp_redis_map_addr(m, i)) == 0) {
				conn[i] = n->conn[k];
				n->conn[k] = NULL;
			}
		}
	}
	mp_redis_nodes_close_all(n);
	free(n->conn);
	mp_redis_map_free(&n->map);
	n->map = m;
	n->conn = conn;
	n->nconn = nn;
	n->cluster = cluster;
}

void
mp_redis_nodes_single(struct mp_redis_nodes *n, const char *addr)
{
	struct mp_redis_map *m = mp_redis_map_new();

	mp_redis_map_single(m, addr);
	map_replace(n, m, false);
}

static void
not_cluster(const char *addr, const redisReply *r, char *err, size_t errlen)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_printable(&b, r->str, r->len, MP_SHOW_LINE);
	snprintf(err, errlen, "redis at %s is not a cluster node: %s", addr, mp_buf_str(&b));
	mp_buf_free(&b);
}

/* The map as addr sees it, on a connection of its own. */
static struct mp_redis_map *
ask_map(struct mp_redis_nodes *n, const char *addr, char *err, size_t errlen)
{
	redisContext *c = n->dial(n->arg, addr, err, errlen);
	struct mp_redis_map *m;
	redisReply *r;
	bool slots = false, ok = false;

	if (c == NULL)
		return NULL;
	m = mp_redis_map_new();
	r = redisCommand(c, "CLUSTER SHARDS");
	if (r != NULL && r->type == REDIS_REPLY_ERROR) {
		/* Before Redis 7: CLUSTER SLOTS says the same, less. */
		freeReplyObject(r);
		r = redisCommand(c, "CLUSTER SLOTS");
		slots = true;
	}
	if (r == NULL)
		snprintf(err, errlen, "redis at %s: %s", addr, c->errstr[0] ? c->errstr : "no reply");
	else if (r->type == REDIS_REPLY_ERROR)
		not_cluster(addr, r, err, errlen);
	else if (slots ? !mp_redis_map_from_slots(m, r, addr, err, errlen) :
	    !mp_redis_map_from_shards(m, r, addr, err, errlen))
		;
	else if (mp_redis_map_nodes(m) == 0)
		snprintf(err, errlen, "redis at %s: the cluster serves no slot", addr);
	else
		ok = true;
	if (r != NULL)
		freeReplyObject(r);
	redisFree(c);
	if (!ok)
		mp_redis_map_free(&m);
	return m;
}

/* The map from the first of a list of servers that gives one. */
static struct mp_redis_map *
ask_seeds(struct mp_redis_nodes *n, const char *seeds, char *err, size_t errlen)
{
	char addr[MP_REDIS_ADDR_MAX];
	struct mp_redis_map *m = NULL;

	for (const char *p = mp_redis_list_next(seeds, addr, sizeof(addr));
	    m == NULL && addr[0] != '\0'; p = mp_redis_list_next(p, addr, sizeof(addr)))
		m = ask_map(n, addr, err, errlen);
	return m;
}

bool
mp_redis_nodes_discover(struct mp_redis_nodes *n, const char *seeds, char *err, size_t errlen)
{
	struct mp_redis_map *m;

	snprintf(err, errlen, "no cluster node given");
	if ((m = ask_seeds(n, seeds, err, errlen)) == NULL) {
		/* The seeds may all be gone after a failover; the nodes
		 * met since may not. */
		for (size_t i = 0; m == NULL && i < mp_redis_map_nodes(n->map); i++)
			m = ask_map(n, mp_redis_map_addr(n->map, i), err, errlen);
	}
	if (m == NULL)
		return false;
	map_replace(n, m, true);
	return true;
}

bool
mp_redis_nodes_is_cluster(const struct mp_redis_nodes *n)
{
	return n->cluster;
}

size_t
mp_redis_nodes_count(const struct mp_redis_nodes *n)
{
	return mp_redis_map_nodes(n->map);
}

const char *
mp_redis_nodes_addr(const struct mp_redis_nodes *n, size_t node)
{
	return mp_redis_map_addr(n->map, node);
}

size_t
mp_redis_nodes_of_slot(const struct mp_redis_nodes *n, unsigned slot)
{
	return mp_redis_map_node_of(n->map, slot);
}

size_t
mp_redis_nodes_of_key(const struct mp_redis_nodes *n, const char *key, size_t len)
{
	/* A single server serves every slot: no CRC to compute. */
	if (!n->cluster)
		return mp_redis_map_nodes(n->map) > 0 ? 0 : MP_REDIS_NO_NODE;
	return mp_redis_map_node_of(n->map, mp_redis_key_slot(key, len));
}

size_t
mp_redis_nodes_node(struct mp_redis_nodes *n, const char *addr)
{
	size_t node = mp_redis_map_node(n->map, addr);

	conn_fit(n);
	return node;
}

size_t
mp_redis_nodes_moved(struct mp_redis_nodes *n, unsigned slot, const char *addr)
{
	size_t node = mp_redis_nodes_node(n, addr);

	mp_redis_map_assign(n->map, slot, node);
	return node;
}

redisContext *
mp_redis_nodes_conn(struct mp_redis_nodes *n, size_t node, bool *fresh, char *err,
    size_t errlen)
{
	if (fresh != NULL)
		*fresh = false;
	if (node >= mp_redis_map_nodes(n->map)) {
		snprintf(err, errlen, "redis: no server for this key (cluster slots not served)");
		return NULL;
	}
	conn_fit(n);
	if (n->conn[node] == NULL) {
		n->conn[node] = n->dial(n->arg, mp_redis_map_addr(n->map, node), err, errlen);
		if (n->conn[node] != NULL && fresh != NULL)
			*fresh = true;
	}
	return n->conn[node];
}

redisContext *
mp_redis_nodes_peek(const struct mp_redis_nodes *n, size_t node)
{
	return node < n->nconn ? n->conn[node] : NULL;
}
