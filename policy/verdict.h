/*
 * verdict: the one evaluation of a message, shared by the milter and
 * mailposture-check: (client ip, helo, mail from, headers) -> SPF,
 * DMARC, alignment, disposition and the sender domain's posture.
 */
#ifndef MP_VERDICT_H
#define MP_VERDICT_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "dmarc.h"
#include "from.h"
#include "posture.h"
#include "spf.h"
#include "util.h"

struct mp_evaluator;

/* Builds resolver, SPF and DMARC evaluators and the PSL from the config.
 * NULL + err on failure. The config is referenced, not copied. */
struct mp_evaluator *mp_evaluator_new(struct mp_conf *conf, char *err, size_t errlen);
void mp_evaluator_free(struct mp_evaluator **evp);
/* The parts it built, for tools that run single checks (mailposture-audit)
 * with the same resolver, PSL and evaluators. Owned by ev. */
struct mp_dns *mp_evaluator_dns(struct mp_evaluator *ev);
const struct mp_psl *mp_evaluator_psl(const struct mp_evaluator *ev);
struct mp_spf *mp_evaluator_spf(struct mp_evaluator *ev);
struct mp_dmarc *mp_evaluator_dmarc(struct mp_evaluator *ev);

struct mp_header {
	const char *name;
	const char *value;
	size_t value_len;
};

struct mp_message {
	const char *ip;             /* client address, IPv4 or IPv6 text */
	const char *helo;
	const char *mail_from;      /* without angle brackets; "" for the null sender */
	const struct mp_header *headers;   /* only From and Authentication-Results matter */
	size_t nheaders;
	bool from_incomplete;       /* a From field was dropped or cut before us: the
	                             * From is unusable (nothing says what was lost) */
	bool want_posture;          /* also score the From domain's posture */
	int pct_sample;             /* -1: random; 0..99: fixed (tests) */
};

enum mp_action {
	MP_ACTION_ACCEPT,
	MP_ACTION_QUARANTINE,
	MP_ACTION_REJECT,
	MP_ACTION_TEMPFAIL,
};

struct mp_verdict;

/* Never NULL. Runs within the [policy] eval_timeout budget. */
struct mp_verdict *mp_evaluate(struct mp_evaluator *ev, const struct mp_message *msg);
void mp_verdict_free(struct mp_verdict **vp);

/* The Authentication-Results value (without "Authentication-Results: "). */
const char *mp_verdict_authres(const struct mp_verdict *v);
/*
 * The action the [milter] settings call for. For REJECT and TEMPFAIL,
 * *smtp_reason_r is the whole reply: "550 5.7.1 text" or "451 4.7.5 text"
 * (reply code, enhanced status code and text separated by one space);
 * for the other actions it is a short reason for the log. Never NULL.
 */
enum mp_action mp_verdict_action(const struct mp_verdict *v, const char **smtp_reason_r);
const char *mp_action_str(enum mp_action a);   /* "accept", "quarantine", ... */
const struct mp_spf_outcome *mp_verdict_spf(const struct mp_verdict *v);
const struct mp_dmarc_outcome *mp_verdict_dmarc(const struct mp_verdict *v);
enum mp_dmarc_result mp_verdict_dmarc_result(const struct mp_verdict *v);
const struct mp_posture *mp_verdict_posture(const struct mp_verdict *v); /* or NULL */
const char *mp_verdict_from_domain(const struct mp_verdict *v);           /* or "" */
const char *mp_verdict_problem(const struct mp_verdict *v);               /* no/multiple From, ... or "" */
/* A domain's posture alone (domain already normalised), within eval_timeout. */
void mp_evaluator_posture(struct mp_evaluator *ev, const char *domain, struct mp_posture *out);

/* Posture cache lookups so far: hits and misses ([policy] posture_ttl). */
void mp_evaluator_posture_stats(struct mp_evaluator *ev, unsigned long *hits_r,
    unsigned long *misses_r);

/* The authserv-id this evaluator writes (and whose forged copies must go). */
const char *mp_evaluator_authserv_id(const struct mp_evaluator *ev);
unsigned long long mp_verdict_elapsed_ms(const struct mp_verdict *v);

/* Text (for mailposture-check) and JSON renderings. */
void mp_verdict_print(const struct mp_verdict *v, struct mp_buf *out);
char *mp_verdict_json(const struct mp_verdict *v);   /* caller frees */

#endif
