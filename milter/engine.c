/*
 * engine: the current configuration generation and its swap on reload.
 *
 * One mutex guards the pointer to the current generation and every
 * generation's reference count; it is held only for a pointer copy and
 * an increment, never across an evaluation or a config load, so a slow
 * reload (the evaluator loads the PSL) never stalls a message.
 *
 * Freeing a generation is slow: the store drains its queue for up to
 * [redis] timeout and the resolver is torn down. A message that drops the
 * last reference (the first message to end after a reload) must not pay
 * for that before libmilter sends its reply, so it hands the generation
 * to a detached reaper thread; mp_engine_shutdown waits for the reapers.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "milter.h"
#include "util.h"

static pthread_mutex_t engine_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaped_cv = PTHREAD_COND_INITIALIZER;
static struct mp_engine *current;
static unsigned long generations;
static bool shutting_down;      /* no publish after mp_engine_shutdown */
static unsigned reapers;        /* reaper threads still freeing a generation */

static void
engine_free(struct mp_engine *e)
{
	mp_evaluator_free(&e->ev);
	mp_netlist_free(&e->skip_networks);
	mp_domlist_free(&e->skip_mail_from);
	/* Drains what is queued, for at most [redis] timeout. */
	mp_store_free(&e->store);
	mp_conf_unref(&e->conf);
	free(e);
}

struct mp_engine *
mp_engine_build(struct mp_conf *conf, char *err, size_t errlen)
{
	struct mp_engine *e = xcalloc(1, sizeof(*e));
	char why[256];
	long n;

	e->refs = 1;
	e->conf = mp_conf_ref(conf);
	e->skip_networks = mp_netlist_parse(mp_conf_str(conf, "milter", "skip_networks"),
	    why, sizeof(why));
	if (e->skip_networks == NULL) {
		snprintf(err, errlen, "[milter] skip_networks: %s", why);
		goto fail;
	}
	e->skip_mail_from = mp_domlist_parse(mp_conf_str(conf, "milter", "skip_mail_from"),
	    why, sizeof(why));
	if (e->skip_mail_from == NULL) {
		snprintf(err, errlen, "[milter] skip_mail_from: %s", why);
		goto fail;
	}
	e->ev = mp_evaluator_new(conf, why, sizeof(why));
	if (e->ev == NULL) {
		snprintf(err, errlen, "%s", why);
		goto fail;
	}
	e->authserv_id = mp_evaluator_authserv_id(e->ev);
	{
		struct mp_store_options so;

		mp_store_options_from_conf(conf, &so);
		why[0] = '\0';
		e->store = mp_store_new(&so, why, sizeof(why));
		if (e->store == NULL && why[0] != '\0') {
			snprintf(err, errlen, "[redis]: %s", why);
			goto fail;
		}
	}
	if (gethostname(e->hostname, sizeof(e->hostname)) != 0)
		mp_strlcpy(e->hostname, "localhost", sizeof(e->hostname));
	e->hostname[sizeof(e->hostname) - 1] = '\0';
	e->dry_run = mp_conf_bool(conf, "milter", "dry_run");
	e->received_spf = mp_conf_bool(conf, "milter", "received_spf");
	e->skip_authenticated = mp_conf_bool(conf, "milter", "skip_authenticated");
	e->on_error_tempfail = strcmp(mp_conf_str(conf, "milter", "on_error"), "tempfail") == 0;
	n = mp_conf_int(conf, "milter", "max_headers");
	e->max_headers = n > 0 ? (size_t)n : 1;
	n = mp_conf_int(conf, "milter", "max_header_bytes");
	e->max_header_bytes = n > 0 ? (size_t)n : 1;
	return e;

fail:
	engine_free(e);
	return NULL;
}

bool
mp_engine_publish(struct mp_engine *e)
{
	struct mp_engine *old;

	pthread_mutex_lock(&engine_mu);
	if (shutting_down) {
		pthread_mutex_unlock(&engine_mu);
		mp_engine_release(&e);
		return false;
	}
	e->generation = ++generations;
	old = current;
	current = e;
	pthread_mutex_unlock(&engine_mu);
	mp_engine_release(&old);
	return true;
}

struct mp_engine *
mp_engine_acquire(void)
{
	struct mp_engine *e;

	pthread_mutex_lock(&engine_mu);
	e = current;
	if (e)
		e->refs++;
	pthread_mutex_unlock(&engine_mu);
	return e;
}

/* Drops one reference; true when it was the last (the caller frees). */
static bool
unref(struct mp_engine *e)
{
	bool last;

	pthread_mutex_lock(&engine_mu);
	last = --e->refs == 0;
	pthread_mutex_unlock(&engine_mu);
	return last;
}

void
mp_engine_release(struct mp_engine **ep)
{
	struct mp_engine *e = *ep;

	if (e == NULL)
		return;
	*ep = NULL;
	/* Freed outside the lock: tearing down a resolver takes a while. */
	if (unref(e))
		engine_free(e);
}

static void *
reaper(void *arg)
{
	engine_free(arg);
	pthread_mutex_lock(&engine_mu);
	reapers--;
	pthread_cond_broadcast(&reaped_cv);
	pthread_mutex_unlock(&engine_mu);
	return NULL;
}

void
mp_engine_release_async(struct mp_engine **ep)
{
	struct mp_engine *e = *ep;
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	if (e == NULL)
		return;
	*ep = NULL;
	if (!unref(e))
		return;
	pthread_mutex_lock(&engine_mu);
	reapers++;
	pthread_mutex_unlock(&engine_mu);
	/* The thread inherits our signal mask: every signal stays blocked. */
	rc = pthread_attr_init(&attr);
	if (rc == 0) {
		(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&tid, &attr, reaper, e);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0) {
		/* Slow, but never a leak nor a lost store queue. */
		mp_log(LOG_WARNING, "cannot start a thread to free configuration generation "
		    "%lu: freeing it in line", e->generation);
		reaper(e);
	}
}

bool
mp_engine_reload(const char *path, char *err, size_t errlen)
{
	struct mp_conf *conf;
	struct mp_engine *e;
	char why[512];

	pthread_mutex_lock(&engine_mu);
	if (shutting_down) {
		pthread_mutex_unlock(&engine_mu);
		snprintf(err, errlen, "shutting down");
		return false;
	}
	pthread_mutex_unlock(&engine_mu);
	conf = mp_conf_load(path, why, sizeof(why));
	if (conf == NULL) {
		snprintf(err, errlen, "%s", why);
		return false;
	}
	e = mp_engine_build(conf, why, sizeof(why));
	if (e == NULL) {
		mp_conf_unref(&conf);
		snprintf(err, errlen, "%s", why);
		return false;
	}
	mp_milter_apply_log(conf);
	mp_conf_unref(&conf);
	/* Checked again under the lock: a shutdown may have begun meanwhile. */
	if (!mp_engine_publish(e)) {
		snprintf(err, errlen, "shutting down");
		return false;
	}
	return true;
}

void
mp_engine_shutdown(void)
{
	struct mp_engine *old;

	pthread_mutex_lock(&engine_mu);
	shutting_down = true;
	old = current;
	current = NULL;
	pthread_mutex_unlock(&engine_mu);
	mp_engine_release(&old);
	/* Each reaper is bounded by its store's drain and resolver teardown. */
	pthread_mutex_lock(&engine_mu);
	while (reapers > 0)
		pthread_cond_wait(&reaped_cv, &engine_mu);
	pthread_mutex_unlock(&engine_mu);
}
