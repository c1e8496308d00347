/*
 * posture: how well a domain protects its name, judged from what it
 * publishes (SPF, DMARC, MTA-STS, TLS-RPT). One evaluator, used by the
 * milter (for sender domains) and the audit (for our own domain).
 * Every point comes from a line of the breakdown, so a score can always
 * be explained.
 */
#ifndef MP_POSTURE_H
#define MP_POSTURE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "dmarc.h"
#include "dns.h"
#include "spf.h"
#include "util.h"

#define MP_POSTURE_MAX_ITEMS 16

struct mp_posture_item {
	const char *key;        /* stable identifier: "spf.record", "dmarc.policy", ... */
	int points;
	int max;
	char note[256];         /* printable: what was seen */
};

struct mp_posture {
	char domain[MP_DOMAIN_MAX];
	int score;              /* 0..100 */
	char grade[3];          /* A+ .. F */
	bool complete;          /* false when a lookup failed: the score is a lower bound */
	struct mp_spf_inspection spf;
	struct mp_dmarc_outcome dmarc;
	enum mp_dmarc_result dmarc_status;
	enum mp_dns_status mta_sts, tls_rpt;   /* MP_DNS_OK when a valid record exists */
	size_t nitems;
	struct mp_posture_item item[MP_POSTURE_MAX_ITEMS];
};

void mp_posture_evaluate(struct mp_spf *spf, struct mp_dmarc *dmarc, struct mp_dns *dns,
    const struct mp_deadline *deadline, const char *domain, struct mp_posture *out);

/* The letter for a 0..100 score (rubric in README). */
const char *mp_posture_grade(int score);

/* The breakdown as aligned text lines, and as a JSON object (new reference). */
void mp_posture_print(const struct mp_posture *p, struct mp_buf *out);
json_t *mp_posture_json(const struct mp_posture *p);

#endif
