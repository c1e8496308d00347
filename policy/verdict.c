/*
 * verdict: one evaluation of one message. The milter calls mp_evaluate()
 * at end of message; mailposture-check calls the same function on a file.
 *
 * Order: From domain(s) -> DMARC policy discovery for each (every query
 * DMARC needs, before anything the sender controls can spend the
 * deadline) -> SPF for the MAIL FROM identity, with what is left -> the
 * DMARC decision for each (no query) -> the strictest outcome -> posture
 * of the From domain -> the Authentication-Results value. Every DNS
 * lookup shares one deadline ([policy] eval_timeout), so the whole
 * evaluation stays inside the MTA's milter timeouts.
 */
#include "config.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authres.h"
#include "domain.h"
#include "log.h"
#include "verdict.h"

#define MAX_TRUSTED 32
#define MAX_DKIM    16

/*
 * Posture is a property of a domain, not of a message: it is computed at
 * most once per [policy] posture_ttl per process and shared by all
 * threads. A fixed table (hash slot plus a short probe) bounds memory
 * whatever the senders do; the oldest entry of the probe run is evicted.
 */
#define POSTURE_SLOTS 2048
#define POSTURE_PROBE 4

struct posture_slot {
	unsigned long long expires_ms;	/* 0: empty */
	struct mp_posture posture;
};

struct mp_evaluator {
	struct mp_conf *conf;
	struct mp_dns *dns;
	struct mp_psl *psl;
	struct mp_spf *spf;
	struct mp_dmarc *dmarc;
	char authserv_id[256];
	size_t ntrusted;
	char trusted[MAX_TRUSTED][256];
	unsigned eval_timeout_ms;
	unsigned long long posture_ttl_ms;
	pthread_mutex_t posture_lock;
	struct posture_slot *posture_cache;	/* NULL until first use */
	unsigned long posture_hits, posture_misses;
};

enum problem {
	PROBLEM_NONE,
	PROBLEM_NO_FROM,
	PROBLEM_BAD_FROM,
	PROBLEM_MULTI_FROM,
	PROBLEM_MULTI_UNKNOWN,  /* several From domains, one not evaluated */
};

struct mp_verdict {
	struct mp_conf *conf;
	char authserv_id[256];
	char ip[INET6_ADDRSTRLEN];
	/* Display copies, printable and cut: for headers, logs and JSON
	 * only. Logic reads the SPF outcome (spf.dmarc_domain), never these. */
	char helo_shown[256];
	char mail_from_shown[512];
	bool mail_from_whole;       /* mail_from_shown is the address unchanged */
	struct mp_spf_outcome spf;
	enum mp_dmarc_result dmarc_result;
	struct mp_dmarc_outcome dmarc;
	char from_domain[MP_DOMAIN_MAX];
	size_t nfrom_domains;
	enum problem problem;
	char problem_text[128];
	bool spf_could_align;       /* the SPF domain is the From domain's organization */
	bool has_posture;
	struct mp_posture posture;
	size_t ndkim;
	struct mp_dkim_result dkim[MAX_DKIM];
	struct mp_buf authres;
	char reply[640];
	unsigned long long elapsed_ms;
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

struct mp_evaluator *
mp_evaluator_new(struct mp_conf *conf, char *err, size_t errlen)
{
	struct mp_evaluator *ev = xcalloc(1, sizeof(*ev));
	struct mp_dns_options dopt = { 0 };

	pthread_mutex_init(&ev->posture_lock, NULL);
	const char *id;
	char e[256];

	ev->conf = mp_conf_ref(conf);
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
	if (ev->psl == NULL) {
		snprintf(err, errlen, "public suffix list: %s", e);
		goto fail;
	}
	if (!mp_dmarc_library_init(mp_conf_str(conf, "policy", "psl_file"), e, sizeof(e))) {
		snprintf(err, errlen, "libopendmarc: %s", e);
		goto fail;
	}
	ev->spf = mp_spf_new(ev->dns);
	ev->dmarc = mp_dmarc_new(ev->dns, ev->psl);

	id = mp_conf_str(conf, "policy", "authserv_id");
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
	/* The id goes into every header we write: it must be a plain token. */
	for (const char *c = ev->authserv_id; *c; c++) {
		unsigned char u = (unsigned char)*c;

		if (u <= ' ' || u >= 0x7f || strchr("()<>@,;:\\\"/[]?=", u)) {
			snprintf(err, errlen, "authserv_id \"%s\" is not a token (RFC 8601)",
			    ev->authserv_id);
			goto fail;
		}
	}
	parse_trusted(ev, mp_conf_str(conf, "policy", "trusted_authserv_ids"));
	ev->eval_timeout_ms = (unsigned)mp_conf_int(conf, "policy", "eval_timeout") * 1000U;
	ev->posture_ttl_ms = (unsigned long long)mp_conf_int(conf, "policy", "posture_ttl") * 1000ULL;
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
	mp_dmarc_free(&ev->dmarc);
	mp_spf_free(&ev->spf);
	mp_psl_free(&ev->psl);
	mp_dns_free(&ev->dns);
	mp_conf_unref(&ev->conf);
	free(ev->posture_cache);
	pthread_mutex_destroy(&ev->posture_lock);
	free(ev);
	*evp = NULL;
}

const char *
mp_evaluator_authserv_id(const struct mp_evaluator *ev)
{
	return ev->authserv_id;
}

static size_t
posture_hash(const char *domain)
{
	size_t h = 5381;

	for (const unsigned char *p = (const unsigned char *)domain; *p; p++)
		h = h * 33 + *p;
	return h % POSTURE_SLOTS;
}

/* Copies a fresh cached posture of domain to out; false when there is none. */
static bool
posture_cached(struct mp_evaluator *ev, const char *domain, struct mp_posture *out)
{
	size_t h = posture_hash(domain);
	unsigned long long now = mp_now_ms();
	bool found = false;

	pthread_mutex_lock(&ev->posture_lock);
	for (size_t i = 0; ev->posture_cache && i < POSTURE_PROBE && !found; i++) {
		struct posture_slot *s = &ev->posture_cache[(h + i) % POSTURE_SLOTS];

		if (s->expires_ms > now && strcmp(s->posture.domain, domain) == 0) {
			*out = s->posture;
			found = true;
		}
	}
	if (found)
		ev->posture_hits++;
	else
		ev->posture_misses++;
	pthread_mutex_unlock(&ev->posture_lock);
	return found;
}

static void
posture_store(struct mp_evaluator *ev, const struct mp_posture *p)
{
	size_t h = posture_hash(p->domain);
	struct posture_slot *victim = NULL;

	pthread_mutex_lock(&ev->posture_lock);
	if (ev->posture_cache == NULL)
		ev->posture_cache = xcalloc(POSTURE_SLOTS, sizeof(*ev->posture_cache));
	for (size_t i = 0; i < POSTURE_PROBE; i++) {
		struct posture_slot *s = &ev->posture_cache[(h + i) % POSTURE_SLOTS];

		if (strcmp(s->posture.domain, p->domain) == 0) {
			victim = s;
			break;
		}
		if (victim == NULL || s->expires_ms < victim->expires_ms)
			victim = s;
	}
	victim->posture = *p;
	victim->expires_ms = mp_now_ms() + ev->posture_ttl_ms;
	pthread_mutex_unlock(&ev->posture_lock);
}

static void
posture_of(struct mp_evaluator *ev, const struct mp_deadline *dl, const char *domain,
    struct mp_posture *out)
{
	if (ev->posture_ttl_ms > 0 && posture_cached(ev, domain, out))
		return;
	mp_posture_evaluate(ev->spf, ev->dmarc, ev->dns, dl, domain, out);
	/* An incomplete posture is a lower bound: never keep it for an hour. */
	if (ev->posture_ttl_ms > 0 && out->complete)
		posture_store(ev, out);
}

void
mp_evaluator_posture_stats(struct mp_evaluator *ev, unsigned long *hits_r, unsigned long *misses_r)
{
	pthread_mutex_lock(&ev->posture_lock);
	*hits_r = ev->posture_hits;
	*misses_r = ev->posture_misses;
	pthread_mutex_unlock(&ev->posture_lock);
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

/* DKIM results from Authentication-Results headers added by trusted hosts. */
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
	for (size_t i = 0; i < ar->count && v->ndkim < MAX_DKIM; i++) {
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
		if (d == NULL || !mp_domain_normalize(d, strlen(d), v->dkim[v->ndkim].domain, &norm_why))
			continue;
		v->dkim[v->ndkim].pass = strcmp(r->result, "pass") == 0;
		v->ndkim++;
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
set_problem(struct mp_verdict *v, enum problem p, const char *text)
{
	if (v->problem != PROBLEM_NONE)
		return;
	v->problem = p;
	mp_strlcpy(v->problem_text, text, sizeof(v->problem_text));
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

		if (mp_strcasecmp(h->name, "From") != 0)
			continue;
		nfrom_fields++;
		if (!mp_from_parse(h->value, h->value_len, from, &why)) {
			char text[128];

			snprintf(text, sizeof(text), "unusable From header: %s", why);
			set_problem(v, PROBLEM_BAD_FROM, text);
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
		set_problem(v, PROBLEM_BAD_FROM, "unusable From header: From fields not all kept");
	if (nfrom_fields == 0)
		set_problem(v, PROBLEM_NO_FROM, "no From header");
	else if (nfrom_fields > 1)
		set_problem(v, PROBLEM_MULTI_FROM, "several From header fields");
	else if (ndomains > 1)
		set_problem(v, PROBLEM_MULTI_FROM, "several From domains");
	return ndomains;
}

/* SPF for the MAIL FROM identity, given the raw envelope sender whole. */
static void
evaluate_spf(struct mp_evaluator *ev, const struct mp_message *msg,
    const struct mp_deadline *dl, struct mp_verdict *v)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *mf = msg->mail_from ? msg->mail_from : "";

	if (inet_pton(AF_INET, v->ip, addr) != 1 && inet_pton(AF_INET6, v->ip, addr) != 1) {
		v->spf.result = MP_SPF_NONE;
		mp_strlcpy(v->spf.reason, "no valid client address to check", sizeof(v->spf.reason));
		return;
	}
	mp_spf_check_mailfrom(ev->spf, dl, v->ip, msg->helo ? msg->helo : "", mf, &v->spf);
}

/*
 * DMARC in two phases around SPF: every From domain's policy is fetched
 * first, with the whole deadline, so that a sender's slow SPF lookups
 * can never starve the lookup of the policy it forges; SPF then gets
 * what is left; the decision makes no query. Several From domains are
 * each evaluated and the strictest outcome kept, so a forger cannot
 * pick the domain that suits him (RFC 7489 6.6.1); if one of them could
 * not be evaluated, nothing says the forged one was harmless, and the
 * message is handled as one with an unusable From.
 */
static void
evaluate(struct mp_evaluator *ev, const struct mp_message *msg,
    const struct mp_deadline *dl, struct mp_verdict *v)
{
	char (*domains)[MP_DOMAIN_MAX] = xcalloc(MP_FROM_MAX_ADDRS * 4, MP_DOMAIN_MAX);
	size_t ndomains = collect_from(msg, v, domains, MP_FROM_MAX_ADDRS * 4);
	struct mp_dmarc_outcome *o = xcalloc(ndomains ? ndomains : 1, sizeof(*o));
	char spf_domain[MP_DOMAIN_MAX];
	const char *why;
	bool unknown = false;

	for (size_t i = 0; i < ndomains; i++)
		mp_dmarc_discover(ev->dmarc, dl, domains[i], &o[i]);
	evaluate_spf(ev, msg, dl, v);

	v->nfrom_domains = ndomains;
	v->dmarc_result = MP_DMARC_PERMERROR;
	if (ndomains == 0)
		mp_strlcpy(v->dmarc.reason, v->problem_text[0] ? v->problem_text : "no From domain",
		    sizeof(v->dmarc.reason));
	for (size_t i = 0; i < ndomains; i++) {
		struct mp_dmarc_input in = {
			.from_domain = domains[i],
			.ip = v->ip,
			.spf = v->spf.result,
			.spf_domain = v->spf.dmarc_domain,
			.dkim = v->dkim,
			.ndkim = v->ndkim,
		};
		enum mp_dmarc_result r = mp_dmarc_decide(ev->dmarc, &in, msg->pct_sample, &o[i]);

		unknown |= r == MP_DMARC_TEMPERROR;
		if (i == 0 || stricter(r, &o[i], v->dmarc_result, &v->dmarc)) {
			v->dmarc_result = r;
			v->dmarc = o[i];
			mp_strlcpy(v->from_domain, domains[i], sizeof(v->from_domain));
		}
	}
	/* Stronger than "several From domains": it replaces that problem. */
	if (ndomains > 1 && unknown && v->problem != PROBLEM_BAD_FROM) {
		v->problem = PROBLEM_NONE;
		set_problem(v, PROBLEM_MULTI_UNKNOWN,
		    "several From domains, one could not be evaluated");
	}
	/*
	 * A From we could not judge whole has no DMARC pass (nor "none"):
	 * the outcome of the fields we kept says nothing of the one we did
	 * not, and downstream readers take our header as the verdict.
	 */
	if ((v->problem == PROBLEM_BAD_FROM || v->problem == PROBLEM_MULTI_UNKNOWN) &&
	    (v->dmarc_result == MP_DMARC_PASS || v->dmarc_result == MP_DMARC_NONE)) {
		v->dmarc_result = MP_DMARC_PERMERROR;
		v->dmarc.result = MP_DMARC_PERMERROR;
		v->dmarc.disposition = MP_DMARC_P_NONE;
		mp_strlcpy(v->dmarc.reason, v->problem_text, sizeof(v->dmarc.reason));
	}
	/* An SPF temperror can change the outcome only for a domain that
	 * could align with the From domain. */
	if (v->from_domain[0] != '\0' && mp_domain_normalize(v->spf.dmarc_domain,
	    strlen(v->spf.dmarc_domain), spf_domain, &why))
		v->spf_could_align = mp_dmarc_aligned(ev->psl, v->from_domain, spf_domain, false);
	free(o);
	free(domains);
}

/*
 * smtp.mailfrom is what downstream readers align on: it is the address
 * only when the display copy is the address unchanged, holds one '@'
 * (a reader that splits "a@victim"@attacker at the first would see the
 * victim) and is short enough for an A-R reader (ours keeps 255 bytes of
 * a value), else the domain SPF checked (RFC 8601 2.7.2 allows the
 * domain alone), never a cut or escaped copy that could read as another
 * domain.
 */
static void
write_authres(struct mp_verdict *v)
{
	struct mp_buf *b = &v->authres;

	mp_buf_printf(b, "%s; spf=%s", v->authserv_id, mp_spf_result_str(v->spf.result));
	if (v->mail_from_shown[0] && v->mail_from_whole &&
	    strchr(v->mail_from_shown, '@') == strrchr(v->mail_from_shown, '@') &&
	    strlen(v->mail_from_shown) < sizeof(((struct mp_authres_prop *)0)->value) - 2) {
		mp_buf_puts(b, " smtp.mailfrom=");
		mp_authres_put_pvalue(b, v->mail_from_shown);
	} else if (v->mail_from_shown[0] && v->spf.domain[0]) {
		mp_buf_puts(b, " smtp.mailfrom=");
		mp_authres_put_value(b, v->spf.domain);
	} else if (v->mail_from_shown[0] == '\0' && v->spf.dmarc_domain[0]) {
		mp_buf_puts(b, " smtp.helo=");
		mp_authres_put_value(b, v->spf.dmarc_domain);
	}
	mp_buf_printf(b, ";\n\tdmarc=%s", mp_dmarc_result_str(v->dmarc_result));
	if (v->from_domain[0] == '\0') {
		mp_buf_puts(b, " reason=");
		mp_authres_put_value(b, v->problem_text[0] ? v->problem_text : "no From domain");
		return;
	}
	if (v->dmarc.record_found)
		mp_buf_printf(b, " (p=%s dis=%s)", mp_dmarc_policy_str(v->dmarc.policy),
		    mp_dmarc_policy_str(v->dmarc.disposition));
	mp_buf_puts(b, " header.from=");
	mp_authres_put_value(b, v->from_domain);
}

struct mp_verdict *
mp_evaluate(struct mp_evaluator *ev, const struct mp_message *msg)
{
	struct mp_verdict *v = xcalloc(1, sizeof(*v));
	unsigned long long start = mp_now_ms();
	struct mp_deadline dl;

	mp_deadline_set(&dl, ev->eval_timeout_ms);
	v->conf = mp_conf_ref(ev->conf);
	mp_strlcpy(v->authserv_id, ev->authserv_id, sizeof(v->authserv_id));
	mp_strlcpy(v->ip, msg->ip ? msg->ip : "", sizeof(v->ip));
	/* Peer text is kept printable: it reaches headers, logs and JSON. */
	if (msg->helo != NULL)
		mp_printable_copy(v->helo_shown, sizeof(v->helo_shown), msg->helo,
		    strlen(msg->helo));
	if (msg->mail_from && strcmp(msg->mail_from, "<>") != 0)
		v->mail_from_whole = mp_printable_copy(v->mail_from_shown,
		    sizeof(v->mail_from_shown), msg->mail_from, strlen(msg->mail_from));

	for (size_t i = 0; i < msg->nheaders; i++)
		if (mp_strcasecmp(msg->headers[i].name, "Authentication-Results") == 0)
			collect_dkim(ev, &msg->headers[i], v);

	evaluate(ev, msg, &dl, v);

	if (msg->want_posture && mp_conf_bool(ev->conf, "policy", "posture") && v->from_domain[0]) {
		posture_of(ev, &dl, v->from_domain, &v->posture);
		v->has_posture = true;
	}

	write_authres(v);
	v->elapsed_ms = mp_now_ms() - start;
	return v;
}

void
mp_verdict_free(struct mp_verdict **vp)
{
	struct mp_verdict *v = *vp;

	if (v == NULL)
		return;
	mp_buf_free(&v->authres);
	mp_conf_unref(&v->conf);
	free(v);
	*vp = NULL;
}

const char *
mp_verdict_authres(const struct mp_verdict *v)
{
	return mp_buf_str(&v->authres);
}

const char *
mp_action_str(enum mp_action a)
{
	switch (a) {
	case MP_ACTION_QUARANTINE:
		return "quarantine";
	case MP_ACTION_REJECT:
		return "reject";
	case MP_ACTION_TEMPFAIL:
		return "tempfail";
	default:
		return "accept";
	}
}

static bool
setting_is(const struct mp_verdict *v, const char *name, const char *value)
{
	return strcmp(mp_conf_str(v->conf, "milter", name), value) == 0;
}

enum mp_action
mp_verdict_action(const struct mp_verdict *v, const char **smtp_reason_r)
{
	struct mp_verdict *mv = (struct mp_verdict *)v;	/* reply is a cache */
	const char *d = v->from_domain[0] ? v->from_domain : "the sender";

	if (v->problem == PROBLEM_NO_FROM && setting_is(v, "no_from", "reject")) {
		snprintf(mv->reply, sizeof(mv->reply), "550 5.7.1 Message rejected: %s",
		    v->problem_text);
		*smtp_reason_r = v->reply;
		return MP_ACTION_REJECT;
	}
	bool unusable = v->problem == PROBLEM_BAD_FROM || v->problem == PROBLEM_MULTI_UNKNOWN;

	if ((v->problem == PROBLEM_MULTI_FROM || unusable) &&
	    setting_is(v, "multiple_from", "reject")) {
		snprintf(mv->reply, sizeof(mv->reply), "550 5.7.1 Message rejected: %s",
		    v->problem_text);
		*smtp_reason_r = v->reply;
		return MP_ACTION_REJECT;
	}
	/*
	 * A From that is there but cannot be parsed must not be a way around
	 * DMARC: the reader's mail client may still show a forged address.
	 * "strictest" assumes the worst, a failure under p=reject. So does
	 * a From domain left unevaluated beside others: a forger's slow
	 * domain must not shield the one he forges.
	 */
	if (unusable) {
		if (setting_is(v, "dmarc_reject", "reject")) {
			snprintf(mv->reply, sizeof(mv->reply), "550 5.7.1 Message rejected: %s",
			    v->problem_text);
			*smtp_reason_r = v->reply;
			return MP_ACTION_REJECT;
		}
		if (setting_is(v, "dmarc_reject", "quarantine")) {
			*smtp_reason_r = v->problem_text;
			return MP_ACTION_QUARANTINE;
		}
	}
	/*
	 * A temporary DNS failure only matters when it could change the
	 * outcome: an SPF temperror is harmless when DMARC passed anyway,
	 * and when the SPF domain could not have aligned (then only the
	 * spf_fail setting could have used it).
	 */
	if ((v->dmarc_result == MP_DMARC_TEMPERROR ||
	    (v->spf.result == MP_SPF_TEMPERROR && v->dmarc_result != MP_DMARC_PASS &&
	    (v->spf_could_align || setting_is(v, "spf_fail", "reject")))) &&
	    setting_is(v, "temperror", "tempfail")) {
		snprintf(mv->reply, sizeof(mv->reply),
		    "451 4.7.5 Temporary DNS failure checking %s, try again later", d);
		*smtp_reason_r = v->reply;
		return MP_ACTION_TEMPFAIL;
	}
	if (v->dmarc_result == MP_DMARC_FAIL) {
		if (v->dmarc.disposition == MP_DMARC_P_REJECT) {
			if (setting_is(v, "dmarc_reject", "reject")) {
				snprintf(mv->reply, sizeof(mv->reply),
				    "550 5.7.1 Message rejected by the DMARC policy of %s",
				    v->dmarc.policy_domain[0] ? v->dmarc.policy_domain : d);
				*smtp_reason_r = v->reply;
				return MP_ACTION_REJECT;
			}
			if (setting_is(v, "dmarc_reject", "quarantine")) {
				*smtp_reason_r = "DMARC p=reject, quarantined by local setting";
				return MP_ACTION_QUARANTINE;
			}
		}
		if (v->dmarc.disposition == MP_DMARC_P_QUARANTINE &&
		    setting_is(v, "dmarc_quarantine", "quarantine")) {
			*smtp_reason_r = "DMARC p=quarantine";
			return MP_ACTION_QUARANTINE;
		}
	}
	if (v->spf.result == MP_SPF_FAIL && v->dmarc_result != MP_DMARC_PASS &&
	    setting_is(v, "spf_fail", "reject")) {
		snprintf(mv->reply, sizeof(mv->reply),
		    "550 5.7.23 SPF check failed for %s from %s", v->spf.domain[0] ?
		    v->spf.domain : d, v->ip);
		*smtp_reason_r = v->reply;
		return MP_ACTION_REJECT;
	}
	*smtp_reason_r = "accepted";
	return MP_ACTION_ACCEPT;
}

const struct mp_spf_outcome *
mp_verdict_spf(const struct mp_verdict *v)
{
	return &v->spf;
}

const struct mp_dmarc_outcome *
mp_verdict_dmarc(const struct mp_verdict *v)
{
	return &v->dmarc;
}

enum mp_dmarc_result
mp_verdict_dmarc_result(const struct mp_verdict *v)
{
	return v->dmarc_result;
}

const struct mp_posture *
mp_verdict_posture(const struct mp_verdict *v)
{
	return v->has_posture ? &v->posture : NULL;
}

const char *
mp_verdict_from_domain(const struct mp_verdict *v)
{
	return v->from_domain;
}

const char *
mp_verdict_problem(const struct mp_verdict *v)
{
	return v->problem_text;
}

unsigned long long
mp_verdict_elapsed_ms(const struct mp_verdict *v)
{
	return v->elapsed_ms;
}

void
mp_verdict_print(const struct mp_verdict *v, struct mp_buf *out)
{
	const char *reason;
	enum mp_action a = mp_verdict_action(v, &reason);
	const struct mp_dmarc_outcome *d = &v->dmarc;

	mp_buf_printf(out, "Client:        %s (HELO %s)\n", v->ip[0] ? v->ip : "-",
	    v->helo_shown[0] ? v->helo_shown : "-");
	mp_buf_printf(out, "MAIL FROM:     <%s>\n", v->mail_from_shown);
	mp_buf_printf(out, "From domain:   %s\n", v->from_domain[0] ? v->from_domain : "-");
	if (v->problem_text[0])
		mp_buf_printf(out, "Problem:       %s\n", v->problem_text);
	mp_buf_printf(out, "SPF:           %s (%s%s%s)\n", mp_spf_result_str(v->spf.result),
	    v->spf.identity[0] ? v->spf.identity : "-", v->spf.reason[0] ? ": " : "",
	    v->spf.reason);
	if (v->spf.explanation[0])
		mp_buf_printf(out, "SPF exp:       %s\n", v->spf.explanation);
	mp_buf_printf(out, "DMARC:         %s", mp_dmarc_result_str(v->dmarc_result));
	if (d->record_found)
		mp_buf_printf(out, " (policy %s from _dmarc.%s%s, disposition %s)",
		    mp_dmarc_policy_str(d->policy), d->policy_domain,
		    d->from_org ? ", organizational domain" : "",
		    mp_dmarc_policy_str(d->disposition));
	mp_buf_printf(out, "\n               %s\n", d->reason);
	if (d->record_found)
		mp_buf_printf(out, "DMARC record:  %s\n", d->record);
	mp_buf_printf(out, "Alignment:     SPF %s, DKIM %s\n",
	    d->spf_aligned ? "aligned" : "not aligned",
	    d->dkim_aligned ? "aligned" : v->ndkim ? "not aligned" : "no trusted DKIM result");
	mp_buf_printf(out, "Action:        %s (%s)\n", mp_action_str(a), reason);
	if (v->has_posture)
		mp_posture_print(&v->posture, out);
	mp_buf_printf(out, "Authentication-Results: %s\n", mp_verdict_authres(v));
	mp_buf_printf(out, "Time:          %llu ms\n", v->elapsed_ms);
}

char *
mp_verdict_json(const struct mp_verdict *v)
{
	const char *reason;
	enum mp_action a = mp_verdict_action(v, &reason);
	const struct mp_dmarc_outcome *d = &v->dmarc;
	json_t *root;
	char *s;

	root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, "
	    "s:{s:s, s:s, s:s, s:s, s:s, s:s}, "
	    "s:{s:s, s:s, s:s, s:s, s:b, s:s, s:s, s:b, s:b, s:s}, "
	    "s:{s:s, s:s}, s:s}",
	    "client_ip", v->ip, "helo", v->helo_shown, "mail_from", v->mail_from_shown,
	    "from_domain", v->from_domain, "problem", v->problem_text,
	    "elapsed_ms", (json_int_t)v->elapsed_ms,
	    "spf", "result", mp_spf_result_str(v->spf.result), "domain", v->spf.domain,
	    "dmarc_domain", v->spf.dmarc_domain, "identity", v->spf.identity, "reason", v->spf.reason,
	    "explanation", v->spf.explanation,
	    "dmarc", "result", mp_dmarc_result_str(v->dmarc_result),
	    "policy", mp_dmarc_policy_str(d->policy),
	    "disposition", mp_dmarc_policy_str(d->disposition),
	    "policy_domain", d->policy_domain, "from_org", d->from_org,
	    "org_domain", d->org_domain, "record", d->record,
	    "spf_aligned", d->spf_aligned, "dkim_aligned", d->dkim_aligned,
	    "reason", d->reason,
	    "action", "action", mp_action_str(a), "reason", reason,
	    "authentication_results", mp_verdict_authres(v));
	if (root == NULL)
		return xstrdup("{}");	/* only if a string was not UTF-8; they are printable */
	if (v->has_posture)
		json_object_set_new(root, "posture", mp_posture_json(&v->posture));
	s = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(root);
	return s ? s : xstrdup("{}");
}
