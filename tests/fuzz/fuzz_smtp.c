/*
 * fuzz_smtp: the audit's SMTP reply parser and EHLO parser
 * (selfaudit/smtp.h, selfaudit/probe.h). The input is a stream of
 * replies, parsed one after the other as the client reads them. Oracle:
 * a parsed reply consumed bytes that exist, has a code in range and
 * lines without NUL, and the EHLO view of it is terminated and bounded.
 */
#include "config.h"

#include "fuzz.h"
#include "probe.h"
#include "smtp.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void
check_ehlo(const struct smtp_reply *r)
{
	struct audit_ehlo e;

	memset(&e, 0, sizeof(e));
	if (!audit_ehlo_parse(r, &e))
		return;
	FZ_CHECK(fz_terminated(e.name, sizeof(e.name)) && fz_printable(e.name, strlen(e.name)),
	    "name");
	FZ_CHECK(fz_terminated(e.auth, sizeof(e.auth)), "auth");
	FZ_CHECK(fz_terminated(e.keywords, sizeof(e.keywords)) &&
	    fz_printable(e.keywords, strlen(e.keywords)), "keywords");
	FZ_CHECK(fz_terminated(e.xclient_attrs, sizeof(e.xclient_attrs)), "xclient");
	FZ_CHECK(e.nauth >= 0 && e.nauth <= 256, "nauth %d", e.nauth);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t left = size;

	for (int n = 0; n < 16 && left > 0; n++) {
		struct smtp_reply r = { 0 };
		struct mp_buf b = { 0 };
		size_t used = 0;
		char why[128];
		enum smtp_parse st = smtp_reply_parse(p, left, &r, &used, why, sizeof(why));

		if (st != SMTP_PARSE_OK) {
			FZ_CHECK(r.nlines == 0 && r.code == 0, "not cleared after %d", (int)st);
			if (st != SMTP_PARSE_MORE)
				FZ_CHECK(fz_printable(why, strlen(why)), "why");
			break;
		}
		FZ_CHECK(used > 0 && used <= left, "used %zu of %zu", used, left);
		FZ_CHECK(r.code >= 200 && r.code <= 599, "code %d", r.code);
		FZ_CHECK(r.nlines >= 1 && r.nlines <= SMTP_MAX_LINES, "nlines %zu", r.nlines);
		for (size_t i = 0; i < r.nlines; i++)
			FZ_CHECK(strlen(r.line[i]) <= SMTP_LINE_MAX, "line %zu", i);
		check_ehlo(&r);
		/* max caps the input read, and is checked before each line:
		 * escapes (\xNN) make one line's text up to 4 times longer. */
		smtp_reply_print(&r, &b, 300);
		FZ_CHECK(b.len <= 5 * 300 + 32 && fz_printable(mp_buf_str(&b), b.len),
		    "print: %zu bytes", b.len);
		mp_buf_free(&b);
		smtp_reply_clear(&r);
		p += used;
		left -= used;
	}
	return 0;
}
