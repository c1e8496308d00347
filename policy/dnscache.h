/*
 * dnscache: a small answer cache in front of libunbound.
 *
 * libunbound has its own cache, but reaching it from a milter worker costs
 * a round trip through libunbound's thread and our dispatcher: measured
 * with tests/bench/throughput, about 11 context switches per message for
 * the three or four lookups of one SPF and DMARC evaluation, a third of
 * the milter's CPU. Answers found here cost one mutex and a copy.
 *
 * Only definite answers are kept (records, NXDOMAIN, NODATA; never a
 * failure, a bogus answer or one reached through a CNAME), for the TTL
 * libunbound reports and at most MP_DNSCACHE_MAX_TTL seconds. Memory is
 * bounded twice: a fixed number of slots (a new answer replaces whatever
 * shared its slot) and a byte budget (when expired answers do not make
 * room, an answer that does not fit is not kept). Safe to call from
 * several threads at once.
 */
#ifndef MP_DNSCACHE_H
#define MP_DNSCACHE_H

#include <stddef.h>

#include "dns.h"

#define MP_DNSCACHE_SLOTS       1024
#define MP_DNSCACHE_MAX_BYTES   (2u << 20)   /* all answers together */
#define MP_DNSCACHE_MAX_ENTRY   (16u << 10)  /* one answer */
#define MP_DNSCACHE_MAX_TTL     300          /* seconds */

struct mp_dnscache;

struct mp_dnscache *mp_dnscache_new(void);
void mp_dnscache_free(struct mp_dnscache **cachep);

/*
 * A copy of the answer for name/type (case-insensitive, trailing dot
 * ignored) that the caller frees with mp_dns_result_free, or NULL when
 * there is none or it expired at now_ms (mp_now_ms() in production; a
 * parameter so tests can move the clock).
 */
struct mp_dns_result *mp_dnscache_get(struct mp_dnscache *cache, const char *name,
    enum mp_dns_type type, unsigned long long now_ms);

/* Keeps a copy of r if it is a definite answer, ttl_s > 0 and it fits. */
void mp_dnscache_put(struct mp_dnscache *cache, const char *name,
    enum mp_dns_type type, const struct mp_dns_result *r, long ttl_s,
    unsigned long long now_ms);

struct mp_dnscache_stats {
	unsigned long long hits, misses, stored, refused;
	size_t entries, bytes;
};
void mp_dnscache_stats(struct mp_dnscache *cache, struct mp_dnscache_stats *st_r);
/* The figures of the cache inside a resolver (dns.c). */
void mp_dns_cache_stats(struct mp_dns *dns, struct mp_dnscache_stats *st_r);

#endif
