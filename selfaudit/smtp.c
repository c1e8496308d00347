/*
 * smtp: the audit's SMTP client. Non-blocking sockets and poll(), so that
 * the time bound holds for plaintext and TLS alike; a reply must arrive
 * whole before its deadline, which also defeats a server that trickles
 * one byte a second. The STARTTLS upgrade is smtp_tls.c.
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

#include "smtp_int.h"


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

void
smtp_reply_text(const struct smtp_reply *r, struct mp_buf *out)
{
	for (size_t i = 0; i < r->nlines; i++) {
		if (i > 0)
			mp_buf_puts(out, " / ");
		mp_buf_puts(out, r->line[i]);
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

void
smtp_seterr(struct smtp_conn *c, const char *fmt, ...)
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

enum smtp_err
smtp_timed_out(struct smtp_conn *c, const char *what)
{
	smtp_seterr(c, "%s within %u ms", what, c->timeout_ms);
	return SMTP_ERR_TIMEOUT;
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

enum tls_result
smtp_tls_call(struct smtp_conn *c, enum tls_op op, void *buf, int len, const struct mp_deadline *dl,
    int *n_r, int *sslerr_r)
{
	for (;;) {
		int r = 0, e;

		switch (op) {
		case TLS_OP_CONNECT:
			r = SSL_connect(c->ssl);
			break;
		case TLS_OP_READ:
			r = SSL_read(c->ssl, buf, len);
			break;
		case TLS_OP_WRITE:
			r = SSL_write(c->ssl, buf, len);
			break;
		}
		if (r > 0) {
			*n_r = r;
			return TLS_DONE;
		}
		*sslerr_r = e = SSL_get_error(c->ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			return TLS_FAILED;
		if (!wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, dl))
			return TLS_TIMEOUT;
	}
}

/* Binds fd to the source address in family af. False + the reason in last. */
static bool
bind_source(int fd, int af, const char *source, char *last, size_t lastlen)
{
	struct addrinfo sh, *sres = NULL;
	bool ok;

	memset(&sh, 0, sizeof(sh));
	sh.ai_family = af;
	sh.ai_socktype = SOCK_STREAM;
	sh.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	ok = getaddrinfo(source, NULL, &sh, &sres) == 0 &&
	    bind(fd, sres->ai_addr, sres->ai_addrlen) == 0;
	if (!ok)
		snprintf(last, lastlen, "cannot bind to source %s: %s", source,
		    sres ? strerror(errno) : "not an address of this family");
	if (sres)
		freeaddrinfo(sres);
	return ok;
}

/* Connects a non-blocking socket to one address: the fd, or -1 + the reason in last. */
static int
connect_one(const struct addrinfo *ai, const char *source, const struct mp_deadline *dl,
    char *last, size_t lastlen)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);

	if (fd < 0)
		return -1;
	if (source != NULL && *source != '\0' && !bind_source(fd, ai->ai_family, source, last, lastlen)) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, dl)) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
			return fd;
		snprintf(last, lastlen, "%s", strerror(soerr));
	} else {
		snprintf(last, lastlen, "%s", errno == EINPROGRESS ? "connect timed out" : strerror(errno));
	}
	close(fd);
	return -1;
}

struct smtp_conn *
smtp_connect(const char *host, const char *port, const char *source, unsigned timeout_ms,
    char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	struct smtp_conn *c;
	struct mp_deadline dl;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
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
	for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		fd = connect_one(ai, source, &dl, last, sizeof(last));
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "%s port %s: %s", host, port, last);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_text(&ss, c->local, sizeof(c->local));
	sl = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		addr_text(&ss, c->remote, sizeof(c->remote));
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


static enum smtp_err
fill_tls(struct smtp_conn *c, size_t room, const struct mp_deadline *dl)
{
	char e[160];
	int n = 0, sslerr = 0;

	switch (smtp_tls_call(c, TLS_OP_READ, c->in + c->inlen, (int)room, dl, &n, &sslerr)) {
	case TLS_DONE:
		c->inlen += (size_t)n;
		return SMTP_OK;
	case TLS_TIMEOUT:
		return smtp_timed_out(c, "no complete reply");
	case TLS_FAILED:
		break;
	}
	if (sslerr == SSL_ERROR_ZERO_RETURN) {
		smtp_seterr(c, "TLS session closed by the server");
		return SMTP_ERR_CLOSED;
	}
	if (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		smtp_seterr(c, "connection closed inside TLS");
		return SMTP_ERR_CLOSED;
	}
	ERR_error_string_n(ERR_get_error(), e, sizeof(e));
	smtp_seterr(c, "TLS read: %s", e);
	return SMTP_ERR_TLS;
}

/* Reads what is available into the buffer, waiting until the deadline. */
static enum smtp_err
fill(struct smtp_conn *c, const struct mp_deadline *dl)
{
	size_t room = sizeof(c->in) - c->inlen;

	if (room == 0) {
		smtp_seterr(c, "more than %zu bytes without a complete reply", sizeof(c->in));
		return SMTP_ERR_TOOLONG;
	}
	if (c->ssl != NULL)
		return fill_tls(c, room, dl);
	for (;;) {
		ssize_t n = read(c->fd, c->in + c->inlen, room);

		if (n > 0) {
			c->inlen += (size_t)n;
			return SMTP_OK;
		}
		if (n == 0) {
			smtp_seterr(c, "connection closed by the server");
			return SMTP_ERR_CLOSED;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			smtp_seterr(c, "read: %s", strerror(errno));
			return errno == ECONNRESET ? SMTP_ERR_CLOSED : SMTP_ERR_IO;
		}
		if (!wait_fd(c->fd, POLLIN, dl))
			return smtp_timed_out(c, "no complete reply");
	}
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

			mp_printable(&b, c->in, c->inlen, MP_SHOW_TERM);
			smtp_seterr(c, "%s: \"%s\"", why, mp_buf_str(&b));
			mp_buf_free(&b);
			return SMTP_ERR_GARBAGE;
		}
		case SMTP_PARSE_TOOLONG:
			smtp_seterr(c, "%s", why);
			return SMTP_ERR_TOOLONG;
		case SMTP_PARSE_MORE:
			break;
		}
		if ((e = fill(c, &dl)) != SMTP_OK)
			return e;
	}
}

/* Writes data[0..len) inside TLS. */
static enum smtp_err
send_tls(struct smtp_conn *c, const char *data, size_t len, const struct mp_deadline *dl)
{
	size_t off = 0;

	while (off < len) {
		int n = 0, sslerr;

		/* SSL_write only reads the buffer. */
		switch (smtp_tls_call(c, TLS_OP_WRITE, (void *)(data + off), (int)(len - off), dl, &n,
		    &sslerr)) {
		case TLS_DONE:
			off += (size_t)n;
			break;
		case TLS_TIMEOUT:
			return smtp_timed_out(c, "could not send");
		case TLS_FAILED:
			smtp_seterr(c, "TLS write failed");
			return SMTP_ERR_TLS;
		}
	}
	return SMTP_OK;
}

enum smtp_err
smtp_send(struct smtp_conn *c, const char *data, size_t len)
{
	struct mp_deadline dl;
	size_t off = 0;

	mp_deadline_set(&dl, c->timeout_ms);
	if (c->ssl != NULL)
		return send_tls(c, data, len, &dl);
	while (off < len) {
		ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!wait_fd(c->fd, POLLOUT, &dl))
				return smtp_timed_out(c, "could not send");
			continue;
		}
		smtp_seterr(c, "write: %s", n < 0 ? strerror(errno) : "nothing written");
		return (errno == EPIPE || errno == ECONNRESET) ? SMTP_ERR_CLOSED : SMTP_ERR_IO;
	}
	return SMTP_OK;
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
