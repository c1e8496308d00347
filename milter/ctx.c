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
	mp_engine_release(&m->eng);
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

	if (is_ar) {
		char id[256];

		/* Every A-R field counts for the position, kept or not. */
		m->ar_seen++;
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

	cost = nlen + vlen + 2;
	fits = m->nhdr < m->eng->max_headers && cost <= m->eng->max_header_bytes &&
	    m->kept_bytes <= m->eng->max_header_bytes - cost;
	if (fits) {
		keep(m, name, value, vlen);
		m->kept_bytes += cost;
		return;
	}
	if (is_ar) {
		/* Only DKIM results from trusted hosts are lost: DMARC can then
		 * only be stricter, never more lenient. */
		m->ar_overflow++;
		return;
	}
	/*
	 * A From field past the cap cannot just be dropped: a forger would
	 * hide his real From behind padding. Keep the first few, cut, so the
	 * evaluator sees that there is more than one From (or a broken one)
	 * and applies multiple_from or no_from.
	 */
	m->from_overflow++;
	if (m->from_overflow <= MP_FROM_OVERFLOW_KEEP)
		keep(m, name, value, vlen < MP_FROM_OVERFLOW_LEN ? vlen : MP_FROM_OVERFLOW_LEN);
}
