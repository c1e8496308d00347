/*
 * mailposture-check: evaluates one sender or one stored message offline,
 * through the same mp_evaluate() the milter calls, and prints the verdict
 * and the Authentication-Results header the milter would add. A stored
 * message's DKIM signatures are verified as the milter verifies them:
 * its header fields as they are in the file, then its body, streamed in
 * chunks (only the header section is kept in memory).
 *
 * Exit status: 0 evaluated, 2 usage, configuration or input error.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "conf.h"
#include "decide.h"
#include "domain.h"
#include "log.h"
#include "msghdr.h"
#include "util.h"
#include "verdict.h"

/* The header section read, at most: the cap bounds a runaway input. */
#define MAX_HEADER_READ (8 * 1024 * 1024)
#define READ_CHUNK 65536

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
"  MESSAGE-FILE         a stored message ('-': stdin): its From header,\n"
"                       its DKIM signatures ([dkim] verify) or else the\n"
"                       Authentication-Results of trusted_authserv_ids\n"
"  --posture DOMAIN     print only the posture of DOMAIN\n"
"  --no-posture         skip the posture of the From domain\n"
"  --json               JSON output\n"
"  -c, --config FILE    configuration (default " MP_CONF_DEFAULT_PATH " if present)\n"
"  --resolver ADDR@PORT override [dns] resolver\n"
"  --timeout MS         override [dns] timeout\n"
"  --authserv-id ID     override [policy] authserv_id\n"
"  -h, --help           this text\n"
"  -V, --version        print the version\n"
"\n"
"Exit status: 0 evaluated, 2 usage, configuration or input error.\n", stdout);
}

static void
override(struct mp_conf *conf, const char *section, const char *name, const char *value)
{
	char err[256];

	if (value && !mp_conf_set(conf, section, name, value, err, sizeof(err)))
		usage_error("%s", err);
}

struct opts {
	const char *ip, *helo, *mail_from, *from_domain, *posture;
	const char *conf_path, *resolver, *timeout, *authserv, *path;
	bool json, want_posture;
};

static void
check_args(const struct opts *o)
{
	if (o->posture != NULL)
		return;
	if (o->ip == NULL)
		usage_error("--ip is required");
	if (o->path == NULL && o->from_domain == NULL)
		usage_error("give a message file or --from-domain");
	if (o->path && o->from_domain)
		usage_error("give a message file or --from-domain, not both");
}

/* Fills o from the command line; exits for --help, --version and usage errors. */
static void
parse_args(int argc, char **argv, struct opts *o)
{
	enum { OPT_IP = 256, OPT_HELO, OPT_MAILFROM, OPT_FROMDOMAIN, OPT_POSTURE, OPT_JSON,
	    OPT_RESOLVER, OPT_TIMEOUT, OPT_AUTHSERV, OPT_NOPOSTURE };
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
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .helo = "", .mail_from = "", .want_posture = true };
	while ((c = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_IP: o->ip = optarg; break;
		case OPT_HELO: o->helo = optarg; break;
		case OPT_MAILFROM: o->mail_from = optarg; break;
		case OPT_FROMDOMAIN: o->from_domain = optarg; break;
		case OPT_POSTURE: o->posture = optarg; break;
		case OPT_NOPOSTURE: o->want_posture = false; break;
		case OPT_JSON: o->json = true; break;
		case 'c': o->conf_path = optarg; break;
		case OPT_RESOLVER: o->resolver = optarg; break;
		case OPT_TIMEOUT: o->timeout = optarg; break;
		case OPT_AUTHSERV: o->authserv = optarg; break;
		case 'h': usage(); exit(0);
		case 'V': puts(PACKAGE_STRING); exit(0);
		default: usage_error("unknown option");
		}
	}
	if (optind < argc)
		o->path = argv[optind++];
	if (optind < argc)
		usage_error("more than one message file");
	check_args(o);
}

/* The configuration with the command line's overrides; NULL + message. */
static struct mp_conf *
load_conf(const struct opts *o)
{
	char err[512];
	struct mp_conf *conf = mp_conf_load_or_defaults(o->conf_path, err, sizeof(err));

	if (conf == NULL) {
		fprintf(stderr, "mailposture-check: %s\n", err);
		return NULL;
	}
	override(conf, "dns", "resolver", o->resolver);
	override(conf, "dns", "timeout", o->timeout);
	override(conf, "policy", "authserv_id", o->authserv);
	return conf;
}

/* --posture DOMAIN. 0, or 2 for a name that is not a domain. */
static int
show_posture(struct mp_evaluator *ev, const struct opts *o, struct mp_buf *out)
{
	char norm[MP_DOMAIN_MAX];
	struct mp_posture *p;
	const char *why;

	if (!mp_domain_normalize(o->posture, strlen(o->posture), norm, &why)) {
		fprintf(stderr, "mailposture-check: %s: %s\n", o->posture, why);
		return 2;
	}
	p = xmalloc(sizeof(*p));
	mp_evaluator_posture(ev, norm, p);
	if (o->json) {
		json_t *j = mp_posture_json(p);
		char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

		mp_buf_puts(out, s ? s : "{}");
		mp_buf_putc(out, '\n');
		free(s);
		json_decref(j);
	} else {
		mp_posture_print(p, out);
	}
	free(p);
	return 0;
}

/* The header fields to evaluate: a stored message's, or one made-up From. */
struct input {
	FILE *f;                /* the message file, its body not read yet */
	const char *path;
	char *data;             /* its header section (and the start of its body) */
	size_t len, body_at;    /* body_at: where the body starts in data */
	struct mp_msghdr *hdr;
	struct mp_header *headers;
	size_t nheaders;
	char *from_value;       /* --from-domain */
	struct mp_header synth;
	struct mp_dkim_msg *dkim;
};

static void
input_free(struct input *in)
{
	if (in->headers != &in->synth)
		free(in->headers);
	free(in->from_value);
	mp_msghdr_free(&in->hdr);
	free(in->data);
	mp_dkim_msg_free(&in->dkim);
	if (in->f != NULL && in->f != stdin)
		fclose(in->f);
}

/* Where the body starts (after the empty line, LF or CRLF), looking from
 * offset from on; SIZE_MAX when the header section has not ended yet. */
static size_t
body_start(const char *d, size_t len, size_t from)
{
	if (from == 0 && len >= 1 && d[0] == '\n')
		return 1;
	if (from == 0 && len >= 2 && d[0] == '\r' && d[1] == '\n')
		return 2;
	for (size_t i = from; i + 1 < len; i++) {
		if (d[i] != '\n')
			continue;
		if (d[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && d[i + 1] == '\r' && d[i + 2] == '\n')
			return i + 3;
	}
	return SIZE_MAX;
}

/* Reads the header section (and what comes with it of the body); the
 * rest of the body stays in the file. Exits on a read error. */
static void
read_header_section(struct input *in)
{
	struct mp_buf b = MP_BUF_INIT;
	char chunk[READ_CHUNK];
	size_t n, at = SIZE_MAX;

	in->f = strcmp(in->path, "-") == 0 ? stdin : fopen(in->path, "rb");
	if (in->f == NULL)
		usage_error("cannot read %s: %s", in->path, strerror(errno));
	while (at == SIZE_MAX && b.len < MAX_HEADER_READ &&
	    (n = fread(chunk, 1, sizeof(chunk), in->f)) > 0) {
		size_t from = b.len > 2 ? b.len - 2 : 0;

		mp_buf_append(&b, chunk, n);
		at = body_start(b.data, b.len, from);
	}
	if (ferror(in->f))
		usage_error("cannot read %s: %s", in->path, strerror(errno));
	in->len = b.len;
	in->body_at = at == SIZE_MAX ? b.len : at;
	in->data = mp_buf_steal(&b);
}

/* The end of the line that starts at i: just past its LF, or len. */
static size_t
line_end(const char *d, size_t len, size_t i)
{
	const char *lf = memchr(d + i, '\n', len - i);

	return lf != NULL ? (size_t)(lf - d) + 1 : len;
}

/*
 * Each field of the header section to the DKIM verifier as it is in the
 * file: the name, then the value after the colon with its leading space
 * and its folding, without the line end that closes it (simple
 * canonicalization signs these bytes). Lines that are no field were
 * refused by the header parser before.
 */
static void
feed_header_fields(struct mp_dkim_msg *m, const char *d, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t start = i, end = line_end(d, len, i), vlen;
		const char *colon;
		char *name;

		while (end < len && (d[end] == ' ' || d[end] == '\t'))
			end = line_end(d, len, end);
		i = end;
		colon = memchr(d + start, ':', end - start);
		if (colon == NULL)
			continue;
		vlen = end - (size_t)(colon + 1 - d);
		if (vlen > 0 && colon[vlen] == '\n')
			vlen--;
		if (vlen > 0 && colon[vlen] == '\r')
			vlen--;
		name = xstrndup(d + start, (size_t)(colon - (d + start)));
		mp_dkim_msg_header(m, name, colon + 1, vlen);
		free(name);
	}
}

/* The message's DKIM verification: its header fields, then its body in
 * chunks, unless it carries no signature (the body is not read then). */
static void
input_dkim(struct input *in, struct mp_dkim *dk)
{
	unsigned char chunk[READ_CHUNK];
	size_t n;

	in->dkim = mp_dkim_msg_new(dk);
	feed_header_fields(in->dkim, in->data, in->body_at);
	mp_dkim_msg_eoh(in->dkim);
	if (!mp_dkim_msg_signed(in->dkim))
		return;
	mp_dkim_msg_body(in->dkim, (const unsigned char *)in->data + in->body_at,
	    in->len - in->body_at);
	while ((n = fread(chunk, 1, sizeof(chunk), in->f)) > 0)
		mp_dkim_msg_body(in->dkim, chunk, n);
	if (ferror(in->f))
		usage_error("cannot read %s: %s", in->path, strerror(errno));
}

/* False + message on stderr when the input is unusable. */
static bool
input_read(const struct opts *o, struct mp_dkim *dk, struct input *in)
{
	char norm[MP_DOMAIN_MAX];
	const char *why;

	memset(in, 0, sizeof(*in));
	if (o->path == NULL) {
		if (!mp_domain_normalize(o->from_domain, strlen(o->from_domain), norm, &why)) {
			fprintf(stderr, "mailposture-check: %s: %s\n", o->from_domain, why);
			return false;
		}
		in->from_value = xasprintf("<postmaster@%s>", norm);
		in->synth = (struct mp_header){ "From", in->from_value, strlen(in->from_value) };
		in->headers = &in->synth;
		in->nheaders = 1;
		return true;
	}
	in->path = o->path;
	read_header_section(in);
	in->hdr = mp_msghdr_parse(in->data, in->len, &why);
	if (in->hdr == NULL) {
		fprintf(stderr, "mailposture-check: %s: %s\n", o->path, why);
		return false;
	}
	in->headers = xcalloc(in->hdr->count ? in->hdr->count : 1, sizeof(*in->headers));
	for (size_t i = 0; i < in->hdr->count; i++)
		in->headers[i] = (struct mp_header){ in->hdr->field[i].name,
		    in->hdr->field[i].value, in->hdr->field[i].value_len };
	in->nheaders = in->hdr->count;
	if (dk != NULL)
		input_dkim(in, dk);
	return true;
}

/* One message: evaluated, decided as the milter would, printed. 0 or 2. */
static int
show_verdict(struct mp_evaluator *ev, const struct mp_policy *pol, const struct opts *o,
    struct mp_buf *out)
{
	struct input in;
	struct mp_verdict *v;
	struct mp_decision d;

	if (!input_read(o, mp_evaluator_dkim(ev), &in)) {
		input_free(&in);
		return 2;
	}
	struct mp_message msg = {
		.ip = o->ip, .helo = o->helo, .mail_from = o->mail_from,
		.headers = in.headers, .nheaders = in.nheaders,
		.want_posture = o->want_posture,
		.dkim = in.dkim,
	};
	v = mp_evaluate(ev, &msg);
	mp_decide(pol, mp_verdict_result(v), &d);
	if (o->json) {
		char *s = mp_verdict_json(v, &d);

		mp_buf_puts(out, s);
		mp_buf_putc(out, '\n');
		free(s);
	} else {
		mp_verdict_print(v, &d, out);
	}
	mp_verdict_free(&v);
	input_free(&in);
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct mp_conf *conf;
	struct mp_evaluator *ev;
	struct mp_policy *pol;
	struct mp_buf out = MP_BUF_INIT;
	char err[512];
	int rc;

	mp_log_open("mailposture-check", true, LOG_MAIL);
	parse_args(argc, argv, &o);
	if ((conf = load_conf(&o)) == NULL)
		return 2;
	ev = mp_evaluator_new(conf, err, sizeof(err));
	pol = mp_policy_new(conf);
	mp_conf_unref(&conf);
	if (ev == NULL) {
		fprintf(stderr, "mailposture-check: %s\n", err);
		mp_policy_free(&pol);
		return 2;
	}
	rc = o.posture ? show_posture(ev, &o, &out) : show_verdict(ev, pol, &o, &out);
	if (rc == 0) {
		fwrite(out.data, 1, out.len, stdout);
		if (fflush(stdout) != 0)
			rc = 2;
	}
	mp_buf_free(&out);
	mp_policy_free(&pol);
	mp_evaluator_free(&ev);
	return rc;
}
