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
 *
 * Memory. A generation is about 24 MB once it has seen mail (measured):
 * the posture cache, 2048 slots of 8.8 kB (18 MB), the PSL
 * (1.7 MB), the resolver (0.4 MB, and 2.5 MB more once libunbound's
 * worker thread runs), then the DNS caches. Most of it is allocated by
 * whichever thread touches it first: the posture cache by a libmilter
 * worker, the resolver's by libunbound's thread. Left to itself, glibc
 * serves those blocks from that thread's arena: after the first 18 MB
 * block is freed its dynamic mmap threshold rises to 18 MB (and its trim
 * threshold to 36 MB), so every later posture cache comes from an arena
 * heap, is zeroed page by page, and stays resident after it is freed.
 * glibc keeps up to 8 arenas per core: on 2 cores, 16 arenas of 20 MB, so
 * 11 MB of RSS grew to 250 MB after 100 reloads under load, 24 MB of it
 * in use (malloc_stats). So the first build fixes the mmap threshold
 * (large blocks always get their own mapping, zero-filled by the kernel
 * on first touch and unmapped on free), and each freed generation is
 * followed by malloc_trim(), which hands the free pages inside every
 * arena (the PSL's and libunbound's many small blocks) back to the
 * kernel; it cannot shrink the top of an arena's heap, so alone it left
 * 244 MB; the threshold alone left 19 MB, both 14 MB
 * (tests/integration/milter-reload-rss.sh). malloc_trim took 0 to 9 ms,
 * on the reload or reaper thread, never on a worker (it may hold an
 * arena lock a worker waits on for a few ms). Both calls are
 * glibc's; elsewhere the allocator decides.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* (after a libc header, which defines __GLIBC__) */
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "log.h"
#include "milter.h"
#include "redis_pcache.h"
#include "util.h"

static pthread_mutex_t engine_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reaped_cv = PTHREAD_COND_INITIALIZER;
static struct mp_engine *current;
static unsigned long generations;
static bool shutting_down;      /* no publish after mp_engine_shutdown */
static unsigned reapers;        /* reaper threads still freeing a generation */
static pthread_once_t malloc_once = PTHREAD_ONCE_INIT;

/*
 * glibc's default: 128 kB, fixed rather than dynamic (see the top of this
 * file). Only per-generation and per-process blocks are above it (the
 * posture cache above all): 500 more evaluations after the first 10 made
 * no further mmap (strace), so the message path pays no system call.
 */
#define ENGINE_MMAP_THRESHOLD (128 * 1024)

static void
malloc_setup(void)
{
#ifdef __GLIBC__
	if (mallopt(M_MMAP_THRESHOLD, ENGINE_MMAP_THRESHOLD) != 1)
		mp_log(LOG_WARNING, "mallopt(M_MMAP_THRESHOLD) failed: memory freed by "
		    "a reload may stay resident");
#endif
}

/* After a generation is gone: its free pages go back to the kernel. */
static void
malloc_release(unsigned long generation)
{
#ifdef __GLIBC__
	unsigned long long t0 = mp_now_ms();

	(void)malloc_trim(0);
	mp_log(LOG_DEBUG, "configuration generation %lu freed; malloc_trim took %llu ms",
	    generation, mp_now_ms() - t0);
#else
	(void)generation;
#endif
}

static void
engine_free(struct mp_engine *e)
{
	unsigned long generation = e->generation;

	mp_evaluator_free(&e->ev);
	mp_policy_free(&e->policy);
	mp_netlist_free(&e->skip_networks);
	mp_domlist_free(&e->skip_mail_from);
	/* Drains what is queued, for at most [redis] timeout. */
	mp_store_free(&e->store);
	mp_conf_unref(&e->conf);
	free(e);
	malloc_release(generation);
}

struct mp_engine *
mp_engine_build(struct mp_conf *conf, char *err, size_t errlen)
{
	struct mp_engine *e;
	char why[256];

	/* Before the first generation allocates anything large. */
	pthread_once(&malloc_once, malloc_setup);
	e = xcalloc(1, sizeof(*e));
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
	e->policy = mp_policy_new(conf);
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
	/* Postures computed by the other MX hosts, brought in by the store's
	 * writer thread: the message path never waits for Redis. */
	if (e->store != NULL && mp_conf_bool(conf, "redis", "share_posture") &&
	    mp_conf_bool(conf, "policy", "posture") && mp_conf_int(conf, "policy", "posture_ttl") > 0)
		mp_evaluator_set_pcache(e->ev, mp_pcache_shared_new(e->store,
		    (unsigned long long)mp_conf_int(conf, "policy", "posture_ttl") * 1000ULL,
		    e->hostname));
	e->dry_run = mp_conf_bool(conf, "milter", "dry_run");
	e->received_spf = mp_conf_bool(conf, "milter", "received_spf");
	e->skip_authenticated = mp_conf_bool(conf, "milter", "skip_authenticated");
	e->on_error_tempfail = strcmp(mp_conf_str(conf, "milter", "on_error"), "tempfail") == 0;
	/* The option table bounds both at 1 or more. */
	e->max_headers = (size_t)mp_conf_int(conf, "milter", "max_headers");
	e->max_header_bytes = (size_t)mp_conf_int(conf, "milter", "max_header_bytes");
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
