/*
 * store: the writer, the script and the posture cache against real
 * redis-server processes. Each test case starts its own servers on free
 * loopback ports (wrapped in timeout(1), so a crashed test cannot leave
 * one behind for long); the outage test stops and restarts its server.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "check_main.h"
#include "record.h"
#include "store.h"
#include "util.h"

extern char **environ;

#define T0 1700000000   /* 2023-11-14 22:13:20 UTC */
#define DAY0 "20231114"

/* ---- redis-server processes ------------------------------------------- */

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		perror("free_port");
		exit(99);
	}
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static redisContext *
raw_connect(int port, const char *pass)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);

	if (c == NULL || c->err) {
		if (c)
			redisFree(c);
		return NULL;
	}
	if (pass != NULL) {
		redisReply *r = redisCommand(c, "AUTH %s", pass);

		if (r)
			freeReplyObject(r);
	}
	return c;
}

/* Starts redis-server on port; waits until it answers PING. */
static pid_t
redis_start(int port, const char *pass)
{
	char ports[16];
	const char *argv[20];
	int argc = 0;
	posix_spawn_file_actions_t fa;
	pid_t pid;

	snprintf(ports, sizeof(ports), "%d", port);
	argv[argc++] = "timeout";
	argv[argc++] = "300";
	argv[argc++] = "redis-server";
	argv[argc++] = "--bind";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "--port";
	argv[argc++] = ports;
	argv[argc++] = "--save";
	argv[argc++] = "";
	argv[argc++] = "--appendonly";
	argv[argc++] = "no";
	argv[argc++] = "--dir";
	argv[argc++] = "/tmp";
	if (pass != NULL) {
		argv[argc++] = "--requirepass";
		argv[argc++] = pass;
	}
	argv[argc] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, "timeout", &fa, NULL, (char *const *)argv, environ) != 0) {
		perror("spawn redis-server");
		exit(99);
	}
	posix_spawn_file_actions_destroy(&fa);
	for (int i = 0; i < 100; i++) {
		redisContext *c = raw_connect(port, pass);

		if (c != NULL) {
			redisReply *r = redisCommand(c, "PING");
			bool up = r && r->type == REDIS_REPLY_STATUS;

			if (r)
				freeReplyObject(r);
			redisFree(c);
			if (up)
				return pid;
		}
		usleep(50000);
	}
	fprintf(stderr, "redis-server did not start on port %d\n", port);
	exit(99);
}

static void
redis_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);   /* timeout(1) passes it on to redis-server */
	waitpid(pid, NULL, 0);
}

/* ---- helpers ----------------------------------------------------------- */

static int port_a, port_auth;
static pid_t pid_a, pid_auth;

static void
servers_up(void)
{
	port_a = free_port();
	pid_a = redis_start(port_a, NULL);
	port_auth = free_port();
	pid_auth = redis_start(port_auth, "s3cret-pw");
}

static void
servers_down(void)
{
	redis_stop(pid_a);
	redis_stop(pid_auth);
}

static void
opts_for(struct mp_store_options *o, int port)
{
	mp_store_options_defaults(o);
	snprintf(o->address, sizeof(o->address), "127.0.0.1:%d", port);
	o->backoff_min_ms = 20;
	o->backoff_max_ms = 200;
	o->timeout_ms = 1000;
}

static redisReply *
cmd(redisContext *c, const char *fmt, ...)
{
	va_list ap;
	redisReply *r;

	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL, "redis command failed: %s", c->errstr);
	return r;
}

static long long
hget_int(redisContext *c, const char *key, const char *field)
{
	redisReply *r = cmd(c, "HGET %s %s", key, field);
	long long v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;

	freeReplyObject(r);
	return v;
}

static double
hget_double(redisContext *c, const char *key, const char *field)
{
	redisReply *r = cmd(c, "HGET %s %s", key, field);
	double v = r->type == REDIS_REPLY_STRING ? strtod(r->str, NULL) : -1;

	freeReplyObject(r);
	return v;
}

static char *
hget_str(redisContext *c, const char *key, const char *field)
{
	redisReply *r = cmd(c, "HGET %s %s", key, field);
	char *v = xstrdup(r->type == REDIS_REPLY_STRING ? r->str : "(nil)");

	freeReplyObject(r);
	return v;
}

static long long
key_ttl(redisContext *c, const char *key)
{
	redisReply *r = cmd(c, "TTL %s", key);
	long long v = r->integer;

	freeReplyObject(r);
	return v;
}

static double
zscore(redisContext *c, const char *key, const char *member)
{
	redisReply *r = cmd(c, "ZSCORE %s %s", key, member);
	double v = r->type == REDIS_REPLY_STRING ? strtod(r->str, NULL) : -1;

	freeReplyObject(r);
	return v;
}

/* A daily hash summed into counters (its fields are outcomes). */
static struct mp_store_counts
day_counts(redisContext *c, const char *key)
{
	struct mp_store_counts n;
	redisReply *r = cmd(c, "HGETALL %s", key);

	memset(&n, 0, sizeof(n));
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		ck_assert_msg(mp_store_outcome_add(r->element[i]->str,
		    strtoll(r->element[i + 1]->str, NULL, 10), &n), "bad field %s",
		    r->element[i]->str);
	freeReplyObject(r);
	return n;
}

/* A field of a stored message (a JSON object), as text. */
static char *
msg_field(redisContext *c, const char *key, const char *field)
{
	redisReply *r = cmd(c, "GET %s", key);
	json_t *j, *v;
	char *out;

	ck_assert_msg(r->type == REDIS_REPLY_STRING, "no message %s", key);
	j = json_loads(r->str, 0, NULL);
	ck_assert_msg(j != NULL, "not JSON: %s", r->str);
	v = json_object_get(j, field);
	if (json_is_string(v))
		out = xstrdup(json_string_value(v));
	else if (v != NULL)
		out = json_dumps(v, JSON_ENCODE_ANY);
	else
		out = xstrdup("(nil)");
	json_decref(j);
	freeReplyObject(r);
	return out;
}

static void
flushall(redisContext *c)
{
	freeReplyObject(cmd(c, "FLUSHALL"));
}

static void
mk(struct mp_store_record *r, const char *domain, const char *org, const char *qid,
    const char *ip, enum mp_spf_result spf, enum mp_dmarc_result dmarc, time_t t)
{
	mp_store_record_init(r);
	mp_strlcpy(r->host, "mx1.example.org", sizeof(r->host));
	mp_strlcpy(r->queue_id, qid, sizeof(r->queue_id));
	mp_strlcpy(r->ip, ip, sizeof(r->ip));
	mp_strlcpy(r->helo, "mail.example.net", sizeof(r->helo));
	snprintf(r->mail_from, sizeof(r->mail_from), "bob@%s", domain);
	mp_strlcpy(r->from_domain, domain, sizeof(r->from_domain));
	mp_strlcpy(r->org_domain, org, sizeof(r->org_domain));
	r->spf = spf;
	r->dmarc = dmarc;
	r->spf_aligned = spf == MP_SPF_PASS && dmarc == MP_DMARC_PASS;
	r->policy = r->published = MP_DMARC_P_REJECT;
	r->disposition = dmarc == MP_DMARC_FAIL ? MP_DMARC_P_REJECT : MP_DMARC_P_UNSET;
	r->time = t;
}

static struct mp_store *
store_on(int port, struct mp_store_options *o_r)
{
	struct mp_store_options o;
	struct mp_store *s;
	char err[256];

	opts_for(&o, port);
	if (o_r)
		o = *o_r;
	s = mp_store_new(&o, err, sizeof(err));
	ck_assert_msg(s != NULL, "mp_store_new: %s", err);
	return s;
}

/* ---- options, keys ----------------------------------------------------- */

START_TEST(options_table)
{
	static const struct {
		const char *addr;
		bool ok;
	} t[] = {
		{ "", true }, { "127.0.0.1:6379", true }, { "redis.example.org:6380", true },
		{ "[2001:db8::1]:6379", true }, { "/run/redis/redis.sock", true },
		{ "127.0.0.1", false }, { "127.0.0.1:", false }, { ":6379", false },
		{ "127.0.0.1:0", false }, { "127.0.0.1:65536", false }, { "127.0.0.1:63x", false },
		{ "2001:db8::1:6379", false }, { "[2001:db8::1]6379", false }, { "[::1", false },
		{ "127.0.0.1:-1", false }, { "host:99999999999999999999", false },
	};
	struct mp_store_options o;
	char err[256];

	for (size_t i = 0; i < MP_ARRAY_SIZE(t); i++) {
		mp_store_options_defaults(&o);
		mp_strlcpy(o.address, t[i].addr, sizeof(o.address));
		ck_assert_msg(mp_store_options_check(&o, err, sizeof(err)) == t[i].ok,
		    "address '%s': expected %s (%s)", t[i].addr, t[i].ok ? "ok" : "error", err);
	}
	mp_store_options_defaults(&o);
	memset(o.address, 'a', sizeof(o.address) - 1);
	o.address[sizeof(o.address) - 1] = '\0';
	o.address[400] = ':';
	ck_assert(!mp_store_options_check(&o, err, sizeof(err)));
	mp_store_options_defaults(&o);
	mp_strlcpy(o.key_prefix, "mp:{x}:", sizeof(o.key_prefix));
	ck_assert(!mp_store_options_check(&o, err, sizeof(err)));
	mp_strlcpy(o.key_prefix, "mp :", sizeof(o.key_prefix));
	ck_assert(!mp_store_options_check(&o, err, sizeof(err)));
	mp_strlcpy(o.key_prefix, "mp\x01:", sizeof(o.key_prefix));
	ck_assert(!mp_store_options_check(&o, err, sizeof(err)));
	/* Disabled: no store and no error. */
	mp_store_options_defaults(&o);
	ck_assert_ptr_null(mp_store_new(&o, err, sizeof(err)));
	ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(key_names)
{
	struct mp_store_options o;
	char k[MP_STORE_KEY_MAX], big[600];

	mp_store_options_defaults(&o);
	mp_store_key_message(&o, k, "example.com", "mx1.example.org", "4Xyz1");
	ck_assert_str_eq(k, "mp:m:{example.com}:mx1.example.org:4Xyz1");
	mp_store_key_domain(&o, k, "", "example.com");
	ck_assert_str_eq(k, "mp:d:{example.com}:example.com");
	mp_store_key_domain(&o, k, "example.com", "a.example.com");
	ck_assert_str_eq(k, "mp:d:{example.com}:a.example.com");
	mp_store_key_domain_day(&o, k, "example.com", "a.example.com", DAY0);
	ck_assert_str_eq(k, "mp:dd:{example.com}:a.example.com:" DAY0);
	mp_store_key_domain_ips(&o, k, "example.com", "example.com", DAY0);
	ck_assert_str_eq(k, "mp:di:{example.com}:example.com:" DAY0);
	mp_store_key_recent(&o, k, "example.com", "example.com");
	ck_assert_str_eq(k, "mp:r:{example.com}:example.com");
	mp_store_key_worst(&o, k);
	ck_assert_str_eq(k, "mp:worst");
	mp_store_key_day(&o, k, DAY0);
	ck_assert_str_eq(k, "mp:day:" DAY0);
	mp_store_key_volume(&o, k, DAY0);
	ck_assert_str_eq(k, "mp:vol:" DAY0);
	mp_store_key_dmarc_fail(&o, k, DAY0);
	ck_assert_str_eq(k, "mp:fail:" DAY0);
	mp_store_key_ip(&o, k, "2001:db8::1", DAY0);
	ck_assert_str_eq(k, "mp:ip:2001:db8::1:" DAY0);
	/* Hostile components cannot forge a hash tag or a separator. */
	mp_store_key_message(&o, k, "example.com", "mx1 {evil}", "a:b\r\n{x}");
	ck_assert_str_eq(k, "mp:m:{example.com}:mx1__evil_:a_b___x_");
	mp_store_key_ip(&o, k, "198.51.100.7}{x", DAY0);
	ck_assert_str_eq(k, "mp:ip:198.51.100.7__x:" DAY0);
	mp_store_key_domain(&o, k, "ex}ample.com", "x");
	ck_assert_str_eq(k, "mp:d:{ex_ample.com}:x");
	/* Oversized components are cut; the key stays bounded. */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mp_store_key_message(&o, k, big, big, big);
	ck_assert_uint_lt(strlen(k), MP_STORE_KEY_MAX);
	ck_assert_uint_eq(strlen(k), strlen("mp:m:{}::") + 254 + 255 + 63);
	mp_strlcpy(o.key_prefix, "t1:", sizeof(o.key_prefix));
	mp_store_key_worst(&o, k);
	ck_assert_str_eq(k, "t1:worst");
	/* Days are UTC. */
	mp_store_day(T0, k);
	ck_assert_str_eq(k, DAY0);
	mp_store_day(0, k);
	ck_assert_str_eq(k, "19700101");
}
END_TEST

START_TEST(audit_key_names)
{
	static const struct {
		const char *target, *key;
	} t[] = {
		{ "127.0.0.1:25", "mp:audit:127.0.0.1:25" },
		{ "mx1.example.org:2525", "mp:audit:mx1.example.org:2525" },
		{ "[2001:db8::25]:25", "mp:audit:_2001:db8::25_:25" },
		/* Hostile targets cannot forge a hash tag, a space or a line. */
		{ "a{b}c:25", "mp:audit:a_b_c:25" },
		{ "x y\r\nz:25", "mp:audit:x_y__z:25" },
		{ "\xff\x01:25", "mp:audit:__:25" },
		{ "", "mp:audit:" },
	};
	struct mp_store_options o;
	char k[MP_STORE_KEY_MAX], big[1200], err[256];

	mp_store_options_defaults(&o);
	for (size_t i = 0; i < MP_ARRAY_SIZE(t); i++) {
		mp_store_key_audit(&o, k, t[i].target);
		ck_assert_str_eq(k, t[i].key);
	}
	mp_store_key_audits(&o, k);
	ck_assert_str_eq(k, "mp:audits");
	/* Oversized targets are cut at 300 bytes; the key stays bounded. */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mp_store_key_audit(&o, k, big);
	ck_assert_uint_eq(strlen(k), strlen("mp:audit:") + 300);
	mp_strlcpy(o.key_prefix, "t1:", sizeof(o.key_prefix));
	mp_store_key_audits(&o, k);
	ck_assert_str_eq(k, "t1:audits");
	mp_store_key_audit(&o, k, "127.0.0.1:25");
	ck_assert_str_eq(k, "t1:audit:127.0.0.1:25");
	/* Refused before any connection: not one JSON object, no target, no
	 * Redis configured (address ""). */
	mp_store_options_defaults(&o);
	ck_assert(!mp_store_put_audit(&o, "127.0.0.1:25", "example.com", 90, "A", "[1]", T0,
	    err, sizeof(err)));
	ck_assert_str_eq(err, "the audit is not a JSON object");
	ck_assert(!mp_store_put_audit(&o, "127.0.0.1:25", "example.com", 90, "A", "{\"a\":", T0,
	    err, sizeof(err)));
	ck_assert_str_eq(err, "the audit is not a JSON object");
	ck_assert(!mp_store_put_audit(&o, "", "example.com", 90, "A", "{}", T0, err, sizeof(err)));
	ck_assert_str_eq(err, "no audit target or result to store");
	ck_assert(!mp_store_put_audit(&o, "127.0.0.1:25", "example.com", 90, "A", "{}", T0,
	    err, sizeof(err)));
	ck_assert_str_eq(err, "no Redis address configured");
}
END_TEST

START_TEST(outcome_fields)
{
	static const struct {
		const char *field;
		bool ok;
	} t[] = {
		{ "pass/pass/10/-", true }, { "softfail/fail/00/reject", true },
		{ "temperror/temperror/00/-", true }, { "none/none/01/none", true },
		{ "neutral/permerror/11/quarantine", true },
		{ "", false }, { "pass", false }, { "pass/pass", false }, { "pass/pass/10", false },
		{ "pass/pass/10/-/x", false }, { "PASS/pass/10/-", false }, { "pass/pass/1/-", false },
		{ "pass/pass/12/-", false }, { "pass/pass/10/", false }, { "pass/pass/10/rejected", false },
		{ "pass/bogus/10/-", false }, { "pass//10/-", false }, { "/pass/10/-", false },
		{ "pass/pass/10/-\n", false },
		{ "passpasspasspasspasspasspasspasspasspasspasspasspasspasspasspass/pass/10/-", false },
	};
	struct mp_store_counts c;
	struct mp_store_record r;
	char buf[64];

	for (size_t i = 0; i < MP_ARRAY_SIZE(t); i++) {
		memset(&c, 0, sizeof(c));
		ck_assert_msg(mp_store_outcome_add(t[i].field, 2, &c) == t[i].ok, "'%s'", t[i].field);
		ck_assert_int_eq(c.total, t[i].ok ? 2 : 0);
	}
	/* A NUL inside ends the field early: that part alone is judged. */
	ck_assert(!mp_store_outcome_add("pass/pass\0/10/-", 1, &c));
	memset(&c, 0, sizeof(c));
	ck_assert(mp_store_outcome_add("softfail/fail/01/quarantine", 3, &c));
	ck_assert_int_eq(c.spf_fail, 3);
	ck_assert_int_eq(c.dmarc_fail, 3);
	ck_assert_int_eq(c.dkim_aligned, 3);
	ck_assert_int_eq(c.aligned, 3);
	ck_assert_int_eq(c.spf_aligned, 0);
	ck_assert_int_eq(c.dis_quarantine, 3);
	ck_assert(!mp_store_outcome_add("pass/pass/10/-", -1, &c));
	/* What the writer produces, the reader accepts. */
	mk(&r, "example.com", "", "O1", "192.0.2.1", MP_SPF_SOFTFAIL, MP_DMARC_FAIL, T0);
	mp_store_outcome(&r, buf, sizeof(buf));
	ck_assert_str_eq(buf, "softfail/fail/00/reject");
	ck_assert(mp_store_outcome_add(buf, 1, &c));
}
END_TEST

/* ---- the script -------------------------------------------------------- */

/* What the checks read back: a pass, a double fail, no DMARC record. */
static void
submit_three(struct mp_store *s)
{
	struct mp_store_record r;
	struct mp_store_stats st;

	mk(&r, "a.example.com", "example.com", "Q1", "192.0.2.10", MP_SPF_PASS, MP_DMARC_PASS, T0);
	r.posture_score = 85;
	mp_strlcpy(r.posture_grade, "A-", sizeof(r.posture_grade));
	ck_assert(mp_store_submit(s, &r));
	mk(&r, "a.example.com", "example.com", "Q2", "198.51.100.7", MP_SPF_FAIL, MP_DMARC_FAIL,
	    T0 + 60);
	ck_assert(mp_store_submit(s, &r));
	mk(&r, "a.example.com", "example.com", "Q3", "192.0.2.10", MP_SPF_SOFTFAIL, MP_DMARC_NONE,
	    T0 + 120);
	r.published = MP_DMARC_P_UNSET;
	ck_assert(mp_store_submit(s, &r));
	ck_assert(mp_store_flush(s, 5000));
	mp_store_get_stats(s, &st);
	ck_assert_uint_eq(st.written, 3);
	ck_assert_uint_eq(st.failed, 0);
}

static void
check_domain_hash(redisContext *c)
{
	const char *dk = "mp:d:{example.com}:a.example.com";
	char *v;

	ck_assert_int_eq(hget_int(c, dk, "total"), 3);
	ck_assert_int_eq(hget_int(c, dk, "spf_pass"), 1);
	ck_assert_int_eq(hget_int(c, dk, "spf_fail"), 2);
	ck_assert_int_eq(hget_int(c, dk, "dmarc_pass"), 1);
	ck_assert_int_eq(hget_int(c, dk, "dmarc_fail"), 1);
	ck_assert_int_eq(hget_int(c, dk, "dmarc_none"), 1);
	ck_assert_int_eq(hget_int(c, dk, "aligned"), 1);
	ck_assert_int_eq(hget_int(c, dk, "spf_aligned"), 1);
	ck_assert_int_eq(hget_int(c, dk, "dkim_aligned"), -1);
	ck_assert_int_eq(hget_int(c, dk, "dis_reject"), 1);
	ck_assert_int_eq(hget_int(c, dk, "first_seen"), T0);
	ck_assert_int_eq(hget_int(c, dk, "last_seen"), T0 + 120);
	ck_assert_int_eq(hget_int(c, dk, "posture_score"), 85);
	v = hget_str(c, dk, "posture_grade");
	ck_assert_str_eq(v, "A-");
	free(v);
	v = hget_str(c, dk, "published");
	ck_assert_str_eq(v, "absent");   /* the last message saw no record */
	free(v);
	v = hget_str(c, dk, "org");
	ck_assert_str_eq(v, "example.com");
	free(v);
}

static void
check_day_keys(redisContext *c)
{
	struct mp_store_counts n = day_counts(c, "mp:dd:{example.com}:a.example.com:" DAY0);

	ck_assert_int_eq(n.total, 3);
	ck_assert_int_eq(n.dmarc_fail, 1);
	ck_assert_int_eq(n.spf_fail, 2);
	ck_assert_int_eq(n.aligned, 1);
	ck_assert_int_eq(n.dis_reject, 1);
	ck_assert_int_eq(hget_int(c, "mp:dd:{example.com}:a.example.com:" DAY0,
	    "pass/pass/10/-"), 1);
	n = day_counts(c, "mp:day:" DAY0);
	ck_assert_int_eq(n.total, 3);
	ck_assert_int_eq(n.dmarc_pass, 1);
	ck_assert(zscore(c, "mp:di:{example.com}:a.example.com:" DAY0, "192.0.2.10") == 2);
	ck_assert(zscore(c, "mp:di:{example.com}:a.example.com:" DAY0, "198.51.100.7") == 1);
	ck_assert(zscore(c, "mp:vol:" DAY0, "a.example.com") == 3);
	ck_assert(zscore(c, "mp:fail:" DAY0, "a.example.com") == 1);
	ck_assert(zscore(c, "mp:worst", "a.example.com") == 15);
	ck_assert_int_eq(hget_int(c, "mp:ip:192.0.2.10:" DAY0, "a.example.com|pass|pass"), 1);
	ck_assert_int_eq(hget_int(c, "mp:ip:192.0.2.10:" DAY0, "a.example.com|softfail|none"), 1);
	ck_assert_int_eq(hget_int(c, "mp:ip:198.51.100.7:" DAY0, "a.example.com|fail|fail"), 1);
}

static void
check_message_keys(redisContext *c)
{
	const char *mk2 = "mp:m:{example.com}:mx1.example.org:Q2";
	char *v;

	v = msg_field(c, mk2, "spf");
	ck_assert_str_eq(v, "fail");
	free(v);
	v = msg_field(c, mk2, "disposition");
	ck_assert_str_eq(v, "reject");
	free(v);
	v = msg_field(c, mk2, "ip");
	ck_assert_str_eq(v, "198.51.100.7");
	free(v);
	v = msg_field(c, mk2, "t");
	ck_assert_int_eq(strtoll(v, NULL, 10), T0 + 60);
	free(v);
	v = msg_field(c, "mp:m:{example.com}:mx1.example.org:Q1", "score");
	ck_assert_str_eq(v, "85");
	free(v);
	redisReply *l = cmd(c, "LRANGE mp:r:{example.com}:a.example.com 0 -1");
	ck_assert_uint_eq(l->elements, 3);
	ck_assert_str_eq(l->element[0]->str, "mp:m:{example.com}:mx1.example.org:Q3");
	freeReplyObject(l);
}

/* Every key has a TTL, within the configured bounds. */
static void
check_ttls(redisContext *c)
{
	static const struct {
		const char *key;
		long long max;
	} ttl[] = {
		{ "mp:m:{example.com}:mx1.example.org:Q1", 604800 },
		{ "mp:d:{example.com}:a.example.com", 7776000 },
		{ "mp:dd:{example.com}:a.example.com:" DAY0, 3024000 },
		{ "mp:di:{example.com}:a.example.com:" DAY0, 3024000 },
		{ "mp:r:{example.com}:a.example.com", 604800 },
		{ "mp:worst", 7776000 },
		{ "mp:day:" DAY0, 3024000 },
		{ "mp:vol:" DAY0, 3024000 },
		{ "mp:fail:" DAY0, 3024000 },
		{ "mp:ip:192.0.2.10:" DAY0, 3024000 },
	};
	for (size_t i = 0; i < MP_ARRAY_SIZE(ttl); i++) {
		long long t = key_ttl(c, ttl[i].key);

		ck_assert_msg(t > ttl[i].max - 60 && t <= ttl[i].max, "TTL of %s: %lld",
		    ttl[i].key, t);
	}
	redisReply *all = cmd(c, "KEYS *");
	for (size_t i = 0; i < all->elements; i++)
		ck_assert_msg(key_ttl(c, all->element[i]->str) > 0, "%s has no TTL",
		    all->element[i]->str);
	freeReplyObject(all);
}

START_TEST(script_counters_and_ttls)
{
	struct mp_store *s = store_on(port_a, NULL);
	redisContext *c = raw_connect(port_a, NULL);

	flushall(c);
	submit_three(s);
	check_domain_hash(c);
	check_day_keys(c);
	check_message_keys(c);
	check_ttls(c);
	redisFree(c);
	mp_store_free(&s);
}
END_TEST

START_TEST(script_replay_counts_once)
{
	struct mp_store *s = store_on(port_a, NULL);
	redisContext *c = raw_connect(port_a, NULL);
	struct mp_store_record r;
	struct mp_store_stats st;

	flushall(c);
	mk(&r, "example.net", "", "REPLAY1", "203.0.113.5", MP_SPF_PASS, MP_DMARC_PASS, T0);
	for (int i = 0; i < 3; i++)
		ck_assert(mp_store_submit(s, &r));
	ck_assert(mp_store_flush(s, 5000));
	/* The same queue id on another host is another message. */
	mp_strlcpy(r.host, "mx2.example.org", sizeof(r.host));
	ck_assert(mp_store_submit(s, &r));
	ck_assert(mp_store_flush(s, 5000));
	mp_store_get_stats(s, &st);
	ck_assert_uint_eq(st.written, 2);
	ck_assert_uint_eq(st.duplicates, 2);
	ck_assert_int_eq(hget_int(c, "mp:d:{example.net}:example.net", "total"), 2);
	ck_assert_int_eq(day_counts(c, "mp:day:" DAY0).total, 2);
	ck_assert(zscore(c, "mp:vol:" DAY0, "example.net") == 2);
	redisFree(c);
	mp_store_free(&s);
}
END_TEST

START_TEST(script_auth_score_decays)
{
	struct mp_store *s = store_on(port_a, NULL);
	redisContext *c = raw_connect(port_a, NULL);
	const char *dk = "mp:d:{example.org}:example.org";
	struct mp_store_record r;
	char qid[32];
	int n = 0;

	flushall(c);
	/* A pass at T0, then a fail one half-life later: S = 100/2 + 0,
	 * W = 1/2 + 1, score 33.3. */
	mk(&r, "example.org", "", "D0", "192.0.2.1", MP_SPF_PASS, MP_DMARC_PASS, T0);
	mp_store_submit(s, &r);
	mk(&r, "example.org", "", "D1", "192.0.2.1", MP_SPF_FAIL, MP_DMARC_FAIL,
	    T0 + MP_STORE_HALFLIFE);
	mp_store_submit(s, &r);
	ck_assert(mp_store_flush(s, 5000));
	ck_assert_double_eq_tol(hget_double(c, dk, "auth_s"), 50.0, 1e-9);
	ck_assert_double_eq_tol(hget_double(c, dk, "auth_w"), 1.5, 1e-9);
	ck_assert_double_eq_tol(hget_double(c, dk, "auth_score"), 33.3, 0.05);
	/* A burst: every message counts. Four passes at the same second
	 * weigh four: S = 50 + 400, W = 1.5 + 4. */
	for (int i = 0; i < 4; i++) {
		snprintf(qid, sizeof(qid), "B%d", n++);
		mk(&r, "example.org", "", qid, "192.0.2.1", MP_SPF_PASS, MP_DMARC_PASS,
		    T0 + MP_STORE_HALFLIFE);
		mp_store_submit(s, &r);
	}
	ck_assert(mp_store_flush(s, 5000));
	ck_assert_double_eq_tol(hget_double(c, dk, "auth_w"), 5.5, 1e-9);
	ck_assert_double_eq_tol(hget_double(c, dk, "auth_score"), 450.0 / 5.5, 0.05);
	/* A late sample (older than the last one) is decayed by its own
	 * age instead: weight 1/2, x 0. */
	mk(&r, "example.org", "", "LATE", "192.0.2.1", MP_SPF_FAIL, MP_DMARC_FAIL, T0);
	mp_store_submit(s, &r);
	ck_assert(mp_store_flush(s, 5000));
	ck_assert_double_eq_tol(hget_double(c, dk, "auth_w"), 6.0, 1e-9);
	ck_assert_int_eq(hget_int(c, dk, "auth_t"), T0 + MP_STORE_HALFLIFE);
	ck_assert_int_eq(hget_int(c, dk, "first_seen"), T0);
	/* A temperror is no sample; "none" with SPF pass is 50. */
	mk(&r, "example.org", "", "TE", "192.0.2.1", MP_SPF_PASS, MP_DMARC_TEMPERROR,
	    T0 + MP_STORE_HALFLIFE);
	mp_store_submit(s, &r);
	ck_assert(mp_store_flush(s, 5000));
	ck_assert_double_eq_tol(hget_double(c, dk, "auth_w"), 6.0, 1e-9);
	ck_assert_int_eq(hget_int(c, dk, "dmarc_error"), 1);
	/* Ten half-lives later the old history weighs about a thousandth. */
	mk(&r, "example.org", "", "FAR", "192.0.2.1", MP_SPF_PASS, MP_DMARC_NONE,
	    T0 + 11L * MP_STORE_HALFLIFE);
	mp_store_submit(s, &r);
	ck_assert(mp_store_flush(s, 5000));
	ck_assert_double_eq_tol(hget_double(c, dk, "auth_score"),
	    (450.0 / 1024 + 50) / (6.0 / 1024 + 1), 0.05);
	redisFree(c);
	mp_store_free(&s);
}
END_TEST

START_TEST(values_are_arguments)
{
	struct mp_store_options o;
	struct mp_store *s;
	redisContext *c = raw_connect(port_a, NULL);
	struct mp_store_record r;
	redisReply *rep;
	char *v;
	const char *hostile = "x' ]] redis.call('FLUSHALL') --\" \\ \x7f {t}";

	opts_for(&o, port_a);
	o.db = 3;
	mp_strlcpy(o.key_prefix, "t1:", sizeof(o.key_prefix));
	s = store_on(port_a, &o);
	flushall(c);
	mk(&r, "example.com", "", "Q{1}", "2001:db8::25", MP_SPF_PASS, MP_DMARC_PASS, T0);
	mp_strlcpy(r.helo, hostile, sizeof(r.helo));
	mp_strlcpy(r.mail_from, hostile, sizeof(r.mail_from));
	ck_assert(mp_store_submit(s, &r));
	ck_assert(mp_store_flush(s, 5000));
	/* Nothing in db 0; the keys carry the prefix in db 3. */
	rep = cmd(c, "DBSIZE");
	ck_assert_int_eq(rep->integer, 0);
	freeReplyObject(rep);
	freeReplyObject(cmd(c, "SELECT 3"));
	v = msg_field(c, "t1:m:{example.com}:mx1.example.org:Q_1_", "helo");
	ck_assert_str_eq(v, hostile);
	free(v);
	v = msg_field(c, "t1:m:{example.com}:mx1.example.org:Q_1_", "qid");
	ck_assert_str_eq(v, "Q{1}");
	free(v);
	ck_assert_int_eq(hget_int(c, "t1:ip:2001:db8::25:" DAY0, "example.com|pass|pass"), 1);
	freeReplyObject(cmd(c, "FLUSHDB"));
	redisFree(c);
	mp_store_free(&s);
}
END_TEST

START_TEST(posture_cache)
{
	struct mp_store *s = store_on(port_a, NULL);
	redisContext *c = raw_connect(port_a, NULL);
	struct mp_store_posture p;
	time_t now = time(NULL);

	flushall(c);
	ck_assert(!mp_store_get_posture(s, "p.example.com", "example.com", 3600, &p));
	ck_assert(mp_store_submit_posture(s, "p.example.com", "example.com", 42, "C-", now - 10));
	ck_assert(!mp_store_submit_posture(s, "p.example.com", "example.com", 101, "A+", now));
	ck_assert(!mp_store_submit_posture(s, "", "", 50, "C", now));
	ck_assert(mp_store_flush(s, 5000));
	ck_assert(mp_store_get_posture(s, "p.example.com", "example.com", 3600, &p));
	ck_assert_int_eq(p.score, 42);
	ck_assert_str_eq(p.grade, "C-");
	ck_assert_int_eq(p.computed_at, now - 10);
	ck_assert(zscore(c, "mp:worst", "p.example.com") == 58);
	/* Too old for the caller's posture_ttl. */
	ck_assert(!mp_store_get_posture(s, "p.example.com", "example.com", 5, &p));
	/* An older score does not replace a newer one. */
	ck_assert(mp_store_submit_posture(s, "p.example.com", "example.com", 90, "A", now - 100));
	ck_assert(mp_store_flush(s, 5000));
	ck_assert(mp_store_get_posture(s, "p.example.com", "example.com", 3600, &p));
	ck_assert_int_eq(p.score, 42);
	redisFree(c);
	mp_store_free(&s);
}
END_TEST

/*
 * Each DKIM signature is kept with its message (d, s, result, aligned);
 * the domain's day counts the messages whose DKIM pass aligned for
 * DMARC (the outcome's DKIM bit), not those with a pass that does not.
 */
static void
add_sig(struct mp_store_record *r, const char *d, const char *sel, enum mp_dkim_result res,
    bool aligned)
{
	struct mp_store_dkim *k = &r->dkim[r->ndkim++];

	mp_strlcpy(k->domain, d, sizeof(k->domain));
	mp_strlcpy(k->selector, sel, sizeof(k->selector));
	k->result = res;
	k->aligned = aligned;
}

START_TEST(script_keeps_dkim_signatures)
{
	struct mp_store *s = store_on(port_a, NULL);
	redisContext *c = raw_connect(port_a, NULL);
	const char *dd = "mp:dd:{example.com}:a.example.com:" DAY0;
	struct mp_store_record r;
	char *v;

	flushall(c);
	/* An aligned pass (DMARC passes through DKIM) and a failed signature. */
	mk(&r, "a.example.com", "example.com", "K1", "198.51.100.7", MP_SPF_PASS, MP_DMARC_PASS,
	    T0);
	r.spf_aligned = false;
	r.dkim_aligned = true;
	add_sig(&r, "fail.example.net", "sel\"1", MP_DKIM_FAIL, false);
	add_sig(&r, "a.example.com", "s2048", MP_DKIM_PASS, true);
	ck_assert(mp_store_submit(s, &r));
	/* A pass that does not align, and a message with no signature. */
	mk(&r, "a.example.com", "example.com", "K2", "198.51.100.7", MP_SPF_FAIL, MP_DMARC_FAIL,
	    T0 + 1);
	add_sig(&r, "esp.example.net", "s1", MP_DKIM_PASS, false);
	ck_assert(mp_store_submit(s, &r));
	mk(&r, "a.example.com", "example.com", "K3", "198.51.100.7", MP_SPF_FAIL, MP_DMARC_FAIL,
	    T0 + 2);
	ck_assert(mp_store_submit(s, &r));
	ck_assert(mp_store_flush(s, 5000));

	v = msg_field(c, "mp:m:{example.com}:mx1.example.org:K1", "dkim");
	ck_assert_str_eq(v, "[{\"d\": \"fail.example.net\", \"s\": \"sel\\\"1\", "
	    "\"result\": \"fail\", \"aligned\": false}, {\"d\": \"a.example.com\", "
	    "\"s\": \"s2048\", \"result\": \"pass\", \"aligned\": true}]");
	free(v);
	v = msg_field(c, "mp:m:{example.com}:mx1.example.org:K2", "dkim");
	ck_assert_str_eq(v, "[{\"d\": \"esp.example.net\", \"s\": \"s1\", "
	    "\"result\": \"pass\", \"aligned\": false}]");
	free(v);
	v = msg_field(c, "mp:m:{example.com}:mx1.example.org:K3", "dkim");
	ck_assert_str_eq(v, "[]");
	free(v);
	ck_assert_int_eq(day_counts(c, dd).dkim_aligned, 1);
	ck_assert_int_eq(hget_int(c, dd, "pass/pass/01/-"), 1);
	ck_assert_int_eq(day_counts(c, dd).total, 3);
	ck_assert_int_eq(hget_int(c, "mp:d:{example.com}:a.example.com", "dkim_aligned"), 1);
	redisFree(c);
	mp_store_free(&s);
}
END_TEST

/* ---- the verdict hook -------------------------------------------------- */

/* The record keeps every signature verified here, with its alignment. */
START_TEST(record_keeps_dkim)
{
	struct mp_result *res = xcalloc(1, sizeof(*res));
	struct mp_store_record r;

	res->dkim_verified = true;
	res->ndkim_sig = 2;
	mp_strlcpy(res->dkim_sig[0].domain, "dkim.example.org", MP_DOMAIN_MAX);
	mp_strlcpy(res->dkim_sig[0].selector, "s2048", MP_DKIM_SELECTOR_MAX);
	res->dkim_sig[0].result = MP_DKIM_PASS;
	res->dkim_sig_aligned[0] = true;
	mp_strlcpy(res->dkim_sig[1].domain, "esp.example.net", MP_DOMAIN_MAX);
	mp_strlcpy(res->dkim_sig[1].selector, "revoked", MP_DKIM_SELECTOR_MAX);
	res->dkim_sig[1].result = MP_DKIM_PERMERROR;
	mp_record_build(&r, res, NULL, MP_ACTION_ACCEPT, "mx1.example.org", "Q", T0);
	ck_assert_uint_eq(r.ndkim, 2);
	ck_assert_str_eq(r.dkim[0].domain, "dkim.example.org");
	ck_assert_str_eq(r.dkim[0].selector, "s2048");
	ck_assert_int_eq(r.dkim[0].result, MP_DKIM_PASS);
	ck_assert(r.dkim[0].aligned);
	ck_assert_str_eq(r.dkim[1].domain, "esp.example.net");
	ck_assert_str_eq(r.dkim[1].selector, "revoked");
	ck_assert_int_eq(r.dkim[1].result, MP_DKIM_PERMERROR);
	ck_assert(!r.dkim[1].aligned);
	free(res);
}
END_TEST

START_TEST(record_from_verdict)
{
	const char *resolver = test_env("MP_TEST_RESOLVER");
	struct mp_conf *conf = mp_conf_new_defaults();
	struct mp_evaluator *ev;
	struct mp_verdict *v;
	struct mp_store_record r;
	char err[256];
	struct mp_header h[] = { { "From", " Bob <bob@pass.example.com>", 27 } };
	struct mp_message msg = {
		.ip = "192.0.2.10", .helo = "mail.example.com",
		.mail_from = "bob@pass.example.com", .headers = h, .nheaders = 1,
		.want_posture = true,
	};

	ck_assert_msg(resolver != NULL, "run under tests/harness/with-servers");
	ck_assert(mp_conf_set(conf, "dns", "resolver", resolver, err, sizeof(err)));
	ck_assert(mp_conf_set(conf, "policy", "authserv_id", "mx.example.org", err, sizeof(err)));
	ev = mp_evaluator_new(conf, err, sizeof(err));
	ck_assert_msg(ev != NULL, "%s", err);
	v = mp_evaluate(ev, &msg);
	mp_record_build(&r, mp_verdict_result(v), &msg, MP_ACTION_ACCEPT, "mx1.example.org", "",
	    T0);
	ck_assert_str_eq(r.ip, "192.0.2.10");
	ck_assert_str_eq(r.helo, "mail.example.com");
	ck_assert_str_eq(r.mail_from, "bob@pass.example.com");
	ck_assert_str_eq(r.from_domain, "pass.example.com");
	ck_assert_str_eq(r.org_domain, "example.com");
	ck_assert_int_eq(r.spf, MP_SPF_PASS);
	ck_assert_int_eq(r.dmarc, MP_DMARC_PASS);
	ck_assert(r.spf_aligned);
	ck_assert_int_eq(r.published, MP_DMARC_P_REJECT);
	ck_assert_int_eq(r.action, MP_ACTION_ACCEPT);
	ck_assert_int_eq(r.posture_score, 100);
	ck_assert_str_eq(r.posture_grade, "A+");
	/* No queue id: a made-up unique one. */
	ck_assert(strncmp(r.queue_id, "noqid-", 6) == 0);
	mp_verdict_free(&v);
	mp_evaluator_free(&ev);
	mp_conf_unref(&conf);
}
END_TEST

/* ---- the writer -------------------------------------------------------- */

static long long
evalsha_calls(redisContext *c)
{
	redisReply *r = cmd(c, "INFO commandstats");
	const char *p = strstr(r->str, "cmdstat_evalsha:calls=");
	long long n = p ? strtoll(p + strlen("cmdstat_evalsha:calls="), NULL, 10) : 0;

	freeReplyObject(r);
	return n;
}

START_TEST(writer_delivers_all)
{
	struct mp_store *s = store_on(port_a, NULL);
	redisContext *c = raw_connect(port_a, NULL);
	struct mp_store_record r;
	struct mp_store_stats st;
	char qid[32], dom[64];
	const int n = 3000;

	flushall(c);
	freeReplyObject(cmd(c, "CONFIG RESETSTAT"));
	for (int i = 0; i < n; i++) {
		snprintf(qid, sizeof(qid), "W%d", i);
		snprintf(dom, sizeof(dom), "d%d.example.com", i % 50);
		mk(&r, dom, "", qid, "192.0.2.20", MP_SPF_PASS, MP_DMARC_PASS, T0 + i);
		ck_assert(mp_store_submit(s, &r));
	}
	ck_assert(mp_store_flush(s, 20000));
	mp_store_get_stats(s, &st);
	ck_assert_uint_eq(st.submitted, n);
	ck_assert_uint_eq(st.written, n);
	ck_assert_uint_eq(st.commands, n);
	ck_assert_uint_eq(st.dropped_full, 0);
	ck_assert_uint_ge(st.round_trips, 1);
	ck_assert_uint_le(st.round_trips, n);
	/* One EVALSHA per message, as the server counts them. */
	ck_assert_int_eq(evalsha_calls(c), n);
	ck_assert_int_eq(day_counts(c, "mp:day:" DAY0).total, n);
	ck_assert_int_eq(hget_int(c, "mp:d:{d7.example.com}:d7.example.com", "total"), n / 50);
	redisFree(c);
	mp_store_free(&s);
}
END_TEST

START_TEST(writer_reloads_script)
{
	struct mp_store *s = store_on(port_a, NULL);
	redisContext *c = raw_connect(port_a, NULL);
	struct mp_store_record r;
	struct mp_store_stats st;

	flushall(c);
	mk(&r, "example.com", "", "S1", "192.0.2.30", MP_SPF_PASS, MP_DMARC_PASS, T0);
	ck_assert(mp_store_submit(s, &r));
	ck_assert(mp_store_flush(s, 5000));
	freeReplyObject(cmd(c, "SCRIPT FLUSH"));
	mk(&r, "example.com", "", "S2", "192.0.2.30", MP_SPF_PASS, MP_DMARC_PASS, T0);
	ck_assert(mp_store_submit(s, &r));
	ck_assert(mp_store_flush(s, 5000));
	mp_store_get_stats(s, &st);
	ck_assert_uint_eq(st.written, 2);
	ck_assert_uint_eq(st.retries, 1);
	ck_assert_uint_eq(st.failed, 0);
	ck_assert_int_eq(hget_int(c, "mp:d:{example.com}:example.com", "total"), 2);
	redisFree(c);
	mp_store_free(&s);
}
END_TEST

START_TEST(writer_survives_outage)
{
	int port = free_port();
	pid_t pid = redis_start(port, NULL);
	struct mp_store_options o;
	struct mp_store *s;
	struct mp_store_record r;
	struct mp_store_stats st;
	redisContext *c;
	char qid[32];
	unsigned long long t, worst = 0;

	opts_for(&o, port);
	o.queue_size = 50;
	o.timeout_ms = 300;
	s = store_on(port, &o);
	mk(&r, "up.example.com", "", "U0", "192.0.2.40", MP_SPF_PASS, MP_DMARC_PASS, T0);
	ck_assert(mp_store_submit(s, &r));
	ck_assert(mp_store_flush(s, 5000));
	redis_stop(pid);
	/* Redis is gone: submitting never waits, the excess is dropped. */
	for (int i = 0; i < 500; i++) {
		snprintf(qid, sizeof(qid), "X%d", i);
		mk(&r, "down.example.com", "", qid, "192.0.2.40", MP_SPF_PASS, MP_DMARC_PASS, T0);
		t = mp_now_ms();
		mp_store_submit(s, &r);
		t = mp_now_ms() - t;
		if (t > worst)
			worst = t;
		if (i % 50 == 0)
			usleep(10000);
	}
	ck_assert_uint_lt(worst, 50);
	mp_store_get_stats(s, &st);
	ck_assert(!st.connected);
	ck_assert_uint_ge(st.dropped_full, 500 - 50 - MP_STORE_BATCH);
	ck_assert_uint_eq(st.dropped_full + st.submitted, 501);
	ck_assert_msg(strstr(st.last_error, "redis") != NULL, "last error: %s", st.last_error);
	/* Back again, on the same port: the writer reconnects by itself
	 * and writes what it held and what is queued. */
	pid = redis_start(port, NULL);
	mk(&r, "up.example.com", "", "U1", "192.0.2.40", MP_SPF_PASS, MP_DMARC_PASS, T0);
	for (int i = 0; i < 100 && !mp_store_submit(s, &r); i++)
		usleep(50000);
	ck_assert(mp_store_flush(s, 10000));
	mp_store_get_stats(s, &st);
	ck_assert(st.connected);
	ck_assert_uint_ge(st.connects, 2);
	ck_assert_uint_eq(st.written, st.submitted);
	c = raw_connect(port, NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(hget_int(c, "mp:d:{up.example.com}:up.example.com", "total"), 1);
	ck_assert_int_eq(hget_int(c, "mp:d:{down.example.com}:down.example.com", "total"),
	    (long long)st.submitted - 2);
	redisFree(c);
	mp_store_free(&s);
	redis_stop(pid);
}
END_TEST

START_TEST(writer_never_started_redis)
{
	struct mp_store_options o;
	struct mp_store *s;
	struct mp_store_record r;
	struct mp_store_stats st;

	opts_for(&o, free_port());   /* nobody listens there */
	o.queue_size = 5;
	s = store_on(0, &o);
	mk(&r, "example.com", "", "N1", "192.0.2.50", MP_SPF_PASS, MP_DMARC_PASS, T0);
	for (int i = 0; i < 20; i++)
		mp_store_submit(s, &r);
	usleep(200000);
	mp_store_get_stats(s, &st);
	ck_assert_uint_gt(st.dropped_full, 0);
	ck_assert_uint_gt(st.connect_failures, 0);
	ck_assert(strstr(st.last_error, "cannot connect") != NULL);
	/* Freeing gives up on what is queued, within the timeout. */
	mp_store_free_timeout(&s, 100);
	ck_assert_ptr_null(s);
}
END_TEST

/* ---- AUTH -------------------------------------------------------------- */

static void
write_pw(const char *path, const char *pw, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s\n", pw);
	fclose(f);
	chmod(path, mode);
}

START_TEST(auth_right_password)
{
	struct mp_store_options o;
	struct mp_store *s;
	struct mp_store_record r;
	struct mp_store_stats st;
	char pwf[] = "/tmp/mp-test-pw.XXXXXX";
	int fd = mkstemp(pwf);

	ck_assert_int_ge(fd, 0);
	close(fd);
	write_pw(pwf, "s3cret-pw", 0600);
	opts_for(&o, port_auth);
	mp_strlcpy(o.password_file, pwf, sizeof(o.password_file));
	s = store_on(port_auth, &o);
	mk(&r, "example.com", "", "A1", "192.0.2.60", MP_SPF_PASS, MP_DMARC_PASS, T0);
	ck_assert(mp_store_submit(s, &r));
	ck_assert(mp_store_flush(s, 5000));
	mp_store_get_stats(s, &st);
	ck_assert_uint_eq(st.written, 1);
	mp_store_free(&s);
	unlink(pwf);
}
END_TEST

/* Runs a store against the password server for a while with stderr in a
 * file; returns the log and the last error. */
static char *
auth_attempt(const char *pw, mode_t mode, char *last_error, size_t len)
{
	struct mp_store_options o;
	struct mp_store *s;
	struct mp_store_record r;
	struct mp_store_stats st;
	char pwf[] = "/tmp/mp-test-pw.XXXXXX", logf[] = "/tmp/mp-test-log.XXXXXX";
	int pfd = mkstemp(pwf), lfd = mkstemp(logf), saved = dup(2);
	struct mp_buf b = MP_BUF_INIT;
	char buf[4096];
	ssize_t n;

	ck_assert(pfd >= 0 && lfd >= 0 && saved >= 0);
	close(pfd);
	opts_for(&o, port_auth);
	if (pw != NULL) {
		write_pw(pwf, pw, mode);
		mp_strlcpy(o.password_file, pwf, sizeof(o.password_file));
	}
	dup2(lfd, 2);
	s = store_on(port_auth, &o);
	mk(&r, "example.com", "", "A2", "192.0.2.60", MP_SPF_PASS, MP_DMARC_PASS, T0);
	mp_store_submit(s, &r);
	usleep(600000);   /* several reconnect attempts (backoff 20..200 ms) */
	mp_store_get_stats(s, &st);
	mp_store_free_timeout(&s, 50);
	dup2(saved, 2);
	close(saved);
	ck_assert_uint_eq(st.written, 0);
	ck_assert_uint_ge(st.connect_failures, 2);
	mp_strlcpy(last_error, st.last_error, len);
	lseek(lfd, 0, SEEK_SET);
	while ((n = read(lfd, buf, sizeof(buf))) > 0)
		mp_buf_append(&b, buf, (size_t)n);
	close(lfd);
	unlink(logf);
	unlink(pwf);
	return mp_buf_steal(&b);
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

START_TEST(auth_wrong_password)
{
	char err[256];
	char *log = auth_attempt("not-the-password", 0600, err, sizeof(err));

	/* One clear line, not one per reconnect attempt. */
	ck_assert_msg(count(log, "redis AUTH failed at 127.0.0.1:") == 1, "log: %s", log);
	ck_assert_msg(strstr(log, "WRONGPASS") != NULL, "log: %s", log);
	ck_assert_msg(strstr(log, "password_file") != NULL, "log: %s", log);
	ck_assert_msg(strstr(log, "not-the-password") == NULL, "password logged: %s", log);
	ck_assert(strstr(err, "AUTH failed") != NULL);
	free(log);
}
END_TEST

START_TEST(auth_missing_or_unsafe)
{
	char err[256];
	char *log;

	log = auth_attempt(NULL, 0600, err, sizeof(err));
	ck_assert_msg(strstr(err, "requires a password") != NULL, "%s", err);
	ck_assert_int_eq(count(log, "requires a password"), 1);
	free(log);
	log = auth_attempt("s3cret-pw", 0644, err, sizeof(err));
	ck_assert_msg(strstr(err, "readable by group or others") != NULL, "%s", err);
	free(log);
}
END_TEST

START_TEST(connect_for_readers)
{
	struct mp_store_options o;
	char err[256];
	redisContext *c;

	opts_for(&o, port_a);
	c = mp_store_connect(&o, 500, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	redisFree(c);
	opts_for(&o, free_port());
	ck_assert_ptr_null(mp_store_connect(&o, 500, err, sizeof(err)));
	ck_assert(strstr(err, "cannot connect to redis at 127.0.0.1:") != NULL);
	mp_store_options_defaults(&o);
	ck_assert_ptr_null(mp_store_connect(&o, 500, err, sizeof(err)));
	ck_assert_str_eq(err, "no Redis address configured");
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("offline");
	tcase_add_test(tc, options_table);
	tcase_add_test(tc, key_names);
	tcase_add_test(tc, audit_key_names);
	tcase_add_test(tc, outcome_fields);
	tcase_add_test(tc, record_from_verdict);
	tcase_add_test(tc, record_keeps_dkim);
	suite_add_tcase(s, tc);

	tc = tcase_create("redis");
	tcase_add_unchecked_fixture(tc, servers_up, servers_down);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, script_counters_and_ttls);
	tcase_add_test(tc, script_replay_counts_once);
	tcase_add_test(tc, script_auth_score_decays);
	tcase_add_test(tc, values_are_arguments);
	tcase_add_test(tc, script_keeps_dkim_signatures);
	tcase_add_test(tc, posture_cache);
	tcase_add_test(tc, writer_delivers_all);
	tcase_add_test(tc, writer_reloads_script);
	tcase_add_test(tc, writer_survives_outage);
	tcase_add_test(tc, writer_never_started_redis);
	tcase_add_test(tc, auth_right_password);
	tcase_add_test(tc, auth_wrong_password);
	tcase_add_test(tc, auth_missing_or_unsafe);
	tcase_add_test(tc, connect_for_readers);
	suite_add_tcase(s, tc);
	return s;
}
