/*
 * smtp: a bounded SMTP client for the audit. Every read is capped in
 * size (line length, lines per reply, buffered bytes) and in time (one
 * deadline per reply), so a server that stalls, drops the connection or
 * sends garbage is reported as such instead of hanging the audit.
 * STARTTLS through OpenSSL. One connection per thread; no shared state.
 */
#ifndef MP_AUDIT_SMTP_H
#define MP_AUDIT_SMTP_H

#include <stdbool.h>
#include <stddef.h>

#include "dane.h"
#include "util.h"

#define SMTP_LINE_MAX   2048    /* RFC 5321 says 512; real servers send more */
#define SMTP_MAX_LINES  64      /* lines in one reply */
#define SMTP_BUF_MAX    (SMTP_LINE_MAX * 8)

enum smtp_err {
	SMTP_OK,
	SMTP_ERR_CONNECT,   /* refused, unreachable, bad address */
	SMTP_ERR_TIMEOUT,   /* the server stalled */
	SMTP_ERR_CLOSED,    /* the server dropped the connection */
	SMTP_ERR_GARBAGE,   /* not an SMTP reply */
	SMTP_ERR_TOOLONG,   /* a line or a reply over the caps */
	SMTP_ERR_TLS,       /* handshake or TLS I/O failed */
	SMTP_ERR_IO,        /* a local error */
};

const char *smtp_err_str(enum smtp_err e);

/* One reply: code and the text of each line (after "NNN-" or "NNN "). */
struct smtp_reply {
	int code;                       /* 200..599, 0 when there is none */
	size_t nlines;
	char *line[SMTP_MAX_LINES];     /* NUL-terminated, no NUL inside */
};

void smtp_reply_clear(struct smtp_reply *r);
/* The reply as printable text, lines joined by " / ", capped at max bytes. */
void smtp_reply_print(const struct smtp_reply *r, struct mp_buf *out, size_t max);
/* The reply's text as sent, without the codes, lines joined by " / ". */
void smtp_reply_text(const struct smtp_reply *r, struct mp_buf *out);

enum smtp_parse {
	SMTP_PARSE_OK,       /* one complete reply in r, *used_r bytes consumed */
	SMTP_PARSE_MORE,     /* incomplete: read more */
	SMTP_PARSE_GARBAGE,  /* not an SMTP reply (why says how) */
	SMTP_PARSE_TOOLONG,  /* a line over SMTP_LINE_MAX or too many lines */
};

/*
 * Parses one reply from buf[0..len). Lines end in CRLF (a bare LF is
 * tolerated); each starts with three digits, the first 2-5, followed by
 * '-', ' ' or the end of the line, and every line of a reply carries the
 * same code. A NUL byte is garbage. r must be cleared; on anything but
 * OK it is left cleared. why (may be NULL) gets a printable reason.
 */
enum smtp_parse smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *r,
    size_t *used_r, char *why, size_t whylen);

struct smtp_tls_info {
	char protocol[32];
	char cipher[96];
	int bits;
	long verify;                /* X509_V_OK (0) or the OpenSSL error */
	char verify_str[128];
	char subject[256];
	char issuer[256];
	char names[512];            /* subjectAltName DNS names, space separated */
	char not_after[64];
	long days_left;             /* negative: expired that many days ago */
	bool expired;
	bool self_signed;
	int chain_len;
	char chain[512];            /* subjects of the chain, " <- " separated */
	bool chain_incomplete;      /* it ends below a root whose issuer the verifier lacks */
	char kx[64];                /* key exchange: "X25519, 253 bits", "DH, 1024 bits" */
	int kx_bits;
	bool kx_dh;                 /* finite-field Diffie-Hellman */
};

/* How STARTTLS negotiates; a NULL options pointer is all zero. */
struct smtp_tls_opts {
	int min_version, max_version;   /* TLS1_VERSION ...; 0: TLS 1.0 and OpenSSL's highest */
	const char *ciphers;            /* the TLS 1.2 and older cipher list, NULL: OpenSSL's */
	const char *ca_file;            /* CAs to verify with beside the system's; NULL or "" */
};

struct smtp_conn;

/*
 * Connects to host:port (a name or an address) within timeout_ms, from
 * source when it is not NULL (an address to bind to). The timeout also
 * applies to every later reply. NULL + printable err on failure.
 */
struct smtp_conn *smtp_connect(const char *host, const char *port, const char *source,
    unsigned timeout_ms, char *err, size_t errlen);
void smtp_close(struct smtp_conn **cp);

/* Reads one reply. On error the connection is unusable. */
enum smtp_err smtp_read_reply(struct smtp_conn *c, struct smtp_reply *r);
/* Sends line (CRLF appended) and reads the reply. */
enum smtp_err smtp_command(struct smtp_conn *c, const char *line, struct smtp_reply *r);
enum smtp_err smtp_send(struct smtp_conn *c, const char *data, size_t len);
/* Printable detail of the last error ("" when none). */
const char *smtp_error(const struct smtp_conn *c);

/*
 * Sends STARTTLS, reads the 220 and does the handshake (sni may be NULL).
 * With inject, "NOOP" is sent in the same write as STARTTLS: a server that
 * executes it after the handshake lets an attacker inject commands into
 * the TLS session (CVE-2011-0411). *leftover_r: plaintext bytes the
 * server sent after its 220 (discarded); *injected_r: the server answered
 * the injected command inside TLS. reply_r gets the reply to STARTTLS.
 */
enum smtp_err smtp_starttls(struct smtp_conn *c, const char *sni, bool inject,
    const struct smtp_tls_opts *to, struct smtp_reply *reply_r, size_t *leftover_r,
    bool *injected_r, struct smtp_tls_info *info);
/* True when the peer certificate is valid for name (RFC 6125 rules). */
bool smtp_tls_name_matches(const struct smtp_conn *c, const char *name);
/* Copies of the certificates the peer sent, leaf first, appended to out. */
void smtp_tls_chain(const struct smtp_conn *c, struct audit_chain *out);
/*
 * OpenSSL's TLS 1.2 and older cipher suites in reverse order of its
 * default preference, as a cipher list (caller frees): offered against
 * the default order, it shows whether the server picks by its own order.
 */
char *smtp_tls_reversed_ciphers(void);

/* The local and the peer address of the connection, as text. */
const char *smtp_local_addr(const struct smtp_conn *c);
const char *smtp_peer_addr(const struct smtp_conn *c);

#endif
