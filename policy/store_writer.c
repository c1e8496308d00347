/*
 * store_writer: the writer thread. It takes items off the queue, sends
 * one EVALSHA per item, pipelined, and owns its connection: it
 * reconnects with backoff after any error and redoes AUTH, SELECT and
 * SCRIPT LOAD on every new connection.
 *
 * The writer keeps two batches in flight so that Redis never waits for
 * it: while Redis runs batch k, the writer builds batch k+1; reading
 * k's replies flushes k+1. Each batch costs one round trip (one flush,
 * then its replies); every message is one EVALSHA.
 *
 * held[] lists the items the writer owns, in the order they were (or
 * will be) sent, so that replies match the SENT ones in order.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"

enum slot_state { SLOT_WAIT, SLOT_SENT, SLOT_DONE };

struct slot {
	struct item *it;
	enum slot_state state;
	unsigned batch;             /* which append pass sent it */
};

struct writer {
	struct slot held[2 * MP_STORE_BATCH];
	size_t nheld;
	unsigned batch;             /* the current append pass */
	struct store_evalargs *a;
};

/* Logs an error unless the same one was logged within the interval. */
static void
writer_error(struct mp_store *s, const char *msg)
{
	time_t now = time(NULL);

	pthread_mutex_lock(&s->mu);
	mp_strlcpy(s->st.last_error, msg, sizeof(s->st.last_error));
	pthread_mutex_unlock(&s->mu);
	if (strcmp(msg, s->err_logged) == 0 &&
	    now - s->err_logged_at < (time_t)s->o.drop_log_interval_s)
		return;
	mp_log(LOG_ERR, "%s", msg);
	mp_strlcpy(s->err_logged, msg, sizeof(s->err_logged));
	s->err_logged_at = now;
}

/* A connection error that kills the context (fallback: when hiredis
 * gives no text). */
static void
writer_conn_error(struct mp_store *s, const char *fallback)
{
	char err[512];

	snprintf(err, sizeof(err), "redis at %.200s: %.200s (reconnecting)", s->o.address,
	    s->wc->errstr[0] ? s->wc->errstr : fallback);
	writer_error(s, err);
}

static void
writer_disconnect(struct mp_store *s)
{
	if (s->wc != NULL) {
		redisFree(s->wc);
		s->wc = NULL;
	}
	pthread_mutex_lock(&s->mu);
	s->st.connected = false;
	pthread_mutex_unlock(&s->mu);
}

/* SCRIPT LOAD on the writer's connection; false (connection freed) on error. */
static bool
writer_load_script(struct mp_store *s)
{
	const char *argv[3] = { "SCRIPT", "LOAD", store_lua };
	size_t argvlen[3] = { 6, 4, strlen(store_lua) };
	redisReply *r;
	char err[512];

	if (!store_setup_cmd(s->wc, s->o.address, "SCRIPT LOAD", 3, argv, argvlen, &r, err,
	    sizeof(err))) {
		writer_error(s, err);
		writer_disconnect(s);
		return false;
	}
	if (r->type != REDIS_REPLY_STRING || r->len != 40) {
		freeReplyObject(r);
		writer_error(s, "redis SCRIPT LOAD: unexpected reply");
		writer_disconnect(s);
		return false;
	}
	memcpy(s->sha, r->str, 40);
	s->sha[40] = '\0';
	freeReplyObject(r);
	return true;
}

static bool
writer_connect(struct mp_store *s)
{
	char err[512];

	if ((s->wc = mp_store_connect(&s->o, 0, err, sizeof(err))) == NULL)
		writer_error(s, err);
	if (s->wc == NULL || !writer_load_script(s)) {
		pthread_mutex_lock(&s->mu);
		s->st.connect_failures++;
		pthread_mutex_unlock(&s->mu);
		return false;
	}
	pthread_mutex_lock(&s->mu);
	s->st.connects++;
	s->st.connected = true;
	s->st.last_error[0] = '\0';
	pthread_mutex_unlock(&s->mu);
	if (s->err_logged[0] != '\0' || s->st.connects == 1)
		mp_log(LOG_INFO, "redis: connected to %s (db %d)", s->o.address, s->o.db);
	s->err_logged[0] = '\0';
	s->backoff_ms = 0;
	return true;
}

/* Sleeps for the next backoff step; returns early (true) when stopping. */
static bool
writer_backoff(struct mp_store *s)
{
	struct timespec ts;
	bool stop;

	s->backoff_ms = store_backoff_next(&s->o, s->backoff_ms);
	store_deadline(&ts, s->backoff_ms);
	pthread_mutex_lock(&s->mu);
	while (!s->stop && pthread_cond_timedwait(&s->wake, &s->mu, &ts) == 0)
		;
	store_drops_log_locked(s, false);
	stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

/* Appends every WAIT item as one batch; false on a connection error. */
static bool
writer_append(struct mp_store *s, struct writer *w)
{
	char err[512];

	w->batch++;
	for (size_t i = 0; i < w->nheld; i++) {
		struct slot *sl = &w->held[i];

		if (sl->state != SLOT_WAIT)
			continue;
		store_eval_args(&s->o, s->sha, sl->it, w->a);
		if (redisAppendCommandArgv(s->wc, w->a->argc, w->a->argv, w->a->argvlen) != REDIS_OK) {
			snprintf(err, sizeof(err), "redis at %.200s: %.200s", s->o.address,
			    s->wc->errstr);
			writer_error(s, err);
			return false;
		}
		sl->state = SLOT_SENT;
		sl->batch = w->batch;
	}
	return true;
}

/* What the replies of one writer_read() counted, added to the stats at once. */
struct read_counts {
	uint64_t written, dup, failed, cmds, retries;
};

/* Judges the reply to one SENT item; *noscript_r counts items to resend. */
static void
writer_reply(struct mp_store *s, struct slot *sl, const redisReply *r, struct read_counts *n,
    size_t *noscript_r)
{
	char err[512], txt[STORE_REPLY_TEXT];

	n->cmds++;
	if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0 &&
	    sl->it->noscript_retries == 0) {
		/* The server lost the script (SCRIPT FLUSH, a restart
		 * behind a proxy): reload and send again, once. */
		sl->it->noscript_retries++;
		sl->state = SLOT_WAIT;
		(*noscript_r)++;
		n->retries++;
	} else if (r->type == REDIS_REPLY_ERROR) {
		store_reply_text(r, txt, sizeof(txt));
		snprintf(err, sizeof(err), "redis script error at %.200s: %s (verdict not stored)",
		    s->o.address, txt);
		writer_error(s, err);
		n->failed++;
		sl->state = SLOT_DONE;
	} else {
		if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
			n->dup++;
		else
			n->written++;
		sl->state = SLOT_DONE;
	}
}

/*
 * Reads the replies of the SENT items of batches up to upto. Returns
 * false on a connection error. *noscript_r counts items to resend after
 * a SCRIPT LOAD.
 */
static bool
writer_read(struct mp_store *s, struct writer *w, unsigned upto, size_t *noscript_r)
{
	struct read_counts n = { 0 };
	bool ok = true, any = false;

	for (size_t i = 0; i < w->nheld; i++) {
		struct slot *sl = &w->held[i];
		redisReply *r = NULL;

		if (sl->state != SLOT_SENT || sl->batch > upto)
			continue;
		any = true;
		if (redisGetReply(s->wc, (void **)&r) != REDIS_OK || r == NULL) {
			/* A timeout or a reset: the context is dead, and what
			 * was not answered is resent after the reconnect. */
			writer_conn_error(s, "connection lost");
			ok = false;
			break;
		}
		writer_reply(s, sl, r, &n, noscript_r);
		freeReplyObject(r);
	}
	pthread_mutex_lock(&s->mu);
	if (any && n.cmds > 0)
		s->st.round_trips++;
	s->st.commands += n.cmds;
	s->st.written += n.written;
	s->st.duplicates += n.dup;
	s->st.failed += n.failed;
	s->st.retries += n.retries;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

/* After a connection error: nothing is in flight any more. */
static void
writer_lost(struct mp_store *s, struct writer *w)
{
	uint64_t resend = 0;

	writer_disconnect(s);
	for (size_t i = 0; i < w->nheld; i++) {
		if (w->held[i].state == SLOT_SENT) {
			w->held[i].state = SLOT_WAIT;
			resend++;
		}
	}
	pthread_mutex_lock(&s->mu);
	s->st.retries += resend;
	pthread_mutex_unlock(&s->mu);
}

/* Frees the DONE items (and, when giving up, every item), keeps order. */
static void
writer_release(struct mp_store *s, struct writer *w, bool give_up)
{
	size_t k = 0;

	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < w->nheld; i++) {
		struct slot *sl = &w->held[i];

		if (sl->state == SLOT_DONE || give_up) {
			if (sl->state != SLOT_DONE) {
				s->st.dropped_shutdown++;
				s->drops_unlogged++;
			}
			free(sl->it);
		} else {
			w->held[k++] = *sl;
		}
	}
	w->nheld = k;
	s->inflight = k;
	if (s->count == 0 && k == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
}

/* True when some item of batch <= upto waits for its reply. */
static bool
writer_has_sent(const struct writer *w, unsigned upto)
{
	for (size_t i = 0; i < w->nheld; i++)
		if (w->held[i].state == SLOT_SENT && w->held[i].batch <= upto)
			return true;
	return false;
}

/* Writes hiredis' output buffer out without reading. */
static bool
writer_flush(struct mp_store *s)
{
	int done = 0;

	while (!done) {
		if (redisBufferWrite(s->wc, &done) != REDIS_OK) {
			writer_conn_error(s, "write failed");
			return false;
		}
	}
	return true;
}

static bool
writer_queue_has_work(struct mp_store *s)
{
	bool work;

	pthread_mutex_lock(&s->mu);
	work = s->count > 0 || s->stop;
	pthread_mutex_unlock(&s->mu);
	return work;
}

/*
 * Waits for work, then moves queued items into held[] up to a batch of
 * WAIT items. *nwait_r: how many wait to be sent. True when stopping.
 */
static bool
writer_take(struct mp_store *s, struct writer *w, size_t *nwait_r)
{
	size_t nwait = 0;
	bool stop;

	pthread_mutex_lock(&s->mu);
	/* Wait only when nothing is in flight: replies to read are work. */
	while (s->count == 0 && w->nheld == 0 && !s->stop) {
		struct timespec ts;

		store_deadline(&ts, 1000);
		pthread_cond_timedwait(&s->work, &s->mu, &ts);
		store_drops_log_locked(s, false);
	}
	stop = s->stop;
	for (size_t i = 0; i < w->nheld; i++)
		nwait += w->held[i].state == SLOT_WAIT;
	while (!stop && s->count > 0 && nwait < MP_STORE_BATCH &&
	    w->nheld < MP_ARRAY_SIZE(w->held)) {
		w->held[w->nheld].it = s->ring[s->head];
		w->held[w->nheld].state = SLOT_WAIT;
		w->nheld++;
		nwait++;
		s->ring[s->head] = NULL;
		s->head = (s->head + 1) % s->cap;
		s->count--;
	}
	s->inflight = w->nheld;
	pthread_mutex_unlock(&s->mu);
	*nwait_r = nwait;
	return stop;
}

/*
 * One pass on a live connection: sends the nwait WAIT items as a batch
 * and reads the replies that are due. False on a connection error.
 */
static bool
writer_pass(struct mp_store *s, struct writer *w, size_t nwait)
{
	size_t noscript = 0;
	unsigned older = w->batch;

	if (nwait > 0 && !writer_append(s, w))
		return false;
	if (older == 0 || !writer_has_sent(w, older)) {
		/* Nothing older to read: send this batch now and come back
		 * with the next one. */
		if (!writer_flush(s))
			return false;
		/* Idle queue: read this batch's replies right away. */
		if (nwait > 0 && !writer_queue_has_work(s) &&
		    !writer_read(s, w, w->batch, &noscript))
			return false;
	} else if (!writer_read(s, w, older, &noscript)) {
		return false;
	}
	/* Replies of the newer batch come first, then the reload: SCRIPT
	 * LOAD must not interleave with them. */
	if (noscript > 0 && (!writer_read(s, w, w->batch, &noscript) || !writer_load_script(s)))
		return false;
	return true;
}

void *
store_writer_main(void *arg)
{
	struct mp_store *s = arg;
	struct writer *w = xcalloc(1, sizeof(*w));
	size_t nwait;

	w->a = xcalloc(1, sizeof(*w->a));
	while (!writer_take(s, w, &nwait)) {
		if (s->wc == NULL && !writer_connect(s)) {
			if (writer_backoff(s))
				break;
			continue;
		}
		if (!writer_pass(s, w, nwait)) {
			writer_lost(s, w);
			continue;
		}
		writer_release(s, w, false);
	}
	writer_release(s, w, true);
	mp_buf_free(&w->a->json);
	free(w->a);
	free(w);
	writer_disconnect(s);
	return NULL;
}
