/*
 * pcache: where the evaluator keeps sender postures between messages.
 * Posture is a property of a domain, not of a message, so it is computed
 * at most once per [policy] posture_ttl. The evaluator is given a cache
 * through this interface: the local table below by default, or that
 * table shared between MX hosts through Redis (redis_pcache.h).
 */
#ifndef MP_PCACHE_H
#define MP_PCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "posture.h"

struct mp_pcache;

struct mp_pcache_ops {
	/* True + *out when a fresh posture of domain (normalised) is known. */
	bool (*get)(struct mp_pcache *pc, const char *domain, struct mp_posture *out);
	/* Keeps p (complete postures only: the caller checks). */
	void (*put)(struct mp_pcache *pc, const struct mp_posture *p);
	void (*free)(struct mp_pcache *pc);
};

/* Every implementation starts with this header. Safe from any thread. */
struct mp_pcache {
	const struct mp_pcache_ops *ops;
};

/*
 * The local table: fixed size (a hash slot plus a short probe, the oldest
 * entry of the probe evicted), so memory is bounded whatever the senders
 * do; an entry lives ttl_ms. Never NULL.
 */
struct mp_pcache *mp_pcache_local_new(unsigned long long ttl_ms);

/*
 * The local table's own calls, for a cache built over it (the one shared
 * between MX hosts, redis_pcache.h). store keeps p until expires_ms
 * (mp_now_ms), unless the table holds a posture of the domain computed
 * after computed_at; from names the host that computed it ("" here).
 * lookup is get, and says once, in from (fromlen bytes) and *age
 * (seconds), which other host computed the posture it returns; from is
 * "" otherwise.
 */
void mp_pcache_local_store(struct mp_pcache *local, const struct mp_posture *p,
    unsigned long long expires_ms, time_t computed_at, const char *from);
bool mp_pcache_local_lookup(struct mp_pcache *local, const char *domain, struct mp_posture *out,
    char *from, size_t fromlen, long long *age);
unsigned long long mp_pcache_local_ttl(const struct mp_pcache *local);

bool mp_pcache_get(struct mp_pcache *pc, const char *domain, struct mp_posture *out);
void mp_pcache_put(struct mp_pcache *pc, const struct mp_posture *p);
void mp_pcache_free(struct mp_pcache **pcp);

#endif
