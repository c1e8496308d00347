/*
 * engine: the current configuration generation and its swap on reload.
 *
 * One mutex guards the pointer to the current generation and every
 * generation's reference count; it is held only for a pointer copy and
 * an increment, never across an evaluation or a config load, so a slow
 * reload (the evaluator loads the PSL) never stalls a message.
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
static struct mp_engine *current;
static unsigned long generations;

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

void
mp_engine_publish(struct mp_engine *e)
{
	struct mp_engine *old;

	pthread_mutex_lock(&engine_mu);
	e->generation = ++generations;
	old = current;
	current = e;
	pthread_mutex_unlock(&engine_mu);
	mp_engine_release(&old);
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

void
mp_engine_release(struct mp_engine **ep)
{
	struct mp_engine *e = *ep;
	bool last;

	if (e == NULL)
		return;
	*ep = NULL;
	pthread_mutex_lock(&engine_mu);
	last = --e->refs == 0;
	pthread_mutex_unlock(&engine_mu);
	/* Freed outside the lock: tearing down a resolver takes a while. */
	if (last)
		engine_free(e);
}

bool
mp_engine_reload(const char *path, char *err, size_t errlen)
{
	struct mp_conf *conf;
	struct mp_engine *e;
	char why[512];

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
	mp_engine_publish(e);
	return true;
}

void
mp_engine_shutdown(void)
{
	struct mp_engine *old;

	pthread_mutex_lock(&engine_mu);
	old = current;
	current = NULL;
	pthread_mutex_unlock(&engine_mu);
	mp_engine_release(&old);
}
