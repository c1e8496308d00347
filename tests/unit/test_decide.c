/*
 * decide: the [milter] actions applied to the facts of an evaluation,
 * without DNS: each case builds an mp_result by hand, so every branch
 * and every order between rules is checked on its own.
 */
#include "config.h"

#include <string.h>

#include "check_main.h"
#include "decide.h"
#include "verdict.h"

/* A result: SPF result, DMARC result and disposition, a problem. */
static void
result(struct mp_result *r, enum mp_spf_result spf, enum mp_dmarc_result dmarc,
    enum mp_dmarc_policy dis, enum mp_problem problem)
{
	memset(r, 0, sizeof(*r));
	strcpy(r->ip, "198.51.100.7");
	strcpy(r->from_domain, "victim.example.com");
	strcpy(r->spf.domain, "bounce.example.net");
	r->spf.result = spf;
	r->dmarc_result = dmarc;
	r->dmarc.disposition = dis;
	strcpy(r->dmarc.policy_domain, "victim.example.com");
	r->problem = problem;
	if (problem != MP_PROBLEM_NONE)
		strcpy(r->problem_text, "the problem");
}

static struct mp_policy *
policy(const char *const *settings)
{
	struct mp_conf *c = mp_conf_new_defaults();
	struct mp_policy *p;
	char err[256];

	for (size_t i = 0; settings[i] != NULL; i += 2)
		ck_assert_msg(mp_conf_set(c, "milter", settings[i], settings[i + 1], err,
		    sizeof(err)), "%s", err);
	p = mp_policy_new(c);
	mp_conf_unref(&c);
	return p;
}

#define S(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NONE_SET ((const char *const[]){ NULL })

static const struct {
	const char *desc;
	const char *const *settings;
	enum mp_spf_result spf;
	enum mp_dmarc_result dmarc;
	enum mp_dmarc_policy dis;
	enum mp_problem problem;
	bool could_align;
	enum mp_action action;
	const char *reply;      /* prefix */
} cases[] = {
	{ "defaults never refuse", NONE_SET, MP_SPF_FAIL, MP_DMARC_FAIL, MP_DMARC_P_REJECT,
	  MP_PROBLEM_NONE, false, MP_ACTION_ACCEPT, "accepted" },
	{ "p=reject failure rejected", S("dmarc_reject", "reject"), MP_SPF_FAIL, MP_DMARC_FAIL,
	  MP_DMARC_P_REJECT, MP_PROBLEM_NONE, false, MP_ACTION_REJECT,
	  "550 5.7.1 Message rejected by the DMARC policy of victim.example.com" },
	{ "p=reject failure quarantined", S("dmarc_reject", "quarantine"), MP_SPF_FAIL,
	  MP_DMARC_FAIL, MP_DMARC_P_REJECT, MP_PROBLEM_NONE, false, MP_ACTION_QUARANTINE,
	  "DMARC p=reject, quarantined" },
	{ "a disposition lowered by pct is not rejected", S("dmarc_reject", "reject"),
	  MP_SPF_FAIL, MP_DMARC_FAIL, MP_DMARC_P_QUARANTINE, MP_PROBLEM_NONE, false,
	  MP_ACTION_ACCEPT, "accepted" },
	{ "p=quarantine failure quarantined", S("dmarc_quarantine", "quarantine"),
	  MP_SPF_NONE, MP_DMARC_FAIL, MP_DMARC_P_QUARANTINE, MP_PROBLEM_NONE, false,
	  MP_ACTION_QUARANTINE, "DMARC p=quarantine" },
	{ "spf_fail rejects without a DMARC pass", S("spf_fail", "reject"), MP_SPF_FAIL,
	  MP_DMARC_NONE, MP_DMARC_P_NONE, MP_PROBLEM_NONE, false, MP_ACTION_REJECT,
	  "550 5.7.23 SPF check failed for bounce.example.net from 198.51.100.7" },
	{ "spf_fail spares a DMARC pass", S("spf_fail", "reject"), MP_SPF_FAIL, MP_DMARC_PASS,
	  MP_DMARC_P_NONE, MP_PROBLEM_NONE, false, MP_ACTION_ACCEPT, "accepted" },
	{ "DMARC temperror tempfails", S("temperror", "tempfail"), MP_SPF_PASS,
	  MP_DMARC_TEMPERROR, MP_DMARC_P_NONE, MP_PROBLEM_NONE, false, MP_ACTION_TEMPFAIL,
	  "451 4.7.5 Temporary DNS failure checking victim.example.com" },
	{ "SPF temperror of an aligned domain tempfails", S("temperror", "tempfail"),
	  MP_SPF_TEMPERROR, MP_DMARC_FAIL, MP_DMARC_P_REJECT, MP_PROBLEM_NONE, true,
	  MP_ACTION_TEMPFAIL, "451 4.7.5" },
	{ "SPF temperror that could not align does not soften a reject",
	  S("temperror", "tempfail", "dmarc_reject", "reject"), MP_SPF_TEMPERROR, MP_DMARC_FAIL,
	  MP_DMARC_P_REJECT, MP_PROBLEM_NONE, false, MP_ACTION_REJECT, "550 5.7.1" },
	{ "SPF temperror counts for spf_fail even unaligned",
	  S("temperror", "tempfail", "spf_fail", "reject"), MP_SPF_TEMPERROR, MP_DMARC_NONE,
	  MP_DMARC_P_NONE, MP_PROBLEM_NONE, false, MP_ACTION_TEMPFAIL, "451 4.7.5" },
	{ "SPF temperror harmless after a DMARC pass", S("temperror", "tempfail"),
	  MP_SPF_TEMPERROR, MP_DMARC_PASS, MP_DMARC_P_NONE, MP_PROBLEM_NONE, true,
	  MP_ACTION_ACCEPT, "accepted" },
	{ "no From rejected", S("no_from", "reject"), MP_SPF_PASS, MP_DMARC_PERMERROR,
	  MP_DMARC_P_NONE, MP_PROBLEM_NO_FROM, false, MP_ACTION_REJECT,
	  "550 5.7.1 Message rejected: the problem" },
	{ "several From rejected", S("multiple_from", "reject"), MP_SPF_PASS, MP_DMARC_PASS,
	  MP_DMARC_P_NONE, MP_PROBLEM_MULTI_FROM, false, MP_ACTION_REJECT, "550 5.7.1" },
	{ "an unusable From is a p=reject failure", S("dmarc_reject", "reject"), MP_SPF_PASS,
	  MP_DMARC_PERMERROR, MP_DMARC_P_NONE, MP_PROBLEM_BAD_FROM, false, MP_ACTION_REJECT,
	  "550 5.7.1 Message rejected: the problem" },
	{ "an unevaluated From beside others is quarantined", S("dmarc_reject", "quarantine"),
	  MP_SPF_PASS, MP_DMARC_PERMERROR, MP_DMARC_P_NONE, MP_PROBLEM_MULTI_UNKNOWN, false,
	  MP_ACTION_QUARANTINE, "the problem" },
	{ "an unusable From comes before a tempfail",
	  S("dmarc_reject", "reject", "temperror", "tempfail"), MP_SPF_TEMPERROR,
	  MP_DMARC_TEMPERROR, MP_DMARC_P_NONE, MP_PROBLEM_MULTI_UNKNOWN, true, MP_ACTION_REJECT,
	  "550 5.7.1" },
	{ "an unusable From under dmarc_reject=none passes to the next rule",
	  S("spf_fail", "reject"), MP_SPF_FAIL, MP_DMARC_PERMERROR, MP_DMARC_P_NONE,
	  MP_PROBLEM_BAD_FROM, false, MP_ACTION_REJECT, "550 5.7.23" },
};

START_TEST(decide_table)
{
	struct mp_policy *p = policy(cases[_i].settings);
	struct mp_result *r = xmalloc(sizeof(*r));
	struct mp_decision d;

	result(r, cases[_i].spf, cases[_i].dmarc, cases[_i].dis, cases[_i].problem);
	r->spf_could_align = cases[_i].could_align;
	mp_decide(p, r, &d);
	ck_assert_msg(d.action == cases[_i].action, "%s: %s (%s)", cases[_i].desc,
	    mp_action_str(d.action), d.reply);
	ck_assert_msg(strncmp(d.reply, cases[_i].reply, strlen(cases[_i].reply)) == 0,
	    "%s: reply \"%s\"", cases[_i].desc, d.reply);
	free(r);
	mp_policy_free(&p);
	ck_assert_ptr_null(p);
}
END_TEST

START_TEST(action_names)
{
	ck_assert_str_eq(mp_action_str(MP_ACTION_ACCEPT), "accept");
	ck_assert_str_eq(mp_action_str(MP_ACTION_QUARANTINE), "quarantine");
	ck_assert_str_eq(mp_action_str(MP_ACTION_REJECT), "reject");
	ck_assert_str_eq(mp_action_str(MP_ACTION_TEMPFAIL), "tempfail");
}
END_TEST

/* A From domain no one could read never reaches a reply as text. */
START_TEST(no_from_domain_reply)
{
	const char *const *set = S("temperror", "tempfail");
	struct mp_policy *p = policy(set);
	struct mp_result *r = xmalloc(sizeof(*r));
	struct mp_decision d;

	result(r, MP_SPF_PASS, MP_DMARC_TEMPERROR, MP_DMARC_P_NONE, MP_PROBLEM_NONE);
	r->from_domain[0] = '\0';
	mp_decide(p, r, &d);
	ck_assert_str_eq(d.reply, "451 4.7.5 Temporary DNS failure checking the sender, "
	    "try again later");
	free(r);
	mp_policy_free(&p);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("decide");
	TCase *tc = tcase_create("decide");

	tcase_add_loop_test(tc, decide_table, 0, (int)MP_ARRAY_SIZE(cases));
	tcase_add_test(tc, action_names);
	tcase_add_test(tc, no_from_domain_reply);
	suite_add_tcase(s, tc);
	return s;
}
