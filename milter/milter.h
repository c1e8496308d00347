/*
 * mailposture-milter internals: the reloadable engine (engine.c), the
 * connection and message contexts (ctx.c) and the libmilter callbacks
 * (milter.c up to the body, milter_eom.c at end of message). main.c
 * owns the process: options, socket, privileges, signals.
 */
#ifndef MP_MILTER_H
#define MP_MILTER_H

#include <stdbool.h>
#include <stddef.h>

#include <libmilter/mfapi.h>

#include "conf.h"
#include "decide.h"
#include "skip.h"
#include "store.h"
#include "verdict.h"

/*
 * One configuration generation: the config, the evaluator built from it
 * and the skip lists, plus the settings the callbacks read on every
 * message. Reference-counted: a message takes a reference at MAIL FROM
 * and keeps that generation to the end, so a SIGHUP reload never changes
 * the rules under a message in flight. Read-only once published.
 */
struct mp_engine {
	unsigned refs;                  /* guarded by the engine lock */
	unsigned long generation;       /* 1, 2, ... for the log */
	struct mp_conf *conf;
	struct mp_evaluator *ev;
	struct mp_policy *policy;       /* the [milter] actions, compiled */
	struct mp_netlist *skip_networks;
	struct mp_domlist *skip_mail_from;
	struct mp_store *store;         /* NULL when [redis] address is empty */
	char hostname[256];             /* with the queue id, a message's identity in Redis */
	const char *authserv_id;        /* owned by ev */
	bool dry_run;
	bool received_spf;
	bool skip_authenticated;
	bool on_error_tempfail;
	size_t max_headers;             /* From and A-R fields kept */
	size_t max_header_bytes;        /* bytes of those fields kept */
};

/* Builds a generation from a loaded config (referenced, not copied).
 * NULL + err when the evaluator or a skip list cannot be built. */
struct mp_engine *mp_engine_build(struct mp_conf *conf, char *err, size_t errlen);
/* Publishes e as the current generation (takes over the caller's
 * reference) and drops the previous one. After mp_engine_shutdown()
 * nothing is published: e is dropped and false returned. */
bool mp_engine_publish(struct mp_engine *e);
/* A counted reference to the current generation; NULL before the first
 * publish or after mp_engine_shutdown(). */
struct mp_engine *mp_engine_acquire(void);
/* Drops a reference; the last one frees the generation in the calling
 * thread (which may wait up to [redis] timeout): for the reload thread
 * and main only. */
void mp_engine_release(struct mp_engine **ep);
/* The same for the SMTP path: the last reference hands the generation to
 * a detached thread, so no reply to the MTA waits for it. */
void mp_engine_release_async(struct mp_engine **ep);
/* Loads path and publishes a new generation; on any error, or once
 * shutting down, the current one stays and false + err is returned. */
bool mp_engine_reload(const char *path, char *err, size_t errlen);
/* Stops publishing, drops the current generation (messages in flight
 * keep theirs) and waits for the generations being freed by
 * mp_engine_release_async. */
void mp_engine_shutdown(void);

/* The libmilter filter description with every callback. */
extern struct smfiDesc mp_milter_desc;

/* The milter socket is a unix socket: negotiate fewer round trips. */
void mp_milter_set_local_socket(bool local);

/* Applies the [log] section: level (and facility when reopening). */
void mp_milter_apply_log(const struct mp_conf *conf);

#endif
