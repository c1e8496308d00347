/*
 * redis_pcache: the posture cache shared through the store (see
 * redis_pcache.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "redis_pcache.h"

#define FROM_MAX 64                 /* a host name as the log shows it */

struct shared {
	struct mp_pcache pc;		/* first: the interface */
	struct mp_pcache *local;
	struct mp_store *store;
	char host[256];
};

static bool
shared_get(struct mp_pcache *pc, const char *domain, struct mp_posture *out)
{
	struct shared *sh = (struct shared *)pc;
	char from[FROM_MAX];
	long long age = 0;

	if (!mp_pcache_local_lookup(sh->local, domain, out, from, sizeof(from), &age))
		return false;
	if (from[0] != '\0')
		mp_log(LOG_INFO, "posture of %s: %d/%s computed by %s %lld s ago, reused (shared "
		    "through redis)", domain, out->score, out->grade, from, age);
	return true;
}

static void
shared_put(struct mp_pcache *pc, const struct mp_posture *p)
{
	struct shared *sh = (struct shared *)pc;

	mp_pcache_put(sh->local, p);
	mp_store_share_posture(sh->store, p->domain, p->score, p->grade, sh->host, time(NULL));
}

/* On the store's writer thread: another host's posture joins the table. */
static void
shared_sink(void *arg, const struct mp_store_shared *sp)
{
	struct shared *sh = arg;
	struct mp_posture p;
	long long age = (long long)(time(NULL) - sp->computed_at);
	unsigned long long ttl = mp_pcache_local_ttl(sh->local);

	if (age < 0)
		age = 0;
	if ((unsigned long long)age * 1000ULL >= ttl || strlen(sp->domain) >= sizeof(p.domain))
		return;
	memset(&p, 0, sizeof(p));
	mp_strlcpy(p.domain, sp->domain, sizeof(p.domain));
	p.score = sp->score;
	mp_strlcpy(p.grade, sp->grade, sizeof(p.grade));
	/* Only complete postures are ever published. */
	p.complete = true;
	mp_pcache_local_store(sh->local, &p, mp_now_ms() + ttl - (unsigned long long)age * 1000ULL,
	    sp->computed_at, sp->host[0] ? sp->host : "another host");
}

static void
shared_free(struct mp_pcache *pc)
{
	struct shared *sh = (struct shared *)pc;

	/* After this returns the writer thread never calls the sink again. */
	mp_store_share_sink(sh->store, NULL, NULL, 0);
	mp_pcache_free(&sh->local);
	free(sh);
}

static const struct mp_pcache_ops shared_ops = { shared_get, shared_put, shared_free };

struct mp_pcache *
mp_pcache_shared_new(struct mp_store *st, unsigned long long ttl_ms, const char *host)
{
	struct shared *sh = xcalloc(1, sizeof(*sh));

	sh->pc.ops = &shared_ops;
	sh->local = mp_pcache_local_new(ttl_ms);
	sh->store = st;
	mp_strlcpy(sh->host, host, sizeof(sh->host));
	mp_store_share_sink(st, shared_sink, sh, (long)(ttl_ms / 1000ULL));
	return &sh->pc;
}
