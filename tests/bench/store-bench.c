/*
 * store-bench: synthetic verdicts through the store's writer thread into
 * a real Redis; prints writes per second, round trips per message and
 * Redis memory per domain. Not part of make check: run
 * tests/bench/run.sh (it starts a private redis-server) or
 * store-bench --redis HOST:PORT [--messages N] [--domains N].
 *
 * The queue is made as large as the run so that the producer never
 * waits and nothing is dropped: the figure is the writer's throughput.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "posture.h"
#include "store.h"
#include "util.h"

static long long
info_field(redisContext *c, const char *section, const char *field)
{
	redisReply *r = redisCommand(c, "INFO %s", section);
	char pat[128];
	const char *p;
	long long v = -1;

	snprintf(pat, sizeof(pat), "%s", field);
	if (r && r->type == REDIS_REPLY_STRING && (p = strstr(r->str, pat)) != NULL)
		v = strtoll(p + strlen(pat), NULL, 10);
	if (r)
		freeReplyObject(r);
	return v;
}

static long long
memory_usage(redisContext *c, const char *key)
{
	redisReply *r = redisCommand(c, "MEMORY USAGE %s SAMPLES 0", key);
	long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;

	if (r)
		freeReplyObject(r);
	return v;
}

static void
usage(void)
{
	fprintf(stderr, "usage: store-bench --redis HOST:PORT [--messages N] [--domains N]\n");
	exit(2);
}

struct bench {
	const char	*addr;
	long		 n;		/* messages */
	long		 ndom;		/* domains */
	time_t		 now;
};

struct figures {
	struct mp_store_stats st;
	unsigned long long submit_ms;	/* the submit loop alone */
	unsigned long long total_ms;	/* first submit until flushed */
	long long	 mem0, mem1;	/* used_memory before and after */
	long long	 evalsha;	/* the server's EVALSHA calls */
	double		 usec_per_call;	/* the server's time per EVALSHA */
	long long	 keys;
	long long	 dkeys;		/* one domain's own keys */
	long long	 mkey;		/* one message key */
};

static void
parse_args(int argc, char **argv, struct bench *b)
{
	b->addr = NULL;
	b->n = 100000;
	b->ndom = 10000;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc)
			b->addr = argv[++i];
		else if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
			b->n = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--domains") == 0 && i + 1 < argc)
			b->ndom = strtol(argv[++i], NULL, 10);
		else
			usage();
	}
	if (b->addr == NULL || b->n < 1 || b->ndom < 1 || b->ndom > b->n)
		usage();
}

/*
 * Message i, of domain i % ndom: the results cycle so that every counter
 * moves; only each domain's first message carries a posture score.
 */
static void
fill_record(struct mp_store_record *p, long i, const struct bench *b)
{
	static const enum mp_spf_result spfs[] = { MP_SPF_PASS, MP_SPF_PASS, MP_SPF_PASS,
		MP_SPF_FAIL, MP_SPF_SOFTFAIL, MP_SPF_NONE };
	static const enum mp_dmarc_result dmarcs[] = { MP_DMARC_PASS, MP_DMARC_PASS,
		MP_DMARC_FAIL, MP_DMARC_NONE, MP_DMARC_PASS };
	long d = i % b->ndom;

	mp_store_record_init(p);
	snprintf(p->from_domain, sizeof(p->from_domain), "sender%ld.example.com", d);
	mp_strlcpy(p->host, "mx1.example.org", sizeof(p->host));
	snprintf(p->queue_id, sizeof(p->queue_id), "4B%08lX", i);
	snprintf(p->ip, sizeof(p->ip), "198.51.100.%ld", (d * 7 + i / b->ndom) % 254 + 1);
	snprintf(p->helo, sizeof(p->helo), "mail%ld.example.net", d % 100);
	snprintf(p->mail_from, sizeof(p->mail_from), "bounce-%ld@sender%ld.example.com", i, d);
	p->time = b->now - (b->n - i) / 10;
	p->spf = spfs[i % MP_ARRAY_SIZE(spfs)];
	p->dmarc = dmarcs[i % MP_ARRAY_SIZE(dmarcs)];
	p->spf_aligned = p->spf == MP_SPF_PASS && p->dmarc == MP_DMARC_PASS;
	p->dkim_aligned = p->dmarc == MP_DMARC_PASS;
	p->policy = p->published = MP_DMARC_P_QUARANTINE;
	p->disposition = p->dmarc == MP_DMARC_FAIL ? MP_DMARC_P_QUARANTINE : MP_DMARC_P_UNSET;
	if (i < b->ndom) {
		p->posture_score = (int)(d * 37 % 101);
		mp_strlcpy(p->posture_grade, mp_posture_grade(p->posture_score),
		    sizeof(p->posture_grade));
	}
}

/* Returns the exit status: 0, or 3 without a store, 1 if it did not drain. */
static int
run_store(const struct mp_store_options *o, const struct bench *b, struct figures *f)
{
	struct mp_store_record *recs;
	struct mp_store *s;
	unsigned long long t0, t1, t2;
	char err[512];

	if ((s = mp_store_new(o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "store-bench: %s\n", err);
		return 3;
	}
	/* Build the records first, so that the timing is the store's. */
	recs = xcalloc((size_t)b->n, sizeof(*recs));
	for (long i = 0; i < b->n; i++)
		fill_record(&recs[i], i, b);
	t0 = mp_now_ms();
	for (long i = 0; i < b->n; i++)
		mp_store_submit(s, &recs[i]);
	t1 = mp_now_ms();
	if (!mp_store_flush(s, 600000)) {
		fprintf(stderr, "store-bench: the writer did not finish\n");
		return 1;
	}
	t2 = mp_now_ms();
	mp_store_get_stats(s, &f->st);
	mp_store_free(&s);
	free(recs);
	f->submit_ms = t1 - t0;
	f->total_ms = t2 - t0;
	return 0;
}

static double
evalsha_usec_per_call(redisContext *c)
{
	redisReply *rep = redisCommand(c, "INFO commandstats");
	double usec = 0;
	const char *q;

	if (rep && rep->type == REDIS_REPLY_STRING &&
	    (q = strstr(rep->str, "cmdstat_evalsha:")) != NULL &&
	    (q = strstr(q, "usec_per_call=")) != NULL)
		usec = strtod(q + strlen("usec_per_call="), NULL);
	if (rep)
		freeReplyObject(rep);
	return usec;
}

static long long
db_size(redisContext *c)
{
	redisReply *rep = redisCommand(c, "DBSIZE");
	long long keys = rep ? rep->integer : -1;

	if (rep)
		freeReplyObject(rep);
	return keys;
}

/* One domain's own keys, sampled, and one message key. */
static void
sample_keys(redisContext *c, const struct mp_store_options *o, time_t now,
    struct figures *f)
{
	char day[9], key[MP_STORE_KEY_MAX], dom[64];

	mp_store_day(now, day);
	snprintf(dom, sizeof(dom), "sender%d.example.com", 1);
	f->dkeys = 0;
	mp_store_key_domain(o, key, "", dom);
	f->dkeys += memory_usage(c, key);
	mp_store_key_domain_day(o, key, "", dom, day);
	f->dkeys += memory_usage(c, key);
	mp_store_key_domain_ips(o, key, "", dom, day);
	f->dkeys += memory_usage(c, key);
	mp_store_key_recent(o, key, "", dom);
	f->dkeys += memory_usage(c, key);
	mp_store_key_message(o, key, dom, "mx1.example.org", "4B00000001");
	f->mkey = memory_usage(c, key);
}

static void
read_server(redisContext *c, const struct mp_store_options *o, time_t now,
    struct figures *f)
{
	f->evalsha = info_field(c, "commandstats", "cmdstat_evalsha:calls=");
	f->usec_per_call = evalsha_usec_per_call(c);
	f->mem1 = info_field(c, "memory", "used_memory:");
	f->keys = db_size(c);
	sample_keys(c, o, now, f);
}

static void
print_report(const struct bench *b, const struct figures *f)
{
	const struct mp_store_stats *st = &f->st;
	double secs = (double)f->total_ms / 1000.0;

	printf("messages:                 %ld for %ld domains\n", b->n, b->ndom);
	printf("submitted / dropped:      %llu / %llu (submit loop took %llu ms)\n",
	    (unsigned long long)st->submitted, (unsigned long long)st->dropped_full,
	    f->submit_ms);
	printf("written / dup / failed:   %llu / %llu / %llu\n", (unsigned long long)st->written,
	    (unsigned long long)st->duplicates, (unsigned long long)st->failed);
	printf("elapsed:                  %.3f s\n", secs);
	printf("writes per second:        %.0f\n", secs > 0 ? (double)st->written / secs : 0);
	printf("EVALSHA per message:      %.3f (writer replies read: %llu; server cmdstat_evalsha: %lld)\n",
	    (double)f->evalsha / (double)b->n, (unsigned long long)st->commands, f->evalsha);
	printf("redis time per EVALSHA:   %.1f us (server side, cmdstat usec_per_call)\n",
	    f->usec_per_call);
	printf("round trips:              %llu pipelined batches (up to %d messages each)\n",
	    (unsigned long long)st->round_trips, MP_STORE_BATCH);
	printf("round trips per message:  %.4f (<= 1: each message's EVALSHA rides one round trip,\n"
	    "                          shared with the messages queued with it)\n",
	    (double)st->round_trips / (double)b->n);
	printf("redis keys:               %lld\n", f->keys);
	printf("redis used_memory:        %lld -> %lld bytes (+%.1f MB)\n", f->mem0, f->mem1,
	    (double)(f->mem1 - f->mem0) / 1048576.0);
	printf("memory per domain:        %.0f bytes (all keys / domains, messages included)\n",
	    (double)(f->mem1 - f->mem0) / (double)b->ndom);
	printf("  one domain's own keys:  %lld bytes (MEMORY USAGE of d, dd, di, r)\n", f->dkeys);
	printf("  one message key:        %lld bytes (MEMORY USAGE of m:...)\n", f->mkey);
}

int
main(int argc, char **argv)
{
	struct mp_store_options o;
	struct bench b;
	struct figures f;
	redisContext *c;
	char err[512];
	int rc;

	b.now = time(NULL);
	parse_args(argc, argv, &b);
	mp_log_open("store-bench", true, 0);
	mp_store_options_defaults(&o);
	mp_strlcpy(o.address, b.addr, sizeof(o.address));
	o.queue_size = (size_t)b.n;
	o.timeout_ms = 5000;
	if ((c = mp_store_connect(&o, 2000, err, sizeof(err))) == NULL) {
		fprintf(stderr, "store-bench: %s\n", err);
		return 3;
	}
	memset(&f, 0, sizeof(f));
	freeReplyObject(redisCommand(c, "FLUSHALL"));
	freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
	f.mem0 = info_field(c, "memory", "used_memory:");
	if ((rc = run_store(&o, &b, &f)) != 0)
		return rc;
	read_server(c, &o, b.now, &f);
	redisFree(c);
	print_report(&b, &f);
	return f.st.written == (unsigned long long)b.n ? 0 : 1;
}
