/*
 * spf: check_host() through libspf2 and our DNS layer, against the records
 * of tests/zones/spf.example.net.zone served by the harness NSD; the
 * record syntax table; mp_spf_inspect. The slow-DNS cases go through
 * MP_TEST_RESOLVER_DROP (tests/harness/dns-drop.py: the same server, but
 * names under slow.example.net are never answered).
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "dns.h"
#include "spf.h"
#include "util.h"

#define D(x) x ".spf.example.net"

static struct mp_dns *
dns_at(const char *upstream, unsigned timeout_ms)
{
	struct mp_dns_options opt;
	struct mp_dns *dns;
	char err[256];

	memset(&opt, 0, sizeof(opt));
	opt.upstream = upstream;
	opt.timeout_ms = timeout_ms;
	dns = mp_dns_new(&opt, err, sizeof(err));
	ck_assert_msg(dns != NULL, "mp_dns_new: %s", err);
	return dns;
}

static struct mp_dns *
test_dns(void)
{
	const char *r = test_env("MP_TEST_RESOLVER");

	ck_assert_msg(r != NULL, "MP_TEST_RESOLVER not set: run under tests/harness/with-servers");
	return dns_at(r, 3000);
}

/* The test server behind dns-drop.py, which never answers slow.example.net. */
static struct mp_dns *
drop_dns(unsigned timeout_ms)
{
	const char *r = test_env("MP_TEST_RESOLVER_DROP");

	ck_assert_msg(r != NULL, "MP_TEST_RESOLVER_DROP not set: run under tests/harness/with-servers");
	return dns_at(r, timeout_ms);
}

static struct mp_dns *g_dns;
static struct mp_spf *g_spf;

static void
setup(void)
{
	g_dns = test_dns();
	g_spf = mp_spf_new(g_dns);
}

static void
teardown(void)
{
	mp_spf_free(&g_spf);
	ck_assert_ptr_null(g_spf);
	mp_dns_free(&g_dns);
}

static enum mp_spf_result
mf(const char *ip, const char *from, struct mp_spf_outcome *o)
{
	struct mp_deadline dl;

	mp_deadline_set(&dl, 10000);
	return mp_spf_check_mailfrom(g_spf, &dl, ip, "mail.example.org", from, o);
}

#define CHECK(ip, from, want) do { \
	struct mp_spf_outcome o_; \
	enum mp_spf_result r_ = mf((ip), (from), &o_); \
	ck_assert_msg(r_ == (want) && o_.result == r_, "%s from %s: got %s (%s), want %s", \
	    (from), (ip), mp_spf_result_str(r_), o_.reason, mp_spf_result_str(want)); \
} while (0)

START_TEST(result_strings)
{
	ck_assert_str_eq(mp_spf_result_str(MP_SPF_PASS), "pass");
	ck_assert_str_eq(mp_spf_result_str(MP_SPF_SOFTFAIL), "softfail");
	ck_assert_str_eq(mp_spf_result_str(MP_SPF_TEMPERROR), "temperror");
	ck_assert_str_eq(mp_spf_result_str(MP_SPF_PERMERROR), "permerror");
	ck_assert_str_eq(mp_spf_result_str(MP_SPF_NONE), "none");
}
END_TEST

START_TEST(basic_results)
{
	struct mp_spf_outcome o;

	CHECK("192.0.2.10", "user@" D("pass"), MP_SPF_PASS);
	CHECK("198.51.100.1", "user@" D("pass"), MP_SPF_FAIL);
	CHECK("198.51.100.1", "user@" D("soft"), MP_SPF_SOFTFAIL);
	CHECK("198.51.100.1", "user@" D("neutral"), MP_SPF_NEUTRAL);
	CHECK("192.0.2.10", "user@" D("nospf"), MP_SPF_NONE);
	CHECK("192.0.2.10", "user@" D("txtonly"), MP_SPF_NONE);
	CHECK("192.0.2.10", "user@" D("nonexistent"), MP_SPF_NONE);
	CHECK("192.0.2.20", "user@" D("a"), MP_SPF_PASS);
	CHECK("192.0.2.21", "user@" D("a"), MP_SPF_FAIL);
	CHECK("192.0.2.25", "user@" D("mx"), MP_SPF_PASS);
	CHECK("192.0.2.20", "user@" D("mx"), MP_SPF_FAIL);

	/* reason and identity are filled */
	ck_assert_int_eq(mf("192.0.2.10", "user@" D("pass"), &o), MP_SPF_PASS);
	ck_assert_msg(strstr(o.reason, "ip4:192.0.2.0/24") != NULL, "reason: %s", o.reason);
	ck_assert_str_eq(o.domain, D("pass"));
	ck_assert_str_eq(o.identity, "user@" D("pass"));
	ck_assert_int_eq(mf("198.51.100.1", "user@" D("pass"), &o), MP_SPF_FAIL);
	ck_assert_msg(strstr(o.reason, "-all") != NULL, "reason: %s", o.reason);
	ck_assert_str_eq(o.explanation, "");
	/* "<user@domain>" is accepted too */
	ck_assert_int_eq(mf("192.0.2.10", "<user@" D("pass") ">", &o), MP_SPF_PASS);
}
END_TEST

/* libspf2 passes 127/8 on its own; we evaluate the record like any other. */
START_TEST(no_localhost_free_ride)
{
	CHECK("127.0.0.1", "user@" D("pass"), MP_SPF_FAIL);
	CHECK("::1", "user@" D("pass"), MP_SPF_FAIL);
}
END_TEST

START_TEST(permerrors)
{
	struct mp_spf_outcome o;

	ck_assert_int_eq(mf("192.0.2.10", "user@" D("two"), &o), MP_SPF_PERMERROR);
	ck_assert_msg(strstr(o.reason, "2 SPF records") != NULL, "reason: %s", o.reason);
	ck_assert_int_eq(mf("192.0.2.10", "user@" D("syntax"), &o), MP_SPF_PERMERROR);
	ck_assert_msg(strstr(o.reason, "invalid") != NULL, "reason: %s", o.reason);
	ck_assert_int_eq(mf("192.0.2.10", "user@" D("nul"), &o), MP_SPF_PERMERROR);
	ck_assert_msg(strstr(o.reason, "0x00") != NULL, "reason: %s", o.reason);
	ck_assert_int_eq(mf("192.0.2.10", "user@" D("big"), &o), MP_SPF_PERMERROR);
	ck_assert_msg(strstr(o.reason, "longer than") != NULL, "reason: %s", o.reason);
}
END_TEST

START_TEST(lookup_limits)
{
	struct mp_spf_outcome o;

	/* 11 terms over three records: libspf2 alone would say pass */
	ck_assert_int_eq(mf("192.0.2.99", "user@" D("many"), &o), MP_SPF_PERMERROR);
	ck_assert_msg(strstr(o.reason, "more than 10") != NULL, "reason: %s", o.reason);
	CHECK("192.0.2.99", "user@" D("ten"), MP_SPF_PASS);
	/* void lookups */
	ck_assert_int_eq(mf("192.0.2.10", "user@" D("void3"), &o), MP_SPF_PERMERROR);
	ck_assert_msg(strstr(o.reason, "void") != NULL, "reason: %s", o.reason);
	CHECK("192.0.2.10", "user@" D("void2"), MP_SPF_PASS);
	/* 300 levels of include stop at the 11th lookup */
	ck_assert_int_eq(mf("192.0.2.10", "user@" D("d0"), &o), MP_SPF_PERMERROR);
	ck_assert_msg(strstr(o.reason, "more than 10") != NULL, "reason: %s", o.reason);
	CHECK("192.0.2.10", "user@" D("d291"), MP_SPF_PASS);
	/* include loops */
	CHECK("192.0.2.10", "user@" D("loop"), MP_SPF_PERMERROR);
	CHECK("192.0.2.10", "user@" D("loopa"), MP_SPF_PERMERROR);
}
END_TEST

/* A UDP socket that receives and never answers. */
static int
dead_port(char *upstream, size_t len)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	snprintf(upstream, len, "127.0.0.1@%u", (unsigned)ntohs(a.sin_port));
	return fd;
}

START_TEST(temperror_dead_server)
{
	char up[64];
	int fd = dead_port(up, sizeof(up));
	struct mp_dns *dns = dns_at(up, 300);
	struct mp_spf *spf = mp_spf_new(dns);
	struct mp_spf_outcome o;
	struct mp_spf_inspection in;
	struct mp_deadline dl;

	mp_deadline_set(&dl, 10000);
	ck_assert_int_eq(mp_spf_check_mailfrom(spf, &dl, "192.0.2.10", "mail.example.org",
	    "user@" D("pass"), &o), MP_SPF_TEMPERROR);
	ck_assert_msg(strstr(o.reason, "timeout") != NULL, "reason: %s", o.reason);
	mp_spf_inspect(spf, &dl, D("pass"), &in);
	ck_assert_int_eq(in.status, MP_SPF_TEMPERROR);
	mp_spf_free(&spf);
	mp_dns_free(&dns);
	close(fd);
}
END_TEST

START_TEST(temperror_deadline)
{
	char up[64];
	int fd = dead_port(up, sizeof(up));
	struct mp_dns *dns = dns_at(up, 5000);
	struct mp_spf *spf = mp_spf_new(dns);
	struct mp_spf_outcome o;
	struct mp_deadline dl;
	unsigned long long t0;

	/* the deadline, not the 5 s query timeout, ends the check */
	mp_deadline_set(&dl, 300);
	t0 = mp_now_ms();
	ck_assert_int_eq(mp_spf_check_mailfrom(spf, &dl, "192.0.2.10", "mail.example.org",
	    "user@" D("pass"), &o), MP_SPF_TEMPERROR);
	ck_assert_uint_lt(mp_now_ms() - t0, 2500);
	/* an expired deadline: temperror without a lookup */
	dl.end_ms = 1;
	ck_assert_int_eq(mp_spf_check_helo(spf, &dl, "192.0.2.10", D("helo"), &o), MP_SPF_TEMPERROR);
	ck_assert_msg(strstr(o.reason, "deadline") != NULL, "reason: %s", o.reason);
	mp_spf_free(&spf);
	mp_dns_free(&dns);
	close(fd);
}
END_TEST

/*
 * Issue 11, the slow attacker: the PTR names of the client sit in a zone
 * that never answers. A timeout while validating them ends the check with
 * temperror after one query timeout, instead of one timeout per name (10
 * here) until the message's deadline is spent.
 */
START_TEST(temperror_slow_ptr_zone)
{
	struct mp_dns *dns = drop_dns(300);
	struct mp_spf *spf = mp_spf_new(dns);
	struct mp_spf_outcome o;
	struct mp_deadline dl;
	enum mp_spf_result r;
	unsigned long long t0, ms;

	mp_deadline_set(&dl, 5000);
	t0 = mp_now_ms();
	r = mp_spf_check_mailfrom(spf, &dl, "203.0.113.250", "mail.example.org",
	    "user@" D("slowptr"), &o);
	ms = mp_now_ms() - t0;
	fprintf(stderr, "# ptr:slow.example.net, [dns] timeout 300 ms, deadline 5000 ms: "
	    "%s after %llu ms (%s)\n", mp_spf_result_str(r), ms, o.reason);
	ck_assert_msg(r == MP_SPF_TEMPERROR, "got %s (%s)", mp_spf_result_str(r), o.reason);
	ck_assert_msg(strstr(o.reason, "timeout") != NULL && strstr(o.reason, "slow.example.net") != NULL &&
	    strstr(o.reason, "validating ptr") != NULL, "reason: %s", o.reason);
	ck_assert_uint_lt(ms, 2000);

	/* %{p}: libspf2 validates the client's names through our layer */
	mp_deadline_set(&dl, 5000);
	t0 = mp_now_ms();
	r = mp_spf_check_mailfrom(spf, &dl, "203.0.113.250", "mail.example.org",
	    "user@" D("slowp"), &o);
	ms = mp_now_ms() - t0;
	fprintf(stderr, "# exists:%%{p}..., same zone: %s after %llu ms (%s)\n",
	    mp_spf_result_str(r), ms, o.reason);
	ck_assert_msg(r == MP_SPF_TEMPERROR, "got %s (%s)", mp_spf_result_str(r), o.reason);
	ck_assert_msg(strstr(o.reason, "timeout") != NULL, "reason: %s", o.reason);
	ck_assert_uint_lt(ms, 2000);

	/* the proxy answers everything else */
	mp_deadline_set(&dl, 5000);
	ck_assert_int_eq(mp_spf_check_mailfrom(spf, &dl, "192.0.2.10", "mail.example.org",
	    "user@" D("pass"), &o), MP_SPF_PASS);
	/* a client without PTR names: ptr just does not match */
	ck_assert_int_eq(mp_spf_check_mailfrom(spf, &dl, "203.0.113.202", "mail.example.org",
	    "user@" D("slowptr"), &o), MP_SPF_FAIL);
	mp_spf_free(&spf);
	mp_dns_free(&dns);
}
END_TEST

/*
 * RFC 7208 7.1 allows ',' and '/' as delimiters and 'R' for reverse;
 * libspf2 refuses them (the record would be a permerror). Every name the
 * zone has for these exists only for the RFC expansion, so a pass proves
 * the expansion and a fail proves that a wrong one is not accepted.
 */
START_TEST(macro_delimiters)
{
	struct mp_spf_outcome o;

	CHECK("198.51.100.1", "a,b@" D("comma"), MP_SPF_PASS);
	CHECK("198.51.100.1", "b,a@" D("comma"), MP_SPF_FAIL);
	/* split on ',' alone: "two.three" is one part */
	CHECK("198.51.100.1", "one,two.three@" D("commar"), MP_SPF_PASS);
	CHECK("198.51.100.1", "b,a@" D("upperr"), MP_SPF_PASS);
	CHECK("198.51.100.1", "a,b@" D("upperr"), MP_SPF_FAIL);
	CHECK("198.51.100.1", "x/y/z@" D("slash"), MP_SPF_PASS);
	CHECK("198.51.100.1", "y/z/x@" D("slash"), MP_SPF_FAIL);
	/* %{d1r/}: no '/' in the domain, so one part: the whole domain */
	CHECK("198.51.100.1", "u@" D("dslash"), MP_SPF_PASS);
	/* with a prefix length after the domain-spec */
	CHECK("203.0.113.77", "a,b@" D("commaa"), MP_SPF_PASS);
	CHECK("198.51.100.1", "a,b@" D("commaa"), MP_SPF_FAIL);
	/* include and redirect targets; the include's record sees its own %{d} */
	CHECK("198.51.100.1", "u@" D("slashinc"), MP_SPF_PASS);
	CHECK("192.0.2.10", "pass,soft@" D("commared"), MP_SPF_PASS);
	CHECK("192.0.2.10", "soft,pass@" D("commared"), MP_SPF_PERMERROR);
	/* ptr:%{l1/}, done by our layer */
	CHECK("203.0.113.251", "junk/ptr.spf.example.net@" D("ptrslash"), MP_SPF_PASS);
	CHECK("203.0.113.251", "junk/other.spf.example.net@" D("ptrslash"), MP_SPF_FAIL);
	CHECK("203.0.113.202", "junk/ptr.spf.example.net@" D("ptrslash"), MP_SPF_FAIL);
	/* exp= */
	ck_assert_int_eq(mf("198.51.100.1", "why,x@" D("expcomma"), &o), MP_SPF_FAIL);
	ck_assert_str_eq(o.explanation, "198.51.100.1 is not one of expcomma.spf.example.net's senders");
}
END_TEST

/*
 * A name over 253 bytes loses labels on the left; one that loses all of
 * them (a single 260-byte label and a dot, from %{h}) names nothing, and
 * nothing is read before it (UBSan aborts on the old name[-1]).
 */
START_TEST(long_name_without_labels)
{
	struct mp_spf_outcome o;
	struct mp_deadline dl;
	char helo[300];

	memset(helo, 'a', 260);
	helo[260] = '.';
	helo[261] = '\0';
	mp_deadline_set(&dl, 5000);
	ck_assert_int_eq(mp_spf_check_mailfrom(g_spf, &dl, "192.0.2.10", helo,
	    "x@" D("hlong"), &o), MP_SPF_NEUTRAL);
	helo[260] = 'a';
	ck_assert_int_eq(mp_spf_check_mailfrom(g_spf, &dl, "192.0.2.10", helo,
	    "x@" D("hlong"), &o), MP_SPF_NEUTRAL);
}
END_TEST

START_TEST(helo_identity)
{
	struct mp_spf_outcome o;
	struct mp_deadline dl;

	mp_deadline_set(&dl, 10000);
	ck_assert_int_eq(mp_spf_check_helo(g_spf, &dl, "192.0.2.30", D("helo"), &o), MP_SPF_PASS);
	ck_assert_str_eq(o.identity, D("helo"));
	ck_assert_int_eq(mp_spf_check_helo(g_spf, &dl, "198.51.100.1", D("helo"), &o), MP_SPF_FAIL);
	/* HELO and MAIL FROM are separate: a HELO that fails does not touch MAIL FROM */
	ck_assert_int_eq(mp_spf_check_mailfrom(g_spf, &dl, "198.51.100.1", D("helo"),
	    "user@" D("neutral"), &o), MP_SPF_NEUTRAL);
	/* not a domain: none */
	ck_assert_int_eq(mp_spf_check_helo(g_spf, &dl, "192.0.2.30", "localhost", &o), MP_SPF_NONE);
	ck_assert_int_eq(mp_spf_check_helo(g_spf, &dl, "192.0.2.30", "[192.0.2.30]", &o), MP_SPF_NONE);
	ck_assert_int_eq(mp_spf_check_helo(g_spf, &dl, "192.0.2.30", "", &o), MP_SPF_NONE);
	ck_assert_int_eq(mp_spf_check_helo(g_spf, &dl, "192.0.2.30", NULL, &o), MP_SPF_NONE);
}
END_TEST

START_TEST(null_sender)
{
	struct mp_spf_outcome o;
	struct mp_deadline dl;

	mp_deadline_set(&dl, 10000);
	ck_assert_int_eq(mp_spf_check_mailfrom(g_spf, &dl, "192.0.2.30", D("helo"), "", &o), MP_SPF_PASS);
	ck_assert_str_eq(o.identity, "postmaster@" D("helo"));
	ck_assert_int_eq(mp_spf_check_mailfrom(g_spf, &dl, "198.51.100.1", D("helo"), "<>", &o), MP_SPF_FAIL);
	ck_assert_str_eq(o.identity, "postmaster@" D("helo"));
	/* "@domain": the local part is postmaster */
	ck_assert_int_eq(mp_spf_check_mailfrom(g_spf, &dl, "198.51.100.1", D("helo"), "@" D("exp"), &o),
	    MP_SPF_FAIL);
}
END_TEST

START_TEST(long_macro_names_cut_on_the_left)
{
	struct mp_spf_outcome o;
	struct mp_deadline dl;
	struct mp_buf l = MP_BUF_INIT;

	/* The first 292 bytes of the expansion end in .pwn.spf.example.net. */
	for (int i = 0; i < 4; i++) {
		for (int j = 0; j < 63; j++)
			mp_buf_putc(&l, 'a');
		mp_buf_putc(&l, '.');
	}
	mp_buf_puts(&l, "bbbbbbbbbbbbbbbb.pwn.spf.example.net.c");
	for (int j = 0; j < 60; j++)
		mp_buf_putc(&l, 'c');
	mp_buf_puts(&l, "@" D("longl"));
	mp_deadline_set(&dl, 5000);
	ck_assert_int_eq(mp_spf_check_mailfrom(g_spf, &dl, "192.0.2.99", "mail.example.org",
	    mp_buf_str(&l), &o), MP_SPF_FAIL);
	mp_buf_free(&l);

	/* An empty HELO: a:%{h} names nothing, and nothing reads before it. */
	ck_assert_int_eq(mp_spf_check_mailfrom(g_spf, &dl, "198.51.100.1", "",
	    "x@" D("hmacro"), &o), MP_SPF_FAIL);
}
END_TEST

START_TEST(ipv6_client)
{
	CHECK("2001:db8::1", "user@" D("v6"), MP_SPF_PASS);
	CHECK("2001:db9::1", "user@" D("v6"), MP_SPF_FAIL);
	CHECK("192.0.2.10", "user@" D("v6"), MP_SPF_FAIL);
	CHECK("2001:db8::20", "user@" D("a"), MP_SPF_PASS);
	CHECK("2001:db8::21", "user@" D("a"), MP_SPF_FAIL);
	/* an IPv4-mapped address is its IPv4 client */
	CHECK("::ffff:192.0.2.10", "user@" D("pass"), MP_SPF_PASS);
	/* prefix length 0, which libspf2 cannot compile: any IPv4 address of a.spf passes */
	CHECK("198.51.100.7", "user@" D("zero"), MP_SPF_PASS);
	CHECK("2001:db8::5", "user@" D("zero"), MP_SPF_FAIL);
	/* not an address at all */
	CHECK("192.0.2.300", "user@" D("pass"), MP_SPF_NONE);
}
END_TEST

START_TEST(explanation)
{
	struct mp_spf_outcome o;

	ck_assert_int_eq(mf("198.51.100.1", "user@" D("exp"), &o), MP_SPF_FAIL);
	ck_assert_str_eq(o.explanation, "198.51.100.1 is not one of exp.spf.example.net's senders");
	/* redirect: the target's result */
	ck_assert_int_eq(mf("198.51.100.1", "user@" D("red"), &o), MP_SPF_SOFTFAIL);
	ck_assert_int_eq(mf("192.0.2.10", "user@" D("red"), &o), MP_SPF_PASS);
}
END_TEST

/* mp_spf_record_valid: good and hostile records. */
static const struct {
	const char *rec;
	size_t len;             /* 0: strlen */
	bool ok;
} records[] = {
	{ "v=spf1", 0, true },
	{ "v=spf1 -all", 0, true },
	{ "V=SPF1 +ALL", 0, true },
	{ "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all", 0, true },
	{ "v=spf1 a mx ptr a:mail.example.com/24//64 mx:example.org//0 -all", 0, true },
	{ "v=spf1 include:_spf.example.com exists:%{ir}.%{l1r-}.example.com -all", 0, true },
	{ "v=spf1 redirect=_spf.example.com", 0, true },
	{ "v=spf1 -all exp=explain.%{d2}", 0, true },
	{ "v=spf1 moo.cow-far_out=man:dog/cat -all", 0, true },
	{ "v=spf1 a:foo.example.xn--zckzah -all", 0, true },
	{ "v=spf1 a -all ", 0, true },
	{ "v=spf1  a  -all", 0, true },
	{ "v=spf1 a:macro%%percent%_%_space%-url-space.example.com", 0, true },
	{ "v=spf1 exists:%{l,}.x.example.com exists:%{d1r/}.y.example.com -all", 0, true },
	{ "v=spf1 exists:%{lR.-+,/_=}.x.example.com -all", 0, true },
	{ "v=spf1 exists:%{l|}.x.example.com -all", 0, false },
	{ "v=spf10", 0, false },
	{ "spf1 -all", 0, false },
	{ "", 0, false },
	{ "v=spf1 ip4:192.0.2.300", 0, false },
	{ "v=spf1 ip4:192.0.2.1/33", 0, false },
	{ "v=spf1 ip4:192.0.2.1/032", 0, false },
	{ "v=spf1 ip4:192.0.2", 0, false },
	{ "v=spf1 ip4:192.0.02.1", 0, false },
	{ "v=spf1 ip4:1.2.3.4//32", 0, false },
	{ "v=spf1 ip6::CAFE::BABE", 0, false },
	{ "v=spf1 ip6:::1/129", 0, false },
	{ "v=spf1 a:111.222.33.44", 0, false },
	{ "v=spf1 a:museum", 0, false },
	{ "v=spf1 a:example.-com", 0, false },
	{ "v=spf1 a:example.com:8080", 0, false },
	{ "v=spf1 a/24/64", 0, false },
	{ "v=spf1 a//129", 0, false },
	{ "v=spf1 a:", 0, false },
	{ "v=spf1 ptr/0", 0, false },
	{ "v=spf1 include", 0, false },
	{ "v=spf1 exists", 0, false },
	{ "v=spf1 -all.", 0, false },
	{ "v=spf1 -all:foo", 0, false },
	{ "v=spf1 =all", 0, false },
	{ "v=spf1 1up=foo", 0, false },
	{ "v=spf1 foo=%abc", 0, false },
	{ "v=spf1 redirect=a.example.com redirect=b.example.com", 0, false },
	{ "v=spf1 exp=a.example.com exp=b.example.com", 0, false },
	{ "v=spf1 exp=", 0, false },
	{ "v=spf1 exp=%{r}.example.com", 0, false },
	{ "v=spf1 a:%{a}.example.com", 0, false },
	{ "v=spf1 a:%{d0}.example.com", 0, false },
	{ "v=spf1 -exists:%(ir).sbl.example.com", 0, false },
	{ "v=spf1 exists:foo%.sbl.example.com", 0, false },
	{ "v=spf1 a:%{d", 0, false },
	{ "v=spf1 redirect:example.com", 0, false },
	{ "v=spf1 a:ctrl.example.com\rptr -all", 0, false },
	{ "v=spf1 \tall", 0, false },
	{ "v=spf1 ip4:192.0.2.1\n include:example.com", 0, false },
	{ "v=spf1 \xc2\x80" "a -all", 0, false },
	{ "v=spf1 a:foo.example.com\0 -all", 30, false },
	{ "v=spf1 -all\0", 12, false },
};

START_TEST(record_syntax_table)
{
	char why[200];

	for (size_t i = 0; i < MP_ARRAY_SIZE(records); i++) {
		size_t len = records[i].len ? records[i].len : strlen(records[i].rec);
		bool ok = mp_spf_record_valid(records[i].rec, len, why, sizeof(why));

		ck_assert_msg(ok == records[i].ok, "record %zu \"%s\": got %s (%s)", i,
		    records[i].rec, ok ? "valid" : "invalid", why);
		if (!ok)
			ck_assert_msg(why[0] != '\0', "record %zu: no reason", i);
	}
}
END_TEST

START_TEST(record_syntax_hostile)
{
	char why[64], *big;
	size_t n = 5000;

	/* oversized */
	big = xmalloc(n + 1);
	memcpy(big, "v=spf1", 6);
	for (size_t i = 6; i < n; i++)
		big[i] = i % 10 == 6 ? ' ' : 'a';
	big[n] = '\0';
	ck_assert(!mp_spf_record_valid(big, n, why, sizeof(why)));
	ck_assert(strstr(why, "longer") != NULL);
	/* truncated mid-term, and a tiny reason buffer still terminated */
	ck_assert(!mp_spf_record_valid("v=spf1 ip4:192.0.2.1/", 21, why, 8));
	ck_assert_uint_lt(strlen(why), 8);
	ck_assert(!mp_spf_record_valid(NULL, 0, NULL, 0));
	ck_assert(!mp_spf_record_valid("v=spf1 %", 8, NULL, 0));
	/* the length is the truth, not the NUL */
	ck_assert(mp_spf_record_valid("v=spf1 -all garbage", 11, why, sizeof(why)));
	free(big);
}
END_TEST

START_TEST(inspect_records)
{
	struct mp_spf_inspection in;
	struct mp_deadline dl;

	mp_deadline_set(&dl, 10000);
	mp_spf_inspect(g_spf, &dl, D("pass"), &in);
	ck_assert_int_eq(in.status, MP_SPF_PASS);
	ck_assert_str_eq(in.record, "v=spf1 ip4:192.0.2.0/24 -all");
	ck_assert_uint_eq(in.record_len, strlen(in.record));
	ck_assert_int_eq(in.nrecords, 1);
	ck_assert_int_eq(in.all_qualifier, '-');
	ck_assert_int_eq(in.lookups, 0);
	ck_assert(!in.has_redirect);

	mp_spf_inspect(g_spf, &dl, D("two"), &in);
	ck_assert_int_eq(in.status, MP_SPF_PERMERROR);
	ck_assert_int_eq(in.nrecords, 2);

	mp_spf_inspect(g_spf, &dl, D("syntax"), &in);
	ck_assert_int_eq(in.status, MP_SPF_PERMERROR);
	ck_assert(in.problem[0] != '\0');

	mp_spf_inspect(g_spf, &dl, D("many"), &in);
	ck_assert_int_eq(in.status, MP_SPF_PERMERROR);
	ck_assert_int_gt(in.lookups, 10);

	mp_spf_inspect(g_spf, &dl, D("ten"), &in);
	ck_assert_int_eq(in.status, MP_SPF_PASS);
	ck_assert_int_eq(in.lookups, 10);

	mp_spf_inspect(g_spf, &dl, D("void2"), &in);
	ck_assert_int_eq(in.status, MP_SPF_PASS);
	ck_assert_int_eq(in.void_lookups, 2);
	mp_spf_inspect(g_spf, &dl, D("void3"), &in);
	ck_assert_int_eq(in.status, MP_SPF_PERMERROR);
	ck_assert_int_eq(in.void_lookups, 3);

	mp_spf_inspect(g_spf, &dl, D("red"), &in);
	ck_assert_int_eq(in.status, MP_SPF_PASS);
	ck_assert(in.has_redirect);
	ck_assert_int_eq(in.all_qualifier, '~');
	ck_assert_int_eq(in.lookups, 1);

	mp_spf_inspect(g_spf, &dl, D("neutral"), &in);
	ck_assert_int_eq(in.all_qualifier, '?');
	mp_spf_inspect(g_spf, &dl, D("mx"), &in);
	ck_assert_int_eq(in.lookups, 1);
	ck_assert_int_eq(in.void_lookups, 0);

	mp_spf_inspect(g_spf, &dl, D("d0"), &in);
	ck_assert_int_eq(in.status, MP_SPF_PERMERROR);
	mp_spf_inspect(g_spf, &dl, D("big"), &in);
	ck_assert_int_eq(in.status, MP_SPF_PERMERROR);
	ck_assert_uint_gt(in.record_len, 2048);

	mp_spf_inspect(g_spf, &dl, D("nospf"), &in);
	ck_assert_int_eq(in.status, MP_SPF_NONE);
	ck_assert_int_eq(in.nrecords, 0);
	mp_spf_inspect(g_spf, &dl, "not a domain", &in);
	ck_assert_int_eq(in.status, MP_SPF_NONE);
}
END_TEST

/* The domain DMARC prepares for before SPF runs: spf.c's own rule. */
START_TEST(mailfrom_domain)
{
	static const struct {
		const char *mail_from, *helo, *want;
	} c[] = {
		{ "bob@example.com", "h.example.net", "example.com" },
		{ "<bob@example.com>", "h.example.net", "example.com" },
		{ "\"a@victim.example\"@attacker.example", "h", "attacker.example" },
		{ "", "h.example.net", "h.example.net" },
		{ "<>", "h.example.net", "h.example.net" },
		{ NULL, "h.example.net", "h.example.net" },
		{ "bob", "h.example.net", "" },
		{ "bob@", "h", "" },
	};
	char out[256], tiny[4];

	for (size_t i = 0; i < MP_ARRAY_SIZE(c); i++) {
		mp_spf_mailfrom_domain(c[i].mail_from, c[i].helo, out, sizeof(out));
		ck_assert_msg(strcmp(out, c[i].want) == 0, "case %zu: got \"%s\", want \"%s\"", i,
		    out, c[i].want);
	}
	/* too long for the buffer: none, never a cut name */
	mp_spf_mailfrom_domain("bob@example.com", "h", tiny, sizeof(tiny));
	ck_assert_str_eq(tiny, "");
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("spf");
	TCase *tc = tcase_create("spf");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, result_strings);
	tcase_add_test(tc, mailfrom_domain);
	tcase_add_test(tc, basic_results);
	tcase_add_test(tc, no_localhost_free_ride);
	tcase_add_test(tc, permerrors);
	tcase_add_test(tc, lookup_limits);
	tcase_add_test(tc, temperror_dead_server);
	tcase_add_test(tc, temperror_deadline);
	tcase_add_test(tc, temperror_slow_ptr_zone);
	tcase_add_test(tc, macro_delimiters);
	tcase_add_test(tc, long_name_without_labels);
	tcase_add_test(tc, helo_identity);
	tcase_add_test(tc, null_sender);
	tcase_add_test(tc, long_macro_names_cut_on_the_left);
	tcase_add_test(tc, ipv6_client);
	tcase_add_test(tc, explanation);
	tcase_add_test(tc, record_syntax_table);
	tcase_add_test(tc, record_syntax_hostile);
	tcase_add_test(tc, inspect_records);
	suite_add_tcase(s, tc);
	return s;
}
