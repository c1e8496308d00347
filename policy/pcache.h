/*
 * pcache: where the evaluator keeps sender postures between messages.
 * Posture is a property of a domain, not of a message, so it is computed
 * at most once per [policy] posture_ttl. The evaluator is given a cache
 * through this interface: the local table below by default; a cache
 * shared between MX hosts (Redis) can stand in for it.
 */
#ifndef MP_PCACHE_H
#define MP_PCACHE_H

#include <stdbool.h>

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

bool mp_pcache_get(struct mp_pcache *pc, const char *domain, struct mp_posture *out);
void mp_pcache_put(struct mp_pcache *pc, const struct mp_posture *p);
void mp_pcache_free(struct mp_pcache **pcp);

#endif
