/*
 * pcache: the posture cache interface, and the local table that backs it
 * by default (and the cache shared between MX hosts, redis_pcache.c).
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pcache.h"

#define LOCAL_SLOTS 2048
#define LOCAL_PROBE 4
#define FROM_MAX 64                 /* a host name as the log shows it */

struct slot {
	unsigned long long expires_ms;	/* 0: empty */
	time_t computed_at;
	char from[FROM_MAX];		/* the host that computed it; "" here */
	bool told;			/* its first use by us was logged */
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

/* ---- the local table --------------------------------------------------- */

static size_t
slot_of(const char *domain)
{
	size_t h = 5381;

	for (const unsigned char *p = (const unsigned char *)domain; *p; p++)
		h = h * 33 + *p;
	return h % LOCAL_SLOTS;
}

bool
mp_pcache_local_lookup(struct mp_pcache *pc, const char *domain, struct mp_posture *out,
    char *from, size_t fromlen, long long *age)
{
	struct local *l = (struct local *)pc;
	size_t h = slot_of(domain);
	unsigned long long now = mp_now_ms();
	bool found = false;

	from[0] = '\0';
	pthread_mutex_lock(&l->lock);
	for (size_t i = 0; l->slot != NULL && i < LOCAL_PROBE && !found; i++) {
		struct slot *s = &l->slot[(h + i) % LOCAL_SLOTS];

		if (s->expires_ms > now && strcmp(s->posture.domain, domain) == 0) {
			*out = s->posture;
			found = true;
			if (s->from[0] != '\0' && !s->told) {
				s->told = true;
				mp_strlcpy(from, s->from, fromlen);
				*age = (long long)(time(NULL) - s->computed_at);
			}
		}
	}
	pthread_mutex_unlock(&l->lock);
	return found;
}

/* Another host's posture can arrive after one computed later here. */
void
mp_pcache_local_store(struct mp_pcache *pc, const struct mp_posture *p,
    unsigned long long expires_ms, time_t computed_at, const char *from)
{
	struct local *l = (struct local *)pc;
	size_t h = slot_of(p->domain);
	unsigned long long now = mp_now_ms();
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
	if (victim->expires_ms <= now || strcmp(victim->posture.domain, p->domain) != 0 ||
	    victim->computed_at <= computed_at) {
		victim->posture = *p;
		victim->expires_ms = expires_ms;
		victim->computed_at = computed_at;
		mp_strlcpy(victim->from, from, sizeof(victim->from));
		victim->told = false;
	}
	pthread_mutex_unlock(&l->lock);
}

unsigned long long
mp_pcache_local_ttl(const struct mp_pcache *pc)
{
	return ((const struct local *)pc)->ttl_ms;
}

static bool
local_get(struct mp_pcache *pc, const char *domain, struct mp_posture *out)
{
	char from[FROM_MAX];
	long long age;

	return mp_pcache_local_lookup(pc, domain, out, from, sizeof(from), &age);
}

static void
local_put(struct mp_pcache *pc, const struct mp_posture *p)
{
	struct local *l = (struct local *)pc;

	mp_pcache_local_store(pc, p, mp_now_ms() + l->ttl_ms, time(NULL), "");
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
