/*
 * from: RFC 5322 From header parsing (section 3.4 mailbox-list), with
 * display names, comments, quoted strings, groups, obsolete forms that
 * are still seen, and several addresses. Input is untrusted: it is
 * bounded, may contain NUL bytes, and never makes the parser read past
 * len.
 */
#ifndef MP_FROM_H
#define MP_FROM_H

#include <stdbool.h>
#include <stddef.h>

#include "domain.h"

#define MP_FROM_MAX_ADDRS   32      /* more mailboxes than this: an error */
#define MP_FROM_MAX_LEN     16384   /* a longer header value: an error */

struct mp_mailbox {
	char local[256];                 /* local part, quotes removed */
	char domain[MP_DOMAIN_MAX];      /* normalised through mp_domain_normalize */
};

struct mp_from {
	size_t count;
	struct mp_mailbox addr[MP_FROM_MAX_ADDRS];
};

/*
 * Parses one From header value. Returns false with a static reason in
 * *why_r when the value is not a mailbox-list, or any address has no
 * valid domain. An empty list (only a group with no members) is an error.
 * Also errors: a NUL byte, a domain literal ([192.0.2.1]: no domain for
 * DMARC), more than MP_FROM_MAX_ADDRS mailboxes, a local part over 255
 * bytes, comments nested deeper than 32, unbalanced quotes, brackets or
 * comments, a line break not followed by whitespace. Accepted: groups
 * (their members count), obsolete routes (skipped), empty list elements,
 * CRLF or bare LF folding, UTF-8 in names and local parts. On error
 * out->count is 0. value need not be NUL-terminated.
 */
bool mp_from_parse(const char *value, size_t len, struct mp_from *out, const char **why_r);

/*
 * The distinct domains of a parsed From, in order of appearance;
 * returns their count (at most MP_FROM_MAX_ADDRS).
 */
size_t mp_from_domains(const struct mp_from *from, const char *domains[MP_FROM_MAX_ADDRS]);

#endif
