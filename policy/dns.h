/*
 * dns: the one resolver of mailposture, over libunbound.
 *
 * Answers are returned whole or not at all, and say why they are empty:
 * NXDOMAIN, NODATA, SERVFAIL and timeout are never folded together, since
 * "the record is missing" and "we could not look" lead to different
 * verdicts. Every query has a per-query timeout, further limited by the
 * caller's deadline. Safe to call from several threads at once.
 *
 * The resolver is dns.c; the parts that need no network (names, rdata,
 * results) are dns_name.c, dns_rdata.c and dns_result.c, and dns_answer.c
 * turns libunbound's answers into results.
 */
#ifndef MP_DNS_H
#define MP_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define MP_DNS_MAX_RR      64     /* answers beyond this are dropped: a cap on hostile data */
#define MP_DNS_MAX_TXT     4096   /* joined TXT string; longer records are refused */
#define MP_DNS_NAME_MAX    255

enum mp_dns_type {
	MP_DNS_A = 1,
	MP_DNS_CNAME = 5,
	MP_DNS_PTR = 12,
	MP_DNS_MX = 15,
	MP_DNS_TXT = 16,
	MP_DNS_AAAA = 28,
	MP_DNS_SPF = 99,
	MP_DNS_TLSA = 52,
};

enum mp_dns_status {
	MP_DNS_OK,          /* at least one record of the type */
	MP_DNS_NXDOMAIN,    /* the name does not exist */
	MP_DNS_NODATA,      /* the name exists, no record of that type */
	MP_DNS_SERVFAIL,    /* the server failed, or DNSSEC validation failed */
	MP_DNS_TIMEOUT,     /* no answer within the timeout or the deadline */
	MP_DNS_ERROR,       /* local error: bad name, malformed answer */
};

struct mp_dns_rr {
	enum mp_dns_type type;
	/* TXT: the character-strings joined; MX/PTR/CNAME: the target name
	 * without trailing dot, lowercased; A/AAAA: the address as text.
	 * Always NUL-terminated; text_len excludes the NUL (TXT may hold NUL
	 * bytes from hostile data, so use text_len). */
	char *text;
	size_t text_len;
	uint16_t mx_pref;
	struct in_addr a;
	struct in6_addr aaaa;
	/* TLSA: usage, selector, matching type and the association data. */
	uint8_t tlsa_usage, tlsa_selector, tlsa_mtype;
	unsigned char *tlsa_data;
	size_t tlsa_len;
};

struct mp_dns_result {
	enum mp_dns_status status;
	bool secure;            /* DNSSEC validated (needs a trust anchor) */
	bool bogus;             /* DNSSEC validation failed */
	char *canonname;        /* after CNAMEs, or NULL */
	size_t count;
	struct mp_dns_rr *rr;
	char *why;              /* for errors: a short printable reason */
};

struct mp_dns;

struct mp_dns_options {
	const char *upstream;   /* "127.0.0.1@5353" (forwarder); NULL or "": /etc/resolv.conf */
	unsigned timeout_ms;    /* per query */
	const char *trust_anchor_file; /* NULL: no DNSSEC validation */
	bool no_cache;          /* bypass dnscache (tests of the resolver path) */
};

/* NULL + err on failure (bad upstream, unreadable resolv.conf). */
struct mp_dns *mp_dns_new(const struct mp_dns_options *opt, char *err, size_t errlen);
void mp_dns_free(struct mp_dns **dnsp);

/*
 * Looks up name/type. deadline may be NULL. Always returns a result
 * (never NULL) that the caller frees with mp_dns_result_free. An answer
 * held by dnscache is returned even when the deadline has passed: it
 * costs no waiting, and it is as true as it was a moment before.
 */
struct mp_dns_result *mp_dns_query(struct mp_dns *dns, const struct mp_deadline *deadline,
    const char *name, enum mp_dns_type type);
void mp_dns_result_free(struct mp_dns_result **resp);
/*
 * Starts a lookup of name/type and returns at once, without waiting:
 * the answer, when it comes, goes into the cache as a normal query's
 * does, so that a later mp_dns_query of the name finds it there (DKIM
 * keys are fetched this way while the message body streams in). A query
 * made before the answer came waits for its own answer as usual. Never
 * blocks and never fails loudly: a bad name, a resolver without a cache
 * (no_cache), a stopped resolver or MP_DNS_PREFETCH_MAX prefetches
 * already in flight make it do nothing.
 */
#define MP_DNS_PREFETCH_MAX 256
void mp_dns_prefetch(struct mp_dns *dns, const char *name, enum mp_dns_type type);
/* An empty result with status st and a reason (copied, may be NULL). */
struct mp_dns_result *mp_dns_result_new(enum mp_dns_status st, const char *why);
/* A deep copy (never NULL), and the heap bytes a result holds. */
struct mp_dns_result *mp_dns_result_dup(const struct mp_dns_result *r);
size_t mp_dns_result_size(const struct mp_dns_result *r);

const char *mp_dns_status_str(enum mp_dns_status st);
/* True for SERVFAIL, TIMEOUT and ERROR: "could not check", never "missing". */
bool mp_dns_status_is_temp(enum mp_dns_status st);

/*
 * Builds the reverse name (in-addr.arpa / ip6.arpa, no trailing dot) of an
 * address given as text. An IPv4-mapped IPv6 address (::ffff:a.b.c.d)
 * gets the in-addr.arpa name, since the peer really is IPv4. False for
 * anything inet_pton rejects, or when out is too small (out is then "").
 */
bool mp_dns_reverse_name(const char *ip, char *out, size_t outlen);

/*
 * Names taken from rdata (MX, PTR, CNAME targets) and canonname are
 * decoded from wire format, lowercased, without the trailing dot; the
 * root name (a null MX, RFC 7505) is "". A byte in a label that is not a
 * letter, digit, '-' or '_' (a '.' inside a label, a space, a control
 * byte, non-ASCII) is written as an RFC 1035 "\DDD" escape, so the text is
 * printable, keeps label boundaries unambiguous, and can never pass as a
 * valid hostname: callers validate with the domain module before use.
 *
 * Query names: printable ASCII and space (0x20-0x7e) except backslash,
 * labels of 1-63 bytes, at most 253 bytes without the optional trailing
 * dot; anything else gives MP_DNS_ERROR without a query. timeout_ms 0
 * means MP_DNS_DEFAULT_TIMEOUT_MS.
 */
#define MP_DNS_DEFAULT_TIMEOUT_MS 5000

/*
 * Parses one rdata item of type (as libunbound hands it over: no rdlength
 * prefix, names uncompressed) into rr_r, with every length checked. On
 * malformed or oversized data returns false, leaves rr_r empty and sets
 * *why_r to a static reason. Exposed for the table tests of hostile rdata.
 */
bool mp_dns_parse_rdata(enum mp_dns_type type, const unsigned char *rd, size_t len,
    struct mp_dns_rr *rr_r, const char **why_r);
/* Frees what mp_dns_parse_rdata allocated in rr and zeroes it. */
void mp_dns_rr_clear(struct mp_dns_rr *rr);

/*
 * For fuzzing and tests only: a fake DNS. While fn is set (it is NULL
 * by default), mp_dns_query answers every query whose name is valid from
 * fn, without the cache, libunbound or the deadline, so a harness can
 * serve a zone made from its input without any network. fn must return
 * a whole result built as a real one is (status, rr[] with NUL-terminated
 * text, heap-allocated: the caller frees it with mp_dns_result_free),
 * never NULL. Process-global: set it before any query and never change
 * it while queries may run. mp_dns_query still needs a struct mp_dns.
 * Compiled only with -DMP_DNS_FAKE (tests/fuzz/build): the library the
 * programs link has no way to turn the resolver off.
 */
#ifdef MP_DNS_FAKE
typedef struct mp_dns_result *(*mp_dns_fake_fn)(void *arg, const char *name,
    enum mp_dns_type type);
void mp_dns_set_fake(mp_dns_fake_fn fn, void *arg);
#endif

#endif
