/*
 * posture: a 0..100 score for what a domain publishes. The weights are
 * the rubric table below (README's "Posture score" shows the same); each
 * line of the breakdown carries the points it earned, so the sum is the
 * score. SPF and DMARC weigh 45 points each, MTA-STS and TLS-RPT 5 each.
 *
 * A lookup that failed (SERVFAIL, timeout) earns nothing but marks the
 * posture incomplete: the score is then a lower bound, and callers must
 * not present it as "missing".
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posture.h"

/* The rubric: each item of the breakdown and the most it can earn. */
enum item {
	SPF_RECORD, SPF_ALL, SPF_LOOKUPS, SPF_VOID,
	DMARC_RECORD, DMARC_POLICY, DMARC_SP, DMARC_RUA, DMARC_STRICT,
	MTA_STS, TLS_RPT,
};

static const struct {
	const char *key;
	int max;
} rubric[] = {
	[SPF_RECORD] = { "spf.record", 15 },
	[SPF_ALL] = { "spf.all", 15 },
	[SPF_LOOKUPS] = { "spf.lookups", 10 },
	[SPF_VOID] = { "spf.void", 5 },
	[DMARC_RECORD] = { "dmarc.record", 10 },
	/* pct's 5 points of RFC 7489 days went to the policy: RFC 9989
	 * removed pct, so a partial rollout is t=y, scored here. */
	[DMARC_POLICY] = { "dmarc.policy", 23 },
	[DMARC_SP] = { "dmarc.sp", 4 },
	[DMARC_RUA] = { "dmarc.rua", 5 },
	[DMARC_STRICT] = { "dmarc.strict", 3 },
	[MTA_STS] = { "mta_sts", 5 },
	[TLS_RPT] = { "tls_rpt", 5 },
};

/* Partial credit, in points of the item the name starts with. */
#define ALL_SOFTFAIL      10    /* ~all */
#define ALL_REDIRECT      10    /* redirect= and no all in the final record */
#define ALL_NEUTRAL       3     /* ?all, or no all mechanism */
#define LOOKUPS_CLOSE     6     /* 9 or 10 DNS lookups */
#define POLICY_QUARANTINE 15    /* p=quarantine */
#define POLICY_NONE       4     /* p=none: a record, no enforcement */

#define FULL(it) (rubric[it].max)

static void
add(struct mp_posture *p, enum item item, int points, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
add(struct mp_posture *p, enum item item, int points, const char *fmt, ...)
{
	struct mp_posture_item *it;
	va_list ap;

	if (p->nitems >= MP_POSTURE_MAX_ITEMS)
		abort();	/* the table below is fixed: a programming error */
	it = &p->item[p->nitems++];
	it->key = rubric[item].key;
	it->points = points;
	it->max = rubric[item].max;
	va_start(ap, fmt);
	vsnprintf(it->note, sizeof(it->note), fmt, ap);
	va_end(ap);
}

static void
score_spf(struct mp_posture *p)
{
	const struct mp_spf_inspection *s = &p->spf;

	switch (s->status) {
	case MP_SPF_TEMPERROR:
		p->complete = false;
		add(p, SPF_RECORD, 0, "could not check: %s", s->problem);
		add(p, SPF_ALL, 0, "not checked");
		add(p, SPF_LOOKUPS, 0, "not checked");
		add(p, SPF_VOID, 0, "not checked");
		return;
	case MP_SPF_NONE:
		add(p, SPF_RECORD, 0, "no SPF record");
		add(p, SPF_ALL, 0, "no SPF record");
		add(p, SPF_LOOKUPS, 0, "no SPF record");
		add(p, SPF_VOID, 0, "no SPF record");
		return;
	case MP_SPF_PERMERROR:
		add(p, SPF_RECORD, 0, "invalid: %s", s->problem);
		break;
	default:
		add(p, SPF_RECORD, FULL(SPF_RECORD), "one valid record");
		break;
	}

	switch (s->all_qualifier) {
	case '-':
		add(p, SPF_ALL, FULL(SPF_ALL), "-all: unlisted hosts fail");
		break;
	case '~':
		add(p, SPF_ALL, ALL_SOFTFAIL, "~all: unlisted hosts only softfail");
		break;
	case '?':
		add(p, SPF_ALL, ALL_NEUTRAL, "?all: unlisted hosts are neutral");
		break;
	case '+':
		add(p, SPF_ALL, 0, "+all: every host on the Internet passes");
		break;
	default:
		if (s->has_redirect)
			add(p, SPF_ALL, ALL_REDIRECT, "redirect= with no all in the final record");
		else
			add(p, SPF_ALL, ALL_NEUTRAL, "no all mechanism: unlisted hosts are neutral");
		break;
	}

	if (s->lookups > 10)
		add(p, SPF_LOOKUPS, 0, "%d DNS lookups: over the limit of 10", s->lookups);
	else if (s->lookups > 8)
		add(p, SPF_LOOKUPS, LOOKUPS_CLOSE, "%d DNS lookups: close to the limit of 10",
		    s->lookups);
	else
		add(p, SPF_LOOKUPS, FULL(SPF_LOOKUPS), "%d DNS lookups", s->lookups);

	if (s->void_lookups > 2)
		add(p, SPF_VOID, 0, "%d void lookups: over the limit of 2", s->void_lookups);
	else
		add(p, SPF_VOID, FULL(SPF_VOID), "%d void lookups", s->void_lookups);
}

static int
policy_rank(enum mp_dmarc_policy pol)
{
	switch (pol) {
	case MP_DMARC_P_REJECT:
		return 2;
	case MP_DMARC_P_QUARANTINE:
		return 1;
	default:
		return 0;
	}
}

static void
score_dmarc(struct mp_posture *p)
{
	const struct mp_dmarc_record *r = &p->dmarc.rec;
	int pol, sub, earned;
	bool inherited;

	if (p->dmarc_status != MP_DMARC_PASS) {
		const char *why;

		switch (p->dmarc_status) {
		case MP_DMARC_TEMPERROR:
			p->complete = false;
			add(p, DMARC_RECORD, 0, "could not check: %s", p->dmarc.reason);
			why = "not checked";
			break;
		case MP_DMARC_PERMERROR:
			add(p, DMARC_RECORD, 0, "invalid: %s", p->dmarc.reason);
			why = "invalid record";
			break;
		default:
			add(p, DMARC_RECORD, 0, "no DMARC record");
			why = "no DMARC record";
			break;
		}
		for (enum item it = DMARC_POLICY; it <= DMARC_STRICT; it++)
			add(p, it, 0, "%s", why);
		return;
	}

	add(p, DMARC_RECORD, FULL(DMARC_RECORD), "valid record at _dmarc.%s%s%s%s%s%s",
	    p->dmarc.policy_domain, p->dmarc.from_psd ? " (public suffix domain)" :
	    p->dmarc.from_org ? " (organizational domain)" : "",
	    r->pct_set ? "; pct" : "", r->rf_set ? "; rf" : "", r->ri_set ? "; ri" : "",
	    r->pct_set || r->rf_set || r->ri_set ? ": removed in RFC 9989, ignored" : "");

	/* The policy that protects this name, as discovery chose it: p for
	 * its own record, else sp or np (RFC 9989 4.10.1). */
	inherited = p->dmarc.from_org;
	pol = policy_rank(p->dmarc.policy);
	earned = pol == 2 ? FULL(DMARC_POLICY) : pol == 1 ? POLICY_QUARANTINE : POLICY_NONE;
	if (r->testing)
		earned /= 2;	/* t=y: the owner asks receivers not to enforce yet */
	add(p, DMARC_POLICY, earned, "%s=%s%s%s%s", p->dmarc.policy_tag,
	    mp_dmarc_policy_str(p->dmarc.policy), inherited ? " of _dmarc." : "",
	    inherited ? p->dmarc.policy_domain : "", r->testing ? " (t=y testing mode: halved)" : "");

	sub = r->sp == MP_DMARC_P_UNSET ? policy_rank(r->p) : policy_rank(r->sp);
	if (sub >= policy_rank(r->p))
		add(p, DMARC_SP, FULL(DMARC_SP), "subdomains: %s", r->sp == MP_DMARC_P_UNSET ?
		    "inherit p" : mp_dmarc_policy_str(r->sp));
	else
		add(p, DMARC_SP, 0, "sp=%s is weaker than p=%s", mp_dmarc_policy_str(r->sp),
		    mp_dmarc_policy_str(r->p));

	if (r->rua[0])
		add(p, DMARC_RUA, FULL(DMARC_RUA), "aggregate reports to %s", r->rua);
	else
		add(p, DMARC_RUA, 0, "no rua: the owner never sees failures");

	if (r->adkim_strict || r->aspf_strict)
		add(p, DMARC_STRICT, FULL(DMARC_STRICT), "strict alignment (adkim=%c aspf=%c)",
		    r->adkim_strict ? 's' : 'r', r->aspf_strict ? 's' : 'r');
	else
		add(p, DMARC_STRICT, 0, "relaxed alignment");
}

/* A TXT record at name that starts with tag (case-insensitive). */
static enum mp_dns_status
has_txt(struct mp_dns *dns, const struct mp_deadline *deadline, const char *name,
    const char *tag)
{
	struct mp_dns_result *res = mp_dns_query(dns, deadline, name, MP_DNS_TXT);
	enum mp_dns_status st = res->status;

	if (st == MP_DNS_OK) {
		st = MP_DNS_NODATA;
		for (size_t i = 0; i < res->count; i++)
			if (res->rr[i].text_len == strlen(res->rr[i].text) &&
			    mp_strncasecmp(res->rr[i].text, tag, strlen(tag)) == 0)
				st = MP_DNS_OK;
	}
	mp_dns_result_free(&res);
	return st;
}

static void
score_txt(struct mp_posture *p, enum item key, enum mp_dns_status st, const char *what)
{
	if (st == MP_DNS_OK)
		add(p, key, FULL(key), "%s published", what);
	else if (mp_dns_status_is_temp(st)) {
		p->complete = false;
		add(p, key, 0, "could not check %s: %s", what, mp_dns_status_str(st));
	} else
		add(p, key, 0, "no %s record", what);
}

void
mp_posture_evaluate(struct mp_spf *spf, struct mp_dmarc *dmarc, struct mp_dns *dns,
    const struct mp_deadline *deadline, const char *domain, struct mp_posture *out)
{
	char name[MP_DNS_NAME_MAX + 32];
	int total = 0;

	memset(out, 0, sizeof(*out));
	mp_strlcpy(out->domain, domain, sizeof(out->domain));
	out->complete = true;

	mp_spf_inspect(spf, deadline, domain, &out->spf);
	out->dmarc_status = mp_dmarc_lookup(dmarc, deadline, domain, &out->dmarc);
	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	out->mta_sts = has_txt(dns, deadline, name, "v=STSv1");
	snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
	out->tls_rpt = has_txt(dns, deadline, name, "v=TLSRPTv1");

	score_spf(out);
	score_dmarc(out);
	score_txt(out, MTA_STS, out->mta_sts, "MTA-STS");
	score_txt(out, TLS_RPT, out->tls_rpt, "TLS-RPT");

	for (size_t i = 0; i < out->nitems; i++)
		total += out->item[i].points;
	out->score = total > 100 ? 100 : total;
	mp_strlcpy(out->grade, mp_posture_grade(out->score), sizeof(out->grade));
}

const char *
mp_posture_grade(int score)
{
	static const struct {
		int min;
		const char *grade;
	} scale[] = {
		{ 100, "A+" }, { 90, "A" }, { 85, "A-" }, { 80, "B+" }, { 70, "B" },
		{ 65, "B-" }, { 60, "C+" }, { 50, "C" }, { 45, "C-" }, { 40, "D+" },
		{ 30, "D" }, { 25, "D-" },
	};

	for (size_t i = 0; i < MP_ARRAY_SIZE(scale); i++)
		if (score >= scale[i].min)
			return scale[i].grade;
	return "F";
}

void
mp_posture_print(const struct mp_posture *p, struct mp_buf *out)
{
	mp_buf_printf(out, "Posture:       %s %d/100 (%s)%s\n", p->domain, p->score, p->grade,
	    p->complete ? "" : ", incomplete: some lookups failed");
	for (size_t i = 0; i < p->nitems; i++)
		mp_buf_printf(out, "  %-14s %2d/%-2d  %s\n", p->item[i].key, p->item[i].points,
		    p->item[i].max, p->item[i].note);
}

json_t *
mp_posture_json(const struct mp_posture *p)
{
	json_t *items = json_array();

	for (size_t i = 0; i < p->nitems; i++)
		json_array_append_new(items, json_pack("{s:s, s:i, s:i, s:s}",
		    "key", p->item[i].key, "points", p->item[i].points,
		    "max", p->item[i].max, "note", p->item[i].note));
	return json_pack("{s:s, s:i, s:s, s:b, s:{s:s, s:s, s:i, s:i, s:s}, "
	    "s:{s:s, s:s, s:s, s:b}, s:s, s:s, s:o}",
	    "domain", p->domain, "score", p->score, "grade", p->grade, "complete", p->complete,
	    "spf", "status", mp_spf_result_str(p->spf.status), "record", p->spf.record,
	    "lookups", p->spf.lookups, "void_lookups", p->spf.void_lookups,
	    "problem", p->spf.problem,
	    "dmarc", "status", mp_dmarc_result_str(p->dmarc_status), "record", p->dmarc.record,
	    "policy_domain", p->dmarc.policy_domain, "from_org", p->dmarc.from_org,
	    "mta_sts", mp_dns_status_str(p->mta_sts), "tls_rpt", mp_dns_status_str(p->tls_rpt),
	    "items", items);
}

