/*
 * Table tests of the audit's parsers and judges: SMTP replies (good and
 * hostile), EHLO keywords, version disclosure, the VRFY/EXPN comparison,
 * the relay verdict, mynetworks matching, DNSBL answers, DMARC report
 * URIs and smtpd_milters values.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "dnscheck.h"
#include "host.h"
#include "probe.h"
#include "smtp.h"

struct reply_case {
	const char *in;
	size_t len;             /* 0: strlen(in) */
	enum smtp_parse want;
	int code;
	size_t nlines;
	const char *last;       /* text of the last line */
	size_t used;            /* 0: all of it */
};

static const struct reply_case reply_cases[] = {
	{ "220 mail.example.org ESMTP\r\n", 0, SMTP_PARSE_OK, 220, 1, "mail.example.org ESMTP", 0 },
	{ "250-a\r\n250-b\r\n250 c\r\n", 0, SMTP_PARSE_OK, 250, 3, "c", 0 },
	{ "250\r\n", 0, SMTP_PARSE_OK, 250, 1, "", 0 },
	{ "250 ok\n", 0, SMTP_PARSE_OK, 250, 1, "ok", 0 },                /* bare LF tolerated */
	{ "250 one\r\n250 two\r\n", 0, SMTP_PARSE_OK, 250, 1, "one", 9 },  /* one reply at a time */
	{ "250-a\r\n250 b", 0, SMTP_PARSE_MORE, 0, 0, NULL, 0 },            /* truncated */
	{ "25", 0, SMTP_PARSE_MORE, 0, 0, NULL, 0 },
	{ "", 0, SMTP_PARSE_MORE, 0, 0, NULL, 0 },
	{ "HTTP/1.1 400 Bad Request\r\n", 0, SMTP_PARSE_GARBAGE, 0, 0, NULL, 0 },
	{ "HTT", 0, SMTP_PARSE_GARBAGE, 0, 0, NULL, 0 },                   /* caught before the line ends */
	{ "250-a\r\n251 b\r\n", 0, SMTP_PARSE_GARBAGE, 0, 0, NULL, 0 },     /* codes differ */
	{ "250xhello\r\n", 0, SMTP_PARSE_GARBAGE, 0, 0, NULL, 0 },
	{ "150 odd\r\n", 0, SMTP_PARSE_GARBAGE, 0, 0, NULL, 0 },
	{ "650 odd\r\n", 0, SMTP_PARSE_GARBAGE, 0, 0, NULL, 0 },
	{ "25\r\n", 0, SMTP_PARSE_GARBAGE, 0, 0, NULL, 0 },
	{ "250 a\0b\r\n", 9, SMTP_PARSE_GARBAGE, 0, 0, NULL, 0 },           /* NUL */
	{ "\r\n", 0, SMTP_PARSE_GARBAGE, 0, 0, NULL, 0 },
};

START_TEST(reply_table)
{
	const struct reply_case *c = &reply_cases[_i];
	struct smtp_reply r = { 0 };
	size_t len = c->len ? c->len : strlen(c->in), used = 99;
	char why[128] = "";
	enum smtp_parse p = smtp_reply_parse(c->in, len, &r, &used, why, sizeof(why));

	ck_assert_msg(p == c->want, "case %d: got %d want %d (%s)", _i, p, c->want, why);
	if (p == SMTP_PARSE_OK) {
		ck_assert_int_eq(r.code, c->code);
		ck_assert_uint_eq(r.nlines, c->nlines);
		ck_assert_str_eq(r.line[r.nlines - 1], c->last);
		ck_assert_uint_eq(used, c->used ? c->used : len);
	} else {
		ck_assert_uint_eq(r.nlines, 0);
		if (p != SMTP_PARSE_MORE)
			ck_assert_msg(why[0] != '\0', "case %d: no reason", _i);
	}
	smtp_reply_clear(&r);
}
END_TEST

START_TEST(reply_caps)
{
	struct mp_buf b = MP_BUF_INIT;
	struct smtp_reply r = { 0 };
	size_t used;

	/* A line longer than the cap, without its end yet: refused now. */
	mp_buf_puts(&b, "250 ");
	for (int i = 0; i < SMTP_LINE_MAX + 10; i++)
		mp_buf_putc(&b, 'x');
	ck_assert_int_eq(smtp_reply_parse(b.data, b.len, &r, &used, NULL, 0), SMTP_PARSE_TOOLONG);
	/* More lines than the cap. */
	mp_buf_reset(&b);
	for (int i = 0; i < SMTP_MAX_LINES + 1; i++)
		mp_buf_puts(&b, "250-x\r\n");
	mp_buf_puts(&b, "250 end\r\n");
	ck_assert_int_eq(smtp_reply_parse(b.data, b.len, &r, &used, NULL, 0), SMTP_PARSE_TOOLONG);
	ck_assert_uint_eq(r.nlines, 0);
	/* Exactly the cap is fine. */
	mp_buf_reset(&b);
	for (int i = 0; i < SMTP_MAX_LINES - 1; i++)
		mp_buf_puts(&b, "250-x\r\n");
	mp_buf_puts(&b, "250 end\r\n");
	ck_assert_int_eq(smtp_reply_parse(b.data, b.len, &r, &used, NULL, 0), SMTP_PARSE_OK);
	ck_assert_uint_eq(r.nlines, SMTP_MAX_LINES);
	smtp_reply_clear(&r);
	mp_buf_free(&b);
}
END_TEST

static void
parse_ehlo(const char *text, struct audit_ehlo *e)
{
	struct smtp_reply r = { 0 };
	size_t used;

	ck_assert_int_eq(smtp_reply_parse(text, strlen(text), &r, &used, NULL, 0), SMTP_PARSE_OK);
	audit_ehlo_parse(&r, e);
	smtp_reply_clear(&r);
}

START_TEST(ehlo_keywords)
{
	struct audit_ehlo e;

	parse_ehlo("250-mail.example.org Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
	    "250-STARTTLS\r\n250-AUTH login PLAIN CRAM-MD5\r\n250-AUTH=LOGIN PLAIN XOAUTH2\r\n"
	    "250-XCLIENT NAME ADDR PROTO\r\n250 8BITMIME\r\n", &e);
	ck_assert(e.valid);
	ck_assert_str_eq(e.name, "mail.example.org");
	ck_assert(e.pipelining && e.starttls && e.eightbitmime && e.has_size && e.xclient);
	ck_assert(!e.vrfy && !e.chunking);
	ck_assert_uint_eq(e.size, 10240000);
	/* AUTH and AUTH= merged, uppercased, deduplicated. */
	ck_assert_str_eq(e.auth, "LOGIN PLAIN CRAM-MD5 XOAUTH2");
	ck_assert_int_eq(e.nauth, 4);
	ck_assert(e.auth_plaintext);
	ck_assert_str_eq(e.xclient_attrs, "NAME ADDR PROTO");

	/* Only the old form, with a hostile mechanism name dropped. */
	parse_ehlo("250-x\r\n250-AUTH=CRAM-MD5 bad\x01mech WAY-TOO-LONG-MECHANISM-NAME\r\n250 SIZE\r\n", &e);
	ck_assert_str_eq(e.auth, "CRAM-MD5");
	ck_assert(!e.auth_plaintext);
	ck_assert(e.has_size);
	ck_assert_uint_eq(e.size, 0);

	/* No AUTH, garbage keyword lines, and a SIZE that is not a number. */
	parse_ehlo("250-x\r\n250-\r\n250-   \r\n250-SIZE 12abc\r\n250 \x7f\x80\r\n", &e);
	ck_assert_int_eq(e.nauth, 0);
	ck_assert_uint_eq(e.size, 0);
	ck_assert_ptr_null(strchr(e.keywords, '\x7f'));

	/* Each flag keyword sets its own flag only, whatever its case. */
	parse_ehlo("250-x\r\n250-vrfy\r\n250-Etrn\r\n250-SMTPUTF8\r\n250-chunking\r\n250 DSN\r\n", &e);
	ck_assert(e.vrfy && e.etrn && e.smtputf8 && e.chunking && e.dsn);
	ck_assert(!e.starttls && !e.pipelining && !e.eightbitmime && !e.xclient && !e.has_size);
	ck_assert_str_eq(e.keywords, "VRFY ETRN SMTPUTF8 CHUNKING DSN");

	/* A refusal is not an EHLO reply. */
	parse_ehlo("502 5.5.2 Error: command not recognized\r\n", &e);
	ck_assert(!e.valid);
}
END_TEST

struct disclose_case {
	const char *text;
	bool version;
	bool software;
};

static const struct disclose_case disclose_cases[] = {
	{ "mail.example.org ESMTP Postfix", false, true },
	{ "mail.example.org ESMTP Postfix (3.7.11)", true, true },
	{ "mx ESMTP Sendmail 8.15.2/8.15.2; Mon, 1 Jan 2024 00:00:00 GMT", true, true },
	{ "mx ESMTP Exim 4.96 Mon, 01 Jan 2024", true, true },
	{ "mail.example.org ESMTP", false, false },
	{ "mail.example.org ESMTP ready 192.0.2.4", false, false },       /* an address */
	{ "5.5.2 Error: command not recognized", false, false },         /* status code */
	{ "2.0.0 Ok", false, false },
	{ "mx1.example.org v2.1 ready", true, false },
	{ "host-1.2.example.org ready", false, false },                  /* part of a name */
	{ "notpostfixy here", false, false },
	{ "Microsoft ESMTP MAIL Service ready", false, true },
	{ "", false, false },
	/* Three-part versions that start like a status class (issue 17). */
	{ "mx.example.org ESMTP Exim 4.94.2 Mon, 01 Jan 2024 00:00:00 +0000", true, true },
	{ "mail.example.org ESMTP Postfix 2.10.1", true, true },
	{ "mail.example.org ESMTP Postfix (2.11.3)", true, true },
	{ "mx.example.org ESMTP Sendmail 5.67.1; ready", true, true },
	/* Four numbers as an address has, after the software's name (Debian 12). */
	{ "mx ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2; Mon, 1 Jan 2024 00:00:00 GMT", true, true },
	{ "mx ESMTP Sendmail; ready [192.0.2.4]", false, true },
};

START_TEST(disclosure_table)
{
	const struct disclose_case *c = &disclose_cases[_i];
	char what[128];

	ck_assert_msg(audit_text_discloses(c->text, what, sizeof(what)) == c->version,
	    "version in \"%s\"", c->text);
	ck_assert_msg(audit_text_names_software(c->text, what, sizeof(what)) == c->software,
	    "software in \"%s\"", c->text);
}
END_TEST

/* Replies with their code: a status code only right after it, in its class. */
struct reply_disclose_case {
	int code;
	const char *text;
	bool version;
};

static const struct reply_disclose_case reply_disclose_cases[] = {
	{ 220, "mx.example.org ESMTP Exim 4.94.2 Mon, 01 Jan 2024 00:00:00 +0000", true },
	{ 220, "mail.example.org ESMTP Postfix 2.10.1", true },
	{ 220, "mail.example.org ESMTP Postfix (3.7.11)", true },
	{ 220, "mx.example.org ESMTP Exim 4.96 Mon, 01 Jan 2024 00:00:00 +0000", true },
	{ 220, "4.94.2 mx.example.org ESMTP", true },                      /* class 4 in a 220 */
	{ 220, "mx.example.org ESMTP ready 192.0.2.4", false },
	{ 220, "mail.example.org ESMTP Postfix", false },
	/* Sendmail's HELP: the version after the status code of each line. */
	{ 214, "2.0.0 This is sendmail version 8.15.2 / 2.0.0 Topics: / "
	    "2.0.0 HELO EHLO MAIL RCPT DATA / 2.0.0 End of HELP info", true },
	{ 214, "2.0.0 Topics: / 2.0.0 HELO EHLO MAIL RCPT DATA / 2.0.0 End of HELP info", false },
	{ 214, "2.0.0 This is sendmail version 8.17.1.9 / 2.0.0 Topics:", true },
	{ 220, "mx.example.org ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2; (No UCE/UBE) "
	    "logging access from: localhost(OK)-localhost [127.0.0.1]", true },
	{ 250, "mx.example.org Hello localhost [127.0.0.1], pleased to meet you", false },
	/* Exim's HELP: no status codes, no version. */
	{ 214, "Commands supported: / AUTH HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP", false },
	{ 502, "5.5.2 Error: command not recognized", false },              /* Postfix */
	{ 500, "5.5.1 Command unrecognized: \"HELP\"", false },
	{ 502, "unimplemented (#5.5.1)", false },                           /* qmail */
	{ 250, "2.0.0 Ok", false },
	{ 250, "2.0.0 Ok: queued as 4.94.2", true },                        /* not after the code */
};

START_TEST(reply_disclosure_table)
{
	const struct reply_disclose_case *c = &reply_disclose_cases[_i];
	char what[128] = "";

	ck_assert_msg(audit_reply_discloses(c->code, c->text, what, sizeof(what)) == c->version,
	    "version in \"%d %s\" (%s)", c->code, c->text, what);
}
END_TEST

/*
 * One MTA's answer to VRFY or EXPN, the same for every name: NAME stands
 * for the name asked for, TRACE for an id unique to each reply.
 */
struct lookup_case {
	const char *mta;
	int code;
	const char *text;
	enum audit_status want;
	const char *finding;    /* a part of the finding, or NULL */
};

static const struct lookup_case lookup_cases[] = {
	/* Exim: "admin" inside "Administrative" is no echo of the name. */
	{ "Exim", 252, "2.1.5 Administrative prohibition", AUDIT_PASS, "Administrative" },
	{ "Exim-like", 252, "2.1.5 Information withheld", AUDIT_PASS, NULL },
	{ "Exim-like", 252, "2.1.5 root of the problem", AUDIT_PASS, NULL },
	{ "Exim-like", 252, "2.1.5 ADMINISTRATIVE PROHIBITION", AUDIT_PASS, NULL },
	{ "Postfix", 252, "2.0.0 <NAME>", AUDIT_PASS, "252 2.0.0 <*>" },
	{ "Postfix", 252, "2.0.0 NAME", AUDIT_PASS, NULL },
	{ "Postfix", 502, "5.5.1 VRFY command is disabled", AUDIT_PASS, NULL },
	{ "Sendmail", 252, "2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)",
	    AUDIT_PASS, "Cannot VRFY" },
	{ "qmail", 252, "send some mail, i'll try my best", AUDIT_PASS, NULL },
	{ "echo", 252, "2.1.5 <NAME@example.org>: root of the problem", AUDIT_PASS, NULL },
	/* Gmail-like: the same words, a new trace id each time. */
	{ "Gmail", 252, "2.1.5 Send some mail, I'll try my best TRACE - gsmtp", AUDIT_WARN,
	    "no conclusion" },
	{ "Gmail", 550, "5.1.1 <NAME@example.org>: unknown TRACE - gsmtp", AUDIT_WARN, "vary" },
};

static const char *const lookup_names[] = {
	"postmaster", "root", "admin", "info", "abuse", "mpa0a1b2c3d4", "mpa5e6f7a8b9c",
};

/* c's text for name: NAME and TRACE replaced. */
static char *
lookup_text(const char *t, const char *name, size_t seq)
{
	struct mp_buf b = MP_BUF_INIT;

	while (*t != '\0') {
		if (strncmp(t, "NAME", 4) == 0) {
			mp_buf_puts(&b, name);
			t += 4;
		} else if (strncmp(t, "TRACE", 5) == 0) {
			mp_buf_printf(&b, "x%zusi%zu%zuabc.%zu", seq * 7 + 3, 1234567 + seq * 7919,
			    seq, seq + 12);
			t += 5;
		} else {
			mp_buf_putc(&b, *t++);
		}
	}
	return mp_buf_steal(&b);
}

START_TEST(lookup_real_mtas)
{
	const struct lookup_case *c = &lookup_cases[_i];
	struct audit_answer a[MP_ARRAY_SIZE(lookup_names)];
	char *text[MP_ARRAY_SIZE(lookup_names)];
	char f[512];
	enum audit_status st;

	for (size_t i = 0; i < MP_ARRAY_SIZE(lookup_names); i++) {
		text[i] = lookup_text(c->text, lookup_names[i], i);
		a[i] = (struct audit_answer){ lookup_names[i], i < 5, SMTP_OK, c->code, text[i] };
	}
	st = audit_judge_lookup("VRFY", a, MP_ARRAY_SIZE(a), f, sizeof(f));
	ck_assert_msg(st == c->want, "%s \"%d %s\": got %d want %d (%s)", c->mta, c->code,
	    c->text, st, c->want, f);
	if (c->finding != NULL)
		ck_assert_msg(strstr(f, c->finding) != NULL, "%s: finding \"%s\"", c->mta, f);
	ck_assert_ptr_null(strstr(f, "enumerated"));
	for (size_t i = 0; i < MP_ARRAY_SIZE(lookup_names); i++)
		free(text[i]);
}
END_TEST

/* Real leaks stay FAIL next to the uniform servers above. */
START_TEST(lookup_real_leaks)
{
	char f[512];
	/* Exim with VRFY allowed: real users verified, unknown ones refused. */
	struct audit_answer exim[] = {
		{ "root", true, SMTP_OK, 250, "2.1.5 <root@example.org>" },
		{ "admin", true, SMTP_OK, 550, "5.1.1 <admin@example.org>: Administrative prohibition" },
		{ "mpa01", false, SMTP_OK, 550, "5.1.1 <mpa01@example.org>: Unrouteable address" },
		{ "mpa02", false, SMTP_OK, 550, "5.1.1 <mpa02@example.org>: Unrouteable address" },
	};
	/* The real name echoed where the random one is not: a difference. */
	struct audit_answer echo_real[] = {
		{ "root", true, SMTP_OK, 252, "2.1.5 root" },
		{ "mpa01", false, SMTP_OK, 252, "2.1.5 nobody" },
		{ "mpa02", false, SMTP_OK, 252, "2.1.5 nobody" },
	};
	/* The random name echoed, the real one answered otherwise. */
	struct audit_answer echo_random[] = {
		{ "root", true, SMTP_OK, 252, "2.1.5 <root@example.org> ok" },
		{ "mpa01", false, SMTP_OK, 252, "2.1.5 <mpa01@example.org> unknown" },
		{ "mpa02", false, SMTP_OK, 252, "2.1.5 <mpa02@example.org> unknown" },
	};

	ck_assert_int_eq(audit_judge_lookup("VRFY", exim, 4, f, sizeof(f)), AUDIT_FAIL);
	ck_assert_ptr_nonnull(strstr(f, "root 250, admin 550"));
	ck_assert_ptr_nonnull(strstr(f, "random names 550"));
	ck_assert_int_eq(audit_judge_lookup("VRFY", echo_real, 3, f, sizeof(f)), AUDIT_FAIL);
	ck_assert_int_eq(audit_judge_lookup("VRFY", echo_random, 3, f, sizeof(f)), AUDIT_FAIL);
}
END_TEST

START_TEST(lookup_judge)
{
	char f[512];
	/* The report in issue 5: real names 252, unknown ones 550. */
	struct audit_answer leak[] = {
		{ "postmaster", true, SMTP_OK, 252, "2.0.0 postmaster" },
		{ "root", true, SMTP_OK, 252, "2.0.0 root" },
		{ "mpa01", false, SMTP_OK, 550, "5.1.1 <mpa01>: Recipient address rejected" },
		{ "mpa02", false, SMTP_OK, 550, "5.1.1 <mpa02>: Recipient address rejected" },
	};
	/* Uniform 252 with the name echoed: the echo is not a difference. */
	struct audit_answer uniform[] = {
		{ "root", true, SMTP_OK, 252, "2.0.0 root" },
		{ "ADMIN", true, SMTP_OK, 252, "2.0.0 admin" },
		{ "mpa01", false, SMTP_OK, 252, "2.0.0 mpa01" },
		{ "mpa02", false, SMTP_OK, 252, "2.0.0 mpa02" },
	};
	struct audit_answer disabled[] = {
		{ "root", true, SMTP_OK, 502, "5.5.1 VRFY command is disabled" },
		{ "mpa01", false, SMTP_OK, 502, "5.5.1 VRFY command is disabled" },
	};
	/* Same code, different text: Sendmail's full names leak users too. */
	struct audit_answer text_leak[] = {
		{ "root", true, SMTP_OK, 250, "2.1.5 Charlie Root <root@example.org>" },
		{ "mpa01", false, SMTP_OK, 250, "2.1.5 <mpa01@example.org>" },
	};
	struct audit_answer random_disagree[] = {
		{ "root", true, SMTP_OK, 252, "2.0.0 root" },
		{ "mpa01", false, SMTP_OK, 252, "2.0.0 mpa01" },
		{ "mpa02", false, SMTP_OK, 421, "4.7.0 too many errors" },
	};
	struct audit_answer dropped[] = {
		{ "root", true, SMTP_ERR_CLOSED, 0, NULL },
		{ "mpa01", false, SMTP_ERR_CLOSED, 0, NULL },
	};
	struct audit_answer only_random[] = {
		{ "root", true, SMTP_ERR_TIMEOUT, 0, NULL },
		{ "mpa01", false, SMTP_OK, 252, "2.0.0 mpa01" },
	};

	ck_assert_int_eq(audit_judge_lookup("VRFY", leak, 4, f, sizeof(f)), AUDIT_FAIL);
	ck_assert_ptr_nonnull(strstr(f, "postmaster 252"));
	ck_assert_ptr_nonnull(strstr(f, "random names 550"));
	ck_assert_int_eq(audit_judge_lookup("VRFY", uniform, 4, f, sizeof(f)), AUDIT_PASS);
	ck_assert_int_eq(audit_judge_lookup("VRFY", disabled, 2, f, sizeof(f)), AUDIT_PASS);
	ck_assert_ptr_nonnull(strstr(f, "502"));
	ck_assert_int_eq(audit_judge_lookup("EXPN", text_leak, 2, f, sizeof(f)), AUDIT_FAIL);
	ck_assert_int_eq(audit_judge_lookup("VRFY", random_disagree, 3, f, sizeof(f)), AUDIT_WARN);
	ck_assert_int_eq(audit_judge_lookup("VRFY", dropped, 2, f, sizeof(f)), AUDIT_NOT_TESTED);
	ck_assert_int_eq(audit_judge_lookup("VRFY", only_random, 2, f, sizeof(f)), AUDIT_NOT_TESTED);
	ck_assert_int_eq(audit_judge_lookup("VRFY", NULL, 0, f, sizeof(f)), AUDIT_NOT_TESTED);
}
END_TEST

START_TEST(relay_judge)
{
	struct audit_relay_try t[12];
	size_t n = audit_relay_forms("example.org", "example.net", t, 12);
	char f[700];
	bool saw_percent = false, saw_route = false, saw_null = false;

	ck_assert_uint_eq(n, 10);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].rcpt, "<relaytest%example.net@example.org>") == 0 && !t[i].foreign)
			saw_percent = true;
		if (strcmp(t[i].rcpt, "<@example.org:relaytest@example.net>") == 0 && t[i].foreign)
			saw_route = true;
		if (strcmp(t[i].mail, "<>") == 0)
			saw_null = true;
	}
	ck_assert(saw_percent && saw_route && saw_null);
	/* Without our domain only the foreign forms. */
	ck_assert_uint_eq(audit_relay_forms("", "example.net", t, 12), 4);

	n = audit_relay_forms("example.org", "example.net", t, 12);
	for (size_t i = 0; i < n; i++) {
		t[i].mail_code = 250;
		t[i].rcpt_code = i % 2 ? 554 : 454;     /* 4xx and 5xx both refuse */
	}
	ck_assert_int_eq(audit_judge_relay(t, n, f, sizeof(f)), AUDIT_PASS);
	/* A refused MAIL FROM also refuses the relay. */
	t[0].mail_code = 553;
	t[0].rcpt_code = 0;
	ck_assert_int_eq(audit_judge_relay(t, n, f, sizeof(f)), AUDIT_PASS);
	/* An own-domain form accepted: a warning, not an open relay. */
	for (size_t i = 0; i < n; i++)
		if (!t[i].foreign)
			t[i].rcpt_code = 250;
	ck_assert_int_eq(audit_judge_relay(t, n, f, sizeof(f)), AUDIT_WARN);
	/* A foreign form accepted: open relay, named in the finding. */
	t[1].rcpt_code = 250;
	ck_assert_int_eq(audit_judge_relay(t, n, f, sizeof(f)), AUDIT_FAIL);
	ck_assert_ptr_nonnull(strstr(f, "null sender"));
	/* Nothing tried: not tested. */
	for (size_t i = 0; i < n; i++) {
		t[i].mail_code = t[i].rcpt_code = 0;
		t[i].err = SMTP_ERR_CLOSED;
	}
	ck_assert_int_eq(audit_judge_relay(t, n, f, sizeof(f)), AUDIT_NOT_TESTED);
}
END_TEST

START_TEST(networks)
{
	char w[100];
	const char *def = "127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128 192.0.2.4";

	ck_assert(audit_addr_in_networks("127.0.0.1", def));
	ck_assert(audit_addr_in_networks("127.0.0.2", def));
	ck_assert(audit_addr_in_networks("::1", def));
	ck_assert(audit_addr_in_networks("::ffff:127.0.0.9", def));
	ck_assert(audit_addr_in_networks("192.0.2.4", def));
	ck_assert(!audit_addr_in_networks("192.0.2.5", def));
	ck_assert(!audit_addr_in_networks("127.0.0.2", "127.0.0.1/32"));
	ck_assert(audit_addr_in_networks("198.51.100.7", "198.51.100.0/25, 10.0.0.0/8"));
	ck_assert(!audit_addr_in_networks("198.51.100.200", "198.51.100.0/25"));
	/* Entries it cannot judge are skipped, never a match. */
	ck_assert(!audit_addr_in_networks("192.0.2.1", "hash:/etc/postfix/network_table !192.0.2.1 garbage/99"));
	ck_assert(!audit_addr_in_networks("not an address", def));
	ck_assert(audit_networks_too_wide("127.0.0.0/8 0.0.0.0/0", w, sizeof(w)));
	ck_assert_str_eq(w, "0.0.0.0/0");
	ck_assert(audit_networks_too_wide("[::]/0", w, sizeof(w)));
	ck_assert(!audit_networks_too_wide(def, w, sizeof(w)));
	ck_assert(!audit_networks_too_wide("", w, sizeof(w)));
}
END_TEST

START_TEST(dnsbl_answers)
{
	char name[300];

	ck_assert_int_eq(audit_dnsbl_classify("127.0.0.2"), DNSBL_LISTED);
	ck_assert_int_eq(audit_dnsbl_classify("127.0.0.10"), DNSBL_LISTED);
	ck_assert_int_eq(audit_dnsbl_classify("127.255.255.254"), DNSBL_ERROR_CODE);
	ck_assert_int_eq(audit_dnsbl_classify("127.255.255.252"), DNSBL_ERROR_CODE);
	ck_assert_int_eq(audit_dnsbl_classify("127.0.0.1"), DNSBL_BOGUS);
	ck_assert_int_eq(audit_dnsbl_classify("192.0.2.1"), DNSBL_BOGUS);
	ck_assert_int_eq(audit_dnsbl_classify("garbage"), DNSBL_BOGUS);
	ck_assert(audit_dnsbl_name("192.0.2.4", "bl.example.org", name, sizeof(name)));
	ck_assert_str_eq(name, "4.2.0.192.bl.example.org");
	ck_assert(audit_dnsbl_name("2001:db8::1", "bl.example.org", name, sizeof(name)));
	ck_assert_str_eq(name, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example.org");
	ck_assert(!audit_dnsbl_name("example.org", "bl.example.org", name, sizeof(name)));
	ck_assert(!audit_dnsbl_name("2001:db8::1", "bl.example.org", name, 20));
}
END_TEST

START_TEST(dmarc_uris)
{
	char d[4][MP_DOMAIN_MAX];

	ck_assert_uint_eq(audit_dmarc_uri_domains("mailto:a@Example.COM, mailto:b@reports.example.net!10m",
	    d, 4), 2);
	ck_assert_str_eq(d[0], "example.com");
	ck_assert_str_eq(d[1], "reports.example.net");
	/* Duplicates, non-mailto, missing @, hostile names. */
	ck_assert_uint_eq(audit_dmarc_uri_domains("mailto:a@example.com,mailto:b@example.com,"
	    "https://x.example.org/,mailto:noat,mailto:x@bad..name,mailto:y@exa\x01mple.org", d, 4), 1);
	ck_assert_uint_eq(audit_dmarc_uri_domains("", d, 4), 0);
	ck_assert_uint_eq(audit_dmarc_uri_domains("mailto:a@a.example,mailto:b@b.example,"
	    "mailto:c@c.example", d, 2), 2);
}
END_TEST

START_TEST(milter_specs)
{
	char s[8][256];

	ck_assert_uint_eq(audit_milter_specs("unix:/run/mailposture/milter.sock", s, 8), 1);
	ck_assert_str_eq(s[0], "unix:/run/mailposture/milter.sock");
	ck_assert_uint_eq(audit_milter_specs("inet:127.0.0.1:8891, { unix:/a/b, connect_timeout=10s }  inet:[::1]:99",
	    s, 8), 3);
	ck_assert_str_eq(s[0], "inet:127.0.0.1:8891");
	ck_assert_str_eq(s[1], "unix:/a/b");
	ck_assert_str_eq(s[2], "inet:[::1]:99");
	ck_assert_uint_eq(audit_milter_specs("", s, 8), 0);
	ck_assert_uint_eq(audit_milter_specs("{ unterminated", s, 8), 1);
	ck_assert_uint_eq(audit_milter_specs("a b c d e f g h i j", s, 8), 8);
}
END_TEST

START_TEST(milter_handshake_refused)
{
	char what[300];

	ck_assert(!audit_milter_handshake("unix:/nonexistent/milter.sock", NULL, 500, what, sizeof(what)));
	ck_assert_ptr_nonnull(strstr(what, "cannot connect"));
	ck_assert(!audit_milter_handshake("bogus:x", NULL, 500, what, sizeof(what)));
}
END_TEST

/* The relay probe never sends to a domain the server accepts mail for. */
START_TEST(relay_destination_avoids_served_domains)
{
	ck_assert_str_eq(audit_relay_foreign(NULL, "good.example.org"), "example.net");
	ck_assert_str_eq(audit_relay_foreign("mx.example.org, localhost", ""), "example.net");
	ck_assert_str_eq(audit_relay_foreign("mx.example.org, localhost example.net", ""),
	    "example.com");
	/* Tables and unexpanded names are not domains; subdomains of none. */
	ck_assert_str_eq(audit_relay_foreign("hash:/etc/postfix/relay $mydestination example.net,"
	    "example.com", ""), "example.org");
	/* The audited domain is never the destination either. */
	ck_assert_str_eq(audit_relay_foreign("example.net", "example.com"), "example.org");
	ck_assert_ptr_null(audit_relay_foreign("example.net example.com", "example.org"));
	ck_assert_ptr_null(audit_relay_foreign("net, com, org", ""));
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("audit_probe");
	TCase *tc = tcase_create("audit_probe");

	tcase_add_loop_test(tc, reply_table, 0, (int)MP_ARRAY_SIZE(reply_cases));
	tcase_add_test(tc, reply_caps);
	tcase_add_test(tc, ehlo_keywords);
	tcase_add_loop_test(tc, disclosure_table, 0, (int)MP_ARRAY_SIZE(disclose_cases));
	tcase_add_loop_test(tc, reply_disclosure_table, 0, (int)MP_ARRAY_SIZE(reply_disclose_cases));
	tcase_add_test(tc, lookup_judge);
	tcase_add_loop_test(tc, lookup_real_mtas, 0, (int)MP_ARRAY_SIZE(lookup_cases));
	tcase_add_test(tc, lookup_real_leaks);
	tcase_add_test(tc, relay_judge);
	tcase_add_test(tc, networks);
	tcase_add_test(tc, dnsbl_answers);
	tcase_add_test(tc, dmarc_uris);
	tcase_add_test(tc, milter_specs);
	tcase_add_test(tc, milter_handshake_refused);
	tcase_add_test(tc, relay_destination_avoids_served_domains);
	suite_add_tcase(s, tc);
	return s;
}
