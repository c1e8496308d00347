/*
 * domain: one gate for every domain name that reaches a DNS query, a
 * header we write or a Redis key. The rules are those of a host name
 * (LDH) plus the underscore that _dmarc and _domainkey names need;
 * internationalised names go through libidn2 and the Public Suffix List
 * through libpsl, never through a parser of our own.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>
#include <libpsl.h>

#include "domain.h"
#include "log.h"
#include "util.h"

/*
 * Raw input longer than this is refused before any work is done. A
 * U-label name can be longer than its A-label form (up to four bytes of
 * UTF-8 per character against about one byte of punycode), so the cap
 * is well above 253 but still bounds the cost of libidn2.
 */
#define DOMAIN_RAW_MAX 1024
#define LABEL_MAX 63
#define NAME_MAX_LEN 253

#define IDN_FLAGS (IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL)

static bool
fail(const char **why_r, const char *why, char *out)
{
	if (why_r != NULL)
		*why_r = why;
	out[0] = '\0';
	return false;
}

static bool
has_high_bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/*
 * Converts the labels that carry UTF-8 to A-labels, one label at a time:
 * libidn2 refuses a whole name as soon as one ASCII label breaks an IDNA
 * rule (an R-LDH label such as r3--sn-abc, say), while those labels are
 * valid host names that we judge ourselves. A label may map to several
 * (UTS#46 maps U+3002 and U+FF0E to '.'), which the ASCII checks that
 * follow handle like any other dot.
 */
static bool
to_alabels(const char *name, size_t len, struct mp_buf *ascii, const char **why)
{
	size_t start = 0;

	while (start <= len) {
		const char *dot = memchr(name + start, '.', len - start);
		size_t end = dot != NULL ? (size_t)(dot - name) : len;
		size_t llen = end - start;

		if (start > 0)
			mp_buf_putc(ascii, '.');
		if (has_high_bit(name + start, llen)) {
			char *label = xstrndup(name + start, llen);
			uint8_t *conv = NULL;
			int rc;

			rc = idn2_lookup_u8((const uint8_t *)label, &conv, IDN_FLAGS);
			free(label);
			if (rc != IDN2_OK) {
				idn2_free(conv);
				*why = rc == IDN2_ENCODING_ERROR ?
				    "not valid UTF-8" :
				    "internationalised label not valid under IDNA2008";
				return false;
			}
			mp_buf_puts(ascii, (const char *)conv);
			idn2_free(conv);
		} else
			mp_buf_append(ascii, name + start, llen);
		if (dot == NULL)
			break;
		start = end + 1;
	}
	return true;
}

/*
 * An xn-- label must be a real A-label: it decodes, to something that is
 * not plain ASCII, and that encodes back to exactly the same label.
 * idn2_to_unicode_8z8z only undoes the punycode: it happily decodes
 * "xn--abc" (to unprintable code points) and labels that IDNA2008 does
 * not allow (an emoji, say), so the round trip is what catches them.
 */
static bool
alabel_ok(const char *label, size_t llen, const char **why)
{
	char *a = xstrndup(label, llen);
	char *u = NULL;
	uint8_t *back = NULL;
	bool ok = false;

	if (idn2_to_unicode_8z8z(a, &u, 0) != IDN2_OK || u == NULL) {
		*why = "xn-- label is not valid punycode";
		goto out;
	}
	if (!has_high_bit(u, strlen(u))) {
		*why = "xn-- label does not decode to an internationalised label";
		goto out;
	}
	if (idn2_lookup_u8((const uint8_t *)u, &back, IDN_FLAGS) != IDN2_OK) {
		*why = "xn-- label decodes to a label IDNA2008 does not allow";
		goto out;
	}
	if (strcmp((const char *)back, a) != 0) {
		*why = "xn-- label is not in its canonical form";
		goto out;
	}
	ok = true;
out:
	idn2_free(back);
	idn2_free(u);
	free(a);
	return ok;
}

static bool
ldh_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_';
}

bool
mp_domain_normalize_ex(const char *name, size_t len, char out[MP_DOMAIN_MAX],
    unsigned flags, const char **why_r)
{
	struct mp_buf conv = MP_BUF_INIT;
	const char *why = NULL;
	const char *s;
	size_t slen, start, nlabels = 0;
	bool all_digits = false;

	if (name == NULL || len == 0)
		return fail(why_r, "empty name", out);
	if (len > DOMAIN_RAW_MAX)
		return fail(why_r, "name too long", out);
	if (memchr(name, '\0', len) != NULL)
		return fail(why_r, "NUL byte in name", out);
	/* One trailing dot is the root: example.com. is example.com. */
	if (name[len - 1] == '.')
		len--;
	if (len == 0)
		return fail(why_r, "empty name", out);

	s = name;
	slen = len;
	if (has_high_bit(name, len)) {
		if (!to_alabels(name, len, &conv, &why)) {
			mp_buf_free(&conv);
			return fail(why_r, why, out);
		}
		s = conv.data;
		slen = conv.len;
	}
	if (slen > NAME_MAX_LEN) {
		mp_buf_free(&conv);
		return fail(why_r, "name longer than 253 characters", out);
	}
	for (size_t i = 0; i < slen; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[slen] = '\0';
	mp_buf_free(&conv);

	for (start = 0; start <= slen; ) {
		const char *label = out + start;
		const char *dot = memchr(label, '.', slen - start);
		size_t llen = dot != NULL ? (size_t)(dot - label) : slen - start;

		if (llen == 0)
			return fail(why_r, "empty label", out);
		if (llen > LABEL_MAX)
			return fail(why_r, "label longer than 63 characters", out);
		all_digits = true;
		for (size_t i = 0; i < llen; i++) {
			unsigned char c = (unsigned char)label[i];

			if (!ldh_ok(c))
				return fail(why_r, "character not allowed in a domain name", out);
			if (c < '0' || c > '9')
				all_digits = false;
		}
		if (label[0] == '-' || label[llen - 1] == '-')
			return fail(why_r, "label starts or ends with a hyphen", out);
		if (llen >= 4 && memcmp(label, "xn--", 4) == 0 &&
		    !alabel_ok(label, llen, &why))
			return fail(why_r, why, out);
		nlabels++;
		start += llen + 1;
	}
	/* The last label checked is the top-level one. */
	if (all_digits)
		return fail(why_r, "all-numeric top-level label (an address is not a domain)", out);
	if (nlabels < 2 && (flags & MP_DOMAIN_ALLOW_SINGLE) == 0)
		return fail(why_r, "single-label name", out);
	return true;
}

bool
mp_domain_normalize(const char *name, size_t len, char out[MP_DOMAIN_MAX],
    const char **why_r)
{
	return mp_domain_normalize_ex(name, len, out, 0, why_r);
}

struct mp_psl {
	psl_ctx_t *ctx;
};

struct mp_psl *
mp_psl_load(const char *path, char *err, size_t errlen)
{
	struct mp_psl *psl;
	struct stat st;
	psl_ctx_t *ctx;
	FILE *fp;

	if (path == NULL)
		path = MP_PSL_FILE;
	/* Our own open, so that the error says why; libpsl only says no. */
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		fclose(fp);
		return NULL;
	}
	ctx = psl_load_fp(fp);
	fclose(fp);
	/*
	 * libpsl returns NULL for an empty file, and a list of no rules for
	 * one of comments only; under either, every name would be its own
	 * organizational domain. Refuse both. (Random bytes still load as a
	 * few rules: libpsl takes any line that is not a comment.)
	 */
	if (ctx == NULL || psl_suffix_count(ctx) <= 0) {
		snprintf(err, errlen, "%s: no public suffix rules in the file", path);
		if (ctx != NULL)
			psl_free(ctx);
		return NULL;
	}
	psl = xcalloc(1, sizeof(*psl));
	psl->ctx = ctx;
	return psl;
}

void
mp_psl_free(struct mp_psl **pslp)
{
	if (pslp == NULL || *pslp == NULL)
		return;
	psl_free((*pslp)->ctx);
	free(*pslp);
	*pslp = NULL;
}

bool
mp_psl_org_domain(const struct mp_psl *psl, const char *domain, char out[MP_DOMAIN_MAX])
{
	char norm[MP_DOMAIN_MAX];
	const char *reg;

	if (psl == NULL) {
		mp_log(LOG_CRIT, "mp_psl_org_domain: no Public Suffix List");
		abort();
	}
	/*
	 * libpsl trusts its input: "example.com." comes back as "com." and
	 * "a..b.com" as "b.com". Only a name that is already normalised
	 * gets an answer. (out may be domain itself: it is written last.)
	 */
	if (domain == NULL ||
	    !mp_domain_normalize_ex(domain, strlen(domain), norm, MP_DOMAIN_ALLOW_SINGLE, NULL) ||
	    strcmp(norm, domain) != 0 ||
	    (reg = psl_registrable_domain(psl->ctx, norm)) == NULL) {
		out[0] = '\0';
		return false;
	}
	return mp_strlcpy(out, reg, MP_DOMAIN_MAX);
}

bool
mp_domain_is_sub_or_same(const char *a, const char *b)
{
	size_t la, lb;

	if (a == NULL || b == NULL)
		return false;
	la = strlen(a);
	lb = strlen(b);
	if (lb == 0 || la < lb || mp_strcasecmp(a + la - lb, b) != 0)
		return false;
	return la == lb || a[la - lb - 1] == '.';
}

bool
mp_sender_pattern_parse(const char *s, size_t n, struct mp_sender_pattern *out,
    bool *bad_domain_r, const char **why_r)
{
	const char *at = memrchr(s, '@', n), *d = s;
	size_t dlen = n;

	memset(out, 0, sizeof(*out));
	*bad_domain_r = false;
	if (at != NULL) {
		size_t llen = (size_t)(at - s);

		if (llen >= sizeof(out->local)) {
			*why_r = "local part longer than 64 characters";
			return false;
		}
		for (size_t i = 0; i < llen; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c <= 0x20 || c >= 0x7f || c == '@') {
				*why_r = "local part with a space, an '@' or a byte that is not ASCII";
				return false;
			}
		}
		memcpy(out->local, s, llen);
		out->exact = true;
		d = at + 1;
		dlen = n - llen - 1;
	}
	if (!mp_domain_normalize(d, dlen, out->domain, why_r)) {
		*bad_domain_r = true;
		return false;
	}
	return true;
}
