/*
 * store-cluster: verdicts per second from one writer thread, into one
 * redis-server and into a Redis Cluster, in the same run; the figures
 * and the cluster's share of the single node's rate. Not part of make
 * check: run tests/bench/store-cluster.sh (it starts the servers), or
 *   store-cluster --single HOST:PORT --cluster "HOST:PORT ..." [--messages N]
 *       [--domains N] [--rounds N]
 * Each round writes N verdicts to each deployment, single first; the
 * best round of each is kept (the machine may be busy with other work).
 * The queue is as large as the run, so the figure is the writer's.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "util.h"

struct bench {
	const char *single, *cluster;
	long n, ndom, rounds;
	time_t now;
};

static void
usage(void)
{
	fprintf(stderr, "usage: store-cluster --single HOST:PORT --cluster \"HOST:PORT ...\" "
	    "[--messages N] [--domains N] [--rounds N]\n");
	exit(2);
}

static void
parse_args(int argc, char **argv, struct bench *b)
{
	memset(b, 0, sizeof(*b));
	b->n = 50000;
	b->ndom = 5000;
	b->rounds = 2;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--single") == 0 && i + 1 < argc)
			b->single = argv[++i];
		else if (strcmp(argv[i], "--cluster") == 0 && i + 1 < argc)
			b->cluster = argv[++i];
		else if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
			b->n = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--domains") == 0 && i + 1 < argc)
			b->ndom = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			b->rounds = strtol(argv[++i], NULL, 10);
		else
			usage();
	}
	if (b->single == NULL || b->cluster == NULL || b->n < 1 || b->ndom < 1 ||
	    b->ndom > b->n || b->rounds < 1)
		usage();
}

/* Message i of round r, domain i % ndom: each domain its own {org}, so
 * a cluster spreads them over its slots. */
static void
fill_record(struct mp_store_record *p, long r, long i, const struct bench *b)
{
	long d = i % b->ndom;

	mp_store_record_init(p);
	snprintf(p->from_domain, sizeof(p->from_domain), "sender%ld.example", d);
	mp_strlcpy(p->host, "mx1.example.org", sizeof(p->host));
	snprintf(p->queue_id, sizeof(p->queue_id), "R%ldQ%08lX", r, i);
	snprintf(p->ip, sizeof(p->ip), "198.51.100.%ld", d % 254 + 1);
	p->time = b->now;
	p->spf = i % 3 ? MP_SPF_PASS : MP_SPF_FAIL;
	p->dmarc = i % 3 ? MP_DMARC_PASS : MP_DMARC_FAIL;
	p->spf_aligned = p->dmarc == MP_DMARC_PASS;
	p->published = p->policy = MP_DMARC_P_REJECT;
	if (i < b->ndom) {
		p->posture_score = (int)(d * 37 % 101);
		mp_strlcpy(p->posture_grade, "C", sizeof(p->posture_grade));
	}
}

/* Writes one round through a new store; verdicts per second, 0 on failure. */
static double
one_round(const struct mp_store_options *o, const struct bench *b, long r)
{
	struct mp_store_record rec;
	struct mp_store_stats st;
	struct mp_store *s;
	unsigned long long t0, t1;
	char err[512];

	if ((s = mp_store_new(o, err, sizeof(err))) == NULL) {
		fprintf(stderr, "store-cluster: %s\n", err);
		return 0;
	}
	/* Connected first: the figure is the writes, not the connect. */
	fill_record(&rec, r, 0, b);
	snprintf(rec.queue_id, sizeof(rec.queue_id), "R%ldwarm", r);
	mp_store_submit(s, &rec);
	mp_store_flush(s, 30000);
	t0 = mp_now_ms();
	for (long i = 0; i < b->n; i++) {
		fill_record(&rec, r, i, b);
		mp_store_submit(s, &rec);
	}
	mp_store_flush(s, 600000);
	t1 = mp_now_ms();
	mp_store_get_stats(s, &st);
	mp_store_free(&s);
	if (st.written != (uint64_t)b->n + 1 || st.failed != 0) {
		fprintf(stderr, "store-cluster: %llu of %ld written, %llu failed: %s\n",
		    (unsigned long long)st.written, b->n + 1, (unsigned long long)st.failed,
		    st.last_error);
		return 0;
	}
	return (double)b->n * 1000.0 / (double)(t1 > t0 ? t1 - t0 : 1);
}

int
main(int argc, char **argv)
{
	struct mp_store_options single, cluster;
	struct bench b;
	double best_s = 0, best_c = 0;

	parse_args(argc, argv, &b);
	b.now = time(NULL);
	mp_log_open("store-cluster", true, 0);
	mp_store_options_defaults(&single);
	single.queue_size = (size_t)b.n + 1;
	single.timeout_ms = 5000;
	cluster = single;
	mp_strlcpy(single.address, b.single, sizeof(single.address));
	mp_strlcpy(cluster.cluster, b.cluster, sizeof(cluster.cluster));
	for (long r = 0; r < b.rounds; r++) {
		double vs = one_round(&single, &b, 2 * r), vc = one_round(&cluster, &b, 2 * r + 1);

		if (vs == 0 || vc == 0)
			return 1;
		printf("round %ld: single node %.0f verdicts/s, cluster %.0f verdicts/s\n", r + 1,
		    vs, vc);
		best_s = vs > best_s ? vs : best_s;
		best_c = vc > best_c ? vc : best_c;
	}
	printf("verdicts:                 %ld per round, %ld domains (each its own {org})\n", b.n,
	    b.ndom);
	printf("single node:              %.0f verdicts/s (best of %ld)\n", best_s, b.rounds);
	printf("3-master cluster:         %.0f verdicts/s (best of %ld)\n", best_c, b.rounds);
	printf("cluster / single node:    %.0f%% (target: 90%% or more)\n", 100.0 * best_c / best_s);
	return 0;
}
