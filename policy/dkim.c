/*
 * dkim: a message's DKIM verification over libopendkim (see dkim.h and,
 * for the parts, dkim_int.h).
 *
 * The header. Fields other than DKIM-Signature go to libopendkim as they
 * come; DKIM-Signature fields are held (within the header budget) until
 * the end of the header, when the ones to verify are chosen: at most
 * [dkim] max_signatures, those whose d= aligns with the From domain
 * first. Only those reach libopendkim, which hashes the header section
 * once per signature it is given and the body once per distinct
 * canonicalization and l=: given a thousand signatures, it would do a
 * thousand times the work. libopendkim keeps the order of fields of one
 * name, the only order h= depends on, so the chosen signatures may come
 * after the other fields. Their keys are prefetched then.
 *
 * The body is counted (dkim_body.c) and fed to libopendkim in bounded
 * chunks until no signature needs more of it. The end: libopendkim
 * verifies (DKIM_LIBFLAGS_DELAYSIGPROC puts the key lookups there, under
 * the message's deadline, and not at the end of the header) and
 * dkim_judge.c says what each signature's result is.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <opendkim/dkim.h>

#include "dkim_int.h"
#include "from.h"
#include "lex5322.h"
#include "log.h"

#define DK_CHUNK (64 * 1024)    /* body bytes handed to libopendkim at once */

const char *
mp_dkim_result_str(enum mp_dkim_result r)
{
	switch (r) {
	case MP_DKIM_NONE:
		return "none";
	case MP_DKIM_PASS:
		return "pass";
	case MP_DKIM_FAIL:
		return "fail";
	case MP_DKIM_POLICY:
		return "policy";
	case MP_DKIM_NEUTRAL:
		return "neutral";
	case MP_DKIM_TEMPERROR:
		return "temperror";
	case MP_DKIM_PERMERROR:
		return "permerror";
	}
	return "permerror";
}

static unsigned
clamp_max(long n)
{
	return n < 1 ? 1 : n > MP_DKIM_MAX ? MP_DKIM_MAX : (unsigned)n;
}

void
mp_dkim_options_from_conf(const struct mp_conf *c, struct mp_dkim_options *o)
{
	const char *bl = mp_conf_str(c, "dkim", "body_length");

	memset(o, 0, sizeof(*o));
	o->verify = mp_conf_bool(c, "dkim", "verify");
	o->max_signatures = clamp_max(mp_conf_int(c, "dkim", "max_signatures"));
	o->body_length_pass = bl != NULL && strcmp(bl, "pass") == 0;
}

struct mp_dkim *
mp_dkim_new(struct mp_dns *dns, const struct mp_dkim_options *o, char *err, size_t errlen)
{
	struct mp_dkim *d;
	unsigned flags = DKIM_LIBFLAGS_FIXCRLF | DKIM_LIBFLAGS_DELAYSIGPROC |
	    DKIM_LIBFLAGS_BADSIGHANDLES;
	unsigned bits = DK_RSA_MIN_BITS;

	mp_setf(err, errlen, "%s", "");
	if (dns == NULL || o == NULL) {
		mp_setf(err, errlen, "no resolver or no options");
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->dns = dns;
	d->opt = *o;
	d->opt.max_signatures = clamp_max(o->max_signatures);
	if ((d->lib = dkim_init(NULL, NULL)) == NULL) {
		mp_setf(err, errlen, "libopendkim did not start (dkim_init)");
		free(d);
		return NULL;
	}
	/* Bare LF as CRLF; keys at the end of the message, not of the
	 * header; every signature field in the list, bad ones too, so that
	 * its place is the one we fed it at. */
	if (dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) !=
	    DKIM_STAT_OK || dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &bits,
	    sizeof(bits)) != DKIM_STAT_OK || dkim_set_key_lookup(d->lib, dk_key_lookup) !=
	    DKIM_STAT_OK) {
		mp_setf(err, errlen, "libopendkim refused its options");
		dkim_close(d->lib);
		free(d);
		return NULL;
	}
	d->ed25519 = dkim_libfeature(d->lib, DKIM_FEATURE_ED25519);
	return d;
}

void
mp_dkim_free(struct mp_dkim **dp)
{
	struct mp_dkim *d;

	if (dp == NULL || (d = *dp) == NULL)
		return;
	*dp = NULL;
	dkim_close(d->lib);
	free(d);
}

bool
mp_dkim_has_ed25519(const struct mp_dkim *d)
{
	return d != NULL && d->ed25519;
}

struct mp_dkim_msg *
mp_dkim_msg_new(struct mp_dkim *d)
{
	struct mp_dkim_msg *m = xcalloc(1, sizeof(*m));

	m->d = d;
	return m;
}

void
mp_dkim_msg_free(struct mp_dkim_msg **mp)
{
	struct mp_dkim_msg *m;

	if (mp == NULL || (m = *mp) == NULL)
		return;
	*mp = NULL;
	if (m->h != NULL)
		dkim_free(m->h);
	mp_buf_free(&m->sigtext);
	mp_buf_free(&m->from);
	mp_buf_free(&m->scratch);
	free(m);
}

/* libopendkim's handle for the message, made at the first field. */
static DKIM *
handle(struct mp_dkim_msg *m)
{
	DKIM_STAT st;

	if (m->h == NULL && m->lib_error == NULL) {
		if (m->d == NULL || m->d->lib == NULL)
			m->lib_error = "not verified: no verifier";
		else if ((m->h = dkim_verify(m->d->lib, (const unsigned char *)"mailposture",
		    NULL, &st)) == NULL)
			m->lib_error = "not verified: libopendkim did not start";
		else
			dkim_set_user_context(m->h, m);
	}
	return m->h;
}

/*
 * value[0..len) as libopendkim wants it after the name: CRLF line ends
 * (its own FIXCRLF copy would keep the length we pass, and simple
 * canonicalization would then hash a cut field), nothing from a NUL on,
 * no line end at the end.
 */
static void
put_value(struct mp_buf *b, const char *value, size_t len)
{
	const char *nul = memchr(value, '\0', len);

	if (nul != NULL)
		len = (size_t)(nul - value);
	while (len > 0 && (value[len - 1] == '\n' || value[len - 1] == '\r'))
		len--;
	for (size_t i = 0; i < len; i++) {
		if ((value[i] == '\n' && (i == 0 || value[i - 1] != '\r')) ||
		    (value[i] == '\r' && (i + 1 == len || value[i + 1] != '\n')))
			mp_buf_append(b, "\r\n", 2);
		else
			mp_buf_putc(b, value[i]);
	}
}

/* A DKIM-Signature field, kept whole as [length][name:value] until the end of the header. */
static void
keep_signature(struct mp_dkim_msg *m)
{
	uint32_t n = (uint32_t)m->scratch.len;

	mp_buf_append(&m->sigtext, &n, sizeof(n));
	mp_buf_append(&m->sigtext, m->scratch.data, m->scratch.len);
}

static void
overflow(struct mp_dkim_msg *m, const char *why)
{
	m->overflow = why;
	if (m->h != NULL) {
		dkim_free(m->h);
		m->h = NULL;
	}
}

void
mp_dkim_msg_header(struct mp_dkim_msg *m, const char *name, const char *value, size_t len)
{
	bool sig;

	if (m == NULL || m->state != DK_HEADERS || name == NULL || (value == NULL && len > 0))
		return;
	sig = mp_lex_field_is(name, "DKIM-Signature");
	if (sig)
		m->nsigfields++;
	if (m->overflow != NULL)
		return;
	m->header_bytes += strlen(name) + 1 + len;
	if (m->header_bytes > MP_DKIM_HEADER_BYTES) {
		overflow(m, "header section over 1048576 bytes: not verified");
		return;
	}
	if (!sig && ++m->nfields > MP_DKIM_HEADER_FIELDS) {
		overflow(m, "over 1000 header fields: not verified");
		return;
	}
	mp_buf_reset(&m->scratch);
	mp_buf_puts(&m->scratch, name);
	mp_buf_putc(&m->scratch, ':');
	put_value(&m->scratch, value != NULL ? value : "", len);
	if (sig) {
		keep_signature(m);
		return;
	}
	if (mp_lex_field_is(name, "From") && m->nfrom++ == 0)
		mp_buf_append(&m->from, m->scratch.data + strlen(name) + 1,
		    m->scratch.len - strlen(name) - 1);
	if (handle(m) != NULL)
		(void)dkim_header(m->h, (u_char *)m->scratch.data, m->scratch.len);
}

/* The next kept DKIM-Signature field, whole in *f and its value in *v. */
static bool
next_signature(const struct mp_buf *b, size_t *off, const char **f, size_t *fn,
    const char **v, size_t *vn)
{
	uint32_t n;
	const char *colon;

	if (*off + sizeof(n) > b->len)
		return false;
	memcpy(&n, b->data + *off, sizeof(n));
	*f = b->data + *off + sizeof(n);
	*fn = n;
	*off += sizeof(n) + n;
	colon = memchr(*f, ':', *fn);
	*v = colon + 1;
	*vn = *fn - (size_t)(*v - *f);
	return true;
}

/* The From domains, for the order of signatures; 0 when unknown. */
static size_t
from_domains(const struct mp_dkim_msg *m, struct mp_from *f, const char *ds[MP_FROM_MAX_ADDRS])
{
	const char *why;

	if (m->nfrom != 1 || !mp_from_parse(mp_buf_str(&m->from), m->from.len, f, &why))
		return 0;
	return mp_from_domains(f, ds);
}

enum { RANK_ALIGNED, RANK_OTHER, RANK_UNREADABLE, PICKED = 0x10, REPORTED = 0x20 };

/* The last two labels of a name (all of it when it has fewer). */
static const char *
last_two(const char *name)
{
	const char *p = name + strlen(name), *cut = name;
	int dots = 0;

	while (p > name)
		if (*--p == '.' && ++dots == 2) {
			cut = p + 1;
			break;
		}
	return cut;
}

/*
 * Whether d= may align with a From domain, without a query: the same
 * last two labels. Only the order of verification depends on it (the
 * DMARC module decides alignment by the RFC 9989 walk), so a guess
 * that is sometimes too generous costs at most one slot.
 */
static bool
may_align(const char *d, const char *from)
{
	return mp_strcasecmp(last_two(d), last_two(from)) == 0;
}

/* The rank of every kept signature (0 first), into mark[]. */
static void
rank_signatures(const struct mp_dkim_msg *m, unsigned char *mark)
{
	struct mp_from *from = xmalloc(sizeof(*from));
	const char *ds[MP_FROM_MAX_ADDRS], *f, *v;
	size_t nd = from_domains(m, from, ds), off = 0, fn, vn;
	struct mp_dkim_sig sig;
	struct dk_sigtags t;

	for (unsigned i = 0; next_signature(&m->sigtext, &off, &f, &fn, &v, &vn); i++) {
		dk_sigtags_parse(v, vn, m->d != NULL && m->d->ed25519, &sig, &t);
		mark[i] = t.error[0] != '\0' ? RANK_UNREADABLE : RANK_OTHER;
		for (size_t j = 0; j < nd && mark[i] == RANK_OTHER; j++)
			if (sig.domain[0] != '\0' && may_align(sig.domain, ds[j]))
				mark[i] = RANK_ALIGNED;
	}
	free(from);
}

/* Which to verify (PICKED) and which else to report (REPORTED), in mark[]. */
static void
choose(const struct mp_dkim_msg *m, unsigned char *mark, unsigned n)
{
	unsigned want = m->d != NULL ? m->d->opt.max_signatures : 1, picked = 0, room;

	rank_signatures(m, mark);
	for (unsigned r = RANK_ALIGNED; r <= RANK_UNREADABLE; r++)
		for (unsigned i = 0; i < n && picked < want; i++)
			if (mark[i] == r) {
				mark[i] |= PICKED;
				picked++;
			}
	room = MP_DKIM_MAX - picked;
	for (unsigned i = 0; i < n && room > 0; i++)
		if ((mark[i] & PICKED) == 0) {
			mark[i] |= REPORTED;
			room--;
		}
}

/* A slot for a reported field; a picked one also goes to libopendkim. */
static void
add_slot(struct mp_dkim_msg *m, const char *f, size_t fn, const char *v, size_t vn, bool picked)
{
	struct dk_slot *s = &m->slot[m->nslot++];

	dk_sigtags_parse(v, vn, m->d != NULL && m->d->ed25519, &s->out, &s->tags);
	s->out.checked = picked;
	if (!picked) {
		mp_strlcpy(s->out.reason, "not checked: over [dkim] max_signatures",
		    sizeof(s->out.reason));
		return;
	}
	m->nchecked++;
	if (s->tags.error[0] == '\0' && s->tags.body_relaxed)
		m->any_relaxed = true;
	mp_buf_reset(&m->scratch);
	mp_buf_append(&m->scratch, f, fn);
	if (handle(m) != NULL &&
	    dkim_header(m->h, (u_char *)m->scratch.data, m->scratch.len) == DKIM_STAT_SYNTAX)
		s->refused = true;
}

/* Each checked slot gets its place in libopendkim's list of signatures. */
static void
map_signatures(struct mp_dkim_msg *m)
{
	DKIM_SIGINFO **sigs;
	int n;

	if (m->h == NULL || m->lib_error != NULL)
		return;
	if (dkim_eoh(m->h) != DKIM_STAT_OK) {
		m->lib_error = "not verified: libopendkim refused the header section";
		return;
	}
	if (dkim_getsiglist(m->h, &sigs, &n) != DKIM_STAT_OK || n < 0 ||
	    (unsigned)n != m->nchecked) {
		m->lib_error = "not verified: libopendkim read another number of signatures";
		return;
	}
	for (size_t i = 0, j = 0; i < m->nslot; i++) {
		struct dk_slot *s = &m->slot[i];

		if (!s->out.checked)
			continue;
		s->sig = sigs[j++];
		/* Already neutral: no key lookup, no verification. */
		if (s->tags.error[0] != '\0')
			dkim_sig_ignore(s->sig);
	}
}

/* The header section was not read: every field reported is permerror. */
static void
report_overflow(struct mp_dkim_msg *m)
{
	const char *f, *v;
	size_t off = 0, fn, vn;

	while (m->nslot < MP_DKIM_MAX && m->nslot < m->nsigfields) {
		struct dk_slot *s = &m->slot[m->nslot++];

		if (next_signature(&m->sigtext, &off, &f, &fn, &v, &vn))
			dk_sigtags_parse(v, vn, m->d != NULL && m->d->ed25519, &s->out, &s->tags);
		s->out.checked = true;
		s->out.result = MP_DKIM_PERMERROR;
		mp_strlcpy(s->out.reason, m->overflow, sizeof(s->out.reason));
	}
}

void
mp_dkim_msg_eoh(struct mp_dkim_msg *m)
{
	const char *f, *v;
	size_t off = 0, fn, vn;
	unsigned char *mark;
	unsigned n = 0;

	if (m == NULL || m->state != DK_HEADERS)
		return;
	m->state = DK_BODY;
	if (m->overflow != NULL)
		report_overflow(m);
	else if (m->nsigfields > 0) {
		mark = xcalloc(m->nsigfields, 1);
		choose(m, mark, m->nsigfields);
		while (next_signature(&m->sigtext, &off, &f, &fn, &v, &vn)) {
			if ((mark[n] & (PICKED | REPORTED)) != 0)
				add_slot(m, f, fn, v, vn, (mark[n] & PICKED) != 0);
			n++;
		}
		free(mark);
		map_signatures(m);
		dk_key_prefetch(m);
	}
	mp_buf_free(&m->sigtext);
	mp_buf_free(&m->from);
}

bool
mp_dkim_msg_signed(const struct mp_dkim_msg *m)
{
	return m != NULL && m->nsigfields > 0;
}

void
mp_dkim_msg_body(struct mp_dkim_msg *m, const unsigned char *buf, size_t len)
{
	if (m == NULL || buf == NULL || len == 0)
		return;
	if (m->state == DK_HEADERS)
		mp_dkim_msg_eoh(m);
	if (m->state != DK_BODY || m->nchecked == 0 || m->overflow != NULL)
		return;
	dk_body_feed(&m->body, buf, len);
	if (m->body.overrun && m->any_relaxed)
		m->body_cut = true;
	if (m->h == NULL || m->lib_error != NULL || m->body_cut || dkim_minbody(m->h) == 0)
		return;
	/* In chunks of ours: libopendkim copies each one it is given. */
	while (len > 0) {
		size_t n = len < DK_CHUNK ? len : DK_CHUNK;

		mp_buf_reset(&m->scratch);
		mp_buf_append(&m->scratch, buf, n);
		(void)dkim_body(m->h, (u_char *)m->scratch.data, n);
		buf += n;
		len -= n;
	}
}

static void
verify(struct mp_dkim_msg *m, const struct mp_deadline *deadline)
{
	dk_body_end(&m->body);
	if (m->h != NULL && m->lib_error == NULL && !m->body_cut) {
		m->deadline = deadline;
		(void)dkim_eom(m->h, NULL);
		m->deadline = NULL;
	}
	for (size_t i = 0; i < m->nslot; i++) {
		struct dk_slot *s = &m->slot[i];

		if (!s->out.checked)
			continue;
		dk_judge(m, s);
		mp_log(LOG_DEBUG, "dkim: d=%s s=%s b=%s: %s%s%s", s->out.domain, s->out.selector,
		    s->out.b, mp_dkim_result_str(s->out.result), s->out.reason[0] ? ", " : "",
		    s->out.reason);
	}
}

size_t
mp_dkim_msg_finish(struct mp_dkim_msg *m, const struct mp_deadline *deadline,
    struct mp_dkim_sig *out, size_t max)
{
	size_t n;

	if (m == NULL)
		return 0;
	if (m->state == DK_HEADERS)
		mp_dkim_msg_eoh(m);
	if (m->state == DK_BODY) {
		m->state = DK_DONE;
		if (m->overflow == NULL && m->nchecked > 0)
			verify(m, deadline);
	}
	n = m->nslot < max ? m->nslot : max;
	for (size_t i = 0; i < n; i++)
		out[i] = m->slot[i].out;
	return n;
}
