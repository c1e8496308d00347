/*
 * dns_answer: libunbound's answer (struct ub_result) into ours. The
 * answer is whole or empty, and an empty one says why: NXDOMAIN, NODATA,
 * a server failure, a failed validation and a malformed answer each keep
 * their own status (dns.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unbound.h>

#include "dns_int.h"
#include "log.h"

#define DNS_RCODE_NXDOMAIN 3

static void
result_fail(struct mp_dns_result *r, enum mp_dns_status st, const char *why)
{
	for (size_t i = 0; i < r->count; i++)
		mp_dns_rr_clear(&r->rr[i]);
	free(r->rr);
	r->rr = NULL;
	r->count = 0;
	r->status = st;
	free(r->why);
	r->why = xstrdup(why);
}

static const char *
rcode_name(int rcode)
{
	switch (rcode) {
	case 1:
		return "FORMERR";
	case 2:
		return "SERVFAIL";
	case 4:
		return "NOTIMP";
	case 5:
		return "REFUSED";
	default:
		return "other";
	}
}

/* Steps over a possibly compressed name in a DNS message; false if cut. */
static bool
pkt_skip_name(const unsigned char *pkt, size_t len, size_t *off)
{
	size_t p = *off;

	for (;;) {
		unsigned c;

		if (p >= len)
			return false;
		c = pkt[p];
		if (c == 0) {
			p++;
			break;
		}
		if ((c & 0xc0) == 0xc0) {
			if (len - p < 2)
				return false;
			p += 2;
			break;
		}
		if (c & 0xc0)
			return false;
		p += 1 + c;
	}
	*off = p;
	return true;
}

/*
 * Measured: in forward mode, when the upstream is an authoritative-only
 * server (NSD in the tests, or a misconfigured upstream), a delegation
 * comes back as a referral and libunbound reports it as NOERROR with no
 * data, which would read as "the record is missing". A real negative
 * answer carries the zone's SOA in the authority section; a referral
 * carries NS records and no SOA. Returns 1 for a referral, 0 for a real
 * NODATA, -1 if the message does not parse.
 */
static int
answer_is_referral(const unsigned char *pkt, size_t len)
{
	unsigned qd, an, ns;
	size_t p = 12;
	bool saw_ns = false, saw_soa = false;

	if (pkt == NULL || len < 12)
		return -1;
	qd = (unsigned)pkt[4] << 8 | pkt[5];
	an = (unsigned)pkt[6] << 8 | pkt[7];
	ns = (unsigned)pkt[8] << 8 | pkt[9];
	for (unsigned i = 0; i < qd; i++) {
		if (!pkt_skip_name(pkt, len, &p) || len - p < 4)
			return -1;
		p += 4;
	}
	for (unsigned i = 0; i < an + ns; i++) {
		unsigned type, rdlen;

		if (!pkt_skip_name(pkt, len, &p) || len - p < 10)
			return -1;
		type = (unsigned)pkt[p] << 8 | pkt[p + 1];
		rdlen = (unsigned)pkt[p + 8] << 8 | pkt[p + 9];
		p += 10;
		if (rdlen > len - p)
			return -1;
		p += rdlen;
		if (i >= an) {
			if (type == 2)
				saw_ns = true;
			else if (type == 6)
				saw_soa = true;
		}
	}
	return saw_ns && !saw_soa ? 1 : 0;
}

/* Turns a libunbound result into ours; the answer is whole or empty. */
void
dns_fill_result(struct mp_dns_result *r, const char *qname, enum mp_dns_type type,
    const struct ub_result *ur)
{
	char why[160];
	size_t n = 0;

	r->secure = ur->secure != 0;
	r->bogus = ur->bogus != 0;
	if (ur->canonname != NULL && !dns_same_name(ur->canonname, qname))
		r->canonname = dns_canon_text(ur->canonname);
	if (ur->bogus) {
		struct mp_buf p = MP_BUF_INIT;

		mp_buf_puts(&p, "DNSSEC validation failed: ");
		if (ur->why_bogus != NULL)
			mp_printable(&p, ur->why_bogus, strlen(ur->why_bogus), MP_SHOW_REASON);
		r->status = MP_DNS_SERVFAIL;
		r->why = mp_buf_steal(&p);
		return;
	}
	if (ur->rcode == DNS_RCODE_NXDOMAIN) {
		r->status = MP_DNS_NXDOMAIN;
		return;
	}
	if (ur->rcode != 0) {
		snprintf(why, sizeof(why), "rcode %d (%s)", ur->rcode, rcode_name(ur->rcode));
		r->status = MP_DNS_SERVFAIL;
		r->why = xstrdup(why);
		return;
	}
	if (!ur->havedata || ur->data == NULL || ur->data[0] == NULL) {
		switch (answer_is_referral(ur->answer_packet,
		    ur->answer_len > 0 ? (size_t)ur->answer_len : 0)) {
		case 0:
			r->status = MP_DNS_NODATA;
			break;
		case 1:
			r->status = MP_DNS_SERVFAIL;
			r->why = xstrdup("referral instead of an answer: "
			    "the upstream does not recurse");
			break;
		default:
			r->status = MP_DNS_ERROR;
			r->why = xstrdup("malformed negative answer");
			break;
		}
		return;
	}
	while (n < MP_DNS_MAX_RR && ur->data[n] != NULL)
		n++;
	if (ur->data[n] != NULL)
		mp_log(LOG_DEBUG, "dns: more than %d records, the rest dropped", MP_DNS_MAX_RR);
	r->rr = xcalloc(n, sizeof(*r->rr));
	for (size_t i = 0; i < n; i++) {
		const char *pwhy;

		if (ur->len[i] < 0 || !mp_dns_parse_rdata(type,
		    (const unsigned char *)ur->data[i], (size_t)ur->len[i],
		    &r->rr[i], &pwhy)) {
			if (ur->len[i] < 0)
				pwhy = "negative rdata length";
			snprintf(why, sizeof(why), "malformed answer: %s", pwhy);
			result_fail(r, MP_DNS_ERROR, why);
			return;
		}
		r->count = i + 1;
	}
	r->status = MP_DNS_OK;
}
