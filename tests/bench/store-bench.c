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

int
main(int argc, char **argv)
{
	struct mp_store_options o;
	struct mp_store *s;
	struct mp_store_stats st;
	redisContext *c;
	redisReply *rep;
	const char *addr = NULL;
	long n = 100000, ndom = 10000;
	long long mem0, mem1, evalsha;
	unsigned long long t0, t1;
	char err[512], day[9], key[MP_STORE_KEY_MAX], dom[64];
	time_t now = time(NULL);
	static const enum mp_spf_result spfs[] = { MP_SPF_PASS, MP_SPF_PASS, MP_SPF_PASS,
		MP_SPF_FAIL, MP_SPF_SOFTFAIL, MP_SPF_NONE };
	static const enum mp_dmarc_result dmarcs[] = { MP_DMARC_PASS, MP_DMARC_PASS,
		MP_DMARC_FAIL, MP_DMARC_NONE, MP_DMARC_PASS };

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc)
			addr = argv[++i];
		else if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
			n = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--domains") == 0 && i + 1 < argc)
			ndom = strtol(argv[++i], NULL, 10);
		else
			usage();
	}
	if (addr == NULL || n < 1 || ndom < 1 || ndom > n)
		usage();
	mp_log_open("store-bench", true, 0);
	mp_store_options_defaults(&o);
	mp_strlcpy(o.address, addr, sizeof(o.address));
	o.queue_size = (size_t)n;
	o.timeout_ms = 5000;
	if ((c = mp_store_connect(&o, 2000, err, sizeof(err))) == NULL) {
		fprintf(stderr, "store-bench: %s\n", err);
		return 3;
	}
	freeReplyObject(redisCommand(c, "FLUSHALL"));
	freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
	mem0 = info_field(c, "memory", "used_memory:");
	if ((s = mp_store_new(&o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "store-bench: %s\n", err);
		return 3;
	}
	/* Build the records first, so that the timing is the store's. */
	struct mp_store_record *recs = xcalloc((size_t)n, sizeof(*recs));
	for (long i = 0; i < n; i++) {
		struct mp_store_record *p = &recs[i];
		long d = i % ndom;

		mp_store_record_init(p);
		snprintf(p->from_domain, sizeof(p->from_domain), "sender%ld.example.com", d);
		mp_strlcpy(p->host, "mx1.example.org", sizeof(p->host));
		snprintf(p->queue_id, sizeof(p->queue_id), "4B%08lX", i);
		snprintf(p->ip, sizeof(p->ip), "198.51.100.%ld", (d * 7 + i / ndom) % 254 + 1);
		snprintf(p->helo, sizeof(p->helo), "mail%ld.example.net", d % 100);
		snprintf(p->mail_from, sizeof(p->mail_from), "bounce-%ld@sender%ld.example.com", i, d);
		p->time = now - (n - i) / 10;
		p->spf = spfs[i % MP_ARRAY_SIZE(spfs)];
		p->dmarc = dmarcs[i % MP_ARRAY_SIZE(dmarcs)];
		p->spf_aligned = p->spf == MP_SPF_PASS && p->dmarc == MP_DMARC_PASS;
		p->dkim_aligned = p->dmarc == MP_DMARC_PASS;
		p->policy = p->published = MP_DMARC_P_QUARANTINE;
		p->disposition = p->dmarc == MP_DMARC_FAIL ? MP_DMARC_P_QUARANTINE : MP_DMARC_P_UNSET;
		if (i < ndom) {
			p->posture_score = (int)(d * 37 % 101);
			mp_strlcpy(p->posture_grade, mp_posture_grade(p->posture_score),
			    sizeof(p->posture_grade));
		}
	}
	t0 = mp_now_ms();
	for (long i = 0; i < n; i++)
		mp_store_submit(s, &recs[i]);
	t1 = mp_now_ms();
	if (!mp_store_flush(s, 600000)) {
		fprintf(stderr, "store-bench: the writer did not finish\n");
		return 1;
	}
	unsigned long long t2 = mp_now_ms();
	mp_store_get_stats(s, &st);
	mp_store_free(&s);
	free(recs);

	evalsha = info_field(c, "commandstats", "cmdstat_evalsha:calls=");
	rep = redisCommand(c, "INFO commandstats");
	double usec_per_call = 0;
	const char *q;
	if (rep && rep->type == REDIS_REPLY_STRING &&
	    (q = strstr(rep->str, "cmdstat_evalsha:")) != NULL &&
	    (q = strstr(q, "usec_per_call=")) != NULL)
		usec_per_call = strtod(q + strlen("usec_per_call="), NULL);
	if (rep)
		freeReplyObject(rep);
	mem1 = info_field(c, "memory", "used_memory:");
	rep = redisCommand(c, "DBSIZE");
	long long keys = rep ? rep->integer : -1;
	if (rep)
		freeReplyObject(rep);

	/* One domain's own keys, sampled, and one message key. */
	mp_store_day(now, day);
	long long dkeys = 0, mkey;
	snprintf(dom, sizeof(dom), "sender%d.example.com", 1);
	mp_store_key_domain(&o, key, "", dom);
	dkeys += memory_usage(c, key);
	mp_store_key_domain_day(&o, key, "", dom, day);
	dkeys += memory_usage(c, key);
	mp_store_key_domain_ips(&o, key, "", dom, day);
	dkeys += memory_usage(c, key);
	mp_store_key_recent(&o, key, "", dom);
	dkeys += memory_usage(c, key);
	mp_store_key_message(&o, key, dom, "mx1.example.org", "4B00000001");
	mkey = memory_usage(c, key);
	redisFree(c);

	double secs = (double)(t2 - t0) / 1000.0;
	printf("messages:                 %ld for %ld domains\n", n, ndom);
	printf("submitted / dropped:      %llu / %llu (submit loop took %llu ms)\n",
	    (unsigned long long)st.submitted, (unsigned long long)st.dropped_full,
	    (unsigned long long)(t1 - t0));
	printf("written / dup / failed:   %llu / %llu / %llu\n", (unsigned long long)st.written,
	    (unsigned long long)st.duplicates, (unsigned long long)st.failed);
	printf("elapsed:                  %.3f s\n", secs);
	printf("writes per second:        %.0f\n", secs > 0 ? (double)st.written / secs : 0);
	printf("EVALSHA per message:      %.3f (writer replies read: %llu; server cmdstat_evalsha: %lld)\n",
	    (double)evalsha / (double)n, (unsigned long long)st.commands, evalsha);
	printf("redis time per EVALSHA:   %.1f us (server side, cmdstat usec_per_call)\n",
	    usec_per_call);
	printf("round trips:              %llu pipelined batches (up to %d messages each)\n",
	    (unsigned long long)st.round_trips, MP_STORE_BATCH);
	printf("round trips per message:  %.4f (<= 1: each message's EVALSHA rides one round trip,\n"
	    "                          shared with the messages queued with it)\n",
	    (double)st.round_trips / (double)n);
	printf("redis keys:               %lld\n", keys);
	printf("redis used_memory:        %lld -> %lld bytes (+%.1f MB)\n", mem0, mem1,
	    (double)(mem1 - mem0) / 1048576.0);
	printf("memory per domain:        %.0f bytes (all keys / domains, messages included)\n",
	    (double)(mem1 - mem0) / (double)ndom);
	printf("  one domain's own keys:  %lld bytes (MEMORY USAGE of d, dd, di, r)\n", dkeys);
	printf("  one message key:        %lld bytes (MEMORY USAGE of m:...)\n", mkey);
	return st.written == (unsigned long long)n ? 0 : 1;
}
