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
#include "dkim.h"
#include "dmarc.h"
#include "from.h"
#include "pcache.h"
#include "posture.h"
#include "spf.h"
#include "util.h"

struct mp_evaluator;
struct mp_decision;

/* Builds resolver, SPF, DKIM and DMARC evaluators and the PSL from the
 * config. NULL + err on failure. The config is referenced, not copied.
 * The PSL decides nothing: DMARC finds Organizational Domains by the
 * RFC 9989 walk. It only groups, for storage and display, the domains
 * of one registrant (mp_result.group_domain, the Redis hash tag). */
struct mp_evaluator *mp_evaluator_new(struct mp_conf *conf, char *err, size_t errlen);
/*
 * The same, with flags. MP_EVALUATOR_PSL_OPTIONAL: a Public Suffix List
 * that does not load is no error (mailposture-audit, which reports the
 * PSL as a finding); mp_evaluator_psl() is then NULL and group_domain
 * is the From domain itself.
 */
#define MP_EVALUATOR_PSL_OPTIONAL 0x01
struct mp_evaluator *mp_evaluator_new_ex(struct mp_conf *conf, unsigned flags, char *err,
    size_t errlen);
void mp_evaluator_free(struct mp_evaluator **evp);
/* The parts it built, for tools that run single checks (mailposture-audit)
 * with the same resolver, PSL and evaluators. Owned by ev. */
struct mp_dns *mp_evaluator_dns(struct mp_evaluator *ev);
const struct mp_psl *mp_evaluator_psl(const struct mp_evaluator *ev);
struct mp_spf *mp_evaluator_spf(struct mp_evaluator *ev);
struct mp_dmarc *mp_evaluator_dmarc(struct mp_evaluator *ev);
/* The DKIM verifier, from which a caller makes each message's
 * mp_dkim_msg (mp_message.dkim); NULL when [dkim] verify = no. DKIM
 * results of trusted Authentication-Results headers count only then. */
struct mp_dkim *mp_evaluator_dkim(struct mp_evaluator *ev);

struct mp_header {
	const char *name;
	const char *value;
	size_t value_len;
};

struct mp_message {
	const char *ip;             /* client address, IPv4 or IPv6 text */
	const char *helo;
	const char *mail_from;      /* without angle brackets; "" for the null sender */
	const struct mp_header *headers;   /* only From and Authentication-Results matter
	                                    * (DKIM reads its own feed, below) */
	size_t nheaders;
	bool from_incomplete;       /* a From field was dropped or cut before us: the
	                             * From is unusable (nothing says what was lost) */
	bool want_posture;          /* also score the From domain's posture */
	/* The message's DKIM verification, fed by the caller up to the end of
	 * the body (mp_evaluate finishes it). NULL: not verified here. */
	struct mp_dkim_msg *dkim;
};

enum mp_problem {
	MP_PROBLEM_NONE,
	MP_PROBLEM_NO_FROM,
	MP_PROBLEM_BAD_FROM,        /* a From field unparsable, dropped or cut */
	MP_PROBLEM_MULTI_FROM,      /* several From fields or domains */
	MP_PROBLEM_MULTI_UNKNOWN,   /* several From domains, one not evaluated */
};

/*
 * The facts of one evaluation: plain data that owns nothing. What to do
 * about them is decide.h's business; what is stored, record.h's.
 */
struct mp_result {
	char ip[46];                /* client address as given (INET6_ADDRSTRLEN) */
	/* Display copies, printable and cut: for headers, logs and JSON
	 * only. Logic reads the SPF outcome (spf.dmarc_domain), never these. */
	char helo_shown[256];
	char mail_from_shown[512];
	bool mail_from_whole;       /* mail_from_shown is the address unchanged */
	struct mp_spf_outcome spf;
	bool spf_could_align;       /* the SPF domain could align with the From
	                             * domain (mp_dmarc_could_align) */
	enum mp_dmarc_result dmarc_result;
	struct mp_dmarc_outcome dmarc;   /* the strictest From domain's */
	char from_domain[MP_DOMAIN_MAX]; /* "" when none could be used */
	char group_domain[MP_DOMAIN_MAX]; /* the From domain's registrable domain by
	                             * the PSL: grouping for storage and display
	                             * only, never DMARC; "" when no From domain */
	unsigned dmarc_queries;     /* DNS queries DMARC made for this message */
	size_t nfrom_domains;
	enum mp_problem problem;
	char problem_text[128];     /* "" when MP_PROBLEM_NONE */
	size_t ndkim;               /* the DKIM results DMARC used: */
	struct mp_dmarc_dkim dkim[MP_DKIM_MAX];   /* from dkim_sig, or trusted A-R */
	bool dkim_verified;         /* our own DKIM verification ran ([dkim] verify) */
	size_t ndkim_sig;           /* one per DKIM-Signature field, in header order */
	struct mp_dkim_sig dkim_sig[MP_DKIM_MAX];
	bool dkim_sig_aligned[MP_DKIM_MAX];        /* d= aligns with the From domain */
	bool has_posture;
	struct mp_posture posture;  /* when has_posture */
	unsigned long long elapsed_ms;
};

struct mp_verdict;

/* Never NULL. Runs within the [policy] eval_timeout budget. */
struct mp_verdict *mp_evaluate(struct mp_evaluator *ev, const struct mp_message *msg);
void mp_verdict_free(struct mp_verdict **vp);

const struct mp_result *mp_verdict_result(const struct mp_verdict *v);
/* The Authentication-Results value (without "Authentication-Results: "). */
const char *mp_verdict_authres(const struct mp_verdict *v);
const struct mp_spf_outcome *mp_verdict_spf(const struct mp_verdict *v);
const struct mp_dmarc_outcome *mp_verdict_dmarc(const struct mp_verdict *v);
enum mp_dmarc_result mp_verdict_dmarc_result(const struct mp_verdict *v);
const struct mp_posture *mp_verdict_posture(const struct mp_verdict *v); /* or NULL */
const char *mp_verdict_from_domain(const struct mp_verdict *v);           /* or "" */
const char *mp_verdict_problem(const struct mp_verdict *v);               /* no/multiple From, ... or "" */
/* A domain's posture alone (domain already normalised), within eval_timeout. */
void mp_evaluator_posture(struct mp_evaluator *ev, const char *domain, struct mp_posture *out);

/* Hands the evaluator the posture cache to use from now on (it owns it
 * and frees the one it had). NULL: no cache, every posture computed.
 * Only before the evaluator is shared between threads: nothing locks it. */
void mp_evaluator_set_pcache(struct mp_evaluator *ev, struct mp_pcache *pc);
/* Posture cache lookups so far: hits and misses ([policy] posture_ttl). */
void mp_evaluator_posture_stats(struct mp_evaluator *ev, unsigned long *hits_r,
    unsigned long *misses_r);

/* The authserv-id this evaluator writes (and whose forged copies must go). */
const char *mp_evaluator_authserv_id(const struct mp_evaluator *ev);
unsigned long long mp_verdict_elapsed_ms(const struct mp_verdict *v);

/* Text (for mailposture-check) and JSON renderings, with the decision
 * taken on the verdict (NULL: none shown). The JSON's "dkim" lists each
 * signature verified here: d, s, b, algorithm, key_bits, result,
 * reason, aligned, checked, body_truncated. */
void mp_verdict_print(const struct mp_verdict *v, const struct mp_decision *d,
    struct mp_buf *out);
char *mp_verdict_json(const struct mp_verdict *v, const struct mp_decision *d); /* caller frees */

/*
 * The Authentication-Results value of r under authserv_id, appended to
 * out (what mp_verdict_authres gives): spf=, one dkim= per signature
 * verified here (dkim=none for an unsigned message; none at all when
 * DKIM was not verified here), dmarc=. Results on lines of their own.
 */
void mp_result_authres(const struct mp_result *r, const char *authserv_id, struct mp_buf *out);
/* Text for a header comment: printable, cut, without the characters
 * that would end or nest the comment. */
void mp_header_comment(struct mp_buf *out, const char *s);

#endif
