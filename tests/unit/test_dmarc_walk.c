/*
 * The RFC 9989 DNS Tree Walk: its query sequence (which names, in which
 * order, how many), psd=y and psd=n, np, several records, a failure
 * halfway, and the cross-tenant spoof the Public Suffix List let
 * through. Against tests/zones/walk.example.net.zone on the test NSD.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "dmarc.h"

#define W ".walk.example.net"

/* --- the sequence of names, without DNS ------------------------------------ */

static const struct {
	const char *start;
	const char *seq[MP_DMARC_WALK_MAX];
} walk_cases[] = {
	/* RFC 9989 4.10's own example: 8 queries for 13 labels */
	{ "a.b.c.d.e.f.g.h.i.j.mail.example.com", {
	    "a.b.c.d.e.f.g.h.i.j.mail.example.com", "g.h.i.j.mail.example.com",
	    "h.i.j.mail.example.com", "i.j.mail.example.com", "j.mail.example.com",
	    "mail.example.com", "example.com", "com" } },
	/* 8 labels: straight to 7, which is the parent anyway */
	{ "a.b.c.d.e.f.example.com", {
	    "a.b.c.d.e.f.example.com", "b.c.d.e.f.example.com", "c.d.e.f.example.com",
	    "d.e.f.example.com", "e.f.example.com", "f.example.com", "example.com", "com" } },
	/* 7 labels: one at a time */
	{ "b.c.d.e.f.example.com", {
	    "b.c.d.e.f.example.com", "c.d.e.f.example.com", "d.e.f.example.com",
	    "e.f.example.com", "f.example.com", "example.com", "com" } },
	{ "example.com", { "example.com", "com" } },
	{ "com", { "com" } },
};

START_TEST(walk_sequence_pure)
{
	char cur[MP_DOMAIN_MAX], next[MP_DOMAIN_MAX];
	size_t n = 0;

	mp_strlcpy(cur, walk_cases[_i].start, sizeof(cur));
	for (;;) {
		ck_assert_msg(n < MP_DMARC_WALK_MAX, "more than %d names from %s",
		    MP_DMARC_WALK_MAX, walk_cases[_i].start);
		ck_assert_ptr_nonnull(walk_cases[_i].seq[n]);
		ck_assert_str_eq(cur, walk_cases[_i].seq[n]);
		n++;
		if (!mp_dmarc_walk_next(cur, next))
			break;
		memcpy(cur, next, sizeof(cur));
	}
	ck_assert_msg(n == MP_DMARC_WALK_MAX || walk_cases[_i].seq[n] == NULL,
	    "stopped early after %zu names from %s", n, walk_cases[_i].start);
}
END_TEST

/* --- walks against the test zone ------------------------------------------- */

static struct mp_dns *dns;
static struct mp_dmarc *dmarc;

static void
setup(void)
{
	const char *resolver = test_env("MP_TEST_RESOLVER");
	struct mp_dns_options opt = { resolver, 3000, NULL, false };
	char err[256];

	ck_assert_msg(resolver != NULL, "MP_TEST_RESOLVER is not set: run under the harness");
	dns = mp_dns_new(&opt, err, sizeof(err));
	ck_assert_msg(dns != NULL, "%s", err);
	dmarc = mp_dmarc_new(dns);
}

static void
teardown(void)
{
	mp_dmarc_free(&dmarc);
	mp_dns_free(&dns);
}

/*
 * Evaluates From: from with an SPF pass for spf_domain (NULL: none) and
 * a DKIM pass for d (NULL: none), as the milter does: discovery, the
 * identifiers prepared, then the decision. Returns the queries made and
 * checks that the decision made none of its own.
 */
static unsigned
run(const char *from, const char *spf_domain, const char *d, struct mp_dmarc_outcome *o,
    struct mp_dmarc_msg **m_r)
{
	struct mp_dmarc_dkim k = { .pass = true };
	struct mp_dmarc_input in = {
		.from_domain = from, .spf = spf_domain ? MP_SPF_PASS : MP_SPF_NONE,
		.spf_domain = spf_domain, .dkim = d ? &k : NULL, .ndkim = d ? 1 : 0,
	};
	struct mp_dmarc_msg *m = mp_dmarc_msg_new(dmarc);
	struct mp_deadline dl;
	unsigned before;

	if (d != NULL)
		mp_strlcpy(k.domain, d, sizeof(k.domain));
	mp_deadline_set(&dl, 10000);
	mp_dmarc_discover(m, &dl, from, o);
	mp_dmarc_prepare(m, &dl, o, spf_domain);
	mp_dmarc_prepare(m, &dl, o, d);
	before = mp_dmarc_msg_queries(m);
	mp_dmarc_decide(m, &dl, &in, o);
	ck_assert_msg(mp_dmarc_msg_queries(m) == before, "the decision made %u queries",
	    mp_dmarc_msg_queries(m) - before);
	for (const char *s = o->reason; *s; s++)
		ck_assert((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f);
	before = mp_dmarc_msg_queries(m);
	if (m_r != NULL)
		*m_r = m;
	else
		mp_dmarc_msg_free(&m);
	return before;
}

static void
expect_trace(struct mp_dmarc_msg *m, const char *const *want)
{
	size_t i;

	for (i = 0; want[i] != NULL; i++) {
		const char *got = mp_dmarc_msg_trace(m, i);

		ck_assert_msg(got != NULL && strcmp(got, want[i]) == 0,
		    "query %zu: got %s, want %s", i, got ? got : "(none)", want[i]);
	}
	ck_assert_msg(mp_dmarc_msg_trace(m, i) == NULL, "extra query %zu: %s", i,
	    mp_dmarc_msg_trace(m, i));
}

START_TEST(eight_queries_for_eleven_labels)
{
	static const char *const want[] = {
		"_dmarc.a.b.c.d.e.f.g.deep" W, "_dmarc.e.f.g.deep" W, "_dmarc.f.g.deep" W,
		"_dmarc.g.deep" W, "_dmarc.deep" W, "_dmarc" W, "_dmarc.example.net",
		"_dmarc.net",
		/* np and sp differ: is the From domain there? (it is) */
		"A a.b.c.d.e.f.g.deep" W, NULL,
	};
	struct mp_dmarc_outcome o;
	struct mp_dmarc_msg *m;

	ck_assert_uint_eq(run("a.b.c.d.e.f.g.deep" W, NULL, NULL, &o, &m), 9);
	expect_trace(m, want);
	/* the record at label 10 (p=none) was never asked for */
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	ck_assert_str_eq(o.policy_domain, "deep" W);
	ck_assert_str_eq(o.org_domain, "deep" W);
	ck_assert_int_eq(o.policy, MP_DMARC_P_QUARANTINE);
	ck_assert_str_eq(o.policy_tag, "sp");
	mp_dmarc_msg_free(&m);
}
END_TEST

START_TEST(psd_y_tenants_are_apart)
{
	struct mp_dmarc_outcome o;

	/* the spoof: tenant b's SPF pass with tenant a's From */
	run("a.tenants" W, "b.tenants" W, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_FAIL, "%s", o.reason);
	ck_assert_int_eq(o.disposition, MP_DMARC_P_REJECT);
	ck_assert(!o.spf_aligned);
	ck_assert_str_eq(o.org_domain, "a.tenants" W);
	/* DKIM the same way */
	run("a.tenants" W, NULL, "b.tenants" W, &o, NULL);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	/* a tenant without a record gets the PSD's policy, and stays apart */
	run("c.tenants" W, "b.tenants" W, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_FAIL, "%s", o.reason);
	ck_assert_str_eq(o.policy_domain, "tenants" W);
	ck_assert_str_eq(o.org_domain, "c.tenants" W);
	ck_assert(o.from_org && o.from_psd);
	ck_assert_str_eq(o.policy_tag, "sp");
	ck_assert(strstr(o.reason, "public suffix domain") != NULL);
	/* a tenant's own subdomain still aligns with it */
	run("a.tenants" W, "bounce.a.tenants" W, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_PASS, "%s", o.reason);
	ck_assert(o.spf_aligned);
	/* the PSD itself, with its own record: p, and it is its own */
	run("tenants" W, "tenants" W, NULL, &o, NULL);
	ck_assert_int_eq(o.result, MP_DMARC_PASS);
	ck_assert(!o.from_org);
}
END_TEST

START_TEST(psd_n_stops_the_walk)
{
	static const char *const want[] = {
		"_dmarc.x.dept.corp" W, "_dmarc.dept.corp" W, NULL,
	};
	struct mp_dmarc_outcome o;
	struct mp_dmarc_msg *m;

	/* corp's SPF pass does not align with dept.corp's subdomain */
	ck_assert_uint_eq(run("x.dept.corp" W, NULL, NULL, &o, &m), 2);
	expect_trace(m, want);
	mp_dmarc_msg_free(&m);
	ck_assert_str_eq(o.org_domain, "dept.corp" W);
	ck_assert_str_eq(o.policy_domain, "dept.corp" W);
	ck_assert_int_eq(o.policy, MP_DMARC_P_QUARANTINE);
	run("x.dept.corp" W, "corp" W, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_FAIL, "%s", o.reason);
	run("x.dept.corp" W, "y.dept.corp" W, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_PASS, "%s", o.reason);
	/* without psd=n corp is the Organizational Domain of its names */
	run("corp" W, "x.corp" W, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_PASS, "%s", o.reason);
	ck_assert_str_eq(o.org_domain, "corp" W);
}
END_TEST

START_TEST(parent_sp_np_the_psl_cannot_see)
{
	struct mp_dmarc_outcome o;

	run("x.pol" W, NULL, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_FAIL, "%s", o.reason);
	ck_assert_int_eq(o.policy, MP_DMARC_P_QUARANTINE);
	ck_assert_str_eq(o.policy_domain, "pol" W);
	run("nx.pol" W, NULL, NULL, &o, NULL);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	ck_assert_int_eq(o.policy, MP_DMARC_P_REJECT);
	ck_assert_str_eq(o.policy_tag, "np");
	ck_assert_int_eq(o.from_exists, 0);
	/* only a name below it exists: it exists, sp applies */
	run("ent.pol" W, NULL, NULL, &o, NULL);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	ck_assert_int_eq(o.policy, MP_DMARC_P_QUARANTINE);
	ck_assert_int_eq(o.from_exists, 1);
}
END_TEST

/* RFC 9989 A.4: a name with any record exists; a CNAME to nowhere too. */
START_TEST(dangling_cname_exists)
{
	struct mp_dmarc_outcome o;

	run("dangling.pol" W, NULL, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_FAIL, "%s", o.reason);
	ck_assert_int_eq(o.from_exists, 1);
	ck_assert_str_eq(o.policy_tag, "sp");
	ck_assert_int_eq(o.policy, MP_DMARC_P_QUARANTINE);
	/* a CNAME loop: the existence test fails, and np or sp cannot be
	 * chosen for a failing message */
	run("cl.pol" W, NULL, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_TEMPERROR, "%s", o.reason);
}
END_TEST

START_TEST(several_records_are_discarded)
{
	struct mp_dmarc_outcome o;

	run("two.fam" W, NULL, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_FAIL, "%s", o.reason);
	ck_assert_str_eq(o.policy_domain, "fam" W);
	ck_assert_int_eq(o.policy, MP_DMARC_P_QUARANTINE);
	ck_assert_msg(strstr(o.note, "2 DMARC records at _dmarc.two.fam" W) != NULL, "%s",
	    o.note);
}
END_TEST

START_TEST(failure_halfway_is_temperror)
{
	struct mp_dmarc_outcome o;

	run("x.y.brk" W, NULL, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_TEMPERROR, "%s", o.reason);
	ck_assert(strstr(o.reason, "_dmarc.brk" W) != NULL);
	/* a record of its own, but relaxed alignment needs the walk */
	run("ok.brk" W, "sub.ok.brk" W, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_TEMPERROR, "%s", o.reason);
	/* an identifier that cannot align needs no walk: a plain fail */
	run("ok.brk" W, "mail.example.org", NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_FAIL, "%s", o.reason);
	/* and the same domain needs none either */
	run("ok.brk" W, "ok.brk" W, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_PASS, "%s", o.reason);
}
END_TEST

/* Found in review: a sender's own broken names cannot make a temperror. */
START_TEST(senders_broken_walk_is_no_temperror)
{
	struct mp_dmarc_outcome o;

	/* below a PSD that is the From domain: nothing below aligns */
	run("tenants" W, "evil.tenants" W, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_FAIL, "%s", o.reason);
	ck_assert_int_eq(o.disposition, MP_DMARC_P_REJECT);
	ck_assert(!mp_dmarc_could_align(&o, "evil.tenants" W, false));
	/* below a psd=n department of the From domain */
	run("corp" W, "z.dept.corp" W, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_FAIL, "%s", o.reason);
	/* directly below the From domain's Organizational Domain, with
	 * nothing between: it could have aligned by answering, so its own
	 * failure is a temperror, never a pass */
	run("corp" W, "lp.corp" W, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_TEMPERROR, "%s", o.reason);
}
END_TEST

/* Memo exhausted by the sender's identifiers (more than the 288 names one
 * message may look up): not aligned, not temperror. */
START_TEST(memo_overflow_is_no_temperror)
{
	struct mp_dmarc_dkim k = { .pass = true };
	struct mp_dmarc_input in = {
		.from_domain = "a.tenants" W, .spf = MP_SPF_NONE, .dkim = &k, .ndkim = 1,
	};
	struct mp_dmarc_msg *m = mp_dmarc_msg_new(dmarc);
	struct mp_dmarc_outcome o;
	struct mp_deadline dl;
	char id[MP_DOMAIN_MAX];

	mp_deadline_set(&dl, 20000);
	mp_dmarc_discover(m, &dl, "a.tenants" W, &o);
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "p%d.q.r.s.a.tenants" W, i);
		mp_dmarc_prepare(m, &dl, &o, id);
	}
	mp_strlcpy(k.domain, "last.q.r.s.a.tenants" W, sizeof(k.domain));
	mp_dmarc_decide(m, &dl, &in, &o);
	ck_assert_msg(o.result == MP_DMARC_FAIL, "%s", o.reason);
	ck_assert_int_eq(o.disposition, MP_DMARC_P_REJECT);
	mp_dmarc_msg_free(&m);
}
END_TEST

START_TEST(invalid_record_is_no_org_domain)
{
	struct mp_dmarc_outcome o;

	run("y.x.inv" W, NULL, NULL, &o, NULL);
	ck_assert_msg(o.result == MP_DMARC_FAIL, "%s", o.reason);
	ck_assert_str_eq(o.org_domain, "x.inv" W);
	ck_assert_str_eq(o.policy_domain, "x.inv" W);
	ck_assert_int_eq(o.policy, MP_DMARC_P_REJECT);
}
END_TEST

/* The counts README gives for the common cases. */
START_TEST(query_counts)
{
	struct mp_dmarc_outcome o;

	/* the same domain in MAIL FROM and From: one query */
	ck_assert_uint_eq(run("a.tenants" W, "a.tenants" W, NULL, &o, NULL), 1);
	ck_assert_int_eq(o.result, MP_DMARC_PASS);
	/* an ESP's bounce domain under another top-level label: one */
	ck_assert_uint_eq(run("a.tenants" W, "bounce.esp.example.org", NULL, &o, NULL), 1);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	/* ... under the same one: the From domain's walk (it stops at the
	 * PSD here), and nothing for the ESP's name */
	ck_assert_uint_eq(run("a.tenants" W, "bounce.esp.example.net", NULL, &o, NULL), 2);
	/* a bounce subdomain of the From domain: its own name too */
	ck_assert_uint_eq(run("a.tenants" W, "bounce.a.tenants" W, NULL, &o, NULL), 3);
	ck_assert_int_eq(o.result, MP_DMARC_PASS);
	/* a deep subdomain without a record of its own: the whole walk (7),
	 * and np differs from sp: A, then CNAME (both NXDOMAIN) */
	ck_assert_uint_eq(run("a.b.x.pol" W, "a.b.x.pol" W, NULL, &o, NULL), 9);
	ck_assert_int_eq(o.from_exists, 0);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("dmarc_walk");
	TCase *tc = tcase_create("sequence");

	tcase_add_loop_test(tc, walk_sequence_pure, 0, (int)MP_ARRAY_SIZE(walk_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("zone");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, eight_queries_for_eleven_labels);
	tcase_add_test(tc, psd_y_tenants_are_apart);
	tcase_add_test(tc, psd_n_stops_the_walk);
	tcase_add_test(tc, parent_sp_np_the_psl_cannot_see);
	tcase_add_test(tc, dangling_cname_exists);
	tcase_add_test(tc, several_records_are_discarded);
	tcase_add_test(tc, failure_halfway_is_temperror);
	tcase_add_test(tc, senders_broken_walk_is_no_temperror);
	tcase_add_test(tc, memo_overflow_is_no_temperror);
	tcase_add_test(tc, invalid_record_is_no_org_domain);
	tcase_add_test(tc, query_counts);
	suite_add_tcase(s, tc);
	return s;
}
