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

#include "milter.h"
#include "util.h"

#define MP_HELO_MAX       255     /* longer HELO names are cut (RFC 5321 says 255) */
#define MP_MAILFROM_MAX   512     /* longer envelope senders are cut */
#define MP_QID_MAX        64
#define MP_FROM_OVERFLOW_KEEP  2  /* From fields kept (truncated) past the cap */
#define MP_FROM_OVERFLOW_LEN   256

struct msg {
	struct mp_engine *eng;          /* the generation this message runs under */
	char mail_from[MP_MAILFROM_MAX];
	bool mail_from_cut;
	/* Headers kept for the evaluator: From and Authentication-Results. */
	struct mp_header *hdr;
	size_t nhdr;
	size_t kept_bytes;
	size_t nseen;                   /* every header field seen */
	size_t bytes_seen;
	size_t from_overflow;           /* From fields past the cap (kept cut) */
	size_t ar_overflow;             /* A-R fields past the cap (dropped) */
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
	bool nr_conn, nr_helo, nr_hdr;  /* negotiated: no reply for these */
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
 * Records one header field. Keeps From and Authentication-Results within
 * the caps of the message's engine; counts everything; notes the
 * position of A-R fields with our authserv-id. Never fails: past a cap
 * it records the overflow instead.
 */
void msg_add_header(struct msg *m, const char *name, const char *value);

#endif
