/*
 * From header parsing: a table of good and hostile values. Every value
 * is copied into a buffer of exactly its length (no NUL after it), so
 * that ASan reports any read past len.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "from.h"
#include "util.h"

struct want_addr {
	const char *local;
	const char *domain;
};

struct from_case {
	const char *in;
	size_t len;                     /* 0: strlen(in) */
	bool ok;
	size_t count;
	struct want_addr addr[4];
	const char *why;                /* a substring of the reason, or NULL */
};

static const struct from_case cases[] = {
	/* Good: the shapes of RFC 5322 section 3.4. */
	{ "user@example.com", 0, true, 1, {{ "user", "example.com" }}, NULL },
	{ "John Doe <John.Doe@Example.COM>", 0, true, 1,
	  {{ "John.Doe", "example.com" }}, NULL },
	{ "<a@example.com>", 0, true, 1, {{ "a", "example.com" }}, NULL },
	{ "\"Doe, John\" <jdoe@example.com>", 0, true, 1,
	  {{ "jdoe", "example.com" }}, NULL },
	{ "\"John \\\"JD\\\" Doe\" <jd@example.com>", 0, true, 1,
	  {{ "jd", "example.com" }}, NULL },
	{ "\"\" <a@example.com>", 0, true, 1, {{ "a", "example.com" }}, NULL },
	{ "\"john doe\"@example.com", 0, true, 1,
	  {{ "john doe", "example.com" }}, NULL },
	{ "\"a\\\"b\\\\c\"@example.com", 0, true, 1,
	  {{ "a\"b\\c", "example.com" }}, NULL },
	{ "\"\"@example.com", 0, true, 1, {{ "", "example.com" }}, NULL },
	{ "jdoe@example.com (John Doe)", 0, true, 1,
	  {{ "jdoe", "example.com" }}, NULL },
	{ "(outer (inner (deeper)) comment) <a@example.com>", 0, true, 1,
	  {{ "a", "example.com" }}, NULL },
	{ "(a \\) b \\( c) x@example.com", 0, true, 1,
	  {{ "x", "example.com" }}, NULL },
	{ "a(c)@(c)example(c).(c)com(c)", 0, true, 1,
	  {{ "a", "example.com" }}, NULL },
	{ "John Q. Public <jqp@example.com>", 0, true, 1,
	  {{ "jqp", "example.com" }}, NULL },
	{ "a@example.com, B <b@example.net>, c@example.org", 0, true, 3,
	  {{ "a", "example.com" }, { "b", "example.net" }, { "c", "example.org" }}, NULL },
	{ "Friends: a@x.example.com, B <b@y.example.net>;", 0, true, 2,
	  {{ "a", "x.example.com" }, { "b", "y.example.net" }}, NULL },
	{ "undisclosed-recipients:;, a@example.com", 0, true, 1,
	  {{ "a", "example.com" }}, NULL },
	{ "G: , a@example.com, ;", 0, true, 1, {{ "a", "example.com" }}, NULL },
	{ "G: a@example.com; , b@example.net", 0, true, 2,
	  {{ "a", "example.com" }, { "b", "example.net" }}, NULL },
	/* Real-world shapes: RFC 2047 encoded words, the quoted-address spoof. */
	{ "=?UTF-8?B?SsO8cmdlbg==?= <j@example.com>", 0, true, 1,
	  {{ "j", "example.com" }}, NULL },
	{ "\"ceo@bank.example.com\" <attacker@evil.example.net>", 0, true, 1,
	  {{ "attacker", "evil.example.net" }}, NULL },
	{ "\"Doe, John (Sales)\" <john.doe+tag@mail.Example.org>", 0, true, 1,
	  {{ "john.doe+tag", "mail.example.org" }}, NULL },
	/* Folding: CRLF + WSP, and the bare LF some milters hand over. */
	{ "John\r\n Doe\r\n\t<a@example.com>", 0, true, 1,
	  {{ "a", "example.com" }}, NULL },
	{ "John\n Doe <a@example.com>\n", 0, true, 1,
	  {{ "a", "example.com" }}, NULL },
	{ "\"folded\r\n quoted\"@example.com", 0, true, 1,
	  {{ "folded quoted", "example.com" }}, NULL },
	{ "a@example.com\r\n", 0, true, 1, {{ "a", "example.com" }}, NULL },
	/* Obsolete forms still seen. */
	{ "<@route.example.com,@other.example.net:a@example.com>", 0, true, 1,
	  {{ "a", "example.com" }}, NULL },
	{ "Name <@route.example.com:a@example.com>", 0, true, 1,
	  {{ "a", "example.com" }}, NULL },
	{ "<,@route.example.com,,@x.example.net:a@example.com>", 0, true, 1,
	  {{ "a", "example.com" }}, NULL },
	{ ", a@example.com,, b@example.net,", 0, true, 2,
	  {{ "a", "example.com" }, { "b", "example.net" }}, NULL },
	{ "john . doe @ example . com", 0, true, 1,
	  {{ "john.doe", "example.com" }}, NULL },
	{ "john..doe.@example.com", 0, true, 1,
	  {{ "john..doe.", "example.com" }}, NULL },
	/* Case, trailing dot, IDN, 8-bit display names. */
	{ "a@EXAMPLE.Com.", 0, true, 1, {{ "a", "example.com" }}, NULL },
	{ "u@b\xc3\xbc" "cher.example", 0, true, 1,
	  {{ "u", "xn--bcher-kva.example" }}, NULL },
	{ "J\xc3\xbcrgen M\xc3\xbcller <j@example.com>", 0, true, 1,
	  {{ "j", "example.com" }}, NULL },
	{ "\"J\xc3\xbcrgen\" <j@example.com>", 0, true, 1,
	  {{ "j", "example.com" }}, NULL },
	{ "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@example.com", 0, true, 1,
	  {{ "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd", "example.com" }}, NULL },

	/* Hostile and broken. */
	{ "", 0, false, 0, {{ 0 }}, "empty value" },
	{ " \t(comment) ", 0, false, 0, {{ 0 }}, "empty value" },
	{ "a@example.com\0", 14, false, 0, {{ 0 }}, "NUL" },
	{ "John <a@exa\0mple.com>", 21, false, 0, {{ 0 }}, "NUL" },
	{ "a@[192.0.2.1]", 0, false, 0, {{ 0 }}, "domain literal" },
	{ "Name <a@[IPv6:2001:db8::1]>", 0, false, 0, {{ 0 }}, "domain literal" },
	{ "a@[192.0.2.1", 0, false, 0, {{ 0 }}, "unbalanced bracket" },
	{ "a@example.com]", 0, false, 0, {{ 0 }}, "unbalanced bracket" },
	{ "\"unbalanced@example.com", 0, false, 0, {{ 0 }}, "unbalanced quote" },
	{ "\"a\\", 0, false, 0, {{ 0 }}, "unbalanced quote" },
	{ "<a@example.com", 0, false, 0, {{ 0 }}, "unbalanced angle" },
	{ "a@example.com>", 0, false, 0, {{ 0 }}, "unexpected text" },
	{ "(unclosed a@example.com", 0, false, 0, {{ 0 }}, "unbalanced comment" },
	{ "a@example.com)", 0, false, 0, {{ 0 }}, "unbalanced comment" },
	{ "undisclosed-recipients:;", 0, false, 0, {{ 0 }}, "no mailbox" },
	{ ",,,", 0, false, 0, {{ 0 }}, "no mailbox" },
	{ "john", 0, false, 0, {{ 0 }}, "without @" },
	{ "John Doe <john>", 0, false, 0, {{ 0 }}, "without @" },
	{ "<>", 0, false, 0, {{ 0 }}, "without @" },
	{ "Doe, John <j@example.com>", 0, false, 0, {{ 0 }}, "without @" },
	{ "ceo@bank.example.com <a@example.net>", 0, false, 0, {{ 0 }}, "unexpected text" },
	{ "a@", 0, false, 0, {{ 0 }}, "empty domain" },
	{ "@example.com", 0, false, 0, {{ 0 }}, "empty local part" },
	{ "a@b.example.com@example.com", 0, false, 0, {{ 0 }}, "unexpected text" },
	{ "a@example.com extra", 0, false, 0, {{ 0 }}, "unexpected text" },
	{ "John Doe a@example.com", 0, false, 0, {{ 0 }}, "space in a local part" },
	{ "a@ex!ample.com", 0, false, 0, {{ 0 }}, NULL },
	{ "a@localhost", 0, false, 0, {{ 0 }}, NULL },
	{ "a@192.0.2.1", 0, false, 0, {{ 0 }}, NULL },
	{ "a@\xff.example.com", 0, false, 0, {{ 0 }}, NULL },
	{ "a@\"example.com\"", 0, false, 0, {{ 0 }}, "quoted string in a domain" },
	{ "G: a@example.com", 0, false, 0, {{ 0 }}, "unterminated group" },
	{ "G: a@example.com b@example.net;", 0, false, 0, {{ 0 }}, "unexpected text" },
	{ "A: B: a@example.com;;", 0, false, 0, {{ 0 }}, "group inside a group" },
	{ ": a@example.com;", 0, false, 0, {{ 0 }}, "group without a name" },
	{ "<@route.example.com>", 0, false, 0, {{ 0 }}, "bad route" },
	{ "<,:a@example.com>", 0, false, 0, {{ 0 }}, "bad route" },
	{ "a@example.com; b@example.net", 0, false, 0, {{ 0 }}, "unexpected text" },
	{ "John\rDoe <a@example.com>", 0, false, 0, {{ 0 }}, "bare CR" },
	{ "a@example.com\r\nBcc: x@example.net", 0, false, 0, {{ 0 }}, "line break" },
	{ "a@example.com\n\n", 0, false, 0, {{ 0 }}, "line break" },
	{ "a\x01@example.com", 0, false, 0, {{ 0 }}, "unexpected character" },
	{ "\"a\x01\"@example.com", 0, false, 0, {{ 0 }}, "control character" },
	{ "\"a\\\r\"@example.com", 0, false, 0, {{ 0 }}, "control character" },
	{ "a\x7f@example.com", 0, false, 0, {{ 0 }}, "unexpected character" },
	{ "\\a@example.com", 0, false, 0, {{ 0 }}, "unexpected character" },
	{ "<@route.example.com a@example.com>", 0, false, 0, {{ 0 }}, "bad route" },
	{ "<a@example.com> <b@example.net>", 0, false, 0, {{ 0 }}, "unexpected text" },
};

static char *
exact_copy(const char *s, size_t len)
{
	/* malloc(0) may return NULL; one byte keeps a real pointer. */
	char *p = xmalloc(len > 0 ? len : 1);

	memcpy(p, s, len);
	return p;
}

START_TEST(from_table)
{
	const struct from_case *c = &cases[_i];
	size_t len = c->len != 0 ? c->len : strlen(c->in);
	char *buf = exact_copy(c->in, len);
	struct mp_from out;
	const char *why = NULL;
	bool ok;

	memset(&out, 0xa5, sizeof(out));
	ok = mp_from_parse(buf, len, &out, &why);
	if (ok != c->ok)
		ck_abort_msg("case %d \"%s\": got %s (%s)", _i, c->in,
		    ok ? "ok" : "error", why != NULL ? why : "");
	ck_assert_uint_eq(out.count, c->count);
	if (ok) {
		for (size_t i = 0; i < c->count; i++) {
			ck_assert_str_eq(out.addr[i].local, c->addr[i].local);
			ck_assert_str_eq(out.addr[i].domain, c->addr[i].domain);
		}
	} else {
		ck_assert_ptr_nonnull(why);
		if (c->why != NULL && strstr(why, c->why) == NULL)
			ck_abort_msg("case %d \"%s\": reason \"%s\", want \"%s\"",
			    _i, c->in, why, c->why);
	}
	free(buf);
}
END_TEST

/* Every prefix of every good case: never a read past len, never a crash. */
START_TEST(from_truncated)
{
	for (size_t k = 0; k < MP_ARRAY_SIZE(cases); k++) {
		const struct from_case *c = &cases[k];
		size_t len = c->len != 0 ? c->len : strlen(c->in);

		for (size_t n = 0; n < len; n++) {
			char *buf = exact_copy(c->in, n);
			struct mp_from out;
			const char *why = NULL;

			if (mp_from_parse(buf, n, &out, &why))
				ck_assert(out.count >= 1 && out.count <= MP_FROM_MAX_ADDRS);
			else {
				ck_assert_ptr_nonnull(why);
				ck_assert_uint_eq(out.count, 0);
			}
			free(buf);
		}
	}
}
END_TEST

static void
expect_from(const char *s, size_t len, bool ok, const char *why_sub)
{
	char *buf = exact_copy(s, len);
	struct mp_from out;
	const char *why = NULL;

	ck_assert_int_eq(mp_from_parse(buf, len, &out, &why), ok);
	if (!ok) {
		ck_assert_uint_eq(out.count, 0);
		ck_assert_ptr_nonnull(strstr(why, why_sub));
	}
	free(buf);
}

START_TEST(from_limits)
{
	struct mp_buf b = MP_BUF_INIT;
	struct mp_from out;
	const char *why;
	char *buf;

	/* 32 addresses: fine; 33: an error, however they are grouped. */
	for (int i = 0; i < MP_FROM_MAX_ADDRS; i++)
		mp_buf_printf(&b, "%su%d@h%d.example.com", i ? ", " : "", i, i);
	buf = exact_copy(b.data, b.len);
	ck_assert(mp_from_parse(buf, b.len, &out, &why));
	ck_assert_uint_eq(out.count, MP_FROM_MAX_ADDRS);
	ck_assert_str_eq(out.addr[31].local, "u31");
	ck_assert_str_eq(out.addr[31].domain, "h31.example.com");
	free(buf);
	mp_buf_puts(&b, ", one@more.example.com");
	expect_from(b.data, b.len, false, "too many addresses");
	mp_buf_reset(&b);
	mp_buf_puts(&b, "G:");
	for (int i = 0; i <= MP_FROM_MAX_ADDRS; i++)
		mp_buf_printf(&b, "%s<u%d@example.com>", i ? "," : "", i);
	mp_buf_puts(&b, ";");
	expect_from(b.data, b.len, false, "too many addresses");

	/* Local parts: 64 and 255 octets are kept whole, 256 is an error. */
	size_t sizes[] = { 64, 65, 255 };
	for (size_t k = 0; k < MP_ARRAY_SIZE(sizes); k++) {
		mp_buf_reset(&b);
		for (size_t i = 0; i < sizes[k]; i++)
			mp_buf_putc(&b, 'l');
		mp_buf_puts(&b, "@example.com");
		buf = exact_copy(b.data, b.len);
		ck_assert(mp_from_parse(buf, b.len, &out, &why));
		ck_assert_uint_eq(strlen(out.addr[0].local), sizes[k]);
		free(buf);
	}
	mp_buf_reset(&b);
	for (size_t i = 0; i < 256; i++)
		mp_buf_putc(&b, 'l');
	mp_buf_puts(&b, "@example.com");
	expect_from(b.data, b.len, false, "local part too long");

	/* The length cap: a comment pads the value to exactly the cap. */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "a@example.com (");
	while (b.len < MP_FROM_MAX_LEN - 1)
		mp_buf_putc(&b, 'x');
	mp_buf_putc(&b, ')');
	expect_from(b.data, b.len, true, NULL);
	mp_buf_putc(&b, ' ');
	expect_from(b.data, b.len, false, "too long");

	/* Comment nesting: 32 deep is fine, 33 is a bomb. */
	for (int depth = 32; depth <= 33; depth++) {
		mp_buf_reset(&b);
		for (int i = 0; i < depth; i++)
			mp_buf_putc(&b, '(');
		for (int i = 0; i < depth; i++)
			mp_buf_putc(&b, ')');
		mp_buf_puts(&b, "a@example.com");
		expect_from(b.data, b.len, depth == 32, "nested too deep");
	}
	/* A bomb that never closes, as large as allowed. */
	mp_buf_reset(&b);
	while (b.len < MP_FROM_MAX_LEN)
		mp_buf_putc(&b, '(');
	expect_from(b.data, b.len, false, "nested too deep");

	/* A domain too long for a name, before and after normalisation. */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "a@");
	for (int i = 0; i < 70; i++)
		mp_buf_puts(&b, "label.");
	mp_buf_puts(&b, "example.com");
	expect_from(b.data, b.len, false, "");
	mp_buf_reset(&b);
	mp_buf_puts(&b, "a@");
	for (int i = 0; i < 300; i++)
		mp_buf_puts(&b, "abcd.");
	mp_buf_puts(&b, "com");
	expect_from(b.data, b.len, false, "domain too long");
	mp_buf_free(&b);
}
END_TEST

START_TEST(from_domains_distinct)
{
	static const char v[] =
	    "a@example.com, B <b@EXAMPLE.com.>, G: c@example.net;, d@Example.Com";
	struct mp_from out;
	const char *doms[MP_FROM_MAX_ADDRS];
	const char *why;

	ck_assert(mp_from_parse(v, sizeof(v) - 1, &out, &why));
	ck_assert_uint_eq(out.count, 4);
	ck_assert_uint_eq(mp_from_domains(&out, doms), 2);
	ck_assert_str_eq(doms[0], "example.com");
	ck_assert_str_eq(doms[1], "example.net");
	ck_assert_ptr_eq(doms[0], out.addr[0].domain);
	ck_assert_ptr_eq(doms[1], out.addr[2].domain);

	out.count = 0;
	ck_assert_uint_eq(mp_from_domains(&out, doms), 0);
}
END_TEST

/*
 * Random values over the characters that matter to the grammar: the
 * parser must never crash, never read past len, and whatever it accepts
 * must be complete.
 */
START_TEST(from_random)
{
	static const char alphabet[] = "ab.@<>,;:()\"\\[] \t\r\nx\xc3\xbc\x01";
	unsigned seed = 12345;

	for (int iter = 0; iter < 20000; iter++) {
		char tmp[64];
		size_t n;

		seed = seed * 1103515245 + 12345;
		n = (seed >> 16) % sizeof(tmp);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			tmp[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		char *buf = exact_copy(tmp, n);
		struct mp_from out;
		const char *why = NULL;

		if (mp_from_parse(buf, n, &out, &why)) {
			ck_assert(out.count >= 1 && out.count <= MP_FROM_MAX_ADDRS);
			for (size_t i = 0; i < out.count; i++)
				ck_assert(strchr(out.addr[i].domain, '.') != NULL);
		} else
			ck_assert_ptr_nonnull(why);
		free(buf);
	}
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("from");
	TCase *tc = tcase_create("from");

	tcase_add_loop_test(tc, from_table, 0, (int)MP_ARRAY_SIZE(cases));
	tcase_add_test(tc, from_truncated);
	tcase_add_test(tc, from_limits);
	tcase_add_test(tc, from_domains_distinct);
	tcase_add_test(tc, from_random);
	suite_add_tcase(s, tc);
	return s;
}
