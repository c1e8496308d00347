/*
 * dmarc: RFC 7489 evaluation with libopendmarc, fed the record that dns.c
 * fetched (libopendmarc's own lookups have no timeout). Adds what
 * libopendmarc lacks: temperror kept apart from "no record", the
 * DMARCbis tags np and t=y, and strict alignment checked by us
 * (libopendmarc upstream #268).
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
	int pct;                          /* 0..100, 100 when absent */
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

/*
 * Identifier alignment as DMARC defines it: strict is an exact match,
 * relaxed is the same organizational domain (from the PSL). Both names
 * must be normalised. Exposed for tests and the audit.
 */
bool mp_dmarc_aligned(const struct mp_psl *psl, const char *a, const char *b, bool strict);

/*
 * Optional: initialise libopendmarc with a PSL file (NULL: the built-in
 * default MP_PSL_FILE). Its library init is global and not thread-safe,
 * so it runs once (pthread_once); the first caller's path wins, and
 * mp_dmarc_new calls it with NULL if nobody did before. Use the same
 * file as mp_psl_load. Returns false and a reason when the library
 * could not load the file (mailposture then relies on its own
 * alignment check, which does not need libopendmarc's PSL).
 */
bool mp_dmarc_library_init(const char *psl_file, char *err, size_t errlen);

/* A DKIM result taken from a trusted Authentication-Results header. */
/* DKIM results one evaluation considers, at most (the rest are not counted). */
#define MP_DKIM_MAX 16

struct mp_dmarc_dkim {
	char domain[MP_DOMAIN_MAX];   /* header.d */
	bool pass;
};

struct mp_dmarc_input {
	const char *from_domain;        /* normalised RFC5322.From domain */
	enum mp_spf_result spf;         /* MAIL FROM identity only */
	const char *spf_domain;         /* the MAIL FROM domain that SPF checked */
	const struct mp_dmarc_dkim *dkim;
	size_t ndkim;
	const char *ip;                 /* added: client IP for libopendmarc, may be NULL */
};

struct mp_dmarc_outcome {
	enum mp_dmarc_result result;
	enum mp_dmarc_policy policy;        /* the policy that applies: p, sp or np;
	                                     * UNSET without a valid record */
	enum mp_dmarc_policy disposition;   /* what to do: after pct and t=y;
	                                     * none unless result is FAIL */
	bool spf_aligned, dkim_aligned;
	bool record_found;
	bool from_org;                      /* the record came from the org domain */
	char policy_domain[MP_DOMAIN_MAX];  /* where the record was found, "" if none */
	char org_domain[MP_DOMAIN_MAX];
	char record[512];                   /* printable */
	struct mp_dmarc_record rec;
	char reason[256];                   /* printable */
	/* Set by mp_dmarc_discover for mp_dmarc_decide: */
	char from[MP_DOMAIN_MAX];           /* the From domain, normalised */
	bool discovered;
	const char *policy_tag;             /* "p", "sp" or "np": where policy came from */
	int from_exists;                    /* 1 yes, 0 NXDOMAIN (np applies), -1 unknown */
};

struct mp_dmarc;

/* dns and psl are borrowed. */
struct mp_dmarc *mp_dmarc_new(struct mp_dns *dns, const struct mp_psl *psl);
void mp_dmarc_free(struct mp_dmarc **dp);

/*
 * Fetches the record (the From domain, then the org domain) and
 * evaluates. pct sampling uses sample (0..99, pass -1 for random) so
 * that tests are repeatable.
 *
 * Results: NONE when neither _dmarc name holds a DMARC record (NXDOMAIN,
 * NODATA, or only other TXT records); TEMPERROR when either lookup
 * failed (SERVFAIL, timeout, local error), never NONE; PERMERROR for an
 * invalid record, for several DMARC records at one name (RFC 7489 6.6.3
 * says no policy applies: reported as permerror so that the broken setup
 * shows, with no action either way) and for a From domain that is not a
 * valid name. Discovery stops at the From domain when it has any DMARC
 * record, valid or not. policy is p (record at the From domain), or sp /
 * np (DMARCbis) for a record inherited from the org domain; np needs one
 * A query of the From domain (NXDOMAIN = does not exist), made only when
 * np differs from sp; if that query fails, a failing message gets
 * TEMPERROR. disposition is none unless the result is FAIL; then it is
 * the policy, one level lower (reject->quarantine->none) when the
 * sample is outside pct or the record says t=y (one level at most).
 * SPF counts only as a pass for in->spf_domain; DKIM results are taken
 * as given (the caller keeps only trusted ones), at most MP_DKIM_MAX. Our own
 * alignment decides (strict = same name, relaxed = same org domain);
 * libopendmarc cross-checks and is overruled when it disagrees.
 */
enum mp_dmarc_result mp_dmarc_evaluate(struct mp_dmarc *d, const struct mp_deadline *deadline,
    const struct mp_dmarc_input *in, int sample, struct mp_dmarc_outcome *out);

/*
 * mp_dmarc_evaluate in its two phases, so that a caller can fetch the
 * policy before anything a sender controls spends the deadline (issue
 * 11: a sender's slow SPF must not starve the victim's DMARC lookup).
 * mp_dmarc_discover makes every DNS query (the record, and the np
 * existence check when it can matter) and returns PASS when a valid
 * record was found, else the final result. mp_dmarc_decide makes no
 * query: it aligns the authenticated identities against the record in
 * out and settles result, policy and disposition; call it once, after
 * mp_dmarc_discover, with in->from_domain ignored (out->from is used).
 */
enum mp_dmarc_result mp_dmarc_discover(struct mp_dmarc *d, const struct mp_deadline *deadline,
    const char *from_domain, struct mp_dmarc_outcome *out);
enum mp_dmarc_result mp_dmarc_decide(struct mp_dmarc *d, const struct mp_dmarc_input *in,
    int sample, struct mp_dmarc_outcome *out);

/*
 * Looks up the record that applies to a domain (itself, then its org
 * domain), for posture and the audit. Returns MP_DMARC_NONE,
 * MP_DMARC_PASS (found and valid), PERMERROR or TEMPERROR, with the same
 * discovery rules as mp_dmarc_evaluate. policy is the p/sp/np that
 * applies to the domain (sp when the np existence check fails: the
 * reason says so); disposition is that policy after t=y only.
 */
enum mp_dmarc_result mp_dmarc_lookup(struct mp_dmarc *d, const struct mp_deadline *deadline,
    const char *domain, struct mp_dmarc_outcome *out);

#endif
