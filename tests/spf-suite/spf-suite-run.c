/*
 * spf-suite-run: evaluates one scenario of the RFC 7208 test suite
 * through the project's real SPF path (mp_spf over mp_dns over libunbound)
 * against the scenario's NSD, and prints one TAP line per case.
 *
 * usage: spf-suite-run RESOLVER SCENARIO_DIR KNOWN_FAILURES
 *   RESOLVER      127.0.0.1@PORT of the NSD that serves SCENARIO_DIR/zones
 *   SCENARIO_DIR  written by yml2zones.py: cases.tsv, timeouts.tsv
 *   KNOWN_FAILURES  "SCENARIO/TEST<TAB>cause" lines ('#' comments)
 *
 * TIMEOUT in the suite means "the server does not answer for that name".
 * NSD cannot be told to stay silent, so the resolver talks to NSD through
 * a small UDP relay in this program that drops the queries for those
 * names (for the record types the name has no data for): libunbound then
 * really times out. Each case gets a fresh resolver, so a timeout in one
 * case (which makes libunbound think the server is down) cannot leak into
 * the next.
 *
 * Convention of the suite: the MAIL FROM identity is checked; when
 * mailfrom is empty, the HELO identity (postmaster@helo).
 *
 * Output lines: "ok - sNN/test: expected X, got Y (reason)", a failing case
 * "not ok - ...", and a failing case listed in KNOWN_FAILURES
 * "not ok - ... # TODO cause" (a listed case that passes: "ok ... # TODO").
 * The last line is "# scenario sNN: P of T passed".
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "spf.h"
#include "util.h"

#define CASE_TIMEOUT_MS 800     /* per query: TIMEOUT cases wait this long */
#define CASE_DEADLINE_MS 20000

/* ---- tab-separated files ---- */

static char *
unescape(const char *s)
{
	struct mp_buf b = MP_BUF_INIT;

	for (; *s; s++) {
		if (*s != '\\' || s[1] == '\0') {
			mp_buf_putc(&b, *s);
			continue;
		}
		s++;
		switch (*s) {
		case 't': mp_buf_putc(&b, '\t'); break;
		case 'n': mp_buf_putc(&b, '\n'); break;
		case 'x':
			if (s[1] && s[2]) {
				char hex[3] = { s[1], s[2], 0 };

				mp_buf_putc(&b, (char)strtoul(hex, NULL, 16));
				s += 2;
			}
			break;
		default: mp_buf_putc(&b, *s); break;
		}
	}
	return mp_buf_steal(&b);
}

/* Splits line in place on tabs into at most max fields. */
static int
split_tabs(char *line, char **f, int max)
{
	int n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		f[n++] = line;
		line = strchr(line, '\t');
		if (line == NULL)
			break;
		*line++ = '\0';
	}
	return n;
}

/* ---- the dropping relay ---- */

struct timeout_name {
	char *name;             /* lowercase */
	char *types;            /* ",TXT,SPF," : types that still answer */
};

struct relay {
	char **zones;           /* the zones NSD serves (top-level domains) */
	size_t nzones;
	int cfd, ufd;
	struct sockaddr_in up;
	int port;
	struct timeout_name *tn;
	size_t ntn;
	struct {
		uint16_t id;
		bool used;
		struct sockaddr_storage from;
		socklen_t fromlen;
	} map[64];
	size_t next;
	volatile int stop;
	pthread_t th;
};

static const char *
type_name(unsigned t)
{
	switch (t) {
	case 1: return "A";
	case 2: return "NS";
	case 5: return "CNAME";
	case 6: return "SOA";
	case 12: return "PTR";
	case 15: return "MX";
	case 16: return "TXT";
	case 28: return "AAAA";
	case 99: return "SPF";
	default: return "OTHER";
	}
}

enum relay_action { FORWARD, DROP, NXDOMAIN };

/*
 * DROP: a TIMEOUT name of the suite. NXDOMAIN: a name under a top-level
 * domain that no zone of the scenario covers (a single-label HELO used in
 * a macro, say): the relay answers for the root, as the real root would,
 * instead of letting NSD refuse it (which libunbound turns into SERVFAIL).
 */
static enum relay_action
relay_classify(const struct relay *r, const unsigned char *p, size_t len, size_t *qend_r)
{
	char name[1100];
	const char *tld;
	size_t off = 12, o = 0;
	unsigned qtype;
	char want[16];
	bool covered = false;

	if (len < 12)
		return FORWARD;
	while (off < len && p[off] != 0) {
		unsigned l = p[off++];

		if (l > 63 || off + l > len || o + l + 2 >= sizeof(name))
			return FORWARD;
		if (o > 0)
			name[o++] = '.';
		for (unsigned i = 0; i < l; i++) {
			unsigned char c = p[off + i];

			name[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		off += l;
	}
	name[o] = '\0';
	if (off + 5 > len)
		return FORWARD;
	*qend_r = off + 5;
	qtype = (unsigned)p[off + 1] << 8 | p[off + 2];
	snprintf(want, sizeof(want), ",%s,", type_name(qtype));
	for (size_t i = 0; i < r->ntn; i++)
		if (strcmp(r->tn[i].name, name) == 0)
			return strstr(r->tn[i].types, want) == NULL ? DROP : FORWARD;
	tld = strrchr(name, '.');
	tld = tld ? tld + 1 : name;
	for (size_t i = 0; i < r->nzones; i++)
		if (strcmp(r->zones[i], tld) == 0)
			covered = true;
	return covered || name[0] == '\0' ? FORWARD : NXDOMAIN;
}

static void *
relay_main(void *arg)
{
	struct relay *r = arg;
	unsigned char pkt[65536];

	while (!r->stop) {
		struct pollfd pf[2] = { { r->cfd, POLLIN, 0 }, { r->ufd, POLLIN, 0 } };
		ssize_t n;

		if (poll(pf, 2, 100) <= 0)
			continue;
		if (pf[0].revents & POLLIN) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);

			size_t qend = 0;
			enum relay_action act = FORWARD;

			n = recvfrom(r->cfd, pkt, sizeof(pkt), 0, (struct sockaddr *)&from, &fl);
			if (n >= 12)
				act = relay_classify(r, pkt, (size_t)n, &qend);
			if (n >= 12 && act == NXDOMAIN) {
				/* header + question; QR, AA, RA, RCODE 3; no other sections */
				pkt[2] = (unsigned char)(0x84 | (pkt[2] & 0x79));
				pkt[3] = 0x83;
				memset(pkt + 6, 0, 6);
				(void)sendto(r->cfd, pkt, qend, 0, (struct sockaddr *)&from, fl);
			} else if (n >= 12 && act == FORWARD) {
				size_t k = r->next++ % MP_ARRAY_SIZE(r->map);

				r->map[k].id = (uint16_t)(pkt[0] << 8 | pkt[1]);
				r->map[k].used = true;
				r->map[k].from = from;
				r->map[k].fromlen = fl;
				(void)sendto(r->ufd, pkt, (size_t)n, 0, (struct sockaddr *)&r->up, sizeof(r->up));
			}
		}
		if (pf[1].revents & POLLIN) {
			n = recv(r->ufd, pkt, sizeof(pkt), 0);
			if (n >= 12) {
				uint16_t id = (uint16_t)(pkt[0] << 8 | pkt[1]);

				for (size_t k = 0; k < MP_ARRAY_SIZE(r->map); k++) {
					if (!r->map[k].used || r->map[k].id != id)
						continue;
					(void)sendto(r->cfd, pkt, (size_t)n, 0,
					    (struct sockaddr *)&r->map[k].from, r->map[k].fromlen);
					r->map[k].used = false;
					break;
				}
			}
		}
	}
	return NULL;
}

static bool
relay_start(struct relay *r, const char *resolver)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	const char *at = strchr(resolver, '@');
	char host[64];

	if (at == NULL || (size_t)(at - resolver) >= sizeof(host))
		return false;
	memcpy(host, resolver, (size_t)(at - resolver));
	host[at - resolver] = '\0';
	memset(&r->up, 0, sizeof(r->up));
	r->up.sin_family = AF_INET;
	r->up.sin_port = htons((uint16_t)atoi(at + 1));
	if (inet_pton(AF_INET, host, &r->up.sin_addr) != 1)
		return false;
	r->cfd = socket(AF_INET, SOCK_DGRAM, 0);
	r->ufd = socket(AF_INET, SOCK_DGRAM, 0);
	if (r->cfd < 0 || r->ufd < 0)
		return false;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(r->cfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(r->cfd, (struct sockaddr *)&a, &al) != 0)
		return false;
	r->port = ntohs(a.sin_port);
	return pthread_create(&r->th, NULL, relay_main, r) == 0;
}

static void
relay_stop(struct relay *r)
{
	r->stop = 1;
	pthread_join(r->th, NULL);
	close(r->cfd);
	close(r->ufd);
	for (size_t i = 0; i < r->ntn; i++) {
		free(r->tn[i].name);
		free(r->tn[i].types);
	}
	free(r->tn);
	for (size_t i = 0; i < r->nzones; i++)
		free(r->zones[i]);
	free(r->zones);
}

/* ---- known failures ---- */

struct known {
	char *id;
	char *cause;
};

static struct known *
load_known(const char *path, size_t *n_r)
{
	FILE *fp = fopen(path, "r");
	struct known *k = NULL;
	char line[2048];
	size_t n = 0;

	*n_r = 0;
	if (fp == NULL)
		return NULL;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *f[2];

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (split_tabs(line, f, 2) < 2)
			continue;
		k = xreallocarray(k, n + 1, sizeof(*k));
		k[n].id = xstrdup(f[0]);
		k[n].cause = xstrdup(f[1]);
		n++;
	}
	fclose(fp);
	*n_r = n;
	return k;
}

static bool
result_listed(const char *list, const char *r)
{
	const char *p = list;
	size_t n = strlen(r);

	while (*p) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && strncmp(p, r, n) == 0)
			return true;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return false;
}

/* DIR/timeouts.tsv: the names whose queries the relay never answers. */
static void
load_timeouts(struct relay *relay, const char *dir)
{
	char path[4096], line[8192];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/timeouts.tsv", dir);
	if ((fp = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *f[2];

		if (split_tabs(line, f, 2) < 2)
			continue;
		relay->tn = xreallocarray(relay->tn, relay->ntn + 1, sizeof(*relay->tn));
		relay->tn[relay->ntn].name = unescape(f[0]);
		relay->tn[relay->ntn].types = xasprintf(",%s,", f[1]);
		relay->ntn++;
	}
	fclose(fp);
}

/* DIR/zones/NAME.zone: the zones the scenario serves. */
static void
load_zones(struct relay *relay, const char *dir)
{
	char path[4096];
	struct dirent *de;
	DIR *zd;

	snprintf(path, sizeof(path), "%s/zones", dir);
	if ((zd = opendir(path)) == NULL)
		return;
	while ((de = readdir(zd)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l <= 5 || strcmp(de->d_name + l - 5, ".zone") != 0)
			continue;
		relay->zones = xreallocarray(relay->zones, relay->nzones + 1, sizeof(char *));
		relay->zones[relay->nzones] = xstrndup(de->d_name, l - 5);
		mp_ascii_lower(relay->zones[relay->nzones]);
		relay->nzones++;
	}
	closedir(zd);
}

/* One test case's fields, unescaped (free with case_free). */
struct spf_case {
	char *id, *host, *helo, *mailfrom, *expect, *exp;
	const char *todo;       /* known failure: its cause */
};

static void
case_free(struct spf_case *c)
{
	free(c->id);
	free(c->host);
	free(c->helo);
	free(c->mailfrom);
	free(c->expect);
	free(c->exp);
}

/* Does the outcome match? Explanations count for a fail only. */
static bool
case_ok(const struct spf_case *c, const struct mp_spf_outcome *out)
{
	if (!result_listed(c->expect, mp_spf_result_str(out->result)))
		return false;
	if (c->exp[0] == '\0' || out->result != MP_SPF_FAIL)
		return true;
	/* The suite's expected explanations: "DEFAULT" is the
	 * implementation's own (we give none); other text must match,
	 * ignoring case (the suite writes IPv6 nibbles in upper case). */
	if (strcmp(c->exp, "DEFAULT") == 0)
		return out->explanation[0] == '\0';
	return mp_strcasecmp(c->exp, out->explanation) == 0;
}

/* A '#' would start a TAP directive. */
static void
tap_safe(char *s)
{
	for (char *c = s; *c; c++)
		if (*c == '#')
			*c = '_';
}

/* Runs one case, each with a fresh resolver (nothing cached between
 * cases), and prints its TAP line. False on a resolver that cannot start. */
static bool
run_case(const struct relay *relay, const struct spf_case *c, bool *ok_r)
{
	char upstream[64], err[256];
	struct mp_dns_options opt = { 0 };
	struct mp_spf_outcome out;
	struct mp_deadline dl;
	struct mp_dns *dns;
	struct mp_spf *spf;
	const char *got;

	snprintf(upstream, sizeof(upstream), "127.0.0.1@%d", relay->port);
	opt.upstream = upstream;
	opt.timeout_ms = CASE_TIMEOUT_MS;
	if ((dns = mp_dns_new(&opt, err, sizeof(err))) == NULL) {
		printf("Bail out! resolver: %s\n", err);
		return false;
	}
	spf = mp_spf_new(dns);
	mp_deadline_set(&dl, CASE_DEADLINE_MS);
	if (c->mailfrom[0] != '\0')
		mp_spf_check_mailfrom(spf, &dl, c->host, c->helo, c->mailfrom, &out);
	else
		mp_spf_check_helo(spf, &dl, c->host, c->helo, &out);
	got = mp_spf_result_str(out.result);
	*ok_r = case_ok(c, &out);
	tap_safe(out.reason);
	tap_safe(out.explanation);
	printf("%s - %s: expected %s%s%s%s, got %s%s%s%s (%s)%s%s\n",
	    *ok_r ? "ok" : "not ok", c->id, c->expect,
	    c->exp[0] ? " \"" : "", c->exp, c->exp[0] ? "\"" : "",
	    got, out.explanation[0] ? " \"" : "", out.explanation,
	    out.explanation[0] ? "\"" : "", out.reason,
	    c->todo ? " # TODO " : "", c->todo ? c->todo : "");
	fflush(stdout);
	mp_spf_free(&spf);
	mp_dns_free(&dns);
	return true;
}

int
main(int argc, char **argv)
{
	struct relay relay;
	struct known *known;
	size_t nknown;
	char path[4096], line[8192], scen[256] = "?";
	FILE *fp;
	int total = 0, passed = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: spf-suite-run RESOLVER SCENARIO_DIR KNOWN_FAILURES\n");
		return 2;
	}
	memset(&relay, 0, sizeof(relay));
	load_timeouts(&relay, argv[2]);
	load_zones(&relay, argv[2]);
	if (!relay_start(&relay, argv[1])) {
		printf("Bail out! cannot start the DNS relay towards %s\n", argv[1]);
		return 99;
	}
	known = load_known(argv[3], &nknown);

	snprintf(path, sizeof(path), "%s/cases.tsv", argv[2]);
	if ((fp = fopen(path, "r")) == NULL) {
		printf("Bail out! cannot read %s\n", path);
		return 99;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		struct spf_case c = { 0 };
		char *f[7];
		bool ok;

		if (split_tabs(line, f, 7) < 7)
			continue;
		mp_strlcpy(scen, f[0], sizeof(scen));
		c.id = xasprintf("%s/%s", f[0], f[1]);
		c.host = unescape(f[2]);
		c.helo = unescape(f[3]);
		c.mailfrom = unescape(f[4]);
		c.expect = unescape(f[5]);
		c.exp = unescape(f[6]);
		for (size_t i = 0; i < nknown; i++)
			if (strcmp(known[i].id, c.id) == 0)
				c.todo = known[i].cause;
		if (!run_case(&relay, &c, &ok))
			return 99;
		total++;
		passed += ok;
		case_free(&c);
	}
	fclose(fp);
	printf("# scenario %s: %d of %d passed\n", scen, passed, total);
	relay_stop(&relay);
	for (size_t i = 0; i < nknown; i++) {
		free(known[i].id);
		free(known[i].cause);
	}
	free(known);
	return 0;
}
