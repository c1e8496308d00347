/*
 * netaddr: the network addresses that configuration and clients hand us,
 * parsed in one place: an IPv4 or IPv6 address, a network
 * ADDRESS/PREFIX and whether an address is inside it, a Redis address
 * (HOST:PORT, [IPV6]:PORT or /PATH) and a milter socket spec
 * (unix:/PATH, inet:PORT@HOST, ...).
 *
 * Every parser takes untrusted text with its length or a C string,
 * bounds it before copying anything, and says why it refused it in a
 * reason that never quotes the input (callers quote it, escaped, in
 * their own words).
 */
#ifndef MP_NETADDR_H
#define MP_NETADDR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * An IPv4 or IPv6 address in one 128-bit form. IPv4 lives in the
 * IPv4-mapped range ::ffff:0:0/96, so that one comparison serves both
 * families and an IPv4-mapped IPv6 client (::ffff:192.0.2.1) is the IPv4
 * client it stands for.
 */
struct mp_netaddr {
	unsigned char a[16];
	int family;             /* AF_INET or AF_INET6, as written */
};

/* s[0..len) as an IPv4 or IPv6 address; false when it is neither. out
 * may be NULL (a check only). */
bool mp_netaddr_parse(const char *s, size_t len, struct mp_netaddr *out);
/* True for an IPv4 address, written as IPv4 or IPv4-mapped IPv6. */
bool mp_netaddr_is_ipv4(const struct mp_netaddr *a);

/* A network: an address and a prefix length in the 128-bit form (an
 * IPv4 /24 is 120 there). */
struct mp_netprefix {
	struct mp_netaddr addr;
	unsigned len;           /* 0..128 */
};

/*
 * s[0..len) as "ADDRESS" (one host) or "ADDRESS/LENGTH", LENGTH 0..32
 * for an address written as IPv4 and 0..128 for one written as IPv6.
 * Bits set in the address past the prefix length are an error: such a
 * typo would otherwise widen or narrow a list silently. false + a reason
 * in why on error.
 */
bool mp_netprefix_parse(const char *s, size_t len, struct mp_netprefix *out,
    char *why, size_t whylen);
/* True when a is inside p. An IPv4 network never holds a native IPv6
 * address; an IPv6 network that covers ::ffff:0:0/96 (::/0 does) holds
 * IPv4 addresses. */
bool mp_netprefix_match(const struct mp_netprefix *p, const struct mp_netaddr *a);

/* A decimal port, 1..65535, written as s[0..len) with nothing else. */
bool mp_netaddr_port(const char *s, size_t len, unsigned *port_r);
/* A host name as a configuration file writes one: ASCII, LDH labels,
 * a single label allowed (localhost). */
bool mp_netaddr_hostname(const char *s, size_t len);
/* An IP address or such a host name. */
bool mp_netaddr_host(const char *s, size_t len);

#define MP_ENDPOINT_HOST_MAX 255

/* Where to connect or listen: a unix socket or a host and a port. */
struct mp_endpoint {
	bool is_unix;
	/* AF_UNIX; else see the parser that filled it in. */
	int family;
	/* The socket path when is_unix; else the address (without brackets)
	 * or host name, "" when a milter socket names no host. */
	char host[MP_ENDPOINT_HOST_MAX + 1];
	unsigned port;          /* 1..65535; 0 when is_unix */
};

/*
 * A Redis address: HOST:PORT, [IPV6-ADDRESS]:PORT, or the absolute path
 * of a unix socket. An IPv6 address must be bracketed. family is AF_UNIX,
 * the family of an address, or AF_UNSPEC for a host name. false + a
 * reason in why on error.
 */
bool mp_endpoint_parse_hostport(const char *s, struct mp_endpoint *out,
    char *why, size_t whylen);

/*
 * A milter socket spec as libmilter's smfi_setconn() reads it:
 * unix:/PATH, local:/PATH, inet:PORT[@HOST], inet6:PORT[@HOST] (an inet6
 * HOST may be bracketed). A HOST that is an address must be of the
 * socket's family. family is AF_UNIX, AF_INET or AF_INET6. flags widen
 * what is taken:
 */
#define MP_MILTER_SOCKET_BARE_PATH 0x01 /* /PATH alone is unix:/PATH (libmilter takes it) */
/*
 * The MTA's spellings as well, for reading an MTA's milter list: a bare
 * /PATH, a relative unix path (Postfix's, below its queue directory) and
 * Postfix's inet:HOST:PORT, whose HOST may be an IPv6 address in
 * brackets (family is then AF_INET6).
 */
#define MP_MILTER_SOCKET_MTA 0x02
bool mp_endpoint_parse_milter(const char *spec, unsigned flags, struct mp_endpoint *out,
    char *why, size_t whylen);

#endif
