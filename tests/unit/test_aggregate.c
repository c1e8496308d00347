/*
 * Aggregate reports: the capture's encodings (policy/store_report), the
 * XML escaping with hostile input, documents checked with xmllint
 * against tests/xsd, the rua parser, RFC 9990's external destination
 * check over a scripted DNS, names and gzip, and the capture through
 * the store's script into a real redis-server (max_rows, replays, the
 * report sender's own mail). report-aggregate.sh runs it all end to end.
 */
#include "config.h"

#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <zlib.h>

#include "aggregate_int.h"
#include "check_main.h"
#include "store.h"
#include "util.h"

extern char **environ;

#define T0 1700000000   /* 2023-11-14 22:13:20 UTC */

/* A record of a message that DMARC judged under pass.example.com's p=reject. */
static void
record(struct mp_store_record *r, const char *ip, enum mp_dmarc_result dmarc,
    enum mp_action action)
{
	mp_store_record_init(r);
	mp_strlcpy(r->host, "mx.example.net", sizeof(r->host));
	mp_strlcpy(r->queue_id, "Q1", sizeof(r->queue_id));
	r->time = T0;
	mp_strlcpy(r->ip, ip, sizeof(r->ip));
	mp_strlcpy(r->mail_from, "bob@pass.example.com", sizeof(r->mail_from));
	mp_strlcpy(r->from_domain, "pass.example.com", sizeof(r->from_domain));
	mp_strlcpy(r->org_domain, "example.com", sizeof(r->org_domain));
	r->dmarc = dmarc;
	r->spf = dmarc == MP_DMARC_PASS ? MP_SPF_PASS : MP_SPF_FAIL;
	r->spf_aligned = dmarc == MP_DMARC_PASS;
	r->policy = MP_DMARC_P_REJECT;
	r->disposition = dmarc == MP_DMARC_FAIL ? MP_DMARC_P_REJECT : MP_DMARC_P_UNSET;
	r->action = action;
	mp_strlcpy(r->rep.policy_domain, "pass.example.com", sizeof(r->rep.policy_domain));
	mp_strlcpy(r->rep.envelope_from, "pass.example.com", sizeof(r->rep.envelope_from));
	mp_strlcpy(r->rep.spf_domain, "pass.example.com", sizeof(r->rep.spf_domain));
	r->rep.p = MP_DMARC_P_REJECT;
	mp_strlcpy(r->rep.rua, "mailto:dmarc@example.com", sizeof(r->rep.rua));
}

static void
add_dkim(struct mp_store_record *r, const char *d, const char *s, enum mp_dkim_result res,
    bool aligned)
{
	struct mp_store_dkim *k = &r->dkim[r->ndkim++];

	mp_strlcpy(k->domain, d, sizeof(k->domain));
	mp_strlcpy(k->selector, s, sizeof(k->selector));
	k->result = res;
	k->aligned = aligned;
}

static char *
row_of(const struct mp_store_record *r)
{
	struct mp_buf b = MP_BUF_INIT;

	if (!mp_store_report_row(r, &b)) {
		mp_buf_free(&b);
		return NULL;
	}
	return mp_buf_steal(&b);
}

/* ---- escaping ------------------------------------------------------------ */

START_TEST(xml_escape_hostile)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "Example Org", "Example Org" },
		{ "<b>&amp;</b>", "&lt;b&gt;&amp;amp;&lt;/b&gt;" },
		{ "a\"b'c", "a&quot;b&apos;c" },
		{ "]]><x/>", "]]&gt;&lt;x/&gt;" },
		/* Control bytes XML 1.0 cannot hold, even as references. */
		{ "a\x01" "b\x1b[31m\x7f\r", "a?b?[31m??" },
		{ "tab\tnl\n", "tab\tnl\n" },
		/* UTF-8 stays; what is not UTF-8 becomes '?' byte by byte. */
		{ "caf\xc3\xa9 \xf0\x9f\x93\xa7", "caf\xc3\xa9 \xf0\x9f\x93\xa7" },
		{ "\xc3", "?" },
		{ "\xc0\xaf", "??" },                 /* overlong '/' */
		{ "\xe0\x80\xaf", "???" },            /* overlong, 3 bytes */
		{ "\xed\xa0\x80", "???" },            /* a surrogate */
		{ "\xef\xbf\xbe", "???" },            /* U+FFFE */
		{ "\xf4\x90\x80\x80", "????" },       /* past U+10FFFF */
		{ "\xff\xfe<", "??&lt;" },
		{ "", "" },
	};

	for (size_t i = 0; i < MP_ARRAY_SIZE(cases); i++) {
		struct mp_buf b = MP_BUF_INIT;

		agg_xml_escape(&b, cases[i].in);
		ck_assert_msg(strcmp(mp_buf_str(&b), cases[i].out) == 0, "case %zu: got '%s'", i,
		    mp_buf_str(&b));
		mp_buf_free(&b);
	}
}
END_TEST

/* ---- rows ---------------------------------------------------------------- */

START_TEST(row_round_trip)
{
	struct mp_store_record r;
	struct mp_report_row w;
	char *row;

	record(&r, "192.0.2.10", MP_DMARC_PASS, MP_ACTION_ACCEPT);
	r.dkim_aligned = true;
	add_dkim(&r, "esp.example.net", "s1", MP_DKIM_PASS, false);
	add_dkim(&r, "example.com", "rel", MP_DKIM_PASS, true);
	add_dkim(&r, "pass.example.com", "a b<c>", MP_DKIM_FAIL, true);
	add_dkim(&r, "pass.example.com", "strict", MP_DKIM_PASS, true);
	row = row_of(&r);
	ck_assert_ptr_nonnull(row);
	/* The From domain again is "=". */
	ck_assert_str_eq(row, "192.0.2.10 pass.example.com = = pass 1 1 none - = strict pass "
	    "example.com rel pass esp.example.net s1 pass = a_b_c_ fail");
	ck_assert(mp_store_report_row_parse(row, strlen(row), &w));
	ck_assert_str_eq(w.ip, "192.0.2.10");
	ck_assert_str_eq(w.header_from, "pass.example.com");
	ck_assert_str_eq(w.spf, "pass");
	ck_assert(w.dkim_aligned && w.spf_aligned && !w.local_policy && !w.testing);
	ck_assert_str_eq(w.disposition, "none");
	ck_assert_uint_eq(w.ndkim, 4);
	ck_assert_str_eq(w.dkim[0].selector, "strict");
	ck_assert_str_eq(w.dkim[0].domain, "pass.example.com");
	ck_assert_str_eq(w.envelope_from, "pass.example.com");
	ck_assert_str_eq(w.dkim[1].domain, "example.com");
	ck_assert_str_eq(w.dkim[3].selector, "a_b_c_");
	ck_assert_str_eq(w.dkim[3].result, "fail");
	free(row);
}
END_TEST

/* A row keeps the first MP_REPORT_DKIM_MAX signatures in RFC 9990's
 * order, whatever number a sender puts on his mail. */
START_TEST(row_keeps_few_signatures)
{
	static const char *failing[] = { "f1", "f2", "f3" };
	struct mp_store_record r;
	struct mp_report_row w;
	char *row;

	record(&r, "192.0.2.10", MP_DMARC_PASS, MP_ACTION_ACCEPT);
	r.dkim_aligned = true;
	for (size_t i = 0; i < MP_ARRAY_SIZE(failing); i++)
		add_dkim(&r, "pass.example.com", failing[i], MP_DKIM_FAIL, true);
	add_dkim(&r, "esp.example.net", "u1", MP_DKIM_PASS, false);
	add_dkim(&r, "esp.example.net", "u2", MP_DKIM_PASS, false);
	add_dkim(&r, "example.com", "rel", MP_DKIM_PASS, true);
	add_dkim(&r, "pass.example.com", "strict", MP_DKIM_PASS, true);
	row = row_of(&r);
	ck_assert(mp_store_report_row_parse(row, strlen(row), &w));
	ck_assert_uint_eq(w.ndkim, MP_REPORT_DKIM_MAX);
	ck_assert_str_eq(w.dkim[0].selector, "strict");
	ck_assert_str_eq(w.dkim[1].selector, "rel");
	ck_assert_str_eq(w.dkim[2].selector, "u1");
	ck_assert_str_eq(w.dkim[3].selector, "u2");
	free(row);
}
END_TEST

/* The disposition is the one applied; a difference is a reason. */
START_TEST(row_disposition_and_reasons)
{
	struct mp_store_record r;
	struct mp_report_row w;
	char *row;

	/* p=reject, refused: reject, no reason. */
	record(&r, "198.51.100.7", MP_DMARC_FAIL, MP_ACTION_REJECT);
	row = row_of(&r);
	ck_assert(mp_store_report_row_parse(row, strlen(row), &w));
	ck_assert_str_eq(w.disposition, "reject");
	ck_assert(!w.local_policy && !w.dkim_aligned && !w.spf_aligned);
	free(row);
	/* dmarc_reject = none: delivered, so none, and local_policy. */
	record(&r, "198.51.100.7", MP_DMARC_FAIL, MP_ACTION_ACCEPT);
	row = row_of(&r);
	ck_assert(mp_store_report_row_parse(row, strlen(row), &w));
	ck_assert_str_eq(w.disposition, "none");
	ck_assert(w.local_policy && !w.testing);
	free(row);
	/* t=y lowered p=reject to quarantine, which was applied. */
	record(&r, "198.51.100.7", MP_DMARC_FAIL, MP_ACTION_QUARANTINE);
	r.rep.testing = true;
	r.disposition = MP_DMARC_P_QUARANTINE;
	row = row_of(&r);
	ck_assert(mp_store_report_row_parse(row, strlen(row), &w));
	ck_assert_str_eq(w.disposition, "quarantine");
	ck_assert(w.testing && !w.local_policy);
	free(row);
	/* A tempfail is counted when the sender comes back; none or a
	 * temperror has no report; nor has a message without a policy domain. */
	record(&r, "198.51.100.7", MP_DMARC_FAIL, MP_ACTION_TEMPFAIL);
	ck_assert_ptr_null(row_of(&r));
	record(&r, "198.51.100.7", MP_DMARC_TEMPERROR, MP_ACTION_ACCEPT);
	ck_assert_ptr_null(row_of(&r));
	record(&r, "198.51.100.7", MP_DMARC_PASS, MP_ACTION_ACCEPT);
	r.rep.policy_domain[0] = '\0';
	ck_assert_ptr_null(row_of(&r));
}
END_TEST

/* Source addresses in forms the schema's IPAddress patterns take. */
START_TEST(row_addresses)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "192.0.2.1", "192.0.2.1" },
		{ "::ffff:192.0.2.1", "192.0.2.1" },
		{ "2001:DB8:0:0:0:0:0:1", "2001:db8::1" },
		{ "::1.2.3.4", "0:0:0:0:0:0:102:304" },
		{ "unknown", NULL },
		{ "", NULL },
		{ "192.0.2.1 x", NULL },
	};
	struct mp_store_record r;

	for (size_t i = 0; i < MP_ARRAY_SIZE(cases); i++) {
		char *row;

		record(&r, cases[i].in, MP_DMARC_PASS, MP_ACTION_ACCEPT);
		row = row_of(&r);
		if (cases[i].out == NULL) {
			ck_assert_msg(row == NULL, "%s reported", cases[i].in);
			continue;
		}
		ck_assert_ptr_nonnull(row);
		ck_assert_msg(strncmp(row, cases[i].out, strlen(cases[i].out)) == 0 &&
		    row[strlen(cases[i].out)] == ' ', "%s -> %s", cases[i].in, row);
		free(row);
	}
}
END_TEST

START_TEST(row_parse_refuses)
{
	static const char *bad[] = {
		"",
		"192.0.2.1",
		"192.0.2.1 a.example b.example c.example pass 1 1 none",
		"192.0.2.1 a.example b.example c.example pass 1 1 none - ",
		"192.0.2.1 a.example b.example c.example good 1 1 none -",
		"192.0.2.1 a.example b.example c.example pass 2 1 none -",
		"192.0.2.1 a.example b.example c.example pass 1 1 pass -",
		"192.0.2.1 a.example b.example c.example pass 1 1 none x",
		"192.0.2.1 a.example b.example c.example pass 1 1 none - d.example s1",
		"192.0.2.1 a.example b.example c.example pass 1 1 none - d.example s1 ok",
		"300.0.2.1 a.example b.example c.example pass 1 1 none -",
		"192.0.2.1  b.example c.example pass 1 1 none -",
		"192.0.2.1 a<b b.example c.example pass 1 1 none -",
		"192.0.2.1 = b.example c.example pass 1 1 none -",
		"192.0.2.1 a.example == c.example pass 1 1 none -",
	};
	struct mp_report_row w;

	for (size_t i = 0; i < MP_ARRAY_SIZE(bad); i++)
		ck_assert_msg(!mp_store_report_row_parse(bad[i], strlen(bad[i]), &w),
		    "accepted '%s'", bad[i]);
	/* Empty words where the writer writes them: a null sender's. */
	{
		static const char nul[] = "192.0.2.1 a.example   none 0 0 none -";

		ck_assert(mp_store_report_row_parse(nul, strlen(nul), &w));
	}
	ck_assert_str_eq(w.envelope_from, "");
}
END_TEST

START_TEST(policy_text)
{
	struct mp_store_report rep;
	struct mp_report_policy p;
	struct mp_buf b = MP_BUF_INIT;
	char pid[MP_REPORT_PID_LEN + 1], pid2[MP_REPORT_PID_LEN + 1];

	memset(&rep, 0, sizeof(rep));
	rep.p = MP_DMARC_P_REJECT;
	rep.np = MP_DMARC_P_QUARANTINE;
	rep.aspf_strict = true;
	mp_strlcpy(rep.rua, "mailto:a@example.com, mailto:b@example.net!10m", sizeof(rep.rua));
	mp_store_report_policy(&rep, &b);
	ck_assert_str_eq(mp_buf_str(&b), "p=reject sp= np=quarantine adkim=r aspf=s t=n fo=0 "
	    "disc=treewalk rua=mailto:a@example.com, mailto:b@example.net!10m");
	ck_assert(mp_store_report_policy_parse(mp_buf_str(&b), &p));
	ck_assert_str_eq(p.p, "reject");
	ck_assert_str_eq(p.sp, "");
	ck_assert_int_eq(p.aspf, 's');
	ck_assert_int_eq(p.testing, 'n');
	ck_assert_str_eq(p.rua, "mailto:a@example.com, mailto:b@example.net!10m");
	mp_store_report_pid(b.data, b.len, pid);
	ck_assert_uint_eq(strspn(pid, "0123456789abcdef"), MP_REPORT_PID_LEN);
	rep.testing = true;
	mp_store_report_policy(&rep, &b);
	mp_store_report_pid(b.data, b.len, pid2);
	ck_assert_str_ne(pid, pid2);
	ck_assert(!mp_store_report_policy_parse("p=maybe sp= np= adkim=r aspf=r t=n fo=0 "
	    "disc=treewalk rua=", &p));
	ck_assert(!mp_store_report_policy_parse("p=none sp= np= adkim=r aspf=r t=n fo=0 "
	    "disc=psl rua=", &p));
	ck_assert(!mp_store_report_policy_parse("p=none sp= np=", &p));
	mp_buf_free(&b);
}
END_TEST

/* The reader takes a policy id only in the form the writer makes. */
START_TEST(policy_id_checked)
{
	static const struct {
		const char *s;
		size_t len;
	} bad[] = {
		{ "0A1B2C3D", 8 }, { "0a1b2c3", 7 }, { "0a1b2c3d0", 9 }, { "0a1b/c3d", 8 },
		{ "0a1b 2c3", 8 }, { "0a1b2c3\0", 8 }, { "0a1b2c3g", 8 }, { "", 0 },
	};
	char pid[MP_REPORT_PID_LEN + 1];

	ck_assert(mp_store_report_pid_ok("0a1b2c3d", 8));
	mp_store_report_pid("p=none", 6, pid);
	ck_assert(mp_store_report_pid_ok(pid, strlen(pid)));
	for (size_t i = 0; i < MP_ARRAY_SIZE(bad); i++)
		ck_assert_msg(!mp_store_report_pid_ok(bad[i].s, bad[i].len), "case %zu", i);
}
END_TEST

/* ---- rua and destinations ------------------------------------------------- */

START_TEST(rua_mailtos)
{
	char out[8][AGG_ADDR_MAX];
	size_t n = agg_rua_mailtos(" mailto:a@b.example ,https://x.example/r, "
	    "mailto:c%2Bx@D.Example!10m,mailto:bad addr@x.example,mailto:<x>@y.example,"
	    "MAILTO:E@f.example?subject=hi,mailto:g@h.example", out, 4);

	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(out[0], "a@b.example");
	ck_assert_str_eq(out[1], "c+x@d.example");
	ck_assert_str_eq(out[2], "E@f.example");
	ck_assert_str_eq(out[3], "g@h.example");
	/* Nothing that could end or extend a header field gets through. */
	ck_assert(!agg_address("a\nb@c.example", 13, out[0]));
	ck_assert(!agg_address("a@c.example\nBcc: x@y.example", 28, out[0]));
	ck_assert(!agg_address(".a@c.example", 12, out[0]));
	ck_assert(!agg_address("a..b@c.example", 14, out[0]));
	ck_assert(!agg_address("a@c", 3, out[0]));
	ck_assert(agg_address("first.last+tag@Example.COM", 26, out[0]));
	ck_assert_str_eq(out[0], "first.last+tag@example.com");
}
END_TEST

/* A valid local part and a valid domain can be too long together: such
 * an address is refused, never cut (that would be another address). */
START_TEST(address_that_does_not_fit)
{
	char in[400], out[AGG_ADDR_MAX];
	size_t n = 0;

	memset(in, 'a', 64);
	n = 64;
	in[n++] = '@';
	for (int label = 0; label < 4; label++) {
		memset(in + n, 'b' + label, 60);
		n += 60;
		in[n++] = '.';
	}
	memcpy(in + n, "example", 7);
	n += 7;
	ck_assert_uint_eq(n, 64 + 1 + 251);
	ck_assert(!agg_address(in, n, out));
	ck_assert_str_eq(out, "");
	/* The same domain with a short local part fits. */
	ck_assert(agg_address(in + 63, n - 63, out));
	ck_assert_uint_eq(strlen(out), 253);
}
END_TEST

/* A scripted DNS: organizational domains by suffix, TXT answers by name. */
struct fake_dns {
	const char *txt_name;
	enum mp_dns_status status;
	const char *txt[2];
	bool org_fails;
};

/* The questions it was asked, and the time it takes over each. */
static struct {
	unsigned norg, ntxt;
	unsigned delay_ms;
} fake_asked;

static bool
fake_org(void *ctx, const char *name, char out[MP_DOMAIN_MAX])
{
	const struct fake_dns *f = ctx;
	const char *dot = strrchr(name, '.'), *p = name;

	fake_asked.norg++;
	if (fake_asked.delay_ms > 0)
		usleep(fake_asked.delay_ms * 1000);
	if (f->org_fails)
		return false;
	/* The last two labels, as the test zones would have it. */
	for (const char *q = name; dot != NULL && q < dot; q++)
		if (*q == '.')
			p = q + 1;
	mp_strlcpy(out, p, MP_DOMAIN_MAX);
	return true;
}

static struct mp_dns_result *
fake_txt(void *ctx, const char *name)
{
	const struct fake_dns *f = ctx;
	struct mp_dns_result *r;
	size_t n = 0;

	fake_asked.ntxt++;
	if (f->txt_name == NULL || strcmp(name, f->txt_name) != 0)
		return mp_dns_result_new(MP_DNS_NXDOMAIN, NULL);
	r = mp_dns_result_new(f->status, NULL);
	while (n < 2 && f->txt[n] != NULL)
		n++;
	if (f->status != MP_DNS_OK)
		return r;
	r->rr = xcalloc(n, sizeof(*r->rr));
	for (size_t i = 0; i < n; i++) {
		r->rr[i].type = MP_DNS_TXT;
		r->rr[i].text = xstrdup(f->txt[i]);
		r->rr[i].text_len = strlen(f->txt[i]);
	}
	r->count = n;
	return r;
}

START_TEST(external_destinations)
{
	static const struct {
		const char *addr;
		struct fake_dns dns;
		enum agg_dest want;
		const char *first;
	} cases[] = {
		/* Same Organizational Domain: no question asked. */
		{ "dmarc@reports.example.com", { NULL, MP_DNS_OK, { NULL }, false },
		    AGG_DEST_OK, "dmarc@reports.example.com" },
		{ "agg@ok.example.net", { "a.example.com._report._dmarc.ok.example.net",
		    MP_DNS_OK, { "v=DMARC1", NULL }, false }, AGG_DEST_OK, "agg@ok.example.net" },
		{ "agg@ok.example.net", { "a.example.com._report._dmarc.ok.example.net",
		    MP_DNS_OK, { "spf1 nonsense", "v=DMARC1;" }, false }, AGG_DEST_OK,
		    "agg@ok.example.net" },
		/* The consumer's own rua replaces it, on the same host only. */
		{ "agg@ok.example.net", { "a.example.com._report._dmarc.ok.example.net",
		    MP_DNS_OK, { "v=DMARC1; rua=mailto:other@ok.example.net", NULL }, false },
		    AGG_DEST_OK, "other@ok.example.net" },
		{ "agg@ok.example.net", { "a.example.com._report._dmarc.ok.example.net",
		    MP_DNS_OK, { "v=DMARC1; rua=mailto:x@victim.example.org", NULL }, false },
		    AGG_DEST_DENIED, NULL },
		{ "agg@bad.example.net", { NULL, MP_DNS_OK, { NULL }, false },
		    AGG_DEST_DENIED, NULL },
		{ "agg@bad.example.net", { "a.example.com._report._dmarc.bad.example.net",
		    MP_DNS_OK, { "v=DMARC2", "x v=DMARC1" }, false }, AGG_DEST_DENIED, NULL },
		{ "agg@bad.example.net", { "a.example.com._report._dmarc.bad.example.net",
		    MP_DNS_NODATA, { NULL }, false }, AGG_DEST_DENIED, NULL },
		{ "agg@slow.example.net", { "a.example.com._report._dmarc.slow.example.net",
		    MP_DNS_TIMEOUT, { NULL }, false }, AGG_DEST_RETRY, NULL },
		{ "agg@slow.example.net", { NULL, MP_DNS_OK, { NULL }, true },
		    AGG_DEST_RETRY, NULL },
	};

	for (size_t i = 0; i < MP_ARRAY_SIZE(cases); i++) {
		struct fake_dns dns = cases[i].dns;
		struct agg_lookup lk = { &dns, fake_org, fake_txt };
		char out[2][AGG_ADDR_MAX], why[300];
		size_t n;
		enum agg_dest d = agg_destination(&lk, "a.example.com", cases[i].addr, out, 2, &n,
		    why, sizeof(why));

		ck_assert_msg(d == cases[i].want, "case %zu: %d (%s)", i, (int)d, why);
		if (d == AGG_DEST_OK) {
			ck_assert_uint_eq(n, 1);
			ck_assert_str_eq(out[0], cases[i].first);
		}
	}
}
END_TEST

START_TEST(too_long_a_name_is_denied)
{
	struct fake_dns dns = { NULL, MP_DNS_OK, { NULL }, false };
	struct agg_lookup lk = { &dns, fake_org, fake_txt };
	char pd[MP_DOMAIN_MAX], out[1][AGG_ADDR_MAX], why[300];
	size_t n;

	/* Four long labels: 244 bytes, and 279 with the rest of the name. */
	memset(pd, 'a', 232);
	pd[63] = pd[127] = pd[191] = '.';
	strcpy(pd + 232, ".example.org");
	ck_assert_int_eq(agg_destination(&lk, pd, "agg@reports.example.net", out, 1, &n, why,
	    sizeof(why)), AGG_DEST_DENIED);
	ck_assert_ptr_nonnull(strstr(why, "too long"));
}
END_TEST

/* ---- documents ------------------------------------------------------------ */

static void
conf_fill(struct agg_conf *c)
{
	memset(c, 0, sizeof(*c));
	mp_strlcpy(c->org_name, "Example <Org> & \"Sons\" \x01\xff caf\xc3\xa9", sizeof(c->org_name));
	mp_strlcpy(c->email, "dmarc-reports@mx.example.net", sizeof(c->email));
	mp_strlcpy(c->extra_contact_info, "https://mx.example.net/?a=1&b=<2>",
	    sizeof(c->extra_contact_info));
	mp_strlcpy(c->from, c->email, sizeof(c->from));
	mp_strlcpy(c->submitter, "mx.example.net", sizeof(c->submitter));
	c->max_destinations = 2;
}

static void
report_fill(struct agg_report *r, const struct agg_row *rows, size_t n)
{
	memset(r, 0, sizeof(*r));
	mp_strlcpy(r->domain, "pass.example.com", sizeof(r->domain));
	mp_strlcpy(r->day, "20231114", sizeof(r->day));
	r->begin = 1699920000;
	r->end = r->begin + 86399;
	mp_strlcpy(r->pid, "0a1b2c3d", sizeof(r->pid));
	r->policy_text = "p=reject sp= np= adkim=r aspf=r t=n fo=1 disc=treewalk "
	    "rua=mailto:dmarc@example.com";
	ck_assert(mp_store_report_policy_parse(r->policy_text, &r->policy));
	r->rows = rows;
	r->nrows = n;
}

/* xmllint --schema over the document; 0 when it validates. */
static int
xmllint(const struct mp_buf *doc)
{
	char path[] = "/tmp/mp-agg-XXXXXX", cmd[1024];
	int fd = mkstemp(path), rc;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, doc->data, doc->len), (ssize_t)doc->len);
	close(fd);
	/* Quiet when it validates; its reasons on stderr when not. */
	snprintf(cmd, sizeof(cmd), "out=$(xmllint --noout --schema '%s' '%s' 2>&1) || "
	    "{ echo \"$out\" >&2; exit 1; }", test_path("xsd/dmarc-xml-0.2.xsd"), path);
	rc = system(cmd);
	unlink(path);
	return rc;
}

START_TEST(document_validates)
{
	static const struct agg_row rows[] = {
		{ "192.0.2.10 pass.example.com pass.example.com pass.example.com pass 1 1 none - "
		    "pass.example.com s1 pass", 3 },
		{ "198.51.100.7 pass.example.com pass.example.com pass.example.com fail 0 0 none lt",
		    2 },
		{ "2001:db8::7 sub.pass.example.com  helo.example.org none 0 0 reject -", 1 },
		{ "not a row", 5 },
	};
	struct agg_conf c;
	struct agg_report r;
	struct mp_buf doc = MP_BUF_INIT;

	conf_fill(&c);
	report_fill(&r, rows, MP_ARRAY_SIZE(rows));
	agg_report_id(&c, &r);
	ck_assert_uint_eq(agg_xml_document(&c, &r, &doc), 3);
	ck_assert_int_eq(r.unreadable, 5);
	ck_assert_ptr_nonnull(strstr(doc.data, "<error>5 messages left out: rows that could not "
	    "be read</error>"));
	ck_assert_ptr_nonnull(strstr(doc.data, "<org_name>Example &lt;Org&gt; &amp; &quot;Sons"
	    "&quot; ?? caf\xc3\xa9</org_name>"));
	ck_assert_ptr_nonnull(strstr(doc.data, "<type>local_policy</type>"));
	ck_assert_ptr_nonnull(strstr(doc.data, "<envelope_from></envelope_from>"));
	/* An explicit fo is not guessed; sp is p's when the record has none. */
	ck_assert_ptr_null(strstr(doc.data, "<fo>"));
	ck_assert_ptr_nonnull(strstr(doc.data, "<sp>reject</sp>"));
	ck_assert_int_eq(xmllint(&doc), 0);
	/* Overflow and unreadable rows together still make one error element. */
	r.overflow = 7;
	r.unreadable = 0;
	ck_assert_uint_eq(agg_xml_document(&c, &r, &doc), 3);
	ck_assert_int_eq(xmllint(&doc), 0);
	mp_buf_free(&doc);
}
END_TEST

START_TEST(names_and_gzip)
{
	struct agg_conf c;
	struct agg_report r, r2;
	struct mp_buf gz = MP_BUF_INIT;
	char file[512], back[64];
	const char text[] = "<feedback/>\n";
	uLongf blen = sizeof(back);
	z_stream zs;

	conf_fill(&c);
	report_fill(&r, NULL, 0);
	agg_report_id(&c, &r);
	ck_assert_uint_eq(strlen(r.id), AGG_ID_LEN);
	ck_assert_uint_eq(strspn(r.id, "0123456789abcdef"), AGG_ID_LEN);
	ck_assert_int_eq(strncmp(r.id, "20231114", 8), 0);
	/* The same report gets the same id; another domain another. */
	report_fill(&r2, NULL, 0);
	agg_report_id(&c, &r2);
	ck_assert_str_eq(r.id, r2.id);
	mp_strlcpy(r2.domain, "other.example.com", sizeof(r2.domain));
	agg_report_id(&c, &r2);
	ck_assert_str_ne(r.id, r2.id);
	agg_file_name(&c, &r, file, sizeof(file));
	ck_assert_int_eq(strncmp(file + strlen(file) - 7 - AGG_ID_LEN, r.id, AGG_ID_LEN), 0);
	ck_assert_str_eq(file + strlen(file) - 7, ".xml.gz");
	ck_assert_int_eq(strncmp(file, "mx.example.net!pass.example.com!1699920000!1700006399!",
	    54), 0);
	/* gzip with time 0: the same bytes every time, and it inflates back. */
	ck_assert(agg_gzip(text, strlen(text), &gz));
	ck_assert_int_eq((unsigned char)gz.data[0], 0x1f);
	ck_assert_int_eq((unsigned char)gz.data[1], 0x8b);
	ck_assert(gz.data[4] == 0 && gz.data[5] == 0 && gz.data[6] == 0 && gz.data[7] == 0);
	memset(&zs, 0, sizeof(zs));
	ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)gz.data;
	zs.avail_in = (uInt)gz.len;
	zs.next_out = (Bytef *)back;
	zs.avail_out = (uInt)blen;
	ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
	ck_assert_uint_eq(zs.total_out, strlen(text));
	ck_assert_int_eq(memcmp(back, text, strlen(text)), 0);
	inflateEnd(&zs);
	mp_buf_free(&gz);
}
END_TEST

START_TEST(message_headers)
{
	struct agg_conf c;
	struct agg_report r;
	struct mp_buf gz = MP_BUF_INIT, msg = MP_BUF_INIT;
	char file[512], subject[400];

	conf_fill(&c);
	report_fill(&r, NULL, 0);
	agg_report_id(&c, &r);
	agg_file_name(&c, &r, file, sizeof(file));
	mp_buf_puts(&gz, "\x1f\x8b\x08");
	agg_message(&c, &r, "dmarc@example.com", file, &gz, T0, &msg);
	snprintf(subject, sizeof(subject), "Subject: Report Domain: pass.example.com\n"
	    " Submitter: mx.example.net\n Report-ID: %s\n", r.id);
	ck_assert_ptr_nonnull(strstr(msg.data, subject));
	ck_assert_int_eq(strncmp(msg.data, "From: dmarc-reports@mx.example.net\n", 35), 0);
	ck_assert_ptr_nonnull(strstr(msg.data, "\nTo: dmarc@example.com\n"));
	ck_assert_ptr_nonnull(strstr(msg.data, "Content-Type: application/gzip; name=\""));
	ck_assert_ptr_nonnull(strstr(msg.data, "Content-Transfer-Encoding: base64\n\nH4sI\n"));
	ck_assert_ptr_nonnull(strstr(msg.data, "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"));
	mp_buf_free(&gz);
	mp_buf_free(&msg);
}
END_TEST

/* ---- sending once ------------------------------------------------------------ */

/* The markers, in memory: "ID DOMAIN ADDRESS" strings, and the reports
 * done whole as "ID DOMAIN". */
#define MARK_MAX (AGG_ID_MAX + MP_DOMAIN_MAX + AGG_ADDR_MAX)

struct fake_marks {
	char m[8][MARK_MAX];
	size_t n;
	char done[8][MARK_MAX];
	size_t ndone;
	unsigned takes;
};

static void
mark_name(const struct agg_report *r, const char *addr, char k[MARK_MAX])
{
	snprintf(k, MARK_MAX, "%s %s%s%s", r->id, r->domain, addr ? " " : "", addr ? addr : "");
}

static int
fake_take(void *ctx, const struct agg_report *r, const char *addr)
{
	struct fake_marks *f = ctx;
	char k[MARK_MAX];

	f->takes++;
	mark_name(r, addr, k);
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->m[i], k) == 0)
			return 0;
	ck_assert_uint_lt(f->n, 8);
	mp_strlcpy(f->m[f->n++], k, sizeof(f->m[0]));
	return 1;
}

/* Removes k from list[0..*n). */
static void
mark_drop(char (*list)[MARK_MAX], size_t *n, const char *k)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(list[i], k) == 0)
			memcpy(list[i], list[--*n], MARK_MAX);
}

static bool
fake_give_back(void *ctx, const struct agg_report *r, const char *addr)
{
	struct fake_marks *f = ctx;
	char k[MARK_MAX];

	mark_name(r, addr, k);
	mark_drop(f->m, &f->n, k);
	mark_name(r, NULL, k);
	mark_drop(f->done, &f->ndone, k);
	return true;
}

static int
fake_done(void *ctx, const struct agg_report *r, unsigned *n_r)
{
	struct fake_marks *f = ctx;
	char k[MARK_MAX];
	int done = 0;

	mark_name(r, NULL, k);
	*n_r = 0;
	for (size_t i = 0; i < f->ndone; i++)
		done |= strcmp(f->done[i], k) == 0;
	mark_name(r, "", k);
	for (size_t i = 0; i < f->n; i++)
		*n_r += strncmp(f->m[i], k, strlen(k)) == 0;
	return done;
}

static bool
fake_set_done(void *ctx, const struct agg_report *r)
{
	struct fake_marks *f = ctx;
	unsigned n;

	if (fake_done(ctx, r, &n) == 0) {
		ck_assert_uint_lt(f->ndone, 8);
		mark_name(r, NULL, f->done[f->ndone++]);
	}
	return true;
}

static const struct agg_marks fake_marks_of = {
	NULL, fake_take, fake_give_back, fake_done, fake_set_done
};

static size_t
count_in(const char *path, const char *needle)
{
	FILE *fp = fopen(path, "r");
	char line[1024];
	size_t n = 0;

	while (fp != NULL && fgets(line, sizeof(line), fp) != NULL)
		n += strstr(line, needle) != NULL;
	if (fp)
		fclose(fp);
	return n;
}

START_TEST(send_once_where_allowed)
{
	struct fake_dns dns = { "pass.example.com._report._dmarc.ok.example.net", MP_DNS_OK,
		{ "v=DMARC1", NULL }, false };
	struct agg_lookup lk = { &dns, fake_org, fake_txt };
	struct agg_dns *ad = agg_dns_new(&lk, 60000);
	struct fake_marks fm;
	struct agg_marks mk = fake_marks_of;
	struct agg_conf c;
	struct agg_report r;
	struct agg_sent st;
	struct mp_buf gz = MP_BUF_INIT;
	char sent[64];

	memset(&fm, 0, sizeof(fm));
	mk.ctx = &fm;
	snprintf(sent, sizeof(sent), "/tmp/mp-agg-sent-%ld", (long)getpid());
	unlink(sent);
	conf_fill(&c);
	c.max_destinations = 3;
	/* No shell: the words are split at spaces, and -f FROM come last. */
	snprintf(c.sendmail, sizeof(c.sendmail), "/bin/sh -c cat>>%s", sent);
	report_fill(&r, NULL, 0);
	mp_strlcpy(r.policy.rua, "mailto:dmarc@example.com,mailto:agg@ok.example.net,"
	    "mailto:agg@bad.example.net", sizeof(r.policy.rua));
	agg_report_id(&c, &r);
	mp_buf_puts(&gz, "gz");
	memset(&st, 0, sizeof(st));
	ck_assert(agg_send_report(&c, ad, &mk, &r, "f.xml.gz", &gz, T0, &st));
	ck_assert(st.sent == 2 && st.denied == 1 && st.already == 0 && st.failed == 0);
	ck_assert_uint_eq(count_in(sent, "To: dmarc@example.com"), 1);
	ck_assert_uint_eq(count_in(sent, "To: agg@ok.example.net"), 1);
	ck_assert_uint_eq(count_in(sent, "To: agg@bad.example.net"), 0);
	/* Again: nothing goes out twice. */
	memset(&st, 0, sizeof(st));
	ck_assert(agg_send_report(&c, ad, &mk, &r, "f.xml.gz", &gz, T0, &st));
	ck_assert(st.sent == 0 && st.already == 2);
	ck_assert_uint_eq(count_in(sent, "To: "), 2);
	/* A failing MTA gives the marker back: the next run sends. */
	mp_strlcpy(r.pid, "99999999", sizeof(r.pid));
	agg_report_id(&c, &r);
	mp_strlcpy(c.sendmail, "/bin/false", sizeof(c.sendmail));
	memset(&st, 0, sizeof(st));
	ck_assert(agg_send_report(&c, ad, &mk, &r, "f.xml.gz", &gz, T0, &st));
	ck_assert(st.sent == 0 && st.failed == 2);
	ck_assert_uint_eq(fm.n, 2);
	snprintf(c.sendmail, sizeof(c.sendmail), "/bin/sh -c cat>>%s", sent);
	memset(&st, 0, sizeof(st));
	ck_assert(agg_send_report(&c, ad, &mk, &r, "f.xml.gz", &gz, T0, &st));
	ck_assert(st.sent == 2 && st.already == 0);
	/* max_destinations counts the rua's first URIs. */
	mp_strlcpy(r.pid, "88888888", sizeof(r.pid));
	agg_report_id(&c, &r);
	c.max_destinations = 1;
	memset(&st, 0, sizeof(st));
	ck_assert(agg_send_report(&c, ad, &mk, &r, "f.xml.gz", &gz, T0, &st));
	ck_assert(st.sent == 1 && st.denied == 0);
	unlink(sent);
	mp_buf_free(&gz);
	agg_dns_free(&ad);
}
END_TEST

/* A sending run's parts: fake DNS and markers, an MTA that takes all. */
struct send_env {
	struct fake_dns dns;
	struct agg_lookup lk;
	struct fake_marks fm;
	struct agg_marks mk;
	struct agg_conf c;
	struct mp_buf gz;
};

static void
send_env_init(struct send_env *e, const char *txt_name)
{
	memset(e, 0, sizeof(*e));
	memset(&fake_asked, 0, sizeof(fake_asked));
	e->dns.txt_name = txt_name;
	e->dns.status = MP_DNS_OK;
	e->dns.txt[0] = "v=DMARC1";
	e->lk.ctx = &e->dns;
	e->lk.org = fake_org;
	e->lk.txt = fake_txt;
	e->mk = fake_marks_of;
	e->mk.ctx = &e->fm;
	conf_fill(&e->c);
	e->c.max_destinations = 3;
	/* An MTA that reads the whole message, as a real one does: one that
	 * exits first (/bin/true) makes the write fail, whenever it wins
	 * the race, and the report rightly counts as not sent. */
	mp_strlcpy(e->c.sendmail, "/bin/sh -c cat>/dev/null", sizeof(e->c.sendmail));
	mp_buf_puts(&e->gz, "gz");
}

/* One run's agg_send_report of r, with its own DNS cache. */
static struct agg_sent
send_run(struct send_env *e, const struct agg_report *r, unsigned long long budget_ms)
{
	struct agg_dns *ad = agg_dns_new(&e->lk, budget_ms);
	struct agg_sent st;

	memset(&st, 0, sizeof(st));
	ck_assert(agg_send_report(&e->c, ad, &e->mk, r, "f.xml.gz", &e->gz, T0, &st));
	agg_dns_free(&ad);
	return st;
}

/*
 * The report id is a strong hash: a domain made to share a victim's
 * 32-bit FNV-1a of "submitter!domain" (a8bl7ni.attacker.example shares
 * pass.example.com's under mx.example.net), publishing the same policy,
 * gets another id, and its report sent to the victim's rua address does
 * not make the victim's look sent.
 */
START_TEST(report_id_no_collision)
{
	struct send_env e;
	struct agg_report victim, attacker, other;
	struct agg_sent st;
	unsigned long h;

	send_env_init(&e, "a8bl7ni.attacker.example._report._dmarc.example.com");
	report_fill(&victim, NULL, 0);
	report_fill(&attacker, NULL, 0);
	mp_strlcpy(attacker.domain, "a8bl7ni.attacker.example", sizeof(attacker.domain));
	h = mp_store_report_hash("mx.example.net!", 15, MP_REPORT_HASH_INIT);
	ck_assert_uint_eq(mp_store_report_hash(victim.domain, strlen(victim.domain), h),
	    mp_store_report_hash(attacker.domain, strlen(attacker.domain), h));
	agg_report_id(&e.c, &victim);
	agg_report_id(&e.c, &attacker);
	ck_assert_str_ne(victim.id, attacker.id);
	/* Another policy text under the same policy id: another report. */
	report_fill(&other, NULL, 0);
	other.policy_text = "p=none sp= np= adkim=r aspf=r t=n fo=1 disc=treewalk "
	    "rua=mailto:dmarc@example.com";
	agg_report_id(&e.c, &other);
	ck_assert_str_ne(victim.id, other.id);
	st = send_run(&e, &attacker, 60000);
	ck_assert(st.sent == 1 && st.already == 0);
	st = send_run(&e, &victim, 60000);
	ck_assert(st.sent == 1 && st.already == 0);
	mp_buf_free(&e.gz);
}
END_TEST

/* A report done whole (sent, or not allowed) costs the next run no DNS;
 * one with a destination to try again is looked at again. */
START_TEST(send_skips_done_reports)
{
	struct send_env e;
	struct agg_report r;
	struct agg_sent st;
	unsigned asked;

	send_env_init(&e, "pass.example.com._report._dmarc.ok.example.net");
	report_fill(&r, NULL, 0);
	mp_strlcpy(r.policy.rua, "mailto:dmarc@example.com,mailto:agg@ok.example.net,"
	    "mailto:agg@bad.example.net", sizeof(r.policy.rua));
	agg_report_id(&e.c, &r);
	st = send_run(&e, &r, 60000);
	ck_assert(st.sent == 2 && st.denied == 1 && st.failed == 0);
	asked = fake_asked.norg + fake_asked.ntxt;
	ck_assert_uint_gt(asked, 0);
	st = send_run(&e, &r, 60000);
	ck_assert(st.sent == 0 && st.already == 2 && st.denied == 0);
	ck_assert_uint_eq(fake_asked.norg + fake_asked.ntxt, asked);
	/* The Organizational Domains cannot be told: not done. */
	mp_strlcpy(r.pid, "77777777", sizeof(r.pid));
	agg_report_id(&e.c, &r);
	e.dns.org_fails = true;
	st = send_run(&e, &r, 60000);
	ck_assert(st.sent == 0 && st.failed == 3);
	asked = fake_asked.norg;
	e.dns.org_fails = false;
	st = send_run(&e, &r, 60000);
	ck_assert(st.sent == 2 && st.denied == 1);
	ck_assert_uint_gt(fake_asked.norg, asked);
	mp_buf_free(&e.gz);
}
END_TEST

/* Within a run each name is asked once: three addresses on one host
 * are two Organizational Domains and one TXT question. */
START_TEST(send_asks_each_name_once)
{
	struct send_env e;
	struct agg_report r;
	struct agg_sent st;

	send_env_init(&e, "pass.example.com._report._dmarc.ok.example.net");
	report_fill(&r, NULL, 0);
	mp_strlcpy(r.policy.rua, "mailto:a@ok.example.net,mailto:b@ok.example.net,"
	    "mailto:c@ok.example.net", sizeof(r.policy.rua));
	agg_report_id(&e.c, &r);
	st = send_run(&e, &r, 60000);
	ck_assert(st.sent == 3 && st.denied == 0 && st.failed == 0);
	ck_assert_uint_eq(fake_asked.norg, 2);
	ck_assert_uint_eq(fake_asked.ntxt, 1);
	mp_buf_free(&e.gz);
}
END_TEST

/* Once a run has waited its DNS budget, the reports not yet looked at
 * are left for the next run, without a question more. */
START_TEST(send_within_the_dns_budget)
{
	struct send_env e;
	struct agg_dns *ad;
	struct agg_report a, b;
	struct agg_sent st;

	send_env_init(&e, "pass.example.com._report._dmarc.ok.example.net");
	fake_asked.delay_ms = 30;
	report_fill(&a, NULL, 0);
	mp_strlcpy(a.policy.rua, "mailto:agg@ok.example.net", sizeof(a.policy.rua));
	agg_report_id(&e.c, &a);
	b = a;
	mp_strlcpy(b.pid, "66666666", sizeof(b.pid));
	agg_report_id(&e.c, &b);
	ad = agg_dns_new(&e.lk, 20);
	memset(&st, 0, sizeof(st));
	ck_assert(agg_send_report(&e.c, ad, &e.mk, &a, "a.xml.gz", &e.gz, T0, &st));
	ck_assert(st.sent == 0 && st.failed == 1 && st.left == 0);
	ck_assert_uint_eq(fake_asked.norg, 1);
	ck_assert(!agg_dns_budget_left(ad));
	ck_assert(agg_send_report(&e.c, ad, &e.mk, &b, "b.xml.gz", &e.gz, T0, &st));
	ck_assert(st.sent == 0 && st.failed == 1 && st.left == 1);
	ck_assert_uint_eq(fake_asked.norg + fake_asked.ntxt, 1);
	agg_dns_free(&ad);
	/* The next run sends them. */
	fake_asked.delay_ms = 0;
	ck_assert_uint_eq(send_run(&e, &a, 60000).sent, 1);
	ck_assert_uint_eq(send_run(&e, &b, 60000).sent, 1);
	mp_buf_free(&e.gz);
}
END_TEST

/* ---- the capture through the script ---------------------------------------- */

static pid_t redis_pid;
static char redis_sock[64];

/* A private redis-server on a unix socket: no port to pick. */
static redisContext *
redis_up(void)
{
	char *argv[] = { "timeout", "120", "redis-server", "--port", "0", "--unixsocket",
		redis_sock, "--save", "", "--appendonly", "no", NULL };
	posix_spawn_file_actions_t fa;

	snprintf(redis_sock, sizeof(redis_sock), "/tmp/mp-agg-%ld.sock", (long)getpid());
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	ck_assert_int_eq(posix_spawnp(&redis_pid, "timeout", &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 100; i++) {
		struct timeval tv = { 1, 0 };
		redisContext *c = redisConnectUnixWithTimeout(redis_sock, tv);
		redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;

		if (r != NULL) {
			freeReplyObject(r);
			return c;
		}
		if (c)
			redisFree(c);
		usleep(50000);
	}
	ck_abort_msg("redis-server did not start on %s", redis_sock);
	return NULL;
}

static void
redis_down(redisContext *c)
{
	redisFree(c);
	kill(redis_pid, SIGTERM);
	waitpid(redis_pid, NULL, 0);
	unlink(redis_sock);
}

static long long
hint(redisContext *c, const char *cmd, const char *key, const char *field)
{
	redisReply *r = redisCommand(c, cmd, key, field);
	long long v = -1;

	if (r && r->type == REDIS_REPLY_INTEGER)
		v = r->integer;
	else if (r && r->type == REDIS_REPLY_STRING)
		v = strtoll(r->str, NULL, 10);
	if (r)
		freeReplyObject(r);
	return v;
}

START_TEST(capture_through_the_script)
{
	redisContext *c = redis_up();
	struct mp_store_options o;
	struct mp_store *s;
	struct mp_store_record r;
	char err[256], rows[MP_STORE_KEY_MAX], meta[MP_STORE_KEY_MAX];
	static const char *ips[] = { "192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.3",
		"192.0.2.4", "192.0.2.1" };

	mp_store_options_defaults(&o);
	mp_strlcpy(o.address, redis_sock, sizeof(o.address));
	o.report_max_rows = 2;
	mp_strlcpy(o.report_from, "reports@pass.example.com", sizeof(o.report_from));
	s = mp_store_new(&o, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	for (size_t i = 0; i < MP_ARRAY_SIZE(ips); i++) {
		record(&r, ips[i], MP_DMARC_PASS, MP_ACTION_ACCEPT);
		snprintf(r.queue_id, sizeof(r.queue_id), "Q%zu", i);
		ck_assert(mp_store_submit(s, &r));
	}
	/* A replay (same host and queue id) counts once. */
	record(&r, "192.0.2.1", MP_DMARC_PASS, MP_ACTION_ACCEPT);
	snprintf(r.queue_id, sizeof(r.queue_id), "Q0");
	ck_assert(mp_store_submit(s, &r));
	/* The report sender's own mail, passing SPF, is not counted. */
	record(&r, "192.0.2.1", MP_DMARC_PASS, MP_ACTION_ACCEPT);
	mp_strlcpy(r.mail_from, "Reports@pass.example.com", sizeof(r.mail_from));
	mp_strlcpy(r.queue_id, "OWN", sizeof(r.queue_id));
	ck_assert(mp_store_submit(s, &r));
	ck_assert(mp_store_flush(s, 5000));
	mp_store_free(&s);

	mp_store_key_report_rows(&o, rows, "example.com", "pass.example.com", "20231114");
	mp_store_key_report_meta(&o, meta, "example.com", "pass.example.com", "20231114");
	ck_assert_str_eq(rows, "mp:ar:{example.com}:pass.example.com:20231114");
	/* Rows of 192.0.2.1 (3 messages) and 192.0.2.2; 192.0.2.3 and .4
	 * were new rows past max_rows 2: counted as overflow, not kept. */
	ck_assert_int_eq(hint(c, "HLEN %s", rows, NULL), 2);
	ck_assert_int_eq(hint(c, "HGET %s %s", meta, "overflow"), 2);
	{
		redisReply *x = redisCommand(c, "HGETALL %s", rows);
		long long total = 0;

		ck_assert(x != NULL && x->type == REDIS_REPLY_ARRAY && x->elements == 4);
		for (size_t i = 1; i < x->elements; i += 2)
			total += strtoll(x->element[i]->str, NULL, 10);
		ck_assert_int_eq(total, 4);
		freeReplyObject(x);
		x = redisCommand(c, "HKEYS %s", meta);
		ck_assert(x != NULL && x->type == REDIS_REPLY_ARRAY && x->elements == 2);
		freeReplyObject(x);
	}
	ck_assert_int_gt(hint(c, "TTL %s", rows, NULL), 0);
	ck_assert_int_gt(hint(c, "TTL %s", meta, NULL), 0);
	/* Past max_rows, a message under a new policy text is overflow, and
	 * its policy text is not kept either. */
	s = mp_store_new(&o, err, sizeof(err));
	ck_assert_msg(s != NULL, "%s", err);
	record(&r, "192.0.2.9", MP_DMARC_PASS, MP_ACTION_ACCEPT);
	r.rep.testing = true;
	mp_strlcpy(r.queue_id, "NEWPOLICY", sizeof(r.queue_id));
	ck_assert(mp_store_submit(s, &r));
	ck_assert(mp_store_flush(s, 5000));
	mp_store_free(&s);
	ck_assert_int_eq(hint(c, "HGET %s %s", meta, "overflow"), 3);
	ck_assert_int_eq(hint(c, "HLEN %s", meta, NULL), 2);
	redis_down(c);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("aggregate");
	TCase *tc = tcase_create("aggregate");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, xml_escape_hostile);
	tcase_add_test(tc, row_round_trip);
	tcase_add_test(tc, row_keeps_few_signatures);
	tcase_add_test(tc, row_disposition_and_reasons);
	tcase_add_test(tc, row_addresses);
	tcase_add_test(tc, row_parse_refuses);
	tcase_add_test(tc, policy_text);
	tcase_add_test(tc, policy_id_checked);
	tcase_add_test(tc, rua_mailtos);
	tcase_add_test(tc, address_that_does_not_fit);
	tcase_add_test(tc, external_destinations);
	tcase_add_test(tc, too_long_a_name_is_denied);
	tcase_add_test(tc, document_validates);
	tcase_add_test(tc, names_and_gzip);
	tcase_add_test(tc, message_headers);
	tcase_add_test(tc, send_once_where_allowed);
	tcase_add_test(tc, report_id_no_collision);
	tcase_add_test(tc, send_skips_done_reports);
	tcase_add_test(tc, send_asks_each_name_once);
	tcase_add_test(tc, send_within_the_dns_budget);
	tcase_add_test(tc, capture_through_the_script);
	suite_add_tcase(s, tc);
	return s;
}
