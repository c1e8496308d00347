/*
 * dnscheck: the DNS side of the audit. Every record is fetched once, by
 * one job; the jobs run in parallel threads (mp_dns_query is thread-safe),
 * every MX host in a job of its own, and every check reads the same
 * parsed results. A SERVFAIL or a timeout is "could not check", never
 * "missing". The lookups (and the MTA-STS policy fetch) are dnscheck.c;
 * the judges are dnscheck_judge.c (the domain's records), dnscheck_mx.c
 * (every MX host), dnscheck_sts.c (MTA-STS) and dnscheck_served.c (DNS
 * against what the SMTP server presented: DANE, the banner's name).
 */
#ifndef MP_AUDIT_DNSCHECK_H
#define MP_AUDIT_DNSCHECK_H

#include <stdbool.h>

#include "audit.h"
#include "dane.h"
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
	const char *ca_file;            /* for the MTA-STS policy fetch; "" or NULL: the system's */
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
 * The MX host names that the audited server is: those with an address
 * equal to the public IP, else those named like the server (names[], the
 * name it greets with and the one its certificate should carry; entries
 * may be NULL or ""). At most max, into out (pointers into d).
 */
size_t audit_dns_server_mx(const struct audit_dns *d, const char *const *names, size_t nnames,
    const char **out, size_t max);

/*
 * Judges what needs both sides, once both have ended: CHK_DANE_MATCH
 * (the TLSA records of mx[], the server's MX names from
 * audit_dns_server_mx, against chain, the certificates served after
 * STARTTLS, leaf first; empty when there was no TLS session) and
 * CHK_HOSTNAME (r->banner_name and r->helo_name against the PTR of the
 * public IP, and the banner's name against its own address records,
 * looked up here when the PTR lookups did not already bring them).
 */
void audit_dns_judge_served(struct audit_report *r, struct audit_dns *d, const char *const *mx,
    size_t nmx, const struct audit_chain *chain);

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
