/*
 * spf_ptr: the client's validated names (RFC 7208 5.5), for the %{p}
 * macro and for a ptr:SPEC that libspf2 cannot expand. The rule that a
 * timeout ends the check lives here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spf_int.h"

/*
 * Whether a failed lookup (not NXDOMAIN or NODATA) of the ptr mechanism
 * or of %{p} validation may be passed over as RFC 7208 5.5 says (the name
 * is skipped, the PTR lookup does not match): not a timeout. A sender
 * whose zone never answers would otherwise hold the check until the
 * deadline and spend the budget of the DMARC lookup; RFC 7208
 * 4.6.4 and 11.1 let a verifier bound that work, so a timeout ends the
 * check with temperror. Other failures come back fast (a CNAME loop is a
 * SERVFAIL, suite case ptr-cname-loop) and are counted as void lookups,
 * so that there are at most SPF_MAX_VOID of them.
 */
bool
spf_ptr_failure_skipped(struct spf_eval *ev, enum mp_dns_status st, const char *name)
{
	if (st == MP_DNS_TIMEOUT)
		return false;
	return spf_count_void(ev, name);
}

/*
 * Does the client address appear among name's addresses? 1 yes, 0 no
 * (including NXDOMAIN and NODATA), -1 the lookup failed (*st_r says how).
 */
static int
name_has_client(struct spf_eval *ev, const char *name, enum mp_dns_status *st_r)
{
	enum mp_dns_type dt = ev->client.family == AF_INET ? MP_DNS_A : MP_DNS_AAAA;
	struct mp_dns_result *res;
	int found = 0;

	*st_r = spf_dns_query(ev->dns, ev->deadline, name, dt, &res);
	if (*st_r == MP_DNS_OK) {
		for (size_t i = 0; i < res->count && !found; i++) {
			if (res->rr[i].type != dt)
				continue;
			if (dt == MP_DNS_A)
				found = memcmp(&res->rr[i].a, &ev->client.v4, 4) == 0;
			else
				found = memcmp(&res->rr[i].aaaa, &ev->client.v6, 16) == 0;
		}
	} else if (*st_r != MP_DNS_NXDOMAIN && *st_r != MP_DNS_NODATA)
		found = -1;
	mp_dns_result_free(&res);
	return found;
}

/* name is d or a subdomain of d (case-insensitive, trailing dots aside). */
static bool
name_in_domain(const char *name, const char *d)
{
	size_t nl = strlen(name), dl = strlen(d);

	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	if (dl > 0 && d[dl - 1] == '.')
		dl--;
	if (dl == 0 || nl < dl)
		return false;
	if (nl > dl && name[nl - dl - 1] != '.')
		return false;
	return mp_strncasecmp(name + nl - dl, d, dl) == 0;
}

/*
 * The client's PTR names (RFC 7208 5.5), at most SPF_MAX_NAMES, each
 * validated by an address lookup: take() gets every validated name, in
 * the order of the answer, until it returns true. The one loop of the ptr
 * mechanism and of %{p}. strict: a failed lookup that
 * spf_ptr_failure_skipped() does not pass over ends the check with
 * temperror (what, "ptr" or "%{p}", names it in the reason); otherwise a
 * failed lookup just ends the search.
 */
static void
validated_names(struct spf_eval *ev, const char *rev, bool strict, const char *what,
    bool (*take)(const char *name, void *arg), void *arg)
{
	struct mp_dns_result *res;
	enum mp_dns_status st;
	int checked = 0;
	char ctx[40];

	st = spf_dns_query(ev->dns, ev->deadline, rev, MP_DNS_PTR, &res);
	if (st != MP_DNS_OK && st != MP_DNS_NXDOMAIN && st != MP_DNS_NODATA && strict &&
	    !spf_ptr_failure_skipped(ev, st, rev)) {
		snprintf(ctx, sizeof(ctx), " for %s", what);
		spf_decide_temp(ev, st, "PTR", rev, ctx);
	}
	for (size_t i = 0; st == MP_DNS_OK && i < res->count && checked < SPF_MAX_NAMES; i++) {
		char name[SPF_NAME_MAX + 1];
		enum mp_dns_status ast;
		int has;

		if (res->rr[i].type != MP_DNS_PTR)
			continue;
		spf_unescape_name(res->rr[i].text, name, sizeof(name));
		if (name[0] == '\0')
			continue;	/* the root: not a host name */
		checked++;
		has = name_has_client(ev, name, &ast);
		if (has < 0 && strict && spf_ptr_failure_skipped(ev, ast, name))
			continue;
		if (has < 0) {
			if (strict) {
				snprintf(ctx, sizeof(ctx), " while validating %s", what);
				spf_decide_temp(ev, ast, ev->client.family == AF_INET ? "A" : "AAAA",
				    name, ctx);
			}
			break;
		}
		if (has > 0 && take(name, arg))
			break;
	}
	mp_dns_result_free(&res);
}

/* %{p}: the best name so far; d itself (3) ends the search. */
struct pick {
	const char *d;
	int rank;               /* 3: d, 2: below d, 1: another name, 0: none yet */
	char best[SPF_NAME_MAX + 1];
};

static bool
pick_best(const char *name, void *arg)
{
	struct pick *pk = arg;
	int r;

	if (mp_strcasecmp(name, pk->d) == 0)
		r = 3;
	else if (name_in_domain(name, pk->d))
		r = 2;
	else
		r = 1;
	if (r > pk->rank) {
		pk->rank = r;
		mp_strlcpy(pk->best, name, sizeof(pk->best));
	}
	return pk->rank == 3;
}

/*
 * %{p} (RFC 7208 7.3): a validated name of the client, preferring d and
 * its subdomains; "unknown" when there is none. A lookup that fails
 * (timeout, SERVFAIL) stops the search at once: in a domain-spec (strict)
 * it ends the check with temperror and false is returned, in an
 * explanation the name is "unknown". A sender's zone that never answers
 * must not hold the check until the deadline.
 */
bool
spf_validated_name(struct spf_eval *ev, const char *d, bool strict, char *out, size_t outlen)
{
	char ipstr[INET6_ADDRSTRLEN], rev[128];
	struct pick pk = { .d = d, .rank = 0, .best = "" };

	mp_strlcpy(out, "unknown", outlen);
	spf_client_ipstr(ev, ipstr);
	if (!mp_dns_reverse_name(ipstr, rev, sizeof(rev)))
		return true;
	if (strict && !spf_count_term(ev, "%{p} (PTR lookup of ", rev))
		return false;
	validated_names(ev, rev, strict, "%{p}", pick_best, &pk);
	if (ev->decided)
		return false;
	if (pk.rank > 0)
		mp_strlcpy(out, pk.best, outlen);
	return true;
}

/* ptr:target matches a validated name that is target or below it. */
struct match_target {
	const char *target;
	bool match;
};

static bool
in_target(const char *name, void *arg)
{
	struct match_target *mt = arg;

	mt->match = name_in_domain(name, mt->target);
	return mt->match;
}

/*
 * ptr:SPEC where libspf2 cannot expand SPEC: spf_libspf2_copy() made it an
 * exists: of a marked name, and this is the ptr mechanism (RFC 7208 5.5)
 * done here, counted as one term: at most SPF_MAX_NAMES PTR names of the
 * client, each validated by an address lookup; it matches when a
 * validated name is target or below it. NXDOMAIN and NODATA just do not
 * match; a failed lookup ends the check with temperror, as in libspf2's
 * own ptr. libspf2's exists gets one address for a match, none otherwise.
 */
SPF_dns_rr_t *
spf_ptr_emulate(struct spf_eval *ev, const char *domain, ns_type type, const char *target)
{
	struct match_target mt = { .target = target, .match = false };
	char ipstr[INET6_ADDRSTRLEN], rev[128];
	SPF_dns_rr_t *rr;

	ev->npending = ev->ipending = 0;
	if (!spf_count_term(ev, "ptr:", target))
		return spf_rr_abort(ev, domain, type);
	spf_client_ipstr(ev, ipstr);
	if (!mp_dns_reverse_name(ipstr, rev, sizeof(rev)))
		return spf_rr_new(ev, domain, type, HOST_NOT_FOUND);
	validated_names(ev, rev, true, "ptr", in_target, &mt);
	if (ev->decided)
		return spf_rr_abort(ev, domain, type);
	rr = spf_rr_new(ev, domain, type, mt.match ? NETDB_SUCCESS : HOST_NOT_FOUND);
	if (mt.match) {
		if (SPF_dns_rr_buf_realloc(rr, 0, sizeof(SPF_dns_rr_data_t)) != SPF_E_SUCCESS)
			spf_oom();
		if (type == ns_t_a)
			rr->rr[0]->a = ev->client.v4;
		else
			rr->rr[0]->aaaa = ev->client.v6;
		rr->num_rr = 1;
	}
	return rr;
}
