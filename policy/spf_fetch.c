/*
 * spf_fetch: fetching and selecting the one SPF record of a name, for
 * check_host, the include and redirect targets of the DNS layer, and
 * inspection alike: exactly one v=spf1 record, valid by spf_syntax.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spf_int.h"

enum mp_dns_status
spf_dns_query(struct mp_dns *dns, const struct mp_deadline *deadline, const char *name,
    enum mp_dns_type type, struct mp_dns_result **res_r)
{
	char qname[SPF_NAME_MAX + 1];
	struct mp_dns_result *res;
	enum mp_dns_status st;
	size_t have = 0, len;

	*res_r = NULL;
	if (*name == '\0')
		return MP_DNS_NXDOMAIN;
	/*
	 * RFC 7208 7.3: an expanded name over 253 bytes (a trailing dot
	 * aside) loses labels on the left. The loop runs only while len >
	 * SPF_NAME_MAX, so name[len - 1] is in bounds; a name that would lose
	 * every label (one long label and a dot) names nothing.
	 */
	len = strlen(name);
	while (len > SPF_NAME_MAX && !(len == SPF_NAME_MAX + 1 && name[len - 1] == '.')) {
		const char *dot = strchr(name, '.');

		if (dot == NULL || dot[1] == '\0')
			return MP_DNS_NXDOMAIN;
		len -= (size_t)(dot + 1 - name);
		name = dot + 1;
	}
	if (!spf_query_name_ok(name, qname))
		return MP_DNS_NXDOMAIN;
	if (mp_deadline_expired(deadline))
		return MP_DNS_TIMEOUT;
	res = mp_dns_query(dns, deadline, qname, type);
	st = res->status;
	if (st == MP_DNS_OK) {
		for (size_t i = 0; i < res->count; i++)
			if (res->rr[i].type == type)
				have++;
		if (have == 0)
			st = MP_DNS_NODATA;
	}
	*res_r = res;
	return st;
}

void
spf_fetch_record(struct mp_dns *dns, const struct mp_deadline *deadline, const char *domain,
    struct fetched *f)
{
	struct mp_dns_result *res;
	enum mp_dns_status st;
	const struct mp_dns_rr *found = NULL;
	struct mp_buf b = MP_BUF_INIT, shown = MP_BUF_INIT;

	memset(f, 0, sizeof(*f));
	/* The name may come from macros the peer filled: printable in reasons. */
	mp_printable(&shown, domain, strlen(domain), MP_SHOW_DOMAIN);
	st = spf_dns_query(dns, deadline, domain, MP_DNS_TXT, &res);
	switch (st) {
	case MP_DNS_OK:
		break;
	case MP_DNS_NXDOMAIN:
	case MP_DNS_NODATA:
		f->status = FETCH_NONE;
		f->void_lookup = true;
		snprintf(f->why, sizeof(f->why), "%s: %s", mp_buf_str(&shown),
		    st == MP_DNS_NXDOMAIN ? "domain does not exist" : "no TXT record");
		mp_dns_result_free(&res);
		mp_buf_free(&shown);
		return;
	default:
		f->status = FETCH_TEMP;
		snprintf(f->why, sizeof(f->why), "DNS %s looking up TXT %s",
		    mp_dns_status_str(st), mp_buf_str(&shown));
		mp_dns_result_free(&res);
		mp_buf_free(&shown);
		return;
	}
	for (size_t i = 0; i < res->count; i++) {
		const struct mp_dns_rr *rr = &res->rr[i];

		if (rr->type != MP_DNS_TXT || !spf_is_spf1(rr->text, rr->text_len))
			continue;
		if (found == NULL)
			found = rr;
		f->nrecords++;
	}
	if (found == NULL) {
		f->status = FETCH_NONE;
		snprintf(f->why, sizeof(f->why), "%s: no SPF record among its TXT records",
		    mp_buf_str(&shown));
		mp_dns_result_free(&res);
		mp_buf_free(&shown);
		return;
	}
	f->len = found->text_len;
	mp_printable(&b, found->text, found->text_len, sizeof(f->shown) - 8);
	mp_strlcpy(f->shown, mp_buf_str(&b), sizeof(f->shown));
	mp_buf_free(&b);
	if (f->nrecords > 1) {
		f->status = FETCH_PERM;
		snprintf(f->why, sizeof(f->why), "%s publishes %d SPF records; it must publish one",
		    mp_buf_str(&shown), f->nrecords);
	} else {
		char why[200];

		if (!mp_spf_record_valid(found->text, found->text_len, why, sizeof(why))) {
			f->status = FETCH_PERM;
			snprintf(f->why, sizeof(f->why), "invalid SPF record at %s: %s",
			    mp_buf_str(&shown), why);
		} else {
			f->status = FETCH_OK;
			f->text = xstrndup(found->text, found->text_len);
		}
	}
	mp_dns_result_free(&res);
	mp_buf_free(&shown);
}

void
spf_fetched_clear(struct fetched *f)
{
	free(f->text);
	f->text = NULL;
}
