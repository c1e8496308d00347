/*
 * redis_cluster: the Redis servers one client talks to, a connection to
 * each, and which of them serves each key. A server alone (or the master
 * that Sentinel names) is one node serving every slot, so callers route
 * every command the same way whatever the deployment. On a Cluster the
 * map comes from CLUSTER SHARDS (CLUSTER SLOTS before Redis 7) and
 * follows MOVED replies (redis_slot parses both).
 *
 * Not thread-safe: each instance has one owner (the writer thread, the
 * posture reader under its mutex, mailposture-report).
 */
#ifndef MP_REDIS_CLUSTER_H
#define MP_REDIS_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "redis_slot.h"

/* Opens one connection to addr, set up for use (AUTH, SELECT): NULL + err. */
typedef redisContext *(*mp_redis_dial_fn)(void *arg, const char *addr, char *err, size_t errlen);

struct mp_redis_nodes;

struct mp_redis_nodes *mp_redis_nodes_new(mp_redis_dial_fn dial, void *arg);
void mp_redis_nodes_free(struct mp_redis_nodes **np);

/* One server for every slot; connections to any other are closed. */
void mp_redis_nodes_single(struct mp_redis_nodes *n, const char *addr);
/*
 * A Cluster: asks the seeds ("host:port" separated by spaces or commas),
 * then the nodes known so far, for the slot map, each on a connection of
 * its own. Connections to nodes that remain are kept. False + err when
 * none answers with a map.
 */
bool mp_redis_nodes_discover(struct mp_redis_nodes *n, const char *seeds, char *err,
    size_t errlen);
bool mp_redis_nodes_is_cluster(const struct mp_redis_nodes *n);

size_t mp_redis_nodes_count(const struct mp_redis_nodes *n);
const char *mp_redis_nodes_addr(const struct mp_redis_nodes *n, size_t node);
/* The node serving a key or a slot; MP_REDIS_NO_NODE when none does. */
size_t mp_redis_nodes_of_key(const struct mp_redis_nodes *n, const char *key, size_t len);
size_t mp_redis_nodes_of_slot(const struct mp_redis_nodes *n, unsigned slot);
/* MOVED: slot is served by addr from now on; returns that node. */
size_t mp_redis_nodes_moved(struct mp_redis_nodes *n, unsigned slot, const char *addr);
/* The node at addr (an ASK target), added when it is new. */
size_t mp_redis_nodes_node(struct mp_redis_nodes *n, const char *addr);

/*
 * The connection to node, opened on first use; *fresh (may be NULL) is
 * true when it was opened by this call, for the caller's own setup
 * (SCRIPT LOAD). NULL + err when it cannot be had.
 */
redisContext *mp_redis_nodes_conn(struct mp_redis_nodes *n, size_t node, bool *fresh, char *err,
    size_t errlen);
/* The open connection to node, or NULL: never connects. */
redisContext *mp_redis_nodes_peek(const struct mp_redis_nodes *n, size_t node);
void mp_redis_nodes_close(struct mp_redis_nodes *n, size_t node);
void mp_redis_nodes_close_all(struct mp_redis_nodes *n);

#endif
