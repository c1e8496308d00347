/*
 * spf: RFC 7208 evaluation. libspf2 does the evaluation; our DNS layer
 * under it (over dns.c) supplies what libspf2 lacks: timeouts, the limit
 * of 10 DNS-querying terms counted across includes, the limit of 2 void
 * lookups, strict record syntax, and a mapping of its errors onto the
 * seven RFC 7208 results.
 */
#ifndef MP_SPF_H
#define MP_SPF_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"
#include "util.h"

enum mp_spf_result {
	MP_SPF_NONE,
	MP_SPF_NEUTRAL,
	MP_SPF_PASS,
	MP_SPF_FAIL,
	MP_SPF_SOFTFAIL,
	MP_SPF_TEMPERROR,
	MP_SPF_PERMERROR,
};

/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" */
const char *mp_spf_result_str(enum mp_spf_result r);

struct mp_spf_outcome {
	enum mp_spf_result result;
	char domain[256];       /* the domain whose record was evaluated */
	/*
	 * The one domain this result may lend to DMARC (RFC 7489 3.1.2,
	 * RFC 9989): the MAIL FROM domain, or the HELO name for the null
	 * sender (RFC 7208 2.4). "" for a HELO check made for its own sake
	 * and for a MAIL FROM without a domain: such a result never aligns.
	 * It is the very string check_host() ran on, never re-derived.
	 */
	char dmarc_domain[256];
	/* Display only: printable, may be cut. Never read it for logic. */
	char identity[512];     /* the checked identity: local@domain or the HELO name */
	char reason[256];       /* printable: which term matched or what failed */
	char explanation[256];  /* exp= text for fail, printable, or "" */
};

struct mp_spf;

/* dns is borrowed and must outlive the evaluator. Safe to share between
 * threads: each check carries its own state. */
struct mp_spf *mp_spf_new(struct mp_dns *dns);
void mp_spf_free(struct mp_spf **spfp);

/*
 * check_host() for the HELO identity (RFC 7208 section 2.3). A HELO that
 * is not a valid domain name gives none.
 */
enum mp_spf_result mp_spf_check_helo(struct mp_spf *spf, const struct mp_deadline *deadline,
    const char *ip, const char *helo, struct mp_spf_outcome *out);

/*
 * check_host() for the MAIL FROM identity, read whole (never a cut or
 * escaped copy). An empty mail_from ("" or "<>") uses postmaster@helo
 * (RFC 7208 section 2.4). A non-empty mail_from without '@' has no
 * domain: the result is none and out->dmarc_domain stays "" (the HELO
 * name is not a stand-in for it).
 */
enum mp_spf_result mp_spf_check_mailfrom(struct mp_spf *spf, const struct mp_deadline *deadline,
    const char *ip, const char *helo, const char *mail_from, struct mp_spf_outcome *out);

/*
 * The domain mp_spf_check_mailfrom would check, without checking it:
 * what follows the last '@' (angle brackets around mail_from dropped),
 * the whole HELO name for the null sender. "" when there is none.
 */
void mp_spf_mailfrom_domain(const char *mail_from, const char *helo, char *out, size_t outlen);

/*
 * What a domain publishes, without a client IP: used by posture and the
 * audit. Fetches the TXT records once and walks includes and redirects.
 */
struct mp_spf_inspection {
	enum mp_spf_result status;  /* NONE (no record), PASS (one valid record),
	                             * PERMERROR (invalid, several records, too
	                             * many lookups), TEMPERROR (could not look) */
	char record[1024];          /* the record, printable (may be cut) */
	size_t record_len;          /* its real length */
	int nrecords;               /* v=spf1 records found at the name */
	char all_qualifier;         /* '+', '-', '~', '?', or 0 when no "all" */
	bool has_redirect;
	int lookups;                /* DNS-querying terms, across includes */
	int void_lookups;
	char problem[256];          /* printable: the first problem found, or "" */
};

void mp_spf_inspect(struct mp_spf *spf, const struct mp_deadline *deadline,
    const char *domain, struct mp_spf_inspection *out);

/*
 * Strict syntax check of one record against the RFC 7208 ABNF; false
 * and a printable reason on error. Used by the DNS layer and by tests.
 */
bool mp_spf_record_valid(const char *record, size_t len, char *why, size_t whylen);

#endif
