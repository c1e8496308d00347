/*
 * MTA-STS (RFC 8461) as the audit reads it: the _mta-sts TXT record, the
 * policy file (good, odd and broken ones, as found in the wild) and the
 * mx pattern match with its one-label wildcard.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "mtasts.h"

struct txt_case {
	const char *in;
	bool ok;
	const char *id;         /* the id, or a part of the reason */
};

static const struct txt_case txt_cases[] = {
	{ "v=STSv1; id=20160831085700Z;", true, "20160831085700Z" },
	{ "v=STSv1;id=abc", true, "abc" },
	{ "v=STSv1; id=abc; ext=1", true, "abc" },
	{ "v=STSv1 ; id=abc ;", true, "abc" },
	{ "v=STSv1; id=0123456789abcdef0123456789abcdef", true, "0123456789abcdef0123456789abcdef" },
	{ "v=STSv1;", false, "no id" },
	{ "v=STSv1; id=", false, "1 to 32" },
	{ "v=STSv1; id=0123456789abcdef0123456789abcdef0", false, "1 to 32" },   /* 33 */
	{ "v=STSv1; id=2024-01-01", false, "1 to 32" },
	{ "id=abc; v=STSv1", false, "v=STSv1" },
	{ "v=STSv2; id=abc", false, "v=STSv1" },
	{ "", false, "empty" },
};

START_TEST(txt_table)
{
	const struct txt_case *c = &txt_cases[_i];
	char id[40], why[100];
	bool ok = audit_sts_txt_parse(c->in, strlen(c->in), id, sizeof(id), why, sizeof(why));

	ck_assert_msg(ok == c->ok, "%s: %d (%s)", c->in, ok, why);
	if (c->ok)
		ck_assert_str_eq(id, c->id);
	else
		ck_assert_msg(strstr(why, c->id) != NULL, "%s: why '%s'", c->in, why);
}
END_TEST

static void
parse(const char *body, struct audit_sts_policy *p, bool want)
{
	bool ok = audit_sts_policy_parse(body, strlen(body), p);

	ck_assert_msg(ok == want, "%s: %d, errors '%s'", body, ok, mp_buf_str(&p->errors));
}

START_TEST(policy_good)
{
	struct audit_sts_policy p;

	parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
	    "max_age: 604800\r\n", &p, true);
	ck_assert(p.version_ok);
	ck_assert_int_eq(p.mode, STS_MODE_ENFORCE);
	ck_assert(p.has_max_age);
	ck_assert_int_eq(p.max_age, 604800);
	ck_assert_uint_eq(p.nmx, 2);
	ck_assert_str_eq(p.mx[0], "mail.example.com");
	ck_assert_str_eq(p.mx[1], "*.example.net");
	ck_assert_uint_eq(p.notes.len, 0);
	audit_sts_policy_free(&p);

	/* LF lines, odd spacing, upper case names, an extension key: accepted, noted. */
	parse("version:STSv1\nmode:   testing  \nmx: MX1.Example.COM\nmax_age: 86400\nfoo: bar\n",
	    &p, true);
	ck_assert_int_eq(p.mode, STS_MODE_TESTING);
	ck_assert_str_eq(p.mx[0], "mx1.example.com");
	ck_assert_ptr_nonnull(strstr(mp_buf_str(&p.notes), "LF"));
	audit_sts_policy_free(&p);

	/* mode none needs no mx. */
	parse("version: STSv1\r\nmode: none\r\nmax_age: 0\r\n", &p, true);
	ck_assert_int_eq(p.mode, STS_MODE_NONE);
	ck_assert_int_eq(p.max_age, 0);
	audit_sts_policy_free(&p);
}
END_TEST

struct bad_case {
	const char *body;
	const char *error;      /* a part of the errors */
};

static const struct bad_case bad_cases[] = {
	{ "mode: enforce\r\nmx: a.example\r\nmax_age: 1\r\n", "no version" },
	{ "version: STSv2\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 1\r\n", "version is not STSv1" },
	{ "version: STSv1\r\nmx: a.example\r\nmax_age: 1\r\n", "no mode" },
	{ "version: STSv1\r\nmode: strict\r\nmx: a.example\r\nmax_age: 1\r\n", "mode is not" },
	{ "version: STSv1\r\nmode: Enforce\r\nmx: a.example\r\nmax_age: 1\r\n", "mode is not" },
	{ "version: STSv1\r\nmode: enforce\r\nmx: a.example\r\n", "no max_age" },
	{ "version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 31557601\r\n", "over 31557600" },
	{ "version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 99999999999\r\n", "not a number" },
	{ "version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 1w\r\n", "not a number" },
	{ "version: STSv1\r\nmode: enforce\r\nmax_age: 1\r\n", "no mx" },
	{ "version: STSv1\r\nmode: enforce\r\nmx: a..example\r\nmax_age: 1\r\n", "mx is not" },
	{ "version: STSv1\r\nmode: enforce\r\nmx: *a.example\r\nmax_age: 1\r\n", "mx is not" },
	{ "version: STSv1\r\nmode: enforce\r\nmode: testing\r\nmx: a.example\r\nmax_age: 1\r\n",
	    "repeated field" },
	{ "version: STSv1\r\nmode enforce\r\nmx: a.example\r\nmax_age: 1\r\n", "not a \"key: value\"" },
	{ "<html><body>Not Found</body></html>", "not a \"key: value\"" },
};

START_TEST(policy_bad)
{
	const struct bad_case *c = &bad_cases[_i];
	struct audit_sts_policy p;

	parse(c->body, &p, false);
	ck_assert_msg(strstr(mp_buf_str(&p.errors), c->error) != NULL, "%s: errors '%s'", c->body,
	    mp_buf_str(&p.errors));
	audit_sts_policy_free(&p);
}
END_TEST

START_TEST(policy_hostile)
{
	struct audit_sts_policy p;
	struct mp_buf big = MP_BUF_INIT;
	static const char nul[] = "version: STSv1\r\nmode: enforce\0\r\nmx: a.example\r\nmax_age: 1\r\n";

	ck_assert(!audit_sts_policy_parse(nul, sizeof(nul) - 1, &p));
	ck_assert_ptr_nonnull(strstr(mp_buf_str(&p.errors), "NUL"));
	audit_sts_policy_free(&p);
	/* More patterns than kept: the first ones are kept, the rest noted. */
	mp_buf_puts(&big, "version: STSv1\r\nmode: enforce\r\nmax_age: 86400\r\n");
	for (int i = 0; i < STS_MAX_MX + 5; i++)
		mp_buf_printf(&big, "mx: mx%d.example.com\r\n", i);
	ck_assert(audit_sts_policy_parse(big.data, big.len, &p));
	ck_assert_uint_eq(p.nmx, STS_MAX_MX);
	ck_assert_ptr_nonnull(strstr(mp_buf_str(&p.notes), "ignored"));
	audit_sts_policy_free(&p);
	mp_buf_free(&big);
	/* Escapes in an error stay printable. */
	parse("version: STSv1\r\nmode: \x1b[31mx\r\nmx: a.example\r\nmax_age: 1\r\n", &p, false);
	ck_assert_ptr_null(strchr(mp_buf_str(&p.errors), '\x1b'));
	audit_sts_policy_free(&p);
}
END_TEST

START_TEST(mx_patterns)
{
	static const struct {
		const char *pattern, *host;
		bool want;
	} t[] = {
		{ "mail.example.com", "mail.example.com", true },
		{ "mail.example.com", "MAIL.example.com", true },
		{ "mail.example.com", "mail2.example.com", false },
		{ "*.example.com", "mx1.example.com", true },
		{ "*.example.com", "a.mx1.example.com", false },   /* one label only */
		{ "*.example.com", "example.com", false },
		{ "*.example.com", "mx1.example.net", false },
		{ "*.mx.example.com", "a.mx.example.com", true },
	};

	for (size_t i = 0; i < MP_ARRAY_SIZE(t); i++)
		ck_assert_msg(audit_sts_mx_match(t[i].pattern, t[i].host) == t[i].want, "%s vs %s",
		    t[i].pattern, t[i].host);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("audit_mtasts");
	TCase *tc = tcase_create("audit_mtasts");

	tcase_add_loop_test(tc, txt_table, 0, (int)MP_ARRAY_SIZE(txt_cases));
	tcase_add_test(tc, policy_good);
	tcase_add_loop_test(tc, policy_bad, 0, (int)MP_ARRAY_SIZE(bad_cases));
	tcase_add_test(tc, policy_hostile);
	tcase_add_test(tc, mx_patterns);
	suite_add_tcase(s, tc);
	return s;
}
