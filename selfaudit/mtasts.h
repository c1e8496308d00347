/*
 * mtasts: MTA-STS (RFC 8461) for the audit. The _mta-sts TXT record and
 * the policy file are parsed by pure functions (mtasts.c, tested by
 * tables in tests/unit/test_audit_mtasts.c); the policy is fetched over
 * HTTPS with libcurl (mtasts_fetch.c), its host name resolved through our
 * own resolver and handed to libcurl, so that what the audit sees is what
 * our DNS says.
 */
#ifndef MP_AUDIT_MTASTS_H
#define MP_AUDIT_MTASTS_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"
#include "domain.h"
#include "util.h"

#define STS_MAX_MX      32              /* mx: patterns kept; more are a problem */
#define STS_MAX_AGE     31557600L       /* RFC 8461 3.2: one year */
#define STS_BODY_MAX    65536           /* larger bodies are refused, as senders do */

enum audit_sts_mode {
	STS_MODE_MISSING,
	STS_MODE_ENFORCE,
	STS_MODE_TESTING,
	STS_MODE_NONE,
	STS_MODE_INVALID,
};

const char *audit_sts_mode_str(enum audit_sts_mode m);

struct audit_sts_policy {
	bool version_ok;                /* "version: STSv1" */
	enum audit_sts_mode mode;
	bool has_max_age;
	long max_age;                   /* seconds, when has_max_age */
	size_t nmx;
	char mx[STS_MAX_MX][MP_DOMAIN_MAX];     /* patterns, lowercase, "*." kept */
	/* What makes senders refuse the policy, and what is only odd:
	 * printable, "; " separated, "" when there is nothing. */
	struct mp_buf errors, notes;
};

/*
 * Parses a policy body (CRLF or LF lines of "key: value"). Unknown keys
 * are ignored, as RFC 8461 says; a repeated version, mode or max_age,
 * an invalid mx pattern or a line that is not key: value is an error.
 * True when the policy is one senders apply (errors is empty). p must
 * be freed with audit_sts_policy_free, whatever the result.
 */
bool audit_sts_policy_parse(const char *body, size_t len, struct audit_sts_policy *p);
void audit_sts_policy_free(struct audit_sts_policy *p);

/*
 * True when the MX host name (normalised) matches a policy mx pattern:
 * equal ignoring case, or "*.rest" where host is one label more than
 * rest (RFC 8461 4.1: the wildcard stands for exactly one label).
 */
bool audit_sts_mx_match(const char *pattern, const char *host);

/*
 * Parses a _mta-sts TXT record: "v=STSv1" first, then fields separated
 * by ';' of which id = 1*32 letters and digits is required (RFC 8461
 * 3.1). True with the id; false with a printable reason in why.
 */
bool audit_sts_txt_parse(const char *txt, size_t len, char *id, size_t idlen,
    char *why, size_t whylen);

enum audit_sts_fetch_status {
	STS_FETCH_NOT_TRIED,
	STS_FETCH_OK,           /* HTTP 200, body kept (the certificate may still be bad) */
	STS_FETCH_DNS_TEMP,     /* mta-sts.<domain> could not be resolved now */
	STS_FETCH_NO_ADDRESS,   /* mta-sts.<domain> has no address */
	STS_FETCH_FAILED,       /* connection, TLS, HTTP status, size: see error */
};

struct audit_sts_fetch {
	enum audit_sts_fetch_status status;
	char url[MP_DOMAIN_MAX + 48];
	char addrs[256];                /* the addresses handed to libcurl */
	char error[400];                /* printable, when not OK */
	bool cert_ok;                   /* the certificate verified for the name */
	char cert_error[256];           /* printable, when not cert_ok */
	long http_code;
	char content_type[128];         /* printable */
	char *body;                     /* NUL-terminated, len bytes */
	size_t len;
};

/* Once, before any thread runs: libcurl's global set-up. */
void audit_sts_global_init(void);

/*
 * Fetches https://mta-sts.<domain>/.well-known/mta-sts.txt within the
 * deadline: the name's A and AAAA records come from dns and are given to
 * libcurl (CURLOPT_RESOLVE); redirects are not followed (RFC 8461 3.3);
 * ca_file (may be "" or NULL) is the CA bundle to verify with. When the
 * certificate does not verify, the policy is fetched again without
 * verification, so that the report can still judge it.
 */
void audit_sts_fetch(struct mp_dns *dns, const struct mp_deadline *dl, const char *domain,
    const char *ca_file, struct audit_sts_fetch *out);
void audit_sts_fetch_free(struct audit_sts_fetch *f);

#endif
