/*
 * mailposture-audit: the self-audit of the mail host. The SMTP probe and
 * the DNS lookups run at the same time; the checks are judged when both
 * are done, graded, and printed as text or JSON, and, when [redis] address
 * is set, stored in Redis for mailposture-report audits (--no-store: not).
 *
 * Exit status: 0, 1 when the grade is below --fail-under, 2 for usage or
 * configuration errors.
 */
#include "config.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "audit.h"
#include "conf.h"
#include "dmarc.h"
#include "dnscheck.h"
#include "domain.h"
#include "host.h"
#include "log.h"
#include "probe.h"
#include "spf.h"
#include "store.h"

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
"Exit status: 0 audited, 1 grade below --fail-under, 2 usage or configuration error.\n",
	    stdout);
}

static void
override(struct mp_conf *conf, const char *section, const char *name, const char *value)
{
	char err[256];

	if (value && !mp_conf_set(conf, section, name, value, err, sizeof(err)))
		usage_error("%s", err);
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

struct dns_thread_arg {
	struct audit_dns_opts o;
	struct audit_dns *result;
	unsigned long long ms;
};

static void *
dns_thread(void *arg)
{
	struct dns_thread_arg *a = arg;
	unsigned long long t0 = mp_now_ms();

	a->result = audit_dns_run(&a->o);
	a->ms = mp_now_ms() - t0;
	return NULL;
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
	if (so.address[0] == '\0')
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

int
main(int argc, char **argv)
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
	const char *host = NULL, *port = NULL, *domain = NULL, *pubip = NULL, *source = NULL;
	const char *fail_under = NULL, *conf_path = NULL, *zones = NULL, *resolver = NULL;
	const char *timeout = NULL, *pfdir = NULL;
	bool json = false, host_checks = true, store = true;
	int c, rc = 0;
	struct mp_conf *conf;
	char err[512], dom[MP_DOMAIN_MAX] = "", ip[64] = "", portbuf[16];
	struct audit_postconf pc;
	struct audit_report *rep;
	struct mp_dns *dns;
	struct mp_psl *psl;
	struct mp_spf *spf;
	struct mp_dmarc *dmarc;
	unsigned long long t0 = mp_now_ms();

	mp_log_open("mailposture-audit", true, LOG_MAIL);
	while ((c = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_HOST: host = optarg; break;
		case OPT_PORT: port = optarg; break;
		case OPT_DOMAIN: domain = optarg; break;
		case OPT_PUBIP: pubip = optarg; break;
		case OPT_SOURCE: source = optarg; break;
		case OPT_JSON: json = true; break;
		case OPT_FAIL: fail_under = optarg; break;
		case 'c': conf_path = optarg; break;
		case OPT_ZONES: zones = optarg; break;
		case OPT_RESOLVER: resolver = optarg; break;
		case OPT_TIMEOUT: timeout = optarg; break;
		case OPT_PFDIR: pfdir = optarg; break;
		case OPT_NOHOST: host_checks = false; break;
		case OPT_NOSTORE: store = false; break;
		case 'h': usage(); return 0;
		case 'V': puts(PACKAGE_STRING); return 0;
		default: usage_error("unknown option");
		}
	}
	if (optind < argc)
		usage_error("unexpected argument: %s", argv[optind]);

	conf = mp_conf_load_or_defaults(conf_path, err, sizeof(err));
	if (conf == NULL) {
		fprintf(stderr, "mailposture-audit: %s\n", err);
		return 2;
	}
	override(conf, "audit", "host", host);
	override(conf, "audit", "port", port);
	override(conf, "audit", "domain", domain);
	override(conf, "audit", "public_ip", pubip);
	override(conf, "audit", "source", source);
	override(conf, "audit", "fail_under", fail_under);
	override(conf, "audit", "dnsbl_zones", zones);
	override(conf, "audit", "timeout", timeout);
	override(conf, "dns", "resolver", resolver);

	memset(&pc, 0, sizeof(pc));
	if (host_checks)
		(void)audit_postconf_read(pfdir, &pc);
	else
		snprintf(pc.err, sizeof(pc.err), "skipped (--no-host-checks)");

	/* The domain: [audit] domain, else Postfix's mydomain. */
	{
		const char *d = mp_conf_str(conf, "audit", "domain");
		const char *why;

		if (*d == '\0' && pc.ok)
			d = audit_postconf_get(&pc, "mydomain");
		if (d != NULL && *d != '\0' && !mp_domain_normalize(d, strlen(d), dom, &why)) {
			fprintf(stderr, "mailposture-audit: domain %s: %s\n", d, why);
			mp_conf_unref(&conf);
			audit_postconf_free(&pc);
			return 2;
		}
	}

	{
		struct mp_dns_options dopt = { 0 };

		dopt.upstream = mp_conf_str(conf, "dns", "resolver");
		dopt.timeout_ms = (unsigned)mp_conf_int(conf, "dns", "timeout");
		dopt.trust_anchor_file = mp_conf_str(conf, "dns", "trust_anchor_file");
		if (dopt.trust_anchor_file[0] == '\0')
			dopt.trust_anchor_file = NULL;
		dns = mp_dns_new(&dopt, err, sizeof(err));
		if (dns == NULL) {
			fprintf(stderr, "mailposture-audit: resolver: %s\n", err);
			mp_conf_unref(&conf);
			audit_postconf_free(&pc);
			return 2;
		}
	}
	psl = mp_psl_load(mp_conf_str(conf, "policy", "psl_file"), err, sizeof(err));
	mp_dmarc_library_init(mp_conf_str(conf, "policy", "psl_file"), err, sizeof(err));
	spf = mp_spf_new(dns);
	dmarc = mp_dmarc_new(dns, psl);

	/* The public IP: [audit] public_ip, else the host if it is a public address. */
	snprintf(ip, sizeof(ip), "%s", mp_conf_str(conf, "audit", "public_ip"));
	if (ip[0] == '\0' && is_public_ip(mp_conf_str(conf, "audit", "host")))
		snprintf(ip, sizeof(ip), "%s", mp_conf_str(conf, "audit", "host"));
	if (ip[0] == '\0' && pc.ok) {
		/* Else what myhostname resolves to, when that is public. */
		const char *mh = audit_postconf_get(&pc, "myhostname");
		struct mp_deadline dl;
		struct mp_dns_result *res;

		mp_deadline_set(&dl, 2000);
		res = mp_dns_query(dns, &dl, mh, MP_DNS_A);
		for (size_t i = 0; res->status == MP_DNS_OK && i < res->count; i++)
			if (res->rr[i].type == MP_DNS_A && is_public_ip(res->rr[i].text)) {
				snprintf(ip, sizeof(ip), "%s", res->rr[i].text);
				break;
			}
		mp_dns_result_free(&res);
	}

	rep = xmalloc(sizeof(*rep));
	audit_report_init(rep);
	snprintf(rep->host, sizeof(rep->host), "%s", mp_conf_str(conf, "audit", "host"));
	snprintf(portbuf, sizeof(portbuf), "%ld", mp_conf_int(conf, "audit", "port"));
	snprintf(rep->port, sizeof(rep->port), "%s", portbuf);
	snprintf(rep->domain, sizeof(rep->domain), "%s", dom);
	snprintf(rep->public_ip, sizeof(rep->public_ip), "%s", ip);

	{
		unsigned timeout_ms = (unsigned)mp_conf_int(conf, "audit", "timeout");
		struct dns_thread_arg da;
		struct mp_buf served = MP_BUF_INIT;
		pthread_t th;
		bool threaded;
		struct audit_probe_opts po = {
			.host = rep->host, .port = rep->port,
			.source = mp_conf_str(conf, "audit", "source"),
			.timeout_ms = timeout_ms,
			.domain = dom,
			.mynetworks = pc.ok ? audit_postconf_get(&pc, "mynetworks") : NULL,
			.tls_name = pc.ok ? audit_postconf_get(&pc, "myhostname") : NULL,
		};
		unsigned long long ts;

		if (pc.ok) {
			static const char *const keys[] = { "mydestination", "relay_domains",
			    "virtual_alias_domains", "virtual_mailbox_domains" };

			for (size_t i = 0; i < MP_ARRAY_SIZE(keys); i++) {
				const char *v = audit_postconf_get(&pc, keys[i]);

				if (v != NULL)
					mp_buf_printf(&served, "%s ", v);
			}
			po.served = mp_buf_str(&served);
		}
		memset(&da, 0, sizeof(da));
		da.o.dns = dns;
		da.o.spf = spf;
		da.o.dmarc = dmarc;
		da.o.psl = psl;
		da.o.domain = dom;
		da.o.public_ip = ip;
		da.o.dnsbl_zones = mp_conf_str(conf, "audit", "dnsbl_zones");
		da.o.timeout_ms = timeout_ms * 2;
		if (po.source[0] == '\0')
			po.source = NULL;
		threaded = pthread_create(&th, NULL, dns_thread, &da) == 0;
		if (!threaded)
			dns_thread(&da);
		ts = mp_now_ms();
		audit_probe_smtp(rep, &po);
		rep->smtp_ms = mp_now_ms() - ts;
		if (threaded)
			pthread_join(th, NULL);
		rep->dns_ms = da.ms;

		audit_dns_judge(rep, da.result);
		{
			char what[128];

			if (!dom[0] && !ip[0])
				audit_set(rep, CHK_RESOLVER, AUDIT_NOT_TESTED, "no lookups were made");
			else if (audit_dns_resolver_answered(da.result, what, sizeof(what)))
				audit_set(rep, CHK_RESOLVER, AUDIT_PASS, "the resolver answers (%s)", what);
			else {
				audit_set(rep, CHK_RESOLVER, AUDIT_FAIL, "the resolver does not answer: %s", what);
				audit_fix(rep, CHK_RESOLVER, "Check [dns] resolver and /etc/resolv.conf; run a "
				    "local validating resolver (unbound).");
			}
		}
		audit_dns_free(&da.result);
		mp_buf_free(&served);
		if (host_checks) {
			audit_host_judge_postfix(rep, &pc, conf, timeout_ms);
			audit_host_judge_preflight(rep, conf);
		} else {
			static const enum audit_check_id ids[] = { CHK_POSTCONF, CHK_MILTER, CHK_PSL, CHK_REDIS };

			for (size_t i = 0; i < MP_ARRAY_SIZE(ids); i++)
				audit_set(rep, ids[i], AUDIT_NOT_TESTED, "skipped (--no-host-checks)");
		}
	}

	audit_grade(rep);
	rep->elapsed_ms = mp_now_ms() - t0;
	{
		struct mp_buf out = MP_BUF_INIT;
		char *js = audit_render_json(rep);

		if (store)
			store_result(conf, rep, js);
		if (json) {
			mp_buf_puts(&out, js);
			mp_buf_putc(&out, '\n');
		} else {
			audit_render_text(rep, &out);
		}
		free(js);
		fwrite(out.data, 1, out.len, stdout);
		mp_buf_free(&out);
	}
	{
		const char *fu = mp_conf_str(conf, "audit", "fail_under");

		if (*fu != '\0' && rep->score >= 0 &&
		    audit_grade_rank(rep->grade) > audit_grade_rank(fu))
			rc = 1;
	}
	if (fflush(stdout) != 0)
		rc = 2;

	audit_report_clear(rep);
	free(rep);
	audit_postconf_free(&pc);
	mp_dmarc_free(&dmarc);
	mp_spf_free(&spf);
	mp_psl_free(&psl);
	mp_dns_free(&dns);
	mp_conf_unref(&conf);
	return rc;
}
