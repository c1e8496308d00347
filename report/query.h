/*
 * query: the reads behind each mailposture-report command. Every query
 * returns its result as a JSON object (new reference): --json prints
 * it, the text renderer lays it out, so both always say the same.
 * The questions about messages are in query.c, those about audits in
 * query_audit.c; the Redis pipelining and reply reading they share is
 * query_read.c (query_int.h), which routes each command to the server
 * of its key: on a Cluster the keys of the whole installation are one
 * per slot group, read on every master and merged (query_merge.c), so
 * every question gives the same answer on one server, behind Sentinel
 * or on a Cluster.
 */
#ifndef MP_REPORT_QUERY_H
#define MP_REPORT_QUERY_H

#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "domain.h"
#include "store.h"

struct redisContext;
struct mp_redis_nodes;
struct rq_pending;

struct rq {
	struct redisContext *c;         /* one connection, when nodes is NULL */
	struct mp_redis_nodes *nodes;   /* the deployment's servers (rq_open) */
	struct rq_pending *pend;        /* sent, not read yet (query_read.c) */
	struct mp_store_options o;
	struct mp_psl *psl;         /* may be NULL: then org = the domain itself */
	time_t now;
	bool failed;                /* Redis failed mid-query: error holds why */
	char error[512];
};

/*
 * Connects to the deployment of q->o (an address, Sentinel's master or
 * with read_from = replica a replica, a Cluster's masters); false +
 * q->error. rq_close frees what rq_open and the queries hold.
 */
bool rq_open(struct rq *q);
void rq_close(struct rq *q);

/* Each returns NULL when Redis failed (q->failed); an object whose
 * "found" is false when there was nothing to show. */
json_t *q_summary(struct rq *q, int days);
json_t *q_domain(struct rq *q, const char *domain, int days, int nrecent);
enum top_by { TOP_WORST, TOP_VOLUME, TOP_DMARC_FAIL };
json_t *q_top(struct rq *q, enum top_by by, int n, int days);
json_t *q_ip(struct rq *q, const char *ip, int days);
json_t *q_messages(struct rq *q, const char *domain, int n);

/* Audit history (mailposture-audit): one row per audited target, the
 * most recently audited first, at most n; or the n most recent audits
 * of one target ("host:port"). */
json_t *q_audits(struct rq *q, int n);
json_t *q_audit_history(struct rq *q, const char *target, int n);

const char *top_by_str(enum top_by by);   /* "worst", "volume", "dmarc-fail" */

#endif
