/*
 * store_posture: the posture cache shared between MX hosts, read on the
 * SMTP path. It has its own connection (not the writer's), a short
 * timeout, and a backoff so that a failing Redis costs nothing per
 * message.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

/*
 * Under s->rmu: drops the connection and waits a backoff step before the
 * next try. Logs first: why may be the connection's own errstr.
 */
static void
reader_failed(struct mp_store *s, const char *why)
{
	mp_log(LOG_DEBUG, "redis posture read: %s", why);
	if (s->rc != NULL) {
		redisFree(s->rc);
		s->rc = NULL;
	}
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

/* Under s->rmu: the reader's connection, NULL while backing off or failing. */
static redisContext *
reader_conn(struct mp_store *s)
{
	char err[512];

	if (s->rc == NULL && mp_now_ms() >= s->r_retry_at &&
	    (s->rc = mp_store_connect(&s->o, s->o.read_timeout_ms, err, sizeof(err))) == NULL)
		reader_failed(s, err);
	return s->rc;
}

bool
mp_store_get_posture(struct mp_store *s, const char *domain, const char *org, long max_age,
    struct mp_store_posture *out)
{
	char key[MP_STORE_KEY_MAX];
	const char *argv[5] = { "HMGET", key, "posture_score", "posture_grade", "posture_at" };
	size_t argvlen[5];
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
	if (reader_conn(s) == NULL)
		goto out;
	mp_store_key_domain(&s->o, key, org && org[0] ? org : domain, domain);
	for (int i = 0; i < 5; i++)
		argvlen[i] = strlen(argv[i]);
	if ((r = redisCommandArgv(s->rc, 5, argv, argvlen)) == NULL) {
		reader_failed(s, s->rc->errstr);
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
