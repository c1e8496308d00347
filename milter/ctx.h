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

#include "dkim.h"
#include "from.h"
#include "milter.h"
#include "util.h"

/*
 * Identities are kept whole or not at all: SPF and alignment must judge
 * the string the client sent, never a cut copy of it. Past these bounds
 * the message is refused (see milter.c, milter_refuse). RFC 5321 allows a
 * path of 256 octets and a domain of 255; Postfix's default
 * line_length_limit (2048) bounds an SMTP command line, so nothing a
 * stock Postfix passes on comes near them.
 */
#define MP_HELO_MAX       2048
#define MP_MAILFROM_MAX   2048
/*
 * Positions of Authentication-Results fields tracked for deleting the
 * forged ones, one bit each (at most 128 KB per message). A field costs
 * at least 25 bytes of header ("Authentication-Results:x\n"), so this
 * many is past 26 MB of headers, beyond Postfix's default
 * message_size_limit (10 MB). A forged field past it means a tempfail.
 */
#define MP_AR_TRACK_MAX   (1u << 20)
#define MP_QID_MAX        64
/*
 * From fields have a budget of their own, apart from [milter] max_headers
 * and max_header_bytes (which bound Authentication-Results only): the
 * first MP_FROM_KEEP_WHOLE are kept whole up to MP_FROM_KEEP_LEN bytes,
 * one byte past what the From parser accepts, so a longer one still reads
 * as too long and never turns into a shorter, different From. One more is
 * kept, cut to MP_FROM_EXTRA_LEN, and further ones are only counted; a
 * field cut or not kept makes the From unusable for the evaluator
 * (mp_message.from_incomplete): what was lost may be the forged one.
 */
#define MP_FROM_KEEP_WHOLE 2
#define MP_FROM_KEEP_LEN   (MP_FROM_MAX_LEN + 1)
#define MP_FROM_KEEP       3
#define MP_FROM_EXTRA_LEN  256

/* Why a message is refused before it is evaluated (static strings). */
enum msg_refusal {
	MSG_OK = 0,
	MSG_MAILFROM_TOO_LONG,          /* MAIL FROM past MP_MAILFROM_MAX */
	MSG_HELO_TOO_LONG,              /* HELO past MP_HELO_MAX */
};

struct msg {
	struct mp_engine *eng;          /* the generation this message runs under */
	/* The envelope sender, whole (without <>): SPF and alignment read
	 * this and nothing else. "" for the null sender, and when refused. */
	char *mail_from;
	size_t mail_from_len;
	enum msg_refusal refusal;       /* refused at MAIL or at eom */
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
	bool skip_if_spf;               /* skip_mail_from matched: skipped only if SPF
	                                 * passes for that domain (checked at eom) */
	char skip_why[128];
	/*
	 * Incoming A-R fields that carry our authserv-id, to delete at eom:
	 * bit p-1 of forged_map is set for the one at 1-based position p
	 * among all A-R fields. A bitmap, so that any number of them costs
	 * one bit each, not a cap that would let one through.
	 */
	unsigned ar_seen;               /* A-R fields seen, saturating past MP_AR_TRACK_MAX */
	unsigned char *forged_map;
	size_t forged_map_len;          /* bytes */
	unsigned forged_last;           /* highest forged position, 0: none */
	size_t nforged;
	bool forged_overflow;           /* a forged A-R past MP_AR_TRACK_MAX: tempfail */
	/* DKIM verification, fed every header field and the body; NULL
	 * when the message is not verified here (skipped, refused, [dkim]
	 * verify = no). */
	struct mp_dkim_msg *dkim;
	bool dkim_eoh;                  /* its header section has ended */
};

struct conn {
	char ip[INET6_ADDRSTRLEN];      /* "" when the MTA gave no address */
	char host[256];                 /* printable, for the log only */
	bool nr_conn, nr_helo, nr_mail, nr_hdr, nr_eoh; /* negotiated: no reply for these */
	bool leadspc;                   /* header values keep their leading space */
	bool can_skip;                  /* the MTA understands SMFIS_SKIP */
	/* The last HELO/EHLO name, whole; "" when none or too long. */
	char *helo;
	bool helo_too_long;             /* past MP_HELO_MAX: its messages are refused */
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

/* Records the HELO name whole, or notes it as too long (helo_too_long,
 * helo ""): never a cut name. */
void conn_set_helo(struct conn *c, const char *helo);

/*
 * Records the envelope sender (argv[0] of MAIL, "<addr>" or "<>") whole,
 * without the angle brackets. Past MP_MAILFROM_MAX nothing is kept and
 * m->refusal says why. The HELO bound is checked here too, so that the
 * refusal is decided once, at MAIL.
 */
void msg_set_mail_from(struct msg *m, const struct conn *c, const char *arg);

/* Calls fn for each forged A-R position, highest first, until fn returns
 * false; returns false then, true when every one was visited. */
bool msg_each_forged(const struct msg *m, bool (*fn)(unsigned pos, void *arg), void *arg);

/*
 * Records one header field. Keeps From fields within their own budget
 * (see MP_FROM_KEEP) and Authentication-Results within the caps of the
 * message's engine; counts everything; notes the position of A-R fields
 * with our authserv-id. A skipped message keeps nothing but those
 * positions. Never fails: past a cap it records the overflow instead
 * (forged_overflow, which eom answers with a tempfail).
 */
void msg_add_header(struct msg *m, const char *name, const char *value);

/* Starts the message's DKIM verification, when its engine verifies DKIM. */
void msg_dkim_start(struct msg *m);
/*
 * Feeds one header field, whatever its name, to the verification, with
 * the value as it was in the message: when the MTA did not keep the
 * space after the colon (leadspc false), the one it removed goes back.
 */
void msg_dkim_header(struct msg *m, const char *name, const char *value, bool leadspc);
/* End of the header section, once: the verifier reads the signatures
 * and prefetches their keys. */
void msg_dkim_eoh(struct msg *m);
/* Feeds a chunk of the body. False when the message has nothing to
 * verify: the rest of the body is not needed. */
bool msg_dkim_body(struct msg *m, const unsigned char *chunk, size_t len);

#endif
