/*
 * redis_slot, redis_cluster (without a server) and the store's slot
 * groups: CRC16 and hash tags as the Redis Cluster specification gives
 * them, the slot tags, MOVED/ASK/TRYAGAIN replies, slot maps from
 * CLUSTER SHARDS and CLUSTER SLOTS replies (real replies' shapes, fed to
 * hiredis' reader), routing and the per-group key names.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "check_main.h"
#include "redis_cluster.h"
#include "redis_slot.h"
#include "store.h"
#include "util.h"

/* ---- building replies -------------------------------------------------- */

static void
r_arr(struct mp_buf *b, size_t n)
{
	mp_buf_printf(b, "*%zu\r\n", n);
}

static void
r_str(struct mp_buf *b, const char *s)
{
	mp_buf_printf(b, "$%zu\r\n%s\r\n", strlen(s), s);
}

static void
r_int(struct mp_buf *b, long long v)
{
	mp_buf_printf(b, ":%lld\r\n", v);
}

/* The reply hiredis reads from b (freed with freeReplyObject). */
static redisReply *
parse(struct mp_buf *b)
{
	redisReader *rd = redisReaderCreate();
	void *r = NULL;

	ck_assert_int_eq(redisReaderFeed(rd, b->data, b->len), REDIS_OK);
	ck_assert_int_eq(redisReaderGetReply(rd, &r), REDIS_OK);
	ck_assert_ptr_nonnull(r);
	redisReaderFree(rd);
	mp_buf_free(b);
	return r;
}

/* One node of a CLUSTER SHARDS reply, as Redis 7.0 writes it. */
static void
shard_node(struct mp_buf *b, const char *ip, const char *endpoint, int port, const char *role,
    const char *health)
{
	r_arr(b, 14);
	r_str(b, "id");
	r_str(b, "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca");
	r_str(b, "port");
	r_int(b, port);
	r_str(b, "ip");
	r_str(b, ip);
	r_str(b, "endpoint");
	r_str(b, endpoint);
	r_str(b, "role");
	r_str(b, role);
	r_str(b, "replication-offset");
	r_int(b, 72156);
	r_str(b, "health");
	r_str(b, health);
}

/* A shard: its slot ranges (pairs, -1 ends) and two nodes. */
static void
shard(struct mp_buf *b, const int *ranges, int port_a, const char *role_a, const char *health_a,
    int port_b, const char *role_b, const char *health_b, const char *endpoint)
{
	size_t n = 0;

	while (ranges[n] >= 0)
		n++;
	r_arr(b, 4);
	r_str(b, "slots");
	r_arr(b, n);
	for (size_t i = 0; i < n; i++)
		r_int(b, ranges[i]);
	r_str(b, "nodes");
	r_arr(b, 2);
	shard_node(b, "127.0.0.1", endpoint, port_a, role_a, health_a);
	shard_node(b, "127.0.0.1", endpoint, port_b, role_b, health_b);
}

/* ---- slots ------------------------------------------------------------- */

START_TEST(crc16_and_slots)
{
	static const struct {
		const char *key;
		unsigned slot;
	} t[] = {
		{ "foo", 12182 }, { "bar", 5061 }, { "hello", 866 },
		/* Hash tags: the first {...} that is not empty. */
		{ "{user1000}.following", 3443 }, { "{user1000}.followers", 3443 },
		{ "foo{}{bar}", 8363 },         /* "{}": the whole key */
		{ "foo{{bar}}zap", 4015 },      /* the tag is "{bar" */
		{ "foo{bar}{zap}", 5061 },      /* the first tag only: "bar" */
		{ "{bar", 4015 },               /* no closing brace: the whole key */
		{ "mp:m:{example.com}:mx:Q1", 8592 }, { "example.com", 8592 },
	};

	ck_assert_uint_eq(mp_redis_crc16("123456789", 9), 0x31C3);
	ck_assert_uint_eq(mp_redis_crc16("", 0), 0);
	for (size_t i = 0; i < MP_ARRAY_SIZE(t); i++)
		ck_assert_msg(mp_redis_key_slot(t[i].key, strlen(t[i].key)) == t[i].slot,
		    "%s: slot %u, expected %u", t[i].key,
		    mp_redis_key_slot(t[i].key, strlen(t[i].key)), t[i].slot);
}
END_TEST

START_TEST(slot_tags)
{
	char tag[MP_REDIS_TAG_MAX], key[32];

	/* Key names are made of them: they must never change. */
	mp_redis_slot_tag(0, tag);
	ck_assert_str_eq(tag, "3560");
	mp_redis_slot_tag(1, tag);
	ck_assert_str_eq(tag, "22179");
	mp_redis_slot_tag(12182, tag);
	ck_assert_str_eq(tag, "43681");
	mp_redis_slot_tag(16383, tag);
	ck_assert_str_eq(tag, "39296");
	for (unsigned s = 0; s < MP_REDIS_SLOTS; s++) {
		mp_redis_slot_tag(s, tag);
		ck_assert_uint_le(strtoul(tag, NULL, 10), 109757);
		snprintf(key, sizeof(key), "mp:day:{%s}:20240101", tag);
		ck_assert_uint_eq(mp_redis_key_slot(key, strlen(key)), s);
	}
}
END_TEST

/* ---- redirections ------------------------------------------------------ */

START_TEST(redirections)
{
	static const struct {
		const char *err;
		enum mp_redis_redirect kind;
		unsigned slot;
		const char *addr;
	} t[] = {
		{ "MOVED 3999 127.0.0.1:6381", MP_REDIS_MOVED, 3999, "127.0.0.1:6381" },
		{ "ASK 3999 127.0.0.1:6381", MP_REDIS_ASK, 3999, "127.0.0.1:6381" },
		{ "MOVED 0 [::1]:7000", MP_REDIS_MOVED, 0, "[::1]:7000" },
		{ "MOVED 16383 redis-3.example.net:6379", MP_REDIS_MOVED, 16383,
		    "redis-3.example.net:6379" },
		{ "TRYAGAIN Multiple keys request during rehashing of slot", MP_REDIS_TRYAGAIN, 0, "" },
		{ "CLUSTERDOWN The cluster is down", MP_REDIS_CLUSTERDOWN, 0, "" },
		{ "MOVED 16384 127.0.0.1:6381", MP_REDIS_ERROR, 0, "" },
		{ "MOVED 99999999999999999999 127.0.0.1:6381", MP_REDIS_ERROR, 0, "" },
		{ "MOVED x 127.0.0.1:6381", MP_REDIS_ERROR, 0, "" },
		{ "MOVED 12", MP_REDIS_ERROR, 0, "" },
		{ "MOVED 12 ", MP_REDIS_ERROR, 0, "" },
		{ "MOVEDX 12 127.0.0.1:1", MP_REDIS_ERROR, 0, "" },
		{ "ASKING", MP_REDIS_ERROR, 0, "" },
		{ "NOSCRIPT No matching script. Please use EVAL.", MP_REDIS_ERROR, 0, "" },
		{ "ERR unknown command", MP_REDIS_ERROR, 0, "" },
		{ "", MP_REDIS_ERROR, 0, "" },
	};

	for (size_t i = 0; i < MP_ARRAY_SIZE(t); i++) {
		char addr[MP_REDIS_ADDR_MAX] = "";
		unsigned slot = 0;
		enum mp_redis_redirect k = mp_redis_redirect_of(t[i].err, strlen(t[i].err), &slot,
		    addr, sizeof(addr));

		ck_assert_msg(k == t[i].kind, "'%s': %d, expected %d", t[i].err, k, t[i].kind);
		if (k == MP_REDIS_MOVED || k == MP_REDIS_ASK) {
			ck_assert_uint_eq(slot, t[i].slot);
			ck_assert_str_eq(addr, t[i].addr);
		}
	}
	/* An address too long for the buffer is no redirection. */
	{
		char small[8];
		unsigned slot;

		ck_assert_int_eq(mp_redis_redirect_of("MOVED 1 127.0.0.1:6381", 22, &slot, small,
		    sizeof(small)), MP_REDIS_ERROR);
	}
}
END_TEST

START_TEST(addresses_and_lists)
{
	char a[MP_REDIS_ADDR_MAX], item[32];
	const char *p;

	mp_redis_addr(a, sizeof(a), "127.0.0.1", 9, 7000);
	ck_assert_str_eq(a, "127.0.0.1:7000");
	mp_redis_addr(a, sizeof(a), "2001:db8::7", 11, 6379);
	ck_assert_str_eq(a, "[2001:db8::7]:6379");
	p = mp_redis_list_next(" a:1, b:2,,c:3 ", item, sizeof(item));
	ck_assert_str_eq(item, "a:1");
	p = mp_redis_list_next(p, item, sizeof(item));
	ck_assert_str_eq(item, "b:2");
	p = mp_redis_list_next(p, item, sizeof(item));
	ck_assert_str_eq(item, "c:3");
	p = mp_redis_list_next(p, item, sizeof(item));
	ck_assert_str_eq(item, "");
	ck_assert_str_eq(p, "");
}
END_TEST

/* ---- slot maps --------------------------------------------------------- */

START_TEST(map_from_shards)
{
	static const int r1[] = { 0, 5460, -1 }, r2[] = { 5461, 10921, -1 };
	static const int r3[] = { 10922, 12000, 12001, 16383, -1 }, none[] = { -1 };
	struct mp_redis_map *m = mp_redis_map_new();
	struct mp_buf b = MP_BUF_INIT;
	redisReply *r;
	char err[256];

	r_arr(&b, 4);
	shard(&b, r1, 30001, "master", "online", 30004, "replica", "online", "127.0.0.1");
	/* The master failed: its replica took over. */
	shard(&b, r2, 30002, "master", "fail", 30005, "master", "online", "127.0.0.1");
	/* The node asked: it reports an empty endpoint. */
	shard(&b, r3, 30003, "master", "online", 30006, "replica", "loading", "");
	/* A master that serves nothing (after a reshard). */
	shard(&b, none, 30007, "master", "online", 30008, "replica", "online", "127.0.0.1");
	r = parse(&b);
	ck_assert(mp_redis_map_from_shards(m, r, "127.0.0.1:30003", err, sizeof(err)));
	ck_assert_uint_eq(mp_redis_map_nodes(m), 3);
	ck_assert_uint_eq(mp_redis_map_unserved(m), 0);
	ck_assert_str_eq(mp_redis_map_addr(m, mp_redis_map_node_of(m, 0)), "127.0.0.1:30001");
	ck_assert_str_eq(mp_redis_map_addr(m, mp_redis_map_node_of(m, 5460)), "127.0.0.1:30001");
	ck_assert_str_eq(mp_redis_map_addr(m, mp_redis_map_node_of(m, 5461)), "127.0.0.1:30005");
	ck_assert_str_eq(mp_redis_map_addr(m, mp_redis_map_node_of(m, 12000)), "127.0.0.1:30003");
	ck_assert_str_eq(mp_redis_map_addr(m, mp_redis_map_node_of(m, 16383)), "127.0.0.1:30003");
	ck_assert_uint_eq(mp_redis_map_node_of(m, 16384), MP_REDIS_NO_NODE);
	freeReplyObject(r);
	mp_redis_map_free(&m);
	ck_assert_ptr_null(m);

	/* Not a CLUSTER SHARDS reply. */
	m = mp_redis_map_new();
	r_arr(&b, 1);
	r_int(&b, 5);
	r = parse(&b);
	ck_assert(!mp_redis_map_from_shards(m, r, "127.0.0.1:1", err, sizeof(err)));
	ck_assert_str_eq(err, "unexpected reply to CLUSTER SHARDS");
	freeReplyObject(r);
	mp_redis_map_free(&m);
}
END_TEST

/* One range of a CLUSTER SLOTS reply: master then one replica. */
static void
slots_range(struct mp_buf *b, int from, int to, const char *ip, int port)
{
	r_arr(b, 4);
	r_int(b, from);
	r_int(b, to);
	r_arr(b, 3);
	r_str(b, ip);
	r_int(b, port);
	r_str(b, "09dbe9720cda62f7865eabc5fd8857c5d2678366");
	r_arr(b, 3);
	r_str(b, ip);
	r_int(b, port + 3);
	r_str(b, "821d8ca00d7ccf931ed3ffc7e3db0599d2271abf");
}

START_TEST(map_from_slots)
{
	struct mp_redis_map *m = mp_redis_map_new();
	struct mp_buf b = MP_BUF_INIT;
	redisReply *r;
	char err[256];

	r_arr(&b, 4);
	slots_range(&b, 0, 5460, "127.0.0.1", 30001);
	slots_range(&b, 5461, 10921, "", 30002);        /* "": the node asked */
	slots_range(&b, 10922, 16000, "::1", 30003);
	slots_range(&b, 16001, 16383, "?", 30009);      /* unknown endpoint: unserved */
	r = parse(&b);
	ck_assert(mp_redis_map_from_slots(m, r, "[::1]:30002", err, sizeof(err)));
	ck_assert_uint_eq(mp_redis_map_nodes(m), 3);
	ck_assert_str_eq(mp_redis_map_addr(m, mp_redis_map_node_of(m, 100)), "127.0.0.1:30001");
	ck_assert_str_eq(mp_redis_map_addr(m, mp_redis_map_node_of(m, 6000)), "[::1]:30002");
	ck_assert_str_eq(mp_redis_map_addr(m, mp_redis_map_node_of(m, 16000)), "[::1]:30003");
	ck_assert_uint_eq(mp_redis_map_node_of(m, 16001), MP_REDIS_NO_NODE);
	ck_assert_uint_eq(mp_redis_map_unserved(m), 16383 - 16001 + 1);
	freeReplyObject(r);
	mp_redis_map_free(&m);
}
END_TEST

/* ---- routing ----------------------------------------------------------- */

static redisContext *
no_dial(void *arg, const char *addr, char *err, size_t errlen)
{
	(void)arg;
	snprintf(err, errlen, "no dial in this test (%s)", addr);
	return NULL;
}

START_TEST(routing)
{
	struct mp_redis_nodes *n = mp_redis_nodes_new(no_dial, NULL);
	char err[128];
	size_t a;

	mp_redis_nodes_single(n, "127.0.0.1:6379");
	ck_assert(!mp_redis_nodes_is_cluster(n));
	ck_assert_uint_eq(mp_redis_nodes_count(n), 1);
	ck_assert_uint_eq(mp_redis_nodes_of_key(n, "foo", 3), 0);
	ck_assert_uint_eq(mp_redis_nodes_of_slot(n, 16383), 0);
	/* MOVED: the slot goes to a new node; the others stay. */
	a = mp_redis_nodes_moved(n, 12182, "127.0.0.1:6380");
	ck_assert_uint_eq(a, 1);
	ck_assert_uint_eq(mp_redis_nodes_of_slot(n, 12182), 1);
	ck_assert_uint_eq(mp_redis_nodes_of_slot(n, 12181), 0);
	ck_assert_uint_eq(mp_redis_nodes_node(n, "127.0.0.1:6380"), 1);
	ck_assert_uint_eq(mp_redis_nodes_node(n, "127.0.0.1:6381"), 2);
	ck_assert_str_eq(mp_redis_nodes_addr(n, 2), "127.0.0.1:6381");
	ck_assert_ptr_null(mp_redis_nodes_peek(n, 2));
	ck_assert_ptr_null(mp_redis_nodes_conn(n, 2, NULL, err, sizeof(err)));
	ck_assert_str_eq(err, "no dial in this test (127.0.0.1:6381)");
	ck_assert_ptr_null(mp_redis_nodes_conn(n, MP_REDIS_NO_NODE, NULL, err, sizeof(err)));
	/* Nobody answers: no map, and the old one stays. */
	ck_assert(!mp_redis_nodes_discover(n, "127.0.0.1:1 127.0.0.1:2", err, sizeof(err)));
	ck_assert_uint_eq(mp_redis_nodes_count(n), 3);
	mp_redis_nodes_free(&n);
	ck_assert_ptr_null(n);
}
END_TEST

/* ---- the store's slot groups ------------------------------------------- */

START_TEST(store_groups)
{
	struct mp_store_options o;
	char k[MP_STORE_KEY_MAX], g[MP_STORE_KEY_MAX];

	mp_store_options_defaults(&o);
	ck_assert_uint_eq(mp_store_groups(&o), 1);
	mp_strlcpy(o.cluster, "127.0.0.1:30001", sizeof(o.cluster));
	ck_assert_uint_eq(mp_store_groups(&o), MP_REDIS_SLOTS);
	mp_store_key_day(&o, k, "20240101");
	ck_assert(mp_store_key_in_group(&o, k, 0, g));
	ck_assert_str_eq(g, "mp:day:{3560}:20240101");
	ck_assert(mp_store_key_in_group(&o, k, 12182, g));
	ck_assert_uint_eq(mp_redis_key_slot(g, strlen(g)), 12182);
	mp_store_key_worst(&o, k);
	ck_assert(mp_store_key_in_group(&o, k, 1, g));
	ck_assert_str_eq(g, "mp:worst:{22179}");
	mp_store_key_ip(&o, k, "2001:db8::1", "20240101");
	ck_assert(mp_store_key_in_group(&o, k, 0, g));
	ck_assert_str_eq(g, "mp:ip:{3560}:2001:db8::1:20240101");
	mp_store_key_volume(&o, k, "20240101");
	ck_assert(mp_store_key_in_group(&o, k, 0, g));
	ck_assert_str_eq(g, "mp:vol:{3560}:20240101");
	mp_store_key_dmarc_fail(&o, k, "20240101");
	ck_assert(mp_store_key_in_group(&o, k, 0, g));
	ck_assert_str_eq(g, "mp:fail:{3560}:20240101");
	/* The per-domain keys have their {org} already; the audits are not counters. */
	mp_store_key_domain(&o, k, "example.com", "a.example.com");
	ck_assert(!mp_store_key_in_group(&o, k, 0, g));
	mp_store_key_audits(&o, k);
	ck_assert(!mp_store_key_in_group(&o, k, 0, g));
	ck_assert(!mp_store_key_in_group(&o, "other:day:20240101", 0, g));
	ck_assert(!mp_store_key_in_group(&o, "mp:daily:20240101", 0, g));
	/* Options: one deployment at a time, a Cluster has db 0 only. */
	ck_assert(mp_store_options_check(&o, k, sizeof(k)));
	ck_assert(mp_store_options_enabled(&o));
	mp_strlcpy(o.address, "127.0.0.1:6379", sizeof(o.address));
	ck_assert(!mp_store_options_check(&o, k, sizeof(k)));
	ck_assert_str_eq(k, "redis: set one of address, sentinels and cluster");
	o.address[0] = '\0';
	o.db = 2;
	ck_assert(!mp_store_options_check(&o, k, sizeof(k)));
	ck_assert_str_eq(k, "redis cluster: db must be 0");
	o.db = 0;
	mp_strlcpy(o.cluster, "127.0.0.1:30001 /run/redis.sock", sizeof(o.cluster));
	ck_assert(!mp_store_options_check(&o, k, sizeof(k)));
	ck_assert_str_eq(k, "redis cluster: item 2 is not HOST:PORT");
	o.cluster[0] = '\0';
	mp_strlcpy(o.sentinels, "127.0.0.1:26379,127.0.0.1:26380", sizeof(o.sentinels));
	ck_assert(!mp_store_options_check(&o, k, sizeof(k)));
	ck_assert_str_eq(k, "redis sentinels: master_name is needed too");
	mp_strlcpy(o.master_name, "mymaster", sizeof(o.master_name));
	ck_assert(mp_store_options_check(&o, k, sizeof(k)));
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("redis_slot");
	TCase *tc = tcase_create("offline");

	tcase_add_test(tc, crc16_and_slots);
	tcase_add_test(tc, slot_tags);
	tcase_add_test(tc, redirections);
	tcase_add_test(tc, addresses_and_lists);
	tcase_add_test(tc, map_from_shards);
	tcase_add_test(tc, map_from_slots);
	tcase_add_test(tc, routing);
	tcase_add_test(tc, store_groups);
	suite_add_tcase(s, tc);
	return s;
}
