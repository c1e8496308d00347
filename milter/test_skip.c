/* Unit tests for skip.c: CIDR and domain skip lists, good and hostile input. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "skip.h"
#include "util.h"

static const struct {
	const char *spec;
	bool ok;
} net_specs[] = {
	{ "", true },
	{ "   , ,", true },
	{ "127.0.0.0/8 ::1/128", true },
	{ "192.0.2.1", true },
	{ "192.0.2.0/24,198.51.100.0/24", true },
	{ "2001:db8::/32", true },
	{ "::ffff:192.0.2.0/120", true },
	{ "0.0.0.0/0", true },
	{ "::/0", true },
	{ "192.0.2.0/33", false },
	{ "2001:db8::/129", false },
	{ "192.0.2.1/24", false },          /* host bits set */
	{ "2001:db8::1/32", false },
	{ "192.0.2.0/", false },
	{ "192.0.2.0/-1", false },
	{ "192.0.2.0/24x", false },
	{ "192.0.2.0/+24", false },
	{ "192.0.2", false },
	{ "256.0.0.0/8", false },
	{ "example.com", false },
	{ "1.2.3.4/8/8", false },
	{ "2001:db8::/32 garbage", false },
	{ "\x01\x02", false },
};

START_TEST(netlist_parse_table)
{
	char err[256];
	struct mp_netlist *l = mp_netlist_parse(net_specs[_i].spec, err, sizeof(err));

	if (net_specs[_i].ok)
		ck_assert_msg(l != NULL, "\"%s\" refused: %s", net_specs[_i].spec, err);
	else
		ck_assert_msg(l == NULL, "\"%s\" accepted", net_specs[_i].spec);
	mp_netlist_free(&l);
	ck_assert_ptr_null(l);
}
END_TEST

START_TEST(netlist_matches_both_families)
{
	char err[256];
	struct mp_netlist *l = mp_netlist_parse(
	    "127.0.0.0/8, ::1 192.0.2.128/25 2001:db8:1::/48 198.51.100.7", err, sizeof(err));

	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(mp_netlist_count(l), 5);
	ck_assert(mp_netlist_match(l, "127.0.0.1"));
	ck_assert(mp_netlist_match(l, "127.255.255.255"));
	ck_assert(mp_netlist_match(l, "::1"));
	ck_assert(!mp_netlist_match(l, "::2"));
	ck_assert(mp_netlist_match(l, "192.0.2.128"));
	ck_assert(mp_netlist_match(l, "192.0.2.255"));
	ck_assert(!mp_netlist_match(l, "192.0.2.127"));
	/* An IPv4-mapped address is the IPv4 client. */
	ck_assert(mp_netlist_match(l, "::ffff:192.0.2.200"));
	ck_assert(mp_netlist_match(l, "2001:db8:1:ffff::1"));
	ck_assert(!mp_netlist_match(l, "2001:db8:2::1"));
	ck_assert(mp_netlist_match(l, "198.51.100.7"));
	ck_assert(!mp_netlist_match(l, "198.51.100.8"));
	/* An IPv4 prefix never matches a native IPv6 address. */
	ck_assert(!mp_netlist_match(l, "7f00::1"));
	ck_assert(!mp_netlist_match(l, ""));
	ck_assert(!mp_netlist_match(l, "garbage"));
	ck_assert(!mp_netlist_match(l, NULL));
	mp_netlist_free(&l);
}
END_TEST

START_TEST(netlist_odd_prefixes)
{
	char err[256];
	struct mp_netlist *l = mp_netlist_parse("10.0.0.0/9 2001:db8::/33", err, sizeof(err));

	ck_assert_ptr_nonnull(l);
	ck_assert(mp_netlist_match(l, "10.127.0.1"));
	ck_assert(!mp_netlist_match(l, "10.128.0.1"));
	ck_assert(mp_netlist_match(l, "2001:db8:7fff::1"));
	ck_assert(!mp_netlist_match(l, "2001:db8:8000::1"));
	mp_netlist_free(&l);

	l = mp_netlist_parse("0.0.0.0/0", err, sizeof(err));
	ck_assert(mp_netlist_match(l, "203.0.113.9"));
	ck_assert(!mp_netlist_match(l, "2001:db8::1"));
	mp_netlist_free(&l);
}
END_TEST

START_TEST(netlist_caps_entries_and_length)
{
	struct mp_buf b = MP_BUF_INIT;
	char err[256];
	struct mp_netlist *l;

	for (int i = 0; i <= MP_SKIP_MAX_ENTRIES; i++)
		mp_buf_printf(&b, "192.0.2.%d ", i % 256);
	l = mp_netlist_parse(mp_buf_str(&b), err, sizeof(err));
	ck_assert_ptr_null(l);
	ck_assert(strstr(err, "more than") != NULL);
	mp_buf_reset(&b);
	for (int i = 0; i < 5000; i++)
		mp_buf_putc(&b, '1');
	l = mp_netlist_parse(mp_buf_str(&b), err, sizeof(err));
	ck_assert_ptr_null(l);
	mp_buf_free(&b);
}
END_TEST

START_TEST(domlist_matches_subdomains_by_label)
{
	char err[256];
	struct mp_domlist *l = mp_domlist_parse("example.com, Lists.Example.NET.", err,
	    sizeof(err));

	ck_assert_msg(l != NULL, "%s", err);
	ck_assert_uint_eq(mp_domlist_count(l), 2);
	ck_assert(mp_domlist_match_address(l, "user@example.com"));
	ck_assert(mp_domlist_match_address(l, "user@EXAMPLE.com"));
	ck_assert(mp_domlist_match_address(l, "user@a.b.example.com"));
	ck_assert(mp_domlist_match_address(l, "bounce@lists.example.net"));
	ck_assert(!mp_domlist_match_address(l, "user@example.net"));
	ck_assert(!mp_domlist_match_address(l, "user@badexample.com"));
	ck_assert(!mp_domlist_match_address(l, "user@example.com.evil.example.org"));
	ck_assert(!mp_domlist_match_address(l, ""));
	ck_assert(!mp_domlist_match_address(l, "user@"));
	ck_assert(!mp_domlist_match_address(l, "user@exa mple.com"));
	ck_assert(!mp_domlist_match_address(l, NULL));
	/* The last @ counts: a quoted local part may hold one. */
	ck_assert(mp_domlist_match_address(l, "\"a@evil.example.org\"@example.com"));
	ck_assert(!mp_domlist_match_address(l, "\"a@example.com\"@evil.example.org"));
	mp_domlist_free(&l);
	ck_assert_ptr_null(l);
}
END_TEST

START_TEST(domlist_exact_forms)
{
	char err[256];
	struct mp_domlist *l = mp_domlist_parse("@example.org bounce@example.net", err,
	    sizeof(err));

	ck_assert_msg(l != NULL, "%s", err);
	ck_assert(mp_domlist_match_address(l, "anyone@example.org"));
	ck_assert(mp_domlist_match_address(l, "anyone@EXAMPLE.org."));
	ck_assert(!mp_domlist_match_address(l, "anyone@sub.example.org"));
	ck_assert(mp_domlist_match_address(l, "bounce@example.net"));
	ck_assert(mp_domlist_match_address(l, "BOUNCE@example.net"));
	ck_assert(!mp_domlist_match_address(l, "bounces@example.net"));
	ck_assert(!mp_domlist_match_address(l, "bounc@example.net"));
	ck_assert(!mp_domlist_match_address(l, "bounce@sub.example.net"));
	ck_assert(!mp_domlist_match_address(l, "example.net"));
	mp_domlist_free(&l);
}
END_TEST

START_TEST(domlist_refuses_bad_entries)
{
	char err[256];
	struct mp_domlist *l;

	l = mp_domlist_parse("", err, sizeof(err));
	ck_assert_ptr_nonnull(l);
	ck_assert(!mp_domlist_match_address(l, "a@example.com"));
	mp_domlist_free(&l);
	ck_assert_ptr_null(mp_domlist_parse("example.com bad..name", err, sizeof(err)));
	ck_assert_ptr_null(mp_domlist_parse("192.0.2.1", err, sizeof(err)));
	ck_assert_ptr_null(mp_domlist_parse("-bad.example.com", err, sizeof(err)));
	ck_assert_ptr_null(mp_domlist_parse("a\x01" "b.example.com", err, sizeof(err)));
	ck_assert_ptr_null(mp_domlist_parse("user@", err, sizeof(err)));
	ck_assert_ptr_null(mp_domlist_parse("@", err, sizeof(err)));
	ck_assert_ptr_null(mp_domlist_parse(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com",
	    err, sizeof(err)));
}
END_TEST

static Suite *
make_suite(void)
{
	Suite *s = suite_create("skip");
	TCase *tc = tcase_create("skip");

	tcase_add_loop_test(tc, netlist_parse_table, 0, (int)MP_ARRAY_SIZE(net_specs));
	tcase_add_test(tc, netlist_matches_both_families);
	tcase_add_test(tc, netlist_odd_prefixes);
	tcase_add_test(tc, netlist_caps_entries_and_length);
	tcase_add_test(tc, domlist_matches_subdomains_by_label);
	tcase_add_test(tc, domlist_exact_forms);
	tcase_add_test(tc, domlist_refuses_bad_entries);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(make_suite());
	int failed;

	srunner_set_tap(sr, "-");
	srunner_run_all(sr, CK_SILENT);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
