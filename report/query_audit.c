/*
 * query_audit: the audits that mailposture-audit stored (README "Redis
 * key schema"): the latest of each target, or the history of one.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "query_int.h"

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

	return s ? rq_str_json(s, strlen(s)) : json_null();
}

/* The fields every audit row has: time, domain, score, grade. */
static void
audit_head(json_t *row, const json_t *e)
{
	const json_t *score = json_object_get(e, "score");

	json_object_set_new(row, "time", rq_time_json(json_integer_value(json_object_get(e, "t"))));
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
	rq_app(q, 5, (const char *[]){ "ZREVRANGE", key, "0", stop, "WITHSCORES" });
	if ((z = rq_get(q)) != NULL) {
		size_t m = z->type == REDIS_REPLY_ARRAY ? z->elements / 2 : 0;

		for (size_t i = 0; i < m; i++) {
			const redisReply *t = z->element[2 * i];

			/* Members with a NUL cannot name a key: not ours. */
			if (t->type != REDIS_REPLY_STRING || memchr(t->str, '\0', t->len) != NULL)
				continue;
			mp_store_key_audit(&q->o, key, t->str);
			rq_app(q, 3, (const char *[]){ "LINDEX", key, "0" });
			asked++;
		}
		for (size_t i = 0, k = 0; i < m && k < asked; i++) {
			const redisReply *t = z->element[2 * i];
			redisReply *l;
			json_t *e, *row;

			if (t->type != REDIS_REPLY_STRING || memchr(t->str, '\0', t->len) != NULL)
				continue;
			k++;
			if ((l = rq_get(q)) == NULL)
				break;
			/* A target whose list expired has nothing left to show. */
			if ((e = audit_entry(l)) != NULL && json_array_size(rows) < (size_t)n) {
				row = json_object();
				json_object_set_new(row, "target", rq_str_json(t->str, t->len));
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
	rq_app(q, 4, (const char *[]){ "LRANGE", key, "0", stop });
	if ((l = rq_get(q)) != NULL) {
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
