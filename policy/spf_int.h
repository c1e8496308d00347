/*
 * spf_int: what the parts of the spf module share, and nothing else
 * includes. spf.c holds check_host() and the public checks (and the
 * account of what libspf2 gets wrong, which is why there are so many
 * parts); spf_syntax.c the strict RFC 7208 record and name syntax;
 * spf_macro.c macro syntax, expansion, the marking of domain-specs that
 * libspf2 cannot expand, and the exp= text; spf_fetch.c the fetching of
 * one record; spf_layer.c the DNS layer under libspf2 and its limits;
 * spf_ptr.c the ptr mechanism and %{p}; spf_copy.c the rewritten copy
 * of a record that libspf2 compiles; spf_inspect.c the inspection of a
 * domain's records without a client.
 *
 * <netinet/in.h> must come before <spf2/spf.h>: the library expects it.
 */
#ifndef MP_SPF_INT_H
#define MP_SPF_INT_H

#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <spf2/spf.h>

#include "dns.h"
#include "netaddr.h"
#include "spf.h"
#include "util.h"

#define SPF_MAX_TERMS   10      /* DNS-querying terms per check (RFC 7208 4.6.4) */
#define SPF_MAX_VOID    2       /* void lookups per check (RFC 7208 4.6.4) */
#define SPF_MAX_NAMES   10      /* MX or PTR names looked up per term */
#define SPF_MAX_DEPTH   20      /* include/redirect nesting for inspect (the 10-term limit stops first) */
#define SPF_RECORD_MAX  2048    /* a longer record is refused: a cap on hostile data */
#define SPF_NAME_MAX    253

struct mp_spf {
	struct mp_dns *dns;
};

/* ---- character classes (ASCII only, whatever the locale) ---- */

static inline bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_alnum(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

/* ---- names and record syntax (spf_syntax.c) ---- */

bool spf_identity_domain_ok(const char *d, char out[SPF_NAME_MAX + 1], const char **why_r);
bool spf_query_name_ok(const char *name, char out[SPF_NAME_MAX + 1]);
bool spf_split_dual_cidr(const char *arg, size_t n, size_t *dlen_r, int *c4_r, int *c6_r,
    const char **why_r);
bool spf_is_spf1(const char *s, size_t n);

/* One term of a record, split but not yet checked. */
struct term {
	const char *text;       /* the whole term */
	size_t len;
	char qual;              /* '+', '-', '~', '?' (implicit '+') */
	bool modifier;
	const char *name;       /* mechanism or modifier name */
	size_t name_len;
	const char *arg;        /* after the name: ":..." or "/..." for mechanisms, the value for modifiers */
	size_t arg_len;
};

static inline bool
name_is(const struct term *t, const char *n)
{
	return t->name_len == strlen(n) && mp_strncasecmp(t->name, n, t->name_len) == 0;
}

/*
 * The terms of a record, left to right, with spf_term_next(): the one
 * loop that splits a record on its spaces. The caller has checked that
 * the record starts with "v=spf1".
 */
struct term_iter {
	const char *p, *end;
};

void spf_terms_init(struct term_iter *it, const char *record, size_t len);
bool spf_term_next(struct term_iter *it, struct term *t);
bool spf_term_is_dns(const struct term *t);

/* ---- fetching one record (spf_fetch.c) ---- */

enum fetch_status { FETCH_OK, FETCH_NONE, FETCH_PERM, FETCH_TEMP };

struct fetched {
	enum fetch_status status;
	bool void_lookup;       /* NXDOMAIN or NODATA (not: TXT without SPF) */
	int nrecords;
	char *text;             /* the record, NUL-terminated (validated: no NUL inside) */
	size_t len;             /* its length, also when invalid */
	char shown[1024];       /* printable copy, for inspect */
	char why[256];
};

/*
 * A DNS query for a name from a record, a macro or an answer: an
 * expanded name over 253 bytes loses labels on the left, and a name that
 * cannot exist is NXDOMAIN without a query. OK only with an answer of
 * the type asked for (else NODATA). *res_r: NULL or to be freed.
 */
enum mp_dns_status spf_dns_query(struct mp_dns *dns, const struct mp_deadline *deadline,
    const char *name, enum mp_dns_type type, struct mp_dns_result **res_r);
/* The one v=spf1 record at domain, validated; see struct fetched. */
void spf_fetch_record(struct mp_dns *dns, const struct mp_deadline *deadline, const char *domain,
    struct fetched *f);
void spf_fetched_clear(struct fetched *f);

/* ---- the state of one check (spf_layer.c) ---- */

/*
 * libspf2 cannot compile a prefix length of 0 ("a/0", "mx//0", "ip4:x/0":
 * "Invalid CIDR length"), although RFC 7208 allows it. The copy of the
 * record we hand to libspf2 replaces "a:D/0" by "a:D.mp-cidr0.invalid";
 * the DNS layer recognises the marker, looks up D itself, and answers with
 * the client's own address when D has any address of the client's family,
 * which is exactly what a prefix length of 0 means.
 */
struct client {
	int family;             /* AF_INET for an IPv4-mapped IPv6 address too */
	struct in_addr v4;
	struct in6_addr v6;
	struct mp_netaddr addr; /* the 128-bit form, for ip4: and ip6: matching */
};

#define CIDR0_MARK ".mp-cidr0.invalid"

/*
 * The state of one check. libspf2's lookup callback gets no request
 * context, so every check has its own server over its own layer, whose
 * hook points here (see "Per-check state" in spf.c).
 */
struct spf_eval {
	SPF_dns_server_t layer;         /* layer.hook points back here */
	struct mp_dns *dns;
	const struct mp_deadline *deadline;
	SPF_request_t *req;
	SPF_server_t *server;
	char top_domain[SPF_NAME_MAX + 1];

	int terms;                      /* DNS-querying terms, whole check */
	int top_terms;                  /* of them, evaluated in the top record */
	int voids;
	bool saw_include;               /* an include or redirect was fetched */
	char last_term[160];

	bool decided;                   /* our layer decided the result */
	enum mp_spf_result result;
	char why[256];

	/* The A/AAAA lookups for the names of the last MX or PTR answer
	 * belong to that term: they are not terms of their own. */
	char pending[SPF_MAX_NAMES][SPF_NAME_MAX + 1];
	int npending, ipending;
	bool pending_ptr;

	char exp_text[256];             /* what get_exp last produced */
	bool exp_ok;

	/* include and redirect targets expanded here (see MACRO_MARK);
	 * libspf2's cur_dom points into this while it evaluates them */
	char own_dom[SPF_MAX_TERMS + 1][SPF_NAME_MAX + 1];
	int nown;

	/* for the explanation macros */
	struct client client;
	char local[256];
	char helo[256];
	char sender_domain[SPF_NAME_MAX + 1];
};

/*
 * The state of one check with its own libspf2 server and request over
 * our DNS layer. domain: the validated domain of the identity; helo may
 * be NULL. Never NULL.
 */
struct spf_eval *spf_eval_new(struct mp_dns *dns, const struct mp_deadline *deadline,
    const struct client *client, const char *local, const char *domain, const char *helo,
    bool helo_identity);
void spf_eval_free(struct spf_eval **evp);

/* libspf2 has no way to be told of a failed allocation: log and abort. */
void spf_oom(void) __attribute__((noreturn));
/* Answers for libspf2, never NULL (libspf2 calls SPF_error, which aborts, on NULL). */
SPF_dns_rr_t *spf_rr_new(struct spf_eval *ev, const char *domain, ns_type type,
    SPF_dns_stat_t herrno);
/* The answer that makes libspf2 unwind once our layer has decided. */
SPF_dns_rr_t *spf_rr_abort(struct spf_eval *ev, const char *domain, ns_type type);
/* The domain whose record is being evaluated. */
const char *spf_cur_dom(const struct spf_eval *ev);
/* The limits of RFC 7208 4.6.4: false, and the check decided, past them. */
bool spf_count_term(struct spf_eval *ev, const char *what, const char *name);
bool spf_count_void(struct spf_eval *ev, const char *name);
/* Decides temperror for a failed lookup; ctx: "" or what it was for. */
void spf_decide_temp(struct spf_eval *ev, enum mp_dns_status st, const char *type,
    const char *name, const char *ctx);
bool spf_layer_name(struct spf_eval *ev, const char *raw, bool strict, char *out,
    size_t outlen, bool *ptr_r);
void spf_unescape_name(const char *in, char *out, size_t outlen);

/* ---- the ptr mechanism and %{p} (spf_ptr.c) ---- */

bool spf_ptr_failure_skipped(struct spf_eval *ev, enum mp_dns_status st, const char *name);
bool spf_validated_name(struct spf_eval *ev, const char *d, bool strict, char *out,
    size_t outlen);
SPF_dns_rr_t *spf_ptr_emulate(struct spf_eval *ev, const char *domain, ns_type type,
    const char *target);

/* ---- macros (spf_macro.c) ---- */

bool spf_macro_string_ok(const char *s, size_t n, bool exp_letters, bool *ends_macro_r,
    const char **why_r);
void spf_client_ipstr(const struct spf_eval *ev, char out[INET6_ADDRSTRLEN]);
bool spf_spec_needs_marking(const char *s, size_t n);
void spf_spec_mark(struct mp_buf *b, const char *s, size_t n, bool ptr);
bool spf_macro_unmark(struct spf_eval *ev, const char *raw, size_t n, bool strict,
    struct mp_buf *out, bool *ptr_r);
SPF_errcode_t spf_layer_get_exp(SPF_server_t *server, const char *domain, char **bufp,
    size_t *buflenp);

/* ---- the copy of a record that libspf2 compiles (spf_copy.c) ---- */

char *spf_libspf2_copy(const char *record, int family);

/* ---- shared by check_host and inspection (spf.c) ---- */

/* src made printable and cut to fit dst. */
void spf_set_text(char *dst, size_t dstlen, const char *src);

#endif
