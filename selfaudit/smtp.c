/*
 * smtp: the audit's SMTP client. Non-blocking sockets and poll(), so that
 * the time bound holds for plaintext and TLS alike; a reply must arrive
 * whole before its deadline, which also defeats a server that trickles
 * one byte a second.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

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

const char *
smtp_err_str(enum smtp_err e)
{
	switch (e) {
	case SMTP_OK: return "ok";
	case SMTP_ERR_CONNECT: return "could not connect";
	case SMTP_ERR_TIMEOUT: return "the server stalled (no complete reply in time)";
	case SMTP_ERR_CLOSED: return "the server dropped the connection";
	case SMTP_ERR_GARBAGE: return "the server sent something that is not an SMTP reply";
	case SMTP_ERR_TOOLONG: return "the server sent a reply over the size limits";
	case SMTP_ERR_TLS: return "TLS failed";
	case SMTP_ERR_IO: return "local I/O error";
	}
	return "?";
}

void
smtp_reply_clear(struct smtp_reply *r)
{
	for (size_t i = 0; i < r->nlines; i++)
		free(r->line[i]);
	memset(r, 0, sizeof(*r));
}

void
smtp_reply_print(const struct smtp_reply *r, struct mp_buf *out, size_t max)
{
	size_t start = out->len;

	for (size_t i = 0; i < r->nlines; i++) {
		if (out->len - start >= max) {
			mp_buf_puts(out, "...");
			return;
		}
		if (i > 0)
			mp_buf_puts(out, " / ");
		mp_buf_printf(out, "%d ", r->code);
		mp_printable(out, r->line[i], strlen(r->line[i]), max);
	}
}

static void
setwhy(char *why, size_t whylen, const char *s)
{
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", s);
}

enum smtp_parse
smtp_reply_parse(const char *buf, size_t len, struct smtp_reply *r, size_t *used_r,
    char *why, size_t whylen)
{
	size_t pos = 0;
	int code = 0;

	*used_r = 0;
	for (;;) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t linelen, textoff;
		bool cont;
		int c;

		if (nl == NULL) {
			/* Judge what we have so far, so garbage is caught early. */
			size_t have = len - pos;

			if (have > SMTP_LINE_MAX)
				goto toolong;
			for (size_t i = 0; i < have && i < 3; i++)
				if (buf[pos + i] < '0' || buf[pos + i] > '9')
					goto garbage_digits;
			if (memchr(buf + pos, '\0', have) != NULL)
				goto garbage_nul;
			/* The caller parses again from the start when more came. */
			smtp_reply_clear(r);
			return SMTP_PARSE_MORE;
		}
		linelen = (size_t)(nl - (buf + pos));
		if (linelen > SMTP_LINE_MAX)
			goto toolong;
		if (linelen > 0 && buf[pos + linelen - 1] == '\r')
			linelen--;
		if (memchr(buf + pos, '\0', linelen) != NULL)
			goto garbage_nul;
		if (linelen < 3)
			goto garbage_digits;
		for (size_t i = 0; i < 3; i++)
			if (buf[pos + i] < '0' || buf[pos + i] > '9')
				goto garbage_digits;
		c = (buf[pos] - '0') * 100 + (buf[pos + 1] - '0') * 10 + (buf[pos + 2] - '0');
		if (c < 200 || c > 599) {
			setwhy(why, whylen, "reply code out of range");
			goto garbage;
		}
		if (code != 0 && c != code) {
			setwhy(why, whylen, "lines of one reply carry different codes");
			goto garbage;
		}
		code = c;
		if (linelen > 3 && buf[pos + 3] != '-' && buf[pos + 3] != ' ') {
			setwhy(why, whylen, "no separator after the reply code");
			goto garbage;
		}
		if (r->nlines >= SMTP_MAX_LINES)
			goto toolong;
		textoff = linelen > 3 ? 4 : 3;
		r->line[r->nlines++] = xstrndup(buf + pos + textoff, linelen - textoff);
		r->code = code;
		cont = linelen > 3 && buf[pos + 3] == '-';
		pos = (size_t)(nl - buf) + 1;
		if (!cont) {
			*used_r = pos;
			return SMTP_PARSE_OK;
		}
	}
garbage_nul:
	setwhy(why, whylen, "NUL byte in a reply");
	goto garbage;
garbage_digits:
	setwhy(why, whylen, "a line does not start with a three-digit code");
garbage:
	smtp_reply_clear(r);
	return SMTP_PARSE_GARBAGE;
toolong:
	setwhy(why, whylen, "reply line or line count over the limit");
	smtp_reply_clear(r);
	return SMTP_PARSE_TOOLONG;
}

static void
seterr(struct smtp_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
seterr(struct smtp_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

const char *
smtp_error(const struct smtp_conn *c)
{
	return c->err;
}

static void
addr_text(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	const void *a = ss->ss_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	if (inet_ntop(ss->ss_family, a, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "?");
}

/* Waits for fd to become ready for events until the deadline. */
static bool
wait_fd(int fd, short events, const struct mp_deadline *dl)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do {
		unsigned left = mp_deadline_left(dl);

		if (left == 0)
			return false;
		n = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
	} while (n < 0 && errno == EINTR);
	return n > 0;
}

struct smtp_conn *
smtp_connect(const char *host, const char *port, const char *source, unsigned timeout_ms,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct smtp_conn *c;
	struct mp_deadline dl;
	int rc, fd = -1;
	char last[200] = "no address";

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
		return NULL;
	}
	mp_deadline_set(&dl, timeout_ms);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (source != NULL && *source != '\0') {
			struct addrinfo sh, *sres = NULL;

			memset(&sh, 0, sizeof(sh));
			sh.ai_family = ai->ai_family;
			sh.ai_socktype = SOCK_STREAM;
			sh.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
			if (getaddrinfo(source, NULL, &sh, &sres) != 0 ||
			    bind(fd, sres->ai_addr, sres->ai_addrlen) != 0) {
				snprintf(last, sizeof(last), "cannot bind to source %s: %s", source,
				    sres ? strerror(errno) : "not an address of this family");
				if (sres)
					freeaddrinfo(sres);
				close(fd);
				fd = -1;
				continue;
			}
			freeaddrinfo(sres);
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, &dl)) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);

			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
				break;
			snprintf(last, sizeof(last), "%s", strerror(soerr));
		} else {
			snprintf(last, sizeof(last), "%s",
			    errno == EINPROGRESS ? "connect timed out" : strerror(errno));
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "%s port %s: %s", host, port, last);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
			addr_text(&ss, c->local, sizeof(c->local));
		sl = sizeof(ss);
		if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
			addr_text(&ss, c->remote, sizeof(c->remote));
	}
	return c;
}

const char *
smtp_local_addr(const struct smtp_conn *c)
{
	return c->local;
}

const char *
smtp_peer_addr(const struct smtp_conn *c)
{
	return c->remote;
}

void
smtp_close(struct smtp_conn **cp)
{
	struct smtp_conn *c = *cp;

	if (c == NULL)
		return;
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);   /* best effort; non-blocking, may not finish */
		SSL_free(c->ssl);
	}
	X509_free(c->peer);
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	*cp = NULL;
}

/* Reads what is available into the buffer, waiting until the deadline. */
static enum smtp_err
fill(struct smtp_conn *c, const struct mp_deadline *dl)
{
	size_t room = sizeof(c->in) - c->inlen;

	if (room == 0) {
		seterr(c, "more than %zu bytes without a complete reply", sizeof(c->in));
		return SMTP_ERR_TOOLONG;
	}
	for (;;) {
		ssize_t n;

		if (c->ssl != NULL) {
			int r = SSL_read(c->ssl, c->in + c->inlen, (int)room);

			if (r > 0) {
				c->inlen += (size_t)r;
				return SMTP_OK;
			}
			switch (SSL_get_error(c->ssl, r)) {
			case SSL_ERROR_WANT_READ:
				if (!wait_fd(c->fd, POLLIN, dl))
					goto timeout;
				continue;
			case SSL_ERROR_WANT_WRITE:
				if (!wait_fd(c->fd, POLLOUT, dl))
					goto timeout;
				continue;
			case SSL_ERROR_ZERO_RETURN:
				seterr(c, "TLS session closed by the server");
				return SMTP_ERR_CLOSED;
			case SSL_ERROR_SYSCALL:
				if (ERR_peek_error() == 0) {
					seterr(c, "connection closed inside TLS");
					return SMTP_ERR_CLOSED;
				}
				/* FALLTHROUGH */
			default: {
				char e[160];

				ERR_error_string_n(ERR_get_error(), e, sizeof(e));
				seterr(c, "TLS read: %s", e);
				return SMTP_ERR_TLS;
			}
			}
		}
		n = read(c->fd, c->in + c->inlen, room);
		if (n > 0) {
			c->inlen += (size_t)n;
			return SMTP_OK;
		}
		if (n == 0) {
			seterr(c, "connection closed by the server");
			return SMTP_ERR_CLOSED;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			seterr(c, "read: %s", strerror(errno));
			return errno == ECONNRESET ? SMTP_ERR_CLOSED : SMTP_ERR_IO;
		}
		if (!wait_fd(c->fd, POLLIN, dl))
			goto timeout;
	}
timeout:
	seterr(c, "no complete reply within %u ms", c->timeout_ms);
	return SMTP_ERR_TIMEOUT;
}

enum smtp_err
smtp_read_reply(struct smtp_conn *c, struct smtp_reply *r)
{
	struct mp_deadline dl;
	enum smtp_err e;

	smtp_reply_clear(r);
	mp_deadline_set(&dl, c->timeout_ms);
	for (;;) {
		size_t used;
		char why[128];

		switch (smtp_reply_parse(c->in, c->inlen, r, &used, why, sizeof(why))) {
		case SMTP_PARSE_OK:
			memmove(c->in, c->in + used, c->inlen - used);
			c->inlen -= used;
			return SMTP_OK;
		case SMTP_PARSE_GARBAGE: {
			struct mp_buf b = MP_BUF_INIT;

			mp_printable(&b, c->in, c->inlen, 80);
			seterr(c, "%s: \"%s\"", why, mp_buf_str(&b));
			mp_buf_free(&b);
			return SMTP_ERR_GARBAGE;
		}
		case SMTP_PARSE_TOOLONG:
			seterr(c, "%s", why);
			return SMTP_ERR_TOOLONG;
		case SMTP_PARSE_MORE:
			break;
		}
		if ((e = fill(c, &dl)) != SMTP_OK)
			return e;
	}
}

enum smtp_err
smtp_send(struct smtp_conn *c, const char *data, size_t len)
{
	struct mp_deadline dl;
	size_t off = 0;

	mp_deadline_set(&dl, c->timeout_ms);
	while (off < len) {
		if (c->ssl != NULL) {
			int r = SSL_write(c->ssl, data + off, (int)(len - off));

			if (r > 0) {
				off += (size_t)r;
				continue;
			}
			switch (SSL_get_error(c->ssl, r)) {
			case SSL_ERROR_WANT_READ:
				if (!wait_fd(c->fd, POLLIN, &dl))
					goto timeout;
				continue;
			case SSL_ERROR_WANT_WRITE:
				if (!wait_fd(c->fd, POLLOUT, &dl))
					goto timeout;
				continue;
			default:
				seterr(c, "TLS write failed");
				return SMTP_ERR_TLS;
			}
		} else {
			ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);

			if (n > 0) {
				off += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				if (!wait_fd(c->fd, POLLOUT, &dl))
					goto timeout;
				continue;
			}
			seterr(c, "write: %s", n < 0 ? strerror(errno) : "nothing written");
			return (errno == EPIPE || errno == ECONNRESET) ? SMTP_ERR_CLOSED : SMTP_ERR_IO;
		}
	}
	return SMTP_OK;
timeout:
	seterr(c, "could not send within %u ms", c->timeout_ms);
	return SMTP_ERR_TIMEOUT;
}

enum smtp_err
smtp_command(struct smtp_conn *c, const char *line, struct smtp_reply *r)
{
	enum smtp_err e;
	char *l = xasprintf("%s\r\n", line);

	e = smtp_send(c, l, strlen(l));
	free(l);
	if (e != SMTP_OK) {
		smtp_reply_clear(r);
		return e;
	}
	return smtp_read_reply(c, r);
}

static void
name_text(X509_NAME *n, char *out, size_t outlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p;
	long len;
	struct mp_buf pb = MP_BUF_INIT;

	out[0] = '\0';
	if (b == NULL)
		return;
	X509_NAME_print_ex(b, n, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
	len = BIO_get_mem_data(b, &p);
	if (len > 0) {
		mp_printable(&pb, p, (size_t)len, outlen - 8);
		mp_strlcpy(out, mp_buf_str(&pb), outlen);
	}
	mp_buf_free(&pb);
	BIO_free(b);
}

static void
cert_info(struct smtp_conn *c, struct smtp_tls_info *info)
{
	X509 *x = c->peer;
	STACK_OF(X509) *chain;
	const ASN1_TIME *na;
	GENERAL_NAMES *gens;
	int days = 0, secs = 0;

	snprintf(info->protocol, sizeof(info->protocol), "%s", SSL_get_version(c->ssl));
	snprintf(info->cipher, sizeof(info->cipher), "%s", SSL_get_cipher_name(c->ssl));
	info->bits = SSL_get_cipher_bits(c->ssl, NULL);
	info->verify = SSL_get_verify_result(c->ssl);
	snprintf(info->verify_str, sizeof(info->verify_str), "%s",
	    X509_verify_cert_error_string(info->verify));
	if (x == NULL) {
		snprintf(info->verify_str, sizeof(info->verify_str), "no certificate");
		return;
	}
	name_text(X509_get_subject_name(x), info->subject, sizeof(info->subject));
	name_text(X509_get_issuer_name(x), info->issuer, sizeof(info->issuer));
	info->self_signed = X509_check_issued(x, x) == X509_V_OK;
	na = X509_get0_notAfter(x);
	if (na != NULL) {
		BIO *b = BIO_new(BIO_s_mem());
		char *p;
		long len;

		if (b != NULL) {
			ASN1_TIME_print(b, na);
			len = BIO_get_mem_data(b, &p);
			if (len > 0)
				snprintf(info->not_after, sizeof(info->not_after), "%.*s",
				    (int)(len < 60 ? len : 60), p);
			BIO_free(b);
		}
		if (ASN1_TIME_diff(&days, &secs, NULL, na))
			info->days_left = days;
		info->expired = X509_cmp_current_time(na) < 0;
	}
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (gens != NULL) {
		struct mp_buf nb = MP_BUF_INIT;

		for (int i = 0; i < sk_GENERAL_NAME_num(gens) && i < 20; i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

			if (g->type != GEN_DNS)
				continue;
			if (nb.len > 0)
				mp_buf_putc(&nb, ' ');
			mp_printable(&nb, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
			    (size_t)ASN1_STRING_length(g->d.dNSName), 100);
		}
		mp_strlcpy(info->names, mp_buf_str(&nb), sizeof(info->names));
		mp_buf_free(&nb);
		GENERAL_NAMES_free(gens);
	}
	chain = SSL_get_peer_cert_chain(c->ssl);
	info->chain_len = chain ? sk_X509_num(chain) : 0;
	{
		struct mp_buf cb = MP_BUF_INIT;

		for (int i = 0; i < info->chain_len && i < 5; i++) {
			char s[256];

			name_text(X509_get_subject_name(sk_X509_value(chain, i)), s, sizeof(s));
			if (i > 0)
				mp_buf_puts(&cb, " <- ");
			mp_buf_puts(&cb, s);
		}
		mp_strlcpy(info->chain, mp_buf_str(&cb), sizeof(info->chain));
		mp_buf_free(&cb);
	}
}

enum smtp_err
smtp_starttls(struct smtp_conn *c, const char *sni, bool inject,
    struct smtp_reply *reply_r, size_t *leftover_r, bool *injected_r,
    struct smtp_tls_info *info)
{
	static const char cmd_inject[] = "STARTTLS\r\nNOOP\r\n";
	static const char cmd_plain[] = "STARTTLS\r\n";
	struct mp_deadline dl;
	enum smtp_err e;

	memset(info, 0, sizeof(*info));
	*leftover_r = 0;
	*injected_r = false;
	e = inject ? smtp_send(c, cmd_inject, sizeof(cmd_inject) - 1) :
	    smtp_send(c, cmd_plain, sizeof(cmd_plain) - 1);
	if (e != SMTP_OK)
		return e;
	if ((e = smtp_read_reply(c, reply_r)) != SMTP_OK)
		return e;
	if (reply_r->code != 220) {
		seterr(c, "STARTTLS refused");
		return SMTP_OK;     /* the caller reads the code */
	}
	/* Anything already buffered came in plaintext after the 220. */
	*leftover_r = c->inlen;
	c->inlen = 0;

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL || (c->ssl = SSL_new(c->ctx)) == NULL) {
		seterr(c, "cannot create a TLS context");
		return SMTP_ERR_IO;
	}
	SSL_CTX_set_default_verify_paths(c->ctx);
	/* Verification is reported, never enforced: we want to see the
	 * certificate even when it is bad. */
	SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	SSL_set_min_proto_version(c->ssl, TLS1_VERSION);
	if (sni != NULL && *sni != '\0')
		SSL_set_tlsext_host_name(c->ssl, sni);
	SSL_set_fd(c->ssl, c->fd);
	mp_deadline_set(&dl, c->timeout_ms);
	for (;;) {
		int r = SSL_connect(c->ssl);

		if (r == 1)
			break;
		switch (SSL_get_error(c->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			if (!wait_fd(c->fd, POLLIN, &dl))
				goto timeout;
			continue;
		case SSL_ERROR_WANT_WRITE:
			if (!wait_fd(c->fd, POLLOUT, &dl))
				goto timeout;
			continue;
		default: {
			char es[160];
			unsigned long code = ERR_get_error();

			if (code != 0)
				ERR_error_string_n(code, es, sizeof(es));
			else
				snprintf(es, sizeof(es), "connection closed during the handshake");
			seterr(c, "TLS handshake: %s", es);
			ERR_clear_error();
			return SMTP_ERR_TLS;
		}
		}
	}
	c->peer = SSL_get1_peer_certificate(c->ssl);
	cert_info(c, info);
	if (inject) {
		/* A safe server discarded the NOOP; a vulnerable one answers it
		 * now, before we have said anything inside TLS. */
		struct mp_deadline wait;

		mp_deadline_set(&wait, 300);
		while (c->inlen == 0 && SSL_pending(c->ssl) == 0 && !mp_deadline_expired(&wait)) {
			int r = SSL_read(c->ssl, c->in, (int)sizeof(c->in));

			if (r > 0) {
				c->inlen = (size_t)r;
				break;
			}
			if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ)
				break;
			if (!wait_fd(c->fd, POLLIN, &wait))
				break;
		}
		if (c->inlen > 0) {
			*injected_r = true;
			c->inlen = 0;   /* the stray reply would desynchronise us */
		}
	}
	return SMTP_OK;
timeout:
	seterr(c, "TLS handshake did not finish within %u ms", c->timeout_ms);
	return SMTP_ERR_TIMEOUT;
}

bool
smtp_tls_name_matches(const struct smtp_conn *c, const char *name)
{
	if (c->peer == NULL || name == NULL || *name == '\0')
		return false;
	return X509_check_host(c->peer, name, strlen(name), 0, NULL) == 1;
}
