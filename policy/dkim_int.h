/*
 * dkim_int: what the parts of the dkim module share and nobody else sees.
 * dkim.c is a message's life over libopendkim (header fields, the end of
 * the header, the body, the verification); dkim_tags.c reads tag-lists
 * (signatures and key records) with our own bounded parser, so that what
 * we report and query never depends on libopendkim's reading; dkim_key.c
 * fetches keys through policy/dns; dkim_body.c measures the canonicalized
 * body for l=; dkim_judge.c turns what libopendkim found into an RFC 8601
 * result with its reason. Only dkim.c, dkim_key.c and dkim_judge.c
 * include libopendkim's header (as <opendkim/dkim.h>: its own directory
 * would shadow this module's dkim.h).
 */
#ifndef MP_DKIM_INT_H
#define MP_DKIM_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "dkim.h"

struct dkim_lib;        /* libopendkim's DKIM_LIB */
struct dkim;            /* libopendkim's DKIM */
struct dkim_siginfo;    /* libopendkim's DKIM_SIGINFO */

/* libopendkim hands the key lookup a buffer of this size (BUFRSZ + 1). */
#define DK_KEY_TEXT_MAX 1024
/* libopendkim copies h= into a buffer of DKIM_MAXHEADER (4096) bytes:
 * a longer list would be verified cut, so it is refused before. */
#define DK_H_MAX 4095
#define DK_RSA_MIN_BITS 1024    /* RFC 8301 */

struct mp_dkim {
	struct dkim_lib *lib;
	struct mp_dns *dns;
	struct mp_dkim_options opt;
	bool ed25519;               /* this libopendkim verifies Ed25519 */
};

/*
 * Tag-lists (RFC 6376 3.2). dk_tag_next reads the tag at s[*off..len):
 * 1 with *t filled (value trimmed of white space at both ends), 0 at the
 * end of the list, -1 on a syntax error with a static reason in *why.
 */
struct dk_tag {
	const char *name, *value;
	size_t name_len, value_len;
};
int dk_tag_next(const char *s, size_t len, size_t *off, struct dk_tag *t, const char **why);
bool dk_tag_is(const struct dk_tag *t, const char *name);
bool dk_value_is(const struct dk_tag *t, const char *word);

enum dk_alg { DK_ALG_NONE, DK_ALG_RSA_SHA1, DK_ALG_RSA_SHA256, DK_ALG_ED25519_SHA256 };

/* What our parser reads of a DKIM-Signature value beyond the identity
 * fields of struct mp_dkim_sig. */
struct dk_sigtags {
	enum dk_alg alg;
	char selector[MP_DOMAIN_MAX];   /* s= whole, for the key's name */
	bool body_relaxed;              /* c=.../relaxed */
	bool has_l;
	unsigned long long l;
	unsigned h_from;                /* times h= names From */
	char error[96];                 /* "" or why the field cannot be verified */
};
/* Reads a DKIM-Signature value: sig's domain, selector, b and algorithm
 * (the rest of sig is left alone) and t. ed25519: the library can. */
void dk_sigtags_parse(const char *v, size_t n, bool ed25519, struct mp_dkim_sig *sig,
    struct dk_sigtags *t);
/* The key record's name, selector._domainkey.domain; false if it does not fit. */
bool dk_key_name(const struct mp_dkim_sig *sig, const struct dk_sigtags *t, char *out,
    size_t outlen);

/* A TXT record read as a key record (RFC 6376 3.6.1). */
struct dk_keyrec {
	bool ed25519;                   /* k=ed25519 (else rsa or another) */
	size_t p_len;                   /* 0: empty p=, a revoked key */
};
bool dk_keyrec_parse(const char *s, size_t n, struct dk_keyrec *k);

/* The canonicalized body's length, both ways, counted as it streams. */
struct dk_body {
	unsigned long long len[2], blanks[2], line[2];  /* [0] simple, [1] relaxed */
	unsigned long long run;         /* bytes since white space or a line end */
	bool ws, cr, overrun, ended;
};
void dk_body_feed(struct dk_body *b, const unsigned char *p, size_t n);
void dk_body_end(struct dk_body *b);
unsigned long long dk_body_len(const struct dk_body *b, bool relaxed);

enum dk_keystate { DK_KEY_UNTRIED, DK_KEY_FOUND, DK_KEY_TEMP, DK_KEY_PERM };

/* One DKIM-Signature field reported by mp_dkim_msg_finish. */
struct dk_slot {
	struct mp_dkim_sig out;         /* identity at the end of the header, result at finish */
	struct dk_sigtags tags;
	bool refused;                   /* libopendkim refused the field's syntax */
	struct dkim_siginfo *sig;       /* libopendkim's, for checked fields */
	enum dk_keystate key;
	char key_why[96];               /* the key lookup's reason, when not found */
};

enum dk_state { DK_HEADERS, DK_BODY, DK_DONE };

struct mp_dkim_msg {
	struct mp_dkim *d;
	struct dkim *h;                 /* libopendkim's handle, from the first field on */
	enum dk_state state;
	size_t header_bytes;
	unsigned nfields;               /* fields fed to libopendkim as they came */
	const char *overflow;           /* why the header section was not read, or NULL */
	struct mp_buf sigtext;          /* the DKIM-Signature values until the end of the header */
	unsigned nsigfields;
	struct mp_buf from;             /* the first From value */
	unsigned nfrom;
	struct dk_slot slot[MP_DKIM_MAX];
	size_t nslot;
	unsigned nchecked;
	bool any_relaxed;               /* a checked signature has relaxed body canonicalization */
	const char *lib_error;          /* libopendkim did not take the header section */
	bool body_cut;                  /* the body was not hashed whole */
	struct dk_body body;
	const struct mp_deadline *deadline; /* while libopendkim looks keys up */
	struct mp_buf scratch;          /* a field or a body chunk on its way to libopendkim */
};

/* libopendkim's key lookup (dkim_set_key_lookup); the message is the
 * DKIM handle's user context. */
int dk_key_lookup(struct dkim *dkim, struct dkim_siginfo *sig, unsigned char *buf,
    size_t buflen);
/* Starts the lookup of every checked signature's key, without waiting. */
void dk_key_prefetch(struct mp_dkim_msg *m);

/* The outcome of one checked signature, into s->out. */
void dk_judge(const struct mp_dkim_msg *m, struct dk_slot *s);

#endif
