/*
 * spf: RFC 7208 check_host() with libspf2 doing the evaluation and our
 * own DNS layer (over dns.c) under it.
 *
 * libspf2 1.2.10 gets a number of things wrong that a plain DNS layer
 * could not fix, so this file does more than feed it answers:
 *
 *  - It fetches and selects every SPF record itself (the top record here,
 *    the records of include and redirect targets through the get_spf hook
 *    of the DNS layer), and validates each against the RFC 7208 section 12
 *    ABNF before libspf2 compiles it. libspf2 accepts many malformed
 *    records (bad top labels, non-ASCII bytes, control characters, "%"
 *    not followed by a valid macro, unknown modifiers with bad names,
 *    duplicate redirect/exp, ...), and it reports a syntax error and a
 *    missing record alike as SPF_E_NOT_SPF.
 *  - It counts the DNS-querying terms over the whole evaluation. libspf2
 *    counts per record: its counter restarts inside every include, so an
 *    include chain is never stopped at 10, and it lets the 11th lookup
 *    happen before it checks.
 *  - It counts void lookups (RFC 7208 4.6.4); libspf2 has no such limit.
 *  - It applies the MX and PTR name limits the RFC 7208 way: more than 10
 *    MX names is a permerror, more than 10 PTR names are cut to 10 (libspf2
 *    gives permerror for PTR too, although the sender does not control the
 *    PTR records of the client).
 *  - A PTR name (ptr mechanism, %{p}) that does not exist just does not
 *    match. A timeout in the ptr and %{p} lookups ends the check with
 *    temperror at once (RFC 7208 5.5 would skip the name, and a sender's
 *    zone that never answers would then hold the check until the deadline,
 *    spending the DMARC lookup's budget: issue 11); other failures there
 *    are skipped as RFC 7208 5.5 says, counted as void lookups. libspf2
 *    turns all of them into temperror.
 *  - It expands domain-specs with ',' or '/' delimiters or an 'R'
 *    transformer itself (RFC 7208 7.1 allows them; libspf2 refuses them):
 *    see MACRO_MARK.
 *  - It bypasses libspf2's "localhost always passes" rule by calling
 *    SPF_record_interpret() directly.
 *  - It keeps a deadline: once it has passed, every lookup fails and the
 *    result is temperror.
 *  - It fetches and expands the exp= text itself (get_exp hook): exactly
 *    one TXT record, ASCII only, valid macros, else no explanation (RFC
 *    7208 6.2), never counted as a lookup. libspf2 takes the first of
 *    several records, and its expansion of such a text leaves the macros
 *    literal and turns spaces into '%'.
 *  - It rewrites the copy of each record that libspf2 compiles
 *    (libspf2_copy): libspf2 refuses prefix lengths of 0 and unknown
 *    modifiers with '-', '_' or '.' in their names, and follows redirect=
 *    even when the record has "all".
 *  - It truncates expanded names over 253 bytes on the left (RFC 7208
 *    7.3), unescapes MX and PTR target names, and answers a name that
 *    cannot exist (bad top label, empty label) as NXDOMAIN.
 *
 * How our layer stops libspf2: when it decides the result (a limit, a
 * syntax error, a DNS failure) it records that result in the per-check
 * state and answers this and every later lookup with TRY_AGAIN, so that
 * libspf2 unwinds with a temporary error; the recorded result then
 * replaces whatever libspf2 returned. Since libspf2 evaluates terms
 * strictly left to right and asks the DNS layer at the moment it reaches
 * a term, an error is only raised when the evaluation really gets there.
 *
 * Per-check state: the lookup callback of libspf2 gets no request
 * context, so every check builds its own SPF_server_t over its own DNS
 * layer whose hook points to the state. SPF_server_new_dns with
 * SPF_server_free costs about 0.5 microseconds (measured over 10000
 * rounds), nothing next to one DNS round trip, and it keeps checks in
 * different threads fully apart without thread-local globals.
 */
#include "config.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <spf2/spf.h>

#include "dns.h"
#include "log.h"
#include "spf.h"
#include "util.h"

#define SPF_MAX_TERMS   10      /* DNS-querying terms per check (RFC 7208 4.6.4) */
#define SPF_MAX_VOID    2       /* void lookups per check (RFC 7208 4.6.4) */
#define SPF_MAX_NAMES   10      /* MX or PTR names looked up per term */
#define SPF_MAX_DEPTH   20      /* include/redirect nesting for inspect (the 10-term limit stops first) */
#define SPF_RECORD_MAX  2048    /* a longer record is refused: a cap on hostile data */
#define SPF_NAME_MAX    253

struct mp_spf {
	struct mp_dns *dns;
};

const char *
mp_spf_result_str(enum mp_spf_result r)
{
	switch (r) {
	case MP_SPF_NONE:      return "none";
	case MP_SPF_NEUTRAL:   return "neutral";
	case MP_SPF_PASS:      return "pass";
	case MP_SPF_FAIL:      return "fail";
	case MP_SPF_SOFTFAIL:  return "softfail";
	case MP_SPF_TEMPERROR: return "temperror";
	case MP_SPF_PERMERROR: return "permerror";
	}
	return "permerror";
}

struct mp_spf *
mp_spf_new(struct mp_dns *dns)
{
	struct mp_spf *spf = xcalloc(1, sizeof(*spf));

	spf->dns = dns;
	return spf;
}

void
mp_spf_free(struct mp_spf **spfp)
{
	if (spfp == NULL || *spfp == NULL)
		return;
	free(*spfp);
	*spfp = NULL;
}

/* ------------------------------------------------------------------ */
/* Character classes and names                                          */

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

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
static bool
identity_domain_ok(const char *d, char out[SPF_NAME_MAX + 1], const char **why_r)
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
static bool
query_name_ok(const char *name, char out[SPF_NAME_MAX + 1])
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
 * macro-string = *( macro-expand / macro-literal )
 * macro-expand = ( "%{" macro-letter transformers *delimiter "}" )
 *                / "%%" / "%_" / "%-"
 * exp_letters: also allow c, r, t (only in explanation text).
 * *ends_macro_r tells whether the string ends with a macro-expand.
 */
static bool
macro_string_ok(const char *s, size_t n, bool exp_letters, bool *ends_macro_r, const char **why_r)
{
	bool ends_macro = false;

	for (size_t i = 0; i < n; ) {
		unsigned char c = (unsigned char)s[i];

		if (c != '%') {
			if (c < 0x21 || c > 0x7e) {
				*why_r = "invalid character";
				return false;
			}
			ends_macro = false;
			i++;
			continue;
		}
		if (i + 1 >= n) {
			*why_r = "'%' at the end";
			return false;
		}
		c = (unsigned char)s[i + 1];
		if (c == '%' || c == '_' || c == '-') {
			ends_macro = true;
			i += 2;
			continue;
		}
		if (c != '{') {
			*why_r = "'%' not followed by '{', '%', '_' or '-'";
			return false;
		}
		i += 2;
		if (i >= n) {
			*why_r = "unterminated macro";
			return false;
		}
		c = (unsigned char)s[i];
		switch (c | 0x20) {
		case 's': case 'l': case 'o': case 'd': case 'i': case 'p': case 'h': case 'v':
			break;
		case 'c': case 'r': case 't':
			if (exp_letters)
				break;
			*why_r = "macro letter c, r or t outside an explanation";
			return false;
		default:
			*why_r = "unknown macro letter";
			return false;
		}
		i++;
		if (i < n && is_digit((unsigned char)s[i])) {
			unsigned v = 0;
			size_t d = 0;

			while (i < n && is_digit((unsigned char)s[i])) {
				if (++d > 3) {
					*why_r = "macro digit transformer too large";
					return false;
				}
				v = v * 10 + (unsigned)(s[i] - '0');
				i++;
			}
			if (v == 0) {
				*why_r = "macro digit transformer of zero";
				return false;
			}
		}
		if (i < n && (s[i] == 'r' || s[i] == 'R'))
			i++;
		while (i < n && strchr(".-+,/_=", s[i]) != NULL && s[i] != '\0')
			i++;
		if (i >= n || s[i] != '}') {
			*why_r = "invalid macro";
			return false;
		}
		i++;
		ends_macro = true;
	}
	if (ends_macro_r != NULL)
		*ends_macro_r = ends_macro;
	return true;
}

/* explanation-string = *( macro-string / SP ), where c, r and t are allowed */
static bool
macro_string_ok_exp(const char *s, size_t n, const char **why_r)
{
	size_t i = 0;

	while (i < n) {
		size_t start;

		if (s[i] == ' ') {
			i++;
			continue;
		}
		start = i;
		while (i < n && s[i] != ' ')
			i++;
		if (!macro_string_ok(s + start, i - start, true, NULL, why_r))
			return false;
	}
	return true;
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
	if (!macro_string_ok(s, n, false, &ends_macro, why_r))
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
 * Splits "[:domain-spec][dual-cidr]" (the argument of a and mx) into the
 * domain-spec and the two prefix lengths (-1 when absent).
 */
static bool
split_dual_cidr(const char *arg, size_t n, size_t *dlen_r, int *c4_r, int *c6_r, const char **why_r)
{
	size_t k;

	*c4_r = *c6_r = -1;
	k = digits_suffix(arg, n);
	if (k > 0 && n >= k + 2 && arg[n - k - 1] == '/' && arg[n - k - 2] == '/') {
		if (!cidr_ok(arg + n - k - 1, k + 1, 128)) {
			*why_r = "invalid IPv6 prefix length";
			return false;
		}
		*c6_r = atoi(arg + n - k);
		n -= k + 2;
		k = digits_suffix(arg, n);
	}
	if (k > 0 && n >= k + 1 && arg[n - k - 1] == '/') {
		if (!cidr_ok(arg + n - k - 1, k + 1, 32)) {
			*why_r = "invalid IPv4 prefix length";
			return false;
		}
		*c4_r = atoi(arg + n - k);
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

/* One term of a record, split but not yet checked. */
struct term {
	char qual;              /* '+', '-', '~', '?' (implicit '+') */
	bool modifier;
	const char *name;       /* mechanism or modifier name */
	size_t name_len;
	const char *arg;        /* after the name: ":..." or "/..." for mechanisms, the value for modifiers */
	size_t arg_len;
};

static bool
name_is(const struct term *t, const char *n)
{
	return t->name_len == strlen(n) && mp_strncasecmp(t->name, n, t->name_len) == 0;
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
		return macro_string_ok(a, n, false, NULL, why_r);
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
		if (!split_dual_cidr(a, n, &dlen, &c4, &c6, why_r))
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
	if (name_is(t, "ip4") || name_is(t, "ip6")) {
		bool v6 = name_is(t, "ip6");
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
	*why_r = "unknown mechanism";
	return false;
}

bool
mp_spf_record_valid(const char *record, size_t len, char *why, size_t whylen)
{
	bool seen_redirect = false, seen_exp = false;
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
	for (i = 6; i < len; ) {
		struct term t;
		const char *w;
		size_t s;

		while (i < len && record[i] == ' ')
			i++;
		if (i >= len)
			break;
		s = i;
		while (i < len && record[i] != ' ')
			i++;
		term_split(record + s, i - s, &t);
		if (!term_valid(&t, &seen_redirect, &seen_exp, &w)) {
			struct mp_buf b = MP_BUF_INIT;

			mp_printable(&b, record + s, i - s, 80);
			why_set(why, whylen, "%s in \"%s\"", w, mp_buf_str(&b));
			mp_buf_free(&b);
			return false;
		}
	}
	return true;
}

/* True when a TXT string is an SPF version 1 record (RFC 7208 4.5). */
static bool
is_spf1(const char *s, size_t n)
{
	return n >= 6 && mp_strncasecmp(s, "v=spf1", 6) == 0 && (n == 6 || s[6] == ' ');
}

/* ------------------------------------------------------------------ */
/* Fetching a record                                                    */

enum fetch_status { FETCH_OK, FETCH_NONE, FETCH_PERM, FETCH_TEMP };

struct fetched {
	enum fetch_status status;
	bool void_lookup;       /* NXDOMAIN or NODATA (not: TXT without SPF) */
	int nrecords;
	char *text;             /* the record, NUL-terminated (validated: no NUL inside) */
	size_t len;             /* its length, also when invalid */
	char shown[1024];       /* printable copy, for inspect */
	char why[256];
};

static enum mp_dns_status
dns_query(struct mp_dns *dns, const struct mp_deadline *deadline, const char *name,
    enum mp_dns_type type, struct mp_dns_result **res_r)
{
	char qname[SPF_NAME_MAX + 1];
	struct mp_dns_result *res;
	enum mp_dns_status st;
	size_t have = 0, len;

	*res_r = NULL;
	if (*name == '\0')
		return MP_DNS_NXDOMAIN;
	/*
	 * RFC 7208 7.3: an expanded name over 253 bytes (a trailing dot
	 * aside) loses labels on the left. The loop runs only while len >
	 * SPF_NAME_MAX, so name[len - 1] is in bounds; a name that would lose
	 * every label (one long label and a dot) names nothing.
	 */
	len = strlen(name);
	while (len > SPF_NAME_MAX && !(len == SPF_NAME_MAX + 1 && name[len - 1] == '.')) {
		const char *dot = strchr(name, '.');

		if (dot == NULL || dot[1] == '\0')
			return MP_DNS_NXDOMAIN;
		len -= (size_t)(dot + 1 - name);
		name = dot + 1;
	}
	if (!query_name_ok(name, qname))
		return MP_DNS_NXDOMAIN;
	if (mp_deadline_expired(deadline))
		return MP_DNS_TIMEOUT;
	res = mp_dns_query(dns, deadline, qname, type);
	st = res->status;
	if (st == MP_DNS_OK) {
		for (size_t i = 0; i < res->count; i++)
			if (res->rr[i].type == type)
				have++;
		if (have == 0)
			st = MP_DNS_NODATA;
	}
	*res_r = res;
	return st;
}

static void
fetch_record(struct mp_dns *dns, const struct mp_deadline *deadline, const char *domain,
    struct fetched *f)
{
	struct mp_dns_result *res;
	enum mp_dns_status st;
	const struct mp_dns_rr *found = NULL;
	struct mp_buf b = MP_BUF_INIT, shown = MP_BUF_INIT;

	memset(f, 0, sizeof(*f));
	/* The name may come from macros the peer filled: printable in reasons. */
	mp_printable(&shown, domain, strlen(domain), 255);
	st = dns_query(dns, deadline, domain, MP_DNS_TXT, &res);
	switch (st) {
	case MP_DNS_OK:
		break;
	case MP_DNS_NXDOMAIN:
	case MP_DNS_NODATA:
		f->status = FETCH_NONE;
		f->void_lookup = true;
		snprintf(f->why, sizeof(f->why), "%s: %s", mp_buf_str(&shown),
		    st == MP_DNS_NXDOMAIN ? "domain does not exist" : "no TXT record");
		mp_dns_result_free(&res);
		mp_buf_free(&shown);
		return;
	default:
		f->status = FETCH_TEMP;
		snprintf(f->why, sizeof(f->why), "DNS %s looking up TXT %s",
		    mp_dns_status_str(st), mp_buf_str(&shown));
		mp_dns_result_free(&res);
		mp_buf_free(&shown);
		return;
	}
	for (size_t i = 0; i < res->count; i++) {
		const struct mp_dns_rr *rr = &res->rr[i];

		if (rr->type != MP_DNS_TXT || !is_spf1(rr->text, rr->text_len))
			continue;
		if (found == NULL)
			found = rr;
		f->nrecords++;
	}
	if (found == NULL) {
		f->status = FETCH_NONE;
		snprintf(f->why, sizeof(f->why), "%s: no SPF record among its TXT records",
		    mp_buf_str(&shown));
		mp_dns_result_free(&res);
		mp_buf_free(&shown);
		return;
	}
	f->len = found->text_len;
	mp_printable(&b, found->text, found->text_len, sizeof(f->shown) - 8);
	mp_strlcpy(f->shown, mp_buf_str(&b), sizeof(f->shown));
	mp_buf_free(&b);
	if (f->nrecords > 1) {
		f->status = FETCH_PERM;
		snprintf(f->why, sizeof(f->why), "%s publishes %d SPF records; it must publish one",
		    mp_buf_str(&shown), f->nrecords);
	} else {
		char why[200];

		if (!mp_spf_record_valid(found->text, found->text_len, why, sizeof(why))) {
			f->status = FETCH_PERM;
			snprintf(f->why, sizeof(f->why), "invalid SPF record at %s: %s",
			    mp_buf_str(&shown), why);
		} else {
			f->status = FETCH_OK;
			f->text = xstrndup(found->text, found->text_len);
		}
	}
	mp_dns_result_free(&res);
	mp_buf_free(&shown);
}

static void
fetched_clear(struct fetched *f)
{
	free(f->text);
	f->text = NULL;
}

/* ------------------------------------------------------------------ */
/* The DNS layer under libspf2                                          */

/*
 * libspf2 cannot compile a prefix length of 0 ("a/0", "mx//0", "ip4:x/0":
 * "Invalid CIDR length"), although RFC 7208 allows it. The copy of the
 * record we hand to libspf2 replaces "a:D/0" by "a:D.mp-cidr0.invalid";
 * the DNS layer recognises the marker, looks up D itself, and answers with
 * the client's own address when D has any address of the client's family,
 * which is exactly what a prefix length of 0 means.
 */
struct client {
	int family;
	struct in_addr v4;
	struct in6_addr v6;
};

#define CIDR0_MARK ".mp-cidr0.invalid"

/* Is name marked with CIDR0_MARK? *n_r: its length without the mark. */
static bool
cidr0_marked(const char *name, size_t *n_r)
{
	size_t n = strlen(name), m = strlen(CIDR0_MARK);

	if (n > m && name[n - 1] == '.')
		n--;
	if (n > m && mp_strncasecmp(name + n - m, CIDR0_MARK, m) == 0) {
		*n_r = n - m;
		return true;
	}
	*n_r = strlen(name);
	return false;
}

/*
 * name[0..n) into out. Too long for out: drop whole labels on the left,
 * as RFC 7208 7.3 does. Never cut on the right: that would drop the real
 * domain and query a name made only of macro text the sender chose.
 */
static void
cut_left(const char *name, size_t n, char *out, size_t outlen)
{
	while (n >= outlen) {
		const char *dot = memchr(name, '.', n);

		if (dot == NULL) {
			n = 0;
			break;
		}
		n -= (size_t)(dot + 1 - name);
		name = dot + 1;
	}
	memcpy(out, name, n);
	out[n] = '\0';
}

/*
 * dns.c writes odd bytes of rdata names as \DDD. A name whose escapes
 * are all printable (':' and '/' in the suite) is unescaped so that it
 * can be queried; a '.' or a space inside a label stays escaped, which
 * query_name_ok() then refuses (the name cannot be looked up as such).
 */
static void
unescape_name(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; in[i] != '\0' && o + 1 < outlen; i++) {
		if (in[i] == '\\' && is_digit((unsigned char)in[i + 1]) &&
		    is_digit((unsigned char)in[i + 2]) && is_digit((unsigned char)in[i + 3])) {
			int v = (in[i + 1] - '0') * 100 + (in[i + 2] - '0') * 10 + (in[i + 3] - '0');

			if (v > 0x20 && v < 0x7f && v != '.' && v != '\\') {
				out[o++] = (char)v;
				i += 3;
				continue;
			}
		}
		out[o++] = in[i];
	}
	out[o] = '\0';
}

struct spf_eval {
	SPF_dns_server_t layer;         /* layer.hook points back here */
	struct mp_dns *dns;
	const struct mp_deadline *deadline;
	SPF_request_t *req;
	SPF_server_t *server;
	char top_domain[SPF_NAME_MAX + 1];

	int terms;                      /* DNS-querying terms, whole check */
	int top_terms;                  /* of them, evaluated in the top record */
	int voids;
	bool saw_include;               /* an include or redirect was fetched */
	char last_term[160];

	bool decided;                   /* our layer decided the result */
	enum mp_spf_result result;
	char why[256];

	/* The A/AAAA lookups for the names of the last MX or PTR answer
	 * belong to that term: they are not terms of their own. */
	char pending[SPF_MAX_NAMES][SPF_NAME_MAX + 1];
	int npending, ipending;
	bool pending_ptr;

	char exp_text[256];             /* what get_exp last produced */
	bool exp_ok;

	/* include and redirect targets expanded here (see MACRO_MARK);
	 * libspf2's cur_dom points into this while it evaluates them */
	char own_dom[SPF_MAX_TERMS + 1][SPF_NAME_MAX + 1];
	int nown;

	/* for the explanation macros */
	struct client client;
	char local[256];
	char helo[256];
	char sender_domain[SPF_NAME_MAX + 1];
};

static void
decide(struct spf_eval *ev, enum mp_spf_result r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
decide(struct spf_eval *ev, enum mp_spf_result r, const char *fmt, ...)
{
	va_list ap;

	if (ev->decided)
		return;
	ev->decided = true;
	ev->result = r;
	va_start(ap, fmt);
	vsnprintf(ev->why, sizeof(ev->why), fmt, ap);
	va_end(ap);
}

static void __attribute__((noreturn))
spf_oom(void)
{
	mp_log(LOG_CRIT, "spf: out of memory in the DNS layer");
	abort();
}

/* Never returns NULL: libspf2 calls SPF_error (abort) on NULL. */
static SPF_dns_rr_t *
rr_new(struct spf_eval *ev, const char *domain, ns_type type, SPF_dns_stat_t herrno)
{
	SPF_dns_rr_t *rr = SPF_dns_rr_new_init(&ev->layer, domain, type, 0, herrno);

	if (rr == NULL)
		spf_oom();
	return rr;
}

static void
rr_add_name(SPF_dns_rr_t *rr, const char *name)
{
	size_t len = strlen(name);

	if (SPF_dns_rr_buf_realloc(rr, rr->num_rr, len + 1) != SPF_E_SUCCESS)
		spf_oom();
	memcpy(rr->rr[rr->num_rr]->ptr, name, len + 1);
	rr->num_rr++;
}

static SPF_dns_rr_t *
rr_abort(struct spf_eval *ev, const char *domain, ns_type type)
{
	return rr_new(ev, domain, type, TRY_AGAIN);
}

static const char *
cur_dom(const struct spf_eval *ev)
{
	return ev->req != NULL && ev->req->cur_dom != NULL ? ev->req->cur_dom : ev->top_domain;
}

/* Counts one DNS-querying term; false (and the check is decided) over the limit. */
static bool
count_term(struct spf_eval *ev, const char *what, const char *name)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_buf_puts(&b, what);
	mp_printable(&b, name, strlen(name), 100);
	mp_strlcpy(ev->last_term, mp_buf_str(&b), sizeof(ev->last_term));
	mp_buf_free(&b);
	ev->terms++;
	if (mp_strcasecmp(cur_dom(ev), ev->top_domain) == 0)
		ev->top_terms++;
	if (ev->terms > SPF_MAX_TERMS) {
		decide(ev, MP_SPF_PERMERROR,
		    "more than %d DNS-querying terms (RFC 7208 4.6.4), across includes and redirects; "
		    "the 11th was %s", SPF_MAX_TERMS, ev->last_term);
		return false;
	}
	return true;
}

static bool
count_void(struct spf_eval *ev, const char *name)
{
	struct mp_buf b = MP_BUF_INIT;

	ev->voids++;
	if (ev->voids <= SPF_MAX_VOID)
		return true;
	mp_printable(&b, name, strlen(name), 100);
	decide(ev, MP_SPF_PERMERROR,
	    "more than %d void DNS lookups (RFC 7208 4.6.4); the 3rd was %s",
	    SPF_MAX_VOID, mp_buf_str(&b));
	mp_buf_free(&b);
	return false;
}

/* ctx: "" or what the lookup was for, e.g. " while validating ptr" */
static void
decide_temp(struct spf_eval *ev, enum mp_dns_status st, const char *type, const char *name,
    const char *ctx)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_printable(&b, name, strlen(name), 100);
	if (st == MP_DNS_TIMEOUT && mp_deadline_expired(ev->deadline))
		decide(ev, MP_SPF_TEMPERROR, "deadline passed while looking up %s of %s%s",
		    type, mp_buf_str(&b), ctx);
	else
		decide(ev, MP_SPF_TEMPERROR, "DNS %s looking up %s of %s%s",
		    mp_dns_status_str(st), type, mp_buf_str(&b), ctx);
	mp_buf_free(&b);
}

/*
 * Whether a failed lookup (not NXDOMAIN or NODATA) of the ptr mechanism
 * or of %{p} validation may be passed over as RFC 7208 5.5 says (the name
 * is skipped, the PTR lookup does not match): not a timeout. A sender
 * whose zone never answers would otherwise hold the check until the
 * deadline and spend the budget of the DMARC lookup (issue 11); RFC 7208
 * 4.6.4 and 11.1 let a verifier bound that work, so a timeout ends the
 * check with temperror. Other failures come back fast (a CNAME loop is a
 * SERVFAIL, suite case ptr-cname-loop) and are counted as void lookups,
 * so that there are at most SPF_MAX_VOID of them.
 */
static bool
ptr_failure_skipped(struct spf_eval *ev, enum mp_dns_status st, const char *name)
{
	if (st == MP_DNS_TIMEOUT)
		return false;
	return count_void(ev, name);
}

/*
 * The answer to libspf2 for a lookup that found nothing (st is not OK).
 * NXDOMAIN and NODATA count as a void lookup unless not_void, and the
 * one past the limit aborts the evaluation. Another failure decides
 * temperror and aborts, except for a ptr lookup (ptr: the PTR lookup,
 * or the address lookup of a name from its answer) that
 * ptr_failure_skipped() passes over.
 */
static SPF_dns_rr_t *
rr_empty(struct spf_eval *ev, const char *domain, ns_type type, enum mp_dns_status st,
    const char *name, bool not_void, bool ptr, const char *what)
{
	if (st == MP_DNS_NXDOMAIN || st == MP_DNS_NODATA) {
		if (!not_void && !count_void(ev, name))
			return rr_abort(ev, domain, type);
		return rr_new(ev, domain, type, st == MP_DNS_NXDOMAIN ? HOST_NOT_FOUND : NO_DATA);
	}
	if (ptr && ptr_failure_skipped(ev, st, name))
		return rr_new(ev, domain, type, HOST_NOT_FOUND);
	decide_temp(ev, st, what, name, !ptr ? "" :
	    type == ns_t_ptr ? " for ptr or %{p}" : " while validating ptr or %{p}");
	return rr_abort(ev, domain, type);
}

static bool layer_name(struct spf_eval *ev, const char *raw, bool strict, char *out,
    size_t outlen, bool *ptr_r);
static SPF_dns_rr_t *ptr_emulate(struct spf_eval *ev, const char *domain, ns_type type,
    const char *target);
static const char *own_target(struct spf_eval *ev, const char *raw);

static SPF_dns_rr_t *
lookup_addr(struct spf_eval *ev, const char *domain, ns_type type)
{
	enum mp_dns_type dt = type == ns_t_a ? MP_DNS_A : MP_DNS_AAAA;
	struct mp_dns_result *res;
	enum mp_dns_status st;
	SPF_dns_rr_t *rr;
	bool sub = false, sub_ptr = false, cidr0, ptr_term;
	char name[SPF_NAME_MAX + 40], cmp[SPF_NAME_MAX + 1];

	cidr0 = layer_name(ev, domain, true, name, sizeof(name), &ptr_term);
	if (ev->decided)
		return rr_abort(ev, domain, type);
	if (ptr_term)
		return ptr_emulate(ev, domain, type, name);
	if (ev->ipending < ev->npending && query_name_ok(name, cmp) &&
	    mp_strcasecmp(cmp, ev->pending[ev->ipending]) == 0) {
		sub = true;
		sub_ptr = ev->pending_ptr;
		ev->ipending++;
	} else {
		ev->npending = ev->ipending = 0;
		if (!count_term(ev, type == ns_t_a ? "A lookup of " : "AAAA lookup of ", name))
			return rr_abort(ev, domain, type);
	}
	st = dns_query(ev->dns, ev->deadline, name, dt, &res);
	switch (st) {
	case MP_DNS_OK:
		rr = rr_new(ev, domain, type, NETDB_SUCCESS);
		for (size_t i = 0; i < res->count; i++) {
			if (res->rr[i].type != dt)
				continue;
			if (SPF_dns_rr_buf_realloc(rr, rr->num_rr, sizeof(SPF_dns_rr_data_t)) != SPF_E_SUCCESS)
				spf_oom();
			/* prefix length 0: any address of the family matches */
			if (dt == MP_DNS_A)
				rr->rr[rr->num_rr]->a = cidr0 ? ev->client.v4 : res->rr[i].a;
			else
				rr->rr[rr->num_rr]->aaaa = cidr0 ? ev->client.v6 : res->rr[i].aaaa;
			rr->num_rr++;
			if (cidr0)
				break;
		}
		break;
	default:
		/* A name from a PTR answer (the ptr mechanism, or %{p}) that
		 * does not exist just does not match; a failed lookup ends the
		 * check (rr_empty). */
		rr = rr_empty(ev, domain, type, st, name, sub, sub_ptr, type == ns_t_a ? "A" : "AAAA");
		break;
	}
	mp_dns_result_free(&res);
	return rr;
}

static SPF_dns_rr_t *
lookup_names(struct spf_eval *ev, const char *domain, ns_type type)
{
	bool ptr = type == ns_t_ptr, cidr0, ptr_term;
	enum mp_dns_type dt = ptr ? MP_DNS_PTR : MP_DNS_MX;
	struct mp_dns_result *res;
	enum mp_dns_status st;
	SPF_dns_rr_t *rr;
	size_t names = 0;
	char name[SPF_NAME_MAX + 40];

	cidr0 = layer_name(ev, domain, true, name, sizeof(name), &ptr_term);
	if (ev->decided)
		return rr_abort(ev, domain, type);
	ev->npending = ev->ipending = 0;
	/* A PTR lookup is the ptr mechanism or the %{p} macro: both count
	 * (the macro is rare; RFC 7208 discourages both). */
	if (!count_term(ev, ptr ? "ptr (PTR lookup of " : "mx:", name))
		return rr_abort(ev, domain, type);
	if (ptr)
		mp_strlcpy(ev->last_term + strlen(ev->last_term), ")",
		    sizeof(ev->last_term) - strlen(ev->last_term));
	st = dns_query(ev->dns, ev->deadline, name, dt, &res);
	switch (st) {
	case MP_DNS_OK:
		for (size_t i = 0; i < res->count; i++)
			if (res->rr[i].type == dt && res->rr[i].text[0] != '\0')
				names++;
		if (!ptr && names > SPF_MAX_NAMES) {
			struct mp_buf b = MP_BUF_INIT;

			mp_printable(&b, name, strlen(name), 100);
			decide(ev, MP_SPF_PERMERROR,
			    "mx:%s has %zu MX names, more than the %d allowed (RFC 7208 4.6.4)",
			    mp_buf_str(&b), names, SPF_MAX_NAMES);
			mp_buf_free(&b);
			rr = rr_abort(ev, domain, type);
			break;
		}
		rr = rr_new(ev, domain, type, NETDB_SUCCESS);
		/* RFC 7208 4.6.4: PTR names past the 10th are ignored (libspf2
		 * makes that a permerror, which the sender cannot avoid). */
		for (size_t i = 0; i < res->count && rr->num_rr < SPF_MAX_NAMES; i++) {
			char target[SPF_NAME_MAX + 40];
			char *pend = ev->pending[ev->npending];

			/* A null MX (RFC 7505) names no host: skip it. */
			if (res->rr[i].type != dt || res->rr[i].text[0] == '\0')
				continue;
			unescape_name(res->rr[i].text, target, SPF_NAME_MAX + 1);
			if (!query_name_ok(target, pend))
				mp_strlcpy(pend, target, SPF_NAME_MAX + 1);
			ev->npending++;
			if (cidr0)
				mp_strlcpy(target + strlen(target), CIDR0_MARK,
				    sizeof(target) - strlen(target));
			rr_add_name(rr, target);
		}
		ev->pending_ptr = ptr;
		if (rr->num_rr == 0)
			rr->herrno = NO_DATA;
		break;
	default:
		/* A missing PTR is the client's business, not the domain's: not
		 * a void lookup, and ptr does not match; for a failed PTR
		 * lookup see ptr_failure_skipped(). */
		rr = rr_empty(ev, domain, type, st, name, ptr, ptr, ptr ? "PTR" : "MX");
		break;
	}
	mp_dns_result_free(&res);
	return rr;
}

static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *layer, const char *domain, ns_type type, int should_cache)
{
	struct spf_eval *ev = layer->hook;

	(void)should_cache;
	if (domain == NULL)
		domain = "";
	if (ev->decided)
		return rr_abort(ev, domain, type);
	switch (type) {
	case ns_t_a:
	case ns_t_aaaa:
		return lookup_addr(ev, domain, type);
	case ns_t_mx:
	case ns_t_ptr:
		return lookup_names(ev, domain, type);
	default:
		/* TXT goes through get_spf and get_exp; nothing else is used. */
		return rr_new(ev, domain, type, HOST_NOT_FOUND);
	}
}

static char *libspf2_copy(const char *record, int family);

/* The record of an include or redirect target. */
static SPF_errcode_t
layer_get_spf(SPF_server_t *server, SPF_request_t *req, SPF_response_t *resp, SPF_record_t **recp)
{
	struct spf_eval *ev = server->resolver->hook;
	const char *domain = req->cur_dom != NULL ? req->cur_dom : "";
	struct fetched f;
	SPF_errcode_t err;
	char *copy;

	*recp = NULL;
	if (ev->decided)
		return SPF_E_DNS_ERROR;
	ev->npending = ev->ipending = 0;
	ev->saw_include = true;
	/* libspf2 has already set cur_dom to the target: the term belongs
	 * to the record above, which count_term cannot see. */
	if (!count_term(ev, "include/redirect of ", domain))
		return SPF_E_DNS_ERROR;
	domain = own_target(ev, domain);
	if (ev->decided)
		return SPF_E_DNS_ERROR;
	if (mp_strcasecmp(domain, ev->top_domain) == 0)
		ev->top_terms--;
	fetch_record(ev->dns, ev->deadline, domain, &f);
	switch (f.status) {
	case FETCH_OK:
		break;
	case FETCH_NONE:
		if (f.void_lookup && !count_void(ev, domain))
			return SPF_E_DNS_ERROR;
		decide(ev, MP_SPF_PERMERROR, "include/redirect target has no SPF record (%s)", f.why);
		return SPF_E_DNS_ERROR;
	case FETCH_PERM:
		decide(ev, MP_SPF_PERMERROR, "%s", f.why);
		return SPF_E_DNS_ERROR;
	case FETCH_TEMP:
		decide(ev, MP_SPF_TEMPERROR, "%s", f.why);
		return SPF_E_DNS_ERROR;
	}
	copy = libspf2_copy(f.text, ev->client.family);
	err = SPF_record_compile(server, resp, recp, copy);
	free(copy);
	if (err != SPF_E_SUCCESS) {
		if (*recp != NULL)
			SPF_record_free(*recp);
		*recp = NULL;
		decide(ev, MP_SPF_PERMERROR, "libspf2 could not compile the record of %s: %s",
		    domain, SPF_strerror(err));
		fetched_clear(&f);
		return SPF_E_DNS_ERROR;
	}
	fetched_clear(&f);
	return SPF_E_SUCCESS;
}

/* ---- explanation text ---- */

/*
 * libspf2 1.2.10 does not expand an exp= text we hand it through
 * SPF_record_compile_macro()/SPF_record_expand_data(): spaces come out as
 * '%' and the macros stay literal. So the explanation (RFC 7208 6.2,
 * 7.3) is expanded here: it is short and has no DNS limits to enforce.
 */

/* The client address as text, as %{c} and %{i} (IPv4) show it. */
static void
client_ipstr(const struct spf_eval *ev, char out[INET6_ADDRSTRLEN])
{
	if (ev->client.family == AF_INET)
		inet_ntop(AF_INET, &ev->client.v4, out, INET6_ADDRSTRLEN);
	else
		inet_ntop(AF_INET6, &ev->client.v6, out, INET6_ADDRSTRLEN);
}

/*
 * Transformers and delimiters of one macro, applied to value (RFC 7208
 * 7.3): split on any of the delimiters ('.' when none is given), reverse,
 * keep the rightmost digits parts, join with '.'. Every part is kept,
 * however many: dropping some would change which name is queried.
 */
static void
macro_apply(struct mp_buf *out, const char *value, unsigned digits, bool reverse,
    const char *delims, size_t ndelims, bool url)
{
	size_t len = strlen(value), n = 1, k = 0, first;
	const char **parts;
	size_t *lens;
	const char *p = value;
	struct mp_buf joined = MP_BUF_INIT;

	if (ndelims == 0) {
		delims = ".";
		ndelims = 1;
	}
	for (size_t i = 0; i < len; i++)
		if (memchr(delims, value[i], ndelims) != NULL)
			n++;
	parts = xcalloc(n, sizeof(*parts));
	lens = xcalloc(n, sizeof(*lens));
	for (;;) {
		size_t l = 0;

		while (p[l] != '\0' && memchr(delims, p[l], ndelims) == NULL)
			l++;
		parts[k] = p;
		lens[k] = l;
		k++;
		if (p[l] == '\0' || k == n)
			break;
		p += l + 1;
	}
	if (reverse) {
		for (size_t i = 0; i < k / 2; i++) {
			const char *tp = parts[i];
			size_t tl = lens[i];

			parts[i] = parts[k - 1 - i];
			lens[i] = lens[k - 1 - i];
			parts[k - 1 - i] = tp;
			lens[k - 1 - i] = tl;
		}
	}
	first = digits > 0 && digits < k ? k - digits : 0;
	for (size_t i = first; i < k; i++) {
		if (i > first)
			mp_buf_putc(&joined, '.');
		mp_buf_append(&joined, parts[i], lens[i]);
	}
	for (size_t i = 0; i < joined.len; i++) {
		unsigned char c = (unsigned char)joined.data[i];

		if (!url || is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			mp_buf_putc(out, (char)c);
		else
			mp_buf_printf(out, "%%%02X", c);
	}
	mp_buf_free(&joined);
	free(parts);
	free(lens);
}

/*
 * Does the client address appear among name's addresses? 1 yes, 0 no
 * (including NXDOMAIN and NODATA), -1 the lookup failed (*st_r says how).
 */
static int
name_has_client(struct spf_eval *ev, const char *name, enum mp_dns_status *st_r)
{
	enum mp_dns_type dt = ev->client.family == AF_INET ? MP_DNS_A : MP_DNS_AAAA;
	struct mp_dns_result *res;
	int found = 0;

	*st_r = dns_query(ev->dns, ev->deadline, name, dt, &res);
	if (*st_r == MP_DNS_OK) {
		for (size_t i = 0; i < res->count && !found; i++) {
			if (res->rr[i].type != dt)
				continue;
			if (dt == MP_DNS_A)
				found = memcmp(&res->rr[i].a, &ev->client.v4, 4) == 0;
			else
				found = memcmp(&res->rr[i].aaaa, &ev->client.v6, 16) == 0;
		}
	} else if (*st_r != MP_DNS_NXDOMAIN && *st_r != MP_DNS_NODATA)
		found = -1;
	mp_dns_result_free(&res);
	return found;
}

/* name is d or a subdomain of d (case-insensitive, trailing dots aside). */
static bool
name_in_domain(const char *name, const char *d)
{
	size_t nl = strlen(name), dl = strlen(d);

	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	if (dl > 0 && d[dl - 1] == '.')
		dl--;
	if (dl == 0 || nl < dl)
		return false;
	if (nl > dl && name[nl - dl - 1] != '.')
		return false;
	return mp_strncasecmp(name + nl - dl, d, dl) == 0;
}

/*
 * %{p} (RFC 7208 7.3): a validated name of the client, preferring d and
 * its subdomains; "unknown" when there is none. A lookup that fails
 * (timeout, SERVFAIL) stops the search at once: in a domain-spec (strict)
 * it ends the check with temperror and false is returned, in an
 * explanation the name is "unknown". A sender's zone that never answers
 * must not hold the check until the deadline (issue 11).
 */
static bool
validated_name(struct spf_eval *ev, const char *d, bool strict, char *out, size_t outlen)
{
	char ipstr[INET6_ADDRSTRLEN], rev[128], best[SPF_NAME_MAX + 1] = "";
	struct mp_dns_result *res;
	enum mp_dns_status st;
	int rank = 0, checked = 0;

	mp_strlcpy(out, "unknown", outlen);
	client_ipstr(ev, ipstr);
	if (!mp_dns_reverse_name(ipstr, rev, sizeof(rev)))
		return true;
	if (strict && !count_term(ev, "%{p} (PTR lookup of ", rev))
		return false;
	st = dns_query(ev->dns, ev->deadline, rev, MP_DNS_PTR, &res);
	if (st != MP_DNS_OK && st != MP_DNS_NXDOMAIN && st != MP_DNS_NODATA && strict &&
	    !ptr_failure_skipped(ev, st, rev))
		decide_temp(ev, st, "PTR", rev, " for %{p}");
	for (size_t i = 0; st == MP_DNS_OK && i < res->count && checked < SPF_MAX_NAMES && rank < 3; i++) {
		char name[SPF_NAME_MAX + 1];
		enum mp_dns_status ast;
		int has, r;

		if (res->rr[i].type != MP_DNS_PTR)
			continue;
		unescape_name(res->rr[i].text, name, sizeof(name));
		if (name[0] == '\0')
			continue;	/* the root: not a host name */
		checked++;
		has = name_has_client(ev, name, &ast);
		if (has < 0 && strict && ptr_failure_skipped(ev, ast, name))
			continue;
		if (has < 0) {
			if (strict)
				decide_temp(ev, ast, ev->client.family == AF_INET ? "A" : "AAAA",
				    name, " while validating %{p}");
			break;
		}
		if (has == 0)
			continue;
		if (mp_strcasecmp(name, d) == 0)
			r = 3;
		else if (name_in_domain(name, d))
			r = 2;
		else
			r = 1;
		if (r > rank) {
			rank = r;
			mp_strlcpy(best, name, sizeof(best));
		}
	}
	mp_dns_result_free(&res);
	if (ev->decided)
		return false;
	if (rank > 0)
		mp_strlcpy(out, best, outlen);
	return true;
}

/*
 * Expands a macro-string already checked by macro_string_ok() (or
 * macro_string_ok_exp()), with dom as %{d}. strict: a domain-spec, whose
 * %{p} counts as a DNS-querying term and whose failed lookups end the
 * check (false is returned, the check is decided); otherwise an
 * explanation.
 */
static bool
expand_macros(struct spf_eval *ev, const char *s, size_t n, const char *dom, bool strict,
    struct mp_buf *out)
{
	char ipstr[INET6_ADDRSTRLEN], host[256], pname[SPF_NAME_MAX + 1];
	struct mp_buf value = MP_BUF_INIT;
	bool ok = true;

	client_ipstr(ev, ipstr);
	for (size_t i = 0; i < n && ok; ) {
		unsigned digits = 0;
		bool reverse = false, url;
		const char *delims;
		size_t ndelims;
		char letter;

		if (s[i] != '%') {
			mp_buf_putc(out, s[i++]);
			continue;
		}
		if (s[i + 1] == '%' || s[i + 1] == '_' || s[i + 1] == '-') {
			mp_buf_puts(out, s[i + 1] == '%' ? "%" : s[i + 1] == '_' ? " " : "%20");
			i += 2;
			continue;
		}
		i += 2;                 /* "%{" */
		letter = s[i++];
		url = letter >= 'A' && letter <= 'Z';
		while (is_digit((unsigned char)s[i]))
			digits = digits * 10 + (unsigned)(s[i++] - '0');
		if (s[i] == 'r' || s[i] == 'R') {
			reverse = true;
			i++;
		}
		delims = s + i;
		while (s[i] != '}')
			i++;
		ndelims = (size_t)(s + i - delims);
		i++;
		mp_buf_reset(&value);
		switch (letter | 0x20) {
		case 's':
			mp_buf_printf(&value, "%s@%s", ev->local, ev->sender_domain);
			break;
		case 'l':
			mp_buf_puts(&value, ev->local);
			break;
		case 'o':
			mp_buf_puts(&value, ev->sender_domain);
			break;
		case 'd':
			mp_buf_puts(&value, dom);
			break;
		case 'i':
			if (ev->client.family == AF_INET)
				mp_buf_puts(&value, ipstr);
			else {
				for (int k = 0; k < 16; k++)
					mp_buf_printf(&value, "%s%x.%x", k ? "." : "",
					    ev->client.v6.s6_addr[k] >> 4, ev->client.v6.s6_addr[k] & 0xf);
			}
			break;
		case 'c':
			mp_buf_puts(&value, ipstr);
			break;
		case 'v':
			mp_buf_puts(&value, ev->client.family == AF_INET ? "in-addr" : "ip6");
			break;
		case 'h':
			mp_buf_puts(&value, ev->helo);
			break;
		case 'p':
			ok = validated_name(ev, dom, strict, pname, sizeof(pname));
			mp_buf_puts(&value, pname);
			break;
		case 'r':
			if (gethostname(host, sizeof(host)) != 0)
				mp_strlcpy(host, "unknown", sizeof(host));
			host[sizeof(host) - 1] = '\0';
			mp_buf_puts(&value, host);
			break;
		case 't':
			mp_buf_printf(&value, "%lld", (long long)time(NULL));
			break;
		default:
			break;
		}
		macro_apply(out, mp_buf_str(&value), digits, reverse, delims, ndelims, url);
	}
	mp_buf_free(&value);
	return ok;
}

/* ---- domain-specs that libspf2 cannot expand ---- */

/*
 * libspf2 1.2.10 refuses ',' and '/' as macro delimiters ("Invalid
 * delimiter", so the record would be a permerror) and 'R' as the reverse
 * transformer, although RFC 7208 7.1 allows all three. libspf2_copy()
 * hands such a domain-spec over marked, with every '%' doubled so that
 * libspf2 expands nothing in it and gives it back verbatim:
 *
 *   "mp" ["p"] LEN "." SPEC ".mp-d." %{d} MACRO_MARK
 *
 * LEN is the length of SPEC, so that the current domain libspf2 fills in
 * (%{d}, whatever bytes it holds) is told apart from SPEC without any
 * escaping. Our layer finds the mark in the name it is asked for and
 * expands SPEC itself, with expand_macros(). "mpp" marks a ptr:SPEC,
 * which reaches us as exists: (ptr_emulate). A domain-spec that holds
 * MACRO_MARK itself is marked too, so that no record can forge one;
 * LEN + SPEC are at most 255 bytes, libspf2's longest string.
 */
#define MACRO_MARK ".mp-macro.invalid"
#define MACRO_DOM ".mp-d."

static bool
spec_needs_marking(const char *s, size_t n)
{
	size_t m = strlen(MACRO_MARK) - 1;

	for (size_t i = 0; i + 1 < n; i++) {
		if (s[i] == '%' && s[i + 1] == '%') {
			i++;
			continue;
		}
		if (s[i] == '%' && s[i + 1] == '{') {
			for (i += 2; i < n && s[i] != '}'; i++)
				if (s[i] == ',' || s[i] == '/' || s[i] == 'R')
					return true;
		}
	}
	/* the mark without its leading dot: "mp-macro.invalid" */
	for (size_t i = 0; i + m <= n; i++)
		if (mp_strncasecmp(s + i, MACRO_MARK + 1, m) == 0)
			return true;
	return false;
}

static void
spec_mark(struct mp_buf *b, const char *s, size_t n, bool ptr)
{
	mp_buf_printf(b, "%s%zu.", ptr ? "mpp" : "mp", n);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%')
			mp_buf_putc(b, '%');
		mp_buf_putc(b, s[i]);
	}
	mp_buf_puts(b, MACRO_DOM "%{d}" MACRO_MARK);
}

/*
 * Recognises raw[0..n) as a name libspf2 expanded from a marked
 * domain-spec and expands the spec into out (false: not marked). A mark
 * that does not parse, or a spec that is not a valid macro-string,
 * expands to "" (a name that does not exist). *ptr_r: marked as ptr.
 * strict: see expand_macros() (not for exp=, whose failure must not
 * change the result).
 */
static bool
macro_unmark(struct spf_eval *ev, const char *raw, size_t n, bool strict, struct mp_buf *out,
    bool *ptr_r)
{
	size_t m = strlen(MACRO_MARK), dm = strlen(MACRO_DOM), i = 2, len = 0, ndig = 0;
	const char *spec, *dom, *why;
	bool ptr = false;
	char *d;

	if (n < m || mp_strncasecmp(raw + n - m, MACRO_MARK, m) != 0)
		return false;
	n -= m;
	if (n < 2 || mp_strncasecmp(raw, "mp", 2) != 0)
		return true;
	if (i < n && raw[i] == 'p') {
		ptr = true;
		i++;
	}
	while (i < n && is_digit((unsigned char)raw[i]) && ndig < 4) {
		len = len * 10 + (size_t)(raw[i++] - '0');
		ndig++;
	}
	if (ndig == 0 || i >= n || raw[i] != '.')
		return true;
	i++;
	if (len == 0 || len > n - i || n - i - len < dm ||
	    mp_strncasecmp(raw + i + len, MACRO_DOM, dm) != 0)
		return true;
	spec = raw + i;
	dom = spec + len + dm;
	if (!macro_string_ok(spec, len, false, NULL, &why))
		return true;
	d = xstrndup(dom, (size_t)(raw + n - dom));
	*ptr_r = ptr;
	expand_macros(ev, spec, len, d, strict, out);
	free(d);
	return true;
}

/*
 * The name libspf2 asked for, as we query it: without CIDR0_MARK (the
 * return value says whether it was there), a marked domain-spec expanded
 * here (when that decides the check, ev->decided is set), cut on the left
 * to fit out. *ptr_r: a marked ptr.
 */
static bool
layer_name(struct spf_eval *ev, const char *raw, bool strict, char *out, size_t outlen, bool *ptr_r)
{
	struct mp_buf b = MP_BUF_INIT;
	size_t n = strlen(raw);
	bool cidr0;

	*ptr_r = false;
	cidr0 = cidr0_marked(raw, &n);
	if (macro_unmark(ev, raw, n, strict, &b, ptr_r))
		cut_left(mp_buf_str(&b), b.len, out, outlen);
	else
		cut_left(raw, n, out, outlen);
	mp_buf_free(&b);
	return cidr0;
}

/*
 * An include or redirect target expanded here: libspf2's cur_dom is
 * pointed at our copy, so that the target's own %{d} and our reasons see
 * the real name (libspf2 restores its own pointer when the target is
 * done). At most one per counted term, so the array cannot run out.
 */
static const char *
own_target(struct spf_eval *ev, const char *raw)
{
	struct mp_buf b = MP_BUF_INIT;
	bool ptr;
	char *slot;

	if (!macro_unmark(ev, raw, strlen(raw), true, &b, &ptr) || ev->decided) {
		mp_buf_free(&b);
		return raw;
	}
	if (ev->nown >= (int)MP_ARRAY_SIZE(ev->own_dom)) {
		mp_buf_free(&b);
		decide(ev, MP_SPF_PERMERROR, "too many include or redirect targets");
		return raw;
	}
	slot = ev->own_dom[ev->nown++];
	cut_left(mp_buf_str(&b), b.len, slot, SPF_NAME_MAX + 1);
	mp_buf_free(&b);
	ev->req->cur_dom = slot;
	return slot;
}

/*
 * ptr:SPEC where libspf2 cannot expand SPEC: libspf2_copy() made it an
 * exists: of a marked name, and this is the ptr mechanism (RFC 7208 5.5)
 * done here, counted as one term: at most SPF_MAX_NAMES PTR names of the
 * client, each validated by an address lookup; it matches when a
 * validated name is target or below it. NXDOMAIN and NODATA just do not
 * match; a failed lookup ends the check with temperror, as in libspf2's
 * own ptr. libspf2's exists gets one address for a match, none otherwise.
 */
static SPF_dns_rr_t *
ptr_emulate(struct spf_eval *ev, const char *domain, ns_type type, const char *target)
{
	char ipstr[INET6_ADDRSTRLEN], rev[128];
	struct mp_dns_result *res;
	enum mp_dns_status st;
	bool match = false;
	int checked = 0;
	SPF_dns_rr_t *rr;

	ev->npending = ev->ipending = 0;
	if (!count_term(ev, "ptr:", target))
		return rr_abort(ev, domain, type);
	client_ipstr(ev, ipstr);
	if (!mp_dns_reverse_name(ipstr, rev, sizeof(rev)))
		return rr_new(ev, domain, type, HOST_NOT_FOUND);
	st = dns_query(ev->dns, ev->deadline, rev, MP_DNS_PTR, &res);
	if (st != MP_DNS_OK && st != MP_DNS_NXDOMAIN && st != MP_DNS_NODATA &&
	    !ptr_failure_skipped(ev, st, rev))
		decide_temp(ev, st, "PTR", rev, " for ptr");
	for (size_t i = 0; st == MP_DNS_OK && i < res->count && checked < SPF_MAX_NAMES && !match; i++) {
		char name[SPF_NAME_MAX + 1];
		enum mp_dns_status ast;
		int has;

		if (res->rr[i].type != MP_DNS_PTR)
			continue;
		unescape_name(res->rr[i].text, name, sizeof(name));
		if (name[0] == '\0')
			continue;
		checked++;
		has = name_has_client(ev, name, &ast);
		if (has < 0 && ptr_failure_skipped(ev, ast, name))
			continue;
		if (has < 0) {
			decide_temp(ev, ast, ev->client.family == AF_INET ? "A" : "AAAA", name,
			    " while validating ptr");
			break;
		}
		match = has > 0 && name_in_domain(name, target);
	}
	mp_dns_result_free(&res);
	if (ev->decided)
		return rr_abort(ev, domain, type);
	rr = rr_new(ev, domain, type, match ? NETDB_SUCCESS : HOST_NOT_FOUND);
	if (match) {
		if (SPF_dns_rr_buf_realloc(rr, 0, sizeof(SPF_dns_rr_data_t)) != SPF_E_SUCCESS)
			spf_oom();
		if (type == ns_t_a)
			rr->rr[0]->a = ev->client.v4;
		else
			rr->rr[0]->aaaa = ev->client.v6;
		rr->num_rr = 1;
	}
	return rr;
}

/*
 * The exp= text (RFC 7208 6.2): exactly one TXT record, printable ASCII,
 * valid macro syntax; otherwise there is no explanation. An error code
 * from here leaves libspf2's explanation unset, which is what we want.
 * This lookup never counts against the limits.
 */
static SPF_errcode_t
layer_get_exp(SPF_server_t *server, const char *domain, char **bufp, size_t *buflenp)
{
	struct spf_eval *ev = server->resolver->hook;
	struct mp_dns_result *res;
	const struct mp_dns_rr *txt = NULL;
	struct mp_buf b = MP_BUF_INIT;
	int ntxt = 0;
	const char *why;
	bool ascii = true, ptr;
	char name[SPF_NAME_MAX + 1];

	ev->exp_ok = false;
	ev->exp_text[0] = '\0';
	(void)layer_name(ev, domain, false, name, sizeof(name), &ptr);
	if (dns_query(ev->dns, ev->deadline, name, MP_DNS_TXT, &res) == MP_DNS_OK) {
		for (size_t i = 0; i < res->count; i++)
			if (res->rr[i].type == MP_DNS_TXT) {
				txt = &res->rr[i];
				ntxt++;
			}
	}
	if (ntxt == 1) {
		for (size_t i = 0; i < txt->text_len; i++)
			if ((unsigned char)txt->text[i] < 0x20 || (unsigned char)txt->text[i] > 0x7e)
				ascii = false;
	}
	if (ntxt != 1 || !ascii || !macro_string_ok_exp(txt->text, txt->text_len, &why)) {
		mp_dns_result_free(&res);
		return SPF_E_NOT_SPF;
	}
	expand_macros(ev, txt->text, txt->text_len, cur_dom(ev), false, &b);
	mp_dns_result_free(&res);
	if (*buflenp < b.len + 1) {
		*bufp = xrealloc(*bufp, b.len + 1);
		*buflenp = b.len + 1;
	}
	memcpy(*bufp, mp_buf_str(&b), b.len + 1);
	mp_strlcpy(ev->exp_text, *bufp, sizeof(ev->exp_text));
	ev->exp_ok = true;
	mp_buf_free(&b);
	return SPF_E_SUCCESS;
}

/* ---- the copy of a record that libspf2 gets ---- */

/*
 * What libspf2 cannot parse or gets wrong, rewritten into an equivalent
 * record for this client's address family (the record is already valid):
 *  - unknown modifiers are dropped (libspf2 refuses "-", "_" and "." in
 *    their names; RFC 7208 6 says to ignore them);
 *  - redirect= is dropped when the record has an "all" mechanism (RFC
 *    7208 6.1; libspf2 follows it anyway);
 *  - prefix lengths of 0, see CIDR0_MARK; ip4:x/0 and ip6:x/0 become two
 *    /1 networks that cover everything;
 *  - the prefix length of the other address family is dropped;
 *  - a domain-spec with a ',' or '/' delimiter or an 'R' transformer is
 *    marked, and expanded by our layer (see MACRO_MARK).
 */
static char *
libspf2_copy(const char *record, int family)
{
	struct mp_buf b = MP_BUF_INIT;
	const char *p = record + 6, *end = record + strlen(record);
	bool has_all = false;

	for (const char *q = p; q < end; ) {
		const char *st;
		struct term t;

		while (q < end && *q == ' ')
			q++;
		st = q;
		while (q < end && *q != ' ')
			q++;
		if (q == st)
			break;
		term_split(st, (size_t)(q - st), &t);
		if (!t.modifier && name_is(&t, "all"))
			has_all = true;
	}
	mp_buf_puts(&b, "v=spf1");
	while (p < end) {
		const char *st;
		struct term t;
		size_t dlen;
		int c4, c6, eff;
		const char *why;

		while (p < end && *p == ' ')
			p++;
		st = p;
		while (p < end && *p != ' ')
			p++;
		if (p == st)
			break;
		term_split(st, (size_t)(p - st), &t);
		if (t.modifier) {
			if (name_is(&t, "exp") || (name_is(&t, "redirect") && !has_all)) {
				mp_buf_putc(&b, ' ');
				if (spec_needs_marking(t.arg, t.arg_len)) {
					mp_buf_append(&b, t.name, t.name_len);
					mp_buf_putc(&b, '=');
					spec_mark(&b, t.arg, t.arg_len, false);
				} else
					mp_buf_append(&b, st, (size_t)(p - st));
			}
			continue;
		}
		mp_buf_putc(&b, ' ');
		if ((name_is(&t, "a") || name_is(&t, "mx")) &&
		    split_dual_cidr(t.arg, t.arg_len, &dlen, &c4, &c6, &why) &&
		    (c4 >= 0 || c6 >= 0)) {
			eff = family == AF_INET ? c4 : c6;
			mp_buf_putc(&b, t.qual);
			mp_buf_append(&b, t.name, t.name_len);
			mp_buf_putc(&b, ':');
			if (dlen > 1 && spec_needs_marking(t.arg + 1, dlen - 1))
				spec_mark(&b, t.arg + 1, dlen - 1, false);
			else if (dlen > 0)
				mp_buf_append(&b, t.arg + 1, dlen - 1);
			else
				mp_buf_puts(&b, "%{d}");
			if (eff == 0)
				mp_buf_puts(&b, CIDR0_MARK);
			else if (eff > 0)
				mp_buf_printf(&b, family == AF_INET ? "/%d" : "//%d", eff);
			continue;
		}
		if ((name_is(&t, "ip4") || name_is(&t, "ip6")) && t.arg_len >= 2 &&
		    memcmp(t.arg + t.arg_len - 2, "/0", 2) == 0) {
			if (name_is(&t, "ip4"))
				mp_buf_printf(&b, "%cip4:0.0.0.0/1 %cip4:128.0.0.0/1", t.qual, t.qual);
			else
				mp_buf_printf(&b, "%cip6:::/1 %cip6:8000::/1", t.qual, t.qual);
			continue;
		}
		if ((name_is(&t, "a") || name_is(&t, "mx") || name_is(&t, "ptr") ||
		    name_is(&t, "include") || name_is(&t, "exists")) &&
		    t.arg_len > 1 && t.arg[0] == ':' && spec_needs_marking(t.arg + 1, t.arg_len - 1)) {
			/* ptr becomes exists: see ptr_emulate() */
			mp_buf_putc(&b, t.qual);
			if (name_is(&t, "ptr"))
				mp_buf_puts(&b, "exists");
			else
				mp_buf_append(&b, t.name, t.name_len);
			mp_buf_putc(&b, ':');
			spec_mark(&b, t.arg + 1, t.arg_len - 1, name_is(&t, "ptr"));
			continue;
		}
		mp_buf_append(&b, st, (size_t)(p - st));
	}
	return mp_buf_steal(&b);
}

/* ------------------------------------------------------------------ */
/* check_host()                                                         */

/* An IPv4-mapped IPv6 address is the IPv4 client it stands for. */
static bool
parse_client(const char *ip, struct client *c)
{
	memset(c, 0, sizeof(*c));
	if (ip == NULL)
		return false;
	if (inet_pton(AF_INET, ip, &c->v4) == 1) {
		c->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, ip, &c->v6) != 1)
		return false;
	if (IN6_IS_ADDR_V4MAPPED(&c->v6)) {
		memcpy(&c->v4, &c->v6.s6_addr[12], 4);
		c->family = AF_INET;
	} else
		c->family = AF_INET6;
	return true;
}

static bool
prefix_match(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Does an ip4:, ip6: or all term match the client? (Record already valid.) */
static bool
plain_term_matches(const struct term *t, const struct client *c)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t netlen;
	unsigned bits;

	if (name_is(t, "all"))
		return true;
	if (!name_is(t, "ip4") && !name_is(t, "ip6"))
		return false;
	slash = memchr(t->arg + 1, '/', t->arg_len - 1);
	netlen = slash ? (size_t)(slash - (t->arg + 1)) : t->arg_len - 1;
	if (netlen >= sizeof(buf))
		return false;
	memcpy(buf, t->arg + 1, netlen);
	buf[netlen] = '\0';
	if (name_is(t, "ip4")) {
		struct in_addr n4;

		bits = slash ? (unsigned)atoi(slash + 1) : 32;
		return c->family == AF_INET && inet_pton(AF_INET, buf, &n4) == 1 &&
		    prefix_match((const unsigned char *)&c->v4, (const unsigned char *)&n4, bits);
	} else {
		struct in6_addr n6;

		bits = slash ? (unsigned)atoi(slash + 1) : 128;
		return c->family == AF_INET6 && inet_pton(AF_INET6, buf, &n6) == 1 &&
		    prefix_match(c->v6.s6_addr, n6.s6_addr, bits);
	}
}

static enum mp_spf_result
qual_result(char q)
{
	switch (q) {
	case '-': return MP_SPF_FAIL;
	case '~': return MP_SPF_SOFTFAIL;
	case '?': return MP_SPF_NEUTRAL;
	default:  return MP_SPF_PASS;
	}
}

static bool
term_is_dns(const struct term *t)
{
	return !t->modifier && (name_is(t, "a") || name_is(t, "mx") || name_is(t, "ptr") ||
	    name_is(t, "exists") || name_is(t, "include"));
}

/*
 * Which term of the top record produced a mechanism result: libspf2 does
 * not say. The evaluation stops at the match, so the match is either the
 * last DNS-querying term it evaluated or a later ip4/ip6/all term that
 * matches the client with the right qualifier.
 */
static void
describe_match(const struct spf_eval *ev, const char *record, const struct client *c,
    enum mp_spf_result r, char *out, size_t outlen)
{
	const char *p = record + 6, *end = record + strlen(record);
	const char *cand = NULL, *found = NULL;
	size_t cand_len = 0, found_len = 0;
	int seen = 0;
	struct mp_buf b = MP_BUF_INIT;

	while (p < end) {
		const char *s;
		struct term t;

		while (p < end && *p == ' ')
			p++;
		s = p;
		while (p < end && *p != ' ')
			p++;
		if (p == s)
			break;
		term_split(s, (size_t)(p - s), &t);
		if (t.modifier)
			continue;
		if (term_is_dns(&t)) {
			if (++seen == ev->top_terms && qual_result(t.qual) == r) {
				cand = s;
				cand_len = (size_t)(p - s);
			}
			continue;
		}
		if (seen < ev->top_terms)
			continue;
		if (qual_result(t.qual) == r && plain_term_matches(&t, c)) {
			found = s;
			found_len = (size_t)(p - s);
			break;
		}
	}
	if (cand != NULL) {
		mp_buf_puts(&b, "matched \"");
		mp_printable(&b, cand, cand_len, 80);
		if (found != NULL) {
			mp_buf_puts(&b, "\" or \"");
			mp_printable(&b, found, found_len, 80);
		}
		mp_buf_puts(&b, "\"");
	} else if (found != NULL) {
		mp_buf_puts(&b, "matched \"");
		mp_printable(&b, found, found_len, 80);
		mp_buf_puts(&b, "\"");
	} else
		mp_buf_puts(&b, "matched a term");
	mp_buf_printf(&b, " in the SPF record of %s", ev->top_domain);
	mp_strlcpy(out, mp_buf_str(&b), outlen);
	mp_buf_free(&b);
}

static void
set_text(char *dst, size_t dstlen, const char *src)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_printable(&b, src, strlen(src), dstlen > 8 ? dstlen - 8 : 0);
	mp_strlcpy(dst, mp_buf_str(&b), dstlen);
	mp_buf_free(&b);
}

static enum mp_spf_result
finish(struct mp_spf_outcome *out, enum mp_spf_result r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum mp_spf_result
finish(struct mp_spf_outcome *out, enum mp_spf_result r, const char *fmt, ...)
{
	va_list ap;

	out->result = r;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
	return r;
}

/*
 * check_host(ip, domain, local@domain). helo is the HELO name for %{h};
 * helo_identity says which identity is checked.
 */
static enum mp_spf_result
check_host(struct mp_spf *spf, const struct mp_deadline *deadline, const char *ip,
    const char *helo, const char *local, const char *domain, bool helo_identity,
    struct mp_spf_outcome *out)
{
	struct spf_eval *ev;
	struct client client;
	struct fetched f;
	SPF_server_t *server;
	SPF_request_t *req;
	SPF_response_t *resp;
	SPF_record_t *rec = NULL;
	SPF_errcode_t err;
	const char *why;
	char *sender, *copy;
	enum mp_spf_result r;

	if (!parse_client(ip, &client))
		return finish(out, MP_SPF_NONE, "not checked: the client address is not an IP address");
	if (!identity_domain_ok(domain, out->domain, &why)) {
		out->domain[0] = '\0';
		return finish(out, MP_SPF_NONE, "not checked: %s", why);
	}
	if (mp_deadline_expired(deadline))
		return finish(out, MP_SPF_TEMPERROR, "deadline passed before the check started");

	fetch_record(spf->dns, deadline, out->domain, &f);
	switch (f.status) {
	case FETCH_OK:
		break;
	case FETCH_NONE:
		return finish(out, MP_SPF_NONE, "no SPF record (%s)", f.why);
	case FETCH_PERM:
		return finish(out, MP_SPF_PERMERROR, "%s", f.why);
	case FETCH_TEMP:
		return finish(out, MP_SPF_TEMPERROR, "%s", f.why);
	}

	ev = xcalloc(1, sizeof(*ev));
	ev->layer.name = "mailposture";
	ev->layer.lookup = layer_lookup;
	ev->layer.get_spf = layer_get_spf;
	ev->layer.get_exp = layer_get_exp;
	ev->layer.hook = ev;
	/* layer.destroy stays NULL: SPF_server_free must not free it. */
	ev->dns = spf->dns;
	ev->deadline = deadline;
	mp_strlcpy(ev->top_domain, out->domain, sizeof(ev->top_domain));
	mp_strlcpy(ev->sender_domain, out->domain, sizeof(ev->sender_domain));
	mp_strlcpy(ev->local, local, sizeof(ev->local));
	mp_strlcpy(ev->helo, helo != NULL ? helo : "", sizeof(ev->helo));
	ev->client = client;

	server = SPF_server_new_dns(&ev->layer, 0);
	if (server == NULL)
		spf_oom();
	ev->server = server;
	req = SPF_request_new(server);
	if (req == NULL)
		spf_oom();
	ev->req = req;
	if (client.family == AF_INET)
		SPF_request_set_ipv4(req, client.v4);
	else
		SPF_request_set_ipv6(req, client.v6);
	sender = xasprintf("%s@%s", local, out->domain);
	if (SPF_request_set_env_from(req, sender) != 0)
		spf_oom();
	free(sender);
	if (SPF_request_set_helo_dom(req, helo != NULL ? helo : "") != SPF_E_SUCCESS)
		spf_oom();
	/* SPF_request_prepare() is static; this is what it does. */
	req->use_helo = helo_identity;
	req->cur_dom = req->env_from_dp;

	resp = SPF_response_new(req);
	if (resp == NULL)
		spf_oom();
	copy = libspf2_copy(f.text, client.family);
	err = SPF_record_compile(server, resp, &rec, copy);
	free(copy);
	if (err != SPF_E_SUCCESS) {
		r = finish(out, MP_SPF_PERMERROR, "libspf2 could not compile the record of %s: %s",
		    out->domain, SPF_strerror(err));
		if (rec != NULL)
			SPF_record_free(rec);
		goto done;
	}
	/* Not SPF_request_query_mailfrom: it passes 127/8 and ::1 unchecked. */
	resp->spf_record_exp = rec;
	SPF_record_interpret(rec, req, resp, 0);
	SPF_record_free(rec);

	if (ev->decided) {
		r = finish(out, ev->result, "%s", ev->why);
		goto done;
	}
	switch (SPF_response_result(resp)) {
	case SPF_RESULT_PASS:
	case SPF_RESULT_FAIL:
	case SPF_RESULT_SOFTFAIL:
	case SPF_RESULT_NEUTRAL:
		r = SPF_response_result(resp) == SPF_RESULT_PASS ? MP_SPF_PASS :
		    SPF_response_result(resp) == SPF_RESULT_FAIL ? MP_SPF_FAIL :
		    SPF_response_result(resp) == SPF_RESULT_SOFTFAIL ? MP_SPF_SOFTFAIL : MP_SPF_NEUTRAL;
		out->result = r;
		if (SPF_response_reason(resp) == SPF_REASON_DEFAULT)
			finish(out, r,
			    "no term of the SPF record of %s matched: default result neutral", out->domain);
		else if (ev->saw_include)
			finish(out, r,
			    "%s through the SPF record of %s and its includes or redirect "
			    "(last DNS-querying term evaluated: %s)",
			    mp_spf_result_str(r), out->domain, ev->last_term);
		else
			describe_match(ev, f.text, &client, r, out->reason, sizeof(out->reason));
		if (r == MP_SPF_FAIL && ev->exp_ok && resp->explanation != NULL &&
		    strncmp(resp->explanation, ev->exp_text, sizeof(ev->exp_text) - 1) == 0)
			set_text(out->explanation, sizeof(out->explanation), resp->explanation);
		break;
	case SPF_RESULT_TEMPERROR:
		r = finish(out, MP_SPF_TEMPERROR, "libspf2: %s", SPF_strerror(SPF_response_errcode(resp)));
		break;
	case SPF_RESULT_INVALID:
		if (SPF_response_errcode(resp) == SPF_E_DNS_ERROR) {
			r = finish(out, MP_SPF_TEMPERROR, "libspf2: DNS error");
			break;
		}
		/* FALLTHROUGH */
	case SPF_RESULT_PERMERROR:
	case SPF_RESULT_NONE:
	default:
		r = finish(out, MP_SPF_PERMERROR, "libspf2: %s", SPF_strerror(SPF_response_errcode(resp)));
		break;
	}
done:
	SPF_response_free(resp);
	SPF_request_free(req);
	SPF_server_free(server);
	free(ev);
	fetched_clear(&f);
	return r;
}

static void
outcome_init(struct mp_spf_outcome *out)
{
	memset(out, 0, sizeof(*out));
	out->result = MP_SPF_NONE;
}

enum mp_spf_result
mp_spf_check_helo(struct mp_spf *spf, const struct mp_deadline *deadline,
    const char *ip, const char *helo, struct mp_spf_outcome *out)
{
	struct mp_spf_outcome local;

	if (out == NULL)
		out = &local;
	outcome_init(out);
	if (helo == NULL)
		helo = "";
	set_text(out->identity, sizeof(out->identity), helo);
	return check_host(spf, deadline, ip, helo, "postmaster", helo, true, out);
}

enum mp_spf_result
mp_spf_check_mailfrom(struct mp_spf *spf, const struct mp_deadline *deadline,
    const char *ip, const char *helo, const char *mail_from, struct mp_spf_outcome *out)
{
	struct mp_spf_outcome local;
	const char *at;
	char *addr, *lp;
	size_t len;
	enum mp_spf_result r;

	if (out == NULL)
		out = &local;
	outcome_init(out);
	if (helo == NULL)
		helo = "";
	if (mail_from == NULL)
		mail_from = "";
	len = strlen(mail_from);
	if (len >= 2 && mail_from[0] == '<' && mail_from[len - 1] == '>') {
		mail_from++;
		len -= 2;
	}
	addr = len == 0 ? xasprintf("postmaster@%s", helo) : xstrndup(mail_from, len);
	set_text(out->identity, sizeof(out->identity), addr);
	/* The domain is what follows the last '@': a quoted local part may
	 * hold '@' itself ("a@victim"@attacker is attacker's). */
	at = strrchr(addr, '@');
	if (at == NULL) {
		/*
		 * A sender without a domain (Postfix accepts <name> and
		 * qualifies it later) names no domain to check: none. The
		 * HELO name is not taken instead, or a client could check
		 * one domain and claim another.
		 */
		r = finish(out, MP_SPF_NONE, "not checked: MAIL FROM has no domain");
		free(addr);
		return r;
	}
	/* RFC 7208 4.3: an empty local part is "postmaster" */
	lp = at == addr ? xstrdup("postmaster") : xstrndup(addr, (size_t)(at - addr));
	r = check_host(spf, deadline, ip, helo, lp, at + 1, false, out);
	/* The one identity DMARC may align: the domain check_host ran on. */
	mp_strlcpy(out->dmarc_domain, out->domain, sizeof(out->dmarc_domain));
	free(lp);
	free(addr);
	return r;
}

/* ------------------------------------------------------------------ */
/* Inspection (no client IP)                                            */

struct walk {
	struct mp_dns *dns;
	const struct mp_deadline *deadline;
	struct mp_spf_inspection *out;
	bool decided;
};

static void
walk_decide(struct walk *w, enum mp_spf_result status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
walk_decide(struct walk *w, enum mp_spf_result status, const char *fmt, ...)
{
	va_list ap;
	char buf[256];

	if (w->decided)
		return;
	w->decided = true;
	w->out->status = status;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	set_text(w->out->problem, sizeof(w->out->problem), buf);
}

/* The literal domain of a term (no macros), or false. */
static bool
literal_target(const struct term *t, const char *cur, char out[SPF_NAME_MAX + 1])
{
	const char *a = t->arg;
	size_t n = t->arg_len, dlen;
	int c4, c6;
	char buf[SPF_NAME_MAX + 2];

	if (t->modifier) {
		/* redirect=domain */
	} else if (name_is(t, "a") || name_is(t, "mx")) {
		if (!split_dual_cidr(a, n, &dlen, &c4, &c6, &(const char *){ NULL }))
			return false;
		if (dlen == 0)
			return mp_strlcpy(out, cur, SPF_NAME_MAX + 1);
		a++;
		n = dlen - 1;
	} else {
		if (n == 0 || a[0] != ':')
			return false;
		a++;
		n--;
	}
	if (n == 0 || n >= sizeof(buf) || memchr(a, '%', n) != NULL)
		return false;
	memcpy(buf, a, n);
	buf[n] = '\0';
	return query_name_ok(buf, out);
}

static void walk_record(struct walk *w, const char *domain, const char *text, int depth, bool chain);

static void
walk_target(struct walk *w, const char *target, int depth, bool chain, const char *what)
{
	struct fetched f;

	if (depth >= SPF_MAX_DEPTH) {
		walk_decide(w, MP_SPF_PERMERROR, "includes and redirects nested too deep");
		return;
	}
	fetch_record(w->dns, w->deadline, target, &f);
	switch (f.status) {
	case FETCH_OK:
		walk_record(w, target, f.text, depth + 1, chain);
		break;
	case FETCH_NONE:
		if (f.void_lookup)
			w->out->void_lookups++;
		walk_decide(w, MP_SPF_PERMERROR, "%s target without an SPF record (%s)", what, f.why);
		break;
	case FETCH_PERM:
		walk_decide(w, MP_SPF_PERMERROR, "%s", f.why);
		break;
	case FETCH_TEMP:
		walk_decide(w, MP_SPF_TEMPERROR, "%s", f.why);
		break;
	}
	fetched_clear(&f);
}

/* Counts a lookup that found nothing (A and AAAA for a, MX for mx, A for exists). */
static void
walk_void_probe(struct walk *w, const char *name, bool mx, bool both)
{
	struct mp_dns_result *res = NULL;
	enum mp_dns_status st;
	bool empty = true, temp = false;

	st = dns_query(w->dns, w->deadline, name, mx ? MP_DNS_MX : MP_DNS_A, &res);
	mp_dns_result_free(&res);
	if (st == MP_DNS_OK)
		empty = false;
	else if (mp_dns_status_is_temp(st))
		temp = true;
	if (empty && !temp && both) {
		st = dns_query(w->dns, w->deadline, name, MP_DNS_AAAA, &res);
		mp_dns_result_free(&res);
		if (st == MP_DNS_OK)
			empty = false;
		else if (mp_dns_status_is_temp(st))
			temp = true;
	}
	if (temp) {
		walk_decide(w, MP_SPF_TEMPERROR, "DNS error looking up %s", name);
		return;
	}
	if (empty && ++w->out->void_lookups > SPF_MAX_VOID)
		walk_decide(w, MP_SPF_PERMERROR, "more than %d void lookups (the 3rd: %s)",
		    SPF_MAX_VOID, name);
}

static void
walk_record(struct walk *w, const char *domain, const char *text, int depth, bool chain)
{
	const char *p = text + 6, *end = text + strlen(text);
	char redirect[SPF_NAME_MAX + 1] = "", target[SPF_NAME_MAX + 1];
	bool has_all = false, has_redirect = false, redirect_literal = false;

	while (p < end && !w->decided) {
		const char *s;
		struct term t;

		while (p < end && *p == ' ')
			p++;
		s = p;
		while (p < end && *p != ' ')
			p++;
		if (p == s)
			break;
		term_split(s, (size_t)(p - s), &t);
		if (t.modifier) {
			if (name_is(&t, "redirect")) {
				has_redirect = true;
				redirect_literal = literal_target(&t, domain, redirect);
			}
			continue;
		}
		if (name_is(&t, "all")) {
			has_all = true;
			if (chain)
				w->out->all_qualifier = t.qual;
			continue;
		}
		if (!term_is_dns(&t))
			continue;
		if (++w->out->lookups > SPF_MAX_TERMS) {
			walk_decide(w, MP_SPF_PERMERROR, "more than %d DNS-querying terms", SPF_MAX_TERMS);
			return;
		}
		if (!literal_target(&t, domain, target))
			continue;
		if (name_is(&t, "include"))
			walk_target(w, target, depth, false, "include");
		else if (name_is(&t, "a"))
			walk_void_probe(w, target, false, true);
		else if (name_is(&t, "mx"))
			walk_void_probe(w, target, true, false);
		else if (name_is(&t, "exists"))
			walk_void_probe(w, target, false, false);
	}
	/* RFC 7208 6.1: redirect is ignored when the record has "all". */
	if (w->decided || has_all || !has_redirect)
		return;
	if (++w->out->lookups > SPF_MAX_TERMS) {
		walk_decide(w, MP_SPF_PERMERROR, "more than %d DNS-querying terms", SPF_MAX_TERMS);
		return;
	}
	if (redirect_literal)
		walk_target(w, redirect, depth, chain, "redirect");
}

void
mp_spf_inspect(struct mp_spf *spf, const struct mp_deadline *deadline,
    const char *domain, struct mp_spf_inspection *out)
{
	struct walk w;
	struct fetched f;
	char name[SPF_NAME_MAX + 1];
	const char *why;

	memset(out, 0, sizeof(*out));
	out->status = MP_SPF_NONE;
	if (domain == NULL || !identity_domain_ok(domain, name, &why)) {
		set_text(out->problem, sizeof(out->problem), "not a valid domain name");
		return;
	}
	if (mp_deadline_expired(deadline)) {
		out->status = MP_SPF_TEMPERROR;
		set_text(out->problem, sizeof(out->problem), "deadline passed");
		return;
	}
	fetch_record(spf->dns, deadline, name, &f);
	out->nrecords = f.nrecords;
	out->record_len = f.len;
	mp_strlcpy(out->record, f.shown, sizeof(out->record));
	switch (f.status) {
	case FETCH_NONE:
		out->status = MP_SPF_NONE;
		fetched_clear(&f);
		return;
	case FETCH_TEMP:
		out->status = MP_SPF_TEMPERROR;
		set_text(out->problem, sizeof(out->problem), f.why);
		return;
	case FETCH_PERM:
		out->status = MP_SPF_PERMERROR;
		set_text(out->problem, sizeof(out->problem), f.why);
		/* still report what a single invalid record says */
		return;
	case FETCH_OK:
		break;
	}
	out->status = MP_SPF_PASS;
	{
		struct term t;
		const char *p = f.text + 6, *end = f.text + f.len;

		while (p < end) {
			const char *s;

			while (p < end && *p == ' ')
				p++;
			s = p;
			while (p < end && *p != ' ')
				p++;
			if (p == s)
				break;
			term_split(s, (size_t)(p - s), &t);
			if (t.modifier && name_is(&t, "redirect"))
				out->has_redirect = true;
		}
	}
	memset(&w, 0, sizeof(w));
	w.dns = spf->dns;
	w.deadline = deadline;
	w.out = out;
	walk_record(&w, name, f.text, 0, true);
	fetched_clear(&f);
}
