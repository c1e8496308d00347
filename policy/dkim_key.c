/*
 * dkim_key: a signature's key, fetched by policy/dns (our resolver, its
 * cache, its per-query timeout and the message's deadline), never by
 * libopendkim's own resolver. libopendkim asks for keys one at a time at
 * the end of the message; each was prefetched at the end of the header,
 * so that its answer is usually in the cache by then.
 *
 * What the lookup found is kept in the signature's slot: the reasons for
 * permerror and temperror are ours (NXDOMAIN and no TXT record apart,
 * a record that is not a key), where libopendkim would only say "no key".
 */
#include "config.h"

#include <string.h>

#include <opendkim/dkim.h>

#include "dkim_int.h"

static struct dk_slot *
slot_of(struct mp_dkim_msg *m, const DKIM_SIGINFO *sig)
{
	for (size_t i = 0; i < m->nslot; i++)
		if (m->slot[i].sig == sig)
			return &m->slot[i];
	return NULL;
}

/* a before b: the key type the signature needs, then the longer p=, then bytes. */
static bool
better(const struct mp_dns_rr *a, const struct dk_keyrec *ka, const struct mp_dns_rr *b,
    const struct dk_keyrec *kb, bool want_ed25519)
{
	bool ma = ka->ed25519 == want_ed25519, mb = kb->ed25519 == want_ed25519;
	size_t n = a->text_len < b->text_len ? a->text_len : b->text_len;
	int c;

	if (ma != mb)
		return ma;
	if (ka->p_len != kb->p_len)
		return ka->p_len > kb->p_len;
	c = memcmp(a->text, b->text, n);
	return c != 0 ? c < 0 : a->text_len < b->text_len;
}

/*
 * Of the TXT records at the key's name, the key record to use (see
 * dkim.h: never dependent on the answer's order), or NULL when none is
 * a key record; records that are not (other TXT data) do not count.
 */
static const struct mp_dns_rr *
key_choose(const struct mp_dns_result *r, bool want_ed25519)
{
	const struct mp_dns_rr *best = NULL;
	struct dk_keyrec kbest, k;

	memset(&kbest, 0, sizeof(kbest));
	for (size_t i = 0; i < r->count; i++) {
		const struct mp_dns_rr *rr = &r->rr[i];

		if (rr->type != MP_DNS_TXT || !dk_keyrec_parse(rr->text, rr->text_len, &k))
			continue;
		if (best == NULL || better(rr, &k, best, &kbest, want_ed25519)) {
			best = rr;
			kbest = k;
		}
	}
	return best;
}

/* What an answer without a usable record means, kept in the slot. */
static DKIM_CBSTAT
key_missing(struct dk_slot *s, const struct mp_dns_result *r)
{
	switch (r->status) {
	case MP_DNS_OK:
		mp_strlcpy(s->key_why, "TXT record at the selector is not a DKIM key record",
		    sizeof(s->key_why));
		break;
	case MP_DNS_NXDOMAIN:
		mp_strlcpy(s->key_why, "no key: selector not found, NXDOMAIN", sizeof(s->key_why));
		break;
	case MP_DNS_NODATA:
		mp_strlcpy(s->key_why, "no key: no TXT record at the selector", sizeof(s->key_why));
		break;
	default:
		s->key = DK_KEY_TEMP;
		mp_setf(s->key_why, sizeof(s->key_why), "key lookup: %s",
		    mp_dns_status_str(r->status));
		return DKIM_CBSTAT_TRYAGAIN;
	}
	s->key = DK_KEY_PERM;
	return DKIM_CBSTAT_NOTFOUND;
}

int
dk_key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	struct mp_dkim_msg *m = dkim_get_user_context(dkim);
	const struct mp_dns_rr *rr;
	struct mp_dns_result *r;
	struct dk_slot *s;
	char name[MP_DNS_NAME_MAX + 1];
	DKIM_CBSTAT st;

	if (m == NULL || (s = slot_of(m, sig)) == NULL ||
	    !dk_key_name(&s->out, &s->tags, name, sizeof(name)))
		return DKIM_CBSTAT_ERROR;
	r = mp_dns_query(m->d->dns, m->deadline, name, MP_DNS_TXT);
	rr = r->status == MP_DNS_OK ?
	    key_choose(r, s->tags.alg == DK_ALG_ED25519_SHA256) : NULL;
	if (rr == NULL)
		st = key_missing(s, r);
	else if (rr->text_len >= buflen) {
		s->key = DK_KEY_PERM;
		mp_setf(s->key_why, sizeof(s->key_why), "key record longer than %zu bytes",
		    buflen - 1);
		st = DKIM_CBSTAT_NOTFOUND;
	} else {
		s->key = DK_KEY_FOUND;
		memcpy(buf, rr->text, rr->text_len);
		buf[rr->text_len] = '\0';
		st = DKIM_CBSTAT_CONTINUE;
	}
	mp_dns_result_free(&r);
	return st;
}

void
dk_key_prefetch(struct mp_dkim_msg *m)
{
	char name[MP_DKIM_MAX][MP_DNS_NAME_MAX + 1];
	size_t n = 0;

	for (size_t i = 0; i < m->nslot && m->lib_error == NULL; i++) {
		const struct dk_slot *s = &m->slot[i];
		bool again = false;

		if (!s->out.checked || s->tags.error[0] != '\0' ||
		    !dk_key_name(&s->out, &s->tags, name[n], sizeof(name[n])))
			continue;
		for (size_t j = 0; j < n && !again; j++)
			again = mp_strcasecmp(name[j], name[n]) == 0;
		if (again)
			continue;
		mp_dns_prefetch(m->d->dns, name[n], MP_DNS_TXT);
		n++;
	}
}
