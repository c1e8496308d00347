/*
 * probe: the SMTP checks. Four sessions run in parallel, each on its own
 * connection: TLS and AUTH; HELP and VRFY; EXPN; relay. Postfix counts
 * every 4xx/5xx reply against smtpd_soft_error_limit (10) and then
 * sleeps a second before each reply, so no session makes more than
 * about eight errors.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

#define PROBE_EHLO_NAME "mailposture-audit.invalid"
/* Destinations for the relay probe, tried in order (see audit_relay_foreign). */
static const char *const relay_foreign[] = { "example.net", "example.com", "example.org" };
#define RELAY_SENDER    "audit-probe@example.com"
#define XCLIENT_ADDR    "203.0.113.25"

static const char *const real_names[] = { "postmaster", "root", "admin", "info", "abuse" };
#define NRANDOM 2
#define NLOOKUP (MP_ARRAY_SIZE(real_names) + NRANDOM)

/* ---- parsers and judges (pure) ---- */

static bool
mech_valid(const char *m, size_t len)
{
	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)m[i];

		if (!isupper(ch) && !isdigit(ch) && ch != '-' && ch != '_')
			return false;
	}
	return true;
}

static void
add_word(char *list, size_t listlen, const char *w, size_t wlen, int *count)
{
	size_t have = strlen(list);
	const char *p = list;

	/* Deduplicate: AUTH and AUTH= usually list the same mechanisms. */
	while (*p != '\0') {
		const char *e = strchr(p, ' ');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == wlen && memcmp(p, w, wlen) == 0)
			return;
		p += l;
		while (*p == ' ')
			p++;
	}
	if (have + wlen + 2 > listlen)
		return;
	if (have > 0)
		list[have++] = ' ';
	memcpy(list + have, w, wlen);
	list[have + wlen] = '\0';
	if (count != NULL)
		(*count)++;
}

/* Splits params (after the keyword) into uppercase words and adds the valid ones. */
static void
add_mechs(struct audit_ehlo *e, const char *params)
{
	const char *p = params;

	while (*p != '\0') {
		char m[32];
		size_t l = 0;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		while (p[l] != '\0' && p[l] != ' ' && p[l] != '\t')
			l++;
		if (l < sizeof(m)) {
			for (size_t i = 0; i < l; i++)
				m[i] = (char)toupper((unsigned char)p[i]);
			m[l] = '\0';
			if (mech_valid(m, l) && e->nauth < AUDIT_MAX_AUTH)
				add_word(e->auth, sizeof(e->auth), m, l, &e->nauth);
		}
		p += l;
	}
}

bool
audit_ehlo_parse(const struct smtp_reply *r, struct audit_ehlo *e)
{
	struct mp_buf b = MP_BUF_INIT;

	memset(e, 0, sizeof(*e));
	if (r->code != 250 || r->nlines == 0)
		return false;
	e->valid = true;
	{
		const char *l = r->line[0];
		size_t n = strcspn(l, " \t");

		mp_printable(&b, l, n, 200);
		mp_strlcpy(e->name, mp_buf_str(&b), sizeof(e->name));
		mp_buf_reset(&b);
	}
	for (size_t i = 1; i < r->nlines; i++) {
		const char *l = r->line[i];
		char kw[64];
		size_t n = 0;
		const char *params;

		while (*l == ' ')
			l++;
		while (l[n] != '\0' && l[n] != ' ' && l[n] != '=' && n < sizeof(kw) - 1) {
			kw[n] = (char)toupper((unsigned char)l[n]);
			n++;
		}
		kw[n] = '\0';
		if (n == 0)
			continue;
		params = l + n;
		if (*params == '=' || *params == ' ')
			params++;
		mp_printable(&b, kw, n, 40);
		add_word(e->keywords, sizeof(e->keywords), mp_buf_str(&b), b.len, NULL);
		mp_buf_reset(&b);
		if (strcmp(kw, "AUTH") == 0) {
			add_mechs(e, params);
		} else if (strcmp(kw, "STARTTLS") == 0) {
			e->starttls = true;
		} else if (strcmp(kw, "PIPELINING") == 0) {
			e->pipelining = true;
		} else if (strcmp(kw, "VRFY") == 0) {
			e->vrfy = true;
		} else if (strcmp(kw, "ETRN") == 0) {
			e->etrn = true;
		} else if (strcmp(kw, "SMTPUTF8") == 0) {
			e->smtputf8 = true;
		} else if (strcmp(kw, "CHUNKING") == 0) {
			e->chunking = true;
		} else if (strcmp(kw, "DSN") == 0) {
			e->dsn = true;
		} else if (strcmp(kw, "8BITMIME") == 0) {
			e->eightbitmime = true;
		} else if (strcmp(kw, "SIZE") == 0) {
			char *end;
			unsigned long long v;

			e->has_size = true;
			if (isdigit((unsigned char)*params)) {
				v = strtoull(params, &end, 10);
				if (*end == '\0' || *end == ' ')
					e->size = v;
			}
		} else if (strcmp(kw, "XCLIENT") == 0) {
			e->xclient = true;
			for (const char *p = params; *p != '\0';) {
				char a[32];
				size_t al = 0;

				while (*p == ' ')
					p++;
				while (p[al] != '\0' && p[al] != ' ')
					al++;
				if (al > 0 && al < sizeof(a)) {
					for (size_t k = 0; k < al; k++)
						a[k] = (char)toupper((unsigned char)p[k]);
					a[al] = '\0';
					if (mech_valid(a, al))
						add_word(e->xclient_attrs, sizeof(e->xclient_attrs), a, al, NULL);
				}
				p += al;
			}
		}
	}
	mp_buf_free(&b);
	{
		/* PLAIN and LOGIN carry the password readably. */
		const char *p = e->auth;

		while (*p != '\0') {
			size_t l = strcspn(p, " ");

			if ((l == 5 && memcmp(p, "PLAIN", 5) == 0) || (l == 5 && memcmp(p, "LOGIN", 5) == 0))
				e->auth_plaintext = true;
			p += l;
			while (*p == ' ')
				p++;
		}
	}
	return true;
}

static const char *const software[] = {
	"postfix", "exim", "sendmail", "qmail", "opensmtpd", "microsoft", "exchange",
	"haraka", "zimbra", "mdaemon", "kerio", "courier", "communigate", "smartermail",
	"hmailserver", "axigen", "icewarp", "james", "lotus", "domino", "postini", "ironport",
};

bool
audit_text_names_software(const char *text, char *what, size_t whatlen)
{
	size_t tl = strlen(text);

	for (size_t i = 0; i < MP_ARRAY_SIZE(software); i++) {
		size_t sl = strlen(software[i]);

		for (size_t k = 0; k + sl <= tl; k++) {
			/* Whole words only: "sendmail" but not "nosendmailhere". */
			if (mp_strncasecmp(text + k, software[i], sl) != 0)
				continue;
			if (k > 0 && isalnum((unsigned char)text[k - 1]))
				continue;
			if (k + sl < tl && isalpha((unsigned char)text[k + sl]))
				continue;
			snprintf(what, whatlen, "software name \"%s\"", software[i]);
			return true;
		}
	}
	return false;
}

/* A token like 3.7.11, v8.15.2, 4.96-rc1; not an IPv4 address. */
static bool
is_version(const char *t, size_t len)
{
	size_t i = 0, parts = 0, dots = 0;
	bool quad = true;

	if (i < len && (t[i] == 'v' || t[i] == 'V'))
		i++;
	while (i < len) {
		size_t d = 0;
		unsigned long v = 0;

		while (i + d < len && isdigit((unsigned char)t[i + d])) {
			if (d < 6)
				v = v * 10 + (unsigned long)(t[i + d] - '0');
			d++;
		}
		if (d == 0)
			break;
		parts++;
		if (d > 3 || v > 255)
			quad = false;
		i += d;
		if (i < len && t[i] == '.' && i + 1 < len && isdigit((unsigned char)t[i + 1])) {
			dots++;
			i++;
			continue;
		}
		break;
	}
	if (parts < 2 || dots < 1)
		return false;
	if (parts == 4 && quad && i == len)
		return false;   /* an IPv4 address */
	/* The rest may be a suffix like -rc1, but not more of a hostname. */
	for (; i < len; i++)
		if (t[i] == '.')
			return false;
	return true;
}

/* An enhanced status code (RFC 3463: 2.0.0, 5.5.2), not a version. */
static bool
is_status_code(const char *t, size_t len)
{
	size_t i = 1, parts = 1;

	if (len < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') || t[1] != '.')
		return false;
	while (i < len) {
		size_t d = 0;

		if (t[i] != '.')
			return false;
		i++;
		while (i + d < len && isdigit((unsigned char)t[i + d]))
			d++;
		if (d == 0 || d > 3)
			return false;
		i += d;
		parts++;
	}
	return parts == 3;
}

bool
audit_text_discloses(const char *text, char *what, size_t whatlen)
{
	const char *p = text;
	char sw[64] = "";

	while (*p != '\0') {
		size_t l;

		while (*p != '\0' && strchr(" \t()[]/;,:=<>\"'", *p) != NULL)
			p++;
		l = strcspn(p, " \t()[]/;,:=<>\"'");
		if (l > 0 && is_version(p, l) && !is_status_code(p, l)) {
			struct mp_buf b = MP_BUF_INIT;

			mp_printable(&b, p, l, 40);
			if (audit_text_names_software(text, sw, sizeof(sw)))
				snprintf(what, whatlen, "%s and version \"%s\"", sw, mp_buf_str(&b));
			else
				snprintf(what, whatlen, "version \"%s\"", mp_buf_str(&b));
			mp_buf_free(&b);
			return true;
		}
		p += l;
	}
	return false;
}

/* The reply text with every occurrence of arg replaced by "*". */
static void
normalise(const char *text, const char *arg, struct mp_buf *out)
{
	size_t al = strlen(arg);

	for (const char *p = text; *p != '\0';) {
		if (al > 0 && mp_strncasecmp(p, arg, al) == 0) {
			mp_buf_putc(out, '*');
			p += al;
		} else {
			mp_buf_putc(out, *p++);
		}
	}
}

static char *
answer_key(const struct audit_answer *a)
{
	struct mp_buf b = MP_BUF_INIT;

	mp_buf_printf(&b, "%d ", a->code);
	normalise(a->text ? a->text : "", a->arg, &b);
	return mp_buf_steal(&b);
}

enum audit_status
audit_judge_lookup(const char *cmd, const struct audit_answer *a, size_t n,
    char *finding, size_t findinglen)
{
	char *base = NULL;
	size_t nreal = 0, nrandom = 0, leaks = 0;
	bool random_disagree = false;
	struct mp_buf leaked = MP_BUF_INIT;
	enum audit_status st;

	for (size_t i = 0; i < n; i++) {
		char *k;

		if (a[i].real || a[i].err != SMTP_OK)
			continue;
		k = answer_key(&a[i]);
		nrandom++;
		if (base == NULL)
			base = k;
		else {
			if (strcmp(k, base) != 0)
				random_disagree = true;
			free(k);
		}
	}
	if (base == NULL) {
		snprintf(finding, findinglen, "no usable answer to %s for random names", cmd);
		return AUDIT_NOT_TESTED;
	}
	for (size_t i = 0; i < n; i++) {
		char *k;

		if (!a[i].real || a[i].err != SMTP_OK)
			continue;
		nreal++;
		k = answer_key(&a[i]);
		if (strcmp(k, base) != 0) {
			leaks++;
			if (leaked.len > 0)
				mp_buf_puts(&leaked, ", ");
			mp_buf_printf(&leaked, "%s %d", a[i].arg, a[i].code);
		}
		free(k);
	}
	if (nreal == 0) {
		snprintf(finding, findinglen, "no usable answer to %s for likely-real names", cmd);
		st = AUDIT_NOT_TESTED;
	} else if (leaks > 0) {
		/* The base answer starts with its code. */
		snprintf(finding, findinglen,
		    "users can be enumerated: %s answers differ between real and random names (%s; random names %.3s)",
		    cmd, mp_buf_str(&leaked), base);
		st = AUDIT_FAIL;
	} else if (random_disagree) {
		snprintf(finding, findinglen,
		    "%s answers differ among random names (rate limiting?): no conclusion", cmd);
		st = AUDIT_WARN;
	} else {
		struct mp_buf pr = MP_BUF_INIT;

		mp_printable(&pr, base, strlen(base), 120);
		snprintf(finding, findinglen, "uniform answer to %zu real and %zu random names: %s",
		    nreal, nrandom, mp_buf_str(&pr));
		mp_buf_free(&pr);
		st = AUDIT_PASS;
	}
	free(base);
	mp_buf_free(&leaked);
	return st;
}

size_t
audit_relay_forms(const char *own, const char *foreign, struct audit_relay_try *t, size_t max)
{
	size_t n = 0;
	bool have_own = own != NULL && *own != '\0';

#define FORM(name, mailv, is_foreign, ...) do { \
	if (n < max) { \
		memset(&t[n], 0, sizeof(t[n])); \
		t[n].form = name; \
		snprintf(t[n].mail, sizeof(t[n].mail), "%s", mailv); \
		snprintf(t[n].rcpt, sizeof(t[n].rcpt), __VA_ARGS__); \
		t[n].foreign = is_foreign; \
		n++; \
	} } while (0)

	FORM("plain", "<" RELAY_SENDER ">", true, "<relaytest@%s>", foreign);
	FORM("null sender", "<>", true, "<relaytest@%s>", foreign);
	FORM("quoted local part", "<" RELAY_SENDER ">", true, "<\"relaytest@%s\">", foreign);
	FORM("bang path", "<" RELAY_SENDER ">", true, "<%s!relaytest>", foreign);
	if (have_own) {
		FORM("local sender", "<postmaster@", true, "<relaytest@%s>", foreign);
		snprintf(t[n - 1].mail, sizeof(t[n - 1].mail), "<postmaster@%s>", own);
		FORM("%-hack", "<" RELAY_SENDER ">", false, "<relaytest%%%s@%s>", foreign, own);
		FORM("quoted local part at our domain", "<" RELAY_SENDER ">", false,
		    "<\"relaytest@%s\"@%s>", foreign, own);
		FORM("source route", "<" RELAY_SENDER ">", true, "<@%s:relaytest@%s>", own, foreign);
		FORM("bang path at our domain", "<" RELAY_SENDER ">", false, "<%s!relaytest@%s>",
		    foreign, own);
		FORM("double @", "<" RELAY_SENDER ">", false, "<relaytest@%s@%s>", foreign, own);
	}
#undef FORM
	return n;
}

enum audit_status
audit_judge_relay(const struct audit_relay_try *t, size_t n, char *finding, size_t findinglen)
{
	struct mp_buf open = MP_BUF_INIT, local = MP_BUF_INIT;
	size_t tested = 0;
	enum audit_status st;

	for (size_t i = 0; i < n; i++) {
		bool accepted;

		if (t[i].err != SMTP_OK && t[i].rcpt_code == 0 && t[i].mail_code == 0)
			continue;
		tested++;
		accepted = t[i].mail_code >= 200 && t[i].mail_code < 300 &&
		    t[i].rcpt_code >= 200 && t[i].rcpt_code < 300;
		if (!accepted)
			continue;
		if (t[i].foreign) {
			if (open.len > 0)
				mp_buf_puts(&open, ", ");
			mp_buf_printf(&open, "%s RCPT TO:%s", t[i].form, t[i].rcpt);
		} else {
			if (local.len > 0)
				mp_buf_puts(&local, ", ");
			mp_buf_printf(&local, "%s RCPT TO:%s", t[i].form, t[i].rcpt);
		}
	}
	if (tested == 0) {
		snprintf(finding, findinglen, "no relay form could be tried");
		st = AUDIT_NOT_TESTED;
	} else if (open.len > 0) {
		snprintf(finding, findinglen, "open relay: accepted %s", mp_buf_str(&open));
		st = AUDIT_FAIL;
	} else if (local.len > 0) {
		snprintf(finding, findinglen,
		    "refused to relay, but accepted addresses at our domain that encode a foreign one "
		    "(%s): safe only if they are delivered locally", mp_buf_str(&local));
		st = AUDIT_WARN;
	} else {
		snprintf(finding, findinglen, "refused all %zu relay forms", tested);
		st = AUDIT_PASS;
	}
	mp_buf_free(&open);
	mp_buf_free(&local);
	return st;
}

/* Parses "a.b.c.d/len" or "[v6]/len" or a bare address into family, bytes, prefix. */
static bool
parse_net(const char *s, size_t len, int *af_r, unsigned char addr_r[16], int *plen_r)
{
	char buf[80];
	char *slash;
	int plen = -1;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	slash = strchr(buf, '/');
	if (slash != NULL) {
		char *end;
		long v;

		*slash++ = '\0';
		v = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || v < 0 || v > 128)
			return false;
		plen = (int)v;
	}
	{
		char *a = buf;
		size_t al = strlen(a);

		if (a[0] == '[' && al >= 2 && a[al - 1] == ']') {
			a[al - 1] = '\0';
			a++;
		}
		if (inet_pton(AF_INET, a, addr_r) == 1) {
			*af_r = AF_INET;
			if (plen > 32)
				return false;
			*plen_r = plen < 0 ? 32 : plen;
			return true;
		}
		if (inet_pton(AF_INET6, a, addr_r) == 1) {
			*af_r = AF_INET6;
			*plen_r = plen < 0 ? 128 : plen;
			return true;
		}
	}
	return false;
}

static bool
prefix_match(const unsigned char *a, const unsigned char *b, int plen)
{
	int full = plen / 8, rest = plen % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

/* Calls fn for each parsable network of a mynetworks value; stops when it returns true. */
static bool
each_net(const char *networks, bool (*fn)(int af, const unsigned char *net, int plen,
    const char *tok, size_t toklen, void *arg), void *arg)
{
	const char *p = networks;

	while (p != NULL && *p != '\0') {
		size_t l;
		int af, plen;
		unsigned char net[16];

		while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n')
			p++;
		l = strcspn(p, " ,\t\n");
		if (l > 0 && parse_net(p, l, &af, net, &plen) && fn(af, net, plen, p, l, arg))
			return true;
		p += l;
	}
	return false;
}

struct match_arg {
	int af;
	unsigned char addr[16];
};

static bool
net_contains(int af, const unsigned char *net, int plen, const char *tok, size_t toklen, void *arg)
{
	const struct match_arg *m = arg;

	(void)tok;
	(void)toklen;
	return af == m->af && prefix_match(net, m->addr, plen);
}

bool
audit_addr_in_networks(const char *addr, const char *networks)
{
	struct match_arg m;

	if (inet_pton(AF_INET, addr, m.addr) == 1) {
		m.af = AF_INET;
	} else if (inet_pton(AF_INET6, addr, m.addr) == 1) {
		m.af = AF_INET6;
		/* An IPv4-mapped peer is judged as IPv4. */
		if (memcmp(m.addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
			memmove(m.addr, m.addr + 12, 4);
			m.af = AF_INET;
		}
	} else {
		return false;
	}
	return each_net(networks, net_contains, &m);
}

struct wide_arg {
	char *which;
	size_t whichlen;
};

static bool
net_wide(int af, const unsigned char *net, int plen, const char *tok, size_t toklen, void *arg)
{
	struct wide_arg *w = arg;

	(void)net;
	if ((af == AF_INET && plen < 8) || (af == AF_INET6 && plen < 16)) {
		snprintf(w->which, w->whichlen, "%.*s", (int)(toklen < 80 ? toklen : 80), tok);
		return true;
	}
	return false;
}

bool
audit_networks_too_wide(const char *networks, char *which, size_t whichlen)
{
	struct wide_arg w = { which, whichlen };

	return each_net(networks, net_wide, &w);
}

/* ---- sessions ---- */

struct step {
	char cmd[320];
	enum smtp_err err;
	int code;
	char *text;             /* printable reply text, lines joined */
};

struct session {
	const struct audit_probe_opts *o;
	struct smtp_conn *c;
	enum smtp_err err;      /* first error that ended the session */
	char errtext[300];
	char where[64];         /* what we were doing then */
	unsigned long long connect_ms;
	struct smtp_reply banner, ehlo;
	struct audit_ehlo eh;
	char local[64], peer[64];
};

static void
reply_text(const struct smtp_reply *r, struct mp_buf *out)
{
	for (size_t i = 0; i < r->nlines; i++) {
		if (i > 0)
			mp_buf_puts(out, " / ");
		mp_buf_puts(out, r->line[i]);
	}
}

static void
fail_session(struct session *s, enum smtp_err e, const char *where)
{
	if (s->err != SMTP_OK)
		return;
	s->err = e;
	/* Both are for the report only: a cut is fine. */
	mp_strlcpy(s->where, where, sizeof(s->where));
	mp_strlcpy(s->errtext, s->c ? smtp_error(s->c) : "", sizeof(s->errtext));
}

/* Connects, reads the banner, says EHLO. False when the session ended. */
static bool
session_open(struct session *s, const char *ehlo_name)
{
	char err[256];
	unsigned long long t0 = mp_now_ms();
	enum smtp_err e;

	s->c = smtp_connect(s->o->host, s->o->port, s->o->source, s->o->timeout_ms, err, sizeof(err));
	if (s->c == NULL) {
		s->err = SMTP_ERR_CONNECT;
		snprintf(s->where, sizeof(s->where), "connect");
		snprintf(s->errtext, sizeof(s->errtext), "%s", err);
		return false;
	}
	s->connect_ms = mp_now_ms() - t0;
	snprintf(s->local, sizeof(s->local), "%s", smtp_local_addr(s->c));
	snprintf(s->peer, sizeof(s->peer), "%s", smtp_peer_addr(s->c));
	if ((e = smtp_read_reply(s->c, &s->banner)) != SMTP_OK) {
		fail_session(s, e, "banner");
		return false;
	}
	if (s->banner.code != 220) {
		s->err = SMTP_ERR_CLOSED;
		snprintf(s->where, sizeof(s->where), "banner");
		snprintf(s->errtext, sizeof(s->errtext), "the banner is not 220: %d", s->banner.code);
		return false;
	}
	{
		char *cmd = xasprintf("EHLO %s", ehlo_name);

		e = smtp_command(s->c, cmd, &s->ehlo);
		free(cmd);
	}
	if (e != SMTP_OK) {
		fail_session(s, e, "EHLO");
		return false;
	}
	audit_ehlo_parse(&s->ehlo, &s->eh);
	return true;
}

static void
session_close(struct session *s)
{
	if (s->c != NULL && s->err == SMTP_OK) {
		struct smtp_reply r = { 0 };

		(void)smtp_command(s->c, "QUIT", &r);
		smtp_reply_clear(&r);
	}
	smtp_close(&s->c);
	smtp_reply_clear(&s->banner);
	smtp_reply_clear(&s->ehlo);
}

static bool
run_step(struct session *s, struct step *st)
{
	struct smtp_reply r = { 0 };
	struct mp_buf b = MP_BUF_INIT;

	st->err = smtp_command(s->c, st->cmd, &r);
	if (st->err != SMTP_OK) {
		fail_session(s, st->err, st->cmd);
		return false;
	}
	st->code = r.code;
	reply_text(&r, &b);
	st->text = mp_buf_steal(&b);
	smtp_reply_clear(&r);
	return true;
}

static void
random_name(char *out, size_t outlen)
{
	unsigned char rnd[5];

	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		unsigned long long t = mp_now_ms() ^ ((unsigned long long)getpid() << 20);

		memcpy(rnd, &t, sizeof(rnd));
	}
	snprintf(out, outlen, "mpa%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4]);
}

/* Session A: banner, EHLO, STARTTLS (with the injection test), EHLO again. */
struct tls_session {
	struct session s;
	bool tried;
	struct smtp_reply starttls;
	enum smtp_err tls_err;
	char tls_errtext[300];
	size_t leftover;
	bool injected;
	struct smtp_tls_info info;
	bool name_checked, name_ok;
	char name_used[256];
	struct smtp_reply ehlo2;
	struct audit_ehlo eh2;
	enum smtp_err ehlo2_err;
};

static void *
tls_thread(void *arg)
{
	struct tls_session *t = arg;
	struct session *s = &t->s;
	enum smtp_err e;

	if (!session_open(s, PROBE_EHLO_NAME) || !s->eh.starttls)
		return NULL;
	t->tried = true;
	{
		const char *sni = s->o->tls_name;

		if (sni == NULL || *sni == '\0')
			sni = s->eh.name;
		snprintf(t->name_used, sizeof(t->name_used), "%s", sni);
		e = smtp_starttls(s->c, sni, true, &t->starttls, &t->leftover, &t->injected, &t->info);
	}
	t->tls_err = e;
	if (e != SMTP_OK) {
		snprintf(t->tls_errtext, sizeof(t->tls_errtext), "%s", smtp_error(s->c));
		fail_session(s, e, "STARTTLS");
		return NULL;
	}
	if (t->starttls.code != 220)
		return NULL;
	if (t->name_used[0] != '\0') {
		t->name_checked = true;
		t->name_ok = smtp_tls_name_matches(s->c, t->name_used);
	}
	e = smtp_command(s->c, "EHLO " PROBE_EHLO_NAME, &t->ehlo2);
	t->ehlo2_err = e;
	if (e != SMTP_OK) {
		fail_session(s, e, "EHLO after STARTTLS");
		return NULL;
	}
	audit_ehlo_parse(&t->ehlo2, &t->eh2);
	return NULL;
}

/* Session B or C: HELP (B only), then VRFY or EXPN with real and random names. */
struct lookup_session {
	struct session s;
	const char *verb;
	bool help;
	struct step help_step;
	char names[NLOOKUP][32];
	struct step step[NLOOKUP];
	size_t nsteps;
};

static void *
lookup_thread(void *arg)
{
	struct lookup_session *l = arg;
	struct session *s = &l->s;
	size_t k = 0;

	for (size_t i = 0; i < MP_ARRAY_SIZE(real_names); i++)
		snprintf(l->names[k++], sizeof(l->names[0]), "%s", real_names[i]);
	for (size_t i = 0; i < NRANDOM; i++)
		random_name(l->names[k++], sizeof(l->names[0]));
	if (!session_open(s, PROBE_EHLO_NAME))
		return NULL;
	if (l->help) {
		snprintf(l->help_step.cmd, sizeof(l->help_step.cmd), "HELP");
		if (!run_step(s, &l->help_step))
			return NULL;
	}
	for (size_t i = 0; i < NLOOKUP; i++) {
		snprintf(l->step[i].cmd, sizeof(l->step[i].cmd), "%s %s", l->verb, l->names[i]);
		l->nsteps = i + 1;
		if (!run_step(s, &l->step[i]))
			return NULL;
		/* A server that says 421 is hanging up: stop asking. */
		if (l->step[i].code == 421)
			return NULL;
	}
	return NULL;
}

/* Session D: relay forms from an untrusted source. */
#define MAX_RELAY 12
#define RELAY_PER_CONN 5

struct relay_session {
	struct session s;
	const char *foreign;            /* the probe's destination, NULL: none usable */
	const char *mode;               /* how the source was made untrusted */
	bool trusted;                   /* the test could only come from a trusted source */
	char trust_why[200];
	struct audit_relay_try t[MAX_RELAY];
	size_t n;
	char xclient_reply[300];
};

static bool
is_loopback(const char *a)
{
	return strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0 ||
	    strncmp(a, "::ffff:127.", 11) == 0;
}

/* Opens a relay connection; with XCLIENT, re-greets as XCLIENT_ADDR. */
static bool
relay_open(struct relay_session *rs)
{
	struct session *s = &rs->s;
	struct smtp_reply r = { 0 };
	enum smtp_err e;

	if (!session_open(s, PROBE_EHLO_NAME))
		return false;
	if (rs->mode == NULL) {
		/* Decide once, on the first connection. */
		const struct audit_probe_opts *o = s->o;

		if (o->source != NULL && *o->source != '\0') {
			rs->mode = "--source";
		} else if (s->eh.xclient && strstr(s->eh.xclient_attrs, "ADDR") != NULL) {
			rs->mode = "XCLIENT";
		} else if (o->mynetworks != NULL && audit_addr_in_networks(s->local, o->mynetworks)) {
			rs->trusted = true;
			snprintf(rs->trust_why, sizeof(rs->trust_why),
			    "the source %s is in mynetworks", s->local);
		} else if (o->mynetworks == NULL && (is_loopback(s->local) || strcmp(s->local, s->peer) == 0)) {
			rs->trusted = true;
			snprintf(rs->trust_why, sizeof(rs->trust_why),
			    "the source %s is this host, which MTAs trust by default", s->local);
		} else {
			rs->mode = "direct";
		}
		if (rs->trusted)
			return false;
	}
	if (strcmp(rs->mode, "XCLIENT") != 0)
		return true;
	e = smtp_command(s->c, "XCLIENT ADDR=" XCLIENT_ADDR " NAME=[UNAVAILABLE]", &r);
	if (e == SMTP_OK) {
		struct mp_buf b = MP_BUF_INIT;

		mp_buf_printf(&b, "%d ", r.code);
		reply_text(&r, &b);
		snprintf(rs->xclient_reply, sizeof(rs->xclient_reply), "%s", mp_buf_str(&b));
		mp_buf_free(&b);
	}
	if (e != SMTP_OK || r.code != 220) {
		smtp_reply_clear(&r);
		if (e == SMTP_OK) {
			s->err = SMTP_ERR_CLOSED;
			snprintf(s->where, sizeof(s->where), "XCLIENT");
			snprintf(s->errtext, sizeof(s->errtext), "XCLIENT refused: %.250s", rs->xclient_reply);
		} else {
			fail_session(s, e, "XCLIENT");
		}
		return false;
	}
	smtp_reply_clear(&r);
	e = smtp_command(s->c, "EHLO " PROBE_EHLO_NAME, &r);
	smtp_reply_clear(&r);
	if (e != SMTP_OK) {
		fail_session(s, e, "EHLO after XCLIENT");
		return false;
	}
	return true;
}

/* True when domain is one of the served list's domains or below one. */
static bool
served_by(const char *served, const char *domain)
{
	const char *p = served ? served : "";

	while (*p) {
		char tok[MP_DOMAIN_MAX], norm[MP_DOMAIN_MAX];
		const char *why;
		size_t n;

		p += strspn(p, " ,\t\r\n");
		n = strcspn(p, " ,\t\r\n");
		if (n > 0 && n < sizeof(tok)) {
			memcpy(tok, p, n);
			tok[n] = '\0';
			/* Lookup tables (hash:...) and unexpanded $names are not domains. */
			if (strpbrk(tok, ":$/") == NULL &&
			    mp_domain_normalize_ex(tok, n, norm, MP_DOMAIN_ALLOW_SINGLE, &why) &&
			    mp_domain_is_sub_or_same(domain, norm))
				return true;
		}
		p += n;
	}
	return false;
}

const char *
audit_relay_foreign(const char *served, const char *own)
{
	for (size_t i = 0; i < MP_ARRAY_SIZE(relay_foreign); i++) {
		const char *d = relay_foreign[i];

		if (served_by(served, d))
			continue;
		if (own && *own && (mp_domain_is_sub_or_same(d, own) || mp_domain_is_sub_or_same(own, d)))
			continue;
		return d;
	}
	return NULL;
}

static void *
relay_thread(void *arg)
{
	struct relay_session *rs = arg;
	struct session *s = &rs->s;

	rs->foreign = audit_relay_foreign(s->o->served, s->o->domain);
	if (rs->foreign == NULL)
		return NULL;
	rs->n = audit_relay_forms(s->o->domain, rs->foreign, rs->t, MAX_RELAY);
	for (size_t i = 0; i < rs->n; i++) {
		struct audit_relay_try *t = &rs->t[i];
		struct smtp_reply r = { 0 };
		struct mp_buf b = MP_BUF_INIT;
		char *cmd;

		if (i % RELAY_PER_CONN == 0) {
			if (i > 0)
				session_close(s);
			if (!relay_open(rs))
				return NULL;
		}
		cmd = xasprintf("MAIL FROM:%s", t->mail);
		t->err = smtp_command(s->c, cmd, &r);
		free(cmd);
		if (t->err != SMTP_OK) {
			fail_session(s, t->err, "MAIL FROM");
			return NULL;
		}
		t->mail_code = r.code;
		reply_text(&r, &b);
		mp_strlcpy(t->mail_text, mp_buf_str(&b), sizeof(t->mail_text));
		mp_buf_reset(&b);
		smtp_reply_clear(&r);
		if (t->mail_code >= 200 && t->mail_code < 300) {
			cmd = xasprintf("RCPT TO:%s", t->rcpt);
			t->err = smtp_command(s->c, cmd, &r);
			free(cmd);
			if (t->err != SMTP_OK) {
				fail_session(s, t->err, "RCPT TO");
				mp_buf_free(&b);
				return NULL;
			}
			t->rcpt_code = r.code;
			reply_text(&r, &b);
			mp_strlcpy(t->rcpt_text, mp_buf_str(&b), sizeof(t->rcpt_text));
			smtp_reply_clear(&r);
		}
		mp_buf_free(&b);
		/* Never DATA: RSET ends the transaction. */
		t->err = smtp_command(s->c, "RSET", &r);
		smtp_reply_clear(&r);
		if (t->err != SMTP_OK) {
			fail_session(s, t->err, "RSET");
			return NULL;
		}
	}
	return NULL;
}

/* ---- judging ---- */

static void
session_evidence(struct audit_report *r, enum audit_check_id id, const struct session *s)
{
	if (s->err != SMTP_OK)
		audit_evidence(r, id, "session ended at %s: %s (%s)", s->where, smtp_err_str(s->err),
		    s->errtext);
}

static void
judge_service(struct audit_report *r, const struct tls_session *t)
{
	const struct session *s = &t->s;
	struct mp_buf b = MP_BUF_INIT;

	if (s->banner.nlines > 0) {
		smtp_reply_print(&s->banner, &b, 400);
		audit_evidence(r, CHK_SMTP, "banner: %s", mp_buf_str(&b));
		mp_buf_reset(&b);
	}
	if (s->err == SMTP_ERR_CONNECT) {
		audit_set(r, CHK_SMTP, AUDIT_FAIL, "cannot connect: %s", s->errtext);
		audit_fix(r, CHK_SMTP, "Check that the MTA runs and listens on %s port %s "
		    "(Postfix: inet_interfaces, master.cf smtp service).", s->o->host, s->o->port);
	} else if (s->banner.nlines == 0 || s->banner.code != 220) {
		audit_set(r, CHK_SMTP, AUDIT_FAIL, "%s before a usable banner: %s",
		    s->err == SMTP_OK ? "no 220 greeting" : smtp_err_str(s->err), s->errtext);
		audit_fix(r, CHK_SMTP, "The server must greet with 220 within the timeout; look for a "
		    "proxy, a firewall or a non-SMTP service on this port.");
	} else if (s->err != SMTP_OK && strcmp(s->where, "STARTTLS") != 0) {
		audit_set(r, CHK_SMTP, AUDIT_FAIL, "session broke at %s: %s", s->where,
		    smtp_err_str(s->err));
		audit_evidence(r, CHK_SMTP, "%s", s->errtext);
		audit_fix(r, CHK_SMTP, "Look in the mail log for the reason the server ended the session.");
	} else if (!s->eh.valid) {
		smtp_reply_print(&s->ehlo, &b, 300);
		audit_set(r, CHK_SMTP, AUDIT_FAIL, "EHLO refused: %s", mp_buf_str(&b));
		audit_fix(r, CHK_SMTP, "A server must accept EHLO (RFC 5321 4.1.1.1).");
	} else {
		audit_set(r, CHK_SMTP, AUDIT_PASS, "greeted with 220 and accepted EHLO (connect %llu ms)",
		    s->connect_ms);
	}
	mp_buf_free(&b);
}

static void
judge_banner(struct audit_report *r, const struct tls_session *t)
{
	const struct session *s = &t->s;
	struct mp_buf b = MP_BUF_INIT;
	char what[128];

	if (s->banner.code != 220 || s->banner.nlines == 0) {
		audit_set(r, CHK_BANNER, AUDIT_NOT_TESTED, "no banner");
		return;
	}
	reply_text(&s->banner, &b);
	{
		const char *l = s->banner.line[0];
		struct mp_buf n = MP_BUF_INIT;

		mp_printable(&n, l, strcspn(l, " \t"), 200);
		mp_strlcpy(r->banner_name, mp_buf_str(&n), sizeof(r->banner_name));
		mp_buf_free(&n);
	}
	audit_evidence(r, CHK_BANNER, "220 %s", mp_buf_str(&b));
	if (audit_text_discloses(mp_buf_str(&b), what, sizeof(what))) {
		audit_set(r, CHK_BANNER, AUDIT_WARN, "the banner discloses the %s", what);
		audit_fix(r, CHK_BANNER, "Postfix: smtpd_banner = $myhostname ESMTP");
	} else if (audit_text_names_software(mp_buf_str(&b), what, sizeof(what))) {
		audit_set(r, CHK_BANNER, AUDIT_PASS, "no version disclosed (names the %s only)", what);
		audit_fix(r, CHK_BANNER, "Optional: smtpd_banner = $myhostname ESMTP");
	} else {
		audit_set(r, CHK_BANNER, AUDIT_PASS, "no software version disclosed");
	}
	mp_buf_free(&b);
}

static void
judge_ehlo(struct audit_report *r, const struct tls_session *t)
{
	const struct session *s = &t->s;
	const struct audit_ehlo *e = &s->eh;
	struct mp_buf b = MP_BUF_INIT;

	if (!e->valid) {
		audit_set(r, CHK_EHLO, AUDIT_NOT_TESTED, "no EHLO reply");
		return;
	}
	mp_strlcpy(r->helo_name, e->name, sizeof(r->helo_name));
	smtp_reply_print(&s->ehlo, &b, 1000);
	audit_evidence(r, CHK_EHLO, "%s", mp_buf_str(&b));
	audit_set(r, CHK_EHLO, AUDIT_INFO, "%s announces: %s%s%s%s", e->name, e->keywords,
	    e->has_size ? "" : " (no SIZE)",
	    e->size > 0 ? "" : "", e->xclient ? " (XCLIENT offered to us)" : "");
	if (e->has_size && e->size > 0)
		audit_evidence(r, CHK_EHLO, "SIZE limit: %llu bytes", e->size);
	mp_buf_free(&b);
}

static void
judge_help(struct audit_report *r, const struct lookup_session *l)
{
	const struct step *h = &l->help_step;
	char what[128];

	if (h->text == NULL) {
		audit_set(r, CHK_HELP, AUDIT_NOT_TESTED, "no answer to HELP");
		session_evidence(r, CHK_HELP, &l->s);
		return;
	}
	audit_evidence(r, CHK_HELP, "HELP -> %d %s", h->code, h->text);
	if (audit_text_discloses(h->text, what, sizeof(what))) {
		audit_set(r, CHK_HELP, AUDIT_WARN, "HELP discloses the %s", what);
		audit_fix(r, CHK_HELP, "Remove the version from the HELP text of the MTA.");
	} else if (h->code >= 500) {
		audit_set(r, CHK_HELP, AUDIT_PASS, "HELP not offered: %d %s", h->code, h->text);
	} else {
		audit_set(r, CHK_HELP, AUDIT_PASS, "HELP answers without disclosing a version");
	}
}

static void
judge_lookup(struct audit_report *r, enum audit_check_id id, const struct lookup_session *l,
    bool announced)
{
	struct audit_answer a[NLOOKUP];
	char finding[512];
	enum audit_status st;

	for (size_t i = 0; i < l->nsteps; i++) {
		a[i].arg = l->names[i];
		a[i].real = i < MP_ARRAY_SIZE(real_names);
		a[i].err = l->step[i].err;
		a[i].code = l->step[i].code;
		a[i].text = l->step[i].text;
		if (l->step[i].text != NULL)
			audit_evidence(r, id, "%s %s -> %d %s", l->verb, l->names[i],
			    l->step[i].code, l->step[i].text);
	}
	session_evidence(r, id, &l->s);
	st = audit_judge_lookup(l->verb, a, l->nsteps, finding, sizeof(finding));
	if (id == CHK_VRFY && !announced && st != AUDIT_NOT_TESTED)
		audit_evidence(r, id, "VRFY is not announced in EHLO, but the server answers it");
	audit_set(r, id, st, "%s", finding);
	if (st == AUDIT_FAIL || st == AUDIT_WARN) {
		if (id == CHK_VRFY)
			audit_fix(r, id, "Postfix: disable_vrfy_command = yes (answers 502 to every VRFY)");
		else
			audit_fix(r, id, "Disable EXPN in the MTA (Postfix never implements it; "
			    "Sendmail: O PrivacyOptions=goaway).");
	}
}

static void
judge_tls(struct audit_report *r, const struct tls_session *t)
{
	const struct session *s = &t->s;
	const struct smtp_tls_info *i = &t->info;
	struct mp_buf b = MP_BUF_INIT;

	if (!s->eh.valid) {
		audit_set(r, CHK_STARTTLS, AUDIT_NOT_TESTED, "no EHLO reply");
		audit_set(r, CHK_TLS_CERT, AUDIT_NOT_TESTED, "no TLS session");
		audit_set(r, CHK_TLS_INJECT, AUDIT_NOT_TESTED, "no TLS session");
		return;
	}
	if (!s->eh.starttls) {
		audit_set(r, CHK_STARTTLS, AUDIT_FAIL, "STARTTLS is not offered");
		audit_fix(r, CHK_STARTTLS, "Postfix: smtpd_tls_cert_file, smtpd_tls_key_file and "
		    "smtpd_tls_security_level = may");
		audit_set(r, CHK_TLS_CERT, AUDIT_NOT_TESTED, "no STARTTLS");
		audit_set(r, CHK_TLS_INJECT, AUDIT_NOT_TESTED, "no STARTTLS");
		return;
	}
	if (t->starttls.nlines > 0) {
		smtp_reply_print(&t->starttls, &b, 300);
		audit_evidence(r, CHK_STARTTLS, "STARTTLS -> %s", mp_buf_str(&b));
	}
	if (t->tls_err != SMTP_OK || t->starttls.code != 220) {
		audit_set(r, CHK_STARTTLS, AUDIT_FAIL, "STARTTLS is announced but %s",
		    t->tls_err != SMTP_OK ? t->tls_errtext : "refused");
		audit_fix(r, CHK_STARTTLS, "Check smtpd_tls_cert_file/smtpd_tls_key_file and the mail log "
		    "for TLS errors.");
		audit_set(r, CHK_TLS_CERT, AUDIT_NOT_TESTED, "no TLS session");
		audit_set(r, CHK_TLS_INJECT, AUDIT_NOT_TESTED, "no TLS session");
		mp_buf_free(&b);
		return;
	}
	audit_evidence(r, CHK_STARTTLS, "protocol %s, cipher %s (%d bits)", i->protocol, i->cipher, i->bits);
	if (strcmp(i->protocol, "TLSv1.2") != 0 && strcmp(i->protocol, "TLSv1.3") != 0) {
		audit_set(r, CHK_STARTTLS, AUDIT_WARN, "STARTTLS works, but negotiated %s", i->protocol);
		audit_fix(r, CHK_STARTTLS, "Postfix: smtpd_tls_protocols = >=TLSv1.2");
	} else {
		audit_set(r, CHK_STARTTLS, AUDIT_PASS, "%s with %s", i->protocol, i->cipher);
	}
	if (t->leftover > 0)
		audit_evidence(r, CHK_STARTTLS, "the server sent %zu plaintext bytes after its 220 "
		    "(discarded)", t->leftover);

	/* Certificate. */
	audit_evidence(r, CHK_TLS_CERT, "subject: %s", i->subject);
	audit_evidence(r, CHK_TLS_CERT, "issuer: %s", i->issuer);
	if (i->names[0] != '\0')
		audit_evidence(r, CHK_TLS_CERT, "DNS names: %s", i->names);
	audit_evidence(r, CHK_TLS_CERT, "chain (%d): %s", i->chain_len, i->chain);
	audit_evidence(r, CHK_TLS_CERT, "expires: %s (%ld days)", i->not_after, i->days_left);
	audit_evidence(r, CHK_TLS_CERT, "verification: %s", i->verify_str);
	if (t->name_checked)
		audit_evidence(r, CHK_TLS_CERT, "name %s: %s", t->name_used,
		    t->name_ok ? "matches" : "does not match");
	if (i->expired) {
		audit_set(r, CHK_TLS_CERT, AUDIT_FAIL, "the certificate expired on %s", i->not_after);
		audit_fix(r, CHK_TLS_CERT, "Renew the certificate (for example with certbot) and point "
		    "smtpd_tls_chain_files (or smtpd_tls_cert_file) at it.");
	} else if (i->self_signed || i->verify != 0) {
		audit_set(r, CHK_TLS_CERT, AUDIT_WARN, "the certificate is not trusted: %s%s",
		    i->self_signed ? "self-signed" : i->verify_str,
		    t->name_checked && !t->name_ok ? ", and not valid for the host name" : "");
		audit_fix(r, CHK_TLS_CERT, "Use a certificate from a public CA (or publish DANE TLSA for "
		    "it) and send the full chain: smtpd_tls_chain_files.");
	} else if (t->name_checked && !t->name_ok) {
		audit_set(r, CHK_TLS_CERT, AUDIT_WARN, "the certificate is not valid for %s", t->name_used);
		audit_fix(r, CHK_TLS_CERT, "Get a certificate that names the MX host (%s).", t->name_used);
	} else if (i->days_left < 14) {
		audit_set(r, CHK_TLS_CERT, AUDIT_WARN, "the certificate expires in %ld days", i->days_left);
		audit_fix(r, CHK_TLS_CERT, "Renew the certificate before it expires.");
	} else {
		audit_set(r, CHK_TLS_CERT, AUDIT_PASS, "trusted, valid for %s, %ld days left",
		    t->name_used, i->days_left);
	}

	if (t->injected) {
		audit_set(r, CHK_TLS_INJECT, AUDIT_FAIL,
		    "the server ran a command sent in plaintext before the TLS handshake");
		audit_evidence(r, CHK_TLS_INJECT, "sent \"STARTTLS\\r\\nNOOP\\r\\n\" in one packet; "
		    "a reply came inside TLS before any command");
		audit_fix(r, CHK_TLS_INJECT, "Upgrade the MTA: it must discard input buffered before "
		    "the TLS handshake.");
	} else {
		audit_set(r, CHK_TLS_INJECT, AUDIT_PASS,
		    "plaintext sent with STARTTLS was discarded, not run inside TLS");
	}
	mp_buf_free(&b);
}

static void
judge_auth(struct audit_report *r, const struct tls_session *t)
{
	const struct session *s = &t->s;
	const struct audit_ehlo *before = &s->eh, *after = &t->eh2;
	bool tls_ok = t->tried && t->tls_err == SMTP_OK && t->starttls.code == 220 && after->valid;

	if (!before->valid) {
		audit_set(r, CHK_AUTH, AUDIT_NOT_TESTED, "no EHLO reply");
		return;
	}
	audit_evidence(r, CHK_AUTH, "before STARTTLS: %s", before->nauth ? before->auth : "no AUTH");
	if (tls_ok)
		audit_evidence(r, CHK_AUTH, "after STARTTLS: %s", after->nauth ? after->auth : "no AUTH");
	else
		audit_evidence(r, CHK_AUTH, "after STARTTLS: not seen (%s)",
		    s->eh.starttls ? "the TLS session failed" : "no STARTTLS");
	if (before->auth_plaintext) {
		audit_set(r, CHK_AUTH, AUDIT_FAIL,
		    "plaintext AUTH offered before STARTTLS: %s", before->auth);
		audit_fix(r, CHK_AUTH, "Postfix: smtpd_tls_auth_only = yes (and on port 25 consider "
		    "smtpd_sasl_auth_enable = no; submission belongs on 587/465)");
		r->check[CHK_AUTH].cap = CAP_C;
	} else if (before->nauth > 0) {
		audit_set(r, CHK_AUTH, AUDIT_WARN, "AUTH offered before STARTTLS (%s), no plaintext "
		    "mechanism", before->auth);
		audit_fix(r, CHK_AUTH, "Postfix: smtpd_tls_auth_only = yes");
	} else if (tls_ok && after->nauth > 0) {
		audit_set(r, CHK_AUTH, AUDIT_PASS, "AUTH only after STARTTLS: %s", after->auth);
	} else if (tls_ok) {
		audit_set(r, CHK_AUTH, AUDIT_PASS, "no AUTH offered, before or after STARTTLS");
	} else {
		audit_set(r, CHK_AUTH, AUDIT_PASS, "no AUTH offered before STARTTLS (after STARTTLS not seen)");
	}
}

static void
judge_relay_session(struct audit_report *r, const struct relay_session *rs)
{
	const struct session *s = &rs->s;
	char finding[700];
	enum audit_status st;

	if (rs->foreign == NULL) {
		audit_set(r, CHK_RELAY, AUDIT_NOT_TESTED, "not tested: this server accepts mail "
		    "for every probe destination (example.net, example.com, example.org)");
		return;
	}
	if (rs->trusted) {
		audit_set(r, CHK_RELAY, AUDIT_NOT_TESTED, "not tested: the source is trusted (%s)",
		    rs->trust_why);
		audit_fix(r, CHK_RELAY, "Run the audit with --source ADDR, an address of this host "
		    "outside mynetworks (for example 127.0.0.2 when mynetworks is 127.0.0.1/32), or "
		    "from another host.");
		return;
	}
	if (rs->mode != NULL)
		audit_evidence(r, CHK_RELAY, "probed from %s (%s)%s%s",
		    strcmp(rs->mode, "XCLIENT") == 0 ? XCLIENT_ADDR : s->local, rs->mode,
		    rs->xclient_reply[0] ? ", XCLIENT -> " : "", rs->xclient_reply);
	for (size_t i = 0; i < rs->n; i++) {
		const struct audit_relay_try *t = &rs->t[i];

		if (t->mail_code == 0)
			continue;
		if (t->rcpt_code != 0)
			audit_evidence(r, CHK_RELAY, "%s: MAIL FROM:%s -> %d, RCPT TO:%s -> %d %s", t->form,
			    t->mail, t->mail_code, t->rcpt, t->rcpt_code, t->rcpt_text);
		else
			audit_evidence(r, CHK_RELAY, "%s: MAIL FROM:%s -> %d %s", t->form, t->mail,
			    t->mail_code, t->mail_text);
	}
	session_evidence(r, CHK_RELAY, s);
	st = audit_judge_relay(rs->t, rs->n, finding, sizeof(finding));
	audit_set(r, CHK_RELAY, st, "%s", finding);
	if (st == AUDIT_FAIL) {
		r->check[CHK_RELAY].cap = CAP_F;
		audit_fix(r, CHK_RELAY, "Postfix: mynetworks must list only your own networks, and "
		    "smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, "
		    "defer_unauth_destination");
	} else if (st == AUDIT_WARN) {
		audit_fix(r, CHK_RELAY, "Postfix: keep local_recipient_maps set (the default) so unknown "
		    "local users are refused at RCPT time, and allow_percent_hack = no.");
	}
}

void
audit_probe_smtp(struct audit_report *r, const struct audit_probe_opts *o)
{
	struct tls_session *ts = xcalloc(1, sizeof(*ts));
	struct lookup_session *vs = xcalloc(1, sizeof(*vs)), *es = xcalloc(1, sizeof(*es));
	struct relay_session *rs = xcalloc(1, sizeof(*rs));
	pthread_t th[4];
	bool started[4];

	ts->s.o = vs->s.o = es->s.o = rs->s.o = o;
	vs->verb = "VRFY";
	vs->help = true;
	es->verb = "EXPN";
	started[0] = pthread_create(&th[0], NULL, tls_thread, ts) == 0;
	if (!started[0])
		tls_thread(ts);
	started[1] = pthread_create(&th[1], NULL, lookup_thread, vs) == 0;
	if (!started[1])
		lookup_thread(vs);
	started[2] = pthread_create(&th[2], NULL, lookup_thread, es) == 0;
	if (!started[2])
		lookup_thread(es);
	started[3] = pthread_create(&th[3], NULL, relay_thread, rs) == 0;
	if (!started[3])
		relay_thread(rs);
	for (int i = 0; i < 4; i++)
		if (started[i])
			pthread_join(th[i], NULL);

	snprintf(r->source, sizeof(r->source), "%s", ts->s.local);
	judge_service(r, ts);
	if (ts->s.banner.code != 220 || !ts->s.eh.valid) {
		/* Without a working session nothing else is known. */
		for (int id = CHK_BANNER; id <= CHK_RELAY; id++)
			if (!r->check[id].set)
				audit_set(r, (enum audit_check_id)id, AUDIT_NOT_TESTED,
				    "not tested: the SMTP session failed");
		judge_banner(r, ts);
	} else {
		judge_banner(r, ts);
		judge_ehlo(r, ts);
		judge_help(r, vs);
		judge_lookup(r, CHK_VRFY, vs, ts->s.eh.vrfy);
		judge_lookup(r, CHK_EXPN, es, true);
		judge_tls(r, ts);
		judge_auth(r, ts);
		judge_relay_session(r, rs);
	}

	session_close(&ts->s);
	smtp_reply_clear(&ts->starttls);
	smtp_reply_clear(&ts->ehlo2);
	session_close(&vs->s);
	session_close(&es->s);
	session_close(&rs->s);
	free(vs->help_step.text);
	for (size_t i = 0; i < NLOOKUP; i++) {
		free(vs->step[i].text);
		free(es->step[i].text);
	}
	free(ts);
	free(vs);
	free(es);
	free(rs);
}
