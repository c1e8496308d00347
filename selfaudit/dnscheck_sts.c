/*
 * dnscheck_sts: MTA-STS judged as a sender uses it (RFC 8461): the
 * _mta-sts record must be one valid record with an id; the policy must
 * come over HTTPS with a certificate valid for mta-sts.<domain>, parse,
 * and list every MX host, and every pattern in it should still name one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnscheck_int.h"

void
dns_judge_mtasts(struct audit_report *r, const struct audit_dns *d)
{
	const struct sts_state *s = &d->sts;
	char name[MP_DOMAIN_MAX + 16];

	snprintf(name, sizeof(name), "_mta-sts.%s", d->o.domain);
	for (size_t i = 0; s->txt != NULL && s->txt->status == MP_DNS_OK && i < s->txt->count; i++)
		audit_evidence(r, CHK_MTASTS, "%s TXT \"%s\"", name, s->txt->rr[i].text);
	if (s->txt == NULL || mp_dns_status_is_temp(s->txt->status)) {
		audit_set(r, CHK_MTASTS, AUDIT_NOT_TESTED, "could not check %s: %s", name,
		    s->txt ? dns_why(s->txt) : "no lookup");
	} else if (s->nrec == 0) {
		audit_set(r, CHK_MTASTS, AUDIT_WARN, "no MTA-STS record at %s", name);
		audit_fix(r, CHK_MTASTS, "Publish _mta-sts TXT \"v=STSv1; id=...\" and the policy at "
		    "https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461).");
	} else if (!s->txt_ok) {
		audit_set(r, CHK_MTASTS, AUDIT_FAIL, "the MTA-STS record at %s is invalid (%s): senders "
		    "ignore MTA-STS", name, s->txt_why);
		audit_fix(r, CHK_MTASTS, "Publish exactly one record: %s. IN TXT \"v=STSv1; id=20240101\", "
		    "and change the id whenever the policy changes.", name);
	} else {
		audit_set(r, CHK_MTASTS, AUDIT_PASS, "MTA-STS record published at %s, id %s", name, s->id);
	}
}

/* Problems of the policy against the MX hosts, into fails and warns. */
static void
policy_vs_mx(struct audit_report *r, const struct audit_dns *d, const struct audit_sts_policy *p,
    struct mp_buf *fails, struct mp_buf *warns)
{
	struct mp_buf miss = MP_BUF_INIT, stale = MP_BUF_INIT;

	for (size_t i = 0; i < d->nmx; i++) {
		bool hit = false;

		if (d->mxh[i].name[0] == '\0')
			continue;
		for (size_t k = 0; k < p->nmx && !hit; k++)
			hit = audit_sts_mx_match(p->mx[k], d->mxh[i].name);
		audit_evidence(r, CHK_MTASTS_POLICY, "MX %s: %s", d->mxh[i].name,
		    hit ? "matches a pattern" : "matches no mx: pattern");
		if (!hit)
			audit_list_add(&miss, ", ", "%s", d->mxh[i].name);
	}
	for (size_t k = 0; k < p->nmx; k++) {
		bool used = false;

		for (size_t i = 0; i < d->nmx && !used; i++)
			used = d->mxh[i].name[0] != '\0' && audit_sts_mx_match(p->mx[k], d->mxh[i].name);
		if (!used)
			audit_list_add(&stale, ", ", "%s", p->mx[k]);
	}
	if (miss.len > 0 && p->mode == STS_MODE_ENFORCE)
		audit_list_add(fails, "; ", "MX %s not in the policy: enforcing senders will not deliver "
		    "to it", mp_buf_str(&miss));
	else if (miss.len > 0 && p->mode == STS_MODE_TESTING)
		audit_list_add(warns, "; ", "MX %s not in the policy", mp_buf_str(&miss));
	if (stale.len > 0)
		audit_list_add(warns, "; ", "stale pattern %s matches no MX", mp_buf_str(&stale));
	mp_buf_free(&miss);
	mp_buf_free(&stale);
}

/* The policy's own fields and the way it was served, into fails and warns. */
static void
policy_fields(struct audit_report *r, const struct audit_sts_fetch *f,
    const struct audit_sts_policy *p, struct mp_buf *fails, struct mp_buf *warns)
{
	audit_evidence(r, CHK_MTASTS_POLICY, "mode %s, max_age %ld, %zu mx pattern%s, "
	    "Content-Type %s", audit_sts_mode_str(p->mode), p->has_max_age ? p->max_age : -1L,
	    p->nmx, p->nmx == 1 ? "" : "s", f->content_type[0] ? f->content_type : "(none)");
	if (p->errors.len > 0)
		audit_list_add(fails, "; ", "invalid policy: %s", mp_buf_str(&p->errors));
	if (p->notes.len > 0)
		audit_evidence(r, CHK_MTASTS_POLICY, "note: %s", mp_buf_str(&p->notes));
	if (p->mode == STS_MODE_TESTING)
		audit_list_add(warns, "; ", "%s", "mode testing: senders report failures but still "
		    "deliver without TLS");
	else if (p->mode == STS_MODE_NONE)
		audit_list_add(warns, "; ", "%s", "mode none: MTA-STS is switched off");
	if (p->has_max_age && p->max_age < 86400)
		audit_list_add(warns, "; ", "max_age %ld is under a day: senders keep the policy only "
		    "that long", p->max_age);
	if (mp_strncasecmp(f->content_type, "text/plain", 10) != 0)
		audit_list_add(warns, "; ", "Content-Type is %s, not text/plain as RFC 8461 asks",
		    f->content_type[0] ? f->content_type : "missing");
}

/* The policy was fetched: judge the certificate, the fields and the MX hosts. */
static void
judge_policy_body(struct audit_report *r, const struct audit_dns *d)
{
	const struct audit_sts_fetch *f = &d->sts.fetch;
	struct audit_sts_policy p;
	struct mp_buf fails = MP_BUF_INIT, warns = MP_BUF_INIT;

	audit_evidence(r, CHK_MTASTS_POLICY, "%s (%s): HTTP %ld, %zu bytes", f->url, f->addrs,
	    f->http_code, f->len);
	audit_sts_policy_parse(f->body, f->len, &p);
	if (!f->cert_ok)
		audit_list_add(&fails, "; ", "the certificate of mta-sts.%s is not valid (%s): senders "
		    "do not use the policy", d->o.domain, f->cert_error);
	policy_fields(r, f, &p, &fails, &warns);
	policy_vs_mx(r, d, &p, &fails, &warns);
	if (fails.len > 0) {
		audit_set(r, CHK_MTASTS_POLICY, AUDIT_FAIL, "%s%s%s", mp_buf_str(&fails),
		    warns.len ? "; " : "", mp_buf_str(&warns));
		audit_fix(r, CHK_MTASTS_POLICY, "Serve a certificate valid for mta-sts.%s and a policy "
		    "with version: STSv1, mode, max_age and one mx: line for each MX host; then change "
		    "the id of the _mta-sts record.", d->o.domain);
	} else if (warns.len > 0) {
		audit_set(r, CHK_MTASTS_POLICY, AUDIT_WARN, "%s", mp_buf_str(&warns));
		audit_fix(r, CHK_MTASTS_POLICY, "Once TLS-RPT reports are clean, set mode: enforce and "
		    "max_age: 604800 or more; list exactly the MX hosts; serve it as text/plain.");
	} else {
		audit_set(r, CHK_MTASTS_POLICY, AUDIT_PASS, "mode %s, max_age %ld, every MX host is in "
		    "the policy", audit_sts_mode_str(p.mode), p.max_age);
	}
	audit_sts_policy_free(&p);
	mp_buf_free(&fails);
	mp_buf_free(&warns);
}

void
dns_judge_mtasts_policy(struct audit_report *r, const struct audit_dns *d)
{
	const struct audit_sts_fetch *f = &d->sts.fetch;

	if (!d->sts.txt_ok) {
		audit_set(r, CHK_MTASTS_POLICY, AUDIT_NOT_TESTED, "no valid _mta-sts record: senders "
		    "never fetch a policy");
		return;
	}
	switch (f->status) {
	case STS_FETCH_OK:
		judge_policy_body(r, d);
		return;
	case STS_FETCH_DNS_TEMP:
	case STS_FETCH_NOT_TRIED:
		audit_set(r, CHK_MTASTS_POLICY, AUDIT_NOT_TESTED, "could not resolve mta-sts.%s: %s",
		    d->o.domain, f->error);
		return;
	case STS_FETCH_NO_ADDRESS:
	case STS_FETCH_FAILED:
		break;
	}
	audit_evidence(r, CHK_MTASTS_POLICY, "%s%s%s%s", f->url, f->addrs[0] ? " (" : "", f->addrs,
	    f->addrs[0] ? ")" : "");
	audit_set(r, CHK_MTASTS_POLICY, AUDIT_FAIL, "the policy cannot be fetched: %s; senders "
	    "ignore MTA-STS", f->error);
	audit_fix(r, CHK_MTASTS_POLICY, "Serve the policy at %s over HTTPS (a certificate valid for "
	    "mta-sts.%s, HTTP 200, no redirect), or remove the _mta-sts record.", f->url, d->o.domain);
}
