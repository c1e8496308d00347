/*
 * dkim_tags: our own reading of DKIM-Signature fields and key records
 * (RFC 6376 3.2 tag-lists, 3.5 signature tags, 3.6.1 key records). What
 * we report (d=, s=, b=), the key name we query and the reasons for
 * neutral come from here, never from libopendkim's parser: libopendkim
 * keeps the last of two tags of one name and accepts some broken base64,
 * where RFC 6376 calls both an invalid signature. No network, no
 * library: the fuzzers reach it whole.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "dkim_int.h"

#define DK_MAX_TAGS 64          /* more than this in one list: invalid */

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int
dk_tag_next(const char *s, size_t len, size_t *off, struct dk_tag *t, const char **why)
{
	size_t p = *off, end;

	while (p < len && is_wsp((unsigned char)s[p]))
		p++;
	if (p == len)
		return 0;
	if (!mp_ascii_isalpha((unsigned char)s[p])) {
		*why = "a tag name is missing or does not start with a letter";
		return -1;
	}
	t->name = s + p;
	while (p < len && (mp_ascii_isalpha((unsigned char)s[p]) || mp_ascii_isdigit((unsigned char)s[p]) ||
	    s[p] == '_'))
		p++;
	t->name_len = (size_t)(s + p - t->name);
	while (p < len && is_wsp((unsigned char)s[p]))
		p++;
	if (p == len || s[p] != '=') {
		*why = "a tag has no '='";
		return -1;
	}
	p++;
	while (p < len && is_wsp((unsigned char)s[p]))
		p++;
	t->value = s + p;
	for (; p < len && s[p] != ';'; p++) {
		unsigned char c = (unsigned char)s[p];

		if (!is_wsp(c) && (c < 0x21 || c > 0x7e)) {
			*why = "a tag value has a byte that is not printable ASCII";
			return -1;
		}
	}
	for (end = p; end > (size_t)(t->value - s) && is_wsp((unsigned char)s[end - 1]); end--)
		;
	t->value_len = end - (size_t)(t->value - s);
	*off = p < len ? p + 1 : p;
	return 1;
}

bool
dk_tag_is(const struct dk_tag *t, const char *name)
{
	return t->name_len == strlen(name) && memcmp(t->name, name, t->name_len) == 0;
}

bool
dk_value_is(const struct dk_tag *t, const char *word)
{
	return t->value_len == strlen(word) && mp_strncasecmp(t->value, word, t->value_len) == 0;
}

/* v[0..n) without white space (FWS may fold any value) into out[outlen]. */
static bool
collapse(const char *v, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (is_wsp((unsigned char)v[i]))
			continue;
		if (o + 1 >= outlen)
			return false;
		out[o++] = v[i];
	}
	out[o] = '\0';
	return true;
}

/*
 * A base64string (RFC 6376 2.4, RFC 4648 4: padded to a multiple of four,
 * at most two '=' and only at the end); FWS anywhere. The decoded length
 * in *bytes. The first 8 characters into first[9] when not NULL.
 */
static bool
base64_ok(const char *v, size_t n, size_t *bytes, char *first)
{
	size_t chars = 0, pad = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (is_wsp(c))
			continue;
		if (c == '=') {
			if (++pad > 2)
				return false;
		} else if (pad > 0 || !(mp_ascii_isalpha(c) || mp_ascii_isdigit(c) || c == '+' || c == '/'))
			return false;
		if (first != NULL && chars < 8) {
			first[chars] = (char)c;
			first[chars + 1] = '\0';
		}
		chars++;
	}
	if (chars == 0 || chars % 4 != 0)
		return false;
	*bytes = chars / 4 * 3 - pad;
	return true;
}

static const struct {
	const char *name;
	enum dk_alg alg;
	size_t hash_len;            /* bh= decoded */
} algorithms[] = {
	{ "rsa-sha256", DK_ALG_RSA_SHA256, 32 },
	{ "ed25519-sha256", DK_ALG_ED25519_SHA256, 32 },
	{ "rsa-sha1", DK_ALG_RSA_SHA1, 20 },
};

/* A selector (RFC 6376 3.1): dot-separated labels of letters, digits,
 * hyphens (and underscores, which DNS allows and some senders use). */
static bool
selector_ok(const char *s)
{
	size_t label = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (mp_ascii_isalpha((unsigned char)*s) || mp_ascii_isdigit((unsigned char)*s) ||
		    *s == '-' || *s == '_') {
			if (++label > 63)
				return false;
		} else
			return false;
	}
	return label > 0;
}

/* c=: "simple" or "relaxed", optionally "/" and one of them again. */
static bool
canon_ok(const struct dk_tag *tg, bool *body_relaxed)
{
	char c[32], *slash;

	if (!collapse(tg->value, tg->value_len, c, sizeof(c)))
		return false;
	*body_relaxed = false;
	if ((slash = strchr(c, '/')) != NULL) {
		*slash++ = '\0';
		if (mp_strcasecmp(slash, "relaxed") == 0)
			*body_relaxed = true;
		else if (mp_strcasecmp(slash, "simple") != 0)
			return false;
	}
	return mp_strcasecmp(c, "simple") == 0 || mp_strcasecmp(c, "relaxed") == 0;
}

/* h=: From among the names (counted into *nfrom), and short enough for libopendkim. */
static const char *
hlist_why(const struct dk_tag *tg, unsigned *nfrom)
{
	size_t chars = 0, start = 0;
	unsigned from = 0;

	for (size_t i = 0; i <= tg->value_len; i++) {
		if (i < tg->value_len && !is_wsp((unsigned char)tg->value[i]))
			chars++;
		if (i == tg->value_len || tg->value[i] == ':') {
			size_t a = start, b = i;

			while (a < b && is_wsp((unsigned char)tg->value[a]))
				a++;
			while (b > a && is_wsp((unsigned char)tg->value[b - 1]))
				b--;
			if (b - a == 4 && mp_strncasecmp(tg->value + a, "from", 4) == 0)
				from++;
			start = i + 1;
		}
	}
	*nfrom = from;
	if (chars > DK_H_MAX)
		return "h= is longer than 4095 bytes";
	return from > 0 ? NULL : "h= does not name From";
}

/* q=: one of the methods must be dns/txt, the only one there is. */
static bool
query_ok(const struct dk_tag *tg)
{
	size_t start = 0;

	for (size_t i = 0; i <= tg->value_len; i++) {
		if (i == tg->value_len || tg->value[i] == ':') {
			char m[16];

			if (collapse(tg->value + start, i - start, m, sizeof(m)) &&
			    mp_strcasecmp(m, "dns/txt") == 0)
				return true;
			start = i + 1;
		}
	}
	return false;
}

/* l=: 1*76DIGIT that fits. */
static bool
length_ok(const struct dk_tag *tg, unsigned long long *l)
{
	unsigned long long v = 0;

	if (tg->value_len == 0 || tg->value_len > 76)
		return false;
	for (size_t i = 0; i < tg->value_len; i++) {
		unsigned d;

		if (!mp_ascii_isdigit((unsigned char)tg->value[i]))
			return false;
		d = (unsigned)(tg->value[i] - '0');
		if (v > (~0ULL - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*l = v;
	return true;
}

/* The tags every signature has (RFC 6376 3.5), as bits of struct sig_read. */
enum { T_V = 1, T_A = 2, T_B = 4, T_BH = 8, T_D = 16, T_H = 32, T_S = 64 };

struct sig_read {
	struct mp_dkim_sig *sig;
	struct dk_sigtags *t;
	bool ed25519;
	unsigned seen;
	const struct dk_tag *bh;
};

static const char *
read_alg(struct sig_read *r, const struct dk_tag *tg)
{
	char a[32];

	if (!collapse(tg->value, tg->value_len, a, sizeof(a)))
		return "a= names an unknown algorithm";
	for (size_t i = 0; i < MP_ARRAY_SIZE(algorithms); i++) {
		if (mp_strcasecmp(a, algorithms[i].name) != 0)
			continue;
		r->t->alg = algorithms[i].alg;
		mp_strlcpy(r->sig->algorithm, algorithms[i].name, sizeof(r->sig->algorithm));
		if (r->t->alg == DK_ALG_ED25519_SHA256 && !r->ed25519)
			return "ed25519-sha256 is not supported by this libopendkim";
		return NULL;
	}
	return "a= names an unknown algorithm";
}

static const char *
read_domain(struct sig_read *r, const struct dk_tag *tg)
{
	char d[MP_DOMAIN_MAX];

	if (!collapse(tg->value, tg->value_len, d, sizeof(d)) ||
	    !mp_domain_normalize(d, strlen(d), r->sig->domain, NULL))
		return "d= is not a domain name";
	return NULL;
}

static const char *
read_selector(struct sig_read *r, const struct dk_tag *tg)
{
	bool whole = collapse(tg->value, tg->value_len, r->t->selector, sizeof(r->t->selector));

	mp_printable_copy(r->sig->selector, sizeof(r->sig->selector), r->t->selector,
	    strlen(r->t->selector));
	return whole && selector_ok(r->t->selector) ? NULL : "s= is not a selector";
}

/* One tag of a signature: NULL, or why the signature cannot be verified. */
static const char *
read_sig_tag(struct sig_read *r, const struct dk_tag *tg)
{
	static const struct {
		const char *name;
		unsigned bit;
	} req[] = {
		{ "v", T_V }, { "a", T_A }, { "b", T_B }, { "bh", T_BH }, { "d", T_D },
		{ "h", T_H }, { "s", T_S },
	};
	size_t bytes;

	for (size_t i = 0; i < MP_ARRAY_SIZE(req); i++)
		if (dk_tag_is(tg, req[i].name))
			r->seen |= req[i].bit;
	if (dk_tag_is(tg, "v"))
		return dk_value_is(tg, "1") ? NULL : "v= is not 1";
	if (dk_tag_is(tg, "a"))
		return read_alg(r, tg);
	if (dk_tag_is(tg, "b"))
		return base64_ok(tg->value, tg->value_len, &bytes, r->sig->b) ? NULL :
		    "b= is not base64";
	if (dk_tag_is(tg, "bh")) {
		r->bh = tg;
		return NULL;
	}
	if (dk_tag_is(tg, "d"))
		return read_domain(r, tg);
	if (dk_tag_is(tg, "s"))
		return read_selector(r, tg);
	if (dk_tag_is(tg, "h"))
		return hlist_why(tg, &r->t->h_from);
	if (dk_tag_is(tg, "c"))
		return canon_ok(tg, &r->t->body_relaxed) ? NULL : "c= names an unknown canonicalization";
	if (dk_tag_is(tg, "l")) {
		r->t->has_l = true;
		return length_ok(tg, &r->t->l) ? NULL : "l= is not a length";
	}
	if (dk_tag_is(tg, "q"))
		return query_ok(tg) ? NULL : "q= has no dns/txt";
	return NULL;    /* i=, t=, x= are libopendkim's; others are ignored */
}

/* Two tags of one name make the list invalid (RFC 6376 3.2). */
static bool
duplicate(const struct dk_tag *tags, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tags[i].name_len == tags[n].name_len &&
		    memcmp(tags[i].name, tags[n].name, tags[n].name_len) == 0)
			return true;
	return false;
}

/* The whole list: NULL, or the first reason it cannot be verified. */
static const char *
read_sig(struct sig_read *r, const char *v, size_t n)
{
	struct dk_tag tags[DK_MAX_TAGS];
	const char *why = NULL, *first = NULL;
	size_t off = 0, nt = 0, bytes;
	int rc;

	while ((rc = dk_tag_next(v, n, &off, &tags[nt], &why)) == 1) {
		if (duplicate(tags, nt))
			return "a tag appears twice";
		why = read_sig_tag(r, &tags[nt]);
		if (first == NULL)
			first = why;
		if (++nt == DK_MAX_TAGS)
			return "more than 64 tags";
	}
	if (rc < 0)
		return why;
	if (first != NULL)
		return first;
	if ((r->seen & (T_V | T_A | T_B | T_BH | T_D | T_H | T_S)) !=
	    (T_V | T_A | T_B | T_BH | T_D | T_H | T_S))
		return "a required tag is missing";
	for (size_t i = 0; i < MP_ARRAY_SIZE(algorithms); i++)
		if (algorithms[i].alg == r->t->alg &&
		    (!base64_ok(r->bh->value, r->bh->value_len, &bytes, NULL) ||
		    bytes != algorithms[i].hash_len))
			return "bh= is not a base64 hash";
	return NULL;
}

void
dk_sigtags_parse(const char *v, size_t n, bool ed25519, struct mp_dkim_sig *sig,
    struct dk_sigtags *t)
{
	struct sig_read r = { sig, t, ed25519, 0, NULL };
	const char *why;

	memset(t, 0, sizeof(*t));
	sig->domain[0] = sig->selector[0] = sig->b[0] = sig->algorithm[0] = '\0';
	if ((why = read_sig(&r, v, n)) != NULL)
		mp_setf(t->error, sizeof(t->error), "signature syntax: %s", why);
}

bool
dk_key_name(const struct mp_dkim_sig *sig, const struct dk_sigtags *t, char *out,
    size_t outlen)
{
	int n;

	if (sig->domain[0] == '\0' || t->selector[0] == '\0')
		return false;
	n = snprintf(out, outlen, "%s._domainkey.%s", t->selector, sig->domain);
	return n > 0 && (size_t)n < outlen && n <= 253;
}

bool
dk_keyrec_parse(const char *s, size_t n, struct dk_keyrec *k)
{
	struct dk_tag tg;
	const char *why;
	size_t off = 0, ntags = 0;
	bool p = false;
	int rc;

	memset(k, 0, sizeof(*k));
	while ((rc = dk_tag_next(s, n, &off, &tg, &why)) == 1) {
		/* v=, when there, is DKIM1 and comes first (RFC 6376 3.6.1). */
		if (dk_tag_is(&tg, "v") && (ntags > 0 || !dk_value_is(&tg, "DKIM1")))
			return false;
		if (dk_tag_is(&tg, "k"))
			k->ed25519 = dk_value_is(&tg, "ed25519");
		if (dk_tag_is(&tg, "p")) {
			p = true;
			k->p_len = tg.value_len;
		}
		if (++ntags > DK_MAX_TAGS)
			return false;
	}
	return rc == 0 && p;
}
