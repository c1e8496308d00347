/*
 * dmarc_walk: the RFC 9989 DNS Tree Walk. One message may need several
 * walks (the policy of each From domain, the Organizational Domain of
 * each identifier that could align with it); they share most names, so
 * every _dmarc lookup goes through a per-message memo and no name is
 * asked twice in a message. The resolver's cache serves repeats across
 * messages.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarc_int.h"

size_t
mp_dmarc_labels(const char *name)
{
	size_t n = 1;

	for (const char *p = name; *p != '\0'; p++)
		n += *p == '.';
	return n;
}

/* The name of the last keep labels of name (keep >= 1). */
static const char *
last_labels(const char *name, size_t keep)
{
	size_t n = mp_dmarc_labels(name);
	const char *p = name;

	while (n > keep && (p = strchr(p, '.')) != NULL) {
		p++;
		n--;
	}
	return p != NULL ? p : name;
}

bool
mp_dmarc_walk_next(const char *cur, char next_r[MP_DOMAIN_MAX])
{
	size_t x = mp_dmarc_labels(cur);

	next_r[0] = '\0';
	if (x <= 1)
		return false;
	/* RFC 9989 4.10 step 4: from 8 labels or more, straight to 7, so
	 * that no walk makes more than 8 queries. */
	return mp_strlcpy(next_r, last_labels(cur, x >= 8 ? 7 : x - 1), MP_DOMAIN_MAX);
}

struct mp_dmarc_msg *
mp_dmarc_msg_new(struct mp_dmarc *d)
{
	struct mp_dmarc_msg *m = xcalloc(1, sizeof(*m));

	m->d = d;
	return m;
}

void
mp_dmarc_msg_free(struct mp_dmarc_msg **mp)
{
	if (mp == NULL || *mp == NULL)
		return;
	for (size_t i = 0; i < (*mp)->nseen; i++)
		free((*mp)->seen[i]);
	free(*mp);
	*mp = NULL;
}

unsigned
mp_dmarc_msg_queries(const struct mp_dmarc_msg *m)
{
	return m != NULL ? m->queries : 0;
}

const char *
mp_dmarc_msg_trace(const struct mp_dmarc_msg *m, size_t i)
{
	return m != NULL && i < m->ntrace ? m->trace[i] : NULL;
}

static void
trace(struct mp_dmarc_msg *m, const char *what, const char *name)
{
	m->queries++;
	if (m->ntrace < MP_DMARC_TRACE_MAX)
		snprintf(m->trace[m->ntrace++], sizeof(m->trace[0]), "%s%s", what, name);
}

struct mp_dns_result *
mp_dmarc_query(struct mp_dmarc_msg *m, const struct mp_deadline *deadline, const char *name,
    enum mp_dns_type type)
{
	trace(m, type == MP_DNS_A ? "A " : type == MP_DNS_CNAME ? "CNAME " : "? ", name);
	return mp_dns_query(m->d->dns, deadline, name, type);
}

/* Fills s from the TXT answer at _dmarc.<s->name>: only strings that
 * start with a valid v=DMARC1 count (RFC 9989 4.10 step 2). */
static void
read_answer(const struct mp_dns_result *res, struct mp_dmarc_seen *s)
{
	const struct mp_dns_rr *first = NULL;

	for (size_t i = 0; res->status == MP_DNS_OK && i < res->count; i++) {
		const struct mp_dns_rr *rr = &res->rr[i];

		if (rr->type != MP_DNS_TXT || !mp_dmarc_is_record(rr->text, rr->text_len))
			continue;
		if (s->count++ == 0)
			first = rr;
	}
	s->psd = 'u';
	if (s->count == 0) {
		s->f = MP_DMARC_FETCH_NONE;
		return;
	}
	if (s->count > 1) {
		s->f = MP_DMARC_FETCH_MANY;
		return;
	}
	s->f = MP_DMARC_FETCH_ONE;
	mp_printable_copy(s->text, sizeof(s->text), first->text, first->text_len);
	s->valid = mp_dmarc_record_parse(first->text, first->text_len, &s->rec, s->why,
	    sizeof(s->why));
	/* The walk reads psd off the one record even when its p is broken:
	 * the tag is there either way, and the parser keeps it. */
	s->psd = s->rec.psd == 'y' || s->rec.psd == 'n' ? s->rec.psd : 'u';
}

static void
lookup(struct mp_dmarc_msg *m, const struct mp_deadline *deadline, struct mp_dmarc_seen *s)
{
	char qname[MP_DNS_NAME_MAX + 1];
	struct mp_dns_result *res;

	if ((size_t)snprintf(qname, sizeof(qname), "_dmarc.%s", s->name) >= sizeof(qname) ||
	    strlen(qname) > 253) {
		/* Such a name cannot exist in the DNS: nothing to ask. */
		s->status = MP_DNS_NXDOMAIN;
		s->f = MP_DMARC_FETCH_NONE;
		s->psd = 'u';
		return;
	}
	trace(m, "", qname);
	res = mp_dns_query(m->d->dns, deadline, qname, MP_DNS_TXT);
	s->status = res->status;
	if (mp_dns_status_is_temp(res->status)) {
		s->f = MP_DMARC_FETCH_TEMP;
		mp_setf(s->why, sizeof(s->why), "%s%s%s", mp_dns_status_str(res->status),
		    res->why ? ": " : "", res->why ? res->why : "");
	} else
		read_answer(res, s);
	mp_dns_result_free(&res);
}

const struct mp_dmarc_seen *
mp_dmarc_fetch(struct mp_dmarc_msg *m, const struct mp_deadline *deadline, const char *name)
{
	static const struct mp_dmarc_seen full = {
		.f = MP_DMARC_FETCH_TEMP, .status = MP_DNS_SERVFAIL, .psd = 'u',
		.why = "too many DMARC lookups for one message", .overflow = true,
	};
	struct mp_dmarc_seen *s;

	for (size_t i = 0; i < m->nseen; i++)
		if (strcmp(m->seen[i]->name, name) == 0)
			return m->seen[i];
	/* Only a message with a crowd of From domains and identifiers gets
	 * here: what it still asks for fails as a DNS failure would, so the
	 * domains past the bound are never taken for having no policy. */
	if (m->nseen == MP_DMARC_MEMO_MAX)
		return &full;
	s = m->seen[m->nseen++] = xcalloc(1, sizeof(*s));
	if (!mp_strlcpy(s->name, name, sizeof(s->name)))
		s->name[0] = '\0';
	lookup(m, deadline, s);
	return s;
}

size_t
mp_dmarc_walk(struct mp_dmarc_msg *m, const struct mp_deadline *deadline, const char *start,
    const struct mp_dmarc_seen *seq_r[MP_DMARC_WALK_MAX], bool *failed_r)
{
	char cur[MP_DOMAIN_MAX], next[MP_DOMAIN_MAX];
	size_t n = 0;

	*failed_r = false;
	if (!mp_strlcpy(cur, start, sizeof(cur)))
		return 0;
	for (;;) {
		const struct mp_dmarc_seen *s = mp_dmarc_fetch(m, deadline, cur);

		seq_r[n++] = s;
		if (s->f == MP_DMARC_FETCH_TEMP) {
			*failed_r = true;
			break;
		}
		if (s->f == MP_DMARC_FETCH_ONE && s->psd != 'u')
			break;
		if (n == MP_DMARC_WALK_MAX || !mp_dmarc_walk_next(cur, next))
			break;
		memcpy(cur, next, sizeof(cur));
	}
	return n;
}

void
mp_dmarc_walk_org(const char *start, const struct mp_dmarc_seen *const *seq, size_t n,
    char org_r[MP_DOMAIN_MAX])
{
	const char *shortest = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct mp_dmarc_seen *s = seq[i];

		if (s->f != MP_DMARC_FETCH_ONE || !s->valid)
			continue;
		if (s->psd == 'n') {
			mp_strlcpy(org_r, s->name, MP_DOMAIN_MAX);
			return;
		}
		if (s->psd == 'y' && i > 0) {
			/* One label below the PSD, on the way to start. */
			mp_strlcpy(org_r, last_labels(start, mp_dmarc_labels(s->name) + 1),
			    MP_DOMAIN_MAX);
			return;
		}
		shortest = s->name;
	}
	mp_strlcpy(org_r, shortest != NULL ? shortest : start, MP_DOMAIN_MAX);
}
