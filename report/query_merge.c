/*
 * query_merge: one reply from the replies of every slot group of a
 * Cluster (query_read.c sends a command on an installation key to each
 * group). The groups split the installation by the slot of a domain's
 * {org}, so a domain counts in one group only: hashes of counters add
 * up (HGETALL), so do cardinalities (ZCARD), and sorted sets are the
 * union of disjoint members, sorted and cut again as the command asked
 * (ZRANGE, ZREVRANGE, with or without WITHSCORES: each group is asked
 * with scores, from its first member, rq_merge_group_argv). The merged
 * reply is
 * written as RESP and read back by hiredis' own reader, so it is a
 * reply like any other (freeReplyObject).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "query_int.h"

enum merge_kind { MERGE_HASH, MERGE_COUNT, MERGE_ZSET };

struct rq_merge {
	enum merge_kind kind;
	bool rev, scores;           /* ZREVRANGE; WITHSCORES */
	long long start, stop;      /* the range asked for */
	json_t *map;                /* field -> sum; member -> score */
	long long count;
};

struct member {
	const char *name;
	double score;
};

static bool
is_cmd(const char *a, const char *name)
{
	return mp_strcasecmp(a, name) == 0;
}

static bool
is_index(const char *s, long long *v)
{
	char *end;

	*v = strtoll(s, &end, 10);
	return s[0] != '\0' && *end == '\0';
}

bool
rq_merge_supported(int argc, const char **argv)
{
	long long v;

	if (argc == 2)
		return is_cmd(argv[0], "HGETALL") || is_cmd(argv[0], "ZCARD");
	return (argc == 4 || (argc == 5 && is_cmd(argv[4], "WITHSCORES"))) &&
	    (is_cmd(argv[0], "ZRANGE") || is_cmd(argv[0], "ZREVRANGE")) &&
	    is_index(argv[2], &v) && is_index(argv[3], &v);
}

int
rq_merge_group_argv(int argc, const char **argv, const char *key, const char **out)
{
	long long start, stop;

	memcpy(out, argv, (size_t)argc * sizeof(*out));
	out[1] = key;
	if (argc < 4 || (!is_cmd(argv[0], "ZRANGE") && !is_cmd(argv[0], "ZREVRANGE")))
		return argc;
	/* The union's first members are among each group's first ones. */
	is_index(argv[2], &start);
	is_index(argv[3], &stop);
	out[2] = "0";
	out[3] = start >= 0 && stop >= 0 ? argv[3] : "-1";
	out[4] = "WITHSCORES";
	return 5;
}

struct rq_merge *
rq_merge_new(int argc, const char **argv)
{
	struct rq_merge *m = xcalloc(1, sizeof(*m));

	m->map = json_object();
	if (is_cmd(argv[0], "HGETALL")) {
		m->kind = MERGE_HASH;
	} else if (is_cmd(argv[0], "ZCARD")) {
		m->kind = MERGE_COUNT;
	} else {
		m->kind = MERGE_ZSET;
		m->rev = is_cmd(argv[0], "ZREVRANGE");
		m->scores = argc == 5;
		is_index(argv[2], &m->start);
		is_index(argv[3], &m->stop);
	}
	return m;
}

/* Adds pairs of a flat array (name, number) to the map. */
static void
add_pairs(struct rq_merge *m, const redisReply *r)
{
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *v = r->element[i + 1];
		json_t *old;

		if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
		    memchr(k->str, '\0', k->len) != NULL)
			continue;
		old = json_object_get(m->map, k->str);
		if (m->kind == MERGE_HASH)
			json_object_set_new_nocheck(m->map, k->str, json_integer(
			    json_integer_value(old) + strtoll(v->str, NULL, 10)));
		else
			json_object_set_new_nocheck(m->map, k->str, json_real(
			    json_real_value(old) + strtod(v->str, NULL)));
	}
}

bool
rq_merge_add(struct rq_merge *m, const redisReply *r)
{
	if (m->kind == MERGE_COUNT && r->type == REDIS_REPLY_INTEGER)
		m->count += r->integer;
	else if (m->kind != MERGE_COUNT && r->type == REDIS_REPLY_ARRAY)
		add_pairs(m, r);
	else
		return false;
	return true;
}

static int
member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;

	if (x->score != y->score)
		return x->score < y->score ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void
resp_bulk(struct mp_buf *b, const char *s)
{
	mp_buf_printf(b, "$%zu\r\n", strlen(s));
	mp_buf_puts(b, s);
	mp_buf_puts(b, "\r\n");
}

/* The sorted set, sorted and cut to [start, stop] as Redis does, as RESP. */
static void
zset_resp(const struct rq_merge *m, struct mp_buf *b)
{
	size_t n = json_object_size(m->map), k = 0;
	struct member *v = xcalloc(n + 1, sizeof(*v));
	long long start = m->start, stop = m->stop;
	const char *name;
	json_t *val;
	char num[40];

	json_object_foreach(m->map, name, val) {
		v[k].name = name;
		v[k++].score = json_real_value(val);
	}
	qsort(v, n, sizeof(*v), member_cmp);
	if (start < 0)
		start += (long long)n;
	if (stop < 0)
		stop += (long long)n;
	if (start < 0)
		start = 0;
	if (stop >= (long long)n)
		stop = (long long)n - 1;
	k = start > stop ? 0 : (size_t)(stop - start + 1);
	mp_buf_printf(b, "*%zu\r\n", m->scores ? 2 * k : k);
	for (size_t i = 0; i < k; i++) {
		const struct member *e = &v[m->rev ? n - 1 - (size_t)start - i : (size_t)start + i];

		resp_bulk(b, e->name);
		if (m->scores) {
			snprintf(num, sizeof(num), "%.17g", e->score);
			resp_bulk(b, num);
		}
	}
	free(v);
}

redisReply *
rq_merge_end(struct rq_merge *m, bool failed)
{
	struct mp_buf b = MP_BUF_INIT;
	redisReader *rd;
	void *r = NULL;
	const char *name;
	json_t *val;
	char num[32];

	if (m->kind == MERGE_COUNT)
		mp_buf_printf(&b, ":%lld\r\n", m->count);
	else if (m->kind == MERGE_ZSET)
		zset_resp(m, &b);
	else {
		mp_buf_printf(&b, "*%zu\r\n", 2 * json_object_size(m->map));
		json_object_foreach(m->map, name, val) {
			resp_bulk(&b, name);
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(val));
			resp_bulk(&b, num);
		}
	}
	json_decref(m->map);
	free(m);
	if (failed) {
		mp_buf_free(&b);
		return NULL;
	}
	rd = redisReaderCreate();
	if (redisReaderFeed(rd, b.data, b.len) != REDIS_OK || redisReaderGetReply(rd, &r) != REDIS_OK)
		r = NULL;
	redisReaderFree(rd);
	mp_buf_free(&b);
	return r;
}
