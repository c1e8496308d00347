/*
 * posture: a 0..100 score for what a domain publishes. The weights are
 * in one table below and in README ("Posture score"); each line of the
 * breakdown carries the points it earned, so the sum is the score.
 *
 *   SPF     45: valid single record 15, "all" qualifier 15, lookups 10, void lookups 5
 *   DMARC   45: valid record 10, policy 18, pct 5, subdomain policy 4, rua 5, strict alignment 3
 *   MTA-STS  5, TLS-RPT 5
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

static struct mp_posture_item *
add(struct mp_posture *p, const char *key, int points, int max, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static struct mp_posture_item *
add(struct mp_posture *p, const char *key, int points, int max, const char *fmt, ...)
{
	struct mp_posture_item *it;
	va_list ap;

	if (p->nitems >= MP_POSTURE_MAX_ITEMS)
		abort();	/* the table below is fixed: a programming error */
	it = &p->item[p->nitems++];
	it->key = key;
	it->points = points;
	it->max = max;
	va_start(ap, fmt);
	vsnprintf(it->note, sizeof(it->note), fmt, ap);
	va_end(ap);
	return it;
}

static void
score_spf(struct mp_posture *p)
{
	const struct mp_spf_inspection *s = &p->spf;

	switch (s->status) {
	case MP_SPF_TEMPERROR:
		p->complete = false;
		add(p, "spf.record", 0, 15, "could not check: %s", s->problem);
		add(p, "spf.all", 0, 15, "not checked");
		add(p, "spf.lookups", 0, 10, "not checked");
		add(p, "spf.void", 0, 5, "not checked");
		return;
	case MP_SPF_NONE:
		add(p, "spf.record", 0, 15, "no SPF record");
		add(p, "spf.all", 0, 15, "no SPF record");
		add(p, "spf.lookups", 0, 10, "no SPF record");
		add(p, "spf.void", 0, 5, "no SPF record");
		return;
	case MP_SPF_PERMERROR:
		add(p, "spf.record", 0, 15, "invalid: %s", s->problem);
		break;
	default:
		add(p, "spf.record", 15, 15, "one valid record");
		break;
	}

	switch (s->all_qualifier) {
	case '-':
		add(p, "spf.all", 15, 15, "-all: unlisted hosts fail");
		break;
	case '~':
		add(p, "spf.all", 10, 15, "~all: unlisted hosts only softfail");
		break;
	case '?':
		add(p, "spf.all", 3, 15, "?all: unlisted hosts are neutral");
		break;
	case '+':
		add(p, "spf.all", 0, 15, "+all: every host on the Internet passes");
		break;
	default:
		if (s->has_redirect)
			add(p, "spf.all", 10, 15, "redirect= with no all in the final record");
		else
			add(p, "spf.all", 3, 15, "no all mechanism: unlisted hosts are neutral");
		break;
	}

	if (s->lookups > 10)
		add(p, "spf.lookups", 0, 10, "%d DNS lookups: over the limit of 10", s->lookups);
	else if (s->lookups > 8)
		add(p, "spf.lookups", 6, 10, "%d DNS lookups: close to the limit of 10", s->lookups);
	else
		add(p, "spf.lookups", 10, 10, "%d DNS lookups", s->lookups);

	if (s->void_lookups > 2)
		add(p, "spf.void", 0, 5, "%d void lookups: over the limit of 2", s->void_lookups);
	else
		add(p, "spf.void", 5, 5, "%d void lookups", s->void_lookups);
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
	static const char *const keys[] = {
		"dmarc.policy", "dmarc.pct", "dmarc.sp", "dmarc.rua", "dmarc.strict",
	};
	static const int maxes[] = { 18, 5, 4, 5, 3 };
	int pol, sub, earned;
	bool inherited;

	if (p->dmarc_status != MP_DMARC_PASS) {
		const char *why;

		switch (p->dmarc_status) {
		case MP_DMARC_TEMPERROR:
			p->complete = false;
			add(p, "dmarc.record", 0, 10, "could not check: %s", p->dmarc.reason);
			why = "not checked";
			break;
		case MP_DMARC_PERMERROR:
			add(p, "dmarc.record", 0, 10, "invalid: %s", p->dmarc.reason);
			why = "invalid record";
			break;
		default:
			add(p, "dmarc.record", 0, 10, "no DMARC record");
			why = "no DMARC record";
			break;
		}
		for (size_t i = 0; i < MP_ARRAY_SIZE(keys); i++)
			add(p, keys[i], 0, maxes[i], "%s", why);
		return;
	}

	add(p, "dmarc.record", 10, 10, "valid record at _dmarc.%s%s", p->dmarc.policy_domain,
	    p->dmarc.from_org ? " (organizational domain)" : "");

	/* The policy that protects this name: sp when the record is inherited. */
	inherited = p->dmarc.from_org && r->sp != MP_DMARC_P_UNSET;
	pol = policy_rank(inherited ? r->sp : r->p);
	earned = pol == 2 ? 18 : pol == 1 ? 12 : 3;
	if (r->testing)
		earned /= 2;	/* t=y: the owner asks receivers not to enforce yet */
	add(p, "dmarc.policy", earned, 18, "p=%s%s%s%s", mp_dmarc_policy_str(r->p),
	    inherited ? ", inherited sp=" : "", inherited ? mp_dmarc_policy_str(r->sp) : "",
	    r->testing ? " (t=y testing mode: halved)" : "");

	if (pol == 0)
		add(p, "dmarc.pct", 0, 5, "pct=%d, but p=none enforces nothing", r->pct);
	else
		add(p, "dmarc.pct", 5 * r->pct / 100, 5, "pct=%d", r->pct);

	sub = r->sp == MP_DMARC_P_UNSET ? policy_rank(r->p) : policy_rank(r->sp);
	if (sub >= policy_rank(r->p))
		add(p, "dmarc.sp", 4, 4, "subdomains: %s", r->sp == MP_DMARC_P_UNSET ?
		    "inherit p" : mp_dmarc_policy_str(r->sp));
	else
		add(p, "dmarc.sp", 0, 4, "sp=%s is weaker than p=%s", mp_dmarc_policy_str(r->sp),
		    mp_dmarc_policy_str(r->p));

	if (r->rua[0])
		add(p, "dmarc.rua", 5, 5, "aggregate reports to %s", r->rua);
	else
		add(p, "dmarc.rua", 0, 5, "no rua: the owner never sees failures");

	if (r->adkim_strict || r->aspf_strict)
		add(p, "dmarc.strict", 3, 3, "strict alignment (adkim=%c aspf=%c)",
		    r->adkim_strict ? 's' : 'r', r->aspf_strict ? 's' : 'r');
	else
		add(p, "dmarc.strict", 0, 3, "relaxed alignment");
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
score_txt(struct mp_posture *p, const char *key, enum mp_dns_status st, const char *what)
{
	if (st == MP_DNS_OK)
		add(p, key, 5, 5, "%s published", what);
	else if (mp_dns_status_is_temp(st)) {
		p->complete = false;
		add(p, key, 0, 5, "could not check %s: %s", what, mp_dns_status_str(st));
	} else
		add(p, key, 0, 5, "no %s record", what);
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
	score_txt(out, "mta_sts", out->mta_sts, "MTA-STS");
	score_txt(out, "tls_rpt", out->tls_rpt, "TLS-RPT");

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

