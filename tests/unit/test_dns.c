/*
 * dns against the harness NSD, which serves tests/zones/dns.example.org.zone.
 * Without MP_TEST_RESOLVER every network test fails with a message that
 * says so: a silent skip would hide a broken harness.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_main.h"
#include "dns.h"
#include "util.h"

#define Z "dns.example.org"

static struct mp_dns *
dns_open_to(const char *upstream, unsigned timeout_ms, const char *ta)
{
	struct mp_dns_options opt = { upstream, timeout_ms, ta, false };
	char err[256];
	struct mp_dns *dns = mp_dns_new(&opt, err, sizeof(err));

	ck_assert_msg(dns != NULL, "mp_dns_new(%s): %s", upstream, err);
	return dns;
}

static const char *
resolver(void)
{
	const char *r = test_env("MP_TEST_RESOLVER");

	ck_assert_msg(r != NULL, "MP_TEST_RESOLVER is not set: run this test "
	    "through tests/harness/with-servers (make check does)");
	return r;
}

static struct mp_dns *
dns_open(void)
{
	return dns_open_to(resolver(), 3000, NULL);
}

static struct mp_dns_result *
q(struct mp_dns *dns, const char *name, enum mp_dns_type type)
{
	struct mp_dns_result *r = mp_dns_query(dns, NULL, name, type);

	ck_assert_ptr_nonnull(r);
	return r;
}

static void
expect_status(struct mp_dns_result *r, enum mp_dns_status st, const char *name)
{
	ck_assert_msg(r->status == st, "%s: status %s (%s), want %s", name,
	    mp_dns_status_str(r->status), r->why ? r->why : "-", mp_dns_status_str(st));
}

/* A UDP socket that never answers: a dead upstream. */
static int
dead_udp(char *upstream, size_t len)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(upstream, len, "127.0.0.1@%u", ntohs(sin.sin_port));
	return fd;
}

START_TEST(resolver_is_set)
{
	ck_assert_str_ne(resolver(), "");
}
END_TEST

START_TEST(address_records)
{
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r;
	struct in_addr a;

	r = q(dns, "host." Z, MP_DNS_A);
	expect_status(r, MP_DNS_OK, "host A");
	ck_assert_uint_eq(r->count, 1);
	ck_assert_str_eq(r->rr[0].text, "192.0.2.10");
	inet_pton(AF_INET, "192.0.2.10", &a);
	ck_assert_int_eq(memcmp(&r->rr[0].a, &a, 4), 0);
	ck_assert_ptr_null(r->canonname);
	ck_assert(!r->secure && !r->bogus);
	mp_dns_result_free(&r);
	ck_assert_ptr_null(r);

	/* Case and a trailing dot in the query do not matter. */
	r = q(dns, "HOST.Dns.Example.Org.", MP_DNS_AAAA);
	expect_status(r, MP_DNS_OK, "host AAAA");
	ck_assert_uint_eq(r->count, 1);
	ck_assert_str_eq(r->rr[0].text, "2001:db8::10");
	ck_assert_uint_eq(r->rr[0].aaaa.s6_addr[15], 0x10);
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
	ck_assert_ptr_null(dns);
}
END_TEST

START_TEST(mx_records)
{
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r = q(dns, Z, MP_DNS_MX);
	bool seen10 = false, seen20 = false;

	expect_status(r, MP_DNS_OK, "apex MX");
	ck_assert_uint_eq(r->count, 2);
	for (size_t i = 0; i < r->count; i++) {
		if (r->rr[i].mx_pref == 10) {
			ck_assert_str_eq(r->rr[i].text, "mx." Z);
			seen10 = true;
		} else if (r->rr[i].mx_pref == 20) {
			/* MX2.Dns.Example.ORG. in the zone: lowercased, no dot */
			ck_assert_str_eq(r->rr[i].text, "mx2." Z);
			seen20 = true;
		}
	}
	ck_assert(seen10 && seen20);
	mp_dns_result_free(&r);

	r = q(dns, "nullmx." Z, MP_DNS_MX);
	expect_status(r, MP_DNS_OK, "null MX");
	ck_assert_uint_eq(r->count, 1);
	ck_assert_uint_eq(r->rr[0].mx_pref, 0);
	ck_assert_str_eq(r->rr[0].text, "");
	ck_assert_uint_eq(r->rr[0].text_len, 0);
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(ptr_records)
{
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r = q(dns, "ptr." Z, MP_DNS_PTR);

	expect_status(r, MP_DNS_OK, "ptr PTR");
	ck_assert_uint_eq(r->count, 1);
	ck_assert_str_eq(r->rr[0].text, "host." Z);
	mp_dns_result_free(&r);

	/* foo\.bar\032baz: the dot and space inside the label stay escaped. */
	r = q(dns, "weird." Z, MP_DNS_PTR);
	expect_status(r, MP_DNS_OK, "weird PTR");
	ck_assert_uint_eq(r->count, 1);
	ck_assert_str_eq(r->rr[0].text, "foo\\046bar\\032baz." Z);
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(txt_joined)
{
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r = q(dns, "longtxt." Z, MP_DNS_TXT);
	char want[501];

	expect_status(r, MP_DNS_OK, "longtxt");
	ck_assert_uint_eq(r->count, 1);
	memset(want, 'a', 200);
	memset(want + 200, 'b', 200);
	memset(want + 400, 'c', 100);
	want[500] = '\0';
	ck_assert_uint_eq(r->rr[0].text_len, 500);
	ck_assert_str_eq(r->rr[0].text, want);
	mp_dns_result_free(&r);

	/* Exactly the cap is accepted. */
	r = q(dns, "maxtxt." Z, MP_DNS_TXT);
	expect_status(r, MP_DNS_OK, "maxtxt");
	ck_assert_uint_eq(r->rr[0].text_len, MP_DNS_MAX_TXT);
	ck_assert_int_eq(r->rr[0].text[MP_DNS_MAX_TXT - 1], 'y');
	ck_assert_int_eq(r->rr[0].text[MP_DNS_MAX_TXT], '\0');
	mp_dns_result_free(&r);

	r = q(dns, "multitxt." Z, MP_DNS_TXT);
	expect_status(r, MP_DNS_OK, "multitxt");
	ck_assert_uint_eq(r->count, 2);
	ck_assert(strcmp(r->rr[0].text, "one") == 0 || strcmp(r->rr[1].text, "one") == 0);
	ck_assert(strcmp(r->rr[0].text, "two") == 0 || strcmp(r->rr[1].text, "two") == 0);
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(txt_over_cap_is_refused)
{
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r = q(dns, "hugetxt." Z, MP_DNS_TXT);

	/* Refused whole, never cut to 4096 bytes. */
	expect_status(r, MP_DNS_ERROR, "hugetxt");
	ck_assert_uint_eq(r->count, 0);
	ck_assert_ptr_null(r->rr);
	ck_assert_ptr_nonnull(r->why);
	ck_assert_ptr_nonnull(strstr(r->why, "MP_DNS_MAX_TXT"));
	ck_assert(mp_dns_status_is_temp(r->status));
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(txt_with_nul)
{
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r = q(dns, "nultxt." Z, MP_DNS_TXT);

	expect_status(r, MP_DNS_OK, "nultxt");
	ck_assert_uint_eq(r->count, 1);
	ck_assert_uint_eq(r->rr[0].text_len, 13);       /* "v=spf1 \0 -all" */
	ck_assert_uint_eq(strlen(r->rr[0].text), 7);
	ck_assert_int_eq(memcmp(r->rr[0].text, "v=spf1 \0 -all", 13), 0);
	ck_assert_int_eq(r->rr[0].text[13], '\0');
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(spf_type)
{
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r = q(dns, "spf." Z, MP_DNS_SPF);

	expect_status(r, MP_DNS_OK, "spf SPF");
	ck_assert_uint_eq(r->count, 1);
	ck_assert_int_eq(r->rr[0].type, MP_DNS_SPF);
	ck_assert_str_eq(r->rr[0].text, "v=spf1 ip4:192.0.2.0/24 -all");
	mp_dns_result_free(&r);
	r = q(dns, "host." Z, MP_DNS_SPF);
	expect_status(r, MP_DNS_NODATA, "host SPF");
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(rr_count_capped)
{
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r = q(dns, "many." Z, MP_DNS_A);

	/* 70 in the zone (the answer needs TCP), 64 kept. */
	expect_status(r, MP_DNS_OK, "many A");
	ck_assert_uint_eq(r->count, MP_DNS_MAX_RR);
	for (size_t i = 0; i < r->count; i++)
		ck_assert_ptr_nonnull(strstr(r->rr[i].text, "198.51.100."));
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(cname_chain)
{
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r = q(dns, "chain." Z, MP_DNS_A);

	expect_status(r, MP_DNS_OK, "chain A");
	ck_assert_uint_eq(r->count, 1);
	ck_assert_str_eq(r->rr[0].text, "192.0.2.10");
	ck_assert_ptr_nonnull(r->canonname);
	ck_assert_str_eq(r->canonname, "host." Z);
	mp_dns_result_free(&r);

	r = q(dns, "chain." Z, MP_DNS_CNAME);
	expect_status(r, MP_DNS_OK, "chain CNAME");
	ck_assert_uint_eq(r->count, 1);
	ck_assert_str_eq(r->rr[0].text, "chain2." Z);
	mp_dns_result_free(&r);

	r = q(dns, "dangling." Z, MP_DNS_A);
	expect_status(r, MP_DNS_NXDOMAIN, "dangling A");
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(cname_loop)
{
	struct mp_dns *dns = dns_open();
	unsigned long long t0 = mp_now_ms(), ms;
	struct mp_dns_result *r = q(dns, "a." Z, MP_DNS_A);

	ms = mp_now_ms() - t0;
	fprintf(stderr, "# CNAME loop: %s (%s) after %llu ms\n",
	    mp_dns_status_str(r->status), r->why ? r->why : "-", ms);
	ck_assert_msg(r->status == MP_DNS_SERVFAIL || r->status == MP_DNS_ERROR,
	    "CNAME loop gave %s", mp_dns_status_str(r->status));
	ck_assert_uint_eq(r->count, 0);
	ck_assert_msg(ms < 2000, "CNAME loop took %llu ms", ms);
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(nodata_vs_nxdomain)
{
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r;

	r = q(dns, "host." Z, MP_DNS_TXT);
	expect_status(r, MP_DNS_NODATA, "host TXT");
	ck_assert_uint_eq(r->count, 0);
	ck_assert(!mp_dns_status_is_temp(r->status));
	mp_dns_result_free(&r);

	/* An empty non-terminal exists: NODATA, not NXDOMAIN. */
	r = q(dns, "_tcp.mx." Z, MP_DNS_TXT);
	expect_status(r, MP_DNS_NODATA, "_tcp.mx TXT");
	mp_dns_result_free(&r);

	r = q(dns, "nxname." Z, MP_DNS_A);
	expect_status(r, MP_DNS_NXDOMAIN, "nxname A");
	ck_assert(!mp_dns_status_is_temp(r->status));
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(dead_delegation)
{
	struct mp_dns *dns = dns_open_to(resolver(), 2000, NULL);
	unsigned long long t0 = mp_now_ms(), ms;
	struct mp_dns_result *r = q(dns, "www.dead." Z, MP_DNS_A);

	ms = mp_now_ms() - t0;
	fprintf(stderr, "# dead delegation: %s (%s) after %llu ms\n",
	    mp_dns_status_str(r->status), r->why ? r->why : "-", ms);
	/*
	 * NSD does not recurse: it answers with a referral, which libunbound
	 * in forward mode passes on as NOERROR without data. dns turns that
	 * into SERVFAIL: "could not look", never "missing".
	 */
	expect_status(r, MP_DNS_SERVFAIL, "dead delegation");
	ck_assert_ptr_nonnull(strstr(r->why, "referral"));
	ck_assert_uint_eq(r->count, 0);
	ck_assert(ms < 2000 + 500);
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(tlsa_record)
{
	static const unsigned char want[32] = {
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	};
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r = q(dns, "_25._tcp.mx." Z, MP_DNS_TLSA);

	expect_status(r, MP_DNS_OK, "TLSA");
	ck_assert_uint_eq(r->count, 1);
	ck_assert_uint_eq(r->rr[0].tlsa_usage, 3);
	ck_assert_uint_eq(r->rr[0].tlsa_selector, 1);
	ck_assert_uint_eq(r->rr[0].tlsa_mtype, 1);
	ck_assert_uint_eq(r->rr[0].tlsa_len, 32);
	ck_assert_int_eq(memcmp(r->rr[0].tlsa_data, want, 32), 0);
	ck_assert_str_eq(r->rr[0].text, "3 1 1 0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef");
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(timeout_dead_upstream)
{
	char up[64];
	int fd = dead_udp(up, sizeof(up));
	struct mp_dns *dns = dns_open_to(up, 500, NULL);
	unsigned long long t0 = mp_now_ms(), ms;
	struct mp_dns_result *r = q(dns, "host." Z, MP_DNS_A);

	ms = mp_now_ms() - t0;
	fprintf(stderr, "# dead upstream, timeout 500 ms: %s after %llu ms\n",
	    mp_dns_status_str(r->status), ms);
	expect_status(r, MP_DNS_TIMEOUT, "dead upstream");
	ck_assert_ptr_nonnull(r->why);
	ck_assert_msg(ms >= 490 && ms <= 500 + 250, "timeout after %llu ms", ms);
	mp_dns_result_free(&r);

	/* The deadline wins when it is shorter than the timeout. */
	{
		struct mp_deadline d;

		mp_deadline_set(&d, 200);
		t0 = mp_now_ms();
		r = mp_dns_query(dns, &d, "host2." Z, MP_DNS_A);
		ms = mp_now_ms() - t0;
		fprintf(stderr, "# dead upstream, deadline 200 ms: %s after %llu ms\n",
		    mp_dns_status_str(r->status), ms);
		ck_assert(mp_dns_status_is_temp(r->status));
		ck_assert_msg(ms <= 200 + 250, "deadline after %llu ms", ms);
		mp_dns_result_free(&r);

		/* An expired deadline fails at once, without a query. */
		d.end_ms = 1;
		t0 = mp_now_ms();
		r = mp_dns_query(dns, &d, "host3." Z, MP_DNS_A);
		expect_status(r, MP_DNS_TIMEOUT, "expired deadline");
		ck_assert(mp_now_ms() - t0 < 50);
		mp_dns_result_free(&r);
	}
	mp_dns_free(&dns);
	close(fd);
}
END_TEST

START_TEST(deadline_caps_timeout)
{
	char up[64];
	int fd = dead_udp(up, sizeof(up));
	struct mp_dns *dns = dns_open_to(up, 10000, NULL);
	struct mp_deadline d;
	unsigned long long t0, ms;
	struct mp_dns_result *r;

	mp_deadline_set(&d, 300);
	t0 = mp_now_ms();
	r = mp_dns_query(dns, &d, "host." Z, MP_DNS_A);
	ms = mp_now_ms() - t0;
	expect_status(r, MP_DNS_TIMEOUT, "deadline");
	ck_assert_msg(ms >= 290 && ms <= 300 + 250, "deadline after %llu ms", ms);
	ck_assert_ptr_nonnull(strstr(r->why, "deadline"));
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
	close(fd);
}
END_TEST

START_TEST(bad_query_names)
{
	static const char *bad[] = {
		"", ".", "..", "a..b", ".a", "a\\b", "a\tb", "caf\xc3\xa9.example.org",
		"a\x7f", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.org",
	};
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r;
	char name[300];

	for (size_t i = 0; i < MP_ARRAY_SIZE(bad); i++) {
		r = q(dns, bad[i], MP_DNS_A);
		ck_assert_msg(r->status == MP_DNS_ERROR, "bad name #%zu: %s", i,
		    mp_dns_status_str(r->status));
		ck_assert_ptr_nonnull(r->why);
		mp_dns_result_free(&r);
	}
	r = q(dns, NULL, MP_DNS_A);
	expect_status(r, MP_DNS_ERROR, "NULL name");
	mp_dns_result_free(&r);

	/* A space is a legal octet in a label (SPF macros can make one): it is asked. */
	r = q(dns, "a b." Z, MP_DNS_A);
	expect_status(r, MP_DNS_NXDOMAIN, "name with a space");
	mp_dns_result_free(&r);

	/* 253 bytes is the longest name; 254 is refused. */
	memset(name, 'x', sizeof(name));
	for (size_t i = 63; i < 253 - strlen(Z); i += 64)
		name[i] = '.';
	name[253 - strlen(Z) - 1] = '.';
	strcpy(name + 253 - strlen(Z), Z);
	ck_assert_uint_eq(strlen(name), 253);
	r = q(dns, name, MP_DNS_A);
	expect_status(r, MP_DNS_NXDOMAIN, "253-byte name");
	mp_dns_result_free(&r);
	memmove(name + 1, name, 254);
	name[0] = 'x';
	ck_assert_uint_eq(strlen(name), 254);
	r = q(dns, name, MP_DNS_A);
	expect_status(r, MP_DNS_ERROR, "254-byte name");
	mp_dns_result_free(&r);

	/* Printable non-LDH bytes are legal in DNS (SPF macros make them). */
	r = q(dns, "a+b=c." Z, MP_DNS_A);
	expect_status(r, MP_DNS_NXDOMAIN, "a+b=c");
	mp_dns_result_free(&r);

	r = mp_dns_query(NULL, NULL, "host." Z, MP_DNS_A);
	expect_status(r, MP_DNS_ERROR, "NULL resolver");
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(bad_options)
{
	static const char *bad[] = {
		"not-an-ip", "127.0.0.1@notaport", "300.1.1.1", "dns.example.org",
		"127.0.0.1 127.0.0.2", "\x01\xff",
	};
	struct mp_dns_options opt = { NULL, 1000, NULL, false };
	char err[256];
	struct mp_dns *dns;

	for (size_t i = 0; i < MP_ARRAY_SIZE(bad); i++) {
		opt.upstream = bad[i];
		dns = mp_dns_new(&opt, err, sizeof(err));
		ck_assert_msg(dns == NULL, "upstream #%zu accepted", i);
		ck_assert_msg(strstr(err, "bad upstream") != NULL, "err: %s", err);
		mp_dns_free(&dns);
	}
	/* The error names the culprit, made printable. */
	ck_assert_ptr_nonnull(strstr(err, "\\x01\\xff"));

	opt.upstream = "127.0.0.1@53";
	opt.trust_anchor_file = "/nonexistent/root.key";
	dns = mp_dns_new(&opt, err, sizeof(err));
	ck_assert_ptr_null(dns);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/root.key"));

	/* A file that is there but not a trust anchor fails here, not later. */
	{
		char ta[] = "/tmp/mp-dns-ta.XXXXXX";
		int fd = mkstemp(ta);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "garbage here\n", 13), 13);
		close(fd);
		opt.trust_anchor_file = ta;
		dns = mp_dns_new(&opt, err, sizeof(err));
		unlink(ta);
		ck_assert_ptr_null(dns);
		ck_assert_ptr_nonnull(strstr(err, "trust anchor"));
	}

	ck_assert_ptr_null(mp_dns_new(NULL, err, sizeof(err)));
	ck_assert_str_ne(err, "");
	mp_dns_free(NULL);
}
END_TEST

START_TEST(resolv_conf_default)
{
	struct mp_dns_options opt = { NULL, 1000, NULL, false };
	char err[256];
	struct mp_dns *dns = mp_dns_new(&opt, err, sizeof(err));

	/* Only construction: the test never queries outside its zones. */
	if (access("/etc/resolv.conf", R_OK) != 0) {
		ck_assert_ptr_null(dns);
		ck_assert_ptr_nonnull(strstr(err, "resolv.conf"));
		return;
	}
	ck_assert_msg(dns != NULL, "resolv.conf: %s", err);
	mp_dns_free(&dns);
	opt.upstream = "";
	dns = mp_dns_new(&opt, err, sizeof(err));
	ck_assert_msg(dns != NULL, "resolv.conf: %s", err);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(dnssec_bogus)
{
	const char *up = resolver();    /* before the temp file exists */
	char ta[] = "/tmp/mp-dns-ta.XXXXXX";
	int fd = mkstemp(ta);
	FILE *fp;
	struct mp_dns *dns;
	struct mp_dns_result *r;

	ck_assert_int_ge(fd, 0);
	fp = fdopen(fd, "w");
	/* An anchor for an unsigned zone: everything in it is bogus. */
	fprintf(fp, Z ". IN DS 12345 8 2 "
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
	fclose(fp);
	dns = dns_open_to(up, 3000, ta);
	unlink(ta);     /* read at mp_dns_new: a failed assertion leaves no file */
	r = q(dns, "host." Z, MP_DNS_A);
	fprintf(stderr, "# bogus: %s (%s)\n", mp_dns_status_str(r->status), r->why ? r->why : "-");
	expect_status(r, MP_DNS_SERVFAIL, "bogus host A");
	ck_assert(r->bogus);
	ck_assert(!r->secure);
	ck_assert_uint_eq(r->count, 0);
	ck_assert_ptr_nonnull(strstr(r->why, "DNSSEC"));
	mp_dns_result_free(&r);

	/* Outside the anchor: insecure, neither secure nor bogus. */
	r = q(dns, "ns.example.com", MP_DNS_A);
	expect_status(r, MP_DNS_OK, "ns.example.com A");
	ck_assert(!r->bogus && !r->secure);
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

START_TEST(doc_reverse_zone_goes_upstream)
{
	struct mp_dns *dns = dns_open();
	struct mp_dns_result *r = q(dns, "10.2.0.192.in-addr.arpa", MP_DNS_PTR);

	/*
	 * libunbound would answer NXDOMAIN itself for TEST-NET-1; with
	 * nodefault the query reaches NSD, which serves the one PTR of
	 * tests/zones/2.0.192.in-addr.arpa.zone.
	 */
	fprintf(stderr, "# 10.2.0.192.in-addr.arpa PTR: %s (%s)\n",
	    mp_dns_status_str(r->status), r->why ? r->why : "-");
	ck_assert_int_eq(r->status, MP_DNS_OK);
	ck_assert_uint_eq(r->count, 1);
	ck_assert_str_eq(r->rr[0].text, "doc-reverse.dns.example.org");
	mp_dns_result_free(&r);
	mp_dns_free(&dns);
}
END_TEST

/*
 * Threads.
 */
struct worker {
	struct mp_dns *dns;
	int n;
	int wrong;
	int seed;
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->n; i++) {
		struct mp_dns_result *r;
		int k = (w->seed + i) % 4;

		switch (k) {
		case 0:
			r = mp_dns_query(w->dns, NULL, "host." Z, MP_DNS_A);
			if (r->status != MP_DNS_OK || r->count != 1 ||
			    strcmp(r->rr[0].text, "192.0.2.10") != 0)
				w->wrong++;
			break;
		case 1:
			r = mp_dns_query(w->dns, NULL, "longtxt." Z, MP_DNS_TXT);
			if (r->status != MP_DNS_OK || r->count != 1 || r->rr[0].text_len != 500)
				w->wrong++;
			break;
		case 2:
			r = mp_dns_query(w->dns, NULL, "nxname." Z, MP_DNS_A);
			if (r->status != MP_DNS_NXDOMAIN)
				w->wrong++;
			break;
		default:
			r = mp_dns_query(w->dns, NULL, "chain." Z, MP_DNS_AAAA);
			if (r->status != MP_DNS_OK || r->count != 1 ||
			    strcmp(r->rr[0].text, "2001:db8::10") != 0)
				w->wrong++;
			break;
		}
		mp_dns_result_free(&r);
	}
	return NULL;
}

START_TEST(threads_share_one_resolver)
{
	struct mp_dns *dns = dns_open();
	pthread_t t[4];
	struct worker w[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ dns, 50, 0, i };
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_msg(w[i].wrong == 0, "thread %d: %d wrong answers", i, w[i].wrong);
	}
	mp_dns_free(&dns);
}
END_TEST

struct dead_worker {
	struct mp_dns *dns;
	int timeouts;
	unsigned long long worst_ms;
};

static void *
dead_worker_run(void *arg)
{
	struct dead_worker *w = arg;

	for (int i = 0; i < 5; i++) {
		char name[64];
		unsigned long long t0 = mp_now_ms(), ms;
		struct mp_dns_result *r;

		snprintf(name, sizeof(name), "n%d-%p." Z, i, arg);
		r = mp_dns_query(w->dns, NULL, name, MP_DNS_A);
		ms = mp_now_ms() - t0;
		if (ms > w->worst_ms)
			w->worst_ms = ms;
		if (mp_dns_status_is_temp(r->status) && r->count == 0)
			w->timeouts++;
		mp_dns_result_free(&r);
	}
	return NULL;
}

/* Timeouts and cancels from several threads at once (ASan watches). */
START_TEST(threads_time_out_together)
{
	char up[64];
	int fd = dead_udp(up, sizeof(up));
	struct mp_dns *dns = dns_open_to(up, 150, NULL);
	pthread_t t[4];
	struct dead_worker w[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct dead_worker){ dns, 0, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, dead_worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].timeouts, 5);
		ck_assert_msg(w[i].worst_ms <= 150 + 250, "slowest %llu ms", w[i].worst_ms);
	}
	mp_dns_free(&dns);
	close(fd);
}
END_TEST

struct race_worker {
	struct mp_dns *dns;
	int id;
	int ok, timeout, wrong;
};

static void *
race_worker_run(void *arg)
{
	struct race_worker *w = arg;

	for (int i = 0; i < 100; i++) {
		/*
		 * Every other query is a name libunbound has not seen (a
		 * wildcard in spf.example.net): it goes to the server and
		 * comes back close to the 1 ms timeout.
		 */
		char name[80];
		const char *want = i % 2 ? "203.0.113.7" : "192.0.2.10";
		struct mp_dns_result *r;

		if (i % 2)
			snprintf(name, sizeof(name), "r%d-%d.pwn.spf.example.net", w->id, i);
		else
			snprintf(name, sizeof(name), "host.%s", Z);
		r = mp_dns_query(w->dns, NULL, name, MP_DNS_A);
		if (r->status == MP_DNS_OK && r->count == 1 &&
		    strcmp(r->rr[0].text, want) == 0)
			w->ok++;
		else if (r->status == MP_DNS_TIMEOUT && r->count == 0)
			w->timeout++;
		else
			w->wrong++;
		mp_dns_result_free(&r);
	}
	return NULL;
}

/*
 * A 1 ms timeout against a live server: answers and timeouts land at
 * the same moment, so cancels race with deliveries. Every result must be
 * whole or a timeout; ASan/TSan watch the hand-over of the query state.
 */
START_TEST(threads_race_cancel_and_answer)
{
	/* Without dnscache: every query must reach the wait and the cancel. */
	struct mp_dns_options opt = { resolver(), 1, NULL, true };
	char err[256];
	struct mp_dns *dns = mp_dns_new(&opt, err, sizeof(err));
	pthread_t t[4];
	struct race_worker w[4];
	int ok = 0, to = 0;

	ck_assert_msg(dns != NULL, "mp_dns_new: %s", err);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct race_worker){ dns, i, 0, 0, 0 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, race_worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].wrong, 0);
		ok += w[i].ok;
		to += w[i].timeout;
	}
	fprintf(stderr, "# 1 ms timeout race: %d answers, %d timeouts\n", ok, to);
	ck_assert_int_eq(ok + to, 400);
	mp_dns_free(&dns);
}
END_TEST

/*
 * Pure functions.
 */
START_TEST(reverse_names)
{
	static const struct {
		const char *ip, *want;
	} good[] = {
		{ "192.0.2.1", "1.2.0.192.in-addr.arpa" },
		{ "203.0.113.255", "255.113.0.203.in-addr.arpa" },
		{ "0.0.0.0", "0.0.0.0.in-addr.arpa" },
		{ "2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa" },
		{ "2001:DB8:ABCD::", "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.8.b.d.0.1.0.0.2.ip6.arpa" },
		{ "::ffff:192.0.2.7", "7.2.0.192.in-addr.arpa" },
	};
	static const char *bad[] = {
		"", "1.2.3", "256.1.1.1", "192.0.2.1 ", " 192.0.2.1", "192.0.2.1\n",
		"::g", "2001:db8::1::2", "192.0.2.1/24", "localhost", "1.2.3.4.5",
		"2001:db8::1%eth0",
	};
	char out[128], small[10];

	for (size_t i = 0; i < MP_ARRAY_SIZE(good); i++) {
		ck_assert_msg(mp_dns_reverse_name(good[i].ip, out, sizeof(out)),
		    "rejected %s", good[i].ip);
		ck_assert_str_eq(out, good[i].want);
	}
	for (size_t i = 0; i < MP_ARRAY_SIZE(bad); i++) {
		strcpy(out, "junk");
		ck_assert_msg(!mp_dns_reverse_name(bad[i], out, sizeof(out)),
		    "accepted \"%s\"", bad[i]);
		ck_assert_str_eq(out, "");
	}
	ck_assert(!mp_dns_reverse_name(NULL, out, sizeof(out)));
	ck_assert(!mp_dns_reverse_name("192.0.2.1", small, sizeof(small)));
	ck_assert_str_eq(small, "");
	ck_assert(!mp_dns_reverse_name("192.0.2.1", NULL, 0));
	/* The longest form fits in exactly 73 bytes with its NUL. */
	ck_assert(mp_dns_reverse_name("2001:db8::1", out, 73));
	ck_assert(!mp_dns_reverse_name("2001:db8::1", out, 72));
}
END_TEST

START_TEST(status_strings)
{
	ck_assert_str_eq(mp_dns_status_str(MP_DNS_OK), "ok");
	ck_assert_str_eq(mp_dns_status_str(MP_DNS_NXDOMAIN), "nxdomain");
	ck_assert_str_eq(mp_dns_status_str(MP_DNS_NODATA), "nodata");
	ck_assert_str_eq(mp_dns_status_str(MP_DNS_SERVFAIL), "servfail");
	ck_assert_str_eq(mp_dns_status_str(MP_DNS_TIMEOUT), "timeout");
	ck_assert_str_eq(mp_dns_status_str(MP_DNS_ERROR), "error");
	ck_assert_str_eq(mp_dns_status_str((enum mp_dns_status)99), "unknown");
	ck_assert(!mp_dns_status_is_temp(MP_DNS_OK));
	ck_assert(!mp_dns_status_is_temp(MP_DNS_NXDOMAIN));
	ck_assert(!mp_dns_status_is_temp(MP_DNS_NODATA));
	ck_assert(mp_dns_status_is_temp(MP_DNS_SERVFAIL));
	ck_assert(mp_dns_status_is_temp(MP_DNS_TIMEOUT));
	ck_assert(mp_dns_status_is_temp(MP_DNS_ERROR));
}
END_TEST

/* Hostile rdata, as a broken or malicious server could send it. */
START_TEST(rdata_table)
{
#define RD(s) (const unsigned char *)(s), sizeof(s) - 1
	static const struct {
		enum mp_dns_type type;
		const unsigned char *rd;
		size_t len;
		const char *want;       /* NULL: must be refused */
	} t[] = {
		{ MP_DNS_A, RD("\xc0\x00\x02\x01"), "192.0.2.1" },
		{ MP_DNS_A, RD("\xc0\x00\x02"), NULL },
		{ MP_DNS_A, RD("\xc0\x00\x02\x01\x00"), NULL },
		{ MP_DNS_AAAA, RD("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01"), "2001:db8::1" },
		{ MP_DNS_AAAA, RD("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0"), NULL },
		{ MP_DNS_PTR, RD("\x04Mail\x07" "Example\x03" "ORG\x00"), "mail.example.org" },
		{ MP_DNS_PTR, RD("\x00"), "" },
		{ MP_DNS_PTR, RD(""), NULL },
		{ MP_DNS_PTR, RD("\x04mail"), NULL },                   /* no root label */
		{ MP_DNS_PTR, RD("\x05mail\x00"), NULL },               /* label past the end */
		{ MP_DNS_PTR, RD("\x04mail\xc0\x0c"), NULL },           /* compression pointer */
		{ MP_DNS_PTR, RD("\x40mail\x00"), NULL },               /* label length 64 */
		{ MP_DNS_PTR, RD("\x04mail\x00\x00"), NULL },           /* trailing byte */
		{ MP_DNS_PTR, RD("\x03" "a\x00" "b\x00"), "a\\000b" },  /* NUL in a label */
		{ MP_DNS_PTR, RD("\x03" "a.b\x02\xff\n\x00"), "a\\046b.\\255\\010" },
		{ MP_DNS_CNAME, RD("\x01_\x03tcp\x00"), "_.tcp" },
		{ MP_DNS_MX, RD("\x00\x0a\x02mx\x00"), "mx" },
		{ MP_DNS_MX, RD("\x00\x0a"), NULL },
		{ MP_DNS_MX, RD("\x00\x0a\x00\x00"), NULL },
		{ MP_DNS_MX, RD("\x00"), NULL },
		{ MP_DNS_TXT, RD("\x03" "abc\x02" "de"), "abcde" },
		{ MP_DNS_TXT, RD("\x00"), "" },
		{ MP_DNS_TXT, RD(""), NULL },
		{ MP_DNS_TXT, RD("\x03" "abc\x05" "de"), NULL },         /* string past the end */
		{ MP_DNS_TXT, RD("\xff"), NULL },
		{ MP_DNS_SPF, RD("\x06v=spf1"), "v=spf1" },
		{ MP_DNS_TLSA, RD("\x03\x01\x01\xab"), "3 1 1 ab" },
		{ MP_DNS_TLSA, RD("\x03\x01\x01"), NULL },
		{ (enum mp_dns_type)2, RD("\x00"), NULL },              /* NS: not ours */
	};
#undef RD
	struct mp_dns_rr rr;
	const char *why;

	for (size_t i = 0; i < MP_ARRAY_SIZE(t); i++) {
		why = NULL;
		bool ok = mp_dns_parse_rdata(t[i].type, t[i].rd, t[i].len, &rr, &why);

		if (t[i].want == NULL) {
			ck_assert_msg(!ok, "rdata #%zu accepted as \"%s\"", i, ok ? rr.text : "");
			ck_assert_msg(why != NULL && *why != '\0', "rdata #%zu: no reason", i);
			ck_assert_ptr_null(rr.text);
			ck_assert_ptr_null(rr.tlsa_data);
		} else {
			ck_assert_msg(ok, "rdata #%zu refused: %s", i, why);
			ck_assert_str_eq(rr.text, t[i].want);
			ck_assert_uint_eq(rr.text_len, strlen(t[i].want));
		}
		mp_dns_rr_clear(&rr);
	}
	ck_assert_ptr_null(rr.text);
}
END_TEST

/* TXT strings joined up to the cap and not one byte beyond. */
START_TEST(rdata_txt_cap)
{
	unsigned char rd[MP_DNS_MAX_TXT + 64];
	size_t len = 0, total = 0;
	struct mp_dns_rr rr;
	const char *why;

	while (total + 255 <= MP_DNS_MAX_TXT) {
		rd[len++] = 255;
		memset(rd + len, 'x', 255);
		len += 255;
		total += 255;
	}
	rd[len++] = (unsigned char)(MP_DNS_MAX_TXT - total);
	memset(rd + len, 'y', MP_DNS_MAX_TXT - total);
	len += MP_DNS_MAX_TXT - total;
	ck_assert(mp_dns_parse_rdata(MP_DNS_TXT, rd, len, &rr, &why));
	ck_assert_uint_eq(rr.text_len, MP_DNS_MAX_TXT);
	mp_dns_rr_clear(&rr);
	rd[len++] = 1;
	rd[len++] = 'z';
	ck_assert(!mp_dns_parse_rdata(MP_DNS_TXT, rd, len, &rr, &why));
	ck_assert_ptr_nonnull(strstr(why, "MP_DNS_MAX_TXT"));

	/* A name of 256 wire bytes (four 63-byte labels) is refused. */
	len = 0;
	for (int i = 0; i < 4; i++) {
		rd[len++] = 63;
		memset(rd + len, 'n', 63);
		len += 63;
	}
	rd[len++] = 0;
	ck_assert_uint_eq(len, 257);
	ck_assert(!mp_dns_parse_rdata(MP_DNS_PTR, rd, len, &rr, &why));
	/* Three labels of 63 and one of 61: 255 wire bytes, accepted. */
	rd[3 * 64] = 61;
	memmove(rd + 3 * 64 + 62, rd + len - 1, 1);
	len = 3 * 64 + 62 + 1;
	ck_assert_uint_eq(len, 255);
	ck_assert(mp_dns_parse_rdata(MP_DNS_PTR, rd, len, &rr, &why));
	ck_assert_uint_eq(rr.text_len, 253);
	mp_dns_rr_clear(&rr);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("dns");
	TCase *pure = tcase_create("pure");
	TCase *net = tcase_create("net");

	tcase_add_test(pure, reverse_names);
	tcase_add_test(pure, status_strings);
	tcase_add_test(pure, rdata_table);
	tcase_add_test(pure, rdata_txt_cap);
	tcase_add_test(pure, bad_options);
	tcase_add_test(pure, resolv_conf_default);
	suite_add_tcase(s, pure);

	tcase_set_timeout(net, 30);
	tcase_add_test(net, resolver_is_set);
	tcase_add_test(net, address_records);
	tcase_add_test(net, mx_records);
	tcase_add_test(net, ptr_records);
	tcase_add_test(net, txt_joined);
	tcase_add_test(net, txt_over_cap_is_refused);
	tcase_add_test(net, txt_with_nul);
	tcase_add_test(net, spf_type);
	tcase_add_test(net, rr_count_capped);
	tcase_add_test(net, cname_chain);
	tcase_add_test(net, cname_loop);
	tcase_add_test(net, nodata_vs_nxdomain);
	tcase_add_test(net, dead_delegation);
	tcase_add_test(net, tlsa_record);
	tcase_add_test(net, timeout_dead_upstream);
	tcase_add_test(net, deadline_caps_timeout);
	tcase_add_test(net, bad_query_names);
	tcase_add_test(net, dnssec_bogus);
	tcase_add_test(net, doc_reverse_zone_goes_upstream);
	tcase_add_test(net, threads_share_one_resolver);
	tcase_add_test(net, threads_time_out_together);
	tcase_add_test(net, threads_race_cancel_and_answer);
	suite_add_tcase(s, net);
	return s;
}
