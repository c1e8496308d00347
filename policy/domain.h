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
 * _mta-sts), no hyphen at either end of a label, total <= 253, at least
 * two labels (mp_domain_normalize_ex with MP_DOMAIN_ALLOW_SINGLE lifts
 * that), and a top-level label that is not all digits (so an IPv4
 * address is never a domain). NUL bytes are rejected. A-labels (xn--)
 * must decode to a U-label that encodes back to the same A-label
 * (IDNA2008, UTS#46 non-transitional). Labels in UTF-8 are converted to
 * A-labels. Writes the result to out[MP_DOMAIN_MAX]. Returns false and
 * a static reason in *why_r (when why_r is not NULL) on error; out is
 * then an empty string.
 *
 * Labels with "--" in the third and fourth positions that are not
 * xn-- (R-LDH labels such as r3--sn-abc, used by real hosts) are
 * accepted: they are valid host names even though IDNA reserves them.
 */
bool mp_domain_normalize(const char *name, size_t len, char out[MP_DOMAIN_MAX],
    const char **why_r);

#define MP_DOMAIN_ALLOW_SINGLE 0x01  /* accept one label ("localhost") */
bool mp_domain_normalize_ex(const char *name, size_t len, char out[MP_DOMAIN_MAX],
    unsigned flags, const char **why_r);

struct mp_psl;

/* Loads the PSL file (NULL: the configured default). NULL + err on failure. */
struct mp_psl *mp_psl_load(const char *path, char *err, size_t errlen);
void mp_psl_free(struct mp_psl **pslp);

/*
 * The organizational domain of a normalised domain (RFC 7489 section
 * 3.2): the public suffix plus one label. The whole list counts, the
 * ICANN and the PRIVATE sections alike, as RFC 7489 asks and as
 * OpenDMARC does, so user.github.io is its own organizational domain.
 * Returns false when the name is itself a public suffix (it has none),
 * and when it is not a normalised name. psl must not be NULL. Safe to
 * call from several threads on one mp_psl.
 */
bool mp_psl_org_domain(const struct mp_psl *psl, const char *domain, char out[MP_DOMAIN_MAX]);

/* True when a equals b or is a subdomain of b (both normalised), label
 * by label: badexample.com is not a subdomain of example.com. */
bool mp_domain_is_sub_or_same(const char *a, const char *b);

/*
 * A sender pattern, as the skip list and its configuration check read
 * it: "user@domain" (that address), "@domain" (any user of that domain)
 * or "domain" (that domain and its subdomains). The local part is at
 * most 64 printable ASCII bytes without spaces or '@'.
 */
struct mp_sender_pattern {
	char local[65];         /* "" unless user@domain */
	bool exact;             /* "@domain" or "user@domain": no subdomains */
	char domain[MP_DOMAIN_MAX];
};

/* False + a static reason in *why_r, and *bad_domain_r says whether the
 * domain (true) or the local part (false) is at fault. */
bool mp_sender_pattern_parse(const char *s, size_t n, struct mp_sender_pattern *out,
    bool *bad_domain_r, const char **why_r);

#endif
