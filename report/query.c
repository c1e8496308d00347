/*
 * query: the questions about messages (summary, domain, top, ip,
 * messages), read from the key schema of policy/store (README "Redis key
 * schema") through the pipelined reads of query_read.c.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "query_int.h"

/* ---- summary ----------------------------------------------------------- */

json_t *
q_summary(struct rq *q, int days)
{
	char day[9], key[MP_STORE_KEY_MAX], vkey[MP_STORE_KEY_MAX];
	struct mp_store_counts total;
	json_t *out = json_object(), *arr = json_array();

	days = rq_clamp_days(days);
	memset(&total, 0, sizeof(total));
	for (int i = 0; i < days; i++) {
		rq_day_of(q, i, day);
		mp_store_key_day(&q->o, key, day);
		mp_store_key_volume(&q->o, vkey, day);
		rq_app(q, 2, (const char *[]){ "HGETALL", key });
		rq_app(q, 2, (const char *[]){ "ZCARD", vkey });
	}
	for (int i = 0; i < days; i++) {
		redisReply *h = rq_get(q), *z = rq_get(q);
		struct mp_store_counts c;
		json_t *d;

		if (h == NULL || z == NULL) {
			if (h)
				freeReplyObject(h);
			break;
		}
		memset(&c, 0, sizeof(c));
		rq_outcome_hash(h, &c);
		rq_counts_add(&total, &c);
		rq_day_of(q, i, day);
		d = rq_counts_json(&c);
		json_object_set_new(d, "day", rq_day_json(day));
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
	json_object_set_new(out, "total", rq_counts_json(&total));
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
	rq_app(q, 4, (const char *[]){ "LRANGE", key, "0", stop });
	if ((l = rq_get(q)) == NULL)
		return arr;
	if (l->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i < l->elements; i++) {
			if (l->element[i]->type != REDIS_REPLY_STRING)
				continue;
			rq_app(q, 2, (const char *[]){ "GET", l->element[i]->str });
			asked++;
		}
	}
	for (size_t i = 0; i < asked; i++) {
		redisReply *m = rq_get(q);
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

	rq_org_of(q, domain, org);
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

/* The ten source IPs of the most messages, from map (ip -> messages). */
static json_t *
top_ips(json_t *map)
{
	json_t *arr = json_array();
	struct rq_ranked *rk;
	size_t nrk;

	rk = rq_rank(map, &nrk);
	for (size_t i = 0; i < nrk && i < 10; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "ip", json_string(rk[i].name));
		json_object_set_new(o, "messages", json_integer(rk[i].n));
		json_array_append_new(arr, o);
	}
	free(rk);
	return arr;
}

json_t *
q_domain(struct rq *q, const char *domain, int days, int nrecent)
{
	char org[MP_DOMAIN_MAX], key[MP_STORE_KEY_MAX], day[9];
	struct mp_store_counts c, period;
	redisReply *h;
	json_t *out = json_object(), *ips = json_object();
	const char *pub;

	days = rq_clamp_days(days);
	rq_org_of(q, domain, org);
	mp_store_key_domain(&q->o, key, org, domain);
	rq_app(q, 2, (const char *[]){ "HGETALL", key });
	for (int i = 0; i < days; i++) {
		rq_day_of(q, i, day);
		mp_store_key_domain_ips(&q->o, key, org, domain, day);
		rq_app(q, 5, (const char *[]){ "ZREVRANGE", key, "0", "99", "WITHSCORES" });
		mp_store_key_domain_day(&q->o, key, org, domain, day);
		rq_app(q, 2, (const char *[]){ "HGETALL", key });
	}
	h = rq_get(q);
	memset(&period, 0, sizeof(period));
	for (int i = 0; i < days && h != NULL; i++) {
		redisReply *z = rq_get(q), *dd = z ? rq_get(q) : NULL;

		if (z)
			rq_zset_sum(z, ips);
		if (dd)
			rq_outcome_hash(dd, &period);
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
		return NULL;
	}
	json_object_set_new(out, "domain", json_string(domain));
	json_object_set_new(out, "org", json_string(org));
	json_object_set_new(out, "found", json_boolean(h->elements > 0));
	if (h->elements > 0) {
		rq_scores_json(out, h);
		pub = rq_hfield(h, "published");
		json_object_set_new(out, "published_policy",
		    pub ? rq_str_json(pub, strlen(pub)) : json_null());
		json_object_set_new(out, "first_seen", rq_time_json(rq_hint(h, "first_seen")));
		json_object_set_new(out, "last_seen", rq_time_json(rq_hint(h, "last_seen")));
		rq_domain_counts(h, &c);
		json_object_set_new(out, "all_time", rq_counts_json(&c));
		json_object_set_new(out, "days", json_integer(days));
		json_object_set_new(out, "period", rq_counts_json(&period));
		json_object_set_new(out, "top_ips", top_ips(ips));
		json_object_set_new(out, "recent", recent(q, org, domain, nrecent));
	}
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
	json_object_set_new(o, "posture_score",
	    f[3] ? json_integer(strtol(f[3], NULL, 10)) : json_null());
	json_object_set_new(o, "grade", f[4] ? rq_str_json(f[4], strlen(f[4])) : json_null());
	json_object_set_new(o, "auth_score", f[5] ? json_real(strtod(f[5], NULL)) : json_null());
	json_object_set_new(o, "messages", json_integer(total));
	json_object_set_new(o, "dmarc_pass_pct",
	    json_real(rq_rate(f[1] ? strtoll(f[1], NULL, 10) : 0, total)));
	json_object_set_new(o, "dmarc_fail", json_integer(f[2] ? strtoll(f[2], NULL, 10) : 0));
	json_object_set_new(o, "aligned_pct",
	    json_real(rq_rate(f[7] ? strtoll(f[7], NULL, 10) : 0, total)));
	json_object_set_new(o, "last_seen", rq_time_json(f[6] ? strtoll(f[6], NULL, 10) : 0));
	return o;
}

/*
 * Fetches the domain hashes of cand[0..n) in one pipeline and appends
 * rows; with min_seen, domains not seen since then are left out. Stops
 * at want rows.
 */
static void
top_rows(struct rq *q, const struct rq_ranked *cand, size_t n, long long min_seen, size_t want,
    json_t *rows)
{
	char (*orgs)[MP_DOMAIN_MAX] = xcalloc(n + 1, sizeof(*orgs));
	char key[MP_STORE_KEY_MAX];
	const char *argv[2 + MP_ARRAY_SIZE(domain_fields)];

	argv[0] = "HMGET";
	for (size_t i = 0; i < MP_ARRAY_SIZE(domain_fields); i++)
		argv[2 + i] = domain_fields[i];
	for (size_t i = 0; i < n; i++) {
		rq_org_of(q, cand[i].name, orgs[i]);
		mp_store_key_domain(&q->o, key, orgs[i], cand[i].name);
		argv[1] = key;
		rq_app(q, (int)MP_ARRAY_SIZE(argv), argv);
	}
	for (size_t i = 0; i < n; i++) {
		redisReply *h = rq_get(q);
		long long seen;

		if (h == NULL)
			break;
		/* A member whose domain hash expired has no data left. */
		if (h->type == REDIS_REPLY_ARRAY && h->elements > 0 &&
		    h->element[0]->type == REDIS_REPLY_STRING && json_array_size(rows) < want) {
			seen = h->element[6]->type == REDIS_REPLY_STRING ?
			    strtoll(h->element[6]->str, NULL, 10) : 0;
			if (seen >= min_seen)
				json_array_append_new(rows,
				    top_row(cand[i].name, orgs[i], cand[i].n, h));
		}
		freeReplyObject(h);
	}
	free(orgs);
}

/* The domains of the worst posture scores, worst first, valued 100 -
 * score; map holds their names. NULL when Redis failed. */
static struct rq_ranked *
top_worst(struct rq *q, json_t *map, size_t *n_r)
{
	char key[MP_STORE_KEY_MAX];
	struct rq_ranked *rk;
	redisReply *z;
	size_t m, nrk = 0;

	*n_r = 0;
	mp_store_key_worst(&q->o, key);
	rq_app(q, 5, (const char *[]){ "ZREVRANGE", key, "0", "-1", "WITHSCORES" });
	if ((z = rq_get(q)) == NULL)
		return NULL;
	m = z->type == REDIS_REPLY_ARRAY ? z->elements / 2 : 0;
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
	*n_r = nrk;
	return rk;
}

/* The domains of the most messages or DMARC failures over the period,
 * summed into map; NULL when Redis failed. */
static struct rq_ranked *
top_period(struct rq *q, enum top_by by, int days, json_t *map, size_t *n_r)
{
	char day[9], key[MP_STORE_KEY_MAX];

	*n_r = 0;
	for (int i = 0; i < days; i++) {
		rq_day_of(q, i, day);
		if (by == TOP_VOLUME)
			mp_store_key_volume(&q->o, key, day);
		else
			mp_store_key_dmarc_fail(&q->o, key, day);
		rq_app(q, 5, (const char *[]){ "ZRANGE", key, "0", "-1", "WITHSCORES" });
	}
	for (int i = 0; i < days; i++) {
		redisReply *z = rq_get(q);

		if (z == NULL)
			break;
		rq_zset_sum(z, map);
		freeReplyObject(z);
	}
	return q->failed ? NULL : rq_rank(map, n_r);
}

json_t *
q_top(struct rq *q, enum top_by by, int n, int days)
{
	json_t *out = json_object(), *rows = json_array(), *map = json_object();
	struct rq_ranked *rk;
	size_t nrk;

	days = rq_clamp_days(days);
	if (n < 1)
		n = 1;
	if (by == TOP_WORST)
		rk = top_worst(q, map, &nrk);
	else
		rk = top_period(q, by, days, map, &nrk);
	/* Worst: checked in chunks, since filtering by last_seen may skip
	 * many; the others are already limited to the period. */
	for (size_t at = 0; !q->failed && at < nrk && json_array_size(rows) < (size_t)n;) {
		size_t chunk = by == TOP_WORST ? 200 : (size_t)n;

		if (chunk > nrk - at)
			chunk = nrk - at;
		top_rows(q, rk + at, chunk,
		    by == TOP_WORST ? (long long)q->now - (long long)days * 86400 : 0,
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

#define IP_RESULT_MAX 16    /* an SPF or DMARC result: "temperror" */

/* A field of an IP's daily hash, "domain|spf|dmarc"; false when it is
 * anything else (not ours). */
static bool
ip_field(const char *f, char dom[MP_DOMAIN_MAX], char spf[IP_RESULT_MAX],
    char dmarc[IP_RESULT_MAX])
{
	const char *b1, *b2;

	if ((b1 = strchr(f, '|')) == NULL || (b2 = strchr(b1 + 1, '|')) == NULL ||
	    strchr(b2 + 1, '|') != NULL || (size_t)(b1 - f) >= MP_DOMAIN_MAX ||
	    (size_t)(b2 - b1 - 1) >= IP_RESULT_MAX || strlen(b2 + 1) >= IP_RESULT_MAX || b1 == f)
		return false;
	memcpy(dom, f, (size_t)(b1 - f));
	dom[b1 - f] = '\0';
	memcpy(spf, b1 + 1, (size_t)(b2 - b1 - 1));
	spf[b2 - b1 - 1] = '\0';
	mp_strlcpy(dmarc, b2 + 1, IP_RESULT_MAX);
	return true;
}

/* Adds one day's hash to per (domain -> its SPF and DMARC results) and
 * totals (domain -> messages). */
static void
ip_day(const redisReply *h, const char *day, json_t *per, json_t *totals)
{
	for (size_t k = 0; h->type == REDIS_REPLY_ARRAY && k + 1 < h->elements; k += 2) {
		char dom[MP_DOMAIN_MAX], spf[IP_RESULT_MAX], dmarc[IP_RESULT_MAX];
		long long n;
		json_t *d;

		if (h->element[k]->type != REDIS_REPLY_STRING ||
		    h->element[k + 1]->type != REDIS_REPLY_STRING ||
		    !ip_field(h->element[k]->str, dom, spf, dmarc))
			continue;
		n = strtoll(h->element[k + 1]->str, NULL, 10);
		if ((d = json_object_get(per, dom)) == NULL) {
			d = json_object();
			json_object_set_new(d, "domain", rq_str_json(dom, strlen(dom)));
			json_object_set_new(d, "spf", json_object());
			json_object_set_new(d, "dmarc", json_object());
			json_object_set_new(d, "last_day", rq_day_json(day));
			json_object_set_new(per, dom, d);
			if ((d = json_object_get(per, dom)) == NULL)
				continue;
		}
		rq_json_add(json_object_get(d, "spf"), spf, n);
		rq_json_add(json_object_get(d, "dmarc"), dmarc, n);
		rq_json_add(totals, dom, n);
	}
}

json_t *
q_ip(struct rq *q, const char *ip, int days)
{
	char day[9], key[MP_STORE_KEY_MAX];
	json_t *out = json_object(), *per = json_object(), *arr = json_array();
	json_t *totals = json_object();
	struct rq_ranked *rk;
	size_t nrk;

	days = rq_clamp_days(days);
	for (int i = 0; i < days; i++) {
		rq_day_of(q, i, day);
		mp_store_key_ip(&q->o, key, ip, day);
		rq_app(q, 2, (const char *[]){ "HGETALL", key });
	}
	for (int i = 0; i < days; i++) {
		redisReply *h = rq_get(q);

		if (h == NULL)
			break;
		rq_day_of(q, i, day);
		ip_day(h, day, per, totals);
		freeReplyObject(h);
	}
	if (q->failed) {
		json_decref(out);
		json_decref(per);
		json_decref(arr);
		json_decref(totals);
		return NULL;
	}
	rk = rq_rank(totals, &nrk);
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
