/*
 * dnscache: what is kept, for how long, within which bounds; and, through
 * a real resolver and the test NSD, that a repeated lookup is answered
 * from the cache with the same content.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "dns.h"
#include "dnscache.h"
#include "util.h"

/* A TXT answer with n records of len bytes each (bytes may include NUL). */
static struct mp_dns_result *
txt_result(enum mp_dns_status st, size_t n, size_t len, char fill)
{
	struct mp_dns_result *r = xcalloc(1, sizeof(*r));

	r->status = st;
	r->count = n;
	r->rr = n ? xcalloc(n, sizeof(*r->rr)) : NULL;
	for (size_t i = 0; i < n; i++) {
		r->rr[i].type = MP_DNS_TXT;
		r->rr[i].text = xmalloc(len + 1);
		memset(r->rr[i].text, fill, len);
		if (len > 2)
			r->rr[i].text[1] = '\0';
		r->rr[i].text[len] = '\0';
		r->rr[i].text_len = len;
	}
	return r;
}

START_TEST(keeps_a_copy_until_the_ttl)
{
	struct mp_dnscache *c = mp_dnscache_new();
	struct mp_dns_result *r = txt_result(MP_DNS_OK, 2, 10, 'v'), *g;
	struct mp_dnscache_stats st;

	mp_dnscache_put(c, "Spf.Example.COM.", MP_DNS_TXT, r, 60, 1000);
	mp_dns_result_free(&r);         /* the cache kept its own copy */
	g = mp_dnscache_get(c, "spf.example.com", MP_DNS_TXT, 1000 + 59999);
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(g->status, MP_DNS_OK);
	ck_assert_uint_eq(g->count, 2);
	ck_assert_uint_eq(g->rr[1].text_len, 10);
	/* Copied by length: the NUL inside the text survives. */
	ck_assert_int_eq(memcmp(g->rr[1].text, "v\0vvvvvvvv", 10), 0);
	mp_dns_result_free(&g);
	/* Another type of the same name is another answer. */
	ck_assert_ptr_null(mp_dnscache_get(c, "spf.example.com", MP_DNS_A, 2000));
	/* Expired at exactly put time + ttl, and then dropped. */
	ck_assert_ptr_null(mp_dnscache_get(c, "spf.example.com", MP_DNS_TXT, 1000 + 60000));
	mp_dnscache_stats(c, &st);
	ck_assert_uint_eq(st.hits, 1);
	ck_assert_uint_eq(st.misses, 2);
	ck_assert_uint_eq(st.entries, 0);
	ck_assert_uint_eq(st.bytes, 0);
	mp_dnscache_free(&c);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(ttl_is_capped)
{
	struct mp_dnscache *c = mp_dnscache_new();
	struct mp_dns_result *r = txt_result(MP_DNS_NXDOMAIN, 0, 0, 0), *g;
	unsigned long long cap = MP_DNSCACHE_MAX_TTL * 1000ULL;

	mp_dnscache_put(c, "gone.example.com", MP_DNS_TXT, r, 86400, 0);
	g = mp_dnscache_get(c, "gone.example.com", MP_DNS_TXT, cap - 1);
	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(g->status, MP_DNS_NXDOMAIN);
	mp_dns_result_free(&g);
	ck_assert_ptr_null(mp_dnscache_get(c, "gone.example.com", MP_DNS_TXT, cap));
	mp_dns_result_free(&r);
	mp_dnscache_free(&c);
}
END_TEST

START_TEST(only_definite_answers_are_kept)
{
	static const enum mp_dns_status no[] = {
		MP_DNS_SERVFAIL, MP_DNS_TIMEOUT, MP_DNS_ERROR,
	};
	struct mp_dnscache *c = mp_dnscache_new();
	struct mp_dns_result *r;
	struct mp_dnscache_stats st;

	for (size_t i = 0; i < MP_ARRAY_SIZE(no); i++) {
		r = txt_result(no[i], 0, 0, 0);
		mp_dnscache_put(c, "a.example.com", MP_DNS_TXT, r, 60, 0);
		ck_assert_ptr_null(mp_dnscache_get(c, "a.example.com", MP_DNS_TXT, 1));
		mp_dns_result_free(&r);
	}
	/* A bogus answer, whatever its status, and a zero or negative TTL. */
	r = txt_result(MP_DNS_OK, 1, 4, 'x');
	r->bogus = true;
	mp_dnscache_put(c, "a.example.com", MP_DNS_TXT, r, 60, 0);
	r->bogus = false;
	mp_dnscache_put(c, "a.example.com", MP_DNS_TXT, r, 0, 0);
	mp_dnscache_put(c, "a.example.com", MP_DNS_TXT, r, -5, 0);
	ck_assert_ptr_null(mp_dnscache_get(c, "a.example.com", MP_DNS_TXT, 1));
	/* NODATA is definite. */
	r->status = MP_DNS_NODATA;
	mp_dnscache_put(c, "a.example.com", MP_DNS_TXT, r, 60, 0);
	mp_dns_result_free(&r);
	r = mp_dnscache_get(c, "a.example.com", MP_DNS_TXT, 1);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->status, MP_DNS_NODATA);
	mp_dns_result_free(&r);
	mp_dnscache_stats(c, &st);
	ck_assert_uint_eq(st.stored, 1);
	mp_dnscache_free(&c);
}
END_TEST

START_TEST(hostile_names_and_sizes_stay_out)
{
	struct mp_dnscache *c = mp_dnscache_new();
	struct mp_dns_result *r = txt_result(MP_DNS_OK, 1, 8, 'y');
	struct mp_dns_result *big = txt_result(MP_DNS_OK, 8, MP_DNSCACHE_MAX_ENTRY / 4, 'z');
	char longname[MP_DNS_NAME_MAX + 10];
	struct mp_dnscache_stats st;

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	mp_dnscache_put(c, longname, MP_DNS_TXT, r, 60, 0);
	ck_assert_ptr_null(mp_dnscache_get(c, longname, MP_DNS_TXT, 1));
	mp_dnscache_put(c, "", MP_DNS_TXT, r, 60, 0);
	mp_dnscache_put(c, ".", MP_DNS_TXT, r, 60, 0);
	ck_assert_ptr_null(mp_dnscache_get(c, "", MP_DNS_TXT, 1));
	ck_assert_ptr_null(mp_dnscache_get(c, ".", MP_DNS_TXT, 1));
	ck_assert_ptr_null(mp_dnscache_get(c, NULL, MP_DNS_TXT, 1));
	ck_assert_ptr_null(mp_dnscache_get(NULL, "x.example.com", MP_DNS_TXT, 1));
	/* An answer over the per-entry bound is refused, not truncated. */
	mp_dnscache_put(c, "big.example.com", MP_DNS_TXT, big, 60, 0);
	ck_assert_ptr_null(mp_dnscache_get(c, "big.example.com", MP_DNS_TXT, 1));
	mp_dnscache_stats(c, &st);
	ck_assert_uint_eq(st.refused, 1);
	ck_assert_uint_eq(st.entries, 0);
	mp_dns_result_free(&r);
	mp_dns_result_free(&big);
	mp_dnscache_free(&c);
}
END_TEST

/*
 * Thousands of distinct names, as a sender with a macro-laden SPF record
 * could make us ask: the table stays within its slots and byte budget.
 */
START_TEST(many_names_stay_within_bounds)
{
	struct mp_dnscache *c = mp_dnscache_new();
	struct mp_dns_result *r = txt_result(MP_DNS_OK, 4, 3000, 'q');
	struct mp_dnscache_stats st;
	char name[64];

	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "n%d.example.org", i);
		mp_dnscache_put(c, name, MP_DNS_TXT, r, 60, 0);
	}
	mp_dnscache_stats(c, &st);
	ck_assert_uint_le(st.entries, MP_DNSCACHE_SLOTS);
	ck_assert_uint_le(st.bytes, MP_DNSCACHE_MAX_BYTES);
	ck_assert_uint_gt(st.entries, 0);
	ck_assert_uint_gt(st.refused, 0);   /* the byte budget did bind */
	mp_dns_result_free(&r);
	mp_dnscache_free(&c);
}
END_TEST

/*
 * Puts PREFIX0.example.org, PREFIX1... with r and ttl_s until the byte
 * budget refuses one; returns the number of refusals (0: never full).
 */
static unsigned long long
fill_until_refused(struct mp_dnscache *c, const char *prefix,
    const struct mp_dns_result *r, long ttl_s)
{
	struct mp_dnscache_stats st = { 0 };
	char name[64];

	for (int i = 0; i < 2000 && st.refused == 0; i++) {
		snprintf(name, sizeof(name), "%s%d.example.org", prefix, i);
		mp_dnscache_put(c, name, MP_DNS_TXT, r, ttl_s, 0);
		mp_dnscache_stats(c, &st);
	}
	return st.refused;
}

/* A put that does not fit leaves the answer it would have replaced. */
START_TEST(refused_put_keeps_the_old_answer)
{
	struct mp_dnscache *c = mp_dnscache_new();
	struct mp_dns_result *small = txt_result(MP_DNS_OK, 1, 16, 's');
	struct mp_dns_result *big = txt_result(MP_DNS_OK, 4, 3000, 'b'), *g;

	mp_dnscache_put(c, "keep.example.org", MP_DNS_TXT, small, 60, 0);
	ck_assert_uint_gt(fill_until_refused(c, "fill", big, 60), 0);
	mp_dnscache_put(c, "keep.example.org", MP_DNS_TXT, big, 60, 0);
	g = mp_dnscache_get(c, "keep.example.org", MP_DNS_TXT, 1);
	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(g->rr[0].text_len, 16);
	mp_dns_result_free(&g);
	mp_dns_result_free(&small);
	mp_dns_result_free(&big);
	mp_dnscache_free(&c);
}
END_TEST

/* Expired answers give their bytes back when the budget runs short. */
START_TEST(expired_answers_make_room)
{
	struct mp_dnscache *c = mp_dnscache_new();
	struct mp_dns_result *big = txt_result(MP_DNS_OK, 4, 3000, 'b'), *g;
	struct mp_dnscache_stats st;

	ck_assert_uint_gt(fill_until_refused(c, "old", big, 1), 0);
	/* A second later all of them have expired: the new one fits. */
	mp_dnscache_put(c, "new.example.org", MP_DNS_TXT, big, 60, 1000);
	g = mp_dnscache_get(c, "new.example.org", MP_DNS_TXT, 1001);
	ck_assert_ptr_nonnull(g);
	mp_dns_result_free(&g);
	mp_dnscache_stats(c, &st);
	ck_assert_uint_eq(st.entries, 1);
	mp_dns_result_free(&big);
	mp_dnscache_free(&c);
}
END_TEST

/* libunbound gives the TTL of the last record set only: not kept. */
START_TEST(answers_through_a_cname_are_not_kept)
{
	struct mp_dnscache *c = mp_dnscache_new();
	struct mp_dns_result *r = txt_result(MP_DNS_OK, 1, 8, 'c');

	r->canonname = xstrdup("target.example.org");
	mp_dnscache_put(c, "alias.example.org", MP_DNS_TXT, r, 60, 0);
	ck_assert_ptr_null(mp_dnscache_get(c, "alias.example.org", MP_DNS_TXT, 1));
	mp_dns_result_free(&r);
	mp_dnscache_free(&c);
}
END_TEST

/* Through the resolver: the second lookup is a hit with equal content. */
START_TEST(resolver_answers_repeats_from_the_cache)
{
	const char *up = test_env("MP_TEST_RESOLVER");
	struct mp_dns_options opt = { up, 2000, NULL, false };
	char err[256];
	struct mp_dns *dns = mp_dns_new(&opt, err, sizeof(err));
	struct mp_dns_result *a, *b;
	struct mp_dnscache_stats st0, st1;

	ck_assert_msg(dns != NULL, "%s", err);
	a = mp_dns_query(dns, NULL, "pass.example.com", MP_DNS_TXT);
	ck_assert_int_eq(a->status, MP_DNS_OK);
	mp_dns_cache_stats(dns, &st0);
	b = mp_dns_query(dns, NULL, "PASS.example.com.", MP_DNS_TXT);
	mp_dns_cache_stats(dns, &st1);
	ck_assert_uint_eq(st1.hits, st0.hits + 1);
	ck_assert_int_eq(b->status, a->status);
	ck_assert_uint_eq(b->count, a->count);
	for (size_t i = 0; i < a->count; i++) {
		ck_assert_uint_eq(b->rr[i].text_len, a->rr[i].text_len);
		ck_assert_int_eq(memcmp(b->rr[i].text, a->rr[i].text, a->rr[i].text_len), 0);
	}
	mp_dns_result_free(&a);
	mp_dns_result_free(&b);
	/* A name that does not exist is remembered as such. */
	a = mp_dns_query(dns, NULL, "no-such-name.example.com", MP_DNS_TXT);
	b = mp_dns_query(dns, NULL, "no-such-name.example.com", MP_DNS_TXT);
	ck_assert_int_eq(a->status, MP_DNS_NXDOMAIN);
	ck_assert_int_eq(b->status, MP_DNS_NXDOMAIN);
	mp_dns_cache_stats(dns, &st0);
	ck_assert_uint_eq(st0.hits, st1.hits + 1);
	mp_dns_result_free(&a);
	mp_dns_result_free(&b);
	mp_dns_free(&dns);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("dnscache");
	TCase *tc = tcase_create("dnscache");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, keeps_a_copy_until_the_ttl);
	tcase_add_test(tc, ttl_is_capped);
	tcase_add_test(tc, only_definite_answers_are_kept);
	tcase_add_test(tc, hostile_names_and_sizes_stay_out);
	tcase_add_test(tc, many_names_stay_within_bounds);
	tcase_add_test(tc, refused_put_keeps_the_old_answer);
	tcase_add_test(tc, expired_answers_make_room);
	tcase_add_test(tc, answers_through_a_cname_are_not_kept);
	tcase_add_test(tc, resolver_answers_repeats_from_the_cache);
	suite_add_tcase(s, tc);
	return s;
}
