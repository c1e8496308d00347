/*
 * decide: what the milter does with a message, from the facts of its
 * evaluation (struct mp_result, verdict.h) and the [milter] actions.
 * The actions are compiled once per configuration generation into a
 * typed policy; deciding is then a pure function, with no string
 * comparisons and no configuration lookups per message.
 *
 *	struct mp_policy *pol = mp_policy_new(conf);	// at (re)load
 *	struct mp_decision d;
 *	mp_decide(pol, mp_verdict_result(v), &d);	// per message
 *	mp_policy_free(&pol);
 */
#ifndef MP_DECIDE_H
#define MP_DECIDE_H

#include "conf.h"

struct mp_result;

enum mp_action {
	MP_ACTION_ACCEPT,
	MP_ACTION_QUARANTINE,
	MP_ACTION_REJECT,
	MP_ACTION_TEMPFAIL,
};

/* "accept", "quarantine", "reject" or "tempfail". */
const char *mp_action_str(enum mp_action a);

struct mp_policy;

/* The [milter] actions of a loaded config (whose option table already
 * validated them). Never NULL. */
struct mp_policy *mp_policy_new(const struct mp_conf *conf);
void mp_policy_free(struct mp_policy **pp);

#define MP_REPLY_MAX 640

struct mp_decision {
	enum mp_action action;
	/*
	 * For REJECT and TEMPFAIL the whole SMTP reply: "550 5.7.1 text" or
	 * "451 4.7.5 text" (reply code, enhanced status code and text, one
	 * space apart). For the others a short reason for the log, which is
	 * also the quarantine reason.
	 */
	char reply[MP_REPLY_MAX];
};

void mp_decide(const struct mp_policy *p, const struct mp_result *r, struct mp_decision *out);

#endif
