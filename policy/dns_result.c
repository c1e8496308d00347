/*
 * dns_result: the life of a struct mp_dns_result (new, free, copy, size)
 * and the names of its statuses. Pure data: dnscache copies and measures
 * results with these, and the fake DNS of the fuzzers builds them.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dns.h"

const char *
mp_dns_status_str(enum mp_dns_status st)
{
	switch (st) {
	case MP_DNS_OK:
		return "ok";
	case MP_DNS_NXDOMAIN:
		return "nxdomain";
	case MP_DNS_NODATA:
		return "nodata";
	case MP_DNS_SERVFAIL:
		return "servfail";
	case MP_DNS_TIMEOUT:
		return "timeout";
	case MP_DNS_ERROR:
		return "error";
	}
	return "unknown";
}

bool
mp_dns_status_is_temp(enum mp_dns_status st)
{
	return st == MP_DNS_SERVFAIL || st == MP_DNS_TIMEOUT || st == MP_DNS_ERROR;
}

struct mp_dns_result *
mp_dns_result_new(enum mp_dns_status st, const char *why)
{
	struct mp_dns_result *r = xcalloc(1, sizeof(*r));

	r->status = st;
	if (why != NULL)
		r->why = xstrdup(why);
	return r;
}

void
mp_dns_result_free(struct mp_dns_result **resp)
{
	struct mp_dns_result *r;

	if (resp == NULL || (r = *resp) == NULL)
		return;
	*resp = NULL;
	for (size_t i = 0; i < r->count; i++)
		mp_dns_rr_clear(&r->rr[i]);
	free(r->rr);
	free(r->canonname);
	free(r->why);
	free(r);
}

struct mp_dns_result *
mp_dns_result_dup(const struct mp_dns_result *r)
{
	struct mp_dns_result *d = xcalloc(1, sizeof(*d));

	d->status = r->status;
	d->secure = r->secure;
	d->bogus = r->bogus;
	if (r->canonname != NULL)
		d->canonname = xstrdup(r->canonname);
	if (r->why != NULL)
		d->why = xstrdup(r->why);
	if (r->count > 0) {
		d->rr = xcalloc(r->count, sizeof(*d->rr));
		for (size_t i = 0; i < r->count; i++) {
			const struct mp_dns_rr *a = &r->rr[i];
			struct mp_dns_rr *b = &d->rr[i];

			*b = *a;
			/* text may hold NUL bytes: copy by length. */
			if (a->text != NULL) {
				b->text = xmalloc(a->text_len + 1);
				memcpy(b->text, a->text, a->text_len + 1);
			}
			if (a->tlsa_data != NULL) {
				b->tlsa_data = xmalloc(a->tlsa_len ? a->tlsa_len : 1);
				memcpy(b->tlsa_data, a->tlsa_data, a->tlsa_len);
			}
		}
		d->count = r->count;
	}
	return d;
}

size_t
mp_dns_result_size(const struct mp_dns_result *r)
{
	size_t n = sizeof(*r) + r->count * sizeof(*r->rr);

	if (r->canonname != NULL)
		n += strlen(r->canonname) + 1;
	if (r->why != NULL)
		n += strlen(r->why) + 1;
	for (size_t i = 0; i < r->count; i++) {
		if (r->rr[i].text != NULL)
			n += r->rr[i].text_len + 1;
		n += r->rr[i].tlsa_len;
	}
	return n;
}
