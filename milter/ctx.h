/*
 * ctx: the per-connection and per-message state of the milter. Each is
 * created in one place and freed in one place (conn_free, msg_free);
 * every way out of a connection or a message goes through those.
 */
#ifndef MP_CTX_H
#define MP_CTX_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>

#include "from.h"
#include "milter.h"
#include "util.h"

#define MP_HELO_MAX       255     /* longer HELO names are cut (RFC 5321 says 255) */
#define MP_MAILFROM_MAX   512     /* longer envelope senders are cut */
#define MP_QID_MAX        64
/*
 * From fields have a budget of their own, apart from [milter] max_headers
 * and max_header_bytes (which bound Authentication-Results only): the
 * first MP_FROM_KEEP_WHOLE are kept whole up to MP_FROM_KEEP_LEN bytes,
 * one byte past what the From parser accepts, so a longer one still reads
 * as too long and never turns into a shorter, different From. One more is
 * kept, cut to MP_FROM_EXTRA_LEN: with two or more the evaluator already
 * sees "several From header fields". Further ones are only counted.
 */
#define MP_FROM_KEEP_WHOLE 2
#define MP_FROM_KEEP_LEN   (MP_FROM_MAX_LEN + 1)
#define MP_FROM_KEEP       3
#define MP_FROM_EXTRA_LEN  256

struct msg {
	struct mp_engine *eng;          /* the generation this message runs under */
	char mail_from[MP_MAILFROM_MAX];
	bool mail_from_cut;
	/* Headers kept for the evaluator: From and Authentication-Results. */
	struct mp_header *hdr;
	size_t nhdr;
	size_t nar_kept;                /* A-R fields kept (within max_headers) */
	size_t kept_bytes;              /* their bytes (within max_header_bytes) */
	size_t nseen;                   /* every header field seen */
	size_t bytes_seen;
	size_t nfrom;                   /* every From field seen */
	size_t from_cut;                /* From fields kept shorter than they were */
	size_t from_overflow;           /* From fields past MP_FROM_KEEP (dropped) */
	size_t ar_overflow;             /* A-R fields past the cap (dropped) */
	/* Not evaluated (skip_* rules): why, for the log at eom. Only the
	 * forged A-R positions are recorded, to delete them all the same. */
	bool skipped;
	char skip_why[128];
	/* Incoming A-R fields: their 1-based position among all A-R fields,
	 * for those that carry our authserv-id (to delete at eom). */
	unsigned ar_seen;
	unsigned *forged;
	size_t nforged;
	bool forged_overflow;           /* more forged A-R than we track */
};

struct conn {
	char ip[INET6_ADDRSTRLEN];      /* "" when the MTA gave no address */
	char host[256];                 /* printable */
	bool nr_conn, nr_helo, nr_mail, nr_hdr; /* negotiated: no reply for these */
	char helo[MP_HELO_MAX + 1];     /* raw, cut at MP_HELO_MAX */
	unsigned long nmsg;
	struct msg *msg;                /* the message in progress, or NULL */
};

struct conn *conn_new(void);
void conn_free(struct conn **cp);

/* Starts a message under the current engine generation; any message
 * still open on the connection is freed first. NULL when there is no
 * engine (shutting down). */
struct msg *msg_start(struct conn *c);
void msg_free(struct msg **mp);

/*
 * Records one header field. Keeps From fields within their own budget
 * (see MP_FROM_KEEP) and Authentication-Results within the caps of the
 * message's engine; counts everything; notes the position of A-R fields
 * with our authserv-id. A skipped message keeps nothing but those
 * positions. Never fails: past a cap it records the overflow instead.
 */
void msg_add_header(struct msg *m, const char *name, const char *value);

#endif
