#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <netdb.h>
#include <stdint.h>
#include <string.h>

#include "domain.h"
#include "netaddr.h"
#include "util.h"

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) <= MP_ENDPOINT_HOST_MAX + 1,
    "a unix socket path fits in struct mp_endpoint");

static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool
mp_netaddr_parse(const char *s, size_t len, struct mp_netaddr *out)
{
	char text[INET6_ADDRSTRLEN];
	unsigned char a4[4];
	struct mp_netaddr a;

	if (len >= sizeof(text) || memchr(s, '\0', len) != NULL)
		return false;
	memcpy(text, s, len);
	text[len] = '\0';
	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, text, a4) == 1) {
		memcpy(a.a, v4mapped, sizeof(v4mapped));
		memcpy(a.a + sizeof(v4mapped), a4, sizeof(a4));
		a.family = AF_INET;
	} else if (inet_pton(AF_INET6, text, a.a) == 1) {
		a.family = AF_INET6;
	} else {
		return false;
	}
	if (out != NULL)
		*out = a;
	return true;
}

bool
mp_netaddr_is_ipv4(const struct mp_netaddr *a)
{
	return memcmp(a->a, v4mapped, sizeof(v4mapped)) == 0;
}

/* The LENGTH of ADDRESS/LENGTH, s[0..len), at most max. */
static bool
prefix_length(const char *s, size_t len, unsigned max, unsigned *len_r,
    char *why, size_t whylen)
{
	unsigned n = 0;

	if (len == 0) {
		mp_setf(why, whylen, "bad prefix length");
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			mp_setf(why, whylen, "bad prefix length");
			return false;
		}
		/* Past max it stays past max: no overflow on a long run of digits. */
		if (n <= max)
			n = n * 10 + (unsigned)(s[i] - '0');
	}
	if (n > max) {
		mp_setf(why, whylen, "prefix length out of range 0..%u", max);
		return false;
	}
	*len_r = n;
	return true;
}

bool
mp_netprefix_parse(const char *s, size_t len, struct mp_netprefix *out,
    char *why, size_t whylen)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash != NULL ? (size_t)(slash - s) : len;
	struct mp_netprefix p;
	unsigned max, n;

	if (!mp_netaddr_parse(s, alen, &p.addr)) {
		mp_setf(why, whylen, "not an IPv4 or IPv6 address");
		return false;
	}
	max = p.addr.family == AF_INET ? 32 : 128;
	p.len = 128;
	if (slash != NULL) {
		if (!prefix_length(slash + 1, len - alen - 1, max, &n, why, whylen))
			return false;
		p.len = n + (128 - max);
	}
	for (unsigned bit = p.len; bit < 128; bit++) {
		if (p.addr.a[bit / 8] & (0x80 >> (bit % 8))) {
			mp_setf(why, whylen, "host bits set past the prefix length");
			return false;
		}
	}
	*out = p;
	return true;
}

bool
mp_netprefix_match(const struct mp_netprefix *p, const struct mp_netaddr *a)
{
	unsigned bytes = p->len / 8, bits = p->len % 8;

	if (memcmp(a->a, p->addr.a, bytes) != 0)
		return false;
	if (bits == 0)
		return true;
	return ((a->a[bytes] ^ p->addr.a[bytes]) & (0xff00 >> bits) & 0xff) == 0;
}

bool
mp_netaddr_port(const char *s, size_t len, unsigned *port_r)
{
	unsigned port = 0;

	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		port = port * 10 + (unsigned)(s[i] - '0');
	}
	if (port < 1 || port > 65535)
		return false;
	if (port_r != NULL)
		*port_r = port;
	return true;
}

bool
mp_netaddr_hostname(const char *s, size_t len)
{
	char norm[MP_DOMAIN_MAX];

	/* No IDN here: a host name in a configuration is written in ASCII. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return mp_domain_normalize_ex(s, len, norm, MP_DOMAIN_ALLOW_SINGLE, NULL);
}

bool
mp_netaddr_host(const char *s, size_t len)
{
	return mp_netaddr_parse(s, len, NULL) || mp_netaddr_hostname(s, len);
}

static bool
unix_endpoint(const char *path, bool relative_ok, struct mp_endpoint *out,
    char *why, size_t whylen)
{
	struct sockaddr_un sa;
	size_t len = strnlen(path, sizeof(sa.sun_path));

	if (path[0] != '/' && !relative_ok) {
		mp_setf(why, whylen, "a unix socket must be an absolute path");
		return false;
	}
	if (len == 0) {
		mp_setf(why, whylen, "empty unix socket path");
		return false;
	}
	if (len >= sizeof(sa.sun_path)) {
		mp_setf(why, whylen, "unix socket path longer than %zu bytes",
		    sizeof(sa.sun_path) - 1);
		return false;
	}
	if (strpbrk(path, " \t") != NULL) {
		mp_setf(why, whylen, "space in a unix socket path");
		return false;
	}
	if (out != NULL) {
		memset(out, 0, sizeof(*out));
		out->is_unix = true;
		out->family = AF_UNIX;
		memcpy(out->host, path, len + 1);
	}
	return true;
}

bool
mp_endpoint_parse_hostport(const char *s, struct mp_endpoint *out,
    char *why, size_t whylen)
{
	struct mp_endpoint ep;
	struct mp_netaddr a;
	const char *colon, *h = s;
	size_t hlen;

	if (s[0] == '/')
		return unix_endpoint(s, false, out, why, whylen);
	memset(&ep, 0, sizeof(ep));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':' ||
		    !mp_netaddr_parse(s + 1, (size_t)(close - s - 1), &a) || a.family != AF_INET6) {
			mp_setf(why, whylen, "expected [IPV6-ADDRESS]:PORT");
			return false;
		}
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
		ep.family = AF_INET6;
	} else {
		if ((colon = strrchr(s, ':')) == NULL) {
			mp_setf(why, whylen, "expected HOST:PORT, [IPV6-ADDRESS]:PORT or /PATH");
			return false;
		}
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen > MP_ENDPOINT_HOST_MAX) {
			mp_setf(why, whylen, "expected HOST:PORT");
			return false;
		}
		if (memchr(s, ':', hlen) != NULL) {
			mp_setf(why, whylen, "write an IPv6 address as [ADDRESS]:PORT");
			return false;
		}
		if (mp_netaddr_parse(s, hlen, &a))
			ep.family = a.family;
		else if (mp_netaddr_hostname(s, hlen))
			ep.family = AF_UNSPEC;
		else {
			mp_setf(why, whylen, "bad host before ':PORT'");
			return false;
		}
	}
	if (!mp_netaddr_port(colon + 1, strnlen(colon + 1, 6), &ep.port)) {
		mp_setf(why, whylen, "bad port (1..65535) after ':'");
		return false;
	}
	memcpy(ep.host, h, hlen);
	ep.host[hlen] = '\0';
	if (out != NULL)
		*out = ep;
	return true;
}

/* The HOST of a milter inet socket, h[0..hlen), into ep. */
static bool
milter_host(const char *h, size_t hlen, bool mta, struct mp_endpoint *ep,
    char *why, size_t whylen)
{
	bool six = ep->family == AF_INET6;
	struct mp_netaddr a;

	/* inet6 addresses may come bracketed, as in [2001:db8::1]; Postfix
	 * brackets every IPv6 address. */
	if (hlen > 0 && h[0] == '[' && (six || mta)) {
		if (hlen < 3 || h[hlen - 1] != ']' || hlen - 2 > MP_ENDPOINT_HOST_MAX) {
			mp_setf(why, whylen, "bad bracketed address in the socket");
			return false;
		}
		h++;
		hlen -= 2;
	}
	if (mp_netaddr_parse(h, hlen, &a)) {
		/* Postfix's inet: is either family. */
		if (mta && !six)
			ep->family = a.family;
		else if (a.family != ep->family) {
			mp_setf(why, whylen, "%s socket with an %s address",
			    six ? "inet6" : "inet", six ? "IPv4" : "IPv6");
			return false;
		}
	} else if (hlen > MP_ENDPOINT_HOST_MAX || !mp_netaddr_hostname(h, hlen)) {
		mp_setf(why, whylen, "bad host in the socket");
		return false;
	}
	memcpy(ep->host, h, hlen);
	ep->host[hlen] = '\0';
	return true;
}

/*
 * An MTA may name the port by its service (Postfix passes it to
 * getaddrinfo: inet:localhost:milter); /etc/services gives the number.
 */
static bool
service_port(const char *s, size_t len, unsigned *port_r)
{
	char name[32];
	struct servent *se;

	if (len == 0 || len >= sizeof(name))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	memcpy(name, s, len);
	name[len] = '\0';
	if ((se = getservbyname(name, "tcp")) == NULL)
		return false;
	*port_r = ntohs((uint16_t)se->s_port);
	return *port_r > 0;
}

/* inet:REST or inet6:REST: PORT, PORT@HOST, or with mta Postfix's HOST:PORT. */
static bool
milter_inet(const char *rest, int family, bool mta, struct mp_endpoint *out,
    char *why, size_t whylen)
{
	const char *at = strchr(rest, '@'), *colon, *port = rest, *host = NULL;
	struct mp_endpoint ep;
	size_t plen, hlen = 0;

	memset(&ep, 0, sizeof(ep));
	ep.family = family;
	if (at != NULL) {
		plen = (size_t)(at - rest);
		host = at + 1;
		hlen = strnlen(host, MP_ENDPOINT_HOST_MAX + 3);
	} else if (mta && (colon = strrchr(rest, ':')) != NULL) {
		host = rest;
		hlen = (size_t)(colon - rest);
		port = colon + 1;
		plen = strnlen(port, 32);
	} else {
		plen = strnlen(rest, 6);
	}
	if (!mp_netaddr_port(port, plen, &ep.port) &&
	    !(mta && host != NULL && at == NULL && service_port(port, plen, &ep.port))) {
		mp_setf(why, whylen, "bad port (1..65535) in the socket");
		return false;
	}
	if (host != NULL && !milter_host(host, hlen, mta, &ep, why, whylen))
		return false;
	if (out != NULL)
		*out = ep;
	return true;
}

bool
mp_endpoint_parse_milter(const char *spec, unsigned flags, struct mp_endpoint *out,
    char *why, size_t whylen)
{
	bool mta = (flags & MP_MILTER_SOCKET_MTA) != 0;

	if (strncmp(spec, "unix:", 5) == 0)
		return unix_endpoint(spec + 5, mta, out, why, whylen);
	if (strncmp(spec, "local:", 6) == 0)
		return unix_endpoint(spec + 6, mta, out, why, whylen);
	if (strncmp(spec, "inet:", 5) == 0)
		return milter_inet(spec + 5, AF_INET, mta, out, why, whylen);
	if (strncmp(spec, "inet6:", 6) == 0)
		return milter_inet(spec + 6, AF_INET6, mta, out, why, whylen);
	if (spec[0] == '/' && (flags & (MP_MILTER_SOCKET_BARE_PATH | MP_MILTER_SOCKET_MTA)) != 0)
		return unix_endpoint(spec, false, out, why, whylen);
	mp_setf(why, whylen, "expected unix:/PATH, inet:PORT@HOST or inet6:PORT@HOST");
	return false;
}
