/*
 * host_milter: is the milter wired into Postfix? The sockets named in
 * smtpd_milters, a milter protocol handshake with each, and whether one
 * of them is our [milter] socket.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "host_int.h"
#include "netaddr.h"

size_t
audit_milter_specs(const char *value, char out[][256], size_t max)
{
	const char *p = value;
	size_t n = 0;

	while (*p != '\0' && n < max) {
		size_t l;

		while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n')
			p++;
		if (*p == '\0')
			break;
		if (*p == '{') {
			/* { spec, name=value, ... }: the first element is the socket. */
			const char *end = strchr(p, '}');
			const char *s = p + 1;

			while (*s == ' ' || *s == '\t')
				s++;
			l = strcspn(s, " ,\t}");
			if (l > 0 && l < 256) {
				memcpy(out[n], s, l);
				out[n++][l] = '\0';
			}
			if (end == NULL)
				break;
			p = end + 1;
			continue;
		}
		l = strcspn(p, " ,\t\n");
		if (l < 256) {
			memcpy(out[n], p, l);
			out[n++][l] = '\0';
		}
		p += l;
	}
	return n;
}

struct milter_sock {
	bool is_unix;
	char path[512];             /* as given: a relative one is under the queue directory */
	char host[256];             /* without [] */
	char port[32];
};

/*
 * A milter socket spec in any spelling an MTA or our [milter] socket
 * uses (unix:/path, local:/path, /path, a relative path under Postfix's
 * queue directory, inet:port@host, inet:host:port, inet6:...), read by
 * the one parser of socket specs (netaddr). No host means loopback.
 */
static bool
milter_spec_parse(const char *spec, struct milter_sock *m)
{
	struct mp_endpoint ep;
	char why[128];

	memset(m, 0, sizeof(*m));
	if (!mp_endpoint_parse_milter(spec, MP_MILTER_SOCKET_MTA, &ep, why, sizeof(why)))
		return false;
	m->is_unix = ep.is_unix;
	if (ep.is_unix)
		return mp_strlcpy(m->path, ep.host, sizeof(m->path));
	mp_strlcpy(m->host, ep.host[0] ? ep.host : ep.family == AF_INET6 ? "::1" : "127.0.0.1",
	    sizeof(m->host));
	snprintf(m->port, sizeof(m->port), "%u", ep.port);
	return true;
}

/* True when two specs name one socket: "localhost" and 127.0.0.1 are the same host here. */
static bool
same_socket(const char *a, const char *b)
{
	struct milter_sock x, y;

	if (!milter_spec_parse(a, &x) || !milter_spec_parse(b, &y))
		return strcmp(a, b) == 0;
	if (x.is_unix || y.is_unix)
		return x.is_unix && y.is_unix && strcmp(x.path, y.path) == 0;
	if (strcmp(x.host, "localhost") == 0)
		snprintf(x.host, sizeof(x.host), "127.0.0.1");
	if (strcmp(y.host, "localhost") == 0)
		snprintf(y.host, sizeof(y.host), "127.0.0.1");
	return strcmp(x.host, y.host) == 0 && strcmp(x.port, y.port) == 0;
}

static int
connect_unix(const char *path, const char *queue_dir, char *what, size_t whatlen)
{
	struct sockaddr_un sun;
	char full[512];
	int n = 0, fd;

	if (path[0] != '/' && queue_dir != NULL && *queue_dir != '\0') {
		n = snprintf(full, sizeof(full), "%s/%s", queue_dir, path);
		path = full;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (n < 0 || (size_t)n >= sizeof(full) || !mp_strlcpy(sun.sun_path, path, sizeof(sun.sun_path))) {
		snprintf(what, whatlen, "socket path too long");
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		snprintf(what, whatlen, "cannot connect to %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int
connect_inet(const char *host, const char *port, char *what, size_t whatlen)
{
	struct addrinfo hints, *res = NULL;
	int fd;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		snprintf(what, whatlen, "cannot resolve %s port %s", host, port);
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		snprintf(what, whatlen, "cannot connect to %s port %s: %s", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static bool
io_full(int fd, void *buf, size_t len, bool writing, const struct mp_deadline *dl)
{
	size_t off = 0;

	while (off < len) {
		struct pollfd p = { .fd = fd, .events = writing ? POLLOUT : POLLIN };
		ssize_t n;
		unsigned left = mp_deadline_left(dl);

		if (left == 0 || poll(&p, 1, (int)left) <= 0)
			return false;
		n = writing ? send(fd, (char *)buf + off, len - off, MSG_NOSIGNAL) :
		    read(fd, (char *)buf + off, len - off);
		if (n <= 0) {
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			return false;
		}
		off += (size_t)n;
	}
	return true;
}

static void
put32(unsigned char *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t
get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

/* SMFIC_OPTNEG and the milter's answer, then SMFIC_QUIT. */
static bool
milter_optneg(int fd, const struct mp_deadline *dl, unsigned timeout_ms, char *what, size_t whatlen)
{
	unsigned char pkt[17], hdr[5], rest[12];
	unsigned char quit[5] = { 0, 0, 0, 1, 'Q' };
	uint32_t len;

	/* Length 13, 'O', version 6, all actions, no protocol steps skipped. */
	put32(pkt, 13);
	pkt[4] = 'O';
	put32(pkt + 5, 6);
	put32(pkt + 9, 0x1ff);
	put32(pkt + 13, 0);
	if (!io_full(fd, pkt, sizeof(pkt), true, dl) || !io_full(fd, hdr, sizeof(hdr), false, dl)) {
		snprintf(what, whatlen, "no answer to the milter handshake within %u ms", timeout_ms);
		return false;
	}
	len = get32(hdr);
	if (hdr[4] != 'O' || len < 13 || len > 65536) {
		snprintf(what, whatlen, "unexpected answer to the handshake (command 0x%02x, length %u)",
		    hdr[4], len);
		return false;
	}
	if (!io_full(fd, rest, sizeof(rest), false, dl)) {
		snprintf(what, whatlen, "truncated handshake answer");
		return false;
	}
	snprintf(what, whatlen, "answers the handshake (milter protocol version %u)", get32(rest));
	(void)io_full(fd, quit, sizeof(quit), true, dl);
	return true;
}

bool
audit_milter_handshake(const char *spec, const char *queue_dir, unsigned timeout_ms,
    char *what, size_t whatlen)
{
	struct milter_sock m;
	struct mp_deadline dl;
	int fd;
	bool ok;

	mp_deadline_set(&dl, timeout_ms);
	if (!milter_spec_parse(spec, &m)) {
		snprintf(what, whatlen, "unsupported socket type");
		return false;
	}
	fd = m.is_unix ? connect_unix(m.path, queue_dir, what, whatlen) :
	    connect_inet(m.host, m.port, what, whatlen);
	if (fd < 0)
		return false;
	ok = milter_optneg(fd, &dl, timeout_ms, what, whatlen);
	close(fd);
	return ok;
}

void
host_judge_milter(struct audit_report *r, const struct audit_postconf *pc,
    const struct mp_conf *conf, unsigned timeout_ms)
{
	const char *milters = audit_postconf_get(pc, "smtpd_milters");
	const char *ours = mp_conf_str(conf, "milter", "socket");
	char specs[8][256];
	size_t n = milters ? audit_milter_specs(milters, specs, 8) : 0, ok = 0;
	bool named = false;

	if (n == 0) {
		audit_set(r, CHK_MILTER, AUDIT_FAIL, "smtpd_milters is empty: the milter is not wired in");
		audit_fix(r, CHK_MILTER, "Postfix main.cf: smtpd_milters = %s and "
		    "non_smtpd_milters = $smtpd_milters", ours);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char what[300];

		if (audit_milter_handshake(specs[i], audit_postconf_get(pc, "queue_directory"),
		    timeout_ms, what, sizeof(what)))
			ok++;
		audit_evidence(r, CHK_MILTER, "%s: %s", specs[i], what);
		if (same_socket(specs[i], ours))
			named = true;
	}
	if (ok < n) {
		audit_set(r, CHK_MILTER, AUDIT_FAIL, "%zu of %zu milters in smtpd_milters do not answer "
		    "(milter_default_action = %s applies)", n - ok, n,
		    audit_postconf_get(pc, "milter_default_action"));
		audit_fix(r, CHK_MILTER, "Start mailposture-milter (systemctl start mailposture-milter) "
		    "and check that [milter] socket and smtpd_milters name the same socket.");
	} else if (!named) {
		audit_set(r, CHK_MILTER, AUDIT_WARN, "every milter answers, but none is [milter] socket "
		    "%s", ours);
		audit_fix(r, CHK_MILTER, "Postfix main.cf: add %s to smtpd_milters.", ours);
	} else {
		audit_set(r, CHK_MILTER, AUDIT_PASS, "%zu milter%s answer%s the handshake", n,
		    n == 1 ? "" : "s", n == 1 ? "s" : "");
	}
}
