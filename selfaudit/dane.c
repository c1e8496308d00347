/*
 * dane: one TLSA record against the served chain. DANE-TA verification
 * uses OpenSSL's verifier with the matched certificate as the only trust
 * anchor (a partial chain), never the system's CAs: under DANE the TLSA
 * record is the trust, not a public CA.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "dane.h"

void
audit_chain_add(struct audit_chain *c, const unsigned char *der, size_t len)
{
	if (c->n >= AUDIT_CHAIN_MAX)
		return;
	c->der[c->n] = xmalloc(len > 0 ? len : 1);
	memcpy(c->der[c->n], der, len);
	c->len[c->n++] = len;
}

void
audit_chain_free(struct audit_chain *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->der[i]);
	memset(c, 0, sizeof(*c));
}

static X509 *
chain_cert(const struct audit_chain *c, size_t idx)
{
	const unsigned char *p = c->der[idx];

	return d2i_X509(NULL, &p, (long)c->len[idx]);
}

/* A copy of the selected bytes of chain[idx]: the whole DER, or the public key's. */
static unsigned char *
selected(const struct audit_chain *c, size_t idx, unsigned selector, size_t *len_r)
{
	unsigned char *spki = NULL, *out;
	X509 *x;
	int n;

	if (selector == 0) {
		*len_r = c->len[idx];
		out = xmalloc(c->len[idx] > 0 ? c->len[idx] : 1);
		memcpy(out, c->der[idx], c->len[idx]);
		return out;
	}
	if (selector != 1 || (x = chain_cert(c, idx)) == NULL)
		return NULL;
	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
	X509_free(x);
	if (n <= 0)
		return NULL;
	out = xmalloc((size_t)n);
	memcpy(out, spki, (size_t)n);
	OPENSSL_free(spki);
	*len_r = (size_t)n;
	return out;
}

size_t
audit_tlsa_data(const struct audit_chain *c, size_t idx, unsigned selector, unsigned mtype,
    unsigned char out[64])
{
	const EVP_MD *md = mtype == 1 ? EVP_sha256() : mtype == 2 ? EVP_sha512() : NULL;
	unsigned char *sel;
	unsigned mdlen = 0;
	size_t len;

	if (idx >= c->n || md == NULL || (sel = selected(c, idx, selector, &len)) == NULL)
		return 0;
	if (!EVP_Digest(sel, len, out, &mdlen, md, NULL))
		mdlen = 0;
	free(sel);
	return mdlen;
}

/* True when the record's data is what chain[idx] gives under its parameters. */
static bool
matches(const struct mp_dns_rr *rr, const struct audit_chain *c, size_t idx)
{
	unsigned char d[64], *sel;
	size_t len;
	bool eq;

	if (rr->tlsa_mtype != 0) {
		len = audit_tlsa_data(c, idx, rr->tlsa_selector, rr->tlsa_mtype, d);
		return len > 0 && len == rr->tlsa_len && memcmp(d, rr->tlsa_data, len) == 0;
	}
	if ((sel = selected(c, idx, rr->tlsa_selector, &len)) == NULL)
		return false;
	eq = len == rr->tlsa_len && memcmp(sel, rr->tlsa_data, len) == 0;
	free(sel);
	return eq;
}

/*
 * The leaf verified up to chain[ta] as the only trust anchor, the
 * certificates between as intermediates, for name and now. NULL when it
 * verifies, else OpenSSL's reason.
 */
static const char *
verify_to_anchor(const struct audit_chain *c, size_t ta, const char *name)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *mid = sk_X509_new_null();
	X509 *leaf = chain_cert(c, 0), *anchor = chain_cert(c, ta);
	const char *why = "cannot read the certificates";

	if (store == NULL || ctx == NULL || mid == NULL || leaf == NULL || anchor == NULL)
		goto done;
	for (size_t i = 1; i < ta; i++) {
		X509 *x = chain_cert(c, i);

		if (x != NULL && !sk_X509_push(mid, x))
			X509_free(x);
	}
	X509_STORE_add_cert(store, anchor);
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	if (!X509_STORE_CTX_init(ctx, store, leaf, mid))
		goto done;
	if (name != NULL && *name != '\0')
		X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), name, 0);
	why = X509_verify_cert(ctx) == 1 ? NULL :
	    X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
done:
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	sk_X509_pop_free(mid, X509_free);
	X509_free(leaf);
	X509_free(anchor);
	return why;
}

static enum audit_tlsa_result
check_ta(const struct mp_dns_rr *rr, const struct audit_chain *c, const char *name,
    char *why, size_t whylen)
{
	for (size_t i = 1; i < c->n; i++) {
		const char *bad;

		if (!matches(rr, c, i))
			continue;
		if ((bad = verify_to_anchor(c, i, name)) == NULL) {
			snprintf(why, whylen, "matches certificate %zu of the chain, a trust anchor the "
			    "server certificate verifies to for %s", i + 1, name);
			return TLSA_MATCH;
		}
		snprintf(why, whylen, "matches certificate %zu of the chain, but the server "
		    "certificate does not verify to it for %s: %s", i + 1, name, bad);
		return TLSA_NO_MATCH;
	}
	snprintf(why, whylen, "matches no certificate above the server's in the chain served "
	    "(%zu certificate%s)", c->n, c->n == 1 ? "" : "s");
	return TLSA_NO_MATCH;
}

enum audit_tlsa_result
audit_tlsa_check(const struct mp_dns_rr *rr, const struct audit_chain *c, const char *name,
    char *why, size_t whylen)
{
	if (rr->tlsa_usage == 0 || rr->tlsa_usage == 1) {
		snprintf(why, whylen, "usage %u (PKIX-%s) is unusable for SMTP (RFC 7672 3.1.3)",
		    rr->tlsa_usage, rr->tlsa_usage == 0 ? "TA" : "EE");
		return TLSA_UNUSABLE;
	}
	if (rr->tlsa_usage > 3 || rr->tlsa_selector > 1 || rr->tlsa_mtype > 2) {
		snprintf(why, whylen, "unknown usage, selector or matching type: senders ignore it");
		return TLSA_UNUSABLE;
	}
	if (c->n == 0) {
		snprintf(why, whylen, "no certificate was served");
		return TLSA_NO_MATCH;
	}
	if (rr->tlsa_usage == 2)
		return check_ta(rr, c, name, why, whylen);
	if (matches(rr, c, 0)) {
		snprintf(why, whylen, "matches the server certificate");
		return TLSA_MATCH;
	}
	snprintf(why, whylen, "does not match the server certificate");
	return TLSA_NO_MATCH;
}

bool
audit_chain_valid_for(const struct audit_chain *c, const char *name)
{
	X509 *x;
	bool ok;

	if (c->n == 0 || name == NULL || *name == '\0' || (x = chain_cert(c, 0)) == NULL)
		return false;
	ok = X509_check_host(x, name, strlen(name), 0, NULL) == 1;
	X509_free(x);
	return ok;
}
