/*
 * authres: RFC 8601 Authentication-Results parsing and writing.
 *
 * The full parser follows the section 2.2 grammar, with CFWS (nested
 * comments, at most MP_LEX_MAX_COMMENT_DEPTH deep) allowed between any two
 * elements. It is strict where strictness protects us and lenient where
 * widely deployed writers differ from the grammar:
 * - a pvalue is a quoted-string, or a run of bytes up to whitespace, ";"
 *   or "(": that covers addr-specs (smtp.mailfrom=user@example.com),
 *   @domain and base64 fragments (header.b=ab/c+d=) that are not RFC 2045
 *   tokens. A quoted local part ("a b"@example.com) is kept as written.
 * - a property without a ptype (Microsoft's "dmarc=pass action=none") is
 *   kept with an empty ptype;
 * - empty result elements and a trailing ";" are skipped;
 * - reason= may come anywhere among the properties, and is cut to fit.
 * Everything else that does not fit its field or its cap is an error,
 * not a silent truncation: a half-read result must not be trusted.
 * An authres-version other than 1 is an error (section 2.2: a version
 * that is not understood means the field is ignored).
 *
 * mp_authres_servid reads only the leading authserv-id, and as little
 * else as it can, so that a forged header with our id and a broken
 * body is still recognised and deleted.
 *
 * Writing: a value that is an RFC 2045 token is written as is, anything
 * else as a quoted-string. Control characters (including CR, LF and TAB)
 * are dropped, never escaped: a quoted-pair would still put the raw byte
 * into our header. Invalid UTF-8 bytes become '?'; valid UTF-8 is kept
 * (RFC 6532), except the C1 controls, which are dropped too.
 */
#include "config.h"

#include <string.h>

#include "authres.h"
#include "lex5322.h"
#include "util.h"

#define AR_MAX_VERSION          999999

static bool
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool
is_alnum(unsigned char c)
{
	return mp_ascii_isdigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 2045 token character: printable ASCII except SPACE and tspecials. */
static bool
is_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static bool
at_end(const struct mp_lex *lx)
{
	return lx->p >= lx->end;
}

static bool
at(const struct mp_lex *lx, char c)
{
	return lx->p < lx->end && *lx->p == c;
}

/* Appends one byte; on overflow cuts silently or fails. */
static bool
put(char *buf, size_t size, size_t *n, char c, bool cut)
{
	if (*n + 1 >= size)
		return cut;
	buf[(*n)++] = c;
	buf[*n] = '\0';
	return true;
}

/*
 * At '"': decodes a quoted-string into buf. Folding line breaks are
 * removed; other controls, bare or quoted, are an error.
 */
static bool
read_qs(struct mp_lex *lx, char *buf, size_t size, size_t *n, bool cut)
{
	lx->p++;
	for (;;) {
		if (at_end(lx))
			return mp_lex_fail(lx, "unbalanced quote");
		unsigned char c = (unsigned char)*lx->p;
		if (c == '"')
			break;
		if (c == '\r' || c == '\n') {
			if (!mp_lex_skip_fold(lx))
				return false;
			continue;
		}
		if (c == '\\') {
			if (lx->end - lx->p < 2)
				return mp_lex_fail(lx, "unbalanced quote");
			c = (unsigned char)*++lx->p;
		}
		if (is_ctl(c) && c != '\t')
			return mp_lex_fail(lx, "control character");
		if (!put(buf, size, n, (char)c, cut))
			return mp_lex_fail(lx, "value too long");
		lx->p++;
	}
	lx->p++;
	return true;
}

/* authserv-id = value (token / quoted-string), lowercased. */
static bool
read_servid(struct mp_lex *lx, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	if (at(lx, '"')) {
		if (!read_qs(lx, buf, size, &n, false))
			return false;
		/* Folding whitespace kept inside the quotes (a tab, say) is no
		 * id anyone sets; mp_authres_servid, which the deletion rule
		 * reads, refuses it the same way, so the two never disagree. */
		for (size_t i = 0; i < n; i++)
			if (is_ctl((unsigned char)buf[i]))
				return mp_lex_fail(lx, "control character in authserv-id");
	} else {
		while (!at_end(lx) && is_token_char((unsigned char)*lx->p)) {
			if (!put(buf, size, &n, *lx->p, false))
				return mp_lex_fail(lx, "authserv-id too long");
			lx->p++;
		}
	}
	if (n == 0)
		return mp_lex_fail(lx, "no authserv-id");
	mp_ascii_lower(buf);
	return true;
}

/*
 * Keyword = Let-dig [Ldh-str] (RFC 5321), with "_" also taken, lowercased.
 */
static bool
read_keyword(struct mp_lex *lx, char *buf, size_t size, const char *what)
{
	size_t n = 0;

	buf[0] = '\0';
	if (at_end(lx) || !is_alnum((unsigned char)*lx->p))
		return mp_lex_fail(lx, what);
	while (!at_end(lx)) {
		unsigned char c = (unsigned char)*lx->p;
		if (!is_alnum(c) && c != '-' && c != '_')
			break;
		if (!put(buf, size, &n, (char)c, false))
			return mp_lex_fail(lx, "keyword too long");
		lx->p++;
	}
	mp_ascii_lower(buf);
	return true;
}

static bool
ends_pvalue(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '(';
}

/*
 * pvalue (and the value of reason=): a quoted-string, unquoted; a quoted
 * local part followed by "@domain", kept with its quotes; or a run of
 * bytes up to whitespace, ";" or "(". It may be empty (before ";" or
 * the end). Since CFWS may precede a pvalue, "a.b= c.d=e" reads as a.b
 * with the value "c.d=e": a writer that leaves a value empty is broken,
 * and only headers of trusted authserv-ids are ever believed.
 */
static bool
read_pvalue(struct mp_lex *lx, char *buf, size_t size, bool cut)
{
	size_t n = 0;

	buf[0] = '\0';
	if (!mp_lex_skip_cfws(lx, false))
		return false;
	if (at(lx, '"')) {
		const char *q = lx->p;
		if (!read_qs(lx, buf, size, &n, cut))
			return false;
		if (!at(lx, '@'))
			return true;
		/* "local part"@domain: the quotes belong to the address. */
		n = 0;
		buf[0] = '\0';
		for (; q < lx->p; q++)
			if (*q != '\r' && *q != '\n' && !put(buf, size, &n, *q, cut))
				return mp_lex_fail(lx, "value too long");
	}
	while (!at_end(lx) && !ends_pvalue((unsigned char)*lx->p)) {
		if (is_ctl((unsigned char)*lx->p))
			return mp_lex_fail(lx, "control character");
		if (!put(buf, size, &n, *lx->p, cut))
			return mp_lex_fail(lx, "value too long");
		lx->p++;
	}
	return true;
}

/* Optional "/" version after a method; digits only. */
static bool
skip_method_version(struct mp_lex *lx)
{
	if (!at(lx, '/'))
		return true;
	lx->p++;
	if (!mp_lex_skip_cfws(lx, false))
		return false;
	if (at_end(lx) || !mp_ascii_isdigit((unsigned char)*lx->p))
		return mp_lex_fail(lx, "bad method version");
	while (!at_end(lx) && mp_ascii_isdigit((unsigned char)*lx->p))
		lx->p++;
	return mp_lex_skip_cfws(lx, false);
}

/* One property after its name: [ "." property ] "=" pvalue. */
static bool
parse_prop(struct mp_lex *lx, struct mp_authres_result *r, const char *name)
{
	struct mp_authres_prop *pr;
	char property[sizeof(pr->property)];

	if (at(lx, '.')) {
		if (strlen(name) >= sizeof(pr->ptype))
			return mp_lex_fail(lx, "ptype too long");
		lx->p++;
		if (!mp_lex_skip_cfws(lx, false) ||
		    !read_keyword(lx, property, sizeof(property), "expected a property") ||
		    !mp_lex_skip_cfws(lx, false))
			return false;
		if (!at(lx, '='))
			return mp_lex_fail(lx, "expected = after a property");
	} else if (at(lx, '=')) {
		if (strcmp(name, "reason") == 0) {
			lx->p++;
			return read_pvalue(lx, r->reason, sizeof(r->reason), true);
		}
		/* No ptype: kept with an empty one. */
		mp_strlcpy(property, name, sizeof(property));
		name = "";
	} else
		return mp_lex_fail(lx, "expected = or . after a name");
	lx->p++;
	if (r->nprops >= MP_AUTHRES_MAX_PROPS)
		return mp_lex_fail(lx, "too many properties");
	pr = &r->props[r->nprops];
	mp_strlcpy(pr->ptype, name, sizeof(pr->ptype));
	mp_strlcpy(pr->property, property, sizeof(pr->property));
	if (!read_pvalue(lx, pr->value, sizeof(pr->value), false))
		return false;
	r->nprops++;
	return true;
}

/* resinfo (after ";" and CFWS), or the "none" of no-result. */
static bool
parse_resinfo(struct mp_lex *lx, struct mp_authres *out)
{
	struct mp_authres_result *r;
	char method[sizeof(r->method)];
	char name[sizeof(r->props[0].property)];

	if (!read_keyword(lx, method, sizeof(method), "expected a method") ||
	    !mp_lex_skip_cfws(lx, false))
		return false;
	if (strcmp(method, "none") == 0 && (at_end(lx) || at(lx, ';'))) {
		if (out->count > 0)
			return mp_lex_fail(lx, "none among results");
		out->none = true;
		return true;
	}
	if (out->none)
		return mp_lex_fail(lx, "results after none");
	if (out->count >= MP_AUTHRES_MAX_RESULTS)
		return mp_lex_fail(lx, "too many results");
	r = &out->res[out->count];
	memset(r, 0, sizeof(*r));
	mp_strlcpy(r->method, method, sizeof(r->method));
	if (!skip_method_version(lx))
		return false;
	if (!at(lx, '='))
		return mp_lex_fail(lx, "expected = after a method");
	lx->p++;
	if (!mp_lex_skip_cfws(lx, false) ||
	    !read_keyword(lx, r->result, sizeof(r->result), "expected a result"))
		return false;
	for (;;) {
		if (!mp_lex_skip_cfws(lx, false))
			return false;
		if (at_end(lx) || at(lx, ';'))
			break;
		if (!read_keyword(lx, name, sizeof(name), "expected a property") ||
		    !mp_lex_skip_cfws(lx, false) ||
		    !parse_prop(lx, r, name))
			return false;
	}
	out->count++;
	return true;
}

static bool
parse(struct mp_lex *lx, struct mp_authres *out)
{
	if (!mp_lex_skip_cfws(lx, false) ||
	    !read_servid(lx, out->authserv_id, sizeof(out->authserv_id)) ||
	    !mp_lex_skip_cfws(lx, false))
		return false;
	if (!at_end(lx) && mp_ascii_isdigit((unsigned char)*lx->p)) {
		long v = 0;
		while (!at_end(lx) && mp_ascii_isdigit((unsigned char)*lx->p)) {
			v = v * 10 + (*lx->p++ - '0');
			if (v > AR_MAX_VERSION)
				return mp_lex_fail(lx, "bad version");
		}
		out->version = (int)v;
		if (!mp_lex_skip_cfws(lx, false))
			return false;
		if (out->version != 1)
			return mp_lex_fail(lx, "unsupported version");
	}
	while (!at_end(lx)) {
		if (!at(lx, ';'))
			return mp_lex_fail(lx, "expected ;");
		lx->p++;
		if (!mp_lex_skip_cfws(lx, false))
			return false;
		if (at_end(lx) || at(lx, ';'))
			continue;       /* empty element, trailing ";" */
		if (!parse_resinfo(lx, out))
			return false;
	}
	if (!out->none && out->count == 0)
		return mp_lex_fail(lx, "no results");
	return true;
}

bool
mp_authres_parse(const char *value, size_t len, struct mp_authres *out, const char **why_r)
{
	struct mp_lex lx = { value, value, NULL };
	bool ok;

	memset(out, 0, sizeof(*out));
	out->version = 1;
	if (value == NULL || len == 0)
		ok = mp_lex_fail(&lx, "empty value");
	else if (len > MP_AUTHRES_MAX_LEN)
		ok = mp_lex_fail(&lx, "value too long");
	else if (memchr(value, '\0', len) != NULL)
		ok = mp_lex_fail(&lx, "NUL byte");
	else {
		lx.end = value + len;
		ok = parse(&lx, out);
	}
	if (!ok) {
		out->count = 0;
		out->none = false;
		if (why_r != NULL)
			*why_r = lx.why != NULL ? lx.why : "syntax error";
	}
	return ok;
}

bool
mp_authres_servid(const char *value, size_t len, char *out, size_t outlen)
{
	struct mp_lex lx = { value, value, NULL };
	size_t n = 0;

	if (out == NULL || outlen == 0)
		return false;
	out[0] = '\0';
	if (value == NULL)
		return false;
	lx.end = value + len;
	if (!mp_lex_skip_cfws(&lx, true) || at_end(&lx))
		return false;
	if (at(&lx, '"')) {
		lx.p++;
		for (;;) {
			if (at_end(&lx))
				goto bad;
			unsigned char c = (unsigned char)*lx.p;
			if (c == '"')
				break;
			if (c == '\\') {
				if (lx.end - lx.p < 2)
					goto bad;
				c = (unsigned char)*++lx.p;
			}
			if (is_ctl(c) || !put(out, outlen, &n, (char)c, false))
				goto bad;
			lx.p++;
		}
		lx.p++;
	} else {
		while (!at_end(&lx) && is_token_char((unsigned char)*lx.p)) {
			if (!put(out, outlen, &n, *lx.p, false))
				goto bad;
			lx.p++;
		}
	}
	if (n == 0)
		goto bad;
	/*
	 * "spf=pass ..." has no authserv-id at all (some writers omit it):
	 * its first word is a method, not an id.
	 */
	if (mp_lex_skip_cfws(&lx, true) && at(&lx, '='))
		goto bad;
	mp_ascii_lower(out);
	return true;
bad:
	out[0] = '\0';
	return false;
}

const char *
mp_authres_prop(const struct mp_authres_result *r, const char *ptype, const char *property)
{
	for (size_t i = 0; i < r->nprops && i < MP_AUTHRES_MAX_PROPS; i++)
		if (mp_strcasecmp(r->props[i].ptype, ptype) == 0 &&
		    mp_strcasecmp(r->props[i].property, property) == 0)
			return r->props[i].value;
	return NULL;
}

/*
 * Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0. s is NUL-terminated, and NUL
 * is never a continuation byte, so this never reads past the end.
 */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

void
mp_authres_put_value(struct mp_buf *out, const char *value)
{
	const unsigned char *p;
	bool token;

	if (value == NULL)
		value = "";
	token = *value != '\0';
	for (p = (const unsigned char *)value; *p != '\0' && token; p++)
		token = is_token_char(*p);
	if (token) {
		mp_buf_puts(out, value);
		return;
	}
	mp_buf_putc(out, '"');
	for (p = (const unsigned char *)value; *p != '\0';) {
		if (*p < 0x80) {
			if (*p == '"' || *p == '\\')
				mp_buf_putc(out, '\\');
			if (!is_ctl(*p))
				mp_buf_putc(out, (char)*p);
			p++;
			continue;
		}
		size_t n = utf8_len(p);
		if (n == 0) {
			mp_buf_putc(out, '?');
			p++;
			continue;
		}
		if (!(p[0] == 0xc2 && p[1] < 0xa0))     /* C1 controls */
			mp_buf_append(out, p, n);
		p += n;
	}
	mp_buf_putc(out, '"');
}

static bool
is_atext_ascii(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* A run of dot-separated non-empty words whose bytes pass ok(). */
static bool
is_dot_run(const char *s, size_t len, bool (*ok)(unsigned char))
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.' ? s[i + 1] == '.' : !ok(c))
			return false;
	}
	return true;
}

static bool
is_ldh_(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == '_';
}

void
mp_authres_put_pvalue(struct mp_buf *out, const char *value)
{
	const char *at_sign = value != NULL ? strrchr(value, '@') : NULL;

	if (at_sign != NULL &&
	    (at_sign == value ||
	    is_dot_run(value, (size_t)(at_sign - value), is_atext_ascii)) &&
	    is_dot_run(at_sign + 1, strlen(at_sign + 1), is_ldh_)) {
		mp_buf_puts(out, value);
		return;
	}
	mp_authres_put_value(out, value);
}
