/*
 * dkim: DKIM signatures (RFC 6376) verified with libopendkim, their keys
 * fetched by our own resolver (policy/dns) within the message's deadline,
 * never by libopendkim's.
 *
 * One struct mp_dkim per evaluator (it holds the library handle); one
 * struct mp_dkim_msg per message, fed as the message streams in:
 *
 *	struct mp_dkim_msg *m = mp_dkim_msg_new(dkim);
 *	mp_dkim_msg_header(m, "From", " Bob <bob@example.com>", len);  // each field, in order
 *	...
 *	mp_dkim_msg_eoh(m);                 // prefetches every signature's key
 *	if (!mp_dkim_msg_signed(m))         // no DKIM-Signature: the body is
 *		...skip the body...            // not needed
 *	mp_dkim_msg_body(m, chunk, n);      // as it streams; nothing buffered whole
 *	...
 *	n = mp_dkim_msg_finish(m, &deadline, sigs, MP_DKIM_MAX);   // in mp_evaluate()
 *	mp_dkim_msg_free(&m);
 *
 * Rules beyond RFC 6376: rsa-sha1 and RSA keys under 1024 bits are never
 * a pass (RFC 8301: result policy, with the reason); Ed25519 (RFC 8463)
 * is verified when libopendkim can (mp_dkim_has_ed25519), else neutral;
 * a signature whose l= leaves part of the body unsigned is policy or
 * pass as [dkim] body_length says; signatures past [dkim] max_signatures
 * are reported as not checked (result none), those whose d= aligns with
 * the From domain being verified first.
 *
 * Results (RFC 8601 section 2.7.1): a signature that cannot be read
 * (a tag-list error, a missing or unknown tag value, b= or bh= that is
 * not base64, an h= without From or over 4095 bytes, an expired
 * signature) is neutral, RFC 8601's result for syntax errors: broken
 * base64 leaves nothing to verify, which is not a failed verification.
 * A key that cannot be had for good is permerror, with its reason: no
 * record at the selector (NXDOMAIN or no TXT), a revoked key (empty
 * p=), a record that is not a key or is over 1024 bytes; a key lookup
 * that timed out or failed is temperror; a signature that does not
 * verify is fail. Of
 * several key records at one name (RFC 6376 3.6.2.2 lets the verifier
 * choose), the one used is the one of the signature's key type with the
 * longest p= (the strongest key), the first in byte order on a tie:
 * the choice never depends on the order of the DNS answer.
 */
#ifndef MP_DKIM_H
#define MP_DKIM_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "dmarc.h"
#include "dns.h"
#include "domain.h"
#include "util.h"

/* RFC 8601 section 2.7.1 results. */
enum mp_dkim_result {
	MP_DKIM_NONE,           /* not signed, or a signature not checked */
	MP_DKIM_PASS,
	MP_DKIM_FAIL,           /* the signature did not verify (body or headers changed) */
	MP_DKIM_POLICY,         /* verified, but not acceptable (rsa-sha1, short key, l=) */
	MP_DKIM_NEUTRAL,        /* a signature that cannot be processed (syntax) */
	MP_DKIM_TEMPERROR,      /* the key could not be fetched: try again later */
	MP_DKIM_PERMERROR,      /* no key, revoked key, a key record that is not a key */
};

const char *mp_dkim_result_str(enum mp_dkim_result r);

#define MP_DKIM_SELECTOR_MAX 64

/* One signature's outcome: plain data. */
struct mp_dkim_sig {
	char domain[MP_DOMAIN_MAX];         /* d=, normalised; "" when unreadable */
	char selector[MP_DKIM_SELECTOR_MAX]; /* s=, printable; cut when longer */
	char b[9];                          /* the first 8 characters of b= (RFC 6008) */
	char algorithm[16];                 /* "rsa-sha256", "ed25519-sha256", "rsa-sha1" or "" */
	unsigned key_bits;                  /* 0 when no key was read */
	enum mp_dkim_result result;
	bool checked;                       /* false past max_signatures */
	bool body_truncated;                /* l= left part of the body unsigned */
	char reason[128];                   /* printable; "" for a plain pass */
};

/* From the [dkim] section, once per configuration generation. */
struct mp_dkim_options {
	bool verify;                /* [dkim] verify */
	unsigned max_signatures;    /* [dkim] max_signatures, 1..MP_DKIM_MAX */
	bool body_length_pass;      /* [dkim] body_length = pass */
};
void mp_dkim_options_from_conf(const struct mp_conf *c, struct mp_dkim_options *o);

struct mp_dkim;

/* The library over dns (which must outlive it). NULL + err on failure. */
struct mp_dkim *mp_dkim_new(struct mp_dns *dns, const struct mp_dkim_options *o, char *err,
    size_t errlen);
void mp_dkim_free(struct mp_dkim **dp);
/* True when this libopendkim verifies Ed25519 (RFC 8463). */
bool mp_dkim_has_ed25519(const struct mp_dkim *d);

struct mp_dkim_msg;

/* Never NULL. Safe to use from any thread, one thread at a time per message. */
struct mp_dkim_msg *mp_dkim_msg_new(struct mp_dkim *d);
void mp_dkim_msg_free(struct mp_dkim_msg **mp);

/*
 * One header field as received: name without the colon, value with its
 * leading space and folding as they were (LF or CRLF line ends; a line
 * end after the value is dropped, and so is anything from a NUL byte
 * on). A header section of more than MP_DKIM_HEADER_BYTES (names and
 * values), or of more than MP_DKIM_HEADER_FIELDS fields besides the
 * DKIM-Signature ones, makes every signature permerror: nothing of it
 * is verified.
 */
#define MP_DKIM_HEADER_BYTES (1024 * 1024)
#define MP_DKIM_HEADER_FIELDS 1000
void mp_dkim_msg_header(struct mp_dkim_msg *m, const char *name, const char *value, size_t len);
/* End of the header section: signatures are read and their keys prefetched
 * (answers land in the resolver's cache; nothing waits). */
void mp_dkim_msg_eoh(struct mp_dkim_msg *m);
/* After eoh: does the message carry any DKIM-Signature field? */
bool mp_dkim_msg_signed(const struct mp_dkim_msg *m);
/*
 * A chunk of the body (CRLF or LF line ends), hashed as it comes. A body
 * with a run of more than MP_DKIM_BODY_RUN bytes without white space or
 * line end (RFC 5322 lines have 998 at most) is not hashed further when
 * a signature uses relaxed body canonicalization, which would have to
 * hold the run whole: every signature is then neutral.
 */
#define MP_DKIM_BODY_RUN (64 * 1024)
void mp_dkim_msg_body(struct mp_dkim_msg *m, const unsigned char *buf, size_t len);
/*
 * End of message: verifies, looking keys up within deadline, and writes
 * one outcome per DKIM-Signature field (in header order, at most max)
 * into out. Returns the count; 0 for an unsigned message. With more than
 * MP_DKIM_MAX fields, those reported are the ones verified and then the
 * first others. Call once (a second call writes the same outcomes).
 */
size_t mp_dkim_msg_finish(struct mp_dkim_msg *m, const struct mp_deadline *deadline,
    struct mp_dkim_sig *out, size_t max);

#endif
