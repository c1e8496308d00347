/*
 * redis_slot: Redis Cluster's key slots, and the replies that say which
 * server holds a slot. Debian 12 ships hiredis without a cluster client,
 * so this is written here, over hiredis replies: no connection is made
 * (redis_cluster routes commands with it).
 *
 * The rules are the Cluster specification's: a key's slot is CRC16
 * (XMODEM) of the key modulo 16384, or of its hash tag, the bytes between
 * the first '{' and the first '}' after it when there is at least one.
 */
#ifndef MP_REDIS_SLOT_H
#define MP_REDIS_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define MP_REDIS_SLOTS 16384
#define MP_REDIS_ADDR_MAX 300       /* "host:port" or "[v6]:port" */
#define MP_REDIS_TAG_MAX 8          /* a slot tag and its NUL */
#define MP_REDIS_NO_NODE ((size_t)-1)

uint16_t mp_redis_crc16(const void *buf, size_t len);
unsigned mp_redis_key_slot(const char *key, size_t len);

/*
 * A hash tag that puts a key in slot: the decimal form of the smallest
 * number whose CRC16 falls in slot (at most 109757). It never changes:
 * key names are built from it.
 */
void mp_redis_slot_tag(unsigned slot, char tag[MP_REDIS_TAG_MAX]);

/* What an error reply asks a cluster client to do. */
enum mp_redis_redirect {
	MP_REDIS_ERROR,             /* nothing: a plain error */
	MP_REDIS_MOVED,             /* the slot lives at addr now */
	MP_REDIS_ASK,               /* this once at addr, after ASKING */
	MP_REDIS_TRYAGAIN,          /* keys are moving: later */
	MP_REDIS_CLUSTERDOWN,       /* the cluster cannot serve: later, after a new map */
};
/* *slot and addr are set for MOVED and ASK ("MOVED 3999 127.0.0.1:6381"). */
enum mp_redis_redirect mp_redis_redirect_of(const char *err, size_t len, unsigned *slot,
    char *addr, size_t addrlen);

/* "host:port", the host bracketed when it holds a ':' (IPv6). */
void mp_redis_addr(char *out, size_t outlen, const char *host, size_t hostlen, long long port);
/*
 * Whether len bytes can be a host or an address that a server names
 * (an IP address, a host name): servers' replies go into key routing and
 * log lines, so anything else is refused.
 */
bool mp_redis_host_ok(const char *host, size_t len);
/*
 * Lists of servers ([redis] sentinels, cluster) are separated by spaces
 * or commas: the next item of p into item ("" at the end, or when it is
 * longer than itemlen), and where the rest begins.
 */
const char *mp_redis_list_next(const char *p, char *item, size_t itemlen);

/*
 * The slot map: the masters, and which one serves each slot. Node
 * indexes only grow while a map lives, so a caller may keep them.
 */
struct mp_redis_map;

struct mp_redis_map *mp_redis_map_new(void);
void mp_redis_map_free(struct mp_redis_map **mp);
/*
 * Fills an empty map from the reply to CLUSTER SHARDS (Redis 7) or
 * CLUSTER SLOTS (older). asked is the host the command went to: a node
 * that reports no address of its own is that one. False + err when the
 * reply is not one of them.
 */
bool mp_redis_map_from_shards(struct mp_redis_map *m, const redisReply *r, const char *asked,
    char *err, size_t errlen);
bool mp_redis_map_from_slots(struct mp_redis_map *m, const redisReply *r, const char *asked,
    char *err, size_t errlen);
/* A map of one node serving every slot: a server that is no cluster. */
void mp_redis_map_single(struct mp_redis_map *m, const char *addr);
size_t mp_redis_map_nodes(const struct mp_redis_map *m);
const char *mp_redis_map_addr(const struct mp_redis_map *m, size_t node);
/* The node serving slot, MP_REDIS_NO_NODE when none does. */
size_t mp_redis_map_node_of(const struct mp_redis_map *m, unsigned slot);
/* The index of addr, added (serving nothing yet) when it is new. */
size_t mp_redis_map_node(struct mp_redis_map *m, const char *addr);
void mp_redis_map_assign(struct mp_redis_map *m, unsigned slot, size_t node);
/* Slots no master serves. */
unsigned mp_redis_map_unserved(const struct mp_redis_map *m);

#endif
