/*
 * dnscache: see dnscache.h for why it exists and what it keeps.
 *
 * A direct-mapped table: the slot is a hash of the type and the lowercased
 * name, and a new answer evicts the one in its slot. No list to keep in
 * order, no per-hit write beyond the counters, and a hostile sender who
 * makes us look up many names only churns the table, within its bounds.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnscache.h"
#include "metrics.h"
#include "util.h"

struct slot {
	char *name;                     /* lowercased, no trailing dot; NULL: empty */
	enum mp_dns_type type;
	unsigned long long expires_ms;
	size_t bytes;
	struct mp_dns_result *res;
};

struct mp_dnscache {
	pthread_mutex_t mu;
	struct slot slot[MP_DNSCACHE_SLOTS];
	size_t bytes;
	size_t entries;
	unsigned long long hits, misses, stored, refused;
};

struct mp_dnscache *
mp_dnscache_new(void)
{
	struct mp_dnscache *c = xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->mu, NULL);
	return c;
}

/* Under c->mu. */
static void
slot_clear(struct mp_dnscache *c, struct slot *s)
{
	if (s->name == NULL)
		return;
	c->bytes -= s->bytes;
	c->entries--;
	free(s->name);
	mp_dns_result_free(&s->res);
	memset(s, 0, sizeof(*s));
}

void
mp_dnscache_free(struct mp_dnscache **cachep)
{
	struct mp_dnscache *c;

	if (cachep == NULL || (c = *cachep) == NULL)
		return;
	*cachep = NULL;
	for (size_t i = 0; i < MP_DNSCACHE_SLOTS; i++)
		slot_clear(c, &c->slot[i]);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/*
 * The key: lowercased, without one trailing dot. False when the name is
 * too long to be a query name (the caller then neither reads nor writes).
 */
static bool
key_of(const char *name, char key[MP_DNS_NAME_MAX + 1], size_t *len_r)
{
	size_t len = strnlen(name, MP_DNS_NAME_MAX + 2);

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > MP_DNS_NAME_MAX)
		return false;
	memcpy(key, name, len);
	key[len] = '\0';
	mp_ascii_lower(key);
	*len_r = len;
	return true;
}

/* FNV-1a over the type and the key: cheap, and spreads similar names. */
static size_t
slot_index(const char *key, size_t len, enum mp_dns_type type)
{
	uint32_t h = 2166136261u;

	h = (h ^ (uint32_t)type) * 16777619u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	return h % MP_DNSCACHE_SLOTS;
}

struct mp_dns_result *
mp_dnscache_get(struct mp_dnscache *c, const char *name, enum mp_dns_type type,
    unsigned long long now_ms)
{
	char key[MP_DNS_NAME_MAX + 1];
	struct mp_dns_result *r = NULL;
	struct slot *s;
	size_t len;

	if (c == NULL || name == NULL || !key_of(name, key, &len))
		return NULL;
	pthread_mutex_lock(&c->mu);
	s = &c->slot[slot_index(key, len, type)];
	if (s->name != NULL && s->type == type && strcmp(s->name, key) == 0) {
		if (now_ms < s->expires_ms)
			r = mp_dns_result_dup(s->res);
		else
			slot_clear(c, s);
	}
	if (r != NULL)
		c->hits++;
	else
		c->misses++;
	mp_metrics_add(MP_M_DNS_CACHE_HITS, r != NULL);
	pthread_mutex_unlock(&c->mu);
	return r;
}

/*
 * Under c->mu. Expired answers are otherwise dropped only when their own
 * slot is read or reused, and they would hold the byte budget meanwhile.
 * Runs only when the budget is short: at most MP_DNSCACHE_SLOTS steps.
 */
static void
sweep_expired(struct mp_dnscache *c, unsigned long long now_ms)
{
	for (size_t i = 0; i < MP_DNSCACHE_SLOTS; i++)
		if (c->slot[i].name != NULL && now_ms >= c->slot[i].expires_ms)
			slot_clear(c, &c->slot[i]);
}

/*
 * Records, NXDOMAIN and NODATA, not bogus. Not an answer reached through
 * a CNAME either: libunbound reports the TTL of the last record set only,
 * and the alias may expire sooner.
 */
static bool
definite(const struct mp_dns_result *r)
{
	if (r->bogus || r->canonname != NULL)
		return false;
	return r->status == MP_DNS_OK || r->status == MP_DNS_NXDOMAIN ||
	    r->status == MP_DNS_NODATA;
}

void
mp_dnscache_put(struct mp_dnscache *c, const char *name, enum mp_dns_type type,
    const struct mp_dns_result *r, long ttl_s, unsigned long long now_ms)
{
	char key[MP_DNS_NAME_MAX + 1];
	struct mp_dns_result *copy;
	struct slot *s;
	size_t len, bytes;

	if (c == NULL || name == NULL || r == NULL || ttl_s <= 0 || !definite(r) ||
	    !key_of(name, key, &len))
		return;
	if (ttl_s > MP_DNSCACHE_MAX_TTL)
		ttl_s = MP_DNSCACHE_MAX_TTL;
	bytes = mp_dns_result_size(r) + len + 1 + sizeof(struct slot);
	if (bytes > MP_DNSCACHE_MAX_ENTRY) {
		pthread_mutex_lock(&c->mu);
		c->refused++;
		pthread_mutex_unlock(&c->mu);
		return;
	}
	/* Copy outside the lock: other workers keep reading meanwhile. */
	copy = mp_dns_result_dup(r);
	pthread_mutex_lock(&c->mu);
	s = &c->slot[slot_index(key, len, type)];
	if (c->bytes - (s->name != NULL ? s->bytes : 0) + bytes > MP_DNSCACHE_MAX_BYTES)
		sweep_expired(c, now_ms);
	if (c->bytes - (s->name != NULL ? s->bytes : 0) + bytes > MP_DNSCACHE_MAX_BYTES) {
		/* Refused: the answer already in the slot stays. */
		c->refused++;
		pthread_mutex_unlock(&c->mu);
		mp_dns_result_free(&copy);
		return;
	}
	slot_clear(c, s);
	s->name = xstrndup(key, len);
	s->type = type;
	s->expires_ms = now_ms + (unsigned long long)ttl_s * 1000;
	s->bytes = bytes;
	s->res = copy;
	c->bytes += bytes;
	c->entries++;
	c->stored++;
	pthread_mutex_unlock(&c->mu);
}

void
mp_dnscache_stats(struct mp_dnscache *c, struct mp_dnscache_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	st->hits = c->hits;
	st->misses = c->misses;
	st->stored = c->stored;
	st->refused = c->refused;
	st->entries = c->entries;
	st->bytes = c->bytes;
	pthread_mutex_unlock(&c->mu);
}
