/*
 * verdict: the evaluation the milter and mailposture-check share, against
 * the scenario zones (tests/zones/example.com.zone, example.net.zone):
 * actions per [milter] settings, trusted and untrusted DKIM results,
 * the Authentication-Results value, and the posture cache.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "fixture_evaluator.h"
#include "verdict.h"

static struct mp_verdict *
evaluate(struct mp_evaluator *ev, const char *ip, const char *mail_from,
    const struct mp_header *h, size_t nh)
{
	struct mp_message m = {
		.ip = ip, .helo = "mail.example.net", .mail_from = mail_from,
		.headers = h, .nheaders = nh, .want_posture = false, .pct_sample = 0,
	};

	return mp_evaluate(ev, &m);
}

#define HDR(n, v) { n, v, sizeof(v) - 1 }

static const struct mp_header from_pass[] = { HDR("From", "Bob <bob@pass.example.com>") };

static const struct {
	const char *desc;
	const char *settings[10];
	const char *ip;
	const char *mail_from;
	enum mp_action action;
	const char *reply;      /* prefix of the SMTP reply, or NULL */
} actions[] = {
	{ "defaults only add the header", { NULL }, "198.51.100.7", "bob@pass.example.com",
	  MP_ACTION_ACCEPT, NULL },
	{ "dmarc_reject=reject", { "milter", "dmarc_reject", "reject", NULL }, "198.51.100.7",
	  "bob@pass.example.com", MP_ACTION_REJECT,
	  "550 5.7.1 Message rejected by the DMARC policy of pass.example.com" },
	{ "dmarc_reject=quarantine", { "milter", "dmarc_reject", "quarantine", NULL },
	  "198.51.100.7", "bob@pass.example.com", MP_ACTION_QUARANTINE, NULL },
	{ "spf_fail=reject", { "milter", "spf_fail", "reject", NULL }, "198.51.100.7",
	  "bob@pass.example.com", MP_ACTION_REJECT, "550 5.7.23 SPF check failed" },
	{ "a passing message is never rejected", { "milter", "dmarc_reject", "reject",
	  "milter", "spf_fail", "reject", NULL }, "192.0.2.10", "bob@pass.example.com",
	  MP_ACTION_ACCEPT, NULL },
};

START_TEST(action_per_settings)
{
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), actions[_i].settings);
	struct mp_verdict *v = evaluate(ev, actions[_i].ip, actions[_i].mail_from, from_pass, 1);
	const char *reply = NULL;

	ck_assert_msg(fixture_action(v, &reply) == actions[_i].action, "%s: got %s (%s)",
	    actions[_i].desc, mp_action_str(fixture_action(v, &reply)), reply);
	ck_assert_ptr_nonnull(reply);
	if (actions[_i].reply)
		ck_assert_msg(strncmp(reply, actions[_i].reply, strlen(actions[_i].reply)) == 0,
		    "%s: reply %s", actions[_i].desc, reply);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

START_TEST(no_from_and_multiple_from)
{
	static const char *const rej[] = { "milter", "no_from", "reject", "milter",
	    "multiple_from", "reject", NULL };
	static const struct mp_header two[] = {
		HDR("From", "a@pass.example.com"), HDR("From", "b@pass.example.com"),
	};
	static const struct mp_header bad[] = { HDR("From", "undisclosed") };
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), rej);
	struct mp_verdict *v;
	const char *reply;

	v = evaluate(ev, "192.0.2.10", "bob@pass.example.com", NULL, 0);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_REJECT);
	ck_assert_str_eq(reply, "550 5.7.1 Message rejected: no From header");
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_PERMERROR);
	mp_verdict_free(&v);

	/* Two From fields, even with one domain: RFC 5322 allows one. */
	v = evaluate(ev, "192.0.2.10", "bob@pass.example.com", two, 2);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_REJECT);
	ck_assert_str_eq(mp_verdict_problem(v), "several From header fields");
	mp_verdict_free(&v);

	v = evaluate(ev, "192.0.2.10", "bob@pass.example.com", bad, 1);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_REJECT);
	ck_assert_ptr_nonnull(strstr(mp_verdict_problem(v), "unusable From header"));
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

/* An unparseable From is no way around DMARC: "strictest" assumes p=reject. */
START_TEST(unusable_from_is_not_a_bypass)
{
	static const char *const enforce[] = { "milter", "dmarc_reject", "reject", NULL };
	static const char *const quar[] = { "milter", "dmarc_reject", "quarantine", NULL };
	static const struct mp_header bad[] = {
		HDR("From", "\"Service <ceo@pass.example.com> <ceo@pass.example.com>"),
	};
	struct mp_evaluator *ev;
	struct mp_verdict *v;
	const char *reply;

	ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), NULL);
	v = evaluate(ev, "198.51.100.7", "x@norec.example.net", bad, 1);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_ACCEPT);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_PERMERROR);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);

	ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), enforce);
	v = evaluate(ev, "198.51.100.7", "x@norec.example.net", bad, 1);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_REJECT);
	ck_assert(strncmp(reply, "550 5.7.1 Message rejected: unusable From header", 48) == 0);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);

	ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), quar);
	v = evaluate(ev, "198.51.100.7", "x@norec.example.net", bad, 1);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_QUARANTINE);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

START_TEST(temperror_tempfails_when_asked)
{
	static const char *const tf[] = { "milter", "temperror", "tempfail", NULL };
	struct mp_evaluator *ev = fixture_evaluator("127.0.0.1@9", tf);
	struct mp_verdict *v = evaluate(ev, "192.0.2.10", "bob@pass.example.com", from_pass, 1);
	const char *reply;

	ck_assert_int_eq(mp_verdict_spf(v)->result, MP_SPF_TEMPERROR);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_TEMPERROR);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_TEMPFAIL);
	ck_assert(strncmp(reply, "451 4.7.5 ", 10) == 0);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

START_TEST(dkim_only_from_trusted_authserv_ids)
{
	static const char *const trust[] = { "policy", "trusted_authserv_ids",
	    "relay.example.net, other.example.net", NULL };
	static const struct mp_header trusted[] = {
		HDR("From", "bob@pass.example.com"),
		HDR("Authentication-Results", "relay.example.net; dkim=pass header.d=pass.example.com"),
	};
	static const struct mp_header untrusted[] = {
		HDR("From", "bob@pass.example.com"),
		HDR("Authentication-Results", "evil.example.com; dkim=pass header.d=pass.example.com"),
	};
	static const struct mp_header ours[] = {
		HDR("From", "bob@pass.example.com"),
		HDR("Authentication-Results", "mx.example.org; dkim=pass header.d=pass.example.com"),
	};
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), trust);
	struct mp_verdict *v;

	/* SPF fails from 198.51.100.7; only a trusted DKIM pass can save DMARC. */
	v = evaluate(ev, "198.51.100.7", "bob@pass.example.com", trusted, 2);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_PASS);
	ck_assert(mp_verdict_dmarc(v)->dkim_aligned);
	mp_verdict_free(&v);

	v = evaluate(ev, "198.51.100.7", "bob@pass.example.com", untrusted, 2);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_FAIL);
	mp_verdict_free(&v);

	/* A header carrying our own authserv-id is forged, whatever the list says. */
	v = evaluate(ev, "198.51.100.7", "bob@pass.example.com", ours, 2);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_FAIL);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

static const struct {
	const char *mail_from;
	const char *want;
} authres[] = {
	{ "bob@pass.example.com", "mx.example.org; spf=pass smtp.mailfrom=bob@pass.example.com;\n"
	  "\tdmarc=pass (p=reject dis=none) header.from=pass.example.com" },
	{ "", "mx.example.org; spf=none smtp.helo=mail.example.net;\n"
	  "\tdmarc=fail (p=reject dis=reject) header.from=pass.example.com" },
	/* Hostile envelope text never reaches the header raw. */
	{ "a\r\nX-Evil: 1@pass.example.com", NULL },
};

START_TEST(authres_value)
{
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), NULL);
	struct mp_verdict *v = evaluate(ev, "192.0.2.10", authres[_i].mail_from, from_pass, 1);
	const char *ar = mp_verdict_authres(v);

	if (authres[_i].want)
		ck_assert_str_eq(ar, authres[_i].want);
	for (const char *p = ar; *p; p++)
		ck_assert_msg(*p == '\n' ? p[1] == '\t' : (unsigned char)*p >= 0x20 || *p == '\t',
		    "control byte in %s", ar);
	ck_assert_ptr_null(strstr(ar, "\nX-Evil"));
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

START_TEST(posture_cached_per_ttl)
{
	static const char *const off[] = { "policy", "posture_ttl", "0", NULL };
	struct mp_evaluator *ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), NULL);
	struct mp_posture *a = xmalloc(sizeof(*a)), *b = xmalloc(sizeof(*b));
	unsigned long hits, misses;

	mp_evaluator_posture(ev, "pass.example.com", a);
	mp_evaluator_posture(ev, "pass.example.com", b);
	mp_evaluator_posture(ev, "weak.example.com", b);
	mp_evaluator_posture_stats(ev, &hits, &misses);
	ck_assert_uint_eq(hits, 1);
	ck_assert_uint_eq(misses, 2);
	ck_assert_int_eq(a->score, 100);
	ck_assert_int_eq(b->score, 47);
	mp_evaluator_free(&ev);

	ev = fixture_evaluator(test_env("MP_TEST_RESOLVER"), off);
	mp_evaluator_posture(ev, "pass.example.com", a);
	mp_evaluator_posture(ev, "pass.example.com", a);
	mp_evaluator_posture_stats(ev, &hits, &misses);
	ck_assert_uint_eq(hits, 0);
	mp_evaluator_free(&ev);

	/* An incomplete posture (DNS down) is never cached. */
	ev = fixture_evaluator("127.0.0.1@9", NULL);
	mp_evaluator_posture(ev, "pass.example.com", a);
	ck_assert(!a->complete);
	mp_evaluator_posture(ev, "pass.example.com", a);
	mp_evaluator_posture_stats(ev, &hits, &misses);
	ck_assert_uint_eq(hits, 0);
	ck_assert_uint_eq(misses, 2);
	mp_evaluator_free(&ev);
	free(a);
	free(b);
}
END_TEST

START_TEST(bad_authserv_id_refused)
{
	struct mp_conf *conf = mp_conf_new_defaults();
	struct mp_evaluator *ev;
	char err[512];

	/* conf already refuses non-tokens; a direct set must fail too. */
	if (mp_conf_set(conf, "policy", "authserv_id", "a b", err, sizeof(err))) {
		ev = mp_evaluator_new(conf, err, sizeof(err));
		ck_assert_ptr_null(ev);
	}
	mp_conf_unref(&conf);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("verdict");
	TCase *tc = tcase_create("verdict");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, action_per_settings, 0, (int)MP_ARRAY_SIZE(actions));
	tcase_add_test(tc, no_from_and_multiple_from);
	tcase_add_test(tc, unusable_from_is_not_a_bypass);
	tcase_add_test(tc, temperror_tempfails_when_asked);
	tcase_add_test(tc, dkim_only_from_trusted_authserv_ids);
	tcase_add_loop_test(tc, authres_value, 0, (int)MP_ARRAY_SIZE(authres));
	tcase_add_test(tc, posture_cached_per_ttl);
	tcase_add_test(tc, bad_authserv_id_refused);
	suite_add_tcase(s, tc);
	return s;
}
