/*
 * mtasts: the _mta-sts TXT record and the policy file of RFC 8461, read
 * without judging them: the judge (dnscheck_sts.c) compares the policy
 * with the MX records. Pure functions; the fetch is mtasts_fetch.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"

const char *
audit_sts_mode_str(enum audit_sts_mode m)
{
	switch (m) {
	case STS_MODE_ENFORCE: return "enforce";
	case STS_MODE_TESTING: return "testing";
	case STS_MODE_NONE: return "none";
	case STS_MODE_INVALID: return "invalid";
	case STS_MODE_MISSING: return "missing";
	}
	return "?";
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* A field name of the policy: 1*32(ALPHA / DIGIT / "_" / "-" / "."). */
static bool
key_valid(const char *k, size_t n)
{
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];

		if (!mp_ascii_isalpha(c) && !mp_ascii_isdigit(c) && c != '_' && c != '-' && c != '.')
			return false;
	}
	return true;
}

static void
problem(struct mp_buf *list, const char *what, const char *v, size_t vlen)
{
	if (list->len > 0)
		mp_buf_puts(list, "; ");
	mp_buf_puts(list, what);
	if (v != NULL) {
		mp_buf_puts(list, " \"");
		mp_printable(list, v, vlen, MP_SHOW_TOKEN);
		mp_buf_putc(list, '"');
	}
}

static void
set_mode(struct audit_sts_policy *p, const char *v, size_t n)
{
	static const struct {
		const char *s;
		enum audit_sts_mode m;
	} modes[] = {
		{ "enforce", STS_MODE_ENFORCE }, { "testing", STS_MODE_TESTING }, { "none", STS_MODE_NONE },
	};

	for (size_t i = 0; i < MP_ARRAY_SIZE(modes); i++)
		if (strlen(modes[i].s) == n && memcmp(v, modes[i].s, n) == 0) {
			p->mode = modes[i].m;
			return;
		}
	p->mode = STS_MODE_INVALID;
	problem(&p->errors, "mode is not enforce, testing or none:", v, n);
}

static void
set_max_age(struct audit_sts_policy *p, const char *v, size_t n)
{
	long age = 0;

	for (size_t i = 0; i < n; i++)
		if (!mp_ascii_isdigit((unsigned char)v[i]))
			n = 0;
	/* 1*10DIGIT; anything above one year is refused too (RFC 8461 3.2). */
	if (n == 0 || n > 10) {
		problem(&p->errors, "max_age is not a number:", v, n);
		return;
	}
	for (size_t i = 0; i < n && age <= STS_MAX_AGE; i++)
		age = age * 10 + (v[i] - '0');
	if (age > STS_MAX_AGE) {
		problem(&p->errors, "max_age is over 31557600 (one year):", v, n);
		return;
	}
	p->has_max_age = true;
	p->max_age = age;
}

static void
add_mx(struct audit_sts_policy *p, const char *v, size_t n)
{
	bool wild = n > 2 && v[0] == '*' && v[1] == '.';
	char norm[MP_DOMAIN_MAX];
	bool fits;

	if (p->nmx >= STS_MAX_MX) {
		problem(&p->notes, "more mx patterns than the audit reads; ignored:", v, n);
		return;
	}
	fits = mp_domain_normalize(v + (wild ? 2 : 0), n - (wild ? 2 : 0), norm, NULL) &&
	    strlen(norm) + (wild ? 2 : 0) < MP_DOMAIN_MAX;
	if (!fits) {
		problem(&p->errors, "mx is not a host name or *.domain:", v, n);
		return;
	}
	mp_strlcpy(p->mx[p->nmx], wild ? "*." : "", MP_DOMAIN_MAX);
	strcat(p->mx[p->nmx++], norm);
}

/* One "key: value" line; seen counts version, mode and max_age. */
static void
policy_line(struct audit_sts_policy *p, const char *l, size_t n, int seen[3])
{
	const char *colon = memchr(l, ':', n), *v;
	size_t kl, vl;

	if (colon == NULL || !key_valid(l, (size_t)(colon - l))) {
		problem(&p->errors, "not a \"key: value\" line:", l, n);
		return;
	}
	kl = (size_t)(colon - l);
	v = colon + 1;
	vl = n - kl - 1;
	while (vl > 0 && is_wsp(*v)) {
		v++;
		vl--;
	}
	while (vl > 0 && is_wsp(v[vl - 1]))
		vl--;
	if (kl == 2 && memcmp(l, "mx", 2) == 0) {
		add_mx(p, v, vl);
		return;
	}
	for (int k = 0; k < 3; k++) {
		static const char *const keys[] = { "version", "mode", "max_age" };

		if (strlen(keys[k]) != kl || memcmp(l, keys[k], kl) != 0)
			continue;
		if (seen[k]++ > 0) {
			problem(&p->errors, "repeated field:", keys[k], kl);
			return;
		}
		if (k == 0) {
			p->version_ok = vl == 5 && memcmp(v, "STSv1", 5) == 0;
			if (!p->version_ok)
				problem(&p->errors, "version is not STSv1:", v, vl);
		} else if (k == 1) {
			set_mode(p, v, vl);
		} else {
			set_max_age(p, v, vl);
		}
		return;
	}
	/* Other keys are extensions: ignored (RFC 8461 3.2). */
}

bool
audit_sts_policy_parse(const char *body, size_t len, struct audit_sts_policy *p)
{
	int seen[3] = { 0, 0, 0 };
	bool lf_only = false;

	memset(p, 0, sizeof(*p));
	if (memchr(body, '\0', len) != NULL)
		problem(&p->errors, "NUL byte in the policy", NULL, 0);
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(body + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (body + pos)) : len - pos;
		size_t next = pos + n + (nl ? 1 : 0);

		if (n > 0 && body[pos + n - 1] == '\r')
			n--;
		else if (nl != NULL)
			lf_only = true;
		if (n > 0)
			policy_line(p, body + pos, n, seen);
		pos = next;
	}
	if (!seen[0])
		problem(&p->errors, "no version field", NULL, 0);
	if (!seen[1])
		problem(&p->errors, "no mode field", NULL, 0);
	if (!seen[2])
		problem(&p->errors, "no max_age field", NULL, 0);
	if (p->nmx == 0 && p->mode != STS_MODE_NONE)
		problem(&p->errors, "no mx field", NULL, 0);
	if (lf_only)
		problem(&p->notes, "lines end in LF, not CRLF (most senders accept it)", NULL, 0);
	return p->errors.len == 0;
}

void
audit_sts_policy_free(struct audit_sts_policy *p)
{
	mp_buf_free(&p->errors);
	mp_buf_free(&p->notes);
}

bool
audit_sts_mx_match(const char *pattern, const char *host)
{
	const char *dot;

	if (pattern[0] != '*' || pattern[1] != '.')
		return mp_strcasecmp(pattern, host) == 0;
	/* "*.example.com" matches "mx.example.com", not "a.mx.example.com". */
	dot = strchr(host, '.');
	return dot != NULL && dot > host && mp_strcasecmp(dot + 1, pattern + 2) == 0;
}

/* The next ';'-separated field of a TXT record, without its whitespace. */
static bool
txt_field(const char **pp, const char *end, const char **f, size_t *n)
{
	const char *p = *pp, *e;

	while (p < end && (is_wsp(*p) || *p == ';'))
		p++;
	if (p >= end)
		return false;
	e = memchr(p, ';', (size_t)(end - p));
	if (e == NULL)
		e = end;
	*pp = e;
	while (e > p && is_wsp(e[-1]))
		e--;
	*f = p;
	*n = (size_t)(e - p);
	return true;
}

bool
audit_sts_txt_parse(const char *txt, size_t len, char *id, size_t idlen, char *why, size_t whylen)
{
	const char *p = txt, *end = txt + len, *f;
	size_t n;
	bool first = true, have_id = false;

	snprintf(why, whylen, "no id= field");
	id[0] = '\0';
	while (txt_field(&p, end, &f, &n)) {
		if (first) {
			first = false;
			if (n != 7 || memcmp(f, "v=STSv1", 7) != 0) {
				snprintf(why, whylen, "does not start with v=STSv1");
				return false;
			}
			continue;
		}
		if (n < 3 || memcmp(f, "id=", 3) != 0)
			continue;
		have_id = n - 3 >= 1 && n - 3 <= 32 && n - 3 < idlen;
		for (size_t i = 3; i < n && have_id; i++)
			if (!mp_ascii_isalpha((unsigned char)f[i]) && !mp_ascii_isdigit((unsigned char)f[i]))
				have_id = false;
		if (!have_id) {
			snprintf(why, whylen, "id is not 1 to 32 letters and digits");
			return false;
		}
		memcpy(id, f + 3, n - 3);
		id[n - 3] = '\0';
	}
	if (first)
		snprintf(why, whylen, "empty record");
	return have_id;
}
