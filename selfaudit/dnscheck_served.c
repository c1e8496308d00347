/*
 * dnscheck_served: the checks that hold what DNS says against what the
 * SMTP server presented: the TLSA records of the server's MX names
 * against the chain it served after STARTTLS (RFC 7672), and the name
 * in its banner against the PTR and the address records of the public
 * IP. Run once both the DNS jobs and the SMTP sessions have ended.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnscheck_int.h"

/* The MX hosts the server is (see audit_dns_server_mx), into out. */
static size_t
server_hosts(const struct audit_dns *d, const char *const *names, size_t nnames,
    const struct mx_host **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < d->nmx && n < max; i++) {
		const struct mx_host *h = &d->mxh[i];

		if (h->name[0] != '\0' && d->have_ip &&
		    (dns_has_addr(h->a, d->o.public_ip) || dns_has_addr(h->aaaa, d->o.public_ip)))
			out[n++] = h;
	}
	for (size_t i = 0; i < d->nmx && n == 0; i++)
		for (size_t k = 0; k < nnames && n < max; k++)
			if (d->mxh[i].name[0] != '\0' && names[k] != NULL &&
			    mp_strcasecmp(d->mxh[i].name, names[k]) == 0) {
				out[n++] = &d->mxh[i];
				break;
			}
	return n;
}

size_t
audit_dns_server_mx(const struct audit_dns *d, const char *const *names, size_t nnames,
    const char **out, size_t max)
{
	const struct mx_host *h[DNS_MAX_MX];
	size_t n = server_hosts(d, names, nnames, h, max < DNS_MAX_MX ? max : DNS_MAX_MX);

	for (size_t i = 0; i < n; i++)
		out[i] = h[i]->name;
	return n;
}

enum host_dane {
	HD_NONE,            /* no TLSA record */
	HD_UNKNOWN,         /* could not look, or DNSSEC validation failed */
	HD_UNUSABLE,        /* only records senders ignore */
	HD_MATCH,
	HD_NO_MATCH,
};

/* The TLSA records of one MX host against the chain, with their evidence. */
static enum host_dane
dane_host(struct audit_report *r, const struct mx_host *h, const struct audit_chain *chain)
{
	const struct mp_dns_result *t = h->tlsa;
	size_t n[TLSA_UNUSABLE + 1] = { 0 };

	if (t == NULL || t->bogus || mp_dns_status_is_temp(t->status)) {
		audit_evidence(r, CHK_DANE_MATCH, "_25._tcp.%s: %s", h->name, t == NULL ? "not looked up" :
		    t->bogus ? "DNSSEC validation failed" : dns_why(t));
		return HD_UNKNOWN;
	}
	if (t->status != MP_DNS_OK)
		return HD_NONE;
	for (size_t i = 0; i < t->count && i < 8; i++) {
		struct mp_buf txt = MP_BUF_INIT;
		char why[300];
		enum audit_tlsa_result res = audit_tlsa_check(&t->rr[i], chain, h->name, why,
		    sizeof(why));

		n[res]++;
		dns_tlsa_text(&t->rr[i], &txt);
		audit_evidence(r, CHK_DANE_MATCH, "_25._tcp.%s %s: %s", h->name, mp_buf_str(&txt), why);
		mp_buf_free(&txt);
	}
	return n[TLSA_MATCH] ? HD_MATCH : n[TLSA_NO_MATCH] ? HD_NO_MATCH : HD_UNUSABLE;
}

/* The record the fix names: 3 1 1 and the served key's SHA-256, into out. */
static void
served_key(const struct audit_chain *chain, char *out, size_t outlen)
{
	unsigned char md[64];
	size_t n = audit_tlsa_data(chain, 0, 1, 1, md);
	struct mp_buf b = MP_BUF_INIT;

	dns_hex(md, n, &b);
	mp_strlcpy(out, n ? mp_buf_str(&b) : "<sha256 of the key>", outlen);
	mp_buf_free(&b);
}

static void
dane_verdict(struct audit_report *r, const struct mx_host *h, enum host_dane worst,
    const struct audit_chain *chain, bool secure)
{
	char key[140];

	served_key(chain, key, sizeof(key));
	if (chain->n > 0)
		audit_evidence(r, CHK_DANE_MATCH, "the server's key: TLSA 3 1 1 %s", key);
	switch (worst) {
	case HD_NO_MATCH:
		audit_set(r, CHK_DANE_MATCH, AUDIT_FAIL, "TLSA published for %s, but %s: %s", h->name,
		    chain->n ? "it matches nothing the server presents" : "the server has no working "
		    "STARTTLS", secure ? "DANE senders cannot deliver (the records are DNSSEC-validated)" :
		    "an outage once the zone is signed (not DNSSEC-validated yet)");
		if (secure)
			audit_cap(r, CHK_DANE_MATCH);
		audit_fix(r, CHK_DANE_MATCH, "Publish _25._tcp.%s. IN TLSA 3 1 1 %s for the key the "
		    "server presents; during a key rollover publish the new key's record beside the old "
		    "one, and change the key only after the TTL has passed.", h->name, key);
		break;
	case HD_UNUSABLE:
		audit_set(r, CHK_DANE_MATCH, AUDIT_WARN, "the TLSA records for %s are all unusable for "
		    "SMTP: DANE senders insist on TLS but cannot authenticate the server", h->name);
		audit_fix(r, CHK_DANE_MATCH, "Publish _25._tcp.%s. IN TLSA 3 1 1 %s.", h->name, key);
		break;
	case HD_MATCH:
		audit_set(r, CHK_DANE_MATCH, AUDIT_PASS, "a TLSA record for %s matches what the server "
		    "presents%s", h->name, secure ? "" : " (not DNSSEC-validated: senders ignore it)");
		break;
	case HD_UNKNOWN:
		audit_set(r, CHK_DANE_MATCH, AUDIT_NOT_TESTED, "could not check the TLSA records of %s",
		    h->name);
		break;
	case HD_NONE:
		audit_set(r, CHK_DANE_MATCH, AUDIT_NOT_TESTED, "no TLSA records for %s", h->name);
		break;
	}
}

static void
judge_dane_match(struct audit_report *r, const struct audit_dns *d, const struct mx_host **hosts,
    size_t nh, const struct audit_chain *chain)
{
	/* Worst first: a mismatch on any of the server's names decides. */
	static const enum host_dane rank[] = { HD_NO_MATCH, HD_UNUSABLE, HD_MATCH, HD_UNKNOWN, HD_NONE };
	enum host_dane st[DNS_MAX_MX];

	if (!d->have_domain) {
		audit_set(r, CHK_DANE_MATCH, AUDIT_NOT_TESTED, "no domain: pass --domain or set "
		    "[audit] domain");
		return;
	}
	if (nh == 0) {
		audit_set(r, CHK_DANE_MATCH, AUDIT_NOT_TESTED, "the server is none of the MX hosts of "
		    "%s (by public IP and name): no TLSA records to compare", d->o.domain);
		return;
	}
	if (chain->n == 0 && r->check[CHK_STARTTLS].status != AUDIT_FAIL) {
		audit_set(r, CHK_DANE_MATCH, AUDIT_NOT_TESTED, "no TLS session to compare the TLSA "
		    "records of %s with", hosts[0]->name);
		return;
	}
	for (size_t i = 0; i < nh; i++)
		st[i] = dane_host(r, hosts[i], chain);
	for (size_t k = 0; k < MP_ARRAY_SIZE(rank); k++)
		for (size_t i = 0; i < nh; i++)
			if (st[i] == rank[k]) {
				dane_verdict(r, hosts[i], st[i], chain,
				    hosts[i]->tlsa != NULL && hosts[i]->tlsa->secure);
				return;
			}
}

/* The address records of name in the family of the public IP. */
static const struct mp_dns_result *
forward(struct audit_dns *d, const char *name)
{
	for (size_t i = 0; i < d->pub.n; i++)
		if (d->pub.h[i].valid && d->pub.h[i].fwd != NULL &&
		    mp_strcasecmp(d->pub.h[i].name, name) == 0)
			return d->pub.h[i].fwd;
	if (d->banner_fwd == NULL)
		d->banner_fwd = mp_dns_query(d->o.dns, &d->dl, name,
		    strchr(d->o.public_ip, ':') ? MP_DNS_AAAA : MP_DNS_A);
	return d->banner_fwd;
}

/* One of the server's names against the PTR names: problems into bad. */
static void
name_vs_ptr(struct audit_report *r, const struct audit_dns *d, const char *what,
    const char *name, struct mp_buf *bad)
{
	bool same = false;

	for (size_t i = 0; i < d->pub.n; i++)
		same = same || (d->pub.h[i].valid && mp_strcasecmp(d->pub.h[i].name, name) == 0);
	audit_evidence(r, CHK_HOSTNAME, "%s name %s %s the PTR of %s", what, name,
	    same ? "matches" : "differs from", d->o.public_ip);
	if (!same)
		audit_list_add(bad, "; ", "the %s name %s is not the PTR name %s", what, name,
		    d->pub.h[0].name);
}

static void
judge_hostname(struct audit_report *r, struct audit_dns *d)
{
	const char *ip = d->o.public_ip;
	const struct mp_dns_result *fwd;
	struct mp_buf bad = MP_BUF_INIT;
	char name[MP_DOMAIN_MAX];

	if (r->banner_name[0] == '\0') {
		audit_set(r, CHK_HOSTNAME, AUDIT_NOT_TESTED, "no banner");
		return;
	}
	if (!mp_domain_normalize(r->banner_name, strlen(r->banner_name), name, NULL)) {
		audit_set(r, CHK_HOSTNAME, AUDIT_WARN, "the banner does not start with a host name: %s",
		    r->banner_name);
		audit_fix(r, CHK_HOSTNAME, "Postfix: smtpd_banner = $myhostname ESMTP");
		return;
	}
	if (!d->have_ip || d->pub.ptr == NULL) {
		audit_set(r, CHK_HOSTNAME, AUDIT_NOT_TESTED, "no public IP to compare %s with", name);
		return;
	}
	fwd = forward(d, name);
	audit_evidence(r, CHK_HOSTNAME, "%s %s: %s", name, strchr(ip, ':') ? "AAAA" : "A",
	    dns_has_addr(fwd, ip) ? ip : fwd->status == MP_DNS_OK ? "other addresses" :
	    mp_dns_status_str(fwd->status));
	if (mp_dns_status_is_temp(fwd->status) || mp_dns_status_is_temp(d->pub.ptr->status)) {
		audit_set(r, CHK_HOSTNAME, AUDIT_NOT_TESTED, "could not look up %s or the PTR of %s",
		    name, ip);
		return;
	}
	if (!dns_has_addr(fwd, ip))
		audit_list_add(&bad, "; ", "%s does not resolve to %s", name, ip);
	if (d->pub.n == 0) {
		audit_list_add(&bad, "; ", "%s has no PTR to compare with", ip);
	} else {
		name_vs_ptr(r, d, "banner", name, &bad);
		if (r->helo_name[0] != '\0' && mp_strcasecmp(r->helo_name, name) != 0)
			name_vs_ptr(r, d, "EHLO", r->helo_name, &bad);
	}
	if (bad.len == 0) {
		audit_set(r, CHK_HOSTNAME, AUDIT_PASS, "%s resolves to %s, whose PTR names it", name, ip);
	} else {
		audit_set(r, CHK_HOSTNAME, AUDIT_WARN, "%s", mp_buf_str(&bad));
		audit_fix(r, CHK_HOSTNAME, "Greet with the name the PTR of %s gives, with an address "
		    "record pointing back (Postfix: myhostname = %s), or change the PTR to %s.", ip,
		    d->pub.n ? d->pub.h[0].name : name, name);
	}
	mp_buf_free(&bad);
}

void
audit_dns_judge_served(struct audit_report *r, struct audit_dns *d, const char *const *mx,
    size_t nmx, const struct audit_chain *chain)
{
	const struct mx_host *hosts[DNS_MAX_MX];
	size_t nh = 0;

	for (size_t i = 0; i < nmx; i++)
		for (size_t k = 0; k < d->nmx && nh < DNS_MAX_MX; k++)
			if (d->mxh[k].name == mx[i])
				hosts[nh++] = &d->mxh[k];
	judge_dane_match(r, d, hosts, nh, chain);
	judge_hostname(r, d);
}
