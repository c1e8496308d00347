/*
 * metrics: each counter moves by exactly what was counted, labels come
 * from the fixed sets, histograms are cumulative with _count equal to
 * the +Inf bucket, and the exposition is well formed (HELP and TYPE
 * before every family's samples, counters ending in _total). promtool
 * checks the real milter's output in integration/metrics.sh.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "metrics.h"
#include "util.h"
#include "verdict.h"

/* The exposition as it is now (caller frees). */
static char *
scrape(uint64_t queue)
{
	struct mp_buf b = MP_BUF_INIT;
	struct mp_metrics_gauges g = { .redis_queue_depth = queue };

	mp_metrics_write(&b, &g);
	return mp_buf_steal(&b);
}

/* The value of one series ("name{labels}"), -1 when it is not there. */
static long long
value_of(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

static long long
now_of(const char *series)
{
	char *t = scrape(0);
	long long v = value_of(t, series);

	free(t);
	return v;
}

/* How much a series moved between two scrapes. */
static long long
delta(const char *before, const char *after, const char *series)
{
	return value_of(after, series) - value_of(before, series);
}

START_TEST(counters_move_by_what_was_counted)
{
	static const char *const s_dns = "mailposture_dns_queries_total";
	static const char *const s_skip =
	    "mailposture_skipped_messages_total{reason=\"skip_networks\"}";
	static const char *const s_drop = "mailposture_redis_dropped_total{reason=\"queue_full\"}";
	long long dns = now_of(s_dns), skip = now_of(s_skip), drop = now_of(s_drop);
	const char *why = "client in skip_networks";

	ck_assert_int_ge(dns, 0);
	ck_assert_int_ge(skip, 0);
	ck_assert_int_ge(drop, 0);
	mp_metrics_inc(MP_M_DNS_QUERIES);
	mp_metrics_add(MP_M_DNS_QUERIES, 41);
	mp_metrics_add(MP_M_DNS_QUERIES, 0);
	/* The skip helper counts, and hands the reason on unchanged. */
	ck_assert_ptr_eq(mp_metrics_skip(MP_M_SKIP_NETWORKS, why), why);
	mp_metrics_inc(MP_M_REDIS_DROP_FULL);
	/* Out of range: ignored, never a write past the array. */
	mp_metrics_add(MP_M_NCOUNTERS, 5);
	ck_assert_int_eq(now_of(s_dns), dns + 42);
	ck_assert_int_eq(now_of(s_skip), skip + 1);
	ck_assert_int_eq(now_of(s_drop), drop + 1);
}
END_TEST

/* A result with the given outcomes and n DKIM signatures. */
static void
result(struct mp_result *r, enum mp_spf_result spf, enum mp_dmarc_result dmarc, bool verified,
    size_t n, const enum mp_dkim_result *sigs)
{
	memset(r, 0, sizeof(*r));
	r->spf.result = spf;
	r->dmarc_result = dmarc;
	r->dkim_verified = verified;
	r->ndkim_sig = n;
	for (size_t i = 0; i < n; i++)
		r->dkim_sig[i].result = sigs[i];
}

START_TEST(messages_by_result_and_action)
{
	static const enum mp_dkim_result fail_pass[] = { MP_DKIM_FAIL, MP_DKIM_PASS };
	static const enum mp_dkim_result temp_fail[] = { MP_DKIM_TEMPERROR, MP_DKIM_FAIL };
	struct mp_result r;
	unsigned long long t = mp_metrics_clock_us();
	char *b = scrape(0), *x;

	result(&r, MP_SPF_PASS, MP_DMARC_PASS, true, 2, fail_pass);
	mp_metrics_message(&r, MP_ACTION_ACCEPT, t);
	result(&r, MP_SPF_FAIL, MP_DMARC_FAIL, true, 2, temp_fail);
	mp_metrics_message(&r, MP_ACTION_REJECT, t);
	result(&r, MP_SPF_SOFTFAIL, MP_DMARC_FAIL, true, 0, NULL);
	mp_metrics_message(&r, MP_ACTION_QUARANTINE, t);
	result(&r, MP_SPF_TEMPERROR, MP_DMARC_TEMPERROR, false, 0, NULL);
	mp_metrics_message(&r, MP_ACTION_TEMPFAIL, t);
	x = scrape(0);

	ck_assert_int_eq(delta(b, x, "mailposture_messages_spf_total{result=\"pass\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_messages_spf_total{result=\"fail\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_messages_spf_total{result=\"softfail\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_messages_spf_total{result=\"temperror\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_messages_spf_total{result=\"none\"}"), 0);
	ck_assert_int_eq(delta(b, x, "mailposture_messages_dmarc_total{result=\"fail\"}"), 2);
	ck_assert_int_eq(delta(b, x, "mailposture_messages_dmarc_total{result=\"pass\"}"), 1);
	/* The best signature counts: a pass beats a fail before it; a fail
	 * beats a temperror; no signature is none; DKIM off is its own. */
	ck_assert_int_eq(delta(b, x, "mailposture_messages_dkim_total{result=\"pass\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_messages_dkim_total{result=\"fail\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_messages_dkim_total{result=\"temperror\"}"), 0);
	ck_assert_int_eq(delta(b, x, "mailposture_messages_dkim_total{result=\"none\"}"), 1);
	ck_assert_int_eq(delta(b, x,
	    "mailposture_messages_dkim_total{result=\"not_verified\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_messages_action_total{action=\"accept\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_messages_action_total{action=\"reject\"}"), 1);
	ck_assert_int_eq(delta(b, x,
	    "mailposture_messages_action_total{action=\"quarantine\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_messages_action_total{action=\"tempfail\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_evaluation_seconds_count"), 4);
	free(b);
	free(x);
}
END_TEST

START_TEST(histograms_are_cumulative)
{
	struct mp_result r;
	char *b = scrape(0), *x;

	result(&r, MP_SPF_NONE, MP_DMARC_NONE, true, 0, NULL);
	/* 7 ms ago: above 5 ms, within 10 ms (3 ms of slack for this call). */
	mp_metrics_message(&r, MP_ACTION_ACCEPT, mp_metrics_clock_us() - 7000);
	/* A start in the future counts as no time at all. */
	mp_metrics_message(&r, MP_ACTION_ACCEPT, mp_metrics_clock_us() + 60000000ULL);
	mp_metrics_redis_batch(0);
	mp_metrics_redis_batch(1);
	mp_metrics_redis_batch(3);
	mp_metrics_redis_batch(256);
	mp_metrics_redis_batch(1000);
	x = scrape(0);
	ck_assert_int_eq(delta(b, x, "mailposture_evaluation_seconds_bucket{le=\"0.001\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_evaluation_seconds_bucket{le=\"0.005\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_evaluation_seconds_bucket{le=\"0.01\"}"), 2);
	ck_assert_int_eq(delta(b, x, "mailposture_evaluation_seconds_bucket{le=\"+Inf\"}"), 2);
	ck_assert_int_eq(delta(b, x, "mailposture_evaluation_seconds_count"), 2);
	/* Seconds, with microseconds. */
	ck_assert_ptr_nonnull(strstr(x, "\nmailposture_evaluation_seconds_sum "));
	ck_assert_ptr_nonnull(strchr(strstr(x, "\nmailposture_evaluation_seconds_sum "), '.'));
	/* A bound holds the observations equal to it (le: less or equal). */
	ck_assert_int_eq(delta(b, x, "mailposture_redis_batch_messages_bucket{le=\"1\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_redis_batch_messages_bucket{le=\"2\"}"), 1);
	ck_assert_int_eq(delta(b, x, "mailposture_redis_batch_messages_bucket{le=\"4\"}"), 2);
	ck_assert_int_eq(delta(b, x, "mailposture_redis_batch_messages_bucket{le=\"256\"}"), 3);
	ck_assert_int_eq(delta(b, x, "mailposture_redis_batch_messages_bucket{le=\"+Inf\"}"), 4);
	ck_assert_int_eq(delta(b, x, "mailposture_redis_batch_messages_sum"), 1260);
	ck_assert_int_eq(delta(b, x, "mailposture_redis_batch_messages_count"), 4);
	free(b);
	free(x);
}
END_TEST

/* The name a sample line belongs to: without labels and without the
 * histogram suffixes. */
static void
family_of(const char *line, char *out, size_t len)
{
	static const char *const suffix[] = { "_bucket", "_sum", "_count" };
	size_t n = strcspn(line, "{ ");

	snprintf(out, len, "%.*s", (int)n, line);
	for (size_t i = 0; i < MP_ARRAY_SIZE(suffix); i++) {
		size_t k = strlen(suffix[i]), m = strlen(out);

		if (m > k && strcmp(out + m - k, suffix[i]) == 0 &&
		    strstr(line, "_total") == NULL) {
			out[m - k] = '\0';
			break;
		}
	}
}

START_TEST(exposition_is_well_formed)
{
	char *x = scrape(17), *save = NULL, help[128] = "", type[128] = "", fam[128];
	size_t nfam = 0, nsamples = 0;

	ck_assert_int_eq(value_of(x, "mailposture_redis_queue_depth"), 17);
	ck_assert_int_eq(x[strlen(x) - 1], '\n');
	for (char *l = strtok_r(x, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
		char name[128], kind[32];

		if (sscanf(l, "# HELP %127s", name) == 1) {
			snprintf(help, sizeof(help), "%s", name);
			nfam++;
			continue;
		}
		if (sscanf(l, "# TYPE %127s %31s", name, kind) == 2) {
			ck_assert_str_eq(name, help);
			snprintf(type, sizeof(type), "%s", name);
			if (strcmp(kind, "counter") == 0)
				ck_assert_ptr_nonnull(strstr(name, "_total"));
			else
				ck_assert(strcmp(kind, "gauge") == 0 ||
				    strcmp(kind, "histogram") == 0);
			continue;
		}
		ck_assert_int_ne(l[0], '#');
		family_of(l, fam, sizeof(fam));
		ck_assert_msg(strcmp(fam, type) == 0, "sample '%s' after TYPE %s", l, type);
		/* Never a domain or an address as a label: only the fixed names. */
		ck_assert(strstr(l, "{") == NULL || strstr(l, "{result=\"") != NULL ||
		    strstr(l, "{action=\"") != NULL || strstr(l, "{reason=\"") != NULL ||
		    strstr(l, "{le=\"") != NULL);
		nsamples++;
	}
	ck_assert_uint_eq(nfam, 17);
	ck_assert_uint_ge(nsamples, 60);
	free(x);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_add_test(tc, counters_move_by_what_was_counted);
	tcase_add_test(tc, messages_by_result_and_action);
	tcase_add_test(tc, histograms_are_cumulative);
	tcase_add_test(tc, exposition_is_well_formed);
	suite_add_tcase(s, tc);
	return s;
}
