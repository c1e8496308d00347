/*
 * dmarc: DMARC as RFC 9989 defines it, on our own: a bounded record
 * parser, policy discovery and Organizational Domains by the DNS Tree
 * Walk (no Public Suffix List), np, t=y, and alignment. Every lookup
 * goes through dns.c (timeouts, temperror kept apart from "no record")
 * and, within one message, through a memo (struct mp_dmarc_msg).
 */
#ifndef MP_DMARC_H
#define MP_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"
#include "domain.h"
#include "spf.h"
#include "util.h"

enum mp_dmarc_result {
	MP_DMARC_NONE,       /* no policy published */
	MP_DMARC_PASS,
	MP_DMARC_FAIL,
	MP_DMARC_TEMPERROR,  /* the record could not be fetched: never "none" */
	MP_DMARC_PERMERROR,  /* the record is broken */
};

enum mp_dmarc_policy {
	MP_DMARC_P_UNSET,
	MP_DMARC_P_NONE,
	MP_DMARC_P_QUARANTINE,
	MP_DMARC_P_REJECT,
};

const char *mp_dmarc_result_str(enum mp_dmarc_result r);   /* "pass", ... */
const char *mp_dmarc_policy_str(enum mp_dmarc_policy p);   /* "none", "quarantine", "reject", "unset" */

/* One parsed DMARC record (ours: strict, bounded, knows np and t). */
struct mp_dmarc_record {
	enum mp_dmarc_policy p, sp, np;   /* sp/np UNSET when absent */
	int pct;                          /* 0..100, 100 when absent: parsed and
	                                   * shown, no longer policy (RFC 9989) */
	bool adkim_strict, aspf_strict;
	bool testing;                     /* t=y */
	char rua[512], ruf[512];          /* raw URI lists, printable, "" when absent */
	int fo_present;
	/* Added by the dmarc module (add-only): */
	bool p_missing;                   /* no p= tag: treated as p=none (RFC 9989 4.7) */
	bool policy_fallback;             /* p invalid but rua valid: treated as
	                                   * "v=DMARC1; p=none" (RFC 9989 4.10.1) */
	int rua_count, ruf_count;         /* syntactically valid URIs in rua/ruf */
	unsigned long ri;                 /* 86400 when absent */
	char warning[160];                /* printable: the first thing that was
	                                   * discarded or defaulted, "" when none */
	bool p_invalid, sp_invalid, np_invalid;   /* present but not a valid value
	                                   * (its first occurrence); the rules
	                                   * above are already applied */
	char psd;                         /* 'y', 'n' or 'u' (absent or invalid) */
	bool pct_set, rf_set, ri_set;     /* present: removed in RFC 9989, ignored */
};

/* Parses a record; false + printable reason when it is not valid DMARC. */
bool mp_dmarc_record_parse(const char *txt, size_t len, struct mp_dmarc_record *rec,
    char *why, size_t whylen);

/*
 * Parser rules (RFC 9989 4.7, 4.8 and 4.10.1):
 * - Only the v= tag can make a record invalid: "v=DMARC1" comes first,
 *   the tag name case-insensitive, the value exactly "DMARC1" (4.7:
 *   otherwise "the entire record MUST be ignored"), and no other byte in
 *   that tag (a NUL, a control character or a non-ASCII byte there
 *   fails it). A TXT string that fails this is not a DMARC record at all
 *   (mp_dmarc_is_record).
 * - Any other defect discards the one tag it is in and the rest stands
 *   (4.8: "Syntax errors in the remainder of the record MUST be
 *   discarded in favor of default values (if any) or ignored
 *   outright"); rec->warning names the first thing discarded:
 *   - a segment without '=' or with a bad tag name (ALPHA
 *     *(ALPHA / DIGIT / "_"), at most 32 bytes) is dropped as if absent,
 *     since which tag it meant cannot be known;
 *   - unknown tags are ignored, without a warning (4.7);
 *   - a known tag given again: the first occurrence counts, valid or
 *     not, and later ones are ignored with a warning. So
 *     "p=reject; p=none" is p=reject: nothing after the owner's first p
 *     can lower it;
 *   - a value holding NUL, a control character other than HTAB, DEL or
 *     a non-ASCII byte discards its tag (for p/sp/np: that tag is
 *     present but invalid, see below);
 *   - CR, LF, VT and FF at the edge of a tag or of the record (a
 *     trailing CR or CRLF) are skipped like whitespace, with a warning;
 *     inside a value they discard the tag;
 *   - pct, adkim, aspf, t, psd, fo, rf and ri with a bad value keep
 *     their default; invalid URIs in rua/ruf are not counted.
 * - p/sp/np: none|quarantine|reject (case-insensitive). A missing p is
 *   p=none (4.7: "treated as if it included p=none"; p_missing). A p
 *   that is present but invalid (4.10.1): with at least one valid rua
 *   URI the record counts as "v=DMARC1; p=none" (policy_fallback, sp/np
 *   dropped, reporting tags kept); without one the receiver "applies no
 *   DMARC processing", so the parse fails (permerror). An invalid sp or
 *   np is discarded alone and its fallback applies (np to sp, sp to p):
 *   4.10.1 read literally would let "p=reject; sp=typo" deliver spoofs
 *   of the domain itself: a typo there reads as if the tag were absent.
 *   An invalid p does not hold the place of a valid p after it.
 *   p_invalid/sp_invalid/np_invalid say which.
 * - Bounds: a record over MP_DMARC_RECORD_MAX bytes is read up to its
 *   last ';' before the bound (no tag is cut in two) and the tags past
 *   it are ignored, with a warning; it is invalid only when no ';'
 *   falls before the bound. More than MP_DMARC_MAX_TAGS tags only warns:
 *   the parse is one pass, linear in the bounded length, and a cap that
 *   dropped tags could drop the owner's p, which would fail open.
 */
#define MP_DMARC_RECORD_MAX 4096
#define MP_DMARC_MAX_TAGS   64

/* True when the TXT string starts with a valid v=DMARC1 tag (RFC 9989
 * 4.10 step 2): a TXT record that does not is simply not a DMARC record.
 * A record over MP_DMARC_RECORD_MAX bytes may still be one. */
bool mp_dmarc_is_record(const char *txt, size_t len);

/* A DKIM result DMARC considers (the caller keeps only trusted ones). */
#define MP_DKIM_MAX 16

struct mp_dmarc_dkim {
	char domain[MP_DOMAIN_MAX];   /* d= */
	bool pass;
};

struct mp_dmarc_input {
	const char *from_domain;        /* normalised RFC5322.From domain */
	enum mp_spf_result spf;         /* MAIL FROM identity only */
	const char *spf_domain;         /* the MAIL FROM domain that SPF checked */
	const struct mp_dmarc_dkim *dkim;
	size_t ndkim;
};

struct mp_dmarc_outcome {
	enum mp_dmarc_result result;
	enum mp_dmarc_policy policy;        /* the policy that applies: p, sp or np;
	                                     * UNSET without a valid record */
	enum mp_dmarc_policy disposition;   /* what to do: after t=y; none unless
	                                     * result is FAIL */
	bool spf_aligned, dkim_aligned;
	bool record_found;
	bool from_org;                      /* the record is not the From domain's
	                                     * own: its Organizational Domain's or
	                                     * its Public Suffix Domain's */
	bool from_psd;                      /* ... and that is a PSD's (psd=y) */
	char policy_domain[MP_DOMAIN_MAX];  /* where the record was found, "" if none */
	char org_domain[MP_DOMAIN_MAX];     /* the From domain's Organizational
	                                     * Domain (RFC 9989 4.10.2); "" until
	                                     * a walk has found it */
	char record[512];                   /* printable */
	struct mp_dmarc_record rec;
	char reason[256];                   /* printable */
	char note[192];                     /* printable: what the walk discarded
	                                     * (several records at a name), "" */
	/* Set by mp_dmarc_discover for mp_dmarc_decide: */
	char from[MP_DOMAIN_MAX];           /* the From domain, normalised */
	bool discovered;
	const char *policy_tag;             /* "p", "sp" or "np": where policy came from */
	int from_exists;                    /* 1 yes, 0 NXDOMAIN (np applies), -1 unknown */
	bool org_failed;                    /* the walk for org_domain failed */
};

struct mp_dmarc;
struct mp_dmarc_msg;

/* dns is borrowed; one mp_dmarc serves every thread. */
struct mp_dmarc *mp_dmarc_new(struct mp_dns *dns);
void mp_dmarc_free(struct mp_dmarc **dp);

/*
 * One message's lookups: every _dmarc name asked once, whatever walks
 * need it. Not shared between threads. queries counts the DNS queries
 * made (the np existence check included); trace(i) is the i-th, as
 * "_dmarc.NAME" or "A NAME", NULL past the end or MP_DMARC_TRACE_MAX.
 */
#define MP_DMARC_WALK_MAX  8    /* lookups per walk (RFC 9989 4.10) */
#define MP_DMARC_TRACE_MAX 32
struct mp_dmarc_msg *mp_dmarc_msg_new(struct mp_dmarc *d);
void mp_dmarc_msg_free(struct mp_dmarc_msg **mp);
unsigned mp_dmarc_msg_queries(const struct mp_dmarc_msg *m);
const char *mp_dmarc_msg_trace(const struct mp_dmarc_msg *m, size_t i);

/* The walk's next target after cur (RFC 9989 4.10 step 4): its parent,
 * or its last 7 labels when it has 8 or more. False after one label. */
bool mp_dmarc_walk_next(const char *cur, char next_r[MP_DOMAIN_MAX]);

/*
 * Policy discovery (RFC 9989 4.10.1): the From domain's own record;
 * else, by the walk from it, the record of its Organizational Domain,
 * else the record of its Public Suffix Domain (the psd=y record that
 * ended the walk). A lookup failure anywhere the answer depends on is
 * TEMPERROR, never NONE. Several DMARC records at one name are
 * discarded and the walk goes on (out->note says so). Returns PASS when
 * a valid record applies (out->rec), NONE when none does, PERMERROR for
 * a record that applies but is invalid (an invalid p without a valid
 * rua: "no DMARC processing") and for a From domain that is not a valid
 * name. policy is p for the From domain's own record, else sp, or np
 * when the From domain does not exist (an A query, made only when np
 * and sp differ, and a CNAME query when it says NXDOMAIN: a CNAME to
 * nowhere exists; if one fails, a failing message gets TEMPERROR).
 *
 * mp_dmarc_discover makes the queries that only the policy's owner
 * controls, so it can run before anything a sender controls spends the
 * deadline. mp_dmarc_decide aligns the authenticated identifiers: the
 * same name aligns; under relaxed alignment, an identifier at or below
 * the From domain's Organizational Domain aligns when its own walk
 * gives that same Organizational Domain (RFC 9989 4.10.2). These walks
 * go only over names the memo mostly holds already. An identifier
 * whose alignment could not be told (a lookup failed) makes a message
 * that nothing else aligned TEMPERROR, never a fail or a pass. The
 * disposition is none unless the result is FAIL; t=y lowers it one
 * level. pct, rf and ri are no longer policy (RFC 9989).
 */
enum mp_dmarc_result mp_dmarc_discover(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    const char *from_domain, struct mp_dmarc_outcome *out);
enum mp_dmarc_result mp_dmarc_decide(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    const struct mp_dmarc_input *in, struct mp_dmarc_outcome *out);

/*
 * Makes, in the memo, the lookups that aligning id (a MAIL FROM or d=
 * domain, not yet authenticated) with the From domain of out will need,
 * and none when it cannot align. A caller that prepares every
 * identifier before spending the deadline on what a sender controls
 * leaves mp_dmarc_decide nothing to ask.
 */
void mp_dmarc_prepare(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    struct mp_dmarc_outcome *out, const char *id);

/* Both phases at once, with a memo of its own. */
enum mp_dmarc_result mp_dmarc_evaluate(struct mp_dmarc *d, const struct mp_deadline *deadline,
    const struct mp_dmarc_input *in, struct mp_dmarc_outcome *out);

/*
 * The record that applies to a domain, for posture and the audit, by
 * the same discovery: MP_DMARC_NONE, MP_DMARC_PASS (found and valid),
 * PERMERROR or TEMPERROR. policy is the p/sp/np that applies to the
 * domain (sp when the np existence check fails: the reason says so);
 * disposition is that policy after t=y only. The Organizational Domain
 * is found too (org_domain, or org_failed), for display.
 */
enum mp_dmarc_result mp_dmarc_lookup(struct mp_dmarc *d, const struct mp_deadline *deadline,
    const char *domain, struct mp_dmarc_outcome *out);

/*
 * Whether id could align with the From domain of a discovered outcome,
 * without a query: strict is the same name; relaxed is id at or below
 * the From domain's Organizational Domain, or, while that is not known,
 * any id that shares a label with the From domain (the Organizational
 * Domain could be as high as that). For counting and for telling
 * whether a temporary failure could have mattered, never for a pass.
 */
bool mp_dmarc_could_align(const struct mp_dmarc_outcome *out, const char *id, bool strict);

#endif
