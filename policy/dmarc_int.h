/*
 * dmarc_int.h: what dmarc.c and dmarc_walk.c share: the per-message
 * memo of _dmarc lookups and the RFC 9989 DNS Tree Walk over it.
 */
#ifndef MP_DMARC_INT_H
#define MP_DMARC_INT_H

#include "dmarc.h"

struct mp_dmarc {
	struct mp_dns *dns;
};

enum mp_dmarc_fetch {
	MP_DMARC_FETCH_NONE,    /* no DMARC record at the name */
	MP_DMARC_FETCH_ONE,     /* exactly one: the walk may use it */
	MP_DMARC_FETCH_MANY,    /* several: all discarded (RFC 9989 4.10 step 2) */
	MP_DMARC_FETCH_TEMP,    /* the lookup failed: the walk ends here */
};

/* What one _dmarc.<name> lookup gave. Kept whole for the message: the
 * policy record is copied from here, never fetched twice. */
struct mp_dmarc_seen {
	char name[MP_DOMAIN_MAX];       /* the domain, without "_dmarc." */
	enum mp_dmarc_fetch f;
	enum mp_dns_status status;
	int count;                      /* DMARC records at the name */
	bool valid;                     /* FETCH_ONE and the record parsed */
	char psd;                       /* of the one record: 'y', 'n' or 'u' */
	char why[160];                  /* TEMP: the DNS error; invalid: the parse error */
	bool overflow;                  /* TEMP because the message asked too much */
	char text[512];                 /* the one record, printable */
	struct mp_dmarc_record rec;
};

/* Names one message may look up: a From domain's walk, the MAIL FROM
 * domain's and MP_DKIM_MAX signatures' (8 each) fit twice over; beyond,
 * the lookups fail (overflow). Entries are allocated as they come. */
#define MP_DMARC_MEMO_MAX (2 * MP_DMARC_WALK_MAX * (2 + MP_DKIM_MAX))

struct mp_dmarc_msg {
	struct mp_dmarc *d;
	struct mp_dmarc_seen *seen[MP_DMARC_MEMO_MAX];  /* each its own allocation:
	                                 * walks keep pointers to them */
	size_t nseen;
	unsigned queries;               /* DNS queries made, the np checks included */
	char trace[MP_DMARC_TRACE_MAX][MP_DOMAIN_MAX + 7];
	size_t ntrace;
};

/* Labels in a name. */
size_t mp_dmarc_labels(const char *name);

/* The _dmarc lookup of name, from the memo or made now (and kept). */
const struct mp_dmarc_seen *mp_dmarc_fetch(struct mp_dmarc_msg *m,
    const struct mp_deadline *deadline, const char *name);

/* A query that is not a _dmarc lookup (the np existence check): counted
 * and traced like the others. */
struct mp_dns_result *mp_dmarc_query(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    const char *name, enum mp_dns_type type);

/*
 * The DNS Tree Walk of RFC 9989 4.10 from start (normalised), at most
 * MP_DMARC_WALK_MAX lookups: start, then its parent or, from 8 labels
 * or more, its last 7 labels, and so on up to the top-level label; it
 * stops after a single record with psd=y or psd=n. seq_r gets the
 * lookups in order. Returns their number; *failed_r is true when a
 * lookup failed and ended the walk (seq_r[n - 1] is that one).
 */
size_t mp_dmarc_walk(struct mp_dmarc_msg *m, const struct mp_deadline *deadline,
    const char *start, const struct mp_dmarc_seen *seq_r[MP_DMARC_WALK_MAX], bool *failed_r);

/*
 * The Organizational Domain of a completed walk from start (RFC 9989
 * 4.10.2), from its valid records only: the first (longest name first)
 * with psd=n; else the name one label below the first psd=y record
 * other than the start's; else the shortest name with a record; else
 * start itself.
 */
void mp_dmarc_walk_org(const char *start, const struct mp_dmarc_seen *const *seq, size_t n,
    char org_r[MP_DOMAIN_MAX]);

#endif
