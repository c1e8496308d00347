/*
 * Authentication-Results: the RFC 8601 appendix B examples, real-world
 * shapes (Gmail, Microsoft), hostile values, the lenient authserv-id
 * extractor and the value writer. Inputs are copied into buffers of
 * exactly their length so that ASan catches reads past len.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "check_main.h"
#include "util.h"

struct want_prop {
	const char *ptype, *property, *value;
};

struct want_res {
	const char *method, *result, *reason;
	size_t nprops;
	struct want_prop props[4];
};

struct ar_case {
	const char *in;
	size_t len;                     /* 0: strlen(in) */
	bool ok;
	const char *servid;
	bool none;
	size_t count;
	struct want_res res[4];
	const char *why;                /* a substring of the reason */
};

static const struct ar_case cases[] = {
	/* RFC 8601 appendix B. */
	{ "example.org 1; none", 0, true, "example.org", true, 0, { { 0 } }, NULL },
	{ "example.com;\r\n          spf=pass smtp.mailfrom=example.net", 0, true,
	  "example.com", false, 1,
	  { { "spf", "pass", "", 1, { { "smtp", "mailfrom", "example.net" } } } }, NULL },
	{ "example.com;\r\n          auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n"
	  "          spf=pass smtp.mailfrom=example.net", 0, true, "example.com", false, 2,
	  { { "auth", "pass", "", 1, { { "smtp", "auth", "sender@example.net" } } },
	    { "spf", "pass", "", 1, { { "smtp", "mailfrom", "example.net" } } } }, NULL },
	{ "example.com; iprev=pass\r\n          policy.iprev=192.0.2.200", 0, true,
	  "example.com", false, 1,
	  { { "iprev", "pass", "", 1, { { "policy", "iprev", "192.0.2.200" } } } }, NULL },
	{ "example.com;\r\n          dkim=pass (good signature) header.d=example.com", 0, true,
	  "example.com", false, 1,
	  { { "dkim", "pass", "", 1, { { "header", "d", "example.com" } } } }, NULL },
	{ "example.com;\r\n          auth=pass (cram-md5) smtp.auth=sender@example.com;\r\n"
	  "          spf=fail smtp.mailfrom=example.com", 0, true, "example.com", false, 2,
	  { { "auth", "pass", "", 1, { { "smtp", "auth", "sender@example.com" } } },
	    { "spf", "fail", "", 1, { { "smtp", "mailfrom", "example.com" } } } }, NULL },
	{ "example.com;\r\n      dkim=pass reason=\"good signature\"\r\n"
	  "        header.i=@mail-router.example.net;\r\n"
	  "      dkim=fail reason=\"bad signature\"\r\n"
	  "        header.i=@newyork.example.com", 0, true, "example.com", false, 2,
	  { { "dkim", "pass", "good signature", 1,
	      { { "header", "i", "@mail-router.example.net" } } },
	    { "dkim", "fail", "bad signature", 1,
	      { { "header", "i", "@newyork.example.com" } } } }, NULL },
	{ "example.net;\r\n      dkim=pass (good signature) header.i=@newyork.example.com",
	  0, true, "example.net", false, 1,
	  { { "dkim", "pass", "", 1, { { "header", "i", "@newyork.example.com" } } } }, NULL },
	{ "foo.example.net (foobar) 1 (baz);\r\n"
	  "    dkim (Because I like it) / 1 (One yay) = (wait for it) fail\r\n"
	  "      policy (A dot can go here) . (like that) expired\r\n"
	  "      (this surprised me) = (as I wasn't expecting it) 1362471462", 0, true,
	  "foo.example.net", false, 1,
	  { { "dkim", "fail", "", 1, { { "policy", "expired", "1362471462" } } } }, NULL },

	/* Real-world shapes. */
	{ "mx.google.com;\r\n       dkim=pass header.i=@example.com header.s=20230601"
	  " header.b=Ab/Cd+E=;\r\n       spf=pass (google.com: domain of user@example.com"
	  " designates 2001:db8::1 as permitted sender) smtp.mailfrom=user@example.com;\r\n"
	  "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com", 0, true,
	  "mx.google.com", false, 3,
	  { { "dkim", "pass", "", 3, { { "header", "i", "@example.com" },
	      { "header", "s", "20230601" }, { "header", "b", "Ab/Cd+E=" } } },
	    { "spf", "pass", "", 1, { { "smtp", "mailfrom", "user@example.com" } } },
	    { "dmarc", "pass", "", 1, { { "header", "from", "example.com" } } } }, NULL },
	{ "mx.google.com; arc=pass (i=1 spf=pass spfdomain=example.com dkim=pass"
	  " dkdomain=example.com dmarc=pass fromdomain=example.com)", 0, true,
	  "mx.google.com", false, 1, { { "arc", "pass", "", 0, { { 0 } } } }, NULL },
	{ "mx.example.com; spf=pass (sender IP is 203.0.113.5) smtp.mailfrom=example.com;"
	  " dkim=pass (signature was verified) header.d=example.com;dmarc=pass action=none"
	  " header.from=example.com;compauth=pass reason=100", 0, true, "mx.example.com",
	  false, 4,
	  { { "spf", "pass", "", 1, { { "smtp", "mailfrom", "example.com" } } },
	    { "dkim", "pass", "", 1, { { "header", "d", "example.com" } } },
	    { "dmarc", "pass", "", 2, { { "", "action", "none" },
	      { "header", "from", "example.com" } } },
	    { "compauth", "pass", "100", 0, { { 0 } } } }, NULL },
	{ "\"MX.example.com\" 1; spf=PASS smtp.mailfrom=a@example.com", 0, true,
	  "mx.example.com", false, 1,
	  { { "spf", "pass", "", 1, { { "smtp", "mailfrom", "a@example.com" } } } }, NULL },
	{ " (leading) EXAMPLE.com (c) ; X-Custom/2=Neutral Policy.Foo=Bar", 0, true,
	  "example.com", false, 1,
	  { { "x-custom", "neutral", "", 1, { { "policy", "foo", "Bar" } } } }, NULL },
	{ "example.com; spf=pass smtp.mailfrom=\"john doe\"@example.com", 0, true,
	  "example.com", false, 1,
	  { { "spf", "pass", "", 1,
	      { { "smtp", "mailfrom", "\"john doe\"@example.com" } } } }, NULL },
	{ "example.com; auth=pass smtp.auth=\"sender \\\"name\\\"\" (c)", 0, true,
	  "example.com", false, 1,
	  { { "auth", "pass", "", 1, { { "smtp", "auth", "sender \"name\"" } } } }, NULL },
	{ "example.com; spf=pass smtp.mailfrom=example.net;; dkim=none;", 0, true,
	  "example.com", false, 2,
	  { { "spf", "pass", "", 1, { { "smtp", "mailfrom", "example.net" } } },
	    { "dkim", "none", "", 0, { { 0 } } } }, NULL },
	{ "example.com;spf=none smtp.mailfrom=;dkim=neutral header.d=(none)", 0, true,
	  "example.com", false, 2,
	  { { "spf", "none", "", 1, { { "smtp", "mailfrom", "" } } },
	    { "dkim", "neutral", "", 1, { { "header", "d", "" } } } }, NULL },
	{ "example.com; dmarc=fail header.from=b\xc3\xbc" "cher.example", 0, true,
	  "example.com", false, 1,
	  { { "dmarc", "fail", "", 1, { { "header", "from", "b\xc3\xbc" "cher.example" } } } },
	  NULL },
	{ "example.com; auth=pass (cram-md5; comment with \\) and ;) smtp.auth=s@example.com",
	  0, true, "example.com", false, 1,
	  { { "auth", "pass", "", 1, { { "smtp", "auth", "s@example.com" } } } }, NULL },
	{ "example.com;\n\tnone", 0, true, "example.com", true, 0, { { 0 } }, NULL },

	/* Hostile and broken. */
	{ "", 0, false, NULL, false, 0, { { 0 } }, "empty value" },
	{ "example.com", 0, false, NULL, false, 0, { { 0 } }, "no results" },
	{ "example.com; ", 0, false, NULL, false, 0, { { 0 } }, "no results" },
	{ "example.com 2; none", 0, false, NULL, false, 0, { { 0 } }, "unsupported version" },
	{ "example.com 99999999999; none", 0, false, NULL, false, 0, { { 0 } }, "bad version" },
	{ "example.com; spf=pass\0 smtp.mailfrom=x", 38, false, NULL, false, 0, { { 0 } }, "NUL" },
	{ "spf=pass (sender IP is 203.0.113.5) smtp.mailfrom=example.com", 0, false, NULL,
	  false, 0, { { 0 } }, "expected ;" },
	{ "; spf=pass", 0, false, NULL, false, 0, { { 0 } }, "no authserv-id" },
	{ "example.com; spf", 0, false, NULL, false, 0, { { 0 } }, "expected = after a method" },
	{ "example.com; spf=", 0, false, NULL, false, 0, { { 0 } }, "expected a result" },
	{ "example.com; =pass", 0, false, NULL, false, 0, { { 0 } }, "expected a method" },
	{ "example.com; spf/x=pass", 0, false, NULL, false, 0, { { 0 } }, "bad method version" },
	{ "example.com; spf=pass smtp", 0, false, NULL, false, 0, { { 0 } }, "expected = or ." },
	{ "example.com; spf=pass smtp.mailfrom", 0, false, NULL, false, 0, { { 0 } },
	  "expected = after a property" },
	{ "example.com; spf=pass smtp.=x", 0, false, NULL, false, 0, { { 0 } }, "expected a property" },
	{ "example.com; spf=pass (unclosed", 0, false, NULL, false, 0, { { 0 } },
	  "unbalanced comment" },
	{ "example.com; spf=pass smtp.mailfrom=\"unclosed", 0, false, NULL, false, 0, { { 0 } },
	  "unbalanced quote" },
	{ "\"unclosed; spf=pass", 0, false, NULL, false, 0, { { 0 } }, "unbalanced quote" },
	{ "example.com; none; spf=pass", 0, false, NULL, false, 0, { { 0 } }, "results after none" },
	{ "example.com; spf=pass; none", 0, false, NULL, false, 0, { { 0 } }, "none among results" },
	{ "example.com; spf=pass smtp.mailfrom=a\x01" "b", 0, false, NULL, false, 0, { { 0 } },
	  "control character" },
	{ "example.com; spf=pass smtp.mailfrom=\"a\x7f\"", 0, false, NULL, false, 0, { { 0 } },
	  "control character" },
	{ "example.com; spf=pass\rsmtp.mailfrom=x", 0, false, NULL, false, 0, { { 0 } }, "bare CR" },
	{ "example.com; spf=pass smtp.mailfrom=a@example.com\r\nX-Injected: 1", 0, false,
	  NULL, false, 0, { { 0 } }, "line break" },
	{ "example.com; spf=pass smtp.mailfrom=x y", 0, false, NULL, false, 0, { { 0 } },
	  "expected = or ." },
	{ "example.com; spf=pass; dkim=pass header.d=x;garbage", 0, false, NULL, false, 0,
	  { { 0 } }, "expected = after a method" },
	{ "example.com; spf=pass smtp.mailfrom=x; ; (((", 0, false, NULL, false, 0, { { 0 } },
	  "unbalanced comment" },
	{ "example.com; spf=pass averyveryverylongptypename.x=y", 0, false, NULL, false, 0,
	  { { 0 } }, "ptype too long" },
	{ "example.com; averyveryveryveryveryverylongmethodname=pass", 0, false, NULL,
	  false, 0, { { 0 } }, "keyword too long" },
	{ "mx.example.com\xff; spf=pass", 0, false, NULL, false, 0, { { 0 } }, "expected ;" },
};

static char *
exact_copy(const char *s, size_t len)
{
	char *p = xmalloc(len > 0 ? len : 1);

	memcpy(p, s, len);
	return p;
}

START_TEST(authres_table)
{
	const struct ar_case *c = &cases[_i];
	size_t len = c->len != 0 ? c->len : strlen(c->in);
	char *buf = exact_copy(c->in, len);
	struct mp_authres *out = xmalloc(sizeof(*out));
	const char *why = NULL;
	bool ok;

	memset(out, 0xa5, sizeof(*out));
	ok = mp_authres_parse(buf, len, out, &why);
	if (ok != c->ok)
		ck_abort_msg("case %d \"%s\": got %s (%s)", _i, c->in,
		    ok ? "ok" : "error", why != NULL ? why : "");
	ck_assert_uint_eq(out->count, c->count);
	ck_assert_int_eq(out->none, c->none);
	if (ok) {
		ck_assert_str_eq(out->authserv_id, c->servid);
		ck_assert_int_eq(out->version, 1);
		for (size_t i = 0; i < c->count; i++) {
			const struct mp_authres_result *r = &out->res[i];
			const struct want_res *w = &c->res[i];

			ck_assert_str_eq(r->method, w->method);
			ck_assert_str_eq(r->result, w->result);
			ck_assert_str_eq(r->reason, w->reason);
			ck_assert_uint_eq(r->nprops, w->nprops);
			for (size_t j = 0; j < w->nprops; j++) {
				ck_assert_str_eq(r->props[j].ptype, w->props[j].ptype);
				ck_assert_str_eq(r->props[j].property, w->props[j].property);
				ck_assert_str_eq(r->props[j].value, w->props[j].value);
			}
		}
	} else {
		ck_assert_ptr_nonnull(why);
		if (c->why != NULL && strstr(why, c->why) == NULL)
			ck_abort_msg("case %d \"%s\": reason \"%s\", want \"%s\"",
			    _i, c->in, why, c->why);
	}
	free(out);
	free(buf);
}
END_TEST

/* Every prefix of every case, through both parsers: no overread, no crash. */
START_TEST(authres_truncated)
{
	struct mp_authres *out = xmalloc(sizeof(*out));

	for (size_t k = 0; k < MP_ARRAY_SIZE(cases); k++) {
		size_t len = cases[k].len != 0 ? cases[k].len : strlen(cases[k].in);

		for (size_t n = 0; n < len; n++) {
			char *buf = exact_copy(cases[k].in, n);
			char id[256];
			const char *why = NULL;

			if (!mp_authres_parse(buf, n, out, &why)) {
				ck_assert_ptr_nonnull(why);
				ck_assert_uint_eq(out->count, 0);
			}
			if (mp_authres_servid(buf, n, id, sizeof(id)))
				ck_assert_uint_gt(strlen(id), 0);
			free(buf);
		}
	}
	free(out);
}
END_TEST

static void
expect_parse(const struct mp_buf *b, bool ok, const char *why_sub, size_t count)
{
	struct mp_authres *out = xmalloc(sizeof(*out));
	char *buf = exact_copy(b->data, b->len);
	const char *why = NULL;

	ck_assert_int_eq(mp_authres_parse(buf, b->len, out, &why), ok);
	ck_assert_uint_eq(out->count, count);
	if (!ok)
		ck_assert_ptr_nonnull(strstr(why, why_sub));
	free(buf);
	free(out);
}

START_TEST(authres_limits)
{
	struct mp_buf b = MP_BUF_INIT;

	/* 32 results fine, 33 an error. */
	mp_buf_puts(&b, "mx.example.com");
	for (int i = 0; i < MP_AUTHRES_MAX_RESULTS; i++)
		mp_buf_printf(&b, "; m%d=pass", i);
	expect_parse(&b, true, NULL, MP_AUTHRES_MAX_RESULTS);
	mp_buf_puts(&b, "; one=more");
	expect_parse(&b, false, "too many results", 0);

	/* 8 properties fine, 9 an error. */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "mx.example.com; dkim=pass");
	for (int i = 0; i < MP_AUTHRES_MAX_PROPS; i++)
		mp_buf_printf(&b, " header.p%d=v%d", i, i);
	expect_parse(&b, true, NULL, 1);
	mp_buf_puts(&b, " header.x=y");
	expect_parse(&b, false, "too many properties", 0);

	/* A value of 255 bytes fits, 256 does not. */
	for (int n = 255; n <= 256; n++) {
		mp_buf_reset(&b);
		mp_buf_puts(&b, "mx.example.com; dkim=pass header.b=");
		for (int i = 0; i < n; i++)
			mp_buf_putc(&b, 'A');
		expect_parse(&b, n == 255, "value too long", n == 255 ? 1 : 0);
	}

	/* An authserv-id of 255 fits, 256 does not. */
	for (int n = 255; n <= 256; n++) {
		mp_buf_reset(&b);
		for (int i = 0; i < n; i++)
			mp_buf_putc(&b, 'a');
		mp_buf_puts(&b, "; none");
		expect_parse(&b, n == 255, "authserv-id too long", 0);
	}

	/* A reason longer than its field is cut, not refused. */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "mx.example.com; dkim=fail reason=\"");
	for (int i = 0; i < 300; i++)
		mp_buf_putc(&b, 'r');
	mp_buf_puts(&b, "\" header.d=example.com");
	{
		struct mp_authres *out = xmalloc(sizeof(*out));
		const char *why;

		ck_assert(mp_authres_parse(b.data, b.len, out, &why));
		ck_assert_uint_eq(strlen(out->res[0].reason), sizeof(out->res[0].reason) - 1);
		ck_assert_str_eq(mp_authres_prop(&out->res[0], "header", "d"), "example.com");
		free(out);
	}

	/* Comment nesting: 32 fine, 33 a bomb; and an endless bomb. */
	for (int depth = 32; depth <= 33; depth++) {
		mp_buf_reset(&b);
		mp_buf_puts(&b, "mx.example.com; spf=pass ");
		for (int i = 0; i < depth; i++)
			mp_buf_putc(&b, '(');
		for (int i = 0; i < depth; i++)
			mp_buf_putc(&b, ')');
		expect_parse(&b, depth == 32, "nested too deep", depth == 32 ? 1 : 0);
	}
	mp_buf_reset(&b);
	mp_buf_puts(&b, "mx.example.com; spf=pass ");
	while (b.len < MP_AUTHRES_MAX_LEN)
		mp_buf_putc(&b, '(');
	expect_parse(&b, false, "nested too deep", 0);

	/* The length cap. */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "mx.example.com; spf=pass (");
	while (b.len < MP_AUTHRES_MAX_LEN - 1)
		mp_buf_putc(&b, 'x');
	mp_buf_putc(&b, ')');
	expect_parse(&b, true, NULL, 1);
	mp_buf_putc(&b, ' ');
	expect_parse(&b, false, "too long", 0);
	mp_buf_free(&b);
}
END_TEST

struct servid_case {
	const char *in;
	size_t len;
	size_t outlen;                  /* 0: 256 */
	const char *want;               /* NULL: false expected */
};

static const struct servid_case servid_cases[] = {
	{ "mx.example.com; garbage (((", 0, 0, "mx.example.com" },
	{ "mx.example.com; spf=pass smtp.mailfrom=\"unclosed", 0, 0, "mx.example.com" },
	{ "  (comment (nested)) MX.Example.COM ; spf=pass", 0, 0, "mx.example.com" },
	{ "\r\n\t(a\r\nb) mx.example.com;", 0, 0, "mx.example.com" },
	{ "\"Mx.Example.com\"; spf=pass", 0, 0, "mx.example.com" },
	{ "\"mx.exa\\\"mple\" 1; none", 0, 0, "mx.exa\"mple" },
	{ "mx.example.com", 0, 0, "mx.example.com" },
	{ "mx.example.com 1 ((((", 0, 0, "mx.example.com" },
	{ "mx.example.com;\0garbage", 23, 0, "mx.example.com" },
	{ "mx.example.com\xff; x", 0, 0, "mx.example.com" },
	{ "foo.example.net (foobar) 1 (baz); dkim (x) = fail", 0, 0, "foo.example.net" },
	{ "spf=pass smtp.mailfrom=example.com", 0, 0, NULL },
	{ "spf (comment) = pass", 0, 0, NULL },
	{ "(unclosed mx.example.com;", 0, 0, NULL },
	{ "; spf=pass", 0, 0, NULL },
	{ "", 0, 0, NULL },
	{ "   \r\n ", 0, 0, NULL },
	{ "\"unclosed", 0, 0, NULL },
	{ "\"\"; none", 0, 0, NULL },
	{ "\"a\x01" "b\"; none", 0, 0, NULL },
	{ "\"a\\", 0, 0, NULL },
	{ "\0mx.example.com", 15, 0, NULL },
	{ "ab; none", 0, 3, "ab" },
	{ "abc; none", 0, 3, NULL },
	/* Deeper than the parser allows: the id is still read, so that a
	 * forged header carrying it is deleted, not kept. */
	{ "(((((((((((((((((((((((((((((((((x))))))))))))))))))))))))))))))))) mx.example.com", 0,
	  0, "mx.example.com" },
	{ "((((((((((((((((((((((((((((((((x)))))))))))))))))))))))))))))))) mx.example.com", 0,
	  0, "mx.example.com" },
};

START_TEST(servid_table)
{
	const struct servid_case *c = &servid_cases[_i];
	size_t len = c->len != 0 ? c->len : strlen(c->in);
	size_t outlen = c->outlen != 0 ? c->outlen : 256;
	char *buf = exact_copy(c->in, len);
	char *out = xmalloc(outlen);
	bool ok;

	memset(out, 'z', outlen);
	ok = mp_authres_servid(buf, len, out, outlen);
	if (ok != (c->want != NULL))
		ck_abort_msg("servid case %d: got %s \"%s\"", _i, ok ? "ok" : "false", out);
	ck_assert_str_eq(out, ok ? c->want : "");
	free(out);
	free(buf);
}
END_TEST

/* Found by fuzz_authres: folding whitespace inside a quoted authserv-id.
 * The full parse and the deletion rule's reader must agree (both
 * refuse it), or a header could be judged by one and not the other. */
START_TEST(servid_quoted_fws_agrees)
{
	static const char *const in[] = {
		"\"mx.exam\n\tple.net\"; spf=pass",
		"\"\tmx.example.net\"; spf=pass",
		"\"\t\t\t\n\t\t\tI\t0dki\xe0(p\"; spf=fail",
	};
	struct mp_authres *ar = xmalloc(sizeof(*ar));
	const char *why;
	char id[256];

	for (size_t i = 0; i < MP_ARRAY_SIZE(in); i++) {
		ck_assert_msg(!mp_authres_parse(in[i], strlen(in[i]), ar, &why), "case %zu", i);
		ck_assert_msg(!mp_authres_servid(in[i], strlen(in[i]), id, sizeof(id)), "case %zu", i);
	}
	free(ar);
}
END_TEST

START_TEST(servid_long)
{
	struct mp_buf b = MP_BUF_INIT;
	char id[256];

	for (int i = 0; i < 255; i++)
		mp_buf_putc(&b, 'A');
	ck_assert(mp_authres_servid(b.data, b.len, id, sizeof(id)));
	ck_assert_uint_eq(strlen(id), 255);
	ck_assert_int_eq(id[0], 'a');
	mp_buf_putc(&b, 'a');
	ck_assert(!mp_authres_servid(b.data, b.len, id, sizeof(id)));
	ck_assert_str_eq(id, "");
	ck_assert(!mp_authres_servid(NULL, 0, id, sizeof(id)));
	ck_assert(!mp_authres_servid("x", 1, id, 0));
	mp_buf_free(&b);
}
END_TEST

START_TEST(prop_lookup)
{
	static const char v[] =
	    "mx.example.com; dkim=pass Header.D=example.com header.i=@example.com";
	struct mp_authres *out = xmalloc(sizeof(*out));
	const char *why;

	ck_assert(mp_authres_parse(v, sizeof(v) - 1, out, &why));
	ck_assert_str_eq(mp_authres_prop(&out->res[0], "header", "d"), "example.com");
	ck_assert_str_eq(mp_authres_prop(&out->res[0], "HEADER", "I"), "@example.com");
	ck_assert_ptr_null(mp_authres_prop(&out->res[0], "header", "s"));
	ck_assert_ptr_null(mp_authres_prop(&out->res[0], "smtp", "d"));
	free(out);
}
END_TEST

struct put_case {
	const char *in;
	bool pvalue;
	const char *want;
};

static const struct put_case put_cases[] = {
	{ "pass", false, "pass" },
	{ "example.com", false, "example.com" },
	{ "", false, "\"\"" },
	{ "good signature", false, "\"good signature\"" },
	{ "a\"b\\c", false, "\"a\\\"b\\\\c\"" },
	{ "a\r\nb", false, "\"ab\"" },
	{ "x\ty\x7fz\x01", false, "\"xyz\"" },
	{ "user@example.com", false, "\"user@example.com\"" },
	{ "p=reject;", false, "\"p=reject;\"" },
	{ "J\xc3\xbcrgen", false, "\"J\xc3\xbcrgen\"" },
	{ "\xe2\x82\xac 5", false, "\"\xe2\x82\xac 5\"" },
	{ "\xf0\x9f\x93\xa7", false, "\"\xf0\x9f\x93\xa7\"" },
	{ "a\xff" "b", false, "\"a?b\"" },
	{ "a\xc2\x85" "b", false, "\"ab\"" },          /* C1 NEL */
	{ "\xc0\xaf", false, "\"??\"" },                /* overlong */
	{ "\xed\xa0\x80", false, "\"???\"" },           /* surrogate */
	{ "\xf4\x90\x80\x80", false, "\"????\"" },      /* above U+10FFFF */
	{ "\xe2\x82", false, "\"??\"" },                /* truncated */
	{ "user@example.com", true, "user@example.com" },
	{ "first.last+tag@sub.example.com", true, "first.last+tag@sub.example.com" },
	{ "@example.com", true, "@example.com" },
	{ "example.com", true, "example.com" },
	{ "john doe@example.com", true, "\"john doe@example.com\"" },
	{ "a..b@example.com", true, "\"a..b@example.com\"" },
	{ ".a@example.com", true, "\".a@example.com\"" },
	{ "user@exa mple.com", true, "\"user@exa mple.com\"" },
	{ "user@", true, "\"user@\"" },
	{ "user@example..com", true, "\"user@example..com\"" },
	{ "user@example.com\r\nX: y", true, "\"user@example.comX: y\"" },
	{ "us;er@example.com", true, "\"us;er@example.com\"" },
	{ "\xc3\xbc@example.com", true, "\"\xc3\xbc@example.com\"" },
};

START_TEST(put_table)
{
	const struct put_case *c = &put_cases[_i];
	struct mp_buf b = MP_BUF_INIT;

	if (c->pvalue)
		mp_authres_put_pvalue(&b, c->in);
	else
		mp_authres_put_value(&b, c->in);
	ck_assert_str_eq(mp_buf_str(&b), c->want);
	for (size_t i = 0; i < b.len; i++)
		ck_assert(!((unsigned char)b.data[i] < 0x20 || b.data[i] == 0x7f));
	mp_buf_free(&b);
}
END_TEST

/* What we write, we read back as the same value. */
START_TEST(put_round_trip)
{
	static const char *values[] = {
		"pass", "good signature", "a\"b\\c", "user@example.com",
		"@example.com", "J\xc3\xbcrgen", "x;y(z)", "\"q\"@example.com",
	};

	for (size_t k = 0; k < MP_ARRAY_SIZE(values); k++) {
		for (int pv = 0; pv <= 1; pv++) {
			struct mp_buf b = MP_BUF_INIT;
			struct mp_authres *out = xmalloc(sizeof(*out));
			const char *why = NULL;

			mp_buf_puts(&b, "mx.example.com; x=pass policy.v=");
			if (pv)
				mp_authres_put_pvalue(&b, values[k]);
			else
				mp_authres_put_value(&b, values[k]);
			mp_buf_puts(&b, " reason=");
			mp_authres_put_value(&b, values[k]);
			if (!mp_authres_parse(b.data, b.len, out, &why))
				ck_abort_msg("\"%s\": %s", b.data, why);
			ck_assert_str_eq(out->res[0].props[0].value, values[k]);
			ck_assert_str_eq(out->res[0].reason, values[k]);
			free(out);
			mp_buf_free(&b);
		}
	}
	{
		struct mp_buf b = MP_BUF_INIT;

		mp_authres_put_value(&b, NULL);
		ck_assert_str_eq(mp_buf_str(&b), "\"\"");
		mp_buf_reset(&b);
		mp_authres_put_pvalue(&b, NULL);
		ck_assert_str_eq(mp_buf_str(&b), "\"\"");
		mp_buf_free(&b);
	}
}
END_TEST

/* Random values over the grammar's characters: no crash, no overread. */
START_TEST(authres_random)
{
	static const char alphabet[] = "ab.@=;/()\"\\ \t\r\n1\xc3\x01";
	struct mp_authres *out = xmalloc(sizeof(*out));
	unsigned seed = 4242;

	for (int iter = 0; iter < 20000; iter++) {
		char tmp[64], id[64];
		size_t n;

		seed = seed * 1103515245 + 12345;
		n = (seed >> 16) % sizeof(tmp);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245 + 12345;
			tmp[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		char *buf = exact_copy(tmp, n);
		const char *why = NULL;

		if (mp_authres_parse(buf, n, out, &why)) {
			ck_assert(out->none || out->count > 0);
			ck_assert_uint_gt(strlen(out->authserv_id), 0);
		} else
			ck_assert_ptr_nonnull(why);
		if (mp_authres_servid(buf, n, id, sizeof(id)))
			ck_assert_uint_gt(strlen(id), 0);
		free(buf);
	}
	free(out);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("authres");
	TCase *tc = tcase_create("authres");

	tcase_add_loop_test(tc, authres_table, 0, (int)MP_ARRAY_SIZE(cases));
	tcase_add_test(tc, authres_truncated);
	tcase_add_test(tc, authres_limits);
	tcase_add_loop_test(tc, servid_table, 0, (int)MP_ARRAY_SIZE(servid_cases));
	tcase_add_test(tc, servid_long);
	tcase_add_test(tc, servid_quoted_fws_agrees);
	tcase_add_test(tc, prop_lookup);
	tcase_add_loop_test(tc, put_table, 0, (int)MP_ARRAY_SIZE(put_cases));
	tcase_add_test(tc, put_round_trip);
	tcase_add_test(tc, authres_random);
	suite_add_tcase(s, tc);
	return s;
}
