/*
 * spf_inspect: what a domain publishes, without a client IP, for posture
 * and the audit: the record, its "all", and the lookups its includes and
 * redirect would cost.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "spf_int.h"


struct walk {
	struct mp_dns *dns;
	const struct mp_deadline *deadline;
	struct mp_spf_inspection *out;
	bool decided;
};

static void
walk_decide(struct walk *w, enum mp_spf_result status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
walk_decide(struct walk *w, enum mp_spf_result status, const char *fmt, ...)
{
	va_list ap;
	char buf[256];

	if (w->decided)
		return;
	w->decided = true;
	w->out->status = status;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	spf_set_text(w->out->problem, sizeof(w->out->problem), buf);
}

/* The literal domain of a term (no macros), or false. */
static bool
literal_target(const struct term *t, const char *cur, char out[SPF_NAME_MAX + 1])
{
	const char *a = t->arg;
	size_t n = t->arg_len, dlen;
	int c4, c6;
	char buf[SPF_NAME_MAX + 2];

	if (t->modifier) {
		/* redirect=domain */
	} else if (name_is(t, "a") || name_is(t, "mx")) {
		if (!spf_split_dual_cidr(a, n, &dlen, &c4, &c6, &(const char *){ NULL }))
			return false;
		if (dlen == 0)
			return mp_strlcpy(out, cur, SPF_NAME_MAX + 1);
		a++;
		n = dlen - 1;
	} else {
		if (n == 0 || a[0] != ':')
			return false;
		a++;
		n--;
	}
	if (n == 0 || n >= sizeof(buf) || memchr(a, '%', n) != NULL)
		return false;
	memcpy(buf, a, n);
	buf[n] = '\0';
	return spf_query_name_ok(buf, out);
}

static void walk_record(struct walk *w, const char *domain, const char *text, int depth, bool chain);

static void
walk_target(struct walk *w, const char *target, int depth, bool chain, const char *what)
{
	struct fetched f;

	if (depth >= SPF_MAX_DEPTH) {
		walk_decide(w, MP_SPF_PERMERROR, "includes and redirects nested too deep");
		return;
	}
	spf_fetch_record(w->dns, w->deadline, target, &f);
	switch (f.status) {
	case FETCH_OK:
		walk_record(w, target, f.text, depth + 1, chain);
		break;
	case FETCH_NONE:
		if (f.void_lookup)
			w->out->void_lookups++;
		walk_decide(w, MP_SPF_PERMERROR, "%s target without an SPF record (%s)", what, f.why);
		break;
	case FETCH_PERM:
		walk_decide(w, MP_SPF_PERMERROR, "%s", f.why);
		break;
	case FETCH_TEMP:
		walk_decide(w, MP_SPF_TEMPERROR, "%s", f.why);
		break;
	}
	spf_fetched_clear(&f);
}

/* Counts a lookup that found nothing (A and AAAA for a, MX for mx, A for exists). */
static void
walk_void_probe(struct walk *w, const char *name, bool mx, bool both)
{
	struct mp_dns_result *res = NULL;
	enum mp_dns_status st;
	bool empty = true, temp = false;

	st = spf_dns_query(w->dns, w->deadline, name, mx ? MP_DNS_MX : MP_DNS_A, &res);
	mp_dns_result_free(&res);
	if (st == MP_DNS_OK)
		empty = false;
	else if (mp_dns_status_is_temp(st))
		temp = true;
	if (empty && !temp && both) {
		st = spf_dns_query(w->dns, w->deadline, name, MP_DNS_AAAA, &res);
		mp_dns_result_free(&res);
		if (st == MP_DNS_OK)
			empty = false;
		else if (mp_dns_status_is_temp(st))
			temp = true;
	}
	if (temp) {
		walk_decide(w, MP_SPF_TEMPERROR, "DNS error looking up %s", name);
		return;
	}
	if (empty && ++w->out->void_lookups > SPF_MAX_VOID)
		walk_decide(w, MP_SPF_PERMERROR, "more than %d void lookups (the 3rd: %s)",
		    SPF_MAX_VOID, name);
}

static void
walk_record(struct walk *w, const char *domain, const char *text, int depth, bool chain)
{
	char redirect[SPF_NAME_MAX + 1] = "", target[SPF_NAME_MAX + 1];
	bool has_all = false, has_redirect = false, redirect_literal = false;
	struct term_iter it;
	struct term t;

	spf_terms_init(&it, text, strlen(text));
	while (!w->decided && spf_term_next(&it, &t)) {
		if (t.modifier) {
			if (name_is(&t, "redirect")) {
				has_redirect = true;
				redirect_literal = literal_target(&t, domain, redirect);
			}
			continue;
		}
		if (name_is(&t, "all")) {
			has_all = true;
			if (chain)
				w->out->all_qualifier = t.qual;
			continue;
		}
		if (!spf_term_is_dns(&t))
			continue;
		if (++w->out->lookups > SPF_MAX_TERMS) {
			walk_decide(w, MP_SPF_PERMERROR, "more than %d DNS-querying terms", SPF_MAX_TERMS);
			return;
		}
		if (!literal_target(&t, domain, target))
			continue;
		if (name_is(&t, "include"))
			walk_target(w, target, depth, false, "include");
		else if (name_is(&t, "a"))
			walk_void_probe(w, target, false, true);
		else if (name_is(&t, "mx"))
			walk_void_probe(w, target, true, false);
		else if (name_is(&t, "exists"))
			walk_void_probe(w, target, false, false);
	}
	/* RFC 7208 6.1: redirect is ignored when the record has "all". */
	if (w->decided || has_all || !has_redirect)
		return;
	if (++w->out->lookups > SPF_MAX_TERMS) {
		walk_decide(w, MP_SPF_PERMERROR, "more than %d DNS-querying terms", SPF_MAX_TERMS);
		return;
	}
	if (redirect_literal)
		walk_target(w, redirect, depth, chain, "redirect");
}

void
mp_spf_inspect(struct mp_spf *spf, const struct mp_deadline *deadline,
    const char *domain, struct mp_spf_inspection *out)
{
	struct walk w;
	struct fetched f;
	struct term_iter it;
	struct term t;
	char name[SPF_NAME_MAX + 1];
	const char *why;

	memset(out, 0, sizeof(*out));
	out->status = MP_SPF_NONE;
	if (domain == NULL || !spf_identity_domain_ok(domain, name, &why)) {
		spf_set_text(out->problem, sizeof(out->problem), "not a valid domain name");
		return;
	}
	if (mp_deadline_expired(deadline)) {
		out->status = MP_SPF_TEMPERROR;
		spf_set_text(out->problem, sizeof(out->problem), "deadline passed");
		return;
	}
	spf_fetch_record(spf->dns, deadline, name, &f);
	out->nrecords = f.nrecords;
	out->record_len = f.len;
	mp_strlcpy(out->record, f.shown, sizeof(out->record));
	switch (f.status) {
	case FETCH_NONE:
		out->status = MP_SPF_NONE;
		spf_fetched_clear(&f);
		return;
	case FETCH_TEMP:
		out->status = MP_SPF_TEMPERROR;
		spf_set_text(out->problem, sizeof(out->problem), f.why);
		return;
	case FETCH_PERM:
		out->status = MP_SPF_PERMERROR;
		spf_set_text(out->problem, sizeof(out->problem), f.why);
		/* still report what a single invalid record says */
		return;
	case FETCH_OK:
		break;
	}
	out->status = MP_SPF_PASS;
	spf_terms_init(&it, f.text, f.len);
	while (spf_term_next(&it, &t))
		if (t.modifier && name_is(&t, "redirect"))
			out->has_redirect = true;
	memset(&w, 0, sizeof(w));
	w.dns = spf->dns;
	w.deadline = deadline;
	w.out = out;
	walk_record(&w, name, f.text, 0, true);
	spf_fetched_clear(&f);
}
