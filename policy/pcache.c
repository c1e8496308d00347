/*
 * pcache: the posture cache interface, and the local table that backs it
 * by default.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pcache.h"

#define LOCAL_SLOTS 2048
#define LOCAL_PROBE 4

struct slot {
	unsigned long long expires_ms;	/* 0: empty */
	struct mp_posture posture;
};

struct local {
	struct mp_pcache pc;		/* first: the interface */
	unsigned long long ttl_ms;
	pthread_mutex_t lock;
	struct slot *slot;		/* NULL until the first put */
};

bool
mp_pcache_get(struct mp_pcache *pc, const char *domain, struct mp_posture *out)
{
	return pc->ops->get(pc, domain, out);
}

void
mp_pcache_put(struct mp_pcache *pc, const struct mp_posture *p)
{
	pc->ops->put(pc, p);
}

void
mp_pcache_free(struct mp_pcache **pcp)
{
	if (*pcp != NULL)
		(*pcp)->ops->free(*pcp);
	*pcp = NULL;
}

static size_t
slot_of(const char *domain)
{
	size_t h = 5381;

	for (const unsigned char *p = (const unsigned char *)domain; *p; p++)
		h = h * 33 + *p;
	return h % LOCAL_SLOTS;
}

static bool
local_get(struct mp_pcache *pc, const char *domain, struct mp_posture *out)
{
	struct local *l = (struct local *)pc;
	size_t h = slot_of(domain);
	unsigned long long now = mp_now_ms();
	bool found = false;

	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; l->slot != NULL && i < LOCAL_PROBE && !found; i++) {
		struct slot *s = &l->slot[(h + i) % LOCAL_SLOTS];

		if (s->expires_ms > now && strcmp(s->posture.domain, domain) == 0) {
			*out = s->posture;
			found = true;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return found;
}

static void
local_put(struct mp_pcache *pc, const struct mp_posture *p)
{
	struct local *l = (struct local *)pc;
	size_t h = slot_of(p->domain);
	struct slot *victim = NULL;

	pthread_mutex_lock(&l->lock);
	if (l->slot == NULL)
		l->slot = xcalloc(LOCAL_SLOTS, sizeof(*l->slot));
	for (size_t i = 0; i < LOCAL_PROBE; i++) {
		struct slot *s = &l->slot[(h + i) % LOCAL_SLOTS];

		if (strcmp(s->posture.domain, p->domain) == 0) {
			victim = s;
			break;
		}
		if (victim == NULL || s->expires_ms < victim->expires_ms)
			victim = s;
	}
	victim->posture = *p;
	victim->expires_ms = mp_now_ms() + l->ttl_ms;
	pthread_mutex_unlock(&l->lock);
}

static void
local_free(struct mp_pcache *pc)
{
	struct local *l = (struct local *)pc;

	free(l->slot);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static const struct mp_pcache_ops local_ops = { local_get, local_put, local_free };

struct mp_pcache *
mp_pcache_local_new(unsigned long long ttl_ms)
{
	struct local *l = xcalloc(1, sizeof(*l));

	l->pc.ops = &local_ops;
	l->ttl_ms = ttl_ms;
	pthread_mutex_init(&l->lock, NULL);
	return &l->pc;
}
