/*
 * query_int: the Redis reads and JSON values that the questions of
 * query.c and query_audit.c share (query_read.c, query_merge.c).
 */
#ifndef MP_REPORT_QUERY_INT_H
#define MP_REPORT_QUERY_INT_H

#include <hiredis/hiredis.h>

#include "query.h"
#include "util.h"

/*
 * Pipelining: rq_app queues a command (false once q->failed), rq_get
 * reads the next reply in order, or NULL with q->failed set on a
 * connection or server error. Every reply rq_get returns is freed with
 * freeReplyObject.
 */
bool rq_app(struct rq *q, int argc, const char **argv);
redisReply *rq_get(struct rq *q);

/*
 * query_merge.c: the replies of one command sent to every slot group of
 * a Cluster (query_read.c), merged into the reply one server would give.
 * rq_merge_supported: whether argv is a command it merges.
 * rq_merge_group_argv: the command a group is asked, on its key, into
 * out (room for argc + 1); returns its argc.
 * rq_merge_add: false when r is not of the command's type.
 * rq_merge_end frees m and returns the merged reply, or NULL when failed.
 */
struct rq_merge;
bool rq_merge_supported(int argc, const char **argv);
int rq_merge_group_argv(int argc, const char **argv, const char *key, const char **out);
struct rq_merge *rq_merge_new(int argc, const char **argv);
bool rq_merge_add(struct rq_merge *m, const redisReply *r);
redisReply *rq_merge_end(struct rq_merge *m, bool failed);

/* The organizational domain whose keys hold domain's data. */
void rq_org_of(struct rq *q, const char *domain, char org[MP_DOMAIN_MAX]);
/* days within 1 and the longest period kept. */
int rq_clamp_days(int days);
/* The store's "yyyymmdd" of back days before q->now. */
void rq_day_of(struct rq *q, int back, char day[9]);

json_t *rq_day_json(const char *day);          /* "yyyy-mm-dd" */
json_t *rq_time_json(long long t);             /* ISO 8601 UTC, null if unset */
json_t *rq_str_json(const char *s, size_t len);
double rq_rate(long long part, long long total);        /* percent, one decimal */
json_t *rq_counts_json(const struct mp_store_counts *c);
void rq_counts_add(struct mp_store_counts *to, const struct mp_store_counts *c);

/* Replies: a daily outcome hash, a field of a HGETALL reply, a domain hash. */
void rq_outcome_hash(const redisReply *r, struct mp_store_counts *c);
const char *rq_hfield(const redisReply *r, const char *name);
long long rq_hint(const redisReply *r, const char *name);
void rq_domain_counts(const redisReply *r, struct mp_store_counts *c);
void rq_scores_json(json_t *o, const redisReply *r);
void rq_zset_sum(const redisReply *r, json_t *map);
/* Adds n to the integer o holds under name (0 when it holds none). */
void rq_json_add(json_t *o, const char *name, long long n);

/* A map (name -> integer) as an array, the largest first; names stay
 * owned by the map. */
struct rq_ranked {
	const char *name;
	long long n;
};
struct rq_ranked *rq_rank(json_t *map, size_t *n_r);

#endif
