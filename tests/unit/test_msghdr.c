#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "msghdr.h"
#include "util.h"

/* Parses from an exact-size heap copy, so that ASan catches overreads. */
static struct mp_msghdr *
parse(const char *text, size_t len, const char **why)
{
	char *copy = xmalloc(len ? len : 1);
	struct mp_msghdr *h;

	memcpy(copy, text, len);
	h = mp_msghdr_parse(copy, len, why);
	free(copy);
	return h;
}

START_TEST(folded_and_crlf)
{
	static const char m[] =
	    "Received: from a\r\n\tby b\r\nFrom: Bob\r\n <bob@example.com>\r\nSubject: x\r\n\r\nbody: not a header\r\n";
	const char *why;
	struct mp_msghdr *h = parse(m, sizeof(m) - 1, &why);

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->count, 3);
	ck_assert_str_eq(h->field[1].name, "From");
	ck_assert_str_eq(h->field[1].value, "Bob <bob@example.com>");
	ck_assert_uint_eq(h->field[1].value_len, strlen("Bob <bob@example.com>"));
	ck_assert_str_eq(h->field[0].value, "from a\tby b");
	mp_msghdr_free(&h);
	ck_assert_ptr_null(h);
}
END_TEST

START_TEST(bare_lf_and_no_body)
{
	static const char m[] = "From: a@example.com\nTo: b@example.org";
	const char *why;
	struct mp_msghdr *h = parse(m, sizeof(m) - 1, &why);

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->count, 2);
	ck_assert_str_eq(h->field[1].value, "b@example.org");
	mp_msghdr_free(&h);
}
END_TEST

START_TEST(nul_in_value_keeps_length)
{
	static const char m[] = "From: a\0b@example.com\n\n";
	const char *why;
	struct mp_msghdr *h = parse(m, sizeof(m) - 1, &why);

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->field[0].value_len, 15);
	ck_assert_int_eq(h->field[0].value[1], '\0');
	mp_msghdr_free(&h);
}
END_TEST

static const struct {
	const char *text;
	const char *why;
} bad[] = {
	{ " leading continuation\n", "continuation line before the first header" },
	{ "no colon here\n", "line is neither a header field nor a continuation" },
	{ ": empty name\n", "line is neither a header field nor a continuation" },
	{ "Bad Name: x\n", "line is neither a header field nor a continuation" },
	{ "From\n", "line is neither a header field nor a continuation" },
};

START_TEST(hostile_lines)
{
	const char *why = NULL;
	struct mp_msghdr *h = parse(bad[_i].text, strlen(bad[_i].text), &why);

	ck_assert_ptr_null(h);
	ck_assert_str_eq(why, bad[_i].why);
}
END_TEST

START_TEST(caps)
{
	struct mp_buf b = MP_BUF_INIT;
	const char *why = NULL;
	struct mp_msghdr *h;

	for (int i = 0; i < MP_MSGHDR_MAX_HEADERS + 1; i++)
		mp_buf_puts(&b, "X-A: b\n");
	h = parse(b.data, b.len, &why);
	ck_assert_ptr_null(h);
	ck_assert_str_eq(why, "too many header fields");

	mp_buf_reset(&b);
	mp_buf_puts(&b, "Subject: x\n");
	for (int i = 0; i < 5000; i++)
		mp_buf_puts(&b, " aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
	h = parse(b.data, b.len, &why);
	ck_assert_ptr_null(h);
	ck_assert_str_eq(why, "header field too long");
	mp_buf_free(&b);
}
END_TEST

START_TEST(empty_input)
{
	const char *why;
	struct mp_msghdr *h = parse("", 0, &why);

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(h->count, 0);
	mp_msghdr_free(&h);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("msghdr");
	TCase *tc = tcase_create("msghdr");

	tcase_add_test(tc, folded_and_crlf);
	tcase_add_test(tc, bare_lf_and_no_body);
	tcase_add_test(tc, nul_in_value_keeps_length);
	tcase_add_loop_test(tc, hostile_lines, 0, (int)MP_ARRAY_SIZE(bad));
	tcase_add_test(tc, caps);
	tcase_add_test(tc, empty_input);
	suite_add_tcase(s, tc);
	return s;
}
