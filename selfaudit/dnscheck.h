/*
 * dnscheck: the DNS side of the audit. Every record is fetched once, by
 * one job; the jobs run in parallel threads (mp_dns_query is thread-safe)
 * and every check reads the same parsed results. A SERVFAIL or a timeout
 * is "could not check", never "missing". The lookups are dnscheck.c, the
 * judges dnscheck_judge.c.
 */
#ifndef MP_AUDIT_DNSCHECK_H
#define MP_AUDIT_DNSCHECK_H

#include <stdbool.h>

#include "audit.h"
#include "dmarc.h"
#include "dns.h"
#include "domain.h"
#include "spf.h"

struct audit_dns_opts {
	struct mp_dns *dns;
	struct mp_spf *spf;
	struct mp_dmarc *dmarc;
	const struct mp_psl *psl;       /* may be NULL */
	const char *domain;             /* normalised, "" when unknown */
	const char *public_ip;          /* "" when unknown */
	const char *dnsbl_zones;        /* space or comma separated */
	unsigned timeout_ms;            /* for the whole of the DNS checks */
};

struct audit_dns;

/* Runs every lookup (in parallel) and keeps the results. Never NULL. */
struct audit_dns *audit_dns_run(const struct audit_dns_opts *o);
/*
 * Judges the DNS checks and CHK_RESOLVER (it answered a query: any status
 * that is not temporary) into r; reads r->banner_name and r->helo_name.
 */
void audit_dns_judge(struct audit_report *r, const struct audit_dns *d);
void audit_dns_free(struct audit_dns **dp);

/*
 * A DNSBL answer: listed (127.0.0.2-127.255.255.254 outside
 * 127.255.255.0/24), an error code (127.255.255.x: the list refuses the
 * query, e.g. through a public resolver) or not an answer a list gives.
 */
enum audit_dnsbl_answer {
	DNSBL_LISTED,
	DNSBL_ERROR_CODE,
	DNSBL_BOGUS,
};
enum audit_dnsbl_answer audit_dnsbl_classify(const char *a);

/* The DNSBL query name for an IPv4 or IPv6 address; false when not an address. */
bool audit_dnsbl_name(const char *ip, const char *zone, char *out, size_t outlen);

/*
 * Extracts the domains of the mailto: URIs of a DMARC rua/ruf list into
 * out (normalised), at most max. Malformed URIs are skipped.
 */
size_t audit_dmarc_uri_domains(const char *list, char out[][MP_DOMAIN_MAX], size_t max);

#endif
