/*
 * store_posture: posture scores shared between MX hosts.
 *
 * Publishing and bringing in run on the writer thread, as items of its
 * pipeline: a score computed here is one XADD to the stream P postures,
 * and once a sink is set (the milter's posture cache), an XRANGE at
 * most once a second reads what the other processes added since the
 * last one. The message path never waits for Redis.
 *
 * mp_store_get_posture() is the synchronous reader of one domain's
 * score, for tools: its own connection, a short timeout, and a backoff
 * so that a failing Redis costs nothing per call.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

#define SHARE_KEEP "50000"          /* entries P postures keeps, about */
#define POLL_MS 1000                /* between two polls */
#define POLL_COUNT 1000             /* entries one poll reads, at most */

/* ---- publishing -------------------------------------------------------- */

bool
mp_store_share_posture(struct mp_store *s, const char *domain, int score, const char *grade,
    const char *host, time_t now)
{
	struct item *it;

	if (s == NULL || domain == NULL || domain[0] == '\0' || score < 0 || score > 100)
		return false;
	it = xcalloc(1, sizeof(*it));
	it->kind = ITEM_SHARE;
	mp_store_record_init(&it->r);
	mp_strlcpy(it->r.from_domain, domain, sizeof(it->r.from_domain));
	it->r.posture_score = score;
	mp_strlcpy(it->r.posture_grade, grade ? grade : "", sizeof(it->r.posture_grade));
	mp_strlcpy(it->r.host, host ? host : "", sizeof(it->r.host));
	it->r.time = now;
	return store_enqueue(s, it);
}

void
mp_store_share_sink(struct mp_store *s, mp_store_sink_fn sink, void *arg, long max_age)
{
	pthread_mutex_lock(&s->smu);
	s->sink = sink;
	s->sink_arg = arg;
	s->share_max_age = max_age;
	pthread_mutex_unlock(&s->smu);
	/* The first poll goes out now rather than after the idle wait. */
	pthread_mutex_lock(&s->mu);
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
}

static void
push(struct store_evalargs *a, const char *v)
{
	a->argv[a->argc] = v;
	a->argvlen[a->argc] = strlen(v);
	a->argc++;
}

void
store_share_args(struct mp_store *s, const struct item *it, struct store_evalargs *a)
{
	const char *w[] = { "XADD", a->keys[0], "MAXLEN", "~", SHARE_KEEP, "*",
	    "d", it->r.from_domain, "s", a->score, "g", it->r.posture_grade, "t", a->now,
	    "h", it->r.host, "i", s->instance };
	const char *poll[] = { "XRANGE", a->keys[0], s->poll_after, "+", "COUNT", a->cap };

	a->argc = 0;
	store_key_postures(&s->o, a->keys[0]);
	a->route = a->keys[0];
	a->slot = -1;
	snprintf(a->score, sizeof(a->score), "%d", it->r.posture_score);
	snprintf(a->now, sizeof(a->now), "%lld", (long long)it->r.time);
	snprintf(a->cap, sizeof(a->cap), "%d", POLL_COUNT);
	if (it->kind == ITEM_SHARE)
		for (size_t i = 0; i < MP_ARRAY_SIZE(w); i++)
			push(a, w[i]);
	else
		for (size_t i = 0; i < MP_ARRAY_SIZE(poll); i++)
			push(a, poll[i]);
}

/* ---- bringing in ------------------------------------------------------- */

struct item *
store_poll_item(struct mp_store *s)
{
	unsigned long long now = mp_now_ms();
	struct item *it;
	long max_age;
	bool on;

	if (s->poll_out || now < s->poll_at_ms)
		return NULL;
	pthread_mutex_lock(&s->smu);
	on = s->sink != NULL;
	max_age = s->share_max_age;
	pthread_mutex_unlock(&s->smu);
	if (!on)
		return NULL;
	/* The first poll reads back as far as a score is still of use. */
	if (s->poll_after[0] == '\0')
		snprintf(s->poll_after, sizeof(s->poll_after), "%llu-0",
		    now > (unsigned long long)max_age * 1000 ? now - (unsigned long long)max_age * 1000 : 0);
	it = xcalloc(1, sizeof(*it));
	it->kind = ITEM_POLL;
	mp_store_record_init(&it->r);
	s->poll_out = true;
	return it;
}

/* A field of a stream entry's flat name/value array, or "". */
static const char *
entry_field(const redisReply *kv, const char *name)
{
	for (size_t i = 0; i + 1 < kv->elements; i += 2)
		if (kv->element[i]->type == REDIS_REPLY_STRING &&
		    kv->element[i + 1]->type == REDIS_REPLY_STRING &&
		    strcmp(kv->element[i]->str, name) == 0)
			return kv->element[i + 1]->str;
	return "";
}

/* One entry ([id, [name, value, ...]]) to the sink, under s->smu. */
static void
entry_import(struct mp_store *s, const redisReply *kv, time_t now)
{
	struct mp_store_shared p;
	char *end;
	long score;

	if (strcmp(entry_field(kv, "i"), s->instance) == 0 || s->sink == NULL)
		return;
	p.domain = entry_field(kv, "d");
	p.grade = entry_field(kv, "g");
	p.host = entry_field(kv, "h");
	p.computed_at = (time_t)strtoll(entry_field(kv, "t"), NULL, 10);
	score = strtol(entry_field(kv, "s"), &end, 10);
	if (p.domain[0] == '\0' || *end != '\0' || end == entry_field(kv, "s") || score < 0 ||
	    score > 100 || strlen(p.grade) > 2 || p.computed_at <= 0 ||
	    now - p.computed_at >= s->share_max_age)
		return;
	p.score = (int)score;
	s->sink(s->sink_arg, &p);
}

void
store_poll_reply(struct mp_store *s, const redisReply *r)
{
	time_t now = time(NULL);
	size_t n = r != NULL && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;

	pthread_mutex_lock(&s->smu);
	for (size_t i = 0; i < n; i++) {
		const redisReply *e = r->element[i];

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING || e->element[0]->len > 40 ||
		    e->element[1]->type != REDIS_REPLY_ARRAY)
			continue;
		snprintf(s->poll_after, sizeof(s->poll_after), "(%s", e->element[0]->str);
		entry_import(s, e->element[1], now);
	}
	pthread_mutex_unlock(&s->smu);
	s->poll_out = false;
	/* A full answer: more is waiting, read it at once. */
	s->poll_at_ms = mp_now_ms() + (n >= POLL_COUNT ? 0 : POLL_MS);
}

/* ---- the synchronous reader -------------------------------------------- */

/*
 * Under s->rmu: drops the connections and waits a backoff step before
 * the next try. Logs first: why may be a connection's own errstr.
 */
static void
reader_failed(struct mp_store *s, const char *why)
{
	mp_log(LOG_DEBUG, "redis posture read: %s", why);
	mp_redis_nodes_close_all(s->rn);
	s->r_located = false;
	s->r_backoff_ms = store_backoff_next(&s->o, s->r_backoff_ms);
	s->r_retry_at = mp_now_ms() + s->r_backoff_ms;
}

/* The HMGET reply: true + out when it holds a score at most max_age old. */
static bool
posture_from_reply(const redisReply *r, long max_age, struct mp_store_posture *out)
{
	char *end;
	long score;
	long long at;
	time_t now = time(NULL);

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING || r->element[2]->type != REDIS_REPLY_STRING)
		return false;
	score = strtol(r->element[0]->str, &end, 10);
	at = strtoll(r->element[2]->str, NULL, 10);
	if (*end != '\0' || score < 0 || score > 100 || at <= 0 || (long long)now - at > max_age)
		return false;
	out->score = (int)score;
	if (r->element[1]->type == REDIS_REPLY_STRING)
		mp_strlcpy(out->grade, r->element[1]->str, sizeof(out->grade));
	out->computed_at = (time_t)at;
	return true;
}

/* Under s->rmu: the connection that serves key, NULL while backing off or failing. */
static redisContext *
reader_conn(struct mp_store *s, const char *key)
{
	char err[512];
	redisContext *c;

	if (mp_now_ms() < s->r_retry_at)
		return NULL;
	if (!s->r_located && !(s->r_located = mp_store_locate(&s->ro, s->rn, true, err,
	    sizeof(err)))) {
		reader_failed(s, err);
		return NULL;
	}
	c = mp_redis_nodes_conn(s->rn, mp_redis_nodes_of_key(s->rn, key, strlen(key)), NULL, err,
	    sizeof(err));
	if (c == NULL)
		reader_failed(s, err);
	return c;
}

bool
mp_store_get_posture(struct mp_store *s, const char *domain, const char *org, long max_age,
    struct mp_store_posture *out)
{
	char key[MP_STORE_KEY_MAX];
	const char *argv[5] = { "HMGET", key, "posture_score", "posture_grade", "posture_at" };
	size_t argvlen[5];
	redisContext *c;
	redisReply *r;
	struct timespec ts;
	bool found = false;

	memset(out, 0, sizeof(*out));
	if (s == NULL || domain == NULL || domain[0] == '\0')
		return false;
	store_deadline(&ts, s->o.read_timeout_ms);
	/* Another thread is reading: waiting longer than a read would take
	 * gains nothing over computing the posture ourselves. */
	if (pthread_mutex_timedlock(&s->rmu, &ts) != 0)
		return false;
	mp_store_key_domain(&s->o, key, org && org[0] ? org : domain, domain);
	if ((c = reader_conn(s, key)) == NULL)
		goto out;
	for (int i = 0; i < 5; i++)
		argvlen[i] = strlen(argv[i]);
	if ((r = redisCommandArgv(c, 5, argv, argvlen)) == NULL) {
		reader_failed(s, c->errstr);
		goto out;
	}
	s->r_backoff_ms = 0;
	if (r->type == REDIS_REPLY_ERROR)
		reader_failed(s, r->str);
	else
		found = posture_from_reply(r, max_age, out);
	freeReplyObject(r);
out:
	pthread_mutex_unlock(&s->rmu);
	return found;
}
