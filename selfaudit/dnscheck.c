/*
 * dnscheck: the DNS lookups of the audit, each record fetched once by one
 * job, the jobs in parallel threads. The posture module fetches SPF,
 * DMARC, MTA-STS and TLS-RPT; the SPF, DMARC and spoofing checks all read
 * that one posture, so they cannot contradict each other.
 * dnscheck_judge.c judges what the jobs kept.
 */
#include "config.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnscheck_int.h"

enum audit_dnsbl_answer
audit_dnsbl_classify(const char *a)
{
	struct in_addr in;
	uint32_t v;

	if (inet_pton(AF_INET, a, &in) != 1)
		return DNSBL_BOGUS;
	v = ntohl(in.s_addr);
	if ((v >> 24) != 127)
		return DNSBL_BOGUS;     /* lists answer inside 127/8 only */
	if ((v & 0xffffff00u) == 0x7fffff00u)
		return DNSBL_ERROR_CODE;
	if (v == 0x7f000001u || v == 0x7f000000u)
		return DNSBL_BOGUS;     /* 127.0.0.1 means a broken or wildcarded list */
	return DNSBL_LISTED;
}

bool
audit_dnsbl_name(const char *ip, const char *zone, char *out, size_t outlen)
{
	unsigned char b[16];
	int n;

	if (inet_pton(AF_INET, ip, b) == 1) {
		n = snprintf(out, outlen, "%u.%u.%u.%u.%s", b[3], b[2], b[1], b[0], zone);
		return n > 0 && (size_t)n < outlen;
	}
	if (inet_pton(AF_INET6, ip, b) == 1) {
		static const char hex[] = "0123456789abcdef";
		size_t pos = 0;

		if (outlen < 64 + strlen(zone) + 1)
			return false;
		for (int i = 15; i >= 0; i--) {
			out[pos++] = hex[b[i] & 0xf];
			out[pos++] = '.';
			out[pos++] = hex[b[i] >> 4];
			out[pos++] = '.';
		}
		snprintf(out + pos, outlen - pos, "%s", zone);
		return true;
	}
	if (outlen > 0)
		out[0] = '\0';
	return false;
}

size_t
audit_dmarc_uri_domains(const char *list, char out[][MP_DOMAIN_MAX], size_t max)
{
	const char *p = list;
	size_t n = 0;

	while (*p != '\0' && n < max) {
		size_t l = strcspn(p, ",");
		const char *at, *end;

		/* "mailto:addr@dom!size": the domain ends at '!' or the URI's end. */
		while (l > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			l--;
		}
		if (l > 7 && mp_strncasecmp(p, "mailto:", 7) == 0) {
			at = memchr(p, '@', l);
			if (at != NULL) {
				const char *bang = memchr(at, '!', (size_t)(p + l - at));

				end = bang ? bang : p + l;
				while (end > at + 1 && (end[-1] == ' ' || end[-1] == '\t'))
					end--;
				if (mp_domain_normalize(at + 1, (size_t)(end - at - 1), out[n], NULL)) {
					bool dup = false;

					for (size_t k = 0; k < n; k++)
						if (strcmp(out[k], out[n]) == 0)
							dup = true;
					if (!dup)
						n++;
				}
			}
		}
		p += l;
		if (*p == ',')
			p++;
	}
	return n;
}

static void *
job_posture(void *arg)
{
	struct audit_dns *d = arg;
	char dests[2 * DNS_MAX_REP][MP_DOMAIN_MAX];
	char org[MP_DOMAIN_MAX];
	size_t nd;

	d->posture = xcalloc(1, sizeof(*d->posture));
	mp_posture_evaluate(d->o.spf, d->o.dmarc, d->o.dns, &d->dl, d->o.domain, d->posture);
	if (d->posture->dmarc_status != MP_DMARC_PASS)
		return NULL;
	/* RFC 9990 3 (RFC 7489 7.1): destinations outside our Organizational
	 * Domain (RFC 9989's walk, which the posture lookup made) must
	 * authorise our reports. */
	nd = audit_dmarc_uri_domains(d->posture->dmarc.rec.rua, dests, DNS_MAX_REP);
	nd += audit_dmarc_uri_domains(d->posture->dmarc.rec.ruf, dests + nd, DNS_MAX_REP);
	mp_strlcpy(org, d->posture->dmarc.org_domain[0] ? d->posture->dmarc.org_domain :
	    d->posture->dmarc.policy_domain, sizeof(org));
	for (size_t i = 0; i < nd && d->nrep < DNS_MAX_REP; i++) {
		struct rep_dest *r;
		bool dup = false;

		if (mp_domain_is_sub_or_same(dests[i], org))
			continue;
		for (size_t k = 0; k < d->nrep; k++)
			if (strcmp(d->rep[k].dest, dests[i]) == 0)
				dup = true;
		if (dup)
			continue;
		r = &d->rep[d->nrep++];
		mp_strlcpy(r->dest, dests[i], sizeof(r->dest));
		{
			/* Built whole: a name over 253 bytes is refused by the
			 * resolver as an error, never queried cut short. */
			char *q = xasprintf("%s._report._dmarc.%s",
			    d->posture->dmarc.policy_domain, dests[i]);

			mp_strlcpy(r->qname, q, sizeof(r->qname));
			r->txt = mp_dns_query(d->o.dns, &d->dl, q, MP_DNS_TXT);
			free(q);
		}
	}
	return NULL;
}

static void *
job_mx(void *arg)
{
	struct audit_dns *d = arg;
	char name[MP_DNS_NAME_MAX + 16];

	d->mx = mp_dns_query(d->o.dns, &d->dl, d->o.domain, MP_DNS_MX);
	if (d->mx->status != MP_DNS_OK)
		return NULL;
	for (size_t i = 0; i < d->mx->count && d->nmx < DNS_MAX_MX; i++) {
		struct mx_host *h = &d->mxh[d->nmx];
		const struct mp_dns_rr *rr = &d->mx->rr[i];

		if (rr->type != MP_DNS_MX)
			continue;
		h->pref = rr->mx_pref;
		if (rr->text[0] == '\0') {
			h->name[0] = '\0';     /* null MX */
			d->nmx++;
			continue;
		}
		if (!mp_domain_normalize(rr->text, rr->text_len, h->name, NULL))
			continue;
		d->nmx++;
		h->a = mp_dns_query(d->o.dns, &d->dl, h->name, MP_DNS_A);
		h->aaaa = mp_dns_query(d->o.dns, &d->dl, h->name, MP_DNS_AAAA);
		snprintf(name, sizeof(name), "_25._tcp.%s", h->name);
		h->tlsa = mp_dns_query(d->o.dns, &d->dl, name, MP_DNS_TLSA);
	}
	return NULL;
}

static void *
job_ptr(void *arg)
{
	struct audit_dns *d = arg;
	bool v6 = strchr(d->o.public_ip, ':') != NULL;

	if (!mp_dns_reverse_name(d->o.public_ip, d->ptr_qname, sizeof(d->ptr_qname)))
		return NULL;
	d->ptr = mp_dns_query(d->o.dns, &d->dl, d->ptr_qname, MP_DNS_PTR);
	if (d->ptr->status != MP_DNS_OK)
		return NULL;
	for (size_t i = 0; i < d->ptr->count && d->nptr < DNS_MAX_PTR; i++) {
		struct ptr_host *h = &d->ptrh[d->nptr++];
		const struct mp_dns_rr *rr = &d->ptr->rr[i];

		if (rr->type != MP_DNS_PTR) {
			d->nptr--;
			continue;
		}
		h->valid = mp_domain_normalize(rr->text, rr->text_len, h->name, NULL);
		if (!h->valid) {
			audit_printable(h->name, sizeof(h->name), rr->text, rr->text_len, MP_SHOW_LINE);
			continue;
		}
		h->fwd = mp_dns_query(d->o.dns, &d->dl, h->name, v6 ? MP_DNS_AAAA : MP_DNS_A);
	}
	return NULL;
}

struct bl_job {
	struct audit_dns *d;
	struct bl_zone *z;
};

static void *
job_bl_run(void *arg)
{
	struct bl_job *j = arg;
	struct bl_zone *z = j->z;

	z->a = mp_dns_query(j->d->o.dns, &j->d->dl, z->qname, MP_DNS_A);
	if (z->a->status == MP_DNS_OK) {
		for (size_t i = 0; i < z->a->count; i++)
			if (z->a->rr[i].type == MP_DNS_A &&
			    audit_dnsbl_classify(z->a->rr[i].text) == DNSBL_LISTED) {
				z->txt = mp_dns_query(j->d->o.dns, &j->d->dl, z->qname, MP_DNS_TXT);
				break;
			}
	}
	return NULL;
}

/* The DNSBL zones of a list (spaces or commas) and the query name in each. */
static void
add_zones(struct audit_dns *d, const char *zones)
{
	const char *p = zones;

	while (*p != '\0' && d->nbl < DNS_MAX_BL) {
		size_t l;
		struct bl_zone *z;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		l = strcspn(p, " ,\t");
		if (l == 0)
			break;
		z = &d->bl[d->nbl];
		if (mp_domain_normalize(p, l, z->zone, NULL)) {
			z->name_ok = audit_dnsbl_name(d->o.public_ip, z->zone, z->qname, sizeof(z->qname));
			d->nbl++;
		}
		p += l;
	}
}

struct audit_dns *
audit_dns_run(const struct audit_dns_opts *o)
{
	struct audit_dns *d = xcalloc(1, sizeof(*d));
	pthread_t th[3 + DNS_MAX_BL];
	bool started[3 + DNS_MAX_BL] = { false };
	struct bl_job bj[DNS_MAX_BL];
	void *(*fn[3])(void *) = { job_posture, job_mx, job_ptr };
	bool want[3];
	size_t nth = 0;

	d->o = *o;
	mp_deadline_set(&d->dl, o->timeout_ms);
	d->have_domain = o->domain != NULL && o->domain[0] != '\0';
	d->have_ip = o->public_ip != NULL && o->public_ip[0] != '\0';
	want[0] = want[1] = d->have_domain;
	want[2] = d->have_ip;
	if (d->have_ip && o->dnsbl_zones != NULL)
		add_zones(d, o->dnsbl_zones);
	for (size_t i = 0; i < 3; i++) {
		if (!want[i])
			continue;
		started[nth] = pthread_create(&th[nth], NULL, fn[i], d) == 0;
		if (!started[nth])
			fn[i](d);
		nth++;
	}
	for (size_t i = 0; i < d->nbl; i++) {
		if (!d->bl[i].name_ok)
			continue;
		bj[i].d = d;
		bj[i].z = &d->bl[i];
		started[nth] = pthread_create(&th[nth], NULL, job_bl_run, &bj[i]) == 0;
		if (!started[nth])
			job_bl_run(&bj[i]);
		nth++;
	}
	for (size_t i = 0; i < nth; i++)
		if (started[i])
			pthread_join(th[i], NULL);
	return d;
}

void
audit_dns_free(struct audit_dns **dp)
{
	struct audit_dns *d = *dp;

	if (d == NULL)
		return;
	free(d->posture);
	mp_dns_result_free(&d->mx);
	for (size_t i = 0; i < d->nmx; i++) {
		mp_dns_result_free(&d->mxh[i].a);
		mp_dns_result_free(&d->mxh[i].aaaa);
		mp_dns_result_free(&d->mxh[i].tlsa);
	}
	mp_dns_result_free(&d->ptr);
	for (size_t i = 0; i < d->nptr; i++)
		mp_dns_result_free(&d->ptrh[i].fwd);
	for (size_t i = 0; i < d->nbl; i++) {
		mp_dns_result_free(&d->bl[i].a);
		mp_dns_result_free(&d->bl[i].txt);
	}
	for (size_t i = 0; i < d->nrep; i++)
		mp_dns_result_free(&d->rep[i].txt);
	free(d);
	*dp = NULL;
}
