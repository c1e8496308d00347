/*
 * Spoofing regressions (issue 11): each test is one way a forged From of
 * a p=reject domain once got dmarc=pass or an accept. The victim is
 * pass.example.com (p=reject); the attacker's envelope domain is
 * attacker.spoof.example.net (SPF +all, another organizational domain);
 * the attack client is 203.0.113.66 (tests/zones/spoof.example.net.zone).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "fixture_evaluator.h"
#include "verdict.h"

#define VICTIM      "pass.example.com"
#define ATTACKER    "attacker.spoof.example.net"
#define ATTACK_IP   "203.0.113.66"

#define HDR(n, v) { n, v, sizeof(v) - 1 }

static const struct mp_header from_victim[] = { HDR("From", "CEO <ceo@" VICTIM ">") };

/* The fixture's evaluator with dmarc_reject = reject, then settings. */
static struct mp_evaluator *
evaluator_at(const char *resolver, const char *const *settings)
{
	const char *all[16] = { "milter", "dmarc_reject", "reject" };
	size_t n = 3;

	for (size_t i = 0; settings && settings[i]; i++) {
		ck_assert(n + 1 < MP_ARRAY_SIZE(all));
		all[n++] = settings[i];
	}
	return fixture_evaluator(resolver, all);
}

static struct mp_evaluator *
evaluator(const char *const *settings)
{
	return evaluator_at(test_env("MP_TEST_RESOLVER"), settings);
}

static struct mp_verdict *
run(struct mp_evaluator *ev, const char *ip, const char *helo, const char *mail_from,
    const struct mp_header *h, size_t nh)
{
	struct mp_message m = {
		.ip = ip, .helo = helo, .mail_from = mail_from,
		.headers = h, .nheaders = nh, .want_posture = false,
	};

	return mp_evaluate(ev, &m);
}

/* The verdict must not pass DMARC, and dmarc_reject = reject rejects it. */
static void
assert_refused(struct mp_verdict *v, const char *what)
{
	const char *reply = NULL;

	ck_assert_msg(mp_verdict_dmarc_result(v) != MP_DMARC_PASS, "%s: dmarc=pass (%s)", what,
	    mp_verdict_authres(v));
	ck_assert_msg(fixture_action(v, &reply) == MP_ACTION_REJECT, "%s: action %s (%s)",
	    what, mp_action_str(fixture_action(v, &reply)), reply);
	ck_assert_msg(strstr(mp_verdict_authres(v), "dmarc=pass") == NULL, "%s: header %s",
	    what, mp_verdict_authres(v));
}

/* Attack 1: a MAIL FROM without '@' was checked as one domain and
 * aligned as the HELO name. */
START_TEST(mailfrom_without_at_does_not_align_helo)
{
	struct mp_evaluator *ev = evaluator(NULL);
	struct mp_verdict *v = run(ev, ATTACK_IP, VICTIM, ATTACKER, from_victim, 1);

	ck_assert_int_eq(mp_verdict_spf(v)->result, MP_SPF_NONE);
	ck_assert_str_eq(mp_verdict_spf(v)->dmarc_domain, "");
	ck_assert(!mp_verdict_dmarc(v)->spf_aligned);
	assert_refused(v, "MAIL FROM:<" ATTACKER "> HELO " VICTIM);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

/* The null sender is checked as postmaster@HELO (RFC 7208 2.4), and that
 * identity may align: legitimate bounces of the victim still pass. */
START_TEST(null_sender_aligns_its_helo_identity)
{
	struct mp_evaluator *ev = evaluator(NULL);
	struct mp_verdict *v;
	const char *reply;

	v = run(ev, "192.0.2.10", VICTIM, "", from_victim, 1);
	ck_assert_int_eq(mp_verdict_spf(v)->result, MP_SPF_PASS);
	ck_assert_str_eq(mp_verdict_spf(v)->dmarc_domain, VICTIM);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_PASS);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_ACCEPT);
	ck_assert_ptr_nonnull(strstr(mp_verdict_authres(v), "smtp.helo=" VICTIM));
	mp_verdict_free(&v);

	/* A HELO holding '@' is no domain: postmaster@<HELO> is not split
	 * again at its last '@' (a fuzz finding). */
	v = run(ev, ATTACK_IP, "a\"@" ATTACKER, "", from_victim, 1);
	ck_assert_int_eq(mp_verdict_spf(v)->result, MP_SPF_NONE);
	ck_assert_str_eq(mp_verdict_spf(v)->dmarc_domain, "");
	assert_refused(v, "MAIL FROM:<> HELO a\"@" ATTACKER);
	mp_verdict_free(&v);

	/* The attacker's HELO with the null sender aligns only with himself. */
	v = run(ev, ATTACK_IP, ATTACKER, "<>", from_victim, 1);
	ck_assert_int_eq(mp_verdict_spf(v)->result, MP_SPF_PASS);
	ck_assert_str_eq(mp_verdict_spf(v)->dmarc_domain, ATTACKER);
	assert_refused(v, "MAIL FROM:<> HELO " ATTACKER);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

/* Attack 2: the display copy escaped '\' as \x5c and was cut at 511
 * bytes, right after the victim's domain; SPF read the raw one. */
START_TEST(escaped_local_part_is_not_the_identity)
{
	struct mp_evaluator *ev = evaluator(NULL);
	struct mp_buf mf = MP_BUF_INIT;
	struct mp_verdict *v;

	mp_buf_putc(&mf, '"');
	for (int i = 0; i < 120; i++)
		mp_buf_puts(&mf, "\\\\");
	mp_buf_puts(&mf, "@" VICTIM "\"@" ATTACKER);
	v = run(ev, ATTACK_IP, "mail." ATTACKER, mp_buf_str(&mf), from_victim, 1);
	ck_assert_int_eq(mp_verdict_spf(v)->result, MP_SPF_PASS);
	ck_assert_str_eq(mp_verdict_spf(v)->dmarc_domain, ATTACKER);
	assert_refused(v, "quoted local part with backslashes");
	mp_verdict_free(&v);
	mp_buf_free(&mf);
	mp_evaluator_free(&ev);
}
END_TEST

/* An envelope sender longer than the display copy is still checked
 * whole, and the header names the domain SPF checked, not a cut copy. */
START_TEST(long_mailfrom_checked_whole)
{
	struct mp_evaluator *ev = evaluator(NULL);
	struct mp_buf mf = MP_BUF_INIT;
	struct mp_verdict *v;

	for (int i = 0; i < 600; i++)
		mp_buf_putc(&mf, 'a');
	mp_buf_puts(&mf, "@" ATTACKER);
	v = run(ev, ATTACK_IP, "mail." ATTACKER, mp_buf_str(&mf), from_victim, 1);
	ck_assert_int_eq(mp_verdict_spf(v)->result, MP_SPF_PASS);
	ck_assert_str_eq(mp_verdict_spf(v)->dmarc_domain, ATTACKER);
	ck_assert_ptr_nonnull(strstr(mp_verdict_authres(v), "smtp.mailfrom=" ATTACKER ";"));
	assert_refused(v, "600-byte local part");
	mp_verdict_free(&v);
	mp_buf_free(&mf);
	mp_evaluator_free(&ev);
}
END_TEST

/* Several From domains, one of them unevaluated (SERVFAIL): the forged
 * one cannot hide behind it, whatever temperror says. */
START_TEST(unevaluated_second_from_is_not_a_shield)
{
	static const struct mp_header two[] = {
		HDR("From", "a@temp.milter.example.net, ceo@" VICTIM),
	};
	static const struct mp_header two_pass[] = {
		HDR("From", "a@temp.milter.example.net, bob@soft.example.com"),
	};
	struct mp_evaluator *ev = evaluator(NULL);
	struct mp_verdict *v;
	const char *reply;

	v = run(ev, ATTACK_IP, "mail." ATTACKER, "x@" ATTACKER, two, 1);
	assert_refused(v, "From with a SERVFAIL domain and the victim");
	mp_verdict_free(&v);

	/* A domain whose p=quarantine fails next to a SERVFAIL one: handled
	 * as an unusable From (strictest: assumed p=reject). */
	v = run(ev, "192.0.2.10", "mail.example.com", "bob@soft.example.com", two_pass, 1);
	ck_assert_str_eq(mp_verdict_problem(v), "several From domains, one could not be evaluated");
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_REJECT);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

/* An SPF temperror for a domain that could never align changes nothing:
 * the victim's p=reject still applies with temperror = tempfail. */
START_TEST(unaligned_spf_temperror_does_not_soften)
{
	static const char *const tf[] = { "milter", "temperror", "tempfail", NULL };
	struct mp_evaluator *ev = evaluator(tf);
	struct mp_verdict *v = run(ev, ATTACK_IP, "mail." ATTACKER, "x@temp.milter.example.net",
	    from_victim, 1);

	ck_assert_int_eq(mp_verdict_spf(v)->result, MP_SPF_TEMPERROR);
	assert_refused(v, "SPF temperror of an unaligned domain");
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

/* A From we did not see whole (the milter dropped or cut a field): the
 * fields we kept must not lend their pass, or "none", to the header. */
START_TEST(incomplete_from_is_never_a_pass)
{
	static const struct mp_header from_own[] = { HDR("From", "<x@" ATTACKER ">") };
	struct mp_evaluator *ev = evaluator(NULL);
	struct mp_message m = {
		.ip = ATTACK_IP, .helo = "mail." ATTACKER, .mail_from = "x@" ATTACKER,
		.headers = from_own, .nheaders = 1, .from_incomplete = true,
	};
	struct mp_verdict *v = mp_evaluate(ev, &m);
	const char *reply;

	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_PERMERROR);
	ck_assert_ptr_nonnull(strstr(mp_verdict_authres(v), "dmarc=permerror"));
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_REJECT);
	mp_verdict_free(&v);
	/* The same message seen whole: its own domain, no policy, accepted. */
	m.from_incomplete = false;
	v = mp_evaluate(ev, &m);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_NONE);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_ACCEPT);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

/*
 * The budget protects DMARC: the sender's SPF record never answers and
 * one query timeout spends the whole deadline. The victim's policy was
 * fetched before SPF ran, so it still applies: fail under p=reject, not
 * temperror. (With SPF first this gives dmarc=temperror.)
 */
START_TEST(slow_spf_cannot_spend_the_policy_lookup)
{
	static const char *const tight[] = { "dns", "timeout", "1000",
	    "policy", "eval_timeout", "1", NULL };
	const char *drop = test_env("MP_TEST_RESOLVER_DROP");
	struct mp_evaluator *ev;
	struct mp_verdict *v;
	const char *reply;

	ck_assert_msg(drop != NULL, "MP_TEST_RESOLVER_DROP is not set: run under tests/harness/with-servers");
	ev = evaluator_at(drop, tight);
	v = run(ev, ATTACK_IP, "mail.slow.example.net", "x@slow.example.net", from_victim, 1);
	ck_assert_int_eq(mp_verdict_spf(v)->result, MP_SPF_TEMPERROR);
	ck_assert_int_eq(mp_verdict_dmarc_result(v), MP_DMARC_FAIL);
	ck_assert_int_eq(mp_verdict_dmarc(v)->disposition, MP_DMARC_P_REJECT);
	ck_assert_int_eq(fixture_action(v, &reply), MP_ACTION_REJECT);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("spoof");
	TCase *tc = tcase_create("spoof");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, mailfrom_without_at_does_not_align_helo);
	tcase_add_test(tc, null_sender_aligns_its_helo_identity);
	tcase_add_test(tc, escaped_local_part_is_not_the_identity);
	tcase_add_test(tc, long_mailfrom_checked_whole);
	tcase_add_test(tc, unevaluated_second_from_is_not_a_shield);
	tcase_add_test(tc, unaligned_spf_temperror_does_not_soften);
	tcase_add_test(tc, incomplete_from_is_never_a_pass);
	tcase_add_test(tc, slow_spf_cannot_spend_the_policy_lookup);
	suite_add_tcase(s, tc);
	return s;
}
