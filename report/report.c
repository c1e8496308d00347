/*
 * mailposture-report: answers a postmaster's questions from the Redis
 * cache that the milter fills (policy/store). Read-only.
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

#include "conf.h"
#include "domain.h"
#include "log.h"
#include "query.h"
#include "render.h"
#include "store.h"
#include "util.h"

#define EXIT_NOTHING 1
#define EXIT_USAGE 2
#define EXIT_REDIS 3

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
"  1  nothing found (no data for that domain, IP or period)\n"
"  2  usage or configuration error\n"
"  3  Redis unreachable or failing (one line on stderr says why)\n"
"\n"
"Examples:\n"
"  mailposture-report summary --days 30\n"
"  mailposture-report top --dmarc-fail -n 20 --days 1\n"
"  mailposture-report --json domain example.com\n"
"  mailposture-report --redis 127.0.0.1:6379 ip 192.0.2.10\n"
"  mailposture-report audits 127.0.0.1:25 -n 5\n";

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
		fprintf(stderr, "mailposture-report: %s: expected a number from %d to %d, not '%.40s'\n",
		    opt, min, max, v);
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

		mp_printable(&b, in, strlen(in), 80);
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
		usage_error("'%s' is not an IPv4 or IPv6 address", strlen(in) < 60 ? in : "(too long)");
}

int
main(int argc, char **argv)
{
	const char *conf_path = NULL, *redis_addr = NULL, *cmd = NULL, *arg1 = NULL;
	const char *domain_opt = NULL;
	bool json = false, days_set = false;
	int days = 7, n = -1;
	enum top_by by = TOP_WORST;
	int nby = 0;
	struct mp_conf *conf = NULL;
	struct rq q;
	char err[512], name[MP_DOMAIN_MAX], ip[INET6_ADDRSTRLEN], target[300];
	json_t *res = NULL;
	int status;

	mp_log_open("mailposture-report", true, 0);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			return 0;
		} else if (strcmp(a, "-c") == 0) {
			if ((conf_path = argv[++i]) == NULL)
				usage_error("-c needs a file name", NULL);
		} else if (strcmp(a, "--redis") == 0) {
			if ((redis_addr = argv[++i]) == NULL)
				usage_error("--redis needs an address", NULL);
		} else if (strcmp(a, "--json") == 0) {
			json = true;
		} else if (strcmp(a, "--days") == 0) {
			days = number("--days", argv[++i], 1, 400);
			days_set = true;
		} else if (strcmp(a, "-n") == 0) {
			n = number("-n", argv[++i], 1, 10000);
		} else if (strcmp(a, "--domain") == 0) {
			if ((domain_opt = argv[++i]) == NULL)
				usage_error("--domain needs a name", NULL);
		} else if (strcmp(a, "--worst") == 0) {
			by = TOP_WORST;
			nby++;
		} else if (strcmp(a, "--volume") == 0) {
			by = TOP_VOLUME;
			nby++;
		} else if (strcmp(a, "--dmarc-fail") == 0) {
			by = TOP_DMARC_FAIL;
			nby++;
		} else if (a[0] == '-' && a[1] != '\0') {
			usage_error("unknown option '%s'", strlen(a) < 40 ? a : "(too long)");
		} else if (cmd == NULL) {
			cmd = a;
		} else if (arg1 == NULL) {
			arg1 = a;
		} else {
			usage_error("unexpected argument '%s'", strlen(a) < 40 ? a : "(too long)");
		}
	}
	if (cmd == NULL)
		usage_error("no command given (summary, domain, top, ip, messages, audits)", NULL);
	if (strcmp(cmd, "summary") != 0 && strcmp(cmd, "domain") != 0 && strcmp(cmd, "top") != 0 &&
	    strcmp(cmd, "ip") != 0 && strcmp(cmd, "messages") != 0 && strcmp(cmd, "audits") != 0)
		usage_error("unknown command '%s'", strlen(cmd) < 40 ? cmd : "(too long)");
	/* Options that the command does not take are errors, not ignored. */
	if (nby > 1)
		usage_error("give one of --worst, --volume, --dmarc-fail", NULL);
	if (nby > 0 && strcmp(cmd, "top") != 0)
		usage_error("--worst, --volume and --dmarc-fail go with 'top'", NULL);
	if (domain_opt != NULL && strcmp(cmd, "messages") != 0)
		usage_error("--domain goes with 'messages'", NULL);
	if (n != -1 && strcmp(cmd, "top") != 0 && strcmp(cmd, "messages") != 0 &&
	    strcmp(cmd, "domain") != 0 && strcmp(cmd, "audits") != 0)
		usage_error("-n goes with 'top', 'domain', 'messages' or 'audits'", NULL);
	if (days_set && (strcmp(cmd, "messages") == 0 || strcmp(cmd, "audits") == 0))
		usage_error("--days does not go with '%s'", cmd);
	if (strcmp(cmd, "audits") == 0) {
		if (arg1 != NULL)
			normalize_target(arg1, target, sizeof(target));
	} else if ((strcmp(cmd, "domain") == 0 || strcmp(cmd, "ip") == 0) != (arg1 != NULL))
		usage_error(arg1 ? "'%s' takes no argument" : "'%s' needs an argument", cmd);
	if (strcmp(cmd, "messages") == 0 && domain_opt == NULL)
		usage_error("messages needs --domain NAME", NULL);

	/* Configuration: -c FILE, else the default file when it exists. */
	if (conf_path == NULL && access(MP_CONF_DEFAULT_PATH, R_OK) == 0)
		conf_path = MP_CONF_DEFAULT_PATH;
	if (conf_path != NULL) {
		if ((conf = mp_conf_load(conf_path, err, sizeof(err))) == NULL) {
			fprintf(stderr, "mailposture-report: %s\n", err);
			return EXIT_USAGE;
		}
	} else {
		conf = mp_conf_new_defaults();
	}
	memset(&q, 0, sizeof(q));
	mp_store_options_from_conf(conf, &q.o);
	if (redis_addr != NULL) {
		if (!mp_strlcpy(q.o.address, redis_addr, sizeof(q.o.address)))
			usage_error("--redis: address too long", NULL);
	}
	if (q.o.address[0] == '\0') {
		fprintf(stderr, "mailposture-report: no Redis address: give --redis HOST:PORT or "
		    "set [redis] address in %s\n", conf_path ? conf_path : MP_CONF_DEFAULT_PATH);
		mp_conf_unref(&conf);
		return EXIT_USAGE;
	}
	if (!mp_store_options_check(&q.o, err, sizeof(err))) {
		fprintf(stderr, "mailposture-report: %s\n", err);
		mp_conf_unref(&conf);
		return EXIT_USAGE;
	}
	/* Without the PSL, a domain's keys are looked up under the domain
	 * itself: right for organizational domains only. */
	q.psl = mp_psl_load(mp_conf_str(conf, "policy", "psl_file"), err, sizeof(err));
	if (q.psl == NULL)
		fprintf(stderr, "mailposture-report: warning: %s (subdomains may not be found)\n", err);
	mp_conf_unref(&conf);

	if (strcmp(cmd, "domain") == 0)
		normalize_domain(arg1, name);
	else if (strcmp(cmd, "messages") == 0)
		normalize_domain(domain_opt, name);
	else if (strcmp(cmd, "ip") == 0)
		normalize_ip(arg1, ip, sizeof(ip));

	if ((q.c = mp_store_connect(&q.o, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mailposture-report: %s\n", err);
		mp_psl_free(&q.psl);
		return EXIT_REDIS;
	}
	q.now = time(NULL);
	if (strcmp(cmd, "summary") == 0)
		res = q_summary(&q, days);
	else if (strcmp(cmd, "domain") == 0)
		res = q_domain(&q, name, days, n > 0 ? n : 10);
	else if (strcmp(cmd, "top") == 0)
		res = q_top(&q, by, n > 0 ? n : 10, days);
	else if (strcmp(cmd, "ip") == 0)
		res = q_ip(&q, ip, days);
	else if (strcmp(cmd, "audits") == 0)
		res = arg1 ? q_audit_history(&q, target, n > 0 ? n : 10) :
		    q_audits(&q, n > 0 ? n : 1000);
	else
		res = q_messages(&q, name, n > 0 ? n : 20);
	redisFree(q.c);
	mp_psl_free(&q.psl);
	if (res == NULL) {
		fprintf(stderr, "mailposture-report: %s\n", q.error);
		return EXIT_REDIS;
	}
	status = json_is_true(json_object_get(res, "found")) ? 0 : EXIT_NOTHING;
	if (json) {
		json_dumpf(res, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else if (status == EXIT_NOTHING) {
		/* Nothing to lay out: say so on stderr, keep stdout empty. */
		if (strcmp(cmd, "audits") == 0 && arg1 != NULL)
			fprintf(stderr, "mailposture-report: no audits of %s\n", target);
		else if (strcmp(cmd, "audits") == 0)
			fprintf(stderr, "mailposture-report: no audits stored\n");
		else if (strcmp(cmd, "domain") == 0 || strcmp(cmd, "messages") == 0)
			fprintf(stderr, "mailposture-report: no data for %s\n", name);
		else if (strcmp(cmd, "ip") == 0)
			fprintf(stderr, "mailposture-report: no messages from %s in the last %d days\n",
			    ip, days);
		else
			fprintf(stderr, "mailposture-report: no messages in the last %d days\n", days);
	} else if (strcmp(cmd, "summary") == 0) {
		render_summary(stdout, res);
	} else if (strcmp(cmd, "domain") == 0) {
		render_domain(stdout, res);
	} else if (strcmp(cmd, "top") == 0) {
		render_top(stdout, res);
	} else if (strcmp(cmd, "ip") == 0) {
		render_ip(stdout, res);
	} else if (strcmp(cmd, "audits") == 0) {
		if (arg1 != NULL)
			render_audit_history(stdout, res);
		else
			render_audits(stdout, res);
	} else {
		render_messages(stdout, res);
	}
	json_decref(res);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "mailposture-report: write error: %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	return status;
}
