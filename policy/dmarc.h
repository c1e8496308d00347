/*
 * dmarc: RFC 7489 evaluation with libopendmarc, fed the record that dns.c
 * fetched (libopendmarc's own lookups have no timeout). Adds what
 * libopendmarc lacks: temperror kept apart from "no record", the
 * DMARCbis tags np and t=y, and strict alignment checked by us
 * (libopendmarc upstream #268).
 */
#ifndef MP_DMARC_H
#define MP_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"
#include "domain.h"
#include "spf.h"
#include "util.h"

enum mp_dmarc_result {
	MP_DMARC_NONE,       /* no policy published */
	MP_DMARC_PASS,
	MP_DMARC_FAIL,
	MP_DMARC_TEMPERROR,  /* the record could not be fetched: never "none" */
	MP_DMARC_PERMERROR,  /* the record is broken */
};

enum mp_dmarc_policy {
	MP_DMARC_P_UNSET,
	MP_DMARC_P_NONE,
	MP_DMARC_P_QUARANTINE,
	MP_DMARC_P_REJECT,
};

const char *mp_dmarc_result_str(enum mp_dmarc_result r);   /* "pass", ... */
const char *mp_dmarc_policy_str(enum mp_dmarc_policy p);   /* "none", "quarantine", "reject", "unset" */

/* One parsed DMARC record (ours: strict, bounded, knows np and t). */
struct mp_dmarc_record {
	enum mp_dmarc_policy p, sp, np;   /* sp/np UNSET when absent */
	int pct;                          /* 0..100, 100 when absent */
	bool adkim_strict, aspf_strict;
	bool testing;                     /* t=y */
	char rua[512], ruf[512];          /* raw URI lists, printable, "" when absent */
	int fo_present;
};

/* Parses a record; false + printable reason when it is not valid DMARC. */
bool mp_dmarc_record_parse(const char *txt, size_t len, struct mp_dmarc_record *rec,
    char *why, size_t whylen);

/* A DKIM result taken from a trusted Authentication-Results header. */
struct mp_dkim_result {
	char domain[MP_DOMAIN_MAX];   /* header.d */
	bool pass;
};

struct mp_dmarc_input {
	const char *from_domain;        /* normalised RFC5322.From domain */
	enum mp_spf_result spf;         /* MAIL FROM identity only */
	const char *spf_domain;         /* the MAIL FROM domain that SPF checked */
	const struct mp_dkim_result *dkim;
	size_t ndkim;
};

struct mp_dmarc_outcome {
	enum mp_dmarc_result result;
	enum mp_dmarc_policy policy;        /* the policy that applies: p, sp or np */
	enum mp_dmarc_policy disposition;   /* what to do: after pct and t=y */
	bool spf_aligned, dkim_aligned;
	bool record_found;
	bool from_org;                      /* the record came from the org domain */
	char policy_domain[MP_DOMAIN_MAX];  /* where the record was found */
	char org_domain[MP_DOMAIN_MAX];
	char record[512];                   /* printable */
	struct mp_dmarc_record rec;
	char reason[256];                   /* printable */
};

struct mp_dmarc;

/* dns and psl are borrowed. */
struct mp_dmarc *mp_dmarc_new(struct mp_dns *dns, const struct mp_psl *psl);
void mp_dmarc_free(struct mp_dmarc **dp);

/*
 * Fetches the record (the From domain, then the org domain) and
 * evaluates. pct sampling uses sample (0..99, pass -1 for random) so
 * that tests are repeatable.
 */
enum mp_dmarc_result mp_dmarc_evaluate(struct mp_dmarc *d, const struct mp_deadline *deadline,
    const struct mp_dmarc_input *in, int sample, struct mp_dmarc_outcome *out);

/*
 * Looks up the record that applies to a domain (itself, then its org
 * domain), for posture and the audit. Returns MP_DMARC_NONE,
 * MP_DMARC_PASS (found and valid), PERMERROR or TEMPERROR.
 */
enum mp_dmarc_result mp_dmarc_lookup(struct mp_dmarc *d, const struct mp_deadline *deadline,
    const char *domain, struct mp_dmarc_outcome *out);

#endif
