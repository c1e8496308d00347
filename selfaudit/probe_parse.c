/*
 * probe_parse: reading what the server says and what Postfix is set to,
 * without judging it: the EHLO keywords, software names and versions in
 * free text, and the networks of a mynetworks value. Pure functions.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_int.h"

static bool
mech_valid(const char *m, size_t len)
{
	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)m[i];

		if (!isupper(ch) && !isdigit(ch) && ch != '-' && ch != '_')
			return false;
	}
	return true;
}

/* True when the space-separated list holds the word w[0..wlen). */
static bool
has_word(const char *list, const char *w, size_t wlen)
{
	const char *p = list;

	while (*p != '\0') {
		size_t l = strcspn(p, " ");

		if (l == wlen && memcmp(p, w, wlen) == 0)
			return true;
		p += l;
		while (*p == ' ')
			p++;
	}
	return false;
}

static void
add_word(char *list, size_t listlen, const char *w, size_t wlen, int *count)
{
	size_t have = strlen(list);

	/* Deduplicate: AUTH and AUTH= usually list the same mechanisms. */
	if (has_word(list, w, wlen))
		return;
	if (have + wlen + 2 > listlen)
		return;
	if (have > 0)
		list[have++] = ' ';
	memcpy(list + have, w, wlen);
	list[have + wlen] = '\0';
	if (count != NULL)
		(*count)++;
}

/*
 * Splits params at the bytes of seps into uppercase words and adds the
 * valid ones to list; with count, at most max of them.
 */
static void
add_tokens(const char *params, const char *seps, char *list, size_t listlen, int *count, int max)
{
	const char *p = params;

	while (*p != '\0') {
		char t[32];
		size_t l;

		p += strspn(p, seps);
		if (*p == '\0')
			break;
		l = strcspn(p, seps);
		if (l < sizeof(t)) {
			for (size_t i = 0; i < l; i++)
				t[i] = (char)toupper((unsigned char)p[i]);
			t[l] = '\0';
			if (mech_valid(t, l) && (count == NULL || *count < max))
				add_word(list, listlen, t, l, count);
		}
		p += l;
	}
}

/* Keywords that only set a flag. */
static const struct {
	const char *kw;
	size_t off;
} ehlo_flags[] = {
	{ "STARTTLS", offsetof(struct audit_ehlo, starttls) },
	{ "PIPELINING", offsetof(struct audit_ehlo, pipelining) },
	{ "VRFY", offsetof(struct audit_ehlo, vrfy) },
	{ "ETRN", offsetof(struct audit_ehlo, etrn) },
	{ "SMTPUTF8", offsetof(struct audit_ehlo, smtputf8) },
	{ "CHUNKING", offsetof(struct audit_ehlo, chunking) },
	{ "DSN", offsetof(struct audit_ehlo, dsn) },
	{ "8BITMIME", offsetof(struct audit_ehlo, eightbitmime) },
};

static void
ehlo_size(struct audit_ehlo *e, const char *params)
{
	char *end;
	unsigned long long v;

	e->has_size = true;
	if (isdigit((unsigned char)*params)) {
		v = strtoull(params, &end, 10);
		if (*end == '\0' || *end == ' ')
			e->size = v;
	}
}

/* One line after the first: a keyword, then its parameters after ' ' or '='. */
static void
ehlo_line(struct audit_ehlo *e, const char *l, struct mp_buf *b)
{
	char kw[64];
	size_t n = 0;
	const char *params;

	while (*l == ' ')
		l++;
	while (l[n] != '\0' && l[n] != ' ' && l[n] != '=' && n < sizeof(kw) - 1) {
		kw[n] = (char)toupper((unsigned char)l[n]);
		n++;
	}
	kw[n] = '\0';
	if (n == 0)
		return;
	params = l + n;
	if (*params == '=' || *params == ' ')
		params++;
	mp_buf_reset(b);
	mp_printable(b, kw, n, MP_SHOW_TOKEN);
	add_word(e->keywords, sizeof(e->keywords), mp_buf_str(b), b->len, NULL);
	if (strcmp(kw, "AUTH") == 0) {
		add_tokens(params, " \t", e->auth, sizeof(e->auth), &e->nauth, AUDIT_MAX_AUTH);
	} else if (strcmp(kw, "XCLIENT") == 0) {
		e->xclient = true;
		add_tokens(params, " ", e->xclient_attrs, sizeof(e->xclient_attrs), NULL, 0);
	} else if (strcmp(kw, "SIZE") == 0) {
		ehlo_size(e, params);
	} else {
		for (size_t i = 0; i < MP_ARRAY_SIZE(ehlo_flags); i++)
			if (strcmp(kw, ehlo_flags[i].kw) == 0)
				*(bool *)((char *)e + ehlo_flags[i].off) = true;
	}
}

bool
audit_ehlo_parse(const struct smtp_reply *r, struct audit_ehlo *e)
{
	struct mp_buf b = MP_BUF_INIT;

	memset(e, 0, sizeof(*e));
	if (r->code != 250 || r->nlines == 0)
		return false;
	e->valid = true;
	audit_first_word(r->line[0], e->name, sizeof(e->name));
	for (size_t i = 1; i < r->nlines; i++)
		ehlo_line(e, r->line[i], &b);
	mp_buf_free(&b);
	/* PLAIN and LOGIN carry the password readably. */
	e->auth_plaintext = has_word(e->auth, "PLAIN", 5) || has_word(e->auth, "LOGIN", 5);
	return true;
}

void
audit_first_word(const char *line, char *out, size_t outlen)
{
	audit_printable(out, outlen, line, strcspn(line, " \t"), MP_SHOW_LINE);
}

static const char *const software[] = {
	"postfix", "exim", "sendmail", "qmail", "opensmtpd", "microsoft", "exchange",
	"haraka", "zimbra", "mdaemon", "kerio", "courier", "communigate", "smartermail",
	"hmailserver", "axigen", "icewarp", "james", "lotus", "domino", "postini", "ironport",
};

bool
audit_text_names_software(const char *text, char *what, size_t whatlen)
{
	size_t tl = strlen(text);

	for (size_t i = 0; i < MP_ARRAY_SIZE(software); i++) {
		size_t sl = strlen(software[i]);

		for (size_t k = 0; k + sl <= tl; k++) {
			/* Whole words only: "sendmail" but not "nosendmailhere". */
			if (mp_strncasecmp(text + k, software[i], sl) != 0)
				continue;
			if (k > 0 && isalnum((unsigned char)text[k - 1]))
				continue;
			if (k + sl < tl && isalpha((unsigned char)text[k + sl]))
				continue;
			snprintf(what, whatlen, "software name \"%s\"", software[i]);
			return true;
		}
	}
	return false;
}

/*
 * A token like 3.7.11, v8.15.2, 4.96-rc1; *quad_r when it is also four
 * numbers of 0-255 alone: an IPv4 address, unless the caller knows better.
 */
static bool
is_version(const char *t, size_t len, bool *quad_r)
{
	size_t i = 0, parts = 0, dots = 0;
	bool quad = true;

	if (i < len && (t[i] == 'v' || t[i] == 'V'))
		i++;
	while (i < len) {
		size_t d = 0;
		unsigned long v = 0;

		while (i + d < len && isdigit((unsigned char)t[i + d])) {
			if (d < 6)
				v = v * 10 + (unsigned long)(t[i + d] - '0');
			d++;
		}
		if (d == 0)
			break;
		parts++;
		if (d > 3 || v > 255)
			quad = false;
		i += d;
		if (i < len && t[i] == '.' && i + 1 < len && isdigit((unsigned char)t[i + 1])) {
			dots++;
			i++;
			continue;
		}
		break;
	}
	if (parts < 2 || dots < 1)
		return false;
	*quad_r = parts == 4 && quad && i == len;
	/* The rest may be a suffix like -rc1, but not more of a hostname. */
	for (; i < len; i++)
		if (t[i] == '.')
			return false;
	return true;
}

/*
 * An enhanced status code (RFC 3463: 2.0.0, 5.5.2) in a reply of class
 * cls (0: any of 2, 4 and 5), not a version.
 */
static bool
is_status_code(const char *t, size_t len, int cls)
{
	size_t i = 1, parts = 1;

	if (len < 5 || t[1] != '.')
		return false;
	if (cls != 0 ? t[0] != '0' + cls : (t[0] != '2' && t[0] != '4' && t[0] != '5'))
		return false;
	while (i < len) {
		size_t d = 0;

		if (t[i] != '.')
			return false;
		i++;
		while (i + d < len && isdigit((unsigned char)t[i + d]))
			d++;
		if (d == 0 || d > 3)
			return false;
		i += d;
		parts++;
	}
	return parts == 3;
}

/*
 * True when p is the first word of a line of text: right after the reply
 * code, where alone an enhanced status code stands. Lines are joined by
 * " / " (smtp_reply_text).
 */
static bool
at_line_start(const char *text, const char *p)
{
	while (p > text && (p[-1] == ' ' || p[-1] == '\t'))
		p--;
	return p == text || (p - text >= 2 && p[-1] == '/' && p[-2] == ' ');
}

/*
 * True when the word w[0..n) introduces a version: "version", or a
 * software name ("Sendmail 8.17.1.9/8.17.1.9", four numbers as an
 * address has, is Debian 12's Sendmail).
 */
static bool
version_word(const char *w, size_t n)
{
	if (n == 7 && mp_strncasecmp(w, "version", 7) == 0)
		return true;
	for (size_t i = 0; i < MP_ARRAY_SIZE(software); i++)
		if (strlen(software[i]) == n && mp_strncasecmp(w, software[i], n) == 0)
			return true;
	return false;
}

bool
audit_reply_discloses(int code, const char *text, char *what, size_t whatlen)
{
	static const char seps[] = " \t()[]/;,:=<>\"'";
	const char *p = text, *prev = "";
	size_t prevlen = 0;
	char sw[64] = "";
	int cls = code >= 200 && code < 600 ? code / 100 : 0;

	while (*p != '\0') {
		size_t l;
		bool quad = false;

		p += strspn(p, seps);
		l = strcspn(p, seps);
		if (l > 0 && is_version(p, l, &quad) && (!quad || version_word(prev, prevlen)) &&
		    !(at_line_start(text, p) && is_status_code(p, l, cls))) {
			struct mp_buf b = MP_BUF_INIT;

			mp_printable(&b, p, l, MP_SHOW_TOKEN);
			if (audit_text_names_software(text, sw, sizeof(sw)))
				snprintf(what, whatlen, "%s and version \"%s\"", sw, mp_buf_str(&b));
			else
				snprintf(what, whatlen, "version \"%s\"", mp_buf_str(&b));
			mp_buf_free(&b);
			return true;
		}
		prev = p;
		prevlen = l;
		p += l;
	}
	return false;
}

bool
audit_text_discloses(const char *text, char *what, size_t whatlen)
{
	return audit_reply_discloses(0, text, what, whatlen);
}

/*
 * One mynetworks entry: "a.b.c.d/len", "[v6]/len" or a bare address, into
 * family, bytes and prefix length.
 */
static bool
parse_net(const char *s, size_t len, int *af_r, unsigned char addr_r[16], int *plen_r)
{
	char buf[80];
	char *slash, *a;
	int plen = -1;
	size_t al;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	slash = strchr(buf, '/');
	if (slash != NULL) {
		char *end;
		long v;

		*slash++ = '\0';
		v = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || v < 0 || v > 128)
			return false;
		plen = (int)v;
	}
	a = buf;
	al = strlen(a);
	if (a[0] == '[' && al >= 2 && a[al - 1] == ']') {
		a[al - 1] = '\0';
		a++;
	}
	if (inet_pton(AF_INET, a, addr_r) == 1) {
		*af_r = AF_INET;
		if (plen > 32)
			return false;
		*plen_r = plen < 0 ? 32 : plen;
		return true;
	}
	if (inet_pton(AF_INET6, a, addr_r) == 1) {
		*af_r = AF_INET6;
		*plen_r = plen < 0 ? 128 : plen;
		return true;
	}
	return false;
}

static bool
prefix_match(const unsigned char *a, const unsigned char *b, int plen)
{
	int full = plen / 8, rest = plen % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

/* Calls fn for each parsable network of a mynetworks value; stops when it returns true. */
static bool
each_net(const char *networks, bool (*fn)(int af, const unsigned char *net, int plen,
    const char *tok, size_t toklen, void *arg), void *arg)
{
	const char *p = networks;

	while (p != NULL && *p != '\0') {
		size_t l;
		int af, plen;
		unsigned char net[16];

		while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n')
			p++;
		l = strcspn(p, " ,\t\n");
		if (l > 0 && parse_net(p, l, &af, net, &plen) && fn(af, net, plen, p, l, arg))
			return true;
		p += l;
	}
	return false;
}

struct match_arg {
	int af;
	unsigned char addr[16];
};

static bool
net_contains(int af, const unsigned char *net, int plen, const char *tok, size_t toklen, void *arg)
{
	const struct match_arg *m = arg;

	(void)tok;
	(void)toklen;
	return af == m->af && prefix_match(net, m->addr, plen);
}

bool
audit_addr_in_networks(const char *addr, const char *networks)
{
	struct match_arg m;

	if (inet_pton(AF_INET, addr, m.addr) == 1) {
		m.af = AF_INET;
	} else if (inet_pton(AF_INET6, addr, m.addr) == 1) {
		m.af = AF_INET6;
		/* An IPv4-mapped peer is judged as IPv4. */
		if (memcmp(m.addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
			memmove(m.addr, m.addr + 12, 4);
			m.af = AF_INET;
		}
	} else {
		return false;
	}
	return each_net(networks, net_contains, &m);
}

struct wide_arg {
	char *which;
	size_t whichlen;
};

static bool
net_wide(int af, const unsigned char *net, int plen, const char *tok, size_t toklen, void *arg)
{
	struct wide_arg *w = arg;

	(void)net;
	if ((af == AF_INET && plen < 8) || (af == AF_INET6 && plen < 16)) {
		snprintf(w->which, w->whichlen, "%.*s", (int)(toklen < 80 ? toklen : 80), tok);
		return true;
	}
	return false;
}

bool
audit_networks_too_wide(const char *networks, char *which, size_t whichlen)
{
	struct wide_arg w = { which, whichlen };

	return each_net(networks, net_wide, &w);
}
