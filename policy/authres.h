/*
 * authres: RFC 8601 Authentication-Results parsing and writing.
 *
 * Parsing exists for two reasons: to find (and delete) headers that carry
 * our own authserv-id, and to take DKIM results from headers whose
 * authserv-id is trusted. Input is untrusted and bounded.
 */
#ifndef MP_AUTHRES_H
#define MP_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define MP_AUTHRES_MAX_LEN      16384
#define MP_AUTHRES_MAX_RESULTS  32
#define MP_AUTHRES_MAX_PROPS    8

struct mp_authres_prop {
	char ptype[16];         /* smtp, header, body, policy */
	char property[32];      /* mailfrom, d, from, ... */
	char value[256];
};

struct mp_authres_result {
	char method[32];        /* spf, dkim, dmarc, ... (lowercase) */
	char result[32];        /* pass, fail, ... (lowercase) */
	char reason[128];       /* reason=..., unquoted; cut when longer */
	size_t nprops;
	struct mp_authres_prop props[MP_AUTHRES_MAX_PROPS];
};

struct mp_authres {
	char authserv_id[256];  /* lowercase */
	int version;            /* 1 when absent */
	bool none;              /* the "none" form: no results */
	size_t count;
	struct mp_authres_result res[MP_AUTHRES_MAX_RESULTS];
};

/*
 * Parses one header value (comments (CFWS) skipped, quoted strings
 * unquoted). false + static reason on malformed input. Results beyond
 * the caps are an error, not silently dropped; so is a value too long for
 * its field (except reason, which is cut), a NUL byte, and a version
 * other than 1. A property written without a ptype (Microsoft's
 * "action=none") is kept with ptype "". On error count is 0.
 */
bool mp_authres_parse(const char *value, size_t len, struct mp_authres *out, const char **why_r);

/*
 * Just the authserv-id of a header value, lowercased, for the deletion
 * rule: more lenient than a full parse, so that a forged header with a
 * broken body but our id is still removed. false when none can be read.
 */
bool mp_authres_servid(const char *value, size_t len, char *out, size_t outlen);

/* The value of property ptype.property of a result, or NULL. */
const char *mp_authres_prop(const struct mp_authres_result *r, const char *ptype,
    const char *property);

/*
 * Appends a value (or a quoted-string when it contains characters that
 * are not allowed in an RFC 2045 token) for use in a header we write.
 * Control characters (CR, LF, TAB, DEL, C1) are dropped, invalid UTF-8
 * bytes become '?': nothing a peer sent can fold or end our header.
 * NULL is written as "".
 */
void mp_authres_put_value(struct mp_buf *out, const char *value);

/*
 * Appends a pvalue: an addr-spec (local@domain) or @domain made only of
 * ASCII dot-atom text is written bare, as A-R writers conventionally do
 * (smtp.mailfrom=user@example.com); anything else as mp_authres_put_value.
 */
void mp_authres_put_pvalue(struct mp_buf *out, const char *value);

#endif
