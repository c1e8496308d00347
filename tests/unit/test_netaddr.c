/* Unit tests for netaddr.c: tables of good and hostile addresses. */
#include "config.h"

#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "netaddr.h"
#include "util.h"

/* A literal that may hold a NUL byte, with its length. */
#define BIN(s) s, sizeof(s) - 1

static const struct {
	const char *s;
	size_t len;
	int family;             /* 0: refused */
} addrs[] = {
	{ BIN("192.0.2.1"), AF_INET },
	{ BIN("0.0.0.0"), AF_INET },
	{ BIN("255.255.255.255"), AF_INET },
	{ BIN("::1"), AF_INET6 },
	{ BIN("::"), AF_INET6 },
	{ BIN("2001:db8::1"), AF_INET6 },
	{ BIN("::ffff:192.0.2.1"), AF_INET6 },
	{ BIN("0000:0000:0000:0000:0000:ffff:255.255.255.255"), AF_INET6 },
	{ BIN(""), 0 },
	{ BIN("192.0.2"), 0 },
	{ BIN("256.0.0.1"), 0 },
	{ BIN("192.0.2.1 "), 0 },
	{ BIN(" 192.0.2.1"), 0 },
	{ BIN("192.0.2.1\0"), 0 },
	{ BIN("2001:db8::1%eth0"), 0 },
	{ BIN("[2001:db8::1]"), 0 },
	{ BIN("2001:db8:::1"), 0 },
	{ BIN("example.com"), 0 },
	{ BIN("0000:0000:0000:0000:0000:ffff:255.255.255.2555"), 0 },
};

START_TEST(addr_table)
{
	struct mp_netaddr a;
	bool ok = mp_netaddr_parse(addrs[_i].s, addrs[_i].len, &a);

	ck_assert_msg(ok == (addrs[_i].family != 0), "case %d: \"%s\"", _i, addrs[_i].s);
	if (ok)
		ck_assert_int_eq(a.family, addrs[_i].family);
	ck_assert(ok == mp_netaddr_parse(addrs[_i].s, addrs[_i].len, NULL));
}
END_TEST

START_TEST(addr_length_counts)
{
	struct mp_netaddr a;

	/* Only s[0..len) is read: the rest of the string does not count. */
	ck_assert(mp_netaddr_parse("192.0.2.1/24", 9, &a));
	ck_assert_int_eq(a.family, AF_INET);
	/* IPv4 lives in ::ffff:0:0/96. */
	ck_assert_uint_eq(a.a[9], 0);
	ck_assert_uint_eq(a.a[10], 0xff);
	ck_assert_uint_eq(a.a[12], 192);
	ck_assert(!mp_netaddr_parse("192.0.2.1", 8, &a));
	ck_assert(mp_netaddr_parse("::ffff:192.0.2.1", 16, &a));
	ck_assert_int_eq(a.family, AF_INET6);
	ck_assert_uint_eq(a.a[10], 0xff);
	ck_assert_uint_eq(a.a[12], 192);
	ck_assert_uint_eq(a.a[15], 1);
}
END_TEST

static const struct {
	const char *s;
	const char *why;        /* NULL: accepted */
} prefixes[] = {
	{ "192.0.2.0/24", NULL },
	{ "192.0.2.1", NULL },
	{ "192.0.2.1/32", NULL },
	{ "0.0.0.0/0", NULL },
	{ "::/0", NULL },
	{ "::1", NULL },
	{ "2001:db8::/32", NULL },
	{ "2001:db8::/128", NULL },
	{ "::ffff:192.0.2.0/120", NULL },
	{ "10.0.0.0/9", NULL },
	{ "192.0.2.0/024", NULL },
	{ "192.0.2.1/24", "host bits set past the prefix length" },
	{ "2001:db8::1/32", "host bits set past the prefix length" },
	{ "10.128.0.0/8", "host bits set past the prefix length" },
	{ "192.0.2.0/33", "prefix length out of range 0..32" },
	{ "2001:db8::/129", "prefix length out of range 0..128" },
	{ "192.0.2.0/99999999999999999999", "prefix length out of range 0..32" },
	{ "192.0.2.0/", "bad prefix length" },
	{ "192.0.2.0/-1", "bad prefix length" },
	{ "192.0.2.0/+24", "bad prefix length" },
	{ "192.0.2.0/24x", "bad prefix length" },
	{ "192.0.2.0/ 24", "bad prefix length" },
	{ "1.2.3.4/8/8", "bad prefix length" },
	{ "192.0.2", "not an IPv4 or IPv6 address" },
	{ "example.com/8", "not an IPv4 or IPv6 address" },
	{ "/24", "not an IPv4 or IPv6 address" },
	{ "", "not an IPv4 or IPv6 address" },
};

/* IPv4 whichever way it is written; an IPv6 address near the mapped range is not. */
START_TEST(ipv4_either_way)
{
	static const struct {
		const char *s;
		bool v4;
	} t[] = {
		{ "192.0.2.1", true }, { "::ffff:192.0.2.1", true }, { "::FFFF:c000:201", true },
		{ "2001:db8::1", false }, { "::1", false }, { "::fffe:192.0.2.1", false },
		{ "::192.0.2.1", false }, { "64:ff9b::192.0.2.1", false },
	};
	struct mp_netaddr a;

	for (size_t i = 0; i < MP_ARRAY_SIZE(t); i++) {
		ck_assert_msg(mp_netaddr_parse(t[i].s, strlen(t[i].s), &a), "%s", t[i].s);
		ck_assert_msg(mp_netaddr_is_ipv4(&a) == t[i].v4, "%s", t[i].s);
	}
}
END_TEST

START_TEST(prefix_table)
{
	struct mp_netprefix p;
	char why[128] = "";
	bool ok = mp_netprefix_parse(prefixes[_i].s, strlen(prefixes[_i].s), &p, why,
	    sizeof(why));

	if (prefixes[_i].why == NULL)
		ck_assert_msg(ok, "\"%s\" refused: %s", prefixes[_i].s, why);
	else {
		ck_assert_msg(!ok, "\"%s\" accepted", prefixes[_i].s);
		ck_assert_str_eq(why, prefixes[_i].why);
	}
}
END_TEST

static bool
in(const char *net, const char *ip)
{
	struct mp_netprefix p;
	struct mp_netaddr a;
	char why[128];

	ck_assert_msg(mp_netprefix_parse(net, strlen(net), &p, why, sizeof(why)), "%s: %s",
	    net, why);
	ck_assert_msg(mp_netaddr_parse(ip, strlen(ip), &a), "%s", ip);
	return mp_netprefix_match(&p, &a);
}

START_TEST(prefix_matches)
{
	ck_assert(in("192.0.2.128/25", "192.0.2.128"));
	ck_assert(in("192.0.2.128/25", "192.0.2.255"));
	ck_assert(!in("192.0.2.128/25", "192.0.2.127"));
	ck_assert(in("10.0.0.0/9", "10.127.0.1"));
	ck_assert(!in("10.0.0.0/9", "10.128.0.1"));
	ck_assert(in("198.51.100.7", "198.51.100.7"));
	ck_assert(!in("198.51.100.7", "198.51.100.8"));
	ck_assert(in("2001:db8::/33", "2001:db8:7fff::1"));
	ck_assert(!in("2001:db8::/33", "2001:db8:8000::1"));
	ck_assert(in("::1", "::1"));
	ck_assert(!in("::1", "::2"));
	/* An IPv4-mapped IPv6 client is the IPv4 client. */
	ck_assert(in("127.0.0.0/8", "::ffff:127.0.0.1"));
	ck_assert(in("::ffff:192.0.2.0/120", "192.0.2.9"));
	/* An IPv4 network never holds a native IPv6 address. */
	ck_assert(!in("127.0.0.0/8", "7f00::1"));
	ck_assert(!in("0.0.0.0/0", "2001:db8::1"));
	ck_assert(in("0.0.0.0/0", "203.0.113.9"));
	/* ::/0 is every address, IPv4 ones included. */
	ck_assert(in("::/0", "203.0.113.9"));
	ck_assert(in("::/0", "2001:db8::1"));
}
END_TEST

static const struct {
	const char *s;
	unsigned port;          /* 0: refused */
} ports[] = {
	{ "1", 1 }, { "25", 25 }, { "65535", 65535 }, { "00025", 25 },
	{ "0", 0 }, { "65536", 0 }, { "99999", 0 }, { "100000", 0 }, { "", 0 },
	{ "-1", 0 }, { "+25", 0 }, { " 25", 0 }, { "25 ", 0 }, { "2x", 0 },
};

START_TEST(port_table)
{
	unsigned port = 0;
	bool ok = mp_netaddr_port(ports[_i].s, strlen(ports[_i].s), &port);

	ck_assert_msg(ok == (ports[_i].port != 0), "\"%s\"", ports[_i].s);
	if (ok)
		ck_assert_uint_eq(port, ports[_i].port);
}
END_TEST

START_TEST(hosts)
{
	ck_assert(mp_netaddr_hostname(BIN("localhost")));
	ck_assert(mp_netaddr_hostname(BIN("mx.example.com")));
	ck_assert(!mp_netaddr_hostname(BIN("")));
	ck_assert(!mp_netaddr_hostname(BIN("bad_host!")));
	ck_assert(!mp_netaddr_hostname(BIN("bad host")));
	ck_assert(!mp_netaddr_hostname(BIN("\xc3\xa9t\xc3\xa9.example")));
	ck_assert(!mp_netaddr_hostname(BIN("a\0b")));
	ck_assert(mp_netaddr_host(BIN("2001:db8::25")));
	ck_assert(mp_netaddr_host(BIN("127.0.0.1")));
	ck_assert(mp_netaddr_host(BIN("mail.example.org")));
	ck_assert(!mp_netaddr_host(BIN("[::1]")));
}
END_TEST

static const struct {
	const char *s;
	const char *host;       /* NULL: refused, and why says reason */
	unsigned port;
	int family;
	const char *reason;
} hostports[] = {
	{ "127.0.0.1:6379", "127.0.0.1", 6379, AF_INET, NULL },
	{ "localhost:6379", "localhost", 6379, AF_UNSPEC, NULL },
	{ "redis.example.com:1", "redis.example.com", 1, AF_UNSPEC, NULL },
	{ "[2001:db8::6]:6379", "2001:db8::6", 6379, AF_INET6, NULL },
	{ "[::1]:65535", "::1", 65535, AF_INET6, NULL },
	{ "/run/redis/redis.sock", "/run/redis/redis.sock", 0, AF_UNIX, NULL },
	{ "localhost", NULL, 0, 0, "expected HOST:PORT" },
	{ "relative/redis.sock", NULL, 0, 0, "expected HOST:PORT" },
	{ ":6379", NULL, 0, 0, "expected HOST:PORT" },
	{ "2001:db8::1:6379", NULL, 0, 0, "write an IPv6 address as [ADDRESS]:PORT" },
	{ "[192.0.2.1]:6379", NULL, 0, 0, "expected [IPV6-ADDRESS]:PORT" },
	{ "[2001:db8::1]6379", NULL, 0, 0, "expected [IPV6-ADDRESS]:PORT" },
	{ "[2001:db8::1:6379", NULL, 0, 0, "expected [IPV6-ADDRESS]:PORT" },
	{ "[]:6379", NULL, 0, 0, "expected [IPV6-ADDRESS]:PORT" },
	{ "redis.example.com:0", NULL, 0, 0, "bad port (1..65535) after ':'" },
	{ "redis.example.com:", NULL, 0, 0, "bad port (1..65535) after ':'" },
	{ "redis.example.com:123456", NULL, 0, 0, "bad port (1..65535) after ':'" },
	{ "[::1]:0", NULL, 0, 0, "bad port (1..65535) after ':'" },
	{ "bad_host!:6379", NULL, 0, 0, "bad host before ':PORT'" },
	{ "/run/redis sock", NULL, 0, 0, "space in a unix socket path" },
};

START_TEST(hostport_table)
{
	struct mp_endpoint ep;
	char why[128] = "";
	bool ok = mp_endpoint_parse_hostport(hostports[_i].s, &ep, why, sizeof(why));

	if (hostports[_i].host == NULL) {
		ck_assert_msg(!ok, "\"%s\" accepted", hostports[_i].s);
		ck_assert_msg(strstr(why, hostports[_i].reason) != NULL, "\"%s\": %s",
		    hostports[_i].s, why);
		return;
	}
	ck_assert_msg(ok, "\"%s\" refused: %s", hostports[_i].s, why);
	ck_assert_str_eq(ep.host, hostports[_i].host);
	ck_assert_uint_eq(ep.port, hostports[_i].port);
	ck_assert_int_eq(ep.family, hostports[_i].family);
	ck_assert(ep.is_unix == (hostports[_i].family == AF_UNIX));
}
END_TEST

/* Long inputs: every length cap refuses, none overruns (ASan watches). */
START_TEST(hostport_bounds)
{
	struct mp_buf b = MP_BUF_INIT;
	struct mp_endpoint ep;
	char why[128];

	mp_buf_putc(&b, '/');
	for (int i = 0; i < 107; i++)
		mp_buf_putc(&b, 'a');
	ck_assert(!mp_endpoint_parse_hostport(mp_buf_str(&b), &ep, why, sizeof(why)));
	ck_assert_str_eq(why, "unix socket path longer than 107 bytes");
	b.data[b.len - 1] = '\0';
	ck_assert(mp_endpoint_parse_hostport(mp_buf_str(&b), &ep, why, sizeof(why)));
	ck_assert_uint_eq(strlen(ep.host), 107);

	mp_buf_reset(&b);
	for (int i = 0; i < 300; i++)
		mp_buf_puts(&b, "a.");
	mp_buf_puts(&b, "example:6379");
	ck_assert(!mp_endpoint_parse_hostport(mp_buf_str(&b), &ep, why, sizeof(why)));
	ck_assert_str_eq(why, "expected HOST:PORT");
	mp_buf_free(&b);
}
END_TEST

static const struct {
	const char *spec;
	unsigned flags;
	const char *host;       /* NULL: refused, with reason */
	unsigned port;
	int family;
	const char *reason;
} milters[] = {
	{ "unix:/run/mailposture/milter.sock", 0, "/run/mailposture/milter.sock", 0, AF_UNIX, NULL },
	{ "local:/var/run/mp.sock", 0, "/var/run/mp.sock", 0, AF_UNIX, NULL },
	{ "inet:8891", 0, "", 8891, AF_INET, NULL },
	{ "inet:8891@127.0.0.1", 0, "127.0.0.1", 8891, AF_INET, NULL },
	{ "inet:8891@localhost", 0, "localhost", 8891, AF_INET, NULL },
	{ "inet6:8891", 0, "", 8891, AF_INET6, NULL },
	{ "inet6:8891@::1", 0, "::1", 8891, AF_INET6, NULL },
	{ "inet6:8891@[2001:db8::1]", 0, "2001:db8::1", 8891, AF_INET6, NULL },
	{ "/run/x.sock", 0, NULL, 0, 0, "expected unix:/PATH, inet:PORT@HOST or inet6:PORT@HOST" },
	{ "/run/x.sock", MP_MILTER_SOCKET_BARE_PATH, "/run/x.sock", 0, AF_UNIX, NULL },
	{ "", 0, NULL, 0, 0, "expected unix:/PATH" },
	{ "tcp:8891", 0, NULL, 0, 0, "expected unix:/PATH" },
	{ "UNIX:/run/x.sock", 0, NULL, 0, 0, "expected unix:/PATH" },
	{ "unix:run/x.sock", 0, NULL, 0, 0, "a unix socket must be an absolute path" },
	{ "unix:", 0, NULL, 0, 0, "a unix socket must be an absolute path" },
	{ "unix:/run/my milter.sock", 0, NULL, 0, 0, "space in a unix socket path" },
	{ "inet:0@127.0.0.1", 0, NULL, 0, 0, "bad port (1..65535) in the socket" },
	{ "inet:65536", 0, NULL, 0, 0, "bad port" },
	{ "inet:", 0, NULL, 0, 0, "bad port" },
	{ "inet:@127.0.0.1", 0, NULL, 0, 0, "bad port" },
	{ "inet:127.0.0.1:8891", 0, NULL, 0, 0, "bad port" },
	{ "inet:8891@2001:db8::1", 0, NULL, 0, 0, "inet socket with an IPv6 address" },
	{ "inet6:8891@192.0.2.1", 0, NULL, 0, 0, "inet6 socket with an IPv4 address" },
	{ "inet:8891@bad_host!", 0, NULL, 0, 0, "bad host in the socket" },
	{ "inet:8891@", 0, NULL, 0, 0, "bad host in the socket" },
	{ "inet:8891@[127.0.0.1]", 0, NULL, 0, 0, "bad host in the socket" },
	{ "inet6:8891@[2001:db8::1", 0, NULL, 0, 0, "bad bracketed address in the socket" },
	{ "inet6:8891@[]", 0, NULL, 0, 0, "bad bracketed address in the socket" },
	/* The MTA's spellings. */
	{ "inet:127.0.0.1:8891", MP_MILTER_SOCKET_MTA, "127.0.0.1", 8891, AF_INET, NULL },
	{ "inet:localhost:8891", MP_MILTER_SOCKET_MTA, "localhost", 8891, AF_INET, NULL },
	{ "inet:[::1]:8891", MP_MILTER_SOCKET_MTA, "::1", 8891, AF_INET6, NULL },
	{ "inet:8891@127.0.0.1", MP_MILTER_SOCKET_MTA, "127.0.0.1", 8891, AF_INET, NULL },
	{ "inet:8891", MP_MILTER_SOCKET_MTA, "", 8891, AF_INET, NULL },
	{ "unix:private/mailposture", MP_MILTER_SOCKET_MTA, "private/mailposture", 0, AF_UNIX, NULL },
	{ "/run/x.sock", MP_MILTER_SOCKET_MTA, "/run/x.sock", 0, AF_UNIX, NULL },
	{ "unix:", MP_MILTER_SOCKET_MTA, NULL, 0, 0, "empty unix socket path" },
	{ "inet:127.0.0.1:0", MP_MILTER_SOCKET_MTA, NULL, 0, 0, "bad port" },
	{ "inet::8891", MP_MILTER_SOCKET_MTA, NULL, 0, 0, "bad host in the socket" },
	{ "inet:[::1:8891", MP_MILTER_SOCKET_MTA, NULL, 0, 0, "bad bracketed address" },
	/* Postfix hands the port to getaddrinfo: a service name works (/etc/services). */
	{ "inet:localhost:smtp", MP_MILTER_SOCKET_MTA, "localhost", 25, AF_INET, NULL },
	{ "inet:localhost:no-such-service", MP_MILTER_SOCKET_MTA, NULL, 0, 0, "bad port" },
	{ "inet:smtp@localhost", MP_MILTER_SOCKET_MTA, NULL, 0, 0, "bad port" },
	{ "inet:localhost:smtp", 0, NULL, 0, 0, "bad port" },
};

START_TEST(milter_table)
{
	struct mp_endpoint ep;
	char why[128] = "";
	bool ok = mp_endpoint_parse_milter(milters[_i].spec, milters[_i].flags, &ep, why,
	    sizeof(why));

	if (milters[_i].host == NULL) {
		ck_assert_msg(!ok, "\"%s\" accepted", milters[_i].spec);
		ck_assert_msg(strstr(why, milters[_i].reason) != NULL, "\"%s\": %s",
		    milters[_i].spec, why);
		return;
	}
	ck_assert_msg(ok, "\"%s\" refused: %s", milters[_i].spec, why);
	ck_assert_str_eq(ep.host, milters[_i].host);
	ck_assert_uint_eq(ep.port, milters[_i].port);
	ck_assert_int_eq(ep.family, milters[_i].family);
	ck_assert(ep.is_unix == (milters[_i].family == AF_UNIX));
}
END_TEST

START_TEST(milter_bounds)
{
	struct mp_buf b = MP_BUF_INIT;
	struct mp_endpoint ep;
	char why[128];

	mp_buf_puts(&b, "inet:8891@");
	for (int i = 0; i < 200; i++)
		mp_buf_puts(&b, "a.");
	mp_buf_puts(&b, "example");
	ck_assert(!mp_endpoint_parse_milter(mp_buf_str(&b), 0, &ep, why, sizeof(why)));
	ck_assert_str_eq(why, "bad host in the socket");
	mp_buf_reset(&b);
	mp_buf_puts(&b, "inet6:8891@[");
	for (int i = 0; i < 300; i++)
		mp_buf_putc(&b, ':');
	mp_buf_putc(&b, ']');
	ck_assert(!mp_endpoint_parse_milter(mp_buf_str(&b), 0, &ep, why, sizeof(why)));
	ck_assert_str_eq(why, "bad bracketed address in the socket");
	mp_buf_reset(&b);
	mp_buf_puts(&b, "unix:/");
	for (int i = 0; i < 5000; i++)
		mp_buf_putc(&b, 'a');
	ck_assert(!mp_endpoint_parse_milter(mp_buf_str(&b), 0, &ep, why, sizeof(why)));
	ck_assert_str_eq(why, "unix socket path longer than 107 bytes");
	/* A NULL reason buffer is allowed: a check only. */
	ck_assert(!mp_endpoint_parse_milter(mp_buf_str(&b), 0, NULL, NULL, 0));
	ck_assert(mp_endpoint_parse_milter("inet:25", 0, NULL, NULL, 0));
	mp_buf_free(&b);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("netaddr");
	TCase *tc = tcase_create("netaddr");

	tcase_add_loop_test(tc, addr_table, 0, (int)MP_ARRAY_SIZE(addrs));
	tcase_add_test(tc, addr_length_counts);
	tcase_add_test(tc, ipv4_either_way);
	tcase_add_loop_test(tc, prefix_table, 0, (int)MP_ARRAY_SIZE(prefixes));
	tcase_add_test(tc, prefix_matches);
	tcase_add_loop_test(tc, port_table, 0, (int)MP_ARRAY_SIZE(ports));
	tcase_add_test(tc, hosts);
	tcase_add_loop_test(tc, hostport_table, 0, (int)MP_ARRAY_SIZE(hostports));
	tcase_add_test(tc, hostport_bounds);
	tcase_add_loop_test(tc, milter_table, 0, (int)MP_ARRAY_SIZE(milters));
	tcase_add_test(tc, milter_bounds);
	suite_add_tcase(s, tc);
	return s;
}
