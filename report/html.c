/*
 * html: the page's data (q_page and the two questions only it asks) and
 * its layout. Redis is read through query_read.c's pipelining, like
 * every other command: a page over N days costs a few round trips per
 * section, not one per key.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "html.h"
#include "query_int.h"
#include "svg.h"

#define SENDERS_MAX 1000000 /* every sender of the period counts for the share */
#define AUDIT_TARGETS 6     /* audited targets drawn, the most recently audited */

#define C_PASS "#2e7d32"
#define C_FAIL "#c62828"
#define C_NONE "#9e9e9e"
#define C_ERROR "#ef6c00"

/* ---- escaping ------------------------------------------------------------ */

void
html_text(struct mp_buf *out, const char *s, size_t max)
{
	struct mp_buf p = MP_BUF_INIT;

	mp_printable(&p, s ? s : "", s ? strlen(s) : 0, max);
	for (const char *c = mp_buf_str(&p); *c != '\0'; c++) {
		switch (*c) {
		case '&':
			mp_buf_puts(out, "&amp;");
			break;
		case '<':
			mp_buf_puts(out, "&lt;");
			break;
		case '>':
			mp_buf_puts(out, "&gt;");
			break;
		case '"':
			mp_buf_puts(out, "&quot;");
			break;
		case '\'':
			mp_buf_puts(out, "&#39;");
			break;
		default:
			mp_buf_putc(out, *c);
		}
	}
	mp_buf_free(&p);
}

/* ---- the senders' policies ----------------------------------------------- */

/* What the domain hash's "published" says; anything else is "unknown". */
static const char *const policies[] = { "reject", "quarantine", "none", "absent", "unknown" };
#define NPOL MP_ARRAY_SIZE(policies)

static size_t
policy_index(const char *p)
{
	for (size_t i = 0; i + 1 < NPOL; i++)
		if (p != NULL && strcmp(p, policies[i]) == 0)
			return i;
	return NPOL - 1;
}

static const char *
sfield(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* The policy counts as JSON; reject and quarantine are enforcing. */
static json_t *
senders_json(const long long *dom, const long long *msg)
{
	json_t *out = json_object(), *arr = json_array();
	long long nd = 0, nm = 0;

	for (size_t p = 0; p < NPOL; p++) {
		json_t *o = json_object();

		json_object_set_new(o, "policy", json_string(policies[p]));
		json_object_set_new(o, "domains", json_integer(dom[p]));
		json_object_set_new(o, "messages", json_integer(msg[p]));
		json_array_append_new(arr, o);
		nd += dom[p];
		nm += msg[p];
	}
	json_object_set_new(out, "domains", json_integer(nd));
	json_object_set_new(out, "messages", json_integer(nm));
	json_object_set_new(out, "enforcing_domains_pct", json_real(rq_rate(dom[0] + dom[1], nd)));
	json_object_set_new(out, "enforcing_messages_pct", json_real(rq_rate(msg[0] + msg[1], nm)));
	json_object_set_new(out, "by_policy", arr);
	return out;
}

/* Every sender domain of the period (top --volume) by the DMARC policy
 * it publishes, counted in domains and in their messages. */
static json_t *
page_senders(struct rq *q, int days)
{
	json_t *vol = q_top(q, TOP_VOLUME, SENDERS_MAX, days), *rows, *row;
	long long dom[NPOL] = { 0 }, msg[NPOL] = { 0 };
	char key[MP_STORE_KEY_MAX];
	size_t i;

	if (vol == NULL)
		return NULL;
	rows = json_object_get(vol, "domains");
	json_array_foreach(rows, i, row) {
		mp_store_key_domain(&q->o, key, sfield(row, "org"), sfield(row, "domain"));
		rq_app(q, 3, (const char *[]){ "HGET", key, "published" });
	}
	json_array_foreach(rows, i, row) {
		redisReply *h = rq_get(q);
		size_t p;

		if (h == NULL)
			break;
		p = policy_index(h->type == REDIS_REPLY_STRING ? h->str : NULL);
		dom[p]++;
		msg[p] += json_integer_value(json_object_get(row, "value"));
		freeReplyObject(h);
	}
	json_decref(vol);
	return q->failed ? NULL : senders_json(dom, msg);
}

/* ---- the failing source IPs ---------------------------------------------- */

/*
 * The client IPs that sent mail for a domain on a day that domain had
 * DMARC failures (P di of the members of P fail:DAY, over the period):
 * every IP of a failing message is among them.
 */
static json_t *
failing_candidates(struct rq *q, int days)
{
	char day[9], key[MP_STORE_KEY_MAX], org[MP_DOMAIN_MAX];
	json_t *set = json_object();
	size_t asked = 0;

	for (int i = 0; i < days; i++) {
		rq_day_of(q, i, day);
		mp_store_key_dmarc_fail(&q->o, key, day);
		rq_app(q, 4, (const char *[]){ "ZRANGE", key, "0", "-1" });
	}
	/* The second round is queued while the first is read. */
	for (int i = 0; i < days; i++) {
		redisReply *z = rq_get(q);

		if (z == NULL)
			break;
		rq_day_of(q, i, day);
		for (size_t k = 0; z->type == REDIS_REPLY_ARRAY && k < z->elements; k++) {
			const redisReply *m = z->element[k];

			if (m->type != REDIS_REPLY_STRING || memchr(m->str, '\0', m->len) != NULL)
				continue;
			rq_org_of(q, m->str, org);
			mp_store_key_domain_ips(&q->o, key, org, m->str, day);
			if (rq_app(q, 4, (const char *[]){ "ZRANGE", key, "0", "-1" }))
				asked++;
		}
		freeReplyObject(z);
	}
	for (size_t k = 0; k < asked; k++) {
		redisReply *z = rq_get(q);

		if (z == NULL)
			break;
		for (size_t j = 0; z->type == REDIS_REPLY_ARRAY && j < z->elements; j++)
			if (z->element[j]->type == REDIS_REPLY_STRING &&
			    memchr(z->element[j]->str, '\0', z->element[j]->len) == NULL)
				json_object_set_new(set, z->element[j]->str, json_true());
		freeReplyObject(z);
	}
	return set;
}

/* One day's P ip:ADDR:DAY ("domain|spf|dmarc" -> messages) added to
 * the IP's totals: messages, DMARC failures and the domains seen. */
static void
failing_add(const redisReply *h, const char *ip, json_t *msgs, json_t *fails, json_t *doms)
{
	json_t *set = json_object_get(doms, ip);

	if (set == NULL) {
		json_object_set_new(doms, ip, json_object());
		set = json_object_get(doms, ip);
	}
	for (size_t k = 0; h->type == REDIS_REPLY_ARRAY && k + 1 < h->elements; k += 2) {
		const char *f = h->element[k]->str, *b1, *b2;
		long long n;
		char *dom;

		if (h->element[k]->type != REDIS_REPLY_STRING || (b1 = strchr(f, '|')) == NULL ||
		    (b2 = strrchr(f, '|')) == b1 || h->element[k + 1]->type != REDIS_REPLY_STRING)
			continue;
		n = strtoll(h->element[k + 1]->str, NULL, 10);
		rq_json_add(msgs, ip, n);
		if (strcmp(b2 + 1, "fail") == 0)
			rq_json_add(fails, ip, n);
		dom = xstrndup(f, (size_t)(b1 - f));
		json_object_set_new(set, dom, json_true());
		free(dom);
	}
}

/* The n source IPs of the most DMARC failures over the period, with
 * all their messages and domains of the period (as ip ADDR shows). */
static json_t *
page_failing_ips(struct rq *q, int days, int n)
{
	json_t *set = failing_candidates(q, days), *v, *out, *rows;
	json_t *msgs = json_object(), *fails = json_object(), *doms = json_object();
	char day[9], key[MP_STORE_KEY_MAX];
	struct rq_ranked *rk;
	const char *ip;
	size_t i, nrk;

	json_object_foreach(set, ip, v) {
		for (int d = 0; d < days; d++) {
			rq_day_of(q, d, day);
			mp_store_key_ip(&q->o, key, ip, day);
			rq_app(q, 2, (const char *[]){ "HGETALL", key });
		}
	}
	json_object_foreach(set, ip, v) {
		for (int d = 0; d < days; d++) {
			redisReply *h = rq_get(q);

			if (h == NULL)
				break;
			failing_add(h, ip, msgs, fails, doms);
			freeReplyObject(h);
		}
	}
	out = json_object();
	rows = json_array();
	rk = rq_rank(fails, &nrk);
	for (i = 0; i < nrk && i < (size_t)n && rk[i].n > 0; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "ip", rq_str_json(rk[i].name, strlen(rk[i].name)));
		json_object_set_new(o, "dmarc_fail", json_integer(rk[i].n));
		json_object_set_new(o, "messages", json_object_get(msgs, rk[i].name) ?
		    json_incref(json_object_get(msgs, rk[i].name)) : json_integer(0));
		json_object_set_new(o, "domains",
		    json_integer((json_int_t)json_object_size(json_object_get(doms, rk[i].name))));
		json_array_append_new(rows, o);
	}
	free(rk);
	json_object_set_new(out, "days", json_integer(days));
	json_object_set_new(out, "ips", rows);
	json_decref(set);
	json_decref(msgs);
	json_decref(fails);
	json_decref(doms);
	return out;
}

/* ---- worst posture, audits, the whole page ----------------------------- */

/* top --worst, each domain with its messages of the period by result
 * and its published policy (as domain NAME shows them). */
static json_t *
page_worst(struct rq *q, int days, int n)
{
	json_t *w = q_top(q, TOP_WORST, n, days), *row;
	size_t i;

	json_array_foreach(w ? json_object_get(w, "domains") : NULL, i, row) {
		json_t *d = q_domain(q, sfield(row, "domain"), days, 1);

		if (d == NULL)
			break;
		if (json_is_true(json_object_get(d, "found"))) {
			json_object_set(row, "period", json_object_get(d, "period"));
			json_object_set(row, "published_policy",
			    json_object_get(d, "published_policy"));
		}
		json_decref(d);
	}
	if (q->failed) {
		json_decref(w);
		return NULL;
	}
	return w;
}

/* audits, and the history of the most recently audited targets. */
static json_t *
page_audits(struct rq *q)
{
	json_t *a = q_audits(q, AUDIT_TARGETS), *row;
	size_t i;

	json_array_foreach(a ? json_object_get(a, "targets") : NULL, i, row) {
		json_t *h = q_audit_history(q, sfield(row, "target"), MP_STORE_AUDITS);

		if (h == NULL)
			break;
		json_object_set(row, "history", json_object_get(h, "audits"));
		json_decref(h);
	}
	if (q->failed) {
		json_decref(a);
		return NULL;
	}
	return a;
}

json_t *
q_page(struct rq *q, int days, int n)
{
	json_t *out = json_object(), *sum, *aud = NULL;

	days = rq_clamp_days(days);
	json_object_set_new(out, "days", json_integer(days));
	json_object_set_new(out, "generated", rq_time_json((long long)q->now));
	if ((sum = q_summary(q, days)) != NULL)
		json_object_set_new(out, "summary", sum);
	if (!q->failed)
		json_object_set_new(out, "senders", page_senders(q, days));
	if (!q->failed)
		json_object_set_new(out, "worst", page_worst(q, days, n));
	if (!q->failed)
		json_object_set_new(out, "failing_ips", page_failing_ips(q, days, n));
	if (!q->failed && (aud = page_audits(q)) != NULL)
		json_object_set_new(out, "audits", aud);
	if (q->failed) {
		json_decref(out);
		return NULL;
	}
	json_object_set_new(out, "found",
	    json_boolean(json_is_true(json_object_get(sum, "found")) ||
	    json_is_true(json_object_get(aud, "found"))));
	return out;
}

/* ---- the page -------------------------------------------------------------- */

static const char css[] =
"body{margin:0;background:#fafafa;color:#212121;font:14px/1.45 sans-serif}"
"main{max-width:840px;margin:0 auto;padding:16px 20px 40px}"
"h1{font-size:24px;margin:8px 0 0}h2{font-size:18px;margin:32px 0 8px;"
"border-bottom:1px solid #ddd;padding-bottom:4px}"
".sub,.note{color:#616161}.big{font-size:16px}.cap{margin:12px 0 0;font-weight:bold}"
"table{border-collapse:collapse;margin:10px 0;font-size:13px}"
"th,td{padding:3px 6px;border-bottom:1px solid #e0e0e0;text-align:right;white-space:nowrap}"
"th{background:#eee}.l{text-align:left}td.t,th.t{text-align:left;white-space:normal;"
"word-break:break-all}"
"tr.total td,tr.total th{font-weight:bold;border-top:2px solid #9e9e9e}"
"svg.chart{display:block;margin:8px 0;background:#fff;border:1px solid #e0e0e0}"
"svg text{font:11px sans-serif;fill:#424242}svg .on text{fill:#fff;font-weight:bold}"
"svg .grid{stroke:#e0e0e0}svg .empty{fill:#f0f0f0}"
".g{display:inline-block;min-width:2em;text-align:center;border-radius:3px;color:#fff;"
"background:#757575;font-weight:bold;white-space:normal;word-break:break-all}"
".gA{background:#2e7d32}.gB{background:#689f38}.gC{background:#f9a825}"
".gD{background:#ef6c00}.gF{background:#c62828}";

/* The page's head and title, up to the first section. */
static void
page_head(struct mp_buf *b, const json_t *page)
{
	mp_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	    "style-src 'unsafe-inline'\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<title>mailposture report</title>\n<style>");
	mp_buf_puts(b, css);
	mp_buf_printf(b, "</style>\n</head>\n<body>\n<main>\n<h1>Mail posture</h1>\n"
	    "<p class=\"sub\">The last <span id=\"days\">%lld</span> days (UTC), generated ",
	    (long long)json_integer_value(json_object_get(page, "days")));
	html_text(b, sfield(page, "generated"), MP_SHOW_TOKEN);
	mp_buf_puts(b, " from the verdicts of mailposture-milter and the audits of "
	    "mailposture-audit.</p>\n");
}

/* A number cell: an integer, or a percentage; "-" when absent. With an
 * id prefix the cell gets id PREFIX-KEY (our names only). */
static void
num_cell(struct mp_buf *b, const json_t *o, const char *key, bool pct, const char *id)
{
	const json_t *v = json_object_get(o, key);

	mp_buf_puts(b, "<td");
	if (id != NULL) {
		mp_buf_printf(b, " id=\"%s-", id);
		for (const char *c = key; *c != '\0'; c++)
			mp_buf_putc(b, *c == '_' ? '-' : *c);
		mp_buf_putc(b, '"');
	}
	mp_buf_putc(b, '>');
	if (pct && json_is_number(v))
		mp_buf_printf(b, "%.1f%%", json_number_value(v));
	else if (json_is_integer(v))
		mp_buf_printf(b, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		mp_buf_printf(b, "%.1f", json_real_value(v));
	else
		mp_buf_puts(b, "-");
	mp_buf_puts(b, "</td>");
}

/* A text cell from Redis (escaped, at most max bytes shown). */
static void
text_cell(struct mp_buf *b, const char *s, size_t max)
{
	mp_buf_puts(b, "<td class=\"t\">");
	html_text(b, s[0] ? s : "-", max);
	mp_buf_puts(b, "</td>");
}

/* "2023-11-14T22:13:20Z" as the text output shows it: "2023-11-14 22:13:20". */
static void
when_cell(struct mp_buf *b, const char *t)
{
	char buf[32];

	if (strlen(t) < 19)
		snprintf(buf, sizeof(buf), "-");
	else
		snprintf(buf, sizeof(buf), "%.10s %.8s", t, t + 11);
	mp_buf_puts(b, "<td class=\"l\">");
	html_text(b, buf, MP_SHOW_TOKEN);
	mp_buf_puts(b, "</td>");
}

static void
grade_cell(struct mp_buf *b, const char *g)
{
	mp_buf_printf(b, "<td><span class=\"g g%c\">", g[0] >= 'A' && g[0] <= 'F' ? g[0] : 'x');
	html_text(b, g[0] ? g : "-", MP_SHOW_TOKEN);
	mp_buf_puts(b, "</span></td>");
}

static const char *const dmarc_keys[] = { "dmarc_pass", "dmarc_fail", "dmarc_none",
	"dmarc_error" };
static const char *const dmarc_names[] = { "DMARC pass", "DMARC fail", "no DMARC policy",
	"DMARC error" };
static const char *const dmarc_colors[] = { C_PASS, C_FAIL, C_NONE, C_ERROR };
#define NDMARC MP_ARRAY_SIZE(dmarc_keys)

/* The summary's columns, as `summary` prints them. */
static const struct {
	const char *key, *head;
	bool pct;
} sum_cols[] = {
	{ "messages", "Messages", false }, { "dmarc_pass", "DMARC pass", false },
	{ "dmarc_fail", "DMARC fail", false }, { "dmarc_none", "No DMARC", false },
	{ "dmarc_error", "DMARC error", false }, { "spf_pass_pct", "SPF pass", true },
	{ "aligned_pct", "Aligned", true }, { "quarantine", "Quar", false },
	{ "reject", "Reject", false },
};

static void
summary_row(struct mp_buf *b, const json_t *d, const char *label, bool total)
{
	mp_buf_puts(b, total ? "<tr class=\"total\"><th class=\"l\">" : "<tr><th class=\"l\">");
	html_text(b, label, MP_SHOW_TOKEN);
	mp_buf_puts(b, "</th>");
	for (size_t k = 0; k < MP_ARRAY_SIZE(sum_cols); k++)
		num_cell(b, d, sum_cols[k].key, sum_cols[k].pct, total ? "total" : NULL);
	mp_buf_puts(b, "</tr>\n");
}

static void
sec_summary(struct mp_buf *b, const json_t *s)
{
	const json_t *days = json_object_get(s, "per_day"), *d;
	size_t n = json_array_size(days), i;
	double *v = xcalloc(NDMARC * n + 1, sizeof(*v));
	const char **lab = xcalloc(n + 1, sizeof(*lab));
	struct svg_series ser[NDMARC];

	/* Newest first in the table, oldest first (left) in the chart. */
	json_array_foreach(days, i, d) {
		const char *day = sfield(d, "day");

		lab[n - 1 - i] = strlen(day) == 10 ? day + 5 : day;
		for (size_t k = 0; k < NDMARC; k++)
			v[k * n + n - 1 - i] = (double)json_integer_value(json_object_get(d,
			    dmarc_keys[k]));
	}
	for (size_t k = 0; k < NDMARC; k++)
		ser[k] = (struct svg_series){ dmarc_names[k], dmarc_colors[k], v + k * n };
	mp_buf_puts(b, "<section id=\"summary\">\n<h2>Messages per day by DMARC result</h2>\n");
	svg_columns(b, "Messages per day by DMARC result", n, lab, NDMARC, ser);
	mp_buf_puts(b, "<table>\n<tr><th class=\"l\">Day</th>");
	for (size_t k = 0; k < MP_ARRAY_SIZE(sum_cols); k++)
		mp_buf_printf(b, "<th>%s</th>", sum_cols[k].head);
	mp_buf_puts(b, "</tr>\n");
	json_array_foreach(days, i, d)
		if (json_integer_value(json_object_get(d, "messages")) > 0)
			summary_row(b, d, sfield(d, "day"), false);
	summary_row(b, json_object_get(s, "total"), "Total", true);
	mp_buf_puts(b, "</table>\n<p class=\"note\">Days without messages are left out of the "
	    "table.</p>\n</section>\n");
	free(v);
	free(lab);
}

static void
sec_senders(struct mp_buf *b, const json_t *s)
{
	static const char *const names[] = { "p=reject", "p=quarantine", "p=none",
		"no DMARC record", "unknown" };
	static const char *const colors[] = { "#1b5e20", "#66bb6a", "#ffb300", "#bdbdbd",
		"#8d6e63" };
	double dv[NPOL] = { 0 }, mv[NPOL] = { 0 };
	const json_t *p;
	size_t i;

	json_array_foreach(json_object_get(s, "by_policy"), i, p) {
		if (i >= NPOL)
			break;
		dv[i] = (double)json_integer_value(json_object_get(p, "domains"));
		mv[i] = (double)json_integer_value(json_object_get(p, "messages"));
	}
	mp_buf_printf(b, "<section id=\"senders\">\n"
	    "<h2>Senders with an enforcing DMARC policy</h2>\n"
	    "<p class=\"big\"><b id=\"enforcing-domains-pct\">%.1f%%</b> of the "
	    "<span id=\"senders-domains\">%lld</span> sender domains seen publish p=quarantine "
	    "or p=reject; they sent <b id=\"enforcing-messages-pct\">%.1f%%</b> of the "
	    "<span id=\"senders-messages\">%lld</span> messages.</p>\n",
	    json_number_value(json_object_get(s, "enforcing_domains_pct")),
	    (long long)json_integer_value(json_object_get(s, "domains")),
	    json_number_value(json_object_get(s, "enforcing_messages_pct")),
	    (long long)json_integer_value(json_object_get(s, "messages")));
	mp_buf_puts(b, "<p class=\"cap\">Sender domains</p>\n");
	svg_share(b, "Sender domains by published DMARC policy", NPOL, names, colors, dv);
	mp_buf_puts(b, "<p class=\"cap\">Their messages</p>\n");
	svg_share(b, "Their messages by published DMARC policy", NPOL, names, colors, mv);
	mp_buf_puts(b, "<table>\n<tr><th class=\"t\">Published policy</th><th>Domains</th>"
	    "<th>Messages</th></tr>\n");
	json_array_foreach(json_object_get(s, "by_policy"), i, p) {
		mp_buf_printf(b, "<tr><td class=\"t\">%s</td>", i < NPOL ? names[i] : "?");
		num_cell(b, p, "domains", false, NULL);
		num_cell(b, p, "messages", false, NULL);
		mp_buf_puts(b, "</tr>\n");
	}
	mp_buf_puts(b, "</table>\n<p class=\"note\">The policy each domain published when its "
	    "last message came.</p>\n</section>\n");
}

/* One row of the worst: posture, grade and the period's DMARC results. */
static void
worst_row(struct mp_buf *b, size_t rank, const json_t *d)
{
	const json_t *per = json_object_get(d, "period");
	double v[NDMARC];

	mp_buf_printf(b, "<tr><td>%zu</td>", rank);
	text_cell(b, sfield(d, "domain"), MP_SHOW_DOMAIN);
	num_cell(b, d, "posture_score", false, NULL);
	grade_cell(b, sfield(d, "grade"));
	num_cell(b, d, "auth_score", false, NULL);
	num_cell(b, per, "messages", false, NULL);
	for (size_t k = 0; k < NDMARC; k++)
		v[k] = (double)json_integer_value(json_object_get(per, dmarc_keys[k]));
	mp_buf_puts(b, "<td>");
	svg_mini(b, "DMARC results of the period", NDMARC, dmarc_names, dmarc_colors, v);
	mp_buf_printf(b, " %.0f/%.0f/%.0f/%.0f</td>", v[0], v[1], v[2], v[3]);
	text_cell(b, sfield(d, "published_policy"), MP_SHOW_TOKEN);
	mp_buf_puts(b, "</tr>\n");
}

static void
sec_worst(struct mp_buf *b, const json_t *w)
{
	const json_t *rows = json_object_get(w, "domains"), *d;
	size_t i;

	mp_buf_puts(b, "<section id=\"worst\">\n<h2>Worst posture</h2>\n");
	if (json_array_size(rows) == 0) {
		mp_buf_puts(b, "<p>No domain with a posture score was seen in the period.</p>\n"
		    "</section>\n");
		return;
	}
	mp_buf_puts(b, "<table>\n<tr><th>#</th><th class=\"t\">Domain</th><th>Posture</th>"
	    "<th>Grade</th><th>Auth</th><th>Messages</th><th>DMARC pass/fail/none/error</th>"
	    "<th class=\"t\">Published p=</th></tr>\n");
	json_array_foreach(rows, i, d)
		worst_row(b, i + 1, d);
	mp_buf_puts(b, "</table>\n<p class=\"note\">Posture: what the domain publishes (SPF, "
	    "DMARC, MTA-STS, TLS-RPT), 0 to 100. Auth: the time-decayed mean of its messages' "
	    "results. Messages and DMARC results: the last days of this page.</p>\n"
	    "</section>\n");
}

static void
sec_ips(struct mp_buf *b, const json_t *f)
{
	const json_t *rows = json_object_get(f, "ips"), *r;
	size_t n = json_array_size(rows), i;
	const char **lab = xcalloc(n + 1, sizeof(*lab));
	double *v = xcalloc(n + 1, sizeof(*v));

	mp_buf_puts(b, "<section id=\"failing-ips\">\n<h2>Top failing source IPs</h2>\n");
	json_array_foreach(rows, i, r) {
		lab[i] = sfield(r, "ip");
		v[i] = (double)json_integer_value(json_object_get(r, "dmarc_fail"));
	}
	if (n == 0) {
		mp_buf_puts(b, "<p>No DMARC failures in the period.</p>\n");
	} else {
		svg_bars(b, "DMARC failures by source IP", n, lab, v, C_FAIL);
		mp_buf_puts(b, "<table>\n<tr><th class=\"t\">Source IP</th><th>DMARC fail</th>"
		    "<th>Messages</th><th>Domains</th></tr>\n");
		json_array_foreach(rows, i, r) {
			mp_buf_puts(b, "<tr>");
			text_cell(b, sfield(r, "ip"), MP_SHOW_TOKEN);
			num_cell(b, r, "dmarc_fail", false, NULL);
			num_cell(b, r, "messages", false, NULL);
			num_cell(b, r, "domains", false, NULL);
			mp_buf_puts(b, "</tr>\n");
		}
		mp_buf_puts(b, "</table>\n");
	}
	mp_buf_puts(b, "</section>\n");
	free(lab);
	free(v);
}

static const char *const line_colors[] = { "#1565c0", "#6a1b9a", "#00838f", "#ad1457",
	"#4e342e", "#558b2f" };

/* "2023-11-14T22:13:20Z" -> unix time; -1 when it is not that. */
static double
iso_time(const char *s)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon--;
	return (double)timegm(&tm);
}

/* A target's scored audits as a line, oldest first (its history is
 * newest first). The arrays are the caller's to free. */
static void
audit_line(const json_t *row, const char *color, struct svg_line *l)
{
	const json_t *h = json_object_get(row, "history");
	size_t n = json_array_size(h), k = 0;
	double *t = xcalloc(n + 1, sizeof(*t)), *y = xcalloc(n + 1, sizeof(*y));
	char **tip = xcalloc(n + 1, sizeof(*tip));

	for (size_t i = n; i-- > 0;) {
		const json_t *e = json_array_get(h, i), *score = json_object_get(e, "score");
		double when = iso_time(sfield(e, "time"));

		if (!json_is_integer(score) || when < 0)
			continue;
		t[k] = when;
		y[k] = (double)json_integer_value(score);
		tip[k] = xasprintf("%s: grade %s (%lld/100)", sfield(e, "time"), sfield(e, "grade"),
		    (long long)json_integer_value(score));
		k++;
	}
	*l = (struct svg_line){ sfield(row, "target"), color, k, t, y, (const char *const *)tip };
}

static void
audit_line_free(struct svg_line *l)
{
	for (size_t k = 0; k < l->n; k++)
		free((char *)l->tip[k]);
	free((void *)l->tip);
	free((void *)l->t);
	free((void *)l->y);
}

static void
sec_audits(struct mp_buf *b, const json_t *a)
{
	const json_t *rows = json_object_get(a, "targets"), *r;
	size_t nl = json_array_size(rows), i;
	struct svg_line *lines = xcalloc(nl + 1, sizeof(*lines));

	mp_buf_puts(b, "<section id=\"audits\">\n<h2>Audit grade over time</h2>\n");
	if (nl == 0)
		mp_buf_puts(b, "<p>No audit stored (mailposture-audit with [redis] address)."
		    "</p>\n");
	json_array_foreach(rows, i, r)
		audit_line(r, line_colors[i % MP_ARRAY_SIZE(line_colors)], &lines[i]);
	if (nl > 0) {
		svg_lines(b, "Audit score over time", nl, lines);
		mp_buf_puts(b, "<table>\n<tr><th class=\"t\">Target</th><th class=\"l\">Last audit "
		    "(UTC)</th><th class=\"t\">Domain</th><th>Score</th><th>Grade</th>"
		    "<th>FAIL</th><th>WARN</th></tr>\n");
	}
	json_array_foreach(rows, i, r) {
		mp_buf_puts(b, "<tr>");
		text_cell(b, sfield(r, "target"), MP_SHOW_LINE);
		when_cell(b, sfield(r, "time"));
		text_cell(b, sfield(r, "domain"), MP_SHOW_DOMAIN);
		num_cell(b, r, "score", false, NULL);
		grade_cell(b, sfield(r, "grade"));
		num_cell(b, r, "fail", false, NULL);
		num_cell(b, r, "warn", false, NULL);
		mp_buf_puts(b, "</tr>\n");
	}
	mp_buf_puts(b, nl > 0 ? "</table>\n</section>\n" : "</section>\n");
	for (i = 0; i < nl; i++)
		audit_line_free(&lines[i]);
	free(lines);
}

void
render_html(FILE *out, const json_t *page)
{
	struct mp_buf b = MP_BUF_INIT;
	const json_t *part;

	page_head(&b, page);
	if ((part = json_object_get(page, "summary")) != NULL)
		sec_summary(&b, part);
	if ((part = json_object_get(page, "senders")) != NULL)
		sec_senders(&b, part);
	if ((part = json_object_get(page, "worst")) != NULL)
		sec_worst(&b, part);
	if ((part = json_object_get(page, "failing_ips")) != NULL)
		sec_ips(&b, part);
	if ((part = json_object_get(page, "audits")) != NULL)
		sec_audits(&b, part);
	mp_buf_puts(&b, "</main>\n</body>\n</html>\n");
	fwrite(b.data, 1, b.len, out);
	mp_buf_free(&b);
}
