#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_main.h"
#include "dmarc.h"

/* --- the record parser: a table of good and hostile records ------------- */

#define U MP_DMARC_P_UNSET
#define N MP_DMARC_P_NONE
#define Q MP_DMARC_P_QUARANTINE
#define R MP_DMARC_P_REJECT

struct rec_case {
	const char *txt;
	size_t len;             /* 0: strlen(txt) */
	bool ok;
	enum mp_dmarc_policy p, sp, np;
	int pct;
	bool adkim_s, aspf_s, testing;
	bool fallback, missing;
	const char *why;        /* substring of the reason or warning, or NULL */
};

static const struct rec_case rec_cases[] = {
	/* good */
	{ "v=DMARC1; p=reject", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1;p=quarantine", 0, true, Q, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=none; rua=mailto:d@example.org", 0, true, N, U, U, 100, false, false, false, false, false, NULL },
	{ "  v = DMARC1 ;  p = Reject ;  sp = QUARANTINE  ", 0, true, R, Q, U, 100, false, false, false, false, false, NULL },
	{ "V=DMARC1; P=reject; SP=none; NP=reject", 0, true, R, N, R, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; pct=50", 0, true, R, U, U, 50, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; pct=0", 0, true, R, U, U, 0, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; pct=100", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; pct=007", 0, true, R, U, U, 7, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; adkim=s; aspf=S", 0, true, R, U, U, 100, true, true, false, false, false, NULL },
	{ "v=DMARC1; p=reject; adkim=r; aspf=r", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=quarantine; t=y", 0, true, Q, U, U, 100, false, false, true, false, false, NULL },
	{ "v=DMARC1; p=quarantine; t=n", 0, true, Q, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject;", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject;;  ; ", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; fo=0:1:d:s; rf=afrf; ri=3600", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; future=whatever; x_y1=2", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; psd=n", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; rua=mailto:a@example.org!10m, mailto:b@example.org", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1\t;\tp=reject", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	/* DMARCbis: no p is p=none */
	{ "v=DMARC1", 0, true, N, U, U, 100, false, false, false, false, true, "no p=" },
	{ "v=DMARC1; rua=mailto:d@example.org", 0, true, N, U, U, 100, false, false, false, false, true, "no p=" },
	/* RFC 7489 6.6.3 step 6: invalid p/sp/np with a valid rua is p=none */
	{ "v=DMARC1; p=bogus; rua=mailto:d@example.org", 0, true, N, U, U, 100, false, false, false, true, false, "treated as p=none" },
	/* An invalid sp or np is discarded alone: p=reject stands. */
	{ "v=DMARC1; p=reject; sp=maybe; rua=mailto:d@example.org", 0, true, R, U, U, 100, false, false, false, false, false, "sp=maybe" },
	{ "v=DMARC1; p=reject; np=r; rua=mailto:d@example.org", 0, true, R, U, U, 100, false, false, false, false, false, "np=r" },
	/* bad secondary values take the default, the record stays valid;
	 * pct and ri are no longer policy (RFC 9989): no warning at all */
	{ "v=DMARC1; p=reject; pct=101", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; pct=50.5", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; pct=-1", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; pct=", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; pct=1000", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; adkim=strict", 0, true, R, U, U, 100, false, false, false, false, false, "adkim=" },
	{ "v=DMARC1; p=reject; t=yes", 0, true, R, U, U, 100, false, false, false, false, false, "t=yes" },
	{ "v=DMARC1; p=reject; ri=99999999999", 0, true, R, U, U, 100, false, false, false, false, false, NULL },
	{ "v=DMARC1; p=reject; fo=2", 0, true, R, U, U, 100, false, false, false, false, false, "fo=" },
	{ "v=DMARC1; p=reject; rua=not a uri", 0, true, R, U, U, 100, false, false, false, false, false, "rua=" },

	/*
	 * RFC 9989 4.8: a defect discards its own tag, the rest stands. These
	 * were permerror (no policy at all, so a spoof got through) under
	 * the old all-or-nothing rule; the p that results is asserted.
	 */
	/* a repeated tag: the first occurrence counts, later ones are ignored */
	{ "v=DMARC1; p=reject; p=none", 0, true, R, U, U, 100, false, false, false, false, false, "given twice" },
	{ "v=DMARC1; p=reject; P=none", 0, true, R, U, U, 100, false, false, false, false, false, "twice" },
	{ "v=DMARC1; p=reject; p=reject", 0, true, R, U, U, 100, false, false, false, false, false, "twice" },
	{ "v=DMARC1; p=none; p=reject", 0, true, N, U, U, 100, false, false, false, false, false, "twice" },
	{ "v=DMARC1; v=DMARC1; p=reject", 0, true, R, U, U, 100, false, false, false, false, false, "twice" },
	{ "v=DMARC1; p=reject; v=DMARC2", 0, true, R, U, U, 100, false, false, false, false, false, "twice" },
	{ "v=DMARC1; p=reject; pct=10; pct=100", 0, true, R, U, U, 10, false, false, false, false, false, "twice" },
	{ "v=DMARC1; p=reject; adkim=s; adkim=r; t=y; t=n", 0, true, R, U, U, 100, true, false, true, false, false, "twice" },
	{ "v=DMARC1; p=reject; sp=quarantine; sp=none", 0, true, R, Q, U, 100, false, false, false, false, false, "twice" },
	/* the first p is invalid: it still counts, a later valid one does not */
	/* An invalid p does not hold the place of a valid one after it. */
	{ "v=DMARC1; p=bogus; p=reject", 0, true, R, U, U, 100, false, false, false, false, false, "p=bogus" },
	{ "v=DMARC1; p=bogus; p=reject; rua=mailto:d@example.org", 0, true, R, U, U, 100, false, false, false, false, false, "p=bogus" },
	/* a segment that is not name=value: dropped alone */
	{ "v=DMARC1; p=reject; fo", 0, true, R, U, U, 100, false, false, false, false, false, "without '='" },
	{ "v=DMARC1; fo; p=quarantine", 0, true, Q, U, U, 100, false, false, false, false, false, "without '=' ignored: fo" },
	{ "v=DMARC1; p=reject; garbage", 0, true, R, U, U, 100, false, false, false, false, false, "without '='" },
	{ "v=DMARC1; rua=mailto:a@example.org; junk junk; p=reject; aspf=s", 0, true, R, U, U, 100, false, true, false, false, false, "junk junk" },
	/* bad tag names: dropped alone (an unknown tag would be ignored anyway) */
	{ "v=DMARC1; p=reject; rua-x=mailto:d@example.org", 0, true, R, U, U, 100, false, false, false, false, false, "tag name" },
	{ "v=DMARC1; p=reject; =x", 0, true, R, U, U, 100, false, false, false, false, false, "tag name" },
	{ "v=DMARC1; p=reject; 1x=y", 0, true, R, U, U, 100, false, false, false, false, false, "tag name" },
	{ "v=DMARC1; p=reject; a-b=y", 0, true, R, U, U, 100, false, false, false, false, false, "tag name" },
	{ "v=DMARC1; p=quarantine; x\x01y=1", 0, true, Q, U, U, 100, false, false, false, false, false, "tag name, tag ignored: x\\x01y" },
	{ "v=DMARC1; p=reject; \xc3\xa9=1", 0, true, R, U, U, 100, false, false, false, false, false, "\\xc3\\xa9" },
	{ "v=DMARC1; p=reject; x\0y=1", 25, true, R, U, U, 100, false, false, false, false, false, "x\\x00y" },
	/* CR, LF, VT, FF at the edge of a tag or of the record: skipped */
	{ "v=DMARC1; p=reject\r", 0, true, R, U, U, 100, false, false, false, false, false, "CR" },
	{ "v=DMARC1; p=reject\r\n", 0, true, R, U, U, 100, false, false, false, false, false, "CR" },
	{ "v=DMARC1; p=reject;\r\n", 0, true, R, U, U, 100, false, false, false, false, false, "CR" },
	{ "v=DMARC1; p=reject \r\n \t", 0, true, R, U, U, 100, false, false, false, false, false, "CR" },
	{ "v=DMARC1\r\n; p=reject", 0, true, R, U, U, 100, false, false, false, false, false, "CR" },
	{ "v=DMARC1; p\n=\nreject\n; sp=none\v\f", 0, true, R, N, U, 100, false, false, false, false, false, "CR" },
	{ "\r\nv=DMARC1; p=reject", 0, true, R, U, U, 100, false, false, false, false, false, "CR" },
	{ "v=DMARC1\r\n", 0, true, N, U, U, 100, false, false, false, false, true, "CR" },
	/* a bad byte inside a value discards that tag only */
	{ "v=DMARC1; p=reject; rua=mailto:d@ex\xc3\xa4mple.org", 0, true, R, U, U, 100, false, false, false, false, false, "rua= holds byte \\xc3" },
	{ "v=DMARC1; p=reject; rua=mailto:\x1b[31m@example.org", 0, true, R, U, U, 100, false, false, false, false, false, "\\x1b" },
	{ "v=DMARC1; p=reject; rua=mailto:a@example.org\r\nmailto:b@example.org", 0, true, R, U, U, 100, false, false, false, false, false, "\\x0d" },
	{ "v=DMARC1; p=reject; pct=5\x00", 26, true, R, U, U, 100, false, false, false, false, false, "pct= holds byte \\x00" },
	{ "v=DMARC1; p=quarantine; adkim=s\x7f; aspf=s", 0, true, Q, U, U, 100, false, true, false, false, false, "\\x7f" },
	{ "v=DMARC1; p=reject; future=\xff\x00\x01", 30, true, R, U, U, 100, false, false, false, false, false, NULL },
	/* ... and in p, sp or np that tag is invalid: RFC 9989 4.10.1 applies */
	{ "v=DMARC1; p=reject\0; p=none", 27, true, N, U, U, 100, false, false, false, false, false, "p=reject" },
	{ "v=DMARC1; p=r\xc3\xa9ject", 0, false, U, U, U, 0, false, false, false, false, false, "p=r\\xc3\\xa9ject" },
	{ "v=DMARC1; p=reject\x7f", 0, false, U, U, U, 0, false, false, false, false, false, "no valid rua" },
	{ "v=DMARC1; p=reject\x7f; rua=mailto:d@example.org", 0, true, N, U, U, 100, false, false, false, true, false, "treated as p=none" },
	{ "v=DMARC1; p=reject; sp=none\x01; rua=mailto:d@example.org", 0, true, R, U, U, 100, false, false, false, false, false, "sp=none\\x01" },
	{ "v=DMARC1; p=re ject", 0, false, U, U, U, 0, false, false, false, false, false, "p=re ject" },

	/* invalid: only a v= tag that is missing, not first or not exact */
	{ "", 0, false, U, U, U, 0, false, false, false, false, false, "empty" },
	{ "v=DMARC2; p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=dmarc1; p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "p=reject; v=DMARC1", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "x=1; v=DMARC1; p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "; v=DMARC1; p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=DMARC1p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=DMARC1 p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=DMARC", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=spf1 -all", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=DMARC1\0", 9, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=DMARC1\0; p=reject", 19, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=DM\0ARC1; p=reject", 19, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "\0v=DMARC1; p=reject", 19, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v\x01=DMARC1; p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=DMARC1\xc2\xa0; p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=\xef\xbc\xa4MARC1; p=reject", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "v=", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ ";;;", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	{ "\r\n", 0, false, U, U, U, 0, false, false, false, false, false, "v=DMARC1" },
	/* RFC 9989 4.10.1: an invalid p, sp or np without a valid rua */
	{ "v=DMARC1; p=bogus", 0, false, U, U, U, 0, false, false, false, false, false, "no valid rua" },
	{ "v=DMARC1; p=r", 0, false, U, U, U, 0, false, false, false, false, false, "p=r" },
	{ "v=DMARC1; p=rej", 0, false, U, U, U, 0, false, false, false, false, false, "p=rej" },
	{ "v=DMARC1; p=reject; sp=maybe", 0, true, R, U, U, 100, false, false, false, false, false, "sp=maybe" },
	{ "v=DMARC1; p=reject; np=", 0, true, R, U, U, 100, false, false, false, false, false, "np=" },
	{ "v=DMARC1; p=bogus; rua=nonsense", 0, false, U, U, U, 0, false, false, false, false, false, "no valid rua" },
	{ "v=DMARC1; p=bogus; rua=mailto:d@ex\xc3\xa4mple.org", 0, false, U, U, U, 0, false, false, false, false, false, "no valid rua" },
};

START_TEST(record_table)
{
	const struct rec_case *c = &rec_cases[_i];
	struct mp_dmarc_record rec;
	char why[256];
	size_t len = c->len ? c->len : strlen(c->txt);
	bool ok = mp_dmarc_record_parse(c->txt, len, &rec, why, sizeof(why));

	ck_assert_msg(ok == c->ok, "case %d: parse returned %d (%s)", _i, ok, why);
	if (c->why != NULL)
		ck_assert_msg(strstr(why, c->why) != NULL, "case %d: reason \"%s\" lacks \"%s\"",
		    _i, why, c->why);
	for (const char *s = why; *s; s++)
		ck_assert_msg((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f,
		    "case %d: reason not printable", _i);
	if (!ok)
		return;
	ck_assert_int_eq(rec.p, c->p);
	ck_assert_int_eq(rec.sp, c->sp);
	ck_assert_int_eq(rec.np, c->np);
	ck_assert_int_eq(rec.pct, c->pct);
	ck_assert_int_eq(rec.adkim_strict, c->adkim_s);
	ck_assert_int_eq(rec.aspf_strict, c->aspf_s);
	ck_assert_int_eq(rec.testing, c->testing);
	ck_assert_int_eq(rec.policy_fallback, c->fallback);
	ck_assert_int_eq(rec.p_missing, c->missing);
	if (c->why == NULL)
		ck_assert_str_eq(rec.warning, "");
}
END_TEST

/* RFC 9989's record rules beyond RFC 7489's. */
START_TEST(record_rfc9989)
{
	struct mp_dmarc_record rec;
	char why[128];
	const char *late_p = "v=DMARC1; rua=mailto:d@example.org; p=reject";
	const char *size = "v=DMARC1; p=none; rua=mailto:a@example.org!bogus, mailto:b@example.org!";
	const char *gone = "v=DMARC1; p=quarantine; pct=20; rf=iodef; ri=60";

	/* p need not follow v */
	ck_assert(mp_dmarc_record_parse(late_p, strlen(late_p), &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.p, R);
	ck_assert(!rec.p_missing);
	/* whatever follows '!' in a rua URI is ignored */
	ck_assert(mp_dmarc_record_parse(size, strlen(size), &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.rua_count, 2);
	ck_assert_str_eq(rec.warning, "");
	/* pct, rf and ri: parsed, noted, ignored */
	ck_assert(mp_dmarc_record_parse(gone, strlen(gone), &rec, why, sizeof(why)));
	ck_assert(rec.pct_set && rec.rf_set && rec.ri_set);
	ck_assert_int_eq(rec.pct, 20);
	ck_assert_int_eq(rec.p, Q);
	ck_assert_str_eq(rec.warning, "");
}
END_TEST

START_TEST(record_fields)
{
	struct mp_dmarc_record rec;
	char why[128];
	const char *txt = "v=DMARC1; p=reject; rua=mailto:a@example.org, mailto:b@example.org!10m; "
	    "ruf=mailto:f@example.org; fo=1; ri=3600";

	ck_assert(mp_dmarc_record_parse(txt, strlen(txt), &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.rua_count, 2);
	ck_assert_int_eq(rec.ruf_count, 1);
	ck_assert_str_eq(rec.rua, "mailto:a@example.org, mailto:b@example.org!10m");
	ck_assert_str_eq(rec.ruf, "mailto:f@example.org");
	ck_assert_int_eq(rec.fo_present, 1);
	ck_assert_uint_eq(rec.ri, 3600);
	ck_assert(!mp_dmarc_record_parse(NULL, 0, &rec, why, sizeof(why)));
}
END_TEST

START_TEST(record_oversized)
{
	struct mp_dmarc_record rec;
	char why[128];
	struct mp_buf b = MP_BUF_INIT;

	/* a long rua is kept, cut, and printable */
	mp_buf_puts(&b, "v=DMARC1; p=reject; rua=");
	for (int i = 0; i < 100; i++)
		mp_buf_printf(&b, "%smailto:r%d@example.org", i ? "," : "", i);
	ck_assert(mp_dmarc_record_parse(b.data, b.len, &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.rua_count, 100);
	ck_assert_uint_lt(strlen(rec.rua), sizeof(rec.rua));
	ck_assert(strstr(rec.rua, "...") != NULL);

	/* over the record limit: the tags before the last ';' under the
	 * bound are read, the rest ignored (was: invalid, so no policy) */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "v=DMARC1; p=reject; x=");
	while (b.len <= MP_DMARC_RECORD_MAX)
		mp_buf_putc(&b, 'a');
	mp_buf_puts(&b, "; p=none; sp=none");
	ck_assert(mp_dmarc_record_parse(b.data, b.len, &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.p, MP_DMARC_P_REJECT);
	ck_assert_int_eq(rec.sp, MP_DMARC_P_UNSET);
	ck_assert(strstr(why, "too long") != NULL);
	ck_assert(strstr(rec.warning, "tags past byte 18 ignored") != NULL);

	/* a p that starts under the bound but ends past it is not cut into
	 * an invalid "p=rej": it is ignored whole, so p is missing */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "v=DMARC1; x=");
	while (b.len < MP_DMARC_RECORD_MAX - 3)
		mp_buf_putc(&b, 'a');
	mp_buf_puts(&b, "; p=reject");
	ck_assert_uint_gt(b.len, MP_DMARC_RECORD_MAX);
	ck_assert(mp_dmarc_record_parse(b.data, b.len, &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.p, MP_DMARC_P_NONE);
	ck_assert(rec.p_missing);

	/* no ';' before the bound: nothing can be read */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "v=DMARC1");
	while (b.len <= MP_DMARC_RECORD_MAX)
		mp_buf_putc(&b, ' ');
	mp_buf_puts(&b, "; p=reject");
	ck_assert(!mp_dmarc_record_parse(b.data, b.len, &rec, why, sizeof(why)));
	ck_assert(strstr(why, "too long") != NULL);

	/* exactly at the bound: read whole, no warning */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "v=DMARC1; p=quarantine; x=");
	while (b.len < MP_DMARC_RECORD_MAX)
		mp_buf_putc(&b, 'a');
	ck_assert(mp_dmarc_record_parse(b.data, b.len, &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.p, MP_DMARC_P_QUARANTINE);
	ck_assert_str_eq(rec.warning, "");

	/* too many tags: a warning, and a p after them still counts (a cap
	 * that dropped it would fail open) */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "v=DMARC1");
	for (int i = 0; i < MP_DMARC_MAX_TAGS; i++)
		mp_buf_printf(&b, "; x%d=1", i);
	mp_buf_puts(&b, "; p=reject; p=none");
	ck_assert(mp_dmarc_record_parse(b.data, b.len, &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.p, MP_DMARC_P_REJECT);
	ck_assert(strstr(rec.warning, "more than 64 tags") != NULL);

	/* a truncated record: every prefix, in a buffer of exactly its size
	 * (so that ASan sees any over-read), parses or fails cleanly */
	mp_buf_reset(&b);
	mp_buf_puts(&b, "v=DMARC1; p=quarantine; sp=reject; pct=50; rua=mailto:a@example.org");
	for (size_t n = 0; n <= b.len; n++) {
		char *copy = xmalloc(n ? n : 1);
		bool ok;

		memcpy(copy, b.data, n);
		ok = mp_dmarc_record_parse(copy, n, &rec, why, sizeof(why));
		free(copy);
		if (n < 8)
			ck_assert(!ok);
		if (n == 8 || n == 9 || n == b.len)
			ck_assert(ok);
		/* "v=DMARC1; p=quarantin" is an invalid p without rua */
		if (n == 21)
			ck_assert(!ok);
	}
	mp_buf_free(&b);
}
END_TEST

/*
 * The issue 11 examples, each through the parser: none may leave the
 * domain without its p=reject.
 */
START_TEST(record_keeps_p_reject)
{
	static const char *const txts[] = {
		"v=DMARC1; p=reject; fo",
		"v=DMARC1; p=reject; rua-x=mailto:d@example.org",
		"v=DMARC1; p=reject; p=none",
		"v=DMARC1; p=reject; p=quarantine; p=none",
		"v=DMARC1; P=Reject; p=none; P=none",
		"v=DMARC1; p=reject\r",
		"v=DMARC1; p=reject; rua=mailto:d\xc3\xa9@example.org",
		"v=DMARC1; p=reject; rua=mailto:d@example.org; rua=\xff",
		"v=DMARC1; p=reject; =; ==; ;=;",
		"v=DMARC1; p=reject; x=\x01\x02\x03",
	};
	struct mp_dmarc_record rec;
	char why[256];

	for (size_t i = 0; i < MP_ARRAY_SIZE(txts); i++) {
		ck_assert_msg(mp_dmarc_record_parse(txts[i], strlen(txts[i]), &rec, why,
		    sizeof(why)), "case %zu: %s", i, why);
		ck_assert_msg(rec.p == MP_DMARC_P_REJECT, "case %zu: p=%s", i,
		    mp_dmarc_policy_str(rec.p));
		ck_assert(!rec.policy_fallback && !rec.p_missing);
	}
}
END_TEST

/*
 * Every byte value at every position of the rua value, and just after
 * it: the rua tag may go, p=reject and adkim=s never do.
 */
START_TEST(record_byte_sweep_value)
{
	static const char head[] = "v=DMARC1; p=reject; rua=mailto:d@example.org";
	static const char tail[] = "; adkim=s";
	const size_t vstart = strlen("v=DMARC1; p=reject; rua=");
	struct mp_dmarc_record rec;
	char txt[128], why[256];

	for (int c = 0; c < 256; c++) {
		for (size_t pos = vstart; pos <= strlen(head); pos++) {
			bool edge = pos == vstart || pos == strlen(head);
			bool junk = c == '\r' || c == '\n' || c == '\v' || c == '\f';
			size_t n = 0;

			if (c == ';')
				continue;   /* a separator, not a byte in the value */
			memcpy(txt, head, pos);
			n = pos;
			txt[n++] = (char)c;
			memcpy(txt + n, head + pos, strlen(head) - pos);
			n += strlen(head) - pos;
			memcpy(txt + n, tail, strlen(tail));
			n += strlen(tail);
			ck_assert_msg(mp_dmarc_record_parse(txt, n, &rec, why, sizeof(why)),
			    "byte %#x at %zu: %s", c, pos, why);
			ck_assert_int_eq(rec.p, MP_DMARC_P_REJECT);
			ck_assert(rec.adkim_strict);
			for (const char *w = rec.warning; *w; w++)
				ck_assert((unsigned char)*w >= 0x20 && (unsigned char)*w < 0x7f);
			for (const char *w = rec.rua; *w; w++)
				ck_assert((unsigned char)*w >= 0x20 && (unsigned char)*w < 0x7f);
			/* a byte no value may hold discards the rua, and says so */
			if ((c < 0x20 && c != '\t' && !(edge && junk)) || c >= 0x7f) {
				ck_assert_str_eq(rec.rua, "");
				ck_assert_int_eq(rec.rua_count, 0);
				ck_assert_msg(strstr(rec.warning, "rua= holds byte") != NULL,
				    "byte %#x at %zu: %s", c, pos, rec.warning);
			}
		}
	}
}
END_TEST

/* Any byte other than whitespace inside the v= tag makes the record
 * invalid, and mp_dmarc_is_record agrees with the parser. */
START_TEST(record_byte_sweep_version)
{
	static const char rec_txt[] = "v=DMARC1; p=reject";
	struct mp_dmarc_record rec;
	char txt[64], why[256];

	for (int c = 0; c < 256; c++) {
		for (size_t pos = 1; pos < 8; pos++) {
			size_t n = strlen(rec_txt) + 1;
			bool ok;

			if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
			    c == '\f')
				continue;
			memcpy(txt, rec_txt, pos);
			txt[pos] = (char)c;
			memcpy(txt + pos + 1, rec_txt + pos, strlen(rec_txt) - pos);
			ok = mp_dmarc_record_parse(txt, n, &rec, why, sizeof(why));
			ck_assert_msg(!ok, "byte %#x at %zu parsed", c, pos);
			ck_assert(strstr(why, "v=DMARC1") != NULL);
			ck_assert(!mp_dmarc_is_record(txt, n));
		}
	}
}
END_TEST

START_TEST(record_new_fields)
{
	struct mp_dmarc_record rec;
	char why[256];
	const char *txt;

	txt = "v=DMARC1; p=reject; psd=Y";
	ck_assert(mp_dmarc_record_parse(txt, strlen(txt), &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.psd, 'y');
	txt = "v=DMARC1; p=reject; psd=n; psd=y";
	ck_assert(mp_dmarc_record_parse(txt, strlen(txt), &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.psd, 'n');
	txt = "v=DMARC1; p=reject; psd=maybe";
	ck_assert(mp_dmarc_record_parse(txt, strlen(txt), &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.psd, 'u');
	ck_assert(strstr(rec.warning, "psd=maybe") != NULL);
	txt = "v=DMARC1; p=reject";
	ck_assert(mp_dmarc_record_parse(txt, strlen(txt), &rec, why, sizeof(why)));
	ck_assert_int_eq(rec.psd, 'u');
	ck_assert(!rec.p_invalid && !rec.sp_invalid && !rec.np_invalid);

	/* which policy tag was invalid, for the evaluation to report */
	txt = "v=DMARC1; p=reject; np=sometimes; rua=mailto:d@example.org";
	ck_assert(mp_dmarc_record_parse(txt, strlen(txt), &rec, why, sizeof(why)));
	ck_assert(!rec.policy_fallback);
	ck_assert_int_eq(rec.p, MP_DMARC_P_REJECT);
	ck_assert(!rec.p_invalid && !rec.sp_invalid && rec.np_invalid);
	txt = "v=DMARC1; p=nope; sp=reject; sp=x; rua=mailto:d@example.org";
	ck_assert(mp_dmarc_record_parse(txt, strlen(txt), &rec, why, sizeof(why)));
	ck_assert(rec.p_invalid && !rec.sp_invalid && !rec.np_invalid);

	/* a discarded rua does not count toward the p=none fallback */
	txt = "v=DMARC1; p=nope; rua=mailto:d@\xc3\xa9xample.org";
	ck_assert(!mp_dmarc_record_parse(txt, strlen(txt), &rec, why, sizeof(why)));
	ck_assert(strstr(why, "no valid rua") != NULL);
}
END_TEST

START_TEST(is_record)
{
	ck_assert(mp_dmarc_is_record("v=DMARC1; p=reject", 18));
	ck_assert(mp_dmarc_is_record("v=DMARC1", 8));
	ck_assert(mp_dmarc_is_record(" V = DMARC1 ;", 13));
	/* a DMARC record, even if broken: it counts toward "several records" */
	ck_assert(mp_dmarc_is_record("v=DMARC1; p=bogus", 17));
	ck_assert(!mp_dmarc_is_record("v=spf1 -all", 11));
	/* a stray line end around the v= tag does not hide the record */
	ck_assert(mp_dmarc_is_record("v=DMARC1\r\n", 10));
	ck_assert(mp_dmarc_is_record("v=DMARC1\r\n; p=reject", 20));
	ck_assert(!mp_dmarc_is_record("v=DMARC1\0", 9));
	ck_assert(!mp_dmarc_is_record("v=DMARC1x; p=reject", 19));
	ck_assert(!mp_dmarc_is_record("v=DMARC10", 9));
	ck_assert(!mp_dmarc_is_record("v=DMARC", 7));
	ck_assert(!mp_dmarc_is_record("google-site-verification=x", 26));
	ck_assert(!mp_dmarc_is_record("", 0));
	ck_assert(!mp_dmarc_is_record(NULL, 0));
}
END_TEST

START_TEST(strings)
{
	ck_assert_str_eq(mp_dmarc_result_str(MP_DMARC_TEMPERROR), "temperror");
	ck_assert_str_eq(mp_dmarc_result_str(MP_DMARC_PASS), "pass");
	ck_assert_str_eq(mp_dmarc_policy_str(MP_DMARC_P_QUARANTINE), "quarantine");
	ck_assert_str_eq(mp_dmarc_policy_str(MP_DMARC_P_UNSET), "unset");
}
END_TEST

/* --- evaluation against the test zone -------------------------------------- */

/*
 * Every NAME.dmarc.example.org of tests/zones/dmarc.example.org.zone
 * that publishes a record is its own Organizational Domain: nothing
 * above it (dmarc.example.org, example.org, org) publishes one.
 */
static struct mp_dns *dns;
static struct mp_dmarc *dmarc;

#define Z ".dmarc.example.org"
#define W ".walk.example.net"

static void
setup(void)
{
	const char *resolver = test_env("MP_TEST_RESOLVER");
	struct mp_dns_options opt = { resolver, 3000, NULL, false };
	char err[256];

	ck_assert_msg(resolver != NULL, "MP_TEST_RESOLVER is not set: run under the harness");
	dns = mp_dns_new(&opt, err, sizeof(err));
	ck_assert_msg(dns != NULL, "%s", err);
	dmarc = mp_dmarc_new(dns);
}

static void
teardown(void)
{
	mp_dmarc_free(&dmarc);
	ck_assert_ptr_null(dmarc);
	mp_dns_free(&dns);
}

/* Evaluates a message From: from, with SPF spf for MAIL FROM domain
 * spf_domain (may be NULL) and at most one DKIM result (d may be NULL). */
static enum mp_dmarc_result
eval(const char *from, enum mp_spf_result spf, const char *spf_domain, const char *d,
    bool dkim_pass, struct mp_dmarc_outcome *out)
{
	struct mp_dmarc_dkim k;
	struct mp_dmarc_input in = {
		.from_domain = from, .spf = spf, .spf_domain = spf_domain,
		.dkim = d ? &k : NULL, .ndkim = d ? 1 : 0,
	};
	struct mp_deadline dl;
	enum mp_dmarc_result r;

	memset(&k, 0, sizeof(k));
	if (d != NULL)
		mp_strlcpy(k.domain, d, sizeof(k.domain));
	k.pass = dkim_pass;
	mp_deadline_set(&dl, 10000);
	r = mp_dmarc_evaluate(dmarc, &dl, &in, out);
	ck_assert_int_eq(r, out->result);
	for (const char *s = out->reason; *s; s++)
		ck_assert((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f);
	ck_assert_msg(out->reason[0] != '\0', "empty reason");
	return r;
}

/* An SPF pass for a domain that is not aligned with anything here. */
#define SPF_OTHER MP_SPF_PASS, "mail.example.net"

static void
expect(const struct mp_dmarc_outcome *o, enum mp_dmarc_result r, enum mp_dmarc_policy pol,
    enum mp_dmarc_policy disp, const char *policy_domain, bool from_org)
{
	ck_assert_msg(o->result == r, "result %s, want %s: %s", mp_dmarc_result_str(o->result),
	    mp_dmarc_result_str(r), o->reason);
	ck_assert_msg(o->policy == pol, "policy %s, want %s: %s", mp_dmarc_policy_str(o->policy),
	    mp_dmarc_policy_str(pol), o->reason);
	ck_assert_msg(o->disposition == disp, "disposition %s, want %s: %s",
	    mp_dmarc_policy_str(o->disposition), mp_dmarc_policy_str(disp), o->reason);
	ck_assert_str_eq(o->policy_domain, policy_domain);
	ck_assert_int_eq(o->from_org, from_org);
}

START_TEST(policy_p)
{
	struct mp_dmarc_outcome o;

	eval("reject" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "reject" Z, false);
	ck_assert(!o.spf_aligned && !o.dkim_aligned && o.record_found);
	/* nothing could align: no walk was needed for its org domain */
	ck_assert_str_eq(o.org_domain, "");
	ck_assert_str_eq(o.record, "v=DMARC1; p=reject; rua=mailto:dmarc@reject.dmarc.example.org");
	ck_assert_int_eq(o.rec.rua_count, 1);
	ck_assert(strstr(o.reason, "p=reject") != NULL);

	eval("QUARANTINE" Z ".", SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "quarantine" Z, false);

	eval("none" Z, MP_SPF_FAIL, "none" Z, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, N, N, "none" Z, false);

	/* one aligned pass is enough */
	eval("reject" Z, MP_SPF_PASS, "bounce.reject" Z, NULL, false, &o);
	expect(&o, MP_DMARC_PASS, R, N, "reject" Z, false);
	ck_assert(o.spf_aligned && !o.dkim_aligned);
	ck_assert(strstr(o.reason, "SPF") != NULL);

	eval("quarantine" Z, MP_SPF_FAIL, "quarantine" Z, "quarantine" Z, true, &o);
	expect(&o, MP_DMARC_PASS, Q, N, "quarantine" Z, false);
	ck_assert(!o.spf_aligned && o.dkim_aligned);
	ck_assert(strstr(o.reason, "d=quarantine") != NULL);
}
END_TEST

START_TEST(spf_and_dkim_must_pass)
{
	struct mp_dmarc_outcome o;

	/* aligned domains, but nothing passed */
	eval("reject" Z, MP_SPF_SOFTFAIL, "reject" Z, "reject" Z, false, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "reject" Z, false);
	ck_assert(!o.spf_aligned && !o.dkim_aligned);
	eval("reject" Z, MP_SPF_NEUTRAL, "reject" Z, NULL, false, &o);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	/* a pass without the domain it was for counts for nothing */
	eval("reject" Z, MP_SPF_PASS, NULL, NULL, false, &o);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	ck_assert(!o.spf_aligned);
	/* a DKIM pass for another org */
	eval("reject" Z, SPF_OTHER, "example.net", true, &o);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	/* a garbage d= is ignored */
	eval("reject" Z, SPF_OTHER, "bad..name", true, &o);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
}
END_TEST

START_TEST(several_dkim_results)
{
	struct mp_dmarc_dkim k[3];
	struct mp_dmarc_input in = {
		.from_domain = "relaxed" Z, .spf = MP_SPF_FAIL, .spf_domain = "relaxed" Z,
		.dkim = k, .ndkim = 3,
	};
	struct mp_dmarc_outcome o;

	memset(k, 0, sizeof(k));
	mp_strlcpy(k[0].domain, "example.net", sizeof(k[0].domain));
	k[0].pass = true;
	mp_strlcpy(k[1].domain, "relaxed" Z, sizeof(k[1].domain));
	k[1].pass = false;
	mp_strlcpy(k[2].domain, "s1.relaxed" Z, sizeof(k[2].domain));
	k[2].pass = true;
	ck_assert_int_eq(mp_dmarc_evaluate(dmarc, NULL, &in, &o), MP_DMARC_PASS);
	ck_assert(o.dkim_aligned && !o.spf_aligned);
	ck_assert(strstr(o.reason, "s1.relaxed") != NULL);
	k[2].pass = false;
	ck_assert_int_eq(mp_dmarc_evaluate(dmarc, NULL, &in, &o), MP_DMARC_FAIL);
}
END_TEST

START_TEST(policy_sp_np)
{
	struct mp_dmarc_outcome o;

	/* the org domain itself: p */
	eval("parent" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "parent" Z, false);
	/* an existing subdomain without a record: the org's sp */
	eval("mail.parent" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "parent" Z, true);
	ck_assert_str_eq(o.org_domain, "parent" Z);
	ck_assert(strstr(o.reason, "sp=quarantine") != NULL);
	/* only non-DMARC TXT at its _dmarc: still the org's sp */
	eval("txtonly.parent" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "parent" Z, true);
	/* a subdomain that does not exist: np */
	eval("nx.parent" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, N, N, "parent" Z, true);
	ck_assert(strstr(o.reason, "np=none") != NULL);
	ck_assert(strstr(o.reason, "does not exist") != NULL);
	/* a subdomain with its own record: that record, p */
	eval("self.parent" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, N, N, "self.parent" Z, false);
	/* an aligned pass on a subdomain */
	eval("mail.parent" Z, MP_SPF_PASS, "parent" Z, NULL, false, &o);
	expect(&o, MP_DMARC_PASS, Q, N, "parent" Z, true);

	/* no sp, no np: p for everything below */
	eval("mail.nosp" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "nosp" Z, true);
	eval("nx.nosp" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "nosp" Z, true);

	/* np only: existing names get p, missing ones np */
	eval("nx.nponly" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "nponly" Z, true);
	eval("mail.nponly" Z, SPF_OTHER, NULL, false, &o);   /* MX only: exists */
	expect(&o, MP_DMARC_FAIL, N, N, "nponly" Z, true);
	eval("deep.nx.nponly" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "nponly" Z, true);
}
END_TEST

START_TEST(pct_and_testing)
{
	struct mp_dmarc_outcome o;

	/* pct is no longer policy (RFC 9989): read, shown, never applied */
	for (int i = 0; i < 8; i++) {
		eval("pct50" Z, SPF_OTHER, NULL, false, &o);
		expect(&o, MP_DMARC_FAIL, R, R, "pct50" Z, false);
	}
	ck_assert_int_eq(o.rec.pct, 50);
	ck_assert(o.rec.pct_set);
	ck_assert(strstr(o.reason, "pct=") == NULL);
	eval("pct50" Z, MP_SPF_PASS, "pct50" Z, NULL, false, &o);
	expect(&o, MP_DMARC_PASS, R, N, "pct50" Z, false);
	eval("pct0" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "pct0" Z, false);

	/* t=y: one level down */
	eval("testing" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, R, Q, "testing" Z, false);
	ck_assert(o.rec.testing);
	ck_assert(strstr(o.reason, "t=y") != NULL);
	/* t=y beside a pct: t=y alone counts */
	eval("testpct" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, R, Q, "testpct" Z, false);
}
END_TEST

START_TEST(alignment_strict_relaxed)
{
	struct mp_dmarc_outcome o;

	/* relaxed: a subdomain MAIL FROM aligns */
	eval("relaxed" Z, MP_SPF_PASS, "bounce.relaxed" Z, NULL, false, &o);
	expect(&o, MP_DMARC_PASS, R, N, "relaxed" Z, false);
	ck_assert(o.spf_aligned);
	ck_assert(strstr(o.reason, "relaxed") != NULL);
	/* strict: it does not */
	eval("strict" Z, MP_SPF_PASS, "bounce.strict" Z, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "strict" Z, false);
	ck_assert(!o.spf_aligned);
	ck_assert(o.rec.aspf_strict && o.rec.adkim_strict);
	/* strict, the other way round: From a subdomain, MAIL FROM the parent */
	eval("bounce.strict" Z, MP_SPF_PASS, "strict" Z, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, R, R, "strict" Z, true);
	/* strict: the exact domain aligns */
	eval("strict" Z, MP_SPF_PASS, "STRICT" Z, NULL, false, &o);
	expect(&o, MP_DMARC_PASS, R, N, "strict" Z, false);
	/* DKIM the same way */
	eval("strict" Z, SPF_OTHER, "bounce.strict" Z, true, &o);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
	ck_assert(!o.dkim_aligned);
	eval("strict" Z, SPF_OTHER, "strict" Z, true, &o);
	ck_assert_int_eq(o.result, MP_DMARC_PASS);
	ck_assert(o.dkim_aligned);
	eval("relaxed" Z, SPF_OTHER, "s1._domainkey-ish.relaxed" Z, true, &o);
	ck_assert_int_eq(o.result, MP_DMARC_PASS);
	/* relaxed never crosses org domains */
	eval("relaxed" Z, MP_SPF_PASS, "strict" Z, NULL, false, &o);
	ck_assert_int_eq(o.result, MP_DMARC_FAIL);
}
END_TEST

START_TEST(broken_records)
{
	struct mp_dmarc_outcome o;

	/* two DMARC records: both discarded, and the walk goes on (RFC
	 * 9989 4.10); nothing above publishes one */
	eval("two" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_NONE, U, N, "", false);
	ck_assert(!o.record_found);
	ck_assert_msg(strstr(o.note, "2 DMARC records at _dmarc.two") != NULL, "%s", o.note);
	eval("mail.two" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_NONE, U, N, "", false);
	ck_assert(strstr(o.note, "_dmarc.two" Z) != NULL);
	/* one DMARC record beside an SPF record: fine */
	eval("oneplus" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "oneplus" Z, false);
	/* invalid p, no rua */
	eval("malformed" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_PERMERROR, U, N, "malformed" Z, false);
	ck_assert(strstr(o.reason, "p=bogus") != NULL);
	ck_assert_str_eq(o.record, "v=DMARC1; p=bogus");
	/* invalid p with rua: p=none */
	eval("fallback" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, N, N, "fallback" Z, false);
	ck_assert(o.rec.policy_fallback);
	/* a NUL byte in p: p is invalid and there is no rua, so RFC 9989
	 * 4.10.1 applies no policy; the record is shown escaped */
	eval("nul" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_PERMERROR, U, N, "nul" Z, false);
	ck_assert(strstr(o.reason, "p=reject\\x00") != NULL);
	ck_assert_str_eq(o.record, "v=DMARC1; p=reject\\x00");
	/* a broken record at the From domain is no valid record: the walk
	 * goes on, and the Organizational Domain's sp applies (RFC 9989
	 * 4.10.1, "If no valid DMARC Policy Record is found by the first
	 * query, then perform a DNS Tree Walk") */
	eval("bad.parent" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_FAIL, Q, Q, "parent" Z, true);
	ck_assert_msg(strstr(o.note, "invalid DMARC record at _dmarc.bad.parent") != NULL, "%s",
	    o.note);
}
END_TEST

START_TEST(no_record)
{
	struct mp_dmarc_outcome o;

	eval("nodmarc" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_NONE, U, N, "", false);
	ck_assert(!o.record_found);
	eval("mail.nodmarc" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_NONE, U, N, "", false);
	/* no record anywhere on the walk: the name is its own */
	ck_assert_str_eq(o.org_domain, "mail.nodmarc" Z);
	ck_assert_msg(strstr(o.reason, "_dmarc.mail.nodmarc" Z) != NULL &&
	    strstr(o.reason, "up to _dmarc.org") != NULL, "%s", o.reason);
	/* not a domain at all */
	eval("not a domain", SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_PERMERROR, U, N, "", false);
	eval("", SPF_OTHER, NULL, false, &o);
	ck_assert_int_eq(o.result, MP_DMARC_PERMERROR);
}
END_TEST

START_TEST(temperror_is_never_none)
{
	struct mp_dmarc_outcome o;
	struct mp_dns_result *res;

	/* _dmarc.loop is a CNAME loop: SERVFAIL */
	eval("loop" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_TEMPERROR, U, N, "", false);
	ck_assert(strstr(o.reason, "_dmarc.loop" Z) != NULL);
	ck_assert(strstr(o.reason, "try again") != NULL);
	/* the From domain has no record, the walk fails at its parent */
	eval("mail.loop" Z, SPF_OTHER, NULL, false, &o);
	expect(&o, MP_DMARC_TEMPERROR, U, N, "", false);
	ck_assert(strstr(o.reason, "_dmarc.loop" Z) != NULL);
	/* even an aligned pass cannot be a pass without the record */
	eval("mail.loop" Z, MP_SPF_PASS, "mail.loop" Z, NULL, false, &o);
	ck_assert_int_eq(o.result, MP_DMARC_TEMPERROR);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "mail.loop" Z, &o), MP_DMARC_TEMPERROR);

	/* _dmarc.broken is delegated to a dead server. Through unbound
	 * forwarding to NSD the referral comes back as NODATA (measured);
	 * whatever dns says, dmarc must follow it. */
	res = mp_dns_query(dns, NULL, "_dmarc.broken" Z, MP_DNS_TXT);
	eval("broken" Z, SPF_OTHER, NULL, false, &o);
	if (mp_dns_status_is_temp(res->status))
		ck_assert_int_eq(o.result, MP_DMARC_TEMPERROR);
	else
		ck_assert_int_eq(o.result, MP_DMARC_NONE);
	mp_dns_result_free(&res);
}
END_TEST

START_TEST(temperror_dead_resolver)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	struct mp_dns_options opt = { NULL, 300, NULL, false };
	struct mp_dns *dead;
	struct mp_dmarc *dd;
	struct mp_dmarc_outcome o;
	struct mp_dmarc_input in = {
		.from_domain = "reject" Z, .spf = MP_SPF_PASS, .spf_domain = "reject" Z,
	};
	char upstream[64], err[256];
	int fd;

	/* a UDP port that we hold open and never answer on */
	ck_assert((fd = socket(AF_INET, SOCK_DGRAM, 0)) != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	ck_assert(getsockname(fd, (struct sockaddr *)&sin, &slen) == 0);
	snprintf(upstream, sizeof(upstream), "127.0.0.1@%u", ntohs(sin.sin_port));
	opt.upstream = upstream;
	dead = mp_dns_new(&opt, err, sizeof(err));
	ck_assert_msg(dead != NULL, "%s", err);
	dd = mp_dmarc_new(dead);

	ck_assert_int_eq(mp_dmarc_evaluate(dd, NULL, &in, &o), MP_DMARC_TEMPERROR);
	ck_assert_int_eq(o.policy, U);
	ck_assert(strstr(o.reason, "_dmarc.reject") != NULL);
	ck_assert_int_eq(mp_dmarc_lookup(dd, NULL, "mail.parent" Z, &o), MP_DMARC_TEMPERROR);
	ck_assert(!o.record_found);

	mp_dmarc_free(&dd);
	mp_dns_free(&dead);
	close(fd);
}
END_TEST

START_TEST(lookup)
{
	struct mp_dmarc_outcome o;

	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "reject" Z, &o), MP_DMARC_PASS);
	expect(&o, MP_DMARC_PASS, R, R, "reject" Z, false);
	ck_assert_str_eq(o.org_domain, "reject" Z);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "self.parent" Z, &o), MP_DMARC_PASS);
	expect(&o, MP_DMARC_PASS, N, N, "self.parent" Z, false);
	ck_assert_str_eq(o.org_domain, "parent" Z);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "mail.parent" Z, &o), MP_DMARC_PASS);
	expect(&o, MP_DMARC_PASS, Q, Q, "parent" Z, true);
	ck_assert_int_eq(o.rec.p, R);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "nx.nponly" Z, &o), MP_DMARC_PASS);
	expect(&o, MP_DMARC_PASS, R, R, "nponly" Z, true);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "testing" Z, &o), MP_DMARC_PASS);
	expect(&o, MP_DMARC_PASS, R, Q, "testing" Z, false);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "nodmarc" Z, &o), MP_DMARC_NONE);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "two" Z, &o), MP_DMARC_NONE);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "malformed" Z, &o), MP_DMARC_PERMERROR);
	ck_assert_int_eq(mp_dmarc_lookup(dmarc, NULL, "a..b" Z, &o), MP_DMARC_PERMERROR);
}
END_TEST

/* libmilter runs messages on worker threads: several at once. */
static void *
worker(void *arg)
{
	static const char *const froms[] = { "reject" Z, "mail.parent" Z, "strict" Z, "two" Z };
	static const enum mp_dmarc_result want[] = {
		MP_DMARC_PASS, MP_DMARC_FAIL, MP_DMARC_FAIL, MP_DMARC_NONE,
	};
	long bad = 0;

	(void)arg;
	for (int i = 0; i < 40; i++) {
		struct mp_dmarc_dkim k;
		struct mp_dmarc_input in = {
			.from_domain = froms[i % 4], .spf = MP_SPF_PASS,
			.spf_domain = "bounce.reject" Z, .dkim = &k, .ndkim = 1,
		};
		struct mp_dmarc_outcome o;

		memset(&k, 0, sizeof(k));
		mp_strlcpy(k.domain, "sub.strict" Z, sizeof(k.domain));
		k.pass = true;
		if (mp_dmarc_evaluate(dmarc, NULL, &in, &o) != want[i % 4])
			bad++;
	}
	return (void *)bad;
}

START_TEST(threads)
{
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *bad;

		ck_assert_int_eq(pthread_join(t[i], &bad), 0);
		ck_assert_int_eq((long)bad, 0);
	}
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("dmarc");
	TCase *tc = tcase_create("record");

	tcase_add_loop_test(tc, record_table, 0, (int)MP_ARRAY_SIZE(rec_cases));
	tcase_add_test(tc, record_fields);
	tcase_add_test(tc, record_rfc9989);
	tcase_add_test(tc, record_oversized);
	tcase_add_test(tc, record_keeps_p_reject);
	tcase_add_test(tc, record_byte_sweep_value);
	tcase_add_test(tc, record_byte_sweep_version);
	tcase_add_test(tc, record_new_fields);
	tcase_add_test(tc, is_record);
	tcase_add_test(tc, strings);
	suite_add_tcase(s, tc);

	tc = tcase_create("evaluate");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, policy_p);
	tcase_add_test(tc, spf_and_dkim_must_pass);
	tcase_add_test(tc, several_dkim_results);
	tcase_add_test(tc, policy_sp_np);
	tcase_add_test(tc, pct_and_testing);
	tcase_add_test(tc, alignment_strict_relaxed);
	tcase_add_test(tc, broken_records);
	tcase_add_test(tc, no_record);
	tcase_add_test(tc, temperror_is_never_none);
	tcase_add_test(tc, temperror_dead_resolver);
	tcase_add_test(tc, lookup);
	tcase_add_test(tc, threads);
	suite_add_tcase(s, tc);
	return s;
}
