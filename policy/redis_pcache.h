/*
 * redis_pcache: the posture cache shared between MX hosts (and milter
 * processes) through the store's Redis. It is the local table
 * (pcache.h), with two more ways in: a posture computed here is kept and
 * published (mp_store_share_posture); the store's writer thread brings
 * the postures the others computed into the table while they are younger
 * than the cache's ttl (mp_store_share_sink). get reads the table only,
 * so the message path never waits for Redis; the first use of a posture
 * that another host computed is logged.
 *
 * A file of its own: only the milter links it (and the store with it),
 * not the tools that evaluate without Redis.
 */
#ifndef MP_REDIS_PCACHE_H
#define MP_REDIS_PCACHE_H

#include "pcache.h"
#include "store.h"

/* host names us in the others' logs; st must outlive the cache. Never NULL. */
struct mp_pcache *mp_pcache_shared_new(struct mp_store *st, unsigned long long ttl_ms,
    const char *host);

#endif
