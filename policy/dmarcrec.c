/*
 * dmarcrec: the DMARC record parser of the dmarc module (declared in
 * dmarc.h), apart from discovery and evaluation. Bounded, and tolerant
 * the RFC 9989 way: only the v= tag can make a record invalid; any other
 * defect discards the one tag it is in (RFC 9989 4.8), because an invalid
 * record applies no policy at all and so delivers the very spoofs the
 * owner asked us to refuse.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc.h"

/* The rules are in dmarc.h. */

/* WSP: the only whitespace the grammar allows around '=' and ';'. */
static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * CR, LF, VT and FF are not in the grammar, but at the edge of a tag
 * they mean nothing (a stray line end from a zone editor): they are
 * skipped like WSP, with a warning. Inside a value they are bad bytes.
 */
static bool
is_junk_space(char c)
{
	return c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool
is_space(char c)
{
	return is_wsp(c) || is_junk_space(c);
}

/* A slice of the record: never NUL-terminated, always with its length. */
struct slice {
	const char *p;
	size_t len;
};

/* Strips whitespace at both ends; true when some of it was junk space. */
static bool
trim(struct slice *s)
{
	bool junk = false;

	while (s->len > 0 && is_space(s->p[0])) {
		junk |= is_junk_space(s->p[0]);
		s->p++, s->len--;
	}
	while (s->len > 0 && is_space(s->p[s->len - 1])) {
		junk |= is_junk_space(s->p[s->len - 1]);
		s->len--;
	}
	return junk;
}

static bool
slice_eq_ci(struct slice s, const char *word)
{
	size_t n = strlen(word);

	return s.len == n && mp_strncasecmp(s.p, word, n) == 0;
}

/*
 * The first byte that no value may hold, or NULL: dmarc-value is
 * %x20-3A / %x3C-7E (RFC 9989 4.8), plus HTAB, which the URI list
 * allows around its commas. NUL, control characters and non-ASCII
 * bytes are refused here so that no check below ever sees them.
 */
static const char *
bad_byte(struct slice s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if ((c < 0x20 && c != '\t') || c >= 0x7f)
			return s.p + i;
	}
	return NULL;
}

/*
 * Parses the "v=DMARC1" at the start; on success *rest_r is what follows
 * the version tag (empty, or starting at the ';'). Any byte in the v=
 * tag other than the name, '=', "DMARC1" and whitespace fails it: that
 * is the one defect that makes a record invalid (RFC 9989 4.7).
 * *junk_r: junk space was skipped.
 */
static bool
parse_version(const char *txt, size_t len, struct slice *rest_r, bool *junk_r)
{
	size_t i = 0;

	*junk_r = false;
	while (i < len && is_space(txt[i]))
		*junk_r |= is_junk_space(txt[i++]);
	if (i >= len || (txt[i] != 'v' && txt[i] != 'V'))
		return false;
	i++;
	while (i < len && is_space(txt[i]))
		*junk_r |= is_junk_space(txt[i++]);
	if (i >= len || txt[i] != '=')
		return false;
	i++;
	while (i < len && is_space(txt[i]))
		*junk_r |= is_junk_space(txt[i++]);
	/* The value is case-sensitive: RFC 9989 4.7, %s"DMARC1". */
	if (len - i < 6 || memcmp(txt + i, "DMARC1", 6) != 0)
		return false;
	i += 6;
	while (i < len && is_space(txt[i]))
		*junk_r |= is_junk_space(txt[i++]);
	if (i < len && txt[i] != ';')
		return false;
	rest_r->p = txt + i;
	rest_r->len = len - i;
	return true;
}

bool
mp_dmarc_is_record(const char *txt, size_t len)
{
	struct slice rest;
	bool junk;

	return txt != NULL && parse_version(txt, len, &rest, &junk);
}

static enum mp_dmarc_policy
parse_request(struct slice v)
{
	if (slice_eq_ci(v, "none"))
		return MP_DMARC_P_NONE;
	if (slice_eq_ci(v, "quarantine"))
		return MP_DMARC_P_QUARANTINE;
	if (slice_eq_ci(v, "reject"))
		return MP_DMARC_P_REJECT;
	return MP_DMARC_P_UNSET;
}

/* 1*DIGIT into *out, refusing more than maxdigits digits. */
static bool
parse_uint(struct slice v, size_t maxdigits, unsigned long *out)
{
	unsigned long n = 0;

	if (v.len == 0 || v.len > maxdigits)
		return false;
	for (size_t i = 0; i < v.len; i++) {
		if (!mp_ascii_isdigit((unsigned char)v.p[i]))
			return false;
		n = n * 10 + (unsigned long)(v.p[i] - '0');
	}
	*out = n;
	return true;
}

/*
 * One reporting URI (RFC 9989 4.8 dmarc-uri): an absolute URI with a
 * scheme, no whitespace inside (commas and '!' in a URI must be
 * %-encoded there). What follows a '!' is the size limit RFC 7489 had,
 * which RFC 9989 says to ignore: it neither makes nor breaks the URI.
 */
static bool
valid_uri(struct slice u)
{
	size_t i = 0, bang;

	if (u.len == 0 || !mp_ascii_isalpha((unsigned char)u.p[0]))
		return false;
	while (i < u.len && (mp_ascii_isalpha((unsigned char)u.p[i]) ||
	    mp_ascii_isdigit((unsigned char)u.p[i]) || u.p[i] == '+' || u.p[i] == '-' || u.p[i] == '.'))
		i++;
	if (i >= u.len || u.p[i] != ':')
		return false;
	i++;
	for (bang = i; bang < u.len && u.p[bang] != '!'; bang++)
		if (is_space(u.p[bang]))
			return false;
	return bang > i;        /* not "mailto:" with nothing after it */
}

/* Counts the valid URIs of a comma-separated list; *bad_r: one was not. */
static int
count_uris(struct slice v, bool *bad_r)
{
	int n = 0;

	*bad_r = false;
	while (v.len > 0) {
		const char *comma = memchr(v.p, ',', v.len);
		struct slice u = { v.p, comma ? (size_t)(comma - v.p) : v.len };

		(void)trim(&u);
		if (valid_uri(u))
			n++;
		else
			*bad_r = true;
		if (comma == NULL)
			break;
		v.len -= (size_t)(comma - v.p) + 1;
		v.p = comma + 1;
		if (v.len == 0)
			*bad_r = true;   /* a trailing comma */
	}
	return n;
}

/* A ':'-separated list whose items each pass ok(). */
static bool
valid_colon_list(struct slice v, bool (*ok)(struct slice))
{
	if (v.len == 0)
		return false;
	for (;;) {
		const char *colon = memchr(v.p, ':', v.len);
		struct slice item = { v.p, colon ? (size_t)(colon - v.p) : v.len };

		(void)trim(&item);
		if (!ok(item))
			return false;
		if (colon == NULL)
			return true;
		v.len -= (size_t)(colon - v.p) + 1;
		v.p = colon + 1;
	}
}

static bool
fo_item(struct slice s)
{
	return s.len == 1 && strchr("01dsDS", s.p[0]) != NULL;
}

/*
 * tag-name: ALPHA *(ALPHA / DIGIT / "_"), the DKIM tag-list syntax that
 * RFC 9989 4.7 builds on (its own ABNF, 1*ALPHA, is narrower: every
 * registered tag fits both), at most 32 bytes.
 */
static bool
valid_tag_name(struct slice name)
{
	if (name.len == 0 || name.len > 32 || !mp_ascii_isalpha((unsigned char)name.p[0]))
		return false;
	for (size_t i = 1; i < name.len; i++) {
		unsigned char c = (unsigned char)name.p[i];

		if (!mp_ascii_isalpha(c) && !mp_ascii_isdigit(c) && c != '_')
			return false;
	}
	return true;
}

enum tag {
	T_V, T_P, T_SP, T_NP, T_PCT, T_ADKIM, T_ASPF, T_FO, T_RF, T_RI, T_RUA, T_RUF,
	T_T, T_PSD, T_UNKNOWN,
};

static const char *const tag_names[] = {
	"v", "p", "sp", "np", "pct", "adkim", "aspf", "fo", "rf", "ri", "rua", "ruf", "t",
	"psd",
};

static enum tag
lookup_tag(struct slice name)
{
	for (size_t i = 0; i < MP_ARRAY_SIZE(tag_names); i++)
		if (slice_eq_ci(name, tag_names[i]))
			return (enum tag)i;
	return T_UNKNOWN;
}

/* Sets rec->warning unless an earlier defect already did: the first one
 * is enough for a postmaster. Callers pass only printable text. */
static void __attribute__((format(printf, 2, 3)))
rec_warn(struct mp_dmarc_record *rec, const char *fmt, ...)
{
	va_list ap;

	if (rec->warning[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(rec->warning, sizeof(rec->warning), fmt, ap);
	va_end(ap);
}

/* Warns "<what>: <s made printable>". */
static void
warn_text(struct mp_dmarc_record *rec, const char *what, struct slice s)
{
	struct mp_buf b = MP_BUF_INIT;

	if (rec->warning[0] != '\0')
		return;
	mp_printable(&b, s.p, s.len, MP_SHOW_TOKEN);
	rec_warn(rec, "%s: %s", what, mp_buf_str(&b));
	mp_buf_free(&b);
}

static void
warn_tag(struct mp_dmarc_record *rec, const char *tag, struct slice v, const char *what)
{
	struct mp_buf b = MP_BUF_INIT;

	if (rec->warning[0] != '\0')
		return;
	mp_printable(&b, v.p, v.len, MP_SHOW_TOKEN);
	rec_warn(rec, "%s=%s is not valid, %s", tag, mp_buf_str(&b), what);
	mp_buf_free(&b);
}

/* What one parse has seen so far. */
struct parse {
	struct mp_dmarc_record *rec;
	unsigned seen;                  /* 1 << enum tag */
	int nsegs;
	enum tag bad_policy;            /* first invalid p/sp/np, T_UNKNOWN if none */
	struct slice bad_policy_value;
};

static void
apply_policy(struct parse *ps, enum tag t, struct slice value)
{
	struct mp_dmarc_record *rec = ps->rec;
	enum mp_dmarc_policy pol = parse_request(value);

	if (pol == MP_DMARC_P_UNSET) {
		/*
		 * An invalid sp or np is discarded alone: its fallback (np to
		 * sp, sp to p) applies. Read literally, RFC 9989 4.10.1 would
		 * drop the whole policy, so "p=reject; sp=typo" would deliver
		 * spoofs of the domain itself, so a typo there is read as
		 * if the tag were absent.
		 */
		if (t != T_P) {
			if (t == T_SP)
				rec->sp_invalid = true;
			else
				rec->np_invalid = true;
			warn_tag(rec, t == T_SP ? "sp" : "np", value,
			    "ignored: its fallback applies");
			return;
		}
		rec->p_invalid = true;
		if (ps->bad_policy == T_UNKNOWN) {
			ps->bad_policy = t;
			ps->bad_policy_value = value;
		}
		return;
	}
	if (t == T_P) {
		rec->p = pol;
		if (ps->bad_policy == T_P)
			ps->bad_policy = T_UNKNOWN;   /* a valid p came after it */
	} else if (t == T_SP)
		rec->sp = pol;
	else
		rec->np = pol;
}

/* pct, adkim, aspf, t, psd: a bad value takes the default (RFC 9989
 * 4.8). pct is no longer policy: read for display, never warned about. */
static void
apply_simple(struct mp_dmarc_record *rec, enum tag t, struct slice value)
{
	unsigned long n;

	switch (t) {
	case T_PCT:
		rec->pct_set = true;
		if (parse_uint(value, 3, &n) && n <= 100)
			rec->pct = (int)n;
		break;
	case T_ADKIM:
	case T_ASPF:
		if (!slice_eq_ci(value, "s") && !slice_eq_ci(value, "r"))
			warn_tag(rec, tag_names[t], value, "using relaxed");
		else if (t == T_ADKIM)
			rec->adkim_strict = slice_eq_ci(value, "s");
		else
			rec->aspf_strict = slice_eq_ci(value, "s");
		break;
	case T_T:
		if (slice_eq_ci(value, "y"))
			rec->testing = true;
		else if (!slice_eq_ci(value, "n"))
			warn_tag(rec, "t", value, "using t=n");
		break;
	case T_PSD:
		if (value.len == 1 && strchr("ynuYNU", value.p[0]) != NULL)
			rec->psd = (char)(value.p[0] | 0x20);
		else
			warn_tag(rec, "psd", value, "using psd=u");
		break;
	default:
		break;
	}
}

/* fo, rf, ri, rua, ruf: the reporting tags (rf and ri removed in RFC
 * 9989: noted, not warned about). */
static void
apply_report(struct mp_dmarc_record *rec, enum tag t, struct slice value)
{
	unsigned long n;
	bool bad;

	switch (t) {
	case T_FO:
		if (valid_colon_list(value, fo_item))
			rec->fo_present = 1;
		else
			warn_tag(rec, "fo", value, "using fo=0");
		break;
	case T_RF:
		rec->rf_set = true;
		break;
	case T_RI:
		rec->ri_set = true;
		if (parse_uint(value, 10, &n) && n <= 4294967295UL)
			rec->ri = n;
		break;
	case T_RUA:
		rec->rua_count = count_uris(value, &bad);
		mp_printable_copy(rec->rua, sizeof(rec->rua), value.p, value.len);
		if (bad)
			warn_tag(rec, "rua", value, "invalid URIs ignored");
		break;
	case T_RUF:
		rec->ruf_count = count_uris(value, &bad);
		mp_printable_copy(rec->ruf, sizeof(rec->ruf), value.p, value.len);
		if (bad)
			warn_tag(rec, "ruf", value, "invalid URIs ignored");
		break;
	default:
		break;
	}
}

/*
 * One known tag's first occurrence. A value holding a byte that no
 * value may hold discards the tag: p/sp/np then count as invalid, the
 * others keep their default.
 */
static void
apply_tag(struct parse *ps, enum tag t, struct slice value)
{
	const char *bad = bad_byte(value);

	if (bad != NULL && t != T_P && t != T_SP && t != T_NP) {
		rec_warn(ps->rec, "%s= holds byte \\x%02x: tag ignored", tag_names[t],
		    (unsigned char)*bad);
		return;
	}
	switch (t) {
	case T_P:
	case T_SP:
	case T_NP:
		/* parse_request refuses any value with a bad byte */
		apply_policy(ps, t, value);
		break;
	case T_PCT:
	case T_ADKIM:
	case T_ASPF:
	case T_T:
	case T_PSD:
		apply_simple(ps->rec, t, value);
		break;
	case T_FO:
	case T_RF:
	case T_RI:
	case T_RUA:
	case T_RUF:
		apply_report(ps->rec, t, value);
		break;
	case T_V:
	case T_UNKNOWN:
		break;
	}
}

/*
 * One ';'-separated segment after the v= tag. A segment that is not
 * name=value with a valid name is discarded as if absent: which tag it
 * meant cannot be known. An unknown tag is ignored (RFC 9989 4.7). A
 * known tag given again is ignored: the first occurrence counts, valid
 * or not, so that nothing appended to a record (a second "p=none"
 * after "p=reject") can lower what the owner wrote first.
 */
static void
parse_segment(struct parse *ps, struct slice seg)
{
	struct mp_dmarc_record *rec = ps->rec;
	const char *eq;
	struct slice name, value;
	enum tag t;

	if (trim(&seg))
		rec_warn(rec, "CR, LF, VT or FF around a tag ignored");
	if (seg.len == 0)
		return;   /* ";;" and a trailing ';' are harmless */
	if (++ps->nsegs == MP_DMARC_MAX_TAGS + 1)
		rec_warn(rec, "more than %d tags", MP_DMARC_MAX_TAGS);
	eq = memchr(seg.p, '=', seg.len);
	if (eq == NULL) {
		warn_text(rec, "tag without '=' ignored", seg);
		return;
	}
	name.p = seg.p;
	name.len = (size_t)(eq - seg.p);
	if (trim(&name))
		rec_warn(rec, "CR, LF, VT or FF around a tag ignored");
	value.p = eq + 1;
	value.len = (size_t)(seg.p + seg.len - value.p);
	if (trim(&value))
		rec_warn(rec, "CR, LF, VT or FF around a tag ignored");
	if (!valid_tag_name(name)) {
		warn_text(rec, "bad tag name, tag ignored", name);
		return;
	}
	if ((t = lookup_tag(name)) == T_UNKNOWN)
		return;
	if (ps->seen & (1u << t)) {
		rec_warn(rec, "tag %s given twice: the first one counts", tag_names[t]);
		return;
	}
	/* An invalid p does not hold the place of a valid one after it
	 * ("p=rejct; p=reject" is reject, not "no policy"). */
	if (t == T_P && parse_request(value) == MP_DMARC_P_UNSET) {
		warn_tag(rec, "p", value, "a later valid p counts");
		apply_tag(ps, t, value);
		return;
	}
	ps->seen |= 1u << t;
	apply_tag(ps, t, value);
}

/*
 * After the last tag: RFC 9989 4.10.1 on p, sp and np. An invalid one
 * with a valid rua URI makes the record "p=none"; without one no policy
 * applies (the record is invalid). A missing p is p=none (4.7).
 */
static bool
finish(struct parse *ps, char *why, size_t whylen)
{
	struct mp_dmarc_record *rec = ps->rec;

	if (ps->bad_policy != T_UNKNOWN) {
		struct mp_buf b = MP_BUF_INIT;
		const char *tag = tag_names[ps->bad_policy];

		mp_printable(&b, ps->bad_policy_value.p, ps->bad_policy_value.len, MP_SHOW_TOKEN);
		if (rec->rua_count == 0) {
			mp_setf(why, whylen, "invalid %s=%s and no valid rua: no policy", tag,
			    mp_buf_str(&b));
			mp_buf_free(&b);
			return false;
		}
		/* Act as if the record were "v=DMARC1; p=none", keeping its
		 * reporting tags. */
		rec->policy_fallback = true;
		rec->p = MP_DMARC_P_NONE;
		rec->sp = rec->np = MP_DMARC_P_UNSET;
		snprintf(rec->warning, sizeof(rec->warning),
		    "invalid %s=%s: treated as p=none because rua is present", tag,
		    mp_buf_str(&b));
		mp_buf_free(&b);
	} else if (rec->p == MP_DMARC_P_UNSET) {
		rec->p_missing = true;
		rec->p = MP_DMARC_P_NONE;
		rec_warn(rec, "no p= tag: treated as p=none");
	}
	mp_setf(why, whylen, "%s", rec->warning);
	return true;
}

/*
 * Over MP_DMARC_RECORD_MAX bytes, only the tags that end before the
 * bound are read (no tag is cut in the middle: a cut "p=reject" would
 * read as an invalid p). Returns the length to parse, 0 when not even
 * the v= tag fits.
 */
static size_t
bounded_length(const char *txt, size_t len)
{
	size_t n = MP_DMARC_RECORD_MAX;

	if (len <= MP_DMARC_RECORD_MAX)
		return len;
	while (n > 0 && txt[n] != ';')
		n--;
	return n;
}

bool
mp_dmarc_record_parse(const char *txt, size_t len, struct mp_dmarc_record *rec,
    char *why, size_t whylen)
{
	struct parse ps = { rec, 1u << T_V, 1, T_UNKNOWN, { "", 0 } };
	struct slice rest;
	size_t n;
	bool junk;

	memset(rec, 0, sizeof(*rec));
	rec->pct = 100;
	rec->ri = 86400;
	rec->psd = 'u';
	mp_setf(why, whylen, "%s", "");

	if (txt == NULL || len == 0) {
		mp_setf(why, whylen, "empty record");
		return false;
	}
	if ((n = bounded_length(txt, len)) == 0) {
		mp_setf(why, whylen, "record too long (%zu bytes, limit %d)", len,
		    MP_DMARC_RECORD_MAX);
		return false;
	}
	if (!parse_version(txt, n, &rest, &junk)) {
		mp_setf(why, whylen, "does not start with v=DMARC1");
		return false;
	}
	if (n < len)
		rec_warn(rec, "record too long (%zu bytes, limit %d): tags past byte %zu ignored",
		    len, MP_DMARC_RECORD_MAX, n);
	if (junk)
		rec_warn(rec, "CR, LF, VT or FF around a tag ignored");
	/* rest is empty or starts at a ';'; a lone trailing ';' is harmless */
	while (rest.len > 1) {
		const char *semi = memchr(rest.p + 1, ';', rest.len - 1);
		struct slice seg = { rest.p + 1, semi ? (size_t)(semi - rest.p - 1) : rest.len - 1 };

		rest.len -= seg.len + 1;
		rest.p += seg.len + 1;
		parse_segment(&ps, seg);
	}
	return finish(&ps, why, whylen);
}

