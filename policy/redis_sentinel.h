/*
 * redis_sentinel: the master (or a replica) that Redis Sentinel names
 * for a master name, and its +switch-master announcements. hiredis 0.14
 * has no Sentinel client: this is the part of the client protocol that
 * the store needs. Sentinels are asked without a password.
 *
 * sentinels is a list of "host:port" ("[v6]:port") separated by spaces
 * or commas; each is asked in turn until one answers.
 */
#ifndef MP_REDIS_SENTINEL_H
#define MP_REDIS_SENTINEL_H

#include <stdbool.h>
#include <stddef.h>

/* SENTINEL get-master-addr-by-name: "host:port" into addr. False + err. */
bool mp_redis_sentinel_master(const char *sentinels, const char *name, unsigned timeout_ms,
    char *addr, size_t addrlen, char *err, size_t errlen);
/* A replica the sentinels see up and linked to its master. False + err when none. */
bool mp_redis_sentinel_replica(const char *sentinels, const char *name, unsigned timeout_ms,
    char *addr, size_t addrlen, char *err, size_t errlen);

/* A subscription to +switch-master on one sentinel. */
struct mp_redis_watch;

/* Subscribed on the first sentinel that answers; NULL + err when none does. */
struct mp_redis_watch *mp_redis_watch_new(const char *sentinels, const char *name,
    unsigned timeout_ms, char *err, size_t errlen);
/*
 * Reads what arrived and never waits. True + the new master's address
 * when the master of the watched name moved. *dead: the subscription is
 * lost (make a new one).
 */
bool mp_redis_watch_poll(struct mp_redis_watch *w, char *addr, size_t addrlen, bool *dead);
void mp_redis_watch_free(struct mp_redis_watch **wp);

#endif
