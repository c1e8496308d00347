/*
 * fakedns: see fakedns.h. Hostile input by design: every length is
 * carried, nothing is assumed NUL-free or NUL-terminated.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakedns.h"

#define FZ_CNAME_DEPTH 8

char *
fz_strndup(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);

	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* The zone's names are compared lowercased, without a trailing dot. */
static char *
zone_name(const char *s, size_t n)
{
	char *name;

	if (n > 0 && s[n - 1] == '.')
		n--;
	name = xstrndup(s, n);
	mp_ascii_lower(name);
	return name;
}

static int
zone_type(const char *s, size_t n)
{
	static const struct {
		const char *word;
		int type;
	} types[] = {
		{ "TXT", MP_DNS_TXT }, { "SPF", MP_DNS_SPF }, { "A", MP_DNS_A },
		{ "AAAA", MP_DNS_AAAA }, { "MX", MP_DNS_MX }, { "PTR", MP_DNS_PTR },
		{ "CNAME", MP_DNS_CNAME }, { "NXDOMAIN", FZ_ST_NXDOMAIN },
		{ "NODATA", FZ_ST_NODATA }, { "SERVFAIL", FZ_ST_SERVFAIL },
		{ "TIMEOUT", FZ_ST_TIMEOUT },
	};

	for (size_t i = 0; i < MP_ARRAY_SIZE(types); i++)
		if (strlen(types[i].word) == n && strncmp(types[i].word, s, n) == 0)
			return types[i].type;
	return 0;
}

static void
add_header(struct fz_scenario *sc, const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t vstart;

	if (colon == NULL || sc->nhdr >= FZ_MAX_HDR)
		return;
	vstart = (size_t)(colon - s) + 1;
	if (vstart < n && s[vstart] == ' ')
		vstart++;
	sc->hdr[sc->nhdr].name = xstrndup(s, (size_t)(colon - s));
	sc->hdr[sc->nhdr].value = xstrndup(s + vstart, n - vstart);
	sc->hdr[sc->nhdr].value_len = n - vstart;
	sc->nhdr++;
}

/* A continuation line folds into the last header field, as on the wire. */
static void
fold_header(struct fz_scenario *sc, const char *s, size_t n)
{
	struct mp_header *h;
	char *v;

	if (sc->nhdr == 0)
		return;
	h = &sc->hdr[sc->nhdr - 1];
	v = xmalloc(h->value_len + 2 + n + 1);
	memcpy(v, h->value, h->value_len);
	memcpy(v + h->value_len, "\r\n", 2);
	memcpy(v + h->value_len + 2, s, n);
	v[h->value_len + 2 + n] = '\0';
	free((char *)h->value);
	h->value = v;
	h->value_len += 2 + n;
}

static void
read_line(struct fz_scenario *sc, const char *s, size_t n)
{
	const char *sp = memchr(s, ' ', n), *sp2;
	size_t w = sp ? (size_t)(sp - s) : n, rest = sp ? n - w - 1 : 0;
	const char *r = sp ? sp + 1 : s + n;
	struct fz_rr *rr;
	int type;

	if (n == 0)
		return;
	if (s[0] == ' ' || s[0] == '\t') {
		fold_header(sc, s, n);
		return;
	}
	if (w == 2 && memcmp(s, "ip", 2) == 0) {
		free(sc->ip);
		sc->ip = xstrndup(r, rest);
	} else if (w == 4 && memcmp(s, "helo", 4) == 0) {
		free(sc->helo);
		sc->helo = xstrndup(r, rest);
	} else if (w == 4 && memcmp(s, "mail", 4) == 0) {
		free(sc->mail);
		sc->mail = xstrndup(r, rest);
	} else if (w == 3 && memcmp(s, "hdr", 3) == 0) {
		add_header(sc, r, rest);
	} else if (sp != NULL && sc->nrr < FZ_MAX_LINES) {
		sp2 = memchr(r, ' ', rest);
		type = zone_type(r, sp2 ? (size_t)(sp2 - r) : rest);
		if (type == 0)
			return;
		rr = &sc->rr[sc->nrr++];
		rr->name = zone_name(s, w);
		rr->type = type;
		if (sp2 != NULL) {
			rr->data_len = rest - (size_t)(sp2 - r) - 1;
			rr->data = xstrndup(sp2 + 1, rr->data_len);
		} else {
			rr->data = xstrdup("");
		}
	}
}

void
fz_scenario_read(struct fz_scenario *sc, const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	size_t lines = 0;

	memset(sc, 0, sizeof(*sc));
	while (p < end && lines++ < FZ_MAX_LINES * 2) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		/* A CR before the LF belongs to the line ending, not the data. */
		read_line(sc, p, n > 0 && p[n - 1] == '\r' ? n - 1 : n);
		p += n + 1;
	}
	if (sc->ip == NULL)
		sc->ip = xstrdup("192.0.2.1");
	if (sc->helo == NULL)
		sc->helo = xstrdup("mx.example.org");
	if (sc->mail == NULL)
		sc->mail = xstrdup("");
}

void
fz_scenario_free(struct fz_scenario *sc)
{
	free(sc->ip);
	free(sc->helo);
	free(sc->mail);
	for (size_t i = 0; i < sc->nhdr; i++) {
		free((char *)sc->hdr[i].name);
		free((char *)sc->hdr[i].value);
	}
	for (size_t i = 0; i < sc->nrr; i++) {
		free(sc->rr[i].name);
		free(sc->rr[i].data);
	}
	memset(sc, 0, sizeof(*sc));
}

/* A target name as policy/dns hands it over: lowercased, no trailing dot. */
static void
set_target(struct mp_dns_rr *out, const char *s, size_t n)
{
	out->text = zone_name(s, n);
	out->text_len = strlen(out->text);
}

/* Fills out from one zone line; false when its data does not parse. */
static bool
fill_rr(const struct fz_rr *rr, struct mp_dns_rr *out)
{
	const char *sp;
	char *end;
	unsigned long pref;

	memset(out, 0, sizeof(*out));
	out->type = (enum mp_dns_type)rr->type;
	switch (rr->type) {
	case MP_DNS_TXT:
	case MP_DNS_SPF:
		if (rr->data_len > MP_DNS_MAX_TXT)
			return false;
		out->text = xmalloc(rr->data_len + 1);
		memcpy(out->text, rr->data, rr->data_len + 1);
		out->text_len = rr->data_len;
		return true;
	case MP_DNS_A:
		if (inet_pton(AF_INET, rr->data, &out->a) != 1)
			return false;
		out->text = xstrdup(rr->data);
		out->text_len = strlen(out->text);
		return true;
	case MP_DNS_AAAA:
		if (inet_pton(AF_INET6, rr->data, &out->aaaa) != 1)
			return false;
		out->text = xstrdup(rr->data);
		out->text_len = strlen(out->text);
		return true;
	case MP_DNS_MX:
		sp = strchr(rr->data, ' ');
		pref = sp ? strtoul(rr->data, &end, 10) : 10;
		out->mx_pref = (uint16_t)(pref > 65535 ? 65535 : pref);
		set_target(out, sp ? sp + 1 : rr->data, strlen(sp ? sp + 1 : rr->data));
		return true;
	case MP_DNS_PTR:
	case MP_DNS_CNAME:
		set_target(out, rr->data, strlen(rr->data));
		return true;
	}
	return false;
}

static const struct fz_rr *
find(const struct fz_scenario *sc, const char *name, int type)
{
	for (size_t i = 0; i < sc->nrr; i++)
		if (sc->rr[i].type == type && strcmp(sc->rr[i].name, name) == 0)
			return &sc->rr[i];
	return NULL;
}

/* NXDOMAIN, NODATA or a pseudo-type's status for a name without records. */
static struct mp_dns_result *
empty_answer(const struct fz_scenario *sc, const char *name)
{
	static const struct {
		int type;
		enum mp_dns_status st;
	} pseudo[] = {
		{ FZ_ST_TIMEOUT, MP_DNS_TIMEOUT }, { FZ_ST_SERVFAIL, MP_DNS_SERVFAIL },
		{ FZ_ST_NXDOMAIN, MP_DNS_NXDOMAIN }, { FZ_ST_NODATA, MP_DNS_NODATA },
	};
	bool exists = false;

	for (size_t i = 0; i < MP_ARRAY_SIZE(pseudo); i++)
		if (find(sc, name, pseudo[i].type) != NULL)
			return mp_dns_result_new(pseudo[i].st, "fake");
	for (size_t i = 0; i < sc->nrr && !exists; i++)
		exists = strcmp(sc->rr[i].name, name) == 0;
	return mp_dns_result_new(exists ? MP_DNS_NODATA : MP_DNS_NXDOMAIN, NULL);
}

struct mp_dns_result *
fz_fake_dns(void *arg, const char *qname, enum mp_dns_type type)
{
	struct fz_scenario *sc = arg;
	struct mp_dns_result *r;
	const struct fz_rr *cn;
	char *name = zone_name(qname, strlen(qname)), *canon = NULL;

	sc->queries++;
	/* Follow CNAMEs as a recursive resolver does; a loop is SERVFAIL. */
	for (int depth = 0; type != MP_DNS_CNAME && (cn = find(sc, name, MP_DNS_CNAME)) != NULL;
	    depth++) {
		if (depth == FZ_CNAME_DEPTH) {
			free(name);
			free(canon);
			return mp_dns_result_new(MP_DNS_SERVFAIL, "CNAME loop");
		}
		free(name);
		name = zone_name(cn->data, cn->data_len);
		free(canon);
		canon = xstrdup(name);
	}
	r = mp_dns_result_new(MP_DNS_OK, NULL);
	for (size_t i = 0; i < sc->nrr && r->count < MP_DNS_MAX_RR; i++) {
		if (sc->rr[i].type != (int)type || strcmp(sc->rr[i].name, name) != 0)
			continue;
		r->rr = xreallocarray(r->rr, r->count + 1, sizeof(*r->rr));
		if (fill_rr(&sc->rr[i], &r->rr[r->count]))
			r->count++;
		else
			mp_dns_rr_clear(&r->rr[r->count]);
	}
	if (r->count == 0) {
		mp_dns_result_free(&r);
		r = empty_answer(sc, name);
	}
	r->canonname = canon;
	free(name);
	return r;
}

void
fz_org_domain(const char *name, char out[MP_DOMAIN_MAX])
{
	size_t n = strlen(name), dots = 0, i;

	out[0] = '\0';
	if (n > 0 && name[n - 1] == '.')
		n--;
	for (i = n; i > 0; i--) {
		if (name[i - 1] == '.' && ++dots == 2)
			break;
	}
	if (dots == 0 || n - i >= MP_DOMAIN_MAX)
		return;
	memcpy(out, name + i, n - i);
	out[n - i] = '\0';
	mp_ascii_lower(out);
}

struct mp_dns *
fz_dns_open(struct fz_scenario *sc)
{
	struct mp_dns_options o = { .upstream = "127.0.0.1@9", .timeout_ms = 100 };
	struct mp_dns *dns;
	char err[256];

	dns = mp_dns_new(&o, err, sizeof(err));
	if (dns == NULL) {
		fprintf(stderr, "mp_dns_new: %s\n", err);
		abort();
	}
	mp_dns_set_fake(fz_fake_dns, sc);
	return dns;
}
