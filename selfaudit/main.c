/*
 * mailposture-audit: the self-audit of the mail host. The SMTP probe and
 * the DNS lookups (with the MTA-STS policy fetch) run at the same time;
 * the checks are judged when both are done, graded, and printed as text
 * or JSON, and, when [redis] address is set, stored in Redis for
 * mailposture-report audits (--no-store: not).
 *
 * Exit status: 0, 1 when the grade is below --fail-under, 2 for usage or
 * configuration errors and when the output could not be written.
 */
#include "config.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "conf.h"
#include "dnscheck.h"
#include "domain.h"
#include "host.h"
#include "log.h"
#include "mtasts.h"
#include "probe.h"
#include "store.h"
#include "verdict.h"

/* parse_args: go on with the audit (any other value is the exit status). */
#define ARGS_RUN (-1)

struct args {
	const char *conf_path, *pfdir;
	/* Overrides of [audit] (and [dns] resolver) settings, NULL when not given. */
	const char *host, *port, *domain, *pubip, *source, *fail_under, *zones, *timeout;
	const char *resolver;
	bool json, host_checks, store;
};

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mailposture-audit: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry mailposture-audit --help\n", stderr);
	exit(2);
}

static void
usage(void)
{
	fputs("usage: mailposture-audit [options]\n"
"Probes this mail host's SMTP service and DNS, and prints a graded report.\n"
"  --host H               SMTP server to probe ([audit] host, default 127.0.0.1)\n"
"  --port N               its port ([audit] port, default 25)\n"
"  --domain D             mail domain to check ([audit] domain, else postconf mydomain)\n"
"  --public-ip A          public address for PTR and DNSBL ([audit] public_ip)\n"
"  --source ADDR          local address to probe from; the relay test needs one\n"
"                         the server does not trust ([audit] source)\n"
"  --json                 print JSON instead of text\n"
"  --fail-under GRADE     exit 1 when the grade is below GRADE ([audit] fail_under)\n"
"  -c FILE                configuration file (default " MP_CONF_DEFAULT_PATH ")\n"
"  --dnsbl-zones LIST     override [audit] dnsbl_zones\n"
"  --resolver ADDR@PORT   override [dns] resolver\n"
"  --timeout MS           override [audit] timeout (each network step)\n"
"  --postfix-config DIR   read Postfix settings with postconf -c DIR\n"
"  --no-host-checks       skip postconf and the deployment preflight\n"
"  --no-store             do not write the result to Redis ([redis] address)\n"
"  -h, --help             this text\n"
"  -V, --version          print the version\n"
"\n"
"Exit status: 0 audited, 1 grade below --fail-under, 2 usage or configuration error,\n"
"or the output could not be written.\n",
	    stdout);
}

/* status, or 2 when what was printed could not all be written. */
static int
output_status(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fputs("mailposture-audit: cannot write the output\n", stderr);
		return 2;
	}
	return status;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
	enum { OPT_HOST = 256, OPT_PORT, OPT_DOMAIN, OPT_PUBIP, OPT_SOURCE, OPT_JSON, OPT_FAIL,
	    OPT_ZONES, OPT_RESOLVER, OPT_TIMEOUT, OPT_PFDIR, OPT_NOHOST, OPT_NOSTORE };
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, OPT_HOST },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "domain", required_argument, NULL, OPT_DOMAIN },
		{ "public-ip", required_argument, NULL, OPT_PUBIP },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "fail-under", required_argument, NULL, OPT_FAIL },
		{ "config", required_argument, NULL, 'c' },
		{ "dnsbl-zones", required_argument, NULL, OPT_ZONES },
		{ "resolver", required_argument, NULL, OPT_RESOLVER },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "postfix-config", required_argument, NULL, OPT_PFDIR },
		{ "no-host-checks", no_argument, NULL, OPT_NOHOST },
		{ "no-store", no_argument, NULL, OPT_NOSTORE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->host_checks = a->store = true;
	while ((c = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HOST: a->host = optarg; break;
		case OPT_PORT: a->port = optarg; break;
		case OPT_DOMAIN: a->domain = optarg; break;
		case OPT_PUBIP: a->pubip = optarg; break;
		case OPT_SOURCE: a->source = optarg; break;
		case OPT_JSON: a->json = true; break;
		case OPT_FAIL: a->fail_under = optarg; break;
		case 'c': a->conf_path = optarg; break;
		case OPT_ZONES: a->zones = optarg; break;
		case OPT_RESOLVER: a->resolver = optarg; break;
		case OPT_TIMEOUT: a->timeout = optarg; break;
		case OPT_PFDIR: a->pfdir = optarg; break;
		case OPT_NOHOST: a->host_checks = false; break;
		case OPT_NOSTORE: a->store = false; break;
		case 'h': usage(); return output_status(0);
		case 'V': puts(PACKAGE_STRING); return output_status(0);
		default: usage_error("unknown option");
		}
	}
	if (optind < argc)
		usage_error("unexpected argument: %s", argv[optind]);
	return ARGS_RUN;
}

static void
override(struct mp_conf *conf, const char *section, const char *name, const char *value)
{
	char err[256];

	if (value && !mp_conf_set(conf, section, name, value, err, sizeof(err)))
		usage_error("%s", err);
}

/* The configuration file with the command line's overrides; NULL after a message. */
static struct mp_conf *
load_conf(const struct args *a)
{
	char err[512];
	struct mp_conf *conf = mp_conf_load_or_defaults(a->conf_path, err, sizeof(err));

	if (conf == NULL) {
		fprintf(stderr, "mailposture-audit: %s\n", err);
		return NULL;
	}
	override(conf, "audit", "host", a->host);
	override(conf, "audit", "port", a->port);
	override(conf, "audit", "domain", a->domain);
	override(conf, "audit", "public_ip", a->pubip);
	override(conf, "audit", "source", a->source);
	override(conf, "audit", "fail_under", a->fail_under);
	override(conf, "audit", "dnsbl_zones", a->zones);
	override(conf, "audit", "timeout", a->timeout);
	override(conf, "dns", "resolver", a->resolver);
	return conf;
}

/* The domain: [audit] domain, else Postfix's mydomain. False after a message. */
static bool
mail_domain(const struct mp_conf *conf, const struct audit_postconf *pc, char dom[MP_DOMAIN_MAX])
{
	const char *d = mp_conf_str(conf, "audit", "domain");
	const char *why;

	if (*d == '\0' && pc->ok)
		d = audit_postconf_get(pc, "mydomain");
	if (d != NULL && *d != '\0' && !mp_domain_normalize(d, strlen(d), dom, &why)) {
		fprintf(stderr, "mailposture-audit: domain %s: %s\n", d, why);
		return false;
	}
	return true;
}

/*
 * The resolver, PSL, SPF and DMARC evaluators, set up from the
 * configuration as for the milter. False after a message when the
 * configuration cannot give them. A Public Suffix List that does not load
 * is a finding (host.psl), not an error: the DNS checks run without it.
 */
static bool
evaluator(struct mp_conf *conf, struct mp_evaluator **ev_r)
{
	char err[300];

	*ev_r = mp_evaluator_new_ex(conf, MP_EVALUATOR_PSL_OPTIONAL, err, sizeof(err));
	if (*ev_r == NULL)
		fprintf(stderr, "mailposture-audit: %s\n", err);
	return *ev_r != NULL;
}

static bool
is_public_ip(const char *s)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, s, a) == 1)
		return !(a[0] == 127 || a[0] == 10 || a[0] == 0 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
		    (a[0] == 192 && a[1] == 168) || (a[0] == 169 && a[1] == 254) ||
		    (a[0] == 100 && (a[1] & 0xc0) == 64));
	if (inet_pton(AF_INET6, s, a) == 1)
		return !((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
		    memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0);
	return false;
}

/*
 * The public IP: [audit] public_ip, else the probed host when it is a
 * public address, else what myhostname resolves to when that is public
 * (dns may be NULL: not looked up).
 */
static void
public_ip(const struct mp_conf *conf, const struct audit_postconf *pc, struct mp_dns *dns,
    char *ip, size_t iplen)
{
	struct mp_deadline dl;
	struct mp_dns_result *res;

	snprintf(ip, iplen, "%s", mp_conf_str(conf, "audit", "public_ip"));
	if (ip[0] == '\0' && is_public_ip(mp_conf_str(conf, "audit", "host")))
		snprintf(ip, iplen, "%s", mp_conf_str(conf, "audit", "host"));
	if (ip[0] != '\0' || !pc->ok || dns == NULL)
		return;
	mp_deadline_set(&dl, 2000);
	res = mp_dns_query(dns, &dl, audit_postconf_get(pc, "myhostname"), MP_DNS_A);
	for (size_t i = 0; res->status == MP_DNS_OK && i < res->count; i++)
		if (res->rr[i].type == MP_DNS_A && is_public_ip(res->rr[i].text)) {
			snprintf(ip, iplen, "%s", res->rr[i].text);
			break;
		}
	mp_dns_result_free(&res);
}

/* The SMTP probe's options; served (freed by the caller) holds the domains the server takes. */
static void
probe_opts(const struct mp_conf *conf, const struct audit_postconf *pc,
    const struct audit_report *rep, struct audit_probe_opts *po, struct mp_buf *served)
{
	static const char *const keys[] = { "mydestination", "relay_domains",
	    "virtual_alias_domains", "virtual_mailbox_domains" };

	memset(po, 0, sizeof(*po));
	po->host = rep->host;
	po->port = rep->port;
	po->source = mp_conf_str(conf, "audit", "source");
	if (po->source[0] == '\0')
		po->source = NULL;
	po->timeout_ms = (unsigned)mp_conf_int(conf, "audit", "timeout");
	po->domain = rep->domain;
	po->ca_file = mp_conf_str(conf, "audit", "ca_file");
	if (!pc->ok)
		return;
	po->mynetworks = audit_postconf_get(pc, "mynetworks");
	po->tls_name = audit_postconf_get(pc, "myhostname");
	for (size_t i = 0; i < MP_ARRAY_SIZE(keys); i++) {
		const char *v = audit_postconf_get(pc, keys[i]);

		if (v != NULL)
			mp_buf_printf(served, "%s ", v);
	}
	po->served = mp_buf_str(served);
}

struct dns_job {
	struct audit_dns_opts o;
	struct audit_dns *result;
	unsigned long long ms;
	pthread_t th;
	bool threaded;
};

static void *
dns_thread(void *arg)
{
	struct dns_job *j = arg;
	unsigned long long t0 = mp_now_ms();

	j->result = audit_dns_run(&j->o);
	j->ms = mp_now_ms() - t0;
	return NULL;
}

/* Starts the DNS lookups beside the SMTP probe (in this thread when no thread starts). */
static void
dns_start(struct dns_job *j, struct mp_evaluator *ev, const struct mp_conf *conf,
    const struct audit_report *rep)
{
	memset(j, 0, sizeof(*j));
	j->o.dns = mp_evaluator_dns(ev);
	j->o.spf = mp_evaluator_spf(ev);
	j->o.dmarc = mp_evaluator_dmarc(ev);
	j->o.psl = mp_evaluator_psl(ev);
	j->o.domain = rep->domain;
	j->o.public_ip = rep->public_ip;
	j->o.dnsbl_zones = mp_conf_str(conf, "audit", "dnsbl_zones");
	j->o.ca_file = mp_conf_str(conf, "audit", "ca_file");
	j->o.timeout_ms = (unsigned)mp_conf_int(conf, "audit", "timeout") * 2;
	j->threaded = pthread_create(&j->th, NULL, dns_thread, j) == 0;
	if (!j->threaded)
		dns_thread(j);
}

/*
 * Judges both sides once both have ended: the certificate against the MX
 * names this server is, and the TLSA records against what it served.
 */
static void
judge_all(struct audit_report *rep, const struct audit_probe_opts *po, struct audit_probe *p,
    struct audit_dns *d)
{
	const char *names[] = { audit_probe_ehlo_name(p), po->tls_name };
	const char *mx[8];
	size_t nmx = audit_dns_server_mx(d, names, MP_ARRAY_SIZE(names), mx, MP_ARRAY_SIZE(mx));

	audit_probe_judge(rep, p, mx, nmx);
	audit_dns_judge(rep, d);
	audit_dns_judge_served(rep, d, mx, nmx, audit_probe_chain(p));
}

/* Runs the probes and judges every check into rep. */
static void
run_checks(struct audit_report *rep, const struct mp_conf *conf, const struct audit_postconf *pc,
    struct mp_evaluator *ev, bool host_checks)
{
	static const enum audit_check_id host_ids[] = { CHK_POSTCONF, CHK_MILTER, CHK_PSL, CHK_REDIS };
	struct audit_probe_opts po;
	struct mp_buf served = MP_BUF_INIT;
	struct audit_probe *probe;
	struct dns_job dj;
	unsigned long long ts;

	probe_opts(conf, pc, rep, &po, &served);
	dns_start(&dj, ev, conf, rep);
	ts = mp_now_ms();
	probe = audit_probe_run(&po);
	rep->smtp_ms = mp_now_ms() - ts;
	if (dj.threaded)
		pthread_join(dj.th, NULL);
	rep->dns_ms = dj.ms;
	judge_all(rep, &po, probe, dj.result);
	audit_probe_free(&probe);
	audit_dns_free(&dj.result);
	mp_buf_free(&served);
	if (host_checks) {
		audit_host_judge_postfix(rep, pc, conf, po.timeout_ms);
		audit_host_judge_preflight(rep, conf);
	} else {
		for (size_t i = 0; i < MP_ARRAY_SIZE(host_ids); i++)
			audit_set(rep, host_ids[i], AUDIT_NOT_TESTED, "skipped (--no-host-checks)");
	}
}

/*
 * Writes the result (js, what --json prints) to Redis when [redis]
 * address is set, for mailposture-report audits. The audit's report
 * and exit status do not depend on it: a failure is one warning line.
 */
static void
store_result(const struct mp_conf *conf, struct audit_report *rep, const char *js)
{
	struct mp_store_options so;
	char target[300], err[512];

	mp_store_options_from_conf(conf, &so);
	if (!mp_store_options_enabled(&so))     /* one server, Sentinel or a Cluster */
		return;
	/* "[v6]:port", as one writes an address with a port. */
	snprintf(target, sizeof(target), strchr(rep->host, ':') ? "[%s]:%s" : "%s:%s",
	    rep->host, rep->port);
	if (!mp_store_options_check(&so, err, sizeof(err)) ||
	    !mp_store_put_audit(&so, target, rep->domain, rep->score, rep->grade, js, time(NULL),
	    err, sizeof(err))) {
		fprintf(stderr, "mailposture-audit: could not store the audit in Redis: %s\n", err);
		return;
	}
	rep->stored = true;
}

/* Grades, stores and prints the report; returns the exit status. */
static int
report(const struct mp_conf *conf, const struct args *a, struct audit_report *rep,
    unsigned long long t0)
{
	const char *fu = mp_conf_str(conf, "audit", "fail_under");
	struct mp_buf out = MP_BUF_INIT;
	char *js;

	audit_grade(rep);
	rep->elapsed_ms = mp_now_ms() - t0;
	js = audit_render_json(rep);
	if (a->store)
		store_result(conf, rep, js);
	if (a->json) {
		mp_buf_puts(&out, js);
		mp_buf_putc(&out, '\n');
	} else {
		audit_render_text(rep, &out);
	}
	free(js);
	fwrite(out.data, 1, out.len, stdout);
	mp_buf_free(&out);
	return output_status(*fu != '\0' && rep->score >= 0 &&
	    audit_grade_rank(rep->grade) > audit_grade_rank(fu) ? 1 : 0);
}

/* Everything after the configuration: the exit status. */
static int
run_audit(struct mp_conf *conf, const struct args *a, const struct audit_postconf *pc,
    unsigned long long t0)
{
	struct audit_report *rep;
	struct mp_evaluator *ev;
	char dom[MP_DOMAIN_MAX] = "";
	int rc;

	if (!mail_domain(conf, pc, dom) || !evaluator(conf, &ev))
		return 2;
	rep = xmalloc(sizeof(*rep));
	audit_report_init(rep);
	snprintf(rep->host, sizeof(rep->host), "%s", mp_conf_str(conf, "audit", "host"));
	snprintf(rep->port, sizeof(rep->port), "%ld", mp_conf_int(conf, "audit", "port"));
	snprintf(rep->domain, sizeof(rep->domain), "%s", dom);
	public_ip(conf, pc, mp_evaluator_dns(ev), rep->public_ip, sizeof(rep->public_ip));
	run_checks(rep, conf, pc, ev, a->host_checks);
	rc = report(conf, a, rep, t0);
	audit_report_clear(rep);
	free(rep);
	mp_evaluator_free(&ev);
	return rc;
}

int
main(int argc, char **argv)
{
	unsigned long long t0 = mp_now_ms();
	struct args a;
	struct mp_conf *conf;
	struct audit_postconf pc;
	int rc;

	mp_log_open("mailposture-audit", true, LOG_MAIL);
	audit_sts_global_init();
	if ((rc = parse_args(argc, argv, &a)) != ARGS_RUN)
		return rc;
	if ((conf = load_conf(&a)) == NULL)
		return 2;
	memset(&pc, 0, sizeof(pc));
	if (a.host_checks)
		(void)audit_postconf_read(a.pfdir, &pc);
	else
		snprintf(pc.err, sizeof(pc.err), "skipped (--no-host-checks)");
	rc = run_audit(conf, &a, &pc, t0);
	audit_postconf_free(&pc);
	mp_conf_unref(&conf);
	return rc;
}
