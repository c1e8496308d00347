/*
 * query_read: what every question needs from Redis. Commands go out
 * pipelined (rq_app) and their replies are read back in order (rq_get),
 * so a report over N days costs a few round trips, not one per key; the
 * replies then become counters, maps and JSON values here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "query_int.h"

#define MAX_DAYS 400

static void
fail(struct rq *q, const char *what)
{
	if (!q->failed) {
		q->failed = true;
		snprintf(q->error, sizeof(q->error), "redis at %.200s: %.280s", q->o.address, what);
	}
}

bool
rq_app(struct rq *q, int argc, const char **argv)
{
	size_t len[16];

	if (q->failed)
		return false;
	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	if (redisAppendCommandArgv(q->c, argc, argv, len) != REDIS_OK) {
		fail(q, q->c->errstr);
		return false;
	}
	return true;
}

/* The next reply, or NULL (q->failed) on a connection or server error. */
redisReply *
rq_get(struct rq *q)
{
	redisReply *r = NULL;

	if (q->failed)
		return NULL;
	if (redisGetReply(q->c, (void **)&r) != REDIS_OK || r == NULL) {
		fail(q, q->c->errstr[0] ? q->c->errstr : "connection lost");
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		struct mp_buf b = MP_BUF_INIT;

		mp_printable(&b, r->str, r->len, MP_SHOW_LINE);
		fail(q, mp_buf_str(&b));
		mp_buf_free(&b);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

void
rq_org_of(struct rq *q, const char *domain, char org[MP_DOMAIN_MAX])
{
	if (q->psl == NULL || !mp_psl_org_domain(q->psl, domain, org))
		mp_strlcpy(org, domain, MP_DOMAIN_MAX);
}

int
rq_clamp_days(int days)
{
	return days < 1 ? 1 : days > MAX_DAYS ? MAX_DAYS : days;
}

void
rq_day_of(struct rq *q, int back, char day[9])
{
	mp_store_day(q->now - (time_t)back * 86400, day);
}

/* "yyyymmdd" -> "yyyy-mm-dd" */
json_t *
rq_day_json(const char *day)
{
	char buf[11];

	snprintf(buf, sizeof(buf), "%.4s-%.2s-%.2s", day, day + 4, day + 6);
	return json_string(buf);
}

json_t *
rq_time_json(long long t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* A string from Redis into JSON: as it is when valid UTF-8, else escaped. */
json_t *
rq_str_json(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);

	if (j == NULL) {
		struct mp_buf b = MP_BUF_INIT;

		mp_printable(&b, s, len, MP_SHOW_EVIDENCE);
		j = json_string(mp_buf_str(&b));
		mp_buf_free(&b);
	}
	return j;
}

double
rq_rate(long long part, long long total)
{
	return total > 0 ? (double)((part * 1000 + total / 2) / total) / 10.0 : 0.0;
}

json_t *
rq_counts_json(const struct mp_store_counts *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "messages", json_integer(c->total));
	json_object_set_new(o, "spf_pass", json_integer(c->spf_pass));
	json_object_set_new(o, "spf_fail", json_integer(c->spf_fail));
	json_object_set_new(o, "dmarc_pass", json_integer(c->dmarc_pass));
	json_object_set_new(o, "dmarc_fail", json_integer(c->dmarc_fail));
	json_object_set_new(o, "dmarc_none", json_integer(c->dmarc_none));
	json_object_set_new(o, "dmarc_error", json_integer(c->dmarc_error));
	json_object_set_new(o, "spf_aligned", json_integer(c->spf_aligned));
	json_object_set_new(o, "dkim_aligned", json_integer(c->dkim_aligned));
	json_object_set_new(o, "aligned", json_integer(c->aligned));
	json_object_set_new(o, "quarantine", json_integer(c->dis_quarantine));
	json_object_set_new(o, "reject", json_integer(c->dis_reject));
	json_object_set_new(o, "spf_pass_pct", json_real(rq_rate(c->spf_pass, c->total)));
	json_object_set_new(o, "dmarc_pass_pct", json_real(rq_rate(c->dmarc_pass, c->total)));
	json_object_set_new(o, "aligned_pct", json_real(rq_rate(c->aligned, c->total)));
	return o;
}

void
rq_counts_add(struct mp_store_counts *to, const struct mp_store_counts *c)
{
	to->total += c->total;
	to->spf_pass += c->spf_pass;
	to->spf_fail += c->spf_fail;
	to->dmarc_pass += c->dmarc_pass;
	to->dmarc_fail += c->dmarc_fail;
	to->dmarc_none += c->dmarc_none;
	to->dmarc_error += c->dmarc_error;
	to->spf_aligned += c->spf_aligned;
	to->dkim_aligned += c->dkim_aligned;
	to->aligned += c->aligned;
	to->dis_quarantine += c->dis_quarantine;
	to->dis_reject += c->dis_reject;
}

/* Sums a daily hash of outcome fields; fields that are not outcomes
 * (written by something else) are skipped. */
void
rq_outcome_hash(const redisReply *r, struct mp_store_counts *c)
{
	if (r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *f = r->element[i], *v = r->element[i + 1];

		if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
			mp_store_outcome_add(f->str, strtoll(v->str, NULL, 10), c);
	}
}

/* HGETALL reply -> value of field, or NULL. */
const char *
rq_hfield(const redisReply *r, const char *name)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[i]->str, name) == 0 &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING)
			return r->element[i + 1]->str;
	return NULL;
}

long long
rq_hint(const redisReply *r, const char *name)
{
	const char *v = rq_hfield(r, name);

	return v ? strtoll(v, NULL, 10) : 0;
}

/* A domain hash (HGETALL reply) -> its all-time counters. */
void
rq_domain_counts(const redisReply *r, struct mp_store_counts *c)
{
	memset(c, 0, sizeof(*c));
	c->total = rq_hint(r, "total");
	c->spf_pass = rq_hint(r, "spf_pass");
	c->spf_fail = rq_hint(r, "spf_fail");
	c->dmarc_pass = rq_hint(r, "dmarc_pass");
	c->dmarc_fail = rq_hint(r, "dmarc_fail");
	c->dmarc_none = rq_hint(r, "dmarc_none");
	c->dmarc_error = rq_hint(r, "dmarc_error");
	c->spf_aligned = rq_hint(r, "spf_aligned");
	c->dkim_aligned = rq_hint(r, "dkim_aligned");
	c->aligned = rq_hint(r, "aligned");
	c->dis_quarantine = rq_hint(r, "dis_quarantine");
	c->dis_reject = rq_hint(r, "dis_reject");
}

/* Posture and auth score of a domain hash, added to o. */
void
rq_scores_json(json_t *o, const redisReply *r)
{
	const char *ps = rq_hfield(r, "posture_score"), *pg = rq_hfield(r, "posture_grade");
	const char *as = rq_hfield(r, "auth_score");

	if (ps != NULL) {
		json_t *p = json_object();

		json_object_set_new(p, "score", json_integer(strtol(ps, NULL, 10)));
		json_object_set_new(p, "grade", rq_str_json(pg ? pg : "", pg ? strlen(pg) : 0));
		json_object_set_new(p, "computed", rq_time_json(rq_hint(r, "posture_at")));
		json_object_set_new(o, "posture", p);
	} else {
		json_object_set_new(o, "posture", json_null());
	}
	json_object_set_new(o, "auth_score", as ? json_real(strtod(as, NULL)) : json_null());
}

void
rq_json_add(json_t *o, const char *name, long long n)
{
	json_int_t old = json_integer_value(json_object_get(o, name));

	json_object_set_new(o, name, json_integer(n + old));
}

/* A ZSET read WITHSCORES, summed into map (member -> integer). */
void
rq_zset_sum(const redisReply *r, json_t *map)
{
	if (r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *m = r->element[i], *v = r->element[i + 1];

		if (m->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
		    memchr(m->str, '\0', m->len) != NULL)
			continue;
		rq_json_add(map, m->str, (long long)strtod(v->str, NULL));
	}
}

static int
ranked_cmp(const void *a, const void *b)
{
	const struct rq_ranked *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* map (name -> integer) -> array sorted by value, largest first. */
struct rq_ranked *
rq_rank(json_t *map, size_t *n_r)
{
	struct rq_ranked *v = xcalloc(json_object_size(map) + 1, sizeof(*v));
	const char *k;
	json_t *val;
	size_t n = 0;

	json_object_foreach(map, k, val) {
		v[n].name = k;
		v[n].n = json_integer_value(val);
		n++;
	}
	qsort(v, n, sizeof(*v), ranked_cmp);
	*n_r = n;
	return v;
}
