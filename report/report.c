/*
 * mailposture-report: answers a postmaster's questions from the Redis
 * cache that the milter fills (policy/store). Read-only. The questions
 * are in query.h, their text form in render.h.
 *
 * Exit status, as --help and mailposture-report(1) say: 0 results
 * printed; 1 nothing found; 2 a usage or configuration error, or output
 * that could not be written; 3 Redis unreachable or failing.
 */
#include "config.h"

#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "aggregate.h"
#include "conf.h"
#include "domain.h"
#include "html.h"
#include "log.h"
#include "query.h"
#include "render.h"
#include "store.h"
#include "util.h"

#define EXIT_NOTHING 1
#define EXIT_USAGE 2
#define EXIT_REDIS 3

#define TARGET_MAX 300      /* "host:port" of an audit: a name, ':' and a port */

static const char usage_text[] =
"Usage: mailposture-report [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Reads the verdicts and scores that mailposture-milter keeps in Redis, and\n"
"the results that mailposture-audit stored there.\n"
"\n"
"Commands:\n"
"  summary [--days N]\n"
"        Messages per day (UTC, newest first) with SPF pass, DMARC pass and\n"
"        alignment rates, DMARC failures, messages without DMARC, and the\n"
"        quarantine and reject dispositions DMARC asked for. Default 7 days.\n"
"  domain NAME [--days N] [-n N]\n"
"        One sender domain: posture score and grade, observed auth score,\n"
"        published DMARC policy, first and last seen, counters (all time and\n"
"        the last N days), top source IPs and the N most recent verdicts\n"
"        (default 10).\n"
"  top [--worst | --volume | --dmarc-fail] [-n N] [--days N]\n"
"        The N domains (default 10) with the lowest posture score (--worst,\n"
"        the default; --days limits it to domains seen in the period), the\n"
"        most messages, or the most DMARC failures in the last N days.\n"
"  ip ADDR [--days N]\n"
"        Which domains a client IP sent mail for, with their SPF and DMARC\n"
"        results, over the last N days (default 7).\n"
"  messages --domain NAME [-n N]\n"
"        The N most recent verdicts for a domain (default 20, at most 200).\n"
"  audits [TARGET] [-n N]\n"
"        What mailposture-audit stored. Without TARGET: one line per audited\n"
"        HOST:PORT (at most N), the most recently audited first, with the last\n"
"        audit's time, domain, score, grade and FAIL and WARN counts. With\n"
"        TARGET (HOST:PORT; HOST alone is port 25): its N most recent audits\n"
"        (default 10, at most 100) and the checks that were FAIL or WARN.\n"
"  html [--days N] [-n N] [--out FILE]\n"
"        One self-contained HTML page with charts (no script, nothing fetched):\n"
"        messages per day by DMARC result, the share of senders with an\n"
"        enforcing DMARC policy, the N worst-posture domains (default 10), the\n"
"        N source IPs of the most DMARC failures, and the audits' scores over\n"
"        time. Default 30 days; written to FILE, or standard output.\n"
AGGREGATE_USAGE
"\n"
"Options:\n"
"  -c FILE         configuration file (default " MP_CONF_DEFAULT_PATH "\n"
"                  when it exists); its [redis] section gives the address,\n"
"                  password_file, db and key_prefix, [policy] psl_file the\n"
"                  Public Suffix List used to find a domain's keys\n"
"  --redis ADDR    Redis at HOST:PORT, [IPV6]:PORT or /unix/socket/path;\n"
"                  overrides the configured address\n"
"  --json          print the result as one JSON object\n"
"  -h, --help      print this help\n"
"\n"
"Text output is aligned tables at most 100 columns wide; times are UTC.\n"
"\n"
"Exit status:\n"
"  0  results printed\n"
"  1  nothing found (no data for that domain, IP, period or audit target)\n"
"  2  usage or configuration error, or the output could not be written\n"
"  3  Redis unreachable or failing (one line on stderr says why)\n"
"\n"
"Examples:\n"
"  mailposture-report summary --days 30\n"
"  mailposture-report top --dmarc-fail -n 20 --days 1\n"
"  mailposture-report --json domain example.com\n"
"  mailposture-report --redis 127.0.0.1:6379 ip 192.0.2.10\n"
"  mailposture-report audits 127.0.0.1:25 -n 5\n";

/* The command line, and its arguments in the form the queries use. */
struct cmdline {
	const char *conf_path, *redis_addr, *cmd, *arg1, *domain_opt, *out_path;
	bool json, days_set;
	int days;
	int n;                      /* -n, or -1 when not given */
	enum top_by by;
	int nby;                    /* how many of --worst, --volume, --dmarc-fail */
	int rest;                   /* aggregate: where its own arguments start */
	char name[MP_DOMAIN_MAX];   /* domain, messages */
	char ip[INET6_ADDRSTRLEN];  /* ip */
	char target[TARGET_MAX];    /* audits TARGET */
};

static void
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "mailposture-report: ");
	fprintf(stderr, fmt, arg ? arg : "");
	fprintf(stderr, "\nTry 'mailposture-report --help'.\n");
	exit(EXIT_USAGE);
}

static int
number(const char *opt, const char *v, int min, int max)
{
	char *end;
	long n;

	if (v == NULL)
		usage_error("%s needs a number", opt);
	errno = 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < min || n > max) {
		fprintf(stderr, "mailposture-report: %s: expected a number from %d to %d, "
		    "not '%.40s'\n", opt, min, max, v);
		exit(EXIT_USAGE);
	}
	return (int)n;
}

static void
normalize_domain(const char *in, char out[MP_DOMAIN_MAX])
{
	const char *why = NULL;

	if (!mp_domain_normalize(in, strlen(in), out, &why)) {
		struct mp_buf b = MP_BUF_INIT;

		mp_printable(&b, in, strlen(in), MP_SHOW_TERM);
		fprintf(stderr, "mailposture-report: '%s' is not a domain name: %s\n",
		    mp_buf_str(&b), why ? why : "invalid");
		mp_buf_free(&b);
		exit(EXIT_USAGE);
	}
}

/*
 * An audit target as mailposture-audit stores it: "host:port" ("[v6]:port");
 * a name without a port means port 25. Printable ASCII only: it becomes
 * part of a key name and is echoed.
 */
static void
normalize_target(const char *in, char *out, size_t len)
{
	size_t n = strlen(in);

	if (n == 0 || n > 255)
		usage_error("TARGET: expected HOST:PORT%s", n ? " (too long)" : "");
	for (const char *p = in; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			usage_error("TARGET: expected HOST:PORT%s", " (bad character)");
	snprintf(out, len, strchr(in, ':') ? "%s" : "%s:25", in);
}

/* The address in the form the MTA reports it (inet_ntop's). */
static void
normalize_ip(const char *in, char *out, size_t len)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, in, a) == 1)
		inet_ntop(AF_INET, a, out, (socklen_t)len);
	else if (inet_pton(AF_INET6, in, a) == 1)
		inet_ntop(AF_INET6, a, out, (socklen_t)len);
	else
		usage_error("'%s' is not an IPv4 or IPv6 address",
		    strlen(in) < 60 ? in : "(too long)");
}

static bool
is_cmd(const struct cmdline *cl, const char *cmd)
{
	return strcmp(cl->cmd, cmd) == 0;
}

/* Reads the options and arguments; true when --help came first. */
static bool
parse_args(int argc, char **argv, struct cmdline *cl)
{
	memset(cl, 0, sizeof(*cl));
	cl->days = 7;
	cl->n = -1;
	cl->by = TOP_WORST;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			return true;
		} else if (strcmp(a, "-c") == 0) {
			if ((cl->conf_path = argv[++i]) == NULL)
				usage_error("-c needs a file name", NULL);
		} else if (strcmp(a, "--redis") == 0) {
			if ((cl->redis_addr = argv[++i]) == NULL)
				usage_error("--redis needs an address", NULL);
		} else if (strcmp(a, "--json") == 0) {
			cl->json = true;
		} else if (strcmp(a, "--days") == 0) {
			cl->days = number("--days", argv[++i], 1, 400);
			cl->days_set = true;
		} else if (strcmp(a, "-n") == 0) {
			cl->n = number("-n", argv[++i], 1, 10000);
		} else if (strcmp(a, "--out") == 0) {
			if ((cl->out_path = argv[++i]) == NULL)
				usage_error("--out needs a file name", NULL);
		} else if (strcmp(a, "--domain") == 0) {
			if ((cl->domain_opt = argv[++i]) == NULL)
				usage_error("--domain needs a name", NULL);
		} else if (strcmp(a, "--worst") == 0) {
			cl->by = TOP_WORST;
			cl->nby++;
		} else if (strcmp(a, "--volume") == 0) {
			cl->by = TOP_VOLUME;
			cl->nby++;
		} else if (strcmp(a, "--dmarc-fail") == 0) {
			cl->by = TOP_DMARC_FAIL;
			cl->nby++;
		} else if (a[0] == '-' && a[1] != '\0') {
			usage_error("unknown option '%s'", strlen(a) < 40 ? a : "(too long)");
		} else if (cl->cmd == NULL) {
			cl->cmd = a;
			/* aggregate reads its own options (aggregate.h). */
			if (strcmp(a, "aggregate") == 0) {
				cl->rest = i + 1;
				return false;
			}
		} else if (cl->arg1 == NULL) {
			cl->arg1 = a;
		} else {
			usage_error("unexpected argument '%s'", strlen(a) < 40 ? a : "(too long)");
		}
	}
	return false;
}

/* The command, and the options and arguments it takes; exits if wrong. */
static void
check_args(struct cmdline *cl)
{
	if (cl->cmd == NULL)
		usage_error("no command given (summary, domain, top, ip, messages, audits, html, "
		    "aggregate)", NULL);
	if (!is_cmd(cl, "summary") && !is_cmd(cl, "domain") && !is_cmd(cl, "top") &&
	    !is_cmd(cl, "ip") && !is_cmd(cl, "messages") && !is_cmd(cl, "audits") &&
	    !is_cmd(cl, "html"))
		usage_error("unknown command '%s'", strlen(cl->cmd) < 40 ? cl->cmd : "(too long)");
	/* Options that the command does not take are errors, not ignored. */
	if (cl->nby > 1)
		usage_error("give one of --worst, --volume, --dmarc-fail", NULL);
	if (cl->nby > 0 && !is_cmd(cl, "top"))
		usage_error("--worst, --volume and --dmarc-fail go with 'top'", NULL);
	if (cl->domain_opt != NULL && !is_cmd(cl, "messages"))
		usage_error("--domain goes with 'messages'", NULL);
	if (cl->out_path != NULL && !is_cmd(cl, "html"))
		usage_error("--out goes with 'html'", NULL);
	if (cl->n != -1 && !is_cmd(cl, "top") && !is_cmd(cl, "messages") &&
	    !is_cmd(cl, "domain") && !is_cmd(cl, "audits") && !is_cmd(cl, "html"))
		usage_error("-n goes with 'top', 'domain', 'messages', 'audits' or 'html'", NULL);
	if (cl->days_set && (is_cmd(cl, "messages") || is_cmd(cl, "audits")))
		usage_error("--days does not go with '%s'", cl->cmd);
	if (is_cmd(cl, "audits")) {
		if (cl->arg1 != NULL)
			normalize_target(cl->arg1, cl->target, sizeof(cl->target));
	} else if ((is_cmd(cl, "domain") || is_cmd(cl, "ip")) != (cl->arg1 != NULL))
		usage_error(cl->arg1 ? "'%s' takes no argument" : "'%s' needs an argument",
		    cl->cmd);
	if (is_cmd(cl, "messages") && cl->domain_opt == NULL)
		usage_error("messages needs --domain NAME", NULL);
	if (is_cmd(cl, "html") && !cl->days_set)
		cl->days = 30;
}

/*
 * The Redis options and the PSL, from -c FILE or else the default file
 * when it exists, and --redis. 0, or the exit status after the error is
 * said.
 */
static int
store_setup(const struct cmdline *cl, struct rq *q)
{
	const char *path = cl->conf_path;
	struct mp_conf *conf;
	char err[512];

	if (path == NULL && access(MP_CONF_DEFAULT_PATH, R_OK) == 0)
		path = MP_CONF_DEFAULT_PATH;
	if (path != NULL) {
		if ((conf = mp_conf_load(path, err, sizeof(err))) == NULL) {
			fprintf(stderr, "mailposture-report: %s\n", err);
			return EXIT_USAGE;
		}
	} else {
		conf = mp_conf_new_defaults();
	}
	mp_store_options_from_conf(conf, &q->o);
	if (cl->redis_addr != NULL) {
		if (!mp_strlcpy(q->o.address, cl->redis_addr, sizeof(q->o.address)))
			usage_error("--redis: address too long", NULL);
		/* One server, instead of the file's Sentinel or Cluster. */
		q->o.sentinels[0] = q->o.cluster[0] = '\0';
	}
	if (!mp_store_options_enabled(&q->o)) {
		fprintf(stderr, "mailposture-report: no Redis address: give --redis HOST:PORT or "
		    "set [redis] address in %s\n", path ? path : MP_CONF_DEFAULT_PATH);
		mp_conf_unref(&conf);
		return EXIT_USAGE;
	}
	if (!mp_store_options_check(&q->o, err, sizeof(err))) {
		fprintf(stderr, "mailposture-report: %s\n", err);
		mp_conf_unref(&conf);
		return EXIT_USAGE;
	}
	/* Without the PSL, a domain's keys are looked up under the domain
	 * itself: right for organizational domains only. */
	q->psl = mp_psl_load(mp_conf_str(conf, "policy", "psl_file"), err, sizeof(err));
	if (q->psl == NULL)
		fprintf(stderr, "mailposture-report: warning: %s (subdomains may not be "
		    "found)\n", err);
	mp_conf_unref(&conf);
	return 0;
}

static json_t *
run_query(struct rq *q, const struct cmdline *cl)
{
	int n = cl->n;

	if (is_cmd(cl, "summary"))
		return q_summary(q, cl->days);
	if (is_cmd(cl, "domain"))
		return q_domain(q, cl->name, cl->days, n > 0 ? n : 10);
	if (is_cmd(cl, "top"))
		return q_top(q, cl->by, n > 0 ? n : 10, cl->days);
	if (is_cmd(cl, "ip"))
		return q_ip(q, cl->ip, cl->days);
	if (is_cmd(cl, "audits"))
		return cl->arg1 ? q_audit_history(q, cl->target, n > 0 ? n : 10) :
		    q_audits(q, n > 0 ? n : 1000);
	if (is_cmd(cl, "html"))
		return q_page(q, cl->days, n > 0 ? n : 10);
	return q_messages(q, cl->name, n > 0 ? n : 20);
}

/* Nothing to lay out: say so on stderr, keep stdout empty. */
static void
say_nothing(const struct cmdline *cl)
{
	if (is_cmd(cl, "audits") && cl->arg1 != NULL)
		fprintf(stderr, "mailposture-report: no audits of %s\n", cl->target);
	else if (is_cmd(cl, "audits"))
		fprintf(stderr, "mailposture-report: no audits stored\n");
	else if (is_cmd(cl, "domain") || is_cmd(cl, "messages"))
		fprintf(stderr, "mailposture-report: no data for %s\n", cl->name);
	else if (is_cmd(cl, "ip"))
		fprintf(stderr, "mailposture-report: no messages from %s in the last %d "
		    "days\n", cl->ip, cl->days);
	else
		fprintf(stderr, "mailposture-report: no messages in the last %d days\n",
		    cl->days);
}

static void
render(const struct cmdline *cl, const json_t *res)
{
	if (is_cmd(cl, "summary"))
		render_summary(stdout, res);
	else if (is_cmd(cl, "domain"))
		render_domain(stdout, res);
	else if (is_cmd(cl, "top"))
		render_top(stdout, res);
	else if (is_cmd(cl, "ip"))
		render_ip(stdout, res);
	else if (is_cmd(cl, "audits") && cl->arg1 != NULL)
		render_audit_history(stdout, res);
	else if (is_cmd(cl, "audits"))
		render_audits(stdout, res);
	else if (is_cmd(cl, "html"))
		render_html(stdout, res);
	else
		render_messages(stdout, res);
}

/* status, unless what went to stdout could not be written. */
static int
flushed(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mailposture-report: write error: %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	return status;
}

int
main(int argc, char **argv)
{
	struct cmdline cl;
	struct rq q;
	json_t *res;
	int status;

	mp_log_open("mailposture-report", true, 0);
	if (parse_args(argc, argv, &cl)) {
		fputs(usage_text, stdout);
		return flushed(0);
	}
	if (cl.cmd != NULL && is_cmd(&cl, "aggregate"))
		return aggregate_main(cl.conf_path, cl.redis_addr, argc - cl.rest, argv + cl.rest);
	check_args(&cl);
	memset(&q, 0, sizeof(q));
	if ((status = store_setup(&cl, &q)) != 0)
		return status;
	if (is_cmd(&cl, "domain"))
		normalize_domain(cl.arg1, cl.name);
	else if (is_cmd(&cl, "messages"))
		normalize_domain(cl.domain_opt, cl.name);
	else if (is_cmd(&cl, "ip"))
		normalize_ip(cl.arg1, cl.ip, sizeof(cl.ip));

	if (!rq_open(&q)) {
		fprintf(stderr, "mailposture-report: %s\n", q.error);
		rq_close(&q);
		mp_psl_free(&q.psl);
		return EXIT_REDIS;
	}
	q.now = time(NULL);
	res = run_query(&q, &cl);
	rq_close(&q);
	mp_psl_free(&q.psl);
	if (res == NULL) {
		fprintf(stderr, "mailposture-report: %s\n", q.error);
		return EXIT_REDIS;
	}
	status = json_is_true(json_object_get(res, "found")) ? 0 : EXIT_NOTHING;
	/* Opened only now: a failed query leaves an existing FILE alone. */
	if (status == 0 && cl.out_path != NULL && freopen(cl.out_path, "w", stdout) == NULL) {
		fprintf(stderr, "mailposture-report: %s: %s\n", cl.out_path, strerror(errno));
		json_decref(res);
		return EXIT_USAGE;
	}
	if (cl.json) {
		json_dumpf(res, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else if (status == EXIT_NOTHING) {
		say_nothing(&cl);
	} else {
		render(&cl, res);
	}
	json_decref(res);
	return flushed(status);
}
