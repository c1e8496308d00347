/*
 * store_audit: the audit history. mailposture-audit stores one audit
 * synchronously (a one-shot command: no queue, no thread) in one
 * pipelined MULTI/EXEC; mailposture-report reads it. On a Cluster the
 * target's list and the index of targets sit in two slots: the list's
 * transaction goes first, so that a target in the index has its list.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "redis_slot.h"
#include "store_int.h"

/* A printable copy of s as a JSON string (never NULL, unlike json_string
 * on bytes that are not UTF-8). */
static json_t *
printable_json(const char *s, size_t max)
{
	struct mp_buf b = MP_BUF_INIT;
	json_t *j;

	mp_printable(&b, s ? s : "", s ? strlen(s) : 0, max);
	j = json_string(mp_buf_str(&b));
	mp_buf_free(&b);
	return j ? j : json_string("");
}

/* The stored entry (README "Redis key schema"); NULL + err when json is
 * not one JSON object. The caller frees it. */
static char *
audit_entry(const char *target, const char *domain, int score, const char *grade,
    const char *json, time_t when, char *err, size_t errlen)
{
	json_t *audit, *e;
	json_error_t jerr;
	char *doc;

	if (strlen(json) > MP_STORE_AUDIT_MAX) {
		snprintf(err, errlen, "the audit is larger than %d bytes", MP_STORE_AUDIT_MAX);
		return NULL;
	}
	if ((audit = json_loads(json, 0, &jerr)) == NULL || !json_is_object(audit)) {
		snprintf(err, errlen, "the audit is not a JSON object");
		json_decref(audit);
		return NULL;
	}
	e = json_object();
	json_object_set_new(e, "t", json_integer((json_int_t)when));
	json_object_set_new(e, "target", printable_json(target, MP_SHOW_TEXT));
	json_object_set_new(e, "domain", printable_json(domain, MP_SHOW_DOMAIN));
	json_object_set_new(e, "score", score >= 0 && score <= 100 ?
	    json_integer(score) : json_null());
	json_object_set_new(e, "grade", printable_json(grade, MP_SHOW_TOKEN));
	json_object_set_new(e, "audit", audit);
	doc = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(e);
	if (doc == NULL)
		snprintf(err, errlen, "out of memory");
	return doc;
}

/* The text of an error reply for err, printable. */
static void
audit_reply_error(const char *addr, const redisReply *r, char *err, size_t errlen)
{
	char txt[STORE_REPLY_TEXT];

	store_reply_text(r, txt, sizeof(txt));
	snprintf(err, errlen, "redis at %s: %s", addr, txt);
}

/* EXEC's reply to the nqueued commands of the transaction: true when each ran. */
static bool
audit_exec_reply(const char *addr, const redisReply *r, size_t nqueued, char *err,
    size_t errlen)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements != nqueued) {
		if (err[0] == '\0')
			snprintf(err, errlen, "redis at %s: the transaction was not run", addr);
		return false;
	}
	for (size_t k = 0; k < r->elements; k++) {
		if (r->element[k]->type == REDIS_REPLY_ERROR) {
			audit_reply_error(addr, r->element[k], err, errlen);
			return false;
		}
	}
	return true;
}

/*
 * Runs transactions (MULTI, the commands, EXEC) in one round trip:
 * everything is written, then the replies read. True when every EXEC
 * ran every command. err must be "".
 */
static bool
audit_transaction(redisContext *c, const char *addr, const char *const cmd[][5], int n,
    char *err, size_t errlen)
{
	int multi = 0, execs = 0, good = 0;

	for (int i = 0; i < n; i++) {
		size_t len[5];
		int argc = 0;

		for (; argc < 5 && cmd[i][argc] != NULL; argc++)
			len[argc] = strlen(cmd[i][argc]);
		if (redisAppendCommandArgv(c, argc, (const char **)cmd[i], len) != REDIS_OK) {
			snprintf(err, errlen, "redis at %s: %s", addr, c->errstr);
			return false;
		}
	}
	for (int i = 0; i < n; i++) {
		redisReply *r = NULL;

		if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL) {
			snprintf(err, errlen, "redis at %s: %s", addr,
			    c->errstr[0] ? c->errstr : "connection lost");
			return false;
		}
		if (strcmp(cmd[i][0], "MULTI") == 0)
			multi = i;
		execs += strcmp(cmd[i][0], "EXEC") == 0;
		if (r->type == REDIS_REPLY_ERROR) {
			/* A command refused while queueing: EXEC then says
			 * EXECABORT; the first error is the one that explains. */
			if (err[0] == '\0')
				audit_reply_error(addr, r, err, errlen);
		} else if (strcmp(cmd[i][0], "EXEC") == 0) {
			good += audit_exec_reply(addr, r, (size_t)(i - multi - 1), err, errlen);
		}
		freeReplyObject(r);
	}
	return execs > 0 && good == execs;
}

/* Runs the transactions of cmd[0..n) on the server of key. */
static bool
audit_run(struct mp_redis_nodes *nodes, const char *key, const char *const cmd[][5], int n,
    char *err, size_t errlen)
{
	size_t node = mp_redis_nodes_of_key(nodes, key, strlen(key));
	redisContext *c = mp_redis_nodes_conn(nodes, node, NULL, err, errlen);

	if (c == NULL)
		return false;
	err[0] = '\0';
	return audit_transaction(c, mp_redis_nodes_addr(nodes, node), cmd, n, err, errlen);
}

bool
mp_store_put_audit(const struct mp_store_options *o, const char *target, const char *domain,
    int score, const char *grade, const char *json, time_t when, char *err, size_t errlen)
{
	char key[MP_STORE_KEY_MAX], zkey[MP_STORE_KEY_MAX], ttl[24], when_s[24], cut[32];
	char keep[16];
	struct mp_store_options oc = *o;
	struct mp_buf member = MP_BUF_INIT;
	struct mp_redis_nodes *nodes;
	char *doc;
	bool ok;

	if (target == NULL || target[0] == '\0' || json == NULL) {
		snprintf(err, errlen, "no audit target or result to store");
		return false;
	}
	if ((doc = audit_entry(target, domain, score, grade, json, when, err, errlen)) == NULL)
		return false;
	if (!mp_store_options_enabled(o)) {
		snprintf(err, errlen, "no Redis address configured");
		free(doc);
		return false;
	}
	/* The member is the printable target, the same text as in the entry:
	 * the report builds the list key from it. */
	mp_printable(&member, target, strlen(target), MP_SHOW_TEXT);
	mp_store_key_audit(o, key, mp_buf_str(&member));
	mp_store_key_audits(o, zkey);
	snprintf(ttl, sizeof(ttl), "%ld", o->ttl_domain);
	snprintf(when_s, sizeof(when_s), "%lld", (long long)when);
	/* Targets not audited for ttl_domain have no list left: drop them. */
	snprintf(cut, sizeof(cut), "(%lld", (long long)when - (long long)o->ttl_domain);
	snprintf(keep, sizeof(keep), "%d", MP_STORE_AUDITS - 1);

	const char *const cmd[][5] = {
		{ "MULTI" },
		{ "LPUSH", key, doc },
		{ "LTRIM", key, "0", keep },
		{ "EXPIRE", key, ttl },
		{ "EXEC" },
		{ "MULTI" },
		{ "ZADD", zkey, when_s, mp_buf_str(&member) },
		{ "ZREMRANGEBYSCORE", zkey, "-inf", cut },
		{ "EXPIRE", zkey, ttl },
		{ "EXEC" },
	};

	nodes = mp_redis_nodes_new(mp_store_dial, &oc);
	if ((ok = mp_store_locate(&oc, nodes, false, err, errlen))) {
		/* One round trip, unless a Cluster puts the keys in two slots. */
		if (mp_redis_nodes_is_cluster(nodes) &&
		    mp_redis_key_slot(key, strlen(key)) != mp_redis_key_slot(zkey, strlen(zkey)))
			ok = audit_run(nodes, key, cmd, 5, err, errlen) &&
			    audit_run(nodes, zkey, cmd + 5, 5, err, errlen);
		else
			ok = audit_run(nodes, key, cmd, 10, err, errlen);
	}
	if (ok)
		err[0] = '\0';
	mp_redis_nodes_free(&nodes);
	mp_buf_free(&member);
	free(doc);
	return ok;
}
