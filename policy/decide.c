/*
 * decide: the [milter] actions as a typed policy, and the one function
 * that applies it to the facts of an evaluation.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "util.h"
#include "verdict.h"

struct mp_policy {
	bool no_from_reject;            /* no_from = reject */
	bool multiple_from_reject;      /* multiple_from = reject */
	enum mp_action on_p_reject;     /* dmarc_reject: ACCEPT (none), QUARANTINE or REJECT */
	bool on_p_quarantine;           /* dmarc_quarantine = quarantine */
	bool spf_fail_reject;           /* spf_fail = reject */
	bool temperror_tempfail;        /* temperror = tempfail */
};

const char *
mp_action_str(enum mp_action a)
{
	switch (a) {
	case MP_ACTION_QUARANTINE:
		return "quarantine";
	case MP_ACTION_REJECT:
		return "reject";
	case MP_ACTION_TEMPFAIL:
		return "tempfail";
	default:
		return "accept";
	}
}

static bool
is(const struct mp_conf *conf, const char *name, const char *value)
{
	return strcmp(mp_conf_str(conf, "milter", name), value) == 0;
}

struct mp_policy *
mp_policy_new(const struct mp_conf *conf)
{
	struct mp_policy *p = xcalloc(1, sizeof(*p));

	p->no_from_reject = is(conf, "no_from", "reject");
	p->multiple_from_reject = is(conf, "multiple_from", "reject");
	p->on_p_reject = is(conf, "dmarc_reject", "reject") ? MP_ACTION_REJECT :
	    is(conf, "dmarc_reject", "quarantine") ? MP_ACTION_QUARANTINE : MP_ACTION_ACCEPT;
	p->on_p_quarantine = is(conf, "dmarc_quarantine", "quarantine");
	p->spf_fail_reject = is(conf, "spf_fail", "reject");
	p->temperror_tempfail = is(conf, "temperror", "tempfail");
	return p;
}

void
mp_policy_free(struct mp_policy **pp)
{
	free(*pp);
	*pp = NULL;
}

static void
decided(struct mp_decision *out, enum mp_action a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
decided(struct mp_decision *out, enum mp_action a, const char *fmt, ...)
{
	va_list ap;

	out->action = a;
	va_start(ap, fmt);
	vsnprintf(out->reply, sizeof(out->reply), fmt, ap);
	va_end(ap);
}

/*
 * The From fields themselves: missing, several, or not judged whole.
 * True when they decide the message.
 */
static bool
decide_from(const struct mp_policy *p, const struct mp_result *r, struct mp_decision *out)
{
	bool unusable = r->problem == MP_PROBLEM_BAD_FROM || r->problem == MP_PROBLEM_MULTI_UNKNOWN;

	if (r->problem == MP_PROBLEM_NO_FROM && p->no_from_reject) {
		decided(out, MP_ACTION_REJECT, "550 5.7.1 Message rejected: %s", r->problem_text);
		return true;
	}
	if ((r->problem == MP_PROBLEM_MULTI_FROM || unusable) && p->multiple_from_reject) {
		decided(out, MP_ACTION_REJECT, "550 5.7.1 Message rejected: %s", r->problem_text);
		return true;
	}
	/*
	 * A From that is there but cannot be parsed must not be a way around
	 * DMARC: the reader's mail client may still show a forged address.
	 * "strictest" assumes the worst, a failure under p=reject. So does
	 * a From domain left unevaluated beside others: a forger's slow
	 * domain must not shield the one he forges.
	 */
	if (!unusable || p->on_p_reject == MP_ACTION_ACCEPT)
		return false;
	if (p->on_p_reject == MP_ACTION_REJECT)
		decided(out, MP_ACTION_REJECT, "550 5.7.1 Message rejected: %s", r->problem_text);
	else
		decided(out, MP_ACTION_QUARANTINE, "%s", r->problem_text);
	return true;
}

/*
 * A temporary DNS failure only matters when it could change the outcome:
 * an SPF temperror is harmless when DMARC passed anyway, and when the SPF
 * domain could not have aligned (then only spf_fail could have used it).
 */
static bool
temperror_matters(const struct mp_policy *p, const struct mp_result *r)
{
	if (r->dmarc_result == MP_DMARC_TEMPERROR)
		return true;
	return r->spf.result == MP_SPF_TEMPERROR && r->dmarc_result != MP_DMARC_PASS &&
	    (r->spf_could_align || p->spf_fail_reject);
}

/* A DMARC failure under the policy that applied. True when it decides. */
static bool
decide_dmarc(const struct mp_policy *p, const struct mp_result *r, const char *who,
    struct mp_decision *out)
{
	if (r->dmarc_result != MP_DMARC_FAIL)
		return false;
	if (r->dmarc.disposition == MP_DMARC_P_REJECT) {
		if (p->on_p_reject == MP_ACTION_REJECT) {
			decided(out, MP_ACTION_REJECT,
			    "550 5.7.1 Message rejected by the DMARC policy of %s",
			    r->dmarc.policy_domain[0] ? r->dmarc.policy_domain : who);
			return true;
		}
		if (p->on_p_reject == MP_ACTION_QUARANTINE) {
			decided(out, MP_ACTION_QUARANTINE,
			    "DMARC p=reject, quarantined by local setting");
			return true;
		}
	}
	if (r->dmarc.disposition == MP_DMARC_P_QUARANTINE && p->on_p_quarantine) {
		decided(out, MP_ACTION_QUARANTINE, "DMARC p=quarantine");
		return true;
	}
	return false;
}

void
mp_decide(const struct mp_policy *p, const struct mp_result *r, struct mp_decision *out)
{
	const char *who = r->from_domain[0] ? r->from_domain : "the sender";

	if (decide_from(p, r, out))
		return;
	if (p->temperror_tempfail && temperror_matters(p, r)) {
		decided(out, MP_ACTION_TEMPFAIL,
		    "451 4.7.5 Temporary DNS failure checking %s, try again later", who);
		return;
	}
	if (decide_dmarc(p, r, who, out))
		return;
	if (r->spf.result == MP_SPF_FAIL && r->dmarc_result != MP_DMARC_PASS &&
	    p->spf_fail_reject) {
		decided(out, MP_ACTION_REJECT, "550 5.7.23 SPF check failed for %s from %s",
		    r->spf.domain[0] ? r->spf.domain : who, r->ip);
		return;
	}
	decided(out, MP_ACTION_ACCEPT, "accepted");
}
