#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "posture.h"

static const struct {
	int score;
	const char *grade;
} grades[] = {
	{ 100, "A+" }, { 99, "A" }, { 90, "A" }, { 89, "A-" }, { 85, "A-" }, { 84, "B+" },
	{ 80, "B+" }, { 79, "B" }, { 70, "B" }, { 69, "B-" }, { 65, "B-" }, { 64, "C+" },
	{ 60, "C+" }, { 59, "C" }, { 50, "C" }, { 49, "C-" }, { 45, "C-" }, { 44, "D+" },
	{ 40, "D+" }, { 39, "D" }, { 30, "D" }, { 29, "D-" }, { 25, "D-" }, { 24, "F" },
	{ 0, "F" },
};

START_TEST(grade_scale)
{
	ck_assert_str_eq(mp_posture_grade(grades[_i].score), grades[_i].grade);
}
END_TEST

struct env {
	struct mp_dns *dns;
	struct mp_psl *psl;
	struct mp_spf *spf;
	struct mp_dmarc *dmarc;
};

static void
env_open(struct env *e, const char *resolver, unsigned timeout_ms)
{
	struct mp_dns_options o = { resolver, timeout_ms, NULL, false };
	char err[256];

	ck_assert_msg(resolver != NULL, "MP_TEST_RESOLVER is not set: run under tests/harness/with-servers");
	e->dns = mp_dns_new(&o, err, sizeof(err));
	ck_assert_msg(e->dns != NULL, "%s", err);
	e->psl = mp_psl_load(NULL, err, sizeof(err));
	ck_assert_msg(e->psl != NULL, "%s", err);
	e->spf = mp_spf_new(e->dns);
	e->dmarc = mp_dmarc_new(e->dns);
}

static void
env_close(struct env *e)
{
	mp_dmarc_free(&e->dmarc);
	mp_spf_free(&e->spf);
	mp_psl_free(&e->psl);
	mp_dns_free(&e->dns);
}

static int
sum(const struct mp_posture *p)
{
	int t = 0;

	for (size_t i = 0; i < p->nitems; i++) {
		ck_assert_int_le(p->item[i].points, p->item[i].max);
		t += p->item[i].points;
	}
	return t;
}

static int
points(const struct mp_posture *p, const char *key)
{
	for (size_t i = 0; i < p->nitems; i++)
		if (strcmp(p->item[i].key, key) == 0)
			return p->item[i].points;
	ck_abort_msg("no item %s", key);
	return -1;
}

static const struct {
	const char *domain;
	int score;
	const char *grade;
} scored[] = {
	/* -all, p=reject with rua and adkim=s, MTA-STS and TLS-RPT: everything. */
	{ "pass.example.com", 100, "A+" },
	/* -all 45; valid 10 + inherited sp=quarantine 15 + sp weaker than p 0 + rua 5 = 30. */
	{ "news.example.com", 75, "B" },
	/* +all: 15 + 0 + 10 + 5; p=none: 10 + 4 + sp 4 = 48. */
	{ "weak.example.com", 48, "C-" },
	/* p=quarantine (pct=50 is no longer policy): 45 + 10 + 15 + 4 = 74. */
	{ "half.example.com", 74, "B" },
	{ "norec.example.net", 0, "F" },
};

START_TEST(scores_from_zones)
{
	struct env e;
	struct mp_posture *p = xmalloc(sizeof(*p));

	env_open(&e, test_env("MP_TEST_RESOLVER"), 2000);
	mp_posture_evaluate(e.spf, e.dmarc, e.dns, NULL, scored[_i].domain, p);
	ck_assert_msg(p->score == scored[_i].score, "%s: score %d, want %d",
	    scored[_i].domain, p->score, scored[_i].score);
	ck_assert_str_eq(p->grade, scored[_i].grade);
	ck_assert(p->complete);
	ck_assert_int_eq(sum(p), p->score);
	free(p);
	env_close(&e);
}
END_TEST

START_TEST(breakdown_names_the_weak_spots)
{
	struct env e;
	struct mp_posture *p = xmalloc(sizeof(*p));

	env_open(&e, test_env("MP_TEST_RESOLVER"), 2000);
	mp_posture_evaluate(e.spf, e.dmarc, e.dns, NULL, "weak.example.com", p);
	ck_assert_int_eq(points(p, "spf.all"), 0);
	ck_assert_int_eq(points(p, "dmarc.policy"), 4);
	ck_assert_int_eq(points(p, "mta_sts"), 0);
	free(p);
	env_close(&e);
}
END_TEST

/* pct, rf and ri earn nothing and are noted as gone (RFC 9989). */
static const char *
text(const struct mp_posture *p, const char *key)
{
	for (size_t i = 0; i < p->nitems; i++)
		if (strcmp(p->item[i].key, key) == 0)
			return p->item[i].note;
	ck_abort_msg("no item %s", key);
	return NULL;
}

START_TEST(removed_tags_are_noted)
{
	struct env e;
	struct mp_posture *p = xmalloc(sizeof(*p));

	env_open(&e, test_env("MP_TEST_RESOLVER"), 2000);
	mp_posture_evaluate(e.spf, e.dmarc, e.dns, NULL, "half.example.com", p);
	ck_assert_msg(strstr(text(p, "dmarc.record"), "pct: removed in RFC 9989") != NULL, "%s",
	    text(p, "dmarc.record"));
	for (size_t i = 0; i < p->nitems; i++)
		ck_assert(strstr(p->item[i].key, "pct") == NULL);
	/* inherited: the policy says where it came from */
	mp_posture_evaluate(e.spf, e.dmarc, e.dns, NULL, "news.example.com", p);
	ck_assert_msg(strstr(text(p, "dmarc.policy"), "sp=quarantine of _dmarc.example.com") !=
	    NULL, "%s", text(p, "dmarc.policy"));
	free(p);
	env_close(&e);
}
END_TEST

START_TEST(failed_lookups_are_incomplete_not_missing)
{
	struct env e;
	struct mp_posture *p = xmalloc(sizeof(*p));

	/* Nothing listens on the discard port: every lookup fails. */
	env_open(&e, "127.0.0.1@9", 300);
	mp_posture_evaluate(e.spf, e.dmarc, e.dns, NULL, "pass.example.com", p);
	ck_assert(!p->complete);
	ck_assert_int_eq(p->spf.status, MP_SPF_TEMPERROR);
	ck_assert_int_eq(p->dmarc_status, MP_DMARC_TEMPERROR);
	ck_assert(mp_dns_status_is_temp(p->mta_sts));
	ck_assert_ptr_nonnull(strstr(p->item[0].note, "could not check"));
	free(p);
	env_close(&e);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("posture");
	TCase *tc = tcase_create("posture");

	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, grade_scale, 0, (int)MP_ARRAY_SIZE(grades));
	tcase_add_loop_test(tc, scores_from_zones, 0, (int)MP_ARRAY_SIZE(scored));
	tcase_add_test(tc, breakdown_names_the_weak_spots);
	tcase_add_test(tc, removed_tags_are_noted);
	tcase_add_test(tc, failed_lookups_are_incomplete_not_missing);
	suite_add_tcase(s, tc);
	return s;
}
