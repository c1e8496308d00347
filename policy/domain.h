/*
 * domain: domain-name validation and normalisation, and the
 * organizational domain (RFC 7489 section 3.2) from the Public Suffix
 * List. Every name from a header or an envelope passes here before it
 * goes into a DNS query or a header we write.
 */
#ifndef MP_DOMAIN_H
#define MP_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>

#define MP_DOMAIN_MAX 254   /* 253 characters and the NUL */

/*
 * Validates and normalises name[0..len): lowercase, one trailing dot
 * removed, labels 1..63 LDH characters (underscore allowed: _dmarc,
 * _mta-sts), total <= 253, at least two labels unless allow_single,
 * A-labels (xn--) must decode. A U-label (UTF-8) name is converted to
 * its A-label form. Writes the result to out[MP_DOMAIN_MAX]. Returns
 * false and a static reason in *why_r on error.
 */
bool mp_domain_normalize(const char *name, size_t len, char out[MP_DOMAIN_MAX],
    const char **why_r);

struct mp_psl;

/* Loads the PSL file (NULL: the configured default). NULL + err on failure. */
struct mp_psl *mp_psl_load(const char *path, char *err, size_t errlen);
void mp_psl_free(struct mp_psl **pslp);

/* The organizational domain of a normalised domain; returns false when
 * the name is itself a public suffix (it has none). */
bool mp_psl_org_domain(const struct mp_psl *psl, const char *domain, char out[MP_DOMAIN_MAX]);

/* True when a equals b or is a subdomain of b (both normalised). */
bool mp_domain_is_sub_or_same(const char *a, const char *b);

#endif
