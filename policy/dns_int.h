/*
 * dns_int: what the parts of the dns module share and nobody else sees.
 * dns_name.c and dns_rdata.c are pure (no resolver, no threads), so the
 * fuzzers and table tests reach them without a network; dns_answer.c
 * turns what libunbound returns into a struct mp_dns_result; dns.c is
 * the resolver itself.
 */
#ifndef MP_DNS_INT_H
#define MP_DNS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"

struct ub_result;

/*
 * Decodes an uncompressed wire-format name at rd[*off..len) into out, in
 * the text form dns.h describes, and advances *off past it. False with
 * *why_r set on a cut, oversized or compressed name.
 */
bool dns_name_from_wire(const unsigned char *rd, size_t len, size_t *off,
    struct mp_buf *out, const char **why_r);
/* A name as libunbound gives it in text, in the same form (heap). */
char *dns_canon_text(const char *s);
/* Equal names, ignoring case and a trailing dot. */
bool dns_same_name(const char *a, const char *b);
/* A name we are willing to send (dns.h, "Query names"). */
bool dns_query_name_ok(const char *name);

/* Fills r, still MP_DNS_OK and empty, from libunbound's answer to
 * qname/type: the answer is whole or r holds none of it. */
void dns_fill_result(struct mp_dns_result *r, const char *qname, enum mp_dns_type type,
    const struct ub_result *ur);

#endif
