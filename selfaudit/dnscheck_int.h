/*
 * dnscheck_int: the results the lookup jobs (dnscheck.c) keep for the
 * judges (dnscheck_judge.c, dnscheck_mx.c, dnscheck_sts.c,
 * dnscheck_served.c). Written only by the jobs, read only after every
 * job has ended.
 */
#ifndef MP_AUDIT_DNSCHECK_INT_H
#define MP_AUDIT_DNSCHECK_INT_H

#include "dnscheck.h"
#include "mtasts.h"
#include "posture.h"

#define DNS_MAX_MX    5
#define DNS_MAX_PTR   3
#define DNS_MAX_BL    8
#define DNS_MAX_REP   8
#define DNS_MAX_ADDR  4       /* addresses of one MX host whose PTR is checked */

struct ptr_host {
	char name[MP_DOMAIN_MAX];       /* printable, when not valid */
	bool valid;
	struct mp_dns_result *fwd;
};

/* Reverse DNS of one address: its PTR names, each looked up forward. */
struct rdns {
	char ip[64];
	char qname[128];
	struct mp_dns_result *ptr;      /* NULL: ip is not an address */
	struct ptr_host h[DNS_MAX_PTR];
	size_t n;
};

struct mx_host {
	char name[MP_DOMAIN_MAX];       /* "": a null MX */
	unsigned pref;
	struct mp_dns_result *a, *aaaa, *tlsa;
	struct rdns addr[DNS_MAX_ADDR];
	size_t naddr;
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

/* MTA-STS: the _mta-sts TXT record and, when it is valid, the policy. */
struct sts_state {
	struct mp_dns_result *txt;
	size_t nrec;                    /* TXT records that start with v=STSv1 */
	bool txt_ok;
	char id[40];
	char txt_why[100];              /* why the record is not valid */
	struct audit_sts_fetch fetch;
};

struct audit_dns {
	struct audit_dns_opts o;
	struct mp_deadline dl;
	struct mp_posture *posture;
	struct mp_dns_result *mx;
	struct mx_host mxh[DNS_MAX_MX];
	size_t nmx;
	struct rdns pub;                /* the public IP */
	struct bl_zone bl[DNS_MAX_BL];
	size_t nbl;
	struct rep_dest rep[DNS_MAX_REP];
	size_t nrep;
	struct sts_state sts;
	/* The banner's host name looked up forward (audit_dns_judge_served). */
	struct mp_dns_result *banner_fwd;
	bool have_domain, have_ip;
};

/* "could not check" text of a failed lookup. */
const char *dns_why(const struct mp_dns_result *r);
/* True when r holds the address ip (v4 or v6). */
bool dns_has_addr(const struct mp_dns_result *r, const char *ip);
/* The first PTR name of rd that resolves back to its address, or NULL. */
const struct ptr_host *dns_rdns_confirmed(const struct rdns *rd, bool *temp_r);

/* dnscheck_mx.c: the MX host checks (MX, their reverse DNS, TLSA). */
/* p[0..n) in lowercase hex, appended to out. */
void dns_hex(const unsigned char *p, size_t n, struct mp_buf *out);
/* "TLSA 3 1 1 0123..." (the data cut after 32 bytes) appended to out. */
void dns_tlsa_text(const struct mp_dns_rr *rr, struct mp_buf *out);
void dns_judge_mx(struct audit_report *r, const struct audit_dns *d);
void dns_judge_mx_ptr(struct audit_report *r, const struct audit_dns *d);
void dns_judge_dane(struct audit_report *r, const struct audit_dns *d);
/* dnscheck_sts.c: the _mta-sts record and the policy. */
void dns_judge_mtasts(struct audit_report *r, const struct audit_dns *d);
void dns_judge_mtasts_policy(struct audit_report *r, const struct audit_dns *d);

#endif
