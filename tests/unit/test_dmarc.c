#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_main.h"
#include "dmarc.h"

/* --- the record parser: a table of good and hostile records ------------- */

#define U MP_DMARC_P_UNSET
#define N MP_DMARC_P_NONE
#define Q MP_DMARC_P_QUARANTINE
#define R MP_DMARC_P_REJECT

struct rec_case {
	const char *txt;
	size_t len;             /* 0: strlen(txt) */
	bool ok;
	enum mp_dmarc_policy p, sp, np;
	int pct;
	bool adkim_s, aspf_s, testing;
	bool fallback, missing;
	const char *why;        /* substring of the reason or warning, or NULL */
};

static const struct rec_case rec_cases[] = {
	/* good */
	{ "v=DMARC1; p=reject", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1;p=quarantine", 0, true, Q, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=none; rua=mailto:d@example.org", 0, true, N, U, U, 100, false, false, false, false, false, NULL },
	{ "  v = DMARC1 ;  p = Reject ;  sp = QUARANTINE  ", 0, true, R, Q, U, 100, false, false, false, false, false, NULL },
	{ "V=DMARC1; P=reject; SP=none; NP=reject", 0, true, R, N, R, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; pct=50", 0, true, R, U, U, 50, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; pct=0", 0, true, R, U, U, 0, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; pct=100", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; pct=007", 0, true, R, U, U, 7, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; adkim=s; aspf=S", 0, true, R, U, U, 100, true, true, false, false, false, NULL },
	{ "v=DMARC1; p=reject; adkim=r; aspf=r", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=quarantine; t=y", 0, true, Q, U, U, 100, false, false, true, false, false, NULL },
	{ "v=DMARC1; p=quarantine; t=n", 0, true, Q, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject;", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject;;  ; ", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; fo=0:1:d:s; rf=afrf; ri=3600", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; future=whatever; x_y1=2", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; psd=n", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; rua=mailto:a@example.org!10m, mailto:b@example.org", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1\t;\tp=reject", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	/* DMARCbis: no p is p=none */
	{ "v=DMARC1", 0, true, N, U, U, 100, false, false, false, false, true, "no p=" },
	{ "v=DMARC1; rua=mailto:d@example.org", 0, true, N, U, U, 100, false, false, false, false, true, "no p=" },
	/* RFC 7489 6.6.3 step 6: invalid p/sp/np with a valid rua is p=none */
	{ "v=DMARC1; p=bogus; rua=mailto:d@example.org", 0, true, N, U, U, 100, false, false, false, true, false, "treated as p=none" },
	{ "v=DMARC1; p=reject; sp=maybe; rua=mailto:d@example.org", 0, true, N, U, U, 100, false, false, false, true, false, "sp=maybe" },
	{ "v=DMARC1; p=reject; np=r; rua=mailto:d@example.org", 0, true, N, U, U, 100, false, false, false, true, false, "np=r" },
	/* bad secondary values take the default, the record stays valid */
	{ "v=DMARC1; p=reject; pct=101", 0, true, R, U, U, 100, false, false, false, false, false, "pct=101" },
	{ "v=DMARC1; p=reject; pct=50.5", 0, true, R, U, U, 100, false, false, false, false, false, "pct=" },
	{ "v=DMARC1; p=reject; pct=-1", 0, true, R, U, U, 100, false, false, false, false, false, "pct=" },
	{ "v=DMARC1; p=reject; pct=", 0, true, R, U, U, 100, false, false, false, false, false, "pct=" },
	{ "v=DMARC1; p=reject; pct=1000", 0, true, R, U, U, 100, false, false, false, false, false, "pct=" },
	{ "v=DMARC1; p=reject; adkim=strict", 0, true, R, U, U, 100, false, false, false, false, false, "adkim=" },
	{ "v=DMARC1; p=reject; t=yes", 0, true, R, U, U, 100, false, false, false, false, false, "t=yes" },
	{ "v=DMARC1; p=reject; ri=99999999999", 0, true, R, U, U, 100, false, false, false, false, false, "ri=" },
	{ "v=DMARC1; p=reject; fo=2", 0, true, R, U, U, 100, false, false, false, false, false, "fo=" },
	{ "v=DMARC1; p=reject; rua=not a uri", 0, true, R, U, U, 100, false, false, false, false, false, "rua=" },

	/* hostile or invalid */
	{ "", 0, false, U, U, U, 0, false, false, false, false, false, "empty" },
	{ "v=DMARC2; p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=dmarc1; p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "p=reject; v=DMARC1", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=DMARC1p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=DMARC", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=spf1 -all", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=DMARC1; p=bogus", 0, false, U, U, U, 0, false, false, false, false, false, "no valid rua" },
	{ "v=DMARC1; p=r", 0, false, U, U, U, 0, false, false, false, false, false, "p=r" },
	{ "v=DMARC1; p=rej", 0, false, U, U, U, 0, false, false, false, false, false, "p=rej" },
	{ "v=DMARC1; p=reject; sp=maybe", 0, false, U, U, U, 0, false, false, false, false, false, "sp=maybe" },
	{ "v=DMARC1; p=reject; np=", 0, false, U, U, U, 0, false, false, false, false, false, "np=" },
	{ "v=DMARC1; p=bogus; rua=nonsense", 0, false, U, U, U, 0, false, false, false, false, false, "no valid rua" },
	{ "v=DMARC1; p=none; p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "twice" },
	{ "v=DMARC1; p=reject; P=none", 0, false, U, U, U, 0, false, false, false, false, false, "twice" },
	{ "v=DMARC1; v=DMARC1; p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "twice" },
	{ "v=DMARC1; p=reject; pct=10; pct=100", 0, false, U, U, U, 0, false, false, false, false, false, "twice" },
	{ "v=DMARC1; p=reject; garbage", 0, false, U, U, U, 0, false, false, false, false, false, "without '='" },
	{ "v=DMARC1; p=reject; =x", 0, false, U, U, U, 0, false, false, false, false, false, "tag name" },
	{ "v=DMARC1; p=reject; 1x=y", 0, false, U, U, U, 0, false, false, false, false, false, "tag name" },
	{ "v=DMARC1; p=reject; a-b=y", 0, false, U, U, U, 0, false, false, false, false, false, "tag name" },
	{ "v=DMARC1; p=reject\0; p=none", 27, false, U, U, U, 0, false, false, false, false, false, "NUL" },
	{ "v=DMARC1\0", 9, false, U, U, U, 0, false, false, false, false, false, "NUL" },
	{ "v=DMARC1; p=reject\r\n", 0, false, U, U, U, 0, false, false, false, false, false, "control" },
	{ "v=DMARC1; p=reject; rua=mailto:\x1b[31m@example.org", 0, false, U, U, U, 0, false, false, false, false, false, "control" },
	{ "v=DMARC1; p=r\xc3\xa9ject", 0, false, U, U, U, 0, false, false, false, false, false, "non-ASCII" },
	{ "v=DMARC1; p=reject\x7f", 0, false, U, U, U, 0, false, false, false, false, false, "control" },
	{ "v=", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ ";;;", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
};

START_TEST(record_table)
{
	const struct rec_case *c = &rec_cases[_i];
	struct mp_dmarc_record rec;
	char why[256];
	size_t len = c->len ? c->len : strlen(c->txt);
	bool ok = mp_dmarc_record_parse(c->txt, len, &rec, why, sizeof(why));

	ck_assert_msg(ok == c->ok, "case %d: parse returned %d (%s)", _i, ok, why);
	if (c->why != NULL)
		ck_assert_msg(strstr(why, c->why) != NULL, "case %d: reason \"%s\" lacks \"%s\"",
		    _i, why, c->why);
	for (const char *s = why; *s; s++)
		ck_assert_msg((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f,
		    "case %d: reason not printable", _i);
	if (!ok)
		return;
	ck_assert_int_eq(rec.p, c->p);
	ck_assert_int_eq(rec.sp, c->sp);
	ck_assert_int_eq(rec.np, c->np);
	ck_assert_int_eq(rec.pct, c->pct);
	ck_assert_int_eq(rec.adkim_strict, c->adkim_s);
	ck_assert_int_eq(rec.aspf_strict, c->aspf_s);
	ck_assert_int_eq(rec.testing, c->testing);
	ck_assert_int_eq(rec.policy_fallback, c->fallback);
	ck_assert_int_eq(rec.p_missing, c->missing);
	if (c->why == NULL)
		ck_assert_str_eq(rec.warning, "");
}
END_TEST

START_TEST(record_fields)
{
	struct mp_dmarc_record rec;
	char why[128];
	const char *txt = "v=DMARC1; p=reject; rua=mailto:a@example.org, mailto:b@example.org!10m; "
	    "ruf=mailto:f@example.org; fo=1; ri=3600";

	ck_assert(mp_dmarc_record_parse(txt, strlen(txt), &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.rua_count, 2);
	ck_assert_int_eq(rec.ruf_count, 1);
	ck_assert_str_eq(rec.rua, "mailto:a@example.org, mailto:b@example.org!10m");
	ck_assert_str_eq(rec.ruf, "mailto:f@example.org");
	ck_assert_int_eq(rec.fo_present, 1);
	ck_assert_uint_eq(rec.ri, 3600);
	ck_assert(!mp_dmarc_record_parse(NULL, 0, &rec, why, sizeof(why)));
}
END_TEST

START_TEST(record_oversized)
{
	struct mp_dmarc_record rec;
	char why[128];
	struct mp_buf b = MP_BUF_INIT;

	/* a long rua is kept, cut, and printable */
	mp_buf_puts(&b, "v=DMARC1; p=reject; rua=");
	for (int i = 0; i < 100; i++)
		mp_buf_printf(&b, "%smailto:r%d@example.org", i ? "," : "", i);
	ck_assert(mp_dmarc_record_parse(b.data, b.len, &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.rua_count, 100);
	ck_assert_uint_lt(strlen(rec.rua), sizeof(rec.rua));
	ck_assert(strstr(rec.rua, "...") != NULL);

	/* over the record limit */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "v=DMARC1; p=reject; x=");
	while (b.len <= MP_DMARC_RECORD_MAX)
		mp_buf_putc(&b, 'a');
	ck_assert(!mp_dmarc_record_parse(b.data, b.len, &rec, why, sizeof(why)));
	ck_assert(strstr(why, "too long") != NULL);

	/* too many tags */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "v=DMARC1; p=reject");
	for (int i = 0; i < MP_DMARC_MAX_TAGS; i++)
		mp_buf_printf(&b, "; x%d=1", i);
	ck_assert(!mp_dmarc_record_parse(b.data, b.len, &rec, why, sizeof(why)));
	ck_assert(strstr(why, "tags") != NULL);

	/* a truncated record: every prefix, in a buffer of exactly its size
	 * (so that ASan sees any over-read), parses or fails cleanly */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "v=DMARC1; p=quarantine; sp=reject; pct=50; rua=mailto:a@example.org");
	for (size_t n = 0; n <= b.len; n++) {
		char *copy = xmalloc(n ? n : 1);
		bool ok;

		memcpy(copy, b.data, n);
		ok = mp_dmarc_record_parse(copy, n, &rec, why, sizeof(why));
		free(copy);
		if (n < 8)
			ck_assert(!ok);
		if (n == 8 || n == 9 || n == b.len)
			ck_assert(ok);
		/* "v=DMARC1; p=quarantin" is an invalid p without rua */
		if (n == 21)
			ck_assert(!ok);
	}
	mp_buf_free(&b);
}
END_TEST

START_TEST(is_record)
{
	ck_assert(mp_dmarc_is_record("v=DMARC1; p=reject", 18));
	ck_assert(mp_dmarc_is_record("v=DMARC1", 8));
	ck_assert(mp_dmarc_is_record(" V = DMARC1 ;", 13));
	/* a DMARC record, even if broken: it counts toward "several records" */
	ck_assert(mp_dmarc_is_record("v=DMARC1; p=bogus", 17));
	ck_assert(!mp_dmarc_is_record("v=spf1 -all", 11));
	ck_assert(!mp_dmarc_is_record("v=DMARC10", 9));
	ck_assert(!mp_dmarc_is_record("v=DMARC", 7));
	ck_assert(!mp_dmarc_is_record("google-site-verification=x", 26));
	ck_assert(!mp_dmarc_is_record("", 0));
	ck_assert(!mp_dmarc_is_record(NULL, 0));
}
END_TEST

START_TEST(strings)
{
	ck_assert_str_eq(mp_dmarc_result_str(MP_DMARC_TEMPERROR), "temperror");
	ck_assert_str_eq(mp_dmarc_result_str(MP_DMARC_PASS), "pass");
	ck_assert_str_eq(mp_dmarc_policy_str(MP_DMARC_P_QUARANTINE), "quarantine");
	ck_assert_str_eq(mp_dmarc_policy_str(MP_DMARC_P_UNSET), "unset");
}
END_TEST

/* --- alignment -------------------------------------------------------------- */

START_TEST(alignment_real_psl)
{
	char err[256];
	struct mp_psl *psl = mp_psl_load(NULL, err, sizeof(err));

	ck_assert_msg(psl != NULL, "%s", err);
	ck_assert(mp_dmarc_aligned(psl, "example.org", "example.org", true));
	ck_assert(mp_dmarc_aligned(psl, "a.example.org", "b.example.org", false));
	ck_assert(!mp_dmarc_aligned(psl, "a.example.org", "b.example.org", true));
	ck_assert(mp_dmarc_aligned(psl, "example.org", "bounce.example.org", false));
	ck_assert(!mp_dmarc_aligned(psl, "example.org", "bounce.example.org", true));
	ck_assert(!mp_dmarc_aligned(psl, "bounce.example.org", "example.org", true));
	ck_assert(mp_dmarc_aligned(psl, "a.example.co.uk", "b.c.example.co.uk", false));
	ck_assert(!mp_dmarc_aligned(psl, "example.co.uk", "other.co.uk", false));
	ck_assert(!mp_dmarc_aligned(psl, "example.org", "xexample.org", false));
	ck_assert(!mp_dmarc_aligned(psl, "example.org", "example.net", false));
	/* a public suffix only aligns with itself */
	ck_assert(!mp_dmarc_aligned(psl, "co.uk", "a.co.uk", false));
	ck_assert(!mp_dmarc_aligned(psl, "example.org", "", false));
	/* without a PSL, relaxed is exact */
	ck_assert(!mp_dmarc_aligned(NULL, "a.example.org", "example.org", false));
	mp_psl_free(&psl);
	ck_assert_ptr_null(psl);
}
END_TEST

/* --- evaluation against the test zone -------------------------------------- */

/*
 * The test PSL makes dmarc.example.org a public suffix, so that each
 * NAME.dmarc.example.org of tests/zones/dmarc.example.org.zone is an
 * organizational domain (see the zone file).
 */
static char psl_path[64];
static struct mp_dns *dns;
static struct mp_psl *psl;
static struct mp_dmarc *dmarc;

#define Z ".dmarc.example.org"

static void
setup(void)
{
	const char *resolver = test_env("MP_TEST_RESOLVER");
	struct mp_dns_options opt = { resolver, 3000, NULL, false };
	static const char list[] = "// test list\norg\ndmarc.example.org\n";
	char err[256];
	FILE *fp;
	int fd;

	ck_assert_msg(resolver != NULL, "MP_TEST_RESOLVER is not set: run under the harness");
	snprintf(psl_path, sizeof(psl_path), "/tmp/mp-test-psl.XXXXXX");
	ck_assert((fd = mkstemp(psl_path)) != -1);
	ck_assert((fp = fdopen(fd, "w")) != NULL);
	ck_assert(fwrite(list, 1, sizeof(list) - 1, fp) == sizeof(list) - 1);
	ck_assert(fclose(fp) == 0);
	psl = mp_psl_load(psl_path, err, sizeof(err));
	ck_assert_msg(psl != NULL, "%s", err);
	/* before mp_dmarc_new, so that libopendmarc reads the same list */
	ck_assert_msg(mp_dmarc_library_init(psl_path, err, sizeof(err)), "%s", err);
	/* both have read it: no file is left behind, even by a failing test */
	unlink(psl_path);
	dns = mp_dns_new(&opt, err, sizeof(err));
	ck_assert_msg(dns != NULL, "%s", err);
	dmarc = mp_dmarc_new(dns, psl);
}

static void
teardown(void)
{
	mp_dmarc_free(&dmarc);
	ck_assert_ptr_null(dmarc);
	mp_dns_free(&dns);
	mp_psl_free(&psl);
}

/* Evaluates a message From: from, with SPF spf for MAIL FROM domain
 * spf_domain (may be NULL) and at most one DKIM result (d may be NULL). */
static enum mp_dmarc_result
eval(const char *from, enum mp_spf_result spf, const char *spf_domain, const char *d,
    bool dkim_pass, int sample, struct mp_dmarc_outcome *out)
{
	struct mp_dkim_result k;
	struct mp_dmarc_input in = {
		.from_domain = from, .spf = spf, .spf_domain = spf_domain,
		.dkim = d ? &k : NULL, .ndkim = d ? 1 : 0, .ip = "192.0.2.1",
	};
	struct mp_deadline dl;
	enum mp_dmarc_result r;

	memset(&k, 0, sizeof(k));
	if (d != NULL)
		mp_strlcpy(k.domain, d, sizeof(k.domain));
	k.pass = dkim_pass;
	mp_deadline_set(&dl, 10000);
	r = mp_dmarc_evaluate(dmarc, &dl, &in, sample, out);
	ck_assert_int_eq(r, out->result);
	for (const char *s = out->reason; *s; s++)
		ck_assert((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f);
	ck_assert_msg(out->reason[0] != '\0', "empty reason");
	return r;
}

/* An SPF pass for a domain that is not aligned with anything here. */
#define SPF_OTHER MP_SPF_PASS, "mail.example.net"

static void
expect(const struct mp_dmarc_outcome *o, enum mp_dmarc_result r, enum mp_dmarc_policy pol,
    enum mp_dmarc_policy disp, const char *policy_domain, bool from_org)
{
	ck_assert_msg(o->result == r, "result %s, want %s: %s", mp_dmarc_result_str(o->result),
	    mp_dmarc_result_str(r), o->reason);
	ck_assert_msg(o->policy == pol, "policy %s, want %s: %s", mp_dmarc_policy_str(o->policy),
	    mp_dmarc_policy_str(pol), o->reason);
	ck_assert_msg(o->disposition == disp, "disposition %s, want %s: %s",
	    mp_dmarc_policy_str(o->disposition), mp_dmarc_policy_str(disp), o->reason);
	ck_assert_str_eq(o->policy_domain, policy_domain);
	ck_assert_int_eq(o->from_org, from_org);
}

START_TEST(policy_p)
{
	struct mp_dmarc_outcome o;

	eval("reject" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "reject" Z, false);
	ck_assert(!o.spf_aligned && !o.dkim_aligned && o.record_found);
	ck_assert_str_eq(o.org_domain, "reject" Z);
	ck_assert_str_eq(o.record, "v=DMARC1; p=reject; rua=mailto:dmarc@reject.dmarc.example.org");
	ck_assert_int_eq(o.rec.rua_count, 1);
	ck_assert(strstr(o.reason, "p=reject") != NULL);

	eval("QUARANTINE" Z ".", SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "quarantine" Z, false);

	eval("none" Z, MP_SPF_FAIL, "none" Z, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, N, N, "none" Z, false);

	/* one aligned pass is enough */
	eval("reject" Z, MP_SPF_PASS, "bounce.reject" Z, NULL, false, 0, &o);
	expect(&o, MP_DMARC_PASS, R, N, "reject" Z, false);
	ck_assert(o.spf_aligned && !o.dkim_aligned);
	ck_assert(strstr(o.reason, "SPF") != NULL);

	eval("quarantine" Z, MP_SPF_FAIL, "quarantine" Z, "quarantine" Z, true, 0, &o);
	expect(&o, MP_DMARC_PASS, Q, N, "quarantine" Z, false);
	ck_assert(!o.spf_aligned && o.dkim_aligned);
	ck_assert(strstr(o.reason, "d=quarantine") != NULL);
}
END_TEST

START_TEST(spf_and_dkim_must_pass)
{
	struct mp_dmarc_outcome o;

	/* aligned domains, but nothing passed */
	eval("reject" Z, MP_SPF_SOFTFAIL, "reject" Z, "reject" Z, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "reject" Z, false);
	ck_assert(!o.spf_aligned && !o.dkim_aligned);
	eval("reject" Z, MP_SPF_NEUTRAL, "reject" Z, NULL, false, 0, &o);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	/* a pass without the domain it was for counts for nothing */
	eval("reject" Z, MP_SPF_PASS, NULL, NULL, false, 0, &o);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	ck_assert(!o.spf_aligned);
	/* a DKIM pass for another org */
	eval("reject" Z, SPF_OTHER, "example.net", true, 0, &o);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	/* a garbage d= is ignored */
	eval("reject" Z, SPF_OTHER, "bad..name", true, 0, &o);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
}
END_TEST

START_TEST(several_dkim_results)
{
	struct mp_dkim_result k[3];
	struct mp_dmarc_input in = {
		.from_domain = "relaxed" Z, .spf = MP_SPF_FAIL, .spf_domain = "relaxed" Z,
		.dkim = k, .ndkim = 3, .ip = "2001:db8::25",
	};
	struct mp_dmarc_outcome o;

	memset(k, 0, sizeof(k));
	mp_strlcpy(k[0].domain, "example.net", sizeof(k[0].domain));
	k[0].pass = true;
	mp_strlcpy(k[1].domain, "relaxed" Z, sizeof(k[1].domain));
	k[1].pass = false;
	mp_strlcpy(k[2].domain, "s1.relaxed" Z, sizeof(k[2].domain));
	k[2].pass = true;
	ck_assert_int_eq(mp_dmarc_evaluate(dmarc, NULL, &in, 0, &o), MP_DMARC_PASS);
	ck_assert(o.dkim_aligned && !o.spf_aligned);
	ck_assert(strstr(o.reason, "s1.relaxed") != NULL);
	k[2].pass = false;
	ck_assert_int_eq(mp_dmarc_evaluate(dmarc, NULL, &in, 0, &o), MP_DMARC_FAIL);
}
END_TEST

START_TEST(policy_sp_np)
{
	struct mp_dmarc_outcome o;

	/* the org domain itself: p */
	eval("parent" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "parent" Z, false);
	/* an existing subdomain without a record: the org's sp */
	eval("mail.parent" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "parent" Z, true);
	ck_assert_str_eq(o.org_domain, "parent" Z);
	ck_assert(strstr(o.reason, "sp=quarantine") != NULL);
	/* only non-DMARC TXT at its _dmarc: still the org's sp */
	eval("txtonly.parent" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "parent" Z, true);
	/* a subdomain that does not exist: np */
	eval("nx.parent" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, N, N, "parent" Z, true);
	ck_assert(strstr(o.reason, "np=none") != NULL);
	ck_assert(strstr(o.reason, "does not exist") != NULL);
	/* a subdomain with its own record: that record, p */
	eval("self.parent" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, N, N, "self.parent" Z, false);
	ck_assert_str_eq(o.org_domain, "parent" Z);
	/* an aligned pass on a subdomain */
	eval("mail.parent" Z, MP_SPF_PASS, "parent" Z, NULL, false, 0, &o);
	expect(&o, MP_DMARC_PASS, Q, N, "parent" Z, true);

	/* no sp, no np: p for everything below */
	eval("mail.nosp" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "nosp" Z, true);
	eval("nx.nosp" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "nosp" Z, true);

	/* np only: existing names get p, missing ones np */
	eval("nx.nponly" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "nponly" Z, true);
	eval("mail.nponly" Z, SPF_OTHER, NULL, false, 0, &o);   /* MX only: exists */
	expect(&o, MP_DMARC_FAIL, N, N, "nponly" Z, true);
	eval("deep.nx.nponly" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "nponly" Z, true);
}
END_TEST

START_TEST(pct_and_testing)
{
	struct mp_dmarc_outcome o;
	int seen_r = 0, seen_q = 0;

	/* pct=50: samples 0..49 get the policy, 50..99 one level less */
	eval("pct50" Z, SPF_OTHER, NULL, false, 49, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "pct50" Z, false);
	ck_assert_int_eq(o.rec.pct, 50);
	eval("pct50" Z, SPF_OTHER, NULL, false, 50, &o);
	expect(&o, MP_DMARC_FAIL, R, Q, "pct50" Z, false);
	ck_assert(strstr(o.reason, "pct") != NULL);
	eval("pct50" Z, SPF_OTHER, NULL, false, 1000, &o);
	expect(&o, MP_DMARC_FAIL, R, Q, "pct50" Z, false);
	/* a pass is never sampled */
	eval("pct50" Z, MP_SPF_PASS, "pct50" Z, NULL, false, 99, &o);
	expect(&o, MP_DMARC_PASS, R, N, "pct50" Z, false);
	/* pct=0 and quarantine: none */
	eval("pct0" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, Q, N, "pct0" Z, false);
	/* random samples: both outcomes show up */
	for (int i = 0; i < 64; i++) {
		eval("pct50" Z, SPF_OTHER, NULL, false, -1, &o);
		ck_assert_int_eq(o.policy, R);
		if (o.disposition == R)
			seen_r++;
		else if (o.disposition == Q)
			seen_q++;
	}
	ck_assert_int_eq(seen_r + seen_q, 64);
	ck_assert(seen_r > 0 && seen_q > 0);

	/* t=y: one level down */
	eval("testing" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, R, Q, "testing" Z, false);
	ck_assert(o.rec.testing);
	ck_assert(strstr(o.reason, "t=y") != NULL);
	/* t=y and outside pct: still only one level down */
	eval("testpct" Z, SPF_OTHER, NULL, false, 99, &o);
	expect(&o, MP_DMARC_FAIL, R, Q, "testpct" Z, false);
}
END_TEST

START_TEST(alignment_strict_relaxed)
{
	struct mp_dmarc_outcome o;

	/* relaxed: a subdomain MAIL FROM aligns */
	eval("relaxed" Z, MP_SPF_PASS, "bounce.relaxed" Z, NULL, false, 0, &o);
	expect(&o, MP_DMARC_PASS, R, N, "relaxed" Z, false);
	ck_assert(o.spf_aligned);
	ck_assert(strstr(o.reason, "relaxed") != NULL);
	/* strict: it does not (libopendmarc says it does: upstream #268) */
	eval("strict" Z, MP_SPF_PASS, "bounce.strict" Z, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "strict" Z, false);
	ck_assert(!o.spf_aligned);
	ck_assert(o.rec.aspf_strict && o.rec.adkim_strict);
	/* strict, the other way round: From a subdomain, MAIL FROM the parent */
	eval("bounce.strict" Z, MP_SPF_PASS, "strict" Z, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "strict" Z, true);
	/* strict: the exact domain aligns */
	eval("strict" Z, MP_SPF_PASS, "STRICT" Z, NULL, false, 0, &o);
	expect(&o, MP_DMARC_PASS, R, N, "strict" Z, false);
	/* DKIM the same way */
	eval("strict" Z, SPF_OTHER, "bounce.strict" Z, true, 0, &o);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	ck_assert(!o.dkim_aligned);
	eval("strict" Z, SPF_OTHER, "strict" Z, true, 0, &o);
	ck_assert_int_eq(o.result, MP_DMARC_PASS);
	ck_assert(o.dkim_aligned);
	eval("relaxed" Z, SPF_OTHER, "s1._domainkey-ish.relaxed" Z, true, 0, &o);
	ck_assert_int_eq(o.result, MP_DMARC_PASS);
	/* relaxed never crosses org domains */
	eval("relaxed" Z, MP_SPF_PASS, "strict" Z, NULL, false, 0, &o);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
}
END_TEST

START_TEST(broken_records)
{
	struct mp_dmarc_outcome o;

	/* two DMARC records: no policy, reported as permerror */
	eval("two" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_PERMERROR, U, N, "two" Z, false);
	ck_assert(o.record_found);
	ck_assert(strstr(o.reason, "2 DMARC records") != NULL);
	eval("mail.two" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_PERMERROR, U, N, "two" Z, true);
	/* one DMARC record beside an SPF record: fine */
	eval("oneplus" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "oneplus" Z, false);
	/* invalid p, no rua */
	eval("malformed" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_PERMERROR, U, N, "malformed" Z, false);
	ck_assert(strstr(o.reason, "p=bogus") != NULL);
	ck_assert_str_eq(o.record, "v=DMARC1; p=bogus");
	/* invalid p with rua: p=none */
	eval("fallback" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_FAIL, N, N, "fallback" Z, false);
	ck_assert(o.rec.policy_fallback);
	/* a NUL byte: invalid, and the record is shown escaped */
	eval("nul" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_PERMERROR, U, N, "nul" Z, false);
	ck_assert(strstr(o.reason, "NUL") != NULL);
	ck_assert_str_eq(o.record, "v=DMARC1; p=reject\\x00");
	/* a broken record at the From domain: no fallback to the org record */
	eval("bad.parent" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_PERMERROR, U, N, "bad.parent" Z, false);
}
END_TEST

START_TEST(no_record)
{
	struct mp_dmarc_outcome o;

	eval("nodmarc" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_NONE, U, N, "", false);
	ck_assert(!o.record_found);
	eval("mail.nodmarc" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_NONE, U, N, "", false);
	ck_assert_str_eq(o.org_domain, "nodmarc" Z);
	ck_assert(strstr(o.reason, "_dmarc.nodmarc") != NULL);
	/* not a domain at all */
	eval("not a domain", SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_PERMERROR, U, N, "", false);
	eval("", SPF_OTHER, NULL, false, 0, &o);
	ck_assert_int_eq(o.result, MP_DMARC_PERMERROR);
}
END_TEST

START_TEST(temperror_is_never_none)
{
	struct mp_dmarc_outcome o;
	struct mp_dns_result *res;

	/* _dmarc.loop is a CNAME loop: SERVFAIL */
	eval("loop" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_TEMPERROR, U, N, "loop" Z, false);
	ck_assert(strstr(o.reason, "try again") != NULL);
	/* the From domain has no record, the org-domain lookup fails */
	eval("mail.loop" Z, SPF_OTHER, NULL, false, 0, &o);
	expect(&o, MP_DMARC_TEMPERROR, U, N, "loop" Z, true);
	/* even an aligned pass cannot be a pass without the record */
	eval("mail.loop" Z, MP_SPF_PASS, "mail.loop" Z, NULL, false, 0, &o);
	ck_assert_int_eq(o.result, MP_DMARC_TEMPERROR);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "mail.loop" Z, &o), MP_DMARC_TEMPERROR);

	/* _dmarc.broken is delegated to a dead server. Through unbound
	 * forwarding to NSD the referral comes back as NODATA (measured);
	 * whatever dns says, dmarc must follow it. */
	res = mp_dns_query(dns, NULL, "_dmarc.broken" Z, MP_DNS_TXT);
	eval("broken" Z, SPF_OTHER, NULL, false, 0, &o);
	if (mp_dns_status_is_temp(res->status))
		ck_assert_int_eq(o.result, MP_DMARC_TEMPERROR);
	else
		ck_assert_int_eq(o.result, MP_DMARC_NONE);
	mp_dns_result_free(&res);
}
END_TEST

START_TEST(temperror_dead_resolver)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	struct mp_dns_options opt = { NULL, 300, NULL, false };
	struct mp_dns *dead;
	struct mp_dmarc *dd;
	struct mp_dmarc_outcome o;
	struct mp_dmarc_input in = {
		.from_domain = "reject" Z, .spf = MP_SPF_PASS, .spf_domain = "reject" Z,
	};
	char upstream[64], err[256];
	int fd;

	/* a UDP port that we hold open and never answer on */
	ck_assert((fd = socket(AF_INET, SOCK_DGRAM, 0)) != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	ck_assert(getsockname(fd, (struct sockaddr *)&sin, &slen) == 0);
	snprintf(upstream, sizeof(upstream), "127.0.0.1@%u", ntohs(sin.sin_port));
	opt.upstream = upstream;
	dead = mp_dns_new(&opt, err, sizeof(err));
	ck_assert_msg(dead != NULL, "%s", err);
	dd = mp_dmarc_new(dead, psl);

	ck_assert_int_eq(mp_dmarc_evaluate(dd, NULL, &in, 0, &o), MP_DMARC_TEMPERROR);
	ck_assert_int_eq(o.policy, U);
	ck_assert(strstr(o.reason, "_dmarc.reject") != NULL);
	ck_assert_int_eq(mp_dmarc_lookup(dd, NULL, "mail.parent" Z, &o), MP_DMARC_TEMPERROR);
	ck_assert(!o.record_found);

	mp_dmarc_free(&dd);
	mp_dns_free(&dead);
	close(fd);
}
END_TEST

START_TEST(lookup)
{
	struct mp_dmarc_outcome o;

	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "reject" Z, &o), MP_DMARC_PASS);
	expect(&o, MP_DMARC_PASS, R, R, "reject" Z, false);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "mail.parent" Z, &o), MP_DMARC_PASS);
	expect(&o, MP_DMARC_PASS, Q, Q, "parent" Z, true);
	ck_assert_int_eq(o.rec.p, R);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "nx.nponly" Z, &o), MP_DMARC_PASS);
	expect(&o, MP_DMARC_PASS, R, R, "nponly" Z, true);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "testing" Z, &o), MP_DMARC_PASS);
	expect(&o, MP_DMARC_PASS, R, Q, "testing" Z, false);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "nodmarc" Z, &o), MP_DMARC_NONE);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "two" Z, &o), MP_DMARC_PERMERROR);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "malformed" Z, &o), MP_DMARC_PERMERROR);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "a..b" Z, &o), MP_DMARC_PERMERROR);
}
END_TEST

/* libmilter runs messages on worker threads: several at once. */
static void *
worker(void *arg)
{
	static const char *const froms[] = { "reject" Z, "mail.parent" Z, "strict" Z, "two" Z };
	static const enum mp_dmarc_result want[] = {
		MP_DMARC_PASS, MP_DMARC_FAIL, MP_DMARC_FAIL, MP_DMARC_PERMERROR,
	};
	long bad = 0;

	(void)arg;
	for (int i = 0; i < 40; i++) {
		struct mp_dkim_result k;
		struct mp_dmarc_input in = {
			.from_domain = froms[i % 4], .spf = MP_SPF_PASS,
			.spf_domain = "bounce.reject" Z, .dkim = &k, .ndkim = 1, .ip = "192.0.2.7",
		};
		struct mp_dmarc_outcome o;

		memset(&k, 0, sizeof(k));
		mp_strlcpy(k.domain, "sub.strict" Z, sizeof(k.domain));
		k.pass = true;
		if (mp_dmarc_evaluate(dmarc, NULL, &in, i % 100, &o) != want[i % 4])
			bad++;
	}
	return (void *)bad;
}

START_TEST(threads)
{
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *bad;

		ck_assert_int_eq(pthread_join(t[i], &bad), 0);
		ck_assert_int_eq((long)bad, 0);
	}
}
END_TEST

START_TEST(real_psl_org_domain)
{
	char err[256];
	struct mp_psl *real = mp_psl_load(NULL, err, sizeof(err));
	struct mp_dmarc *rd;
	struct mp_dmarc_outcome o;

	ck_assert_msg(real != NULL, "%s", err);
	rd = mp_dmarc_new(dns, real);
	/* a record at the From domain needs no org domain lookup */
	ck_assert_int_eq(mp_dmarc_lookup(rd, NULL, "reject" Z, &o), MP_DMARC_PASS);
	/* under the real PSL the org domain is example.org, not ours */
	ck_assert_str_eq(o.org_domain, "example.org");
	mp_dmarc_free(&rd);
	mp_psl_free(&real);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("dmarc");
	TCase *tc = tcase_create("record");

	tcase_add_loop_test(tc, record_table, 0, (int)MP_ARRAY_SIZE(rec_cases));
	tcase_add_test(tc, record_fields);
	tcase_add_test(tc, record_oversized);
	tcase_add_test(tc, is_record);
	tcase_add_test(tc, strings);
	tcase_add_test(tc, alignment_real_psl);
	suite_add_tcase(s, tc);

	tc = tcase_create("evaluate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, policy_p);
	tcase_add_test(tc, spf_and_dkim_must_pass);
	tcase_add_test(tc, several_dkim_results);
	tcase_add_test(tc, policy_sp_np);
	tcase_add_test(tc, pct_and_testing);
	tcase_add_test(tc, alignment_strict_relaxed);
	tcase_add_test(tc, broken_records);
	tcase_add_test(tc, no_record);
	tcase_add_test(tc, temperror_is_never_none);
	tcase_add_test(tc, temperror_dead_resolver);
	tcase_add_test(tc, lookup);
	tcase_add_test(tc, threads);
	tcase_add_test(tc, real_psl_org_domain);
	suite_add_tcase(s, tc);
	return s;
}
