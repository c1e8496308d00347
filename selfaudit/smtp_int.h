/*
 * smtp_int: the connection as smtp.c (replies, plaintext and TLS I/O)
 * and smtp_tls.c (the STARTTLS upgrade, the certificate) share it.
 */
#ifndef MP_AUDIT_SMTP_INT_H
#define MP_AUDIT_SMTP_INT_H

#include <netinet/in.h>

#include <openssl/ssl.h>

#include "smtp.h"

struct smtp_conn {
	int fd;
	unsigned timeout_ms;
	SSL_CTX *ctx;
	SSL *ssl;
	X509 *peer;
	char in[SMTP_BUF_MAX];
	size_t inlen;
	char err[256];
	char local[INET6_ADDRSTRLEN + 8];
	char remote[INET6_ADDRSTRLEN + 8];
};

void smtp_seterr(struct smtp_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Says that what did not happen within the connection's timeout. */
enum smtp_err smtp_timed_out(struct smtp_conn *c, const char *what);

enum tls_op {
	TLS_OP_CONNECT,
	TLS_OP_READ,
	TLS_OP_WRITE,
};

enum tls_result {
	TLS_DONE,           /* *n_r: the call's positive result */
	TLS_TIMEOUT,        /* OpenSSL still waited for the socket at the deadline */
	TLS_FAILED,         /* *sslerr_r: SSL_get_error() of the failure */
};

/*
 * Runs one OpenSSL call on the non-blocking socket to its end: whenever
 * OpenSSL wants the socket readable or writable (a read can need a
 * write, and the other way round), waits for that until dl, then calls
 * again. buf and len are unused for TLS_OP_CONNECT; SSL_write only reads
 * buf.
 */
enum tls_result smtp_tls_call(struct smtp_conn *c, enum tls_op op, void *buf, int len,
    const struct mp_deadline *dl, int *n_r, int *sslerr_r);

#endif
