/*
 * dns: the resolver, over libunbound. What it returns is parsed by
 * dns_answer.c, dns_rdata.c and dns_name.c (see dns_int.h).
 *
 * Threading. One ub_ctx per struct mp_dns, in libunbound's threaded async
 * mode (its own worker thread; the default would fork(), which a milter
 * must not do), plus one dispatcher thread of ours that waits on ub_fd()
 * and calls ub_process(). Callers submit with ub_resolve_async() and wait
 * on their own query's condition variable, with a timed wait that
 * enforces the per-query timeout and the caller's deadline. A condition
 * variable per query, since a shared one would wake every waiting worker
 * at each answer: with 20 sessions, most wake-ups would be for somebody
 * else's query.
 *
 * Why this rather than one ub_ctx per thread: libmilter runs
 * many short-lived worker threads, and a context per thread would mean a
 * resolver thread and a cold cache per connection; one shared context
 * keeps one cache, which is what a mail filter wants. Why a dispatcher
 * rather than "whoever waits calls ub_process": ub_process delivers the
 * callbacks of every thread's queries, so waiting threads would have to
 * elect a leader and hand the role over when it leaves; one thread that
 * only does that is simpler to get right.
 *
 * Cancelling. libunbound (threaded mode) guarantees under its own lock
 * that after ub_cancel() returns 0 the callback is never called, and that
 * when it fails with UB_NOID the callback has been or is being called. A
 * waiter that times out marks its query abandoned under our mutex, then
 * cancels: on success it frees the query itself, otherwise the callback
 * sees the mark and frees it. No libunbound call is ever made while our
 * mutex is held, so the two locks cannot deadlock.
 *
 * Caching. libunbound's cache stays on: for a milter it saves the same
 * SPF and DMARC lookups for every message of a sender. In front of it sits
 * dnscache, which answers repeated lookups without the thread round trip
 * (see dnscache.h). Tests do not suffer, since each test program has its
 * own server and static zones; a test that needs a fresh view (a dead
 * upstream) makes its own mp_dns.
 *
 * Prefetching. mp_dns_prefetch submits a query that nobody waits for:
 * its callback (in the dispatcher, like every callback) files the answer
 * in dnscache and frees the query. Prefetches are kept in a list so that
 * mp_dns_free can free those libunbound drops without a callback.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <unbound.h>

#include "dns_int.h"
#include "dnscache.h"
#include "log.h"
#include "metrics.h"

struct dns_cb;
struct dns_prefetch;

struct mp_dns {
	struct ub_ctx *ctx;
	unsigned timeout_ms;
	pthread_mutex_t mu;
	struct dns_cb *waiting; /* queries with a waiter, to wake if broken */
	bool started;           /* dispatcher thread running */
	bool broken;            /* dispatcher gave up: fail fast */
	pthread_t thread;
	int wake[2];            /* tells the dispatcher to exit */
	struct mp_dnscache *cache;
	struct dns_prefetch *prefetching; /* submitted, not answered yet */
	unsigned nprefetch;
};

static void prefetch_free_all(struct mp_dns *dns);

/* One query in flight; shared between the waiter and the callback. */
struct dns_query {
	bool done;
	bool abandoned;         /* the waiter left: the callback frees this */
	int err;
	struct ub_result *res;
};

/*
 * Context.
 */
static bool
ub_ok(int rc, const char *what, char *err, size_t errlen)
{
	if (rc == 0)
		return true;
	snprintf(err, errlen, "dns: %s: %s", what, ub_strerror(rc));
	return false;
}

/* The settings every context gets, whatever the options. */
static bool
ctx_defaults(struct ub_ctx *ctx, char *err, size_t errlen)
{
	/*
	 * libunbound answers these reverse zones itself (NXDOMAIN) unless
	 * told not to: the documentation prefixes used in tests and examples.
	 * A forwarding resolver should ask its upstream, which may serve them.
	 */
	static const char *nodefault[] = {
		"2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.",
		"113.0.203.in-addr.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa.",
	};
	char buf[128];

	/* Threaded, never forked: see the top of this file. */
	if (!ub_ok(ub_ctx_async(ctx, 1), "async mode", err, errlen))
		return false;
	/* A loopback forwarder (a local unbound, or NSD in tests) is normal. */
	if (!ub_ok(ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"),
	    "do-not-query-localhost", err, errlen))
		return false;
	/* Reverse lookups of RFC 1918 clients go to the site's resolver. */
	if (!ub_ok(ub_ctx_set_option(ctx, "unblock-lan-zones:", "yes"),
	    "unblock-lan-zones", err, errlen))
		return false;
	if (!ub_ok(ub_ctx_set_option(ctx, "insecure-lan-zones:", "yes"),
	    "insecure-lan-zones", err, errlen))
		return false;
	for (size_t i = 0; i < MP_ARRAY_SIZE(nodefault); i++) {
		snprintf(buf, sizeof(buf), "%s nodefault", nodefault[i]);
		if (!ub_ok(ub_ctx_set_option(ctx, "local-zone:", buf),
		    "local-zone", err, errlen))
			return false;
	}
	return true;
}

/* The upstream and the trust anchor of the options. */
static bool
ctx_options(struct ub_ctx *ctx, const struct mp_dns_options *opt, char *err, size_t errlen)
{
	FILE *fp;

	if (opt->upstream != NULL && opt->upstream[0] != '\0') {
		int rc = ub_ctx_set_fwd(ctx, opt->upstream);

		if (rc != 0) {
			struct mp_buf p = MP_BUF_INIT;

			mp_printable(&p, opt->upstream, strlen(opt->upstream), MP_SHOW_SETTING);
			snprintf(err, errlen, "dns: bad upstream \"%s\" (want an IP "
			    "address, optionally @port): %s", mp_buf_str(&p), ub_strerror(rc));
			mp_buf_free(&p);
			return false;
		}
	} else if (!ub_ok(ub_ctx_resolvconf(ctx, NULL), "/etc/resolv.conf",
	    err, errlen))
		return false;
	if (opt->trust_anchor_file != NULL && opt->trust_anchor_file[0] != '\0') {
		/* libunbound reads it only at the first query: fail here instead. */
		if ((fp = fopen(opt->trust_anchor_file, "r")) == NULL) {
			snprintf(err, errlen, "dns: trust anchor %s: %s",
			    opt->trust_anchor_file, strerror(errno));
			return false;
		}
		fclose(fp);
		if (!ub_ok(ub_ctx_add_ta_file(ctx, opt->trust_anchor_file),
		    "trust anchor", err, errlen))
			return false;
	}
	/*
	 * Finalise the configuration now, so that a bad trust anchor file
	 * fails here and not at the first message: removing a zone that does
	 * not exist is the one public call that finalises without side effect.
	 */
	return ub_ok(ub_ctx_zone_remove(ctx, "mailposture-finalize.invalid."),
	    "libunbound refused the configuration (bad trust anchor file?)", err, errlen);
}

struct mp_dns *
mp_dns_new(const struct mp_dns_options *opt, char *err, size_t errlen)
{
	struct mp_dns *dns;

	if (err == NULL || errlen == 0)
		return NULL;
	err[0] = '\0';
	if (opt == NULL) {
		snprintf(err, errlen, "dns: no options");
		return NULL;
	}
	dns = xcalloc(1, sizeof(*dns));
	dns->wake[0] = dns->wake[1] = -1;
	dns->timeout_ms = opt->timeout_ms ? opt->timeout_ms : MP_DNS_DEFAULT_TIMEOUT_MS;
	if ((dns->ctx = ub_ctx_create()) == NULL) {
		snprintf(err, errlen, "dns: ub_ctx_create failed");
		goto fail;
	}
	if (!ctx_defaults(dns->ctx, err, errlen) || !ctx_options(dns->ctx, opt, err, errlen))
		goto fail;
	if (pipe(dns->wake) == -1) {
		snprintf(err, errlen, "dns: pipe: %s", strerror(errno));
		goto fail;
	}
	for (int i = 0; i < 2; i++)
		(void)fcntl(dns->wake[i], F_SETFD, FD_CLOEXEC);
	pthread_mutex_init(&dns->mu, NULL);
	if (!opt->no_cache)
		dns->cache = mp_dnscache_new();
	return dns;
fail:
	if (dns->ctx != NULL)
		ub_ctx_delete(dns->ctx);
	for (int i = 0; i < 2; i++)
		if (dns->wake[i] != -1)
			close(dns->wake[i]);
	free(dns);
	return NULL;
}

void
mp_dns_free(struct mp_dns **dnsp)
{
	struct mp_dns *dns;

	if (dnsp == NULL || (dns = *dnsp) == NULL)
		return;
	*dnsp = NULL;
	if (dns->started) {
		char c = 'q';

		while (write(dns->wake[1], &c, 1) == -1 && errno == EINTR)
			;
		pthread_join(dns->thread, NULL);
	}
	/* Queries still in the worker are dropped without callbacks. */
	ub_ctx_delete(dns->ctx);
	prefetch_free_all(dns);
	close(dns->wake[0]);
	close(dns->wake[1]);
	pthread_mutex_destroy(&dns->mu);
	mp_dnscache_free(&dns->cache);
	free(dns);
}

void
mp_dns_cache_stats(struct mp_dns *dns, struct mp_dnscache_stats *st_r)
{
	mp_dnscache_stats(dns != NULL ? dns->cache : NULL, st_r);
}

/*
 * Dispatcher.
 */
/* The callback needs the mp_dns for its lock; this pairs the two. */
struct dns_cb {
	struct mp_dns *dns;
	struct dns_query q;
	pthread_cond_t cv;      /* signalled when this query completes */
	struct dns_cb *prev, *next; /* in dns->waiting while a waiter waits */
};

static struct dns_cb *
cb_new(struct mp_dns *dns)
{
	struct dns_cb *cb = xcalloc(1, sizeof(*cb));
	pthread_condattr_t ca;

	cb->dns = dns;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cb->cv, &ca);
	pthread_condattr_destroy(&ca);
	return cb;
}

static void
cb_free(struct dns_cb *cb)
{
	pthread_cond_destroy(&cb->cv);
	free(cb);
}

/* Under dns->mu. */
static void
cb_link(struct mp_dns *dns, struct dns_cb *cb)
{
	cb->prev = NULL;
	cb->next = dns->waiting;
	if (dns->waiting != NULL)
		dns->waiting->prev = cb;
	dns->waiting = cb;
}

/* Under dns->mu. */
static void
cb_unlink(struct mp_dns *dns, struct dns_cb *cb)
{
	if (cb->prev != NULL)
		cb->prev->next = cb->next;
	else
		dns->waiting = cb->next;
	if (cb->next != NULL)
		cb->next->prev = cb->prev;
	cb->prev = cb->next = NULL;
}

static void
cb_done(void *arg, int err, struct ub_result *res)
{
	struct dns_cb *cb = arg;
	struct mp_dns *dns = cb->dns;
	bool orphan;

	pthread_mutex_lock(&dns->mu);
	orphan = cb->q.abandoned;
	if (!orphan) {
		cb->q.done = true;
		cb->q.err = err;
		cb->q.res = res;
		pthread_cond_signal(&cb->cv);
	}
	pthread_mutex_unlock(&dns->mu);
	if (orphan) {
		ub_resolve_free(res);
		cb_free(cb);
	}
}

static void *
dispatcher(void *arg)
{
	struct mp_dns *dns = arg;
	struct pollfd pfd[2];

	pfd[0].fd = ub_fd(dns->ctx);
	pfd[0].events = POLLIN;
	pfd[1].fd = dns->wake[0];
	pfd[1].events = POLLIN;
	for (;;) {
		int rc;

		pfd[0].revents = pfd[1].revents = 0;
		rc = poll(pfd, 2, -1);
		if (rc == -1) {
			if (errno == EINTR)
				continue;
			mp_log(LOG_ERR, "dns: poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents != 0)
			return NULL;
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			mp_log(LOG_ERR, "dns: resolver pipe closed");
			break;
		}
		if (pfd[0].revents & POLLIN) {
			rc = ub_process(dns->ctx);
			if (rc != 0) {
				mp_log(LOG_ERR, "dns: ub_process: %s", ub_strerror(rc));
				break;
			}
		}
	}
	/* Waiters must not sit out their whole timeout for nothing. */
	pthread_mutex_lock(&dns->mu);
	dns->broken = true;
	for (struct dns_cb *cb = dns->waiting; cb != NULL; cb = cb->next)
		pthread_cond_signal(&cb->cv);
	pthread_mutex_unlock(&dns->mu);
	return NULL;
}

/* Under dns->mu. Signals stay with the program's own threads. */
static bool
dispatcher_start(struct mp_dns *dns)
{
	sigset_t all, old;
	int rc;

	if (dns->started)
		return true;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&dns->thread, NULL, dispatcher, dns);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		mp_log(LOG_ERR, "dns: pthread_create: %s", strerror(rc));
		return false;
	}
	dns->started = true;
	return true;
}


/*
 * Queries.
 */
#ifdef MP_DNS_FAKE
/* The fuzzing hook (dns.h): compiled only into the fuzz build. */
static mp_dns_fake_fn fake_fn;
static void *fake_arg;

void
mp_dns_set_fake(mp_dns_fake_fn fn, void *arg)
{
	fake_fn = fn;
	fake_arg = arg;
}
#endif

/* Sends the query; NULL, with *err_r the result to return, when it could not. */
static struct dns_cb *
query_submit(struct mp_dns *dns, const char *name, enum mp_dns_type type, int *id_r,
    struct mp_dns_result **err_r)
{
	struct dns_cb *cb;
	int rc;

	pthread_mutex_lock(&dns->mu);
	if (dns->broken || !dispatcher_start(dns)) {
		pthread_mutex_unlock(&dns->mu);
		*err_r = mp_dns_result_new(MP_DNS_ERROR, "resolver thread not running");
		return NULL;
	}
	pthread_mutex_unlock(&dns->mu);

	cb = cb_new(dns);
	pthread_mutex_lock(&dns->mu);
	cb_link(dns, cb);
	pthread_mutex_unlock(&dns->mu);
	rc = ub_resolve_async(dns->ctx, name, (int)type, 1, cb, cb_done, id_r);
	if (rc != 0) {
		/* Nothing was queued, so no callback will come. */
		pthread_mutex_lock(&dns->mu);
		cb_unlink(dns, cb);
		pthread_mutex_unlock(&dns->mu);
		cb_free(cb);
		*err_r = mp_dns_result_new(MP_DNS_ERROR, ub_strerror(rc));
		return NULL;
	}
	return cb;
}

/* Under dns->mu: waits for the answer until end (mp_now_ms) or a dead dispatcher. */
static void
query_wait(struct mp_dns *dns, struct dns_cb *cb, unsigned long long end)
{
	struct timespec ts;

	while (!cb->q.done && !dns->broken) {
		unsigned long long now = mp_now_ms();

		if (now >= end)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)((end - now) / 1000);
		ts.tv_nsec += (long)((end - now) % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		(void)pthread_cond_timedwait(&cb->cv, &dns->mu, &ts);
	}
}

/* A query marked abandoned: cancels it, and says why there is no answer. */
static struct mp_dns_result *
query_abandon(struct mp_dns *dns, struct dns_cb *cb, int id, bool broken, unsigned wait_ms)
{
	/*
	 * 0: the callback will never run, the query is ours to free.
	 * Otherwise the callback has run or is running, and it frees
	 * cb because of the abandoned mark: do not touch cb again.
	 * A dead dispatcher delivers nothing: cancel then always works.
	 */
	if (ub_cancel(dns->ctx, id) == 0)
		cb_free(cb);
	if (broken)
		return mp_dns_result_new(MP_DNS_ERROR, "resolver thread stopped");
	mp_metrics_inc(MP_M_DNS_TIMEOUTS);
	return mp_dns_result_new(MP_DNS_TIMEOUT, wait_ms < dns->timeout_ms ?
	    "no answer before the deadline" : "no answer within the timeout");
}

/* Fills r from libunbound's answer and keeps a copy in the cache. */
static void
answer_keep(struct mp_dns *dns, struct mp_dns_result *r, const char *name,
    enum mp_dns_type type, const struct ub_result *ur)
{
	dns_fill_result(r, name, type, ur);
	mp_dnscache_put(dns->cache, name, type, r, ur->ttl, mp_now_ms());
}

/* The result of a query the callback completed, kept in the cache; frees cb. */
static struct mp_dns_result *
query_answer(struct mp_dns *dns, struct dns_cb *cb, const char *name, enum mp_dns_type type)
{
	struct mp_dns_result *r = mp_dns_result_new(MP_DNS_OK, NULL);

	if (cb->q.err != 0 || cb->q.res == NULL) {
		int err = cb->q.err ? cb->q.err : UB_NOMEM;

		r->status = err == UB_SERVFAIL ? MP_DNS_SERVFAIL : MP_DNS_ERROR;
		r->why = xstrdup(ub_strerror(err));
	} else
		answer_keep(dns, r, name, type, cb->q.res);
	ub_resolve_free(cb->q.res);
	cb_free(cb);
	return r;
}

struct mp_dns_result *
mp_dns_query(struct mp_dns *dns, const struct mp_deadline *deadline,
    const char *name, enum mp_dns_type type)
{
	struct mp_dns_result *r = NULL;
	struct dns_cb *cb;
	unsigned wait_ms, left;
	unsigned long long end;
	int id = 0;
	bool done, broken;

	if (dns == NULL)
		return mp_dns_result_new(MP_DNS_ERROR, "no resolver");
	if (!dns_query_name_ok(name))
		return mp_dns_result_new(MP_DNS_ERROR, "bad query name");
#ifdef MP_DNS_FAKE
	if (fake_fn != NULL)
		return fake_fn(fake_arg, name, type);
#endif
	mp_metrics_inc(MP_M_DNS_QUERIES);
	if ((r = mp_dnscache_get(dns->cache, name, type, mp_now_ms())) != NULL)
		return r;
	wait_ms = dns->timeout_ms;
	left = mp_deadline_left(deadline);
	if (left < wait_ms)
		wait_ms = left;
	if (wait_ms == 0)
		return mp_dns_result_new(MP_DNS_TIMEOUT, "deadline expired before the query");
	end = mp_now_ms() + wait_ms;
	if ((cb = query_submit(dns, name, type, &id, &r)) == NULL)
		return r;

	pthread_mutex_lock(&dns->mu);
	query_wait(dns, cb, end);
	cb_unlink(dns, cb);
	done = cb->q.done;
	broken = dns->broken;
	if (!done)
		cb->q.abandoned = true;
	pthread_mutex_unlock(&dns->mu);
	if (!done)
		return query_abandon(dns, cb, id, broken, wait_ms);
	return query_answer(dns, cb, name, type);
}


/*
 * Prefetch.
 */
struct dns_prefetch {
	struct mp_dns *dns;
	enum mp_dns_type type;
	struct dns_prefetch *prev, *next; /* in dns->prefetching */
	char name[];
};

/* Under dns->mu. */
static void
prefetch_unlink(struct mp_dns *dns, struct dns_prefetch *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		dns->prefetching = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	dns->nprefetch--;
}

/* In the dispatcher: nobody waits, so the answer only goes to the cache. */
static void
prefetch_done(void *arg, int err, struct ub_result *res)
{
	struct dns_prefetch *p = arg;
	struct mp_dns *dns = p->dns;

	if (err == 0 && res != NULL) {
		struct mp_dns_result *r = mp_dns_result_new(MP_DNS_OK, NULL);

		answer_keep(dns, r, p->name, p->type, res);
		mp_dns_result_free(&r);
	}
	ub_resolve_free(res);
	pthread_mutex_lock(&dns->mu);
	prefetch_unlink(dns, p);
	pthread_mutex_unlock(&dns->mu);
	free(p);
}

void
mp_dns_prefetch(struct mp_dns *dns, const char *name, enum mp_dns_type type)
{
	struct dns_prefetch *p;
	size_t n;
	int id;

	if (dns == NULL || dns->cache == NULL || !dns_query_name_ok(name))
		return;
#ifdef MP_DNS_FAKE
	if (fake_fn != NULL)
		return;
#endif
	n = strlen(name);
	p = xcalloc(1, sizeof(*p) + n + 1);
	p->dns = dns;
	p->type = type;
	memcpy(p->name, name, n + 1);
	pthread_mutex_lock(&dns->mu);
	if (dns->broken || dns->nprefetch >= MP_DNS_PREFETCH_MAX || !dispatcher_start(dns)) {
		pthread_mutex_unlock(&dns->mu);
		free(p);
		return;
	}
	p->next = dns->prefetching;
	if (p->next != NULL)
		p->next->prev = p;
	dns->prefetching = p;
	dns->nprefetch++;
	pthread_mutex_unlock(&dns->mu);
	/* From here the callback may run (and free p) at any moment. */
	if (ub_resolve_async(dns->ctx, p->name, (int)type, 1, p, prefetch_done, &id) != 0) {
		pthread_mutex_lock(&dns->mu);
		prefetch_unlink(dns, p);
		pthread_mutex_unlock(&dns->mu);
		free(p);
	}
}

/* After the dispatcher stopped and the context went: no callback is left. */
static void
prefetch_free_all(struct mp_dns *dns)
{
	while (dns->prefetching != NULL) {
		struct dns_prefetch *p = dns->prefetching;

		prefetch_unlink(dns, p);
		free(p);
	}
}
