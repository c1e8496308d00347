/*
 * spf_layer: the DNS layer under libspf2, over dns.c. It answers
 * libspf2's lookups and counts them the RFC 7208 way (10 DNS-querying
 * terms across includes, 2 void lookups, 10 MX names), and stops libspf2
 * once it has decided the result: see spf.c for why and how.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "spf_int.h"

/* Is name marked with CIDR0_MARK? *n_r: its length without the mark. */
static bool
cidr0_marked(const char *name, size_t *n_r)
{
	size_t n = strlen(name), m = strlen(CIDR0_MARK);

	if (n > m && name[n - 1] == '.')
		n--;
	if (n > m && mp_strncasecmp(name + n - m, CIDR0_MARK, m) == 0) {
		*n_r = n - m;
		return true;
	}
	*n_r = strlen(name);
	return false;
}

/*
 * name[0..n) into out. Too long for out: drop whole labels on the left,
 * as RFC 7208 7.3 does. Never cut on the right: that would drop the real
 * domain and query a name made only of macro text the sender chose.
 */
static void
cut_left(const char *name, size_t n, char *out, size_t outlen)
{
	while (n >= outlen) {
		const char *dot = memchr(name, '.', n);

		if (dot == NULL) {
			n = 0;
			break;
		}
		n -= (size_t)(dot + 1 - name);
		name = dot + 1;
	}
	memcpy(out, name, n);
	out[n] = '\0';
}

/*
 * policy/dns writes odd bytes of rdata names as \DDD. A name whose escapes
 * are all printable (':' and '/' in the suite) is unescaped so that it
 * can be queried; a '.' or a space inside a label stays escaped, which
 * spf_query_name_ok() then refuses (the name cannot be looked up as such).
 */
void
spf_unescape_name(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; in[i] != '\0' && o + 1 < outlen; i++) {
		if (in[i] == '\\' && is_digit((unsigned char)in[i + 1]) &&
		    is_digit((unsigned char)in[i + 2]) && is_digit((unsigned char)in[i + 3])) {
			int v = (in[i + 1] - '0') * 100 + (in[i + 2] - '0') * 10 + (in[i + 3] - '0');

			if (v > 0x20 && v < 0x7f && v != '.' && v != '\\') {
				out[o++] = (char)v;
				i += 3;
				continue;
			}
		}
		out[o++] = in[i];
	}
	out[o] = '\0';
}

static void
decide(struct spf_eval *ev, enum mp_spf_result r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
decide(struct spf_eval *ev, enum mp_spf_result r, const char *fmt, ...)
{
	va_list ap;

	if (ev->decided)
		return;
	ev->decided = true;
	ev->result = r;
	va_start(ap, fmt);
	vsnprintf(ev->why, sizeof(ev->why), fmt, ap);
	va_end(ap);
}

void __attribute__((noreturn))
spf_oom(void)
{
	mp_log(LOG_CRIT, "spf: out of memory in the DNS layer");
	abort();
}

/* Never returns NULL: libspf2 calls SPF_error (abort) on NULL. */
SPF_dns_rr_t *
spf_rr_new(struct spf_eval *ev, const char *domain, ns_type type, SPF_dns_stat_t herrno)
{
	SPF_dns_rr_t *rr = SPF_dns_rr_new_init(&ev->layer, domain, type, 0, herrno);

	if (rr == NULL)
		spf_oom();
	return rr;
}

static void
rr_add_name(SPF_dns_rr_t *rr, const char *name)
{
	size_t len = strlen(name);

	if (SPF_dns_rr_buf_realloc(rr, rr->num_rr, len + 1) != SPF_E_SUCCESS)
		spf_oom();
	memcpy(rr->rr[rr->num_rr]->ptr, name, len + 1);
	rr->num_rr++;
}

SPF_dns_rr_t *
spf_rr_abort(struct spf_eval *ev, const char *domain, ns_type type)
{
	return spf_rr_new(ev, domain, type, TRY_AGAIN);
}

const char *
spf_cur_dom(const struct spf_eval *ev)
{
	return ev->req != NULL && ev->req->cur_dom != NULL ? ev->req->cur_dom : ev->top_domain;
}

/* Counts one DNS-querying term; false (and the check is decided) over the limit. */
bool
spf_count_term(struct spf_eval *ev, const char *what, const char *name)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_buf_puts(&b, what);
	mp_printable(&b, name, strlen(name), MP_SHOW_NAME);
	mp_strlcpy(ev->last_term, mp_buf_str(&b), sizeof(ev->last_term));
	mp_buf_free(&b);
	ev->terms++;
	if (mp_strcasecmp(spf_cur_dom(ev), ev->top_domain) == 0)
		ev->top_terms++;
	if (ev->terms > SPF_MAX_TERMS) {
		decide(ev, MP_SPF_PERMERROR,
		    "more than %d DNS-querying terms (RFC 7208 4.6.4), across includes and redirects; "
		    "the 11th was %s", SPF_MAX_TERMS, ev->last_term);
		return false;
	}
	return true;
}

bool
spf_count_void(struct spf_eval *ev, const char *name)
{
	struct mp_buf b = MP_BUF_INIT;

	ev->voids++;
	if (ev->voids <= SPF_MAX_VOID)
		return true;
	mp_printable(&b, name, strlen(name), MP_SHOW_NAME);
	decide(ev, MP_SPF_PERMERROR,
	    "more than %d void DNS lookups (RFC 7208 4.6.4); the 3rd was %s",
	    SPF_MAX_VOID, mp_buf_str(&b));
	mp_buf_free(&b);
	return false;
}

/* ctx: "" or what the lookup was for, e.g. " while validating ptr" */
void
spf_decide_temp(struct spf_eval *ev, enum mp_dns_status st, const char *type, const char *name,
    const char *ctx)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_printable(&b, name, strlen(name), MP_SHOW_NAME);
	if (st == MP_DNS_TIMEOUT && mp_deadline_expired(ev->deadline))
		decide(ev, MP_SPF_TEMPERROR, "deadline passed while looking up %s of %s%s",
		    type, mp_buf_str(&b), ctx);
	else
		decide(ev, MP_SPF_TEMPERROR, "DNS %s looking up %s of %s%s",
		    mp_dns_status_str(st), type, mp_buf_str(&b), ctx);
	mp_buf_free(&b);
}

/*
 * The answer to libspf2 for a lookup that found nothing (st is not OK).
 * NXDOMAIN and NODATA count as a void lookup unless not_void, and the
 * one past the limit aborts the evaluation. Another failure decides
 * temperror and aborts, except for a ptr lookup (ptr: the PTR lookup,
 * or the address lookup of a name from its answer) that
 * spf_ptr_failure_skipped() passes over.
 */
static SPF_dns_rr_t *
rr_empty(struct spf_eval *ev, const char *domain, ns_type type, enum mp_dns_status st,
    const char *name, bool not_void, bool ptr, const char *what)
{
	if (st == MP_DNS_NXDOMAIN || st == MP_DNS_NODATA) {
		if (!not_void && !spf_count_void(ev, name))
			return spf_rr_abort(ev, domain, type);
		return spf_rr_new(ev, domain, type, st == MP_DNS_NXDOMAIN ? HOST_NOT_FOUND : NO_DATA);
	}
	if (ptr && spf_ptr_failure_skipped(ev, st, name))
		return spf_rr_new(ev, domain, type, HOST_NOT_FOUND);
	spf_decide_temp(ev, st, what, name, !ptr ? "" :
	    type == ns_t_ptr ? " for ptr or %{p}" : " while validating ptr or %{p}");
	return spf_rr_abort(ev, domain, type);
}

/*
 * The name libspf2 asked for, as we query it: without CIDR0_MARK (the
 * return value says whether it was there), a marked domain-spec expanded
 * here (when that decides the check, ev->decided is set), cut on the left
 * to fit out. *ptr_r: a marked ptr.
 */
bool
spf_layer_name(struct spf_eval *ev, const char *raw, bool strict, char *out, size_t outlen, bool *ptr_r)
{
	struct mp_buf b = MP_BUF_INIT;
	size_t n = strlen(raw);
	bool cidr0;

	*ptr_r = false;
	cidr0 = cidr0_marked(raw, &n);
	if (spf_macro_unmark(ev, raw, n, strict, &b, ptr_r))
		cut_left(mp_buf_str(&b), b.len, out, outlen);
	else
		cut_left(raw, n, out, outlen);
	mp_buf_free(&b);
	return cidr0;
}

/*
 * An include or redirect target expanded here: libspf2's cur_dom is
 * pointed at our copy, so that the target's own %{d} and our reasons see
 * the real name (libspf2 restores its own pointer when the target is
 * done). At most one per counted term, so the array cannot run out.
 */
static const char *
own_target(struct spf_eval *ev, const char *raw)
{
	struct mp_buf b = MP_BUF_INIT;
	bool ptr;
	char *slot;

	if (!spf_macro_unmark(ev, raw, strlen(raw), true, &b, &ptr) || ev->decided) {
		mp_buf_free(&b);
		return raw;
	}
	if (ev->nown >= (int)MP_ARRAY_SIZE(ev->own_dom)) {
		mp_buf_free(&b);
		decide(ev, MP_SPF_PERMERROR, "too many include or redirect targets");
		return raw;
	}
	slot = ev->own_dom[ev->nown++];
	cut_left(mp_buf_str(&b), b.len, slot, SPF_NAME_MAX + 1);
	mp_buf_free(&b);
	ev->req->cur_dom = slot;
	return slot;
}

static SPF_dns_rr_t *
lookup_addr(struct spf_eval *ev, const char *domain, ns_type type)
{
	enum mp_dns_type dt = type == ns_t_a ? MP_DNS_A : MP_DNS_AAAA;
	struct mp_dns_result *res;
	enum mp_dns_status st;
	SPF_dns_rr_t *rr;
	bool sub = false, sub_ptr = false, cidr0, ptr_term;
	char name[SPF_NAME_MAX + 40], cmp[SPF_NAME_MAX + 1];

	cidr0 = spf_layer_name(ev, domain, true, name, sizeof(name), &ptr_term);
	if (ev->decided)
		return spf_rr_abort(ev, domain, type);
	if (ptr_term)
		return spf_ptr_emulate(ev, domain, type, name);
	if (ev->ipending < ev->npending && spf_query_name_ok(name, cmp) &&
	    mp_strcasecmp(cmp, ev->pending[ev->ipending]) == 0) {
		sub = true;
		sub_ptr = ev->pending_ptr;
		ev->ipending++;
	} else {
		ev->npending = ev->ipending = 0;
		if (!spf_count_term(ev, type == ns_t_a ? "A lookup of " : "AAAA lookup of ", name))
			return spf_rr_abort(ev, domain, type);
	}
	st = spf_dns_query(ev->dns, ev->deadline, name, dt, &res);
	switch (st) {
	case MP_DNS_OK:
		rr = spf_rr_new(ev, domain, type, NETDB_SUCCESS);
		for (size_t i = 0; i < res->count; i++) {
			if (res->rr[i].type != dt)
				continue;
			if (SPF_dns_rr_buf_realloc(rr, rr->num_rr, sizeof(SPF_dns_rr_data_t)) != SPF_E_SUCCESS)
				spf_oom();
			/* prefix length 0: any address of the family matches */
			if (dt == MP_DNS_A)
				rr->rr[rr->num_rr]->a = cidr0 ? ev->client.v4 : res->rr[i].a;
			else
				rr->rr[rr->num_rr]->aaaa = cidr0 ? ev->client.v6 : res->rr[i].aaaa;
			rr->num_rr++;
			if (cidr0)
				break;
		}
		break;
	default:
		/* A name from a PTR answer (the ptr mechanism, or %{p}) that
		 * does not exist just does not match; a failed lookup ends the
		 * check (rr_empty). */
		rr = rr_empty(ev, domain, type, st, name, sub, sub_ptr, type == ns_t_a ? "A" : "AAAA");
		break;
	}
	mp_dns_result_free(&res);
	return rr;
}

static SPF_dns_rr_t *
lookup_names(struct spf_eval *ev, const char *domain, ns_type type)
{
	bool ptr = type == ns_t_ptr, cidr0, ptr_term;
	enum mp_dns_type dt = ptr ? MP_DNS_PTR : MP_DNS_MX;
	struct mp_dns_result *res;
	enum mp_dns_status st;
	SPF_dns_rr_t *rr;
	size_t names = 0;
	char name[SPF_NAME_MAX + 40];

	cidr0 = spf_layer_name(ev, domain, true, name, sizeof(name), &ptr_term);
	if (ev->decided)
		return spf_rr_abort(ev, domain, type);
	ev->npending = ev->ipending = 0;
	/* A PTR lookup is the ptr mechanism or the %{p} macro: both count
	 * (the macro is rare; RFC 7208 discourages both). */
	if (!spf_count_term(ev, ptr ? "ptr (PTR lookup of " : "mx:", name))
		return spf_rr_abort(ev, domain, type);
	if (ptr)
		mp_strlcpy(ev->last_term + strlen(ev->last_term), ")",
		    sizeof(ev->last_term) - strlen(ev->last_term));
	st = spf_dns_query(ev->dns, ev->deadline, name, dt, &res);
	switch (st) {
	case MP_DNS_OK:
		for (size_t i = 0; i < res->count; i++)
			if (res->rr[i].type == dt && res->rr[i].text[0] != '\0')
				names++;
		if (!ptr && names > SPF_MAX_NAMES) {
			struct mp_buf b = MP_BUF_INIT;

			mp_printable(&b, name, strlen(name), MP_SHOW_NAME);
			decide(ev, MP_SPF_PERMERROR,
			    "mx:%s has %zu MX names, more than the %d allowed (RFC 7208 4.6.4)",
			    mp_buf_str(&b), names, SPF_MAX_NAMES);
			mp_buf_free(&b);
			rr = spf_rr_abort(ev, domain, type);
			break;
		}
		rr = spf_rr_new(ev, domain, type, NETDB_SUCCESS);
		/* RFC 7208 4.6.4: PTR names past the 10th are ignored (libspf2
		 * makes that a permerror, which the sender cannot avoid). */
		for (size_t i = 0; i < res->count && rr->num_rr < SPF_MAX_NAMES; i++) {
			char target[SPF_NAME_MAX + 40];
			char *pend = ev->pending[ev->npending];

			/* A null MX (RFC 7505) names no host: skip it. */
			if (res->rr[i].type != dt || res->rr[i].text[0] == '\0')
				continue;
			spf_unescape_name(res->rr[i].text, target, SPF_NAME_MAX + 1);
			if (!spf_query_name_ok(target, pend))
				mp_strlcpy(pend, target, SPF_NAME_MAX + 1);
			ev->npending++;
			if (cidr0)
				mp_strlcpy(target + strlen(target), CIDR0_MARK,
				    sizeof(target) - strlen(target));
			rr_add_name(rr, target);
		}
		ev->pending_ptr = ptr;
		if (rr->num_rr == 0)
			rr->herrno = NO_DATA;
		break;
	default:
		/* A missing PTR is the client's business, not the domain's: not
		 * a void lookup, and ptr does not match; for a failed PTR
		 * lookup see spf_ptr_failure_skipped(). */
		rr = rr_empty(ev, domain, type, st, name, ptr, ptr, ptr ? "PTR" : "MX");
		break;
	}
	mp_dns_result_free(&res);
	return rr;
}

static SPF_dns_rr_t *
layer_lookup(SPF_dns_server_t *layer, const char *domain, ns_type type, int should_cache)
{
	struct spf_eval *ev = layer->hook;

	(void)should_cache;
	if (domain == NULL)
		domain = "";
	if (ev->decided)
		return spf_rr_abort(ev, domain, type);
	switch (type) {
	case ns_t_a:
	case ns_t_aaaa:
		return lookup_addr(ev, domain, type);
	case ns_t_mx:
	case ns_t_ptr:
		return lookup_names(ev, domain, type);
	default:
		/* TXT goes through get_spf and get_exp; nothing else is used. */
		return spf_rr_new(ev, domain, type, HOST_NOT_FOUND);
	}
}

/* The record of an include or redirect target. */
static SPF_errcode_t
layer_get_spf(SPF_server_t *server, SPF_request_t *req, SPF_response_t *resp, SPF_record_t **recp)
{
	struct spf_eval *ev = server->resolver->hook;
	const char *domain = req->cur_dom != NULL ? req->cur_dom : "";
	struct fetched f;
	SPF_errcode_t err;
	char *copy;

	*recp = NULL;
	if (ev->decided)
		return SPF_E_DNS_ERROR;
	ev->npending = ev->ipending = 0;
	ev->saw_include = true;
	/* libspf2 has already set cur_dom to the target: the term belongs
	 * to the record above, which spf_count_term cannot see. */
	if (!spf_count_term(ev, "include/redirect of ", domain))
		return SPF_E_DNS_ERROR;
	domain = own_target(ev, domain);
	if (ev->decided)
		return SPF_E_DNS_ERROR;
	if (mp_strcasecmp(domain, ev->top_domain) == 0)
		ev->top_terms--;
	spf_fetch_record(ev->dns, ev->deadline, domain, &f);
	switch (f.status) {
	case FETCH_OK:
		break;
	case FETCH_NONE:
		if (f.void_lookup && !spf_count_void(ev, domain))
			return SPF_E_DNS_ERROR;
		decide(ev, MP_SPF_PERMERROR, "include/redirect target has no SPF record (%s)", f.why);
		return SPF_E_DNS_ERROR;
	case FETCH_PERM:
		decide(ev, MP_SPF_PERMERROR, "%s", f.why);
		return SPF_E_DNS_ERROR;
	case FETCH_TEMP:
		decide(ev, MP_SPF_TEMPERROR, "%s", f.why);
		return SPF_E_DNS_ERROR;
	}
	copy = spf_libspf2_copy(f.text, ev->client.family);
	err = SPF_record_compile(server, resp, recp, copy);
	free(copy);
	if (err != SPF_E_SUCCESS) {
		if (*recp != NULL)
			SPF_record_free(*recp);
		*recp = NULL;
		decide(ev, MP_SPF_PERMERROR, "libspf2 could not compile the record of %s: %s",
		    domain, SPF_strerror(err));
		spf_fetched_clear(&f);
		return SPF_E_DNS_ERROR;
	}
	spf_fetched_clear(&f);
	return SPF_E_SUCCESS;
}

struct spf_eval *
spf_eval_new(struct mp_dns *dns, const struct mp_deadline *deadline, const struct client *client,
    const char *local, const char *domain, const char *helo, bool helo_identity)
{
	struct spf_eval *ev = xcalloc(1, sizeof(*ev));
	char *sender;

	ev->layer.name = "mailposture";
	ev->layer.lookup = layer_lookup;
	ev->layer.get_spf = layer_get_spf;
	ev->layer.get_exp = spf_layer_get_exp;
	ev->layer.hook = ev;
	/* layer.destroy stays NULL: SPF_server_free must not free it. */
	ev->dns = dns;
	ev->deadline = deadline;
	mp_strlcpy(ev->top_domain, domain, sizeof(ev->top_domain));
	mp_strlcpy(ev->sender_domain, domain, sizeof(ev->sender_domain));
	mp_strlcpy(ev->local, local, sizeof(ev->local));
	mp_strlcpy(ev->helo, helo != NULL ? helo : "", sizeof(ev->helo));
	ev->client = *client;

	ev->server = SPF_server_new_dns(&ev->layer, 0);
	if (ev->server == NULL)
		spf_oom();
	ev->req = SPF_request_new(ev->server);
	if (ev->req == NULL)
		spf_oom();
	if (client->family == AF_INET)
		SPF_request_set_ipv4(ev->req, client->v4);
	else
		SPF_request_set_ipv6(ev->req, client->v6);
	sender = xasprintf("%s@%s", local, domain);
	if (SPF_request_set_env_from(ev->req, sender) != 0)
		spf_oom();
	free(sender);
	if (SPF_request_set_helo_dom(ev->req, helo != NULL ? helo : "") != SPF_E_SUCCESS)
		spf_oom();
	/* SPF_request_prepare() is static; this is what it does. */
	ev->req->use_helo = helo_identity;
	ev->req->cur_dom = ev->req->env_from_dp;
	return ev;
}

/* The caller has freed its SPF_response_t: it points into the request. */
void
spf_eval_free(struct spf_eval **evp)
{
	struct spf_eval *ev = *evp;

	if (ev == NULL)
		return;
	SPF_request_free(ev->req);
	SPF_server_free(ev->server);
	free(ev);
	*evp = NULL;
}
