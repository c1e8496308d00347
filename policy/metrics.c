/*
 * metrics: the counters (relaxed C11 atomics: each series only ever
 * grows, and no reader needs two of them consistent with each other)
 * and their exposition. Histograms keep one count per bucket, not
 * cumulative ones, so an observation is one add; the cumulative counts
 * and _count are computed from one reading of the buckets at scrape
 * time, which keeps each scrape's histogram self-consistent.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "verdict.h"

#define HIST_MAX 16     /* bounds of a histogram, at most */

/* One family of the exposition. */
enum fam_kind {
	FAM_COUNTERS,       /* series of enum mp_metric, in counter_def */
	FAM_SPF,            /* evaluated messages by SPF result */
	FAM_DMARC,
	FAM_DKIM,
	FAM_ACTION,
	FAM_HIST_EVAL,
	FAM_HIST_BATCH,
	FAM_QUEUE,          /* gauge */
};

struct fam {
	const char *name;
	const char *type;
	enum fam_kind kind;
	const char *help;
};

static const struct fam families[] = {
	{ "mailposture_messages_spf_total", "counter", FAM_SPF,
	    "Messages evaluated, by SPF result of MAIL FROM." },
	{ "mailposture_messages_dmarc_total", "counter", FAM_DMARC,
	    "Messages evaluated, by DMARC result." },
	{ "mailposture_messages_dkim_total", "counter", FAM_DKIM,
	    "Messages evaluated, by the best DKIM signature result (none: unsigned; "
	    "not_verified: [dkim] verify = no)." },
	{ "mailposture_messages_action_total", "counter", FAM_ACTION,
	    "Messages evaluated, by the action taken (in a dry run: the one that "
	    "would have been)." },
	{ "mailposture_skipped_messages_total", "counter", FAM_COUNTERS,
	    "Messages exempt from evaluation, by the rule that exempted them." },
	{ "mailposture_forged_authres_removed_total", "counter", FAM_COUNTERS,
	    "Authentication-Results fields carrying our authserv-id that were deleted." },
	{ "mailposture_evaluation_seconds", "histogram", FAM_HIST_EVAL,
	    "Time from the start of the evaluation to the reply at end of message." },
	{ "mailposture_dns_queries_total", "counter", FAM_COUNTERS,
	    "DNS lookups asked of the resolver, cache hits included." },
	{ "mailposture_dns_cache_hits_total", "counter", FAM_COUNTERS,
	    "DNS lookups answered by the milter's own answer cache." },
	{ "mailposture_dns_timeouts_total", "counter", FAM_COUNTERS,
	    "DNS queries sent that got no answer within the timeout or deadline." },
	{ "mailposture_redis_writes_total", "counter", FAM_COUNTERS,
	    "Verdicts the Redis script ran for: stored, duplicate (counted before), "
	    "failed (a script error, given up)." },
	{ "mailposture_redis_batch_messages", "histogram", FAM_HIST_BATCH,
	    "Verdicts per pipelined batch sent to Redis." },
	{ "mailposture_redis_reconnects_total", "counter", FAM_COUNTERS,
	    "Redis writer connections set up again after one was lost." },
	{ "mailposture_redis_connect_failures_total", "counter", FAM_COUNTERS,
	    "Redis writer connection attempts that failed." },
	{ "mailposture_redis_queue_depth", "gauge", FAM_QUEUE,
	    "Verdicts waiting for the Redis writer of the current configuration." },
	{ "mailposture_redis_dropped_total", "counter", FAM_COUNTERS,
	    "Verdicts not stored: queue_full (the queue was full), shutdown (still "
	    "queued when the store stopped)." },
	{ "mailposture_reloads_total", "counter", FAM_COUNTERS,
	    "Configuration reloads (SIGHUP), by result." },
};

/* The family and labels of each plain counter. */
static const struct {
	const char *family;
	const char *labels;         /* "" for none */
} counter_def[MP_M_NCOUNTERS] = {
	[MP_M_SKIP_NO_IP] = { "mailposture_skipped_messages_total",
	    "{reason=\"no_client_ip\"}" },
	[MP_M_SKIP_NETWORKS] = { "mailposture_skipped_messages_total",
	    "{reason=\"skip_networks\"}" },
	[MP_M_SKIP_AUTHENTICATED] = { "mailposture_skipped_messages_total",
	    "{reason=\"authenticated\"}" },
	[MP_M_SKIP_MAIL_FROM] = { "mailposture_skipped_messages_total",
	    "{reason=\"skip_mail_from\"}" },
	[MP_M_FORGED_AR] = { "mailposture_forged_authres_removed_total", "" },
	[MP_M_DNS_QUERIES] = { "mailposture_dns_queries_total", "" },
	[MP_M_DNS_CACHE_HITS] = { "mailposture_dns_cache_hits_total", "" },
	[MP_M_DNS_TIMEOUTS] = { "mailposture_dns_timeouts_total", "" },
	[MP_M_REDIS_STORED] = { "mailposture_redis_writes_total", "{result=\"stored\"}" },
	[MP_M_REDIS_DUPLICATE] = { "mailposture_redis_writes_total", "{result=\"duplicate\"}" },
	[MP_M_REDIS_FAILED] = { "mailposture_redis_writes_total", "{result=\"failed\"}" },
	[MP_M_REDIS_RECONNECTS] = { "mailposture_redis_reconnects_total", "" },
	[MP_M_REDIS_CONNECT_FAILURES] = { "mailposture_redis_connect_failures_total", "" },
	[MP_M_REDIS_DROP_FULL] = { "mailposture_redis_dropped_total",
	    "{reason=\"queue_full\"}" },
	[MP_M_REDIS_DROP_SHUTDOWN] = { "mailposture_redis_dropped_total",
	    "{reason=\"shutdown\"}" },
	[MP_M_RELOAD_OK] = { "mailposture_reloads_total", "{result=\"ok\"}" },
	[MP_M_RELOAD_FAILED] = { "mailposture_reloads_total", "{result=\"failed\"}" },
};

/* Bounds, and the "le" label that spells each; the last bucket is +Inf. */
struct hist_def {
	const unsigned long long *bound;
	const char *const *le;
	size_t n;
	bool micro;                 /* observations in microseconds, shown in seconds */
};

static const unsigned long long eval_bound[] = { 1000, 2500, 5000, 10000, 25000, 50000,
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000 };
static const char *const eval_le[] = { "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
	"0.1", "0.25", "0.5", "1", "2.5", "5", "10" };
static const unsigned long long batch_bound[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256 };
static const char *const batch_le[] = { "1", "2", "4", "8", "16", "32", "64", "128", "256" };

static const struct hist_def eval_def = { eval_bound, eval_le, MP_ARRAY_SIZE(eval_bound), true };
static const struct hist_def batch_def = { batch_bound, batch_le, MP_ARRAY_SIZE(batch_bound),
	false };

struct hist {
	_Atomic uint64_t bucket[HIST_MAX + 1];
	_Atomic uint64_t sum;
};

#define N_SPF (MP_SPF_PERMERROR + 1)
#define N_DMARC (MP_DMARC_PERMERROR + 1)
#define DKIM_NOT_VERIFIED (MP_DKIM_PERMERROR + 1)
#define N_DKIM (DKIM_NOT_VERIFIED + 1)
#define N_ACTION (MP_ACTION_TEMPFAIL + 1)

static _Atomic uint64_t counters[MP_M_NCOUNTERS];
static _Atomic uint64_t by_spf[N_SPF], by_dmarc[N_DMARC], by_dkim[N_DKIM];
static _Atomic uint64_t by_action[N_ACTION];
static struct hist eval_hist, batch_hist;

static void
bump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t
get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

void
mp_metrics_add(enum mp_metric m, uint64_t n)
{
	if ((unsigned)m < MP_M_NCOUNTERS && n > 0)
		bump(&counters[m], n);
}

void
mp_metrics_inc(enum mp_metric m)
{
	mp_metrics_add(m, 1);
}

const char *
mp_metrics_skip(enum mp_metric m, const char *why)
{
	mp_metrics_inc(m);
	return why;
}

unsigned long long
mp_metrics_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
}

static void
observe(struct hist *h, const struct hist_def *d, unsigned long long v)
{
	size_t i = 0;

	while (i < d->n && v > d->bound[i])
		i++;
	bump(&h->bucket[i], 1);
	bump(&h->sum, v);
}

/* The result a message's DKIM signatures add up to: the best of them. */
static size_t
dkim_index(const struct mp_result *r)
{
	static const enum mp_dkim_result best_first[] = { MP_DKIM_PASS, MP_DKIM_FAIL,
		MP_DKIM_POLICY, MP_DKIM_PERMERROR, MP_DKIM_TEMPERROR, MP_DKIM_NEUTRAL };

	if (!r->dkim_verified)
		return DKIM_NOT_VERIFIED;
	for (size_t k = 0; k < MP_ARRAY_SIZE(best_first); k++)
		for (size_t i = 0; i < r->ndkim_sig && i < MP_DKIM_MAX; i++)
			if (r->dkim_sig[i].result == best_first[k])
				return (size_t)best_first[k];
	return MP_DKIM_NONE;
}

void
mp_metrics_message(const struct mp_result *r, enum mp_action action,
    unsigned long long start_us)
{
	unsigned long long now = mp_metrics_clock_us();

	if ((unsigned)r->spf.result < N_SPF)
		bump(&by_spf[r->spf.result], 1);
	if ((unsigned)r->dmarc_result < N_DMARC)
		bump(&by_dmarc[r->dmarc_result], 1);
	bump(&by_dkim[dkim_index(r)], 1);
	if ((unsigned)action < N_ACTION)
		bump(&by_action[action], 1);
	observe(&eval_hist, &eval_def, now > start_us ? now - start_us : 0);
}

void
mp_metrics_redis_batch(size_t n)
{
	if (n > 0)
		observe(&batch_hist, &batch_def, n);
}

/* ---- exposition -------------------------------------------------------- */

static const char *
spf_label(size_t i)
{
	return mp_spf_result_str((enum mp_spf_result)i);
}

static const char *
dmarc_label(size_t i)
{
	return mp_dmarc_result_str((enum mp_dmarc_result)i);
}

static const char *
dkim_label(size_t i)
{
	return i == DKIM_NOT_VERIFIED ? "not_verified" : mp_dkim_result_str((enum mp_dkim_result)i);
}

static const char *
action_label(size_t i)
{
	return mp_action_str((enum mp_action)i);
}

static void
write_by(struct mp_buf *out, const char *name, const char *label, _Atomic uint64_t *v, size_t n,
    const char *(*str)(size_t))
{
	for (size_t i = 0; i < n; i++)
		mp_buf_printf(out, "%s{%s=\"%s\"} %llu\n", name, label, str(i),
		    (unsigned long long)get(&v[i]));
}

static void
write_hist(struct mp_buf *out, const char *name, struct hist *h, const struct hist_def *d)
{
	uint64_t b[HIST_MAX + 1], cum = 0, sum;

	for (size_t i = 0; i <= d->n; i++)
		b[i] = get(&h->bucket[i]);
	sum = get(&h->sum);
	for (size_t i = 0; i <= d->n; i++) {
		cum += b[i];
		mp_buf_printf(out, "%s_bucket{le=\"%s\"} %llu\n", name,
		    i < d->n ? d->le[i] : "+Inf", (unsigned long long)cum);
	}
	if (d->micro)
		mp_buf_printf(out, "%s_sum %llu.%06llu\n", name,
		    (unsigned long long)(sum / 1000000), (unsigned long long)(sum % 1000000));
	else
		mp_buf_printf(out, "%s_sum %llu\n", name, (unsigned long long)sum);
	mp_buf_printf(out, "%s_count %llu\n", name, (unsigned long long)cum);
}

static void
write_family(struct mp_buf *out, const struct fam *f, const struct mp_metrics_gauges *g)
{
	switch (f->kind) {
	case FAM_COUNTERS:
		for (size_t i = 0; i < MP_M_NCOUNTERS; i++)
			if (strcmp(counter_def[i].family, f->name) == 0)
				mp_buf_printf(out, "%s%s %llu\n", f->name, counter_def[i].labels,
				    (unsigned long long)get(&counters[i]));
		break;
	case FAM_SPF:
		write_by(out, f->name, "result", by_spf, N_SPF, spf_label);
		break;
	case FAM_DMARC:
		write_by(out, f->name, "result", by_dmarc, N_DMARC, dmarc_label);
		break;
	case FAM_DKIM:
		write_by(out, f->name, "result", by_dkim, N_DKIM, dkim_label);
		break;
	case FAM_ACTION:
		write_by(out, f->name, "action", by_action, N_ACTION, action_label);
		break;
	case FAM_HIST_EVAL:
		write_hist(out, f->name, &eval_hist, &eval_def);
		break;
	case FAM_HIST_BATCH:
		write_hist(out, f->name, &batch_hist, &batch_def);
		break;
	case FAM_QUEUE:
		mp_buf_printf(out, "%s %llu\n", f->name,
		    (unsigned long long)(g ? g->redis_queue_depth : 0));
		break;
	}
}

void
mp_metrics_write(struct mp_buf *out, const struct mp_metrics_gauges *g)
{
	for (size_t i = 0; i < MP_ARRAY_SIZE(families); i++) {
		const struct fam *f = &families[i];

		mp_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
		    f->type);
		write_family(out, f, g);
	}
}
