/*
 * spf_syntax: the strict RFC 7208 syntax of names and records (section
 * 12 ABNF). libspf2 accepts many malformed records, so every record is
 * checked here before libspf2 sees it; the term splitter here is the one
 * every part that reads a record goes through.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spf_int.h"

/* ------------------------------------------------------------------ */
/* Names                                                                */

/*
 * toplabel = ( *alphanum ALPHA *alphanum ) /
 *            ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
 * so an all-numeric last label (an IPv4 address) is never a domain.
 */
static bool
toplabel_ok(const char *s, size_t n)
{
	bool alpha = false, hyphen = false;

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_alpha(c))
			alpha = true;
		else if (c == '-') {
			if (i == 0 || i == n - 1)
				return false;
			hyphen = true;
		} else if (!is_digit(c))
			return false;
	}
	return alpha || hyphen;
}

/*
 * The domain of an identity (RFC 7208 4.3): labels of letters, digits,
 * hyphens and underscores, 1-63 bytes each, at most 253 bytes without an
 * optional trailing dot, at least two labels, a valid top label. Anything
 * else (a domain literal, a bare host name) gives "none".
 */
bool
spf_identity_domain_ok(const char *d, char out[SPF_NAME_MAX + 1], const char **why_r)
{
	size_t len = strlen(d), start = 0, labels = 0;

	if (len > 0 && d[len - 1] == '.')
		len--;
	if (len == 0) {
		*why_r = "empty domain";
		return false;
	}
	if (len > SPF_NAME_MAX) {
		*why_r = "domain longer than 253 bytes";
		return false;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i == len || d[i] == '.') {
			size_t n = i - start;

			if (n == 0) {
				*why_r = "empty label in domain";
				return false;
			}
			if (n > 63) {
				*why_r = "label longer than 63 bytes in domain";
				return false;
			}
			labels++;
			if (i == len && !toplabel_ok(d + start, n)) {
				*why_r = "invalid top-level label in domain";
				return false;
			}
			start = i + 1;
			continue;
		}
		if (!is_alnum((unsigned char)d[i]) && d[i] != '-' && d[i] != '_') {
			*why_r = "invalid character in domain";
			return false;
		}
	}
	if (labels < 2) {
		*why_r = "domain has a single label";
		return false;
	}
	memcpy(out, d, len);
	out[len] = '\0';
	return true;
}

/*
 * A name to query, as produced by macro expansion or taken from an MX or
 * PTR answer. A name that cannot exist in the DNS (an empty or overlong
 * label, a top label that is not a valid top label) is answered as
 * "does not exist" without a query, as the suite and RFC 7208 4.8 expect
 * (the term then simply does not match).
 */
bool
spf_query_name_ok(const char *name, char out[SPF_NAME_MAX + 1])
{
	size_t len = strlen(name), start = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > SPF_NAME_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			size_t n = i - start;

			if (n == 0 || n > 63)
				return false;
			if (i == len && !toplabel_ok(name + start, n))
				return false;
			start = i + 1;
			continue;
		}
		if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e || name[i] == '\\')
			return false;
	}
	memcpy(out, name, len);
	out[len] = '\0';
	return true;
}

/* ------------------------------------------------------------------ */
/* Record syntax (RFC 7208 section 12)                                  */

static bool
why_set(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool
why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return false;
}

/*
 * domain-spec = macro-string domain-end
 * domain-end  = ( "." toplabel [ "." ] ) / macro-expand
 */
static bool
domain_spec_ok(const char *s, size_t n, const char **why_r)
{
	bool ends_macro;
	size_t end, dot;

	if (n == 0) {
		*why_r = "empty domain-spec";
		return false;
	}
	if (!spf_macro_string_ok(s, n, false, &ends_macro, why_r))
		return false;
	if (ends_macro)
		return true;
	end = n;
	if (s[end - 1] == '.')
		end--;
	/* the top label must be plain text after the last dot */
	for (dot = end; dot > 0 && s[dot - 1] != '.'; dot--) {
		if (s[dot - 1] == '}' || s[dot - 1] == '%') {
			*why_r = "domain-spec does not end in a valid top label";
			return false;
		}
	}
	if (dot == 0 || !toplabel_ok(s + dot, end - dot)) {
		*why_r = "domain-spec does not end in a valid top label";
		return false;
	}
	return true;
}

/* "/" followed by a decimal without leading zeros, at most max. */
static bool
cidr_ok(const char *s, size_t n, unsigned max)
{
	unsigned v = 0;

	if (n < 2 || s[0] != '/' || n > 4)
		return false;
	if (s[1] == '0' && n > 2)
		return false;
	for (size_t i = 1; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= max;
}

static size_t
digits_suffix(const char *s, size_t n)
{
	size_t k = 0;

	while (k < n && is_digit((unsigned char)s[n - 1 - k]))
		k++;
	return k;
}

/*
 * The value of the k digits at s, checked by cidr_ok() (at most 3). Not
 * atoi(): the argument is a slice of the record, with no NUL after it
 * when the caller passed a length.
 */
static int
digits_value(const char *s, size_t k)
{
	int v = 0;

	for (size_t i = 0; i < k; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/*
 * Splits "[:domain-spec][dual-cidr]" (the argument of a and mx) into the
 * domain-spec and the two prefix lengths (-1 when absent).
 */
bool
spf_split_dual_cidr(const char *arg, size_t n, size_t *dlen_r, int *c4_r, int *c6_r, const char **why_r)
{
	size_t k;

	*c4_r = *c6_r = -1;
	k = digits_suffix(arg, n);
	if (k > 0 && n >= k + 2 && arg[n - k - 1] == '/' && arg[n - k - 2] == '/') {
		if (!cidr_ok(arg + n - k - 1, k + 1, 128)) {
			*why_r = "invalid IPv6 prefix length";
			return false;
		}
		*c6_r = digits_value(arg + n - k, k);
		n -= k + 2;
		k = digits_suffix(arg, n);
	}
	if (k > 0 && n >= k + 1 && arg[n - k - 1] == '/') {
		if (!cidr_ok(arg + n - k - 1, k + 1, 32)) {
			*why_r = "invalid IPv4 prefix length";
			return false;
		}
		*c4_r = digits_value(arg + n - k, k);
		n -= k + 1;
	}
	*dlen_r = n;
	return true;
}

/* qnum, without leading zeros */
static bool
ip4_network_ok(const char *s, size_t n, struct in_addr *a)
{
	char buf[16];
	size_t parts = 0, dlen = 0;

	if (n == 0 || n >= sizeof(buf))
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			/* inet_pton below rejects values over 255 */
			if (dlen == 0 || dlen > 3 || (dlen > 1 && s[i - dlen] == '0'))
				return false;
			parts++;
			dlen = 0;
		} else if (is_digit((unsigned char)s[i]))
			dlen++;
		else
			return false;
	}
	if (parts != 4)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, a) == 1;
}

/* Splits one space-free term. */
static void
term_split(const char *s, size_t n, struct term *t)
{
	size_t i = 0;

	memset(t, 0, sizeof(*t));
	/* name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) followed by '=' makes a modifier */
	while (i < n && (is_alnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.'))
		i++;
	if (i < n && s[i] == '=') {
		t->modifier = true;
		t->name = s;
		t->name_len = i;
		t->arg = s + i + 1;
		t->arg_len = n - i - 1;
		return;
	}
	i = 0;
	t->qual = '+';
	if (n > 0 && strchr("+-~?", s[0]) != NULL) {
		t->qual = s[0];
		i = 1;
	}
	t->name = s + i;
	while (i < n && s[i] != ':' && s[i] != '/')
		i++;
	t->name_len = (size_t)((s + i) - t->name);
	t->arg = s + i;
	t->arg_len = n - i;
}

void
spf_terms_init(struct term_iter *it, const char *record, size_t len)
{
	/* past "v=spf1", which the caller has checked */
	it->p = record + (len < 6 ? len : 6);
	it->end = record + len;
}

/* The next term (spaces before it skipped), or false at the end. */
bool
spf_term_next(struct term_iter *it, struct term *t)
{
	const char *s;

	while (it->p < it->end && *it->p == ' ')
		it->p++;
	s = it->p;
	while (it->p < it->end && *it->p != ' ')
		it->p++;
	if (it->p == s)
		return false;
	term_split(s, (size_t)(it->p - s), t);
	t->text = s;
	t->len = (size_t)(it->p - s);
	return true;
}

/* The mechanisms that query the DNS, counted by RFC 7208 4.6.4. */
bool
spf_term_is_dns(const struct term *t)
{
	return !t->modifier && (name_is(t, "a") || name_is(t, "mx") || name_is(t, "ptr") ||
	    name_is(t, "exists") || name_is(t, "include"));
}

/* The argument of ip4 (v6 false) or ip6: ":" ip-network [ cidr-length ]. */
static bool
ip_arg_ok(const char *a, size_t n, bool v6, const char **why_r)
{
	const char *slash;
	size_t netlen;

	if (n < 2 || a[0] != ':') {
		*why_r = "ip4 and ip6 need \":address\"";
		return false;
	}
	a++;
	n--;
	slash = memchr(a, '/', n);
	netlen = slash ? (size_t)(slash - a) : n;
	if (slash != NULL && !cidr_ok(slash, n - netlen, v6 ? 128 : 32)) {
		*why_r = v6 ? "invalid IPv6 prefix length" : "invalid IPv4 prefix length";
		return false;
	}
	if (v6) {
		char buf[INET6_ADDRSTRLEN + 1];
		struct in6_addr a6;

		if (netlen == 0 || netlen >= sizeof(buf)) {
			*why_r = "invalid IPv6 address";
			return false;
		}
		memcpy(buf, a, netlen);
		buf[netlen] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1) {
			*why_r = "invalid IPv6 address";
			return false;
		}
	} else {
		struct in_addr a4;

		if (!ip4_network_ok(a, netlen, &a4)) {
			*why_r = "invalid IPv4 address";
			return false;
		}
	}
	return true;
}

static bool
term_valid(const struct term *t, bool *seen_redirect, bool *seen_exp, const char **why_r)
{
	const char *a = t->arg;
	size_t n = t->arg_len, dlen;
	int c4, c6;

	if (t->modifier) {
		if (t->name_len == 0 || !is_alpha((unsigned char)t->name[0])) {
			*why_r = "invalid modifier name";
			return false;
		}
		if (name_is(t, "redirect") || name_is(t, "exp")) {
			bool *seen = name_is(t, "redirect") ? seen_redirect : seen_exp;

			if (*seen) {
				*why_r = name_is(t, "redirect") ? "redirect= appears twice" : "exp= appears twice";
				return false;
			}
			*seen = true;
			return domain_spec_ok(a, n, why_r);
		}
		return spf_macro_string_ok(a, n, false, NULL, why_r);
	}
	if (name_is(t, "all")) {
		if (n != 0) {
			*why_r = "\"all\" takes no argument";
			return false;
		}
		return true;
	}
	if (name_is(t, "include") || name_is(t, "exists")) {
		if (n < 1 || a[0] != ':') {
			*why_r = "include and exists need \":domain\"";
			return false;
		}
		return domain_spec_ok(a + 1, n - 1, why_r);
	}
	if (name_is(t, "a") || name_is(t, "mx")) {
		if (!spf_split_dual_cidr(a, n, &dlen, &c4, &c6, why_r))
			return false;
		if (dlen == 0)
			return true;
		if (a[0] != ':') {
			*why_r = "invalid argument of a or mx";
			return false;
		}
		return domain_spec_ok(a + 1, dlen - 1, why_r);
	}
	if (name_is(t, "ptr")) {
		if (n == 0)
			return true;
		if (a[0] != ':') {
			*why_r = "invalid argument of ptr";
			return false;
		}
		return domain_spec_ok(a + 1, n - 1, why_r);
	}
	if (name_is(t, "ip4") || name_is(t, "ip6"))
		return ip_arg_ok(a, n, name_is(t, "ip6"), why_r);
	*why_r = "unknown mechanism";
	return false;
}

bool
mp_spf_record_valid(const char *record, size_t len, char *why, size_t whylen)
{
	bool seen_redirect = false, seen_exp = false;
	struct term_iter it;
	struct term t;
	const char *w;
	size_t i;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (record == NULL)
		return why_set(why, whylen, "no record");
	if (len > SPF_RECORD_MAX)
		return why_set(why, whylen, "record longer than %d bytes", SPF_RECORD_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)record[i];

		if (c < 0x20 || c > 0x7e)
			return why_set(why, whylen, "byte 0x%02x at offset %zu: records are printable ASCII", c, i);
	}
	if (len < 6 || mp_strncasecmp(record, "v=spf1", 6) != 0 || (len > 6 && record[6] != ' '))
		return why_set(why, whylen, "does not start with \"v=spf1 \"");
	spf_terms_init(&it, record, len);
	while (spf_term_next(&it, &t)) {
		if (!term_valid(&t, &seen_redirect, &seen_exp, &w)) {
			struct mp_buf b = MP_BUF_INIT;

			mp_printable(&b, t.text, t.len, MP_SHOW_TERM);
			why_set(why, whylen, "%s in \"%s\"", w, mp_buf_str(&b));
			mp_buf_free(&b);
			return false;
		}
	}
	return true;
}

/* True when a TXT string is an SPF version 1 record (RFC 7208 4.5). */
bool
spf_is_spf1(const char *s, size_t n)
{
	return n >= 6 && mp_strncasecmp(s, "v=spf1", 6) == 0 && (n == 6 || s[6] == ' ');
}
