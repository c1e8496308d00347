/*
 * record: a message's store record from its evaluation and the action
 * applied.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "record.h"

static void
record_identity(struct mp_store_record *r, const char *host, const char *queue_id, time_t now)
{
	static unsigned long noqid_seq;

	mp_strlcpy(r->host, host ? host : "", sizeof(r->host));
	if (queue_id != NULL && queue_id[0] != '\0')
		mp_strlcpy(r->queue_id, queue_id, sizeof(r->queue_id));
	else
		/* Unique within this process and time: a retry is not
		 * recognised, but two messages never share a key. */
		snprintf(r->queue_id, sizeof(r->queue_id), "noqid-%ld-%ld-%lu", (long)getpid(),
		    (long)now, __atomic_add_fetch(&noqid_seq, 1, __ATOMIC_RELAXED));
	r->time = now;
}

/* Each signature verified here, as the aggregate reports need it. */
static void
record_dkim(struct mp_store_record *r, const struct mp_result *res)
{
	for (size_t i = 0; i < res->ndkim_sig && r->ndkim < MP_DKIM_MAX; i++) {
		struct mp_store_dkim *k = &r->dkim[r->ndkim++];

		mp_strlcpy(k->domain, res->dkim_sig[i].domain, sizeof(k->domain));
		mp_strlcpy(k->selector, res->dkim_sig[i].selector, sizeof(k->selector));
		k->result = res->dkim_sig[i].result;
		k->aligned = res->dkim_sig_aligned[i];
	}
}

/*
 * What the aggregate report counts (store_report.h): a message that a
 * DMARC record judged. The envelope_from is the domain SPF checked, the
 * very string check_host() ran on (the HELO name for the null sender).
 */
static void
record_report(struct mp_store_record *r, const struct mp_result *res)
{
	const struct mp_dmarc_outcome *dm = &res->dmarc;
	struct mp_store_report *rep = &r->rep;

	if (!dm->record_found ||
	    (res->dmarc_result != MP_DMARC_PASS && res->dmarc_result != MP_DMARC_FAIL))
		return;
	mp_strlcpy(rep->policy_domain, dm->policy_domain, sizeof(rep->policy_domain));
	mp_strlcpy(rep->envelope_from, res->spf.dmarc_domain, sizeof(rep->envelope_from));
	mp_ascii_lower(rep->envelope_from);
	mp_strlcpy(rep->spf_domain, res->spf.domain, sizeof(rep->spf_domain));
	mp_ascii_lower(rep->spf_domain);
	rep->p = dm->rec.p;
	rep->sp = dm->rec.sp;
	rep->np = dm->rec.np;
	rep->adkim_strict = dm->rec.adkim_strict;
	rep->aspf_strict = dm->rec.aspf_strict;
	rep->testing = dm->rec.testing;
	rep->fo_present = dm->rec.fo_present != 0;
	mp_strlcpy(rep->rua, dm->rec.rua, sizeof(rep->rua));
}

void
mp_record_build(struct mp_store_record *r, const struct mp_result *res,
    const struct mp_message *msg, enum mp_action applied, const char *host,
    const char *queue_id, time_t now)
{
	const struct mp_dmarc_outcome *dm;

	mp_store_record_init(r);
	record_identity(r, host, queue_id, now);
	r->action = applied;
	if (msg != NULL) {
		mp_strlcpy(r->ip, msg->ip ? msg->ip : "", sizeof(r->ip));
		mp_strlcpy(r->helo, msg->helo ? msg->helo : "", sizeof(r->helo));
		mp_strlcpy(r->mail_from, msg->mail_from ? msg->mail_from : "", sizeof(r->mail_from));
	}
	if (res == NULL)
		return;
	r->spf = res->spf.result;
	r->dmarc = res->dmarc_result;
	mp_strlcpy(r->from_domain, res->from_domain, sizeof(r->from_domain));
	dm = &res->dmarc;
	r->spf_aligned = dm->spf_aligned;
	r->dkim_aligned = dm->dkim_aligned;
	r->policy = dm->policy;
	r->disposition = dm->disposition;
	if (dm->record_found)
		r->published = dm->rec.p != MP_DMARC_P_UNSET ? dm->rec.p : MP_DMARC_P_NONE;
	/* The grouping domain, not the RFC 9989 one: a key's slot must not
	 * move with what a walk found. */
	mp_strlcpy(r->org_domain, res->group_domain, sizeof(r->org_domain));
	record_dkim(r, res);
	record_report(r, res);
	/* An incomplete posture is a lower bound: it would rank a domain
	 * among the worst for a DNS hiccup, so only complete ones count. */
	if (res->has_posture && res->posture.complete) {
		r->posture_score = res->posture.score;
		mp_strlcpy(r->posture_grade, res->posture.grade, sizeof(r->posture_grade));
	}
}
