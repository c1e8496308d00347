/*
 * aggregate-scale: synthetic verdicts of DMARC-judged mail through the
 * store's writer and script into a real Redis, with or without the
 * aggregate report's capture, for tests/bench/aggregate-scale.sh. Prints
 * the writer's verdicts per second, the script's time per call on the
 * server, and (--measure) what the report keys hold.
 *
 *	aggregate-scale --redis ADDR [--messages N] [--domains N] [--capture yes|no]
 *	                [--day-start T] [--measure]
 *
 * Message i is of domain i % domains, from one of 8 addresses per
 * domain, with one of 3 outcomes (pass; SPF fail refused under
 * p=reject; a DKIM pass with an SPF softfail): up to 24 rows a domain.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "store.h"
#include "util.h"

#define QUEUE 65536

struct bench {
	const char *addr;
	long n, ndom;
	bool capture, measure;
	time_t t0;                  /* every message falls on this UTC day */
};

static void
usage(void)
{
	fprintf(stderr, "usage: aggregate-scale --redis ADDR [--messages N] [--domains N] "
	    "[--capture yes|no] [--day-start T] [--measure]\n");
	exit(2);
}

static void
parse_args(int argc, char **argv, struct bench *b)
{
	memset(b, 0, sizeof(*b));
	b->n = 1000000;
	b->ndom = 10000;
	b->capture = true;
	b->t0 = time(NULL) / 86400 * 86400;
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "--measure") == 0)
			b->measure = true;
		else if (v == NULL)
			usage();
		else if (strcmp(argv[i], "--redis") == 0)
			b->addr = argv[++i];
		else if (strcmp(argv[i], "--messages") == 0)
			b->n = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--domains") == 0)
			b->ndom = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--capture") == 0)
			b->capture = strcmp(argv[++i], "yes") == 0;
		else if (strcmp(argv[i], "--day-start") == 0)
			b->t0 = (time_t)strtoll(argv[++i], NULL, 10);
		else
			usage();
	}
	if (b->addr == NULL || b->n < 1 || b->ndom < 1 || b->ndom > b->n)
		usage();
}

static void
fill(struct mp_store_record *r, long i, const struct bench *b)
{
	long d = i % b->ndom, k = i / b->ndom;
	int outcome = (int)(k % 3);

	mp_store_record_init(r);
	snprintf(r->from_domain, sizeof(r->from_domain), "sender%ld.example.com", d);
	mp_strlcpy(r->org_domain, r->from_domain, sizeof(r->org_domain));
	mp_strlcpy(r->host, "mx1.example.org", sizeof(r->host));
	snprintf(r->queue_id, sizeof(r->queue_id), "4B%08lX", i);
	snprintf(r->ip, sizeof(r->ip), "198.51.%ld.%ld", d % 200, (d * 7 + k) % 8 + 1);
	snprintf(r->mail_from, sizeof(r->mail_from), "bounce@%s", r->from_domain);
	r->time = b->t0 + (time_t)(i * 86000 / b->n);
	r->policy = r->published = MP_DMARC_P_REJECT;
	r->spf = outcome == 0 ? MP_SPF_PASS : outcome == 1 ? MP_SPF_FAIL : MP_SPF_SOFTFAIL;
	r->spf_aligned = outcome == 0;
	r->dkim_aligned = outcome == 2;
	r->dmarc = outcome == 1 ? MP_DMARC_FAIL : MP_DMARC_PASS;
	r->disposition = outcome == 1 ? MP_DMARC_P_REJECT : MP_DMARC_P_UNSET;
	r->action = outcome == 1 ? MP_ACTION_REJECT : MP_ACTION_ACCEPT;
	r->ndkim = 1;
	mp_strlcpy(r->dkim[0].domain, r->from_domain, sizeof(r->dkim[0].domain));
	mp_strlcpy(r->dkim[0].selector, "s1", sizeof(r->dkim[0].selector));
	r->dkim[0].result = outcome == 2 ? MP_DKIM_PASS : MP_DKIM_FAIL;
	r->dkim[0].aligned = true;
	if (!b->capture)
		return;
	mp_strlcpy(r->rep.policy_domain, r->from_domain, sizeof(r->rep.policy_domain));
	mp_strlcpy(r->rep.envelope_from, r->from_domain, sizeof(r->rep.envelope_from));
	mp_strlcpy(r->rep.spf_domain, r->from_domain, sizeof(r->rep.spf_domain));
	r->rep.p = MP_DMARC_P_REJECT;
	snprintf(r->rep.rua, sizeof(r->rep.rua), "mailto:dmarc@%s", r->from_domain);
}

static redisReply *
cmd(redisContext *c, const char *fmt, const char *arg)
{
	redisReply *r = redisCommand(c, fmt, arg);

	if (r == NULL) {
		fprintf(stderr, "aggregate-scale: redis: %s\n", c->errstr);
		exit(3);
	}
	return r;
}

/* The server's microseconds per EVALSHA since the last CONFIG RESETSTAT. */
static double
usec_per_evalsha(redisContext *c)
{
	redisReply *r = cmd(c, "INFO %s", "commandstats");
	const char *p = strstr(r->str, "cmdstat_evalsha:");
	double v = -1;

	if (p != NULL && (p = strstr(p, "usec_per_call=")) != NULL)
		v = strtod(p + 14, NULL);
	freeReplyObject(r);
	return v;
}

/* MEMORY USAGE summed over the report keys (P ar:* and P am:*). */
static void
measure(redisContext *c, const struct bench *b)
{
	char cursor[32] = "0";
	long long bytes = 0, keys = 0;

	do {
		redisReply *r = redisCommand(c, "SCAN %s MATCH mp:a[rm]:* COUNT 1000", cursor);

		if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
			exit(3);
		mp_strlcpy(cursor, r->element[0]->str, sizeof(cursor));
		for (size_t i = 0; i < r->element[1]->elements; i++)
			redisAppendCommand(c, "MEMORY USAGE %s SAMPLES 0", r->element[1]->element[i]->str);
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			redisReply *m;

			if (redisGetReply(c, (void **)&m) != REDIS_OK)
				exit(3);
			bytes += m->type == REDIS_REPLY_INTEGER ? m->integer : 0;
			keys++;
			freeReplyObject(m);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	printf("report keys: %lld, %lld bytes; %.0f bytes per domain-day\n", keys, bytes,
	    (double)bytes / (double)b->ndom);
}

int
main(int argc, char **argv)
{
	struct bench b;
	struct mp_store_options o;
	struct mp_store *s;
	struct mp_store_record r;
	redisContext *c;
	char err[512];
	unsigned long long t0, t1;

	parse_args(argc, argv, &b);
	mp_log_open("aggregate-scale", true, 0);
	mp_store_options_defaults(&o);
	mp_strlcpy(o.address, b.addr, sizeof(o.address));
	/* Records are 8 KB: a queue of the whole run would not fit in memory.
	 * A full queue is drained before the next submit, so the figure is
	 * still the writer's. */
	o.queue_size = QUEUE;
	if ((c = mp_store_connect(&o, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "aggregate-scale: %s\n", err);
		return 3;
	}
	freeReplyObject(cmd(c, "CONFIG RESETSTAT%s", ""));
	if ((s = mp_store_new(&o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "aggregate-scale: %s\n", err);
		return 3;
	}
	t0 = mp_now_ms();
	for (long i = 0; i < b.n; i++) {
		fill(&r, i, &b);
		if (!mp_store_submit(s, &r) &&
		    (!mp_store_flush(s, 600000) || !mp_store_submit(s, &r)))
			return 1;
	}
	if (!mp_store_flush(s, 600000))
		return 1;
	t1 = mp_now_ms();
	mp_store_free(&s);
	printf("capture %s: %ld verdicts of %ld domains in %.2f s: %.0f verdicts/s; "
	    "EVALSHA %.2f us per call on the server\n", b.capture ? "on " : "off", b.n, b.ndom,
	    (double)(t1 - t0) / 1000.0, (double)b.n * 1000.0 / (double)(t1 - t0 ? t1 - t0 : 1),
	    usec_per_evalsha(c));
	if (b.measure)
		measure(c, &b);
	redisFree(c);
	return 0;
}
