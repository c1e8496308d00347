/*
 * dane: TLSA records (RFC 6698, for SMTP RFC 7672) against the
 * certificates a server presented. Pure functions over DER copies of the
 * chain, so that the comparison is tested with certificates made in the
 * test (tests/unit/test_audit_dane.c) and judged after the SMTP
 * connection has closed.
 */
#ifndef MP_AUDIT_DANE_H
#define MP_AUDIT_DANE_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"

#define AUDIT_CHAIN_MAX 8

/* The certificates a server sent, leaf first, as DER. */
struct audit_chain {
	size_t n;
	unsigned char *der[AUDIT_CHAIN_MAX];
	size_t len[AUDIT_CHAIN_MAX];
};

/* Appends a copy of der (ignored past AUDIT_CHAIN_MAX). */
void audit_chain_add(struct audit_chain *c, const unsigned char *der, size_t len);
void audit_chain_free(struct audit_chain *c);
/* True when the leaf is valid for the host name (RFC 6125 rules). */
bool audit_chain_valid_for(const struct audit_chain *c, const char *name);

enum audit_tlsa_result {
	TLSA_MATCH,
	TLSA_NO_MATCH,      /* usable, but matches nothing that was served */
	TLSA_UNUSABLE,      /* PKIX usages 0 and 1 (RFC 7672 3.1.3), or unknown parameters */
};

/*
 * Compares one TLSA record with the chain. DANE-EE (3) matches the leaf,
 * with no name or date checks (RFC 7672 3.1.1); DANE-TA (2) matches a
 * certificate above the leaf, and then the leaf must chain up to it, be
 * current and be valid for name, the MX host name (RFC 7672 3.1.2).
 * Selectors 0 (certificate) and 1 (public key), matching types 0 (exact),
 * 1 (SHA-256) and 2 (SHA-512). why gets a printable explanation.
 */
enum audit_tlsa_result audit_tlsa_check(const struct mp_dns_rr *rr, const struct audit_chain *c,
    const char *name, char *why, size_t whylen);

/*
 * The association data for chain[idx] under selector and matching type
 * into out (at most 64 bytes; 0 for matching type 0). Returns the length,
 * 0 when the certificate cannot be read or the parameters are unknown.
 */
size_t audit_tlsa_data(const struct audit_chain *c, size_t idx, unsigned selector,
    unsigned mtype, unsigned char out[64]);

#endif
