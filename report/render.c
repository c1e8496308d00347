#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "render.h"
#include "table.h"
#include "util.h"

/* Small formatting helpers; each returns buf. */
static const char *
s_of(const json_t *o, const char *k, const char *dflt)
{
	const json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

static void print_line(FILE *out, struct mp_buf *line);

static const char *
int_of(const json_t *o, const char *k, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, k);

	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, len, "-");
	return buf;
}

static const char *
pct_of(const json_t *o, const char *k, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, k);

	if (json_is_number(v))
		snprintf(buf, len, "%.1f%%", json_number_value(v));
	else
		snprintf(buf, len, "-");
	return buf;
}

static const char *
real_of(const json_t *o, const char *k, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, k);

	if (json_is_number(v))
		snprintf(buf, len, "%.1f", json_number_value(v));
	else
		snprintf(buf, len, "-");
	return buf;
}

/* "2023-11-14T22:13:20Z" -> "2023-11-14 22:13" */
static const char *
when_of(const json_t *o, const char *k, char *buf, size_t len)
{
	const char *t = s_of(o, k, NULL);

	if (t == NULL || strlen(t) < 16)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.10s %.5s", t, t + 11);
	return buf;
}

/* "2023-11-14T22:13:20Z" -> "2023-11-14 22:13:20": audits can be a
 * minute apart. */
static const char *
when_sec_of(const json_t *o, const char *k, char *buf, size_t len)
{
	const char *t = s_of(o, k, NULL);

	if (t == NULL || strlen(t) < 19)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.10s %.8s", t, t + 11);
	return buf;
}

static const char *
epoch_of(const json_t *o, const char *k, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, k);
	time_t t;
	struct tm tm;

	if (!json_is_integer(v) || (t = (time_t)json_integer_value(v)) <= 0 ||
	    gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "-");
		return buf;
	}
	strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
	return buf;
}

static const char *
posture_of(const json_t *o, char *buf, size_t len)
{
	const json_t *p = json_object_get(o, "posture");

	if (!json_is_object(p))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%lld %s", (long long)json_integer_value(json_object_get(p, "score")),
		    s_of(p, "grade", ""));
	return buf;
}

void
render_summary(FILE *out, const json_t *r)
{
	static const char *const h[] = { "Day", "Messages", "Domains", "SPF pass", "DMARC pass",
		"DMARC fail", "No DMARC", "Aligned", "Quar", "Reject" };
	struct table *t = table_new("lrrrrrrrrr", h);
	const json_t *d;
	size_t i;
	char b[10][32];

	json_array_foreach(json_object_get(r, "per_day"), i, d) {
		const char *row[] = { s_of(d, "day", "?"), int_of(d, "messages", b[0], 32),
			int_of(d, "domains", b[1], 32), pct_of(d, "spf_pass_pct", b[2], 32),
			pct_of(d, "dmarc_pass_pct", b[3], 32), int_of(d, "dmarc_fail", b[4], 32),
			int_of(d, "dmarc_none", b[5], 32), pct_of(d, "aligned_pct", b[6], 32),
			int_of(d, "quarantine", b[7], 32), int_of(d, "reject", b[8], 32) };

		table_add(t, row);
	}
	d = json_object_get(r, "total");
	{
		const char *row[] = { "total", int_of(d, "messages", b[0], 32), "",
			pct_of(d, "spf_pass_pct", b[2], 32), pct_of(d, "dmarc_pass_pct", b[3], 32),
			int_of(d, "dmarc_fail", b[4], 32), int_of(d, "dmarc_none", b[5], 32),
			pct_of(d, "aligned_pct", b[6], 32), int_of(d, "quarantine", b[7], 32),
			int_of(d, "reject", b[8], 32) };

		table_add(t, row);
	}
	table_print(&t, out, TABLE_WIDTH);
}

static void
counts_table(FILE *out, const json_t *all, const json_t *period, long long days)
{
	static const char *const h[] = { "", "Messages", "SPF pass", "SPF fail", "DMARC pass",
		"DMARC fail", "No DMARC", "Aligned", "Quar", "Reject" };
	struct table *t = table_new("lrrrrrrrrr", h);
	char label[32], b[10][32];
	const json_t *src[2] = { all, period };

	snprintf(label, sizeof(label), "last %lld days", days);
	for (int i = 0; i < 2; i++) {
		const json_t *d = src[i];
		const char *row[] = { i == 0 ? "all time" : label, int_of(d, "messages", b[0], 32),
			pct_of(d, "spf_pass_pct", b[1], 32), int_of(d, "spf_fail", b[2], 32),
			pct_of(d, "dmarc_pass_pct", b[3], 32), int_of(d, "dmarc_fail", b[4], 32),
			int_of(d, "dmarc_none", b[5], 32), pct_of(d, "aligned_pct", b[6], 32),
			int_of(d, "quarantine", b[7], 32), int_of(d, "reject", b[8], 32) };

		table_add(t, row);
	}
	table_print(&t, out, TABLE_WIDTH);
}

/* The results of a message's DKIM signatures, "pass+fail"; "-" when none
 * were verified (or the message was stored before they were). */
static const char *
dkim_results(const json_t *m, char *buf, size_t len)
{
	const json_t *sigs = json_object_get(m, "dkim"), *sig;
	size_t i, at = 0;

	buf[0] = '\0';
	json_array_foreach(sigs, i, sig) {
		int n = snprintf(buf + at, len - at, "%s%s", i > 0 ? "+" : "",
		    s_of(sig, "result", "?"));

		if (n < 0 || (size_t)n >= len - at)
			break;
		at += (size_t)n;
	}
	return buf[0] ? buf : "-";
}

/* Each stored DKIM signature of the messages, one line each (nothing
 * when none of them has any). */
static void
signatures_table(FILE *out, const json_t *arr)
{
	static const char *const h[] = { "Queue ID", "DKIM d=", "s=", "Result", "Aligned" };
	struct table *t;
	const json_t *m, *sig;
	size_t i, j, n = 0;

	json_array_foreach(arr, i, m)
		n += json_array_size(json_object_get(m, "dkim"));
	if (n == 0)
		return;
	t = table_new("lLlll", h);
	json_array_foreach(arr, i, m) {
		json_array_foreach(json_object_get(m, "dkim"), j, sig) {
			const char *row[] = { s_of(m, "qid", "-"), s_of(sig, "d", "-"),
				s_of(sig, "s", "-"), s_of(sig, "result", "-"),
				json_is_true(json_object_get(sig, "aligned")) ? "yes" : "no" };

			table_add(t, row);
		}
	}
	fprintf(out, "\nDKIM signatures:\n");
	table_print(&t, out, TABLE_WIDTH);
}

static void
messages_table(FILE *out, const json_t *arr)
{
	static const char *const h[] = { "Time (UTC)", "Client IP", "SPF", "DMARC", "Aligned",
		"DKIM", "Disposition", "Action", "Host", "Queue ID" };
	struct table *t = table_new("llllllllLl", h);
	const json_t *m;
	size_t i;
	char when[32], dk[64];

	json_array_foreach(arr, i, m) {
		bool sa = json_is_true(json_object_get(m, "spf_aligned"));
		bool da = json_is_true(json_object_get(m, "dkim_aligned"));
		const char *al = sa && da ? "spf+dkim" : sa ? "spf" : da ? "dkim" : "no";
		const char *dispo = s_of(m, "disposition", "");
		const char *row[] = { epoch_of(m, "t", when, sizeof(when)), s_of(m, "ip", "-"),
			s_of(m, "spf", "-"), s_of(m, "dmarc", "-"), al,
			dkim_results(m, dk, sizeof(dk)), dispo[0] ? dispo : "-",
			s_of(m, "action", "-"), s_of(m, "host", "-"), s_of(m, "qid", "-") };

		table_add(t, row);
	}
	table_print(&t, out, TABLE_WIDTH);
	signatures_table(out, arr);
}

void
render_domain(FILE *out, const json_t *r)
{
	char b[64], c[64], d[64];
	const json_t *ips = json_object_get(r, "top_ips"), *ip;
	struct mp_buf line = MP_BUF_INIT;
	size_t i;

	/* Text from Redis goes through print_line: printable, within the width. */
	mp_buf_printf(&line, "Domain:            %s (organizational domain %s)",
	    s_of(r, "domain", "?"), s_of(r, "org", "?"));
	print_line(out, &line);
	mp_buf_printf(&line, "Posture:           %s", posture_of(r, b, sizeof(b)));
	if (json_is_object(json_object_get(r, "posture")))
		mp_buf_printf(&line, " (computed %s)",
		    when_of(json_object_get(r, "posture"), "computed", c, sizeof(c)));
	print_line(out, &line);
	fprintf(out, "Observed auth:     %s / 100 (time-decayed mean, half-life 7 days)\n",
	    real_of(r, "auth_score", b, sizeof(b)));
	mp_buf_printf(&line, "Published DMARC:   p=%s", s_of(r, "published_policy", "unknown"));
	print_line(out, &line);
	mp_buf_free(&line);
	fprintf(out, "First seen:        %s UTC\n", when_of(r, "first_seen", c, sizeof(c)));
	fprintf(out, "Last seen:         %s UTC\n", when_of(r, "last_seen", d, sizeof(d)));
	fprintf(out, "\n");
	counts_table(out, json_object_get(r, "all_time"), json_object_get(r, "period"),
	    (long long)json_integer_value(json_object_get(r, "days")));
	if (json_array_size(ips) > 0) {
		static const char *const h[] = { "Top source IPs", "Messages" };
		struct table *t = table_new("lr", h);

		fprintf(out, "\n");
		json_array_foreach(ips, i, ip) {
			const char *row[] = { s_of(ip, "ip", "?"), int_of(ip, "messages", b, sizeof(b)) };

			table_add(t, row);
		}
		table_print(&t, out, TABLE_WIDTH);
	}
	if (json_array_size(json_object_get(r, "recent")) > 0) {
		fprintf(out, "\nRecent verdicts:\n");
		messages_table(out, json_object_get(r, "recent"));
	}
}

void
render_top(FILE *out, const json_t *r)
{
	const char *by = s_of(r, "by", "worst");
	const char *metric = strcmp(by, "worst") == 0 ? "Posture" :
	    strcmp(by, "volume") == 0 ? "Messages" : "DMARC fail";
	const char *h[] = { "#", "Domain", metric, "Grade", "Auth", "Total", "DMARC pass",
		"Aligned", "Last seen (UTC)" };
	struct table *t = table_new("rLrlrrrrl", h);
	const json_t *d;
	size_t i;
	char b[8][32];

	json_array_foreach(json_object_get(r, "domains"), i, d) {
		const char *row[] = { (snprintf(b[0], 32, "%zu", i + 1), b[0]),
			s_of(d, "domain", "?"),
			strcmp(by, "worst") == 0 ? int_of(d, "posture_score", b[1], 32) :
			    int_of(d, "value", b[1], 32),
			s_of(d, "grade", "-"), real_of(d, "auth_score", b[2], 32),
			int_of(d, "messages", b[3], 32), pct_of(d, "dmarc_pass_pct", b[4], 32),
			pct_of(d, "aligned_pct", b[5], 32), when_of(d, "last_seen", b[6], 32) };

		table_add(t, row);
	}
	table_print(&t, out, TABLE_WIDTH);
}

void
render_ip(FILE *out, const json_t *r)
{
	static const char *const h[] = { "Domain", "Messages", "SPF pass", "SPF other",
		"DMARC pass", "DMARC fail", "DMARC other", "Last day" };
	struct table *t = table_new("Lrrrrrrl", h);
	const json_t *d;
	size_t i;
	char b[8][32];

	fprintf(out, "Client IP %s, last %lld days:\n\n", s_of(r, "ip", "?"),
	    (long long)json_integer_value(json_object_get(r, "days")));
	json_array_foreach(json_object_get(r, "domains"), i, d) {
		long long n = json_integer_value(json_object_get(d, "messages"));
		const json_t *spf = json_object_get(d, "spf"), *dm = json_object_get(d, "dmarc");
		long long sp = json_integer_value(json_object_get(spf, "pass"));
		long long dp = json_integer_value(json_object_get(dm, "pass"));
		long long df = json_integer_value(json_object_get(dm, "fail"));

		snprintf(b[1], 32, "%lld", sp);
		snprintf(b[2], 32, "%lld", n - sp);
		snprintf(b[3], 32, "%lld", dp);
		snprintf(b[4], 32, "%lld", df);
		snprintf(b[5], 32, "%lld", n - dp - df);
		const char *row[] = { s_of(d, "domain", "?"), int_of(d, "messages", b[0], 32),
			b[1], b[2], b[3], b[4], b[5], s_of(d, "last_day", "-") };

		table_add(t, row);
	}
	table_print(&t, out, TABLE_WIDTH);
}

void
render_messages(FILE *out, const json_t *r)
{
	fprintf(out, "Recent verdicts for %s:\n\n", s_of(r, "domain", "?"));
	messages_table(out, json_object_get(r, "messages"));
}

/* ---- audits ------------------------------------------------------------ */

static const char *
count_of(const json_t *o, const char *k, char *buf, size_t len)
{
	const json_t *v = json_object_get(o, k);

	if (json_is_array(v))
		snprintf(buf, len, "%zu", json_array_size(v));
	else
		int_of(o, k, buf, len);
	return buf;
}

/* Prints line printable and cut to the table width, then empties it. */
static void
print_line(FILE *out, struct mp_buf *line)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_printable(&b, line->data ? line->data : "", line->len, TABLE_WIDTH);
	if (b.len > TABLE_WIDTH)
		b.data[b.len = TABLE_WIDTH] = '\0';
	fprintf(out, "%s\n", mp_buf_str(&b));
	mp_buf_free(&b);
	mp_buf_reset(line);
}

void
render_audits(FILE *out, const json_t *r)
{
	static const char *const h[] = { "Last audit (UTC)", "Target", "Domain", "Score", "Grade",
		"FAIL", "WARN" };
	struct table *t = table_new("lLlrlrr", h);
	const json_t *d;
	size_t i;
	char b[4][32];

	json_array_foreach(json_object_get(r, "targets"), i, d) {
		const char *dom = s_of(d, "domain", "");
		const char *row[] = { when_sec_of(d, "time", b[0], 32), s_of(d, "target", "?"),
			dom[0] ? dom : "-", int_of(d, "score", b[1], 32), s_of(d, "grade", "-"),
			count_of(d, "fail", b[2], 32), count_of(d, "warn", b[3], 32) };

		table_add(t, row);
	}
	table_print(&t, out, TABLE_WIDTH);
}

void
render_audit_history(FILE *out, const json_t *r)
{
	static const char *const h[] = { "Time (UTC)", "Domain", "Score", "Grade", "FAIL", "WARN" };
	const json_t *audits = json_object_get(r, "audits"), *a;
	struct table *t = table_new("lLrlrr", h);
	size_t i;
	char b[4][32];

	fprintf(out, "Audits of %s, newest first:\n\n", s_of(r, "target", "?"));
	json_array_foreach(audits, i, a) {
		const char *dom = s_of(a, "domain", "");
		const char *row[] = { when_sec_of(a, "time", b[0], 32), dom[0] ? dom : "-",
			int_of(a, "score", b[1], 32), s_of(a, "grade", "-"),
			count_of(a, "fail", b[2], 32), count_of(a, "warn", b[3], 32) };

		table_add(t, row);
	}
	table_print(&t, out, TABLE_WIDTH);
	/* Then each audit's FAIL and WARN checks, newest first. */
	json_array_foreach(audits, i, a) {
		static const char *const ch[] = { "Status", "Check", "Finding" };
		const char *st[] = { "FAIL", "WARN" }, *cap = s_of(a, "cap", NULL);
		struct mp_buf line = MP_BUF_INIT;
		char score[32];
		struct table *c;

		/* Text from Redis goes out printable and within the width. */
		mp_buf_printf(&line, "%s UTC: grade %s (%s/100)", when_sec_of(a, "time", b[0], 32),
		    s_of(a, "grade", "-"), int_of(a, "score", score, sizeof(score)));
		fputc('\n', out);
		print_line(out, &line);
		if (cap != NULL) {
			mp_buf_puts(&line, cap);
			print_line(out, &line);
		}
		mp_buf_free(&line);
		if (json_array_size(json_object_get(a, "fail")) +
		    json_array_size(json_object_get(a, "warn")) == 0) {
			fprintf(out, "no FAIL or WARN\n");
			continue;
		}
		c = table_new("llL", ch);
		for (int k = 0; k < 2; k++) {
			const json_t *chk;
			size_t j;

			json_array_foreach(json_object_get(a, k == 0 ? "fail" : "warn"), j, chk) {
				const char *row[] = { st[k], s_of(chk, "name", "?"),
					s_of(chk, "finding", "") };

				table_add(c, row);
			}
		}
		table_print(&c, out, TABLE_WIDTH);
	}
}
