/*
 * dmarc: our own bounded DMARC record parser (RFC 9989 rules: a defect
 * discards one tag, not the record), policy discovery over dns.c,
 * and evaluation with libopendmarc cross-checked by our own alignment.
 *
 * Why libopendmarc is not trusted alone (measured on 1.4.2):
 * - its record parser accepts any prefix of a keyword ("p=r" is reject)
 *   and refuses an invalid p even when rua is present (RFC 7489 6.6.3
 *   step 6 says: act as p=none), so it gets a canonical record rebuilt
 *   from our parse instead of the text from DNS;
 * - given an organizational domain it applies sp even to a record that
 *   was found at the From domain itself, so it only gets one when the
 *   record really came from the org domain;
 * - strict alignment passes a subdomain (upstream #268), with or
 *   without its PSL loaded, so our alignment decides when they disagree;
 * - it knows neither np nor t (DMARCbis), and a DNS temporary error
 *   leaves its policy "absent": discovery and temperror are ours.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opendmarc/dmarc.h>

#include "dmarc.h"
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

/* --- alignment ------------------------------------------------------------ */

bool
mp_dmarc_aligned(const struct mp_psl *psl, const char *a, const char *b, bool strict)
{
	char oa[MP_DOMAIN_MAX], ob[MP_DOMAIN_MAX];

	if (a == NULL || b == NULL || *a == '\0' || *b == '\0')
		return false;
	if (mp_strcasecmp(a, b) == 0)
		return true;
	if (strict || psl == NULL)
		return false;
	/* A name that is itself a public suffix has no org domain: it only
	 * aligns with itself. */
	if (!mp_psl_org_domain(psl, a, oa) || !mp_psl_org_domain(psl, b, ob))
		return false;
	return strcmp(oa, ob) == 0;
}

/* --- libopendmarc --------------------------------------------------------- */

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lib_path_lock = PTHREAD_MUTEX_INITIALIZER;
static char lib_psl_path[MAXPATHLEN];
static int lib_status = -1;     /* 0 when the library loaded its PSL */

/*
 * opendmarc_policy_library_init copies its argument into a global and
 * reads the PSL into a global hash: not thread-safe, so it runs once.
 * After that, the per-message calls only touch their own context, and
 * the PSL hash lookups take libopendmarc's own mutex.
 */
static void
lib_init_once(void)
{
	OPENDMARC_LIB_T lib;

	memset(&lib, 0, sizeof(lib));
	lib.tld_type = OPENDMARC_TLD_TYPE_MOZILLA;
	memcpy(lib.tld_source_file, lib_psl_path, sizeof(lib.tld_source_file));
	lib_status = opendmarc_policy_library_init(&lib);
	if (lib_status != 0)
		mp_log(LOG_WARNING, "libopendmarc could not load the PSL %s (status %d): "
		    "mailposture's own alignment check decides", lib_psl_path, lib_status);
}

bool
mp_dmarc_library_init(const char *psl_file, char *err, size_t errlen)
{
	bool have_path;

	if (psl_file != NULL && *psl_file == '\0')
		psl_file = NULL;
	pthread_mutex_lock(&lib_path_lock);
	if (lib_psl_path[0] == '\0' &&
	    !mp_strlcpy(lib_psl_path, psl_file ? psl_file : MP_PSL_FILE, sizeof(lib_psl_path)))
		lib_psl_path[0] = '\0';
	have_path = lib_psl_path[0] != '\0';
	pthread_mutex_unlock(&lib_path_lock);
	if (!have_path) {
		mp_setf(err, errlen, "PSL path too long");
		return false;
	}
	pthread_once(&lib_once, lib_init_once);
	if (lib_status != 0) {
		mp_setf(err, errlen, "libopendmarc could not load %s (status %d)", lib_psl_path,
		    lib_status);
		return false;
	}
	return true;
}

static int
lib_spf_outcome(enum mp_spf_result r)
{
	switch (r) {
	case MP_SPF_PASS:
		return DMARC_POLICY_SPF_OUTCOME_PASS;
	case MP_SPF_FAIL:
	case MP_SPF_SOFTFAIL:
	case MP_SPF_PERMERROR:
		return DMARC_POLICY_SPF_OUTCOME_FAIL;
	case MP_SPF_TEMPERROR:
		return DMARC_POLICY_SPF_OUTCOME_TMPFAIL;
	case MP_SPF_NONE:
	case MP_SPF_NEUTRAL:
		break;
	}
	return DMARC_POLICY_SPF_OUTCOME_NONE;
}

/*
 * Runs libopendmarc over a canonical record rebuilt from our parse, so
 * that it sees exactly what we validated. from is the From domain, org
 * the org domain only when the record came from there (given one, the
 * library applies sp). spf_domain is NULL when SPF did not run for a
 * MAIL FROM domain. False when the library refused something.
 */
static bool
lib_evaluate(const struct mp_dmarc_outcome *out, const char *from_in, const char *ip_in,
    const char *spf_domain, enum mp_spf_result spf, char dkim[][MP_DOMAIN_MAX],
    const bool *dkim_pass, size_t ndkim, bool *pass_r, bool *spf_al_r, bool *dkim_al_r)
{
	char canon[96], from[MP_DOMAIN_MAX], org[MP_DOMAIN_MAX], ip[64], dom[MP_DOMAIN_MAX];
	DMARC_POLICY_T *ctx;
	int pol, st, dal = 0, sal = 0;
	bool ok = false;

	/* Also orders our read of lib_status after the init, whichever
	 * thread ran it. */
	pthread_once(&lib_once, lib_init_once);
	if (lib_status != 0)
		return false;
	snprintf(canon, sizeof(canon), "v=DMARC1; p=%s; adkim=%c; aspf=%c",
	    mp_dmarc_policy_str(out->rec.p), out->rec.adkim_strict ? 's' : 'r',
	    out->rec.aspf_strict ? 's' : 'r');
	/* libopendmarc wants writable strings: give it copies. */
	mp_strlcpy(from, from_in, sizeof(from));
	mp_strlcpy(org, out->org_domain, sizeof(org));
	mp_strlcpy(ip, ip_in != NULL && *ip_in != '\0' ? ip_in : "0.0.0.0", sizeof(ip));
	/* The second argument is "is IPv6" (0 or 1), not 4 or 6. */
	ctx = opendmarc_policy_connect_init((u_char *)ip, strchr(ip, ':') != NULL ? 1 : 0);
	if (ctx == NULL)
		return false;
	if ((st = opendmarc_policy_store_from_domain(ctx, (u_char *)from)) != DMARC_PARSE_OKAY)
		goto done;
	/* Its third argument overwrites the stored From domain: pass the
	 * From domain, never the policy domain. store_dkim reads adkim, so
	 * the record goes in before the DKIM results. */
	if ((st = opendmarc_policy_store_dmarc(ctx, (u_char *)canon, (u_char *)from,
	    out->from_org ? (u_char *)org : NULL)) != DMARC_PARSE_OKAY)
		goto done;
	if (spf_domain != NULL) {
		mp_strlcpy(dom, spf_domain, sizeof(dom));
		if ((st = opendmarc_policy_store_spf(ctx, (u_char *)dom, lib_spf_outcome(spf),
		    DMARC_POLICY_SPF_ORIGIN_MAILFROM, NULL)) != DMARC_PARSE_OKAY)
			goto done;
	}
	for (size_t i = 0; i < ndkim; i++) {
		if (dkim[i][0] == '\0')
			continue;
		if ((st = opendmarc_policy_store_dkim(ctx, (u_char *)dkim[i], NULL,
		    dkim_pass[i] ? DMARC_POLICY_DKIM_OUTCOME_PASS : DMARC_POLICY_DKIM_OUTCOME_FAIL,
		    NULL)) != DMARC_PARSE_OKAY)
			goto done;
	}
	pol = opendmarc_get_policy_to_enforce(ctx);
	st = pol;
	if (pol != DMARC_POLICY_PASS && pol != DMARC_POLICY_REJECT &&
	    pol != DMARC_POLICY_QUARANTINE && pol != DMARC_POLICY_NONE)
		goto done;
	(void)opendmarc_policy_fetch_alignment(ctx, &dal, &sal);
	*pass_r = pol == DMARC_POLICY_PASS;
	*spf_al_r = sal == DMARC_POLICY_SPF_ALIGNMENT_PASS;
	*dkim_al_r = dal == DMARC_POLICY_DKIM_ALIGNMENT_PASS;
	ok = true;
done:
	if (!ok)
		mp_log(LOG_DEBUG, "libopendmarc: %s", opendmarc_policy_status_to_str(st));
	opendmarc_policy_connect_shutdown(ctx);
	return ok;
}

/* --- discovery ------------------------------------------------------------ */

/* Our own copy of the SPF result names: dmarc needs no code from spf.c. */
static const char *
spf_str(enum mp_spf_result r)
{
	static const char *const names[] = {
		"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror",
	};

	return (unsigned)r < MP_ARRAY_SIZE(names) ? names[r] : "unknown";
}

struct mp_dmarc {
	struct mp_dns *dns;
	const struct mp_psl *psl;
};

struct mp_dmarc *
mp_dmarc_new(struct mp_dns *dns, const struct mp_psl *psl)
{
	struct mp_dmarc *d = xcalloc(1, sizeof(*d));
	char err[256];

	d->dns = dns;
	d->psl = psl;
	/* A library that could not load its PSL is logged once and then
	 * only cross-checks less: our alignment does not need it. */
	(void)mp_dmarc_library_init(NULL, err, sizeof(err));
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

enum fetch {
	FETCH_NONE,     /* no DMARC record at the name */
	FETCH_ONE,
	FETCH_MANY,
	FETCH_TEMP,     /* the lookup failed */
};

/*
 * Queries the TXT records at _dmarc.<domain> and keeps those that start
 * with v=DMARC1 (RFC 7489 6.6.3 steps 1-2). On FETCH_ONE and FETCH_MANY
 * the first such record is copied, printable, into out->record and
 * parsed into out->rec (*valid_r, reason in why). *status_r is the DNS
 * status, which also tells whether the name exists.
 */
static enum fetch
fetch(struct mp_dmarc *d, const struct mp_deadline *deadline, const char *domain,
    struct mp_dmarc_outcome *out, bool *valid_r, char *why, size_t whylen, int *count_r,
    enum mp_dns_status *status_r)
{
	char name[MP_DNS_NAME_MAX + 1];
	struct mp_dns_result *res;
	const struct mp_dns_rr *first = NULL;
	int n = 0;

	*valid_r = false;
	*count_r = 0;
	why[0] = '\0';
	if ((size_t)snprintf(name, sizeof(name), "_dmarc.%s", domain) >= sizeof(name) ||
	    strlen(name) > 253) {
		/* Such a name cannot exist in the DNS. */
		*status_r = MP_DNS_NXDOMAIN;
		return FETCH_NONE;
	}
	res = mp_dns_query(d->dns, deadline, name, MP_DNS_TXT);
	*status_r = res->status;
	if (mp_dns_status_is_temp(res->status)) {
		mp_setf(why, whylen, "%s%s%s", mp_dns_status_str(res->status),
		    res->why ? ": " : "", res->why ? res->why : "");
		mp_dns_result_free(&res);
		return FETCH_TEMP;
	}
	for (size_t i = 0; res->status == MP_DNS_OK && i < res->count; i++) {
		const struct mp_dns_rr *rr = &res->rr[i];

		if (rr->type != MP_DNS_TXT || !mp_dmarc_is_record(rr->text, rr->text_len))
			continue;
		if (n++ == 0)
			first = rr;
	}
	if (first != NULL) {
		mp_printable_copy(out->record, sizeof(out->record), first->text, first->text_len);
		*valid_r = mp_dmarc_record_parse(first->text, first->text_len, &out->rec, why,
		    whylen);
	}
	mp_dns_result_free(&res);
	*count_r = n;
	return n == 0 ? FETCH_NONE : n == 1 ? FETCH_ONE : FETCH_MANY;
}

/*
 * Policy discovery (RFC 7489 6.6.3): the From domain, then, only when it
 * has no DMARC record at all, the org domain. A lookup failure at either
 * step is TEMPERROR, never NONE. Several records at the name that
 * answered, or an invalid record there, end discovery: no fallback.
 * Returns PASS when a valid record was found (out->rec holds it).
 * *from_exists_r: 1 when a lookup proved the From domain exists, 0 when
 * that is not known yet.
 */
static enum mp_dmarc_result
discover(struct mp_dmarc *d, const struct mp_deadline *deadline, const char *from,
    struct mp_dmarc_outcome *out, int *from_exists_r)
{
	char why[160];
	const char *at = from;
	enum mp_dns_status st;
	enum fetch f;
	bool valid;
	int count;

	*from_exists_r = 0;
	if (d->psl == NULL || !mp_psl_org_domain(d->psl, from, out->org_domain))
		out->org_domain[0] = '\0';

	f = fetch(d, deadline, from, out, &valid, why, sizeof(why), &count, &st);
	/* _dmarc.<from> exists (even with no DMARC record): so does <from>. */
	if (st == MP_DNS_OK || st == MP_DNS_NODATA)
		*from_exists_r = 1;
	if (f == FETCH_NONE && out->org_domain[0] != '\0' && strcmp(out->org_domain, from) != 0) {
		at = out->org_domain;
		out->from_org = true;
		f = fetch(d, deadline, at, out, &valid, why, sizeof(why), &count, &st);
	}
	mp_strlcpy(out->policy_domain, at, sizeof(out->policy_domain));

	switch (f) {
	case FETCH_TEMP:
		mp_setf(out->reason, sizeof(out->reason),
		    "could not look up the DMARC record at _dmarc.%s (%s): try again later", at, why);
		return MP_DMARC_TEMPERROR;
	case FETCH_NONE:
		out->policy_domain[0] = '\0';
		out->from_org = false;
		if (strcmp(at, from) == 0)
			mp_setf(out->reason, sizeof(out->reason),
			    "no DMARC record at _dmarc.%s", from);
		else
			mp_setf(out->reason, sizeof(out->reason),
			    "no DMARC record at _dmarc.%s nor at _dmarc.%s", from, at);
		return MP_DMARC_NONE;
	case FETCH_MANY:
		/* RFC 7489 6.6.3 step 5: several records mean no policy at
		 * all. Reported as permerror rather than none: the domain has
		 * a broken DMARC setup, and RFC 8601 permerror says exactly
		 * that, while the disposition stays "no action" either way. */
		out->record_found = true;
		mp_setf(out->reason, sizeof(out->reason),
		    "%d DMARC records at _dmarc.%s: no policy applies (RFC 7489 6.6.3)", count, at);
		return MP_DMARC_PERMERROR;
	case FETCH_ONE:
		break;
	}
	out->record_found = true;
	if (!valid) {
		mp_setf(out->reason, sizeof(out->reason),
		    "invalid DMARC record at _dmarc.%s: %s: no policy applies", at, why);
		return MP_DMARC_PERMERROR;
	}
	return MP_DMARC_PASS;
}

enum existence { EXISTS, NOT_EXISTS, UNKNOWN };

/*
 * Chooses p, sp or np (DMARCbis): p for the From domain's own record;
 * for a record inherited from the org domain, np when the From domain
 * does not exist, else sp, each falling back (np to sp, sp to p). The
 * existence check costs one A query, and only when it can change the
 * answer. UNKNOWN: that query failed; *policy_r then holds the sp answer.
 */
static enum existence
choose_policy(struct mp_dmarc *d, const struct mp_deadline *deadline, const char *from,
    int from_exists, const struct mp_dmarc_outcome *out, enum mp_dmarc_policy *policy_r,
    const char **tag_r)
{
	const struct mp_dmarc_record *r = &out->rec;
	enum mp_dmarc_policy sp, np;
	struct mp_dns_result *res;
	enum existence e;

	if (!out->from_org) {
		*policy_r = r->p;
		*tag_r = "p";
		return EXISTS;
	}
	sp = r->sp != MP_DMARC_P_UNSET ? r->sp : r->p;
	np = r->np != MP_DMARC_P_UNSET ? r->np : sp;
	*policy_r = sp;
	*tag_r = r->sp != MP_DMARC_P_UNSET ? "sp" : "p";
	if (np == sp || from_exists)
		return EXISTS;
	/* Non-existent means NXDOMAIN (DMARCbis, RFC 8020): any answer
	 * other than NXDOMAIN for any type proves the name exists. */
	res = mp_dns_query(d->dns, deadline, from, MP_DNS_A);
	if (res->status == MP_DNS_NXDOMAIN) {
		*policy_r = np;
		*tag_r = r->np != MP_DMARC_P_UNSET ? "np" : *tag_r;
		e = NOT_EXISTS;
	} else if (mp_dns_status_is_temp(res->status))
		e = UNKNOWN;
	else
		e = EXISTS;
	mp_dns_result_free(&res);
	return e;
}

static enum mp_dmarc_policy
one_level_down(enum mp_dmarc_policy p)
{
	return p == MP_DMARC_P_REJECT ? MP_DMARC_P_QUARANTINE : MP_DMARC_P_NONE;
}

static bool
init_outcome(const char *from_in, char from[MP_DOMAIN_MAX], struct mp_dmarc_outcome *out)
{
	const char *why = NULL;

	memset(out, 0, sizeof(*out));
	out->result = MP_DMARC_PERMERROR;
	out->policy = MP_DMARC_P_UNSET;
	out->disposition = MP_DMARC_P_NONE;
	out->policy_tag = "p";
	out->from_exists = 1;
	if (from_in == NULL || !mp_domain_normalize(from_in, strlen(from_in), from, &why)) {
		mp_setf(out->reason, sizeof(out->reason), "no valid From domain%s%s",
		    why ? ": " : "", why ? why : "");
		return false;
	}
	return true;
}

enum mp_dmarc_result
mp_dmarc_lookup(struct mp_dmarc *d, const struct mp_deadline *deadline, const char *domain,
    struct mp_dmarc_outcome *out)
{
	if (mp_dmarc_discover(d, deadline, domain, out) != MP_DMARC_PASS)
		return out->result;
	if (out->from_exists < 0)
		mp_setf(out->reason, sizeof(out->reason), "DMARC record at _dmarc.%s: %s=%s "
		    "(could not tell whether %s exists)", out->policy_domain, out->policy_tag,
		    mp_dmarc_policy_str(out->policy), out->from);
	else
		mp_setf(out->reason, sizeof(out->reason), "DMARC record at _dmarc.%s: %s=%s%s",
		    out->policy_domain, out->policy_tag, mp_dmarc_policy_str(out->policy),
		    out->rec.testing ? " (t=y: testing)" : "");
	/* Without a message there is no pct sample: only t=y lowers it. */
	out->disposition = out->rec.testing ? one_level_down(out->policy) : out->policy;
	return out->result;
}

enum mp_dmarc_result
mp_dmarc_discover(struct mp_dmarc *d, const struct mp_deadline *deadline, const char *domain,
    struct mp_dmarc_outcome *out)
{
	enum existence e;
	int exists;

	if (!init_outcome(domain, out->from, out))
		return out->result;
	out->discovered = true;
	out->result = discover(d, deadline, out->from, out, &exists);
	if (out->result != MP_DMARC_PASS)
		return out->result;
	e = choose_policy(d, deadline, out->from, exists, out, &out->policy, &out->policy_tag);
	out->from_exists = e == EXISTS ? 1 : e == NOT_EXISTS ? 0 : -1;
	return out->result;
}

/* SPF counts only for the one domain it checked, and only when it
 * passed (RFC 7489 4.2); spf_domain_r gets that domain normalised. */
static void
align_spf(struct mp_dmarc *d, const struct mp_dmarc_input *in, struct mp_dmarc_outcome *out,
    char spf_domain_r[MP_DOMAIN_MAX])
{
	const char *why;

	spf_domain_r[0] = '\0';
	if (in->spf_domain != NULL && *in->spf_domain != '\0' &&
	    !mp_domain_normalize(in->spf_domain, strlen(in->spf_domain), spf_domain_r, &why))
		spf_domain_r[0] = '\0';
	out->spf_aligned = in->spf == MP_SPF_PASS && spf_domain_r[0] != '\0' &&
	    mp_dmarc_aligned(d->psl, out->from, spf_domain_r, out->rec.aspf_strict);
}

/* DKIM: the caller passes only results it trusts. Returns the arrays
 * libopendmarc's cross-check wants (caller frees) in dkim_r/pass_r. */
static size_t
align_dkim(struct mp_dmarc *d, const struct mp_dmarc_input *in, struct mp_dmarc_outcome *out,
    char (**dkim_r)[MP_DOMAIN_MAX], bool **pass_r, char aligned_r[MP_DOMAIN_MAX])
{
	size_t ndkim = 0;
	const char *why;

	*dkim_r = NULL;
	*pass_r = NULL;
	aligned_r[0] = '\0';
	if (in->dkim == NULL || in->ndkim == 0)
		return 0;
	ndkim = in->ndkim > MP_DKIM_MAX ? MP_DKIM_MAX : in->ndkim;
	*dkim_r = xcalloc(ndkim, sizeof(**dkim_r));
	*pass_r = xcalloc(ndkim, sizeof(**pass_r));
	for (size_t i = 0; i < ndkim; i++) {
		const struct mp_dmarc_dkim *k = &in->dkim[i];

		if (!mp_domain_normalize(k->domain, strnlen(k->domain, sizeof(k->domain)),
		    (*dkim_r)[i], &why)) {
			(*dkim_r)[i][0] = '\0';
			continue;
		}
		(*pass_r)[i] = k->pass;
		if (k->pass && !out->dkim_aligned &&
		    mp_dmarc_aligned(d->psl, out->from, (*dkim_r)[i], out->rec.adkim_strict)) {
			out->dkim_aligned = true;
			mp_strlcpy(aligned_r, (*dkim_r)[i], MP_DOMAIN_MAX);
		}
	}
	return ndkim;
}

enum mp_dmarc_result
mp_dmarc_decide(struct mp_dmarc *d, const struct mp_dmarc_input *in, int sample,
    struct mp_dmarc_outcome *out)
{
	char spf_domain[MP_DOMAIN_MAX], aligned_d[MP_DOMAIN_MAX];
	char (*dkim)[MP_DOMAIN_MAX];
	bool *dkim_pass;
	size_t ndkim;
	bool pass, lib_pass, lib_spf, lib_dkim, sampled;

	/* Nothing found to decide on (none, temperror, permerror), or no
	 * discovery at all: the result stands as it is. */
	if (!out->discovered || out->result != MP_DMARC_PASS)
		return out->result;
	align_spf(d, in, out, spf_domain);
	ndkim = align_dkim(d, in, out, &dkim, &dkim_pass, aligned_d);
	pass = out->spf_aligned || out->dkim_aligned;

	if (lib_evaluate(out, out->from, in->ip, spf_domain[0] ? spf_domain : NULL, in->spf,
	    dkim, dkim_pass, ndkim, &lib_pass, &lib_spf, &lib_dkim)) {
		/* When libopendmarc disagrees, ours wins: its strict mode
		 * aligns a parent or subdomain (upstream #268). */
		if (lib_pass != pass || lib_spf != out->spf_aligned || lib_dkim != out->dkim_aligned)
			mp_log(LOG_DEBUG, "dmarc %s: libopendmarc says %s (spf %d dkim %d), "
			    "we say %s (spf %d dkim %d): ours applies", out->from,
			    lib_pass ? "pass" : "fail", lib_spf, lib_dkim, pass ? "pass" : "fail",
			    out->spf_aligned, out->dkim_aligned);
	}
	free(dkim);
	free(dkim_pass);

	if (pass) {
		out->result = MP_DMARC_PASS;
		out->disposition = MP_DMARC_P_NONE;
		if (out->spf_aligned)
			mp_setf(out->reason, sizeof(out->reason),
			    "DMARC pass: SPF passed for %s, aligned (%s) with From %s",
			    spf_domain, out->rec.aspf_strict ? "strict" : "relaxed", out->from);
		else
			mp_setf(out->reason, sizeof(out->reason),
			    "DMARC pass: DKIM signature d=%s, aligned (%s) with From %s",
			    aligned_d, out->rec.adkim_strict ? "strict" : "relaxed", out->from);
		return out->result;
	}
	if (out->from_exists < 0) {
		/* The policy for a failing message depends on whether the
		 * From domain exists (np), and that lookup failed. */
		out->result = MP_DMARC_TEMPERROR;
		out->policy = MP_DMARC_P_UNSET;
		mp_setf(out->reason, sizeof(out->reason),
		    "DMARC fail, but could not tell whether %s exists (np= of _dmarc.%s): "
		    "try again later", out->from, out->policy_domain);
		return out->result;
	}

	out->result = MP_DMARC_FAIL;
	if (sample < 0)
		sample = (int)arc4random_uniform(100);
	else if (sample > 99)
		sample = 99;
	/* pct (RFC 7489 6.6.4): a message outside the sample gets the next
	 * policy down. t=y (DMARCbis) asks the same. Both at once still
	 * lower it by one level only: t=y is the successor of pct=0. */
	sampled = sample < out->rec.pct;
	out->disposition = sampled && !out->rec.testing ? out->policy :
	    one_level_down(out->policy);
	mp_setf(out->reason, sizeof(out->reason),
	    "DMARC fail for From %s: no aligned pass (SPF %s%s%s, aspf=%c; DKIM adkim=%c); "
	    "%s=%s at _dmarc.%s%s%s%s -> %s", out->from, spf_str(in->spf),
	    spf_domain[0] ? " for " : "", spf_domain, out->rec.aspf_strict ? 's' : 'r',
	    out->rec.adkim_strict ? 's' : 'r', out->policy_tag, mp_dmarc_policy_str(out->policy),
	    out->policy_domain, out->from_exists == 0 ? " (From domain does not exist)" : "",
	    out->rec.testing ? ", t=y testing mode" : "",
	    !sampled ? ", outside the pct sample" : "", mp_dmarc_policy_str(out->disposition));
	return out->result;
}

enum mp_dmarc_result
mp_dmarc_evaluate(struct mp_dmarc *d, const struct mp_deadline *deadline,
    const struct mp_dmarc_input *in, int sample, struct mp_dmarc_outcome *out)
{
	if (mp_dmarc_discover(d, deadline, in->from_domain, out) != MP_DMARC_PASS)
		return out->result;
	return mp_dmarc_decide(d, in, sample, out);
}
