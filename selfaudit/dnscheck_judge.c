/*
 * dnscheck_judge: the DNS checks of the domain's records and the public
 * IP, judged from what the lookup jobs kept (dnscheck.c), and the helpers
 * the other judges share. A SERVFAIL or a timeout is "could not check"
 * (NOT TESTED), never "missing".
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnscheck_int.h"

const char *
dns_why(const struct mp_dns_result *r)
{
	return r->why && r->why[0] ? r->why : mp_dns_status_str(r->status);
}

bool
dns_has_addr(const struct mp_dns_result *r, const char *ip)
{
	int af = strchr(ip, ':') ? AF_INET6 : AF_INET;
	unsigned char a[16], b[16];

	if (r == NULL || r->status != MP_DNS_OK || inet_pton(af, ip, a) != 1)
		return false;
	for (size_t i = 0; i < r->count; i++)
		if ((r->rr[i].type == MP_DNS_A || r->rr[i].type == MP_DNS_AAAA) &&
		    inet_pton(af, r->rr[i].text, b) == 1 && memcmp(a, b, af == AF_INET ? 4 : 16) == 0)
			return true;
	return false;
}

const struct ptr_host *
dns_rdns_confirmed(const struct rdns *rd, bool *temp_r)
{
	*temp_r = false;
	for (size_t i = 0; i < rd->n; i++) {
		const struct ptr_host *h = &rd->h[i];

		if (!h->valid)
			continue;
		if (dns_has_addr(h->fwd, rd->ip))
			return h;
		if (h->fwd != NULL && mp_dns_status_is_temp(h->fwd->status))
			*temp_r = true;
	}
	return NULL;
}

/* Forward-confirmed reverse DNS of the public IP; the names are smtp.hostname's. */
static void
judge_ptr(struct audit_report *r, const struct audit_dns *d)
{
	const struct rdns *rd = &d->pub;
	const char *ip = d->o.public_ip;
	const struct ptr_host *confirmed;
	bool temp;

	if (!d->have_ip) {
		audit_set(r, CHK_PTR, AUDIT_NOT_TESTED, "no public IP: pass --public-ip or set [audit] public_ip");
		return;
	}
	if (rd->ptr == NULL) {
		audit_set(r, CHK_PTR, AUDIT_NOT_TESTED, "%s is not an IP address", ip);
		return;
	}
	if (mp_dns_status_is_temp(rd->ptr->status)) {
		audit_set(r, CHK_PTR, AUDIT_NOT_TESTED, "could not check the PTR of %s: %s", ip,
		    dns_why(rd->ptr));
		return;
	}
	if (rd->ptr->status != MP_DNS_OK || rd->n == 0) {
		audit_set(r, CHK_PTR, AUDIT_FAIL, "no PTR record for %s (%s)", ip,
		    mp_dns_status_str(rd->ptr->status));
		audit_fix(r, CHK_PTR, "Ask the owner of %s (your ISP or hoster) for a PTR record that "
		    "names this host, e.g. %s", ip, r->helo_name[0] ? r->helo_name : "mail.example.org");
		return;
	}
	for (size_t i = 0; i < rd->n; i++) {
		const struct ptr_host *h = &rd->h[i];

		if (!h->valid)
			audit_evidence(r, CHK_PTR, "PTR %s: not a valid host name", h->name);
		else
			audit_evidence(r, CHK_PTR, "%s ==> %s ==> %s", ip, h->name,
			    dns_has_addr(h->fwd, ip) ? ip : h->fwd == NULL ? "?" :
			    h->fwd->status == MP_DNS_OK ? "other addresses" :
			    mp_dns_status_str(h->fwd->status));
	}
	if ((confirmed = dns_rdns_confirmed(rd, &temp)) != NULL) {
		audit_set(r, CHK_PTR, AUDIT_PASS, "%s ==> %s ==> %s", confirmed->name, ip,
		    confirmed->name);
	} else if (temp) {
		audit_set(r, CHK_PTR, AUDIT_NOT_TESTED, "could not confirm the PTR %s: the forward "
		    "lookup failed", rd->h[0].name);
	} else {
		audit_set(r, CHK_PTR, AUDIT_FAIL, "PTR %s does not resolve back to %s", rd->h[0].name, ip);
		audit_fix(r, CHK_PTR, "Publish %s. IN A %s (forward-confirmed reverse DNS).",
		    rd->h[0].name, ip);
	}
}

static void
judge_spf(struct audit_report *r, const struct audit_dns *d)
{
	const struct mp_spf_inspection *s = &d->posture->spf;

	if (s->record[0] != '\0')
		audit_evidence(r, CHK_SPF, "%s TXT \"%s\"", d->o.domain, s->record);
	audit_evidence(r, CHK_SPF, "records: %d, DNS lookups: %d, void lookups: %d, length %zu",
	    s->nrecords, s->lookups, s->void_lookups, s->record_len);
	switch (s->status) {
	case MP_SPF_TEMPERROR:
		audit_set(r, CHK_SPF, AUDIT_NOT_TESTED, "could not check: %s", s->problem);
		return;
	case MP_SPF_NONE:
		audit_set(r, CHK_SPF, AUDIT_FAIL, "no SPF record found at %s", d->o.domain);
		audit_fix(r, CHK_SPF, "Publish: %s. IN TXT \"v=spf1 mx -all\" (list every host that "
		    "sends mail for the domain)", d->o.domain);
		return;
	case MP_SPF_PERMERROR:
		audit_set(r, CHK_SPF, AUDIT_FAIL, "invalid SPF: %s", s->problem[0] ? s->problem :
		    "permerror");
		audit_fix(r, CHK_SPF, "Publish exactly one valid v=spf1 record with at most 10 DNS "
		    "lookups and 2 void lookups (RFC 7208 4.6.4).");
		return;
	default:
		break;
	}
	if (s->all_qualifier == '+') {
		audit_set(r, CHK_SPF, AUDIT_FAIL, "+all: every host on the Internet passes SPF");
		audit_fix(r, CHK_SPF, "End the record with -all (or ~all while testing).");
	} else if (s->void_lookups > 2 || s->lookups > 10) {
		audit_set(r, CHK_SPF, AUDIT_FAIL, "over the limits: %d lookups, %d void lookups",
		    s->lookups, s->void_lookups);
		audit_fix(r, CHK_SPF, "Flatten includes: at most 10 DNS lookups and 2 void lookups.");
	} else if (s->all_qualifier == '?' || (s->all_qualifier == 0 && !s->has_redirect)) {
		audit_set(r, CHK_SPF, AUDIT_WARN, "%s: unlisted hosts are neutral, not refused",
		    s->all_qualifier == '?' ? "?all" : "no all mechanism");
		audit_fix(r, CHK_SPF, "End the record with -all or ~all.");
	} else if (s->lookups > 8) {
		audit_set(r, CHK_SPF, AUDIT_WARN, "%d DNS lookups: close to the limit of 10", s->lookups);
		audit_fix(r, CHK_SPF, "Flatten includes to stay well under 10 lookups.");
	} else if (s->record_len > 450) {
		audit_set(r, CHK_SPF, AUDIT_WARN, "the record is %zu bytes: large answers need TCP",
		    s->record_len);
		audit_fix(r, CHK_SPF, "Shorten the record (use include: or ip4: ranges).");
	} else {
		audit_set(r, CHK_SPF, AUDIT_PASS, "valid: %s", s->record);
	}
}

/* The policy that applies to the audited domain itself, as RFC 9989
 * discovery chose it (p, or sp/np of the record it inherits). */
static enum mp_dmarc_policy
effective_policy(const struct mp_posture *p)
{
	return p->dmarc.policy;
}

static void
judge_dmarc(struct audit_report *r, const struct audit_dns *d)
{
	const struct mp_posture *p = d->posture;
	const struct mp_dmarc_record *rec = &p->dmarc.rec;
	enum mp_dmarc_policy pol;

	if (p->dmarc.record[0] != '\0')
		audit_evidence(r, CHK_DMARC, "_dmarc.%s TXT \"%s\"", p->dmarc.policy_domain[0] ?
		    p->dmarc.policy_domain : d->o.domain, p->dmarc.record);
	switch (p->dmarc_status) {
	case MP_DMARC_TEMPERROR:
		audit_set(r, CHK_DMARC, AUDIT_NOT_TESTED, "could not check: %s", p->dmarc.reason);
		return;
	case MP_DMARC_NONE:
		audit_set(r, CHK_DMARC, AUDIT_FAIL, "no DMARC record at _dmarc.%s", d->o.domain);
		audit_fix(r, CHK_DMARC, "Publish: _dmarc.%s. IN TXT \"v=DMARC1; p=quarantine; "
		    "rua=mailto:dmarc-reports@%s\" and move to p=reject", d->o.domain, d->o.domain);
		return;
	case MP_DMARC_PERMERROR:
		audit_set(r, CHK_DMARC, AUDIT_FAIL, "invalid DMARC record: %s", p->dmarc.reason);
		audit_fix(r, CHK_DMARC, "Fix the record: it must start with v=DMARC1 and carry p=.");
		return;
	default:
		break;
	}
	pol = effective_policy(p);
	audit_evidence(r, CHK_DMARC, "p=%s sp=%s np=%s%s rua=%s ruf=%s; %s=%s applies, from "
	    "_dmarc.%s%s", mp_dmarc_policy_str(rec->p), mp_dmarc_policy_str(rec->sp),
	    mp_dmarc_policy_str(rec->np), rec->testing ? " t=y" : "",
	    rec->rua[0] ? rec->rua : "(none)", rec->ruf[0] ? rec->ruf : "(none)",
	    p->dmarc.policy_tag != NULL ? p->dmarc.policy_tag : "p", mp_dmarc_policy_str(pol),
	    p->dmarc.policy_domain, p->dmarc.from_psd ? " (public suffix domain, RFC 9989 walk)" :
	    p->dmarc.from_org ? " (organizational domain, RFC 9989 walk)" : "");
	if (rec->pct_set || rec->rf_set || rec->ri_set)
		audit_evidence(r, CHK_DMARC, "note:%s%s%s removed in RFC 9989: ignored by receivers "
		    "that follow it", rec->pct_set ? " pct" : "", rec->rf_set ? " rf" : "",
		    rec->ri_set ? " ri" : "");
	if (rec->warning[0] != '\0')
		audit_evidence(r, CHK_DMARC, "note: %s", rec->warning);
	if (pol == MP_DMARC_P_NONE || pol == MP_DMARC_P_UNSET) {
		audit_set(r, CHK_DMARC, AUDIT_WARN, "p=none: monitoring only, receivers deliver spoofed mail");
		audit_fix(r, CHK_DMARC, "Once the reports show your own mail aligned, raise to "
		    "p=quarantine, then p=reject.");
	} else if (rec->testing) {
		audit_set(r, CHK_DMARC, AUDIT_WARN, "p=%s applies to nothing yet (t=y testing mode)",
		    mp_dmarc_policy_str(pol));
		audit_fix(r, CHK_DMARC, "Remove t=y once the reports are clean.");
	} else if (rec->sp != MP_DMARC_P_UNSET && rec->sp == MP_DMARC_P_NONE && !p->dmarc.from_org) {
		audit_set(r, CHK_DMARC, AUDIT_WARN, "p=%s, but sp=none leaves subdomains unprotected",
		    mp_dmarc_policy_str(pol));
		audit_fix(r, CHK_DMARC, "Remove sp=none or set sp=reject.");
	} else {
		audit_set(r, CHK_DMARC, AUDIT_PASS, "%s", p->dmarc.record);
	}
	if (rec->rua[0] == '\0')
		audit_evidence(r, CHK_DMARC, "no rua: you never see the aggregate reports");
}

static void
judge_report_auth(struct audit_report *r, const struct audit_dns *d)
{
	const struct mp_posture *p = d->posture;
	size_t ok = 0, missing = 0, temp = 0;
	struct mp_buf miss = MP_BUF_INIT;

	if (p->dmarc_status != MP_DMARC_PASS) {
		audit_set(r, CHK_DMARC_REPORT, AUDIT_NOT_TESTED, "no valid DMARC record");
		return;
	}
	if (d->nrep == 0) {
		audit_set(r, CHK_DMARC_REPORT, AUDIT_NOT_TESTED, "%s",
		    p->dmarc.rec.rua[0] || p->dmarc.rec.ruf[0] ?
		    "every report destination is inside the domain: no authorization needed" :
		    "no rua or ruf");
		return;
	}
	for (size_t i = 0; i < d->nrep; i++) {
		const struct rep_dest *rd = &d->rep[i];
		bool found = false;

		if (mp_dns_status_is_temp(rd->txt->status)) {
			temp++;
			audit_evidence(r, CHK_DMARC_REPORT, "%s: could not check (%s)", rd->qname,
			    dns_why(rd->txt));
			continue;
		}
		if (rd->txt->status == MP_DNS_OK)
			for (size_t k = 0; k < rd->txt->count; k++)
				if (mp_dmarc_is_record(rd->txt->rr[k].text, rd->txt->rr[k].text_len))
					found = true;
		audit_evidence(r, CHK_DMARC_REPORT, "%s: %s", rd->qname,
		    found ? "v=DMARC1 (authorized)" : mp_dns_status_str(rd->txt->status));
		if (found) {
			ok++;
		} else {
			missing++;
			audit_list_add(&miss, ", ", "%s", rd->dest);
		}
	}
	if (missing > 0) {
		audit_set(r, CHK_DMARC_REPORT, AUDIT_FAIL, "reports to %s will not be sent: no "
		    "authorization record", mp_buf_str(&miss));
		audit_fix(r, CHK_DMARC_REPORT, "The receiving domain must publish %s._report._dmarc.%s. "
		    "IN TXT \"v=DMARC1\", or send the reports to an address in your domain.",
		    p->dmarc.policy_domain, d->rep[0].dest);
	} else if (temp > 0 && ok == 0) {
		audit_set(r, CHK_DMARC_REPORT, AUDIT_NOT_TESTED, "could not check the authorization records");
	} else {
		audit_set(r, CHK_DMARC_REPORT, AUDIT_PASS, "%zu external report destination%s authorized",
		    ok, ok == 1 ? "" : "s");
	}
	mp_buf_free(&miss);
}

/*
 * Spoofing protection, said in the same words as the SPF and DMARC
 * checks, from the same posture: they cannot disagree.
 */
static void
judge_spoof(struct audit_report *r, const struct audit_dns *d)
{
	const struct mp_posture *p = d->posture;
	const struct mp_spf_inspection *s = &p->spf;
	enum mp_dmarc_policy pol = effective_policy(p);
	bool enforcing, spf_strict;
	char spf_state[96], dmarc_state[128];

	switch (s->status) {
	case MP_SPF_NONE: snprintf(spf_state, sizeof(spf_state), "SPF record missing"); break;
	case MP_SPF_PERMERROR: snprintf(spf_state, sizeof(spf_state), "SPF record invalid"); break;
	case MP_SPF_TEMPERROR: snprintf(spf_state, sizeof(spf_state), "SPF could not be checked"); break;
	default:
		snprintf(spf_state, sizeof(spf_state), "SPF %call", s->all_qualifier ? s->all_qualifier : '?');
		if (s->all_qualifier == 0)
			snprintf(spf_state, sizeof(spf_state), "SPF without all");
		break;
	}
	spf_strict = s->status == MP_SPF_PASS && (s->all_qualifier == '-' || s->all_qualifier == '~');
	switch (p->dmarc_status) {
	case MP_DMARC_NONE: snprintf(dmarc_state, sizeof(dmarc_state), "DMARC record missing"); break;
	case MP_DMARC_PERMERROR: snprintf(dmarc_state, sizeof(dmarc_state), "DMARC record invalid"); break;
	case MP_DMARC_TEMPERROR: snprintf(dmarc_state, sizeof(dmarc_state), "DMARC could not be checked"); break;
	default:
		snprintf(dmarc_state, sizeof(dmarc_state), "DMARC p=%s%s", mp_dmarc_policy_str(pol),
		    p->dmarc.rec.testing ? " (t=y)" : "");
		break;
	}
	audit_evidence(r, CHK_SPOOF, "%s; %s", spf_state, dmarc_state);
	if (p->dmarc_status == MP_DMARC_TEMPERROR) {
		audit_set(r, CHK_SPOOF, AUDIT_NOT_TESTED, "could not check: %s", dmarc_state);
		return;
	}
	enforcing = p->dmarc_status == MP_DMARC_PASS &&
	    (pol == MP_DMARC_P_REJECT || pol == MP_DMARC_P_QUARANTINE) &&
	    !p->dmarc.rec.testing;
	if (enforcing && spf_strict) {
		audit_set(r, CHK_SPOOF, AUDIT_PASS, "protected: %s and %s", dmarc_state, spf_state);
	} else if (enforcing) {
		audit_set(r, CHK_SPOOF, AUDIT_WARN, "%s stops spoofed mail, but %s: your own mail "
		    "passes DMARC only with DKIM", dmarc_state, spf_state);
		audit_fix(r, CHK_SPOOF, "Publish an SPF record ending in -all for %s.", d->o.domain);
	} else if (spf_strict) {
		audit_set(r, CHK_SPOOF, AUDIT_WARN, "%s covers the envelope sender only; with %s "
		    "the From header can be spoofed", spf_state, dmarc_state);
		audit_fix(r, CHK_SPOOF, "Publish DMARC with p=quarantine or p=reject for %s.", d->o.domain);
	} else {
		audit_set(r, CHK_SPOOF, AUDIT_FAIL, "anyone can send as %s: %s; %s", d->o.domain,
		    dmarc_state, spf_state);
		audit_fix(r, CHK_SPOOF, "Publish SPF ending in -all and DMARC with p=quarantine or "
		    "p=reject for %s.", d->o.domain);
	}
}

static void
judge_txt_feature(struct audit_report *r, enum audit_check_id id, enum mp_dns_status st,
    const char *what, const char *name, const char *fix)
{
	if (st == MP_DNS_OK) {
		audit_set(r, id, AUDIT_PASS, "%s record published at %s", what, name);
	} else if (mp_dns_status_is_temp(st)) {
		audit_set(r, id, AUDIT_NOT_TESTED, "could not check %s: %s", name, mp_dns_status_str(st));
	} else {
		audit_set(r, id, AUDIT_WARN, "no %s record at %s", what, name);
		audit_fix(r, id, "%s", fix);
	}
}

enum bl_state {
	BL_LISTED,
	BL_UNKNOWN,
	BL_CLEAN,
};

/* One zone: its evidence, and its name (with the answers when listed) into lst or unk. */
static enum bl_state
judge_zone(struct audit_report *r, const struct bl_zone *z, struct mp_buf *lst, struct mp_buf *unk)
{
	bool is_listed = false, err_code = false, bogus = false;
	struct mp_buf answers = MP_BUF_INIT;
	enum bl_state st;

	if (!z->name_ok || z->a == NULL) {
		audit_evidence(r, CHK_DNSBL, "%s: cannot build the query name", z->zone);
		return BL_UNKNOWN;
	}
	for (size_t k = 0; z->a->status == MP_DNS_OK && k < z->a->count; k++) {
		if (z->a->rr[k].type != MP_DNS_A)
			continue;
		audit_list_add(&answers, " ", "%s", z->a->rr[k].text);
		switch (audit_dnsbl_classify(z->a->rr[k].text)) {
		case DNSBL_LISTED: is_listed = true; break;
		case DNSBL_ERROR_CODE: err_code = true; break;
		case DNSBL_BOGUS: bogus = true; break;
		}
	}
	if (is_listed) {
		st = BL_LISTED;
		audit_list_add(lst, ", ", "%s (%s)", z->zone, mp_buf_str(&answers));
		audit_evidence(r, CHK_DNSBL, "%s A %s: LISTED", z->qname, mp_buf_str(&answers));
		if (z->txt != NULL && z->txt->status == MP_DNS_OK && z->txt->count > 0)
			audit_evidence(r, CHK_DNSBL, "%s TXT \"%s\"", z->qname, z->txt->rr[0].text);
	} else if (err_code || bogus) {
		st = BL_UNKNOWN;
		audit_list_add(unk, ", ", "%s", z->zone);
		audit_evidence(r, CHK_DNSBL, "%s A %s: %s", z->qname, mp_buf_str(&answers),
		    err_code ? "an error code (127.255.255.x): the list refused the query, "
		    "often because it came through a public resolver" :
		    "not a listing code: the zone answers everything");
	} else if (mp_dns_status_is_temp(z->a->status)) {
		st = BL_UNKNOWN;
		audit_list_add(unk, ", ", "%s", z->zone);
		audit_evidence(r, CHK_DNSBL, "%s: could not check (%s)", z->qname, dns_why(z->a));
	} else {
		st = BL_CLEAN;
		audit_evidence(r, CHK_DNSBL, "%s: not listed (%s)", z->qname,
		    mp_dns_status_str(z->a->status));
	}
	mp_buf_free(&answers);
	return st;
}

static void
judge_dnsbl(struct audit_report *r, const struct audit_dns *d)
{
	size_t n[BL_CLEAN + 1] = { 0 };
	struct mp_buf lst = MP_BUF_INIT, unk = MP_BUF_INIT;
	size_t clean;

	if (!d->have_ip) {
		audit_set(r, CHK_DNSBL, AUDIT_NOT_TESTED, "no public IP: pass --public-ip or set [audit] public_ip");
		return;
	}
	if (d->nbl == 0) {
		audit_set(r, CHK_DNSBL, AUDIT_NOT_TESTED, "no DNSBL zones configured ([audit] dnsbl_zones)");
		return;
	}
	for (size_t i = 0; i < d->nbl; i++)
		n[judge_zone(r, &d->bl[i], &lst, &unk)]++;
	clean = n[BL_CLEAN];
	if (n[BL_LISTED] > 0) {
		audit_set(r, CHK_DNSBL, AUDIT_FAIL, "%s is listed on %s", d->o.public_ip, mp_buf_str(&lst));
		audit_fix(r, CHK_DNSBL, "Find and stop the cause (an open relay, a compromised account), "
		    "then ask each list for delisting.");
		audit_cap(r, CHK_DNSBL);
	} else if (clean == 0) {
		audit_set(r, CHK_DNSBL, AUDIT_NOT_TESTED, "could not check any zone (%s)", mp_buf_str(&unk));
	} else if (n[BL_UNKNOWN] > 0) {
		audit_set(r, CHK_DNSBL, AUDIT_PASS, "not listed on %zu zone%s; could not check %s", clean,
		    clean == 1 ? "" : "s", mp_buf_str(&unk));
	} else {
		audit_set(r, CHK_DNSBL, AUDIT_PASS, "not listed on %zu zone%s", clean, clean == 1 ? "" : "s");
	}
	mp_buf_free(&lst);
	mp_buf_free(&unk);
}

/* The resolver, judged by the first lookup: any answer that is not temporary. */
static void
judge_resolver(struct audit_report *r, const struct audit_dns *d)
{
	const struct mp_dns_result *first = d->mx ? d->mx : d->pub.ptr;

	if (!d->have_domain && !d->have_ip) {
		audit_set(r, CHK_RESOLVER, AUDIT_NOT_TESTED, "no lookups were made");
	} else if (first != NULL && !mp_dns_status_is_temp(first->status)) {
		audit_set(r, CHK_RESOLVER, AUDIT_PASS, "the resolver answers (%s)",
		    mp_dns_status_str(first->status));
	} else {
		audit_set(r, CHK_RESOLVER, AUDIT_FAIL, "the resolver does not answer: %s",
		    first != NULL ? mp_dns_status_str(first->status) : "no lookup was made");
		audit_fix(r, CHK_RESOLVER, "Check [dns] resolver and /etc/resolv.conf; run a "
		    "local validating resolver (unbound).");
	}
}

/* The checks that read the domain's posture. */
static void
judge_posture(struct audit_report *r, const struct audit_dns *d)
{
	char name[MP_DOMAIN_MAX + 16];

	judge_spf(r, d);
	judge_dmarc(r, d);
	judge_report_auth(r, d);
	judge_spoof(r, d);
	dns_judge_mtasts(r, d);
	dns_judge_mtasts_policy(r, d);
	snprintf(name, sizeof(name), "_smtp._tls.%s", d->o.domain);
	judge_txt_feature(r, CHK_TLSRPT, d->posture->tls_rpt, "TLS-RPT", name,
	    "Publish _smtp._tls TXT \"v=TLSRPTv1; rua=mailto:tls-reports@<domain>\" (RFC 8460).");
}

static const enum audit_check_id posture_ids[] = { CHK_SPF, CHK_DMARC, CHK_DMARC_REPORT,
    CHK_SPOOF, CHK_MTASTS, CHK_MTASTS_POLICY, CHK_TLSRPT };

void
audit_dns_judge(struct audit_report *r, const struct audit_dns *d)
{
	dns_judge_mx(r, d);
	dns_judge_mx_ptr(r, d);
	judge_ptr(r, d);
	if (!d->have_domain || d->posture == NULL) {
		for (size_t i = 0; i < MP_ARRAY_SIZE(posture_ids); i++)
			audit_set(r, posture_ids[i], AUDIT_NOT_TESTED,
			    "no domain: pass --domain or set [audit] domain");
	} else {
		judge_posture(r, d);
	}
	dns_judge_dane(r, d);
	judge_dnsbl(r, d);
	judge_resolver(r, d);
}
