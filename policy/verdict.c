/*
 * verdict: one evaluation of one message. The milter calls mp_evaluate()
 * at end of message; mailposture-check calls the same function on a file.
 *
 * Order: From domain(s) -> DMARC policy discovery for each (every query
 * DMARC needs, before anything the sender controls can spend the
 * deadline) -> DKIM verification (its keys were prefetched at the end of
 * the header, so they are mostly in the cache by now) -> SPF for the
 * MAIL FROM identity, with what is left -> the DMARC decision for each
 * (no query) -> the strictest outcome -> DKIM alignment per signature
 * -> posture of the From domain -> the Authentication-Results value
 * (verdict_show.c). Every DNS lookup shares one deadline ([policy]
 * eval_timeout), so the whole evaluation stays inside the MTA's milter
 * timeouts.
 */
#include "config.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authres.h"
#include "decide.h"
#include "domain.h"
#include "lex5322.h"
#include "log.h"
#include "verdict.h"

#define MAX_TRUSTED 32
struct mp_evaluator {
	struct mp_dns *dns;
	struct mp_psl *psl;
	struct mp_spf *spf;
	struct mp_dmarc *dmarc;
	struct mp_dkim *dkim;		/* NULL: [dkim] verify = no */
	char authserv_id[256];
	size_t ntrusted;
	char trusted[MAX_TRUSTED][256];
	unsigned eval_timeout_ms;
	bool posture;			/* [policy] posture: score From domains */
	struct mp_pcache *pcache;	/* NULL: postures are not kept */
	pthread_mutex_t stats_lock;
	unsigned long posture_hits, posture_misses;
};

/* The facts, and the header written from them. */
struct mp_verdict {
	struct mp_result r;
	struct mp_buf authres;
};

/* Splits a list of ids separated by spaces or commas, lowercased. */
static void
parse_trusted(struct mp_evaluator *ev, const char *list)
{
	const char *p = list;

	while (*p && ev->ntrusted < MAX_TRUSTED) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == 0)
			break;
		if (n < sizeof(ev->trusted[0])) {
			memcpy(ev->trusted[ev->ntrusted], p, n);
			ev->trusted[ev->ntrusted][n] = '\0';
			mp_ascii_lower(ev->trusted[ev->ntrusted]);
			ev->ntrusted++;
		}
		p += n;
	}
}

struct mp_dns *
mp_evaluator_dns(struct mp_evaluator *ev)
{
	return ev->dns;
}

const struct mp_psl *
mp_evaluator_psl(const struct mp_evaluator *ev)
{
	return ev->psl;
}

struct mp_spf *
mp_evaluator_spf(struct mp_evaluator *ev)
{
	return ev->spf;
}

struct mp_dmarc *
mp_evaluator_dmarc(struct mp_evaluator *ev)
{
	return ev->dmarc;
}

struct mp_dkim *
mp_evaluator_dkim(struct mp_evaluator *ev)
{
	return ev->dkim;
}

/* The id goes into every header we write: it must be a plain token.
 * "" is the host name. */
static bool
set_authserv_id(struct mp_evaluator *ev, const char *id, char *err, size_t errlen)
{
	if (id[0] == '\0') {
		char host[256];

		if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
			mp_strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		mp_strlcpy(ev->authserv_id, host, sizeof(ev->authserv_id));
	} else {
		mp_strlcpy(ev->authserv_id, id, sizeof(ev->authserv_id));
	}
	mp_ascii_lower(ev->authserv_id);
	for (const char *c = ev->authserv_id; *c; c++) {
		unsigned char u = (unsigned char)*c;

		if (u <= ' ' || u >= 0x7f || strchr("()<>@,;:\\\"/[]?=", u)) {
			snprintf(err, errlen, "authserv_id \"%s\" is not a token (RFC 8601)",
			    ev->authserv_id);
			return false;
		}
	}
	return true;
}

struct mp_evaluator *
mp_evaluator_new(struct mp_conf *conf, char *err, size_t errlen)
{
	return mp_evaluator_new_ex(conf, 0, err, errlen);
}

struct mp_evaluator *
mp_evaluator_new_ex(struct mp_conf *conf, unsigned flags, char *err, size_t errlen)
{
	struct mp_evaluator *ev = xcalloc(1, sizeof(*ev));
	struct mp_dns_options dopt = { 0 };
	struct mp_dkim_options kopt;
	char e[256];

	pthread_mutex_init(&ev->stats_lock, NULL);
	dopt.upstream = mp_conf_str(conf, "dns", "resolver");
	dopt.timeout_ms = (unsigned)mp_conf_int(conf, "dns", "timeout");
	dopt.trust_anchor_file = mp_conf_str(conf, "dns", "trust_anchor_file");
	if (dopt.trust_anchor_file[0] == '\0')
		dopt.trust_anchor_file = NULL;
	ev->dns = mp_dns_new(&dopt, e, sizeof(e));
	if (ev->dns == NULL) {
		snprintf(err, errlen, "resolver: %s", e);
		goto fail;
	}
	ev->psl = mp_psl_load(mp_conf_str(conf, "policy", "psl_file"), e, sizeof(e));
	if (ev->psl == NULL && !(flags & MP_EVALUATOR_PSL_OPTIONAL)) {
		snprintf(err, errlen, "public suffix list: %s", e);
		goto fail;
	}
	ev->spf = mp_spf_new(ev->dns);
	ev->dmarc = mp_dmarc_new(ev->dns);
	mp_dkim_options_from_conf(conf, &kopt);
	if (kopt.verify && (ev->dkim = mp_dkim_new(ev->dns, &kopt, e, sizeof(e))) == NULL) {
		snprintf(err, errlen, "dkim: %s", e);
		goto fail;
	}
	if (!set_authserv_id(ev, mp_conf_str(conf, "policy", "authserv_id"), err, errlen))
		goto fail;
	parse_trusted(ev, mp_conf_str(conf, "policy", "trusted_authserv_ids"));
	ev->eval_timeout_ms = (unsigned)mp_conf_int(conf, "policy", "eval_timeout") * 1000U;
	ev->posture = mp_conf_bool(conf, "policy", "posture");
	if (mp_conf_int(conf, "policy", "posture_ttl") > 0)
		ev->pcache = mp_pcache_local_new(
		    (unsigned long long)mp_conf_int(conf, "policy", "posture_ttl") * 1000ULL);
	return ev;

fail:
	mp_evaluator_free(&ev);
	return NULL;
}

void
mp_evaluator_free(struct mp_evaluator **evp)
{
	struct mp_evaluator *ev = *evp;

	if (ev == NULL)
		return;
	mp_dkim_free(&ev->dkim);
	mp_dmarc_free(&ev->dmarc);
	mp_spf_free(&ev->spf);
	mp_psl_free(&ev->psl);
	mp_dns_free(&ev->dns);
	mp_pcache_free(&ev->pcache);
	pthread_mutex_destroy(&ev->stats_lock);
	free(ev);
	*evp = NULL;
}

const char *
mp_evaluator_authserv_id(const struct mp_evaluator *ev)
{
	return ev->authserv_id;
}

static void
count_lookup(struct mp_evaluator *ev, bool hit)
{
	pthread_mutex_lock(&ev->stats_lock);
	if (hit)
		ev->posture_hits++;
	else
		ev->posture_misses++;
	pthread_mutex_unlock(&ev->stats_lock);
}

static void
posture_of(struct mp_evaluator *ev, const struct mp_deadline *dl, const char *domain,
    struct mp_posture *out)
{
	if (ev->pcache != NULL) {
		bool hit = mp_pcache_get(ev->pcache, domain, out);

		count_lookup(ev, hit);
		if (hit)
			return;
	}
	mp_posture_evaluate(ev->spf, ev->dmarc, ev->dns, dl, domain, out);
	/* An incomplete posture is a lower bound: never keep it for an hour. */
	if (ev->pcache != NULL && out->complete)
		mp_pcache_put(ev->pcache, out);
}

void
mp_evaluator_set_pcache(struct mp_evaluator *ev, struct mp_pcache *pc)
{
	mp_pcache_free(&ev->pcache);
	ev->pcache = pc;
}

void
mp_evaluator_posture_stats(struct mp_evaluator *ev, unsigned long *hits_r, unsigned long *misses_r)
{
	pthread_mutex_lock(&ev->stats_lock);
	*hits_r = ev->posture_hits;
	*misses_r = ev->posture_misses;
	pthread_mutex_unlock(&ev->stats_lock);
}

void
mp_evaluator_posture(struct mp_evaluator *ev, const char *domain, struct mp_posture *out)
{
	struct mp_deadline dl;

	mp_deadline_set(&dl, ev->eval_timeout_ms);
	posture_of(ev, &dl, domain, out);
}

static bool
is_trusted(const struct mp_evaluator *ev, const char *id)
{
	/* Our own id is never trusted: such headers are forged and get deleted. */
	if (strcmp(id, ev->authserv_id) == 0)
		return false;
	for (size_t i = 0; i < ev->ntrusted; i++)
		if (strcmp(ev->trusted[i], id) == 0)
			return true;
	return false;
}

/* DKIM results from Authentication-Results headers added by trusted hosts
 * ([dkim] verify = no). */
static void
collect_dkim(const struct mp_evaluator *ev, const struct mp_header *h, struct mp_verdict *v)
{
	struct mp_authres *ar;
	const char *why;

	if (ev->ntrusted == 0)
		return;
	ar = xmalloc(sizeof(*ar));
	if (!mp_authres_parse(h->value, h->value_len, ar, &why) || !is_trusted(ev, ar->authserv_id)) {
		free(ar);
		return;
	}
	for (size_t i = 0; i < ar->count && v->r.ndkim < MP_DKIM_MAX; i++) {
		const struct mp_authres_result *r = &ar->res[i];
		const char *d, *norm_why;

		if (strcmp(r->method, "dkim") != 0)
			continue;
		d = mp_authres_prop(r, "header", "d");
		if (d == NULL) {
			/* header.i is an identity: its domain part is the signer's. */
			d = mp_authres_prop(r, "header", "i");
			if (d && strchr(d, '@'))
				d = strrchr(d, '@') + 1;
		}
		if (d == NULL || !mp_domain_normalize(d, strlen(d), v->r.dkim[v->r.ndkim].domain, &norm_why))
			continue;
		v->r.dkim[v->r.ndkim].pass = strcmp(r->result, "pass") == 0;
		v->r.ndkim++;
	}
	free(ar);
}

static int
disposition_rank(enum mp_dmarc_policy p)
{
	return p == MP_DMARC_P_REJECT ? 3 : p == MP_DMARC_P_QUARANTINE ? 2 : 1;
}

static int
result_rank(enum mp_dmarc_result r)
{
	switch (r) {
	case MP_DMARC_FAIL:
		return 5;
	case MP_DMARC_TEMPERROR:
		return 4;
	case MP_DMARC_PERMERROR:
		return 3;
	case MP_DMARC_NONE:
		return 2;
	default:
		return 1;
	}
}

/* True when outcome a is stricter than b: the harsher disposition, then the worse result. */
static bool
stricter(enum mp_dmarc_result ra, const struct mp_dmarc_outcome *a,
    enum mp_dmarc_result rb, const struct mp_dmarc_outcome *b)
{
	int da = disposition_rank(a->disposition), db = disposition_rank(b->disposition);

	if (da != db)
		return da > db;
	return result_rank(ra) > result_rank(rb);
}

static void
set_problem(struct mp_verdict *v, enum mp_problem p, const char *text)
{
	if (v->r.problem != MP_PROBLEM_NONE)
		return;
	v->r.problem = p;
	mp_strlcpy(v->r.problem_text, text, sizeof(v->r.problem_text));
}

/*
 * The From domains of the message, each once, into domains[] (at most
 * max); notes the problems of the From fields in v. Returns the count.
 */
static size_t
collect_from(const struct mp_message *msg, struct mp_verdict *v,
    char (*domains)[MP_DOMAIN_MAX], size_t max)
{
	struct mp_from *from = xmalloc(sizeof(*from));
	size_t ndomains = 0, nfrom_fields = 0;

	for (size_t i = 0; i < msg->nheaders; i++) {
		const struct mp_header *h = &msg->headers[i];
		const char *why, *ds[MP_FROM_MAX_ADDRS];
		size_t n;

		if (!mp_lex_field_is(h->name, "From"))
			continue;
		nfrom_fields++;
		if (!mp_from_parse(h->value, h->value_len, from, &why)) {
			char text[128];

			snprintf(text, sizeof(text), "unusable From header: %s", why);
			set_problem(v, MP_PROBLEM_BAD_FROM, text);
			continue;
		}
		n = mp_from_domains(from, ds);
		for (size_t j = 0; j < n && ndomains < max; j++) {
			bool seen = false;

			for (size_t k = 0; k < ndomains; k++)
				seen |= strcmp(domains[k], ds[j]) == 0;
			if (!seen)
				mp_strlcpy(domains[ndomains++], ds[j], MP_DOMAIN_MAX);
		}
	}
	free(from);
	/* Before the count: a From we did not see whole may be the forged one. */
	if (msg->from_incomplete)
		set_problem(v, MP_PROBLEM_BAD_FROM, "unusable From header: From fields not all kept");
	if (nfrom_fields == 0)
		set_problem(v, MP_PROBLEM_NO_FROM, "no From header");
	else if (nfrom_fields > 1)
		set_problem(v, MP_PROBLEM_MULTI_FROM, "several From header fields");
	else if (ndomains > 1)
		set_problem(v, MP_PROBLEM_MULTI_FROM, "several From domains");
	return ndomains;
}

/* SPF for the MAIL FROM identity, given the raw envelope sender whole. */
static void
evaluate_spf(struct mp_evaluator *ev, const struct mp_message *msg,
    const struct mp_deadline *dl, struct mp_verdict *v)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *mf = msg->mail_from ? msg->mail_from : "";

	if (inet_pton(AF_INET, v->r.ip, addr) != 1 && inet_pton(AF_INET6, v->r.ip, addr) != 1) {
		v->r.spf.result = MP_SPF_NONE;
		mp_strlcpy(v->r.spf.reason, "no valid client address to check", sizeof(v->r.spf.reason));
		return;
	}
	mp_spf_check_mailfrom(ev->spf, dl, v->r.ip, msg->helo ? msg->helo : "", mf, &v->r.spf);
}

/*
 * Our own DKIM verification, finished within the deadline: every
 * signature's outcome, and the passes as DMARC's only DKIM input. Keys
 * were prefetched when the header ended; a signature whose key is not
 * there yet waits for it here, before SPF (which the sender controls)
 * can spend the deadline.
 */
static void
dkim_finish(struct mp_evaluator *ev, const struct mp_message *msg,
    const struct mp_deadline *dl, struct mp_verdict *v)
{
	struct mp_deadline half = *dl;
	unsigned left = mp_deadline_left(dl);

	if (ev->dkim == NULL || msg->dkim == NULL)
		return;
	/*
	 * The sender picks d= as he picks his MAIL FROM domain: keys behind
	 * a zone that never answers, one after the other, must not spend
	 * the time SPF needs. DKIM gets half of what is left (every key was
	 * asked for at the end of the header, so a live zone has answered
	 * long before); a key not in by then is temperror, never a pass.
	 */
	if (dl->end_ms != 0 && left > 1)
		mp_deadline_set(&half, left / 2);
	v->r.dkim_verified = true;
	v->r.ndkim_sig = mp_dkim_msg_finish(msg->dkim, &half, v->r.dkim_sig, MP_DKIM_MAX);
	if (v->r.ndkim_sig > MP_DKIM_MAX)
		v->r.ndkim_sig = MP_DKIM_MAX;
	for (size_t i = 0; i < v->r.ndkim_sig; i++) {
		const struct mp_dkim_sig *s = &v->r.dkim_sig[i];

		if (s->result != MP_DKIM_PASS || s->domain[0] == '\0')
			continue;
		mp_strlcpy(v->r.dkim[v->r.ndkim].domain, s->domain, MP_DOMAIN_MAX);
		v->r.dkim[v->r.ndkim++].pass = true;
	}
}

/*
 * Each signature's d= against the From domain DMARC judged, without a
 * query: strict under adkim=s, else at or below its Organizational
 * Domain (also without a record, so that the store can count aligned
 * signatures of domains that publish none yet). DMARC's own verdict on
 * the passing ones was made by the walks.
 */
static void
dkim_align(struct mp_verdict *v)
{
	bool strict = v->r.dmarc.record_found && v->r.dmarc.rec.adkim_strict;

	if (v->r.from_domain[0] == '\0')
		return;
	for (size_t i = 0; i < v->r.ndkim_sig; i++)
		v->r.dkim_sig_aligned[i] = v->r.dkim_sig[i].domain[0] != '\0' &&
		    mp_dmarc_could_align(&v->r.dmarc, v->r.dkim_sig[i].domain, strict);
}

/*
 * The decision for each From domain, the strictest kept. Its only
 * queries are the walks of identifiers at or below the From domain's
 * Organizational Domain, which the memo mostly answers.
 * Several From domains are each evaluated, so a forger cannot pick the
 * domain that suits him (RFC 7489 6.6.1); if one of them could not be
 * evaluated, nothing says the forged one was harmless, and the message
 * is handled as one with an unusable From.
 */
static void
decide_each(struct mp_dmarc_msg *dm, const struct mp_deadline *dl,
    char (*domains)[MP_DOMAIN_MAX], size_t ndomains, struct mp_dmarc_outcome *o,
    struct mp_verdict *v)
{
	bool unknown = false;

	v->r.nfrom_domains = ndomains;
	v->r.dmarc_result = MP_DMARC_PERMERROR;
	if (ndomains == 0)
		mp_strlcpy(v->r.dmarc.reason, v->r.problem_text[0] ? v->r.problem_text : "no From domain",
		    sizeof(v->r.dmarc.reason));
	for (size_t i = 0; i < ndomains; i++) {
		struct mp_dmarc_input in = {
			.from_domain = domains[i],
			.spf = v->r.spf.result,
			.spf_domain = v->r.spf.dmarc_domain,
			.dkim = v->r.dkim,
			.ndkim = v->r.ndkim,
		};
		enum mp_dmarc_result r = mp_dmarc_decide(dm, dl, &in, &o[i]);

		unknown |= r == MP_DMARC_TEMPERROR;
		if (i == 0 || stricter(r, &o[i], v->r.dmarc_result, &v->r.dmarc)) {
			v->r.dmarc_result = r;
			v->r.dmarc = o[i];
			mp_strlcpy(v->r.from_domain, domains[i], sizeof(v->r.from_domain));
		}
	}
	/* Stronger than "several From domains": it replaces that problem. */
	if (ndomains > 1 && unknown && v->r.problem != MP_PROBLEM_BAD_FROM) {
		v->r.problem = MP_PROBLEM_NONE;
		set_problem(v, MP_PROBLEM_MULTI_UNKNOWN,
		    "several From domains, one could not be evaluated");
	}
	/*
	 * A From we could not judge whole has no DMARC pass (nor "none"):
	 * the outcome of the fields we kept says nothing of the one we did
	 * not, and downstream readers take our header as the verdict.
	 */
	if ((v->r.problem == MP_PROBLEM_BAD_FROM || v->r.problem == MP_PROBLEM_MULTI_UNKNOWN) &&
	    (v->r.dmarc_result == MP_DMARC_PASS || v->r.dmarc_result == MP_DMARC_NONE)) {
		v->r.dmarc_result = MP_DMARC_PERMERROR;
		v->r.dmarc.result = MP_DMARC_PERMERROR;
		v->r.dmarc.disposition = MP_DMARC_P_NONE;
		mp_strlcpy(v->r.dmarc.reason, v->r.problem_text, sizeof(v->r.dmarc.reason));
	}
}

/*
 * DMARC in phases around DKIM and SPF: every From domain's policy is
 * fetched first, with the whole deadline, so that a sender's slow
 * lookups can never starve the lookups of the policy it forges, nor
 * those of the Organizational Domains alignment needs (prepared for the
 * MAIL FROM domain at once, for each passing d= right after DKIM, both
 * before SPF); DKIM then SPF get what is left; the decision finds its
 * answers in the memo.
 */
static void
evaluate(struct mp_evaluator *ev, const struct mp_message *msg,
    const struct mp_deadline *dl, struct mp_verdict *v)
{
	char (*domains)[MP_DOMAIN_MAX] = xcalloc(MP_FROM_MAX_ADDRS * 4, MP_DOMAIN_MAX);
	size_t ndomains = collect_from(msg, v, domains, MP_FROM_MAX_ADDRS * 4);
	struct mp_dmarc_outcome *o = xcalloc(ndomains ? ndomains : 1, sizeof(*o));
	struct mp_dmarc_msg *dm = mp_dmarc_msg_new(ev->dmarc);
	char spf_domain[MP_DOMAIN_MAX];
	const char *why;

	for (size_t i = 0; i < ndomains; i++)
		mp_dmarc_discover(dm, dl, domains[i], &o[i]);
	/* Only then what the sender's names cost: the domain SPF is going
	 * to check, by spf.c's own rule. */
	mp_spf_mailfrom_domain(msg->mail_from, msg->helo, spf_domain, sizeof(spf_domain));
	for (size_t i = 0; i < ndomains; i++)
		mp_dmarc_prepare(dm, dl, &o[i], spf_domain);
	dkim_finish(ev, msg, dl, v);
	for (size_t i = 0; i < ndomains; i++)
		for (size_t k = 0; k < v->r.ndkim; k++)
			mp_dmarc_prepare(dm, dl, &o[i], v->r.dkim[k].domain);
	evaluate_spf(ev, msg, dl, v);
	decide_each(dm, dl, domains, ndomains, o, v);
	dkim_align(v);
	/* An SPF temperror can change the outcome only for a domain that
	 * could align with the From domain. */
	if (v->r.from_domain[0] != '\0' && mp_domain_normalize(v->r.spf.dmarc_domain,
	    strlen(v->r.spf.dmarc_domain), spf_domain, &why))
		v->r.spf_could_align = mp_dmarc_could_align(&v->r.dmarc, spf_domain, false);
	if (v->r.from_domain[0] != '\0' && (ev->psl == NULL ||
	    !mp_psl_org_domain(ev->psl, v->r.from_domain, v->r.group_domain)))
		mp_strlcpy(v->r.group_domain, v->r.from_domain, sizeof(v->r.group_domain));
	v->r.dmarc_queries = mp_dmarc_msg_queries(dm);
	mp_dmarc_msg_free(&dm);
	free(o);
	free(domains);
}

struct mp_verdict *
mp_evaluate(struct mp_evaluator *ev, const struct mp_message *msg)
{
	struct mp_verdict *v = xcalloc(1, sizeof(*v));
	unsigned long long start = mp_now_ms();
	struct mp_deadline dl;

	mp_deadline_set(&dl, ev->eval_timeout_ms);
	mp_strlcpy(v->r.ip, msg->ip ? msg->ip : "", sizeof(v->r.ip));
	/* Peer text is kept printable: it reaches headers, logs and JSON. */
	if (msg->helo != NULL)
		mp_printable_copy(v->r.helo_shown, sizeof(v->r.helo_shown), msg->helo,
		    strlen(msg->helo));
	if (msg->mail_from && strcmp(msg->mail_from, "<>") != 0)
		v->r.mail_from_whole = mp_printable_copy(v->r.mail_from_shown,
		    sizeof(v->r.mail_from_shown), msg->mail_from, strlen(msg->mail_from));

	/* Someone else's DKIM results count only when we verify none. */
	if (ev->dkim == NULL)
		for (size_t i = 0; i < msg->nheaders; i++)
			if (mp_strcasecmp(msg->headers[i].name, "Authentication-Results") == 0)
				collect_dkim(ev, &msg->headers[i], v);

	evaluate(ev, msg, &dl, v);

	if (msg->want_posture && ev->posture && v->r.from_domain[0]) {
		posture_of(ev, &dl, v->r.from_domain, &v->r.posture);
		v->r.has_posture = true;
	}

	mp_result_authres(&v->r, ev->authserv_id, &v->authres);
	v->r.elapsed_ms = mp_now_ms() - start;
	return v;
}

void
mp_verdict_free(struct mp_verdict **vp)
{
	struct mp_verdict *v = *vp;

	if (v == NULL)
		return;
	mp_buf_free(&v->authres);
	free(v);
	*vp = NULL;
}

const char *
mp_verdict_authres(const struct mp_verdict *v)
{
	return mp_buf_str(&v->authres);
}

const struct mp_result *
mp_verdict_result(const struct mp_verdict *v)
{
	return &v->r;
}

const struct mp_spf_outcome *
mp_verdict_spf(const struct mp_verdict *v)
{
	return &v->r.spf;
}

const struct mp_dmarc_outcome *
mp_verdict_dmarc(const struct mp_verdict *v)
{
	return &v->r.dmarc;
}

enum mp_dmarc_result
mp_verdict_dmarc_result(const struct mp_verdict *v)
{
	return v->r.dmarc_result;
}

const struct mp_posture *
mp_verdict_posture(const struct mp_verdict *v)
{
	return v->r.has_posture ? &v->r.posture : NULL;
}

const char *
mp_verdict_from_domain(const struct mp_verdict *v)
{
	return v->r.from_domain;
}

const char *
mp_verdict_problem(const struct mp_verdict *v)
{
	return v->r.problem_text;
}

unsigned long long
mp_verdict_elapsed_ms(const struct mp_verdict *v)
{
	return v->r.elapsed_ms;
}
