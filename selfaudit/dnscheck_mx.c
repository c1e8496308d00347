/*
 * dnscheck_mx: the checks of every MX host of the domain, not only the
 * one under audit: the MX records and their addresses, the reverse DNS
 * of each address, and the TLSA records (DNSSEC and presence; what they
 * match is dnscheck_served.c's).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnscheck_int.h"

/* The addresses of an A or AAAA answer, or its status. */
static void
addr_list(const struct mp_dns_result *r, struct mp_buf *out)
{
	if (r == NULL) {
		mp_buf_puts(out, "-");
		return;
	}
	for (size_t i = 0; r->status == MP_DNS_OK && i < r->count && i < 8; i++)
		if (r->rr[i].type == MP_DNS_A || r->rr[i].type == MP_DNS_AAAA)
			audit_list_add(out, " ", "%s", r->rr[i].text);
	if (out->len == 0)
		mp_buf_puts(out, mp_dns_status_str(r->status));
}

void
dns_judge_mx(struct audit_report *r, const struct audit_dns *d)
{
	const struct mp_dns_result *mx = d->mx;
	bool null_mx = false, ours = false;
	struct mp_buf a = MP_BUF_INIT, aaaa = MP_BUF_INIT;

	if (!d->have_domain) {
		audit_set(r, CHK_MX, AUDIT_NOT_TESTED, "no domain: pass --domain or set [audit] domain");
		return;
	}
	if (mp_dns_status_is_temp(mx->status)) {
		audit_set(r, CHK_MX, AUDIT_NOT_TESTED, "could not check MX of %s: %s", d->o.domain,
		    dns_why(mx));
		return;
	}
	if (mx->status == MP_DNS_NXDOMAIN) {
		audit_set(r, CHK_MX, AUDIT_FAIL, "the domain %s does not exist (NXDOMAIN)", d->o.domain);
		audit_fix(r, CHK_MX, "Publish the domain and an MX record: %s. IN MX 10 %s.",
		    d->o.domain, r->helo_name[0] ? r->helo_name : "mail.example.org");
		return;
	}
	if (mx->status == MP_DNS_NODATA || d->nmx == 0) {
		audit_set(r, CHK_MX, AUDIT_FAIL, "no MX record for %s", d->o.domain);
		audit_fix(r, CHK_MX, "Publish: %s. IN MX 10 %s.", d->o.domain,
		    r->helo_name[0] ? r->helo_name : "mail.example.org");
		return;
	}
	for (size_t i = 0; i < d->nmx; i++) {
		const struct mx_host *h = &d->mxh[i];

		if (h->name[0] == '\0') {
			null_mx = true;
			audit_evidence(r, CHK_MX, "MX %u . (null MX, RFC 7505)", h->pref);
			continue;
		}
		addr_list(h->a, &a);
		addr_list(h->aaaa, &aaaa);
		audit_evidence(r, CHK_MX, "MX %u %s: A %s, AAAA %s", h->pref, h->name, mp_buf_str(&a),
		    mp_buf_str(&aaaa));
		mp_buf_reset(&a);
		mp_buf_reset(&aaaa);
		if (d->have_ip && (dns_has_addr(h->a, d->o.public_ip) || dns_has_addr(h->aaaa, d->o.public_ip)))
			ours = true;
	}
	mp_buf_free(&a);
	mp_buf_free(&aaaa);
	if (null_mx) {
		audit_set(r, CHK_MX, AUDIT_WARN, "null MX: %s declares that it accepts no mail", d->o.domain);
		audit_fix(r, CHK_MX, "Remove the null MX if this host should receive mail for %s.",
		    d->o.domain);
		return;
	}
	if (d->have_ip)
		audit_evidence(r, CHK_MX, "public IP %s %s", d->o.public_ip,
		    ours ? "belongs to an MX host" : "is not an address of any MX host");
	audit_set(r, CHK_MX, AUDIT_PASS, "%zu MX record%s: %s%s", d->nmx, d->nmx == 1 ? "" : "s",
	    d->mxh[0].name, d->nmx > 1 ? ", ..." : "");
}


void
dns_hex(const unsigned char *p, size_t n, struct mp_buf *out)
{
	for (size_t i = 0; i < n; i++)
		mp_buf_printf(out, "%02x", p[i]);
}

void
dns_tlsa_text(const struct mp_dns_rr *rr, struct mp_buf *out)
{
	mp_buf_printf(out, "TLSA %u %u %u ", rr->tlsa_usage, rr->tlsa_selector, rr->tlsa_mtype);
	dns_hex(rr->tlsa_data, rr->tlsa_len < 32 ? rr->tlsa_len : 32, out);
	if (rr->tlsa_len > 32)
		mp_buf_puts(out, "...");
}

/* One address of an MX host: its evidence line; 1 confirmed, 0 not, -1 unknown. */
static int
mx_addr_rdns(struct audit_report *r, const struct mx_host *h, const struct rdns *rd,
    struct mp_buf *bad)
{
	const struct ptr_host *ok;
	bool temp;

	if (rd->ptr == NULL)
		return -1;
	if (mp_dns_status_is_temp(rd->ptr->status)) {
		audit_evidence(r, CHK_MX_PTR, "%s %s: could not check the PTR (%s)", h->name, rd->ip,
		    dns_why(rd->ptr));
		return -1;
	}
	if ((ok = dns_rdns_confirmed(rd, &temp)) != NULL) {
		audit_evidence(r, CHK_MX_PTR, "%s %s ==> %s ==> %s", h->name, rd->ip, ok->name, rd->ip);
		return 1;
	}
	if (temp) {
		audit_evidence(r, CHK_MX_PTR, "%s %s ==> %s: the forward lookup failed", h->name,
		    rd->ip, rd->h[0].name);
		return -1;
	}
	if (rd->n == 0)
		audit_evidence(r, CHK_MX_PTR, "%s %s: no PTR (%s)", h->name, rd->ip,
		    mp_dns_status_str(rd->ptr->status));
	else
		audit_evidence(r, CHK_MX_PTR, "%s %s ==> %s, which does not resolve back", h->name,
		    rd->ip, rd->h[0].name);
	audit_list_add(bad, ", ", "%s (%s)", rd->ip, h->name);
	return 0;
}

void
dns_judge_mx_ptr(struct audit_report *r, const struct audit_dns *d)
{
	size_t n[3] = { 0, 0, 0 };      /* unknown, missing, confirmed */
	struct mp_buf bad = MP_BUF_INIT;

	for (size_t i = 0; i < d->nmx; i++)
		for (size_t k = 0; k < d->mxh[i].naddr; k++)
			n[1 + mx_addr_rdns(r, &d->mxh[i], &d->mxh[i].addr[k], &bad)]++;
	if (n[0] + n[1] + n[2] == 0) {
		audit_set(r, CHK_MX_PTR, AUDIT_NOT_TESTED, "no MX host address to look up");
	} else if (n[1] > 0) {
		audit_set(r, CHK_MX_PTR, AUDIT_WARN, "no forward-confirmed reverse DNS for %s",
		    mp_buf_str(&bad));
		audit_fix(r, CHK_MX_PTR, "Ask the owner of each address for a PTR record naming a host "
		    "that resolves back to it (the MX name itself is best).");
	} else if (n[2] == 0) {
		audit_set(r, CHK_MX_PTR, AUDIT_NOT_TESTED, "could not check the reverse DNS of the MX hosts");
	} else {
		audit_set(r, CHK_MX_PTR, AUDIT_PASS, "%zu MX address%s with forward-confirmed reverse DNS%s",
		    n[2], n[2] == 1 ? "" : "es", n[0] ? " (some could not be checked)" : "");
	}
	mp_buf_free(&bad);
}

void
dns_judge_dane(struct audit_report *r, const struct audit_dns *d)
{
	size_t secure = 0, insecure = 0, none = 0, temp = 0, bogus = 0, hosts = 0;

	if (!d->have_domain || d->mx == NULL || d->nmx == 0) {
		audit_set(r, CHK_DANE, AUDIT_NOT_TESTED, "no MX host to look up");
		return;
	}
	for (size_t i = 0; i < d->nmx; i++) {
		const struct mx_host *h = &d->mxh[i];

		if (h->tlsa == NULL)
			continue;
		hosts++;
		if (h->tlsa->bogus) {
			bogus++;
			audit_evidence(r, CHK_DANE, "_25._tcp.%s: DNSSEC validation failed", h->name);
		} else if (mp_dns_status_is_temp(h->tlsa->status)) {
			temp++;
			audit_evidence(r, CHK_DANE, "_25._tcp.%s: could not check (%s)", h->name,
			    dns_why(h->tlsa));
		} else if (h->tlsa->status == MP_DNS_OK) {
			for (size_t k = 0; k < h->tlsa->count && k < 4; k++) {
				struct mp_buf t = MP_BUF_INIT;

				dns_tlsa_text(&h->tlsa->rr[k], &t);
				audit_evidence(r, CHK_DANE, "_25._tcp.%s %s (%s)", h->name, mp_buf_str(&t),
				    h->tlsa->secure ? "DNSSEC validated" : "not DNSSEC validated");
				mp_buf_free(&t);
			}
			if (h->tlsa->secure)
				secure++;
			else
				insecure++;
		} else {
			none++;
			audit_evidence(r, CHK_DANE, "_25._tcp.%s: no TLSA (%s)", h->name,
			    mp_dns_status_str(h->tlsa->status));
		}
	}
	if (hosts == 0) {
		audit_set(r, CHK_DANE, AUDIT_NOT_TESTED, "no MX host to look up");
	} else if (bogus > 0) {
		audit_set(r, CHK_DANE, AUDIT_FAIL, "DNSSEC validation of the TLSA records failed: "
		    "DANE senders will defer mail");
		audit_fix(r, CHK_DANE, "Fix the DNSSEC signatures of the MX host's zone.");
	} else if (secure > 0 && insecure == 0 && none == 0) {
		audit_set(r, CHK_DANE, AUDIT_PASS, "TLSA published and DNSSEC-validated for every MX host");
	} else if (secure + insecure > 0) {
		audit_set(r, CHK_DANE, AUDIT_WARN, "TLSA published, but %s", insecure > 0 ?
		    "not DNSSEC-validated: senders ignore it (is the zone signed, is a trust anchor configured?)" :
		    "not for every MX host");
		audit_fix(r, CHK_DANE, "Sign the MX host's zone with DNSSEC and publish TLSA 3 1 1 for "
		    "every MX host.");
	} else if (temp > 0) {
		audit_set(r, CHK_DANE, AUDIT_NOT_TESTED, "could not check the TLSA records");
	} else {
		audit_set(r, CHK_DANE, AUDIT_WARN, "no TLSA records for the MX hosts");
		audit_fix(r, CHK_DANE, "With a DNSSEC-signed zone, publish _25._tcp.%s. IN TLSA 3 1 1 "
		    "<sha256 of the key>.", d->mxh[0].name);
	}
}
