/*
 * dnscheck_int: the results the lookup jobs (dnscheck.c) keep for the
 * judges (dnscheck_judge.c). Written only by the jobs, read only after
 * every job has ended.
 */
#ifndef MP_AUDIT_DNSCHECK_INT_H
#define MP_AUDIT_DNSCHECK_INT_H

#include "dnscheck.h"
#include "posture.h"

#define DNS_MAX_MX    5
#define DNS_MAX_PTR   3
#define DNS_MAX_BL    8
#define DNS_MAX_REP   8

struct mx_host {
	char name[MP_DOMAIN_MAX];       /* "": a null MX */
	unsigned pref;
	struct mp_dns_result *a, *aaaa, *tlsa;
};

struct ptr_host {
	char name[MP_DOMAIN_MAX];       /* printable, when not valid */
	bool valid;
	struct mp_dns_result *fwd;
};

struct bl_zone {
	char zone[MP_DOMAIN_MAX];
	char qname[512];
	bool name_ok;
	struct mp_dns_result *a, *txt;
};

/* An external DMARC report destination and its authorization record. */
struct rep_dest {
	char dest[MP_DOMAIN_MAX];
	char qname[600];
	struct mp_dns_result *txt;
};

struct audit_dns {
	struct audit_dns_opts o;
	struct mp_deadline dl;
	struct mp_posture *posture;
	struct mp_dns_result *mx;
	struct mx_host mxh[DNS_MAX_MX];
	size_t nmx;
	struct mp_dns_result *ptr;
	char ptr_qname[128];
	struct ptr_host ptrh[DNS_MAX_PTR];
	size_t nptr;
	struct bl_zone bl[DNS_MAX_BL];
	size_t nbl;
	struct rep_dest rep[DNS_MAX_REP];
	size_t nrep;
	bool have_domain, have_ip;
};

#endif
