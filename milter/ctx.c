#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "ctx.h"
#include "log.h"

/* Forged A-R fields tracked for deletion; past this, the message is
 * handled as an internal error rather than let one through. */
#define MP_FORGED_MAX 1000

struct conn *
conn_new(void)
{
	return xcalloc(1, sizeof(struct conn));
}

void
conn_free(struct conn **cp)
{
	struct conn *c = *cp;

	if (c == NULL)
		return;
	msg_free(&c->msg);
	free(c);
	*cp = NULL;
}

struct msg *
msg_start(struct conn *c)
{
	struct msg *m;
	struct mp_engine *e;

	msg_free(&c->msg);
	e = mp_engine_acquire();
	if (e == NULL)
		return NULL;
	m = xcalloc(1, sizeof(*m));
	m->eng = e;
	c->msg = m;
	c->nmsg++;
	return m;
}

void
msg_free(struct msg **mp)
{
	struct msg *m = *mp;

	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nhdr; i++) {
		free((char *)m->hdr[i].name);
		free((char *)m->hdr[i].value);
	}
	free(m->hdr);
	free(m->forged);
	/* On the SMTP path: freeing a whole generation must not delay a reply. */
	mp_engine_release_async(&m->eng);
	free(m);
	*mp = NULL;
}

static void
keep(struct msg *m, const char *name, const char *value, size_t len)
{
	m->hdr = xreallocarray(m->hdr, m->nhdr + 1, sizeof(*m->hdr));
	m->hdr[m->nhdr].name = xstrdup(name);
	m->hdr[m->nhdr].value = xstrndup(value, len);
	m->hdr[m->nhdr].value_len = len;
	m->nhdr++;
}

void
msg_add_header(struct msg *m, const char *name, const char *value)
{
	size_t vlen = strlen(value), nlen = strlen(name), cost;
	bool is_from, is_ar, fits;

	m->nseen++;
	m->bytes_seen += nlen + vlen + 2;
	is_from = mp_strcasecmp(name, "From") == 0;
	is_ar = mp_strcasecmp(name, "Authentication-Results") == 0;
	if (!is_from && !is_ar)
		return;

	if (is_from) {
		/*
		 * Never dropped for the sake of other headers: a forger would
		 * hide his real From behind padding, and a long display name
		 * cut short would read as a broken From and skip DMARC. A value
		 * past MP_FROM_KEEP_LEN is refused by the parser all the same.
		 */
		size_t cap;

		m->nfrom++;
		if (m->skipped)
			return;
		if (m->nfrom > MP_FROM_KEEP) {
			m->from_overflow++;
			return;
		}
		cap = m->nfrom <= MP_FROM_KEEP_WHOLE ? MP_FROM_KEEP_LEN : MP_FROM_EXTRA_LEN;
		if (vlen > cap) {
			m->from_cut++;
			vlen = cap;
		}
		keep(m, name, value, vlen);
		return;
	}

	/* Every A-R field counts for the position, kept or not. */
	m->ar_seen++;
	{
		char id[256];

		if (mp_authres_servid(value, vlen, id, sizeof(id)) &&
		    mp_strcasecmp(id, m->eng->authserv_id) == 0) {
			if (m->nforged < MP_FORGED_MAX) {
				m->forged = xreallocarray(m->forged, m->nforged + 1,
				    sizeof(*m->forged));
				m->forged[m->nforged++] = m->ar_seen;
			} else {
				m->forged_overflow = true;
			}
			/* Never hand our own forged results to the evaluator. */
			return;
		}
	}
	if (m->skipped)
		return;

	cost = nlen + vlen + 2;
	fits = m->nar_kept < m->eng->max_headers && cost <= m->eng->max_header_bytes &&
	    m->kept_bytes <= m->eng->max_header_bytes - cost;
	if (fits) {
		keep(m, name, value, vlen);
		m->nar_kept++;
		m->kept_bytes += cost;
		return;
	}
	/* Only DKIM results from trusted hosts are lost: DMARC can then only
	 * be stricter, never more lenient. */
	m->ar_overflow++;
}
