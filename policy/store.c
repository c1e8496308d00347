/*
 * store: the Redis verdict and score cache. See store.h for the contract,
 * store_int.h for its parts and README ("Redis key schema") for the keys.
 *
 * This part: the records, the bounded queue that the milter's threads
 * submit them to (never blocking, never touching the network) and that
 * the writer thread (store_writer.c) drains, and what it keeps until a
 * replica confirms it.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "redis_cluster.h"
#include "store_int.h"

/* ---- records ----------------------------------------------------------- */

void
mp_store_record_init(struct mp_store_record *r)
{
	memset(r, 0, sizeof(*r));
	r->posture_score = -1;
	r->spf = MP_SPF_NONE;
	r->dmarc = MP_DMARC_NONE;
	r->policy = r->published = r->disposition = MP_DMARC_P_UNSET;
	r->action = MP_ACTION_ACCEPT;
}

/* ---- the queue --------------------------------------------------------- */

void
store_deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

void
store_drops_log_locked(struct mp_store *s, bool force)
{
	time_t now = time(NULL);

	if (s->drops_unlogged == 0)
		return;
	if (!force && now - s->drop_logged_at < (time_t)s->o.drop_log_interval_s)
		return;
	mp_log(LOG_WARNING, "redis: %llu verdicts not stored (queue of %zu full or redis "
	    "unavailable); %llu dropped since start",
	    (unsigned long long)s->drops_unlogged, s->cap,
	    (unsigned long long)(s->st.dropped_full + s->st.dropped_shutdown));
	s->drops_unlogged = 0;
	s->drop_logged_at = now;
}

struct mp_store *
mp_store_new(const struct mp_store_options *o, char *err, size_t errlen)
{
	struct mp_store *s;
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	if (!mp_store_options_enabled(o))
		return NULL;
	if (!mp_store_options_check(o, err, errlen))
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->o = *o;
	s->ro = *o;
	s->ro.timeout_ms = o->read_timeout_ms;
	s->cap = o->queue_size;
	s->ring = xcalloc(s->cap, sizeof(*s->ring));
	s->wn = mp_redis_nodes_new(mp_store_dial, &s->o);
	s->rn = mp_redis_nodes_new(mp_store_dial_reader, &s->ro);
	/* Our own publications come back from the stream: this tells them
	 * apart from another process's on the same host. */
	snprintf(s->instance, sizeof(s->instance), "%ld.%llx", (long)getpid(),
	    (unsigned long long)mp_now_ms() ^ (unsigned long long)(uintptr_t)s);
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->rmu, NULL);
	pthread_mutex_init(&s->smu, NULL);
	pthread_cond_init(&s->work, NULL);
	pthread_cond_init(&s->idle, NULL);
	pthread_cond_init(&s->wake, NULL);
	if ((rc = pthread_create(&s->writer, NULL, store_writer_main, s)) != 0) {
		snprintf(err, errlen, "redis writer thread: %s", strerror(rc));
		mp_store_free(&s);
		return NULL;
	}
	s->writer_started = true;
	return s;
}

bool
store_enqueue(struct mp_store *s, struct item *it)
{
	pthread_mutex_lock(&s->mu);
	if (s->count == s->cap || s->stop) {
		s->st.dropped_full++;
		s->drops_unlogged++;
		store_drops_log_locked(s, false);
		pthread_mutex_unlock(&s->mu);
		free(it);
		return false;
	}
	s->ring[(s->head + s->count) % s->cap] = it;
	s->count++;
	s->st.submitted++;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
	return true;
}

bool
mp_store_submit(struct mp_store *s, const struct mp_store_record *r)
{
	struct item *it;

	if (s == NULL)
		return false;
	/* Allocated before taking the lock, so the lock is held briefly. */
	it = xmalloc(sizeof(*it));
	it->kind = ITEM_MESSAGE;
	it->noscript_retries = 0;
	it->counted = false;
	it->r = *r;
	return store_enqueue(s, it);
}

bool
mp_store_submit_posture(struct mp_store *s, const char *domain, const char *org, int score,
    const char *grade, time_t now)
{
	struct item *it;

	if (s == NULL || domain == NULL || domain[0] == '\0' || score < 0 || score > 100)
		return false;
	it = xcalloc(1, sizeof(*it));
	it->kind = ITEM_POSTURE;
	mp_store_record_init(&it->r);
	mp_strlcpy(it->r.from_domain, domain, sizeof(it->r.from_domain));
	mp_strlcpy(it->r.org_domain, org ? org : "", sizeof(it->r.org_domain));
	it->r.posture_score = score;
	mp_strlcpy(it->r.posture_grade, grade ? grade : "", sizeof(it->r.posture_grade));
	it->r.time = now;
	return store_enqueue(s, it);
}

/* ---- kept until a replica confirms them -------------------------------- */

size_t
store_kept_add(struct mp_store *s, struct item *it)
{
	size_t gone = 0;

	if (s->kept == NULL)
		s->kept = xcalloc(STORE_KEPT_MAX, sizeof(*s->kept));
	if (s->kept_n == STORE_KEPT_MAX) {
		free(s->kept[s->kept_head]);
		s->kept_head = (s->kept_head + 1) % STORE_KEPT_MAX;
		s->kept_n--;
		if (s->kept_replay > 0)
			s->kept_replay--;
		gone = 1;
	}
	s->kept[(s->kept_head + s->kept_n++) % STORE_KEPT_MAX] = it;
	return gone;
}

void
store_kept_confirm(struct mp_store *s)
{
	/* What waits to be written again was not written here: it stays. */
	while (s->kept_n > s->kept_replay) {
		s->kept_n--;
		free(s->kept[(s->kept_head + s->kept_n) % STORE_KEPT_MAX]);
	}
}

size_t
store_kept_replay(struct mp_store *s)
{
	size_t more = s->kept_n - s->kept_replay;

	s->kept_replay = s->kept_n;
	return more;
}

struct item *
store_kept_next(struct mp_store *s)
{
	struct item *it;

	if (s->kept_replay == 0)
		return NULL;
	it = s->kept[s->kept_head];
	s->kept_head = (s->kept_head + 1) % STORE_KEPT_MAX;
	s->kept_n--;
	s->kept_replay--;
	return it;
}

size_t
store_kept_free(struct mp_store *s)
{
	size_t replay = s->kept_replay;

	while (s->kept_n > 0) {
		free(s->kept[s->kept_head]);
		s->kept_head = (s->kept_head + 1) % STORE_KEPT_MAX;
		s->kept_n--;
	}
	s->kept_replay = 0;
	free(s->kept);
	s->kept = NULL;
	return replay;
}

bool
mp_store_flush(struct mp_store *s, unsigned timeout_ms)
{
	struct timespec ts;
	bool empty;

	if (s == NULL)
		return true;
	store_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&s->mu);
	while ((s->count > 0 || s->inflight > 0) &&
	    pthread_cond_timedwait(&s->idle, &s->mu, &ts) == 0)
		;
	empty = s->count == 0 && s->inflight == 0;
	pthread_mutex_unlock(&s->mu);
	return empty;
}

void
mp_store_free_timeout(struct mp_store **sp, unsigned timeout_ms)
{
	struct mp_store *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	if (s->writer_started) {
		mp_store_flush(s, timeout_ms ? timeout_ms : s->o.timeout_ms);
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_broadcast(&s->work);
		pthread_cond_broadcast(&s->wake);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->writer, NULL);
	}
	while (s->count > 0) {
		free(s->ring[s->head]);
		s->head = (s->head + 1) % s->cap;
		s->count--;
		s->st.dropped_shutdown++;
		s->drops_unlogged++;
	}
	store_drops_log_locked(s, true);
	mp_redis_nodes_free(&s->wn);
	mp_redis_nodes_free(&s->rn);
	free(s->ring);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->rmu);
	pthread_mutex_destroy(&s->smu);
	pthread_cond_destroy(&s->work);
	pthread_cond_destroy(&s->idle);
	pthread_cond_destroy(&s->wake);
	free(s);
}

void
mp_store_free(struct mp_store **sp)
{
	mp_store_free_timeout(sp, 0);
}

void
mp_store_get_stats(struct mp_store *s, struct mp_store_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	st->queued = s->count + s->inflight;
	pthread_mutex_unlock(&s->mu);
}
