/*
 * spf_macro: RFC 7208 section 7 macros: their syntax, their expansion
 * (libspf2's is wrong for exp= text and refuses some delimiters), the
 * marking of the domain-specs that libspf2 cannot expand so that our DNS
 * layer expands them, and the exp= text.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spf_int.h"


/*
 * macro-string = *( macro-expand / macro-literal )
 * macro-expand = ( "%{" macro-letter transformers *delimiter "}" )
 *                / "%%" / "%_" / "%-"
 * exp_letters: also allow c, r, t (only in explanation text).
 * *ends_macro_r tells whether the string ends with a macro-expand.
 */
bool
spf_macro_string_ok(const char *s, size_t n, bool exp_letters, bool *ends_macro_r, const char **why_r)
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
		if (!spf_macro_string_ok(s + start, i - start, true, NULL, why_r))
			return false;
	}
	return true;
}

/* ---- expansion ---- */

/*
 * libspf2 1.2.10 does not expand an exp= text we hand it through
 * SPF_record_compile_macro()/SPF_record_expand_data(): spaces come out as
 * '%' and the macros stay literal. So the explanation (RFC 7208 6.2,
 * 7.3) is expanded here: it is short and has no DNS limits to enforce.
 * The same expansion serves the domain-specs libspf2 refuses (see
 * MACRO_MARK below), with the limits.
 */

/* The client address as text, as %{c} and %{i} (IPv4) show it. */
void
spf_client_ipstr(const struct spf_eval *ev, char out[INET6_ADDRSTRLEN])
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
 * The value of one macro letter (RFC 7208 7.2), before its transformers.
 * false when %{p} in a domain-spec decided the check.
 */
static bool
macro_value(struct spf_eval *ev, char letter, const char *dom, bool strict, const char *ipstr,
    struct mp_buf *value)
{
	char host[256], pname[SPF_NAME_MAX + 1];
	bool ok = true;

	switch (letter | 0x20) {
	case 's':
		mp_buf_printf(value, "%s@%s", ev->local, ev->sender_domain);
		break;
	case 'l':
		mp_buf_puts(value, ev->local);
		break;
	case 'o':
		mp_buf_puts(value, ev->sender_domain);
		break;
	case 'd':
		mp_buf_puts(value, dom);
		break;
	case 'i':
		if (ev->client.family == AF_INET)
			mp_buf_puts(value, ipstr);
		else {
			for (int k = 0; k < 16; k++)
				mp_buf_printf(value, "%s%x.%x", k ? "." : "",
				    ev->client.v6.s6_addr[k] >> 4, ev->client.v6.s6_addr[k] & 0xf);
		}
		break;
	case 'c':
		mp_buf_puts(value, ipstr);
		break;
	case 'v':
		mp_buf_puts(value, ev->client.family == AF_INET ? "in-addr" : "ip6");
		break;
	case 'h':
		mp_buf_puts(value, ev->helo);
		break;
	case 'p':
		ok = spf_validated_name(ev, dom, strict, pname, sizeof(pname));
		mp_buf_puts(value, pname);
		break;
	case 'r':
		if (gethostname(host, sizeof(host)) != 0)
			mp_strlcpy(host, "unknown", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		mp_buf_puts(value, host);
		break;
	case 't':
		mp_buf_printf(value, "%lld", (long long)time(NULL));
		break;
	default:
		break;
	}
	return ok;
}

/*
 * Expands a macro-string already checked by spf_macro_string_ok() (or
 * macro_string_ok_exp()), with dom as %{d}. strict: a domain-spec, whose
 * %{p} counts as a DNS-querying term and whose failed lookups end the
 * check (false is returned, the check is decided); otherwise an
 * explanation.
 */
static bool
expand_macros(struct spf_eval *ev, const char *s, size_t n, const char *dom, bool strict,
    struct mp_buf *out)
{
	char ipstr[INET6_ADDRSTRLEN];
	struct mp_buf value = MP_BUF_INIT;
	bool ok = true;

	spf_client_ipstr(ev, ipstr);
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
		ok = macro_value(ev, letter, dom, strict, ipstr, &value);
		macro_apply(out, mp_buf_str(&value), digits, reverse, delims, ndelims, url);
	}
	mp_buf_free(&value);
	return ok;
}

/* ---- domain-specs that libspf2 cannot expand ---- */

/*
 * libspf2 1.2.10 refuses ',' and '/' as macro delimiters ("Invalid
 * delimiter", so the record would be a permerror) and 'R' as the reverse
 * transformer, although RFC 7208 7.1 allows all three. spf_libspf2_copy()
 * hands such a domain-spec over marked, with every '%' doubled so that
 * libspf2 expands nothing in it and gives it back verbatim:
 *
 *   "mp" ["p"] LEN "." SPEC ".mp-d." %{d} MACRO_MARK
 *
 * LEN is the length of SPEC, so that the current domain libspf2 fills in
 * (%{d}, whatever bytes it holds) is told apart from SPEC without any
 * escaping. Our layer finds the mark in the name it is asked for and
 * expands SPEC itself, with expand_macros(). "mpp" marks a ptr:SPEC,
 * which reaches us as exists: (spf_ptr_emulate). A domain-spec that holds
 * MACRO_MARK itself is marked too, so that no record can forge one;
 * LEN + SPEC are at most 255 bytes, libspf2's longest string.
 */
#define MACRO_MARK ".mp-macro.invalid"
#define MACRO_DOM ".mp-d."

bool
spf_spec_needs_marking(const char *s, size_t n)
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
		if (mp_strncasecmp(s + i, &MACRO_MARK[1], m) == 0)
			return true;
	return false;
}

void
spf_spec_mark(struct mp_buf *b, const char *s, size_t n, bool ptr)
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
bool
spf_macro_unmark(struct spf_eval *ev, const char *raw, size_t n, bool strict, struct mp_buf *out,
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
	if (!spf_macro_string_ok(spec, len, false, NULL, &why))
		return true;
	d = xstrndup(dom, (size_t)(raw + n - dom));
	*ptr_r = ptr;
	expand_macros(ev, spec, len, d, strict, out);
	free(d);
	return true;
}

/*
 * The exp= text (RFC 7208 6.2): exactly one TXT record, printable ASCII,
 * valid macro syntax; otherwise there is no explanation. An error code
 * from here leaves libspf2's explanation unset, which is what we want.
 * This lookup never counts against the limits.
 */
SPF_errcode_t
spf_layer_get_exp(SPF_server_t *server, const char *domain, char **bufp, size_t *buflenp)
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
	(void)spf_layer_name(ev, domain, false, name, sizeof(name), &ptr);
	if (spf_dns_query(ev->dns, ev->deadline, name, MP_DNS_TXT, &res) == MP_DNS_OK) {
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
	expand_macros(ev, txt->text, txt->text_len, spf_cur_dom(ev), false, &b);
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
