/*
 * aggregate: "mailposture-report aggregate". Reads the report rows of a
 * day (policy/store_report.h) with SCAN and pipelined HGETALLs, adds up
 * the rows that one policy domain has under several hash tags, and makes
 * one report per policy domain, day and published policy: listed,
 * written (--out) or mailed (--send).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "aggregate.h"
#include "aggregate_int.h"
#include "conf.h"
#include "log.h"
#include "query_int.h"
#include "verdict.h"

#define EXIT_NOTHING 1
#define EXIT_USAGE 2
#define EXIT_REDIS 3

#define RETRY_DAYS 3        /* --send without --day: yesterday and the two days before */
#define SCAN_COUNT "1000"
#define FETCH_BATCH 256     /* keys whose hashes are read in one round trip */
#define LOOKUP_MS 10000     /* one destination check's DNS, at most */
/* The DNS time one --send run may wait in all: the nightly run ends
 * whatever a sender's name servers do, and the reports it could not
 * look at go out on the next run (RETRY_DAYS). */
#define DNS_BUDGET_MS (10 * 60 * 1000ULL)
#define MARK_DONE "done"    /* the marker field of a report done whole: no address */

struct agg_args {
	const char *conf_path, *redis_addr, *out_dir;
	bool send, configured, help;
	char day[9];                    /* "" = yesterday */
	char domain[MP_DOMAIN_MAX];     /* "" = every policy domain */
};

/* What the reads give: rows, policy texts and overflow counts. */
enum item_kind { IT_OVERFLOW, IT_POLICY, IT_ROW };

struct item {
	const char *domain;
	char day[9];
	char pid[MP_REPORT_PID_LEN + 1];
	enum item_kind kind;
	const char *text;
	long long n;
};

struct items {
	struct item *v;
	size_t n, cap;
	void **own;                     /* every string and rows block they point to */
	size_t nown, capown;
	size_t malformed;               /* fields skipped: no well-formed policy id */
};

/* One run: the options, Redis, and what was done. */
struct run {
	const struct agg_args *a;
	struct agg_conf c;
	struct rq q;
	struct agg_lookup lk;
	struct agg_dns *dns;            /* --send: lk, each name once, within a budget */
	struct agg_marks mk;
	struct mp_evaluator *ev;        /* --send: the resolver and DMARC's walk */
	unsigned reports, written, skipped;
	struct agg_sent sent;
	int status;
};

static int
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "mailposture-report: aggregate: ");
	fprintf(stderr, fmt, arg ? arg : "");
	fprintf(stderr, "\nTry 'mailposture-report --help'.\n");
	return EXIT_USAGE;
}

/* 00:00:00 UTC of a day "yyyymmdd" (eight digits). */
static time_t
day_epoch(const char *d)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 +
	    (d[3] - '0') - 1900;
	tm.tm_mon = (d[4] - '0') * 10 + (d[5] - '0') - 1;
	tm.tm_mday = (d[6] - '0') * 10 + (d[7] - '0');
	return timegm(&tm);
}

/* "YYYY-MM-DD", a real date from 1970 on, into "yyyymmdd". */
static bool
parse_day(const char *s, char day[9])
{
	char ymd[9], back[9];

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	snprintf(ymd, sizeof(ymd), "%.4s%.2s%.2s", s, s + 5, s + 8);
	if (strspn(ymd, "0123456789") != 8 || strcmp(ymd, "1970") < 0)
		return false;
	/* timegm takes February 30 for March 2: the day must come back. */
	mp_store_day(day_epoch(ymd), back);
	return strcmp(back, ymd) == 0 && mp_strlcpy(day, ymd, 9);
}

static int
parse_args(int argc, char **argv, struct agg_args *a)
{
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		const char *why = NULL;

		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
			a->help = true;
		} else if (strcmp(o, "--send") == 0) {
			a->send = true;
		} else if (strcmp(o, "--configured") == 0) {
			a->configured = true;
		} else if (strcmp(o, "-c") == 0 || strcmp(o, "--redis") == 0 ||
		    strcmp(o, "--day") == 0 || strcmp(o, "--domain") == 0 ||
		    strcmp(o, "--out") == 0) {
			if (v == NULL)
				return usage_error("%s needs a value", o);
			i++;
			if (strcmp(o, "-c") == 0)
				a->conf_path = v;
			else if (strcmp(o, "--redis") == 0)
				a->redis_addr = v;
			else if (strcmp(o, "--out") == 0)
				a->out_dir = v;
			else if (strcmp(o, "--day") == 0 && !parse_day(v, a->day))
				return usage_error("--day: expected a date YYYY-MM-DD, not '%s'",
				    strlen(v) < 40 ? v : "(too long)");
			else if (strcmp(o, "--domain") == 0 &&
			    !mp_domain_normalize(v, strlen(v), a->domain, &why))
				return usage_error("--domain: not a domain name: %s", why);
		} else {
			return usage_error("unexpected argument '%s'", strlen(o) < 40 ? o : "(too long)");
		}
	}
	return 0;
}

/* ---- configuration --------------------------------------------------------- */

/* [report], checked: 0 or the exit status (the reason said). need_names:
 * the reports are made, so org_name and email must be set. */
static int
report_conf(const struct mp_conf *conf, bool need_names, struct agg_conf *c)
{
	const char *email = mp_conf_str(conf, "report", "email");
	const char *from = mp_conf_str(conf, "report", "from");

	memset(c, 0, sizeof(*c));
	mp_strlcpy(c->org_name, mp_conf_str(conf, "report", "org_name"), sizeof(c->org_name));
	mp_strlcpy(c->extra_contact_info, mp_conf_str(conf, "report", "extra_contact_info"),
	    sizeof(c->extra_contact_info));
	mp_strlcpy(c->sendmail, mp_conf_str(conf, "report", "sendmail"), sizeof(c->sendmail));
	c->max_destinations = (int)mp_conf_int(conf, "report", "max_destinations");
	if (c->org_name[0] == '\0' || email[0] == '\0') {
		if (!need_names)
			return 0;
		fprintf(stderr, "mailposture-report: aggregate: set [report] org_name and email "
		    "first: they name the Reporting Organization in every report\n");
		return EXIT_USAGE;
	}
	if (from[0] == '\0')
		from = email;
	if (!agg_address(email, strlen(email), c->email) ||
	    !agg_address(from, strlen(from), c->from)) {
		fprintf(stderr, "mailposture-report: aggregate: [report] email and from must be "
		    "user@domain with a dot-atom local part\n");
		return EXIT_USAGE;
	}
	mp_strlcpy(c->submitter, strchr(c->from, '@') + 1, sizeof(c->submitter));
	return 0;
}

/* The configuration file and the Redis options; 0 or the exit status. */
static int
setup(struct run *run, struct mp_conf **conf_r)
{
	const struct agg_args *a = run->a;
	char err[512];
	int st;

	if ((*conf_r = mp_conf_load_or_defaults(a->conf_path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mailposture-report: %s\n", err);
		return EXIT_USAGE;
	}
	if ((st = report_conf(*conf_r, a->out_dir != NULL || a->send, &run->c)) != 0)
		return st;
	mp_store_options_from_conf(*conf_r, &run->q.o);
	if (a->redis_addr != NULL &&
	    !mp_strlcpy(run->q.o.address, a->redis_addr, sizeof(run->q.o.address)))
		return usage_error("--redis: address too long", NULL);
	if (run->q.o.address[0] == '\0') {
		fprintf(stderr, "mailposture-report: no Redis address: give --redis HOST:PORT or "
		    "set [redis] address\n");
		return EXIT_USAGE;
	}
	if (!mp_store_options_check(&run->q.o, err, sizeof(err))) {
		fprintf(stderr, "mailposture-report: %s\n", err);
		return EXIT_USAGE;
	}
	return 0;
}

/* ---- reading the rows --------------------------------------------------------- */

/* p, freed with the items. */
static void *
own(struct items *it, void *p)
{
	if (it->nown == it->capown) {
		it->capown = it->capown ? 2 * it->capown : 256;
		it->own = xreallocarray(it->own, it->capown, sizeof(*it->own));
	}
	return it->own[it->nown++] = p;
}

static char *
keep(struct items *it, const char *s, size_t len)
{
	return own(it, xstrndup(s, len));
}

static void
add_item(struct items *it, const struct item *x)
{
	if (it->n == it->cap) {
		it->cap = it->cap ? 2 * it->cap : 1024;
		it->v = xreallocarray(it->v, it->cap, sizeof(*it->v));
	}
	it->v[it->n++] = *x;
}

static void
items_free(struct items *it)
{
	for (size_t i = 0; i < it->nown; i++)
		free(it->own[i]);
	free(it->own);
	free(it->v);
	memset(it, 0, sizeof(*it));
}

/* A key to read: its tag, policy domain and day. */
struct rkey {
	char org[MP_DOMAIN_MAX], domain[MP_DOMAIN_MAX], day[9];
};

/*
 * "P ar:{ORG}:DOMAIN:DAY" into its parts; false for any other key, and
 * for days and domains not asked for.
 */
static bool
parse_key(const struct run *run, const char *k, size_t len, const char (*days)[9],
    size_t ndays, struct rkey *out)
{
	size_t plen = strlen(run->q.o.key_prefix);
	const char *p, *end = k + len, *close, *colon;
	bool day_ok = false;

	if (len < plen + 4 || memcmp(k, run->q.o.key_prefix, plen) != 0 ||
	    memcmp(k + plen, "ar:{", 4) != 0)
		return false;
	p = k + plen + 4;
	/* After the '}': ':', a domain, ':' and 8 digits. */
	if ((close = memchr(p, '}', (size_t)(end - p))) == NULL || end - close < 12 ||
	    close[1] != ':' || (size_t)(close - p) >= sizeof(out->org))
		return false;
	colon = end - 9;
	if (colon <= close + 2 || *colon != ':' ||
	    (size_t)(colon - close - 2) >= sizeof(out->domain))
		return false;
	memcpy(out->org, p, (size_t)(close - p));
	out->org[close - p] = '\0';
	memcpy(out->domain, close + 2, (size_t)(colon - close - 2));
	out->domain[colon - close - 2] = '\0';
	memcpy(out->day, colon + 1, 8);
	out->day[8] = '\0';
	for (size_t i = 0; i < ndays; i++)
		day_ok = day_ok || strcmp(days[i], out->day) == 0;
	return day_ok && (run->a->domain[0] == '\0' || strcmp(run->a->domain, out->domain) == 0);
}

/* SCAN's MATCH pattern for the prefix: glob characters escaped. */
static void
scan_pattern(const char *prefix, char *buf, size_t len)
{
	size_t n = 0;

	for (const char *s = prefix; *s && n + 2 < len; s++) {
		if (strchr("*?[]\\", *s) != NULL)
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	snprintf(buf + n, len - n, "ar:*");
}

/* Every rows key of the days asked for. False when Redis failed. */
static bool
scan_keys(struct run *run, const char (*days)[9], size_t ndays, struct rkey **keys_r,
    size_t *n_r)
{
	char cursor[32] = "0", pattern[2 * sizeof(run->q.o.key_prefix) + 8];
	size_t cap = 0;

	scan_pattern(run->q.o.key_prefix, pattern, sizeof(pattern));
	do {
		const char *cmd[] = { "SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT };
		redisReply *r;

		if (!rq_app(&run->q, 6, cmd) || (r = rq_get(&run->q)) == NULL)
			return false;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			freeReplyObject(r);
			return false;
		}
		mp_strlcpy(cursor, r->element[0]->str, sizeof(cursor));
		for (size_t i = 0; i < r->element[1]->elements; i++) {
			const redisReply *k = r->element[1]->element[i];

			if (*n_r == cap) {
				cap = cap ? 2 * cap : 256;
				*keys_r = xreallocarray(*keys_r, cap, sizeof(**keys_r));
			}
			if (k->type == REDIS_REPLY_STRING &&
			    parse_key(run, k->str, k->len, days, ndays, &(*keys_r)[*n_r]))
				(*n_r)++;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return true;
}

/*
 * One field f (value v) of a rows or meta hash as the item x: 1 an item,
 * 0 a field of no concern, -1 one without a well-formed policy id (what
 * is read back from Redis is not trusted to be the writer's).
 */
static int
field_item(struct items *it, const redisReply *f, const redisReply *v, bool meta,
    struct item *x)
{
	if (meta && strcmp(f->str, "overflow") == 0) {
		x->kind = IT_OVERFLOW;
		x->n = strtoll(v->str, NULL, 10);
		return 1;
	}
	if (meta) {
		if (f->len < 7 || strncmp(f->str, "policy:", 7) != 0)
			return 0;
		if (!mp_store_report_pid_ok(f->str + 7, f->len - 7))
			return -1;
		x->kind = IT_POLICY;
		memcpy(x->pid, f->str + 7, MP_REPORT_PID_LEN);
		x->text = keep(it, v->str, v->len);
		return 1;
	}
	if (f->len <= MP_REPORT_PID_LEN + 1 || f->str[MP_REPORT_PID_LEN] != ' ' ||
	    !mp_store_report_pid_ok(f->str, MP_REPORT_PID_LEN))
		return -1;
	x->kind = IT_ROW;
	memcpy(x->pid, f->str, MP_REPORT_PID_LEN);
	x->text = keep(it, f->str + MP_REPORT_PID_LEN + 1, f->len - MP_REPORT_PID_LEN - 1);
	x->n = strtoll(v->str, NULL, 10);
	return 1;
}

/* The fields of one key's rows (or meta) hash as items. */
static void
hash_items(struct items *it, const struct rkey *k, const char *domain, const redisReply *r,
    bool meta)
{
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
		const redisReply *f = r->element[i], *v = r->element[i + 1];
		struct item x;
		int got;

		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
			continue;
		memset(&x, 0, sizeof(x));
		x.domain = domain;
		mp_strlcpy(x.day, k->day, sizeof(x.day));
		if ((got = field_item(it, f, v, meta, &x)) > 0)
			add_item(it, &x);
		it->malformed += got < 0;
	}
}

/* Reads the rows and meta hashes of keys[0..n) into it. */
static bool
fetch(struct run *run, const struct rkey *keys, size_t n, struct items *it)
{
	for (size_t i = 0; i < n; i += FETCH_BATCH) {
		size_t m = n - i < FETCH_BATCH ? n - i : FETCH_BATCH;

		for (size_t j = 0; j < m; j++) {
			char rows[MP_STORE_KEY_MAX], meta[MP_STORE_KEY_MAX];
			const char *c1[] = { "HGETALL", rows }, *c2[] = { "HGETALL", meta };
			const struct rkey *k = &keys[i + j];

			mp_store_key_report_rows(&run->q.o, rows, k->org, k->domain, k->day);
			mp_store_key_report_meta(&run->q.o, meta, k->org, k->domain, k->day);
			if (!rq_app(&run->q, 2, c1) || !rq_app(&run->q, 2, c2))
				return false;
		}
		for (size_t j = 0; j < 2 * m; j++) {
			const struct rkey *k = &keys[i + j / 2];
			redisReply *r = rq_get(&run->q);

			if (r == NULL)
				return false;
			hash_items(it, k, keep(it, k->domain, strlen(k->domain)), r, j % 2 == 1);
			freeReplyObject(r);
		}
	}
	return true;
}

/* day, domain, pid, then the overflow, the policy and the rows by text. */
static int
item_cmp(const void *pa, const void *pb)
{
	const struct item *a = pa, *b = pb;
	int c;

	if ((c = strcmp(a->day, b->day)) != 0 || (c = strcmp(a->domain, b->domain)) != 0)
		return c;
	if (a->kind == IT_OVERFLOW || b->kind == IT_OVERFLOW)
		return (int)(b->kind == IT_OVERFLOW) - (int)(a->kind == IT_OVERFLOW);
	if ((c = strcmp(a->pid, b->pid)) != 0)
		return c;
	if (a->kind != b->kind)
		return (int)a->kind - (int)b->kind;
	return strcmp(a->text, b->text);
}

/* ---- one report ------------------------------------------------------------- */

static bool
write_file(struct run *run, const char *name, const struct mp_buf *gz)
{
	char path[4096], tmp[4200];
	FILE *fp;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", run->a->out_dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
	if ((fp = fopen(tmp, "w")) == NULL) {
		fprintf(stderr, "mailposture-report: %s: %s\n", tmp, strerror(errno));
		return false;
	}
	ok = fwrite(gz->data, 1, gz->len, fp) == gz->len;
	ok = fclose(fp) == 0 && ok;
	/* Renamed whole: a reader of DIR never sees half a report. */
	if (!ok || rename(tmp, path) != 0) {
		fprintf(stderr, "mailposture-report: %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return false;
	}
	return true;
}

/* Lists, writes or sends one report. */
static void
one_report(struct run *run, struct agg_report *r)
{
	struct mp_buf doc = MP_BUF_INIT, gz = MP_BUF_INIT;
	char file[1024];

	run->reports++;
	agg_report_id(&run->c, r);
	if (run->a->out_dir == NULL && !run->a->send) {
		printf("%.4s-%.2s-%.2s  %-40s %6zu rows %8lld messages  %s\n", r->day, r->day + 4,
		    r->day + 6, r->domain, r->nrows, r->messages, r->id);
		return;
	}
	if (agg_xml_document(&run->c, r, &doc) == 0) {
		mp_log(LOG_WARNING, "report %s for %s: no row could be read: not made", r->id,
		    r->domain);
		run->skipped++;
		mp_buf_free(&doc);
		return;
	}
	if (r->overflow > 0)
		mp_log(LOG_WARNING, "report %s for %s leaves out %lld messages: more than "
		    "[report] max_rows distinct rows", r->id, r->domain, r->overflow);
	agg_file_name(&run->c, r, file, sizeof(file));
	if (!agg_gzip(doc.data, doc.len, &gz)) {
		mp_log(LOG_ERR, "report %s for %s: gzip failed", r->id, r->domain);
		run->status = EXIT_USAGE;
	} else if (run->a->out_dir != NULL && !write_file(run, file, &gz)) {
		run->status = EXIT_USAGE;
	} else {
		run->written += run->a->out_dir != NULL;
		if (run->a->send && !agg_send_report(&run->c, run->dns, &run->mk, r, file, &gz,
		    run->q.now, &run->sent))
			run->status = EXIT_REDIS;
	}
	mp_buf_free(&doc);
	mp_buf_free(&gz);
}

/* Day and time range of a report. */
static void
report_day(struct agg_report *r, const char *day)
{
	mp_strlcpy(r->day, day, sizeof(r->day));
	r->begin = day_epoch(day);
	r->end = r->begin + 86399;
}

/*
 * The reports of one (day, domain) group, it->v[from, to), appended to
 * reps (an array of struct agg_report): overflow first, then per pid
 * its policy and its rows, equal rows added up.
 */
static void
group_reports(struct run *run, struct items *it, size_t from, size_t to, struct mp_buf *reps)
{
	long long overflow = 0;
	struct agg_row *rows = own(it, xcalloc(to - from, sizeof(*rows)));
	size_t i = from, used = 0;

	for (; i < to && it->v[i].kind == IT_OVERFLOW; i++)
		overflow += it->v[i].n;
	while (i < to) {
		const char *pid = it->v[i].pid, *policy = NULL;
		struct agg_report r;
		struct agg_row *w = rows + used;

		memset(&r, 0, sizeof(r));
		for (; i < to && strcmp(it->v[i].pid, pid) == 0 && it->v[i].kind == IT_POLICY; i++)
			policy = policy ? policy : it->v[i].text;
		for (; i < to && strcmp(it->v[i].pid, pid) == 0; i++) {
			if (r.nrows == 0 || strcmp(w[r.nrows - 1].row, it->v[i].text) != 0)
				w[r.nrows++].row = it->v[i].text;
			w[r.nrows - 1].count += it->v[i].n;
			r.messages += it->v[i].n;
		}
		if (r.nrows == 0)
			continue;
		used += r.nrows;
		mp_strlcpy(r.domain, it->v[from].domain, sizeof(r.domain));
		report_day(&r, it->v[from].day);
		mp_strlcpy(r.pid, pid, sizeof(r.pid));
		r.overflow = overflow;
		r.rows = w;
		r.policy_text = policy;
		if (policy == NULL || !mp_store_report_policy_parse(policy, &r.policy)) {
			mp_log(LOG_WARNING, "%s %s: the policy of rows %s is missing or unreadable: "
			    "no report", r.domain, it->v[from].day, pid);
			run->skipped++;
			continue;
		}
		mp_buf_append(reps, &r, sizeof(r));
	}
}

/* The most messages first, so that a run cut short (the DNS budget) has
 * sent the reports that say the most; then day, domain and pid. */
static int
report_cmp(const void *pa, const void *pb)
{
	const struct agg_report *a = pa, *b = pb;
	int c;

	if (a->messages != b->messages)
		return a->messages < b->messages ? 1 : -1;
	if ((c = strcmp(a->day, b->day)) != 0 || (c = strcmp(a->domain, b->domain)) != 0)
		return c;
	return strcmp(a->pid, b->pid);
}

/* ---- the run --------------------------------------------------------------- */

/*
 * The marker of a report: P as:ID:DOMAIN, a hash of destination -> when
 * taken, and MARK_DONE -> when the report was done whole. The domain is
 * in the key so that no other policy domain's report can ever take it.
 */
static void
marker_key(const struct rq *q, const struct agg_report *r, char *buf, size_t len)
{
	snprintf(buf, len, "%sas:%s:%s", q->o.key_prefix, r->id, r->domain);
}

/* Pipelines argv (and EXPIRE key ttl when ttl) and reads the first reply's integer. */
static long long
marker_cmd(struct rq *q, int argc, const char **argv, const char *ttl)
{
	const char *exp[] = { "EXPIRE", argv[1], ttl };
	redisReply *a, *b = NULL;
	long long v;

	if (!rq_app(q, argc, argv) || (ttl != NULL && !rq_app(q, 3, exp)) ||
	    (a = rq_get(q)) == NULL || (ttl != NULL && (b = rq_get(q)) == NULL))
		return -1;
	v = a->type == REDIS_REPLY_INTEGER ? a->integer : -1;
	freeReplyObject(a);
	if (b != NULL)
		freeReplyObject(b);
	return v;
}

/* cmd (HSET or HSETNX) of field to now in r's marker, and its TTL. */
static long long
marker_put(struct rq *q, const struct agg_report *r, const char *cmd, const char *field)
{
	char key[MP_STORE_KEY_MAX], ts[24], ttl[24];
	const char *set[] = { cmd, key, field, ts };

	marker_key(q, r, key, sizeof(key));
	snprintf(ts, sizeof(ts), "%lld", (long long)q->now);
	/* Longer than the rows of the day live, so a late rerun still
	 * finds it. */
	snprintf(ttl, sizeof(ttl), "%ld", MP_REPORT_TTL + 2 * 86400L);
	return marker_cmd(q, 4, set, ttl);
}

static int
marker_take(void *ctx, const struct agg_report *r, const char *addr)
{
	return (int)marker_put(ctx, r, "HSETNX", addr);
}

static bool
marker_set_done(void *ctx, const struct agg_report *r)
{
	return marker_put(ctx, r, "HSET", MARK_DONE) >= 0;
}

static bool
marker_give_back(void *ctx, const struct agg_report *r, const char *addr)
{
	struct rq *q = ctx;
	char key[MP_STORE_KEY_MAX];
	const char *del[] = { "HDEL", key, addr, MARK_DONE };

	marker_key(q, r, key, sizeof(key));
	return marker_cmd(q, 4, del, NULL) >= 0;
}

static int
marker_done(void *ctx, const struct agg_report *r, unsigned *n_r)
{
	struct rq *q = ctx;
	char key[MP_STORE_KEY_MAX];
	const char *get[] = { "HGETALL", key };
	redisReply *x;
	int done = 0;

	*n_r = 0;
	marker_key(q, r, key, sizeof(key));
	if (!rq_app(q, 2, get) || (x = rq_get(q)) == NULL)
		return -1;
	for (size_t i = 0; x->type == REDIS_REPLY_ARRAY && i + 1 < x->elements; i += 2) {
		const redisReply *f = x->element[i];

		if (f->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(f->str, MARK_DONE) == 0)
			done = 1;
		else
			*n_r += memchr(f->str, '@', f->len) != NULL;
	}
	freeReplyObject(x);
	return done;
}

static bool
dns_org(void *ctx, const char *name, char out[MP_DOMAIN_MAX])
{
	struct mp_dmarc_outcome *o = xcalloc(1, sizeof(*o));
	struct mp_deadline dl;
	bool ok;

	mp_deadline_set(&dl, LOOKUP_MS);
	(void)mp_dmarc_lookup(mp_evaluator_dmarc(ctx), &dl, name, o);
	ok = !o->org_failed;
	mp_strlcpy(out, o->org_domain[0] ? o->org_domain : name, MP_DOMAIN_MAX);
	free(o);
	return ok;
}

static struct mp_dns_result *
dns_txt(void *ctx, const char *name)
{
	struct mp_deadline dl;

	mp_deadline_set(&dl, LOOKUP_MS);
	return mp_dns_query(mp_evaluator_dns(ctx), &dl, name, MP_DNS_TXT);
}

/* The days to read: the one asked for, or yesterday (and, for --send,
 * the days before it whose reports may not all have gone out). */
static size_t
run_days(const struct run *run, char (*days)[9])
{
	if (run->a->day[0] != '\0') {
		mp_strlcpy(days[0], run->a->day, 9);
		return 1;
	}
	for (int i = 0; i < (run->a->send ? RETRY_DAYS : 1); i++)
		mp_store_day(run->q.now - (time_t)(i + 1) * 86400, days[i]);
	return run->a->send ? RETRY_DAYS : 1;
}

/* Reads every rows key of the days into it; false when Redis failed. */
static bool
read_items(struct run *run, struct items *it)
{
	char days[RETRY_DAYS][9];
	size_t ndays = run_days(run, days), nkeys = 0;
	struct rkey *keys = NULL;
	bool ok;

	ok = scan_keys(run, (const char (*)[9])days, ndays, &keys, &nkeys) &&
	    fetch(run, keys, nkeys, it);
	free(keys);
	if (!ok)
		fprintf(stderr, "mailposture-report: %s\n", run->q.failed ? run->q.error :
		    "redis: unexpected reply to SCAN");
	else if (it->malformed > 0)
		mp_log(LOG_WARNING, "%zu report rows or policies in Redis have no well-formed "
		    "policy id: skipped", it->malformed);
	return ok;
}

/* Reads, groups and handles every report; the exit status. */
static int
run_reports(struct run *run)
{
	struct items it;
	struct mp_buf reps = MP_BUF_INIT;
	struct agg_report *v;
	size_t n;

	memset(&it, 0, sizeof(it));
	if (!read_items(run, &it)) {
		items_free(&it);
		return EXIT_REDIS;
	}
	qsort(it.v, it.n, sizeof(*it.v), item_cmp);
	for (size_t i = 0, j; i < it.n; i = j) {
		for (j = i; j < it.n && strcmp(it.v[j].day, it.v[i].day) == 0 &&
		    strcmp(it.v[j].domain, it.v[i].domain) == 0; j++)
			;
		group_reports(run, &it, i, j, &reps);
	}
	v = (struct agg_report *)(void *)reps.data;
	if ((n = reps.len / sizeof(*v)) > 0)
		qsort(v, n, sizeof(*v), report_cmp);
	for (size_t i = 0; i < n && run->status != EXIT_REDIS; i++)
		one_report(run, &v[i]);
	mp_buf_free(&reps);
	items_free(&it);
	if (run->sent.left > 0)
		mp_log(LOG_WARNING, "this run waited %llu minutes for DNS answers in all: %u "
		    "reports are left for the next run", DNS_BUDGET_MS / 60000, run->sent.left);
	if (run->status == EXIT_REDIS)
		fprintf(stderr, "mailposture-report: %s\n", run->q.error);
	return run->status;
}

/* One line on what was done, and the exit status. */
static int
summary(const struct run *run)
{
	if (run->reports == 0) {
		fprintf(stderr, "mailposture-report: aggregate: nothing to report\n");
		return run->status ? run->status : EXIT_NOTHING;
	}
	if (run->a->out_dir != NULL)
		printf("%u reports written to %s\n", run->written, run->a->out_dir);
	if (run->a->send)
		printf("%u report mails sent, %u sent before, %u destinations not allowed, %u to "
		    "try again\n", run->sent.sent, run->sent.already, run->sent.denied,
		    run->sent.failed);
	if (run->sent.left > 0)
		printf("%u reports left for the next run (its DNS time was spent)\n",
		    run->sent.left);
	if (run->skipped > 0)
		printf("%u reports not made (see the warnings)\n", run->skipped);
	return run->status;
}

/* Connects and, for --send, builds the resolver; then runs. */
static int
run_connected(struct run *run, struct mp_conf *conf)
{
	char err[512];
	int status;

	if (run->a->send) {
		run->ev = mp_evaluator_new_ex(conf, MP_EVALUATOR_PSL_OPTIONAL, err, sizeof(err));
		if (run->ev == NULL) {
			fprintf(stderr, "mailposture-report: %s\n", err);
			return EXIT_USAGE;
		}
		run->lk.ctx = run->ev;
		run->lk.org = dns_org;
		run->lk.txt = dns_txt;
		run->dns = agg_dns_new(&run->lk, DNS_BUDGET_MS);
		run->mk.ctx = &run->q;
		run->mk.take = marker_take;
		run->mk.give_back = marker_give_back;
		run->mk.done = marker_done;
		run->mk.set_done = marker_set_done;
	}
	if ((run->q.c = mp_store_connect(&run->q.o, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mailposture-report: %s\n", err);
		agg_dns_free(&run->dns);
		mp_evaluator_free(&run->ev);
		return EXIT_REDIS;
	}
	run->q.now = time(NULL);
	status = run_reports(run);
	redisFree(run->q.c);
	agg_dns_free(&run->dns);
	mp_evaluator_free(&run->ev);
	return status == EXIT_REDIS ? status : summary(run);
}

int
aggregate_main(const char *conf_path, const char *redis_addr, int argc, char **argv)
{
	struct agg_args a;
	struct run run;
	struct mp_conf *conf = NULL;
	struct stat sb;
	int status;

	memset(&a, 0, sizeof(a));
	a.conf_path = conf_path;
	a.redis_addr = redis_addr;
	if ((status = parse_args(argc, argv, &a)) != 0)
		return status;
	if (a.help) {
		fputs(AGGREGATE_USAGE, stdout);
		return fflush(stdout) == 0 ? 0 : EXIT_USAGE;
	}
	if (a.out_dir != NULL && (stat(a.out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
		return usage_error("--out: '%s' is not a directory", a.out_dir);
	memset(&run, 0, sizeof(run));
	run.a = &a;
	if (a.configured) {
		char err[512];

		if ((conf = mp_conf_load_or_defaults(a.conf_path, err, sizeof(err))) == NULL) {
			fprintf(stderr, "mailposture-report: %s\n", err);
			return EXIT_USAGE;
		}
		status = report_conf(conf, true, &run.c) == 0 ? 0 : EXIT_NOTHING;
	} else if ((status = setup(&run, &conf)) == 0) {
		status = run_connected(&run, conf);
	}
	mp_conf_unref(&conf);
	if (fflush(stdout) != 0)
		status = EXIT_USAGE;
	return status;
}
