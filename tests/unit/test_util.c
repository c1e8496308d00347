#include "config.h"

#include <limits.h>
#include <string.h>

#include "check_main.h"
#include "util.h"

START_TEST(buf_grows_and_keeps_nul)
{
	struct mp_buf b = MP_BUF_INIT;

	ck_assert_str_eq(mp_buf_str(&b), "");
	for (int i = 0; i < 1000; i++)
		mp_buf_putc(&b, 'x');
	ck_assert_uint_eq(b.len, 1000);
	ck_assert_int_eq(b.data[1000], '\0');
	mp_buf_append(&b, "a\0b", 3);
	ck_assert_uint_eq(b.len, 1003);
	ck_assert_int_eq(b.data[1001], '\0');
	mp_buf_reset(&b);
	mp_buf_printf(&b, "%d-%s", 42, "z");
	ck_assert_str_eq(mp_buf_str(&b), "42-z");
	mp_buf_free(&b);
	ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(printable_escapes_hostile_bytes)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_printable(&b, "a\r\nb\0c\\\xff", 8, 100);
	ck_assert_str_eq(mp_buf_str(&b), "a\\x0d\\x0ab\\x00c\\x5c\\xff");
	mp_buf_reset(&b);
	mp_printable(&b, "abcdef", 6, 3);
	ck_assert_str_eq(mp_buf_str(&b), "abc...");
	mp_buf_free(&b);
}
END_TEST

START_TEST(strlcpy_reports_truncation)
{
	char small[4];

	ck_assert(mp_strlcpy(small, "abc", sizeof(small)));
	ck_assert(!mp_strlcpy(small, "abcd", sizeof(small)));
	ck_assert_str_eq(small, "abc");
}
END_TEST

START_TEST(casecmp_is_ascii_only)
{
	ck_assert_int_eq(mp_strcasecmp("Example.COM", "example.com"), 0);
	ck_assert_int_ne(mp_strcasecmp("a", "b"), 0);
	ck_assert_int_eq(mp_strncasecmp("ABCx", "abcy", 3), 0);
	ck_assert_int_ne(mp_strcasecmp("\xc3\x89", "\xc3\xa9"), 0);
}
END_TEST

START_TEST(deadline_counts_down)
{
	struct mp_deadline d;

	mp_deadline_set(&d, 0);
	ck_assert_uint_eq(mp_deadline_left(&d), UINT_MAX);
	mp_deadline_set(&d, 10000);
	ck_assert(mp_deadline_left(&d) <= 10000 && mp_deadline_left(&d) > 9000);
	d.end_ms = 1;
	ck_assert(mp_deadline_expired(&d));
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_test(tc, buf_grows_and_keeps_nul);
	tcase_add_test(tc, printable_escapes_hostile_bytes);
	tcase_add_test(tc, strlcpy_reports_truncation);
	tcase_add_test(tc, casecmp_is_ascii_only);
	tcase_add_test(tc, deadline_counts_down);
	suite_add_tcase(s, tc);
	return s;
}
