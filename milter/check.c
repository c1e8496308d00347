/*
 * mailposture-check: evaluates one sender or one stored message offline,
 * through the same mp_evaluate() the milter calls, and prints the verdict
 * and the Authentication-Results header the milter would add.
 *
 * Exit status: 0 evaluated, 2 usage, configuration or input error.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf.h"
#include "domain.h"
#include "log.h"
#include "msghdr.h"
#include "util.h"
#include "verdict.h"

#define MAX_MESSAGE_READ (8 * 1024 * 1024)

static void __attribute__((noreturn))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mailposture-check: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	exit(2);
}

static void
usage(void)
{
	fputs(
"usage: mailposture-check [options] --ip ADDR [--helo NAME] [--mail-from ADDR]\n"
"                         (MESSAGE-FILE | --from-domain DOMAIN)\n"
"       mailposture-check [options] --posture DOMAIN\n"
"\n"
"Evaluates SPF, DMARC and the sender's posture exactly as mailposture-milter\n"
"does, and prints the Authentication-Results header the milter would add.\n"
"\n"
"  --ip ADDR            client IP address (IPv4 or IPv6)\n"
"  --helo NAME          HELO/EHLO name\n"
"  --mail-from ADDR     envelope sender; empty or <> for the null sender\n"
"  --from-domain D      evaluate as if the message had From: <postmaster@D>\n"
"  MESSAGE-FILE         a stored message whose header From and\n"
"                       Authentication-Results are used ('-': stdin)\n"
"  --posture DOMAIN     print only the posture of DOMAIN\n"
"  --no-posture         skip the posture of the From domain\n"
"  --json               JSON output\n"
"  -c, --config FILE    configuration (default " MP_CONF_DEFAULT_PATH " if present)\n"
"  --resolver ADDR@PORT override [dns] resolver\n"
"  --timeout MS         override [dns] timeout\n"
"  --authserv-id ID     override [policy] authserv_id\n"
"  --pct-sample N       fixed DMARC pct sample 0..99 (default: random)\n"
"  -h, --help           this text\n"
"  -V, --version        print the version\n"
"\n"
"Exit status: 0 evaluated, 2 usage, configuration or input error.\n", stdout);
}

static char *
read_message(const char *path, size_t *len_r)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct mp_buf b = MP_BUF_INIT;
	char chunk[65536];
	size_t n;

	if (f == NULL)
		usage_error("cannot read %s: %s", path, strerror(errno));
	/* Only the header section matters; the cap bounds a runaway input. */
	while (b.len < MAX_MESSAGE_READ && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		mp_buf_append(&b, chunk, n);
	if (ferror(f))
		usage_error("cannot read %s: %s", path, strerror(errno));
	if (f != stdin)
		fclose(f);
	*len_r = b.len;
	return mp_buf_steal(&b);
}

static void
override(struct mp_conf *conf, const char *section, const char *name, const char *value)
{
	char err[256];

	if (value && !mp_conf_set(conf, section, name, value, err, sizeof(err)))
		usage_error("%s", err);
}

int
main(int argc, char **argv)
{
	enum { OPT_IP = 256, OPT_HELO, OPT_MAILFROM, OPT_FROMDOMAIN, OPT_POSTURE, OPT_JSON,
	    OPT_RESOLVER, OPT_TIMEOUT, OPT_AUTHSERV, OPT_PCT, OPT_NOPOSTURE };
	static const struct option longopts[] = {
		{ "ip", required_argument, NULL, OPT_IP },
		{ "helo", required_argument, NULL, OPT_HELO },
		{ "mail-from", required_argument, NULL, OPT_MAILFROM },
		{ "from-domain", required_argument, NULL, OPT_FROMDOMAIN },
		{ "posture", required_argument, NULL, OPT_POSTURE },
		{ "no-posture", no_argument, NULL, OPT_NOPOSTURE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "config", required_argument, NULL, 'c' },
		{ "resolver", required_argument, NULL, OPT_RESOLVER },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "authserv-id", required_argument, NULL, OPT_AUTHSERV },
		{ "pct-sample", required_argument, NULL, OPT_PCT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ip = NULL, *helo = "", *mail_from = "", *from_domain = NULL;
	const char *posture = NULL, *conf_path = NULL, *resolver = NULL, *timeout = NULL;
	const char *authserv = NULL, *path = NULL;
	bool json = false, want_posture = true;
	int pct_sample = -1, c, rc = 0;
	struct mp_conf *conf;
	struct mp_evaluator *ev;
	struct mp_buf out = MP_BUF_INIT;
	char err[512], norm[MP_DOMAIN_MAX];
	const char *why;

	mp_log_open("mailposture-check", true, LOG_MAIL);
	while ((c = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_IP: ip = optarg; break;
		case OPT_HELO: helo = optarg; break;
		case OPT_MAILFROM: mail_from = optarg; break;
		case OPT_FROMDOMAIN: from_domain = optarg; break;
		case OPT_POSTURE: posture = optarg; break;
		case OPT_NOPOSTURE: want_posture = false; break;
		case OPT_JSON: json = true; break;
		case 'c': conf_path = optarg; break;
		case OPT_RESOLVER: resolver = optarg; break;
		case OPT_TIMEOUT: timeout = optarg; break;
		case OPT_AUTHSERV: authserv = optarg; break;
		case OPT_PCT: {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (*optarg == '\0' || *end != '\0' || n < 0 || n > 99)
				usage_error("--pct-sample wants a number from 0 to 99");
			pct_sample = (int)n;
			break;
		}
		case 'h': usage(); return 0;
		case 'V': puts(PACKAGE_STRING); return 0;
		default: usage_error("unknown option");
		}
	}
	if (optind < argc)
		path = argv[optind++];
	if (optind < argc)
		usage_error("more than one message file");
	if (posture == NULL) {
		if (ip == NULL)
			usage_error("--ip is required");
		if (path == NULL && from_domain == NULL)
			usage_error("give a message file or --from-domain");
		if (path && from_domain)
			usage_error("give a message file or --from-domain, not both");
	}

	conf = mp_conf_load_or_defaults(conf_path, err, sizeof(err));
	if (conf == NULL) {
		fprintf(stderr, "mailposture-check: %s\n", err);
		return 2;
	}
	override(conf, "dns", "resolver", resolver);
	override(conf, "dns", "timeout", timeout);
	override(conf, "policy", "authserv_id", authserv);

	ev = mp_evaluator_new(conf, err, sizeof(err));
	mp_conf_unref(&conf);
	if (ev == NULL) {
		fprintf(stderr, "mailposture-check: %s\n", err);
		return 2;
	}

	if (posture) {
		struct mp_posture *p = xmalloc(sizeof(*p));

		if (!mp_domain_normalize(posture, strlen(posture), norm, &why)) {
			fprintf(stderr, "mailposture-check: %s: %s\n", posture, why);
			mp_evaluator_free(&ev);
			free(p);
			return 2;
		}
		mp_evaluator_posture(ev, norm, p);
		if (json) {
			json_t *j = mp_posture_json(p);
			char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

			mp_buf_puts(&out, s ? s : "{}");
			mp_buf_putc(&out, '\n');
			free(s);
			json_decref(j);
		} else {
			mp_posture_print(p, &out);
		}
		free(p);
	} else {
		struct mp_msghdr *hdr = NULL;
		struct mp_header *headers = NULL;
		struct mp_header synth;
		char *data = NULL, *from_value = NULL;
		size_t nheaders = 0;

		if (path) {
			size_t len;

			data = read_message(path, &len);
			hdr = mp_msghdr_parse(data, len, &why);
			if (hdr == NULL) {
				fprintf(stderr, "mailposture-check: %s: %s\n", path, why);
				free(data);
				mp_evaluator_free(&ev);
				return 2;
			}
			headers = xcalloc(hdr->count ? hdr->count : 1, sizeof(*headers));
			for (size_t i = 0; i < hdr->count; i++) {
				headers[i].name = hdr->field[i].name;
				headers[i].value = hdr->field[i].value;
				headers[i].value_len = hdr->field[i].value_len;
			}
			nheaders = hdr->count;
		} else {
			if (!mp_domain_normalize(from_domain, strlen(from_domain), norm, &why)) {
				fprintf(stderr, "mailposture-check: %s: %s\n", from_domain, why);
				mp_evaluator_free(&ev);
				return 2;
			}
			from_value = xasprintf("<postmaster@%s>", norm);
			synth.name = "From";
			synth.value = from_value;
			synth.value_len = strlen(from_value);
			headers = &synth;
			nheaders = 1;
		}

		struct mp_message msg = {
			.ip = ip, .helo = helo, .mail_from = mail_from,
			.headers = headers, .nheaders = nheaders,
			.want_posture = want_posture, .pct_sample = pct_sample,
		};
		struct mp_verdict *v = mp_evaluate(ev, &msg);

		if (json) {
			char *s = mp_verdict_json(v);

			mp_buf_puts(&out, s);
			mp_buf_putc(&out, '\n');
			free(s);
		} else {
			mp_verdict_print(v, &out);
		}
		mp_verdict_free(&v);
		if (headers != &synth)
			free(headers);
		free(from_value);
		mp_msghdr_free(&hdr);
		free(data);
	}
	fwrite(out.data, 1, out.len, stdout);
	if (fflush(stdout) != 0)
		rc = 2;
	mp_buf_free(&out);
	mp_evaluator_free(&ev);
	return rc;
}
