#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "domain.h"
#include "util.h"

#define REAL_PSL "/usr/share/publicsuffix/public_suffix_list.dat"

/* A literal that may hold a NUL byte, with its length. */
#define BIN(s) s, sizeof(s) - 1

static const struct {
	const char *in;
	size_t len;
	const char *out;
} good[] = {
	{ BIN("example.com"), "example.com" },
	{ BIN("EXAMPLE.COM"), "example.com" },
	{ BIN("Example.Com."), "example.com" },
	{ BIN("_dmarc.example.com"), "_dmarc.example.com" },
	{ BIN("s1._domainkey.example.org"), "s1._domainkey.example.org" },
	{ BIN("_mta-sts.example.net"), "_mta-sts.example.net" },
	{ BIN("_.example.com"), "_.example.com" },
	{ BIN("mail-1.example.com"), "mail-1.example.com" },
	{ BIN("x-y-z.example.com"), "x-y-z.example.com" },
	{ BIN("a.b.c.d.e.example.com"), "a.b.c.d.e.example.com" },
	{ BIN("123.example.com"), "123.example.com" },
	{ BIN("0.0.example.com"), "0.0.example.com" },
	{ BIN("1.2.3.example"), "1.2.3.example" },
	{ BIN("example.3com"), "example.3com" },
	{ BIN("a.co"), "a.co" },
	/* R-LDH labels are host names in real use. */
	{ BIN("r3--sn-abc.example.com"), "r3--sn-abc.example.com" },
	{ BIN("xn--bcher-kva.example"), "xn--bcher-kva.example" },
	{ BIN("XN--BCHER-KVA.EXAMPLE"), "xn--bcher-kva.example" },
	/* Only len bytes are read. */
	{ "example.comXYZ", 11, "example.com" },
	{ "example.com.\0junk", 12, "example.com" },
	/* 63-character label. */
	{ BIN("abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abc.example.com"),
	  "abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abc.example.com" },
	/* Internationalised names become A-labels. */
	{ BIN("b\xc3\xbc" "cher.example"), "xn--bcher-kva.example" },
	{ BIN("B\xc3\x9c" "CHER.Example."), "xn--bcher-kva.example" },
	/* UTS#46 non-transitional: sharp s is kept, not mapped to "ss". */
	{ BIN("fa\xc3\x9f.de"), "xn--fa-hia.de" },
	{ BIN("_dmarc.b\xc3\xbc" "cher.example"), "_dmarc.xn--bcher-kva.example" },
	{ BIN("r3--sn-abc.b\xc3\xbc" "cher.example"), "r3--sn-abc.xn--bcher-kva.example" },
	{ BIN("\xe5\x85\xac\xe5\x8f\xb8.cn"), "xn--55qx5d.cn" },
	/* UTS#46 maps fullwidth letters and the fullwidth full stop. */
	{ BIN("\xef\xbd\x85\xef\xbd\x98\xef\xbd\x81\xef\xbd\x8d\xef\xbd\x90\xef\xbd\x8c\xef\xbd\x85"
	      "\xef\xbc\x8e\xef\xbd\x83\xef\xbd\x8f\xef\xbd\x8d"), "example.com" },
};

START_TEST(good_names)
{
	char out[MP_DOMAIN_MAX];
	const char *why = NULL;

	ck_assert_msg(mp_domain_normalize(good[_i].in, good[_i].len, out, &why),
	    "case %d (%s) refused: %s", _i, good[_i].out, why);
	ck_assert_str_eq(out, good[_i].out);
	/* Normalising a normalised name changes nothing. */
	ck_assert(mp_domain_normalize(out, strlen(out), out, &why));
	ck_assert_str_eq(out, good[_i].out);
}
END_TEST

static const struct {
	const char *in;
	size_t len;
	const char *why;   /* part of the reason */
} bad[] = {
	{ "", 0, "empty name" },
	{ NULL, 0, "empty name" },
	{ BIN("."), "empty name" },
	{ BIN(".."), "empty label" },
	{ BIN("example..com"), "empty label" },
	{ BIN(".example.com"), "empty label" },
	{ BIN("example.com.."), "empty label" },
	{ BIN("com"), "single-label" },
	{ BIN("localhost"), "single-label" },
	{ BIN("192.0.2.1"), "all-numeric top-level" },
	{ BIN("192.0.2.1."), "all-numeric top-level" },
	{ BIN("example.123"), "all-numeric top-level" },
	{ BIN("exa mple.com"), "not allowed" },
	{ BIN("exa\tmple.com"), "not allowed" },
	{ BIN("example.com\r\n"), "not allowed" },
	{ BIN("exa\0mple.com"), "NUL byte" },
	{ BIN("example.com\0"), "NUL byte" },
	{ BIN("\0"), "NUL byte" },
	{ BIN("-example.com"), "hyphen" },
	{ BIN("example-.com"), "hyphen" },
	{ BIN("example.-com"), "hyphen" },
	{ BIN("example.com-"), "hyphen" },
	{ BIN("ex@mple.com"), "not allowed" },
	{ BIN("user@example.com"), "not allowed" },
	{ BIN("example.com/path"), "not allowed" },
	{ BIN("*.example.com"), "not allowed" },
	{ BIN("[192.0.2.1]"), "not allowed" },
	{ BIN("2001:db8::1"), "not allowed" },
	{ BIN("example.com;rm"), "not allowed" },
	{ BIN("exa%2emple.com"), "not allowed" },
	{ BIN("example.com\x7f"), "not allowed" },
	{ BIN("abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abcd.example.com"),
	  "longer than 63" },
	/* Punycode that is not a real A-label. */
	{ BIN("xn--abc.example"), "IDNA2008 does not allow" },        /* unprintable */
	{ BIN("xn--.example"), "hyphen" },
	{ BIN("xn--zzzzzzzzz.example"), "not valid punycode" },
	{ BIN("xn--example-.com"), "hyphen" },
	{ BIN("xn--ls8h.example"), "IDNA2008 does not allow" },      /* an emoji */
	{ BIN("xn--a-ecp.example"), "IDNA2008 does not allow" },     /* U+2488 */
	{ BIN("xn--bcher-kva.xn--abc"), "IDNA2008" },
	{ BIN("xn--bcher-kva9.example"), "punycode" },
	{ BIN("xn--Bcher-kva.xn--bcher-kvA.xn--ls8h.example"), "IDNA2008" },
	/* Bad UTF-8 and characters IDNA2008 refuses. */
	{ BIN("\xff\xfe.example"), "not valid UTF-8" },
	{ BIN("b\xc3\xbc" "cher\xc3.example"), "not valid UTF-8" },
	{ BIN("\xc0\xae.example.com"), "not valid UTF-8" },          /* overlong '.' */
	{ BIN("\xf0\x9f\x92\xa9.example"), "IDNA2008" },             /* U+1F4A9 */
	{ BIN("ex\xc2\xa0" "ample.com"), "not allowed" },            /* NBSP maps to a space */
	{ BIN("example\xe2\x80\xae" "moc.com"), "IDNA2008" },        /* RTL override */
};

START_TEST(bad_names)
{
	char out[MP_DOMAIN_MAX];
	const char *why = NULL;

	memcpy(out, "junk", 5);
	ck_assert_msg(!mp_domain_normalize(bad[_i].in, bad[_i].len, out, &why),
	    "case %d accepted as %s", _i, out);
	ck_assert_str_eq(out, "");
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strstr(why, bad[_i].why) != NULL, "case %d: '%s' does not say '%s'",
	    _i, why, bad[_i].why);
}
END_TEST

START_TEST(length_limits)
{
	char name[2048], out[MP_DOMAIN_MAX];
	const char *why = NULL;
	size_t n = 0;

	/* 253 characters: 4 labels of 62 and one of 1 ("x"), dots between. */
	for (int l = 0; l < 4; l++) {
		memset(name + n, 'a' + l, 62);
		n += 62;
		name[n++] = '.';
	}
	name[n++] = 'x';
	ck_assert_uint_eq(n, 253);
	ck_assert_msg(mp_domain_normalize(name, n, out, &why), "%s", why);
	ck_assert_uint_eq(strlen(out), 253);
	/* With the root dot, 254 characters are still 253. */
	name[n] = '.';
	ck_assert(mp_domain_normalize(name, n + 1, out, &why));
	/* One more character is too many. */
	name[n++] = 'y';
	ck_assert(!mp_domain_normalize(name, n, out, &why));
	ck_assert_ptr_nonnull(strstr(why, "longer than 253"));
	/* Far too long is refused before any work. */
	memset(name, 'a', sizeof(name));
	name[10] = '.';
	ck_assert(!mp_domain_normalize(name, sizeof(name), out, &why));
	ck_assert_str_eq(why, "name too long");
	/* A U-label name whose A-label form is too long. */
	n = 0;
	for (int l = 0; l < 5; l++) {
		for (int i = 0; i < 20; i++) {
			memcpy(name + n, "\xc3\xbc", 2);   /* u with diaeresis */
			n += 2;
		}
		memcpy(name + n, "abcdefghijklmnopqrstuvwxyz0123", 30);
		n += 30;
		name[n++] = '.';
	}
	memcpy(name + n, "example", 7);
	n += 7;
	ck_assert(!mp_domain_normalize(name, n, out, &why));
	ck_assert_msg(strstr(why, "longer than") != NULL, "%s", why);
}
END_TEST

START_TEST(single_label_flag)
{
	char out[MP_DOMAIN_MAX];
	const char *why = NULL;

	ck_assert(mp_domain_normalize_ex("LOCALHOST.", 10, out, MP_DOMAIN_ALLOW_SINGLE, &why));
	ck_assert_str_eq(out, "localhost");
	ck_assert(mp_domain_normalize_ex("mx.example.com", 14, out, MP_DOMAIN_ALLOW_SINGLE, &why));
	ck_assert_str_eq(out, "mx.example.com");
	ck_assert(!mp_domain_normalize_ex("123", 3, out, MP_DOMAIN_ALLOW_SINGLE, &why));
	ck_assert_ptr_nonnull(strstr(why, "all-numeric"));
	ck_assert(!mp_domain_normalize_ex(".", 1, out, MP_DOMAIN_ALLOW_SINGLE, &why));
	/* why_r may be NULL. */
	ck_assert(!mp_domain_normalize_ex("a..b", 4, out, 0, NULL));
}
END_TEST

static const struct {
	const char *name;
	const char *org;    /* NULL: no organizational domain */
} real_psl[] = {
	{ "example.com", "example.com" },
	{ "www.example.com", "example.com" },
	{ "a.b.c.example.com", "example.com" },
	{ "com", NULL },
	{ "co.uk", NULL },
	{ "example.co.uk", "example.co.uk" },
	{ "a.b.example.co.uk", "example.co.uk" },
	{ "example.org", "example.org" },
	/* The PRIVATE section counts (RFC 7489 uses the whole list). */
	{ "github.io", NULL },
	{ "user.github.io", "user.github.io" },
	{ "a.b.user.github.io", "user.github.io" },
	/* Wildcard and exception: *.kawasaki.jp, !city.kawasaki.jp. */
	{ "a.kawasaki.jp", NULL },
	{ "www.a.kawasaki.jp", "www.a.kawasaki.jp" },
	{ "city.kawasaki.jp", "city.kawasaki.jp" },
	{ "www.city.kawasaki.jp", "city.kawasaki.jp" },
	/* A TLD not on the list is a public suffix of its own. */
	{ "www.foo.example", "foo.example" },
	{ "example", NULL },
	/* U-label rules match their A-label form. */
	{ "xn--55qx5d.cn", NULL },
	{ "www.xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn" },
	/* Names that are not normalised get no answer. */
	{ "Example.COM", NULL },
	{ "example.com.", NULL },
	{ "a..b.example.com", NULL },
	{ "", NULL },
	{ "exa mple.com", NULL },
};

START_TEST(org_domain_real_psl)
{
	char err[256], out[MP_DOMAIN_MAX];
	struct mp_psl *psl;
	bool ok;

	if (access(REAL_PSL, R_OK) != 0)
		return;   /* the publicsuffix package is not installed */
	psl = mp_psl_load(REAL_PSL, err, sizeof(err));
	ck_assert_msg(psl != NULL, "%s", err);
	ok = mp_psl_org_domain(psl, real_psl[_i].name, out);
	if (real_psl[_i].org == NULL) {
		ck_assert_msg(!ok, "%s gave %s", real_psl[_i].name, out);
		ck_assert_str_eq(out, "");
	} else {
		ck_assert_msg(ok, "%s gave nothing", real_psl[_i].name);
		ck_assert_str_eq(out, real_psl[_i].org);
	}
	mp_psl_free(&psl);
	ck_assert_ptr_null(psl);
}
END_TEST

static const struct {
	const char *name;
	const char *org;
} test_psl[] = {
	{ "example.com", "example.com" },
	{ "mail.example.com", "example.com" },
	{ "com", NULL },
	{ "uk", NULL },
	{ "co.uk", NULL },
	{ "example.co.uk", "example.co.uk" },
	{ "www.example.co.uk", "example.co.uk" },
	{ "b.kawasaki.jp", NULL },
	{ "a.b.kawasaki.jp", "a.b.kawasaki.jp" },
	{ "city.kawasaki.jp", "city.kawasaki.jp" },
	{ "www.city.kawasaki.jp", "city.kawasaki.jp" },
	{ "pages.example.net", NULL },
	{ "site.pages.example.net", "site.pages.example.net" },
	{ "www.site.pages.example.net", "site.pages.example.net" },
	{ "example.net", "example.net" },
	{ "y.cloud.example.org", NULL },
	{ "x.y.cloud.example.org", "x.y.cloud.example.org" },
	/*
	 * libpsl makes the base of a wildcard rule a public suffix too, even
	 * when the list does not name it (the PSL algorithm would say
	 * example.org here). The real list names the bases it means.
	 */
	{ "cloud.example.org", NULL },
	/* Not in this list: the implicit "*" rule. */
	{ "www.example.de", "example.de" },
	{ "xn--55qx5d.cn", NULL },
	{ "xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn" },
};

START_TEST(org_domain_test_psl)
{
	char err[256], out[MP_DOMAIN_MAX];
	struct mp_psl *psl = mp_psl_load(test_path("unit/data/test_psl.dat"), err, sizeof(err));
	bool ok;

	ck_assert_msg(psl != NULL, "%s", err);
	ok = mp_psl_org_domain(psl, test_psl[_i].name, out);
	if (test_psl[_i].org == NULL)
		ck_assert_msg(!ok, "%s gave %s", test_psl[_i].name, out);
	else {
		ck_assert_msg(ok, "%s gave nothing", test_psl[_i].name);
		ck_assert_str_eq(out, test_psl[_i].org);
	}
	mp_psl_free(&psl);
}
END_TEST

START_TEST(org_domain_in_place)
{
	char err[256], buf[MP_DOMAIN_MAX] = "a.b.example.co.uk";
	struct mp_psl *psl = mp_psl_load(test_path("unit/data/test_psl.dat"), err, sizeof(err));

	ck_assert_ptr_nonnull(psl);
	ck_assert(mp_psl_org_domain(psl, buf, buf));
	ck_assert_str_eq(buf, "example.co.uk");
	mp_psl_free(&psl);
	mp_psl_free(&psl);   /* NULL: a no-op */
}
END_TEST

START_TEST(psl_load_errors)
{
	char err[256], path[] = "/tmp/mp-psl-test-XXXXXX";
	struct mp_psl *psl;
	int fd;

	ck_assert_ptr_null(mp_psl_load("/nonexistent/psl.dat", err, sizeof(err)));
	ck_assert_str_eq(err, "/nonexistent/psl.dat: No such file or directory");
	ck_assert_ptr_null(mp_psl_load("/tmp", err, sizeof(err)));
	ck_assert_str_eq(err, "/tmp: not a regular file");

	/* A file without rules would make every name its own org domain. */
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_ptr_null(mp_psl_load(path, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "no public suffix rules"));
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "// only comments\n\n// here\n", 26), 26);
	close(fd);
	ck_assert_ptr_null(mp_psl_load(path, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "no public suffix rules"));
	unlink(path);

	/* NULL: the configured default. */
	if (access(MP_PSL_FILE, R_OK) == 0) {
		psl = mp_psl_load(NULL, err, sizeof(err));
		ck_assert_msg(psl != NULL, "%s", err);
		mp_psl_free(&psl);
	}
}
END_TEST

START_TEST(org_domain_without_psl_aborts)
{
	char out[MP_DOMAIN_MAX];

	ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr));
	mp_psl_org_domain(NULL, "example.com", out);
}
END_TEST

static const struct {
	const char *a, *b;
	bool sub;
} subs[] = {
	{ "example.com", "example.com", true },
	{ "mail.example.com", "example.com", true },
	{ "a.b.example.com", "example.com", true },
	{ "example.com", "com", true },
	{ "EXAMPLE.com", "example.COM", true },
	{ "badexample.com", "example.com", false },
	{ "xexample.com", "example.com", false },
	{ "example.com", "mail.example.com", false },
	{ "example.com.evil.example.net", "example.com", false },
	{ "example.net", "example.com", false },
	{ "example.com", "", false },
	{ "", "example.com", false },
	{ "", "", false },
	{ NULL, "example.com", false },
	{ "example.com", NULL, false },
};

START_TEST(sub_or_same)
{
	ck_assert_msg(mp_domain_is_sub_or_same(subs[_i].a, subs[_i].b) == subs[_i].sub,
	    "case %d: %s under %s", _i, subs[_i].a ? subs[_i].a : "(null)",
	    subs[_i].b ? subs[_i].b : "(null)");
}
END_TEST

static const struct {
	const char *in;
	bool ok;
	const char *local, *domain;
	bool exact, bad_domain;
} senders[] = {
	{ "example.com", true, "", "example.com", false, false },
	{ "@Example.COM", true, "", "example.com", true, false },
	{ "bounce@mail.example.com", true, "bounce", "mail.example.com", true, false },
	{ "a+b.c@example.org", true, "a+b.c", "example.org", true, false },
	{ "user@@example.com", false, NULL, NULL, false, false },
	{ "us er@example.com", false, NULL, NULL, false, false },
	{ "caf\xc3\xa9@example.com", false, NULL, NULL, false, false },
	{ "0123456789012345678901234567890123456789012345678901234567890123@example.com",
	  true, "0123456789012345678901234567890123456789012345678901234567890123",
	  "example.com", true, false },
	{ "01234567890123456789012345678901234567890123456789012345678901234@example.com",
	  false, NULL, NULL, false, false },
	{ "@example", false, NULL, NULL, false, true },
	{ "user@", false, NULL, NULL, false, true },
	{ "", false, NULL, NULL, false, true },
	{ "bad..example.com", false, NULL, NULL, false, true },
};

START_TEST(sender_patterns)
{
	struct mp_sender_pattern sp;
	const char *why = NULL;
	bool bad_domain = !senders[_i].bad_domain;
	bool ok = mp_sender_pattern_parse(senders[_i].in, strlen(senders[_i].in), &sp,
	    &bad_domain, &why);

	ck_assert_msg(ok == senders[_i].ok, "%s: %s", senders[_i].in, ok ? "accepted" : why);
	if (!ok) {
		ck_assert_ptr_nonnull(why);
		ck_assert_msg(bad_domain == senders[_i].bad_domain, "%s: blamed the %s",
		    senders[_i].in, bad_domain ? "domain" : "local part");
		return;
	}
	ck_assert_str_eq(sp.local, senders[_i].local);
	ck_assert_str_eq(sp.domain, senders[_i].domain);
	ck_assert(sp.exact == senders[_i].exact);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("domain");
	TCase *tc = tcase_create("domain");

	tcase_add_loop_test(tc, good_names, 0, (int)MP_ARRAY_SIZE(good));
	tcase_add_loop_test(tc, bad_names, 0, (int)MP_ARRAY_SIZE(bad));
	tcase_add_test(tc, length_limits);
	tcase_add_test(tc, single_label_flag);
	tcase_add_loop_test(tc, org_domain_real_psl, 0, (int)MP_ARRAY_SIZE(real_psl));
	tcase_add_loop_test(tc, org_domain_test_psl, 0, (int)MP_ARRAY_SIZE(test_psl));
	tcase_add_test(tc, org_domain_in_place);
	tcase_add_test(tc, psl_load_errors);
	tcase_add_test_raise_signal(tc, org_domain_without_psl_aborts, SIGABRT);
	tcase_add_loop_test(tc, sub_or_same, 0, (int)MP_ARRAY_SIZE(subs));
	tcase_add_loop_test(tc, sender_patterns, 0, (int)MP_ARRAY_SIZE(senders));
	suite_add_tcase(s, tc);
	return s;
}
