/*
 * report/html: the one escaping function every string from Redis goes
 * through, and a page rendered from hostile data (as stored by anybody
 * who can write to Redis, or forged in a sender's domain name) that
 * comes out as text, never as markup. report-html.sh renders real pages
 * in Chromium.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "html.h"
#include "util.h"

static char *
esc(const char *s, size_t max)
{
	struct mp_buf b = MP_BUF_INIT;

	html_text(&b, s, max);
	return mp_buf_steal(&b);
}

START_TEST(escapes_markup_and_quotes)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "example.com", "example.com" },
		{ "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;" },
		{ "a&b", "a&amp;b" },
		{ "&amp;", "&amp;amp;" },
		{ "\"><img src=x onerror=alert(1)>",
		    "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" },
		{ "it's", "it&#39;s" },
		/* Control bytes and bytes past ASCII become visible escapes. */
		{ "a\nb\x1b[31m", "a\\x0ab\\x1b[31m" },
		{ "caf\xc3\xa9", "caf\\xc3\\xa9" },
		{ "", "" },
	};

	for (size_t i = 0; i < MP_ARRAY_SIZE(cases); i++) {
		char *got = esc(cases[i].in, MP_SHOW_DOMAIN);

		ck_assert_msg(strcmp(got, cases[i].out) == 0, "'%s' -> '%s', expected '%s'",
		    cases[i].in, got, cases[i].out);
		free(got);
	}
	/* NULL is empty text, not a crash. */
	{
		char *got = esc(NULL, MP_SHOW_TOKEN);

		ck_assert_str_eq(got, "");
		free(got);
	}
}
END_TEST

START_TEST(long_text_is_cut)
{
	char label[300], *got;

	memset(label, 'a', 250);
	strcpy(label + 250, ".example");
	got = esc(label, MP_SHOW_TOKEN);
	/* At most MP_SHOW_TOKEN bytes of the input, and the cut is marked. */
	ck_assert_uint_le(strspn(got, "a"), MP_SHOW_TOKEN);
	ck_assert_ptr_null(strstr(got, "example"));
	ck_assert_ptr_nonnull(strstr(got, "..."));
	free(got);
	/* Never a half escape: "&" past the cut is not split into "&am". */
	memset(label, '&', 100);
	label[100] = '\0';
	got = esc(label, 10);
	for (const char *p = strchr(got, '&'); p != NULL; p = strchr(p + 1, '&'))
		ck_assert_int_eq(strncmp(p, "&amp;", 5), 0);
	free(got);
}
END_TEST

/* A page whose every string is hostile. */
static json_t *
hostile_page(void)
{
	static const char *const bad = "<script>alert(1)</script>\"'<b>";
	json_t *day = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i}", "day", "2024-01-02", "messages", 7,
	    "dmarc_pass", 3, "dmarc_fail", 4, "dmarc_none", 0, "dmarc_error", 0);
	json_t *worst = json_pack("{s:[{s:s,s:i,s:s,s:f,s:{s:i,s:i,s:i},s:s}]}", "domains",
	    "domain", bad, "posture_score", 10, "grade", "\"><i>", "auth_score", 12.5, "period",
	    "messages", 4, "dmarc_fail", 4, "dmarc_pass", 0, "published_policy", bad);
	json_t *ips = json_pack("{s:[{s:s,s:i,s:i,s:i}]}", "ips", "ip", bad, "dmarc_fail", 4,
	    "messages", 5, "domains", 1);
	json_t *audits = json_pack("{s:[{s:s,s:s,s:s,s:i,s:s,s:i,s:i,s:[{s:s,s:i,s:s}]}]}",
	    "targets", "target", bad, "time", "2024-01-02T03:04:05Z", "domain", bad, "score", 55,
	    "grade", bad, "fail", 1, "warn", 2, "history", "time", "2024-01-02T03:04:05Z",
	    "score", 55, "grade", bad);
	json_t *senders = json_pack("{s:i,s:i,s:f,s:f,s:[{s:s,s:i,s:i}]}", "domains", 2,
	    "messages", 7, "enforcing_domains_pct", 50.0, "enforcing_messages_pct", 42.9,
	    "by_policy", "policy", "reject", "domains", 1, "messages", 3);

	return json_pack("{s:i,s:s,s:{s:[o],s:{s:i,s:i,s:i}},s:o,s:o,s:o,s:o,s:b}", "days", 30,
	    "generated", bad, "summary", "per_day", day, "total", "messages", 7, "dmarc_pass", 3,
	    "dmarc_fail", 4, "senders", senders, "worst", worst, "failing_ips", ips,
	    "audits", audits, "found", 1);
}

START_TEST(hostile_strings_stay_text)
{
	json_t *page = hostile_page();
	char *html = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&html, &len);

	ck_assert_ptr_nonnull(page);
	render_html(f, page);
	fclose(f);
	ck_assert_uint_gt(len, 1000);
	/* Our markup only: no script, no <b> or <i> of theirs, no URL. */
	ck_assert_ptr_null(strstr(html, "<script"));
	ck_assert_ptr_null(strstr(html, "<b>"));
	ck_assert_ptr_null(strstr(html, "<i>"));
	ck_assert_ptr_null(strstr(html, "http:"));
	ck_assert_ptr_null(strstr(html, "https:"));
	ck_assert_ptr_null(strstr(html, "url("));
	ck_assert_ptr_nonnull(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;"));
	/* The figures are there, in the cells the tests look up. */
	ck_assert_ptr_nonnull(strstr(html, "<td id=\"total-messages\">7</td>"));
	ck_assert_ptr_nonnull(strstr(html, "<td id=\"total-dmarc-fail\">4</td>"));
	ck_assert_ptr_nonnull(strstr(html, "<b id=\"enforcing-domains-pct\">50.0%</b>"));
	ck_assert_ptr_nonnull(strstr(html, "Content-Security-Policy"));
	ck_assert_ptr_nonnull(strstr(html, "<svg class=\"chart\""));
	ck_assert_str_eq(html + len - 8, "</html>\n");
	free(html);
	json_decref(page);
}
END_TEST

START_TEST(an_empty_page_renders)
{
	json_t *page = json_pack("{s:i,s:s,s:b}", "days", 7, "generated", "", "found", 0);
	char *html = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&html, &len);

	render_html(f, page);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(html, "<h1>Mail posture</h1>"));
	ck_assert_ptr_null(strstr(html, "<section"));
	free(html);
	json_decref(page);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("html");
	TCase *tc = tcase_create("html");

	tcase_add_test(tc, escapes_markup_and_quotes);
	tcase_add_test(tc, long_text_is_cut);
	tcase_add_test(tc, hostile_strings_stay_text);
	tcase_add_test(tc, an_empty_page_renders);
	suite_add_tcase(s, tc);
	return s;
}
