/*
 * store_writer: the writer thread. It takes items off the queue, sends
 * one command per item (a message is one EVALSHA), pipelined, and owns
 * its connections: after any error it drops them, finds the deployment
 * again (the address, Sentinel's master, the Cluster's slot map) and
 * reconnects with backoff, redoing AUTH, SELECT and SCRIPT LOAD on every
 * new connection.
 *
 * The writer keeps two batches in flight so that Redis never waits for
 * it: while Redis runs batch k, the writer builds batch k+1; reading
 * k's replies flushes k+1. Each batch costs one round trip (one flush,
 * then its replies).
 *
 * Routing: an item goes to the server of its first key's slot (every
 * key of a message shares its {org} tag). One server, or Sentinel's
 * master, serves every slot. On a Cluster, MOVED updates the slot map
 * and resends, ASK resends once to the named node after ASKING, TRYAGAIN
 * resends after a pause (keys are migrating), CLUSTERDOWN finds the map
 * again; the script is loaded on each node (NOSCRIPT is per node).
 *
 * Sentinel: a +switch-master for our master name drops the connection
 * like an error would. Replication is asynchronous, so with
 * replica_wait each batch ends with WAIT 1, and an item the script
 * counted is kept (store_kept_*) until a WAIT says a replica has it:
 * after a failover what is kept is written again on the new master (SET
 * NX in the script counts it once). When a WAIT times out (no replica),
 * the next batches go without one for a while, their items kept too.
 *
 * held[] lists the items the writer owns, in the order they were (or
 * will be) sent, so that each node's replies match its SENT items in
 * order.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "redis_cluster.h"
#include "store_int.h"

#define TRYAGAIN_PAUSE_MS 20        /* a slot's keys are migrating: let them */
#define WAIT_RETRY_MS 10000         /* no replica confirmed: batches go without WAIT this long */
#define RELOAD_MAX 16               /* nodes asking for the script in one pass */

enum slot_state { SLOT_WAIT, SLOT_SENT, SLOT_DONE };

struct slot {
	struct item *it;
	enum slot_state state;
	unsigned batch;             /* which append pass sent it */
	size_t node;                /* SENT: where; WAIT with asking: where to */
	bool asking;                /* ASK: to node, after ASKING */
	bool asked;                 /* SENT after ASKING: that reply comes first */
};

struct writer {
	struct slot held[2 * MP_STORE_BATCH];
	size_t nheld;
	unsigned batch;             /* the current append pass */
	unsigned waits[2];          /* batches that end with a WAIT, oldest first */
	size_t nwaits;
	size_t reload[RELOAD_MAX];  /* nodes that answered NOSCRIPT */
	size_t nreload;
	unsigned long long wait_off_until;  /* mp_now_ms: no WAIT before then */
	bool pause;                 /* TRYAGAIN seen */
	bool relocate;              /* the deployment changed under us: ask again */
	struct store_evalargs *a;
};

/* What the replies of one writer_read() counted, added to the stats at once. */
struct read_counts {
	uint64_t written, dup, failed, cmds, retries, moved, asked, tryagain, unconfirmed;
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
writer_conn_error(struct mp_store *s, size_t node, const char *fallback)
{
	redisContext *c = mp_redis_nodes_peek(s->wn, node);
	char err[512];

	snprintf(err, sizeof(err), "redis at %.200s: %.200s (reconnecting)",
	    mp_redis_nodes_addr(s->wn, node), c != NULL && c->errstr[0] ? c->errstr : fallback);
	writer_error(s, err);
}

static void
writer_disconnect(struct mp_store *s)
{
	mp_redis_nodes_close_all(s->wn);
	s->located = false;
	pthread_mutex_lock(&s->mu);
	s->st.connected = false;
	pthread_mutex_unlock(&s->mu);
}

/* SCRIPT LOAD on a node's connection; false + err on error. */
static bool
writer_load_script(struct mp_store *s, size_t node, char *err, size_t errlen)
{
	const char *argv[3] = { "SCRIPT", "LOAD", store_lua };
	size_t argvlen[3] = { 6, 4, strlen(store_lua) };
	redisContext *c = mp_redis_nodes_peek(s->wn, node);
	redisReply *r;

	if (!store_setup_cmd(c, mp_redis_nodes_addr(s->wn, node), "SCRIPT LOAD", 3, argv, argvlen,
	    &r, err, errlen))
		return false;
	if (r->type != REDIS_REPLY_STRING || r->len != 40) {
		freeReplyObject(r);
		snprintf(err, errlen, "redis SCRIPT LOAD: unexpected reply");
		return false;
	}
	memcpy(s->sha, r->str, 40);
	s->sha[40] = '\0';
	freeReplyObject(r);
	return true;
}

/* The connection to node, opened and given the script when new. */
static redisContext *
writer_node(struct mp_store *s, size_t node)
{
	char err[512];
	bool fresh;
	redisContext *c = mp_redis_nodes_conn(s->wn, node, &fresh, err, sizeof(err));

	if (c != NULL && fresh && !writer_load_script(s, node, err, sizeof(err))) {
		mp_redis_nodes_close(s->wn, node);
		c = NULL;
	}
	if (c == NULL)
		writer_error(s, err);
	return c;
}

/* Sentinel's announcements, subscribed once a master was found. */
static void
writer_watch_start(struct mp_store *s)
{
	char err[512];

	if (s->o.sentinels[0] == '\0' || s->watch != NULL)
		return;
	/* Without it a failover still shows, as a connection error. */
	if ((s->watch = mp_redis_watch_new(s->o.sentinels, s->o.master_name, s->o.timeout_ms,
	    err, sizeof(err))) == NULL)
		mp_log(LOG_WARNING, "redis: %s: failovers are noticed by errors only", err);
}

/* Finds the deployment and connects to every master it has. */
static bool
writer_locate(struct mp_store *s)
{
	char err[512];

	if (!mp_store_locate(&s->o, s->wn, false, err, sizeof(err))) {
		writer_error(s, err);
		return false;
	}
	for (size_t i = 0; i < mp_redis_nodes_count(s->wn); i++)
		if (writer_node(s, i) == NULL)
			return false;
	s->located = true;
	writer_watch_start(s);
	return true;
}

static bool
writer_connect(struct mp_store *s)
{
	if (!writer_locate(s)) {
		mp_redis_nodes_close_all(s->wn);
		pthread_mutex_lock(&s->mu);
		s->st.connect_failures++;
		pthread_mutex_unlock(&s->mu);
		mp_metrics_inc(MP_M_REDIS_CONNECT_FAILURES);
		return false;
	}
	pthread_mutex_lock(&s->mu);
	s->st.connects++;
	mp_metrics_add(MP_M_REDIS_RECONNECTS, s->st.connects > 1);
	s->st.connected = true;
	s->st.last_error[0] = '\0';
	pthread_mutex_unlock(&s->mu);
	if (s->err_logged[0] != '\0' || s->st.connects == 1) {
		if (mp_redis_nodes_is_cluster(s->wn))
			mp_log(LOG_INFO, "redis: connected to the cluster (%zu masters)",
			    mp_redis_nodes_count(s->wn));
		else
			mp_log(LOG_INFO, "redis: connected to %s (db %d)",
			    mp_redis_nodes_addr(s->wn, 0), s->o.db);
	}
	s->err_logged[0] = '\0';
	s->backoff_ms = 0;
	return true;
}

/* Sleeps ms; returns early (true) when stopping. */
static bool
writer_nap(struct mp_store *s, unsigned ms)
{
	struct timespec ts;
	bool stop;

	store_deadline(&ts, ms);
	pthread_mutex_lock(&s->mu);
	while (!s->stop && pthread_cond_timedwait(&s->wake, &s->mu, &ts) == 0)
		;
	store_drops_log_locked(s, false);
	stop = s->stop;
	pthread_mutex_unlock(&s->mu);
	return stop;
}

/* Sleeps for the next backoff step; returns early (true) when stopping. */
static bool
writer_backoff(struct mp_store *s)
{
	s->backoff_ms = store_backoff_next(&s->o, s->backoff_ms);
	return writer_nap(s, s->backoff_ms);
}

/* The command of an item, in w->a. */
static void
writer_args(struct mp_store *s, struct writer *w, const struct item *it)
{
	if (it->kind == ITEM_SHARE || it->kind == ITEM_POLL)
		store_share_args(s, it, w->a);
	else
		store_eval_args(&s->o, s->sha, it, w->a);
}

/* Appends one WAIT item to its node; false on a connection error. */
static bool
writer_append_one(struct mp_store *s, struct writer *w, struct slot *sl)
{
	struct store_evalargs *a = w->a;
	redisContext *c;
	size_t node;
	char err[512];

	writer_args(s, w, sl->it);
	if (sl->asking)
		node = sl->node;
	else if (a->slot >= 0)
		node = mp_redis_nodes_of_slot(s->wn, (unsigned)a->slot);
	else
		node = mp_redis_nodes_of_key(s->wn, a->route, strlen(a->route));
	/* A slot no master serves: the cluster is changing, ask it again later. */
	if (node == MP_REDIS_NO_NODE)
		w->relocate = true;
	if ((c = writer_node(s, node)) == NULL)
		return false;
	if ((sl->asking && redisAppendCommand(c, "ASKING") != REDIS_OK) ||
	    redisAppendCommandArgv(c, a->argc, a->argv, a->argvlen) != REDIS_OK) {
		snprintf(err, sizeof(err), "redis at %.200s: %.200s",
		    mp_redis_nodes_addr(s->wn, node), c->errstr);
		writer_error(s, err);
		return false;
	}
	sl->state = SLOT_SENT;
	sl->batch = w->batch;
	sl->node = node;
	sl->asked = sl->asking;
	sl->asking = false;
	return true;
}

/*
 * Appends every WAIT item as one batch (and its WAIT); false on a
 * connection error. *nmsg_r: the verdicts among them (the others publish
 * or read postures).
 */
static bool
writer_append(struct mp_store *s, struct writer *w, size_t *nmsg_r)
{
	char ms[16];
	size_t n = 0;

	w->batch++;
	for (size_t i = 0; i < w->nheld; i++) {
		if (w->held[i].state != SLOT_WAIT)
			continue;
		if (!writer_append_one(s, w, &w->held[i]))
			return false;
		*nmsg_r += w->held[i].it->kind == ITEM_MESSAGE;
		n++;
	}
	/* Sentinel's master is the one node: the WAIT follows the batch there. */
	if (n > 0 && s->o.sentinels[0] != '\0' && s->o.replica_wait_ms > 0 &&
	    mp_now_ms() >= w->wait_off_until && w->nwaits < MP_ARRAY_SIZE(w->waits)) {
		snprintf(ms, sizeof(ms), "%u", s->o.replica_wait_ms);
		if (redisAppendCommand(mp_redis_nodes_peek(s->wn, 0), "WAIT 1 %s", ms) != REDIS_OK)
			return false;
		w->waits[w->nwaits++] = w->batch;
	}
	return true;
}

/* NOSCRIPT from node: resend the item once, after a SCRIPT LOAD there. */
static bool
writer_noscript(struct writer *w, struct slot *sl, struct read_counts *n)
{
	if (sl->it->noscript_retries > 0)
		return false;
	/* The server lost the script (SCRIPT FLUSH, a restart behind a
	 * proxy): reload and send again, once. */
	sl->it->noscript_retries++;
	sl->state = SLOT_WAIT;
	n->retries++;
	for (size_t i = 0; i < w->nreload; i++)
		if (w->reload[i] == sl->node)
			return true;
	if (w->nreload < RELOAD_MAX)
		w->reload[w->nreload++] = sl->node;
	else
		w->relocate = true;
	return true;
}

/*
 * An error reply that asks for the item again: a Cluster's redirection
 * or pause, a master demoted under us. True when the item goes back to
 * WAIT.
 */
static bool
writer_redirect(struct mp_store *s, struct writer *w, struct slot *sl, const redisReply *r,
    struct read_counts *n)
{
	char addr[MP_REDIS_ADDR_MAX];
	unsigned slot;

	switch (mp_redis_redirect_of(r->str, r->len, &slot, addr, sizeof(addr))) {
	case MP_REDIS_MOVED:
		mp_redis_nodes_moved(s->wn, slot, addr);
		n->moved++;
		break;
	case MP_REDIS_ASK:
		sl->node = mp_redis_nodes_node(s->wn, addr);
		sl->asking = true;
		n->asked++;
		break;
	case MP_REDIS_TRYAGAIN:
		w->pause = true;
		n->retries++;
		n->tryagain++;
		break;
	case MP_REDIS_CLUSTERDOWN:
		w->relocate = true;
		n->retries++;
		break;
	case MP_REDIS_ERROR:
		/* A failover made our master a replica (READONLY) or a
		 * restarted one is loading: find the master again. */
		if (strncmp(r->str, "READONLY", 8) != 0 && strncmp(r->str, "LOADING", 7) != 0)
			return false;
		w->relocate = true;
		n->retries++;
		break;
	}
	sl->state = SLOT_WAIT;
	return true;
}

/* A script's answer: counted once, even when a failover made it a
 * replay; kept for a replica's confirmation behind Sentinel. */
static void
writer_counted(struct mp_store *s, struct slot *sl, const redisReply *r, struct read_counts *n)
{
	if (!sl->it->counted) {
		if (r->type == REDIS_REPLY_INTEGER && r->integer == 0)
			n->dup++;
		else
			n->written++;
		sl->it->counted = true;
	}
	if (s->o.sentinels[0] != '\0' && s->o.replica_wait_ms > 0) {
		n->unconfirmed += store_kept_add(s, sl->it);
		sl->it = NULL;
	}
	sl->state = SLOT_DONE;
}

/* Judges the reply to one SENT item. */
static void
writer_reply(struct mp_store *s, struct writer *w, struct slot *sl, const redisReply *r,
    struct read_counts *n)
{
	char err[512], txt[STORE_REPLY_TEXT];
	bool script = sl->it->kind == ITEM_MESSAGE || sl->it->kind == ITEM_POSTURE;

	n->cmds += script;
	if (r->type == REDIS_REPLY_ERROR) {
		if ((strncmp(r->str, "NOSCRIPT", 8) == 0 && writer_noscript(w, sl, n)) ||
		    writer_redirect(s, w, sl, r, n))
			return;
		store_reply_text(r, txt, sizeof(txt));
		snprintf(err, sizeof(err), "redis %s error at %.200s: %s%s",
		    script ? "script" : "command", mp_redis_nodes_addr(s->wn, sl->node), txt,
		    script ? " (verdict not stored)" : "");
		writer_error(s, err);
		n->failed += script;
		if (sl->it->kind == ITEM_POLL)
			store_poll_reply(s, NULL);
		sl->state = SLOT_DONE;
	} else if (script) {
		writer_counted(s, sl, r, n);
	} else {
		if (sl->it->kind == ITEM_POLL)
			store_poll_reply(s, r);
		sl->state = SLOT_DONE;
	}
}

/* The WAIT after a batch: a replica has all that was written before it, or not yet. */
static void
writer_waited(struct mp_store *s, struct writer *w, const redisReply *r)
{
	char err[256];

	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 1) {
		store_kept_confirm(s);
		return;
	}
	/* No replica (the old master is gone): waiting on every batch would
	 * only slow the writes down. Ask again later; what is written
	 * meanwhile is kept. */
	w->wait_off_until = mp_now_ms() + WAIT_RETRY_MS;
	snprintf(err, sizeof(err), "redis: no replica confirmed a batch within replica_wait "
	    "(%u ms): a failover now could lose writes", s->o.replica_wait_ms);
	writer_error(s, err);
}

/* Reads the reply to one SENT item (after ASKING's); false on a connection error. */
static bool
writer_read_one(struct mp_store *s, struct writer *w, struct slot *sl, struct read_counts *n)
{
	redisContext *c = mp_redis_nodes_peek(s->wn, sl->node);
	redisReply *r = NULL;

	if (c != NULL && sl->asked) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL) {
			writer_conn_error(s, sl->node, "connection lost");
			return false;
		}
		freeReplyObject(r);
		r = NULL;
		sl->asked = false;
	}
	/* A timeout or a reset: the context is dead, and what was not
	 * answered is resent after the reconnect. */
	if (c == NULL || redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL) {
		writer_conn_error(s, sl->node, "connection lost");
		return false;
	}
	writer_reply(s, w, sl, r, n);
	freeReplyObject(r);
	return true;
}

/* Reads one batch's replies, then its WAIT's; false on a connection error. */
static bool
writer_read_batch(struct mp_store *s, struct writer *w, unsigned b, struct read_counts *n)
{
	redisReply *r = NULL;

	for (size_t i = 0; i < w->nheld; i++) {
		struct slot *sl = &w->held[i];

		if (sl->state == SLOT_SENT && sl->batch == b && !writer_read_one(s, w, sl, n))
			return false;
	}
	if (w->nwaits == 0 || w->waits[0] != b)
		return true;
	if (redisGetReply(mp_redis_nodes_peek(s->wn, 0), (void **)&r) != REDIS_OK || r == NULL) {
		writer_conn_error(s, 0, "connection lost");
		return false;
	}
	writer_waited(s, w, r);
	freeReplyObject(r);
	w->waits[0] = w->waits[1];
	w->nwaits--;
	return true;
}

/* Slots moving (a reshard, a failover) are news for the log, once per interval. */
static void
writer_redirects_log(struct mp_store *s, bool force)
{
	time_t now = time(NULL);

	if (s->moved_unlogged + s->asked_unlogged + s->tryagain_unlogged == 0 ||
	    (!force && now - s->redirect_logged_at < (time_t)s->o.drop_log_interval_s))
		return;
	mp_log(LOG_NOTICE, "redis: cluster slots moving: %llu MOVED and %llu ASK replies "
	    "followed, %llu TRYAGAIN", (unsigned long long)s->moved_unlogged,
	    (unsigned long long)s->asked_unlogged, (unsigned long long)s->tryagain_unlogged);
	s->moved_unlogged = s->asked_unlogged = s->tryagain_unlogged = 0;
	s->redirect_logged_at = now;
}

static void
writer_count(struct mp_store *s, const struct read_counts *n)
{
	pthread_mutex_lock(&s->mu);
	if (n->cmds > 0)
		s->st.round_trips++;
	s->st.commands += n->cmds;
	s->st.written += n->written;
	s->st.duplicates += n->dup;
	s->st.failed += n->failed;
	s->st.retries += n->retries;
	s->st.redirects += n->moved + n->asked;
	s->st.unconfirmed += n->unconfirmed;
	pthread_mutex_unlock(&s->mu);
	mp_metrics_add(MP_M_REDIS_STORED, n->written);
	mp_metrics_add(MP_M_REDIS_DUPLICATE, n->dup);
	mp_metrics_add(MP_M_REDIS_FAILED, n->failed);
	s->moved_unlogged += n->moved;
	s->asked_unlogged += n->asked;
	s->tryagain_unlogged += n->tryagain;
	writer_redirects_log(s, false);
}

/* Reads the replies of the SENT items of batches up to upto, oldest
 * batch first. Returns false on a connection error. */
static bool
writer_read(struct mp_store *s, struct writer *w, unsigned upto)
{
	struct read_counts n = { 0 };
	unsigned first = upto + 1;
	bool ok = true;

	for (size_t i = 0; i < w->nheld; i++)
		if (w->held[i].state == SLOT_SENT && w->held[i].batch < first)
			first = w->held[i].batch;
	for (unsigned b = first; ok && b <= upto; b++)
		ok = writer_read_batch(s, w, b, &n);
	writer_count(s, &n);
	return ok;
}

/* After a connection error: nothing is in flight any more, and what no
 * replica confirmed is sent again. */
static void
writer_lost(struct mp_store *s, struct writer *w)
{
	uint64_t resend = 0, replay = store_kept_replay(s);

	writer_disconnect(s);
	for (size_t i = 0; i < w->nheld; i++) {
		struct slot *sl = &w->held[i];

		if (sl->state == SLOT_SENT) {
			resend++;
			sl->state = SLOT_WAIT;
		}
		sl->asked = sl->asking = false;
	}
	w->nwaits = 0;
	w->nreload = 0;
	pthread_mutex_lock(&s->mu);
	s->st.retries += resend;
	s->st.replayed += replay;
	pthread_mutex_unlock(&s->mu);
	if (replay > 0)
		mp_log(LOG_NOTICE, "redis: %llu verdicts no replica had confirmed are sent again "
		    "(counted once)", (unsigned long long)replay);
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
			if (sl->state != SLOT_DONE && sl->it->kind != ITEM_POLL) {
				s->st.dropped_shutdown++;
				s->drops_unlogged++;
				mp_metrics_inc(MP_M_REDIS_DROP_SHUTDOWN);
			}
			free(sl->it);
		} else {
			w->held[k++] = *sl;
		}
	}
	w->nheld = k;
	/* A poll of the others' postures is the writer's own: no flush
	 * waits for it. What waits to be written again after a failover is
	 * in flight. */
	s->inflight = k - (k > 0 && s->poll_out) + s->kept_replay;
	/* What the ring still holds now, mp_store_free drops after we end. */
	mp_metrics_add(MP_M_REDIS_DROP_SHUTDOWN, give_up ? s->count : 0);
	if (s->count == 0 && s->inflight == 0)
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

/* Writes hiredis' output buffers out without reading. */
static bool
writer_flush(struct mp_store *s)
{
	for (size_t i = 0; i < mp_redis_nodes_count(s->wn); i++) {
		redisContext *c = mp_redis_nodes_peek(s->wn, i);
		int done = 0;

		while (c != NULL && !done) {
			if (redisBufferWrite(c, &done) != REDIS_OK) {
				writer_conn_error(s, i, "write failed");
				return false;
			}
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
 * Moves items into held[] up to a batch of WAIT items: the writer's
 * poll when one is due, then what a failover may have lost, then the
 * queue. Under s->mu.
 */
static size_t
writer_take_locked(struct mp_store *s, struct writer *w)
{
	size_t nwait = 0;
	struct item *it;

	for (size_t i = 0; i < w->nheld; i++)
		nwait += w->held[i].state == SLOT_WAIT;
	if (w->nheld < MP_ARRAY_SIZE(w->held) && (it = store_poll_item(s)) != NULL) {
		w->held[w->nheld++] = (struct slot){ .it = it, .state = SLOT_WAIT };
		nwait++;
	}
	while (!s->stop && nwait < MP_STORE_BATCH && w->nheld < MP_ARRAY_SIZE(w->held)) {
		if ((it = store_kept_next(s)) == NULL) {
			if (s->count == 0)
				break;
			it = s->ring[s->head];
			s->ring[s->head] = NULL;
			s->head = (s->head + 1) % s->cap;
			s->count--;
		}
		w->held[w->nheld++] = (struct slot){ .it = it, .state = SLOT_WAIT };
		nwait++;
	}
	s->inflight = w->nheld - (w->nheld > 0 && s->poll_out) + s->kept_replay;
	return nwait;
}

/*
 * Waits for work (a second at most, so that polls go out), then takes
 * it. *nwait_r: how many items wait to be sent. True when stopping.
 */
static bool
writer_take(struct mp_store *s, struct writer *w, size_t *nwait_r)
{
	bool stop;

	pthread_mutex_lock(&s->mu);
	/* Wait only when nothing is in flight: replies to read are work. */
	if (s->count == 0 && w->nheld == 0 && s->kept_replay == 0 && !s->stop) {
		struct timespec ts;

		store_deadline(&ts, 1000);
		pthread_cond_timedwait(&s->work, &s->mu, &ts);
		store_drops_log_locked(s, false);
	}
	stop = s->stop;
	*nwait_r = stop ? 0 : writer_take_locked(s, w);
	pthread_mutex_unlock(&s->mu);
	return stop;
}

/* The reloads NOSCRIPT asked for, once no reply is pending. */
static bool
writer_reload(struct mp_store *s, struct writer *w)
{
	char err[512];

	for (size_t i = 0; i < w->nreload; i++) {
		if (!writer_load_script(s, w->reload[i], err, sizeof(err))) {
			writer_error(s, err);
			return false;
		}
	}
	w->nreload = 0;
	return true;
}

/*
 * One pass on live connections: sends the nwait WAIT items as a batch
 * and reads the replies that are due. False on a connection error, or
 * when the deployment must be found again.
 */
static bool
writer_pass(struct mp_store *s, struct writer *w, size_t nwait)
{
	unsigned older = w->batch;
	size_t nmsg = 0;

	if (nwait > 0 && !writer_append(s, w, &nmsg))
		return false;
	mp_metrics_redis_batch(nmsg);
	if (older == 0 || !writer_has_sent(w, older)) {
		/* Nothing older to read: send this batch now and come back
		 * with the next one. */
		if (!writer_flush(s))
			return false;
		/* Idle queue: read this batch's replies right away. */
		if (nwait > 0 && !writer_queue_has_work(s) && !writer_read(s, w, w->batch))
			return false;
	} else if (!writer_read(s, w, older) || !writer_flush(s)) {
		return false;
	}
	/* Replies of the newer batch come first, then the reload: SCRIPT
	 * LOAD must not interleave with them. */
	if (w->nreload > 0 && (!writer_read(s, w, w->batch) || !writer_reload(s, w)))
		return false;
	return !w->relocate;
}

/* Sentinel moved the master: drop the connection as an error would. */
static void
writer_watch(struct mp_store *s, struct writer *w)
{
	char addr[MP_REDIS_ADDR_MAX];
	bool dead;

	if (s->watch == NULL)
		return;
	/* An error may have led us to the new master already. */
	if (mp_redis_watch_poll(s->watch, addr, sizeof(addr), &dead) &&
	    (!s->located || strcmp(addr, mp_redis_nodes_addr(s->wn, 0)) != 0)) {
		mp_log(LOG_NOTICE, "redis: sentinel switched master %s to %s", s->o.master_name,
		    addr);
		writer_lost(s, w);
	}
	if (dead)
		mp_redis_watch_free(&s->watch);
}

/* One turn of the writer's loop once it holds items; true when stopping. */
static bool
writer_turn(struct mp_store *s, struct writer *w, size_t nwait)
{
	if (!s->located && !writer_connect(s))
		return writer_backoff(s);
	if (!writer_pass(s, w, nwait)) {
		writer_lost(s, w);
		/* A cluster that cannot serve, a master being replaced: give
		 * it time rather than asking again at once. */
		if (w->relocate) {
			w->relocate = false;
			return writer_backoff(s);
		}
		return false;
	}
	writer_release(s, w, false);
	writer_watch(s, w);
	if (w->pause) {
		w->pause = false;
		return writer_nap(s, TRYAGAIN_PAUSE_MS);
	}
	return false;
}

void *
store_writer_main(void *arg)
{
	struct mp_store *s = arg;
	struct writer *w = xcalloc(1, sizeof(*w));
	size_t nwait, replay;

	w->a = xcalloc(1, sizeof(*w->a));
	while (!writer_take(s, w, &nwait)) {
		if (w->nheld > 0 && writer_turn(s, w, nwait))
			break;
	}
	writer_release(s, w, true);
	replay = store_kept_free(s);
	pthread_mutex_lock(&s->mu);
	s->st.dropped_shutdown += replay;
	s->drops_unlogged += replay;
	pthread_mutex_unlock(&s->mu);
	mp_metrics_add(MP_M_REDIS_DROP_SHUTDOWN, replay);
	writer_redirects_log(s, true);
	mp_buf_free(&w->a->json);
	free(w->a);
	free(w);
	writer_disconnect(s);
	mp_redis_watch_free(&s->watch);
	return NULL;
}
