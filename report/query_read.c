/*
 * query_read: what every question needs from Redis. Commands go out
 * pipelined (rq_app) and their replies are read back in order (rq_get),
 * so a report over N days costs a few round trips, not one per key; the
 * replies then become counters, maps and JSON values here.
 *
 * Each command goes to the server of its key (redis_cluster). On a
 * Cluster, a key of the whole installation (store.h: worst, day, vol,
 * fail, ip) is one key per slot group: the command goes to every group
 * on the master that serves it, and rq_get() hands back one reply
 * merged from all of them (query_merge.c). A redirection (a slot
 * migrating while we read) is followed on a connection of its own.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "query_int.h"
#include "redis_cluster.h"

#define MAX_DAYS 400
#define PEND_ARGS 16                /* arguments of a command, at most */
#define TRYAGAIN_TRIES 50           /* a slot migrating: 50 times 20 ms */

/* One command sent, its replies not read yet. */
struct pend {
	int argc;
	char *argv[PEND_ARGS];      /* copies: a redirected command is sent again */
	size_t node;                /* where it went (MP_REDIS_NO_NODE: q->c) */
	uint16_t *group_node;       /* a Cluster's installation key: the node of each group */
};

struct rq_pending {
	struct pend *e;
	size_t head, n, cap;
};

static void
fail(struct rq *q, const char *addr, const char *what)
{
	if (!q->failed) {
		q->failed = true;
		snprintf(q->error, sizeof(q->error), "redis at %.200s: %.280s", addr, what);
	}
}

bool
rq_open(struct rq *q)
{
	char err[512];

	q->pend = xcalloc(1, sizeof(*q->pend));
	q->nodes = mp_redis_nodes_new(mp_store_dial_reader, &q->o);
	if (!mp_store_locate(&q->o, q->nodes, true, err, sizeof(err))) {
		snprintf(q->error, sizeof(q->error), "%s", err);
		return false;
	}
	/* Every server now: one that is down is said before any question. */
	for (size_t i = 0; i < mp_redis_nodes_count(q->nodes); i++) {
		if (mp_redis_nodes_conn(q->nodes, i, NULL, err, sizeof(err)) == NULL) {
			snprintf(q->error, sizeof(q->error), "%s", err);
			return false;
		}
	}
	return true;
}

static void
pend_free(struct pend *e)
{
	for (int i = 0; i < e->argc; i++)
		free(e->argv[i]);
	free(e->group_node);
	memset(e, 0, sizeof(*e));
}

void
rq_close(struct rq *q)
{
	if (q->pend != NULL) {
		for (size_t i = 0; i < q->pend->n; i++)
			pend_free(&q->pend->e[(q->pend->head + i) % q->pend->cap]);
		free(q->pend->e);
		free(q->pend);
		q->pend = NULL;
	}
	mp_redis_nodes_free(&q->nodes);
}

/* A new entry at the end of the queue of commands sent. */
static struct pend *
pend_push(struct rq *q, int argc, const char **argv)
{
	struct rq_pending *p = q->pend;
	struct pend *e;

	if (p->n == p->cap) {
		struct pend *ne = xcalloc(p->cap ? 2 * p->cap : 64, sizeof(*ne));

		for (size_t i = 0; i < p->n; i++)
			ne[i] = p->e[(p->head + i) % p->cap];
		free(p->e);
		p->e = ne;
		p->cap = p->cap ? 2 * p->cap : 64;
		p->head = 0;
	}
	e = &p->e[(p->head + p->n++) % p->cap];
	memset(e, 0, sizeof(*e));
	e->argc = argc;
	for (int i = 0; i < argc; i++)
		e->argv[i] = xstrdup(argv[i]);
	e->node = MP_REDIS_NO_NODE;
	return e;
}

static const char *
addr_of(const struct rq *q, size_t node)
{
	return node == MP_REDIS_NO_NODE ? q->o.address : mp_redis_nodes_addr(q->nodes, node);
}

/* Appends argv to node's connection (node MP_REDIS_NO_NODE: q->c). */
static bool
send_to(struct rq *q, size_t node, int argc, const char **argv)
{
	size_t len[PEND_ARGS + 1];
	char err[512];
	redisContext *c = q->c;

	if (node != MP_REDIS_NO_NODE &&
	    (c = mp_redis_nodes_conn(q->nodes, node, NULL, err, sizeof(err))) == NULL) {
		fail(q, mp_redis_nodes_addr(q->nodes, node), err);
		return false;
	}
	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	if (redisAppendCommandArgv(c, argc, argv, len) != REDIS_OK) {
		fail(q, addr_of(q, node), c->errstr);
		return false;
	}
	return true;
}

/* A Cluster's installation key: the command once per slot group. */
static bool
send_groups(struct rq *q, struct pend *e, int argc, const char **argv)
{
	unsigned ngroups = mp_store_groups(&q->o);
	char key[MP_STORE_KEY_MAX];
	const char *av[PEND_ARGS + 1];
	int ac;

	if (!rq_merge_supported(argc, argv)) {
		fail(q, "the cluster", "no merge of this command over slot groups");
		return false;
	}
	e->group_node = xcalloc(ngroups, sizeof(*e->group_node));
	for (unsigned g = 0; g < ngroups; g++) {
		/* Group g's tag hashes to slot g. */
		size_t node = mp_redis_nodes_of_slot(q->nodes, g);

		mp_store_key_in_group(&q->o, argv[1], g, key);
		ac = rq_merge_group_argv(argc, argv, key, av);
		if (node == MP_REDIS_NO_NODE) {
			fail(q, "the cluster", "a slot is not served (cluster down or resharding)");
			return false;
		}
		e->group_node[g] = (uint16_t)node;
		if (!send_to(q, node, ac, av))
			return false;
	}
	return true;
}

bool
rq_app(struct rq *q, int argc, const char **argv)
{
	char probe[MP_STORE_KEY_MAX];
	struct pend *e;

	if (q->failed)
		return false;
	if (argc < 1 || argc > PEND_ARGS) {
		fail(q, q->o.address, "command with too many arguments");
		return false;
	}
	if (q->nodes == NULL)
		return send_to(q, MP_REDIS_NO_NODE, argc, argv);
	e = pend_push(q, argc, argv);
	if (argc >= 2 && mp_store_groups(&q->o) > 1 &&
	    mp_store_key_in_group(&q->o, argv[1], 0, probe))
		return send_groups(q, e, argc, argv);
	/* A command without a key goes to the first server. */
	e->node = argc >= 2 ? mp_redis_nodes_of_key(q->nodes, argv[1], strlen(argv[1])) : 0;
	return send_to(q, e->node, argc, argv);
}
/* The next reply on node's connection (q->c for MP_REDIS_NO_NODE); NULL + q->failed. */
static redisReply *
read_from(struct rq *q, size_t node)
{
	redisContext *c = node == MP_REDIS_NO_NODE ? q->c : mp_redis_nodes_peek(q->nodes, node);
	redisReply *r = NULL;

	if (c == NULL || redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL) {
		fail(q, addr_of(q, node), c != NULL && c->errstr[0] ? c->errstr : "connection lost");
		return NULL;
	}
	return r;
}

/*
 * The command again, after a redirection or while its slot migrates, on
 * a connection of its own (the pipelined ones have replies pending): to
 * addr, after ASKING for an ASK.
 */
static redisReply *
resend(struct rq *q, int argc, const char **argv, const char *addr, bool asking)
{
	char err[512];
	size_t len[PEND_ARGS + 1];
	redisContext *c = mp_store_dial_reader(&q->o, addr, err, sizeof(err));
	redisReply *r;

	if (c == NULL) {
		fail(q, addr, err);
		return NULL;
	}
	for (int i = 0; i < argc; i++)
		len[i] = strlen(argv[i]);
	if (asking && (r = redisCommand(c, "ASKING")) != NULL)
		freeReplyObject(r);
	if ((r = redisCommandArgv(c, argc, argv, len)) == NULL)
		fail(q, addr, c->errstr[0] ? c->errstr : "connection lost");
	redisFree(c);
	return r;
}

/* r, or the reply its redirections lead to; NULL + q->failed for an error. */
static redisReply *
follow(struct rq *q, redisReply *r, int argc, const char **argv, size_t node)
{
	char addr[MP_REDIS_ADDR_MAX];
	struct mp_buf b = MP_BUF_INIT;
	unsigned slot;

	mp_strlcpy(addr, addr_of(q, node), sizeof(addr));
	for (int tries = 0; r != NULL && r->type == REDIS_REPLY_ERROR && q->nodes != NULL &&
	    tries < TRYAGAIN_TRIES; tries++) {
		enum mp_redis_redirect k = mp_redis_redirect_of(r->str, r->len, &slot, addr,
		    sizeof(addr));

		if (k == MP_REDIS_ERROR || k == MP_REDIS_CLUSTERDOWN)
			break;
		if (k == MP_REDIS_MOVED)
			mp_redis_nodes_moved(q->nodes, slot, addr);
		if (k == MP_REDIS_TRYAGAIN)
			usleep(20000);
		freeReplyObject(r);
		r = resend(q, argc, argv, addr, k == MP_REDIS_ASK);
	}
	if (r == NULL || r->type != REDIS_REPLY_ERROR)
		return r;
	mp_printable(&b, r->str, r->len, MP_SHOW_LINE);
	fail(q, addr, mp_buf_str(&b));
	mp_buf_free(&b);
	freeReplyObject(r);
	return NULL;
}

/* The replies of a command sent to every slot group, merged. */
static redisReply *
get_groups(struct rq *q, const struct pend *e)
{
	struct rq_merge *m = rq_merge_new(e->argc, (const char **)e->argv);
	unsigned ngroups = mp_store_groups(&q->o);
	char key[MP_STORE_KEY_MAX];
	const char *av[PEND_ARGS + 1];
	int ac;

	for (unsigned g = 0; g < ngroups && !q->failed; g++) {
		redisReply *r = read_from(q, e->group_node[g]);

		mp_store_key_in_group(&q->o, e->argv[1], g, key);
		ac = rq_merge_group_argv(e->argc, (const char **)e->argv, key, av);
		if ((r = follow(q, r, ac, av, e->group_node[g])) == NULL)
			break;
		if (!rq_merge_add(m, r))
			fail(q, addr_of(q, e->group_node[g]), "a slot group's key has another type");
		freeReplyObject(r);
	}
	return rq_merge_end(m, q->failed);
}

redisReply *
rq_get(struct rq *q)
{
	struct rq_pending *p = q->pend;
	struct pend e;
	redisReply *r;

	if (q->failed)
		return NULL;
	if (q->nodes == NULL)
		return follow(q, read_from(q, MP_REDIS_NO_NODE), 0, NULL, MP_REDIS_NO_NODE);
	if (p->n == 0) {
		fail(q, "redis", "a reply read with no command sent");
		return NULL;
	}
	e = p->e[p->head];
	p->head = (p->head + 1) % p->cap;
	p->n--;
	if (e.group_node != NULL)
		r = get_groups(q, &e);
	else
		r = follow(q, read_from(q, e.node), e.argc, (const char **)e.argv, e.node);
	pend_free(&e);
	return r;
}

void
rq_org_of(struct rq *q, const char *domain, char org[MP_DOMAIN_MAX])
{
	if (q->psl == NULL || !mp_psl_org_domain(q->psl, domain, org))
		mp_strlcpy(org, domain, MP_DOMAIN_MAX);
}

int
rq_clamp_days(int days)
{
	return days < 1 ? 1 : days > MAX_DAYS ? MAX_DAYS : days;
}

void
rq_day_of(struct rq *q, int back, char day[9])
{
	mp_store_day(q->now - (time_t)back * 86400, day);
}

/* "yyyymmdd" -> "yyyy-mm-dd" */
json_t *
rq_day_json(const char *day)
{
	char buf[11];

	snprintf(buf, sizeof(buf), "%.4s-%.2s-%.2s", day, day + 4, day + 6);
	return json_string(buf);
}

json_t *
rq_time_json(long long t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* A string from Redis into JSON: as it is when valid UTF-8, else escaped. */
json_t *
rq_str_json(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);

	if (j == NULL) {
		struct mp_buf b = MP_BUF_INIT;

		mp_printable(&b, s, len, MP_SHOW_EVIDENCE);
		j = json_string(mp_buf_str(&b));
		mp_buf_free(&b);
	}
	return j;
}

double
rq_rate(long long part, long long total)
{
	return total > 0 ? (double)((part * 1000 + total / 2) / total) / 10.0 : 0.0;
}

json_t *
rq_counts_json(const struct mp_store_counts *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "messages", json_integer(c->total));
	json_object_set_new(o, "spf_pass", json_integer(c->spf_pass));
	json_object_set_new(o, "spf_fail", json_integer(c->spf_fail));
	json_object_set_new(o, "dmarc_pass", json_integer(c->dmarc_pass));
	json_object_set_new(o, "dmarc_fail", json_integer(c->dmarc_fail));
	json_object_set_new(o, "dmarc_none", json_integer(c->dmarc_none));
	json_object_set_new(o, "dmarc_error", json_integer(c->dmarc_error));
	json_object_set_new(o, "spf_aligned", json_integer(c->spf_aligned));
	json_object_set_new(o, "dkim_aligned", json_integer(c->dkim_aligned));
	json_object_set_new(o, "aligned", json_integer(c->aligned));
	json_object_set_new(o, "quarantine", json_integer(c->dis_quarantine));
	json_object_set_new(o, "reject", json_integer(c->dis_reject));
	json_object_set_new(o, "spf_pass_pct", json_real(rq_rate(c->spf_pass, c->total)));
	json_object_set_new(o, "dmarc_pass_pct", json_real(rq_rate(c->dmarc_pass, c->total)));
	json_object_set_new(o, "aligned_pct", json_real(rq_rate(c->aligned, c->total)));
	return o;
}

void
rq_counts_add(struct mp_store_counts *to, const struct mp_store_counts *c)
{
	to->total += c->total;
	to->spf_pass += c->spf_pass;
	to->spf_fail += c->spf_fail;
	to->dmarc_pass += c->dmarc_pass;
	to->dmarc_fail += c->dmarc_fail;
	to->dmarc_none += c->dmarc_none;
	to->dmarc_error += c->dmarc_error;
	to->spf_aligned += c->spf_aligned;
	to->dkim_aligned += c->dkim_aligned;
	to->aligned += c->aligned;
	to->dis_quarantine += c->dis_quarantine;
	to->dis_reject += c->dis_reject;
}

/* Sums a daily hash of outcome fields; fields that are not outcomes
 * (written by something else) are skipped. */
void
rq_outcome_hash(const redisReply *r, struct mp_store_counts *c)
{
	if (r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *f = r->element[i], *v = r->element[i + 1];

		if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
			mp_store_outcome_add(f->str, strtoll(v->str, NULL, 10), c);
	}
}

/* HGETALL reply -> value of field, or NULL. */
const char *
rq_hfield(const redisReply *r, const char *name)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (size_t i = 0; i + 1 < r->elements; i += 2)
		if (r->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[i]->str, name) == 0 &&
		    r->element[i + 1]->type == REDIS_REPLY_STRING)
			return r->element[i + 1]->str;
	return NULL;
}

long long
rq_hint(const redisReply *r, const char *name)
{
	const char *v = rq_hfield(r, name);

	return v ? strtoll(v, NULL, 10) : 0;
}

/* A domain hash (HGETALL reply) -> its all-time counters. */
void
rq_domain_counts(const redisReply *r, struct mp_store_counts *c)
{
	memset(c, 0, sizeof(*c));
	c->total = rq_hint(r, "total");
	c->spf_pass = rq_hint(r, "spf_pass");
	c->spf_fail = rq_hint(r, "spf_fail");
	c->dmarc_pass = rq_hint(r, "dmarc_pass");
	c->dmarc_fail = rq_hint(r, "dmarc_fail");
	c->dmarc_none = rq_hint(r, "dmarc_none");
	c->dmarc_error = rq_hint(r, "dmarc_error");
	c->spf_aligned = rq_hint(r, "spf_aligned");
	c->dkim_aligned = rq_hint(r, "dkim_aligned");
	c->aligned = rq_hint(r, "aligned");
	c->dis_quarantine = rq_hint(r, "dis_quarantine");
	c->dis_reject = rq_hint(r, "dis_reject");
}

/* Posture and auth score of a domain hash, added to o. */
void
rq_scores_json(json_t *o, const redisReply *r)
{
	const char *ps = rq_hfield(r, "posture_score"), *pg = rq_hfield(r, "posture_grade");
	const char *as = rq_hfield(r, "auth_score");

	if (ps != NULL) {
		json_t *p = json_object();

		json_object_set_new(p, "score", json_integer(strtol(ps, NULL, 10)));
		json_object_set_new(p, "grade", rq_str_json(pg ? pg : "", pg ? strlen(pg) : 0));
		json_object_set_new(p, "computed", rq_time_json(rq_hint(r, "posture_at")));
		json_object_set_new(o, "posture", p);
	} else {
		json_object_set_new(o, "posture", json_null());
	}
	json_object_set_new(o, "auth_score", as ? json_real(strtod(as, NULL)) : json_null());
}

void
rq_json_add(json_t *o, const char *name, long long n)
{
	json_int_t old = json_integer_value(json_object_get(o, name));

	json_object_set_new(o, name, json_integer(n + old));
}

/* A ZSET read WITHSCORES, summed into map (member -> integer). */
void
rq_zset_sum(const redisReply *r, json_t *map)
{
	if (r->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *m = r->element[i], *v = r->element[i + 1];

		if (m->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
		    memchr(m->str, '\0', m->len) != NULL)
			continue;
		rq_json_add(map, m->str, (long long)strtod(v->str, NULL));
	}
}

static int
ranked_cmp(const void *a, const void *b)
{
	const struct rq_ranked *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* map (name -> integer) -> array sorted by value, largest first. */
struct rq_ranked *
rq_rank(json_t *map, size_t *n_r)
{
	struct rq_ranked *v = xcalloc(json_object_size(map) + 1, sizeof(*v));
	const char *k;
	json_t *val;
	size_t n = 0;

	json_object_foreach(map, k, val) {
		v[n].name = k;
		v[n].n = json_integer_value(val);
		n++;
	}
	qsort(v, n, sizeof(*v), ranked_cmp);
	*n_r = n;
	return v;
}
