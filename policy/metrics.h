/*
 * metrics: the milter's counters for Prometheus, process-wide. Each is
 * a 64-bit integer incremented with a relaxed atomic add, so counting
 * takes no lock and costs a few instructions on the message path; a
 * reload never resets them (a new generation counts on). Labels come
 * from small fixed sets (results, actions, reasons), never from a
 * domain name or an address, so the number of series is bounded.
 *
 * mp_metrics_write() renders everything in the Prometheus text
 * exposition format (version 0.0.4); milter/metrics_http serves it.
 * The families and their meaning are listed in README ("Metrics").
 */
#ifndef MP_METRICS_H
#define MP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "decide.h"
#include "util.h"

struct mp_result;

/* Counters that are one series each, or one series of a labelled family. */
enum mp_metric {
	MP_M_SKIP_NO_IP,            /* skipped: the MTA gave no client address */
	MP_M_SKIP_NETWORKS,         /* skipped: client in skip_networks */
	MP_M_SKIP_AUTHENTICATED,    /* skipped: SMTP AUTH (skip_authenticated) */
	MP_M_SKIP_MAIL_FROM,        /* skipped: skip_mail_from with SPF pass */
	MP_M_FORGED_AR,             /* A-R fields with our authserv-id deleted */
	MP_M_DNS_QUERIES,           /* lookups asked of the resolver */
	MP_M_DNS_CACHE_HITS,        /* of those, answered by dnscache */
	MP_M_DNS_TIMEOUTS,          /* sent, and no answer in time */
	MP_M_REDIS_STORED,          /* the script counted the verdict */
	MP_M_REDIS_DUPLICATE,       /* the script saw it counted before */
	MP_M_REDIS_FAILED,          /* the script failed: given up */
	MP_M_REDIS_RECONNECTS,      /* a writer connection set up after a lost one */
	MP_M_REDIS_CONNECT_FAILURES,
	MP_M_REDIS_DROP_FULL,       /* not queued: queue full */
	MP_M_REDIS_DROP_SHUTDOWN,   /* still queued when its generation went */
	MP_M_RELOAD_OK,
	MP_M_RELOAD_FAILED,
	MP_M_NCOUNTERS
};

void mp_metrics_add(enum mp_metric m, uint64_t n);
void mp_metrics_inc(enum mp_metric m);

/* Counts a skipped message and returns why, so that a skip rule's
 * return states both. */
const char *mp_metrics_skip(enum mp_metric m, const char *why);

/* A monotonic clock in microseconds, for mp_metrics_message's start. */
unsigned long long mp_metrics_clock_us(void);

/*
 * One evaluated message: its SPF, DMARC and DKIM results (DKIM: the
 * best signature's, "none" unsigned, "not_verified" when [dkim] verify
 * is off), the action taken (dry run: the one that would have been),
 * and the time since start_us (mp_metrics_clock_us) into the
 * evaluation histogram.
 */
void mp_metrics_message(const struct mp_result *r, enum mp_action action,
    unsigned long long start_us);

/* One pipelined batch of n verdicts sent to Redis (n 0: none). */
void mp_metrics_redis_batch(size_t n);

/* What is read at scrape time rather than counted. */
struct mp_metrics_gauges {
	uint64_t redis_queue_depth;     /* verdicts waiting for the writer */
};

/* Every family, HELP and TYPE lines first, appended to out. */
void mp_metrics_write(struct mp_buf *out, const struct mp_metrics_gauges *g);

#endif
