/*
 * ctx: connection and message state, and what the header callback keeps.
 *
 * No bound here lets a message through unevaluated: identities (HELO,
 * MAIL FROM) are kept whole or the message is refused; From fields have
 * their own budget, and one cut or not kept makes the From unusable
 * (from_incomplete), never a shorter From; A-R fields past max_headers
 * only lose trusted DKIM results (stricter); forged A-R positions are
 * kept one bit each up to MP_AR_TRACK_MAX, and past it the message is
 * tempfailed (milter_eom.c). DKIM is fed every header field and the
 * body and bounds itself (policy/dkim.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "ctx.h"
#include "lex5322.h"
#include "log.h"

struct conn *
conn_new(void)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	c->helo = xstrdup("");
	return c;
}

void
conn_free(struct conn **cp)
{
	struct conn *c = *cp;

	if (c == NULL)
		return;
	msg_free(&c->msg);
	free(c->helo);
	free(c);
	*cp = NULL;
}

void
conn_set_helo(struct conn *c, const char *helo)
{
	size_t n = helo ? strlen(helo) : 0;

	free(c->helo);
	/* A later, shorter HELO on the same connection counts afresh. */
	c->helo_too_long = n > MP_HELO_MAX;
	if (c->helo_too_long)
		n = 0;
	c->helo = xstrndup(helo ? helo : "", n);
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
	free(m->mail_from);
	free(m->forged_map);
	/* Before the engine: the verification uses its library handle. */
	mp_dkim_msg_free(&m->dkim);
	/* On the SMTP path: freeing a whole generation must not delay a reply. */
	mp_engine_release_async(&m->eng);
	free(m);
	*mp = NULL;
}

void
msg_set_mail_from(struct msg *m, const struct conn *c, const char *arg)
{
	const char *a = arg ? arg : "";
	size_t n = strlen(a);

	/* argv[0] is "<addr>"; the null sender is "<>". */
	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		a++;
		n -= 2;
	}
	free(m->mail_from);
	if (c->helo_too_long)
		m->refusal = MSG_HELO_TOO_LONG;
	if (n > MP_MAILFROM_MAX) {
		m->refusal = MSG_MAILFROM_TOO_LONG;
		n = 0;
	}
	m->mail_from = xstrndup(a, n);
	m->mail_from_len = n;
}

/* Notes the forged A-R at 1-based position pos (<= MP_AR_TRACK_MAX). */
static void
forged_mark(struct msg *m, unsigned pos)
{
	size_t byte = (pos - 1) / 8, len;

	if (byte >= m->forged_map_len) {
		/* Doubling: a flood of them costs O(n) copying in all. */
		len = m->forged_map_len ? m->forged_map_len : 64;
		while (len <= byte)
			len *= 2;
		m->forged_map = xrealloc(m->forged_map, len);
		memset(m->forged_map + m->forged_map_len, 0, len - m->forged_map_len);
		m->forged_map_len = len;
	}
	m->forged_map[byte] |= (unsigned char)(1u << ((pos - 1) % 8));
	m->forged_last = pos;
	m->nforged++;
}

bool
msg_each_forged(const struct msg *m, bool (*fn)(unsigned pos, void *arg), void *arg)
{
	for (unsigned pos = m->forged_last; pos > 0; pos--) {
		if ((m->forged_map[(pos - 1) / 8] & (1u << ((pos - 1) % 8))) == 0)
			continue;
		if (!fn(pos, arg))
			return false;
	}
	return true;
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
	is_from = mp_lex_field_is(name, "From");
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
	if (m->ar_seen <= MP_AR_TRACK_MAX)
		m->ar_seen++;
	{
		char id[256];

		if (mp_authres_servid(value, vlen, id, sizeof(id)) &&
		    mp_strcasecmp(id, m->eng->authserv_id) == 0) {
			/* Past the bound its position is unknown: eom tempfails. */
			if (m->ar_seen <= MP_AR_TRACK_MAX)
				forged_mark(m, m->ar_seen);
			else
				m->forged_overflow = true;
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

void
msg_dkim_start(struct msg *m)
{
	struct mp_dkim *d = mp_evaluator_dkim(m->eng->ev);

	if (d != NULL && m->dkim == NULL)
		m->dkim = mp_dkim_msg_new(d);
}

void
msg_dkim_header(struct msg *m, const char *name, const char *value, bool leadspc)
{
	char *spaced;

	if (m->dkim == NULL || m->dkim_eoh)
		return;
	if (leadspc) {
		mp_dkim_msg_header(m->dkim, name, value, strlen(value));
		return;
	}
	spaced = xasprintf(" %s", value);
	mp_dkim_msg_header(m->dkim, name, spaced, strlen(spaced));
	free(spaced);
}

void
msg_dkim_eoh(struct msg *m)
{
	if (m->dkim == NULL || m->dkim_eoh)
		return;
	m->dkim_eoh = true;
	mp_dkim_msg_eoh(m->dkim);
}

bool
msg_dkim_body(struct msg *m, const unsigned char *chunk, size_t len)
{
	/* An MTA that sent no end of header: it has ended all the same. */
	msg_dkim_eoh(m);
	if (m->dkim == NULL || !mp_dkim_msg_signed(m->dkim))
		return false;
	mp_dkim_msg_body(m->dkim, chunk, len);
	return true;
}
