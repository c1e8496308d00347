/*
 * dmarc: policy discovery, the choice of p, sp or np, and identifier
 * alignment, as RFC 9989 defines them; the walks are in dmarc_walk.c,
 * the record parser in dmarcrec.c.
 *
 * libopendmarc is not used: its 1.4 line finds the Organizational
 * Domain with the Public Suffix List (RFC 7489), which RFC 9989
 * replaced by the DNS Tree Walk; a psd=y domain that the list does not
 * know would let one tenant's SPF pass align with another tenant's
 * From. A library that cannot decide the standard's way has no place
 * on the message path, not even as an overruled second opinion.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc_int.h"
#include "log.h"

const char *
mp_dmarc_result_str(enum mp_dmarc_result r)
{
	switch (r) {
	case MP_DMARC_NONE:
		return "none";
	case MP_DMARC_PASS:
		return "pass";
	case MP_DMARC_FAIL:
		return "fail";
	case MP_DMARC_TEMPERROR:
		return "temperror";
	case MP_DMARC_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

const char *
mp_dmarc_policy_str(enum mp_dmarc_policy p)
{
	switch (p) {
	case MP_DMARC_P_NONE:
		return "none";
	case MP_DMARC_P_QUARANTINE:
		return "quarantine";
	case MP_DMARC_P_REJECT:
		return "reject";
	case MP_DMARC_P_UNSET:
		break;
	}
	return "unset";
}

/* Our own copy of the SPF result names: dmarc needs no code from spf.c. */
static const char *
spf_str(enum mp_spf_result r)
{
	static const char *const names[] = {
		"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror",
	};

	return (unsigned)r < MP_ARRAY_SIZE(names) ? names[r] : "unknown";
}

struct mp_dmarc *
mp_dmarc_new(struct mp_dns *dns)
{
	struct mp_dmarc *d = xcalloc(1, sizeof(*d));

	d->dns = dns;
	return d;
}

void
mp_dmarc_free(struct mp_dmarc **dp)
{
	if (dp == NULL || *dp == NULL)
		return;
	free(*dp);
	*dp = NULL;
}

/* --- discovery ------------------------------------------------------------ */

/* The first name on the walk whose several records were discarded. */
static void
note_discarded(struct mp_dmarc_outcome *out, const struct mp_dmarc_seen *const *seq, size_t n)
{
	for (size_t i = 0; i < n && out->note[0] == '\0'; i++)
		if (seq[i]->f == MP_DMARC_FETCH_MANY)
			mp_setf(out->note, sizeof(out->note), "%d DMARC records at _dmarc.%s: "
			    "all discarded (RFC 9989 4.10)", seq[i]->count, seq[i]->name);
}

/* The record that applies is s's. */
static enum mp_dmarc_result
take(struct mp_dmarc_outcome *out, const struct mp_dmarc_seen *s)
{
	out->record_found = true;
	mp_strlcpy(out->policy_domain, s->name, sizeof(out->policy_domain));
	mp_strlcpy(out->record, s->text, sizeof(out->record));
	out->rec = s->rec;
	out->from_org = strcmp(s->name, out->from) != 0;
	if (!s->valid) {
		mp_setf(out->reason, sizeof(out->reason),
		    "invalid DMARC record at _dmarc.%s: %s: no policy applies", s->name, s->why);
		return MP_DMARC_PERMERROR;
	}
	return MP_DMARC_PASS;
}

static enum mp_dmarc_result
walk_failed(struct mp_dmarc_outcome *out, const struct mp_dmarc_seen *s)
{
	if (s->overflow)
		mp_setf(out->reason, sizeof(out->reason), "could not look up the DMARC record "
		    "of %s: %s", out->from, s->why);
	else
		mp_setf(out->reason, sizeof(out->reason), "could not look up the DMARC record "
		    "at _dmarc.%s (%s): try again later", s->name, s->why);
	return MP_DMARC_TEMPERROR;
}

/*
 * RFC 9989 4.10.1: the From domain's own valid record; else, from the
 * walk, the Organizational Domain's record, else the PSD's (a walk that
 * meets psd=y stops there, so that record is the last one). An invalid
 * record at the From domain is no valid record: the walk goes on (the
 * stricter reading of 4.10.1), and only when nothing else applies does
 * it make the result PERMERROR.
 */
static enum mp_dmarc_result
discover(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    struct mp_dmarc_outcome *out)
{
	const struct mp_dmarc_seen *seq[MP_DMARC_WALK_MAX], *first, *at = NULL;
	bool failed;
	size_t n;

	first = mp_dmarc_fetch(m, deadline, out->from);
	if (first->f == MP_DMARC_FETCH_TEMP)
		return walk_failed(out, first);
	if (first->f == MP_DMARC_FETCH_ONE && first->valid)
		return take(out, first);
	n = mp_dmarc_walk(m, deadline, out->from, seq, &failed);
	if (n == 0)
		return walk_failed(out, first);
	note_discarded(out, seq, n);
	if (failed) {
		out->org_failed = true;
		return walk_failed(out, seq[n - 1]);
	}
	mp_dmarc_walk_org(out->from, seq, n, out->org_domain);
	for (size_t i = 0; i < n && at == NULL; i++)
		if (seq[i]->f == MP_DMARC_FETCH_ONE && seq[i]->valid &&
		    strcmp(seq[i]->name, out->org_domain) == 0)
			at = seq[i];
	if (at == NULL && seq[n - 1]->f == MP_DMARC_FETCH_ONE && seq[n - 1]->psd == 'y' &&
	    seq[n - 1] != first) {
		at = seq[n - 1];
		out->from_psd = true;
	}
	if (at == NULL && first->f == MP_DMARC_FETCH_ONE)
		return take(out, first);        /* invalid, and nothing else applies */
	if (at == NULL) {
		mp_setf(out->reason, sizeof(out->reason), "no DMARC record for %s (looked up "
		    "_dmarc.%s up to _dmarc.%s)", out->from, out->from, seq[n - 1]->name);
		return MP_DMARC_NONE;
	}
	if (first->f == MP_DMARC_FETCH_ONE && out->note[0] == '\0')
		mp_setf(out->note, sizeof(out->note), "invalid DMARC record at _dmarc.%s "
		    "passed over: %s", first->name, first->why);
	return take(out, at);
}

/* The From domain's Organizational Domain, by a walk from it if discovery
 * did not need one. False when a lookup failed. */
static bool
ensure_org(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    struct mp_dmarc_outcome *out)
{
	const struct mp_dmarc_seen *seq[MP_DMARC_WALK_MAX];
	bool failed;
	size_t n;

	if (out->org_domain[0] != '\0')
		return true;
	if (out->org_failed)
		return false;
	n = mp_dmarc_walk(m, deadline, out->from, seq, &failed);
	if (failed || n == 0) {
		out->org_failed = true;
		return false;
	}
	mp_dmarc_walk_org(out->from, seq, n, out->org_domain);
	return true;
}

enum existence { EXISTS, NOT_EXISTS, UNKNOWN };

/*
 * p for the From domain's own record; for an inherited one (from the
 * Organizational Domain or the PSD) np when the From domain does not
 * exist, else sp, each falling back (np to sp, sp to p). Non-existent
 * means NXDOMAIN (RFC 9989, RFC 8020): any other answer for any type
 * proves the name exists, and so does an answer at _dmarc.<from>. The
 * A query is made only when np and sp differ. UNKNOWN: it failed; the
 * outcome then holds the sp answer.
 */
static enum existence
choose_policy(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    struct mp_dmarc_outcome *out)
{
	const struct mp_dmarc_record *r = &out->rec;
	const struct mp_dmarc_seen *own = mp_dmarc_fetch(m, deadline, out->from);
	enum mp_dmarc_policy sp, np;
	struct mp_dns_result *res;
	enum existence e;

	if (!out->from_org) {
		out->policy = r->p;
		out->policy_tag = "p";
		return EXISTS;
	}
	sp = r->sp != MP_DMARC_P_UNSET ? r->sp : r->p;
	np = r->np != MP_DMARC_P_UNSET ? r->np : sp;
	out->policy = sp;
	out->policy_tag = r->sp != MP_DMARC_P_UNSET ? "sp" : "p";
	if (np == sp || own->status == MP_DNS_OK || own->status == MP_DNS_NODATA)
		return EXISTS;
	res = mp_dmarc_query(m, deadline, out->from, MP_DNS_A);
	e = mp_dns_status_is_temp(res->status) ? UNKNOWN :
	    res->status == MP_DNS_NXDOMAIN ? NOT_EXISTS : EXISTS;
	mp_dns_result_free(&res);
	if (e == NOT_EXISTS) {
		/* NXDOMAIN speaks of the end of a CNAME chain (RFC 6604): a
		 * From domain that is a CNAME to nowhere has a record, so it
		 * exists (RFC 9989 A.4). Asked only for a name that seems not
		 * to exist. */
		res = mp_dmarc_query(m, deadline, out->from, MP_DNS_CNAME);
		e = mp_dns_status_is_temp(res->status) ? UNKNOWN :
		    res->status == MP_DNS_OK ? EXISTS : NOT_EXISTS;
		mp_dns_result_free(&res);
	}
	if (e == NOT_EXISTS) {
		out->policy = np;
		out->policy_tag = r->np != MP_DMARC_P_UNSET ? "np" : out->policy_tag;
	}
	return e;
}

static enum mp_dmarc_policy
one_level_down(enum mp_dmarc_policy p)
{
	return p == MP_DMARC_P_REJECT ? MP_DMARC_P_QUARANTINE : MP_DMARC_P_NONE;
}

static bool
init_outcome(const char *from_in, struct mp_dmarc_outcome *out)
{
	const char *why = NULL;

	memset(out, 0, sizeof(*out));
	out->result = MP_DMARC_PERMERROR;
	out->policy = MP_DMARC_P_UNSET;
	out->disposition = MP_DMARC_P_NONE;
	out->policy_tag = "p";
	out->from_exists = 1;
	if (from_in == NULL || !mp_domain_normalize(from_in, strlen(from_in), out->from, &why)) {
		mp_setf(out->reason, sizeof(out->reason), "no valid From domain%s%s",
		    why ? ": " : "", why ? why : "");
		return false;
	}
	return true;
}

enum mp_dmarc_result
mp_dmarc_discover(struct mp_dmarc_msg *m, const struct mp_deadline *deadline, const char *domain,
    struct mp_dmarc_outcome *out)
{
	enum existence e;

	if (!init_outcome(domain, out))
		return out->result;
	out->discovered = true;
	out->result = discover(m, deadline, out);
	if (out->result != MP_DMARC_PASS)
		return out->result;
	e = choose_policy(m, deadline, out);
	out->from_exists = e == EXISTS ? 1 : e == NOT_EXISTS ? 0 : -1;
	return out->result;
}

enum mp_dmarc_result
mp_dmarc_lookup(struct mp_dmarc *d, const struct mp_deadline *deadline, const char *domain,
    struct mp_dmarc_outcome *out)
{
	struct mp_dmarc_msg *m = mp_dmarc_msg_new(d);

	if (mp_dmarc_discover(m, deadline, domain, out) == MP_DMARC_PASS) {
		if (out->from_exists < 0)
			mp_setf(out->reason, sizeof(out->reason), "DMARC record at _dmarc.%s: "
			    "%s=%s (could not tell whether %s exists)", out->policy_domain,
			    out->policy_tag, mp_dmarc_policy_str(out->policy), out->from);
		else
			mp_setf(out->reason, sizeof(out->reason), "DMARC record at _dmarc.%s%s: "
			    "%s=%s%s", out->policy_domain, out->from_psd ? " (public suffix domain)" :
			    out->from_org ? " (organizational domain)" : "", out->policy_tag,
			    mp_dmarc_policy_str(out->policy), out->rec.testing ? " (t=y: testing)" : "");
		out->disposition = out->rec.testing ? one_level_down(out->policy) : out->policy;
	}
	if (out->discovered)
		(void)ensure_org(m, deadline, out);
	mp_dmarc_msg_free(&m);
	return out->result;
}

/* --- alignment ------------------------------------------------------------ */

/* The last label of a normalised name. */
static const char *
tld(const char *name)
{
	const char *dot = strrchr(name, '.');

	return dot != NULL ? dot + 1 : name;
}

/*
 * The From domain is a PSD that is its own Organizational Domain (its
 * own record has psd=y): every name below it is an Organizational
 * Domain of its own (4.10.2 step 2), whatever that name's DNS says, so
 * nothing but the From domain itself aligns. Exact up to 7 labels,
 * where every walk from below visits the From domain.
 */
static bool
psd_itself(const struct mp_dmarc_outcome *out)
{
	return !out->from_org && out->record_found && out->rec.psd == 'y' &&
	    strcmp(out->org_domain, out->from) == 0 && mp_dmarc_labels(out->from) < 8;
}

bool
mp_dmarc_could_align(const struct mp_dmarc_outcome *out, const char *id, bool strict)
{
	if (id == NULL || *id == '\0' || out->from[0] == '\0')
		return false;
	if (strcmp(id, out->from) == 0)
		return true;
	if (strict || psd_itself(out))
		return false;
	if (out->org_domain[0] != '\0')
		return mp_domain_is_sub_or_same(id, out->org_domain);
	return strcmp(tld(id), tld(out->from)) == 0;
}

enum align { ALIGN_NO, ALIGN_YES, ALIGN_UNKNOWN };

/*
 * A walk from id failed at s. Whoever owns the names between s and the
 * From domain's Organizational Domain could have let the walk through
 * and aligned, so a failure there hides nothing from him; only a psd
 * record on the way, which ends every walk from below, still settles
 * it: not aligned. Also when the message asked too much (overflow):
 * the sender's doing, never a temporary error.
 */
static bool
settled_anyway(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    const struct mp_dmarc_outcome *out, const struct mp_dmarc_seen *s)
{
	char cur[MP_DOMAIN_MAX], next[MP_DOMAIN_MAX];

	if (s->overflow || !mp_strlcpy(cur, s->name, sizeof(cur)))
		return true;
	while (mp_dmarc_walk_next(cur, next) && strcmp(next, out->org_domain) != 0 &&
	    mp_domain_is_sub_or_same(next, out->org_domain)) {
		const struct mp_dmarc_seen *up = mp_dmarc_fetch(m, deadline, next);

		if (up->overflow || (up->f == MP_DMARC_FETCH_ONE && up->psd != 'u'))
			return true;
		memcpy(cur, next, sizeof(cur));
	}
	return false;
}

/*
 * RFC 9989 4.10.2. An identifier can only share the From domain's
 * Organizational Domain if it sits at or below it: anything else is
 * settled without a query. The identifier's own walk then goes over
 * its names below that domain, and the memo answers the rest. A lookup
 * failure there is UNKNOWN only where the identifier could have aligned.
 */
static enum align
align(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    struct mp_dmarc_outcome *out, const char *id, bool strict, char *why, size_t whylen)
{
	const struct mp_dmarc_seen *seq[MP_DMARC_WALK_MAX];
	char org[MP_DOMAIN_MAX];
	bool failed;
	size_t n;

	if (strcmp(id, out->from) == 0)
		return ALIGN_YES;
	if (strict || strcmp(tld(id), tld(out->from)) != 0)
		return ALIGN_NO;
	if (!ensure_org(m, deadline, out)) {
		mp_setf(why, whylen, "could not find the organizational domain of %s", out->from);
		return ALIGN_UNKNOWN;
	}
	if (!mp_domain_is_sub_or_same(id, out->org_domain) || psd_itself(out))
		return ALIGN_NO;
	n = mp_dmarc_walk(m, deadline, id, seq, &failed);
	if (n == 0)
		return ALIGN_NO;
	if (failed) {
		if (settled_anyway(m, deadline, out, seq[n - 1]))
			return ALIGN_NO;
		mp_setf(why, whylen, "could not find the organizational domain of %s "
		    "(_dmarc.%s: %s)", id, seq[n - 1]->name, seq[n - 1]->why);
		return ALIGN_UNKNOWN;
	}
	mp_dmarc_walk_org(id, seq, n, org);
	return strcmp(org, out->org_domain) == 0 ? ALIGN_YES : ALIGN_NO;
}

void
mp_dmarc_prepare(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    struct mp_dmarc_outcome *out, const char *id)
{
	char norm[MP_DOMAIN_MAX], why[192];
	const char *w;

	if (!out->discovered || out->result != MP_DMARC_PASS || id == NULL ||
	    (out->rec.aspf_strict && out->rec.adkim_strict) ||
	    !mp_domain_normalize(id, strlen(id), norm, &w))
		return;
	(void)align(m, deadline, out, norm, false, why, sizeof(why));
}

/* An identifier from the message, normalised; false when it is not a
 * valid name (it then aligns with nothing). */
static bool
norm_id(const char *in, char out[MP_DOMAIN_MAX])
{
	const char *why;

	return in != NULL && *in != '\0' && mp_domain_normalize(in, strlen(in), out, &why);
}

/*
 * SPF counts only for the one domain it checked, and only when it
 * passed; DKIM for each passing d= (at most MP_DKIM_MAX). The first
 * aligned one of each is kept in spf_r / dkim_r. *unknown_r says why an
 * identifier could not be judged, "" when none.
 */
static void
align_all(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    const struct mp_dmarc_input *in, struct mp_dmarc_outcome *out, char spf_r[MP_DOMAIN_MAX],
    char dkim_r[MP_DOMAIN_MAX], char *unknown_r, size_t unknownlen)
{
	size_t ndkim = in->ndkim > MP_DKIM_MAX ? MP_DKIM_MAX : in->ndkim;
	char id[MP_DOMAIN_MAX];
	enum align a;

	dkim_r[0] = '\0';
	unknown_r[0] = '\0';
	if (!norm_id(in->spf_domain, spf_r))
		spf_r[0] = '\0';
	if (in->spf == MP_SPF_PASS && spf_r[0] != '\0') {
		a = align(m, deadline, out, spf_r, out->rec.aspf_strict, unknown_r, unknownlen);
		out->spf_aligned = a == ALIGN_YES;
	}
	for (size_t i = 0; i < ndkim && !out->dkim_aligned && in->dkim != NULL; i++) {
		const struct mp_dmarc_dkim *k = &in->dkim[i];
		char why[192];

		const char *w;

		if (!k->pass || !mp_domain_normalize(k->domain,
		    strnlen(k->domain, sizeof(k->domain)), id, &w))
			continue;
		a = align(m, deadline, out, id, out->rec.adkim_strict, why, sizeof(why));
		if (a == ALIGN_YES) {
			out->dkim_aligned = true;
			mp_strlcpy(dkim_r, id, MP_DOMAIN_MAX);
		} else if (a == ALIGN_UNKNOWN && unknown_r[0] == '\0')
			mp_strlcpy(unknown_r, why, unknownlen);
	}
}

static enum mp_dmarc_result
passed(struct mp_dmarc_outcome *out, const char *spf_domain, const char *dkim_domain)
{
	out->result = MP_DMARC_PASS;
	out->disposition = MP_DMARC_P_NONE;
	if (out->spf_aligned)
		mp_setf(out->reason, sizeof(out->reason),
		    "DMARC pass: SPF passed for %s, aligned (%s) with From %s", spf_domain,
		    out->rec.aspf_strict ? "strict" : "relaxed", out->from);
	else
		mp_setf(out->reason, sizeof(out->reason),
		    "DMARC pass: DKIM signature d=%s, aligned (%s) with From %s", dkim_domain,
		    out->rec.adkim_strict ? "strict" : "relaxed", out->from);
	return out->result;
}

static enum mp_dmarc_result
temp_failed(struct mp_dmarc_outcome *out, const char *what)
{
	out->result = MP_DMARC_TEMPERROR;
	out->policy = MP_DMARC_P_UNSET;
	mp_setf(out->reason, sizeof(out->reason), "DMARC for From %s: %s (_dmarc.%s): "
	    "try again later", out->from, what, out->policy_domain);
	return out->result;
}

enum mp_dmarc_result
mp_dmarc_decide(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    const struct mp_dmarc_input *in, struct mp_dmarc_outcome *out)
{
	char spf_domain[MP_DOMAIN_MAX], dkim_domain[MP_DOMAIN_MAX], unknown[192];

	/* Nothing found to decide on (none, temperror, permerror), or no
	 * discovery at all: the result stands as it is. */
	if (!out->discovered || out->result != MP_DMARC_PASS)
		return out->result;
	align_all(m, deadline, in, out, spf_domain, dkim_domain, unknown, sizeof(unknown));
	if (out->spf_aligned || out->dkim_aligned)
		return passed(out, spf_domain, dkim_domain);
	/* An identifier that might have aligned, or a policy that depends
	 * on whether the From domain exists: neither a pass nor a fail. */
	if (unknown[0] != '\0')
		return temp_failed(out, unknown);
	if (out->from_exists < 0)
		return temp_failed(out, "could not tell whether the From domain exists (np=)");

	out->result = MP_DMARC_FAIL;
	/* t=y asks for the next policy down (RFC 9989 4.7); pct is gone. */
	out->disposition = out->rec.testing ? one_level_down(out->policy) : out->policy;
	mp_setf(out->reason, sizeof(out->reason),
	    "DMARC fail for From %s: no aligned pass (SPF %s%s%s, aspf=%c; DKIM adkim=%c); "
	    "%s=%s at _dmarc.%s%s%s%s -> %s", out->from, spf_str(in->spf),
	    spf_domain[0] ? " for " : "", spf_domain, out->rec.aspf_strict ? 's' : 'r',
	    out->rec.adkim_strict ? 's' : 'r', out->policy_tag, mp_dmarc_policy_str(out->policy),
	    out->policy_domain, out->from_psd ? " (public suffix domain)" : "",
	    out->from_exists == 0 ? " (From domain does not exist)" : "",
	    out->rec.testing ? ", t=y testing mode" : "", mp_dmarc_policy_str(out->disposition));
	return out->result;
}

enum mp_dmarc_result
mp_dmarc_evaluate(struct mp_dmarc *d, const struct mp_deadline *deadline,
    const struct mp_dmarc_input *in, struct mp_dmarc_outcome *out)
{
	struct mp_dmarc_msg *m = mp_dmarc_msg_new(d);

	if (mp_dmarc_discover(m, deadline, in->from_domain, out) == MP_DMARC_PASS)
		(void)mp_dmarc_decide(m, deadline, in, out);
	mp_dmarc_msg_free(&m);
	return out->result;
}
