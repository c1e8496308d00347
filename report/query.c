/*
 * query: reads the key schema of policy/store (README "Redis key
 * schema") with pipelined commands: a report over N days costs a few
 * round trips, not one per key.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "query.h"
#include "util.h"

#define MAX_DAYS 400

/* ---- Redis helpers ----------------------------------------------------- */

static void
fail(struct rq *q, const char *what)
{
	if (!q->failed) {
		q->failed = true;
		snprintf(q->error, sizeof(q->error), "redis at %.200s: %.280s", q->o.address, what);
	}
}

static bool
app(struct rq *q, int argc, const char **argv)
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
static redisReply *
get(struct rq *q)
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

		mp_printable(&b, r->str, r->len, 200);
		fail(q, mp_buf_str(&b));
		mp_buf_free(&b);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static void
org_of(struct rq *q, const char *domain, char org[MP_DOMAIN_MAX])
{
	if (q->psl == NULL || !mp_psl_org_domain(q->psl, domain, org))
		mp_strlcpy(org, domain, MP_DOMAIN_MAX);
}

static int
clamp_days(int days)
{
	return days < 1 ? 1 : days > MAX_DAYS ? MAX_DAYS : days;
}

static void
day_of(struct rq *q, int back, char day[9])
{
	mp_store_day(q->now - (time_t)back * 86400, day);
}

/* "yyyymmdd" -> "yyyy-mm-dd" */
static json_t *
day_json(const char *day)
{
	char buf[11];

	snprintf(buf, sizeof(buf), "%.4s-%.2s-%.2s", day, day + 4, day + 6);
	return json_string(buf);
}

static json_t *
time_json(long long t)
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
static json_t *
str_json(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);

	if (j == NULL) {
		struct mp_buf b = MP_BUF_INIT;

		mp_printable(&b, s, len, 1024);
		j = json_string(mp_buf_str(&b));
		mp_buf_free(&b);
	}
	return j;
}

static double
rate(long long part, long long total)
{
	return total > 0 ? (double)((part * 1000 + total / 2) / total) / 10.0 : 0.0;
}

static json_t *
counts_json(const struct mp_store_counts *c)
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
	json_object_set_new(o, "spf_pass_pct", json_real(rate(c->spf_pass, c->total)));
	json_object_set_new(o, "dmarc_pass_pct", json_real(rate(c->dmarc_pass, c->total)));
	json_object_set_new(o, "aligned_pct", json_real(rate(c->aligned, c->total)));
	return o;
}

static void
counts_add(struct mp_store_counts *to, const struct mp_store_counts *c)
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
static void
outcome_hash(const redisReply *r, struct mp_store_counts *c)
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
static const char *
hfield(const redisReply *r, const char *name)
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

static long long
hint(const redisReply *r, const char *name)
{
	const char *v = hfield(r, name);

	return v ? strtoll(v, NULL, 10) : 0;
}

/* A domain hash (HGETALL reply) -> its all-time counters. */
static void
domain_counts(const redisReply *r, struct mp_store_counts *c)
{
	memset(c, 0, sizeof(*c));
	c->total = hint(r, "total");
	c->spf_pass = hint(r, "spf_pass");
	c->spf_fail = hint(r, "spf_fail");
	c->dmarc_pass = hint(r, "dmarc_pass");
	c->dmarc_fail = hint(r, "dmarc_fail");
	c->dmarc_none = hint(r, "dmarc_none");
	c->dmarc_error = hint(r, "dmarc_error");
	c->spf_aligned = hint(r, "spf_aligned");
	c->dkim_aligned = hint(r, "dkim_aligned");
	c->aligned = hint(r, "aligned");
	c->dis_quarantine = hint(r, "dis_quarantine");
	c->dis_reject = hint(r, "dis_reject");
}

/* Posture and auth score of a domain hash, added to o. */
static void
scores_json(json_t *o, const redisReply *r)
{
	const char *ps = hfield(r, "posture_score"), *pg = hfield(r, "posture_grade");
	const char *as = hfield(r, "auth_score");

	if (ps != NULL) {
		json_t *p = json_object();

		json_object_set_new(p, "score", json_integer(strtol(ps, NULL, 10)));
		json_object_set_new(p, "grade", str_json(pg ? pg : "", pg ? strlen(pg) : 0));
		json_object_set_new(p, "computed", time_json(hint(r, "posture_at")));
		json_object_set_new(o, "posture", p);
	} else {
		json_object_set_new(o, "posture", json_null());
	}
	json_object_set_new(o, "auth_score", as ? json_real(strtod(as, NULL)) : json_null());
}

/* A ZSET read WITHSCORES, summed into map (member -> integer). */
static void
zset_sum(const redisReply *r, json_t *map)
{
	if (r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *m = r->element[i], *v = r->element[i + 1];
		json_t *old;
		long long n;

		if (m->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
		    memchr(m->str, '\0', m->len) != NULL)
			continue;
		n = (long long)strtod(v->str, NULL);
		old = json_object_get(map, m->str);
		json_object_set_new(map, m->str, json_integer(n + (old ? json_integer_value(old) : 0)));
	}
}

struct ranked {
	const char *name;
	long long n;
};

static int
ranked_cmp(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* map (name -> integer) -> array sorted by value, largest first. */
static struct ranked *
rank(json_t *map, size_t *n_r)
{
	struct ranked *v = xcalloc(json_object_size(map) + 1, sizeof(*v));
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

/* ---- summary ----------------------------------------------------------- */

json_t *
q_summary(struct rq *q, int days)
{
	char day[9], key[MP_STORE_KEY_MAX], vkey[MP_STORE_KEY_MAX];
	struct mp_store_counts total;
	json_t *out = json_object(), *arr = json_array();

	days = clamp_days(days);
	memset(&total, 0, sizeof(total));
	for (int i = 0; i < days; i++) {
		day_of(q, i, day);
		mp_store_key_day(&q->o, key, day);
		mp_store_key_volume(&q->o, vkey, day);
		app(q, 2, (const char *[]){ "HGETALL", key });
		app(q, 2, (const char *[]){ "ZCARD", vkey });
	}
	for (int i = 0; i < days; i++) {
		redisReply *h = get(q), *z = get(q);
		struct mp_store_counts c;
		json_t *d;

		if (h == NULL || z == NULL) {
			if (h)
				freeReplyObject(h);
			break;
		}
		memset(&c, 0, sizeof(c));
		outcome_hash(h, &c);
		counts_add(&total, &c);
		day_of(q, i, day);
		d = counts_json(&c);
		json_object_set_new(d, "day", day_json(day));
		json_object_set_new(d, "domains", json_integer(z->integer));
		json_array_append_new(arr, d);
		freeReplyObject(h);
		freeReplyObject(z);
	}
	if (q->failed) {
		json_decref(out);
		json_decref(arr);
		return NULL;
	}
	json_object_set_new(out, "days", json_integer(days));
	json_object_set_new(out, "found", json_boolean(total.total > 0));
	json_object_set_new(out, "per_day", arr);
	json_object_set_new(out, "total", counts_json(&total));
	return out;
}

/* ---- messages ---------------------------------------------------------- */

/* The n most recent messages of a domain, newest first. */
static json_t *
recent(struct rq *q, const char *org, const char *domain, int n)
{
	char key[MP_STORE_KEY_MAX], stop[16];
	redisReply *l;
	json_t *arr = json_array();
	size_t asked = 0;

	mp_store_key_recent(&q->o, key, org, domain);
	snprintf(stop, sizeof(stop), "%d", n - 1);
	app(q, 4, (const char *[]){ "LRANGE", key, "0", stop });
	if ((l = get(q)) == NULL)
		return arr;
	if (l->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i < l->elements; i++) {
			if (l->element[i]->type != REDIS_REPLY_STRING)
				continue;
			app(q, 2, (const char *[]){ "GET", l->element[i]->str });
			asked++;
		}
	}
	for (size_t i = 0; i < asked; i++) {
		redisReply *m = get(q);
		json_t *j;

		if (m == NULL)
			break;
		/* Entries outlive their message by up to a day: skip those. */
		if (m->type == REDIS_REPLY_STRING &&
		    (j = json_loadb(m->str, m->len, 0, NULL)) != NULL) {
			if (json_is_object(j))
				json_array_append(arr, j);
			json_decref(j);
		}
		freeReplyObject(m);
	}
	freeReplyObject(l);
	return arr;
}

json_t *
q_messages(struct rq *q, const char *domain, int n)
{
	char org[MP_DOMAIN_MAX];
	json_t *out = json_object(), *arr;

	org_of(q, domain, org);
	arr = recent(q, org, domain, n < 1 ? 1 : n > MP_STORE_RECENT ? MP_STORE_RECENT : n);
	if (q->failed) {
		json_decref(arr);
		json_decref(out);
		return NULL;
	}
	json_object_set_new(out, "domain", json_string(domain));
	json_object_set_new(out, "org", json_string(org));
	json_object_set_new(out, "found", json_boolean(json_array_size(arr) > 0));
	json_object_set_new(out, "messages", arr);
	return out;
}

/* ---- domain ------------------------------------------------------------ */

json_t *
q_domain(struct rq *q, const char *domain, int days, int nrecent)
{
	char org[MP_DOMAIN_MAX], key[MP_STORE_KEY_MAX], day[9];
	struct mp_store_counts c, period;
	redisReply *h;
	json_t *out = json_object(), *ips = json_object(), *iparr = json_array();
	struct ranked *rk;
	size_t nrk;
	const char *pub;

	days = clamp_days(days);
	org_of(q, domain, org);
	mp_store_key_domain(&q->o, key, org, domain);
	app(q, 2, (const char *[]){ "HGETALL", key });
	for (int i = 0; i < days; i++) {
		day_of(q, i, day);
		mp_store_key_domain_ips(&q->o, key, org, domain, day);
		app(q, 5, (const char *[]){ "ZREVRANGE", key, "0", "99", "WITHSCORES" });
		mp_store_key_domain_day(&q->o, key, org, domain, day);
		app(q, 2, (const char *[]){ "HGETALL", key });
	}
	h = get(q);
	memset(&period, 0, sizeof(period));
	for (int i = 0; i < days && h != NULL; i++) {
		redisReply *z = get(q), *dd = z ? get(q) : NULL;

		if (z)
			zset_sum(z, ips);
		if (dd)
			outcome_hash(dd, &period);
		if (z)
			freeReplyObject(z);
		if (dd)
			freeReplyObject(dd);
	}
	if (q->failed || h == NULL) {
		if (h)
			freeReplyObject(h);
		json_decref(out);
		json_decref(ips);
		json_decref(iparr);
		return NULL;
	}
	json_object_set_new(out, "domain", json_string(domain));
	json_object_set_new(out, "org", json_string(org));
	json_object_set_new(out, "found", json_boolean(h->elements > 0));
	if (h->elements > 0) {
		scores_json(out, h);
		pub = hfield(h, "published");
		json_object_set_new(out, "published_policy",
		    pub ? str_json(pub, strlen(pub)) : json_null());
		json_object_set_new(out, "first_seen", time_json(hint(h, "first_seen")));
		json_object_set_new(out, "last_seen", time_json(hint(h, "last_seen")));
		domain_counts(h, &c);
		json_object_set_new(out, "all_time", counts_json(&c));
		json_object_set_new(out, "days", json_integer(days));
		json_object_set_new(out, "period", counts_json(&period));
		rk = rank(ips, &nrk);
		for (size_t i = 0; i < nrk && i < 10; i++) {
			json_t *o = json_object();

			json_object_set_new(o, "ip", json_string(rk[i].name));
			json_object_set_new(o, "messages", json_integer(rk[i].n));
			json_array_append_new(iparr, o);
		}
		free(rk);
		json_object_set_new(out, "top_ips", iparr);
		iparr = NULL;
		json_object_set_new(out, "recent", recent(q, org, domain, nrecent));
	}
	json_decref(iparr);
	json_decref(ips);
	freeReplyObject(h);
	if (q->failed) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* ---- top --------------------------------------------------------------- */

const char *
top_by_str(enum top_by by)
{
	return by == TOP_WORST ? "worst" : by == TOP_VOLUME ? "volume" : "dmarc-fail";
}

static const char *const domain_fields[] = {
	"total", "dmarc_pass", "dmarc_fail", "posture_score", "posture_grade", "auth_score",
	"last_seen", "aligned",
};

/* One row of "top": the metric and the domain's hash. */
static json_t *
top_row(const char *domain, const char *org, long long value, const redisReply *h)
{
	json_t *o = json_object();
	const char *f[MP_ARRAY_SIZE(domain_fields)];
	long long total;

	for (size_t i = 0; i < MP_ARRAY_SIZE(domain_fields); i++)
		f[i] = h->type == REDIS_REPLY_ARRAY && i < h->elements &&
		    h->element[i]->type == REDIS_REPLY_STRING ? h->element[i]->str : NULL;
	total = f[0] ? strtoll(f[0], NULL, 10) : 0;
	json_object_set_new(o, "domain", json_string(domain));
	json_object_set_new(o, "org", json_string(org));
	json_object_set_new(o, "value", json_integer(value));
	json_object_set_new(o, "posture_score", f[3] ? json_integer(strtol(f[3], NULL, 10)) : json_null());
	json_object_set_new(o, "grade", f[4] ? str_json(f[4], strlen(f[4])) : json_null());
	json_object_set_new(o, "auth_score", f[5] ? json_real(strtod(f[5], NULL)) : json_null());
	json_object_set_new(o, "messages", json_integer(total));
	json_object_set_new(o, "dmarc_pass_pct",
	    json_real(rate(f[1] ? strtoll(f[1], NULL, 10) : 0, total)));
	json_object_set_new(o, "dmarc_fail", json_integer(f[2] ? strtoll(f[2], NULL, 10) : 0));
	json_object_set_new(o, "aligned_pct",
	    json_real(rate(f[7] ? strtoll(f[7], NULL, 10) : 0, total)));
	json_object_set_new(o, "last_seen", time_json(f[6] ? strtoll(f[6], NULL, 10) : 0));
	return o;
}

/*
 * Fetches the domain hashes of cand[0..n) in one pipeline and appends
 * rows; with min_seen, domains not seen since then are left out. Stops
 * at want rows.
 */
static void
top_rows(struct rq *q, const struct ranked *cand, size_t n, long long min_seen, size_t want,
    json_t *rows)
{
	char (*orgs)[MP_DOMAIN_MAX] = xcalloc(n + 1, sizeof(*orgs));
	char key[MP_STORE_KEY_MAX];
	const char *argv[2 + MP_ARRAY_SIZE(domain_fields)];

	argv[0] = "HMGET";
	for (size_t i = 0; i < MP_ARRAY_SIZE(domain_fields); i++)
		argv[2 + i] = domain_fields[i];
	for (size_t i = 0; i < n; i++) {
		org_of(q, cand[i].name, orgs[i]);
		mp_store_key_domain(&q->o, key, orgs[i], cand[i].name);
		argv[1] = key;
		app(q, (int)MP_ARRAY_SIZE(argv), argv);
	}
	for (size_t i = 0; i < n; i++) {
		redisReply *h = get(q);
		long long seen;

		if (h == NULL)
			break;
		/* A member whose domain hash expired has no data left. */
		if (h->type == REDIS_REPLY_ARRAY && h->elements > 0 &&
		    h->element[0]->type == REDIS_REPLY_STRING && json_array_size(rows) < want) {
			seen = h->element[6]->type == REDIS_REPLY_STRING ?
			    strtoll(h->element[6]->str, NULL, 10) : 0;
			if (seen >= min_seen)
				json_array_append_new(rows, top_row(cand[i].name, orgs[i], cand[i].n, h));
		}
		freeReplyObject(h);
	}
	free(orgs);
}

json_t *
q_top(struct rq *q, enum top_by by, int n, int days)
{
	char day[9], key[MP_STORE_KEY_MAX];
	json_t *out = json_object(), *rows = json_array(), *map = json_object();
	struct ranked *rk = NULL;
	size_t nrk = 0;

	days = clamp_days(days);
	if (n < 1)
		n = 1;
	if (by == TOP_WORST) {
		redisReply *z;

		mp_store_key_worst(&q->o, key);
		app(q, 5, (const char *[]){ "ZREVRANGE", key, "0", "-1", "WITHSCORES" });
		if ((z = get(q)) != NULL) {
			size_t m = z->type == REDIS_REPLY_ARRAY ? z->elements / 2 : 0;

			rk = xcalloc(m + 1, sizeof(*rk));
			for (size_t i = 0; i < m; i++) {
				if (z->element[2 * i]->type != REDIS_REPLY_STRING)
					continue;
				json_object_set_new(map, z->element[2 * i]->str, json_true());
				/* The map owns a stable copy of the name. */
				rk[nrk].name = json_object_iter_key(json_object_iter_at(map,
				    z->element[2 * i]->str));
				rk[nrk].n = 100 - (long long)strtod(z->element[2 * i + 1]->str, NULL);
				if (rk[nrk].name != NULL)
					nrk++;
			}
			freeReplyObject(z);
		}
	} else {
		for (int i = 0; i < days; i++) {
			day_of(q, i, day);
			if (by == TOP_VOLUME)
				mp_store_key_volume(&q->o, key, day);
			else
				mp_store_key_dmarc_fail(&q->o, key, day);
			app(q, 5, (const char *[]){ "ZRANGE", key, "0", "-1", "WITHSCORES" });
		}
		for (int i = 0; i < days; i++) {
			redisReply *z = get(q);

			if (z == NULL)
				break;
			zset_sum(z, map);
			freeReplyObject(z);
		}
		if (!q->failed)
			rk = rank(map, &nrk);
	}
	/* Worst: checked in chunks, since filtering by last_seen may skip
	 * many; the others are already limited to the period. */
	for (size_t at = 0; !q->failed && at < nrk && json_array_size(rows) < (size_t)n;) {
		size_t chunk = by == TOP_WORST ? 200 : (size_t)n;

		if (chunk > nrk - at)
			chunk = nrk - at;
		top_rows(q, rk + at, chunk, by == TOP_WORST ? (long long)q->now - (long long)days * 86400 : 0,
		    (size_t)n, rows);
		at += chunk;
	}
	free(rk);
	json_decref(map);
	if (q->failed) {
		json_decref(rows);
		json_decref(out);
		return NULL;
	}
	json_object_set_new(out, "by", json_string(top_by_str(by)));
	json_object_set_new(out, "days", json_integer(days));
	json_object_set_new(out, "found", json_boolean(json_array_size(rows) > 0));
	json_object_set_new(out, "domains", rows);
	return out;
}

/* ---- ip ---------------------------------------------------------------- */

json_t *
q_ip(struct rq *q, const char *ip, int days)
{
	char day[9], key[MP_STORE_KEY_MAX];
	json_t *out = json_object(), *per = json_object(), *arr = json_array(), *totals = json_object();
	struct ranked *rk;
	size_t nrk;

	days = clamp_days(days);
	for (int i = 0; i < days; i++) {
		day_of(q, i, day);
		mp_store_key_ip(&q->o, key, ip, day);
		app(q, 2, (const char *[]){ "HGETALL", key });
	}
	for (int i = 0; i < days; i++) {
		redisReply *h = get(q);

		if (h == NULL)
			break;
		day_of(q, i, day);
		for (size_t k = 0; h->type == REDIS_REPLY_ARRAY && k + 1 < h->elements; k += 2) {
			const char *f = h->element[k]->str, *b1, *b2;
			char dom[MP_DOMAIN_MAX], spf[16], dmarc[16];
			long long n;
			json_t *d, *m;

			/* "domain|spf|dmarc"; anything else is not ours. */
			if (h->element[k]->type != REDIS_REPLY_STRING ||
			    h->element[k + 1]->type != REDIS_REPLY_STRING ||
			    (b1 = strchr(f, '|')) == NULL || (b2 = strchr(b1 + 1, '|')) == NULL ||
			    strchr(b2 + 1, '|') != NULL || (size_t)(b1 - f) >= sizeof(dom) ||
			    (size_t)(b2 - b1 - 1) >= sizeof(spf) || strlen(b2 + 1) >= sizeof(dmarc) ||
			    b1 == f)
				continue;
			memcpy(dom, f, (size_t)(b1 - f));
			dom[b1 - f] = '\0';
			memcpy(spf, b1 + 1, (size_t)(b2 - b1 - 1));
			spf[b2 - b1 - 1] = '\0';
			mp_strlcpy(dmarc, b2 + 1, sizeof(dmarc));
			n = strtoll(h->element[k + 1]->str, NULL, 10);
			if ((d = json_object_get(per, dom)) == NULL) {
				d = json_object();
				json_object_set_new(d, "domain", str_json(dom, strlen(dom)));
				json_object_set_new(d, "spf", json_object());
				json_object_set_new(d, "dmarc", json_object());
				json_object_set_new(d, "last_day", day_json(day));
				json_object_set_new(per, dom, d);
				if ((d = json_object_get(per, dom)) == NULL)
					continue;
			}
			m = json_object_get(d, "spf");
			json_object_set_new(m, spf, json_integer(n +
			    json_integer_value(json_object_get(m, spf))));
			m = json_object_get(d, "dmarc");
			json_object_set_new(m, dmarc, json_integer(n +
			    json_integer_value(json_object_get(m, dmarc))));
			json_object_set_new(totals, dom, json_integer(n +
			    json_integer_value(json_object_get(totals, dom))));
		}
		freeReplyObject(h);
	}
	if (q->failed) {
		json_decref(out);
		json_decref(per);
		json_decref(arr);
		json_decref(totals);
		return NULL;
	}
	rk = rank(totals, &nrk);
	for (size_t i = 0; i < nrk; i++) {
		json_t *d = json_object_get(per, rk[i].name);

		json_object_set_new(d, "messages", json_integer(rk[i].n));
		json_array_append(arr, d);
	}
	free(rk);
	json_object_set_new(out, "ip", json_string(ip));
	json_object_set_new(out, "days", json_integer(days));
	json_object_set_new(out, "found", json_boolean(nrk > 0));
	json_object_set_new(out, "domains", arr);
	json_decref(per);
	json_decref(totals);
	return out;
}

/* ---- audits ------------------------------------------------------------ */

#define MAX_TARGETS 1000    /* targets read from P audits, at most */

/* A stored audit entry (README "Redis key schema"), or NULL when it is
 * not one (written by something else, or cut). */
static json_t *
audit_entry(const redisReply *r)
{
	json_t *e;

	if (r->type != REDIS_REPLY_STRING ||
	    (e = json_loadb(r->str, r->len, 0, NULL)) == NULL)
		return NULL;
	if (!json_is_object(e) || !json_is_integer(json_object_get(e, "t")) ||
	    !json_is_object(json_object_get(e, "audit"))) {
		json_decref(e);
		return NULL;
	}
	return e;
}

/* A string field of a stored object as JSON (copied, printable). */
static json_t *
sfield(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? str_json(s, strlen(s)) : json_null();
}

/* The fields every audit row has: time, domain, score, grade. */
static void
audit_head(json_t *row, const json_t *e)
{
	const json_t *score = json_object_get(e, "score");

	json_object_set_new(row, "time", time_json(json_integer_value(json_object_get(e, "t"))));
	json_object_set_new(row, "domain", sfield(e, "domain"));
	json_object_set_new(row, "score", json_is_integer(score) ?
	    json_integer(json_integer_value(score)) : json_null());
	json_object_set_new(row, "grade", sfield(e, "grade"));
}

/* The checks of an audit with status st ("FAIL", "WARN"): their id, name
 * and finding into arr when it is not NULL; returns how many. */
static long long
audit_checks(const json_t *e, const char *st, json_t *arr)
{
	const json_t *checks = json_object_get(json_object_get(e, "audit"), "checks"), *c;
	long long n = 0;
	size_t i;

	json_array_foreach(checks, i, c) {
		const char *s = json_string_value(json_object_get(c, "status"));

		if (s == NULL || strcmp(s, st) != 0)
			continue;
		n++;
		if (arr != NULL) {
			json_t *o = json_object();

			json_object_set_new(o, "id", sfield(c, "id"));
			json_object_set_new(o, "name", sfield(c, "name"));
			json_object_set_new(o, "finding", sfield(c, "finding"));
			json_array_append_new(arr, o);
		}
	}
	return n;
}

json_t *
q_audits(struct rq *q, int n)
{
	char key[MP_STORE_KEY_MAX], stop[16];
	json_t *out = json_object(), *rows = json_array();
	redisReply *z;
	size_t asked = 0;

	mp_store_key_audits(&q->o, key);
	snprintf(stop, sizeof(stop), "%d", MAX_TARGETS - 1);
	app(q, 5, (const char *[]){ "ZREVRANGE", key, "0", stop, "WITHSCORES" });
	if ((z = get(q)) != NULL) {
		size_t m = z->type == REDIS_REPLY_ARRAY ? z->elements / 2 : 0;

		for (size_t i = 0; i < m; i++) {
			const redisReply *t = z->element[2 * i];

			/* Members with a NUL cannot name a key: not ours. */
			if (t->type != REDIS_REPLY_STRING || memchr(t->str, '\0', t->len) != NULL)
				continue;
			mp_store_key_audit(&q->o, key, t->str);
			app(q, 3, (const char *[]){ "LINDEX", key, "0" });
			asked++;
		}
		for (size_t i = 0, k = 0; i < m && k < asked; i++) {
			const redisReply *t = z->element[2 * i];
			redisReply *l;
			json_t *e, *row;

			if (t->type != REDIS_REPLY_STRING || memchr(t->str, '\0', t->len) != NULL)
				continue;
			k++;
			if ((l = get(q)) == NULL)
				break;
			/* A target whose list expired has nothing left to show. */
			if ((e = audit_entry(l)) != NULL && json_array_size(rows) < (size_t)n) {
				row = json_object();
				json_object_set_new(row, "target", str_json(t->str, t->len));
				audit_head(row, e);
				json_object_set_new(row, "fail",
				    json_integer(audit_checks(e, "FAIL", NULL)));
				json_object_set_new(row, "warn",
				    json_integer(audit_checks(e, "WARN", NULL)));
				json_array_append_new(rows, row);
			}
			json_decref(e);
			freeReplyObject(l);
		}
		freeReplyObject(z);
	}
	if (q->failed) {
		json_decref(rows);
		json_decref(out);
		return NULL;
	}
	json_object_set_new(out, "found", json_boolean(json_array_size(rows) > 0));
	json_object_set_new(out, "targets", rows);
	return out;
}

json_t *
q_audit_history(struct rq *q, const char *target, int n)
{
	char key[MP_STORE_KEY_MAX], stop[16];
	json_t *out = json_object(), *arr = json_array();
	redisReply *l;

	if (n < 1)
		n = 1;
	if (n > MP_STORE_AUDITS)
		n = MP_STORE_AUDITS;
	mp_store_key_audit(&q->o, key, target);
	snprintf(stop, sizeof(stop), "%d", n - 1);
	app(q, 4, (const char *[]){ "LRANGE", key, "0", stop });
	if ((l = get(q)) != NULL) {
		for (size_t i = 0; l->type == REDIS_REPLY_ARRAY && i < l->elements; i++) {
			json_t *e = audit_entry(l->element[i]), *row, *fails, *warns;
			const json_t *cap;

			if (e == NULL)
				continue;
			row = json_object();
			audit_head(row, e);
			cap = json_object_get(json_object_get(e, "audit"), "cap");
			json_object_set_new(row, "cap", json_is_string(cap) ?
			    sfield(json_object_get(e, "audit"), "cap") : json_null());
			fails = json_array();
			warns = json_array();
			audit_checks(e, "FAIL", fails);
			audit_checks(e, "WARN", warns);
			json_object_set_new(row, "fail", fails);
			json_object_set_new(row, "warn", warns);
			json_array_append_new(arr, row);
			json_decref(e);
		}
		freeReplyObject(l);
	}
	if (q->failed) {
		json_decref(arr);
		json_decref(out);
		return NULL;
	}
	json_object_set_new(out, "target", json_string(target));
	json_object_set_new(out, "found", json_boolean(json_array_size(arr) > 0));
	json_object_set_new(out, "audits", arr);
	return out;
}
