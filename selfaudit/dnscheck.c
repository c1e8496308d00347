/*
 * dnscheck: the DNS lookups of the audit, each record fetched once by one
 * job, the jobs in parallel threads: the posture, the MX records (then one
 * job per MX host: its addresses, TLSA and reverse DNS), MTA-STS (the
 * record, then the policy over HTTPS), the PTR of the public IP, and one
 * job per DNSBL zone. The posture module fetches SPF, DMARC and TLS-RPT;
 * the SPF, DMARC and spoofing checks all read that one posture, so they
 * cannot contradict each other. The judges read what the jobs kept.
 */
#include "config.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnscheck_int.h"

/* Jobs at once: the four of audit_dns_run and one per DNSBL zone. */
#define DNS_MAX_JOBS    (4 + DNS_MAX_BL)
_Static_assert(DNS_MAX_MX <= DNS_MAX_JOBS, "one job per MX host");

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

/* PTR names of ip, each looked up forward (AAAA for an IPv6 address). */
static void
rdns_lookup(struct audit_dns *d, struct rdns *rd, const char *ip)
{
	bool v6 = strchr(ip, ':') != NULL;

	mp_strlcpy(rd->ip, ip, sizeof(rd->ip));
	if (!mp_dns_reverse_name(ip, rd->qname, sizeof(rd->qname)))
		return;
	rd->ptr = mp_dns_query(d->o.dns, &d->dl, rd->qname, MP_DNS_PTR);
	for (size_t i = 0; rd->ptr->status == MP_DNS_OK && i < rd->ptr->count &&
	    rd->n < DNS_MAX_PTR; i++) {
		struct ptr_host *h = &rd->h[rd->n];
		const struct mp_dns_rr *rr = &rd->ptr->rr[i];

		if (rr->type != MP_DNS_PTR)
			continue;
		rd->n++;
		h->valid = mp_domain_normalize(rr->text, rr->text_len, h->name, NULL);
		if (!h->valid) {
			audit_printable(h->name, sizeof(h->name), rr->text, rr->text_len, MP_SHOW_LINE);
			continue;
		}
		h->fwd = mp_dns_query(d->o.dns, &d->dl, h->name, v6 ? MP_DNS_AAAA : MP_DNS_A);
	}
}

static void
rdns_free(struct rdns *rd)
{
	mp_dns_result_free(&rd->ptr);
	for (size_t i = 0; i < rd->n; i++)
		mp_dns_result_free(&rd->h[i].fwd);
}

/* The reverse DNS of every address of h (at most DNS_MAX_ADDR). */
static void
mx_addresses(struct audit_dns *d, struct mx_host *h)
{
	const struct mp_dns_result *fam[] = { h->a, h->aaaa };

	for (size_t f = 0; f < MP_ARRAY_SIZE(fam); f++)
		for (size_t i = 0; fam[f]->status == MP_DNS_OK && i < fam[f]->count &&
		    h->naddr < DNS_MAX_ADDR; i++)
			if (fam[f]->rr[i].type == MP_DNS_A || fam[f]->rr[i].type == MP_DNS_AAAA)
				rdns_lookup(d, &h->addr[h->naddr++], fam[f]->rr[i].text);
}

struct mx_job {
	struct audit_dns *d;
	struct mx_host *h;
};

/* One MX host: its addresses, TLSA and reverse DNS, beside the other hosts'. */
static void *
job_mx_host(void *arg)
{
	struct mx_job *j = arg;
	struct mx_host *h = j->h;
	char name[MP_DNS_NAME_MAX + 16];

	h->a = mp_dns_query(j->d->o.dns, &j->d->dl, h->name, MP_DNS_A);
	h->aaaa = mp_dns_query(j->d->o.dns, &j->d->dl, h->name, MP_DNS_AAAA);
	snprintf(name, sizeof(name), "_25._tcp.%s", h->name);
	h->tlsa = mp_dns_query(j->d->o.dns, &j->d->dl, name, MP_DNS_TLSA);
	mx_addresses(j->d, h);
	return NULL;
}

/* Runs fn(arg[i]) for each i, in threads (in this one when none starts). */
static void
run_parallel(void *(*fn)(void *), void *args, size_t argsize, size_t n)
{
	pthread_t th[DNS_MAX_JOBS];
	bool started[DNS_MAX_JOBS];

	for (size_t i = 0; i < n && i < MP_ARRAY_SIZE(th); i++) {
		void *a = (char *)args + i * argsize;

		started[i] = pthread_create(&th[i], NULL, fn, a) == 0;
		if (!started[i])
			fn(a);
	}
	for (size_t i = 0; i < n && i < MP_ARRAY_SIZE(th); i++)
		if (started[i])
			pthread_join(th[i], NULL);
}

static void *
job_mx(void *arg)
{
	struct audit_dns *d = arg;
	struct mx_job jobs[DNS_MAX_MX];
	size_t nj = 0;

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
		jobs[nj].d = d;
		jobs[nj++].h = h;
	}
	run_parallel(job_mx_host, jobs, sizeof(jobs[0]), nj);
	return NULL;
}

static void *
job_ptr(void *arg)
{
	struct audit_dns *d = arg;

	rdns_lookup(d, &d->pub, d->o.public_ip);
	return NULL;
}

/* The _mta-sts record; with exactly one valid record, the policy it announces. */
static void *
job_sts(void *arg)
{
	struct audit_dns *d = arg;
	struct sts_state *s = &d->sts;
	char *name = xasprintf("_mta-sts.%s", d->o.domain);
	const struct mp_dns_rr *rec = NULL;

	s->txt = mp_dns_query(d->o.dns, &d->dl, name, MP_DNS_TXT);
	free(name);
	for (size_t i = 0; s->txt->status == MP_DNS_OK && i < s->txt->count; i++)
		if (s->txt->rr[i].type == MP_DNS_TXT && s->txt->rr[i].text_len >= 7 &&
		    memcmp(s->txt->rr[i].text, "v=STSv1", 7) == 0) {
			s->nrec++;
			rec = &s->txt->rr[i];
		}
	if (s->nrec != 1) {
		/* RFC 8461 3.1: none, or several, is no policy. */
		snprintf(s->txt_why, sizeof(s->txt_why), s->nrec ? "%zu records start with v=STSv1" :
		    "no record starts with v=STSv1", s->nrec);
		return NULL;
	}
	s->txt_ok = audit_sts_txt_parse(rec->text, rec->text_len, s->id, sizeof(s->id), s->txt_why,
	    sizeof(s->txt_why));
	if (s->txt_ok)
		audit_sts_fetch(d->o.dns, &d->dl, d->o.domain, d->o.ca_file, &s->fetch);
	return NULL;
}

/* One job of audit_dns_run: fn(d), or the lookups of the DNSBL zone z. */
struct dns_job {
	void *(*fn)(void *);
	struct audit_dns *d;
	struct bl_zone *z;
};

static void
lookup_zone(struct audit_dns *d, struct bl_zone *z)
{
	z->a = mp_dns_query(d->o.dns, &d->dl, z->qname, MP_DNS_A);
	for (size_t i = 0; z->a->status == MP_DNS_OK && i < z->a->count; i++)
		if (z->a->rr[i].type == MP_DNS_A &&
		    audit_dnsbl_classify(z->a->rr[i].text) == DNSBL_LISTED) {
			z->txt = mp_dns_query(d->o.dns, &d->dl, z->qname, MP_DNS_TXT);
			break;
		}
}

static void *
job_run(void *arg)
{
	struct dns_job *j = arg;

	if (j->z != NULL)
		lookup_zone(j->d, j->z);
	else
		j->fn(j->d);
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
	struct dns_job jobs[DNS_MAX_JOBS];
	void *(*fn[])(void *) = { job_posture, job_mx, job_sts, job_ptr };
	size_t nj = 0;

	d->o = *o;
	mp_deadline_set(&d->dl, o->timeout_ms);
	d->have_domain = o->domain != NULL && o->domain[0] != '\0';
	d->have_ip = o->public_ip != NULL && o->public_ip[0] != '\0';
	if (d->have_ip && o->dnsbl_zones != NULL)
		add_zones(d, o->dnsbl_zones);
	for (size_t i = 0; i < MP_ARRAY_SIZE(fn); i++) {
		/* The first three need the domain, the PTR job the address. */
		if (i < 3 ? !d->have_domain : !d->have_ip)
			continue;
		jobs[nj++] = (struct dns_job){ fn[i], d, NULL };
	}
	for (size_t i = 0; i < d->nbl; i++)
		if (d->bl[i].name_ok)
			jobs[nj++] = (struct dns_job){ NULL, d, &d->bl[i] };
	run_parallel(job_run, jobs, sizeof(jobs[0]), nj);
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
		for (size_t k = 0; k < d->mxh[i].naddr; k++)
			rdns_free(&d->mxh[i].addr[k]);
	}
	rdns_free(&d->pub);
	for (size_t i = 0; i < d->nbl; i++) {
		mp_dns_result_free(&d->bl[i].a);
		mp_dns_result_free(&d->bl[i].txt);
	}
	for (size_t i = 0; i < d->nrep; i++)
		mp_dns_result_free(&d->rep[i].txt);
	mp_dns_result_free(&d->sts.txt);
	audit_sts_fetch_free(&d->sts.fetch);
	mp_dns_result_free(&d->banner_fwd);
	free(d);
	*dp = NULL;
}
