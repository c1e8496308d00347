/*
 * dkim_judge: one checked signature's RFC 8601 result and its reason,
 * from what our parser read, what the key lookup found and what
 * libopendkim verified. In this order, the first that applies decides:
 *
 *   neutral    the signature cannot be verified as written (RFC 8601
 *              2.7.1: syntax errors), or the body was not hashed whole
 *   permerror  no key to be had: none at the selector, revoked, a
 *              record that is not a key (a later try will not help)
 *   temperror  the key lookup failed or timed out
 *   fail       the signature or the body hash does not verify
 *   policy     verified, but rsa-sha1 or an RSA key under 1024 bits
 *              (RFC 8301), or l= leaves text unsigned under
 *              [dkim] body_length = policy
 *   pass       the rest
 */
#include "config.h"

#include <opendkim/dkim.h>

#include "dkim_int.h"
#include "log.h"

/* libopendkim's errors that are not the signature's syntax. */
static const struct {
	int err;
	enum mp_dkim_result result;
	const char *why;
} sigerrors[] = {
	{ DKIM_SIGERROR_TOOLARGE_L, MP_DKIM_FAIL, "l= is longer than the body" },
	{ DKIM_SIGERROR_KEYREVOKED, MP_DKIM_PERMERROR, "key revoked: empty p=" },
	{ DKIM_SIGERROR_NOKEY, MP_DKIM_PERMERROR, "no key" },
	{ DKIM_SIGERROR_KEYFAIL, MP_DKIM_TEMPERROR, "key lookup failed" },
	{ DKIM_SIGERROR_DNSSYNTAX, MP_DKIM_PERMERROR, "key record syntax" },
	{ DKIM_SIGERROR_MULTIREPLY, MP_DKIM_PERMERROR, "several key records" },
	{ DKIM_SIGERROR_KEYVERSION, MP_DKIM_PERMERROR, "key record: v= is not DKIM1" },
	{ DKIM_SIGERROR_KEYUNKNOWNHASH, MP_DKIM_PERMERROR, "key record: h= names no known hash" },
	{ DKIM_SIGERROR_KEYHASHMISMATCH, MP_DKIM_PERMERROR,
	    "key record: h= does not allow the signature's hash" },
	{ DKIM_SIGERROR_NOTEMAILKEY, MP_DKIM_PERMERROR, "key record: s= does not allow email" },
	{ DKIM_SIGERROR_KEYTYPEMISSING, MP_DKIM_PERMERROR, "key record: k= is missing" },
	{ DKIM_SIGERROR_KEYTYPEUNKNOWN, MP_DKIM_PERMERROR, "key record: k= is unknown" },
	{ DKIM_SIGERROR_KEYDECODE, MP_DKIM_PERMERROR,
	    "key record: p= is not a public key of the signature's type" },
	{ DKIM_SIGERROR_SUBDOMAIN, MP_DKIM_PERMERROR,
	    "key record: t=s does not allow i= at a subdomain" },
};

static void
set(struct dk_slot *s, enum mp_dkim_result r, const char *why)
{
	s->out.result = r;
	mp_strlcpy(s->out.reason, why != NULL ? why : "", sizeof(s->out.reason));
}

/* Before libopendkim's word: what keeps the signature from being verified. */
static bool
judge_unverifiable(const struct mp_dkim_msg *m, struct dk_slot *s)
{
	if (s->tags.error[0] != '\0')
		set(s, MP_DKIM_NEUTRAL, s->tags.error);
	else if (m->lib_error != NULL)
		set(s, MP_DKIM_NEUTRAL, m->lib_error);
	else if (s->refused)
		set(s, MP_DKIM_NEUTRAL, "signature syntax: refused by libopendkim");
	else if (s->sig == NULL)
		set(s, MP_DKIM_NEUTRAL, "not verified: libopendkim lost the signature");
	else if (m->body_cut) {
		s->out.result = MP_DKIM_NEUTRAL;
		mp_setf(s->out.reason, sizeof(s->out.reason), "body has a run of over %u bytes "
		    "without white space: not hashed", (unsigned)MP_DKIM_BODY_RUN);
	} else if (s->key == DK_KEY_PERM || s->key == DK_KEY_TEMP)
		set(s, s->key == DK_KEY_PERM ? MP_DKIM_PERMERROR : MP_DKIM_TEMPERROR, s->key_why);
	else
		return false;
	return true;
}

/* libopendkim's error for the signature: true when it decided. */
static bool
judge_error(struct dk_slot *s, int err, int bh)
{
	const char *str;

	if (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_KEYTOOSMALL)
		return false;
	if (err == DKIM_SIGERROR_BADSIG) {
		set(s, MP_DKIM_FAIL, bh == DKIM_SIGBH_MISMATCH ? "body hash did not verify" :
		    "signature did not verify");
		return true;
	}
	for (size_t i = 0; i < MP_ARRAY_SIZE(sigerrors); i++) {
		if (sigerrors[i].err == err) {
			set(s, sigerrors[i].result, sigerrors[i].why);
			return true;
		}
	}
	if (err == DKIM_SIGERROR_UNKNOWN) {
		set(s, MP_DKIM_NEUTRAL, "not verified");
		return true;
	}
	/* The rest are about the signature as written (expired, i= outside
	 * d=, ...): its syntax in RFC 8601's sense. */
	str = dkim_sig_geterrorstr(err);
	mp_setf(s->out.reason, sizeof(s->out.reason), "signature: %s",
	    str != NULL ? str : "not verified");
	s->out.result = MP_DKIM_NEUTRAL;
	return true;
}

/* Verified: the RFC 8301 rules and l=. */
static void
judge_verified(const struct mp_dkim_msg *m, struct dk_slot *s)
{
	unsigned long long body = dk_body_len(&m->body, s->tags.body_relaxed);

	if (s->tags.alg == DK_ALG_RSA_SHA1) {
		set(s, MP_DKIM_POLICY, "rsa-sha1 is not accepted, RFC 8301");
		return;
	}
	if (s->tags.alg != DK_ALG_ED25519_SHA256 && s->out.key_bits < DK_RSA_MIN_BITS) {
		mp_setf(s->out.reason, sizeof(s->out.reason), "RSA key of %u bits, "
		    "RFC 8301 wants %u or more", s->out.key_bits, (unsigned)DK_RSA_MIN_BITS);
		s->out.result = MP_DKIM_POLICY;
		return;
	}
	/*
	 * h= signs the last h_from From fields (RFC 6376 5.4.2): one more,
	 * put on top of a message the domain signed, is what a mail reader
	 * shows, and it is signed by nobody. Such a signature vouches for
	 * no From we could judge.
	 */
	if (m->nfrom > s->tags.h_from) {
		mp_setf(s->out.reason, sizeof(s->out.reason), "%u From fields, h= signs %u: "
		    "a From field is not signed", m->nfrom, s->tags.h_from);
		s->out.result = MP_DKIM_POLICY;
		return;
	}
	set(s, MP_DKIM_PASS, NULL);
	if (!s->tags.has_l || s->tags.l >= body)
		return;
	s->out.body_truncated = true;
	mp_setf(s->out.reason, sizeof(s->out.reason), "l=%llu leaves %llu body bytes unsigned",
	    s->tags.l, body - s->tags.l);
	if (!m->d->opt.body_length_pass)
		s->out.result = MP_DKIM_POLICY;
	mp_log(LOG_INFO, "dkim: d=%s s=%s: %s, [dkim] body_length = %s: %s", s->out.domain,
	    s->out.selector, s->out.reason, m->d->opt.body_length_pass ? "pass" : "policy",
	    mp_dkim_result_str(s->out.result));
}

void
dk_judge(const struct mp_dkim_msg *m, struct dk_slot *s)
{
	unsigned bits = 0;
	int err;

	s->out.result = MP_DKIM_NONE;
	s->out.reason[0] = '\0';
	if (judge_unverifiable(m, s))
		return;
	if (dkim_sig_getkeysize(s->sig, &bits) == DKIM_STAT_OK)
		s->out.key_bits = bits;
	err = dkim_sig_geterror(s->sig);
	/* libopendkim counts no bits for Ed25519 keys: all have 256. */
	if (s->tags.alg == DK_ALG_ED25519_SHA256 &&
	    (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_BADSIG))
		s->out.key_bits = 256;
	if (judge_error(s, err, dkim_sig_getbh(s->sig)))
		return;
	if (err == DKIM_SIGERROR_OK && ((dkim_sig_getflags(s->sig) & DKIM_SIGFLAG_PASSED) == 0 ||
	    dkim_sig_getbh(s->sig) != DKIM_SIGBH_MATCH)) {
		set(s, MP_DKIM_NEUTRAL, "not verified");
		return;
	}
	judge_verified(m, s);
}
